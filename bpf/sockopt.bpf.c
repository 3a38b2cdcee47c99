// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup/getsockopt: answers SO_ORIGINAL_DST (SOL_IP) and IP6T_SO_ORIGINAL_DST
 * (SOL_IPV6) on the sidecar's accepted socket of a redirected connection, the
 * way conntrack answers them after an iptables REDIRECT, from that socket's own
 * storage (no tuple lookup, no namespace lookup). It runs after the kernel's
 * handler: a real conntrack answer (retval 0) is left alone.
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
	struct mw_origdst od = {};
	struct mw_sk_orig *so;
	struct mw_sk_lsn *sl;
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

	/* Outbound: sockops moved the original destination onto this socket. */
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	if (so && (so->flags & MW_SKO_F_SIDECAR)) {
		__builtin_memcpy(od.addr, so->addr, MW_ADDR_LEN);
		od.port = so->port;
		if (mw_answer(ctx, &od) == 0)
			mw_stat_inc(MW_S_ORIGDST_HIT);
		return 1;
	}

	/* Inbound: a socket the sidecar's ingress listener accepted after sk_lookup
	 * steered it there. Its own local address is where the client was going. */
	sl = bpf_sk_storage_get(&mw_lsk_v1, sk, 0, 0);
	if (sl && (sl->flags & MW_SKL_F_INGRESS)) {
		__be16 lport = bpf_htons((__u16)MW_CTX(sk->src_port));
		__u32 a[4];

		if (lport != sl->port) {
			if (MW_CTX(sk->family) == AF_INET) {
				mw_addr_from_v4(a, MW_CTX(sk->src_ip4));
			} else {
				a[0] = MW_CTX(sk->src_ip6[0]);
				a[1] = MW_CTX(sk->src_ip6[1]);
				a[2] = MW_CTX(sk->src_ip6[2]);
				a[3] = MW_CTX(sk->src_ip6[3]);
			}
			mw_addr_copy(od.addr, a);
			od.port = lport;
			if (mw_answer(ctx, &od) == 0)
				mw_stat_inc(MW_S_ORIGDST_INBOUND);
			return 1;
		}
	}
	mw_stat_inc(MW_S_ORIGDST_MISS);
out:
	/* An optval larger than a page is not visible to BPF: optlen 0 hands the
	 * kernel's own answer back untouched. */
	if (ctx->optlen > (int)mw_page_size)
		ctx->optlen = 0;
	return 1;
}
