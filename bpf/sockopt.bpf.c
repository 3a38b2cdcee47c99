// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup/getsockopt: answers SO_ORIGINAL_DST (SOL_IP) and IP6T_SO_ORIGINAL_DST
 * (SOL_IPV6) on the sidecar's accepted socket of a redirected connection, the
 * way conntrack answers them after an iptables REDIRECT. It runs after the
 * kernel's handler: a real conntrack answer (retval 0) is left alone.
 */
#include "lib/maps.bpf.h"
#include "lib/addr.bpf.h"

/* Set by the loader: getsockopt hands BPF at most one page of optval. */
const volatile __u32 mw_page_size = 4096;

struct mw_sockaddr_in {
	__u16 family;
	__be16 port;
	__be32 addr;
	__u8 zero[8];
};

struct mw_sockaddr_in6 {
	__u16 family;
	__be16 port;
	__be32 flowinfo;
	__u32 addr[4];
	__u32 scope_id;
};

/* The sidecar's accepted socket sees client->sidecar reversed: its remote end is
 * the client's local end. */
static __always_inline void mw_tuple_from_accepted(struct mw_tuple *t, struct bpf_sock *sk,
						   __u64 netns)
{
	/* Read every field unconditionally (see mw_tuple_from_skops in sockops). */
	__u32 family = MW_CTX(sk->family);
	__u32 s4 = MW_CTX(sk->src_ip4);
	__u32 d4 = MW_CTX(sk->dst_ip4);
	__u32 s6[4], d6[4];
	__u32 dport;

	s6[0] = MW_CTX(sk->src_ip6[0]);
	s6[1] = MW_CTX(sk->src_ip6[1]);
	s6[2] = MW_CTX(sk->src_ip6[2]);
	s6[3] = MW_CTX(sk->src_ip6[3]);
	d6[0] = MW_CTX(sk->dst_ip6[0]);
	d6[1] = MW_CTX(sk->dst_ip6[1]);
	d6[2] = MW_CTX(sk->dst_ip6[2]);
	d6[3] = MW_CTX(sk->dst_ip6[3]);
	/* dst_port is network order in the low half of a 32-bit field on every
	 * kernel (older uapi declares it __u32); a 4-byte load is accepted by all. */
	dport = *(volatile __u32 *)&sk->dst_port;

	if (family == AF_INET) {
		mw_addr_from_v4(s6, s4);
		mw_addr_from_v4(d6, d4);
	}
	t->netns = netns;
	mw_addr_copy(t->saddr, d6);
	mw_addr_copy(t->daddr, s6);
	t->sport = (__be16)dport;
	t->dport = bpf_htons((__u16)MW_CTX(sk->src_port));
}

static __always_inline int mw_answer(struct bpf_sockopt *ctx, const struct mw_origdst *od)
{
	void *optval = ctx->optval;
	void *optval_end = ctx->optval_end;
	const __u32 *a = (const __u32 *)od->addr;

	if (ctx->level == SOL_IP) {
		struct mw_sockaddr_in *sin = optval;

		if (!mw_addr_is_v4(a))
			return -1;
		if (optval + sizeof(*sin) > optval_end)
			return -1;
		sin->family = AF_INET;
		sin->port = od->port;
		sin->addr = a[3];
		__builtin_memset(sin->zero, 0, sizeof(sin->zero));
		ctx->optlen = sizeof(*sin);
	} else {
		struct mw_sockaddr_in6 *sin6 = optval;

		if (ctx->sk->family != AF_INET6)
			return -1;
		if (optval + sizeof(*sin6) > optval_end)
			return -1;
		sin6->family = AF_INET6;
		sin6->port = od->port;
		sin6->flowinfo = 0;
		sin6->addr[0] = a[0];
		sin6->addr[1] = a[1];
		sin6->addr[2] = a[2];
		sin6->addr[3] = a[3];
		sin6->scope_id = 0;
		ctx->optlen = sizeof(*sin6);
	}
	ctx->retval = 0;
	return 0;
}

SEC("cgroup/getsockopt")
int mw_getsockopt(struct bpf_sockopt *ctx)
{
	struct mw_tuple t = {};
	struct mw_origdst *od;
	struct bpf_sock *sk;

	if (!((ctx->level == SOL_IP && ctx->optname == MW_SO_ORIGINAL_DST) ||
	      (ctx->level == SOL_IPV6 && ctx->optname == MW_IP6T_SO_ORIGINAL_DST)))
		goto out;
	if (ctx->retval == 0) {
		mw_stat_inc(MW_S_ORIGDST_CT);
		goto out;
	}
	sk = ctx->sk;
	if (!sk || sk->protocol != IPPROTO_TCP)
		goto out;
	if (sk->family != AF_INET && sk->family != AF_INET6)
		goto out;

	mw_tuple_from_accepted(&t, sk, bpf_get_netns_cookie(ctx));
	od = bpf_map_lookup_elem(&mw_orig_v1, &t);
	if (!od) {
		mw_stat_inc(MW_S_ORIGDST_MISS);
		goto out;
	}
	if (mw_answer(ctx, od) == 0)
		mw_stat_inc(MW_S_ORIGDST_HIT);
	return 1;
out:
	/* An optval larger than a page is not visible to BPF: optlen 0 hands the
	 * kernel's own answer back untouched. */
	if (ctx->optlen > (int)mw_page_size)
		ctx->optlen = 0;
	return 1;
}
