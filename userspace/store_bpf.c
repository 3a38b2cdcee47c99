// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The table store bound to the pinned BPF maps. */
#include <errno.h>
#include <stdlib.h>
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

static const struct mw_store_ops mw_bpf_store_ops = {
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
