/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* 16-byte address helpers: IPv4 is carried v4-mapped (::ffff:a.b.c.d). BPF side only. */
#ifndef MW_ADDR_BPF_H
#define MW_ADDR_BPF_H

#include "common.bpf.h"

/* Addresses as four network-order words, the way the contexts expose them. */
static __always_inline void mw_addr_from_v4(__u32 *a, __be32 ip4)
{
	a[0] = 0;
	a[1] = 0;
	a[2] = bpf_htonl(0x0000ffff);
	a[3] = ip4;
}

static __always_inline int mw_addr_is_v4(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff);
}

/* Loopback and unspecified destinations are local whatever the namespace holds:
 * connect() to 0.0.0.0 or :: reaches the host itself. */
static __always_inline int mw_addr_is_builtin_local(const __u32 *a)
{
	if (mw_addr_is_v4(a))
		return (bpf_ntohl(a[3]) & 0xff000000u) == MW_IN_LOOPBACKNET || a[3] == 0;
	return a[0] == 0 && a[1] == 0 && a[2] == 0 &&
	       (a[3] == bpf_htonl(1) || a[3] == 0);
}

static __always_inline void mw_addr_copy(__u8 *dst, const __u32 *src)
{
	__builtin_memcpy(dst, src, MW_ADDR_LEN);
}

#endif /* MW_ADDR_BPF_H */
