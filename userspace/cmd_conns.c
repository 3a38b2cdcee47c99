// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshwarp conns: the live connection table, like ss, with meshwarp's counters.
 * Filters: -w WORKLOAD (name or netns cookie), -d DEST (address, or address:port).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
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
#include "metrics.h"

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
 * The local shortcut's bytes of live connections (docs/shortcut.md): a socket on the shortcut
 * hands its writes to its peer outside TCP, and sk_msg counts them in mw_scs_v1, not in the
 * connection's record (which gets them at close). The entry carries the socket's cookie, the
 * record's key: matched on it, whatever the connection's role or namespace.
 */
struct mw_sc_live {
	__u64 cookie;
	__u64 sent, received;
};

static int mw_sc_live_cmp(const void *a, const void *b)
{
	__u64 x = ((const struct mw_sc_live *)a)->cookie, y = ((const struct mw_sc_live *)b)->cookie;

	return x < y ? -1 : x > y;
}

/* Every socket on the shortcut, sorted by cookie. *out needs free(). */
static size_t mw_sc_live_read(const char *pin_dir, struct mw_sc_live **out)
{
	struct mw_sc_live *v = NULL, *nv;
	struct mw_tuple k, next;
	size_t n = 0, cap = 0;
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
		if (bpf_map_lookup_elem(fd, &k, &e) || !e.cookie)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n].cookie = e.cookie;
		v[n].sent = e.sent;
		v[n].received = e.received;
		n++;
	}
	close(fd);
	if (n)
		qsort(v, n, sizeof(*v), mw_sc_live_cmp);
	*out = v;
	return n;
}

static const struct mw_sc_live *mw_sc_live_find(const struct mw_sc_live *v, size_t n, __u64 cookie)
{
	struct mw_sc_live key = { .cookie = cookie };

	return n ? bsearch(&key, v, n, sizeof(*v), mw_sc_live_cmp) : NULL;
}

/*
 * Fresh counters (docs/metrics.md, `meshwarp conns`): the record's are sampled at RTT
 * callbacks, so a connection that only receives shows its bytes late. sock_diag answers
 * tcp_info, the same kernel counters, for every TCP socket of the caller's network namespace,
 * with the socket's cookie (the cookie sockops keys the record by). One dump per namespace
 * that has records, entered through a process living in it (/proc/<pid>/ns/net).
 */
static int mw_diag_dump(int family, struct mw_tcp_fresh **v, size_t *n, size_t *cap)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[32768];
	int fd, done = 0, err = 0;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (__u8)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.idiag_ext = 1u << (INET_DIAG_INFO - 1);
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (len == 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			struct inet_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *a;
			int alen;

			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				err = -EIO;
				done = 1;
				break;
			}
			alen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));
			for (a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				struct tcp_info ti = {};
				struct mw_tcp_fresh *f;

				if (a->rta_type != INET_DIAG_INFO)
					continue;
				/* older kernels send a shorter tcp_info: missing fields stay 0 */
				memcpy(&ti, RTA_DATA(a), RTA_PAYLOAD(a) < sizeof(ti) ?
				       RTA_PAYLOAD(a) : sizeof(ti));
				if (*n == *cap) {
					size_t nc = *cap ? 2 * *cap : 256;
					struct mw_tcp_fresh *nv = realloc(*v, nc * sizeof(**v));

					if (!nv) {
						err = -ENOMEM;
						goto out;
					}
					*v = nv;
					*cap = nc;
				}
				f = &(*v)[(*n)++];
				memset(f, 0, sizeof(*f));
				f->cookie = (uint64_t)m->id.idiag_cookie[0] |
					    (uint64_t)m->id.idiag_cookie[1] << 32;
				f->bytes_acked = ti.tcpi_bytes_acked;
				f->bytes_received = ti.tcpi_bytes_received;
				f->data_segs_out = ti.tcpi_data_segs_out;
				f->data_segs_in = ti.tcpi_data_segs_in;
				f->total_retrans = ti.tcpi_total_retrans;
				f->rtt_us = ti.tcpi_rtt;
				f->min_rtt_us = ti.tcpi_min_rtt == ~0u ? 0 : ti.tcpi_min_rtt;
				f->state = ti.tcpi_state;
			}
		}
	}
out:
	close(fd);
	return err;
}

static int mw_fresh_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct mw_tcp_fresh *)a)->cookie;
	uint64_t y = ((const struct mw_tcp_fresh *)b)->cookie;

	return x < y ? -1 : x > y;
}

static int mw_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* tcp_info of every TCP socket of the namespaces in `want` (sorted), sorted by cookie.
 * Best effort: a namespace no process lives in any more is skipped. *out needs free(). */
static size_t mw_fresh_read(const uint64_t *want, size_t n_want, struct mw_tcp_fresh **out)
{
	struct mw_tcp_fresh *v = NULL;
	size_t n = 0, cap = 0, done_n = 0;
	uint64_t *done = NULL, *seen = NULL;
	size_t n_seen = 0, cap_seen = 0;
	struct dirent *de;
	int self;
	DIR *d;

	*out = NULL;
	if (!n_want)
		return 0;
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	d = opendir("/proc");
	done = calloc(n_want, sizeof(*done));
	if (self < 0 || !d || !done)
		goto out;
	while (done_n < n_want && (de = readdir(d))) {
		char path[64];
		struct stat st;
		uint64_t ck = 0, *nv;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st))
			continue;
		/* one visit per namespace (by inode) */
		if (bsearch(&(uint64_t){ st.st_ino }, seen, n_seen, sizeof(*seen), mw_u64_cmp))
			continue;
		if (n_seen == cap_seen) {
			cap_seen = cap_seen ? 2 * cap_seen : 64;
			nv = realloc(seen, cap_seen * sizeof(*seen));
			if (!nv)
				break;
			seen = nv;
		}
		seen[n_seen++] = st.st_ino;
		qsort(seen, n_seen, sizeof(*seen), mw_u64_cmp);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (setns(fd, CLONE_NEWNET) == 0 && mw_netns_cookie(&ck) == 0 &&
		    bsearch(&ck, want, n_want, sizeof(*want), mw_u64_cmp) &&
		    !bsearch(&ck, done, done_n, sizeof(*done), mw_u64_cmp)) {
			mw_diag_dump(AF_INET, &v, &n, &cap);
			mw_diag_dump(AF_INET6, &v, &n, &cap);
			done[done_n++] = ck;
			qsort(done, done_n, sizeof(*done), mw_u64_cmp);
		}
		close(fd);
	}
	if (setns(self, CLONE_NEWNET))
		pr_warn("returning to the original network namespace: %s\n", strerror(errno));
out:
	if (self >= 0)
		close(self);
	if (d)
		closedir(d);
	free(done);
	free(seen);
	if (n)
		qsort(v, n, sizeof(*v), mw_fresh_cmp);
	*out = v;
	return n;
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
	struct mw_tcp_fresh *fresh = NULL;
	uint64_t *ns = NULL;
	size_t n_sc, n_fresh, n_ns = 0;
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

	/* the namespaces that have records, for their fresh counters */
	while (bpf_map_get_next_key(dp.conn_fd, first ? NULL : &k, &next) == 0) {
		struct mw_conn cn;
		uint64_t *nv;

		first = 0;
		k = next;
		if (bpf_map_lookup_elem(dp.conn_fd, &k, &cn))
			continue;
		if (n_ns && bsearch(&cn.netns, ns, n_ns, sizeof(*ns), mw_u64_cmp))
			continue;
		nv = realloc(ns, (n_ns + 1) * sizeof(*ns));
		if (!nv)
			break;
		ns = nv;
		ns[n_ns++] = cn.netns;
		qsort(ns, n_ns, sizeof(*ns), mw_u64_cmp);
	}
	first = 1;
	n_fresh = mw_fresh_read(ns, n_ns, &fresh);
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
		const struct mw_tcp_fresh *fr;
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
		fr = n_fresh ? bsearch(&(struct mw_tcp_fresh){ .cookie = k }, fresh, n_fresh,
				       sizeof(*fresh), mw_fresh_cmp) : NULL;
		if (fr)
			mw_conn_refresh(&cn, fr);
		/* The app leg's cookie joins the two legs of a sidecar hop (docs/metrics.md). */
		if (cn.role == MW_ROLE_REDIRECTED)
			hop = k;
		else if (cn.role == MW_ROLE_SIDECAR && dp.hop_fd >= 0 &&
			 bpf_map_lookup_elem(dp.hop_fd, &k, &hop))
			hop = 0;
		/* The record has TCP's bytes until the close adds the shortcut's: add them here. */
		scl = mw_sc_live_find(sc, n_sc, k);
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
	free(fresh);
	free(ns);
	if (o->json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_SPACED));
		json_object_put(arr);
	}
	return MW_EXIT_OK;
}
