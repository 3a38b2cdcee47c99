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
	struct mw_rule *r;
	__u32 gen = wl->gen;

	v->port = wl->egress_port;
	v->err = 0;

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
	r = bpf_map_lookup_elem(&mw_cidr_v1, &ck);
	if (r) {
		mw_apply_rule(v, r, wl);
		return;
	}

	mw_verdict_set(v, MW_ACT_REDIRECT, MW_R_REDIRECT);
}

#endif /* MW_POLICY_BPF_H */
