/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the running kernel lacks, as the loader probed it (userspace/probe.c), in
 * rodata set before load. A branch behind a cleared flag is dead code to the
 * verifier (rodata is frozen, so the flag is a known constant) and is not checked:
 * the same object loads on kernels without the helper it calls.
 */
#ifndef MW_COMPAT_BPF_H
#define MW_COMPAT_BPF_H

#include "common.bpf.h"

/* Every object that includes this defines the flags; the linked object keeps one. */
#define MW_KF __attribute__((weak))

/* bpf_set_retval in cgroup/connect4/6 (6.1): a rejected connect() fails with the rule's
 * errno; without it, with EPERM. */
const volatile __u32 mw_kf_set_retval MW_KF = 1;

/* bpf_set_retval with its argument as a 64-bit register (the kernel's helper takes an
 * int in a 64-bit register and checks the register): see mw_reject(). */
static long (*mw_set_retval)(long retval) = (void *)BPF_FUNC_set_retval;

/*
 * How programs name a network namespace (the key of mw_wl_v1 and of every per-workload
 * entry). 0: its cookie, bpf_get_netns_cookie, which sockops has from 6.1 and user space
 * reads with SO_NETNS_COOKIE from 5.14. 1: its inode number (what stat() of
 * /proc/<pid>/ns/net says), read from the socket with CO-RE; the loader chooses it where
 * the cookie is not there everywhere (5.10), and init names the namespace the same way
 * (userspace/host.c). One host uses one or the other: both come from the same probe.
 */
const volatile __u32 mw_kf_netns_inum MW_KF = 0;

struct ns_common___mwc {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net___mwc {
	struct ns_common___mwc ns;
} __attribute__((preserve_access_index));

/* possible_net_t, a struct holding one pointer */
struct possible_net___mwc {
	struct net___mwc *net;
} __attribute__((preserve_access_index));

struct sock_common___mwc {
	struct possible_net___mwc skc_net;
} __attribute__((preserve_access_index));

struct sock___mwc {
	struct sock_common___mwc __sk_common;
} __attribute__((preserve_access_index));

/* The inode number of sk's network namespace; 0 when sk is not a TCP socket. The
 * verifier walks the kernel's types from bpf_skc_to_tcp_sock (5.9+) on: no probe_read. */
static __always_inline __u64 mw_netns_inum(struct bpf_sock *sk)
{
	struct sock___mwc *s;
	struct net___mwc *net;

	if (!sk)
		return 0;
	s = (void *)bpf_skc_to_tcp_sock(sk);
	if (!s)
		return 0;
	net = s->__sk_common.skc_net.net;
	if (!net)
		return 0;
	return net->ns.inum;
}

/* The namespace of a connect4/6 socket, named as mw_kf_netns_inum says. */
static __always_inline __u64 mw_netns_addr(struct bpf_sock_addr *ctx)
{
	if (mw_kf_netns_inum)
		return mw_netns_inum(ctx->sk);
	return bpf_get_netns_cookie(ctx);
}

/* The same for sockops (the cookie helper is there from 6.1 only). */
static __always_inline __u64 mw_netns_skops(struct bpf_sock_ops *skops)
{
	if (mw_kf_netns_inum)
		return mw_netns_inum(skops->sk);
	return bpf_get_netns_cookie(skops);
}

/* The largest errno the kernel takes back from a program (MAX_ERRNO). */
#define MW_MAX_ERRNO	4095

#endif /* MW_COMPAT_BPF_H */
