// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for userspace/lib/routes.c and tablediff.c: routing-table parsing
 * (every error text exactly, warnings), the compile into the kernel's table
 * (keys byte by byte, lists in order, the IPv4 guard, the 8-entry limit,
 * weights), the read-back from a fake store, the diff text, and the compile
 * time for 100 000 rules (printed, not asserted).
 *
 * Documents are written with single quotes and turned into JSON by J().
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
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "routes.h"

#define NETNS		0x1122334455667788ull
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FULL		65535
/* The scale test's host rules; -DSCALE_RULES=1000 for a quick run under valgrind. */
#ifndef SCALE_RULES
#define SCALE_RULES	100000
#endif

/* ------------------------------------------------------------------------ */
/* Helpers */

/* A document with ' for " (no document here needs a real apostrophe). */
static char *J(const char *s)
{
	char *d = strdup(s), *c;

	assert_non_null(d);
	for (c = d; *c; c++)
		if (*c == '\'')
			*c = '"';
	return d;
}

struct warns {
	int n;
	char msg[32][256];
};

static void warn_cb(void *ctx, const char *msg)
{
	struct warns *w = ctx;

	if (w->n < (int)ARRAY_SIZE(w->msg))
		snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
	w->n++;
}

static int parse_raw(struct mw_routes *rt, const char *json, char *err, size_t errlen,
		     struct warns *w)
{
	return mw_routes_parse(rt, json, strlen(json), err, errlen, w ? warn_cb : NULL, w);
}

static int parse(struct mw_routes *rt, const char *doc, char *err, struct warns *w)
{
	char *j = J(doc);
	int ret = parse_raw(rt, j, err, 512, w);

	free(j);
	return ret;
}

static void expect_error(const char *doc, const char *msg)
{
	struct mw_routes rt;
	struct warns w = {};
	char err[512] = "";
	int ret;

	ret = parse(&rt, doc, err, &w);
	if (ret != -EINVAL || strcmp(err, msg))
		print_error("document: %s\n  got (%d): %s\n  want: %s\n", doc, ret, err, msg);
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err, msg);
	/* Nothing is left behind, and nothing is warned about a document that failed. */
	assert_int_equal(w.n, 0);
	assert_int_equal(rt.n_services + rt.n_workloads, 0);
	assert_null(rt.services);
	assert_null(rt.workloads);
}

/* A config built by hand: uid 1337, egress 15001, the given ignored ports and IPs. */
struct test_cfg {
	struct mw_config cfg;
	uint16_t ports[16];
	struct mw_cidr cidrs[16];
};

static void cfg_init(struct test_cfg *t, const uint16_t *ports, size_t n_ports,
		     const char *const *cidrs, size_t n_cidrs)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->cfg.has_uid = 1;
	t->cfg.ignore_uid = 1337;
	t->cfg.egress_port = 15001;
	t->cfg.enable_ipv6 = 1;
	assert_true(n_ports <= 16 && n_cidrs <= 16);
	for (i = 0; i < n_ports; i++)
		t->ports[i] = ports[i];
	for (i = 0; i < n_cidrs; i++)
		assert_int_equal(mw_parse_cidr(cidrs[i], &t->cidrs[i]), 0);
	t->cfg.ignored_ports = t->ports;
	t->cfg.n_ignored_ports = n_ports;
	t->cfg.ignored = t->cidrs;
	t->cfg.n_ignored = n_cidrs;
}

/* An LPM key written out by hand: IPv4 a.b.c.d/len as ::ffff:a.b.c.d. */
static struct mw_lpm_key key4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, unsigned int len)
{
	struct mw_lpm_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = MW_LPM_HDR_BITS + 96 + len;
	k.gen = 0;
	k.netns = NETNS;
	k.addr[10] = 0xff;
	k.addr[11] = 0xff;
	k.addr[12] = a;
	k.addr[13] = b;
	k.addr[14] = c;
	k.addr[15] = d;
	return k;
}

/* IPv6: the first two bytes, the rest zero. */
static struct mw_lpm_key key6(uint8_t b0, uint8_t b1, unsigned int len)
{
	struct mw_lpm_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = MW_LPM_HDR_BITS + len;
	k.netns = NETNS;
	k.addr[0] = b0;
	k.addr[1] = b1;
	return k;
}

static const struct mw_cidr_entry *find_cidr(const struct mw_table *t, const struct mw_lpm_key *k)
{
	size_t i;

	for (i = 0; i < t->n_cidrs; i++)
		if (!memcmp(&t->cidrs[i].key, k, sizeof(*k)))
			return &t->cidrs[i];
	return NULL;
}

static struct mw_rule_ent ent(uint16_t lo, uint16_t hi, uint8_t action, uint8_t reason,
			      uint16_t port, uint32_t err, uint32_t svc)
{
	struct mw_rule_ent e;

	memset(&e, 0, sizeof(e));
	e.port_lo = lo;
	e.port_hi = hi;
	e.rule.action = action;
	e.rule.reason = reason;
	e.rule.port = htons(port);
	e.rule.err = err;
	e.svc = svc;
	return e;
}

/* The list at key k is exactly want[0..n), unused entries zero. */
static void expect_list(const struct mw_table *t, struct mw_lpm_key k,
			const struct mw_rule_ent *want, uint32_t n)
{
	const struct mw_cidr_entry *e = find_cidr(t, &k);
	struct mw_rule_list l;
	uint32_t i;

	assert_non_null(e);
	memset(&l, 0, sizeof(l));
	l.n = n;
	for (i = 0; i < n; i++)
		l.e[i] = want[i];
	assert_int_equal(e->list.n, n);
	assert_memory_equal(&e->list, &l, sizeof(l));
}

#define BYPASS_ADDR	ent(0, FULL, MW_ACT_BYPASS, MW_R_ADDR, 0, 0, 0)
#define GUARD		ent(0, FULL, MW_ACT_REDIRECT, MW_R_REDIRECT, 0, 0, 0)

static int compile_doc(const char *doc, const char *workload, const struct mw_config *env,
		       struct mw_table *t, char *err)
{
	struct mw_routes rt;
	int ret;

	assert_int_equal(parse(&rt, doc, err, NULL), 0);
	ret = mw_routes_compile(&rt, workload, env, NETNS, t, err, 512);
	mw_routes_free(&rt);
	return ret;
}

static char *diff_text(const struct mw_table *a, const struct mw_table *b, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*ret = mw_table_diff(a, b, f);
	fclose(f);
	return buf;
}

static int cmp_cidr_entry(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct mw_lpm_key));
}

/* Wall-clock, user CPU and system CPU time, in ms. */
struct clk {
	double wall, user, sys;
};

static struct clk clk_now(void)
{
	struct timespec ts;
	struct rusage ru;
	struct clk c;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	getrusage(RUSAGE_SELF, &ru);
	c.wall = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
	c.user = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
	c.sys = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
	return c;
}

static void clk_print(const char *what, struct clk a, struct clk b)
{
	printf("[ INFO     ] %s: %.1f ms (user %.1f ms, system %.1f ms)\n", what, b.wall - a.wall,
	       b.user - a.user, b.sys - a.sys);
}

/* ------------------------------------------------------------------------ */
/* Parsing */

static const char doc_example[] =
	"{ 'version': '2026-11-26.1',\n"
	"  'services': [\n"
	"    { 'name': 'reviews', 'addresses': ['10.96.0.10'], 'ports': [9080],\n"
	"      'versions': [ { 'name': 'v1', 'weight': 90, 'endpoints': ['10.250.5.2:9080'] },\n"
	"                    { 'name': 'v2', 'weight': 10, 'endpoints': ['10.250.6.2:9080'] } ] }\n"
	"  ],\n"
	"  'workloads': [\n"
	"    { 'workload': 'web',\n"
	"      'rules': [\n"
	"        { 'match': { 'service': 'reviews' }, 'action': { 'forward': 'reviews' } },\n"
	"        { 'match': { 'destination': '10.0.0.0/8', 'ports': '8000-8999' },\n"
	"          'action': { 'reject': 'ECONNREFUSED' } },\n"
	"        { 'match': { 'port': 5432 }, 'action': 'bypass' },\n"
	"        { 'match': {}, 'action': { 'sidecar': 15001 } } ] } ]\n"
	"}\n";

/* The example of routes.h parses into what it says. */
static void test_parse_example(void **state)
{
	const struct mw_route_rule *r;
	const struct mw_route_service *s;
	struct mw_routes rt;
	struct warns w = {};
	char err[512] = "", a[64];

	assert_int_equal(parse(&rt, doc_example, err, &w), 0);
	assert_string_equal(err, "");
	assert_string_equal(rt.version, "2026-11-26.1");
	assert_int_equal(rt.n_services, 1);
	s = &rt.services[0];
	assert_string_equal(s->name, "reviews");
	assert_int_equal(s->n_addrs, 1);
	mw_cidr_str(&s->addrs[0], a, sizeof(a));
	assert_string_equal(a, "10.96.0.10");
	assert_int_equal(s->n_ports, 1);
	assert_int_equal(s->ports[0], 9080);
	assert_int_equal(s->n_versions, 2);
	assert_string_equal(s->versions[1].name, "v2");
	assert_int_equal(s->versions[1].weight, 10);
	assert_int_equal(s->versions[1].n_eps, 1);
	assert_int_equal(s->versions[1].eps[0].port, 9080);
	assert_int_equal(s->versions[1].eps[0].addr[15], 2);
	assert_int_equal(s->versions[1].eps[0].addr[10], 0xff);

	assert_int_equal(rt.n_workloads, 1);
	assert_string_equal(rt.workloads[0].name, "web");
	assert_int_equal(rt.workloads[0].n_rules, 4);
	r = rt.workloads[0].rules;
	assert_true(r[0].has_dst);
	mw_cidr_str(&r[0].dst, a, sizeof(a));
	assert_string_equal(a, "10.96.0.10");
	assert_int_equal(r[0].port_lo, 9080);
	assert_int_equal(r[0].port_hi, 9080);
	assert_int_equal(r[0].action, MW_RA_FORWARD);
	assert_int_equal(r[0].svc, 0);
	assert_string_equal(r[0].path, "workloads[0].rules[0]");
	assert_int_equal(r[1].port_lo, 8000);
	assert_int_equal(r[1].port_hi, 8999);
	assert_int_equal(r[1].action, MW_RA_REJECT);
	assert_int_equal(r[1].err, ECONNREFUSED);
	assert_false(r[2].has_dst);
	assert_int_equal(r[2].port_lo, 5432);
	assert_int_equal(r[2].action, MW_RA_BYPASS);
	assert_false(r[3].has_dst);
	assert_int_equal(r[3].port_lo, 0);
	assert_int_equal(r[3].port_hi, FULL);
	assert_int_equal(r[3].action, MW_RA_SIDECAR);
	assert_int_equal(r[3].sidecar_port, 15001);
	assert_string_equal(r[3].path, "workloads[0].rules[3]");
	/* rules[3] overlaps rules[2] (5432 bypass) and rules[0] (9080 forward): the first. */
	assert_int_equal(w.n, 1);
	assert_string_equal(w.msg[0],
			    "workloads[0].rules[3]: overlaps workloads[0].rules[0], which has a different action");
	assert_true(mw_routes_applies(&rt, "web"));
	assert_false(mw_routes_applies(&rt, "api"));
	mw_routes_free(&rt);
	mw_routes_free(&rt);	/* twice is harmless */
}

/* A service match becomes one rule per address and per run of consecutive ports. */
static void test_parse_service_expansion(void **state)
{
	static const char doc[] =
		"{'version':'1','services':[{'name':'s','addresses':['10.0.0.1','10.0.0.2'],"
		"'ports':[82,80,443,81,80]}],"
		"'workloads':[{'workload':'*','rules':[{'match':{'service':'s'},'action':'sidecar'}]}]}";
	const struct mw_route_rule *r;
	struct mw_routes rt;
	char err[512];

	assert_int_equal(parse(&rt, doc, err, NULL), 0);
	assert_int_equal(rt.workloads[0].n_rules, 4);
	r = rt.workloads[0].rules;
	assert_int_equal(r[0].dst.addr[15], 1);
	assert_int_equal(r[0].port_lo, 80);
	assert_int_equal(r[0].port_hi, 82);
	assert_int_equal(r[1].dst.addr[15], 1);
	assert_int_equal(r[1].port_lo, 443);
	assert_int_equal(r[1].port_hi, 443);
	assert_int_equal(r[2].dst.addr[15], 2);
	assert_int_equal(r[3].port_lo, 443);
	assert_string_equal(r[3].path, "workloads[0].rules[0]");
	assert_int_equal(r[3].action, MW_RA_SIDECAR);
	assert_int_equal(r[3].sidecar_port, 0);
	assert_true(mw_routes_applies(&rt, "anything"));
	mw_routes_free(&rt);
}

/* A syntax error is placed by line and column (both from 1). */
static void test_syntax_line_col(void **state)
{
	static const char doc[] =
		"{\n"
		"  'version': '1',\n"
		"  'workloads': [\n"
		"    { 'workload': 'web', 'rules': [\n"
		"      { 'match': { 'port' 80 }, 'action': 'bypass' } ] } ]\n"
		"}\n";
	struct mw_routes rt;
	char err[512];

	assert_int_equal(parse(&rt, doc, err, NULL), -EINVAL);
	assert_string_equal(err, "line 5, column 27: object property name separator ':' expected");

	/* A stray comma at the end of an array. */
	assert_int_equal(parse(&rt, "{'version':'1',\n'services':[],\n'workloads':[1,]}", err, NULL),
			 -EINVAL);
	assert_string_equal(err, "line 3, column 16: unexpected character");
}

static void test_syntax_other(void **state)
{
	struct mw_routes rt;
	char err[512];

	assert_int_equal(parse_raw(&rt, "{\"version\": \"1\",\n  \"services\": [", err, sizeof(err),
				   NULL), -EINVAL);
	assert_string_equal(err, "line 2, column 16: unexpected end of data");
	assert_int_equal(parse_raw(&rt, "", err, sizeof(err), NULL), -EINVAL);
	assert_string_equal(err, "line 1, column 1: unexpected end of data");
	assert_int_equal(parse_raw(&rt, "{\"version\": \"1\"}\n}", err, sizeof(err), NULL),
			 -EINVAL);
	assert_string_equal(err, "line 2, column 1: unexpected character");
	/* json-c would keep the second silently. */
	assert_int_equal(parse_raw(&rt, "{\"version\": \"1\",\n \"version\": \"2\"}", err,
				   sizeof(err), NULL), -EINVAL);
	assert_string_equal(err, "line 2, column 2: duplicate key \"version\"");
	assert_int_equal(parse_raw(&rt, "{\"version\": \"1\", \"workloads\": [{\"workload\": \"w\", "
				   "\"rules\": [{\"match\": {\"port\": 1, \"port\": 2}, "
				   "\"action\": \"bypass\"}]}]}", err, sizeof(err), NULL), -EINVAL);
	assert_string_equal(err, "line 1, column 82: duplicate key \"port\"");
	/* Keys equal in different objects are fine; so are quotes inside strings. */
	assert_int_equal(parse_raw(&rt, "{\"version\": \"a \\\"b\\\" 'c' {\", \"workloads\": "
				   "[{\"workload\": \"w\", \"rules\": []}, {\"workload\": \"v\", "
				   "\"rules\": []}]}", err, sizeof(err), NULL), 0);
	assert_string_equal(rt.version, "a \"b\" 'c' {");
	mw_routes_free(&rt);
	/* json-c takes a single-quoted key (not a value); JSON does not. */
	assert_int_equal(parse_raw(&rt, "{'version': \"1\"}", err, sizeof(err), NULL), -EINVAL);
	assert_string_equal(err, "line 1, column 2: strings take double quotes");
	assert_int_equal(parse_raw(&rt, "{\"version\": \"\xff\"}", err, sizeof(err), NULL), -EINVAL);
	assert_string_equal(err, "line 1, column 14: invalid utf-8 string");
}

/*
 * The reader's edges (userspace/lib/routes_json.c, yajl underneath): each refusal, where
 * it points.
 */
static void test_syntax_reader(void **state)
{
	static const struct {
		const char *doc, *msg;
	} bad[] = {
		{ "{\"version\": \"1\",}", "line 1, column 17: unexpected character" },
		{ "{version: \"1\"}", "line 1, column 2: quoted object property name expected" },
		{ "{\"version\": \"1\" \"x\": 1}",
		  "line 1, column 17: object value separator ',' expected" },
		{ "{\"version\": \"1\", \"services\": [{} {}]}",
		  "line 1, column 34: array value separator ',' expected" },
		{ "{\"version\": tru}", "line 1, column 16: boolean expected" },
		{ "{\"version\": nul}", "line 1, column 16: null expected" },
		{ "{\"version\": 01}", "line 1, column 14: object value separator ',' expected" },
		{ "{\"version\": -x}", "line 1, column 14: number expected" },
		{ "{\"version\": 1.}", "line 1, column 15: number expected" },
		{ "{\"version\": 'a'}", "line 1, column 13: strings take double quotes" },
		{ "{\"version\": \"a\tb\"}", "line 1, column 15: invalid string sequence" },
		{ "{\"version\": \"a\\qb\"}", "line 1, column 15: invalid string sequence" },
		{ "{\"version\": \"\\u0000\"}", "line 1, column 14: invalid string sequence" },
		{ "{\"version\": \"\\udc00\"}", "line 1, column 14: invalid string sequence" },
		{ "{\"version\": \"\\ud800x\"}", "line 1, column 14: invalid string sequence" },
		{ "{\"version\": \"\xc0\x80\"}", "line 1, column 14: invalid utf-8 string" },
		{ "{\"version\": \"\xed\xa0\x80\"}", "line 1, column 14: invalid utf-8 string" },
		{ "{\"version\": \"ab", "line 1, column 16: unexpected end of data" },
		{ "{\"version\": 1.", "line 1, column 15: unexpected end of data" },
		{ "{\"version\" x}", "line 1, column 12: object property name separator ':' expected" },
		{ "{\"version\": \"1\" x}", "line 1, column 17: object value separator ',' expected" },
		{ "{\"version\": \"1\", \"services\": [{} x]}",
		  "line 1, column 34: array value separator ',' expected" },
		{ "{\"version\": \"\\u00e9\\u\"}", "line 1, column 20: invalid string sequence" },
		/* An escaped name is compared decoded. */
		{ "{\"vers\\u0069on\": \"1\", \"version\": \"2\"}",
		  "line 1, column 23: duplicate key \"version\"" },
		/* yajl's own words where json-c has none. */
		{ "{\"version\": /* 1 */ \"1\"}",
		  "line 1, column 13: probable comment found in input text, comments are not enabled" },
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		  "line 1, column 33: nesting too deep" },
	};
	struct mw_routes rt;
	char err[512];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(parse_raw(&rt, bad[i].doc, err, sizeof(err), NULL), -EINVAL);
		assert_string_equal(err, bad[i].msg);
	}
	/* Escapes decode to UTF-8; a pair of surrogates is one character. */
	assert_int_equal(parse_raw(&rt, "{\"version\": \"a\\u00e9\\ud83d\\ude00\\n\\/\xc3\xa9\"}",
				   err, sizeof(err), NULL), 0);
	assert_string_equal(rt.version, "a\xc3\xa9\xf0\x9f\x98\x80\n/\xc3\xa9");
	mw_routes_free(&rt);
	/* 31 levels are fine (then "document: not an object"), numbers past int64 are
	 * out of range as written, a fraction is not an integer. */
	assert_int_equal(parse_raw(&rt, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
				   err, sizeof(err), NULL), -EINVAL);
	assert_string_equal(err, "document: not an object");
	assert_int_equal(parse_raw(&rt, "{\"version\": \"1\", \"services\": [{\"name\": \"s\", "
				   "\"ports\": [99999999999999999999]}]}", err, sizeof(err), NULL),
			 -EINVAL);
	assert_string_equal(err, "services[0].ports[0]: 99999999999999999999 out of range");
	assert_int_equal(parse_raw(&rt, "{\"version\": \"1\", \"services\": [{\"name\": \"s\", "
				   "\"ports\": [-9223372036854775808, 80]}]}", err, sizeof(err), NULL),
			 -EINVAL);
	assert_string_equal(err, "services[0].ports[0]: -9223372036854775808 out of range");
	assert_int_equal(parse_raw(&rt, "{\"version\": \"1\", \"services\": [{\"name\": \"s\", "
				   "\"ports\": [8e1]}]}", err, sizeof(err), NULL), -EINVAL);
	assert_string_equal(err, "services[0].ports[0]: not an integer");
}

static void test_unknown_keys(void **state)
{
	expect_error("{'versoin':'1'}", "versoin: unknown key");
	expect_error("{'version':'1','workloads':[{'workload':'w','rules':["
		     "{'match':{'prot':80},'action':'bypass'}]}]}",
		     "workloads[0].rules[0].match.prot: unknown key");
	expect_error("{'version':'1','workloads':[{'workload':'w','rules':["
		     "{'match':{},'action':{'drop':true}}]}]}",
		     "workloads[0].rules[0].action.drop: unknown key");
	expect_error("{'version':'1','workloads':[{'workload':'w','rules':["
		     "{'match':{},'action':'bypass','comment':'x'}]}]}",
		     "workloads[0].rules[0].comment: unknown key");
	expect_error("{'version':'1','workloads':[{'workload':'w','rule':[]}]}",
		     "workloads[0].rule: unknown key");
	expect_error("{'version':'1','services':[{'name':'s','adresses':[]}]}",
		     "services[0].adresses: unknown key");
	expect_error("{'version':'1','services':[{'name':'s','versions':[{'name':'v1',"
		     "'wieght':1}]}]}", "services[0].versions[0].wieght: unknown key");
}

/* Wraps one rule into a document with services s4 (IPv4, versions), s6 (IPv6,
 * versions), plain (no versions) and bare (no addresses). */
#define SVCS "'services':[" \
	"{'name':'s4','addresses':['10.96.0.10'],'ports':[80],'versions':[{'name':'v1','weight':1," \
	"'endpoints':['10.1.1.1:80']}]}," \
	"{'name':'s6','addresses':['fd00::10'],'versions':[{'name':'v1','weight':1," \
	"'endpoints':['[fd00::1]:80']}]}," \
	"{'name':'plain','addresses':['10.96.0.11']},{'name':'bare'}]"
#define RULE(m, a) "{'version':'1'," SVCS ",'workloads':[{'workload':'web','rules':[" \
	"{'match':{'destination':'10.0.0.0/8'},'action':'bypass'}," \
	"{'match':" m ",'action':" a "}]}]}"
#define SVC(s) "{'version':'1','services':[" s "]}"

struct err_case {
	const char *doc;
	const char *msg;
};

static const struct err_case semantic_cases[] = {
	/* the document */
	{ "[]", "document: not an object" },
	{ "{}", "version: missing" },
	{ "{'version':1}", "version: not a string" },
	{ "{'version':''}", "version: empty" },
	{ "{'version':'1','services':{}}", "services: not an array" },
	{ "{'version':'1','workloads':[{'workload':'w'}]}", "workloads[0].rules: missing" },
	{ "{'version':'1','workloads':[{'rules':[]}]}", "workloads[0].workload: missing" },
	{ "{'version':'1','workloads':[{'workload':'w','rules':{}}]}",
	  "workloads[0].rules: not an array" },
	{ "{'version':'1','workloads':[{'workload':'w','rules':[[]]}]}",
	  "workloads[0].rules[0]: not an object" },
	{ "{'version':'1','workloads':[{'workload':'"
	  "0123456789012345678901234567890123456789012345678901234567890123','rules':[]}]}",
	  "workloads[0].workload: longer than 63 characters" },
	{ "{'version':'1','workloads':[{'workload':'','rules':[]}]}",
	  "workloads[0].workload: empty" },
	{ "{'version':'1','workloads':[{'workload':'web','rules':[]},{'workload':'*','rules':[]},"
	  "{'workload':'web','rules':[]}]}",
	  "workloads[2].workload: \"web\" already has workloads[0]" },
	/* services */
	{ SVC("{'name':'reviews'},{'name':'r'},{'name':'reviews'}"),
	  "services[2].name: \"reviews\" already names services[0]" },
	{ SVC("{'addresses':[]}"), "services[0].name: missing" },
	{ SVC("{'name':'s','addresses':['10.0.0.300']}"),
	  "services[0].addresses[0]: \"10.0.0.300\" is not an address or CIDR block" },
	{ SVC("{'name':'s','addresses':['10.0.0.0/8','fd00::1']}"),
	  "services[0].addresses[1]: IPv6 address in an IPv4 service" },
	{ SVC("{'name':'s','ports':[]}"),
	  "services[0].ports: empty (leave it out for every port)" },
	{ SVC("{'name':'s','ports':[0]}"), "services[0].ports[0]: 0 out of range" },
	{ SVC("{'name':'s','versions':[]}"), "services[0].versions: weights add up to 0" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':0}]}"),
	  "services[0].versions: weights add up to 0" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':600000,'endpoints':['1.1.1.1:1']},"
	      "{'name':'b','weight':400001,'endpoints':['1.1.1.2:1']}]}"),
	  "services[0].versions: weights add up to 1000001, more than 1000000" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1000001}]}"),
	  "services[0].versions[0].weight: 1000001 out of range" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':-1}]}"),
	  "services[0].versions[0].weight: -1 out of range" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1.5}]}"),
	  "services[0].versions[0].weight: not an integer" },
	{ SVC("{'name':'s','versions':[{'name':'a'}]}"), "services[0].versions[0].weight: missing" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':10}]}"),
	  "services[0].versions[0].endpoints: none for a weight of 10" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1,'endpoints':['1.1.1.1:1']},"
	      "{'name':'a','weight':1,'endpoints':['1.1.1.2:1']}]}"),
	  "services[0].versions[1].name: \"a\" already names services[0].versions[0]" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1,'endpoints':['10.0.0.1']}]}"),
	  "services[0].versions[0].endpoints[0]: \"10.0.0.1\" is not address:port" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1,'endpoints':['fd00::1:80']}]}"),
	  "services[0].versions[0].endpoints[0]: \"fd00::1:80\" is not address:port" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1,'endpoints':['10.0.0.1:0']}]}"),
	  "services[0].versions[0].endpoints[0]: \"10.0.0.1:0\" is not address:port" },
	{ SVC("{'name':'s','addresses':['10.0.0.1'],'versions':[{'name':'a','weight':1,"
	      "'endpoints':['[fd00::1]:80']}]}"),
	  "services[0].versions[0].endpoints[0]: IPv6 endpoint in an IPv4 service" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1,'endpoints':['[fd00::1]:80',"
	      "'10.0.0.1:80']}]}"),
	  "services[0].versions[0].endpoints[1]: IPv4 endpoint in an IPv6 service" },
	{ SVC("{'name':'s','versions':[{'name':'a','weight':1,'endpoints':['1.1.1.1:1',"
	      "'1.1.1.1:2','1.1.1.1:3','1.1.1.1:4','1.1.1.1:5','1.1.1.1:6','1.1.1.1:7',"
	      "'1.1.1.1:8','1.1.1.1:9']},{'name':'b','weight':1,'endpoints':['1.1.1.1:10',"
	      "'1.1.1.1:11','1.1.1.1:12','1.1.1.1:13','1.1.1.1:14','1.1.1.1:15','1.1.1.1:16',"
	      "'1.1.1.1:17']}]}"),
	  "services[0].versions: 17 endpoints with a weight, the kernel takes at most 16" },
	/* match */
	{ RULE("{'port':70000}", "'bypass'"), "workloads[0].rules[1].match.port: 70000 out of range" },
	{ RULE("{'port':'80'}", "'bypass'"), "workloads[0].rules[1].match.port: not an integer" },
	{ RULE("{'ports':'9000-8000'}", "'bypass'"),
	  "workloads[0].rules[1].match.ports: \"9000-8000\": 9000 is above 8000" },
	{ RULE("{'ports':'80-x'}", "'bypass'"),
	  "workloads[0].rules[1].match.ports: \"80-x\" is not a port or a range lo-hi" },
	{ RULE("{'ports':'0-80'}", "'bypass'"),
	  "workloads[0].rules[1].match.ports: \"0-80\" is not a port or a range lo-hi" },
	{ RULE("{'ports':65536}", "'bypass'"),
	  "workloads[0].rules[1].match.ports: 65536 out of range" },
	{ RULE("{'ports':[80]}", "'bypass'"),
	  "workloads[0].rules[1].match.ports: not a port or a range \"lo-hi\"" },
	{ RULE("{'port':80,'ports':'80-81'}", "'bypass'"),
	  "workloads[0].rules[1].match: \"port\" and \"ports\" together" },
	{ RULE("{'service':'s4','destination':'10.0.0.1'}", "'bypass'"),
	  "workloads[0].rules[1].match: \"service\" and \"destination\" together" },
	{ RULE("{'service':'s4','port':80}", "'bypass'"),
	  "workloads[0].rules[1].match: \"service\" and \"port\" together (the service names its ports)" },
	{ RULE("{'destination':'10.0.0.1/8'}", "'bypass'"),
	  "workloads[0].rules[1].match.destination: \"10.0.0.1/8\" has host bits set" },
	{ RULE("{'destination':'10.0.0.0/33'}", "'bypass'"),
	  "workloads[0].rules[1].match.destination: \"10.0.0.0/33\" is not an address or CIDR block" },
	{ RULE("{'destination':'fd00::1/8'}", "'bypass'"),
	  "workloads[0].rules[1].match.destination: \"fd00::1/8\" has host bits set" },
	{ RULE("{'service':'ratings'}", "'bypass'"),
	  "workloads[0].rules[1].match.service: no service named \"ratings\"" },
	{ RULE("{'service':'bare'}", "'bypass'"),
	  "workloads[0].rules[1].match.service: service \"bare\" has no addresses" },
	{ RULE("[]", "'bypass'"), "workloads[0].rules[1].match: not an object" },
	{ "{'version':'1','workloads':[{'workload':'w','rules':[{'action':'bypass'}]}]}",
	  "workloads[0].rules[0].match: missing" },
	{ "{'version':'1','workloads':[{'workload':'w','rules':[{'match':{}}]}]}",
	  "workloads[0].rules[0].action: missing" },
	/* action */
	{ RULE("{}", "'drop'"),
	  "workloads[0].rules[1].action: \"drop\" is not an action (\"bypass\", \"sidecar\", or one "
	  "of {\"sidecar\": port}, {\"reject\": errno}, {\"forward\": service})" },
	{ RULE("{}", "7"), "workloads[0].rules[1].action: not a string or an object" },
	{ RULE("{}", "{}"), "workloads[0].rules[1].action: 0 actions, one needed" },
	{ RULE("{}", "{'bypass':true,'sidecar':true}"),
	  "workloads[0].rules[1].action: 2 actions, one needed" },
	{ RULE("{}", "{'sidecar':false}"), "workloads[0].rules[1].action.sidecar: true or a port" },
	{ RULE("{}", "{'sidecar':0}"), "workloads[0].rules[1].action.sidecar: 0 out of range" },
	{ RULE("{}", "{'bypass':false}"), "workloads[0].rules[1].action.bypass: true only" },
	{ RULE("{}", "{'reject':'EIO'}"),
	  "workloads[0].rules[1].action.reject: \"EIO\" is not one of ECONNREFUSED, EHOSTUNREACH, "
	  "ENETUNREACH, EACCES, EPERM, ETIMEDOUT" },
	{ RULE("{}", "{'reject':111}"), "workloads[0].rules[1].action.reject: not a string" },
	{ RULE("{'destination':'10.0.0.0/8'}", "{'forward':'ratings'}"),
	  "workloads[0].rules[1].action.forward: no service named \"ratings\"" },
	{ RULE("{'destination':'10.0.0.0/8'}", "{'forward':'plain'}"),
	  "workloads[0].rules[1].action.forward: service \"plain\" has no versions" },
	{ RULE("{}", "{'forward':'s4'}"),
	  "workloads[0].rules[1].action.forward: the rule matches IPv4 and IPv6, service \"s4\" only IPv4" },
	{ RULE("{'port':80}", "{'forward':'s6'}"),
	  "workloads[0].rules[1].action.forward: the rule matches IPv4 and IPv6, service \"s6\" only IPv6" },
	{ RULE("{'destination':'fd00::/8'}", "{'forward':'s4'}"),
	  "workloads[0].rules[1].action.forward: the rule matches IPv6, service \"s4\" only IPv4" },
	{ RULE("{'service':'s4'}", "{'forward':'s6'}"),
	  "workloads[0].rules[1].action.forward: the rule matches IPv4, service \"s6\" only IPv6" },
};

static void test_semantic_errors(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(semantic_cases); i++)
		expect_error(semantic_cases[i].doc, semantic_cases[i].msg);
}

/* Valid edge cases next to the errors above. */
static void test_parse_accepts(void **state)
{
	struct mw_routes rt;
	char err[512];

	assert_int_equal(parse(&rt, RULE("{'ports':'1-65535'}", "{'sidecar':true}"), err, NULL), 0);
	assert_int_equal(rt.workloads[0].rules[1].port_lo, 1);
	mw_routes_free(&rt);
	assert_int_equal(parse(&rt, RULE("{'ports':8080}", "{'bypass':true}"), err, NULL), 0);
	assert_int_equal(rt.workloads[0].rules[1].port_hi, 8080);
	mw_routes_free(&rt);
	assert_int_equal(parse(&rt, RULE("{'destination':'10.0.0.0/8'}", "{'forward':'s4'}"), err,
			       NULL), 0);
	assert_int_equal(rt.workloads[0].rules[1].svc, 0);
	mw_routes_free(&rt);
	assert_int_equal(parse(&rt, RULE("{'service':'s6'}", "{'forward':'s6'}"), err, NULL), 0);
	assert_int_equal(rt.workloads[0].rules[1].svc, 1);
	mw_routes_free(&rt);
	assert_int_equal(parse(&rt, RULE("{'destination':'::ffff:10.1.0.0/112'}",
					 "{'reject':'ETIMEDOUT'}"), err, NULL), 0);
	assert_true(rt.workloads[0].rules[1].dst.is_v4);
	assert_int_equal(rt.workloads[0].rules[1].err, ETIMEDOUT);
	mw_routes_free(&rt);
	/* A workload name of 63 characters; a version of weight 0 without endpoints. */
	assert_int_equal(parse(&rt, "{'version':'1','services':[{'name':'s','versions':["
			       "{'name':'a','weight':0},{'name':'b','weight':5,'endpoints':"
			       "['[::ffff:10.0.0.1]:80']}]}],'workloads':[{'workload':'"
			       "012345678901234567890123456789012345678901234567890123456789012',"
			       "'rules':[]}]}", err, NULL), 0);
	assert_int_equal(strlen(rt.workloads[0].name), 63);
	assert_int_equal(rt.services[0].versions[1].eps[0].addr[15], 1);
	mw_routes_free(&rt);
}

/* Unreachable and overlapping rules, exactly, one warning per rule at most. */
static void test_warnings(void **state)
{
	static const char doc[] =
		"{'version':'1','services':["
		" {'name':'s','addresses':['172.16.0.0/12','172.16.1.0/24']},"
		" {'name':'t','addresses':['10.5.0.1','10.6.0.1']}],"
		"'workloads':[{'workload':'web','rules':["
		" {'match':{'destination':'10.0.0.0/8'},'action':'bypass'},"
		" {'match':{'destination':'10.1.0.0/16','port':80},'action':{'reject':'EPERM'}},"
		" {'match':{'ports':'1-100'},'action':'sidecar'},"
		" {'match':{'destination':'192.168.0.0/16','port':50},'action':'sidecar'},"
		" {'match':{'destination':'fd00::/8'},'action':'bypass'},"
		" {'match':{'destination':'::/0','port':443},'action':{'reject':'EACCES'}},"
		" {'match':{'destination':'10.2.0.0/16','port':443},'action':'bypass'},"
		" {'match':{'service':'s'},'action':'sidecar'},"
		" {'match':{'service':'t'},'action':{'reject':'EPERM'}},"
		" {'match':{'destination':'10.0.0.0/8','port':22},'action':'bypass'}]},"
		" {'workload':'*','rules':[{'match':{'destination':'10.0.0.0/8'},"
		"  'action':{'reject':'EPERM'}}]}]}";
	static const char *const want[] = {
		"workloads[0].rules[1]: unreachable: workloads[0].rules[0] matches all it matches",
		"workloads[0].rules[2]: overlaps workloads[0].rules[0], which has a different action",
		"workloads[0].rules[3]: unreachable: workloads[0].rules[2] matches all it matches",
		"workloads[0].rules[4]: overlaps workloads[0].rules[2], which has a different action",
		"workloads[0].rules[5]: overlaps workloads[0].rules[4], which has a different action",
		"workloads[0].rules[6]: unreachable: workloads[0].rules[0] matches all it matches",
		"workloads[0].rules[8]: unreachable: workloads[0].rules[0] matches all it matches",
		"workloads[0].rules[9]: unreachable: workloads[0].rules[0] matches all it matches",
	};
	struct mw_routes rt;
	struct warns w = {};
	char err[512];
	size_t i;

	assert_int_equal(parse(&rt, doc, err, &w), 0);
	for (i = 0; i < (size_t)w.n && i < ARRAY_SIZE(want); i++)
		assert_string_equal(w.msg[i], want[i]);
	assert_int_equal(w.n, ARRAY_SIZE(want));
	mw_routes_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Compiling */

/* Every entry of a small table, byte by byte. */
static void test_compile_small(void **state)
{
	static const char doc[] =
		"{'version':'1','services':[{'name':'reviews','addresses':['10.96.0.10'],"
		"'ports':[9080],'versions':[{'name':'v1','weight':90,'endpoints':['10.250.5.2:9080']},"
		"{'name':'v2','weight':10,'endpoints':['10.250.6.2:9080','10.250.6.3:9080']}]}],"
		"'workloads':[{'workload':'web','rules':["
		"{'match':{'service':'reviews'},'action':{'forward':'reviews'}},"
		"{'match':{'destination':'10.0.0.0/8','ports':'8000-8999'},"
		" 'action':{'reject':'ECONNREFUSED'}},"
		"{'match':{'destination':'10.1.0.0/16'},'action':'bypass'},"
		"{'match':{'port':5432},'action':{'sidecar':15006}},"
		"{'match':{'destination':'fd00::/8'},'action':{'reject':'EHOSTUNREACH'}}]}]}";
	static const uint16_t ports[] = { 22 };
	static const char *const ips[] = { "169.254.169.254", "10.1.2.0/24" };
	const struct mw_rule_ent r0 = ent(9080, 9080, MW_ACT_FORWARD, MW_R_FORWARD, 0, 0, 1);
	const struct mw_rule_ent r1 = ent(8000, 8999, MW_ACT_REJECT, MW_R_REJECT, 0, ECONNREFUSED, 0);
	const struct mw_rule_ent r2 = ent(0, FULL, MW_ACT_BYPASS, MW_R_RULE, 0, 0, 0);
	const struct mw_rule_ent r3 = ent(5432, 5432, MW_ACT_REDIRECT, MW_R_REDIRECT, 15006, 0, 0);
	const struct mw_rule_ent r4 = ent(0, FULL, MW_ACT_REJECT, MW_R_REJECT, 0, EHOSTUNREACH, 0);
	struct mw_port_key pk;
	struct test_cfg cfg;
	struct mw_table t, env_only;
	char err[512];

	cfg_init(&cfg, ports, 1, ips, 2);
	assert_int_equal(compile_doc(doc, "web", &cfg.cfg, &t, err), 0);

	/* wl and ports: those of the App Mesh config. */
	assert_int_equal(mw_table_compile(&cfg.cfg, NETNS, 0, &env_only), 0);
	assert_memory_equal(&t.wl, &env_only.wl, sizeof(t.wl));
	assert_int_equal(t.n_ports, 1);
	memset(&pk, 0, sizeof(pk));
	pk.netns = NETNS;
	pk.port = htons(22);
	pk.dir = MW_DIR_EGRESS;
	assert_memory_equal(&t.ports[0].key, &pk, sizeof(pk));
	assert_int_equal(t.ports[0].rule.action, MW_ACT_BYPASS);
	assert_int_equal(t.ports[0].rule.reason, MW_R_PORT);
	mw_table_free(&env_only);

	/* The rule without destination reaches IPv6 at ::/0 and IPv4 at ::ffff:0:0/96;
	 * an IPv4 block starts from the latter, an IPv6 block from the former. */
	assert_int_equal(t.n_cidrs, 8);
	expect_list(&t, key6(0, 0, 0), (struct mw_rule_ent[]){ r3 }, 1);
	expect_list(&t, key4(0, 0, 0, 0, 0), (struct mw_rule_ent[]){ r3 }, 1);
	expect_list(&t, key4(10, 0, 0, 0, 8), (struct mw_rule_ent[]){ r1, r3 }, 2);
	/* The bypass for every port ends the list: rules[3] and the ignored 10.1.2.0/24 go. */
	expect_list(&t, key4(10, 1, 0, 0, 16), (struct mw_rule_ent[]){ r1, r2 }, 2);
	expect_list(&t, key4(10, 1, 2, 0, 24), (struct mw_rule_ent[]){ r1, r2 }, 2);
	expect_list(&t, key4(10, 96, 0, 10, 32), (struct mw_rule_ent[]){ r0, r1, r3 }, 3);
	/* Route rules first, then the ignored addresses. */
	expect_list(&t, key4(169, 254, 169, 254, 32), (struct mw_rule_ent[]){ r3, BYPASS_ADDR }, 2);
	expect_list(&t, key6(0xfd, 0, 8), (struct mw_rule_ent[]){ r3, r4 }, 2);

	/* Forwarded service: id 1, 90 to v1's endpoint, 10 shared by v2's two. */
	assert_int_equal(t.n_svcs, 1);
	assert_int_equal(t.svcs[0].key.netns, NETNS);
	assert_int_equal(t.svcs[0].key.gen, 0);
	assert_int_equal(t.svcs[0].key.id, 1);
	assert_int_equal(t.svcs[0].svc.n, 3);
	assert_int_equal(t.svcs[0].svc.total_weight, 100);
	assert_int_equal(t.svcs[0].svc.ep[0].cum_weight, 90);
	assert_int_equal(t.svcs[0].svc.ep[1].cum_weight, 95);
	assert_int_equal(t.svcs[0].svc.ep[2].cum_weight, 100);
	assert_int_equal(t.svcs[0].svc.ep[2].port, htons(9080));
	assert_int_equal(t.svcs[0].svc.ep[2].addr[10], 0xff);
	assert_int_equal(t.svcs[0].svc.ep[2].addr[15], 3);
	assert_int_equal(t.svcs[0].svc.ep[2].pad, 0);

	/* Another workload gets only the App Mesh part. */
	mw_table_free(&t);
	assert_int_equal(compile_doc(doc, "api", &cfg.cfg, &t, err), 0);
	assert_int_equal(t.n_cidrs, 2);
	assert_int_equal(t.n_svcs, 0);
	expect_list(&t, key4(169, 254, 169, 254, 32), (struct mw_rule_ent[]){ BYPASS_ADDR }, 1);
	mw_table_free(&t);
}

/* An IPv6 rule that covers the IPv4 space does not decide for IPv4. */
static void test_compile_v4_guard(void **state)
{
	const struct mw_rule_ent v6 = ent(0, FULL, MW_ACT_REJECT, MW_R_REJECT, 0, EACCES, 0);
	const struct mw_rule_ent by = ent(0, FULL, MW_ACT_BYPASS, MW_R_RULE, 0, 0, 0);
	const struct mw_rule_ent sc = ent(0, FULL, MW_ACT_REDIRECT, MW_R_REDIRECT, 0, 0, 0);
	struct test_cfg cfg;
	struct mw_table t;
	char err[512];

	cfg_init(&cfg, NULL, 0, NULL, 0);
	assert_int_equal(compile_doc("{'version':'1','workloads':[{'workload':'w','rules':["
				     "{'match':{'destination':'::/0'},'action':{'reject':'EACCES'}},"
				     "{'match':{'destination':'10.0.0.0/8'},'action':'bypass'}]}]}",
				     "w", &cfg.cfg, &t, err), 0);
	assert_int_equal(t.n_cidrs, 3);
	expect_list(&t, key6(0, 0, 0), &v6, 1);
	/* IPv4 outside 10/8 meets the guard (redirect), not the IPv6 reject. */
	expect_list(&t, key4(0, 0, 0, 0, 0), (struct mw_rule_ent[]){ GUARD }, 1);
	expect_list(&t, key4(10, 0, 0, 0, 8), &by, 1);
	mw_table_free(&t);

	/* With a rule for everything, IPv4 gets that rule and IPv6 both, in order. */
	assert_int_equal(compile_doc("{'version':'1','workloads':[{'workload':'w','rules':["
				     "{'match':{'destination':'::/0','port':443},"
				     " 'action':{'reject':'EACCES'}},"
				     "{'match':{},'action':'sidecar'}]}]}",
				     "w", &cfg.cfg, &t, err), 0);
	assert_int_equal(t.n_cidrs, 2);
	expect_list(&t, key6(0, 0, 0),
		    (struct mw_rule_ent[]){ ent(443, 443, MW_ACT_REJECT, MW_R_REJECT, 0, EACCES, 0),
					    sc }, 2);
	expect_list(&t, key4(0, 0, 0, 0, 0), &sc, 1);
	mw_table_free(&t);

	/* An ignored ::/80 from the App Mesh variables: the same guard as mw_table_compile. */
	{
		static const char *const ips[] = { "::/80" };
		struct mw_table env_only;

		cfg_init(&cfg, NULL, 0, ips, 1);
		assert_int_equal(compile_doc("{'version':'1','workloads':[{'workload':'w','rules':["
					     "{'match':{'destination':'10.0.0.0/8'},'action':'bypass'}"
					     "]}]}", "w", &cfg.cfg, &t, err), 0);
		assert_int_equal(t.n_cidrs, 3);
		expect_list(&t, key6(0, 0, 80), (struct mw_rule_ent[]){ BYPASS_ADDR }, 1);
		expect_list(&t, key4(0, 0, 0, 0, 0), (struct mw_rule_ent[]){ GUARD }, 1);
		expect_list(&t, key4(10, 0, 0, 0, 8), &by, 1);
		mw_table_free(&t);

		assert_int_equal(mw_table_compile(&cfg.cfg, NETNS, 0, &env_only), 0);
		assert_int_equal(env_only.n_cidrs, 2);
		mw_table_free(&env_only);
	}
}

/* Without rules, the compile is mw_table_compile's, byte for byte. */
static void test_compile_env_only(void **state)
{
	static const uint16_t ports[] = { 22, 5432 };
	static const char *const ips[] = {
		"169.254.169.254", "fd00::/8", "169.254.169.254", "10.0.0.0/8", "10.1.0.0/16",
		"::/0", "169.254.170.2",
	};
	struct mw_table a, b;
	struct mw_routes rt;
	struct test_cfg cfg;
	char err[512];
	size_t i;

	cfg_init(&cfg, ports, 2, ips, ARRAY_SIZE(ips));
	cfg.cfg.ingress_port = 15000;
	cfg.cfg.app_ports = cfg.ports;
	cfg.cfg.n_app_ports = 1;
	assert_int_equal(parse(&rt, "{'version':'1'}", err, NULL), 0);
	assert_int_equal(mw_routes_compile(&rt, "w", &cfg.cfg, NETNS, &a, err, sizeof(err)), 0);
	assert_int_equal(mw_table_compile(&cfg.cfg, NETNS, 0, &b), 0);
	assert_memory_equal(&a.wl, &b.wl, sizeof(a.wl));
	assert_int_equal(a.n_ports, b.n_ports);
	assert_memory_equal(a.ports, b.ports, a.n_ports * sizeof(*a.ports));
	assert_int_equal(a.n_cidrs, b.n_cidrs);
	/* mw_table_compile sorts by key bytes; the routes compile by address. */
	qsort(a.cidrs, a.n_cidrs, sizeof(*a.cidrs), cmp_cidr_entry);
	for (i = 0; i < a.n_cidrs; i++) {
		assert_memory_equal(&a.cidrs[i].key, &b.cidrs[i].key, sizeof(a.cidrs[i].key));
		assert_memory_equal(&a.cidrs[i].list, &b.cidrs[i].list, sizeof(a.cidrs[i].list));
	}
	assert_int_equal(a.n_svcs, 0);
	mw_table_free(&a);
	mw_table_free(&b);
	mw_routes_free(&rt);
}

/* The workload's own rules, then those for every workload; "*" compiles once. */
static void test_compile_order(void **state)
{
	static const char doc[] =
		"{'version':'1','workloads':["
		"{'workload':'*','rules':[{'match':{'destination':'10.0.0.0/8'},'action':'bypass'}]},"
		"{'workload':'web','rules':[{'match':{'destination':'10.0.0.0/8','port':80},"
		" 'action':{'reject':'EPERM'}}]}]}";
	const struct mw_rule_ent rj = ent(80, 80, MW_ACT_REJECT, MW_R_REJECT, 0, EPERM, 0);
	const struct mw_rule_ent by = ent(0, FULL, MW_ACT_BYPASS, MW_R_RULE, 0, 0, 0);
	struct test_cfg cfg;
	struct mw_table t;
	char err[512];

	cfg_init(&cfg, NULL, 0, NULL, 0);
	assert_int_equal(compile_doc(doc, "web", &cfg.cfg, &t, err), 0);
	expect_list(&t, key4(10, 0, 0, 0, 8), (struct mw_rule_ent[]){ rj, by }, 2);
	mw_table_free(&t);
	assert_int_equal(compile_doc(doc, "*", &cfg.cfg, &t, err), 0);
	expect_list(&t, key4(10, 0, 0, 0, 8), &by, 1);
	mw_table_free(&t);
	assert_int_equal(compile_doc(doc, "api", &cfg.cfg, &t, err), 0);
	expect_list(&t, key4(10, 0, 0, 0, 8), &by, 1);
	mw_table_free(&t);
}

/* More rules for one destination than the kernel's list holds. */
static void test_compile_limit(void **state)
{
	static const char *const ips[] = { "10.0.0.0/8" };
	struct test_cfg cfg;
	struct mw_table t;
	char doc[4096], err[512];
	size_t pos, i;

	cfg_init(&cfg, NULL, 0, NULL, 0);
	pos = (size_t)snprintf(doc, sizeof(doc), "{'version':'1','workloads':[{'workload':'w','rules':[");
	for (i = 0; i < 9; i++)
		pos += (size_t)snprintf(doc + pos, sizeof(doc) - pos,
					"%s{'match':{'destination':'10.0.0.0/8','port':%zu},"
					"'action':'bypass'}", i ? "," : "", 100 + i);
	snprintf(doc + pos, sizeof(doc) - pos, "]}]}");
	assert_int_equal(compile_doc(doc, "w", &cfg.cfg, &t, err), -EINVAL);
	assert_string_equal(err, "destination 10.0.0.0/8: 9 rules apply (workloads[0].rules[0], "
			    "workloads[0].rules[1], workloads[0].rules[2], workloads[0].rules[3], "
			    "workloads[0].rules[4], workloads[0].rules[5], workloads[0].rules[6], "
			    "workloads[0].rules[7], workloads[0].rules[8]), the kernel takes at most 8");
	assert_int_equal(t.n_cidrs + t.n_ports, 0);
	assert_null(t.cidrs);

	/* Spread over the chain (rules without destination, an enclosing block) and with
	 * an ignored address as the ninth; eleven names shorten to nine. */
	cfg_init(&cfg, NULL, 0, ips, 1);
	pos = (size_t)snprintf(doc, sizeof(doc), "{'version':'1','workloads':[{'workload':'w','rules':[");
	for (i = 0; i < 4; i++)
		pos += (size_t)snprintf(doc + pos, sizeof(doc) - pos,
					"{'match':{'port':%zu},'action':'bypass'},", 100 + i);
	for (i = 0; i < 4; i++)
		pos += (size_t)snprintf(doc + pos, sizeof(doc) - pos,
					"{'match':{'destination':'10.1.0.0/16','port':%zu},"
					"'action':'bypass'},", 200 + i);
	snprintf(doc + pos, sizeof(doc) - pos, "{'match':{'destination':'10.1.2.3'},'action':'bypass'},"
		 "{'match':{'destination':'10.1.2.3','port':1},'action':'bypass'}]}]}");
	assert_int_equal(compile_doc(doc, "w", &cfg.cfg, &t, err), -EINVAL);
	assert_string_equal(err, "destination 10.1.0.0/16: 9 rules apply (workloads[0].rules[0], "
			    "workloads[0].rules[1], workloads[0].rules[2], workloads[0].rules[3], "
			    "workloads[0].rules[4], workloads[0].rules[5], workloads[0].rules[6], "
			    "workloads[0].rules[7], APPMESH_EGRESS_IGNORED_IP 10.0.0.0/8), "
			    "the kernel takes at most 8");

	/* Eight fit. */
	cfg_init(&cfg, NULL, 0, NULL, 0);
	pos = (size_t)snprintf(doc, sizeof(doc), "{'version':'1','workloads':[{'workload':'w','rules':[");
	for (i = 0; i < 12; i++)
		pos += (size_t)snprintf(doc + pos, sizeof(doc) - pos,
					"%s{'match':{'port':%zu},'action':'bypass'}", i ? "," : "",
					100 + i);
	snprintf(doc + pos, sizeof(doc) - pos, "]}]}");
	assert_int_equal(compile_doc(doc, "w", &cfg.cfg, &t, err), -EINVAL);
	assert_string_equal(err, "destination ::/0: 12 rules apply (workloads[0].rules[0], "
			    "workloads[0].rules[1], workloads[0].rules[2], workloads[0].rules[3], "
			    "workloads[0].rules[4], workloads[0].rules[5], workloads[0].rules[6], "
			    "workloads[0].rules[7], workloads[0].rules[8], ...), the kernel takes at most 8");
	pos = (size_t)snprintf(doc, sizeof(doc), "{'version':'1','workloads':[{'workload':'w','rules':[");
	for (i = 0; i < 8; i++)
		pos += (size_t)snprintf(doc + pos, sizeof(doc) - pos,
					"%s{'match':{'port':%zu},'action':'bypass'}", i ? "," : "",
					100 + i);
	snprintf(doc + pos, sizeof(doc) - pos, "]}]}");
	assert_int_equal(compile_doc(doc, "w", &cfg.cfg, &t, err), 0);
	assert_int_equal(t.n_cidrs, 2);
	assert_int_equal(t.cidrs[0].list.n, 8);
	assert_int_equal(t.cidrs[1].list.n, 8);
	mw_table_free(&t);
}

/* Each version's weight shared by its endpoints, cumulative, in document order. */
static void test_compile_weights(void **state)
{
	static const char doc[] =
		"{'version':'1','services':["
		"{'name':'a','addresses':['10.96.0.1'],'versions':["
		" {'name':'v1','weight':90,'endpoints':['10.250.5.2:9080']},"
		" {'name':'v2','weight':10,'endpoints':['10.250.6.2:9080','10.250.6.3:9081']}]},"
		"{'name':'unused','addresses':['10.96.0.2'],'versions':["
		" {'name':'v1','weight':1,'endpoints':['10.1.1.1:1']}]},"
		"{'name':'b','addresses':['fd00::2'],'versions':["
		" {'name':'canary','weight':0,'endpoints':['[fd00::9]:80']},"
		" {'name':'v1','weight':1,'endpoints':['[fd00::1]:80']},"
		" {'name':'v2','weight':1,'endpoints':['[fd00::2]:80','[fd00::3]:80','[fd00::4]:80']}]},"
		"{'name':'c','addresses':['10.96.0.3'],'versions':["
		" {'name':'v1','weight':1,'endpoints':['10.3.0.1:1','10.3.0.2:1','10.3.0.3:1',"
		"  '10.3.0.4:1']},"
		" {'name':'v2','weight':1,'endpoints':['10.3.1.1:1','10.3.1.2:1','10.3.1.3:1',"
		"  '10.3.1.4:1','10.3.1.5:1']},"
		" {'name':'v3','weight':1,'endpoints':['10.3.2.1:1','10.3.2.2:1','10.3.2.3:1',"
		"  '10.3.2.4:1','10.3.2.5:1','10.3.2.6:1','10.3.2.7:1']}]}],"
		"'workloads':[{'workload':'w','rules':["
		"{'match':{'service':'b'},'action':{'forward':'b'}},"
		"{'match':{'service':'a'},'action':{'forward':'a'}},"
		"{'match':{'destination':'10.0.0.0/8'},'action':{'forward':'c'}}]}]}";
	static const uint32_t cum_a[] = { 90, 95, 100 };
	static const uint32_t cum_b[] = { 3, 4, 5, 6 };
	struct mw_lpm_key k;
	const struct mw_svc *s;
	struct test_cfg cfg;
	struct mw_table t;
	char err[512];
	uint32_t i, prev;

	cfg_init(&cfg, NULL, 0, NULL, 0);
	assert_int_equal(compile_doc(doc, "w", &cfg.cfg, &t, err), 0);
	/* Ids follow the services' order in the document, whatever the rules' order. */
	assert_int_equal(t.n_svcs, 3);
	assert_int_equal(t.svcs[0].key.id, 1);
	assert_int_equal(t.svcs[1].key.id, 3);
	assert_int_equal(t.svcs[2].key.id, 4);
	k = key6(0xfd, 0, 128);
	k.addr[15] = 2;
	expect_list(&t, k,
		    (struct mw_rule_ent[]){ ent(0, FULL, MW_ACT_FORWARD, MW_R_FORWARD, 0, 0, 3) }, 1);

	/* 90/10 with one and two endpoints. */
	s = &t.svcs[0].svc;
	assert_int_equal(s->n, 3);
	assert_int_equal(s->total_weight, 100);
	for (i = 0; i < 3; i++)
		assert_int_equal(s->ep[i].cum_weight, cum_a[i]);
	assert_int_equal(s->ep[1].port, htons(9080));
	assert_int_equal(s->ep[2].port, htons(9081));

	/* 1/1 with one and three endpoints: scaled by 3; the weight-0 canary is left out. */
	s = &t.svcs[1].svc;
	assert_int_equal(s->n, 4);
	assert_int_equal(s->total_weight, 6);
	for (i = 0; i < 4; i++)
		assert_int_equal(s->ep[i].cum_weight, cum_b[i]);
	assert_int_equal(s->ep[0].addr[15], 1);
	assert_int_equal(s->ep[0].addr[0], 0xfd);

	/* Three equal versions over 4, 5 and 7 endpoints: the largest factor 16 endpoints
	 * can need, 140; every endpoint of a version gets the same share. */
	s = &t.svcs[2].svc;
	assert_int_equal(s->n, 16);
	assert_int_equal(s->total_weight, 420);
	for (i = 0, prev = 0; i < 16; prev = s->ep[i].cum_weight, i++)
		assert_int_equal(s->ep[i].cum_weight - prev, i < 4 ? 35 : i < 9 ? 28 : 20);
	mw_table_free(&t);
}

/* A table built by hand past the parser's checks: the compile checks again. */
static void test_compile_service_errors(void **state)
{
	struct mw_route_version *v;
	struct mw_routes rt;
	struct test_cfg cfg;
	struct mw_table t;
	char err[512];
	size_t n_eps;

	cfg_init(&cfg, NULL, 0, NULL, 0);
	assert_int_equal(parse(&rt, RULE("{'destination':'10.0.0.0/8'}", "{'forward':'s4'}"), err,
			       NULL), 0);
	v = &rt.services[0].versions[0];
	v->weight = 0;
	assert_int_equal(mw_routes_compile(&rt, "web", &cfg.cfg, NETNS, &t, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "service \"s4\": weights add up to 0");
	assert_null(t.cidrs);
	v->weight = 1;
	n_eps = v->n_eps;
	v->n_eps = 17;
	assert_int_equal(mw_routes_compile(&rt, "web", &cfg.cfg, NETNS, &t, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "service \"s4\": 17 endpoints with a weight, the kernel takes at most 16");
	v->n_eps = n_eps;
	assert_int_equal(mw_routes_compile(&rt, "web", &cfg.cfg, NETNS, &t, err, sizeof(err)), 0);
	assert_int_equal(t.n_svcs, 1);
	mw_table_free(&t);
	mw_routes_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* A fake store: every map an array of (key, value), a shadow of the kernel's. */

#define KEY_MAX		sizeof(struct mw_lpm_key)
#define VAL_MAX		sizeof(struct mw_svc)

struct fent {
	unsigned char key[KEY_MAX];
	unsigned char val[VAL_MAX];
};

struct fmap {
	size_t ksz, vsz;
	struct fent *e;
	size_t n, cap;
};

struct fake {
	struct fmap m[MW_MAP_NR];
};

static void fake_init(struct fake *f)
{
	static const size_t ksz[MW_MAP_NR] = {
		[MW_MAP_WL] = sizeof(uint64_t),
		[MW_MAP_PORT] = sizeof(struct mw_port_key),
		[MW_MAP_CIDR] = sizeof(struct mw_lpm_key),
		[MW_MAP_LOCAL] = sizeof(struct mw_lpm_key),
		[MW_MAP_CTR] = sizeof(uint64_t),
		[MW_MAP_SCL] = sizeof(struct mw_sc_addr),
		[MW_MAP_SVC] = sizeof(struct mw_svc_key),
	};
	static const size_t vsz[MW_MAP_NR] = {
		[MW_MAP_WL] = sizeof(struct mw_workload),
		[MW_MAP_PORT] = sizeof(struct mw_rule),
		[MW_MAP_CIDR] = sizeof(struct mw_rule_list),
		[MW_MAP_LOCAL] = sizeof(__u32),
		[MW_MAP_CTR] = sizeof(struct mw_counters),
		[MW_MAP_SCL] = sizeof(__u64),
		[MW_MAP_SVC] = sizeof(struct mw_svc),
	};
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < MW_MAP_NR; i++) {
		f->m[i].ksz = ksz[i];
		f->m[i].vsz = vsz[i];
	}
}

static void fake_free(struct fake *f)
{
	int i;

	for (i = 0; i < MW_MAP_NR; i++)
		free(f->m[i].e);
}

static struct fent *fmap_find(struct fmap *m, const void *key, size_t *idx)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (!memcmp(m->e[i].key, key, m->ksz)) {
			if (idx)
				*idx = i;
			return &m->e[i];
		}
	}
	return NULL;
}

static int fake_update(void *ctx, enum mw_map_id map, const void *key, const void *val)
{
	struct fmap *m = &((struct fake *)ctx)->m[map];
	struct fent *e = fmap_find(m, key, NULL);

	if (!e) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 16;
			m->e = realloc(m->e, m->cap * sizeof(*m->e));
			assert_non_null(m->e);
		}
		e = &m->e[m->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->key, key, m->ksz);
	}
	if (val)
		memcpy(e->val, val, m->vsz);
	return 0;
}

static int fake_lookup(void *ctx, enum mw_map_id map, const void *key, void *val)
{
	struct fmap *m = &((struct fake *)ctx)->m[map];
	struct fent *e = fmap_find(m, key, NULL);

	if (!e)
		return -ENOENT;
	memcpy(val, e->val, m->vsz);
	return 0;
}

static int fake_remove(void *ctx, enum mw_map_id map, const void *key)
{
	struct fmap *m = &((struct fake *)ctx)->m[map];
	size_t i;

	if (!fmap_find(m, key, &i))
		return -ENOENT;
	memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(*m->e));
	m->n--;
	return 0;
}

static int fake_next_key(void *ctx, enum mw_map_id map, const void *key, void *next)
{
	struct fmap *m = &((struct fake *)ctx)->m[map];
	size_t i = 0;

	if (key && fmap_find(m, key, &i))
		i++;
	else if (key)
		i = 0;
	if (i >= m->n)
		return -ENOENT;
	memcpy(next, m->e[i].key, m->ksz);
	return 0;
}

static int fake_barrier(void *ctx)
{
	return 0;
}

static const struct mw_store_ops fake_ops = {
	.update = fake_update,
	.lookup = fake_lookup,
	.remove = fake_remove,
	.next_key = fake_next_key,
	.barrier = fake_barrier,
};

/* A table compiled for NETNS moved to another namespace. */
static void set_netns(struct mw_table *t, uint64_t netns)
{
	size_t i;

	for (i = 0; i < t->n_ports; i++)
		t->ports[i].key.netns = netns;
	for (i = 0; i < t->n_cidrs; i++)
		t->cidrs[i].key.netns = netns;
	for (i = 0; i < t->n_svcs; i++)
		t->svcs[i].key.netns = netns;
}

static const char doc_diff_a[] =
	"{'version':'a','services':[{'name':'reviews','addresses':['10.96.0.10'],'ports':[9080],"
	"'versions':[{'name':'v1','weight':90,'endpoints':['10.250.5.2:9080']},"
	"{'name':'v2','weight':10,'endpoints':['10.250.6.2:9080']}]}],"
	"'workloads':[{'workload':'web','rules':["
	"{'match':{'destination':'10.0.0.0/8','ports':'8000-8999'},"
	" 'action':{'reject':'ECONNREFUSED'}},"
	"{'match':{'service':'reviews'},'action':{'forward':'reviews'}}]}]}";

static const char doc_diff_b[] =
	"{'version':'b','services':[{'name':'reviews','addresses':['10.96.0.10'],'ports':[9080],"
	"'versions':[{'name':'v1','weight':50,'endpoints':['10.250.5.2:9080']},"
	"{'name':'v2','weight':50,'endpoints':['10.250.6.2:9080']}]}],"
	"'workloads':[{'workload':'web','rules':["
	"{'match':{'destination':'10.0.0.0/8','ports':'8000-8999'},"
	" 'action':{'reject':'EHOSTUNREACH'}},"
	"{'match':{'service':'reviews'},'action':{'forward':'reviews'}},"
	"{'match':{'destination':'192.168.0.0/16'},'action':'bypass'}]}]}";

/* Compile, apply to the store, read back: the same table under the new generation,
 * and only that one; the diff of the two is empty. */
static void test_table_read_roundtrip(void **state)
{
	static const uint16_t ports[] = { 22, 5432 };
	static const char *const ips[] = { "169.254.169.254" };
	struct mw_store s = { &fake_ops, NULL };
	struct mw_table t, back, other;
	struct test_cfg cfg;
	struct fake f;
	char err[512], *text;
	int ret;

	fake_init(&f);
	s.ctx = &f;
	cfg_init(&cfg, ports, 2, ips, 1);
	cfg.cfg.ingress_port = 15000;
	cfg.cfg.app_ports = cfg.ports + 1;
	cfg.cfg.n_app_ports = 1;
	assert_int_equal(mw_table_read(&s, NETNS, &back), -ENOENT);

	assert_int_equal(compile_doc(doc_diff_a, "web", &cfg.cfg, &t, err), 0);
	assert_int_equal(mw_workload_apply_table(&s, NETNS, &t, NULL, 0, 1), 0);
	/* Another namespace's table must not leak into the read. */
	assert_int_equal(compile_doc(doc_diff_b, "web", &cfg.cfg, &other, err), 0);
	set_netns(&other, NETNS + 1);
	assert_int_equal(mw_workload_apply_table(&s, NETNS + 1, &other, NULL, 0, 1), 0);
	assert_int_equal(mw_workload_apply_table(&s, NETNS + 1, &other, NULL, 0, 1), 0);

	assert_int_equal(mw_table_read(&s, NETNS, &back), 0);
	assert_int_equal(back.wl.gen, 1);
	assert_memory_equal(&back.wl, &t.wl, sizeof(t.wl));
	assert_int_equal(back.n_ports, 3);
	assert_int_equal(back.n_cidrs, t.n_cidrs);
	assert_int_equal(back.n_svcs, 1);
	/* In the compile's order: ports by direction and number, blocks by address. */
	assert_memory_equal(back.ports, t.ports, t.n_ports * sizeof(*t.ports));
	assert_memory_equal(back.cidrs, t.cidrs, t.n_cidrs * sizeof(*t.cidrs));
	assert_memory_equal(back.svcs, t.svcs, sizeof(*t.svcs));
	text = diff_text(&t, &back, &ret);
	assert_int_equal(ret, 0);
	assert_string_equal(text, "");
	free(text);
	mw_table_free(&back);

	/* Applying b: the read shows b under gen 2 and nothing of a. */
	mw_table_free(&other);
	assert_int_equal(compile_doc(doc_diff_b, "web", &cfg.cfg, &other, err), 0);
	assert_int_equal(mw_workload_apply_table(&s, NETNS, &other, NULL, 0, 1), 0);
	assert_int_equal(mw_table_read(&s, NETNS, &back), 0);
	assert_int_equal(back.wl.gen, 2);
	assert_int_equal(back.n_cidrs, other.n_cidrs);
	assert_int_equal(back.cidrs[0].key.gen, 2);
	text = diff_text(&other, &back, &ret);
	assert_int_equal(ret, 0);
	free(text);
	text = diff_text(&t, &back, &ret);
	assert_int_equal(ret, 4);
	free(text);

	mw_table_free(&back);
	mw_table_free(&other);
	mw_table_free(&t);
	fake_free(&f);
}

/* The diff's text, exactly. */
static void test_diff_text(void **state)
{
	static const uint16_t ports_a[] = { 22, 5432 }, ports_b[] = { 22 };
	static const char *const ips[] = { "169.254.169.254" };
	struct mw_table a, b, empty = {};
	struct test_cfg cfg;
	char err[512], *text;
	int ret;

	cfg_init(&cfg, ports_a, 2, ips, 1);
	assert_int_equal(compile_doc(doc_diff_a, "web", &cfg.cfg, &a, err), 0);
	cfg_init(&cfg, ports_b, 1, ips, 1);
	assert_int_equal(compile_doc(doc_diff_b, "web", &cfg.cfg, &b, err), 0);

	text = diff_text(&a, &b, &ret);
	assert_string_equal(text,
		"- port 5432 bypass\n"
		"~ 10.0.0.0/8: ports 8000-8999 reject ECONNREFUSED -> ports 8000-8999 reject EHOSTUNREACH\n"
		"~ 10.96.0.10: ports 8000-8999 reject ECONNREFUSED; port 9080 forward service 1 -> "
		"ports 8000-8999 reject EHOSTUNREACH; port 9080 forward service 1\n"
		"+ 192.168.0.0/16 bypass\n"
		"~ service 1: 10.250.5.2:9080 weight 90, 10.250.6.2:9080 weight 10 -> "
		"10.250.5.2:9080 weight 50, 10.250.6.2:9080 weight 50\n");
	assert_int_equal(ret, 5);
	free(text);

	text = diff_text(&empty, &a, &ret);
	assert_string_equal(text,
		"~ workload: disabled, egress port 0 -> enabled, ipv6, uid 1337, egress port 15001\n"
		"+ port 22 bypass\n"
		"+ port 5432 bypass\n"
		"+ 10.0.0.0/8 ports 8000-8999 reject ECONNREFUSED\n"
		"+ 10.96.0.10 ports 8000-8999 reject ECONNREFUSED; port 9080 forward service 1\n"
		"+ 169.254.169.254 bypass (ignored address)\n"
		"+ service 1: 10.250.5.2:9080 weight 90, 10.250.6.2:9080 weight 10\n");
	assert_int_equal(ret, 7);
	free(text);

	text = diff_text(&b, &empty, &ret);
	assert_string_equal(text,
		"~ workload: enabled, ipv6, uid 1337, egress port 15001 -> disabled, egress port 0\n"
		"- port 22 bypass\n"
		"- 10.0.0.0/8 ports 8000-8999 reject EHOSTUNREACH\n"
		"- 10.96.0.10 ports 8000-8999 reject EHOSTUNREACH; port 9080 forward service 1\n"
		"- 169.254.169.254 bypass (ignored address)\n"
		"- 192.168.0.0/16 bypass\n"
		"- service 1: 10.250.5.2:9080 weight 50, 10.250.6.2:9080 weight 50\n");
	assert_int_equal(ret, 7);
	free(text);

	/* Generations do not count. */
	b.wl.gen = 7;
	b.cidrs[0].key.gen = 7;
	text = diff_text(&b, &b, &ret);
	assert_int_equal(ret, 0);
	free(text);
	mw_table_free(&a);
	mw_table_free(&b);
}

/* IPv6, the guard, an ingress port and a sidecar port in the diff's text. */
static void test_diff_text_more(void **state)
{
	static const uint16_t ports[] = { 22 };
	struct mw_table a, b, empty = {};
	struct test_cfg cfg;
	char err[512], *text;
	int ret;

	cfg_init(&cfg, ports, 1, NULL, 0);
	cfg.cfg.ingress_port = 15000;
	cfg.cfg.app_ports = cfg.ports;
	cfg.cfg.n_app_ports = 1;
	cfg.cfg.has_gid = 1;
	cfg.cfg.ignore_gid = 7;
	assert_int_equal(compile_doc("{'version':'1','workloads':[{'workload':'w','rules':["
				     "{'match':{'destination':'fd00::/8','ports':'1-1024'},"
				     " 'action':{'sidecar':15006}},"
				     "{'match':{'destination':'::/0'},'action':{'reject':'EPERM'}}]}]}",
				     "w", &cfg.cfg, &a, err), 0);
	text = diff_text(&empty, &a, &ret);
	assert_string_equal(text,
		"~ workload: disabled, egress port 0 -> enabled, ipv6, uid 1337, gid 7, "
		"egress port 15001, ingress port 15000\n"
		"+ port 22 bypass\n"
		"+ ingress port 22 sidecar 15000\n"
		"+ ::/0 reject EPERM\n"
		"+ 0.0.0.0/0 sidecar\n"
		"+ fd00::/8 ports 1-1024 sidecar 15006; reject EPERM\n");
	assert_int_equal(ret, 6);
	free(text);

	/* Flags this file has no name for still show. */
	b = a;
	b.wl.flags |= 0x80;
	text = diff_text(&a, &b, &ret);
	assert_string_equal(text,
		"~ workload: enabled, ipv6, uid 1337, gid 7, egress port 15001, ingress port 15000 -> "
		"enabled, ipv6, flags 0x80, uid 1337, gid 7, egress port 15001, ingress port 15000\n");
	assert_int_equal(ret, 1);
	free(text);
	mw_table_free(&a);
}

/* ------------------------------------------------------------------------ */
/* Scale: 100 000 /32 rules and a few wide ones (SCALE_RULES: at most 65536 * 256). */

static void test_compile_100k(void **state)
{
	const size_t n = SCALE_RULES;
	size_t cap = n * 110 + 4096, pos, i;
	struct clk c0, c1, c2, c3, c4, c5, c6, c7;
	struct mw_table t, t2tab;
	struct mw_routes rt;
	struct test_cfg cfg;
	struct warns w = {};
	char *doc, *mem, err[512], what[128];
	FILE *devnull;
	int ret;

	doc = malloc(cap);
	assert_non_null(doc);
	pos = (size_t)snprintf(doc, cap, "{\"version\": \"big\", \"workloads\": [{\"workload\": "
			       "\"web\", \"rules\": [\n");
	for (i = 0; i < n; i++)
		pos += (size_t)snprintf(doc + pos, cap - pos,
					"{\"match\": {\"destination\": \"10.%zu.%zu.%zu\"%s}, "
					"\"action\": %s},\n", (i >> 16) & 0xff, (i >> 8) & 0xff,
					i & 0xff, i % 3 ? "" : ", \"port\": 443",
					i % 2 ? "\"bypass\"" : "{\"reject\": \"ECONNREFUSED\"}");
	pos += (size_t)snprintf(doc + pos, cap - pos,
		"{\"match\": {\"destination\": \"10.0.0.0/8\", \"ports\": \"8000-8999\"}, "
		"\"action\": \"bypass\"},\n"
		"{\"match\": {\"destination\": \"10.1.0.0/16\", \"port\": 80}, "
		"\"action\": {\"sidecar\": 15006}},\n"
		"{\"match\": {\"destination\": \"0.0.0.0/0\", \"port\": 25}, "
		"\"action\": {\"reject\": \"EACCES\"}},\n"
		"{\"match\": {\"destination\": \"fd00::/8\"}, \"action\": \"bypass\"},\n"
		"{\"match\": {}, \"action\": \"sidecar\"}]}]}\n");
	assert_true(pos < cap);

	cfg_init(&cfg, NULL, 0, NULL, 0);
	c0 = clk_now();
	ret = mw_routes_parse(&rt, doc, pos, err, sizeof(err), warn_cb, &w);
	c1 = clk_now();
	assert_int_equal(ret, 0);
	assert_int_equal(rt.workloads[0].n_rules, n + 5);
	/* 10/8, 10.1/16 (when it covers hosts), 0/0 and {} each overlap a host's rule of
	 * another action; fd00::/8 overlaps nothing. */
	assert_int_equal(w.n, n > 65536 ? 4 : 3);
	snprintf(what, sizeof(what), "workloads[0].rules[%zu]: overlaps workloads[0].rules[1], "
		 "which has a different action", n + 2);
	assert_string_equal(w.msg[w.n - 2], what);
	snprintf(what, sizeof(what), "workloads[0].rules[%zu]: overlaps workloads[0].rules[0], "
		 "which has a different action", n + 4);
	assert_string_equal(w.msg[w.n - 1], what);
	ret = mw_routes_compile(&rt, "web", &cfg.cfg, NETNS, &t, err, sizeof(err));
	c2 = clk_now();
	if (ret)
		print_error("%s\n", err);
	assert_int_equal(ret, 0);
	/* 100 000 hosts, 10/8, 10.1/16, 0.0.0.0/0 (also the guard), fd00::/8, ::/0. */
	assert_int_equal(t.n_cidrs, n + 5);
	/* A host whose rule takes every port: that rule only. Else its rule, 10/8, 10.1/16
	 * if it covers the host, 0/0 port 25, the rule for everything. */
	i = (n - 1) / 6 * 6 + 1;
	expect_list(&t, key4(10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 32),
		    (struct mw_rule_ent[]){ ent(0, FULL, MW_ACT_BYPASS, MW_R_RULE, 0, 0, 0) }, 1);
	i = (n - 1) / 6 * 6;
	{
		struct mw_rule_ent want[5];
		uint32_t k = 0;

		want[k++] = ent(443, 443, MW_ACT_REJECT, MW_R_REJECT, 0, ECONNREFUSED, 0);
		want[k++] = ent(8000, 8999, MW_ACT_BYPASS, MW_R_RULE, 0, 0, 0);
		if (i >> 16 == 1)
			want[k++] = ent(80, 80, MW_ACT_REDIRECT, MW_R_REDIRECT, 15006, 0, 0);
		want[k++] = ent(25, 25, MW_ACT_REJECT, MW_R_REJECT, 0, EACCES, 0);
		want[k++] = ent(0, FULL, MW_ACT_REDIRECT, MW_R_REDIRECT, 0, 0, 0);
		expect_list(&t, key4(10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 32), want, k);
		assert_true(n < 65536 || k == 5);
	}

	/* Again: the first compile may find the allocator's pages warm from the parse. */
	c3 = clk_now();
	assert_int_equal(mw_routes_compile(&rt, "web", &cfg.cfg, NETNS, &t2tab, err, sizeof(err)), 0);
	c4 = clk_now();
	/* What changing one entry would show, against the whole table. */
	t2tab.cidrs[t2tab.n_cidrs / 2].list.e[0].port_hi ^= 1;
	devnull = fopen("/dev/null", "w");
	assert_non_null(devnull);
	c5 = clk_now();
	ret = mw_table_diff(&t, &t2tab, devnull);
	c6 = clk_now();
	fclose(devnull);
	assert_int_equal(ret, 1);

	/* For scale: what the machine takes to fault in as much fresh memory as the
	 * compiled address lists occupy. */
	mem = malloc(t.n_cidrs * sizeof(*t.cidrs));
	assert_non_null(mem);
	memset(mem, 1, t.n_cidrs * sizeof(*t.cidrs));
	c7 = clk_now();
	assert_int_equal(mem[7], 1);
	free(mem);

	snprintf(what, sizeof(what), "%zu rules (%zu bytes of JSON): parse and check", n + 5, pos);
	clk_print(what, c0, c1);
	snprintf(what, sizeof(what), "%zu rules: compile into %zu prefixes", n + 5, t.n_cidrs);
	clk_print(what, c1, c2);
	clk_print("the same compile again", c3, c4);
	clk_print("diff of the two tables", c5, c6);
	snprintf(what, sizeof(what), "(for scale: writing %zu MB of fresh memory)",
		 t.n_cidrs * sizeof(*t.cidrs) >> 20);
	clk_print(what, c6, c7);
	mw_table_free(&t2tab);
	mw_table_free(&t);
	mw_routes_free(&rt);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_example),
		cmocka_unit_test(test_parse_service_expansion),
		cmocka_unit_test(test_syntax_line_col),
		cmocka_unit_test(test_syntax_other),
		cmocka_unit_test(test_syntax_reader),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_semantic_errors),
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_compile_small),
		cmocka_unit_test(test_compile_v4_guard),
		cmocka_unit_test(test_compile_env_only),
		cmocka_unit_test(test_compile_order),
		cmocka_unit_test(test_compile_limit),
		cmocka_unit_test(test_compile_weights),
		cmocka_unit_test(test_compile_service_errors),
		cmocka_unit_test(test_table_read_roundtrip),
		cmocka_unit_test(test_diff_text),
		cmocka_unit_test(test_diff_text_more),
		cmocka_unit_test(test_compile_100k),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
