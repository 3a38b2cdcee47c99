// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshwarp status: what is pinned and attached, every enrolled workload with its
 * settings, and per-rule decision counters (what `iptables -L -v` gave, and
 * more). The JSON document is built first; the text view is rendered from it,
 * so both always say the same.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "config.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "table.h"

static const char *const mw_stat_names[MW_S_MAX] = {
	[MW_S_ORIGDST_HIT] = "origdst_answered",
	[MW_S_ORIGDST_MISS] = "origdst_unknown",
	[MW_S_ORIGDST_CT] = "origdst_by_conntrack",
	[MW_S_ORIG_UPDATE_ERR] = "origdst_table_full",
	[MW_S_SK_STORAGE_ERR] = "sk_storage_errors",
	[MW_S_ORIGDST_INBOUND] = "origdst_inbound_answered",
	[MW_S_LSN_UPDATE_ERR] = "listener_register_errors",
	[MW_S_CONN_FULL] = "conn_table_full",
	[MW_S_AGG_FULL] = "agg_table_full",
	[MW_S_EVENTS_LOST] = "events_lost",
};

static int mw_cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static json_object *mw_json_ports(struct mw_dp *dp, uint64_t netns, uint32_t gen, uint8_t dir)
{
	struct mw_port_key k, next;
	json_object *arr = json_object_new_array();
	uint16_t *ports = NULL, *np;
	size_t n = 0, i;
	int first = 1;

	while (bpf_map_get_next_key(dp->map_fd[MW_MAP_PORT], first ? NULL : &k, &next) == 0) {
		first = 0;
		k = next;
		if (k.netns != netns || k.gen != gen || k.dir != dir)
			continue;
		np = realloc(ports, (n + 1) * sizeof(*ports));
		if (!np)
			break;
		ports = np;
		ports[n++] = ntohs(k.port);
	}
	if (n)
		qsort(ports, n, sizeof(*ports), mw_cmp_u16);
	for (i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_int(ports[i]));
	free(ports);
	return arr;
}

static json_object *mw_json_cidrs(struct mw_dp *dp, uint64_t netns, uint32_t gen)
{
	struct mw_lpm_key k, next;
	json_object *arr = json_object_new_array();
	int first = 1;

	while (bpf_map_get_next_key(dp->map_fd[MW_MAP_CIDR], first ? NULL : &k, &next) == 0) {
		struct mw_cidr c = {};
		char buf[64];

		struct mw_rule_list l;
		__u32 i, ignored = 0;

		first = 0;
		k = next;
		if (k.netns != netns || k.gen != gen)
			continue;
		/* An ignored address (APPMESH_EGRESS_IGNORED_IP) has a bypass rule for
		 * every port; the IPv4 guard redirects, route rules say "rule". */
		if (bpf_map_lookup_elem(dp->map_fd[MW_MAP_CIDR], &k, &l))
			continue;
		for (i = 0; i < l.n && i < MW_RULES_PER_DST; i++)
			if (l.e[i].rule.reason == MW_R_ADDR)
				ignored = 1;
		if (!ignored)
			continue;
		memcpy(c.addr, k.addr, sizeof(c.addr));
		c.prefix = (uint8_t)(k.prefixlen - MW_LPM_HDR_BITS);
		c.is_v4 = c.addr[10] == 0xff && c.addr[11] == 0xff &&
			  !memcmp(c.addr, "\0\0\0\0\0\0\0\0\0\0", 10) && c.prefix >= 96;
		mw_cidr_str(&c, buf, sizeof(buf));
		json_object_array_add(arr, json_object_new_string(buf));
	}
	return arr;
}

static json_object *mw_json_counters(const struct mw_counters *c, int dir)
{
	const int *r = mw_dir_reasons(dir);
	json_object *o = json_object_new_object();

	for (; *r >= 0; r++)
		json_object_object_add(o, mw_reason_name(*r),
				       json_object_new_int64((int64_t)c->n[dir][*r]));
	return o;
}


/* The shortcut's host-wide settings; all zero when this pin directory has none. */
static struct mw_sc_conf mw_sc_conf_read(struct mw_dp *dp)
{
	struct mw_sc_conf c = {};
	__u32 zero = 0;

	if (dp->scc_fd >= 0)
		bpf_map_lookup_elem(dp->scc_fd, &zero, &c);
	return c;
}

static const char *const mw_sc_hold_why[] = {
	[MW_SC_H_STREAM] = "stream",
	[MW_SC_H_BUDGET] = "budget",
	[MW_SC_H_SHORT] = "short",
};

/* Seconds a destination stays on hold, as the BPF side reads mw_sc_conf; 0: holds are off. */
static uint32_t mw_sc_hold_seconds(const struct mw_sc_conf *c)
{
	if (c->flags & MW_SC_C_NO_HOLD)
		return 0;
	return c->hold_s ? c->hold_s : MW_SC_HOLD_DEFAULT_S;
}

/* The destinations on hold now (mw_scd_v1): whose, where, for how much longer, why. */
static json_object *mw_json_sc_holds(struct mw_dp *dp)
{
	json_object *arr = json_object_new_array();
	struct mw_sc_dst k, next;
	struct mw_sc_hold h;
	struct mw_sc_conf c = mw_sc_conf_read(dp);
	uint64_t hold = (uint64_t)mw_sc_hold_seconds(&c) * 1000000000ull;
	struct timespec ts;
	uint64_t now;
	int first = 1;

	if (dp->scd_fd < 0 || !hold || clock_gettime(CLOCK_MONOTONIC, &ts))
		return arr;
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	while (bpf_map_get_next_key(dp->scd_fd, first ? NULL : &k, &next) == 0) {
		json_object *e;
		char buf[96];

		k = next;
		first = 0;
		/* why 0: a destination with short connections counted, never held */
		if (bpf_map_lookup_elem(dp->scd_fd, &k, &h) || !h.why || now - h.since_ns >= hold)
			continue;
		e = json_object_new_object();
		json_object_object_add(e, "netns", json_object_new_uint64(k.netns));
		mw_workload_name(dp, k.netns, buf, sizeof(buf));
		json_object_object_add(e, "workload", json_object_new_string(buf));
		mw_endpoint_str(k.addr, ntohs(k.port), buf, sizeof(buf));
		json_object_object_add(e, "destination", json_object_new_string(buf));
		json_object_object_add(e, "seconds_left",
				       json_object_new_int64((int64_t)((h.since_ns + hold - now + 999999999ull) /
								       1000000000ull)));
		json_object_object_add(e, "times", json_object_new_int64(h.count));
		json_object_object_add(e, "why", json_object_new_string(
			h.why < sizeof(mw_sc_hold_why) / sizeof(mw_sc_hold_why[0]) && mw_sc_hold_why[h.why] ?
			mw_sc_hold_why[h.why] : "?"));
		json_object_array_add(arr, e);
	}
	return arr;
}

/* Whether a workload's connections take the shortcut: asked for, and what the host allows
 * (the same test as mw_sc_enabled on the BPF side). */
static int mw_sc_effective(const struct mw_workload *wl, const struct mw_sc_conf *c)
{
	if (!(wl->flags & MW_WL_F_ENABLED) || !(wl->flags & MW_WL_F_SHORTCUT))
		return 0;
	if (!(c->flags & MW_SC_C_READY))
		return 0;
	return (wl->flags & MW_WL_F_SHORTCUT_FORCE) || !(c->flags & MW_SC_C_FOREIGN);
}

/* Host-wide: attached or not and why, the budget, the other users of sockmap, the events. */
static json_object *mw_json_shortcut(struct mw_dp *dp)
{
	json_object *o = json_object_new_object(), *arr, *ev;
	struct mw_sc_conf c = mw_sc_conf_read(dp);
	struct mw_sc_user *u = NULL;
	size_t n = 0, i;
	int k;

	json_object_object_add(o, "available", json_object_new_boolean(dp->sch_fd >= 0));
	json_object_object_add(o, "ready", json_object_new_boolean(c.flags & MW_SC_C_READY));
	json_object_object_add(o, "sk_msg_prog_id", json_object_new_int64(mw_dp_sc_prog_id(dp)));
	json_object_object_add(o, "sk_skb_prog_id", json_object_new_int64(mw_dp_sc_skb_prog_id(dp)));
	json_object_object_add(o, "budget_bytes", json_object_new_int64(c.budget));
	json_object_object_add(o, "hold_seconds", json_object_new_int64(mw_sc_hold_seconds(&c)));
	json_object_object_add(o, "on_hold", mw_json_sc_holds(dp));
	json_object_object_add(o, "others_on_host", json_object_new_boolean(c.flags & MW_SC_C_FOREIGN));
	arr = json_object_new_array();
	if (!mw_dp_sc_users(dp, &u, &n)) {
		for (i = 0; i < n; i++) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "kind", json_object_new_string(u[i].kind));
			json_object_object_add(e, "id", json_object_new_int64(u[i].id));
			json_object_object_add(e, "name", json_object_new_string(u[i].name));
			json_object_object_add(e, "meshwarp", json_object_new_boolean(u[i].meshwarp));
			json_object_array_add(arr, e);
		}
		free(u);
	}
	json_object_object_add(o, "host_users", arr);
	ev = json_object_new_object();
	for (k = 0; k < MW_SC_S_MAX && dp->scst_fd >= 0; k++) {
		__u64 v = 0;
		__u32 idx = (__u32)k;

		if (!mw_sc_event_name((unsigned int)k))
			continue;
		mw_percpu_sum(dp->scst_fd, &idx, &v, sizeof(v));
		json_object_object_add(ev, mw_sc_event_name((unsigned int)k), json_object_new_int64((int64_t)v));
	}
	json_object_object_add(o, "events", ev);
	return o;
}

static json_object *mw_json_workload(struct mw_dp *dp, uint64_t netns, const struct mw_workload *wl,
				     uint64_t current)
{
	json_object *o = json_object_new_object(), *d;
	struct mw_link_state st;
	struct mw_counters c = {};
	struct mw_sc_conf sc = mw_sc_conf_read(dp);
	uint16_t in_port = ntohs(wl->ingress_port);

	json_object_object_add(o, "netns", json_object_new_uint64(netns));
	json_object_object_add(o, "current", json_object_new_boolean(netns == current));
	json_object_object_add(o, "enabled", json_object_new_boolean(wl->flags & MW_WL_F_ENABLED));
	json_object_object_add(o, "generation", json_object_new_int64(wl->gen));
	json_object_object_add(o, "egress_port", json_object_new_int(ntohs(wl->egress_port)));
	json_object_object_add(o, "ingress_port", in_port ? json_object_new_int(in_port) : NULL);
	json_object_object_add(o, "ignore_uid", (wl->flags & MW_WL_F_HAS_UID) ?
			       json_object_new_int64(wl->ignore_uid) : NULL);
	json_object_object_add(o, "ignore_gid", (wl->flags & MW_WL_F_HAS_GID) ?
			       json_object_new_int64(wl->ignore_gid) : NULL);
	json_object_object_add(o, "ipv6", json_object_new_boolean(wl->flags & MW_WL_F_IPV6));
	json_object_object_add(o, "app_ports", mw_json_ports(dp, netns, wl->gen, MW_DIR_INGRESS));
	json_object_object_add(o, "ignored_ports", mw_json_ports(dp, netns, wl->gen, MW_DIR_EGRESS));
	json_object_object_add(o, "ignored_addresses", mw_json_cidrs(dp, netns, wl->gen));
	json_object_object_add(o, "inbound_policy", json_object_new_string(
		(wl->flags & MW_WL_F_FAIL_OPEN) ? "fail-open" : "fail-closed"));
	mw_dp_netns_state(dp, netns, &st);
	json_object_object_add(o, "inbound_attached", json_object_new_boolean(st.pinned));
	json_object_object_add(o, "shortcut", json_object_new_boolean(mw_sc_effective(wl, &sc)));
	json_object_object_add(o, "shortcut_mode", json_object_new_string(
		!(wl->flags & MW_WL_F_SHORTCUT) ? "off" :
		(wl->flags & MW_WL_F_SHORTCUT_FORCE) ? "force" : "on"));

	mw_percpu_sum(dp->map_fd[MW_MAP_CTR], &netns, &c, sizeof(c));
	d = json_object_new_object();
	json_object_object_add(d, "egress", mw_json_counters(&c, MW_DIR_EGRESS));
	json_object_object_add(d, "ingress", mw_json_counters(&c, MW_DIR_INGRESS));
	json_object_object_add(o, "decisions", d);
	return o;
}

/* The routing table in force (its version and when it was applied), or null. */
static json_object *mw_json_routes(const struct mw_opts *o)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/routes/applied.json", o->state_dir) >= (int)sizeof(path))
		return NULL;
	return json_object_from_file(path);
}

static json_object *mw_json_status(struct mw_opts *o, struct mw_dp *dp, uint64_t only, uint64_t current)
{
	json_object *root = json_object_new_object(), *arr, *stats;
	struct mw_workload wl;
	uint64_t k, next;
	int i, first = 1;

	json_object_object_add(root, "pin_dir", json_object_new_string(dp->pin_dir));
	json_object_object_add(root, "loaded", json_object_new_boolean(1));
	json_object_object_add(root, "abi_version", json_object_new_int(dp->meta.abi_version));
	json_object_object_add(root, "loaded_at",
			       json_object_new_int64((int64_t)(dp->meta.created_ns / 1000000000ull)));
	json_object_object_add(root, "current_netns", current ? json_object_new_uint64(current) : NULL);
	/* The host-wide switch; a pin directory without it tracks always. */
	json_object_object_add(root, "tracking", json_object_new_boolean(mw_dp_tracking(dp) != 0));

	arr = json_object_new_array();
	for (i = 0; i < MW_PROG_NR; i++) {
		json_object *p = json_object_new_object();
		struct mw_link_state st;

		mw_dp_link_state(dp, i, &st);
		json_object_object_add(p, "name", json_object_new_string(mw_prog_name(i)));
		json_object_object_add(p, "attached", json_object_new_boolean(st.pinned));
		json_object_object_add(p, "prog_id", json_object_new_int64(st.prog_id));
		json_object_object_add(p, "link_id", json_object_new_int64(st.link_id));
		json_object_object_add(p, "cgroup_id", json_object_new_uint64(st.cgroup_id));
		json_object_array_add(arr, p);
	}
	json_object_object_add(root, "programs", arr);

	arr = json_object_new_array();
	while (bpf_map_get_next_key(dp->map_fd[MW_MAP_WL], first ? NULL : &k, &next) == 0) {
		first = 0;
		k = next;
		if (only && k != only)
			continue;
		if (bpf_map_lookup_elem(dp->map_fd[MW_MAP_WL], &k, &wl))
			continue;
		json_object_array_add(arr, mw_json_workload(dp, k, &wl, current));
	}
	json_object_object_add(root, "workloads", arr);

	stats = json_object_new_object();
	for (i = 0; i < MW_S_MAX; i++) {
		__u64 v = 0;
		__u32 idx = (__u32)i;

		if (!mw_stat_names[i])
			continue;
		mw_percpu_sum(dp->stats_fd, &idx, &v, sizeof(v));
		json_object_object_add(stats, mw_stat_names[i], json_object_new_int64((int64_t)v));
	}
	json_object_object_add(root, "stats", stats);
	json_object_object_add(root, "shortcut", mw_json_shortcut(dp));
	json_object_object_add(root, "routes", mw_json_routes(o));
	return root;
}

static void mw_print_list(const char *label, json_object *arr)
{
	size_t i, n = json_object_array_length(arr);

	printf("    %-18s", label);
	if (!n)
		printf("-");
	for (i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(arr, i)));
	printf("\n");
}

static void mw_print_counts(const char *label, json_object *o)
{
	printf("    %-18s", label);
	json_object_object_foreach(o, key, val)
		printf("%s %s  ", key, json_object_get_string(val));
	printf("\n");
}

static const char *mw_or_dash(json_object *o, const char *key)
{
	json_object *v = json_object_object_get(o, key);

	return v ? json_object_get_string(v) : "-";
}

static void mw_print_text(json_object *root)
{
	json_object *arr = json_object_object_get(root, "programs");
	time_t at = (time_t)json_object_get_int64(json_object_object_get(root, "loaded_at"));
	char when[64];
	size_t i;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
	printf("pin dir %s (ABI %s, loaded %s)\n", mw_or_dash(root, "pin_dir"),
	       mw_or_dash(root, "abi_version"), when);
	printf("connection tracking: %s\n",
	       json_object_get_boolean(json_object_object_get(root, "tracking")) ? "on" : "OFF");
	printf("programs:\n");
	for (i = 0; i < json_object_array_length(arr); i++) {
		json_object *p = json_object_array_get_idx(arr, i);

		printf("  %-11s %-9s prog %s  link %s  cgroup id %s\n", mw_or_dash(p, "name"),
		       json_object_get_boolean(json_object_object_get(p, "attached")) ?
		       "attached" : "DETACHED", mw_or_dash(p, "prog_id"), mw_or_dash(p, "link_id"),
		       mw_or_dash(p, "cgroup_id"));
	}
	arr = json_object_object_get(root, "workloads");
	printf("workloads: %zu\n", json_object_array_length(arr));
	for (i = 0; i < json_object_array_length(arr); i++) {
		json_object *w = json_object_array_get_idx(arr, i);
		json_object *d = json_object_object_get(w, "decisions");

		printf("  netns %s%s  %s  generation %s\n", mw_or_dash(w, "netns"),
		       json_object_get_boolean(json_object_object_get(w, "current")) ?
		       " (this namespace)" : "",
		       json_object_get_boolean(json_object_object_get(w, "enabled")) ?
		       "enabled" : "DISABLED", mw_or_dash(w, "generation"));
		printf("    %-18segress %s  ingress %s\n", "sidecar ports", mw_or_dash(w, "egress_port"),
		       mw_or_dash(w, "ingress_port"));
		printf("    %-18suid %s  gid %s\n", "ignored owner", mw_or_dash(w, "ignore_uid"),
		       mw_or_dash(w, "ignore_gid"));
		printf("    %-18s%s\n", "ipv6", mw_or_dash(w, "ipv6"));
		mw_print_list("app ports", json_object_object_get(w, "app_ports"));
		mw_print_list("ignored ports", json_object_object_get(w, "ignored_ports"));
		mw_print_list("ignored addresses", json_object_object_get(w, "ignored_addresses"));
		printf("    %-18s%s, %s\n", "inbound",
		       json_object_get_boolean(json_object_object_get(w, "inbound_attached")) ?
		       "sk_lookup attached" : "off", mw_or_dash(w, "inbound_policy"));
		printf("    %-18s%s (asked: %s)\n", "local shortcut",
		       json_object_get_boolean(json_object_object_get(w, "shortcut")) ? "on" : "off",
		       mw_or_dash(w, "shortcut_mode"));
		mw_print_counts("egress decisions", json_object_object_get(d, "egress"));
		mw_print_counts("ingress decisions", json_object_object_get(d, "ingress"));
	}
	printf("stats:\n");
	mw_print_counts("", json_object_object_get(root, "stats"));
	{
		json_object *sc = json_object_object_get(root, "shortcut");
		json_object *users = json_object_object_get(sc, "host_users");
		size_t k;

		printf("local shortcut: %s, sk_msg prog %s, sk_skb prog %s, budget %s bytes/connection\n",
		       !json_object_get_boolean(json_object_object_get(sc, "available")) ? "not in this pin directory" :
		       json_object_get_boolean(json_object_object_get(sc, "ready")) ? "ready" :
		       "NOT READY (kernel lacks sk_msg, sk_skb or the psock queue length)",
		       mw_or_dash(sc, "sk_msg_prog_id"), mw_or_dash(sc, "sk_skb_prog_id"),
		       mw_or_dash(sc, "budget_bytes"));
		printf("  other sockops/sk_msg/sockmap users: %zu\n", json_object_array_length(users));
		for (k = 0; k < json_object_array_length(users); k++) {
			json_object *u = json_object_array_get_idx(users, k);

			printf("    %-9s id %-6s %-16s %s\n", mw_or_dash(u, "kind"), mw_or_dash(u, "id"),
			       mw_or_dash(u, "name"),
			       json_object_get_boolean(json_object_object_get(u, "meshwarp")) ?
			       "(another meshwarp pin directory)" : "(keeps the shortcut off unless forced)");
		}
		{
			json_object *held = json_object_object_get(sc, "on_hold");

			printf("  destinations on hold (kept off the shortcut for %s s after a stream or a run of short connections): %zu\n",
			       mw_or_dash(sc, "hold_seconds"), json_object_array_length(held));
			for (k = 0; k < json_object_array_length(held); k++) {
				json_object *h = json_object_array_get_idx(held, k);

				printf("    %-16s -> %-28s %5s s left, %s times, last: %s\n",
				       mw_or_dash(h, "workload"), mw_or_dash(h, "destination"),
				       mw_or_dash(h, "seconds_left"), mw_or_dash(h, "times"),
				       mw_or_dash(h, "why"));
			}
		}
		mw_print_counts("", json_object_object_get(sc, "events"));
	}
	if (json_object_object_get(root, "routes")) {
		json_object *r = json_object_object_get(root, "routes");
		time_t rat = (time_t)json_object_get_int64(json_object_object_get(r, "applied_at"));

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&rat));
		printf("routing table: %s, applied %s\n", mw_or_dash(r, "version"), when);
	} else {
		printf("routing table: none (the APPMESH_* variables decide)\n");
	}
}

int mw_status_print(struct mw_opts *o, uint64_t only_netns)
{
	uint64_t current = 0;
	json_object *root;
	struct mw_dp dp;
	int err;

	if (mw_netns_cookie(&current))
		current = 0;
	err = mw_reach_bpffs(o->pin_dir);
	if (!err)
		err = mw_dp_open(&dp, o->pin_dir, NULL, 0);
	if (err == -ENOENT) {
		if (o->json) {
			root = json_object_new_object();
			json_object_object_add(root, "pin_dir", json_object_new_string(o->pin_dir));
			json_object_object_add(root, "loaded", json_object_new_boolean(0));
			printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_SPACED));
			json_object_put(root);
		} else
			printf("nothing loaded at %s\n", o->pin_dir);
		return MW_EXIT_NOT_LOADED;
	}
	if (err) {
		pr_warn("reading %s: %s\n", o->pin_dir, strerror(-err));
		return MW_EXIT_FAIL;
	}
	root = mw_json_status(o, &dp, only_netns, current);
	mw_dp_close(&dp);
	if (o->json)
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_SPACED));
	else
		mw_print_text(root);
	json_object_put(root);
	fflush(stdout);
	return MW_EXIT_OK;
}

int mw_cmd_status(struct mw_opts *o, int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "usage: meshwarp status [-j]\n");
		return MW_EXIT_USAGE;
	}
	return mw_status_print(o, 0);
}

/* meshwarp tracking [on|off]: the host-wide switch, shown or set; no reload, the next
 * connect() sees it. */
int mw_cmd_tracking(struct mw_opts *o, int argc, char **argv)
{
	struct mw_dp dp;
	int on = -1, err;

	if (argc > 2 || (argc == 2 && (on = mw_tracking_parse(argv[1])) < 0)) {
		fprintf(stderr, "usage: meshwarp tracking [on|off]\n");
		return MW_EXIT_USAGE;
	}
	err = mw_reach_bpffs(o->pin_dir);
	if (!err)
		err = mw_dp_open(&dp, o->pin_dir, NULL, on >= 0 ? MW_DP_LOCK : 0);
	if (err == -ENOENT) {
		fprintf(stderr, "nothing loaded at %s\n", o->pin_dir);
		return MW_EXIT_NOT_LOADED;
	}
	if (err) {
		pr_warn("reading %s: %s\n", o->pin_dir, strerror(-err));
		return MW_EXIT_FAIL;
	}
	if (on >= 0)
		err = mw_dp_tracking_set(&dp, on);
	if (!err) {
		err = mw_dp_tracking(&dp);
		printf("%s\n", err == 0 ? "off" : "on");
		err = err < 0 && err != -ENOENT ? err : 0;
	}
	mw_dp_close(&dp);
	return err ? MW_EXIT_FAIL : MW_EXIT_OK;
}
