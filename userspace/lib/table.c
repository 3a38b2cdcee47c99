// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Workload rule tables and their generation switch. The BPF side reads the
 * workload entry first and looks rules up under its gen, so writing a whole new
 * generation, then flipping mw_wl_v1 in one update, then deleting the old one
 * means every connection is decided by exactly one complete table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* A local address is a fact of the namespace, not of a config: it has no generation. */
#define MW_LOCAL_GEN	0
#define MW_LOCAL_VAL	1u

void mw_lpm_key_fill(struct mw_lpm_key *k, uint32_t gen, uint64_t netns, const struct mw_cidr *c)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = MW_LPM_HDR_BITS + c->prefix;
	k->gen = gen;
	k->netns = netns;
	memcpy(k->addr, c->addr, MW_ADDR_LEN);
}

static int cmp_cidr_entry(const void *a, const void *b)
{
	const struct mw_cidr_entry *x = a, *y = b;

	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* ::ffff:0:0/96, where IPv4 lives in the 128-bit space. */
static const struct mw_cidr mw_v4_space = {
	.addr = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff },
	.prefix = MW_V4_MAPPED_BITS,
	.is_v4 = 1,
};

/* Whether an IPv6 block contains the whole IPv4-mapped range. */
static int mw_cidr_covers_v4(const struct mw_cidr *c)
{
	unsigned int bit;

	if (c->prefix > MW_V4_MAPPED_BITS)
		return 0;
	for (bit = 0; bit < c->prefix; bit++) {
		unsigned int mask = 0x80u >> (bit % 8);

		if ((c->addr[bit / 8] & mask) != (mw_v4_space.addr[bit / 8] & mask))
			return 0;
	}
	return 1;
}

void mw_rule_list_one(struct mw_rule_list *l, uint8_t action, uint8_t reason)
{
	memset(l, 0, sizeof(*l));
	l->n = 1;
	l->e[0].port_lo = 0;
	l->e[0].port_hi = 0xffff;
	l->e[0].rule.action = action;
	l->e[0].rule.reason = reason;
}

int mw_table_compile(const struct mw_config *cfg, uint64_t netns, uint32_t gen,
		     struct mw_table *out)
{
	struct mw_table t = {};
	size_t i, o, n, n_in;
	int ret = 0, need_guard = 0, have_v4_all = 0;

	t.wl.gen = gen;
	t.wl.flags = MW_WL_F_ENABLED;
	if (cfg->enable_ipv6)
		t.wl.flags |= MW_WL_F_IPV6;
	if (cfg->inbound_fail_open)
		t.wl.flags |= MW_WL_F_FAIL_OPEN;
	if (cfg->shortcut != MW_SHORTCUT_OFF)
		t.wl.flags |= MW_WL_F_SHORTCUT;
	if (cfg->shortcut == MW_SHORTCUT_FORCE)
		t.wl.flags |= MW_WL_F_SHORTCUT_FORCE;
	if (cfg->has_uid) {
		t.wl.flags |= MW_WL_F_HAS_UID;
		t.wl.ignore_uid = cfg->ignore_uid;
	}
	if (cfg->has_gid) {
		t.wl.flags |= MW_WL_F_HAS_GID;
		t.wl.ignore_gid = cfg->ignore_gid;
	}
	t.wl.egress_port = htons(cfg->egress_port);
	t.wl.ingress_port = htons(cfg->ingress_port);

	n_in = cfg->ingress_port ? cfg->n_app_ports : 0;
	if (cfg->n_ignored_ports + n_in) {
		t.ports = calloc(cfg->n_ignored_ports + n_in, sizeof(*t.ports));
		if (!t.ports) {
			ret = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < cfg->n_ignored_ports; i++) {
		struct mw_port_entry *e = &t.ports[t.n_ports++];

		e->key.netns = netns;
		e->key.gen = gen;
		e->key.port = htons(cfg->ignored_ports[i]);
		e->key.dir = MW_DIR_EGRESS;
		e->rule.action = MW_ACT_BYPASS;
		e->rule.reason = MW_R_PORT;
	}
	for (i = 0; i < n_in; i++) {
		struct mw_port_entry *e = &t.ports[t.n_ports++];

		e->key.netns = netns;
		e->key.gen = gen;
		e->key.port = htons(cfg->app_ports[i]);
		e->key.dir = MW_DIR_INGRESS;
		e->rule.action = MW_ACT_REDIRECT;
		e->rule.reason = MW_R_REDIRECT;
		e->rule.port = htons(cfg->ingress_port);
	}

	t.cidrs = calloc(cfg->n_ignored + 1, sizeof(*t.cidrs));
	if (!t.cidrs) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < cfg->n_ignored; i++) {
		struct mw_cidr_entry *e = &t.cidrs[i];

		mw_lpm_key_fill(&e->key, gen, netns, &cfg->ignored[i]);
		mw_rule_list_one(&e->list, MW_ACT_BYPASS, MW_R_ADDR);
		if (!cfg->ignored[i].is_v4 && mw_cidr_covers_v4(&cfg->ignored[i]))
			need_guard = 1;
		if (cfg->ignored[i].is_v4 && cfg->ignored[i].prefix == MW_V4_MAPPED_BITS)
			have_v4_all = 1;
	}
	n = cfg->n_ignored;
	if (need_guard && !have_v4_all) {
		struct mw_cidr_entry *e = &t.cidrs[n++];

		mw_lpm_key_fill(&e->key, gen, netns, &mw_v4_space);
		mw_rule_list_one(&e->list, MW_ACT_REDIRECT, MW_R_REDIRECT);
	}
	/* Sorted so that identical blocks are adjacent: keys are fully zeroed, so bytes compare. */
	if (n) {
		qsort(t.cidrs, n, sizeof(*t.cidrs), cmp_cidr_entry);
		for (i = 1, o = 1; i < n; i++)
			if (cmp_cidr_entry(&t.cidrs[i], &t.cidrs[o - 1]))
				t.cidrs[o++] = t.cidrs[i];
		t.n_cidrs = o;
	}

	*out = t;
	return 0;
cleanup:
	mw_table_free(&t);
	return ret;
}

void mw_table_free(struct mw_table *t)
{
	if (!t)
		return;
	free(t->ports);
	free(t->cidrs);
	free(t->svcs);
	memset(t, 0, sizeof(*t));
}

/* Keys collected from a map before deleting them: deleting while walking next_key
 * restarts or skips the walk on BPF hash maps and LPM tries. */
struct key_list {
	unsigned char *keys;
	size_t n, cap, size;
};

static int key_list_add(struct key_list *l, const void *key)
{
	unsigned char *p;
	size_t ncap;

	if (l->n == l->cap) {
		if (l->cap > SIZE_MAX / 2 / l->size)
			return -ENOMEM;
		ncap = l->cap ? l->cap * 2 : 64;
		p = realloc(l->keys, ncap * l->size);
		if (!p)
			return -ENOMEM;
		l->keys = p;
		l->cap = ncap;
	}
	memcpy(l->keys + l->n * l->size, key, l->size);
	l->n++;
	return 0;
}

size_t mw_store_key_size(enum mw_map_id map)
{
	switch (map) {
	case MW_MAP_PORT:
		return sizeof(struct mw_port_key);
	case MW_MAP_CIDR:
	case MW_MAP_LOCAL:
		return sizeof(struct mw_lpm_key);
	case MW_MAP_SVC:
		return sizeof(struct mw_svc_key);
	case MW_MAP_SCL:
		return sizeof(struct mw_sc_addr);
	default:
		return sizeof(uint64_t);
	}
}

size_t mw_store_val_size(enum mw_map_id map)
{
	switch (map) {
	case MW_MAP_WL:
		return sizeof(struct mw_workload);
	case MW_MAP_PORT:
		return sizeof(struct mw_rule);
	case MW_MAP_CIDR:
		return sizeof(struct mw_rule_list);
	case MW_MAP_LOCAL:
		return sizeof(__u32);
	case MW_MAP_CTR:
		return sizeof(struct mw_counters);
	case MW_MAP_SCL:
		return sizeof(__u64);
	case MW_MAP_SVC:
		return sizeof(struct mw_svc);
	default:
		return 0;
	}
}

/* Which keys of a netns to select: any generation, only `gen`, or all but `gen`. */
enum gen_match {
	GEN_ANY,
	GEN_EQ,
	GEN_NE,
};

struct key_filter {
	uint64_t netns;
	uint32_t gen;
	enum gen_match match;
	/* MW_MAP_LOCAL: keys to keep (the current local addresses) */
	const struct mw_lpm_key *keep;
	size_t n_keep;
};

static int key_selected(enum mw_map_id map, const void *key, const struct key_filter *f)
{
	uint64_t netns;
	uint32_t gen;
	size_t i;

	if (map == MW_MAP_PORT) {
		const struct mw_port_key *k = key;

		netns = k->netns;
		gen = k->gen;
	} else if (map == MW_MAP_SVC) {
		const struct mw_svc_key *k = key;

		netns = k->netns;
		gen = k->gen;
	} else {
		const struct mw_lpm_key *k = key;

		netns = k->netns;
		gen = k->gen;
	}
	if (netns != f->netns)
		return 0;
	if ((f->match == GEN_EQ && gen != f->gen) || (f->match == GEN_NE && gen == f->gen))
		return 0;
	for (i = 0; i < f->n_keep; i++)
		if (!memcmp(key, &f->keep[i], sizeof(f->keep[i])))
			return 0;
	return 1;
}

/* Deletes every key of `map` selected by f. Absent keys are not an error. */
static int delete_selected(struct mw_store *s, enum mw_map_id map, const struct key_filter *f)
{
	struct key_list l = { .size = mw_store_key_size(map) };
	unsigned char cur[sizeof(struct mw_lpm_key)], next[sizeof(struct mw_lpm_key)];
	const void *prev = NULL;
	size_t i;
	int ret, err;

	for (;;) {
		ret = s->ops->next_key(s->ctx, map, prev, next);
		if (ret == -ENOENT)
			break;
		if (ret)
			goto cleanup;
		if (key_selected(map, next, f)) {
			ret = key_list_add(&l, next);
			if (ret)
				goto cleanup;
		}
		memcpy(cur, next, l.size);
		prev = cur;
	}

	ret = 0;
	for (i = 0; i < l.n; i++) {
		err = s->ops->remove(s->ctx, map, l.keys + i * l.size);
		if (err && err != -ENOENT && !ret)
			ret = err;
	}
cleanup:
	free(l.keys);
	return ret;
}

/* Entries per batch: big enough that the system call does not count, small enough
 * that the copies stay in the cache. */
#define MW_BATCH	4096

/* The n entries at base (stride bytes apart, key first, value at voff) into map:
 * batched when the store can. *done: how many may have been written. */
static int write_entries(struct mw_store *s, enum mw_map_id map, const void *base, size_t stride,
			 size_t ksz, size_t voff, size_t vsz, size_t n, size_t *done)
{
	const unsigned char *b = base;
	unsigned char *keys = NULL, *vals = NULL;
	size_t i, j, k, m;
	int ret = 0;

	*done = 0;
	if (!s->ops->update_batch || n < 2) {
		for (i = 0; i < n; i++) {
			*done = i + 1;
			ret = s->ops->update(s->ctx, map, b + i * stride, b + i * stride + voff);
			if (ret)
				return ret;
		}
		return 0;
	}
	m = n < MW_BATCH ? n : MW_BATCH;
	keys = malloc(m * ksz);
	vals = malloc(m * vsz);
	if (!keys || !vals) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n; i += k) {
		k = n - i < m ? n - i : m;
		for (j = 0; j < k; j++) {
			memcpy(keys + j * ksz, b + (i + j) * stride, ksz);
			memcpy(vals + j * vsz, b + (i + j) * stride + voff, vsz);
		}
		*done = i + k;
		ret = s->ops->update_batch(s->ctx, map, keys, vals, k);
		if (ret)
			goto cleanup;
	}
cleanup:
	free(keys);
	free(vals);
	return ret;
}

/* Removes the keys of n entries at base (stride bytes apart, key first). Absent keys
 * are not an error; the first other error is returned after trying every key. */
static int remove_entries(struct mw_store *s, enum mw_map_id map, const void *base, size_t stride,
			  size_t ksz, size_t n)
{
	const unsigned char *b = base;
	unsigned char *keys = NULL;
	size_t i, j, k, m;
	int ret = 0, err;

	if (!s->ops->remove_batch || n < 2) {
		for (i = 0; i < n; i++) {
			err = s->ops->remove(s->ctx, map, b + i * stride);
			if (err && err != -ENOENT && !ret)
				ret = err;
		}
		return ret;
	}
	m = n < MW_BATCH ? n : MW_BATCH;
	keys = malloc(m * ksz);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i += k) {
		k = n - i < m ? n - i : m;
		for (j = 0; j < k; j++)
			memcpy(keys + j * ksz, b + (i + j) * stride, ksz);
		err = s->ops->remove_batch(s->ctx, map, keys, k);
		if (err && !ret)
			ret = err;
	}
	free(keys);
	return ret;
}

#define PORTS_OF(t)	(t)->ports, sizeof(*(t)->ports), sizeof((t)->ports->key)
#define CIDRS_OF(t)	(t)->cidrs, sizeof(*(t)->cidrs), sizeof((t)->cidrs->key)
#define SVCS_OF(t)	(t)->svcs, sizeof(*(t)->svcs), sizeof((t)->svcs->key)

/* Removes the first n_ports, n_cidrs, n_svcs rule entries of t. */
static int remove_table(struct mw_store *s, const struct mw_table *t, size_t n_ports,
			size_t n_cidrs, size_t n_svcs)
{
	int ret, err;

	ret = remove_entries(s, MW_MAP_PORT, PORTS_OF(t), n_ports);
	err = remove_entries(s, MW_MAP_CIDR, CIDRS_OF(t), n_cidrs);
	ret = ret ?: err;
	err = remove_entries(s, MW_MAP_SVC, SVCS_OF(t), n_svcs);
	return ret ?: err;
}

void mw_gen_keys_free(struct mw_gen_keys *k)
{
	if (!k)
		return;
	free(k->ports);
	free(k->cidrs);
	free(k->svcs);
	memset(k, 0, sizeof(*k));
}

/* Removes the rules of a recorded generation. */
static int remove_keys(struct mw_store *s, const struct mw_gen_keys *k)
{
	int ret, err;

	ret = remove_entries(s, MW_MAP_PORT, k->ports, sizeof(*k->ports), sizeof(*k->ports),
			     k->n_ports);
	err = remove_entries(s, MW_MAP_CIDR, k->cidrs, sizeof(*k->cidrs), sizeof(*k->cidrs),
			     k->n_cidrs);
	ret = ret ?: err;
	err = remove_entries(s, MW_MAP_SVC, k->svcs, sizeof(*k->svcs), sizeof(*k->svcs),
			     k->n_svcs);
	return ret ?: err;
}

/* Undoes the rules of a generation that never got switched in. Best effort. */
static void rollback(struct mw_store *s, const struct mw_table *t, size_t n_ports,
		     size_t n_cidrs, size_t n_svcs)
{
	remove_table(s, t, n_ports, n_cidrs, n_svcs);
}

#define MW_GENS_MAX	64

/*
 * Deletes the rules of every recorded generation of netns but `keep` and forgets
 * them. With forget_only, the rules are known to be gone already.
 */
static int forget_gens(struct mw_store *s, uint64_t netns, uint32_t keep, int forget_only)
{
	uint32_t gens[MW_GENS_MAX];
	size_t n, i, left;
	int err;

	do {
		err = s->ops->keys_gens(s->ctx, netns, gens, MW_GENS_MAX, &n);
		if (err)
			return err;
		left = 0;
		for (i = 0; i < n; i++) {
			struct mw_gen_keys rec = {};

			if (gens[i] == keep)
				continue;
			left++;
			if (!forget_only) {
				err = s->ops->keys_recorded(s->ctx, netns, gens[i], &rec);
				if (!err)
					err = remove_keys(s, &rec);
				mw_gen_keys_free(&rec);
				if (err && err != -ENOENT)
					return err;
			}
			err = s->ops->keys_forget(s->ctx, netns, gens[i]);
			if (err && err != -ENOENT)
				return err;
		}
	} while (n == MW_GENS_MAX && left);
	return 0;
}

static int have_records(const struct mw_store *s)
{
	return s->ops->keys_record && s->ops->keys_recorded && s->ops->keys_gens &&
	       s->ops->keys_forget;
}

static int apply_locals(struct mw_store *s, uint64_t netns, const struct mw_cidr *locals,
			size_t n_locals)
{
	struct key_filter f = { .netns = netns, .gen = MW_LOCAL_GEN, .match = GEN_ANY };
	struct mw_lpm_key *keys = NULL;
	const __u32 val = MW_LOCAL_VAL;
	size_t i;
	int ret = 0;

	if (n_locals) {
		keys = calloc(n_locals, sizeof(*keys));
		if (!keys)
			return -ENOMEM;
	}
	for (i = 0; i < n_locals; i++) {
		mw_lpm_key_fill(&keys[i], MW_LOCAL_GEN, netns, &locals[i]);
		ret = s->ops->update(s->ctx, MW_MAP_LOCAL, &keys[i], &val);
		if (ret)
			goto cleanup;
	}
	f.keep = keys;
	f.n_keep = n_locals;
	ret = delete_selected(s, MW_MAP_LOCAL, &f);
cleanup:
	free(keys);
	return ret;
}

/* Whether a local address is one a peer on this host can connect to off loopback. */
static int sc_addr_wanted(const struct mw_cidr *c)
{
	static const uint8_t v6_lo[16] = { [15] = 1 };
	static const uint8_t v4_pfx[12] = { [10] = 0xff, [11] = 0xff };

	if (c->prefix != 128 || !memcmp(c->addr, v6_lo, 16))
		return 0;
	if (!memcmp(c->addr, v4_pfx, 12) && c->addr[12] == 127)
		return 0;
	return 1;
}

/*
 * The shortcut's view of whose address is whose (mw_scl_v1): the workload's current local
 * addresses point at it, and the addresses that pointed at it before and are gone are
 * removed (not one another workload took over since). A pin directory without the map
 * (older version: -EBADF) is left alone.
 */
static int apply_sc_addrs(struct mw_store *s, uint64_t netns, const struct mw_cidr *locals,
			  size_t n_locals)
{
	struct mw_sc_addr cur, next, *gone = NULL, *ng;
	const void *prev = NULL;
	size_t i, n_gone = 0;
	__u64 owner;
	int ret = 0, err;

	for (i = 0; i < n_locals; i++) {
		if (!sc_addr_wanted(&locals[i]))
			continue;
		memcpy(cur.addr, locals[i].addr, sizeof(cur.addr));
		ret = s->ops->update(s->ctx, MW_MAP_SCL, &cur, &netns);
		if (ret)
			return ret == -EBADF ? 0 : ret;
	}
	for (;;) {
		ret = s->ops->next_key(s->ctx, MW_MAP_SCL, prev, &next);
		if (ret == -ENOENT || ret == -EBADF) {
			ret = 0;
			break;
		}
		if (ret)
			goto out;
		cur = next;
		prev = &cur;
		if (s->ops->lookup(s->ctx, MW_MAP_SCL, &cur, &owner) || owner != netns)
			continue;
		for (i = 0; i < n_locals; i++)
			if (sc_addr_wanted(&locals[i]) &&
			    !memcmp(locals[i].addr, cur.addr, sizeof(cur.addr)))
				break;
		if (i < n_locals)
			continue;
		ng = realloc(gone, (n_gone + 1) * sizeof(*gone));
		if (!ng) {
			ret = -ENOMEM;
			goto out;
		}
		gone = ng;
		gone[n_gone++] = cur;
	}
	for (i = 0; i < n_gone; i++) {
		err = s->ops->remove(s->ctx, MW_MAP_SCL, &gone[i]);
		if (err && err != -ENOENT && !ret)
			ret = err;
	}
out:
	free(gone);
	return ret;
}

/* Sets the generation of every key of a compiled table. */
static void table_set_gen(struct mw_table *t, uint32_t gen)
{
	size_t i;

	t->wl.gen = gen;
	for (i = 0; i < t->n_ports; i++)
		t->ports[i].key.gen = gen;
	for (i = 0; i < t->n_cidrs; i++)
		t->cidrs[i].key.gen = gen;
	for (i = 0; i < t->n_svcs; i++)
		t->svcs[i].key.gen = gen;
}

static const enum mw_map_id rule_maps[] = { MW_MAP_PORT, MW_MAP_CIDR, MW_MAP_SVC };

static int delete_rules(struct mw_store *s, const struct key_filter *f)
{
	size_t i;
	int ret;

	for (i = 0; i < sizeof(rule_maps) / sizeof(rule_maps[0]); i++) {
		ret = delete_selected(s, rule_maps[i], f);
		if (ret)
			return ret;
	}
	return 0;
}

int mw_workload_apply_table(struct mw_store *s, uint64_t netns, struct mw_table *t,
			    const struct mw_cidr *locals, size_t n_locals, int keep_locals)
{
	struct key_filter f = { .netns = netns };
	struct mw_workload old = {};
	struct mw_gen_keys rec = {};
	size_t np = 0, nc = 0, ns = 0;
	int ret, have_old = 0, have_rec = 0, recorded = 0;
	uint32_t gen = 0;

	ret = s->ops->lookup(s->ctx, MW_MAP_WL, &netns, &old);
	if (!ret) {
		gen = old.gen;
		have_old = 1;
	} else if (ret != -ENOENT) {
		return ret;
	}
	gen++;
	if (!gen)	/* 0 is the locals' generation and never a table's */
		gen = 1;
	table_set_gen(t, gen);

	/* With a record of the generation in force, every generation written since
	 * (an apply that died included) was recorded before it was written: the records
	 * say what to delete. Without, walk the maps. */
	if (have_old && have_records(s))
		have_rec = s->ops->keys_recorded(s->ctx, netns, old.gen, &rec) == 0;

	/* Leftovers of an apply that died before its switch carry this gen: clear them so
	 * that the new generation is exactly the compiled table. */
	if (have_rec) {
		ret = forget_gens(s, netns, old.gen, 0);
	} else {
		f.gen = gen;
		f.match = GEN_EQ;
		ret = delete_rules(s, &f);
	}
	if (ret)
		goto out;
	if (have_records(s)) {
		recorded = s->ops->keys_record(s->ctx, netns, t) == 0;
		if (!recorded)	/* the next apply walks instead */
			s->ops->keys_forget(s->ctx, netns, gen);
	}

	ret = write_entries(s, MW_MAP_PORT, t->ports, sizeof(*t->ports), sizeof(t->ports->key),
			    offsetof(struct mw_port_entry, rule), sizeof(t->ports->rule),
			    t->n_ports, &np);
	if (!ret)
		ret = write_entries(s, MW_MAP_CIDR, t->cidrs, sizeof(*t->cidrs),
				    sizeof(t->cidrs->key), offsetof(struct mw_cidr_entry, list),
				    sizeof(t->cidrs->list), t->n_cidrs, &nc);
	if (!ret)
		ret = write_entries(s, MW_MAP_SVC, t->svcs, sizeof(*t->svcs), sizeof(t->svcs->key),
				    offsetof(struct mw_svc_entry, svc), sizeof(t->svcs->svc),
				    t->n_svcs, &ns);
	if (ret)
		goto undo;
	if (!keep_locals) {
		ret = apply_locals(s, netns, locals, n_locals);
		if (!ret)
			ret = apply_sc_addrs(s, netns, locals, n_locals);
		if (ret)
			goto undo;
	}
	ret = s->ops->update(s->ctx, MW_MAP_CTR, &netns, NULL);
	if (ret)
		goto undo;

	/* The switch: from here on the new generation decides. */
	ret = s->ops->update(s->ctx, MW_MAP_WL, &netns, &t->wl);
	if (ret)
		goto undo;

	/* A failure from here on leaves the new table in force and unreachable old rules
	 * behind; the next apply removes them. A connect() that read the workload
	 * entry before the switch may still be looking at the old generation's
	 * rules: wait for it before they go. */
	ret = s->ops->barrier(s->ctx);
	if (ret)
		goto out;
	if (have_rec) {
		ret = remove_keys(s, &rec);
		if (!ret)
			ret = s->ops->keys_forget(s->ctx, netns, old.gen);
	} else {
		f.gen = gen;
		f.match = GEN_NE;
		ret = delete_rules(s, &f);
		/* Every other generation is gone: so are their records. */
		if (!ret && have_records(s))
			ret = forget_gens(s, netns, gen, 1);
	}
	goto out;
undo:
	rollback(s, t, np, nc, ns);
	if (recorded)
		s->ops->keys_forget(s->ctx, netns, gen);
out:
	mw_gen_keys_free(&rec);
	return ret;
}

int mw_workload_apply(struct mw_store *s, uint64_t netns, const struct mw_config *cfg,
		      const struct mw_cidr *locals, size_t n_locals, int enabled)
{
	struct mw_table t = {};
	int ret;

	ret = mw_table_compile(cfg, netns, 0, &t);
	if (ret)
		return ret;
	if (!enabled)
		t.wl.flags &= ~MW_WL_F_ENABLED;
	ret = mw_workload_apply_table(s, netns, &t, locals, n_locals, 0);
	mw_table_free(&t);
	return ret;
}

int mw_workload_set_enabled(struct mw_store *s, uint64_t netns, int enabled)
{
	struct mw_workload wl = {};
	int ret;

	ret = s->ops->lookup(s->ctx, MW_MAP_WL, &netns, &wl);
	if (ret)
		return ret;
	if (enabled)
		wl.flags |= MW_WL_F_ENABLED;
	else
		wl.flags &= ~MW_WL_F_ENABLED;
	return s->ops->update(s->ctx, MW_MAP_WL, &netns, &wl);
}

int mw_workload_remove(struct mw_store *s, uint64_t netns)
{
	static const enum mw_map_id maps[] = { MW_MAP_PORT, MW_MAP_CIDR, MW_MAP_SVC, MW_MAP_LOCAL };
	struct key_filter f = { .netns = netns, .match = GEN_ANY };
	int ret, err;
	size_t i;

	/* The workload entry first: interception stops before its rules go. */
	ret = s->ops->remove(s->ctx, MW_MAP_WL, &netns);
	if (ret == -ENOENT)
		ret = 0;
	else if (ret)
		return ret;
	/* A connect() that found the entry must not find its rules gone. */
	ret = s->ops->barrier(s->ctx);
	if (ret)
		return ret;

	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		err = delete_selected(s, maps[i], &f);
		if (err && !ret)
			ret = err;
	}
	err = s->ops->remove(s->ctx, MW_MAP_CTR, &netns);
	if (err && err != -ENOENT && !ret)
		ret = err;
	err = apply_sc_addrs(s, netns, NULL, 0);
	if (err && !ret)
		ret = err;
	if (have_records(s)) {
		err = forget_gens(s, netns, 0, 1);	/* 0: no table's generation */
		if (err && !ret)
			ret = err;
	}
	return ret;
}

static int push_u16(uint16_t **v, size_t *n, uint16_t x)
{
	uint16_t *nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = x;
	*v = nv;
	return 0;
}

int mw_config_from_table(const struct mw_table *t, struct mw_config *cfg)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	size_t i, j;
	int err = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->start_enabled = 1;
	cfg->has_uid = !!(t->wl.flags & MW_WL_F_HAS_UID);
	cfg->ignore_uid = t->wl.ignore_uid;
	cfg->has_gid = !!(t->wl.flags & MW_WL_F_HAS_GID);
	cfg->ignore_gid = t->wl.ignore_gid;
	cfg->egress_port = ntohs(t->wl.egress_port);
	cfg->ingress_port = ntohs(t->wl.ingress_port);
	cfg->enable_ipv6 = !!(t->wl.flags & MW_WL_F_IPV6);
	cfg->inbound_fail_open = !!(t->wl.flags & MW_WL_F_FAIL_OPEN);
	cfg->shortcut = !(t->wl.flags & MW_WL_F_SHORTCUT) ? MW_SHORTCUT_OFF :
			(t->wl.flags & MW_WL_F_SHORTCUT_FORCE) ? MW_SHORTCUT_FORCE : MW_SHORTCUT_ON;
	cfg->app_ports_set = cfg->ingress_port != 0;

	/* Entries keep their origin in the reason: APPMESH_* ones are PORT/ADDR. */
	for (i = 0; i < t->n_ports && !err; i++) {
		const struct mw_port_entry *e = &t->ports[i];

		if (e->key.dir == MW_DIR_EGRESS && e->rule.reason == MW_R_PORT)
			err = push_u16(&cfg->ignored_ports, &cfg->n_ignored_ports, ntohs(e->key.port));
		else if (e->key.dir == MW_DIR_INGRESS)
			err = push_u16(&cfg->app_ports, &cfg->n_app_ports, ntohs(e->key.port));
	}
	for (i = 0; i < t->n_cidrs && !err; i++) {
		const struct mw_cidr_entry *e = &t->cidrs[i];
		struct mw_cidr *nc;

		for (j = 0; j < e->list.n && j < MW_RULES_PER_DST; j++)
			if (e->list.e[j].rule.reason == MW_R_ADDR)
				break;
		if (j == e->list.n || j == MW_RULES_PER_DST)
			continue;
		nc = realloc(cfg->ignored, (cfg->n_ignored + 1) * sizeof(*nc));
		if (!nc) {
			err = -ENOMEM;
			break;
		}
		cfg->ignored = nc;
		nc = &cfg->ignored[cfg->n_ignored++];
		memset(nc, 0, sizeof(*nc));
		memcpy(nc->addr, e->key.addr, sizeof(nc->addr));
		nc->prefix = (uint8_t)(e->key.prefixlen - MW_LPM_HDR_BITS);
		nc->is_v4 = nc->prefix >= MW_V4_MAPPED_BITS && !memcmp(nc->addr, mapped, sizeof(mapped));
	}
	if (err)
		mw_config_free(cfg);
	return err;
}
