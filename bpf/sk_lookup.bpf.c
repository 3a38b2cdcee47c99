// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sk_lookup: inbound interception. Runs when the stack looks for a listener for
 * a new connection in one enrolled namespace (one instance of this program per
 * namespace, its cookie in rodata: sk_lookup programs cannot ask for it). A TCP
 * connection from a non-local source to one of the workload's app ports is
 * handed to the sidecar's ingress listener; the accepted socket keeps the
 * addresses the client used, so its local address is the original destination.
 *
 * Why sk_lookup rather than tc (docs/inbound.md has the measurements): it runs
 * once per listener lookup instead of per packet, it also runs for a SYN that
 * hits a TIME_WAIT socket (a client reusing its port after the sidecar closed
 * first), it covers every interface of the namespace, present or future, and
 * SK_DROP answers with a reset, as iptables does when nothing listens.
 */
#include "lib/policy.bpf.h"

const volatile __u64 mw_netns = 0;

static __always_inline struct bpf_sock *mw_listener_of(struct mw_lsn_key *k)
{
	struct bpf_sock *sk;
	__u32 slot;

	for (slot = 0; slot < MW_LSN_SLOTS; slot++) {
		k->slot = slot;
		sk = bpf_map_lookup_elem(&mw_lsn_v1, k);
		if (sk)
			return sk;
	}
	return NULL;
}

static __always_inline struct bpf_sock *mw_listener(__u64 netns, __be16 port, __u32 family)
{
	struct mw_lsn_key k = {};
	struct bpf_sock *sk;

	k.netns = netns;
	k.port = port;
	k.family = (__u16)family;
	sk = mw_listener_of(&k);
	if (sk || family != AF_INET)
		return sk;
	/* An IPv4 connection may go to a dual-stack listener. */
	k.family = AF_INET6;
	return mw_listener_of(&k);
}

static __always_inline int mw_decide(struct bpf_sk_lookup *ctx, __u64 netns, __u32 *reason)
{
	struct mw_port_key pk = {};
	struct mw_workload *wl;
	struct mw_rule *r;
	struct bpf_sock *sk;
	__u32 family, rem[4], loc[4];
	__u32 r4, l4, lport;
	__be16 to;
	long err;

	/* Every field read unconditionally: see mw_tuple_from_skops (sockops). */
	family = MW_CTX(ctx->family);
	r4 = MW_CTX(ctx->remote_ip4);
	l4 = MW_CTX(ctx->local_ip4);
	rem[0] = MW_CTX(ctx->remote_ip6[0]);
	rem[1] = MW_CTX(ctx->remote_ip6[1]);
	rem[2] = MW_CTX(ctx->remote_ip6[2]);
	rem[3] = MW_CTX(ctx->remote_ip6[3]);
	loc[0] = MW_CTX(ctx->local_ip6[0]);
	loc[1] = MW_CTX(ctx->local_ip6[1]);
	loc[2] = MW_CTX(ctx->local_ip6[2]);
	loc[3] = MW_CTX(ctx->local_ip6[3]);
	lport = MW_CTX(ctx->local_port);
	if (family == AF_INET) {
		mw_addr_from_v4(rem, r4);
		mw_addr_from_v4(loc, l4);
	}

	wl = bpf_map_lookup_elem(&mw_wl_v1, &netns);
	if (!wl || !wl->ingress_port)
		return -1;
	pk.netns = netns;
	pk.gen = wl->gen;
	pk.port = bpf_htons((__u16)lport);
	pk.dir = MW_DIR_INGRESS;
	r = bpf_map_lookup_elem(&mw_port_v1, &pk);
	if (!r) {
		*reason = MW_R_PORT;
		return SK_PASS;
	}
	if (!(wl->flags & MW_WL_F_ENABLED)) {
		*reason = MW_R_DISABLED;
		return SK_PASS;
	}
	if (family == AF_INET6 && !mw_addr_is_v4(rem) && !(wl->flags & MW_WL_F_IPV6)) {
		*reason = MW_R_NO_V6;
		return SK_PASS;
	}
	/* A client of the namespace itself (the sidecar reaching its app, the app
	 * calling itself) is never redirected, as with iptables' "! --src-type
	 * LOCAL". The source equals the destination for a namespace with one
	 * address; the table of local addresses covers the others. */
	if ((rem[0] == loc[0] && rem[1] == loc[1] && rem[2] == loc[2] && rem[3] == loc[3]) ||
	    mw_is_local(netns, rem)) {
		*reason = MW_R_LOCAL;
		return SK_PASS;
	}

	to = r->port ? r->port : wl->ingress_port;
	sk = mw_listener(netns, to, family);
	if (!sk) {
		if (wl->flags & MW_WL_F_FAIL_OPEN) {
			*reason = MW_R_NO_LISTENER;
			return SK_PASS;
		}
		*reason = MW_R_REFUSED;
		return SK_DROP;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		/* e.g. an IPv6-only listener for an IPv4 client: nothing listens for it. */
		if (wl->flags & MW_WL_F_FAIL_OPEN) {
			*reason = MW_R_NO_LISTENER;
			return SK_PASS;
		}
		*reason = MW_R_REFUSED;
		return SK_DROP;
	}
	*reason = MW_R_REDIRECT;
	return SK_PASS;
}

SEC("sk_lookup")
int mw_sk_lookup(struct bpf_sk_lookup *ctx)
{
	__u64 netns = mw_netns;
	__u32 reason = 0;
	int verdict;

	if (MW_CTX(ctx->protocol) != IPPROTO_TCP)
		return SK_PASS;
	verdict = mw_decide(ctx, netns, &reason);
	if (verdict < 0)
		return SK_PASS;
	mw_count(netns, MW_DIR_INGRESS, reason);
	return verdict;
}
