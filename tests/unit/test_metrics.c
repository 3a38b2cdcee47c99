// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for userspace/lib/metrics.c: the service map, rows, and the three
 * renderings, compared with the exact text a scraper, a statsd listener or a log
 * reader would receive.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

#define BIG_MTU		65536
#define MAX_DGRAMS	256

/* ::ffff:a.b.c.d for "a.b.c.d", the address itself for IPv6 text. */
static void addr(const char *s, uint8_t out[16])
{
	uint8_t v4[4];

	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, v4) == 1) {
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(&out[12], v4, sizeof(v4));
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

/* Renders to a string the caller frees. */
static char *render_prom(const struct mw_metric_set *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(mw_render_prometheus(s, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Compares line by line, naming the first line that differs, then as a whole. */
static void assert_lines_equal(const char *got, const char *want)
{
	const char *g = got, *w = want;
	size_t line = 1, lg, lw;

	while (*g && *w) {
		lg = strcspn(g, "\n");
		lw = strcspn(w, "\n");
		if (lg != lw || memcmp(g, w, lg)) {
			print_error("line %zu differs\n got: %.*s\nwant: %.*s\n", line, (int)lg, g,
				    (int)lw, w);
			fail();
		}
		g += lg + (g[lg] == '\n');
		w += lw + (w[lw] == '\n');
		line++;
	}
	assert_string_equal(got, want);
}

/* The line of `text` that starts with `prefix`, copied into buf; fails if none. */
static const char *find_line(const char *text, const char *prefix, char *buf, size_t len)
{
	const char *p = text;
	size_t n;

	while (*p) {
		n = strcspn(p, "\n");
		if (!strncmp(p, prefix, strlen(prefix))) {
			snprintf(buf, len, "%.*s", (int)n, p);
			return buf;
		}
		p += n + (p[n] == '\n');
	}
	print_error("no line starts with %s\n", prefix);
	fail();
	return NULL;
}

/* --- histogram buckets --------------------------------------------------- */

/* The kernel's mw_hist_bucket (bpf/lib/track.bpf.h), copied: the two must agree. */
static unsigned int kernel_bucket(uint64_t v)
{
	uint32_t r = 0;

	if (v <= 1)
		return 0;
	v--;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	r += 1;
	return r < MW_HIST_BUCKETS ? r : MW_HIST_BUCKETS - 1;
}

static void test_hist_bucket(void **state)
{
	unsigned int i;
	uint64_t p;

	assert_int_equal(mw_hist_bucket(0), 0);
	assert_int_equal(mw_hist_bucket(1), 0);
	assert_int_equal(mw_hist_bucket(2), 1);
	assert_int_equal(mw_hist_bucket(3), 2);
	assert_int_equal(mw_hist_bucket(4), 2);
	assert_int_equal(mw_hist_bucket(5), 3);
	assert_int_equal(mw_hist_bucket(150), 8);
	assert_int_equal(mw_hist_bucket(1024), 10);
	assert_int_equal(mw_hist_bucket(1025), 11);
	assert_int_equal(mw_hist_bucket(UINT64_C(1) << 30), 30);
	assert_int_equal(mw_hist_bucket((UINT64_C(1) << 30) + 1), MW_HIST_BUCKETS - 1);
	assert_int_equal(mw_hist_bucket(UINT64_MAX), MW_HIST_BUCKETS - 1);
	/* Every power of two and its neighbours, up to the top of u64. */
	for (i = 0; i < 64; i++) {
		p = UINT64_C(1) << i;
		assert_int_equal(mw_hist_bucket(p - 1), kernel_bucket(p - 1));
		assert_int_equal(mw_hist_bucket(p), kernel_bucket(p));
		assert_int_equal(mw_hist_bucket(p + 1), kernel_bucket(p + 1));
	}
}

/* --- names --------------------------------------------------------------- */

#define A63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const char names_doc[] =
	"{ \"services\": [\n"
	"  { \"name\": \"payments\", \"addresses\": [\"10.0.1.0/24\", \"fd00::5\"],\n"
	"    \"ports\": [8080, 8443] },\n"
	"  { \"name\": \"db\", \"addresses\": [\"10.0.2.10\"] },\n"
	"  { \"name\": \"payments-any\", \"addresses\": [\"10.0.1.0/24\"] },\n"
	"  { \"name\": \"v6net\", \"addresses\": [\"fd00:1::/32\"], \"ports\": [] }\n"
	"] }\n";

static void test_names_parse(void **state)
{
	struct mw_names n;
	char err[256] = "stale", buf[64];

	assert_int_equal(mw_names_parse(&n, names_doc, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(n.n_services, 4);

	assert_string_equal(n.services[0].name, "payments");
	assert_int_equal(n.services[0].n_cidrs, 2);
	mw_cidr_str(&n.services[0].cidrs[0], buf, sizeof(buf));
	assert_string_equal(buf, "10.0.1.0/24");
	assert_int_equal(n.services[0].cidrs[0].prefix, 96 + 24);
	mw_cidr_str(&n.services[0].cidrs[1], buf, sizeof(buf));
	assert_string_equal(buf, "fd00::5");
	assert_int_equal(n.services[0].n_ports, 2);
	assert_int_equal(n.services[0].ports[0], 8080);
	assert_int_equal(n.services[0].ports[1], 8443);

	assert_string_equal(n.services[1].name, "db");
	assert_int_equal(n.services[1].n_ports, 0);
	assert_null(n.services[1].ports);
	assert_string_equal(n.services[3].name, "v6net");
	assert_int_equal(n.services[3].n_ports, 0);
	mw_names_free(&n);
	assert_int_equal(n.n_services, 0);
	assert_null(n.services);
	mw_names_free(&n);	/* twice is harmless */

	/* No services at all, blanks around the document. */
	assert_int_equal(mw_names_parse(&n, " \n{\"services\": []}\n\t", err, sizeof(err)), 0);
	assert_int_equal(n.n_services, 0);
	mw_names_free(&n);

	/* A name of exactly 63 bytes fits. */
	assert_int_equal(mw_names_parse(&n,
		"{\"services\": [{\"name\": \"" A63 "\","
		" \"addresses\": [\"::/0\"]}]}", err, sizeof(err)), 0);
	assert_int_equal(strlen(n.services[0].name), 63);
	mw_names_free(&n);
}

struct bad_doc {
	const char *json;
	const char *msg;
};

static const struct bad_doc bad_docs[] = {
	{ "", "invalid JSON at offset 0: unexpected end of data" },
	{ "{\"services\": [", "invalid JSON at offset 14: unexpected end of data" },
	{ "{\"services\": [}", "invalid JSON at offset 14: unexpected character" },
	{ "{\"services\": [],}", "invalid JSON at offset 16: unexpected character" },
	{ "{\"services\": []} x", "invalid JSON at offset 17: unexpected character" },
	{ "[]", "top level: expected an object" },
	{ "null", "top level: expected an object" },
	{ "{}", "services: missing" },
	{ "{\"services\": {}}", "services: expected an array" },
	{ "{\"services\": null}", "services: expected an array" },
	{ "{\"services\": [], \"version\": 1}", "version: unknown key (expected services)" },
	{ "{\"services\": [1]}", "services[0]: expected an object" },
	{ "{\"services\": [{\"addresses\": [\"10.0.0.1\"]}]}", "services[0].name: missing" },
	{ "{\"services\": [{\"name\": 5, \"addresses\": [\"10.0.0.1\"]}]}",
	  "services[0].name: expected a string" },
	{ "{\"services\": [{\"name\": \"\", \"addresses\": [\"10.0.0.1\"]}]}",
	  "services[0].name: empty" },
	{ "{\"services\": [{\"name\": \"a\\u0000b\", \"addresses\": [\"10.0.0.1\"]}]}",
	  "services[0].name: contains a NUL character" },
	{ "{\"services\": [{\"name\": \"" A63 "a\","
	  " \"addresses\": [\"10.0.0.1\"]}]}",
	  "services[0].name: longer than 63 bytes" },
	{ "{\"services\": [{\"name\": \"a\", \"address\": [\"10.0.0.1\"]}]}",
	  "services[0].address: unknown key (expected name, addresses, ports)" },
	{ "{\"services\": [{\"name\": \"a\"}]}", "services[0].addresses: missing" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": \"10.0.0.1\"}]}",
	  "services[0].addresses: expected an array" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": []}]}",
	  "services[0].addresses: empty" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\", 7]}]}",
	  "services[0].addresses[1]: expected a string" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.0/33\"]}]}",
	  "services[0].addresses[0]: invalid IP or CIDR block [10.0.0.0/33]" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"]},"
	  " {\"name\": \"b\", \"addresses\": [\"fd00::/8\", \"10.0.0.1/8\"]}]}",
	  "services[1].addresses[1]: invalid IP or CIDR block [10.0.0.1/8]" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"example.com\"]}]}",
	  "services[0].addresses[0]: invalid IP or CIDR block [example.com]" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"ports\": 80}]}",
	  "services[0].ports: expected an array" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"ports\": [\"80\"]}]}",
	  "services[0].ports[0]: expected an integer" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"ports\": [80.5]}]}",
	  "services[0].ports[0]: expected an integer" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"ports\": [80, 0]}]}",
	  "services[0].ports[1]: invalid port [0]" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"ports\": [70000]}]}",
	  "services[0].ports[0]: invalid port [70000]" },
	{ "{\"services\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"ports\": [-1]}]}",
	  "services[0].ports[0]: invalid port [-1]" },
};

static void test_names_parse_errors(void **state)
{
	struct mw_names n;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		memset(&n, 0xa5, sizeof(n));	/* must come back empty */
		err[0] = '\0';
		if (mw_names_parse(&n, bad_docs[i].json, err, sizeof(err)) != -EINVAL) {
			print_error("document %zu accepted: %s\n", i, bad_docs[i].json);
			fail();
		}
		if (strcmp(err, bad_docs[i].msg)) {
			print_error("document %zu: %s\n got: %s\nwant: %s\n", i, bad_docs[i].json,
				    err, bad_docs[i].msg);
			fail();
		}
		assert_int_equal(n.n_services, 0);
		assert_null(n.services);
		mw_names_free(&n);
	}

	assert_int_equal(mw_names_parse(&n, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid JSON: no document");

	/* The message is cut to the buffer, never overrun; no buffer at all is fine. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(mw_names_parse(&n, "{}", err, 9), -EINVAL);
	assert_string_equal(err, "services");
	assert_int_equal(err[9], 'x');
	assert_int_equal(mw_names_parse(&n, "{}", NULL, 0), -EINVAL);
}

static void expect_service(const struct mw_names *n, const char *a, uint16_t port,
			   const char *want)
{
	uint8_t ad[16];
	char buf[MW_LABEL_LEN];

	addr(a, ad);
	assert_ptr_equal(mw_names_service(n, ad, port, buf, sizeof(buf)), buf);
	if (strcmp(buf, want)) {
		print_error("%s port %u: got %s, want %s\n", a, port, buf, want);
		fail();
	}
}

static void test_names_service(void **state)
{
	struct mw_names n;
	char err[256];

	assert_int_equal(mw_names_parse(&n, names_doc, err, sizeof(err)), 0);
	expect_service(&n, "10.0.1.7", 8080, "payments");		/* v4 CIDR + port */
	expect_service(&n, "10.0.1.255", 8443, "payments");
	expect_service(&n, "10.0.1.7", 9090, "payments-any");		/* port: next listed */
	expect_service(&n, "fd00::5", 8443, "payments");		/* v6 exact */
	expect_service(&n, "fd00::5", 80, "fd00::5");			/* port not listed */
	expect_service(&n, "fd00::6", 8080, "fd00::6");
	expect_service(&n, "10.0.2.10", 5432, "db");			/* v4 exact, any port */
	expect_service(&n, "10.0.2.11", 5432, "10.0.2.11");
	expect_service(&n, "10.0.0.255", 8080, "10.0.0.255");		/* just outside /24 */
	expect_service(&n, "fd00:1:abcd::1", 1, "v6net");		/* v6 CIDR */
	expect_service(&n, "fd00:2::", 1, "fd00:2::");
	mw_names_free(&n);

	/* Without names, and with an empty map: the address as text. */
	expect_service(NULL, "10.0.1.7", 8080, "10.0.1.7");
	expect_service(&n, "2001:db8::1", 443, "2001:db8::1");

	/* CIDR boundaries that are not byte-aligned; the first service listed wins. */
	assert_int_equal(mw_names_parse(&n,
		"{\"services\": [{\"name\": \"narrow\", \"addresses\": [\"192.168.0.0/23\"]},"
		" {\"name\": \"wide\", \"addresses\": [\"192.168.0.0/16\"]},"
		" {\"name\": \"all6\", \"addresses\": [\"::/0\"]}]}", err, sizeof(err)), 0);
	expect_service(&n, "192.168.1.200", 80, "narrow");
	expect_service(&n, "192.168.2.1", 80, "wide");
	expect_service(&n, "192.169.0.1", 80, "all6");	/* ::/0 holds v4-mapped too */
	mw_names_free(&n);
}

/* --- rows ---------------------------------------------------------------- */

static void test_set_add_merge(void **state)
{
	struct mw_metric_set s = {};
	struct mw_counters c = {};
	struct mw_agg a = {}, b = {};
	char longname[MW_LABEL_LEN + 1];

	a.opened = 3;
	a.closed = 1;
	a.bytes_sent = 100;
	a.ends[MW_END_REFUSED] = 2;
	a.rtt_hist[4] = 1;
	a.duration_hist[MW_HIST_BUCKETS - 1] = 1;
	a.rtt_us_sum = 10;
	b.opened = 4;
	b.closed = 2;
	b.bytes_sent = 50;
	b.ends[MW_END_REFUSED] = 1;
	b.rtt_hist[4] = 2;
	b.duration_hist[MW_HIST_BUCKETS - 1] = 5;
	b.rtt_us_sum = 20;

	/* Added out of order; ports compare as numbers (80 < 443 < 8080). */
	assert_int_equal(mw_metric_set_add(&s, "web", "payments", 8080, &a), 0);
	assert_int_equal(mw_metric_set_add(&s, "web", "payments", 443, &a), 0);
	assert_int_equal(mw_metric_set_add(&s, "api", "payments", 8080, &a), 0);
	assert_int_equal(mw_metric_set_add(&s, "web", "db", 5432, &a), 0);
	assert_int_equal(mw_metric_set_add(&s, "web", "payments", 80, &a), 0);
	/* A second address of payments:8080 for web: merged into its row. */
	assert_int_equal(mw_metric_set_add(&s, "web", "payments", 8080, &b), 0);
	assert_int_equal(s.n_rows, 5);

	assert_string_equal(s.rows[0].source_workload, "api");
	assert_string_equal(s.rows[1].destination_service, "db");
	assert_int_equal(s.rows[2].destination_port, 80);
	assert_int_equal(s.rows[3].destination_port, 443);
	assert_int_equal(s.rows[4].destination_port, 8080);
	assert_string_equal(s.rows[4].source_workload, "web");
	assert_string_equal(s.rows[4].destination_service, "payments");

	assert_int_equal(s.rows[4].agg.opened, 7);
	assert_int_equal(s.rows[4].agg.closed, 3);
	assert_int_equal(s.rows[4].agg.bytes_sent, 150);
	assert_int_equal(s.rows[4].agg.ends[MW_END_REFUSED], 3);
	assert_int_equal(s.rows[4].agg.rtt_hist[4], 3);
	assert_int_equal(s.rows[4].agg.duration_hist[MW_HIST_BUCKETS - 1], 6);
	assert_int_equal(s.rows[4].agg.rtt_us_sum, 30);
	assert_int_equal(s.rows[0].agg.opened, 3);	/* the others untouched */

	/* Labels that do not fit are refused, the set unchanged. */
	memset(longname, 'x', MW_LABEL_LEN);
	longname[MW_LABEL_LEN] = '\0';
	assert_int_equal(mw_metric_set_add(&s, longname, "db", 1, &a), -EINVAL);
	assert_int_equal(mw_metric_set_add(&s, "web", longname, 1, &a), -EINVAL);
	assert_int_equal(mw_metric_set_add(&s, NULL, "db", 1, &a), -EINVAL);
	longname[MW_LABEL_LEN - 1] = '\0';	/* 63 bytes: fits */
	assert_int_equal(mw_metric_set_add(&s, longname, "db", 1, &a), 0);
	assert_int_equal(s.n_rows, 6);
	assert_string_equal(s.rows[5].source_workload, longname);

	/* Decision rows: merged by workload, sorted. */
	c.n[MW_DIR_EGRESS][MW_R_REDIRECT] = 2;
	c.n[MW_DIR_INGRESS][MW_R_REFUSED] = 1;
	assert_int_equal(mw_metric_set_add_decisions(&s, "web", &c), 0);
	assert_int_equal(mw_metric_set_add_decisions(&s, "api", &c), 0);
	assert_int_equal(mw_metric_set_add_decisions(&s, "web", &c), 0);
	assert_int_equal(s.n_decisions, 2);
	assert_string_equal(s.decisions[0].source_workload, "api");
	assert_string_equal(s.decisions[1].source_workload, "web");
	assert_int_equal(s.decisions[1].c.n[MW_DIR_EGRESS][MW_R_REDIRECT], 4);
	assert_int_equal(s.decisions[1].c.n[MW_DIR_INGRESS][MW_R_REFUSED], 2);
	assert_int_equal(s.decisions[0].c.n[MW_DIR_EGRESS][MW_R_REDIRECT], 2);
	assert_int_equal(mw_metric_set_add_decisions(&s, NULL, &c), -EINVAL);

	mw_metric_set_free(&s);
	assert_null(s.rows);
	assert_int_equal(s.n_rows, 0);
	mw_metric_set_free(&s);
}

/* --- Prometheus ---------------------------------------------------------- */

/* The row of the golden test: a workload name with a quote and a backslash. */
#define ROW "source_workload=\"w\\\"q\\\\b\",destination_service=\"payments\"," \
	    "destination_port=\"8080\""

#define DEC "meshwarp_decisions_total{source_workload=\"web\","

static const char golden_prom[] =
	"# HELP meshwarp_tcp_connections_opened_total TCP connections established.\n"
	"# TYPE meshwarp_tcp_connections_opened_total counter\n"
	"meshwarp_tcp_connections_opened_total{" ROW "} 5\n"
	"# HELP meshwarp_tcp_connections_closed_total TCP connections closed after establishment.\n"
	"# TYPE meshwarp_tcp_connections_closed_total counter\n"
	"meshwarp_tcp_connections_closed_total{" ROW "} 3\n"
	"# HELP meshwarp_tcp_connections_active TCP connections established and not closed yet.\n"
	"# TYPE meshwarp_tcp_connections_active gauge\n"
	"meshwarp_tcp_connections_active{" ROW "} 2\n"
	"# HELP meshwarp_tcp_sent_bytes_total Bytes the application sent and the peer acknowledged, on closed connections.\n"
	"# TYPE meshwarp_tcp_sent_bytes_total counter\n"
	"meshwarp_tcp_sent_bytes_total{" ROW "} 1000\n"
	"# HELP meshwarp_tcp_received_bytes_total Bytes the application received, on closed connections.\n"
	"# TYPE meshwarp_tcp_received_bytes_total counter\n"
	"meshwarp_tcp_received_bytes_total{" ROW "} 2000\n"
	"# HELP meshwarp_tcp_connect_failures_total TCP connection attempts that failed before establishment.\n"
	"# TYPE meshwarp_tcp_connect_failures_total counter\n"
	"meshwarp_tcp_connect_failures_total{" ROW ",reason=\"refused\"} 2\n"
	"meshwarp_tcp_connect_failures_total{" ROW ",reason=\"timeout\"} 1\n"
	"meshwarp_tcp_connect_failures_total{" ROW ",reason=\"other\"} 6\n"
	"# HELP meshwarp_tcp_resets_total Established TCP connections ended by a reset.\n"
	"# TYPE meshwarp_tcp_resets_total counter\n"
	"meshwarp_tcp_resets_total{" ROW "} 1\n"
	"# HELP meshwarp_tcp_retransmits_total TCP segments retransmitted, on closed connections.\n"
	"# TYPE meshwarp_tcp_retransmits_total counter\n"
	"meshwarp_tcp_retransmits_total{" ROW "} 4\n"
	"# HELP meshwarp_tcp_rtt_seconds Smoothed round-trip time of TCP connections when they closed.\n"
	"# TYPE meshwarp_tcp_rtt_seconds histogram\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000001\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000002\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000004\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000008\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000016\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000032\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000064\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000128\"} 0\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000256\"} 2\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.000512\"} 2\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.001024\"} 2\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.002048\"} 2\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.004096\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.008192\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.016384\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.032768\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.065536\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.131072\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.262144\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"0.524288\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"1.048576\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"2.097152\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"4.194304\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"8.388608\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"16.777216\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"33.554432\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"67.108864\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"134.217728\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"268.435456\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"536.870912\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"1073.741824\"} 3\n"
	"meshwarp_tcp_rtt_seconds_bucket{" ROW ",le=\"+Inf\"} 3\n"
	"meshwarp_tcp_rtt_seconds_sum{" ROW "} 0.0033\n"
	"meshwarp_tcp_rtt_seconds_count{" ROW "} 3\n"
	"# HELP meshwarp_tcp_connection_duration_seconds Time from establishment to close of TCP connections.\n"
	"# TYPE meshwarp_tcp_connection_duration_seconds histogram\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000001\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000002\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000004\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000008\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000016\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000032\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000064\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000128\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000256\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.000512\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.001024\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.002048\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.004096\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.008192\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.016384\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.032768\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.065536\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.131072\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.262144\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"0.524288\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"1.048576\"} 1\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"2.097152\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"4.194304\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"8.388608\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"16.777216\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"33.554432\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"67.108864\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"134.217728\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"268.435456\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"536.870912\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"1073.741824\"} 2\n"
	"meshwarp_tcp_connection_duration_seconds_bucket{" ROW ",le=\"+Inf\"} 3\n"
	"meshwarp_tcp_connection_duration_seconds_sum{" ROW "} 5001.500001\n"
	"meshwarp_tcp_connection_duration_seconds_count{" ROW "} 3\n"
	"# HELP meshwarp_decisions_total Interception decisions, by direction, action and reason.\n"
	"# TYPE meshwarp_decisions_total counter\n"
	DEC "direction=\"egress\",action=\"redirect\",reason=\"redirect\"} 7\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"local\"} 0\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"uid\"} 0\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"gid\"} 0\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"port\"} 2\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"addr\"} 0\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"no_ipv6\"} 0\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"disabled\"} 0\n"
	DEC "direction=\"egress\",action=\"bypass\",reason=\"rule\"} 9\n"
	DEC "direction=\"egress\",action=\"reject\",reason=\"reject\"} 0\n"
	DEC "direction=\"egress\",action=\"forward\",reason=\"forward\"} 0\n"
	DEC "direction=\"ingress\",action=\"redirect\",reason=\"redirect\"} 4\n"
	DEC "direction=\"ingress\",action=\"bypass\",reason=\"local\"} 0\n"
	DEC "direction=\"ingress\",action=\"bypass\",reason=\"port\"} 0\n"
	DEC "direction=\"ingress\",action=\"bypass\",reason=\"no_ipv6\"} 0\n"
	DEC "direction=\"ingress\",action=\"bypass\",reason=\"disabled\"} 0\n"
	DEC "direction=\"ingress\",action=\"bypass\",reason=\"no_listener_open\"} 0\n"
	DEC "direction=\"ingress\",action=\"reject\",reason=\"no_listener_refused\"} 1\n"
	"# HELP meshwarp_datapath_errors_total Datapath failures: a table full, socket storage, a lost event.\n"
	"# TYPE meshwarp_datapath_errors_total counter\n"
	"meshwarp_datapath_errors_total{kind=\"origdst_table_full\"} 0\n"
	"meshwarp_datapath_errors_total{kind=\"sk_storage\"} 0\n"
	"meshwarp_datapath_errors_total{kind=\"listener_register\"} 0\n"
	"meshwarp_datapath_errors_total{kind=\"conn_table_full\"} 1\n"
	"meshwarp_datapath_errors_total{kind=\"agg_table_full\"} 0\n"
	"meshwarp_datapath_errors_total{kind=\"events_lost\"} 4\n";

static void test_prometheus_golden(void **state)
{
	struct mw_metric_set s = {};
	struct mw_counters c = {};
	struct mw_agg a = {};
	char *text;

	a.opened = 5;
	a.closed = 3;
	a.bytes_sent = 1000;
	a.bytes_received = 2000;
	a.retransmits = 4;
	a.ends[MW_END_NORMAL] = 2;
	a.ends[MW_END_RESET] = 1;
	a.ends[MW_END_REFUSED] = 2;
	a.ends[MW_END_TIMEOUT] = 1;
	a.ends[MW_END_FAILED] = 6;
	a.rtt_hist[8] = 2;		/* 150 us twice: 128 < 150 <= 256 */
	a.rtt_hist[12] = 1;		/* 3000 us: 2048 < 3000 <= 4096 */
	a.rtt_us_sum = 3300;
	a.duration_hist[0] = 1;		/* 1 us */
	a.duration_hist[21] = 1;	/* 1.5 s: 2^20 < 1500000 <= 2^21 */
	a.duration_hist[MW_HIST_BUCKETS - 1] = 1;	/* 5000 s: above 2^30 us */
	a.duration_us_sum = 1 + 1500000 + UINT64_C(5000000000);
	assert_int_equal(mw_metric_set_add(&s, "w\"q\\b", "payments", 8080, &a), 0);

	c.n[MW_DIR_EGRESS][MW_R_REDIRECT] = 7;
	c.n[MW_DIR_EGRESS][MW_R_PORT] = 2;
	c.n[MW_DIR_EGRESS][MW_R_RULE] = 9;
	c.n[MW_DIR_EGRESS][MW_R_NO_LISTENER] = 8;	/* ingress only: not shown on egress */
	c.n[MW_DIR_INGRESS][MW_R_REDIRECT] = 4;
	c.n[MW_DIR_INGRESS][MW_R_UID] = 5;	/* ingress has no UID reason: not shown */
	c.n[MW_DIR_INGRESS][MW_R_REFUSED] = 1;
	assert_int_equal(mw_metric_set_add_decisions(&s, "web", &c), 0);

	s.stats[MW_S_ORIGDST_HIT] = 100;	/* not an error: not shown */
	s.stats[MW_S_CONN_FULL] = 1;
	s.stats[MW_S_EVENTS_LOST] = 4;

	text = render_prom(&s);
	assert_lines_equal(text, golden_prom);
	free(text);
	mw_metric_set_free(&s);
}

static void test_prometheus_active_clamped(void **state)
{
	struct mw_metric_set s = {};
	struct mw_agg a = {};
	char *text, line[512];

	/* Per-CPU totals read while a connection closes: more closes than opens seen. */
	a.opened = 2;
	a.closed = 5;
	assert_int_equal(mw_metric_set_add(&s, "web", "db", 5432, &a), 0);
	text = render_prom(&s);
	assert_string_equal(find_line(text, "meshwarp_tcp_connections_active{", line, sizeof(line)),
			    "meshwarp_tcp_connections_active{source_workload=\"web\","
			    "destination_service=\"db\",destination_port=\"5432\"} 0");
	free(text);
	mw_metric_set_free(&s);
}

static void test_prometheus_escaping_and_empty(void **state)
{
	struct mw_metric_set s = {};
	struct mw_agg a = {};
	char *text, line[512];
	size_t types = 0;
	const char *p;

	/* Every family is announced even with no rows; the datapath errors are always there. */
	text = render_prom(&s);
	for (p = text; (p = strstr(p, "# TYPE ")); p++)
		types++;
	assert_int_equal(types, 12);
	assert_string_equal(find_line(text, "meshwarp_datapath_errors_total{kind=\"events_lost\"}",
				      line, sizeof(line)),
			    "meshwarp_datapath_errors_total{kind=\"events_lost\"} 0");
	assert_null(strstr(text, "source_workload"));
	free(text);

	/* A newline in a label value is escaped: one sample stays one line. */
	assert_int_equal(mw_metric_set_add(&s, "a\nb", "c\\\"d", 1, &a), 0);
	text = render_prom(&s);
	assert_string_equal(find_line(text, "meshwarp_tcp_resets_total{", line, sizeof(line)),
			    "meshwarp_tcp_resets_total{source_workload=\"a\\nb\","
			    "destination_service=\"c\\\\\\\"d\",destination_port=\"1\"} 0");
	free(text);
	mw_metric_set_free(&s);
}

static void test_route_state(void **state)
{
	static const struct mw_wl_gen wl[] = { { "web", 7 }, { "a\"b\\c", 1 } };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	mw_render_route_state(f, "v\"2", 1795000000, wl, 2);
	assert_int_equal(fclose(f), 0);
	assert_lines_equal(buf,
		"# HELP meshwarp_routes_generation Table generation in force per workload; every apply and init makes a new one.\n"
		"# TYPE meshwarp_routes_generation gauge\n"
		"meshwarp_routes_generation{source_workload=\"web\"} 7\n"
		"meshwarp_routes_generation{source_workload=\"a\\\"b\\\\c\"} 1\n"
		"# HELP meshwarp_routes_table_info The routing table in force, by version (absent: the App Mesh variables decide).\n"
		"# TYPE meshwarp_routes_table_info gauge\n"
		"meshwarp_routes_table_info{version=\"v\\\"2\"} 1\n"
		"# HELP meshwarp_routes_table_applied_timestamp_seconds When the routing table in force was applied, by any agent or the CLI (0: none).\n"
		"# TYPE meshwarp_routes_table_applied_timestamp_seconds gauge\n"
		"meshwarp_routes_table_applied_timestamp_seconds 1795000000\n");
	free(buf);

	/* No table in force: no info series, timestamp 0 whatever was passed. */
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	mw_render_route_state(f, NULL, 1795000000, NULL, 0);
	assert_int_equal(fclose(f), 0);
	assert_null(strstr(buf, "meshwarp_routes_table_info{"));
	assert_null(strstr(buf, "meshwarp_routes_generation{"));
	assert_non_null(strstr(buf, "\nmeshwarp_routes_table_applied_timestamp_seconds 0\n"));
	free(buf);
}

static void test_prometheus_write_error(void **state)
{
	struct mw_metric_set s = {};
	FILE *f = fopen("/dev/null", "r");	/* every write fails */

	assert_non_null(f);
	assert_true(mw_render_prometheus(&s, f) < 0);
	fclose(f);
}

/* --- statsd -------------------------------------------------------------- */

struct capture {
	char *dgram[MAX_DGRAMS];
	size_t n;
	int fail_with;		/* returned by emit when non-zero */
	size_t calls;
};

static int capture_emit(void *ctx, const char *buf, size_t len)
{
	struct capture *c = ctx;

	c->calls++;
	if (c->fail_with)
		return c->fail_with;
	assert_true(c->n < MAX_DGRAMS);
	c->dgram[c->n] = strndup(buf, len);
	assert_non_null(c->dgram[c->n]);
	assert_int_equal(strlen(c->dgram[c->n]), len);	/* no NUL inside */
	c->n++;
	return 0;
}

static void capture_free(struct capture *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->dgram[i]);
	memset(c, 0, sizeof(*c));
}

/* All datagrams joined with '\n' (as one big datagram would read). */
static char *capture_join(const struct capture *c)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < c->n; i++)
		len += strlen(c->dgram[i]) + 1;
	s = calloc(1, len);
	assert_non_null(s);
	for (i = 0; i < c->n; i++) {
		if (i)
			strcat(s, "\n");
		strcat(s, c->dgram[i]);
	}
	return s;
}

#define TAGS_API "source_workload:api,destination_service:orders,destination_port:80"
#define TAGS_WEB_IP "source_workload:web,destination_service:10.0.0.9,destination_port:443"
#define TAGS_WEB_PAY "source_workload:web,destination_service:payments,destination_port:8080"

static const char golden_statsd[] =
	/* api/orders: its counters went down since prev (maps recreated): full values */
	"meshwarp.tcp.connections_opened:2|c|#" TAGS_API "\n"
	"meshwarp.tcp.connections_closed:1|c|#" TAGS_API "\n"
	"meshwarp.tcp.connections_active:1|g|#" TAGS_API "\n"
	"meshwarp.tcp.sent_bytes:7000|c|#" TAGS_API "\n"
	"meshwarp.tcp.rtt_ms:0.020|g|#" TAGS_API "\n"
	"meshwarp.tcp.connection_duration_ms:0.005|g|#" TAGS_API "\n"
	/* web/10.0.0.9: not in prev, counts from zero */
	"meshwarp.tcp.connections_opened:1|c|#" TAGS_WEB_IP "\n"
	"meshwarp.tcp.connections_active:1|g|#" TAGS_WEB_IP "\n"
	/* web/payments: the increase; unchanged counters left out */
	"meshwarp.tcp.connections_opened:3|c|#" TAGS_WEB_PAY "\n"
	"meshwarp.tcp.connections_closed:2|c|#" TAGS_WEB_PAY "\n"
	"meshwarp.tcp.connections_active:3|g|#" TAGS_WEB_PAY "\n"
	"meshwarp.tcp.sent_bytes:50|c|#" TAGS_WEB_PAY "\n"
	"meshwarp.tcp.connect_failures:2|c|#" TAGS_WEB_PAY ",reason:refused\n"
	"meshwarp.tcp.connect_failures:1|c|#" TAGS_WEB_PAY ",reason:other\n"
	"meshwarp.tcp.resets:1|c|#" TAGS_WEB_PAY "\n"
	"meshwarp.tcp.rtt_ms:0.375|g|#" TAGS_WEB_PAY "\n"
	"meshwarp.tcp.connection_duration_ms:1.500|g|#" TAGS_WEB_PAY "\n"
	"meshwarp.decisions:5|c|#source_workload:web,direction:egress,action:redirect,"
	"reason:redirect\n"
	"meshwarp.decisions:1|c|#source_workload:web,direction:ingress,action:reject,"
	"reason:no_listener_refused\n"
	"meshwarp.datapath_errors:1|c|#kind:agg_table_full\n"
	"meshwarp.datapath_errors:3|c|#kind:events_lost";

static void statsd_sets(struct mw_metric_set *prev, struct mw_metric_set *cur)
{
	struct mw_agg a = {};
	struct mw_counters c = {};

	memset(prev, 0, sizeof(*prev));
	memset(cur, 0, sizeof(*cur));

	/* web/payments:8080 */
	a.opened = 10;
	a.closed = 8;
	a.bytes_sent = 100;
	a.bytes_received = 200;
	a.retransmits = 1;
	a.ends[MW_END_REFUSED] = 1;
	a.ends[MW_END_NORMAL] = 8;
	a.rtt_hist[8] = 8;
	a.rtt_us_sum = 1600;
	a.duration_hist[10] = 8;
	a.duration_us_sum = 8000;
	assert_int_equal(mw_metric_set_add(prev, "web", "payments", 8080, &a), 0);
	a.opened = 13;
	a.closed = 10;
	a.bytes_sent = 150;
	a.ends[MW_END_REFUSED] = 3;
	a.ends[MW_END_FAILED] = 1;
	a.ends[MW_END_RESET] = 1;
	a.ends[MW_END_NORMAL] = 9;
	a.rtt_hist[8] = 9;
	a.rtt_hist[9] = 1;
	a.rtt_us_sum = 1600 + 250 + 500;	/* two closed, mean 375 us */
	a.duration_hist[10] = 10;
	a.duration_us_sum = 8000 + 3000;	/* two closed, mean 1500 us */
	assert_int_equal(mw_metric_set_add(cur, "web", "payments", 8080, &a), 0);

	/* api/orders:80, went down */
	memset(&a, 0, sizeof(a));
	a.opened = 50;
	a.closed = 50;
	a.bytes_sent = 5000;
	a.rtt_hist[5] = 50;
	a.rtt_us_sum = 1000;
	a.duration_hist[3] = 50;
	a.duration_us_sum = 250;
	assert_int_equal(mw_metric_set_add(prev, "api", "orders", 80, &a), 0);
	memset(&a, 0, sizeof(a));
	a.opened = 2;
	a.closed = 1;
	a.bytes_sent = 7000;	/* went up, but the row restarted: not an increase of 2000 */
	a.ends[MW_END_NORMAL] = 1;
	a.rtt_hist[5] = 1;
	a.rtt_us_sum = 20;
	a.duration_hist[3] = 1;
	a.duration_us_sum = 5;
	assert_int_equal(mw_metric_set_add(cur, "api", "orders", 80, &a), 0);

	/* web/10.0.0.9:443, new */
	memset(&a, 0, sizeof(a));
	a.opened = 1;
	assert_int_equal(mw_metric_set_add(cur, "web", "10.0.0.9", 443, &a), 0);

	/* gone/x:1, only in prev: nothing to say */
	assert_int_equal(mw_metric_set_add(prev, "gone", "x", 1, &a), 0);

	c.n[MW_DIR_EGRESS][MW_R_REDIRECT] = 10;
	c.n[MW_DIR_EGRESS][MW_R_PORT] = 3;
	assert_int_equal(mw_metric_set_add_decisions(prev, "web", &c), 0);
	c.n[MW_DIR_EGRESS][MW_R_REDIRECT] = 15;
	c.n[MW_DIR_INGRESS][MW_R_REFUSED] = 1;
	c.n[MW_DIR_INGRESS][MW_R_UID] = 4;	/* not a reason of ingress: not sent */
	assert_int_equal(mw_metric_set_add_decisions(cur, "web", &c), 0);

	prev->stats[MW_S_EVENTS_LOST] = 2;
	prev->stats[MW_S_ORIGDST_HIT] = 10;
	cur->stats[MW_S_EVENTS_LOST] = 5;
	cur->stats[MW_S_AGG_FULL] = 1;
	cur->stats[MW_S_ORIGDST_HIT] = 20;
}

static void test_statsd_deltas(void **state)
{
	struct mw_metric_set prev, cur;
	struct capture cap = {};
	char *all;

	statsd_sets(&prev, &cur);
	assert_int_equal(mw_render_statsd(&cur, &prev, BIG_MTU, capture_emit, &cap), 0);
	assert_int_equal(cap.n, 1);
	assert_lines_equal(cap.dgram[0], golden_statsd);
	capture_free(&cap);

	/* Nothing happened since: only the gauges. */
	assert_int_equal(mw_render_statsd(&cur, &cur, BIG_MTU, capture_emit, &cap), 0);
	all = capture_join(&cap);
	assert_lines_equal(all,
			   "meshwarp.tcp.connections_active:1|g|#" TAGS_API "\n"
			   "meshwarp.tcp.connections_active:1|g|#" TAGS_WEB_IP "\n"
			   "meshwarp.tcp.connections_active:3|g|#" TAGS_WEB_PAY);
	free(all);
	capture_free(&cap);

	/* No prev: everything since zero. */
	assert_int_equal(mw_render_statsd(&prev, NULL, BIG_MTU, capture_emit, &cap), 0);
	all = capture_join(&cap);
	assert_non_null(strstr(all, "meshwarp.tcp.connections_opened:10|c|#" TAGS_WEB_PAY "\n"));
	assert_non_null(strstr(all, "meshwarp.tcp.rtt_ms:0.200|g|#" TAGS_WEB_PAY "\n"));
	assert_non_null(strstr(all, "meshwarp.tcp.connections_opened:1|c|#source_workload:gone,"
			       "destination_service:x,destination_port:1\n"));
	assert_non_null(strstr(all, "meshwarp.decisions:3|c|#source_workload:web,direction:egress,"
			       "action:bypass,reason:port\n"));
	assert_non_null(strstr(all, "meshwarp.datapath_errors:2|c|#kind:events_lost"));
	free(all);
	capture_free(&cap);

	/* Stats that went down (maps recreated) count from zero, decisions too. */
	cur.stats[MW_S_EVENTS_LOST] = 1;
	cur.decisions[0].c.n[MW_DIR_EGRESS][MW_R_PORT] = 2;
	assert_int_equal(mw_render_statsd(&cur, &prev, BIG_MTU, capture_emit, &cap), 0);
	all = capture_join(&cap);
	assert_non_null(strstr(all, "meshwarp.datapath_errors:1|c|#kind:events_lost"));
	assert_non_null(strstr(all, "meshwarp.decisions:15|c|#source_workload:web,direction:egress,"
			       "action:redirect,reason:redirect\n"));
	assert_non_null(strstr(all, "meshwarp.decisions:2|c|#source_workload:web,direction:egress,"
			       "action:bypass,reason:port\n"));
	free(all);
	capture_free(&cap);

	mw_metric_set_free(&prev);
	mw_metric_set_free(&cur);
}

/* The shortcut's counters: only with has_sc; events labelled, the two volumes apart; statsd
 * sends what moved, and everything again after the counters went back. */
static void test_shortcut_counters(void **state)
{
	struct mw_metric_set prev = {}, cur = {};
	struct capture cap = {};
	char *text, *all, line[256];

	(void)state;
	cur.sc_events[MW_SC_S_PAIRED] = 7;
	cur.sc_events[MW_SC_S_HELD] = 3;
	cur.sc_events[MW_SC_S_BYTES] = 4096;
	text = render_prom(&cur);
	assert_null(strstr(text, "meshwarp_shortcut"));
	free(text);

	cur.has_sc = 1;
	text = render_prom(&cur);
	assert_string_equal(find_line(text, "meshwarp_shortcut_events_total{event=\"paired\"}", line,
				      sizeof(line)), "meshwarp_shortcut_events_total{event=\"paired\"} 7");
	assert_string_equal(find_line(text, "meshwarp_shortcut_events_total{event=\"held\"}", line,
				      sizeof(line)), "meshwarp_shortcut_events_total{event=\"held\"} 3");
	assert_string_equal(find_line(text, "meshwarp_shortcut_events_total{event=\"not_local\"}",
				      line, sizeof(line)),
			    "meshwarp_shortcut_events_total{event=\"not_local\"} 0");
	assert_null(strstr(text, "event=\"bytes\""));
	assert_null(strstr(text, "event=\"messages\""));
	assert_string_equal(find_line(text, "meshwarp_shortcut_bytes_total ", line, sizeof(line)),
			    "meshwarp_shortcut_bytes_total 4096");
	assert_string_equal(mw_sc_event_name(MW_SC_S_HOLDS), "holds");
	assert_null(mw_sc_event_name(MW_SC_S_MAX));
	free(text);

	prev = cur;
	cur.sc_events[MW_SC_S_PAIRED] = 9;
	assert_int_equal(mw_render_statsd(&cur, &prev, BIG_MTU, capture_emit, &cap), 0);
	all = capture_join(&cap);
	assert_lines_equal(all, "meshwarp.shortcut_events:2|c|#event:paired");
	free(all);
	capture_free(&cap);

	cur.sc_events[MW_SC_S_HELD] = 1;	/* went back: from zero */
	assert_int_equal(mw_render_statsd(&cur, &prev, BIG_MTU, capture_emit, &cap), 0);
	all = capture_join(&cap);
	assert_lines_equal(all, "meshwarp.shortcut_events:9|c|#event:paired\n"
				"meshwarp.shortcut_bytes:4096|c\n"
				"meshwarp.shortcut_events:1|c|#event:held");
	free(all);
	capture_free(&cap);
}

/* 20 rows: 40 lines of about 100 bytes. */
static void packing_set(struct mw_metric_set *s)
{
	struct mw_agg a = {};
	char svc[16];
	int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < 20; i++) {
		snprintf(svc, sizeof(svc), "svc%02d", i);
		a.opened = (uint64_t)i + 1;
		assert_int_equal(mw_metric_set_add(s, "w", svc, 80, &a), 0);
	}
	s->stats[MW_S_EVENTS_LOST] = 1;
}

static void test_statsd_packing(void **state)
{
	struct mw_metric_set s;
	size_t mtus[4];
	struct capture one = {}, cap = {};
	size_t i, k, longest = 0, first;
	char *whole, *joined;
	const char *p;

	packing_set(&s);
	assert_int_equal(mw_render_statsd(&s, NULL, BIG_MTU, capture_emit, &one), 0);
	assert_int_equal(one.n, 1);
	whole = one.dgram[0];
	for (p = whole; *p; p += first + (p[first] == '\n')) {
		first = strcspn(p, "\n");
		if (first > longest)
			longest = first;
	}
	assert_int_equal(longest, 101);
	mtus[0] = 3 * longest;		/* roomy */
	mtus[1] = 2 * longest + 1;	/* two of the longest lines exactly */
	mtus[2] = 2 * longest;		/* one byte short of that */
	mtus[3] = longest;		/* one line per datagram at times */

	for (k = 0; k < sizeof(mtus) / sizeof(mtus[0]); k++) {
		assert_int_equal(mw_render_statsd(&s, NULL, mtus[k], capture_emit, &cap), 0);
		assert_true(cap.n > 1);
		for (i = 0; i < cap.n; i++) {
			assert_true(strlen(cap.dgram[i]) <= mtus[k]);
			assert_true(strlen(cap.dgram[i]) > 0);
			assert_true(cap.dgram[i][0] != '\n');
			assert_true(cap.dgram[i][strlen(cap.dgram[i]) - 1] != '\n');
			/* Greedy: the next datagram's first line did not fit in this one. */
			if (i + 1 < cap.n) {
				first = strcspn(cap.dgram[i + 1], "\n");
				assert_true(strlen(cap.dgram[i]) + 1 + first > mtus[k]);
			}
		}
		/* No line split or lost: the datagrams read as the single one did. */
		joined = capture_join(&cap);
		assert_string_equal(joined, whole);
		free(joined);
		capture_free(&cap);
	}
	capture_free(&one);

	/* Lines longer than the mtu are left out, the rest still goes: -EMSGSIZE. */
	assert_int_equal(mw_render_statsd(&s, NULL, 60, capture_emit, &cap), -EMSGSIZE);
	assert_int_equal(cap.n, 1);
	assert_string_equal(cap.dgram[0], "meshwarp.datapath_errors:1|c|#kind:events_lost");
	capture_free(&cap);

	/* The first failure of emit stops everything and is returned. */
	cap.fail_with = -ECONNREFUSED;
	assert_int_equal(mw_render_statsd(&s, NULL, 300, capture_emit, &cap), -ECONNREFUSED);
	assert_int_equal(cap.calls, 1);
	capture_free(&cap);

	assert_int_equal(mw_render_statsd(&s, NULL, 0, capture_emit, &cap), -EINVAL);
	assert_int_equal(cap.calls, 0);

	/* An empty set sends nothing. */
	mw_metric_set_free(&s);
	assert_int_equal(mw_render_statsd(&s, NULL, 300, capture_emit, &cap), 0);
	assert_int_equal(cap.calls, 0);
}

static void test_statsd_tag_sanitized(void **state)
{
	struct mw_metric_set s = {};
	struct capture cap = {};
	struct mw_agg a = {};

	a.opened = 1;
	a.closed = 1;
	assert_int_equal(mw_metric_set_add(&s, "a,b|c#d:e\nf\rg", "x y", 80, &a), 0);
	assert_int_equal(mw_render_statsd(&s, NULL, BIG_MTU, capture_emit, &cap), 0);
	assert_lines_equal(cap.dgram[0],
			   "meshwarp.tcp.connections_opened:1|c|#source_workload:a_b_c_d_e_f_g,"
			   "destination_service:x y,destination_port:80\n"
			   "meshwarp.tcp.connections_closed:1|c|#source_workload:a_b_c_d_e_f_g,"
			   "destination_service:x y,destination_port:80\n"
			   "meshwarp.tcp.connections_active:0|g|#source_workload:a_b_c_d_e_f_g,"
			   "destination_service:x y,destination_port:80");
	capture_free(&cap);
	mw_metric_set_free(&s);
}

/* --- JSON lines ---------------------------------------------------------- */

static char *render_json(const struct mw_conn_event *e, const char *workload,
			 const struct mw_names *names, uint64_t boot_to_realtime_ns)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(mw_render_conn_json(e, workload, names, boot_to_realtime_ns, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_conn_json_v4(void **state)
{
	struct mw_conn_event e = {};
	struct mw_names n;
	char err[256], *line;
	/* 2024-05-01T12:00:00.123456789Z when the connection closed at 3 s of uptime */
	uint64_t boot = UINT64_C(1714564800123456789) - UINT64_C(3000000000);

	assert_int_equal(mw_names_parse(&n, names_doc, err, sizeof(err)), 0);
	e.c.start_ns = UINT64_C(1000000000);
	e.c.established_ns = UINT64_C(1500000000);
	e.end_ns = UINT64_C(3000000000);
	e.c.role = MW_ROLE_REDIRECTED;
	e.c.family = AF_INET;
	addr("10.0.0.2", e.c.saddr);
	e.c.sport = htons(40000);
	addr("10.0.1.7", e.c.daddr);
	e.c.dport = htons(8080);
	e.c.bytes_sent = 1234;
	e.c.bytes_received = 5678;
	e.c.segs_out = 10;
	e.c.segs_in = 12;
	e.c.srtt_us = 250;
	e.c.min_rtt_us = 180;
	e.c.retransmits = 1;
	e.cookie = UINT64_MAX;
	e.end = MW_END_NORMAL;

	line = render_json(&e, "web", &n, boot);
	assert_string_equal(line,
		"{\"time\":\"2024-05-01T12:00:00.123Z\",\"source_workload\":\"web\","
		"\"role\":\"redirected\",\"src\":\"10.0.0.2:40000\",\"dst\":\"10.0.1.7:8080\","
		"\"destination_service\":\"payments\",\"outcome\":\"normal\",\"duration_s\":1.5,"
		"\"sent_bytes\":1234,\"received_bytes\":5678,\"segs_out\":10,\"segs_in\":12,"
		"\"srtt_us\":250,\"min_rtt_us\":180,\"retransmits\":1,"
		"\"cookie\":18446744073709551615}\n");
	free(line);
	mw_names_free(&n);
}

static void test_conn_json_v6(void **state)
{
	struct mw_conn_event e = {};
	char *line;

	/* Refused: never established, so the duration runs from connect(). */
	e.c.start_ns = UINT64_C(5000000000);
	e.end_ns = UINT64_C(5000250999);
	e.c.role = MW_ROLE_SIDECAR;
	e.c.family = AF_INET6;
	addr("fd00::1", e.c.saddr);
	e.c.sport = htons(55555);
	addr("fd00::5", e.c.daddr);
	e.c.dport = htons(443);
	e.cookie = 42;
	e.end = MW_END_REFUSED;

	line = render_json(&e, "we\"b/\\x", NULL, 0);
	assert_string_equal(line,
		"{\"time\":\"1970-01-01T00:00:05.000Z\",\"source_workload\":\"we\\\"b/\\\\x\","
		"\"role\":\"sidecar\",\"src\":\"[fd00::1]:55555\",\"dst\":\"[fd00::5]:443\","
		"\"destination_service\":\"fd00::5\",\"outcome\":\"refused\","
		"\"duration_s\":0.00025,"
		"\"sent_bytes\":0,\"received_bytes\":0,\"segs_out\":0,\"segs_in\":0,"
		"\"srtt_us\":0,\"min_rtt_us\":0,\"retransmits\":0,\"cookie\":42}\n");
	free(line);

	/* No workload, a role and an end this build does not know, a clock going back. */
	e.c.role = 7;
	e.end = 6;
	e.end_ns = e.c.start_ns - 1;
	line = render_json(&e, NULL, NULL, 0);
	assert_non_null(strstr(line, "\"source_workload\":null,\"role\":\"unknown\","));
	assert_non_null(strstr(line, "\"outcome\":\"unknown\",\"duration_s\":0,"));
	free(line);
}

/* A joined sidecar leg: "hop" follows "cookie"; hop 0 writes no key. */
static void test_conn_json_hop(void **state)
{
	struct mw_conn_event e = {};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	e.c.role = MW_ROLE_SIDECAR;
	e.c.family = AF_INET;
	e.cookie = 77;
	e.end_ns = UINT64_C(2000000000);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(mw_render_conn_json_hop(&e, "w", NULL, 0, 4242, f), 0);
	assert_int_equal(mw_render_conn_json_hop(&e, "w", NULL, 0, 0, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "\"cookie\":77,\"hop\":4242}\n"));
	assert_non_null(strstr(buf, "\"cookie\":77}\n"));
	assert_null(strstr(strchr(buf, '\n') + 1, "hop"));
	free(buf);
}

/* conns' fresh counters: the SYN of an active socket and the FINs the record names come
 * out, as in sockops; a passive (inbound) socket has no SYN in bytes_acked; nothing goes
 * backwards; a record not established yet is left alone. */
static void test_conn_refresh(void **state)
{
	struct mw_tcp_fresh f = { .bytes_acked = 1001, .bytes_received = 5000, .data_segs_out = 3,
				  .data_segs_in = 7, .total_retrans = 1, .rtt_us = 40,
				  .min_rtt_us = 20 };
	struct mw_conn c = {};

	(void)state;
	c.role = MW_ROLE_DIRECT;
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 0);		/* not established: untouched */
	c.established_ns = 1;
	c.bytes_received = 10;
	c.min_rtt_us = 30;
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 1000);
	assert_int_equal(c.bytes_received, 5000);
	assert_int_equal(c.segs_out, 3);
	assert_int_equal(c.segs_in, 7);
	assert_int_equal(c.retransmits, 1);
	assert_int_equal(c.srtt_us, 40);
	assert_int_equal(c.min_rtt_us, 20);
	c.flags = MW_CONN_F_FIN_ACKED | MW_CONN_F_FIN_IN;
	f.bytes_acked = 1002;
	f.bytes_received = 5001;
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 1000);
	assert_int_equal(c.bytes_received, 5000);
	f.bytes_acked = 10;				/* older than the record: kept */
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 1000);

	/* A FIN the record does not know yet, seen in the snapshot's own state: not a byte. */
	memset(&c, 0, sizeof(c));
	c.role = MW_ROLE_DIRECT;
	c.established_ns = 1;
	f.bytes_acked = 1001;
	f.bytes_received = 5001;
	f.state = 8;					/* CLOSE_WAIT: the peer's FIN came */
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 1000);
	assert_int_equal(c.bytes_received, 5000);
	memset(&c, 0, sizeof(c));
	c.role = MW_ROLE_DIRECT;
	c.established_ns = 1;
	f.bytes_acked = 1002;
	f.bytes_received = 5000;
	f.state = 5;					/* FIN_WAIT2: our FIN was acked */
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 1000);
	assert_int_equal(c.bytes_received, 5000);
	f.state = 1;					/* ESTABLISHED: both count */
	memset(&c, 0, sizeof(c));
	c.role = MW_ROLE_DIRECT;
	c.established_ns = 1;
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 1001);
	f.state = 0;
	memset(&c, 0, sizeof(c));
	c.role = MW_ROLE_INBOUND;
	c.established_ns = 1;
	f.bytes_acked = 700;
	mw_conn_refresh(&c, &f);
	assert_int_equal(c.bytes_sent, 700);
}

/* --tracking, MESHWARP_TRACKING and `meshwarp tracking` take exactly these words. */
static void test_tracking_parse(void **state)
{
	(void)state;
	assert_int_equal(mw_tracking_parse("on"), 1);
	assert_int_equal(mw_tracking_parse("1"), 1);
	assert_int_equal(mw_tracking_parse("off"), 0);
	assert_int_equal(mw_tracking_parse("0"), 0);
	assert_int_equal(mw_tracking_parse("ON"), -EINVAL);
	assert_int_equal(mw_tracking_parse(""), -EINVAL);
	assert_int_equal(mw_tracking_parse("on "), -EINVAL);
	assert_int_equal(mw_tracking_parse("yes"), -EINVAL);
	assert_int_equal(mw_tracking_parse(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_bucket),
		cmocka_unit_test(test_names_parse),
		cmocka_unit_test(test_names_parse_errors),
		cmocka_unit_test(test_names_service),
		cmocka_unit_test(test_set_add_merge),
		cmocka_unit_test(test_prometheus_golden),
		cmocka_unit_test(test_prometheus_active_clamped),
		cmocka_unit_test(test_prometheus_escaping_and_empty),
		cmocka_unit_test(test_prometheus_write_error),
		cmocka_unit_test(test_statsd_deltas),
		cmocka_unit_test(test_shortcut_counters),
		cmocka_unit_test(test_statsd_packing),
		cmocka_unit_test(test_statsd_tag_sanitized),
		cmocka_unit_test(test_conn_json_v4),
		cmocka_unit_test(test_conn_json_v6),
		cmocka_unit_test(test_tracking_parse),
		cmocka_unit_test(test_conn_json_hop),
		cmocka_unit_test(test_conn_refresh),
		cmocka_unit_test(test_route_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
