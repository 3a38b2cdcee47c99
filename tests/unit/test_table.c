// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for userspace/lib/table.c against a fake store: every map is an
 * array of (key, value) in insertion order, i.e. a shadow copy of what would be
 * in the kernel. The fake also watches the generation switch: after every write
 * it checks that the generation the workload entry points at is complete.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "table.h"

#define KEY_MAX		sizeof(struct mw_lpm_key)
#define VAL_MAX		sizeof(struct mw_svc)
#define NETNS_A		0x1122334455667788ull
#define NETNS_B		0x0000000000004242ull
#define MAX_GENS	8

struct fent {
	unsigned char key[KEY_MAX];
	unsigned char val[VAL_MAX];
};

struct fmap {
	size_t ksz, vsz;
	struct fent *e;
	size_t n, cap;
};

/* What a complete generation of the watched netns holds. */
struct gen_want {
	uint32_t gen;
	size_t n_ports, n_cidrs;
};

struct fake {
	struct fmap m[MW_MAP_NR];
	/* failure injection: the fail_at-th update (1-based) from now returns fail_err */
	int fail_at;
	int fail_err;
	int n_updates;
	int lookup_err;
	/* next_key given a key that is not in the map: a walk broken by deletions */
	int walk_restarts;
	/* generation-switch invariant on watch_netns */
	uint64_t watch_netns;
	struct gen_want want[MAX_GENS];
	int n_want;
	int violations;
	/* first mutating operation seen, for the order of remove */
	int first_op_map;
	int first_op_is_remove;
	int n_ops;
	/* the workload entry left generation prev_gen and no barrier followed yet */
	int unfenced;
	uint32_t prev_gen;
	int n_barriers;
	/* rule entries removed while unfenced: a program could still be using them */
	int unfenced_removals;
	/* next_key calls per map: the walks an apply made */
	int walks[MW_MAP_NR];
	/* the optional operations (batches, key records) are offered */
	int records;
	struct frec {
		uint64_t netns;
		uint32_t gen;
		struct mw_gen_keys k;
	} rec[MAX_GENS];
	int n_rec;
};

/* Tests registered a second time with the optional operations (setup_records). */
static int g_records;

static void fake_init(struct fake *f)
{
	static const size_t ksz[MW_MAP_NR] = {
		[MW_MAP_WL] = sizeof(uint64_t),
		[MW_MAP_PORT] = sizeof(struct mw_port_key),
		[MW_MAP_CIDR] = sizeof(struct mw_lpm_key),
		[MW_MAP_LOCAL] = sizeof(struct mw_lpm_key),
		[MW_MAP_CTR] = sizeof(uint64_t),
		[MW_MAP_SCL] = sizeof(struct mw_sc_addr),
	};
	static const size_t vsz[MW_MAP_NR] = {
		[MW_MAP_WL] = sizeof(struct mw_workload),
		[MW_MAP_PORT] = sizeof(struct mw_rule),
		[MW_MAP_CIDR] = sizeof(struct mw_rule_list),
		[MW_MAP_LOCAL] = sizeof(__u32),
		[MW_MAP_CTR] = sizeof(struct mw_counters),
		[MW_MAP_SCL] = sizeof(__u64),
	};
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < MW_MAP_NR; i++) {
		f->m[i].ksz = ksz[i];
		f->m[i].vsz = vsz[i];
	}
	f->first_op_map = -1;
	f->records = g_records;
}

static void fake_free(struct fake *f)
{
	int i;

	for (i = 0; i < MW_MAP_NR; i++)
		free(f->m[i].e);
	for (i = 0; i < f->n_rec; i++)
		mw_gen_keys_free(&f->rec[i].k);
	memset(f, 0, sizeof(*f));
}

static struct fent *fmap_find(struct fmap *m, const void *key, size_t *idx)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (!memcmp(m->e[i].key, key, m->ksz)) {
			if (idx)
				*idx = i;
			return &m->e[i];
		}
	}
	return NULL;
}

static uint64_t key_netns(enum mw_map_id map, const void *key)
{
	uint64_t netns;

	switch (map) {
	case MW_MAP_PORT:
		return ((const struct mw_port_key *)key)->netns;
	case MW_MAP_CIDR:
	case MW_MAP_LOCAL:
		return ((const struct mw_lpm_key *)key)->netns;
	default:
		memcpy(&netns, key, sizeof(netns));
		return netns;
	}
}

static uint32_t key_gen(enum mw_map_id map, const void *key)
{
	if (map == MW_MAP_PORT)
		return ((const struct mw_port_key *)key)->gen;
	return ((const struct mw_lpm_key *)key)->gen;
}

/* Entries of netns in map; of generation gen only when gen >= 0 (port and LPM maps). */
static size_t count(struct fake *f, enum mw_map_id map, uint64_t netns, int gen)
{
	struct fmap *m = &f->m[map];
	size_t i, n = 0;

	for (i = 0; i < m->n; i++) {
		if (key_netns(map, m->e[i].key) != netns)
			continue;
		if (gen >= 0 && key_gen(map, m->e[i].key) != (uint32_t)gen)
			continue;
		n++;
	}
	return n;
}

/* The table the workload entry points at must be exactly one complete generation. */
static void fake_check(struct fake *f)
{
	struct mw_workload wl;
	struct fent *e;
	int i;

	if (!f->n_want)
		return;
	e = fmap_find(&f->m[MW_MAP_WL], &f->watch_netns, NULL);
	if (!e)
		return;
	memcpy(&wl, e->val, sizeof(wl));
	for (i = 0; i < f->n_want; i++) {
		if (f->want[i].gen != wl.gen)
			continue;
		if (count(f, MW_MAP_PORT, f->watch_netns, (int)wl.gen) != f->want[i].n_ports ||
		    count(f, MW_MAP_CIDR, f->watch_netns, (int)wl.gen) != f->want[i].n_cidrs)
			f->violations++;
		return;
	}
	f->violations++;
}

static void want_gen(struct fake *f, uint32_t gen, size_t n_ports, size_t n_cidrs)
{
	assert_true(f->n_want < MAX_GENS);
	f->want[f->n_want].gen = gen;
	f->want[f->n_want].n_ports = n_ports;
	f->want[f->n_want].n_cidrs = n_cidrs;
	f->n_want++;
}

static void note_op(struct fake *f, enum mw_map_id map, int is_remove)
{
	if (!f->n_ops++) {
		f->first_op_map = map;
		f->first_op_is_remove = is_remove;
	}
}

static int fake_update(void *ctx, enum mw_map_id map, const void *key, const void *val)
{
	struct fake *f = ctx;
	struct fmap *m = &f->m[map];
	struct fent *e;

	assert_true(map >= 0 && map < MW_MAP_NR);
	assert_true(val || map == MW_MAP_CTR);
	f->n_updates++;
	if (f->fail_at && f->n_updates == f->fail_at)
		return f->fail_err;
	note_op(f, map, 0);

	e = fmap_find(m, key, NULL);
	if (map == MW_MAP_WL && e) {
		struct mw_workload old, nw;

		memcpy(&old, e->val, sizeof(old));
		memcpy(&nw, val, sizeof(nw));
		if (old.gen != nw.gen) {
			f->prev_gen = old.gen;
			f->unfenced = 1;
		}
	}
	if (!e) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 16;
			m->e = realloc(m->e, m->cap * sizeof(*m->e));
			assert_non_null(m->e);
		}
		e = &m->e[m->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->key, key, m->ksz);
	}
	if (val)
		memcpy(e->val, val, m->vsz);
	fake_check(f);
	return 0;
}

static int fake_lookup(void *ctx, enum mw_map_id map, const void *key, void *val)
{
	struct fake *f = ctx;
	struct fent *e;

	if (f->lookup_err)
		return f->lookup_err;
	e = fmap_find(&f->m[map], key, NULL);
	if (!e)
		return -ENOENT;
	memcpy(val, e->val, f->m[map].vsz);
	return 0;
}

static int fake_remove(void *ctx, enum mw_map_id map, const void *key)
{
	struct fake *f = ctx;
	struct fmap *m = &f->m[map];
	size_t i;

	if (!fmap_find(m, key, &i))
		return -ENOENT;
	note_op(f, map, 1);
	if (map == MW_MAP_WL) {
		struct mw_workload old;

		memcpy(&old, m->e[i].val, sizeof(old));
		f->prev_gen = old.gen;
		f->unfenced = 1;
	} else if ((map == MW_MAP_PORT || map == MW_MAP_CIDR) && f->unfenced) {
		uint32_t gen;

		/* gen sits after the netns in a port key, after prefixlen in an LPM key */
		memcpy(&gen, (const unsigned char *)key + (map == MW_MAP_PORT ? 8 : 4), sizeof(gen));
		if (gen == f->prev_gen)
			f->unfenced_removals++;
	}
	memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(*m->e));
	m->n--;
	fake_check(f);
	return 0;
}

/* BPF hash semantics: an unknown key restarts the walk from the first key. */
static int fake_next_key(void *ctx, enum mw_map_id map, const void *key, void *next)
{
	struct fake *f = ctx;
	struct fmap *m = &f->m[map];
	size_t i = 0;

	f->walks[map]++;
	if (key) {
		if (fmap_find(m, key, &i)) {
			i++;
		} else {
			f->walk_restarts++;
			i = 0;
		}
	}
	if (i >= m->n)
		return -ENOENT;
	memcpy(next, m->e[i].key, m->ksz);
	return 0;
}

static int fake_barrier(void *ctx)
{
	struct fake *f = ctx;

	f->unfenced = 0;
	f->n_barriers++;
	return 0;
}

static const struct mw_store_ops fake_ops = {
	.barrier = fake_barrier,
	.update = fake_update,
	.lookup = fake_lookup,
	.remove = fake_remove,
	.next_key = fake_next_key,
};

static int fake_update_batch(void *ctx, enum mw_map_id map, const void *keys, const void *vals,
			     size_t n)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = fake_update(ctx, map, (const char *)keys + i * mw_store_key_size(map),
				  (const char *)vals + i * mw_store_val_size(map));
		if (ret)
			return ret;
	}
	return 0;
}

static int fake_remove_batch(void *ctx, enum mw_map_id map, const void *keys, size_t n)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = fake_remove(ctx, map, (const char *)keys + i * mw_store_key_size(map));
		if (ret && ret != -ENOENT)
			return ret;
	}
	return 0;
}

static struct frec *frec_find(struct fake *f, uint64_t netns, uint32_t gen)
{
	int i;

	for (i = 0; i < f->n_rec; i++)
		if (f->rec[i].netns == netns && f->rec[i].gen == gen)
			return &f->rec[i];
	return NULL;
}

static void *dup_keys(const void *base, size_t stride, size_t ksz, size_t n)
{
	unsigned char *out = malloc(n ? n * ksz : 1);
	size_t i;

	assert_non_null(out);
	for (i = 0; i < n; i++)
		memcpy(out + i * ksz, (const unsigned char *)base + i * stride, ksz);
	return out;
}

static int fake_keys_forget(void *ctx, uint64_t netns, uint32_t gen)
{
	struct fake *f = ctx;
	struct frec *r = frec_find(f, netns, gen);

	if (!r)
		return 0;
	mw_gen_keys_free(&r->k);
	*r = f->rec[--f->n_rec];
	return 0;
}

static int fake_keys_record(void *ctx, uint64_t netns, const struct mw_table *t)
{
	struct fake *f = ctx;
	struct frec *r;

	fake_keys_forget(ctx, netns, t->wl.gen);
	assert_true(f->n_rec < MAX_GENS);
	r = &f->rec[f->n_rec++];
	r->netns = netns;
	r->gen = t->wl.gen;
	r->k.ports = dup_keys(t->ports, sizeof(*t->ports), sizeof(t->ports->key), t->n_ports);
	r->k.n_ports = t->n_ports;
	r->k.cidrs = dup_keys(t->cidrs, sizeof(*t->cidrs), sizeof(t->cidrs->key), t->n_cidrs);
	r->k.n_cidrs = t->n_cidrs;
	r->k.svcs = dup_keys(t->svcs, sizeof(*t->svcs), sizeof(t->svcs->key), t->n_svcs);
	r->k.n_svcs = t->n_svcs;
	return 0;
}

static int fake_keys_recorded(void *ctx, uint64_t netns, uint32_t gen, struct mw_gen_keys *out)
{
	struct frec *r = frec_find(ctx, netns, gen);

	memset(out, 0, sizeof(*out));
	if (!r)
		return -ENOENT;
	out->ports = dup_keys(r->k.ports, sizeof(*r->k.ports), sizeof(*r->k.ports), r->k.n_ports);
	out->n_ports = r->k.n_ports;
	out->cidrs = dup_keys(r->k.cidrs, sizeof(*r->k.cidrs), sizeof(*r->k.cidrs), r->k.n_cidrs);
	out->n_cidrs = r->k.n_cidrs;
	out->svcs = dup_keys(r->k.svcs, sizeof(*r->k.svcs), sizeof(*r->k.svcs), r->k.n_svcs);
	out->n_svcs = r->k.n_svcs;
	return 0;
}

static int fake_keys_gens(void *ctx, uint64_t netns, uint32_t *gens, size_t max, size_t *n)
{
	struct fake *f = ctx;
	int i;

	*n = 0;
	for (i = 0; i < f->n_rec && *n < max; i++)
		if (f->rec[i].netns == netns)
			gens[(*n)++] = f->rec[i].gen;
	return 0;
}

static const struct mw_store_ops fake_rec_ops = {
	.barrier = fake_barrier,
	.update = fake_update,
	.lookup = fake_lookup,
	.remove = fake_remove,
	.next_key = fake_next_key,
	.update_batch = fake_update_batch,
	.remove_batch = fake_remove_batch,
	.keys_record = fake_keys_record,
	.keys_recorded = fake_keys_recorded,
	.keys_gens = fake_keys_gens,
	.keys_forget = fake_keys_forget,
};

/* Deep copy of a map, to compare before and after. */
static void fmap_snapshot(const struct fmap *m, struct fmap *out)
{
	*out = *m;
	out->e = NULL;
	if (!m->n)
		return;
	out->e = malloc(m->n * sizeof(*m->e));
	assert_non_null(out->e);
	memcpy(out->e, m->e, m->n * sizeof(*m->e));
	out->cap = m->n;
}

static void fmap_assert_equal(const struct fmap *a, const struct fmap *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_memory_equal(a->e[i].key, b->e[i].key, a->ksz);
		assert_memory_equal(a->e[i].val, b->e[i].val, a->vsz);
	}
}

/* Entries of one netns only, in order. */
static void fmap_netns(const struct fmap *m, enum mw_map_id map, uint64_t netns,
		       struct fmap *out)
{
	size_t i;

	fmap_snapshot(m, out);
	out->n = 0;
	for (i = 0; i < m->n; i++)
		if (key_netns(map, m->e[i].key) == netns)
			out->e[out->n++] = m->e[i];
}

/* A config built by hand (not through the env parser): storage included. */
struct test_cfg {
	struct mw_config cfg;
	uint16_t ports[2048];
	struct mw_cidr cidrs[2048];
};

static void cfg_init(struct test_cfg *t, const uint16_t *ports, size_t n_ports,
		     const char *const *cidrs, size_t n_cidrs)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->cfg.has_uid = 1;
	t->cfg.ignore_uid = 1337;
	t->cfg.egress_port = 15001;
	t->cfg.ingress_port = 15000;
	t->cfg.enable_ipv6 = 1;
	assert_true(n_ports <= 2048 && n_cidrs <= 2048);
	for (i = 0; i < n_ports; i++)
		t->ports[i] = ports[i];
	for (i = 0; i < n_cidrs; i++)
		assert_int_equal(mw_parse_cidr(cidrs[i], &t->cidrs[i]), 0);
	t->cfg.ignored_ports = t->ports;
	t->cfg.n_ignored_ports = n_ports;
	t->cfg.ignored = t->cidrs;
	t->cfg.n_ignored = n_cidrs;
}

static const uint16_t ports_a[] = { 22, 5432 };
static const char *const cidrs_a[] = {
	"169.254.169.254", "fd00::/8", "169.254.169.254", "10.0.0.0/8", "169.254.170.2",
};
static const uint16_t ports_b[] = { 22, 3306, 6379 };
static const char *const cidrs_b[] = { "192.168.0.0/16", "2001:db8::1" };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void put_u64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void test_compile(void **state)
{
	static const uint8_t v4_1[16] = { [10] = 0xff, [11] = 0xff, 169, 254, 169, 254 };
	static const uint8_t v4_2[16] = { [10] = 0xff, [11] = 0xff, 169, 254, 170, 2 };
	static const uint8_t v4_10[16] = { [10] = 0xff, [11] = 0xff, 10 };
	static const uint8_t v6_fd[16] = { 0xfd };
	static const struct {
		const uint8_t *addr;
		uint32_t prefixlen;
	} want[] = {	/* sorted by (prefixlen, addr): the dedupe order */
		{ v6_fd, MW_LPM_HDR_BITS + 8 },
		{ v4_10, MW_LPM_HDR_BITS + MW_V4_MAPPED_BITS + 8 },
		{ v4_1, MW_LPM_HDR_BITS + MW_V4_MAPPED_BITS + 32 },
		{ v4_2, MW_LPM_HDR_BITS + MW_V4_MAPPED_BITS + 32 },
	};
	static const unsigned char rule_port[8] = { MW_ACT_BYPASS, MW_R_PORT };
	static const unsigned char rule_addr[8] = { MW_ACT_BYPASS, MW_R_ADDR };
	unsigned char k[32], w[24];
	struct test_cfg tc;
	struct mw_table t;
	size_t i;

	(void)state;
	cfg_init(&tc, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_A, 7, &t), 0);

	memset(w, 0, sizeof(w));
	put_u32(w, 7);
	put_u32(w + 4, MW_WL_F_ENABLED | MW_WL_F_IPV6 | MW_WL_F_HAS_UID);
	put_u32(w + 8, 1337);
	w[16] = 15001 >> 8;
	w[17] = 15001 & 0xff;
	w[18] = 15000 >> 8;
	w[19] = 15000 & 0xff;
	assert_memory_equal(&t.wl, w, sizeof(w));

	assert_int_equal(t.n_ports, 2);
	for (i = 0; i < t.n_ports; i++) {
		memset(k, 0, sizeof(k));
		put_u64(k, NETNS_A);
		put_u32(k + 8, 7);
		k[12] = ports_a[i] >> 8;
		k[13] = ports_a[i] & 0xff;
		k[14] = MW_DIR_EGRESS;
		assert_memory_equal(&t.ports[i].key, k, sizeof(struct mw_port_key));
		assert_memory_equal(&t.ports[i].rule, rule_port, sizeof(rule_port));
	}

	/* 169.254.169.254 twice in the config, once in the table */
	assert_int_equal(t.n_cidrs, ARRAY_SIZE(want));
	for (i = 0; i < t.n_cidrs; i++) {
		memset(k, 0, sizeof(k));
		put_u32(k, want[i].prefixlen);
		put_u32(k + 4, 7);
		put_u64(k + 8, NETNS_A);
		memcpy(k + 16, want[i].addr, 16);
		assert_memory_equal(&t.cidrs[i].key, k, sizeof(k));
		assert_int_equal(t.cidrs[i].list.n, 1);
		assert_int_equal(t.cidrs[i].list.e[0].port_lo, 0);
		assert_int_equal(t.cidrs[i].list.e[0].port_hi, 0xffff);
		assert_memory_equal(&t.cidrs[i].list.e[0].rule, rule_addr, sizeof(rule_addr));
	}
	assert_int_equal(t.cidrs[2].key.prefixlen, 224);
	assert_int_equal(t.cidrs[0].key.prefixlen, 104);
	mw_table_free(&t);
	assert_null(t.ports);
	mw_table_free(&t);
}

static void test_compile_flags(void **state)
{
	struct test_cfg tc;
	struct mw_table t;

	(void)state;
	cfg_init(&tc, NULL, 0, NULL, 0);
	tc.cfg.has_uid = 0;
	tc.cfg.ignore_uid = 99;	/* not set: must not leak into the entry */
	tc.cfg.has_gid = 1;
	tc.cfg.ignore_gid = 0;
	tc.cfg.enable_ipv6 = 0;
	tc.cfg.ingress_port = 0;
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_B, 1, &t), 0);
	assert_int_equal(t.wl.flags, MW_WL_F_ENABLED | MW_WL_F_HAS_GID);
	assert_int_equal(t.wl.ignore_uid, 0);
	assert_int_equal(t.wl.ignore_gid, 0);
	assert_int_equal(t.wl.ingress_port, 0);
	assert_int_equal(t.wl.egress_port, htons(15001));
	assert_int_equal(t.wl.pad, 0);
	assert_int_equal(t.n_ports, 0);
	assert_int_equal(t.n_cidrs, 0);
	mw_table_free(&t);
}

static void test_compile_ingress(void **state)
{
	static const uint16_t app[] = { 8080, 9090 };
	struct test_cfg tc;
	struct mw_table t;
	size_t i, n_in = 0;

	(void)state;
	cfg_init(&tc, ports_a, ARRAY_SIZE(ports_a), NULL, 0);
	tc.cfg.app_ports = (uint16_t *)app;
	tc.cfg.n_app_ports = ARRAY_SIZE(app);
	tc.cfg.app_ports_set = 1;
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_A, 2, &t), 0);
	assert_int_equal(t.n_ports, ARRAY_SIZE(ports_a) + ARRAY_SIZE(app));
	for (i = 0; i < t.n_ports; i++) {
		if (t.ports[i].key.dir != MW_DIR_INGRESS)
			continue;
		assert_int_equal(ntohs(t.ports[i].key.port), app[n_in]);
		assert_int_equal(t.ports[i].key.gen, 2);
		assert_int_equal(t.ports[i].rule.action, MW_ACT_REDIRECT);
		assert_int_equal(ntohs(t.ports[i].rule.port), 15000);
		n_in++;
	}
	assert_int_equal(n_in, ARRAY_SIZE(app));
	mw_table_free(&t);

	/* No ingress port: app ports are not intercepted. */
	tc.cfg.ingress_port = 0;
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_A, 2, &t), 0);
	assert_int_equal(t.n_ports, ARRAY_SIZE(ports_a));
	mw_table_free(&t);
}

/* Finds the entry for cidr `s` in t; NULL when absent. */
static const struct mw_cidr_entry *find_cidr(const struct mw_table *t, const char *s)
{
	struct mw_lpm_key k;
	struct mw_cidr c;
	size_t i;

	assert_int_equal(mw_parse_cidr(s, &c), 0);
	memset(&k, 0, sizeof(k));
	mw_lpm_key_fill(&k, t->wl.gen, NETNS_A, &c);
	for (i = 0; i < t->n_cidrs; i++)
		if (!memcmp(&t->cidrs[i].key, &k, sizeof(k)))
			return &t->cidrs[i];
	return NULL;
}

static void test_compile_v4_guard(void **state)
{
	static const char *const wide[] = { "::/0", "10.0.0.0/8" };
	static const char *const narrow[] = { "fd00::/8", "::/81" };
	static const char *const all4[] = { "::/0", "0.0.0.0/0" };
	const struct mw_cidr_entry *e;
	struct test_cfg tc;
	struct mw_table t;

	(void)state;
	/* ::/0 covers ::ffff:0:0/96: IPv4 must still be redirected, except 10/8. */
	cfg_init(&tc, NULL, 0, wide, ARRAY_SIZE(wide));
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_A, 1, &t), 0);
	assert_int_equal(t.n_cidrs, 3);
	e = find_cidr(&t, "::ffff:0.0.0.0/96");
	assert_non_null(e);
	assert_int_equal(e->list.e[0].rule.action, MW_ACT_REDIRECT);
	e = find_cidr(&t, "10.0.0.0/8");
	assert_non_null(e);
	assert_int_equal(e->list.e[0].rule.action, MW_ACT_BYPASS);
	mw_table_free(&t);

	/* Blocks that do not cover the IPv4 space need no guard. */
	cfg_init(&tc, NULL, 0, narrow, ARRAY_SIZE(narrow));
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_A, 1, &t), 0);
	assert_int_equal(t.n_cidrs, 2);
	mw_table_free(&t);

	/* The user ignored all of IPv4 too: that bypass wins, no guard. */
	cfg_init(&tc, NULL, 0, all4, ARRAY_SIZE(all4));
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_A, 1, &t), 0);
	assert_int_equal(t.n_cidrs, 2);
	e = find_cidr(&t, "0.0.0.0/0");
	assert_non_null(e);
	assert_int_equal(e->list.e[0].rule.action, MW_ACT_BYPASS);
	mw_table_free(&t);
}

/* A table read back gives the configuration that compiles to the same table. */
static void test_config_round_trip(void **state)
{
	static const uint16_t app[] = { 8080 };
	struct mw_config back;
	struct test_cfg tc;
	struct mw_table t1, t2;
	size_t i;

	(void)state;
	cfg_init(&tc, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	tc.cfg.app_ports = (uint16_t *)app;
	tc.cfg.n_app_ports = 1;
	tc.cfg.has_gid = 1;
	tc.cfg.ignore_gid = 2000;
	tc.cfg.inbound_fail_open = 1;
	assert_int_equal(mw_table_compile(&tc.cfg, NETNS_A, 3, &t1), 0);
	assert_int_equal(mw_config_from_table(&t1, &back), 0);
	assert_int_equal(mw_table_compile(&back, NETNS_A, 3, &t2), 0);
	assert_memory_equal(&t1.wl, &t2.wl, sizeof(t1.wl));
	assert_int_equal(t1.n_ports, t2.n_ports);
	for (i = 0; i < t1.n_ports; i++)
		assert_memory_equal(&t1.ports[i], &t2.ports[i], sizeof(t1.ports[i]));
	assert_int_equal(t1.n_cidrs, t2.n_cidrs);
	for (i = 0; i < t1.n_cidrs; i++)
		assert_memory_equal(&t1.cidrs[i], &t2.cidrs[i], sizeof(t1.cidrs[i]));
	mw_config_free(&back);
	mw_table_free(&t1);
	mw_table_free(&t2);
}

static void test_lpm_key_fill(void **state)
{
	struct mw_lpm_key k;
	struct mw_cidr c;

	(void)state;
	memset(&k, 0xaa, sizeof(k));
	assert_int_equal(mw_parse_cidr("fd00::/8", &c), 0);
	mw_lpm_key_fill(&k, 3, NETNS_B, &c);
	assert_int_equal(k.prefixlen, MW_LPM_HDR_BITS + 8);
	assert_int_equal(k.gen, 3);
	assert_int_equal(k.netns, NETNS_B);
	assert_int_equal(k.addr[0], 0xfd);
	assert_int_equal(k.addr[15], 0);
}

static struct mw_store store_of(struct fake *f)
{
	struct mw_store s = { .ops = g_records ? &fake_rec_ops : &fake_ops, .ctx = f };

	return s;
}

/* The generations of netns with a record, sorted, as "1 2". */
static void assert_recorded(struct fake *f, uint64_t netns, const char *want)
{
	uint32_t gens[MAX_GENS], t;
	size_t n, i, j, o = 0;
	char buf[128] = "";

	assert_int_equal(fake_keys_gens(f, netns, gens, MAX_GENS, &n), 0);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (gens[j] < gens[i]) {
				t = gens[i];
				gens[i] = gens[j];
				gens[j] = t;
			}
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%u", i ? " " : "", gens[i]);
	assert_string_equal(buf, want);
}

static void assert_wl(struct fake *f, uint64_t netns, uint32_t gen, uint32_t flags)
{
	struct mw_workload wl;

	assert_int_equal(fake_lookup(f, MW_MAP_WL, &netns, &wl), 0);
	assert_int_equal(wl.gen, gen);
	assert_int_equal(wl.flags, flags);
}

/* Every port/cidr entry of netns belongs to gen and matches the compiled table. */
static void assert_table(struct fake *f, uint64_t netns, uint32_t gen, const struct test_cfg *tc)
{
	struct mw_table t;
	struct mw_rule_list l;
	struct mw_rule r;
	size_t i;

	assert_int_equal(mw_table_compile(&tc->cfg, netns, gen, &t), 0);
	assert_int_equal(count(f, MW_MAP_PORT, netns, -1), t.n_ports);
	assert_int_equal(count(f, MW_MAP_CIDR, netns, -1), t.n_cidrs);
	for (i = 0; i < t.n_ports; i++) {
		assert_int_equal(fake_lookup(f, MW_MAP_PORT, &t.ports[i].key, &r), 0);
		assert_memory_equal(&r, &t.ports[i].rule, sizeof(r));
	}
	for (i = 0; i < t.n_cidrs; i++) {
		assert_int_equal(fake_lookup(f, MW_MAP_CIDR, &t.cidrs[i].key, &l), 0);
		assert_memory_equal(&l, &t.cidrs[i].list, sizeof(l));
	}
	mw_table_free(&t);
}

static void assert_local(struct fake *f, uint64_t netns, const char *addr, int present)
{
	struct mw_lpm_key k;
	struct mw_cidr c;
	__u32 v = 0;

	assert_int_equal(mw_parse_cidr(addr, &c), 0);
	mw_lpm_key_fill(&k, 0, netns, &c);
	if (!present) {
		assert_int_equal(fake_lookup(f, MW_MAP_LOCAL, &k, &v), -ENOENT);
		return;
	}
	assert_int_equal(fake_lookup(f, MW_MAP_LOCAL, &k, &v), 0);
	assert_int_equal(v, 1);
}

static void parse_locals(const char *const *s, size_t n, struct mw_cidr *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(mw_parse_cidr(s[i], &out[i]), 0);
}

static const char *const locals_1[] = { "127.0.0.1", "::1", "10.1.0.5", "fd00:1::5" };
static const char *const locals_2[] = { "127.0.0.1", "::1", "10.1.0.6", "fd00:1::6" };

#define FULL (MW_WL_F_ENABLED | MW_WL_F_IPV6 | MW_WL_F_HAS_UID)

static void test_apply_first(void **state)
{
	struct mw_cidr locals[ARRAY_SIZE(locals_1)];
	struct mw_counters ctr, zero = {};
	struct test_cfg tc;
	struct fake f;
	struct mw_store s = store_of(&f);
	uint64_t netns = NETNS_A;

	(void)state;
	fake_init(&f);
	cfg_init(&tc, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	parse_locals(locals_1, ARRAY_SIZE(locals_1), locals);
	f.watch_netns = NETNS_A;
	want_gen(&f, 1, 2, 4);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, locals, ARRAY_SIZE(locals), 1), 0);
	assert_wl(&f, NETNS_A, 1, FULL);
	assert_table(&f, NETNS_A, 1, &tc);
	assert_int_equal(count(&f, MW_MAP_LOCAL, NETNS_A, 0), 4);
	assert_local(&f, NETNS_A, "10.1.0.5", 1);
	assert_local(&f, NETNS_A, "fd00:1::5", 1);
	assert_int_equal(fake_lookup(&f, MW_MAP_CTR, &netns, &ctr), 0);
	assert_memory_equal(&ctr, &zero, sizeof(ctr));
	assert_int_equal(f.violations, 0);
	assert_int_equal(f.walk_restarts, 0);
	fake_free(&f);
}

static void test_apply_twice(void **state)
{
	struct mw_cidr locals[ARRAY_SIZE(locals_1)];
	struct test_cfg a, b;
	struct fake f;
	struct mw_store s = store_of(&f);

	(void)state;
	fake_init(&f);
	cfg_init(&a, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	cfg_init(&b, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	parse_locals(locals_1, ARRAY_SIZE(locals_1), locals);
	f.watch_netns = NETNS_A;
	want_gen(&f, 1, 2, 4);
	want_gen(&f, 2, 3, 2);
	want_gen(&f, 3, 2, 4);

	/* another workload, which must not notice */
	assert_int_equal(mw_workload_apply(&s, NETNS_B, &b.cfg, locals, 2, 1), 0);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, locals, 4, 1), 0);
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &b.cfg, locals, 4, 1), 0);
	assert_wl(&f, NETNS_A, 2, FULL);
	assert_table(&f, NETNS_A, 2, &b);
	assert_int_equal(count(&f, MW_MAP_PORT, NETNS_A, 1), 0);
	assert_int_equal(count(&f, MW_MAP_CIDR, NETNS_A, 1), 0);

	/* the same config again is a new generation all the same */
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, locals, 4, 1), 0);
	assert_wl(&f, NETNS_A, 3, FULL);
	assert_table(&f, NETNS_A, 3, &a);

	assert_wl(&f, NETNS_B, 1, FULL);
	assert_table(&f, NETNS_B, 1, &b);
	assert_int_equal(count(&f, MW_MAP_LOCAL, NETNS_B, -1), 2);
	assert_int_equal(f.m[MW_MAP_CTR].n, 2);
	assert_int_equal(f.violations, 0);
	assert_int_equal(f.walk_restarts, 0);
	/* old rules went only after a barrier that followed the switch */
	assert_true(f.n_barriers > 0);
	assert_int_equal(f.unfenced_removals, 0);
	fake_free(&f);
}

static void test_apply_refreshes_locals(void **state)
{
	struct mw_cidr l1[ARRAY_SIZE(locals_1)], l2[ARRAY_SIZE(locals_2)];
	struct fmap before, after;
	struct test_cfg tc;
	struct fake f;
	struct mw_store s = store_of(&f);

	(void)state;
	fake_init(&f);
	cfg_init(&tc, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	parse_locals(locals_1, ARRAY_SIZE(locals_1), l1);
	parse_locals(locals_2, ARRAY_SIZE(locals_2), l2);

	assert_int_equal(mw_workload_apply(&s, NETNS_B, &tc.cfg, l1, 4, 1), 0);
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, l1, 4, 1), 0);
	fmap_netns(&f.m[MW_MAP_LOCAL], MW_MAP_LOCAL, NETNS_B, &before);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, l2, 4, 1), 0);
	assert_int_equal(count(&f, MW_MAP_LOCAL, NETNS_A, 0), 4);
	assert_local(&f, NETNS_A, "10.1.0.5", 0);
	assert_local(&f, NETNS_A, "fd00:1::5", 0);
	assert_local(&f, NETNS_A, "10.1.0.6", 1);
	assert_local(&f, NETNS_A, "fd00:1::6", 1);
	assert_local(&f, NETNS_A, "127.0.0.1", 1);
	assert_local(&f, NETNS_A, "::1", 1);

	/* no locals at all: every local entry of the namespace goes */
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, NULL, 0, 1), 0);
	assert_int_equal(count(&f, MW_MAP_LOCAL, NETNS_A, -1), 0);

	fmap_netns(&f.m[MW_MAP_LOCAL], MW_MAP_LOCAL, NETNS_B, &after);
	fmap_assert_equal(&before, &after);
	assert_int_equal(f.walk_restarts, 0);
	free(before.e);
	free(after.e);
	fake_free(&f);
}

/* The owner mw_scl_v1 gives for an address; 0 when absent. */
static uint64_t sc_owner(struct fake *f, const char *addr)
{
	struct mw_sc_addr k;
	struct mw_cidr c;
	struct fent *e;
	uint64_t owner;

	assert_int_equal(mw_parse_cidr(addr, &c), 0);
	memcpy(k.addr, c.addr, sizeof(k.addr));
	e = fmap_find(&f->m[MW_MAP_SCL], &k, NULL);
	if (!e)
		return 0;
	memcpy(&owner, e->val, sizeof(owner));
	return owner;
}

/* The shortcut's address map: the workload's own addresses but loopback, refreshed at each
 * apply, an address another workload took over left to it, everything gone at removal. */
static void test_apply_sc_addrs(void **state)
{
	struct mw_cidr l1[ARRAY_SIZE(locals_1)], l2[ARRAY_SIZE(locals_2)];
	struct test_cfg tc;
	struct fake f;
	struct mw_store s = store_of(&f);

	(void)state;
	fake_init(&f);
	cfg_init(&tc, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	parse_locals(locals_1, ARRAY_SIZE(locals_1), l1);
	parse_locals(locals_2, ARRAY_SIZE(locals_2), l2);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, l1, 4, 1), 0);
	assert_int_equal(f.m[MW_MAP_SCL].n, 2);
	assert_int_equal(sc_owner(&f, "10.1.0.5"), NETNS_A);
	assert_int_equal(sc_owner(&f, "fd00:1::5"), NETNS_A);
	assert_int_equal(sc_owner(&f, "127.0.0.1"), 0);
	assert_int_equal(sc_owner(&f, "::1"), 0);

	/* new addresses replace the old ones */
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, l2, 4, 1), 0);
	assert_int_equal(f.m[MW_MAP_SCL].n, 2);
	assert_int_equal(sc_owner(&f, "10.1.0.5"), 0);
	assert_int_equal(sc_owner(&f, "10.1.0.6"), NETNS_A);
	assert_int_equal(sc_owner(&f, "fd00:1::6"), NETNS_A);

	/* B enrols with the same addresses: the last one has them; A's re-apply without
	 * them does not take B's away */
	assert_int_equal(mw_workload_apply(&s, NETNS_B, &tc.cfg, l2, 4, 1), 0);
	assert_int_equal(sc_owner(&f, "10.1.0.6"), NETNS_B);
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, l1, 4, 1), 0);
	assert_int_equal(sc_owner(&f, "10.1.0.6"), NETNS_B);
	assert_int_equal(sc_owner(&f, "10.1.0.5"), NETNS_A);
	assert_int_equal(f.m[MW_MAP_SCL].n, 4);

	/* removal takes a workload's own entries only */
	assert_int_equal(mw_workload_remove(&s, NETNS_A), 0);
	assert_int_equal(f.m[MW_MAP_SCL].n, 2);
	assert_int_equal(sc_owner(&f, "fd00:1::6"), NETNS_B);
	assert_int_equal(mw_workload_remove(&s, NETNS_B), 0);
	assert_int_equal(f.m[MW_MAP_SCL].n, 0);
	fake_free(&f);
}

static void test_apply_disabled_and_set_enabled(void **state)
{
	struct test_cfg tc;
	struct mw_workload before, after;
	struct fake f;
	struct mw_store s = store_of(&f);
	uint64_t netns = NETNS_A;

	(void)state;
	fake_init(&f);
	cfg_init(&tc, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));

	assert_int_equal(mw_workload_set_enabled(&s, NETNS_A, 1), -ENOENT);
	assert_int_equal(f.m[MW_MAP_WL].n, 0);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, NULL, 0, 0), 0);
	assert_wl(&f, NETNS_A, 1, FULL & ~MW_WL_F_ENABLED);
	assert_table(&f, NETNS_A, 1, &tc);

	assert_int_equal(fake_lookup(&f, MW_MAP_WL, &netns, &before), 0);
	assert_int_equal(mw_workload_set_enabled(&s, NETNS_A, 1), 0);
	assert_int_equal(fake_lookup(&f, MW_MAP_WL, &netns, &after), 0);
	assert_int_equal(after.flags, FULL);
	after.flags = before.flags;
	assert_memory_equal(&before, &after, sizeof(before));
	/* idempotent */
	assert_int_equal(mw_workload_set_enabled(&s, NETNS_A, 1), 0);
	assert_wl(&f, NETNS_A, 1, FULL);

	assert_int_equal(mw_workload_set_enabled(&s, NETNS_A, 0), 0);
	assert_wl(&f, NETNS_A, 1, FULL & ~MW_WL_F_ENABLED);
	/* the rules are untouched by enable/disable */
	assert_table(&f, NETNS_A, 1, &tc);

	/* a re-apply decides enabled anew */
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, NULL, 0, 1), 0);
	assert_wl(&f, NETNS_A, 2, FULL);
	fake_free(&f);
}

static void test_remove(void **state)
{
	struct mw_cidr locals[ARRAY_SIZE(locals_1)];
	struct fmap before[MW_MAP_NR], after;
	struct test_cfg a, b;
	struct fake f;
	struct mw_store s = store_of(&f);
	int i;

	(void)state;
	fake_init(&f);
	cfg_init(&a, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	cfg_init(&b, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	parse_locals(locals_1, ARRAY_SIZE(locals_1), locals);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, locals, 4, 1), 0);
	assert_int_equal(mw_workload_apply(&s, NETNS_B, &b.cfg, locals, 4, 1), 0);
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &b.cfg, locals, 4, 1), 0);
	for (i = 0; i < MW_MAP_NR; i++)
		fmap_netns(&f.m[i], (enum mw_map_id)i, NETNS_B, &before[i]);

	f.n_ops = 0;
	assert_int_equal(mw_workload_remove(&s, NETNS_A), 0);
	/* interception stops before the rules go */
	assert_int_equal(f.first_op_map, MW_MAP_WL);
	assert_int_equal(f.first_op_is_remove, 1);
	for (i = 0; i < MW_MAP_NR; i++) {
		assert_int_equal(count(&f, (enum mw_map_id)i, NETNS_A, -1), 0);
		fmap_netns(&f.m[i], (enum mw_map_id)i, NETNS_B, &after);
		fmap_assert_equal(&before[i], &after);
		assert_int_equal(after.n, f.m[i].n);	/* nothing but B is left */
		free(after.e);
		free(before[i].e);
	}

	/* absent is not an error */
	assert_int_equal(mw_workload_remove(&s, NETNS_A), 0);
	assert_int_equal(mw_workload_remove(&s, 0x99), 0);
	assert_int_equal(f.walk_restarts, 0);
	/* old rules went only after a barrier that followed the switch */
	assert_true(f.n_barriers > 0);
	assert_int_equal(f.unfenced_removals, 0);
	fake_free(&f);
}

/*
 * Fail the apply of a new config at every update it makes, one at a time: the old
 * generation stays in force, with exactly its entries, and nothing of the new one
 * is left behind. Then the apply goes through.
 */
static void test_apply_failure_keeps_old(void **state)
{
	struct mw_cidr locals[ARRAY_SIZE(locals_1)];
	struct fmap port0, cidr0, wl0, now;
	struct test_cfg a, b;
	struct fake f;
	struct mw_store s = store_of(&f);
	int at, ret, failures = 0;

	(void)state;
	fake_init(&f);
	cfg_init(&a, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	cfg_init(&b, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	parse_locals(locals_1, ARRAY_SIZE(locals_1), locals);
	f.watch_netns = NETNS_A;
	want_gen(&f, 1, 2, 4);
	want_gen(&f, 2, 3, 2);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, locals, 4, 1), 0);
	fmap_snapshot(&f.m[MW_MAP_PORT], &port0);
	fmap_snapshot(&f.m[MW_MAP_CIDR], &cidr0);
	fmap_snapshot(&f.m[MW_MAP_WL], &wl0);

	for (at = 1;; at++) {
		f.n_updates = 0;
		f.fail_at = at;
		f.fail_err = -E2BIG;
		ret = mw_workload_apply(&s, NETNS_A, &b.cfg, locals, 4, 1);
		if (!ret)
			break;
		failures++;
		assert_int_equal(ret, -E2BIG);
		assert_wl(&f, NETNS_A, 1, FULL);
		fmap_snapshot(&f.m[MW_MAP_PORT], &now);
		fmap_assert_equal(&port0, &now);
		free(now.e);
		fmap_snapshot(&f.m[MW_MAP_CIDR], &now);
		fmap_assert_equal(&cidr0, &now);
		free(now.e);
		fmap_snapshot(&f.m[MW_MAP_WL], &now);
		fmap_assert_equal(&wl0, &now);
		free(now.e);
		assert_int_equal(count(&f, MW_MAP_PORT, NETNS_A, 2), 0);
		assert_int_equal(count(&f, MW_MAP_CIDR, NETNS_A, 2), 0);
	}
	/* 3 ports + 2 cidrs + 4 locals + 2 shortcut addresses + counters + the switch */
	assert_int_equal(failures, 3 + 2 + 4 + 2 + 1 + 1);
	f.fail_at = 0;
	assert_wl(&f, NETNS_A, 2, FULL);
	assert_table(&f, NETNS_A, 2, &b);
	assert_int_equal(f.violations, 0);
	assert_int_equal(f.walk_restarts, 0);

	/* a failing lookup of the entry in force writes nothing */
	f.lookup_err = -EIO;
	f.n_ops = 0;
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, locals, 4, 1), -EIO);
	assert_int_equal(f.n_ops, 0);
	f.lookup_err = 0;

	free(port0.e);
	free(cidr0.e);
	free(wl0.e);
	fake_free(&f);
}

/* Generation numbers wrap past 0: 0 is the locals' generation. */
static void test_gen_wrap(void **state)
{
	struct mw_workload wl = {};
	struct mw_port_key pk = {};
	struct mw_rule r = { MW_ACT_BYPASS, MW_R_PORT, 0, 0 };
	struct test_cfg tc;
	struct fake f;
	struct mw_store s = store_of(&f);
	uint64_t netns = NETNS_A;

	(void)state;
	fake_init(&f);
	cfg_init(&tc, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	wl.gen = 0xffffffffu;
	wl.flags = FULL;
	pk.netns = NETNS_A;
	pk.gen = 0xffffffffu;
	pk.port = htons(443);
	assert_int_equal(fake_update(&f, MW_MAP_WL, &netns, &wl), 0);
	assert_int_equal(fake_update(&f, MW_MAP_PORT, &pk, &r), 0);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &tc.cfg, NULL, 0, 1), 0);
	assert_wl(&f, NETNS_A, 1, FULL);
	assert_table(&f, NETNS_A, 1, &tc);
	assert_int_equal(fake_lookup(&f, MW_MAP_PORT, &pk, &r), -ENOENT);
	fake_free(&f);
}

/* An agent that died between writing a generation and switching to it left entries of
 * the generation the next apply will use: they must not join the new table. */
static void test_leftovers_of_crashed_apply(void **state)
{
	struct mw_port_key pk = {};
	struct mw_lpm_key ck;
	struct mw_rule r = { MW_ACT_BYPASS, MW_R_PORT, 0, 0 };
	struct mw_rule_list l;
	struct mw_cidr c;
	struct test_cfg a, b;
	struct fake f;
	struct mw_store s = store_of(&f);

	(void)state;
	fake_init(&f);
	cfg_init(&a, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	cfg_init(&b, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, NULL, 0, 1), 0);

	pk.netns = NETNS_A;
	pk.gen = 2;
	pk.port = htons(443);
	assert_int_equal(fake_update(&f, MW_MAP_PORT, &pk, &r), 0);
	assert_int_equal(mw_parse_cidr("0.0.0.0/0", &c), 0);
	mw_lpm_key_fill(&ck, 2, NETNS_A, &c);
	mw_rule_list_one(&l, MW_ACT_BYPASS, MW_R_ADDR);
	assert_int_equal(fake_update(&f, MW_MAP_CIDR, &ck, &l), 0);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &b.cfg, NULL, 0, 1), 0);
	assert_wl(&f, NETNS_A, 2, FULL);
	assert_table(&f, NETNS_A, 2, &b);
	assert_int_equal(fake_lookup(&f, MW_MAP_PORT, &pk, &r), -ENOENT);
	assert_int_equal(fake_lookup(&f, MW_MAP_CIDR, &ck, &l), -ENOENT);
	assert_int_equal(f.walk_restarts, 0);
	fake_free(&f);
}

/* No 15-entry limit anywhere: 500 ports and 1000 blocks, applied twice. */
static void test_apply_large(void **state)
{
	struct test_cfg *a, *b;
	uint16_t ports[500];
	char *cidr_buf, *cidrs[1000];
	struct fake f;
	struct mw_store s = store_of(&f);
	size_t i;

	(void)state;
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	cidr_buf = malloc(1000 * 32);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(cidr_buf);
	for (i = 0; i < 500; i++)
		ports[i] = (uint16_t)(1000 + i);
	for (i = 0; i < 1000; i++) {
		cidrs[i] = cidr_buf + i * 32;
		if (i % 2)
			snprintf(cidrs[i], 32, "2001:db8:%zx::/48", i);
		else
			snprintf(cidrs[i], 32, "10.%zu.%zu.0/24", i / 256, i % 256);
	}
	fake_init(&f);
	cfg_init(a, ports, 500, (const char *const *)cidrs, 1000);
	cfg_init(b, ports, 250, (const char *const *)cidrs + 500, 500);
	f.watch_netns = NETNS_A;
	want_gen(&f, 1, 500, 1000);
	want_gen(&f, 2, 250, 500);

	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a->cfg, NULL, 0, 1), 0);
	assert_table(&f, NETNS_A, 1, a);
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &b->cfg, NULL, 0, 1), 0);
	assert_table(&f, NETNS_A, 2, b);
	assert_int_equal(f.violations, 0);
	assert_int_equal(f.walk_restarts, 0);
	fake_free(&f);
	free(a);
	free(b);
	free(cidr_buf);
}

static int setup_records(void **state)
{
	g_records = 1;
	return 0;
}

static int teardown_records(void **state)
{
	g_records = 0;
	return 0;
}

/* With records, an apply finds the generation before it from its record: no rule map
 * is walked, and the old generation and its record are gone after the switch. */
static void test_records_no_walk(void **state)
{
	struct test_cfg a, b;
	struct fake f;
	struct mw_store s = store_of(&f);

	fake_init(&f);
	cfg_init(&a, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	cfg_init(&b, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	f.watch_netns = NETNS_A;
	want_gen(&f, 1, 2, 4);
	want_gen(&f, 2, 3, 2);
	want_gen(&f, 3, 2, 4);
	assert_int_equal(mw_workload_apply(&s, NETNS_B, &b.cfg, NULL, 0, 1), 0);
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, NULL, 0, 1), 0);
	assert_recorded(&f, NETNS_A, "1");
	memset(f.walks, 0, sizeof(f.walks));
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &b.cfg, NULL, 0, 1), 0);
	assert_int_equal(f.walks[MW_MAP_PORT] + f.walks[MW_MAP_CIDR] + f.walks[MW_MAP_SVC], 0);
	assert_table(&f, NETNS_A, 2, &b);
	assert_recorded(&f, NETNS_A, "2");
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, NULL, 0, 1), 0);
	assert_table(&f, NETNS_A, 3, &a);
	assert_recorded(&f, NETNS_A, "3");
	assert_table(&f, NETNS_B, 1, &b);
	assert_recorded(&f, NETNS_B, "1");
	assert_int_equal(f.violations, 0);
	assert_int_equal(f.unfenced_removals, 0);
	/* removal forgets the records too */
	assert_int_equal(mw_workload_remove(&s, NETNS_A), 0);
	assert_recorded(&f, NETNS_A, "");
	assert_recorded(&f, NETNS_B, "1");
	fake_free(&f);
}

/* An apply that died after recording its generation and writing part of it: the next
 * apply (which takes the same generation number) deletes what the record names. */
static void test_records_crashed_apply(void **state)
{
	struct test_cfg a, b;
	struct mw_table dead;
	struct mw_rule r = { MW_ACT_BYPASS, MW_R_PORT, 0, 0 };
	struct mw_rule_list l;
	struct mw_cidr c;
	struct fake f;
	struct mw_store s = store_of(&f);

	fake_init(&f);
	cfg_init(&a, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	cfg_init(&b, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, NULL, 0, 1), 0);

	/* the dead apply's generation 2: a's table plus 0.0.0.0/0 and port 443 */
	assert_int_equal(mw_table_compile(&a.cfg, NETNS_A, 2, &dead), 0);
	dead.ports = realloc(dead.ports, (dead.n_ports + 1) * sizeof(*dead.ports));
	dead.cidrs = realloc(dead.cidrs, (dead.n_cidrs + 1) * sizeof(*dead.cidrs));
	assert_non_null(dead.ports);
	assert_non_null(dead.cidrs);
	memset(&dead.ports[dead.n_ports], 0, sizeof(*dead.ports));
	dead.ports[dead.n_ports].key.netns = NETNS_A;
	dead.ports[dead.n_ports].key.gen = 2;
	dead.ports[dead.n_ports].key.port = htons(443);
	dead.ports[dead.n_ports++].rule = r;
	assert_int_equal(mw_parse_cidr("0.0.0.0/0", &c), 0);
	mw_lpm_key_fill(&dead.cidrs[dead.n_cidrs].key, 2, NETNS_A, &c);
	mw_rule_list_one(&l, MW_ACT_BYPASS, MW_R_ADDR);
	dead.cidrs[dead.n_cidrs++].list = l;
	assert_int_equal(fake_keys_record(&f, NETNS_A, &dead), 0);
	assert_int_equal(fake_update(&f, MW_MAP_PORT, &dead.ports[dead.n_ports - 1].key, &r), 0);
	assert_int_equal(fake_update(&f, MW_MAP_CIDR, &dead.cidrs[dead.n_cidrs - 1].key, &l), 0);
	assert_recorded(&f, NETNS_A, "1 2");

	memset(f.walks, 0, sizeof(f.walks));
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &b.cfg, NULL, 0, 1), 0);
	assert_int_equal(f.walks[MW_MAP_PORT] + f.walks[MW_MAP_CIDR] + f.walks[MW_MAP_SVC], 0);
	assert_wl(&f, NETNS_A, 2, FULL);
	assert_table(&f, NETNS_A, 2, &b);
	assert_recorded(&f, NETNS_A, "2");
	mw_table_free(&dead);
	fake_free(&f);
}

/* A generation written without a record (a store without the optional operations,
 * an older meshwarp): the next apply walks, and forgets the records it outdated. */
static void test_records_missing(void **state)
{
	struct test_cfg a, b;
	struct fake f;
	struct mw_store s = store_of(&f), plain = { .ops = &fake_ops, .ctx = &f };

	fake_init(&f);
	cfg_init(&a, ports_a, ARRAY_SIZE(ports_a), cidrs_a, ARRAY_SIZE(cidrs_a));
	cfg_init(&b, ports_b, ARRAY_SIZE(ports_b), cidrs_b, ARRAY_SIZE(cidrs_b));
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, NULL, 0, 1), 0);
	assert_int_equal(mw_workload_apply(&plain, NETNS_A, &b.cfg, NULL, 0, 1), 0);
	/* generation 1's record outlived its rules */
	assert_recorded(&f, NETNS_A, "1");
	assert_table(&f, NETNS_A, 2, &b);

	memset(f.walks, 0, sizeof(f.walks));
	assert_int_equal(mw_workload_apply(&s, NETNS_A, &a.cfg, NULL, 0, 1), 0);
	assert_true(f.walks[MW_MAP_CIDR] > 0);
	assert_table(&f, NETNS_A, 3, &a);
	assert_recorded(&f, NETNS_A, "3");
	fake_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile),
		cmocka_unit_test(test_compile_flags),
		cmocka_unit_test(test_compile_ingress),
		cmocka_unit_test(test_compile_v4_guard),
		cmocka_unit_test(test_config_round_trip),
		cmocka_unit_test(test_lpm_key_fill),
		cmocka_unit_test(test_apply_first),
		cmocka_unit_test(test_apply_twice),
		cmocka_unit_test(test_apply_refreshes_locals),
		cmocka_unit_test(test_apply_disabled_and_set_enabled),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_apply_failure_keeps_old),
		cmocka_unit_test(test_apply_sc_addrs),
		cmocka_unit_test(test_gen_wrap),
		cmocka_unit_test(test_leftovers_of_crashed_apply),
		cmocka_unit_test(test_apply_large),
		/* again with batches and key records (the BPF store's optional operations) */
		cmocka_unit_test_setup_teardown(test_apply_first, setup_records, teardown_records),
		cmocka_unit_test_setup_teardown(test_apply_twice, setup_records, teardown_records),
		cmocka_unit_test_setup_teardown(test_apply_refreshes_locals, setup_records,
						teardown_records),
		cmocka_unit_test_setup_teardown(test_apply_disabled_and_set_enabled, setup_records,
						teardown_records),
		cmocka_unit_test_setup_teardown(test_remove, setup_records, teardown_records),
		cmocka_unit_test_setup_teardown(test_apply_failure_keeps_old, setup_records,
						teardown_records),
		cmocka_unit_test_setup_teardown(test_gen_wrap, setup_records, teardown_records),
		cmocka_unit_test_setup_teardown(test_apply_large, setup_records, teardown_records),
		cmocka_unit_test_setup_teardown(test_records_no_walk, setup_records,
						teardown_records),
		cmocka_unit_test_setup_teardown(test_records_crashed_apply, setup_records,
						teardown_records),
		cmocka_unit_test_setup_teardown(test_records_missing, setup_records,
						teardown_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
