// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshwarp init: the drop-in for the App Mesh proxy-init container. Run inside a
 * workload's network namespace; reads the APPMESH_* variables, validates all of
 * them before touching anything, and enrols (or disables) that namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "agent.h"
#include "cli.h"
#include "config.h"
#include "host.h"
#include "ingress.h"
#include "loader.h"
#include "routes.h"
#include "log.h"
#include "table.h"

static const char *mw_real_getenv(void *ctx, const char *name)
{
	return getenv(name);
}

/* Everything init needs to know about its namespace, gathered before any change. */
struct mw_init {
	struct mw_config cfg;
	uint64_t netns;
	struct mw_cidr *locals;
	size_t n_locals;
	int netns_fd;		/* this namespace, for the sk_lookup link */
};

static void mw_init_free(struct mw_init *in)
{
	mw_config_free(&in->cfg);
	free(in->locals);
	in->locals = NULL;
	if (in->netns_fd >= 0)
		close(in->netns_fd);
	in->netns_fd = -1;
}

/* The variables that make the workload's table, as a JSON object (NULL: no memory). */
static char *mw_env_json(void)
{
	extern char **environ;
	json_object *o = json_object_new_object();
	char **e, *text;

	for (e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		char key[128];

		if (!eq || (size_t)(eq - *e) >= sizeof(key))
			continue;
		if (strncmp(*e, "APPMESH_", 8) && strncmp(*e, "MESHWARP_INBOUND_POLICY=", 24) &&
		    strncmp(*e, "MESHWARP_SHORTCUT=", 18))
			continue;
		memcpy(key, *e, (size_t)(eq - *e));
		key[eq - *e] = '\0';
		json_object_object_add(o, key, json_object_new_string(eq + 1));
	}
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

/* Names end up in metric labels and JSON, which must be UTF-8. */
static int mw_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 :
			(*p & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0 || (n == 1 && *p < 0xc2) || (n == 3 && *p > 0xf4))
			return 0;
		for (p++; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

static int mw_init_prepare(struct mw_init *in)
{
	const char *name;
	char *env;
	char err[512] = "";
	int ret;

	ret = mw_config_from_env(&in->cfg, mw_real_getenv, NULL, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s\n", err[0] ? err : strerror(-ret));
		return ret;
	}
	name = getenv("MESHWARP_WORKLOAD");
	if (name && !mw_utf8_valid(name)) {
		fprintf(stderr, "MESHWARP_WORKLOAD: not valid UTF-8 [%s]\n", name);
		return -EINVAL;
	}
	if (name && strlen(name) >= sizeof(((struct mw_name *)0)->name)) {
		fprintf(stderr, "MESHWARP_WORKLOAD: name longer than %zu characters [%s]\n",
			sizeof(((struct mw_name *)0)->name) - 1, name);
		return -EINVAL;
	}
	env = mw_env_json();
	if (!env)
		return -ENOMEM;
	if (strlen(env) > MW_ENV_TEXT_MAX) {
		fprintf(stderr, "APPMESH_*: %zu bytes of configuration, more than the %u meshwarp keeps per workload\n",
			strlen(env), MW_ENV_TEXT_MAX);
		free(env);
		return -E2BIG;
	}
	free(env);
	ret = mw_netns_cookie(&in->netns);
	if (ret)
		return ret;
	in->netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (in->netns_fd < 0) {
		pr_warn("/proc/self/ns/net: %s\n", strerror(errno));
		return -errno;
	}
	ret = mw_local_addrs(&in->locals, &in->n_locals);
	if (ret) {
		pr_warn("listing the namespace's addresses: %s\n", strerror(-ret));
		return ret;
	}
	if (in->cfg.enable_ipv6 && !mw_ipv6_usable()) {
		pr_warn("APPMESH_ENABLE_IPV6=1 but IPv6 is disabled in this namespace: intercepting IPv4 only\n");
		in->cfg.enable_ipv6 = 0;
	}
	return 0;
}

static int mw_open_dp(struct mw_opts *o, struct mw_dp *dp, unsigned int flags)
{
	int err;

	err = mw_reach_bpffs(o->pin_dir);
	if (err)
		return err;
	if (flags & MW_DP_CREATE) {
		err = mw_opts_cgroup(o);
		if (err)
			return err;
	}
	return mw_dp_open(dp, o->pin_dir, o->cgroup, flags);
}

/* Inbound interception follows the table: on with an ingress port and app ports,
 * off (the namespace's sk_lookup link removed) otherwise. */
static int mw_setup_inbound(struct mw_dp *dp, struct mw_init *in)
{
	int err, n;

	if (!in->cfg.ingress_port || !in->cfg.n_app_ports) {
		mw_ingress_forget_listeners(dp, in->netns);
		return mw_dp_detach_netns(dp, in->netns);
	}
	err = mw_dp_attach_netns(dp, in->netns, in->netns_fd);
	if (err)
		return err;
	n = mw_ingress_adopt_listeners(dp, in->netns, in->cfg.ingress_port);
	if (n > 0)
		pr_info("registered %d listener(s) already on ingress port %u\n", n,
			in->cfg.ingress_port);
	return 0;
}

/* Bytes of text an mw_env_v1 value holds here (less than MW_ENV_TEXT_MAX before 5.11). */
static size_t mw_env_capacity(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.value_size <= offsetof(struct mw_env, text))
		return MW_ENV_TEXT_MAX;
	return info.value_size - offsetof(struct mw_env, text);
}

/* Keeps the workload's variables beside its table, for routing tables compiled later. */
static int mw_set_env(struct mw_dp *dp, uint64_t netns)
{
	struct mw_env *v;
	char *text = mw_env_json();
	size_t len;
	int err = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	v = calloc(1, sizeof(*v));
	if (v && len > mw_env_capacity(dp->env_fd)) {
		/* a kernel before 5.11 holds less per workload (loader.c, mw_env_fit) */
		fprintf(stderr, "APPMESH_*: %zu bytes of configuration, more than the %zu this kernel lets meshwarp keep per workload\n",
			len, mw_env_capacity(dp->env_fd));
		err = -E2BIG;
	} else if (!v || len > sizeof(v->text)) {
		err = v ? -E2BIG : -ENOMEM;
	} else {
		v->len = (__u32)len;
		memcpy(v->text, text, len);
		if (bpf_map_update_elem(dp->env_fd, &netns, v, BPF_ANY))
			err = -errno;
	}
	free(v);
	free(text);
	return err;
}

/* The workload's name in metrics and logs: MESHWARP_WORKLOAD (its length checked
 * in mw_init_prepare), else none (the agent then says netns-<cookie>). */
static int mw_set_name(struct mw_dp *dp, uint64_t netns)
{
	const char *v = getenv("MESHWARP_WORKLOAD");
	struct mw_name n = {};

	if (!v || !*v) {
		bpf_map_delete_elem(dp->name_fd, &netns);
		return 0;
	}
	memcpy(n.name, v, strlen(v));
	return bpf_map_update_elem(dp->name_fd, &netns, &n, BPF_ANY) ? -errno : 0;
}

/*
 * The workload's table: its APPMESH_* rules, under the routing table in force
 * when one has rules for it (so that re-running init keeps them).
 */
static int mw_apply_for_init(struct mw_opts *o, struct mw_store *s, struct mw_init *in)
{
	const char *env_name = getenv("MESHWARP_WORKLOAD");
	struct mw_routes rt = {};
	struct mw_table t = {};
	char name[80], msg[512] = "";
	int err;

	if (env_name && *env_name)
		snprintf(name, sizeof(name), "%s", env_name);
	else
		snprintf(name, sizeof(name), "netns-%llu", (unsigned long long)in->netns);
	if (mw_routes_current(o, &rt) || !mw_routes_applies(&rt, name)) {
		mw_routes_free(&rt);
		return mw_workload_apply(s, in->netns, &in->cfg, in->locals, in->n_locals, 1);
	}
	err = mw_routes_compile(&rt, name, &in->cfg, in->netns, &t, msg, sizeof(msg));
	mw_routes_free(&rt);
	if (err) {
		pr_warn("the routing table in force, for workload %s: %s\n", name, msg);
		return err;
	}
	err = mw_workload_apply_table(s, in->netns, &t, in->locals, in->n_locals, 0);
	mw_table_free(&t);
	return err;
}

static int mw_enable(struct mw_opts *o, struct mw_init *in)
{
	struct mw_store s;
	struct mw_dp dp;
	int err;

	err = mw_agent_request(o, "enable");
	if (err >= 0)
		return err ? -ECANCELED : 0;

	err = mw_open_dp(o, &dp, MW_DP_CREATE | MW_DP_LOCK);
	if (err)
		return err;
	mw_dp_store(&dp, &s);
	/* MESHWARP_TRACKING: host-wide, for hosts without an agent (main.c parsed it). */
	err = o->tracking >= 0 ? mw_dp_tracking_set(&dp, o->tracking) : 0;
	/* MESHWARP_SHORTCUT_HOLD: host-wide too, the same way. */
	if (!err && o->sc_hold >= 0)
		err = mw_dp_sc_hold_set(&dp, o->sc_hold);
	if (!err)
		err = mw_apply_for_init(o, &s, in);
	if (!err)
		err = mw_setup_inbound(&dp, in);
	if (!err)
		err = mw_set_name(&dp, in->netns);
	if (!err)
		err = mw_set_env(&dp, in->netns);
	mw_dp_close(&dp);
	if (err) {
		pr_warn("enrolling netns %llu: %s\n", (unsigned long long)in->netns, strerror(-err));
		return err;
	}
	pr_info("enrolled netns %llu: egress to port %u%s, pins in %s\n",
		(unsigned long long)in->netns, in->cfg.egress_port,
		in->cfg.enable_ipv6 ? " (IPv4 and IPv6)" : " (IPv4)", o->pin_dir);
	return 0;
}

static int mw_disable(struct mw_opts *o, uint64_t netns)
{
	struct mw_store s;
	struct mw_dp dp;
	int err;

	err = mw_agent_request(o, "disable");
	if (err >= 0)
		return err ? -ECANCELED : 0;

	err = mw_open_dp(o, &dp, MW_DP_LOCK);
	if (err == -ENOENT) {
		pr_info("nothing loaded at %s: netns %llu is not intercepted\n", o->pin_dir,
			(unsigned long long)netns);
		return 0;
	}
	if (err)
		return err;
	mw_dp_store(&dp, &s);
	err = mw_workload_remove(&s, netns);
	if (!err)
		err = mw_dp_detach_netns(&dp, netns);
	mw_ingress_forget_listeners(&dp, netns);
	bpf_map_delete_elem(dp.name_fd, &netns);
	bpf_map_delete_elem(dp.env_fd, &netns);
	mw_dp_close(&dp);
	if (err) {
		pr_warn("disabling netns %llu: %s\n", (unsigned long long)netns, strerror(-err));
		return err;
	}
	pr_info("netns %llu is no longer intercepted\n", (unsigned long long)netns);
	return 0;
}

/* The App Mesh script's interactive mode (APPMESH_START_ENABLED other than 1). */
static int mw_interactive(struct mw_opts *o, struct mw_init *in)
{
	char line[256];
	int err;

	const char *v = getenv("APPMESH_START_ENABLED");

	if (v && *v && strcmp(v, "0"))
		pr_warn("APPMESH_START_ENABLED=%s is not 1: interactive mode, as the App Mesh script\n", v);
	printf("meshwarp init: commands are enable, disable, status, quit\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "enable") == 0) {
			err = mw_enable(o, in);
			printf("%s\n", err ? "enable failed" : "enabled");
		} else if (strcmp(line, "disable") == 0) {
			err = mw_disable(o, in->netns);
			printf("%s\n", err ? "disable failed" : "disabled");
		} else if (strcmp(line, "status") == 0) {
			mw_status_print(o, in->netns);
		} else if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0) {
			break;
		} else if (line[0]) {
			printf("unknown command '%s': enable, disable, status, quit\n", line);
		}
		fflush(stdout);
	}
	if (feof(stdin))
		pr_info("end of input: leaving interactive mode\n");
	return MW_EXIT_OK;
}

int mw_cmd_init(struct mw_opts *o, int argc, char **argv)
{
	struct mw_init in = { .netns_fd = -1 };
	const char *mode = argc > 1 ? argv[1] : NULL;
	int ret, err;

	if (argc > 2 || (mode && strcmp(mode, "enable") && strcmp(mode, "disable"))) {
		fprintf(stderr, "usage: meshwarp init [enable|disable]\n");
		return MW_EXIT_USAGE;
	}

	if (mode && strcmp(mode, "disable") == 0) {
		uint64_t netns;

		if (mw_netns_cookie(&netns))
			return MW_EXIT_FAIL;
		return mw_disable(o, netns) ? MW_EXIT_FAIL : MW_EXIT_OK;
	}

	err = mw_init_prepare(&in);
	if (err) {
		mw_init_free(&in);
		return MW_EXIT_FAIL;
	}
	if (mode || in.cfg.start_enabled)
		ret = mw_enable(o, &in) ? MW_EXIT_FAIL : MW_EXIT_OK;
	else
		ret = mw_interactive(o, &in);
	mw_init_free(&in);
	return ret;
}

int mw_cmd_unload(struct mw_opts *o, int argc, char **argv)
{
	long n;
	int err;

	if (argc > 1) {
		fprintf(stderr, "usage: meshwarp unload [--force]\n");
		return MW_EXIT_USAGE;
	}
	/* Freeing the sockhash drops what its sockets' applications have not read yet
	 * (docs/shortcut.md, what does not work): not behind anyone's back. */
	err = mw_reach_bpffs(o->pin_dir);
	n = err ? 0 : mw_dp_sc_sockets(o->pin_dir);
	if (n > 0 && !o->force) {
		pr_warn("%ld socket(s) on the local shortcut: unloading drops the bytes queued for them that their applications have not read; turn the shortcut off (MESHWARP_SHORTCUT=0 meshwarp init) and let the connections close, or unload --force\n",
			n);
		return MW_EXIT_FAIL;
	}
	err = mw_dp_unload(o->pin_dir);
	if (err) {
		pr_warn("unloading %s: %s\n", o->pin_dir, strerror(-err));
		return MW_EXIT_FAIL;
	}
	return MW_EXIT_OK;
}
