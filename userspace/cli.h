/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The subcommands of the meshwarp binary and the options they share. */
#ifndef MW_CLI_H
#define MW_CLI_H

#include <limits.h>
#include <stdint.h>

/* Exit codes: 0 ok, 1 bad input or failure, 2 usage, 3 nothing loaded (status). */
#define MW_EXIT_OK		0
#define MW_EXIT_FAIL		1
#define MW_EXIT_USAGE		2
#define MW_EXIT_NOT_LOADED	3

#define MW_DEFAULT_PIN_DIR	"/sys/fs/bpf/meshwarp"

struct mw_opts {
	char pin_dir[PATH_MAX];		/* --pin-dir, MESHWARP_PIN_DIR */
	char cgroup[PATH_MAX];		/* --cgroup, MESHWARP_CGROUP; "" = cgroup2 root */
	int json;			/* -j */
};

/* Resolves opts->cgroup to the cgroup2 root when unset. Call after mw_reach_bpffs(). */
int mw_opts_cgroup(struct mw_opts *o);

int mw_cmd_init(struct mw_opts *o, int argc, char **argv);
int mw_cmd_status(struct mw_opts *o, int argc, char **argv);
int mw_cmd_unload(struct mw_opts *o, int argc, char **argv);

/* Writes the status of the data path (all workloads, or the one of `only_netns`
 * when non-zero) to stdout, as text or JSON. Returns an exit code. */
int mw_status_print(struct mw_opts *o, uint64_t only_netns);

#endif /* MW_CLI_H */
