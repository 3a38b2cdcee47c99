// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup/connect4 and cgroup/connect6: egress interception. An outbound TCP
 * connect of an enrolled network namespace is decided by the workload's rule
 * table; a redirected one is sent to the sidecar on loopback (as iptables
 * REDIRECT does for locally generated packets) and its original destination is
 * kept in socket storage for sockops to publish when the connection is up.
 */
#include "lib/policy.bpf.h"
#include "lib/compat.bpf.h"

/* Every connection of an enrolled namespace carries where the application sent
 * it: sockops tracks it, and a redirected one answers SO_ORIGINAL_DST with it. */
static __always_inline int mw_remember(struct bpf_sock *sk, __u64 netns, const __u32 *addr,
				       __be16 port, __u32 flags)
{
	struct mw_sk_orig *so;

	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!so) {
		mw_stat_inc(MW_S_SK_STORAGE_ERR);
		return -1;
	}
	mw_addr_copy(so->addr, addr);
	so->port = port;
	so->pad = 0;
	so->flags = flags;
	so->netns = netns;
	return 0;
}

static __always_inline __u32 mw_sko_flags(const struct mw_verdict *v)
{
	if (v->reason == MW_R_UID || v->reason == MW_R_GID)
		return MW_SKO_F_OWN;
	if (v->action == MW_ACT_FORWARD)
		return MW_SKO_F_FORWARDED;
	return v->action == MW_ACT_REDIRECT ? MW_SKO_F_REDIRECTED : 0;
}

/* MW_ACT_REJECT: fail connect() with the rule's errno (EPERM when none, or when the
 * kernel has no bpf_set_retval here). */
static __always_inline int mw_reject(const struct mw_verdict *v)
{
	__u64 err = v->err;
	__s64 rv = 0;

	if (!mw_kf_set_retval || !err || err > MW_MAX_ERRNO)
		return 0;
	/* 7.3's verifier wants a value it can prove is in [-4095, 0], as a 64-bit
	 * register. The barriers keep clang from dropping the mask (it knows the bound)
	 * and from turning the subtraction into a negation, which older verifiers do
	 * not track: r = 0 - (err & 4095) is in [-4095, 0] on every kernel. The helper is
	 * called as taking a long (mw_set_retval) so that clang keeps the whole
	 * computation 64-bit instead of a 32-bit subtraction, zero-extended. */
	barrier_var(err);
	barrier_var(rv);
	rv -= (__s64)(err & MW_MAX_ERRNO);
	mw_set_retval(rv);
	return 0;
}

/* Returns the workload of the socket's namespace, or NULL when it is not enrolled
 * or the socket is not TCP. */
static __always_inline struct mw_workload *mw_workload_of(struct bpf_sock_addr *ctx, __u64 *netns)
{
	if (ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return NULL;
	*netns = mw_netns_addr(ctx);
	return bpf_map_lookup_elem(&mw_wl_v1, netns);
}

SEC("cgroup/connect4")
int mw_connect4(struct bpf_sock_addr *ctx)
{
	struct mw_verdict v = {};
	struct mw_workload *wl;
	__u32 addr[4], ep[4] = {};
	__be16 port, ep_port = 0;
	__u64 netns;

	wl = mw_workload_of(ctx, &netns);
	if (!wl)
		return 1;

	mw_addr_from_v4(addr, ctx->user_ip4);
	port = (__be16)ctx->user_port;
	mw_egress_decide(&v, netns, wl, addr, port, bpf_get_current_uid_gid());
	if (v.action == MW_ACT_FORWARD && mw_pick_endpoint(netns, &v, ep, &ep_port)) {
		/* The service has no endpoint (any more): the connection cannot go. */
		v.action = MW_ACT_REJECT;
		v.err = MW_EHOSTUNREACH;
	}
	if (v.action == MW_ACT_REJECT) {
		mw_count(netns, MW_DIR_EGRESS, MW_R_REJECT);
		return mw_reject(&v);
	}

	/* Without storage a redirected connection could not tell the sidecar where
	 * it was going: leave it alone rather than break it. */
	if (mw_remember(ctx->sk, netns, addr, port, mw_sko_flags(&v)) &&
	    v.action == MW_ACT_REDIRECT)
		return 1;
	if (v.action == MW_ACT_REDIRECT) {
		ctx->user_ip4 = bpf_htonl(MW_INADDR_LOOPBACK);
		ctx->user_port = (__u32)v.port;
	} else if (v.action == MW_ACT_FORWARD) {
		ctx->user_ip4 = ep[3];
		ctx->user_port = (__u32)ep_port;
	}
	mw_count(netns, MW_DIR_EGRESS, v.reason);
	return 1;
}

SEC("cgroup/connect6")
int mw_connect6(struct bpf_sock_addr *ctx)
{
	struct mw_verdict v = {};
	struct mw_workload *wl;
	__u32 addr[4], ep[4] = {};
	__be16 port, ep_port = 0;
	__u64 netns;

	wl = mw_workload_of(ctx, &netns);
	if (!wl)
		return 1;

	addr[0] = ctx->user_ip6[0];
	addr[1] = ctx->user_ip6[1];
	addr[2] = ctx->user_ip6[2];
	addr[3] = ctx->user_ip6[3];
	port = (__be16)ctx->user_port;
	mw_egress_decide(&v, netns, wl, addr, port, bpf_get_current_uid_gid());
	if (v.action == MW_ACT_FORWARD && mw_pick_endpoint(netns, &v, ep, &ep_port)) {
		v.action = MW_ACT_REJECT;
		v.err = MW_EHOSTUNREACH;
	}
	if (v.action == MW_ACT_REJECT) {
		mw_count(netns, MW_DIR_EGRESS, MW_R_REJECT);
		return mw_reject(&v);
	}

	if (mw_remember(ctx->sk, netns, addr, port, mw_sko_flags(&v)) &&
	    v.action == MW_ACT_REDIRECT)
		return 1;
	if (v.action == MW_ACT_FORWARD) {
		ctx->user_ip6[0] = ep[0];
		ctx->user_ip6[1] = ep[1];
		ctx->user_ip6[2] = ep[2];
		ctx->user_ip6[3] = ep[3];
		ctx->user_port = (__u32)ep_port;
	} else if (v.action == MW_ACT_REDIRECT) {
		/* A v4-mapped destination of a dual-stack socket is IPv4 traffic:
		 * send it to ::ffff:127.0.0.1, as the IPv4 REDIRECT would. */
		if (mw_addr_is_v4(addr)) {
			ctx->user_ip6[0] = 0;
			ctx->user_ip6[1] = 0;
			ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
			ctx->user_ip6[3] = bpf_htonl(MW_INADDR_LOOPBACK);
		} else {
			ctx->user_ip6[0] = 0;
			ctx->user_ip6[1] = 0;
			ctx->user_ip6[2] = 0;
			ctx->user_ip6[3] = bpf_htonl(1);
		}
		ctx->user_port = (__u32)v.port;
	}
	mw_count(netns, MW_DIR_EGRESS, v.reason);
	return 1;
}

/* A forwarded or redirected connection shows the application the address it
 * dialled, not the endpoint or the sidecar it reached (getpeername), as the
 * REDIRECT of iptables does. */
#define MW_SKO_F_REWRITTEN (MW_SKO_F_FORWARDED | MW_SKO_F_REDIRECTED)
SEC("cgroup/getpeername4")
int mw_getpeername4(struct bpf_sock_addr *ctx)
{
	struct mw_sk_orig *so;

	if (!ctx->sk)
		return 1;
	so = bpf_sk_storage_get(&mw_sko_v1, ctx->sk, 0, 0);
	if (!so || !(so->flags & MW_SKO_F_REWRITTEN))
		return 1;
	ctx->user_ip4 = ((__u32 *)so->addr)[3];
	ctx->user_port = (__u32)so->port;
	return 1;
}

SEC("cgroup/getpeername6")
int mw_getpeername6(struct bpf_sock_addr *ctx)
{
	struct mw_sk_orig *so;
	const __u32 *a;

	if (!ctx->sk)
		return 1;
	so = bpf_sk_storage_get(&mw_sko_v1, ctx->sk, 0, 0);
	if (!so || !(so->flags & MW_SKO_F_REWRITTEN))
		return 1;
	a = (const __u32 *)so->addr;
	ctx->user_ip6[0] = a[0];
	ctx->user_ip6[1] = a[1];
	ctx->user_ip6[2] = a[2];
	ctx->user_ip6[3] = a[3];
	ctx->user_port = (__u32)so->port;
	return 1;
}
