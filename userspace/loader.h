/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pinned data path: loading the BPF object, attaching its programs to a
 * cgroup through links, pinning links and maps under one bpffs directory, and
 * reopening them later. Nothing depends on a process staying alive.
 *
 * Pin layout: <pin_dir>/maps/<map name>, <pin_dir>/links/<program>.
 */
#ifndef MW_LOADER_H
#define MW_LOADER_H

#include <limits.h>
#include <stdint.h>
#include <meshwarp/abi.h>
#include "table.h"

enum mw_prog_id {
	MW_PROG_CONNECT4,
	MW_PROG_CONNECT6,
	MW_PROG_GETSOCKOPT,
	MW_PROG_SOCKOPS,
	MW_PROG_GETPEERNAME4,
	MW_PROG_GETPEERNAME6,
	MW_PROG_NR,
};

struct mw_dp {
	char pin_dir[PATH_MAX];
	int lock_fd;
	int map_fd[MW_MAP_NR];		/* enum mw_map_id */
	int meta_fd;
	int stats_fd;
	int orig_fd;
	int lsn_fd;			/* mw_lsn_v1: ingress listeners */
	int lsk_fd;			/* mw_lsk_v1: ingress listener marks */
	int conn_fd;			/* mw_conn_v1: live connections */
	int agg_fd;			/* mw_agg_v1: totals per destination */
	int events_fd;			/* mw_events_v1: ring buffer of closed connections */
	int name_fd;			/* mw_name_v1: workload names */
	int env_fd;			/* mw_env_v1: workloads' APPMESH_* variables */
	int sch_fd;			/* mw_sch_v1: the shortcut's sockhash (-1: not pinned) */
	int scc_fd;			/* mw_scc_v1: shortcut settings (-1: not pinned) */
	int scst_fd;			/* mw_scst_v1: shortcut events (-1: not pinned) */
	int set_fd;			/* mw_set_v1: host-wide switches (-1: not pinned) */
	int hop_fd;			/* mw_hop_v1: joined sidecar legs (-1: not pinned) */
	int scd_fd;			/* mw_scd_v1: shortcut destinations on hold (-1: not pinned) */
	struct mw_meta meta;
};

#define MW_DP_CREATE	(1u << 0)	/* load, attach and pin when not there yet */
#define MW_DP_LOCK	(1u << 1)	/* exclusive lock for mutating operations */

/* The name of a program as shown to users ("connect4") and used as its link pin. */
const char *mw_prog_name(enum mw_prog_id id);

/*
 * Opens the data path pinned in pin_dir. With MW_DP_CREATE, loads and attaches
 * what is missing to `cgroup` (a cgroup v2 directory) first; a pin directory
 * attached to another cgroup is an error. Returns 0, -ENOENT when nothing is
 * pinned (without MW_DP_CREATE), or another negative errno with a message.
 */
int mw_dp_open(struct mw_dp *dp, const char *pin_dir, const char *cgroup, unsigned int flags);
void mw_dp_close(struct mw_dp *dp);

/* A store over the pinned maps, for the table logic. */
void mw_dp_store(struct mw_dp *dp, struct mw_store *s);

/* Detaches every program (removes the link pins), removes the maps and the directory. */
int mw_dp_unload(const char *pin_dir);

struct mw_link_state {
	int pinned;
	uint32_t link_id;
	uint32_t prog_id;
	uint64_t cgroup_id;
	uint32_t attach_type;
};

/* What the link pin of a program says (pinned 0 when the pin is absent). */
int mw_dp_link_state(const struct mw_dp *dp, enum mw_prog_id id, struct mw_link_state *st);

/*
 * Inbound interception of one namespace: loads an instance of the sk_lookup
 * program for it (its cookie in rodata, the maps shared through their pins),
 * attaches it to the namespace `netns_fd` and pins the link at
 * <pin_dir>/netns/<cookie>/sk_lookup. Does nothing when that link exists.
 */
int mw_dp_attach_netns(struct mw_dp *dp, uint64_t netns, int netns_fd);
/* Removes <pin_dir>/netns/<cookie> (detaching its programs). Absent is fine. */
int mw_dp_detach_netns(struct mw_dp *dp, uint64_t netns);
/* The state of <pin_dir>/netns/<cookie>/sk_lookup. */
int mw_dp_netns_state(const struct mw_dp *dp, uint64_t netns, struct mw_link_state *st);

/* Sums a per-CPU array slot or hash value of `size` bytes made of __u64 counters. */
int mw_percpu_sum(int fd, const void *key, void *out, size_t size);

/*
 * The local shortcut (docs/shortcut.md). Another user of sockops, sk_msg, sk_skb or a
 * sockmap on the host: its programs may take the same sockets (a socket has one sk_msg
 * program), so the shortcut stays off next to them unless a workload forces it.
 */
struct mw_sc_user {
	uint32_t id;
	int is_map;
	const char *kind;	/* "sockops", "sk_msg", "sk_skb", "sockmap", "sockhash" */
	char name[16];		/* BPF_OBJ_NAME_LEN */
	int meshwarp;		/* named as ours (mw_*): another meshwarp pin directory */
};

/* Every such program and map of the host except this pin directory's own. *out needs free(). */
int mw_dp_sc_users(const struct mw_dp *dp, struct mw_sc_user **out, size_t *n);
/* The programs attached to mw_sch_v1 as its sk_msg and its sk_skb stream verdict (0: none,
 * or unknown). */
uint32_t mw_dp_sc_prog_id(const struct mw_dp *dp);
uint32_t mw_dp_sc_skb_prog_id(const struct mw_dp *dp);
/* Whether a user keeps the shortcut off (not another meshwarp, which uses it the same way). */
static inline int mw_sc_user_foreign(const struct mw_sc_user *u)
{
	return !u->meshwarp;
}

/* The host-wide tracking switch (mw_set_v1): 1 on, 0 off, -ENOENT when the pin directory
 * has no switch (loaded by a meshwarp without it: always on). */
int mw_dp_tracking(const struct mw_dp *dp);

/* Sockets on the local shortcut now (mw_scs_v1 entries; 0 without the map). */
long mw_dp_sc_sockets(const char *pin_dir);

/* The longest hold (a week): a destination is probed again at least that often. */
#define MW_SC_HOLD_MAX_S	(7L * 24 * 3600)
/* How long a destination whose connection streamed stays off the shortcut (mw_scd_v1):
 * secs > 0, or 0 for never. -EINVAL past MW_SC_HOLD_MAX_S. */
int mw_dp_sc_hold_set(struct mw_dp *dp, long secs);
/* "SECONDS" (0..MW_SC_HOLD_MAX_S) -> the number; -1 if it is not one. */
long mw_sc_hold_parse(const char *s);
/* Turns it on or off; takes effect at the next connect(). 0 or a negative errno. */
int mw_dp_tracking_set(struct mw_dp *dp, int on);

/* Routes libbpf's messages into our log, one level lower. */
void mw_libbpf_logging(void);

#endif /* MW_LOADER_H */
