/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The subcommands of the meshwarp binary and the options they share. */
#ifndef MW_CLI_H
#define MW_CLI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include "cpclient.h"

/* Exit codes: 0 ok, 1 bad input or failure, 2 usage, 3 nothing loaded (status). */
#define MW_EXIT_OK		0
#define MW_EXIT_FAIL		1
#define MW_EXIT_USAGE		2
#define MW_EXIT_NOT_LOADED	3

#define MW_DEFAULT_PIN_DIR	"/sys/fs/bpf/meshwarp"
#define MW_DEFAULT_AGENT_SOCKET	"/run/meshwarp/agent.sock"
#define MW_DEFAULT_STATE_DIR	"/var/lib/meshwarp"

/* Every option of every command: one table, accepted anywhere on the line. */
struct mw_opts {
	char pin_dir[PATH_MAX];		/* --pin-dir, MESHWARP_PIN_DIR */
	char cgroup[PATH_MAX];		/* --cgroup, MESHWARP_CGROUP; "" = cgroup2 root */
	int json;			/* -j */
	const char *workload;		/* conns -w */
	const char *destination;	/* conns -d */
	const char *metrics_addr;	/* agent --metrics-addr, MESHWARP_METRICS_ADDR */
	const char *statsd_addr;	/* agent --statsd, MESHWARP_STATSD_ADDR */
	const char *conn_log;		/* agent --conn-log, MESHWARP_CONN_LOG */
	const char *services;		/* agent --services, MESHWARP_SERVICES */
	const char *socket_path;	/* agent --socket, MESHWARP_AGENT_SOCKET */
	int statsd_interval;		/* agent --statsd-interval seconds */
	int cleanup;			/* agent --cleanup */
	int force;			/* unload --force */
	char state_dir[PATH_MAX];	/* --state-dir, MESHWARP_STATE_DIR: routing tables */
	const char *routes_file;	/* agent --routes-file, MESHWARP_ROUTES_FILE: watched */
	struct mw_cp_config cp;		/* --cp-url --cp-ca --cp-cert --cp-key --cp-san */
	int cp_interval;		/* agent --cp-interval seconds */
	int apply;			/* routes fetch --apply */
	const char *etag;		/* routes fetch --etag: as if this table were in force */
	int tracking;			/* --tracking, MESHWARP_TRACKING: 1 on, 0 off, -1 as it is */
	long sc_hold;			/* --shortcut-hold, MESHWARP_SHORTCUT_HOLD: seconds a
					 * streaming destination stays off the shortcut (0: never
					 * held), -1 as it is */
};

/* Resolves opts->cgroup to the cgroup2 root when unset. Call after mw_reach_bpffs(). */
int mw_opts_cgroup(struct mw_opts *o);

int mw_cmd_init(struct mw_opts *o, int argc, char **argv);
int mw_cmd_status(struct mw_opts *o, int argc, char **argv);
int mw_cmd_unload(struct mw_opts *o, int argc, char **argv);
int mw_cmd_conns(struct mw_opts *o, int argc, char **argv);
int mw_cmd_agent(struct mw_opts *o, int argc, char **argv);
int mw_cmd_features(struct mw_opts *o, int argc, char **argv);
int mw_cmd_routes(struct mw_opts *o, int argc, char **argv);
int mw_cmd_tracking(struct mw_opts *o, int argc, char **argv);

struct mw_routes;
/* Validates, compiles for every enrolled workload, and swaps in a routing table;
 * saves it as the one in force. 0 or a negative errno (messages printed). */
int mw_routes_apply_text(struct mw_opts *o, const char *text, size_t len, const char *origin);
/* The routing table in force (state directory), -ENOENT when none. */
int mw_routes_current(const struct mw_opts *o, struct mw_routes *rt);

struct mw_dp;
/* "10.0.0.5:80" or "[fd00::5]:80" from a 16-byte (v4-mapped for IPv4) address. */
void mw_endpoint_str(const uint8_t addr[16], uint16_t port, char *buf, size_t len);
/* The workload's name (mw_name_v1), else "netns-<cookie>". */
void mw_workload_name(const struct mw_dp *dp, uint64_t netns, char *buf, size_t len);

/* Writes the status of the data path (all workloads, or the one of `only_netns`
 * when non-zero) to stdout, as text or JSON. Returns an exit code. */
int mw_status_print(struct mw_opts *o, uint64_t only_netns);

#endif /* MW_CLI_H */
