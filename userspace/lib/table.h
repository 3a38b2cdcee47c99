/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The per-workload rule table: a workload's configuration compiled into the map
 * entries of include/meshwarp/abi.h, and applied to a store of maps with a
 * generation switch, so a connection is always decided by one whole table.
 * Pure logic: the store is an interface (the agent binds it to BPF maps, the
 * unit tests to a fake that keeps a shadow copy).
 */
#ifndef MW_TABLE_H
#define MW_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <meshwarp/abi.h>
#include "config.h"


struct mw_port_entry {
	struct mw_port_key key;
	struct mw_rule rule;
};

struct mw_cidr_entry {
	struct mw_lpm_key key;
	struct mw_rule_list list;
};

struct mw_svc_entry {
	struct mw_svc_key key;
	struct mw_svc svc;
};

struct mw_table {
	struct mw_workload wl;		/* wl.gen is the table's generation */
	struct mw_port_entry *ports;	/* egress ignored ports, then ingress app ports */
	size_t n_ports;
	struct mw_cidr_entry *cidrs;	/* egress ignored addresses, deduplicated, and the
					 * IPv4 guard (see mw_table_compile) */
	size_t n_cidrs;
	struct mw_svc_entry *svcs;	/* services that rules forward to (routing tables) */
	size_t n_svcs;
};

/* A list of one rule for every port, what an address rule of APPMESH_* is. */
void mw_rule_list_one(struct mw_rule_list *l, uint8_t action, uint8_t reason);

/*
 * Compiles cfg for the workload in network namespace `netns` into generation `gen`.
 * App ports become MW_DIR_INGRESS port entries (redirect to the ingress port) when
 * an ingress port is set. IPv4 lives inside the IPv6 space (::ffff:0:0/96), so an
 * IPv6 block that covers it (::/0 .. ::/80, ::ffff:0:0/96) would also exempt all
 * IPv4, which iptables never did: such a table gets a guard entry at
 * ::ffff:0:0/96 that redirects, unless the user ignored 0.0.0.0/0 itself.
 * Returns 0 or a negative errno (-ENOMEM).
 */
int mw_table_compile(const struct mw_config *cfg, uint64_t netns, uint32_t gen,
		     struct mw_table *out);
void mw_table_free(struct mw_table *t);

/* Fills an LPM key: prefixlen = MW_LPM_HDR_BITS + c->prefix. */
void mw_lpm_key_fill(struct mw_lpm_key *k, uint32_t gen, uint64_t netns, const struct mw_cidr *c);

enum mw_map_id {
	MW_MAP_WL,	/* mw_wl_v1:    __u64 netns -> struct mw_workload */
	MW_MAP_PORT,	/* mw_port_v1:  struct mw_port_key -> struct mw_rule */
	MW_MAP_CIDR,	/* mw_cidr_v1:  struct mw_lpm_key -> struct mw_rule_list */
	MW_MAP_LOCAL,	/* mw_local_v1: struct mw_lpm_key (gen 0) -> __u32 */
	MW_MAP_CTR,	/* mw_ctr_v1:   __u64 netns -> struct mw_counters (per CPU) */
	MW_MAP_SVC,	/* mw_svc_v1:   struct mw_svc_key -> struct mw_svc */
	MW_MAP_SCL,	/* mw_scl_v1:   struct mw_sc_addr -> __u64 netns (the shortcut's
			 * view of the workloads' addresses; absent in pin directories of
			 * older versions: -EBADF from the store, skipped) */
	MW_MAP_NR,
};

/* The keys of one generation of a workload's rules. */
struct mw_gen_keys {
	struct mw_port_key *ports;
	size_t n_ports;
	struct mw_lpm_key *cidrs;
	size_t n_cidrs;
	struct mw_svc_key *svcs;
	size_t n_svcs;
};

void mw_gen_keys_free(struct mw_gen_keys *k);

struct mw_store_ops {
	/* val NULL on MW_MAP_CTR: create a zeroed entry if absent. */
	int (*update)(void *ctx, enum mw_map_id map, const void *key, const void *val);
	/* Per-CPU values come back summed. -ENOENT when absent. */
	int (*lookup)(void *ctx, enum mw_map_id map, const void *key, void *val);
	int (*remove)(void *ctx, enum mw_map_id map, const void *key);
	/* key NULL: first key. -ENOENT after the last. */
	int (*next_key)(void *ctx, enum mw_map_id map, const void *key, void *next);
	/* Returns once no program that read the maps before the call can still be
	 * running (an RCU grace period). */
	int (*barrier)(void *ctx);

	/* Optional (NULL: one update or remove per entry). n entries of contiguous keys
	 * (and values); all or an error. Absent keys are not an error for remove. */
	int (*update_batch)(void *ctx, enum mw_map_id map, const void *keys, const void *vals,
			    size_t n);
	int (*remove_batch)(void *ctx, enum mw_map_id map, const void *keys, size_t n);

	/* Optional (all NULL: every apply walks the rule maps for old generations). The
	 * keys that a generation of a workload was written with, recorded before they are
	 * written, so that an apply deletes the generation before it without walking
	 * maps of millions of keys (an LPM trie walks at microseconds a key):
	 * keys_record stores t's keys (their gen is t->wl.gen) for (netns, t->wl.gen);
	 * keys_recorded gives the keys recorded for (netns, gen) (-ENOENT: none; out
	 * needs mw_gen_keys_free); keys_gens gives the generations with a record (at
	 * most max, *n the count); keys_forget drops a record. */
	int (*keys_record)(void *ctx, uint64_t netns, const struct mw_table *t);
	int (*keys_recorded)(void *ctx, uint64_t netns, uint32_t gen, struct mw_gen_keys *out);
	int (*keys_gens)(void *ctx, uint64_t netns, uint32_t *gens, size_t max, size_t *n);
	int (*keys_forget)(void *ctx, uint64_t netns, uint32_t gen);
};

/* Key and value sizes of a map's entries (MW_MAP_CTR: of one CPU's value). */
size_t mw_store_key_size(enum mw_map_id map);
size_t mw_store_val_size(enum mw_map_id map);

struct mw_store {
	const struct mw_store_ops *ops;
	void *ctx;
};

/*
 * Enrols or re-enrols the workload of `netns`: compiles cfg into the generation
 * after the one in force, writes its rules, refreshes the namespace's local
 * addresses (locals, n_locals), makes sure its counters exist, switches the
 * workload entry to the new generation in one update, waits for programs that
 * may still hold the old generation (ops->barrier), then deletes the older
 * generations' rules. `enabled` sets MW_WL_F_ENABLED. On failure before the
 * switch, the new generation's entries are removed and what was in force stays.
 * Returns 0 or a negative errno.
 */
int mw_workload_apply(struct mw_store *s, uint64_t netns, const struct mw_config *cfg,
		      const struct mw_cidr *locals, size_t n_locals, int enabled);

/*
 * The same for a table compiled elsewhere (a routing table): `t`'s keys get the
 * new generation; keep_locals leaves the local addresses as they are. t stays
 * the caller's.
 */
int mw_workload_apply_table(struct mw_store *s, uint64_t netns, struct mw_table *t,
			    const struct mw_cidr *locals, size_t n_locals, int keep_locals);

/* Sets or clears MW_WL_F_ENABLED on an enrolled workload (-ENOENT if not enrolled). */
int mw_workload_set_enabled(struct mw_store *s, uint64_t netns, int enabled);

/* Removes every entry of `netns` from every map: the workload entry first, then,
 * after ops->barrier, its rules. Absent is not an error. */
int mw_workload_remove(struct mw_store *s, uint64_t netns);

/*
 * The App Mesh configuration a table was compiled from, read back from its
 * entries (their reasons tell APPMESH_* rules from routing-table ones), so a
 * routing table can be compiled on top of it later. cfg needs mw_config_free.
 */
int mw_config_from_table(const struct mw_table *t, struct mw_config *cfg);

#endif /* MW_TABLE_H */
