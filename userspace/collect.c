// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reading the kernel's totals into a metric set: names applied, rows merged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "collect.h"
#include "loader.h"

int mw_collect(struct mw_dp *dp, const struct mw_names *names, struct mw_metric_set *set)
{
	struct mw_agg_key k, next;
	uint64_t wk, wnext;
	int first = 1, err = 0;
	__u32 i;

	memset(set, 0, sizeof(*set));
	while (bpf_map_get_next_key(dp->agg_fd, first ? NULL : &k, &next) == 0) {
		char wl[80], svc[80];
		struct mw_agg a;

		first = 0;
		k = next;
		if (mw_percpu_sum(dp->agg_fd, &k, &a, sizeof(a)))
			continue;	/* deleted meanwhile */
		mw_workload_name(dp, k.netns, wl, sizeof(wl));
		mw_names_service(names, k.daddr, ntohs(k.dport), svc, sizeof(svc));
		err = mw_metric_set_add(set, wl, svc, ntohs(k.dport), &a);
		if (err)
			goto fail;
	}

	first = 1;
	while (bpf_map_get_next_key(dp->map_fd[MW_MAP_WL], first ? NULL : &wk, &wnext) == 0) {
		struct mw_counters c = {};
		char wl[80];

		first = 0;
		wk = wnext;
		if (mw_percpu_sum(dp->map_fd[MW_MAP_CTR], &wk, &c, sizeof(c)))
			continue;
		mw_workload_name(dp, wk, wl, sizeof(wl));
		err = mw_metric_set_add_decisions(set, wl, &c);
		if (err)
			goto fail;
	}

	for (i = 0; i < MW_S_MAX; i++) {
		__u64 v = 0;

		if (mw_percpu_sum(dp->stats_fd, &i, &v, sizeof(v)) == 0)
			set->stats[i] = v;
	}
	set->has_sc = dp->scst_fd >= 0;
	for (i = 0; i < MW_SC_S_MAX && set->has_sc; i++) {
		__u64 v = 0;

		if (mw_percpu_sum(dp->scst_fd, &i, &v, sizeof(v)) == 0)
			set->sc_events[i] = v;
	}
	return 0;
fail:
	mw_metric_set_free(set);
	return err;
}
