/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Kernel feature probes: each loads a tiny program or creates a tiny map, since
 * version numbers and header greps lie (backports, distribution kernels). */
#ifndef MW_PROBE_H
#define MW_PROBE_H

struct mw_feature {
	const char *id;		/* stable, for scripts: "netns_cookie_sockops" */
	const char *name;	/* "bpf_get_netns_cookie in cgroup/getsockopt" */
	const char *needed_for;	/* what meshwarp cannot do without it */
	const char *since;	/* first mainline kernel that has it, for the message */
	int present;
	int optional;		/* meshwarp runs without it, without what it is needed for */
	const char *instead;	/* optional with a fallback: what meshwarp does instead */
};

/* Probes every feature; returns the table and its length. */
const struct mw_feature *mw_features_probe(int *n);

/* Probes, and for every missing required feature prints which and what it breaks.
 * Returns 0 or -EOPNOTSUPP. */
int mw_features_require(void);

/* Probes (once); 1 when programs and init must name network namespaces by inode number
 * (no SO_NETNS_COOKIE, or no bpf_get_netns_cookie in sockops: 5.10). */
int mw_features_netns_inum(void);

/* Probes (once); 1 when connect4/6 have bpf_set_retval (a rejection's own errno). */
int mw_features_set_retval(void);

/* Probes (once); 1 when the local shortcut can work here: sk_msg and sk_skb programs, and
 * the per-socket queue length its budget reads. */
int mw_features_shortcut(void);

#endif /* MW_PROBE_H */
