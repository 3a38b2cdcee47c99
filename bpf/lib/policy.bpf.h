/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The egress decision: the App Mesh rule order (local destination, UID, GID,
 * ignored port, ignored address) evaluated against one generation of the
 * workload's tables. BPF side only.
 */
#ifndef MW_POLICY_BPF_H
#define MW_POLICY_BPF_H

#include "maps.bpf.h"
#include "addr.bpf.h"

struct mw_verdict {
	__u32 action;	/* MW_ACT_* */
	__u32 reason;	/* MW_R_* */
	__be16 port;	/* MW_ACT_REDIRECT: the sidecar's port */
	__u32 err;	/* MW_ACT_REJECT: positive errno */
	__u32 svc;	/* MW_ACT_FORWARD: service id */
	__u32 gen;	/* the generation that decided */
};

static __always_inline void mw_verdict_set(struct mw_verdict *v, __u32 action, __u32 reason)
{
	v->action = action;
	v->reason = reason;
}

static __always_inline int mw_is_local(__u64 netns, const __u32 *addr)
{
	struct mw_lpm_key k = {};

	if (mw_addr_is_builtin_local(addr))
		return 1;
	k.prefixlen = MW_LPM_HDR_BITS + MW_ADDR_LEN * 8;
	k.netns = netns;
	mw_addr_copy(k.addr, addr);
	return bpf_map_lookup_elem(&mw_local_v1, &k) != NULL;
}

static __always_inline int mw_apply_rule(struct mw_verdict *v, const struct mw_rule *r,
					 const struct mw_workload *wl)
{
	v->action = r->action;
	v->reason = r->reason;
	v->err = r->err;
	v->port = r->port ? r->port : wl->egress_port;
	return 0;
}

/*
 * Decides an outbound TCP connect from the workload `wl` of namespace `netns` to
 * addr (16 bytes, v4-mapped for IPv4) and port (network order). `uid_gid` is
 * bpf_get_current_uid_gid() of the caller.
 */
static __always_inline void mw_egress_decide(struct mw_verdict *v, __u64 netns,
					     const struct mw_workload *wl, const __u32 *addr,
					     __be16 port, __u64 uid_gid)
{
	struct mw_port_key pk = {};
	struct mw_lpm_key ck = {};
	struct mw_rule_list *l;
	struct mw_rule *r;
	__u32 gen = wl->gen;

	/* Every lookup below uses this one generation: a connect is decided by one
	 * whole table, whatever an apply does meanwhile. */
	v->gen = gen;
	v->port = wl->egress_port;
	v->err = 0;
	v->svc = 0;

	if (!(wl->flags & MW_WL_F_ENABLED)) {
		mw_verdict_set(v, MW_ACT_BYPASS, MW_R_DISABLED);
		return;
	}
	if (!mw_addr_is_v4(addr) && !(wl->flags & MW_WL_F_IPV6)) {
		mw_verdict_set(v, MW_ACT_BYPASS, MW_R_NO_V6);
		return;
	}
	if (mw_is_local(netns, addr)) {
		mw_verdict_set(v, MW_ACT_BYPASS, MW_R_LOCAL);
		return;
	}
	if ((wl->flags & MW_WL_F_HAS_UID) && (__u32)uid_gid == wl->ignore_uid) {
		mw_verdict_set(v, MW_ACT_BYPASS, MW_R_UID);
		return;
	}
	if ((wl->flags & MW_WL_F_HAS_GID) && (__u32)(uid_gid >> 32) == wl->ignore_gid) {
		mw_verdict_set(v, MW_ACT_BYPASS, MW_R_GID);
		return;
	}

	pk.netns = netns;
	pk.gen = gen;
	pk.port = port;
	pk.dir = MW_DIR_EGRESS;
	r = bpf_map_lookup_elem(&mw_port_v1, &pk);
	if (r) {
		mw_apply_rule(v, r, wl);
		return;
	}

	ck.prefixlen = MW_LPM_HDR_BITS + MW_ADDR_LEN * 8;
	ck.gen = gen;
	ck.netns = netns;
	mw_addr_copy(ck.addr, addr);
	l = bpf_map_lookup_elem(&mw_cidr_v1, &ck);
	if (l) {
		__u16 p = bpf_ntohs(port);
		__u32 i;

		/* The first rule of the destination's list whose ports match. */
		for (i = 0; i < MW_RULES_PER_DST; i++) {
			const struct mw_rule_ent *e = &l->e[i];

			if (i >= l->n)
				break;
			if (p < e->port_lo || p > e->port_hi)
				continue;
			mw_apply_rule(v, &e->rule, wl);
			v->svc = e->svc;
			return;
		}
	}

	mw_verdict_set(v, MW_ACT_REDIRECT, MW_R_REDIRECT);
}

/*
 * MW_ACT_FORWARD: one endpoint of the service, chosen by weight. Returns 0 and
 * fills addr/port, or -1 when the service is gone or empty.
 */
static __always_inline int mw_pick_endpoint(__u64 netns, const struct mw_verdict *v, __u32 *addr,
					    __be16 *port)
{
	struct mw_svc_key k = {};
	struct mw_svc *s;
	__u32 r, i;

	k.netns = netns;
	k.gen = v->gen;
	k.id = v->svc;
	s = bpf_map_lookup_elem(&mw_svc_v1, &k);
	if (!s || !s->n || !s->total_weight)
		return -1;
	r = bpf_get_prandom_u32() % s->total_weight;
	for (i = 0; i < MW_SVC_ENDPOINTS; i++) {
		const struct mw_endpoint *e = &s->ep[i];

		if (i >= s->n)
			break;
		if (r < e->cum_weight) {
			__builtin_memcpy(addr, e->addr, MW_ADDR_LEN);
			*port = e->port;
			return 0;
		}
	}
	return -1;
}

#endif /* MW_POLICY_BPF_H */
