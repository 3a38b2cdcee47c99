/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Definitions every meshwarp BPF program needs. BPF side only. */
#ifndef MW_COMMON_BPF_H
#define MW_COMMON_BPF_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <meshwarp/abi.h>

#ifndef AF_INET
#define AF_INET		2
#endif
#ifndef AF_INET6
#define AF_INET6	10
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM	1
#endif
#ifndef SOL_IP
#define SOL_IP		0
#endif
#ifndef SOL_IPV6
#define SOL_IPV6	41
#endif
/* netfilter's option numbers, <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h> */
#define MW_SO_ORIGINAL_DST	80
#define MW_IP6T_SO_ORIGINAL_DST	80

#define MW_INADDR_LOOPBACK	0x7f000001u
#define MW_EHOSTUNREACH		113
#define MW_IN_LOOPBACKNET	0x7f000000u

/* Reads a context field once, as written: stops clang from merging loads of
 * different fields into one load through a computed context pointer, which the
 * verifier refuses ("dereference of modified ctx ptr"). */
#define MW_CTX(field) (*(volatile typeof(field) *)&(field))

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#endif /* MW_COMMON_BPF_H */
