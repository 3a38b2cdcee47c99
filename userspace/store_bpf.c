// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The table store bound to the pinned BPF maps. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

static int mw_bpf_update(void *ctx, enum mw_map_id map, const void *key, const void *val)
{
	struct mw_dp *dp = ctx;
	size_t size;
	void *zero;
	int err = 0;

	if (map != MW_MAP_CTR || val)
		return bpf_map_update_elem(dp->map_fd[map], key, val, BPF_ANY) ? -errno : 0;

	/* Per-CPU counters: create zeroed, keep what is there. */
	size = (size_t)libbpf_num_possible_cpus() * sizeof(struct mw_counters);
	zero = calloc(1, size);
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(dp->map_fd[map], key, zero, BPF_NOEXIST) && errno != EEXIST)
		err = -errno;
	free(zero);
	return err;
}

static int mw_bpf_lookup(void *ctx, enum mw_map_id map, const void *key, void *val)
{
	struct mw_dp *dp = ctx;

	if (map == MW_MAP_CTR)
		return mw_percpu_sum(dp->map_fd[map], key, val, sizeof(struct mw_counters));
	return bpf_map_lookup_elem(dp->map_fd[map], key, val) ? -errno : 0;
}

static int mw_bpf_remove(void *ctx, enum mw_map_id map, const void *key)
{
	struct mw_dp *dp = ctx;

	if (bpf_map_delete_elem(dp->map_fd[map], key) && errno != ENOENT)
		return -errno;
	return 0;
}

static int mw_bpf_next_key(void *ctx, enum mw_map_id map, const void *key, void *next)
{
	struct mw_dp *dp = ctx;

	return bpf_map_get_next_key(dp->map_fd[map], key, next) ? -errno : 0;
}

/*
 * The kernel waits for an RCU grace period (synchronize_rcu) after any update of
 * a map-in-map from user space, so that user space knows no program still uses
 * the old inner map (maybe_wait_bpf_programs). BPF programs run under RCU, so
 * that is exactly the wait we need: update a throwaway array-of-maps.
 */
static int mw_bpf_barrier(void *ctx)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int inner, outer, err = 0;
	__u32 zero = 0;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mw_sync_in", sizeof(__u32), sizeof(__u32), 1, NULL);
	if (inner < 0)
		return -errno;
	opts.inner_map_fd = inner;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "mw_sync", sizeof(__u32), sizeof(__u32), 1,
			       &opts);
	if (outer < 0) {
		err = -errno;
		goto cleanup;
	}
	if (bpf_map_update_elem(outer, &zero, &inner, BPF_ANY))
		err = -errno;
	close(outer);
cleanup:
	close(inner);
	return err;
}

/* What the kernel returns for a batch operation a map type lacks (its internal ENOTSUPP). */
#define MW_ENOTSUPP	524

static int mw_bpf_update_batch(void *ctx, enum mw_map_id map, const void *keys, const void *vals,
			       size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	struct mw_dp *dp = ctx;
	size_t i;
	__u32 cnt;
	int err;

	if (n > UINT32_MAX)
		return -E2BIG;
	cnt = (__u32)n;
	if (!bpf_map_update_batch(dp->map_fd[map], keys, vals, &cnt, &opts))
		return 0;
	err = -errno;
	if (err != -EINVAL && err != -EOPNOTSUPP && err != -MW_ENOTSUPP)
		return err;
	/* A kernel without batch updates for this map type: one at a time. */
	for (i = 0; i < n; i++) {
		err = mw_bpf_update(ctx, map, (const char *)keys + i * mw_store_key_size(map),
				    (const char *)vals + i * mw_store_val_size(map));
		if (err)
			return err;
	}
	return 0;
}

static int mw_bpf_remove_batch(void *ctx, enum mw_map_id map, const void *keys, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct mw_dp *dp = ctx;
	size_t ksz = mw_store_key_size(map), done = 0;
	int err;

	while (done < n) {
		__u32 cnt = (__u32)(n - done < UINT32_MAX ? n - done : UINT32_MAX);

		if (!bpf_map_delete_batch(dp->map_fd[map], (const char *)keys + done * ksz, &cnt,
					  &opts))
			return 0;
		err = -errno;
		if (err == -ENOENT) {
			/* The kernel deleted cnt keys, then found one absent: not an error,
			 * go on after it. */
			done += cnt + 1;
			continue;
		}
		if (err != -EINVAL && err != -EOPNOTSUPP && err != -MW_ENOTSUPP)
			return err;
		/* No batch deletes for this map type (cnt is not the kernel's then: it
		 * refused before starting). */
		for (; done < n; done++) {
			err = mw_bpf_remove(ctx, map, (const char *)keys + done * ksz);
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * Records of the keys each generation was written with (table.h, keys_record): a
 * hash map pinned beside the others, used only from user space, so it lives and dies
 * with the pins (a fresh load starts from generation 1 with no records). Key: netns,
 * gen, which map, chunk; value: a count and that many keys. A header entry
 * (MW_GK_HEADER), written last, holds the counts: a record without it (an apply that
 * died recording) is not one.
 */
#define MW_GK_MAP_NAME	"mw_gkeys_v1"
#define MW_GK_BYTES	65536
#define MW_GK_ENTRIES	65536
#define MW_GK_HEADER	0xffff

struct mw_gk_key {
	__u64 netns;
	__u32 gen;
	__u16 map;		/* enum mw_map_id, or MW_GK_HEADER */
	__u16 chunk;
};

struct mw_gk_val {
	__u32 n;
	__u32 pad;
	__u8 keys[MW_GK_BYTES];
};

static int mw_gk_open(struct mw_dp *dp, int create)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/maps/%s", dp->pin_dir, MW_GK_MAP_NAME) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd >= 0 ? fd : -errno;
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, MW_GK_MAP_NAME, sizeof(struct mw_gk_key),
			    sizeof(struct mw_gk_val), MW_GK_ENTRIES, &opts);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		int err = -errno;

		close(fd);
		return err == -EEXIST ? mw_gk_open(dp, 0) : err;
	}
	return fd;
}

/* Writes n keys of ksz bytes as chunks of (netns, gen, map). */
static int mw_gk_put(int fd, struct mw_gk_val *v, struct mw_gk_key *k, enum mw_map_id map,
		     const void *base, size_t stride, size_t ksz, size_t n)
{
	size_t per = MW_GK_BYTES / ksz, i, j;

	k->map = (__u16)map;
	for (i = 0, k->chunk = 0; i < n; i += per, k->chunk++) {
		v->n = (__u32)(n - i < per ? n - i : per);
		for (j = 0; j < v->n; j++)
			memcpy(v->keys + j * ksz, (const char *)base + (i + j) * stride, ksz);
		if (bpf_map_update_elem(fd, k, v, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int mw_bpf_keys_record(void *ctx, uint64_t netns, const struct mw_table *t)
{
	struct mw_gk_key k = { .netns = netns, .gen = t->wl.gen };
	struct mw_gk_val *v;
	__u32 counts[3];
	int fd, err;

	if (t->n_ports > UINT32_MAX || t->n_cidrs > UINT32_MAX || t->n_svcs > UINT32_MAX ||
	    (t->n_ports + t->n_cidrs + t->n_svcs) / (MW_GK_BYTES / 32) > 0xfff0)
		return -E2BIG;
	fd = mw_gk_open(ctx, 1);
	if (fd < 0)
		return fd;
	v = calloc(1, sizeof(*v));
	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	err = mw_gk_put(fd, v, &k, MW_MAP_PORT, t->ports, sizeof(*t->ports),
			sizeof(t->ports->key), t->n_ports) ?:
	      mw_gk_put(fd, v, &k, MW_MAP_CIDR, t->cidrs, sizeof(*t->cidrs),
			sizeof(t->cidrs->key), t->n_cidrs) ?:
	      mw_gk_put(fd, v, &k, MW_MAP_SVC, t->svcs, sizeof(*t->svcs),
			sizeof(t->svcs->key), t->n_svcs);
	if (!err) {
		counts[0] = (__u32)t->n_ports;
		counts[1] = (__u32)t->n_cidrs;
		counts[2] = (__u32)t->n_svcs;
		memset(v, 0, sizeof(*v));
		memcpy(v->keys, counts, sizeof(counts));
		k.map = MW_GK_HEADER;
		k.chunk = 0;
		if (bpf_map_update_elem(fd, &k, v, BPF_ANY))
			err = -errno;
	}
	free(v);
	close(fd);
	return err;
}

/* Reads n keys of ksz bytes of (netns, gen, map) into out. */
static int mw_gk_get(int fd, struct mw_gk_val *v, struct mw_gk_key *k, enum mw_map_id map,
		     void *out, size_t ksz, size_t n)
{
	size_t per = MW_GK_BYTES / ksz, i;

	k->map = (__u16)map;
	for (i = 0, k->chunk = 0; i < n; i += per, k->chunk++) {
		if (bpf_map_lookup_elem(fd, k, v))
			return -errno;
		if (v->n != (n - i < per ? n - i : per))
			return -EBADMSG;
		memcpy((char *)out + i * ksz, v->keys, v->n * ksz);
	}
	return 0;
}

static int mw_bpf_keys_recorded(void *ctx, uint64_t netns, uint32_t gen, struct mw_gen_keys *out)
{
	struct mw_gk_key k = { .netns = netns, .gen = gen, .map = MW_GK_HEADER };
	struct mw_gen_keys t = {};
	struct mw_gk_val *v;
	__u32 counts[3];
	int fd, err;

	memset(out, 0, sizeof(*out));
	fd = mw_gk_open(ctx, 0);
	if (fd < 0)
		return fd;
	v = malloc(sizeof(*v));
	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	if (bpf_map_lookup_elem(fd, &k, v)) {
		err = -errno;
		goto cleanup;
	}
	memcpy(counts, v->keys, sizeof(counts));
	t.n_ports = counts[0];
	t.n_cidrs = counts[1];
	t.n_svcs = counts[2];
	t.ports = malloc((t.n_ports ?: 1) * sizeof(*t.ports));
	t.cidrs = malloc((t.n_cidrs ?: 1) * sizeof(*t.cidrs));
	t.svcs = malloc((t.n_svcs ?: 1) * sizeof(*t.svcs));
	if (!t.ports || !t.cidrs || !t.svcs) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = mw_gk_get(fd, v, &k, MW_MAP_PORT, t.ports, sizeof(*t.ports), t.n_ports) ?:
	      mw_gk_get(fd, v, &k, MW_MAP_CIDR, t.cidrs, sizeof(*t.cidrs), t.n_cidrs) ?:
	      mw_gk_get(fd, v, &k, MW_MAP_SVC, t.svcs, sizeof(*t.svcs), t.n_svcs);
	if (err == -ENOENT)	/* a chunk missing: the record is broken, not absent */
		err = -EBADMSG;
cleanup:
	if (err)
		mw_gen_keys_free(&t);
	else
		*out = t;
	free(v);
	close(fd);
	return err;
}

/* The keys of the record map that belong to netns (and to gen unless any_gen). */
static int mw_gk_keys_of(int fd, uint64_t netns, uint32_t gen, int any_gen,
			 struct mw_gk_key **out, size_t *n_out)
{
	struct mw_gk_key cur, next, *keys = NULL, *nk;
	size_t n = 0, cap = 0;
	const void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		cur = next;
		prev = &cur;
		if (cur.netns != netns || (!any_gen && cur.gen != gen))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			nk = realloc(keys, cap * sizeof(*keys));
			if (!nk) {
				free(keys);
				return -ENOMEM;
			}
			keys = nk;
		}
		keys[n++] = cur;
	}
	if (errno != ENOENT) {
		free(keys);
		return -errno;
	}
	*out = keys;
	*n_out = n;
	return 0;
}

static int mw_bpf_keys_gens(void *ctx, uint64_t netns, uint32_t *gens, size_t max, size_t *n)
{
	struct mw_gk_key *keys = NULL;
	size_t nk = 0, i, j;
	int fd, err;

	*n = 0;
	fd = mw_gk_open(ctx, 0);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	err = mw_gk_keys_of(fd, netns, 0, 1, &keys, &nk);
	close(fd);
	for (i = 0; !err && i < nk && *n < max; i++) {
		for (j = 0; j < *n && gens[j] != keys[i].gen; j++)
			;
		if (j == *n)
			gens[(*n)++] = keys[i].gen;
	}
	free(keys);
	return err;
}

static int mw_bpf_keys_forget(void *ctx, uint64_t netns, uint32_t gen)
{
	struct mw_gk_key *keys = NULL;
	size_t nk = 0, i;
	int fd, err;

	fd = mw_gk_open(ctx, 0);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	err = mw_gk_keys_of(fd, netns, gen, 0, &keys, &nk);
	/* The header first: a record half forgotten is no record. */
	for (i = 0; !err && i < nk; i++)
		if (keys[i].map == MW_GK_HEADER && bpf_map_delete_elem(fd, &keys[i]) &&
		    errno != ENOENT)
			err = -errno;
	for (i = 0; !err && i < nk; i++)
		if (keys[i].map != MW_GK_HEADER && bpf_map_delete_elem(fd, &keys[i]) &&
		    errno != ENOENT)
			err = -errno;
	free(keys);
	close(fd);
	return err;
}

static const struct mw_store_ops mw_bpf_store_ops = {
	.barrier = mw_bpf_barrier,
	.update = mw_bpf_update,
	.lookup = mw_bpf_lookup,
	.remove = mw_bpf_remove,
	.next_key = mw_bpf_next_key,
	.update_batch = mw_bpf_update_batch,
	.remove_batch = mw_bpf_remove_batch,
	.keys_record = mw_bpf_keys_record,
	.keys_recorded = mw_bpf_keys_recorded,
	.keys_gens = mw_bpf_keys_gens,
	.keys_forget = mw_bpf_keys_forget,
};

void mw_dp_store(struct mw_dp *dp, struct mw_store *s)
{
	s->ops = &mw_bpf_store_ops;
	s->ctx = dp;
}
