/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef MW_COLLECT_H
#define MW_COLLECT_H

#include "metrics.h"

struct mw_dp;

/* Reads mw_agg_v1, the decision counters and the stats into set (zeroed first),
 * naming workloads (mw_name_v1) and destinations (names). 0 or a negative errno. */
int mw_collect(struct mw_dp *dp, const struct mw_names *names, struct mw_metric_set *set);

#endif /* MW_COLLECT_H */
