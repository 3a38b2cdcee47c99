/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of meshwarp, declared once. The per-family objects are linked into
 * one (bpftool gen object); the definitions are weak so each object may include
 * this header and the linker keeps a single instance. docs/abi.md has the table.
 */
#ifndef MW_MAPS_BPF_H
#define MW_MAPS_BPF_H

#include "common.bpf.h"

#define MW_MAP __attribute__((weak))

/* Pin directory identity: magic, ABI version. Written by the user side at load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_meta);
} mw_meta_v1 SEC(".maps") MW_MAP;

/* Enrolled workloads by netns cookie. User side writes; connect4/6, sockops and
 * sk_lookup read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, struct mw_workload);
} mw_wl_v1 SEC(".maps") MW_MAP;

/* Destination-port rules per workload and generation (egress: ignored ports; ingress:
 * app ports). User side writes; connect4/6 and sk_lookup read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_port_key);
	__type(value, struct mw_rule);
} mw_port_v1 SEC(".maps") MW_MAP;

/* Destination CIDR rules per workload and generation. User side writes; connect4/6 read. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MW_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_lpm_key);
	__type(value, struct mw_rule_list);
} mw_cidr_v1 SEC(".maps") MW_MAP;

/* Services that rules forward to, per workload and generation. User side writes;
 * connect4/6 read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_SVCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_svc_key);
	__type(value, struct mw_svc);
} mw_svc_v1 SEC(".maps") MW_MAP;

/* The namespaces' own addresses (gen 0). User side writes at enrol; connect4/6 and
 * sk_lookup read. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MW_MAX_LOCAL);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_lpm_key);
	__type(value, __u32);
} mw_local_v1 SEC(".maps") MW_MAP;

/* Decision counters per workload. User side creates at enrol; BPF increments; status reads. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MW_MAX_WORKLOADS);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* per CPU: preallocation would be MBs per CPU */
	__type(key, __u64);
	__type(value, struct mw_counters);
} mw_ctr_v1 SEC(".maps") MW_MAP;

/* Global statistics (MW_S_*). BPF increments; status reads. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MW_S_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mw_stats_v1 SEC(".maps") MW_MAP;

/* Original destination on the client's socket (connect4/6 write, sockops reads) and
 * on the sidecar's accepted socket (sockops writes, getsockopt reads). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mw_sk_orig);
} mw_sko_v1 SEC(".maps") MW_MAP;

/* Client->sidecar tuple -> original destination, between the two ends' ESTABLISHED
 * callbacks. sockops writes, reads and deletes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_MAX_ORIG);
	__type(key, struct mw_tuple);
	__type(value, struct mw_origdst);
} mw_orig_v1 SEC(".maps") MW_MAP;

/* The sidecar's ingress listener per namespace. sockops and the user side write;
 * sk_lookup reads. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, MW_MAX_LSN);
	__type(key, struct mw_lsn_key);
	__type(value, __u64);
} mw_lsn_v1 SEC(".maps") MW_MAP;

/* Marks the ingress listener; cloned to the sockets it accepts. sockops and the user
 * side write; getsockopt reads. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct mw_sk_lsn);
} mw_lsk_v1 SEC(".maps") MW_MAP;

/* Live connections by socket cookie. sockops writes; `meshwarp conns` reads. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_CONNS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct mw_conn);
} mw_conn_v1 SEC(".maps") MW_MAP;

/* Totals per (namespace, destination, port). sockops writes; the agent reads. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MW_MAX_AGG);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_agg_key);
	__type(value, struct mw_agg);
} mw_agg_v1 SEC(".maps") MW_MAP;

/* One zeroed struct mw_agg, the initial value of a new mw_agg_v1 entry (too large
 * for the BPF stack). Nobody writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_agg);
} mw_zero_v1 SEC(".maps") MW_MAP;

/* Closed connections. sockops writes; the agent reads (log, live view). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MW_EVENTS_BYTES);
} mw_events_v1 SEC(".maps") MW_MAP;

/* The APPMESH_* variables of each workload. Only the user side writes and reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_WORKLOADS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct mw_env);
} mw_env_v1 SEC(".maps") MW_MAP;

/* Workload names. The user side writes at enrol; the agent reads. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, struct mw_name);
} mw_name_v1 SEC(".maps") MW_MAP;

/* The local shortcut (bpf/lib/shortcut.bpf.h, docs/shortcut.md). */

/* Both sockets of a connection on the shortcut, each under its own tuple. sockops
 * writes and deletes; the sk_msg verdict (attached to this map) redirects into it, the
 * sk_skb verdict (attached too) keeps its members' TCP bytes in the same queue. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, MW_MAX_SC);
	__type(key, struct mw_tuple);
	__type(value, __u64);
} mw_sch_v1 SEC(".maps") MW_MAP;

/* Per-socket shortcut state by tuple (struct mw_sc_sock). sockops creates and deletes;
 * sk_msg updates. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_SC);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_tuple);
	__type(value, struct mw_sc_sock);
} mw_scs_v1 SEC(".maps") MW_MAP;

/* Host-wide shortcut settings (struct mw_sc_conf). The user side writes; sockops and
 * sk_msg read. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_sc_conf);
} mw_scc_v1 SEC(".maps") MW_MAP;

/* Shortcut events (MW_SC_S_*). BPF increments; status reads. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MW_SC_S_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mw_scst_v1 SEC(".maps") MW_MAP;

/* Destinations on hold (struct mw_sc_dst -> struct mw_sc_hold). sk_msg writes; sockops
 * reads; the user side lists. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_MAX_SC_HOLD);
	__type(key, struct mw_sc_dst);
	__type(value, struct mw_sc_hold);
} mw_scd_v1 SEC(".maps") MW_MAP;

/* The workloads' own addresses (struct mw_sc_addr -> netns cookie). The user side writes;
 * sockops reads. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_SC_ADDR);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_sc_addr);
	__type(value, __u64);
} mw_scl_v1 SEC(".maps") MW_MAP;

/* Host-wide switches (struct mw_settings: tracking). The user side writes; sockops reads. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_settings);
} mw_set_v1 SEC(".maps") MW_MAP;

/* Hop joining (track.bpf.h). Offers: a redirected connection waiting for its sidecar's
 * upstream leg, per (namespace, original destination); n > 1 means several wait and none
 * can be told from the others. BPF-only: sockops writes and reads. */
struct mw_hop_offer {
	struct bpf_spin_lock lock;
	__u32 n;		/* waiting, within the window */
	__u64 cookie;		/* the app leg's socket cookie when n == 1, else 0 */
	__u64 ts_ns;		/* the last offer */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_AGG);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_agg_key);
	__type(value, struct mw_hop_offer);
} mw_hopo_v1 SEC(".maps") MW_MAP;

/* Joined legs: the sidecar leg's cookie -> the app leg's. sockops writes at the sidecar
 * leg's connect; the agent reads and deletes at its close event, conns reads. LRU: no
 * agent, no leak. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_MAX_HOP);
	__type(key, __u64);
	__type(value, __u64);
} mw_hop_v1 SEC(".maps") MW_MAP;

static __always_inline void mw_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&mw_stats_v1, &idx);

	if (v)
		*v += 1;
}

static __always_inline void mw_count(__u64 netns, __u32 dir, __u32 reason)
{
	struct mw_counters *c = bpf_map_lookup_elem(&mw_ctr_v1, &netns);

	if (c)
		c->n[dir & (MW_DIR_MAX - 1)][reason & (MW_R_MAX - 1)] += 1;
}

#endif /* MW_MAPS_BPF_H */
