// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* meshwarp: one binary, subcommands for the node and for operators. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"

static void mw_usage(FILE *f)
{
	fprintf(f,
		"usage: meshwarp [options] <command> [args]\n"
		"\n"
		"commands:\n"
		"  init [enable|disable]  enrol this network namespace from the APPMESH_* variables\n"
		"                         (drop-in for the App Mesh proxy-init container)\n"
		"  status [-j]            what is loaded and attached, workloads, decision counters\n"
		"  unload [--force]       detach every program and remove the pins (refused while\n"
		"                         connections are on the local shortcut, unless forced)\n"
		"  conns [-j] [-w WL] [-d DEST]  live connections with their counters\n"
		"  features [-j]          what this kernel offers (exit 1: meshwarp cannot run)\n"
		"  tracking [on|off]      the host-wide connection tracking switch (no word: show it)\n"
		"  routes show|diff FILE|apply FILE|rollback|fetch [--apply] [--etag ETAG]\n"
		"                         routing tables: validated, compiled, swapped atomically\n"
		"  agent                  the node agent: owns the data path, enrols workloads over\n"
		"                         its socket, exports metrics (Prometheus, statsd, a log)\n"
		"\n"
		"options (also accepted after the command):\n"
		"  --pin-dir DIR   bpffs directory of the pins   [MESHWARP_PIN_DIR, %s]\n"
		"  --cgroup DIR    cgroup v2 directory to attach  [MESHWARP_CGROUP, the cgroup2 root]\n"
		"  -j, --json      JSON output\n"
		"agent options:\n"
		"  --metrics-addr HOST:PORT  Prometheus endpoint   [MESHWARP_METRICS_ADDR, 127.0.0.1:9101]\n"
		"  --statsd HOST:PORT        statsd/DogStatsD push  [MESHWARP_STATSD_ADDR, off]\n"
		"  --statsd-interval SECONDS push interval          [10]\n"
		"  --conn-log FILE|-         one JSON line per closed connection [MESHWARP_CONN_LOG, off]\n"
		"  --services FILE           service names for addresses [MESHWARP_SERVICES]\n"
		"  --socket PATH             enrolment socket       [MESHWARP_AGENT_SOCKET, %s]\n"
		"  --cleanup                 tear the data path down when the agent stops\n"
		"  --routes-file FILE        a routing table to watch and apply [MESHWARP_ROUTES_FILE]\n"
		"  --cp-url URL              control plane to poll (HTTPS)   [MESHWARP_CP_URL]\n"
		"  --cp-ca/--cp-cert/--cp-key FILE  mutual TLS               [MESHWARP_CP_CA, _CERT, _KEY]\n"
		"  --cp-san NAME             SAN the control plane must present [MESHWARP_CP_SAN]\n"
		"  --cp-interval SECONDS     poll interval                   [30]\n"
		"  --tracking on|off         connection tracking and its metrics, host-wide\n"
		"                            [MESHWARP_TRACKING, as it is; also read by standalone init]\n"
		"  --shortcut-hold SECONDS   how long a destination whose connection streamed stays\n"
		"                            off the local shortcut, host-wide (0: never)\n"
		"                            [MESHWARP_SHORTCUT_HOLD, as it is (600 when new); also\n"
		"                            read by standalone init]\n"
		"routes options:\n"
		"  --state-dir DIR           where applied tables are kept   [MESHWARP_STATE_DIR, %s]\n"
		"  -v, --verbose   more messages (libbpf's warnings and verifier logs; twice: all of libbpf's)\n"
		"  -h, --help      this text\n",
		MW_DEFAULT_PIN_DIR, MW_DEFAULT_AGENT_SOCKET, MW_DEFAULT_STATE_DIR);
}

enum {
	MW_OPT_PIN_DIR = 256,
	MW_OPT_CGROUP,
	MW_OPT_METRICS,
	MW_OPT_STATSD,
	MW_OPT_STATSD_INTERVAL,
	MW_OPT_CONN_LOG,
	MW_OPT_SERVICES,
	MW_OPT_SOCKET,
	MW_OPT_CLEANUP,
	MW_OPT_STATE_DIR,
	MW_OPT_ROUTES_FILE,
	MW_OPT_CP_URL,
	MW_OPT_CP_CA,
	MW_OPT_CP_CERT,
	MW_OPT_CP_KEY,
	MW_OPT_CP_SAN,
	MW_OPT_CP_INTERVAL,
	MW_OPT_APPLY,
	MW_OPT_ETAG,
	MW_OPT_TRACKING,
	MW_OPT_SC_HOLD,
	MW_OPT_FORCE,
};

static const struct option mw_long_opts[] = {
	{ "pin-dir", required_argument, NULL, MW_OPT_PIN_DIR },
	{ "cgroup", required_argument, NULL, MW_OPT_CGROUP },
	{ "metrics-addr", required_argument, NULL, MW_OPT_METRICS },
	{ "statsd", required_argument, NULL, MW_OPT_STATSD },
	{ "statsd-interval", required_argument, NULL, MW_OPT_STATSD_INTERVAL },
	{ "conn-log", required_argument, NULL, MW_OPT_CONN_LOG },
	{ "services", required_argument, NULL, MW_OPT_SERVICES },
	{ "socket", required_argument, NULL, MW_OPT_SOCKET },
	{ "cleanup", no_argument, NULL, MW_OPT_CLEANUP },
	{ "state-dir", required_argument, NULL, MW_OPT_STATE_DIR },
	{ "routes-file", required_argument, NULL, MW_OPT_ROUTES_FILE },
	{ "cp-url", required_argument, NULL, MW_OPT_CP_URL },
	{ "cp-ca", required_argument, NULL, MW_OPT_CP_CA },
	{ "cp-cert", required_argument, NULL, MW_OPT_CP_CERT },
	{ "cp-key", required_argument, NULL, MW_OPT_CP_KEY },
	{ "cp-san", required_argument, NULL, MW_OPT_CP_SAN },
	{ "cp-interval", required_argument, NULL, MW_OPT_CP_INTERVAL },
	{ "apply", no_argument, NULL, MW_OPT_APPLY },
	{ "etag", required_argument, NULL, MW_OPT_ETAG },
	{ "tracking", required_argument, NULL, MW_OPT_TRACKING },
	{ "shortcut-hold", required_argument, NULL, MW_OPT_SC_HOLD },
	{ "force", no_argument, NULL, MW_OPT_FORCE },
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int mw_set_path(char *dst, const char *src, const char *what)
{
	if (mw_abspath(src, dst, PATH_MAX)) {
		pr_warn("%s: path too long: %s\n", what, src);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Parses options anywhere on the line; leaves the positional words in argv order.
 * Returns the number of positional words or a negative errno. */
static int mw_parse_opts(struct mw_opts *o, int argc, char **argv)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jvhw:d:", mw_long_opts, NULL)) != -1) {
		switch (c) {
		case MW_OPT_PIN_DIR:
			if (mw_set_path(o->pin_dir, optarg, "--pin-dir"))
				return -EINVAL;
			break;
		case MW_OPT_CGROUP:
			if (mw_set_path(o->cgroup, optarg, "--cgroup"))
				return -EINVAL;
			break;
		case MW_OPT_METRICS:
			o->metrics_addr = optarg;
			break;
		case MW_OPT_STATSD:
			o->statsd_addr = optarg;
			break;
		case MW_OPT_STATSD_INTERVAL:
			o->statsd_interval = atoi(optarg);
			if (o->statsd_interval <= 0) {
				pr_warn("--statsd-interval: %s is not a positive number of seconds\n", optarg);
				return -EINVAL;
			}
			break;
		case MW_OPT_CONN_LOG:
			o->conn_log = optarg;
			break;
		case MW_OPT_SERVICES:
			o->services = optarg;
			break;
		case MW_OPT_SOCKET:
			o->socket_path = optarg;
			break;
		case MW_OPT_FORCE:
			o->force = 1;
			break;
		case MW_OPT_CLEANUP:
			o->cleanup = 1;
			break;
		case MW_OPT_STATE_DIR:
			if (mw_set_path(o->state_dir, optarg, "--state-dir"))
				return -EINVAL;
			break;
		case MW_OPT_ROUTES_FILE:
			o->routes_file = optarg;
			break;
		case MW_OPT_CP_URL:
			o->cp.url = optarg;
			break;
		case MW_OPT_CP_CA:
			o->cp.ca_file = optarg;
			break;
		case MW_OPT_CP_CERT:
			o->cp.cert_file = optarg;
			break;
		case MW_OPT_CP_KEY:
			o->cp.key_file = optarg;
			break;
		case MW_OPT_CP_SAN:
			o->cp.server_san = optarg;
			break;
		case MW_OPT_CP_INTERVAL:
			o->cp_interval = atoi(optarg);
			if (o->cp_interval <= 0) {
				pr_warn("--cp-interval: %s is not a positive number of seconds\n", optarg);
				return -EINVAL;
			}
			break;
		case MW_OPT_APPLY:
			o->apply = 1;
			break;
		case MW_OPT_ETAG:
			o->etag = optarg;
			break;
		case MW_OPT_TRACKING:
			o->tracking = mw_tracking_parse(optarg);
			if (o->tracking < 0) {
				pr_warn("--tracking: invalid value [%s] specified (expected on or off)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case MW_OPT_SC_HOLD:
			o->sc_hold = mw_sc_hold_parse(optarg);
			if (o->sc_hold < 0) {
				pr_warn("--shortcut-hold: invalid value [%s] specified (expected seconds, 0 to %ld)\n",
					optarg, MW_SC_HOLD_MAX_S);
				return -EINVAL;
			}
			break;
		case 'w':
			o->workload = optarg;
			break;
		case 'd':
			o->destination = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'v':
			if (mw_log_level < MW_LOG_TRACE)
				mw_log_level++;
			break;
		case 'h':
			mw_usage(stdout);
			exit(MW_EXIT_OK);
		default:
			return -EINVAL;
		}
	}
	return argc - optind;
}

static const char *mw_env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

int mw_opts_cgroup(struct mw_opts *o)
{
	if (o->cgroup[0])
		return 0;
	return mw_cgroup2_root(o->cgroup, sizeof(o->cgroup));
}

int main(int argc, char **argv)
{
	struct mw_opts o = {};
	const char *env, *cmd;
	int n;

	mw_libbpf_logging();
	env = getenv("MESHWARP_PIN_DIR");
	if (mw_set_path(o.pin_dir, env && *env ? env : MW_DEFAULT_PIN_DIR, "MESHWARP_PIN_DIR"))
		return MW_EXIT_USAGE;
	env = getenv("MESHWARP_CGROUP");
	if (env && *env && mw_set_path(o.cgroup, env, "MESHWARP_CGROUP"))
		return MW_EXIT_USAGE;
	o.metrics_addr = mw_env_or("MESHWARP_METRICS_ADDR", "127.0.0.1:9101");
	o.statsd_addr = mw_env_or("MESHWARP_STATSD_ADDR", NULL);
	o.conn_log = mw_env_or("MESHWARP_CONN_LOG", NULL);
	o.services = mw_env_or("MESHWARP_SERVICES", NULL);
	o.socket_path = mw_env_or("MESHWARP_AGENT_SOCKET", MW_DEFAULT_AGENT_SOCKET);
	o.statsd_interval = 10;
	if (mw_set_path(o.state_dir, mw_env_or("MESHWARP_STATE_DIR", MW_DEFAULT_STATE_DIR),
			"MESHWARP_STATE_DIR"))
		return MW_EXIT_USAGE;
	o.routes_file = mw_env_or("MESHWARP_ROUTES_FILE", NULL);
	o.cp.url = mw_env_or("MESHWARP_CP_URL", NULL);
	o.cp.ca_file = mw_env_or("MESHWARP_CP_CA", NULL);
	o.cp.cert_file = mw_env_or("MESHWARP_CP_CERT", NULL);
	o.cp.key_file = mw_env_or("MESHWARP_CP_KEY", NULL);
	o.cp.server_san = mw_env_or("MESHWARP_CP_SAN", NULL);
	o.cp_interval = 30;
	env = getenv("MESHWARP_TRACKING");
	o.tracking = -1;
	if (env && *env) {
		o.tracking = mw_tracking_parse(env);
		if (o.tracking < 0) {
			pr_warn("MESHWARP_TRACKING: invalid value [%s] specified (expected on or off)\n",
				env);
			return MW_EXIT_USAGE;
		}
	}

	env = getenv("MESHWARP_SHORTCUT_HOLD");
	o.sc_hold = -1;
	if (env && *env) {
		o.sc_hold = mw_sc_hold_parse(env);
		if (o.sc_hold < 0) {
			pr_warn("MESHWARP_SHORTCUT_HOLD: invalid value [%s] specified (expected seconds, 0 to %ld)\n",
				env, MW_SC_HOLD_MAX_S);
			return MW_EXIT_USAGE;
		}
	}

	n = mw_parse_opts(&o, argc, argv);
	if (n < 0) {
		mw_usage(stderr);
		return MW_EXIT_USAGE;
	}
	if (n == 0) {
		mw_usage(stderr);
		return MW_EXIT_USAGE;
	}
	argv += optind;
	argc = n;
	cmd = argv[0];

	if (strcmp(cmd, "init") == 0)
		return mw_cmd_init(&o, argc, argv);
	if (strcmp(cmd, "status") == 0)
		return mw_cmd_status(&o, argc, argv);
	if (strcmp(cmd, "unload") == 0)
		return mw_cmd_unload(&o, argc, argv);
	if (strcmp(cmd, "conns") == 0)
		return mw_cmd_conns(&o, argc, argv);
	if (strcmp(cmd, "agent") == 0)
		return mw_cmd_agent(&o, argc, argv);
	if (strcmp(cmd, "routes") == 0)
		return mw_cmd_routes(&o, argc, argv);
	if (strcmp(cmd, "features") == 0)
		return mw_cmd_features(&o, argc, argv);
	if (strcmp(cmd, "tracking") == 0)
		return mw_cmd_tracking(&o, argc, argv);
	if (strcmp(cmd, "help") == 0) {
		mw_usage(stdout);
		return MW_EXIT_OK;
	}
	pr_warn("unknown command '%s' (meshwarp --help lists them)\n", cmd);
	return MW_EXIT_USAGE;
}
