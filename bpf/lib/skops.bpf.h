/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading a sockops context. BPF side only. */
#ifndef MW_SKOPS_BPF_H
#define MW_SKOPS_BPF_H

#include "addr.bpf.h"

/*
 * The socket's local and remote addresses, 16 bytes each (v4-mapped for IPv4).
 * Returns the family, 0 for neither. Every field is read unconditionally and in
 * this order: loads chosen by a branch get merged by clang into one load through
 * a computed context pointer, which the verifier refuses.
 */
static __always_inline __u32 mw_skops_addrs(struct bpf_sock_ops *skops, __u32 *l, __u32 *r)
{
	__u32 family = MW_CTX(skops->family);
	__u32 l4 = MW_CTX(skops->local_ip4);
	__u32 r4 = MW_CTX(skops->remote_ip4);

	l[0] = MW_CTX(skops->local_ip6[0]);
	l[1] = MW_CTX(skops->local_ip6[1]);
	l[2] = MW_CTX(skops->local_ip6[2]);
	l[3] = MW_CTX(skops->local_ip6[3]);
	r[0] = MW_CTX(skops->remote_ip6[0]);
	r[1] = MW_CTX(skops->remote_ip6[1]);
	r[2] = MW_CTX(skops->remote_ip6[2]);
	r[3] = MW_CTX(skops->remote_ip6[3]);
	if (family == AF_INET) {
		mw_addr_from_v4(l, l4);
		mw_addr_from_v4(r, r4);
	} else if (family != AF_INET6) {
		return 0;
	}
	return family;
}

#endif /* MW_SKOPS_BPF_H */
