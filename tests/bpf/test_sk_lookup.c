// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF_PROG_TEST_RUN table for the sk_lookup program (bpf/sk_lookup.bpf.c): the
 * inbound decision for one enrolled namespace, without sending any traffic.
 *
 * The skeleton is loaded without pin paths, so every map is fresh and private to
 * this test. Before each case the maps hold one enrolled workload (our fixed netns
 * cookie, app port 8080, fail-closed, IPv6 on), its local addresses and a zeroed
 * counter entry, and the "sidecar" (a dual-stack AF_INET6 listener on [::], in a
 * network namespace of the test's own, so nothing listens on the host) sits in
 * mw_lsn_v1 under its own port, as sockops would register it. Each case builds a
 * struct bpf_sk_lookup, runs the program once and checks the verdict, the cookie of
 * the socket it assigned (0: none) and that exactly one decision counter moved by
 * one (or none did).
 *
 * Needs root (BPF_PROG_TEST_RUN on sk_lookup, map creation); as another user every
 * case is skipped and the binary exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cmocka.h>

#include <meshwarp/abi.h>
#include "meshwarp_lookup.skel.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define NETNS		0x00000000c0ffee01ull	/* the namespace this instance serves */
#define OTHER_NETNS	0x00000000c0ffee02ull
#define GEN		7u
#define APP_PORT	8080
#define OTHER_PORT	9090
#define EGRESS_PORT	15001
#define CLIENT_PORT	40000
#define SMALL_MAP	16	/* max_entries of every hash map here */

/* The pod: POD4 is its address but deliberately not in mw_local_v1, so that a client
 * coming from POD4 itself can only be recognised by "source == destination". */
#define POD4		"10.20.0.1"
#define LOCAL4		"10.20.0.3"	/* a second address of the pod, in mw_local_v1 */
#define PEER4		"10.20.0.2"	/* a client outside the pod */
#define POD6		"fd00:20::1"
#define LOCAL6		"fd00:20::3"	/* in mw_local_v1 */
#define PEER6		"fd00:20::2"

struct listener {
	int fd;
	__u16 port;
	__u64 cookie;
};

struct env {
	struct meshwarp_lookup *skel;
	int prog_fd, wl_fd, port_fd, local_fd, ctr_fd, lsn_fd;
	int ncpus;
	struct listener sidecar;	/* AF_INET6, IPV6_V6ONLY=0: the sidecar */
	struct listener sidecar4;	/* AF_INET: a separate IPv4 listener */
	struct listener v6only;		/* AF_INET6, IPV6_V6ONLY=1 */
	struct listener alt;		/* AF_INET6 dual-stack, another port (rule target) */
	struct mw_counters *pcpu;	/* lookup buffer: one mw_counters per possible CPU */
};

static struct env E;
static int have_env;

#define NEED_ENV() do { if (!have_env) skip(); } while (0)

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* A TCP listener on the wildcard address, ephemeral port, in our private namespace (only
 * its loopback exists). The wildcard matters: a socket bound to ::1 is IPv6-only. */
static int listener_open(struct listener *l, int family, int v6only)
{
	struct sockaddr_storage ss = {};
	socklen_t sl = sizeof(ss), cl = sizeof(l->cookie);
	int one = 1;

	l->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
			return -errno;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sl = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sl = sizeof(*sin);
	}
	if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0 || listen(l->fd, 8) < 0)
		return -errno;
	sl = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	l->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	if (getsockopt(l->fd, SOL_SOCKET, SO_COOKIE, &l->cookie, &cl) < 0)
		return -errno;
	return 0;
}

static int group_setup(void **state)
{
	struct meshwarp_lookup *skel;
	struct bpf_map *map;
	int err;

	if (geteuid() != 0) {
		printf("test_sk_lookup: not root: skipping (BPF_PROG_TEST_RUN needs root)\n");
		return 0;
	}
	/* The listeners live in a network namespace of our own: nothing of the host's
	 * is touched, and no traffic is sent at all. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_sk_lookup: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	libbpf_set_print(quiet_print);
	skel = meshwarp_lookup__open();
	if (!skel) {
		fprintf(stderr, "test_sk_lookup: opening the skeleton: %s\n", strerror(errno));
		return -1;
	}
	skel->rodata->mw_netns = NETNS;
	/* The real capacities cost tens of MB (per-CPU hashes are preallocated per CPU);
	 * this test holds a handful of entries. Arrays keep their size (indexed by
	 * constants), and so do ring buffers (page multiples). */
	bpf_object__for_each_map(map, skel->obj) {
		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_HASH:
		case BPF_MAP_TYPE_PERCPU_HASH:
		case BPF_MAP_TYPE_LRU_HASH:
		case BPF_MAP_TYPE_LRU_PERCPU_HASH:
		case BPF_MAP_TYPE_LPM_TRIE:
		case BPF_MAP_TYPE_SOCKHASH:
			bpf_map__set_max_entries(map, SMALL_MAP);
			break;
		default:
			break;
		}
	}
	err = meshwarp_lookup__load(skel);
	if (err) {
		fprintf(stderr, "test_sk_lookup: loading the skeleton: %s\n", strerror(-err));
		meshwarp_lookup__destroy(skel);
		return -1;
	}
	E.skel = skel;
	E.prog_fd = bpf_program__fd(skel->progs.mw_sk_lookup);
	E.wl_fd = bpf_map__fd(skel->maps.mw_wl_v1);
	E.port_fd = bpf_map__fd(skel->maps.mw_port_v1);
	E.local_fd = bpf_map__fd(skel->maps.mw_local_v1);
	E.ctr_fd = bpf_map__fd(skel->maps.mw_ctr_v1);
	E.lsn_fd = bpf_map__fd(skel->maps.mw_lsn_v1);
	E.ncpus = libbpf_num_possible_cpus();
	if (E.ncpus <= 0) {
		fprintf(stderr, "test_sk_lookup: possible CPUs: %s\n", strerror(-E.ncpus));
		return -1;
	}
	E.pcpu = calloc((size_t)E.ncpus, sizeof(*E.pcpu));
	if (!E.pcpu)
		return -1;

	err = listener_open(&E.sidecar, AF_INET6, 0);
	if (!err)
		err = listener_open(&E.sidecar4, AF_INET, 0);
	if (!err)
		err = listener_open(&E.v6only, AF_INET6, 1);
	if (!err)
		err = listener_open(&E.alt, AF_INET6, 0);
	if (err) {
		fprintf(stderr, "test_sk_lookup: loopback listeners: %s\n", strerror(-err));
		return -1;
	}
	have_env = 1;
	return 0;
}

static int group_teardown(void **state)
{
	struct listener *ls[] = { &E.sidecar, &E.sidecar4, &E.v6only, &E.alt };
	size_t i;

	for (i = 0; i < sizeof(ls) / sizeof(ls[0]); i++)
		if (ls[i]->fd > 0)
			close(ls[i]->fd);
	meshwarp_lookup__destroy(E.skel);
	free(E.pcpu);
	return 0;
}

/* ---- map contents ------------------------------------------------------------------- */

static void map_clear(int fd, size_t key_size)
{
	unsigned char key[64];

	assert_true(key_size <= sizeof(key));
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
}

static void wl_put(__u32 flags, __u16 ingress_port)
{
	struct mw_workload wl = {};
	__u64 netns = NETNS;

	wl.gen = GEN;
	wl.flags = flags;
	wl.egress_port = htons(EGRESS_PORT);
	wl.ingress_port = htons(ingress_port);
	assert_int_equal(bpf_map_update_elem(E.wl_fd, &netns, &wl, BPF_ANY), 0);
}

static void app_port_put(__u32 gen, __u16 port, __u16 target)
{
	struct mw_port_key k = {};
	struct mw_rule r = {};

	k.netns = NETNS;
	k.gen = gen;
	k.port = htons(port);
	k.dir = MW_DIR_INGRESS;
	r.action = MW_ACT_REDIRECT;
	r.reason = MW_R_REDIRECT;
	r.port = htons(target);
	assert_int_equal(bpf_map_update_elem(E.port_fd, &k, &r, BPF_ANY), 0);
}

/* addr: an IPv4 or IPv6 literal; stored 16 bytes, IPv4 v4-mapped, as a /128. */
static void local_put(const char *addr)
{
	struct mw_lpm_key k = {};
	struct in_addr a4;
	__u32 one = 1;

	k.prefixlen = MW_LPM_HDR_BITS + MW_ADDR_LEN * 8;
	k.gen = 0;
	k.netns = NETNS;
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		k.addr[10] = 0xff;
		k.addr[11] = 0xff;
		memcpy(&k.addr[12], &a4, sizeof(a4));
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, k.addr), 1);
	}
	assert_int_equal(bpf_map_update_elem(E.local_fd, &k, &one, BPF_ANY), 0);
}

static void lsn_put(__u64 netns, __u16 port, __u16 family, const struct listener *l)
{
	struct mw_lsn_key k = {};
	__u64 val = (__u64)l->fd;

	k.netns = netns;
	k.port = htons(port);
	k.family = family;
	assert_int_equal(bpf_map_update_elem(E.lsn_fd, &k, &val, BPF_ANY), 0);
}

static void ctr_zero(void)
{
	__u64 netns = NETNS;

	memset(E.pcpu, 0, (size_t)E.ncpus * sizeof(*E.pcpu));
	assert_int_equal(bpf_map_update_elem(E.ctr_fd, &netns, E.pcpu, BPF_ANY), 0);
}

/* The counters of NETNS summed over CPUs. */
static void ctr_read(struct mw_counters *sum)
{
	__u64 netns = NETNS;
	int c, d, r;

	memset(sum, 0, sizeof(*sum));
	assert_int_equal(bpf_map_lookup_elem(E.ctr_fd, &netns, E.pcpu), 0);
	for (c = 0; c < E.ncpus; c++)
		for (d = 0; d < MW_DIR_MAX; d++)
			for (r = 0; r < MW_R_MAX; r++)
				sum->n[d][r] += E.pcpu[c].n[d][r];
}

/* Every case starts from the enrolled workload described at the top. */
static int case_setup(void **state)
{
	if (!have_env)
		return 0;
	map_clear(E.wl_fd, sizeof(__u64));
	map_clear(E.port_fd, sizeof(struct mw_port_key));
	map_clear(E.local_fd, sizeof(struct mw_lpm_key));
	map_clear(E.ctr_fd, sizeof(__u64));
	map_clear(E.lsn_fd, sizeof(struct mw_lsn_key));
	wl_put(MW_WL_F_ENABLED | MW_WL_F_IPV6, E.sidecar.port);
	app_port_put(GEN, APP_PORT, 0);
	local_put(LOCAL4);
	local_put(LOCAL6);
	ctr_zero();
	lsn_put(NETNS, E.sidecar.port, AF_INET6, &E.sidecar);
	return 0;
}

/* ---- running the program ------------------------------------------------------------ */

static struct bpf_sk_lookup ctx_make(int family, int proto, const char *remote, __u16 rport,
				     const char *local, __u16 lport)
{
	struct bpf_sk_lookup c = {};

	c.family = (__u32)family;
	c.protocol = (__u32)proto;
	c.remote_port = htons(rport);
	c.local_port = lport;	/* host order */
	if (family == AF_INET) {
		assert_int_equal(inet_pton(AF_INET, remote, &c.remote_ip4), 1);
		assert_int_equal(inet_pton(AF_INET, local, &c.local_ip4), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET6, remote, c.remote_ip6), 1);
		assert_int_equal(inet_pton(AF_INET6, local, c.local_ip6), 1);
	}
	return c;
}

#define NONE (-1)	/* no counter moves */

/*
 * Runs the program on ctx and checks: verdict, the cookie of the socket it assigned
 * (0 for none), and the counters: [ingress][reason] moved by exactly one and nothing
 * else moved (reason NONE: nothing moved).
 */
static void expect(struct bpf_sk_lookup ctx, __u32 verdict, __u64 cookie, int reason)
{
	struct bpf_sk_lookup out = {};
	struct mw_counters before, after;
	int err, d, r;
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.ctx_out = &out,
		.ctx_size_out = sizeof(out),
	);

	ctr_read(&before);
	err = bpf_prog_test_run_opts(E.prog_fd, &opts);
	if (err)
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(-err));
	ctr_read(&after);

	if (opts.retval != verdict)
		fail_msg("verdict: expected %s, got %u", verdict == SK_PASS ? "SK_PASS" : "SK_DROP",
			 opts.retval);
	if (out.cookie != cookie)
		fail_msg("assigned socket cookie: expected %llu, got %llu (sidecar %llu, "
			 "sidecar4 %llu, v6only %llu, alt %llu)",
			 (unsigned long long)cookie, (unsigned long long)out.cookie,
			 (unsigned long long)E.sidecar.cookie, (unsigned long long)E.sidecar4.cookie,
			 (unsigned long long)E.v6only.cookie, (unsigned long long)E.alt.cookie);
	for (d = 0; d < MW_DIR_MAX; d++) {
		for (r = 0; r < MW_R_MAX; r++) {
			__u64 want = (d == MW_DIR_INGRESS && r == reason) ? 1 : 0;
			__u64 got = after.n[d][r] - before.n[d][r];

			if (got != want)
				fail_msg("counter [%s][%d]: expected +%llu, got +%llu",
					 d == MW_DIR_INGRESS ? "ingress" : "egress", r,
					 (unsigned long long)want, (unsigned long long)got);
		}
	}
}

static struct bpf_sk_lookup tcp4(const char *remote, const char *local, __u16 lport)
{
	return ctx_make(AF_INET, IPPROTO_TCP, remote, CLIENT_PORT, local, lport);
}

static struct bpf_sk_lookup tcp6(const char *remote, const char *local, __u16 lport)
{
	return ctx_make(AF_INET6, IPPROTO_TCP, remote, CLIENT_PORT, local, lport);
}

/* ---- cases -------------------------------------------------------------------------- */

/* The main path: a client outside the pod, an app port, the dual-stack sidecar. */
static void test_v4_app_port_to_sidecar(void **state)
{
	NEED_ENV();
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, E.sidecar.cookie, MW_R_REDIRECT);
}

static void test_v6_app_port_to_sidecar(void **state)
{
	NEED_ENV();
	expect(tcp6(PEER6, POD6, APP_PORT), SK_PASS, E.sidecar.cookie, MW_R_REDIRECT);
}

/* A separate IPv4 listener is preferred for IPv4; IPv6 still gets the AF_INET6 one. */
static void test_v4_listener_preferred(void **state)
{
	NEED_ENV();
	lsn_put(NETNS, E.sidecar.port, AF_INET, &E.sidecar4);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, E.sidecar4.cookie, MW_R_REDIRECT);
	expect(tcp6(PEER6, POD6, APP_PORT), SK_PASS, E.sidecar.cookie, MW_R_REDIRECT);
}

static void test_other_port_passes(void **state)
{
	NEED_ENV();
	expect(tcp4(PEER4, POD4, OTHER_PORT), SK_PASS, 0, MW_R_PORT);
	expect(tcp6(PEER6, POD6, OTHER_PORT), SK_PASS, 0, MW_R_PORT);
}

/* The port rule of another generation does not count: only wl.gen's table decides. */
static void test_other_generation_ignored(void **state)
{
	NEED_ENV();
	map_clear(E.port_fd, sizeof(struct mw_port_key));
	app_port_put(GEN - 1, APP_PORT, 0);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, 0, MW_R_PORT);
}

static void test_local_source_in_table(void **state)
{
	NEED_ENV();
	expect(tcp4(LOCAL4, POD4, APP_PORT), SK_PASS, 0, MW_R_LOCAL);
	expect(tcp6(LOCAL6, POD6, APP_PORT), SK_PASS, 0, MW_R_LOCAL);
}

/* POD4 is not in mw_local_v1: source == destination alone makes it local. */
static void test_local_source_is_destination(void **state)
{
	NEED_ENV();
	expect(tcp4(POD4, POD4, APP_PORT), SK_PASS, 0, MW_R_LOCAL);
	expect(tcp6(POD6, POD6, APP_PORT), SK_PASS, 0, MW_R_LOCAL);
}

/* Loopback sources are local whatever the table holds. */
static void test_local_loopback(void **state)
{
	NEED_ENV();
	expect(tcp4("127.0.0.5", "127.0.0.1", APP_PORT), SK_PASS, 0, MW_R_LOCAL);
	expect(tcp6("::1", POD6, APP_PORT), SK_PASS, 0, MW_R_LOCAL);
}

static void test_v6_off(void **state)
{
	NEED_ENV();
	wl_put(MW_WL_F_ENABLED, E.sidecar.port);
	expect(tcp6(PEER6, POD6, APP_PORT), SK_PASS, 0, MW_R_NO_V6);
	/* IPv4 is still intercepted. */
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, E.sidecar.cookie, MW_R_REDIRECT);
}

static void test_udp_untouched(void **state)
{
	NEED_ENV();
	expect(ctx_make(AF_INET, IPPROTO_UDP, PEER4, CLIENT_PORT, POD4, APP_PORT), SK_PASS, 0,
	       NONE);
	expect(ctx_make(AF_INET6, IPPROTO_UDP, PEER6, CLIENT_PORT, POD6, APP_PORT), SK_PASS, 0,
	       NONE);
}

static void test_no_listener_fail_closed(void **state)
{
	NEED_ENV();
	map_clear(E.lsn_fd, sizeof(struct mw_lsn_key));
	expect(tcp4(PEER4, POD4, APP_PORT), SK_DROP, 0, MW_R_REFUSED);
	expect(tcp6(PEER6, POD6, APP_PORT), SK_DROP, 0, MW_R_REFUSED);
}

static void test_no_listener_fail_open(void **state)
{
	NEED_ENV();
	map_clear(E.lsn_fd, sizeof(struct mw_lsn_key));
	wl_put(MW_WL_F_ENABLED | MW_WL_F_IPV6 | MW_WL_F_FAIL_OPEN, E.sidecar.port);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, 0, MW_R_NO_LISTENER);
	expect(tcp6(PEER6, POD6, APP_PORT), SK_PASS, 0, MW_R_NO_LISTENER);
}

/* A listener registered for another namespace is not this namespace's sidecar. */
static void test_listener_of_other_netns(void **state)
{
	NEED_ENV();
	map_clear(E.lsn_fd, sizeof(struct mw_lsn_key));
	lsn_put(OTHER_NETNS, E.sidecar.port, AF_INET6, &E.sidecar);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_DROP, 0, MW_R_REFUSED);
}

/* An IPv6-only sidecar cannot take an IPv4 connection (bpf_sk_assign refuses it):
 * that is "not listening" for IPv4, under either policy. IPv6 still goes to it. */
static void test_v6only_listener(void **state)
{
	NEED_ENV();
	map_clear(E.lsn_fd, sizeof(struct mw_lsn_key));
	wl_put(MW_WL_F_ENABLED | MW_WL_F_IPV6, E.v6only.port);
	lsn_put(NETNS, E.v6only.port, AF_INET6, &E.v6only);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_DROP, 0, MW_R_REFUSED);
	expect(tcp6(PEER6, POD6, APP_PORT), SK_PASS, E.v6only.cookie, MW_R_REDIRECT);
	wl_put(MW_WL_F_ENABLED | MW_WL_F_IPV6 | MW_WL_F_FAIL_OPEN, E.v6only.port);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, 0, MW_R_NO_LISTENER);
}

/* A port rule with its own target port sends to the listener on that port. */
static void test_rule_target_port(void **state)
{
	NEED_ENV();
	app_port_put(GEN, APP_PORT, E.alt.port);
	lsn_put(NETNS, E.alt.port, AF_INET6, &E.alt);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, E.alt.cookie, MW_R_REDIRECT);
}

static void test_not_enrolled(void **state)
{
	__u64 netns = NETNS;

	NEED_ENV();
	assert_int_equal(bpf_map_delete_elem(E.wl_fd, &netns), 0);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, 0, NONE);
	expect(tcp6(PEER6, POD6, APP_PORT), SK_PASS, 0, NONE);
}

/* Enrolled for egress only (no APPMESH_ENVOY_INGRESS_PORT): not an inbound decision. */
static void test_no_ingress_port(void **state)
{
	NEED_ENV();
	wl_put(MW_WL_F_ENABLED | MW_WL_F_IPV6, 0);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, 0, NONE);
}

static void test_disabled(void **state)
{
	NEED_ENV();
	wl_put(MW_WL_F_IPV6, E.sidecar.port);
	expect(tcp4(PEER4, POD4, APP_PORT), SK_PASS, 0, MW_R_DISABLED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_v4_app_port_to_sidecar, case_setup),
		cmocka_unit_test_setup(test_v6_app_port_to_sidecar, case_setup),
		cmocka_unit_test_setup(test_v4_listener_preferred, case_setup),
		cmocka_unit_test_setup(test_other_port_passes, case_setup),
		cmocka_unit_test_setup(test_other_generation_ignored, case_setup),
		cmocka_unit_test_setup(test_local_source_in_table, case_setup),
		cmocka_unit_test_setup(test_local_source_is_destination, case_setup),
		cmocka_unit_test_setup(test_local_loopback, case_setup),
		cmocka_unit_test_setup(test_v6_off, case_setup),
		cmocka_unit_test_setup(test_udp_untouched, case_setup),
		cmocka_unit_test_setup(test_no_listener_fail_closed, case_setup),
		cmocka_unit_test_setup(test_no_listener_fail_open, case_setup),
		cmocka_unit_test_setup(test_listener_of_other_netns, case_setup),
		cmocka_unit_test_setup(test_v6only_listener, case_setup),
		cmocka_unit_test_setup(test_rule_target_port, case_setup),
		cmocka_unit_test_setup(test_not_enrolled, case_setup),
		cmocka_unit_test_setup(test_no_ingress_port, case_setup),
		cmocka_unit_test_setup(test_disabled, case_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
