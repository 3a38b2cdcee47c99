// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshwarp conns: the live connection table, like ss, with meshwarp's counters.
 * Filters: -w WORKLOAD (name or netns cookie), -d DEST (address, or address:port).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "host.h"
#include "loader.h"
#include "log.h"

static const char *const mw_role_names[] = {
	[MW_ROLE_DIRECT] = "direct",
	[MW_ROLE_REDIRECTED] = "redirected",
	[MW_ROLE_SIDECAR] = "sidecar",
	[MW_ROLE_INBOUND] = "inbound",
};

static const char *const mw_tcp_states[] = {
	[BPF_TCP_ESTABLISHED] = "ESTAB", [BPF_TCP_SYN_SENT] = "SYN-SENT",
	[BPF_TCP_SYN_RECV] = "SYN-RECV", [BPF_TCP_FIN_WAIT1] = "FIN-WAIT-1",
	[BPF_TCP_FIN_WAIT2] = "FIN-WAIT-2", [BPF_TCP_TIME_WAIT] = "TIME-WAIT",
	[BPF_TCP_CLOSE] = "CLOSE", [BPF_TCP_CLOSE_WAIT] = "CLOSE-WAIT",
	[BPF_TCP_LAST_ACK] = "LAST-ACK", [BPF_TCP_LISTEN] = "LISTEN",
	[BPF_TCP_CLOSING] = "CLOSING",
};

/* "10.0.0.5:80" or "[fd00::5]:80" from a 16-byte (v4-mapped for IPv4) address. */
void mw_endpoint_str(const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char a[INET6_ADDRSTRLEN];

	if (!memcmp(addr, mapped, sizeof(mapped))) {
		inet_ntop(AF_INET, addr + 12, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, port);
	} else {
		inet_ntop(AF_INET6, addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, port);
	}
}

/* The workload's name (mw_name_v1), else its netns cookie as text. */
void mw_workload_name(const struct mw_dp *dp, uint64_t netns, char *buf, size_t len)
{
	struct mw_name n = {};

	if (dp->name_fd >= 0 && bpf_map_lookup_elem(dp->name_fd, &netns, &n) == 0 && n.name[0])
		snprintf(buf, len, "%.*s", (int)sizeof(n.name), n.name);
	else
		snprintf(buf, len, "netns-%llu", (unsigned long long)netns);
}

/*
 * The local shortcut's bytes of live connections (docs/shortcut.md): the app's socket of a
 * redirected connection hands its writes to the sidecar outside TCP, and sk_msg counts them
 * in mw_scs_v1 under the socket's tuple, not in the record. The record keeps the application's
 * end (netns, local address and port) but, for a redirected connection, the original
 * destination instead of the sidecar's address: a record is matched on its local end. Two
 * redirected sockets of one namespace on the shortcut share a local address and port only
 * if both are connected to different sidecar ports from one port: then neither is added.
 */
struct mw_sc_live {
	struct mw_tuple t;
	__u64 sent, received;
	int dup;
};

static int mw_sc_live_cmp(const void *a, const void *b)
{
	const struct mw_tuple *x = &((const struct mw_sc_live *)a)->t;
	const struct mw_tuple *y = &((const struct mw_sc_live *)b)->t;
	int r;

	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	r = memcmp(x->saddr, y->saddr, sizeof(x->saddr));
	if (r)
		return r;
	return memcmp(&x->sport, &y->sport, sizeof(x->sport));
}

/* Every socket on the shortcut, sorted by local end, duplicates marked. *out needs free(). */
static size_t mw_sc_live_read(const char *pin_dir, struct mw_sc_live **out)
{
	struct mw_sc_live *v = NULL, *nv;
	struct mw_tuple k, next;
	size_t n = 0, cap = 0, i;
	char path[PATH_MAX];
	int fd, first = 1;

	*out = NULL;
	if (snprintf(path, sizeof(path), "%s/maps/mw_scs_v1", pin_dir) >= (int)sizeof(path))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;	/* a pin directory without the shortcut */
	while (bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
		struct mw_sc_sock e;

		first = 0;
		k = next;
		if (bpf_map_lookup_elem(fd, &k, &e))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n].t = k;
		v[n].sent = e.sent;
		v[n].received = e.received;
		v[n].dup = 0;
		n++;
	}
	close(fd);
	if (n)
		qsort(v, n, sizeof(*v), mw_sc_live_cmp);
	for (i = 1; i < n; i++)
		if (!mw_sc_live_cmp(&v[i - 1], &v[i]))
			v[i - 1].dup = v[i].dup = 1;
	*out = v;
	return n;
}

static const struct mw_sc_live *mw_sc_live_find(const struct mw_sc_live *v, size_t n,
						const struct mw_conn *c)
{
	struct mw_sc_live key = {};
	const struct mw_sc_live *f;

	if (!n || c->role != MW_ROLE_REDIRECTED)
		return NULL;
	key.t.netns = c->netns;
	memcpy(key.t.saddr, c->saddr, sizeof(key.t.saddr));
	key.t.sport = c->sport;
	f = bsearch(&key, v, n, sizeof(*v), mw_sc_live_cmp);
	return f && !f->dup ? f : NULL;
}

static double mw_now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int mw_cmd_conns(struct mw_opts *o, int argc, char **argv)
{
	const char *want_wl = o->workload, *want_dst = o->destination;
	json_object *arr = NULL;
	struct mw_sc_live *sc = NULL;
	size_t n_sc;
	struct mw_dp dp;
	uint64_t k, next;
	int err, first = 1;
	double now;

	if (argc > 1) {
		fprintf(stderr, "usage: meshwarp conns [-j] [-w WORKLOAD] [-d DEST[:PORT]]\n");
		return MW_EXIT_USAGE;
	}
	err = mw_reach_bpffs(o->pin_dir);
	if (!err)
		err = mw_dp_open(&dp, o->pin_dir, NULL, 0);
	if (err == -ENOENT) {
		fprintf(stderr, "nothing loaded at %s\n", o->pin_dir);
		return MW_EXIT_NOT_LOADED;
	}
	if (err) {
		pr_warn("reading %s: %s\n", o->pin_dir, strerror(-err));
		return MW_EXIT_FAIL;
	}

	n_sc = mw_sc_live_read(o->pin_dir, &sc);
	now = mw_now_mono_ns();
	if (o->json)
		arr = json_object_new_array();
	else
		printf("%-16s %-10s %-10s %-24s %-24s %10s %10s %8s %8s %5s %8s\n", "WORKLOAD", "ROLE",
		       "STATE", "LOCAL", "DESTINATION", "SENT", "RECEIVED", "SRTT_US", "MINRTT", "RETR",
		       "AGE_S");
	while (bpf_map_get_next_key(dp.conn_fd, first ? NULL : &k, &next) == 0) {
		char wl[80], src[64], dst[64], cookie[32];
		const struct mw_sc_live *scl;
		__u64 sc_sent = 0, sc_received = 0, hop = 0;
		struct mw_conn cn;
		double age;

		first = 0;
		k = next;
		if (bpf_map_lookup_elem(dp.conn_fd, &k, &cn))
			continue;
		mw_workload_name(&dp, cn.netns, wl, sizeof(wl));
		snprintf(cookie, sizeof(cookie), "%llu", (unsigned long long)cn.netns);
		if (want_wl && strcmp(want_wl, wl) && strcmp(want_wl, cookie))
			continue;
		mw_endpoint_str(cn.saddr, ntohs(cn.sport), src, sizeof(src));
		mw_endpoint_str(cn.daddr, ntohs(cn.dport), dst, sizeof(dst));
		if (want_dst && strncmp(dst, want_dst, strlen(want_dst)) &&
		    !(dst[0] == '[' && !strncmp(dst + 1, want_dst, strlen(want_dst))))
			continue;
		age = (now - (double)cn.start_ns) / 1e9;
		/* The app leg's cookie joins the two legs of a sidecar hop (docs/metrics.md). */
		if (cn.role == MW_ROLE_REDIRECTED)
			hop = k;
		else if (cn.role == MW_ROLE_SIDECAR && dp.hop_fd >= 0 &&
			 bpf_map_lookup_elem(dp.hop_fd, &k, &hop))
			hop = 0;
		/* The record has TCP's bytes until the close adds the shortcut's: add them here. */
		scl = mw_sc_live_find(sc, n_sc, &cn);
		if (scl) {
			sc_sent = scl->sent;
			sc_received = scl->received;
			cn.bytes_sent += sc_sent;
			cn.bytes_received += sc_received;
		}
		if (o->json) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "cookie", json_object_new_uint64(k));
			json_object_object_add(e, "workload", json_object_new_string(wl));
			json_object_object_add(e, "netns", json_object_new_uint64(cn.netns));
			json_object_object_add(e, "role", json_object_new_string(
				cn.role <= MW_ROLE_INBOUND ? mw_role_names[cn.role] : "?"));
			json_object_object_add(e, "state", json_object_new_string(
				cn.state < 12 && mw_tcp_states[cn.state] ? mw_tcp_states[cn.state] : "?"));
			json_object_object_add(e, "local", json_object_new_string(src));
			json_object_object_add(e, "destination", json_object_new_string(dst));
			json_object_object_add(e, "sent_bytes", json_object_new_uint64(cn.bytes_sent));
			json_object_object_add(e, "received_bytes", json_object_new_uint64(cn.bytes_received));
			if (hop)
				json_object_object_add(e, "hop", json_object_new_uint64(hop));
			json_object_object_add(e, "shortcut_sent_bytes", json_object_new_uint64(sc_sent));
			json_object_object_add(e, "shortcut_received_bytes",
					       json_object_new_uint64(sc_received));
			json_object_object_add(e, "segs_out", json_object_new_uint64(cn.segs_out));
			json_object_object_add(e, "segs_in", json_object_new_uint64(cn.segs_in));
			json_object_object_add(e, "srtt_us", json_object_new_int64(cn.srtt_us));
			json_object_object_add(e, "min_rtt_us", json_object_new_int64(cn.min_rtt_us));
			json_object_object_add(e, "retransmits", json_object_new_int64(cn.retransmits));
			json_object_object_add(e, "age_s", json_object_new_double(age));
			json_object_array_add(arr, e);
		} else {
			printf("%-16s %-10s %-10s %-24s %-24s %10llu %10llu %8u %8u %5u %8.1f\n", wl,
			       cn.role <= MW_ROLE_INBOUND ? mw_role_names[cn.role] : "?",
			       cn.state < 12 && mw_tcp_states[cn.state] ? mw_tcp_states[cn.state] : "?",
			       src, dst, (unsigned long long)cn.bytes_sent,
			       (unsigned long long)cn.bytes_received, cn.srtt_us, cn.min_rtt_us,
			       cn.retransmits, age);
		}
	}
	mw_dp_close(&dp);
	free(sc);
	if (o->json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_SPACED));
		json_object_put(arr);
	}
	return MW_EXIT_OK;
}
