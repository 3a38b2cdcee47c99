// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The table store bound to the pinned BPF maps. */
#include <errno.h>
#include <stdlib.h>
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

static const struct mw_store_ops mw_bpf_store_ops = {
	.barrier = mw_bpf_barrier,
	.update = mw_bpf_update,
	.lookup = mw_bpf_lookup,
	.remove = mw_bpf_remove,
	.next_key = mw_bpf_next_key,
};

void mw_dp_store(struct mw_dp *dp, struct mw_store *s)
{
	s->ops = &mw_bpf_store_ops;
	s->ctx = dp;
}
