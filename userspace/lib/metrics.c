// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Metrics: names for destinations, rows of kernel totals merged by label, and
 * the three renderings (Prometheus text, DogStatsD datagrams, JSON lines).
 * Pure logic: numbers come in from the agent, text goes out to a FILE or a
 * callback; no global state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include <meshwarp/abi.h>

#include "metrics.h"

#define MW_V4_OFF		12	/* offset of the IPv4 address in a v4-mapped one */
#define MW_US_PER_S		UINT64_C(1000000)
#define MW_NS_PER_US		UINT64_C(1000)
#define MW_NS_PER_MS		UINT64_C(1000000)
#define MW_NS_PER_S		UINT64_C(1000000000)
#define MW_US_PER_MS		1000.0
#define MW_PATH_LEN		64	/* "services[N].addresses[M]" */
#define MW_NUM_LEN		32	/* a u64 in decimal seconds: 20 digits, '.', 6 */
#define MW_STATSD_LINE_LEN	512	/* > the longest line: names are bounded */
#define MW_ADDRPORT_LEN		(INET6_ADDRSTRLEN + sizeof("[]:65535"))

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int is_v4_mapped(const uint8_t *a)
{
	static const uint8_t pfx[MW_V4_OFF] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

/* "10.0.0.5" for a v4-mapped address, "fd00::5" otherwise. */
static void addr_str(const uint8_t addr[MW_ADDR_LEN], char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "";

	if (is_v4_mapped(addr))
		inet_ntop(AF_INET, &addr[MW_V4_OFF], a, sizeof(a));
	else
		inet_ntop(AF_INET6, addr, a, sizeof(a));
	snprintf(buf, len, "%s", a);
}

/* Whole microseconds as exact decimal seconds, trailing zeros dropped: "0.000001",
 * "1073.741824", "3". Exact, so no two bucket bounds print alike. */
static const char *us_seconds(uint64_t us, char buf[MW_NUM_LEN])
{
	uint64_t frac = us % MW_US_PER_S;
	size_t n;

	if (!frac) {
		snprintf(buf, MW_NUM_LEN, "%" PRIu64, us / MW_US_PER_S);
		return buf;
	}
	snprintf(buf, MW_NUM_LEN, "%" PRIu64 ".%06" PRIu64, us / MW_US_PER_S, frac);
	n = strlen(buf);
	while (buf[n - 1] == '0')
		buf[--n] = '\0';
	return buf;
}

unsigned int mw_hist_bucket(uint64_t us)
{
	unsigned int i = 0;

	if (us <= 1)
		return 0;
	/* The smallest i with us <= 2^i: the bit length of us - 1. */
	for (us--; us; us >>= 1)
		i++;
	return i < MW_HIST_BUCKETS ? i : MW_HIST_BUCKETS - 1;
}

/* --- names --------------------------------------------------------------- */

static int cidr_match(const struct mw_cidr *c, const uint8_t addr[MW_ADDR_LEN])
{
	unsigned int full = c->prefix / 8, rest = c->prefix % 8;
	uint8_t mask;

	if (memcmp(c->addr, addr, full))
		return 0;
	if (!rest)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}

static int service_match(const struct mw_service *svc, const uint8_t addr[MW_ADDR_LEN],
			 uint16_t port)
{
	size_t i;
	int port_ok = !svc->n_ports;

	for (i = 0; i < svc->n_ports && !port_ok; i++)
		port_ok = svc->ports[i] == port;
	if (!port_ok)
		return 0;
	for (i = 0; i < svc->n_cidrs; i++)
		if (cidr_match(&svc->cidrs[i], addr))
			return 1;
	return 0;
}

const char *mw_names_service(const struct mw_names *n, const uint8_t addr[16], uint16_t port,
			     char *buf, size_t len)
{
	size_t i;

	if (!buf || !len)
		return NULL;
	for (i = 0; n && i < n->n_services; i++) {
		if (service_match(&n->services[i], addr, port)) {
			snprintf(buf, len, "%s", n->services[i].name);
			return buf;
		}
	}
	addr_str(addr, buf, len);
	return buf;
}

/* NULL if every key of obj is one of allowed[], else the first other key. */
static const char *unknown_key(json_object *obj, const char *const *allowed)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	const char *const *a;
	const char *key;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		for (a = allowed; *a && strcmp(*a, key); a++)
			;
		if (!*a)
			return key;
	}
	return NULL;
}

static int parse_name(json_object *svc, const char *path, struct mw_service *out,
		      char *err, size_t errlen)
{
	json_object *v;
	const char *s;
	size_t len;

	if (!json_object_object_get_ex(svc, "name", &v)) {
		set_err(err, errlen, "%s.name: missing", path);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		set_err(err, errlen, "%s.name: expected a string", path);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (!len) {
		set_err(err, errlen, "%s.name: empty", path);
		return -EINVAL;
	}
	if (strlen(s) != len) {
		set_err(err, errlen, "%s.name: contains a NUL character", path);
		return -EINVAL;
	}
	if (len >= sizeof(out->name)) {
		set_err(err, errlen, "%s.name: longer than %zu bytes", path, sizeof(out->name) - 1);
		return -EINVAL;
	}
	memcpy(out->name, s, len + 1);
	return 0;
}

static int parse_addresses(json_object *svc, const char *path, struct mw_service *out,
			   char *err, size_t errlen)
{
	json_object *arr, *v;
	size_t i, n;

	if (!json_object_object_get_ex(svc, "addresses", &arr)) {
		set_err(err, errlen, "%s.addresses: missing", path);
		return -EINVAL;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		set_err(err, errlen, "%s.addresses: expected an array", path);
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	if (!n) {
		set_err(err, errlen, "%s.addresses: empty", path);
		return -EINVAL;
	}
	out->cidrs = calloc(n, sizeof(*out->cidrs));
	if (!out->cidrs) {
		set_err(err, errlen, "%s.addresses: out of memory", path);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(v, json_type_string)) {
			set_err(err, errlen, "%s.addresses[%zu]: expected a string", path, i);
			return -EINVAL;
		}
		if (mw_parse_cidr(json_object_get_string(v), &out->cidrs[i])) {
			set_err(err, errlen, "%s.addresses[%zu]: invalid IP or CIDR block [%s]",
				path, i, json_object_get_string(v));
			return -EINVAL;
		}
		out->n_cidrs++;
	}
	return 0;
}

static int parse_ports(json_object *svc, const char *path, struct mw_service *out,
		       char *err, size_t errlen)
{
	json_object *arr, *v;
	size_t i, n;

	if (!json_object_object_get_ex(svc, "ports", &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array)) {
		set_err(err, errlen, "%s.ports: expected an array", path);
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	if (!n)
		return 0;
	out->ports = calloc(n, sizeof(*out->ports));
	if (!out->ports) {
		set_err(err, errlen, "%s.ports: out of memory", path);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(v, json_type_int)) {
			set_err(err, errlen, "%s.ports[%zu]: expected an integer", path, i);
			return -EINVAL;
		}
		/* The integer as the document wrote it, judged as every port is. */
		if (mw_parse_port(json_object_get_string(v), &out->ports[i])) {
			set_err(err, errlen, "%s.ports[%zu]: invalid port [%s]", path, i,
				json_object_get_string(v));
			return -EINVAL;
		}
		out->n_ports++;
	}
	return 0;
}

static int parse_service(json_object *svc, size_t idx, struct mw_service *out,
			 char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "addresses", "ports", NULL };
	char path[MW_PATH_LEN];
	const char *bad;
	int ret;

	snprintf(path, sizeof(path), "services[%zu]", idx);
	if (!json_object_is_type(svc, json_type_object)) {
		set_err(err, errlen, "%s: expected an object", path);
		return -EINVAL;
	}
	bad = unknown_key(svc, keys);
	if (bad) {
		set_err(err, errlen, "%s.%s: unknown key (expected name, addresses, ports)",
			path, bad);
		return -EINVAL;
	}
	ret = parse_name(svc, path, out, err, errlen);
	if (ret)
		return ret;
	ret = parse_addresses(svc, path, out, err, errlen);
	if (ret)
		return ret;
	return parse_ports(svc, path, out, err, errlen);
}

/* The document, strictly: one JSON value and nothing after it but blanks. */
static json_object *parse_document(const char *json, char *err, size_t errlen, int *ret)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *root = NULL;
	size_t len = strlen(json), end;

	*ret = -EINVAL;
	if (len >= INT_MAX) {
		set_err(err, errlen, "invalid JSON: document too large");
		return NULL;
	}
	tok = json_tokener_new();
	if (!tok) {
		set_err(err, errlen, "out of memory");
		*ret = -ENOMEM;
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* With its NUL, so that a document ending in a literal ("null", "1") ends. */
	root = json_tokener_parse_ex(tok, json, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		set_err(err, errlen, "invalid JSON: unexpected end of document");
		goto cleanup;
	}
	if (jerr != json_tokener_success) {
		set_err(err, errlen, "invalid JSON at offset %zu: %s", end,
			json_tokener_error_desc(jerr));
		goto cleanup;
	}
	end += strspn(json + end, " \t\r\n");
	if (json[end]) {
		set_err(err, errlen, "invalid JSON at offset %zu: trailing characters", end);
		goto cleanup;
	}
	if (!json_object_is_type(root, json_type_object)) {
		set_err(err, errlen, "top level: expected an object");
		goto cleanup;
	}
	*ret = 0;
cleanup:
	json_tokener_free(tok);
	if (*ret) {
		json_object_put(root);
		root = NULL;
	}
	return root;
}

int mw_names_parse(struct mw_names *n, const char *json, char *err, size_t errlen)
{
	static const char *const keys[] = { "services", NULL };
	struct mw_names out = {};
	json_object *root, *svcs;
	const char *bad;
	size_t i, count;
	int ret;

	memset(n, 0, sizeof(*n));
	if (err && errlen)
		err[0] = '\0';
	if (!json) {
		set_err(err, errlen, "invalid JSON: no document");
		return -EINVAL;
	}
	root = parse_document(json, err, errlen, &ret);
	if (!root)
		return ret;

	ret = -EINVAL;
	bad = unknown_key(root, keys);
	if (bad) {
		set_err(err, errlen, "%s: unknown key (expected services)", bad);
		goto cleanup;
	}
	if (!json_object_object_get_ex(root, "services", &svcs)) {
		set_err(err, errlen, "services: missing");
		goto cleanup;
	}
	if (!json_object_is_type(svcs, json_type_array)) {
		set_err(err, errlen, "services: expected an array");
		goto cleanup;
	}
	count = json_object_array_length(svcs);
	if (count) {
		out.services = calloc(count, sizeof(*out.services));
		if (!out.services) {
			set_err(err, errlen, "services: out of memory");
			ret = -ENOMEM;
			goto cleanup;
		}
		out.n_services = count;
	}
	for (i = 0; i < count; i++) {
		ret = parse_service(json_object_array_get_idx(svcs, i), i, &out.services[i],
				    err, errlen);
		if (ret)
			goto cleanup;
	}
	*n = out;
	memset(&out, 0, sizeof(out));
	ret = 0;
cleanup:
	mw_names_free(&out);
	json_object_put(root);
	return ret;
}

void mw_names_free(struct mw_names *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n_services; i++) {
		free(n->services[i].cidrs);
		free(n->services[i].ports);
	}
	free(n->services);
	memset(n, 0, sizeof(*n));
}

/* --- rows ---------------------------------------------------------------- */

/* Totals are summed over CPUs: a reader can see a close before its open. */
static uint64_t agg_active(const struct mw_agg *a)
{
	return a->opened > a->closed ? a->opened - a->closed : 0;
}

static int label_ok(const char *s)
{
	return s && strlen(s) < MW_LABEL_LEN;
}

static int row_cmp(const char *workload, const char *service, uint16_t port,
		   const struct mw_metric_row *r)
{
	int c = strcmp(workload, r->source_workload);

	if (c)
		return c;
	c = strcmp(service, r->destination_service);
	if (c)
		return c;
	return (port > r->destination_port) - (port < r->destination_port);
}

/* Index of the row with these labels, or where it would go; *found says which. */
static size_t row_find(const struct mw_metric_set *s, const char *workload, const char *service,
		       uint16_t port, int *found)
{
	size_t lo = 0, hi = s->n_rows, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (row_cmp(workload, service, port, &s->rows[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n_rows && !row_cmp(workload, service, port, &s->rows[lo]);
	return lo;
}

static size_t decision_find(const struct mw_metric_set *s, const char *workload, int *found)
{
	size_t lo = 0, hi = s->n_decisions, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(workload, s->decisions[mid].source_workload) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n_decisions && !strcmp(workload, s->decisions[lo].source_workload);
	return lo;
}

static void agg_add(struct mw_agg *d, const struct mw_agg *a)
{
	unsigned int i;

	d->opened += a->opened;
	d->closed += a->closed;
	d->bytes_sent += a->bytes_sent;
	d->bytes_received += a->bytes_received;
	d->retransmits += a->retransmits;
	for (i = 0; i < MW_END_MAX; i++)
		d->ends[i] += a->ends[i];
	d->rtt_us_sum += a->rtt_us_sum;
	d->duration_us_sum += a->duration_us_sum;
	for (i = 0; i < MW_HIST_BUCKETS; i++) {
		d->rtt_hist[i] += a->rtt_hist[i];
		d->duration_hist[i] += a->duration_hist[i];
	}
}

/* 1 if any counter of a is below b's: the totals restarted from zero. */
static int agg_went_down(const struct mw_agg *a, const struct mw_agg *b)
{
	unsigned int i;

	if (a->opened < b->opened || a->closed < b->closed || a->bytes_sent < b->bytes_sent ||
	    a->bytes_received < b->bytes_received || a->retransmits < b->retransmits ||
	    a->rtt_us_sum < b->rtt_us_sum || a->duration_us_sum < b->duration_us_sum)
		return 1;
	for (i = 0; i < MW_END_MAX; i++)
		if (a->ends[i] < b->ends[i])
			return 1;
	for (i = 0; i < MW_HIST_BUCKETS; i++)
		if (a->rtt_hist[i] < b->rtt_hist[i] || a->duration_hist[i] < b->duration_hist[i])
			return 1;
	return 0;
}

static int counters_went_down(const struct mw_counters *a, const struct mw_counters *b)
{
	unsigned int d, r;

	for (d = 0; d < MW_DIR_MAX; d++)
		for (r = 0; r < MW_R_MAX; r++)
			if (a->n[d][r] < b->n[d][r])
				return 1;
	return 0;
}

int mw_metric_set_add(struct mw_metric_set *s, const char *workload, const char *service,
		      uint16_t port, const struct mw_agg *agg)
{
	struct mw_metric_row *rows, *r;
	size_t at;
	int found;

	if (!label_ok(workload) || !label_ok(service) || !agg)
		return -EINVAL;
	at = row_find(s, workload, service, port, &found);
	if (found) {
		agg_add(&s->rows[at].agg, agg);
		return 0;
	}
	rows = realloc(s->rows, (s->n_rows + 1) * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	s->rows = rows;
	memmove(&rows[at + 1], &rows[at], (s->n_rows - at) * sizeof(*rows));
	r = &rows[at];
	memset(r, 0, sizeof(*r));
	snprintf(r->source_workload, sizeof(r->source_workload), "%s", workload);
	snprintf(r->destination_service, sizeof(r->destination_service), "%s", service);
	r->destination_port = port;
	r->agg = *agg;
	s->n_rows++;
	return 0;
}

int mw_metric_set_add_decisions(struct mw_metric_set *s, const char *workload,
				const struct mw_counters *c)
{
	struct mw_decision_row *rows, *r;
	unsigned int d, i;
	size_t at;
	int found;

	if (!label_ok(workload) || !c)
		return -EINVAL;
	at = decision_find(s, workload, &found);
	if (found) {
		for (d = 0; d < MW_DIR_MAX; d++)
			for (i = 0; i < MW_R_MAX; i++)
				s->decisions[at].c.n[d][i] += c->n[d][i];
		return 0;
	}
	rows = realloc(s->decisions, (s->n_decisions + 1) * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	s->decisions = rows;
	memmove(&rows[at + 1], &rows[at], (s->n_decisions - at) * sizeof(*rows));
	r = &rows[at];
	memset(r, 0, sizeof(*r));
	snprintf(r->source_workload, sizeof(r->source_workload), "%s", workload);
	r->c = *c;
	s->n_decisions++;
	return 0;
}

void mw_metric_set_free(struct mw_metric_set *s)
{
	if (!s)
		return;
	free(s->rows);
	free(s->decisions);
	memset(s, 0, sizeof(*s));
}

/* --- label vocabularies -------------------------------------------------- */

/* Reason names as `meshwarp status` prints them. */
static const char *const reason_names[MW_R_MAX] = {
	[MW_R_REDIRECT] = "redirect",
	[MW_R_LOCAL] = "local",
	[MW_R_UID] = "uid",
	[MW_R_GID] = "gid",
	[MW_R_PORT] = "port",
	[MW_R_ADDR] = "addr",
	[MW_R_NO_V6] = "no_ipv6",
	[MW_R_DISABLED] = "disabled",
	[MW_R_RULE] = "rule",
	[MW_R_NO_LISTENER] = "no_listener_open",
	[MW_R_REFUSED] = "no_listener_refused",
	[MW_R_REJECT] = "reject",
	[MW_R_FORWARD] = "forward",
};

/* Which reasons each direction can count, in the order status shows them. */
static const int egress_reasons[] = {
	MW_R_REDIRECT, MW_R_LOCAL, MW_R_UID, MW_R_GID, MW_R_PORT, MW_R_ADDR, MW_R_NO_V6,
	MW_R_DISABLED, MW_R_RULE, MW_R_REJECT, MW_R_FORWARD, -1,
};
static const int ingress_reasons[] = {
	MW_R_REDIRECT, MW_R_LOCAL, MW_R_PORT, MW_R_NO_V6, MW_R_DISABLED, MW_R_NO_LISTENER,
	MW_R_REFUSED, -1,
};

static const char *const dir_names[MW_DIR_MAX] = {
	[MW_DIR_EGRESS] = "egress",
	[MW_DIR_INGRESS] = "ingress",
};

static const int *const dir_reasons[MW_DIR_MAX] = {
	[MW_DIR_EGRESS] = egress_reasons,
	[MW_DIR_INGRESS] = ingress_reasons,
};

const char *mw_reason_name(int reason)
{
	return reason >= 0 && reason < MW_R_MAX ? reason_names[reason] : NULL;
}

const int *mw_dir_reasons(unsigned int dir)
{
	static const int none[] = { -1 };

	return dir < MW_DIR_MAX ? dir_reasons[dir] : none;
}

/* The action label of a reason. No reason rejects yet (MW_ACT_REJECT is reserved
 * for routing tables); a rejecting reason would return "reject" here. */
/* The action a reason stands for: a refusal for want of a listener is a reject. */
static const char *reason_action(int reason)
{
	switch (reason) {
	case MW_R_REDIRECT:
		return "redirect";
	case MW_R_REJECT:
	case MW_R_REFUSED:
		return "reject";
	case MW_R_FORWARD:
		return "forward";
	default:
		return "bypass";
	}
}

struct datapath_error {
	const char *kind;
	int stat;	/* MW_S_* */
};

static const struct datapath_error datapath_errors[] = {
	{ "origdst_table_full", MW_S_ORIG_UPDATE_ERR },
	{ "sk_storage", MW_S_SK_STORAGE_ERR },
	{ "listener_register", MW_S_LSN_UPDATE_ERR },
	{ "conn_table_full", MW_S_CONN_FULL },
	{ "agg_table_full", MW_S_AGG_FULL },
	{ "events_lost", MW_S_EVENTS_LOST },
};

static const char *const sc_event_names[MW_SC_S_MAX] = {
	[MW_SC_S_PAIRED] = "paired",
	[MW_SC_S_UNPAIRED] = "unpaired",
	[MW_SC_S_OFF_BUDGET] = "left_budget",
	[MW_SC_S_OFF_PEER] = "left_peer_gone",
	[MW_SC_S_OFF_CONFIG] = "left_turned_off",
	[MW_SC_S_INSERT_ERR] = "insert_errors",
	[MW_SC_S_TABLE_FULL] = "table_full",
	[MW_SC_S_MSGS] = "messages",
	[MW_SC_S_BYTES] = "bytes",
	[MW_SC_S_NO_PEER] = "no_peer",
	[MW_SC_S_MISMATCH] = "seq_mismatch",
	[MW_SC_S_HOLDS] = "holds",
	[MW_SC_S_HELD] = "held",
	[MW_SC_S_NOT_LOCAL] = "not_local",
};

const char *mw_sc_event_name(unsigned int idx)
{
	return idx < MW_SC_S_MAX ? sc_event_names[idx] : NULL;
}

/* The events among them: every named counter but the two volumes. */
static int sc_is_event(unsigned int idx)
{
	return sc_event_names[idx] && idx != MW_SC_S_MSGS && idx != MW_SC_S_BYTES;
}

struct connect_failure {
	const char *reason;
	int end;	/* MW_END_* */
};

static const struct connect_failure connect_failures[] = {
	{ "refused", MW_END_REFUSED },
	{ "timeout", MW_END_TIMEOUT },
	{ "other", MW_END_FAILED },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- Prometheus ---------------------------------------------------------- */

static void prom_header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format requires. */
static void prom_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\':
			fputs("\\\\", out);
			break;
		case '"':
			fputs("\\\"", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

/* name{source_workload="..",destination_service="..",destination_port="..". The caller
 * adds its own labels and closes the brace. */
static void prom_row_open(FILE *out, const char *name, const struct mw_metric_row *r)
{
	fprintf(out, "%s{source_workload=\"", name);
	prom_value(out, r->source_workload);
	fputs("\",destination_service=\"", out);
	prom_value(out, r->destination_service);
	fprintf(out, "\",destination_port=\"%u\"", r->destination_port);
}

static void prom_row_counter(FILE *out, const struct mw_metric_set *s, const char *name,
			     const char *help, size_t off)
{
	uint64_t v;
	size_t i;

	prom_header(out, name, "counter", help);
	for (i = 0; i < s->n_rows; i++) {
		memcpy(&v, (const char *)&s->rows[i].agg + off, sizeof(v));
		prom_row_open(out, name, &s->rows[i]);
		fprintf(out, "} %" PRIu64 "\n", v);
	}
}

static void prom_hist(FILE *out, const struct mw_metric_set *s, const char *name,
		      const char *help, size_t hist_off, size_t sum_off)
{
	uint64_t hist[MW_HIST_BUCKETS], sum, cum;
	char bname[128], sname[128], cname[128], num[MW_NUM_LEN];
	unsigned int b;
	size_t i;

	snprintf(bname, sizeof(bname), "%s_bucket", name);
	snprintf(sname, sizeof(sname), "%s_sum", name);
	snprintf(cname, sizeof(cname), "%s_count", name);
	prom_header(out, name, "histogram", help);
	for (i = 0; i < s->n_rows; i++) {
		memcpy(hist, (const char *)&s->rows[i].agg + hist_off, sizeof(hist));
		memcpy(&sum, (const char *)&s->rows[i].agg + sum_off, sizeof(sum));
		for (b = 0, cum = 0; b < MW_HIST_BUCKETS; b++) {
			cum += hist[b];
			prom_row_open(out, bname, &s->rows[i]);
			if (b < MW_HIST_BUCKETS - 1)
				fprintf(out, ",le=\"%s\"} %" PRIu64 "\n",
					us_seconds(UINT64_C(1) << b, num), cum);
			else
				fprintf(out, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
		}
		prom_row_open(out, sname, &s->rows[i]);
		fprintf(out, "} %s\n", us_seconds(sum, num));
		prom_row_open(out, cname, &s->rows[i]);
		fprintf(out, "} %" PRIu64 "\n", cum);
	}
}

void mw_render_route_state(FILE *out, const char *version, int64_t applied_at,
			   const struct mw_wl_gen *wl, size_t n)
{
	size_t i;

	prom_header(out, "meshwarp_routes_generation", "gauge",
		    "Table generation in force per workload; every apply and init makes a new one.");
	for (i = 0; i < n; i++) {
		fputs("meshwarp_routes_generation{source_workload=\"", out);
		prom_value(out, wl[i].workload);
		fprintf(out, "\"} %" PRIu64 "\n", wl[i].gen);
	}
	prom_header(out, "meshwarp_routes_table_info", "gauge",
		    "The routing table in force, by version (absent: the App Mesh variables decide).");
	if (version) {
		fputs("meshwarp_routes_table_info{version=\"", out);
		prom_value(out, version);
		fputs("\"} 1\n", out);
	}
	prom_header(out, "meshwarp_routes_table_applied_timestamp_seconds", "gauge",
		    "When the routing table in force was applied, by any agent or the CLI (0: none).");
	fprintf(out, "meshwarp_routes_table_applied_timestamp_seconds %" PRId64 "\n",
		version ? applied_at : 0);
}

int mw_render_prometheus(const struct mw_metric_set *s, FILE *out)
{
	const int *r;
	unsigned int d;
	uint64_t v;
	size_t i, k;

	prom_row_counter(out, s, "meshwarp_tcp_connections_opened_total",
			 "TCP connections established.", offsetof(struct mw_agg, opened));
	prom_row_counter(out, s, "meshwarp_tcp_connections_closed_total",
			 "TCP connections closed after establishment.",
			 offsetof(struct mw_agg, closed));

	prom_header(out, "meshwarp_tcp_connections_active", "gauge",
		    "TCP connections established and not closed yet.");
	for (i = 0; i < s->n_rows; i++) {
		prom_row_open(out, "meshwarp_tcp_connections_active", &s->rows[i]);
		fprintf(out, "} %" PRIu64 "\n", agg_active(&s->rows[i].agg));
	}

	prom_row_counter(out, s, "meshwarp_tcp_sent_bytes_total",
			 "Bytes the application sent and the peer acknowledged, "
			 "on closed connections.",
			 offsetof(struct mw_agg, bytes_sent));
	prom_row_counter(out, s, "meshwarp_tcp_received_bytes_total",
			 "Bytes the application received, on closed connections.",
			 offsetof(struct mw_agg, bytes_received));

	prom_header(out, "meshwarp_tcp_connect_failures_total", "counter",
		    "TCP connection attempts that failed before establishment.");
	for (i = 0; i < s->n_rows; i++) {
		for (k = 0; k < ARRAY_SIZE(connect_failures); k++) {
			v = s->rows[i].agg.ends[connect_failures[k].end];
			prom_row_open(out, "meshwarp_tcp_connect_failures_total", &s->rows[i]);
			fprintf(out, ",reason=\"%s\"} %" PRIu64 "\n",
				connect_failures[k].reason, v);
		}
	}

	prom_row_counter(out, s, "meshwarp_tcp_resets_total",
			 "Established TCP connections ended by a reset.",
			 offsetof(struct mw_agg, ends[MW_END_RESET]));
	prom_row_counter(out, s, "meshwarp_tcp_retransmits_total",
			 "TCP segments retransmitted, on closed connections.",
			 offsetof(struct mw_agg, retransmits));

	prom_hist(out, s, "meshwarp_tcp_rtt_seconds",
		  "Smoothed round-trip time of TCP connections when they closed.",
		  offsetof(struct mw_agg, rtt_hist), offsetof(struct mw_agg, rtt_us_sum));
	prom_hist(out, s, "meshwarp_tcp_connection_duration_seconds",
		  "Time from establishment to close of TCP connections.",
		  offsetof(struct mw_agg, duration_hist), offsetof(struct mw_agg, duration_us_sum));

	prom_header(out, "meshwarp_decisions_total", "counter",
		    "Interception decisions, by direction, action and reason.");
	for (i = 0; i < s->n_decisions; i++) {
		for (d = 0; d < MW_DIR_MAX; d++) {
			for (r = dir_reasons[d]; *r >= 0; r++) {
				v = s->decisions[i].c.n[d][*r];
				fputs("meshwarp_decisions_total{source_workload=\"", out);
				prom_value(out, s->decisions[i].source_workload);
				fprintf(out, "\",direction=\"%s\",action=\"%s\",reason=\"%s\"} %"
					PRIu64 "\n", dir_names[d], reason_action(*r),
					reason_names[*r], v);
			}
		}
	}

	prom_header(out, "meshwarp_datapath_errors_total", "counter",
		    "Datapath failures: a table full, socket storage, a lost event.");
	for (k = 0; k < ARRAY_SIZE(datapath_errors); k++)
		fprintf(out, "meshwarp_datapath_errors_total{kind=\"%s\"} %" PRIu64 "\n",
			datapath_errors[k].kind, s->stats[datapath_errors[k].stat]);

	if (s->has_sc) {
		prom_header(out, "meshwarp_shortcut_events_total", "counter",
			    "What the local shortcut did, host-wide: connections paired, left, kept off it and why (docs/shortcut.md).");
		for (k = 0; k < MW_SC_S_MAX; k++)
			if (sc_is_event((unsigned int)k))
				fprintf(out, "meshwarp_shortcut_events_total{event=\"%s\"} %" PRIu64 "\n",
					sc_event_names[k], s->sc_events[k]);
		prom_header(out, "meshwarp_shortcut_messages_total", "counter",
			    "Messages the local shortcut handed from one socket to its peer, host-wide.");
		fprintf(out, "meshwarp_shortcut_messages_total %" PRIu64 "\n", s->sc_events[MW_SC_S_MSGS]);
		prom_header(out, "meshwarp_shortcut_bytes_total", "counter",
			    "Bytes the local shortcut handed from one socket to its peer, host-wide.");
		fprintf(out, "meshwarp_shortcut_bytes_total %" PRIu64 "\n", s->sc_events[MW_SC_S_BYTES]);
	}

	/* A stream error sticks: one check after everything was written. */
	errno = 0;
	if (fflush(out) || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}

/* --- statsd -------------------------------------------------------------- */

struct packer {
	char *buf;
	size_t len;
	size_t mtu;
	int (*emit)(void *ctx, const char *buf, size_t len);
	void *ctx;
	int err;		/* first error of emit: nothing more is sent */
	int too_long;		/* a line was left out */
};

static void pack_flush(struct packer *p)
{
	int ret;

	if (p->err || !p->len)
		return;
	ret = p->emit(p->ctx, p->buf, p->len);
	p->len = 0;
	if (ret < 0)
		p->err = ret;
}

static void __attribute__((format(printf, 2, 3)))
pack_line(struct packer *p, const char *fmt, ...)
{
	char line[MW_STATSD_LINE_LEN];
	va_list ap;
	int n;

	if (p->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > p->mtu) {
		p->too_long = 1;
		return;
	}
	if (p->len && p->len + 1 + (size_t)n > p->mtu)
		pack_flush(p);
	if (p->err)
		return;
	if (p->len)
		p->buf[p->len++] = '\n';
	memcpy(p->buf + p->len, line, (size_t)n);
	p->len += (size_t)n;
}

/* A tag value with the characters that delimit statsd lines and tags replaced. */
static void tag_value(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < len; i++)
		dst[i] = (strchr(",|#:", src[i]) || (unsigned char)src[i] < 0x20 ||
			  src[i] == 0x7f) ? '_' : src[i];
	dst[i] = '\0';
}

static void statsd_counter(struct packer *p, const char *name, uint64_t inc, const char *tags)
{
	if (inc)
		pack_line(p, "%s:%" PRIu64 "|c|#%s", name, inc, tags);
}

/* Mean of the interval in milliseconds, when anything closed in it. */
static void statsd_mean(struct packer *p, const char *name, const __u64 *hist,
			const __u64 *prev_hist, uint64_t sum, const char *tags)
{
	uint64_t count = 0;
	unsigned int b;

	for (b = 0; b < MW_HIST_BUCKETS; b++)
		count += hist[b] - prev_hist[b];
	if (count)
		pack_line(p, "%s:%.3f|g|#%s", name, (double)sum / (double)count / MW_US_PER_MS,
			  tags);
}

static void statsd_row(struct packer *p, const struct mw_metric_row *r,
		       const struct mw_metric_set *prev)
{
	static const struct mw_agg zero;
	const struct mw_agg *a = &r->agg, *b = &zero;
	char w[MW_LABEL_LEN], svc[MW_LABEL_LEN], tags[3 * MW_LABEL_LEN];
	uint64_t inc;
	size_t at, k;
	int found;

	if (prev) {
		at = row_find(prev, r->source_workload, r->destination_service,
			      r->destination_port, &found);
		if (found && !agg_went_down(a, &prev->rows[at].agg))
			b = &prev->rows[at].agg;
	}
	tag_value(w, sizeof(w), r->source_workload);
	tag_value(svc, sizeof(svc), r->destination_service);
	snprintf(tags, sizeof(tags),
		 "source_workload:%s,destination_service:%s,destination_port:%u",
		 w, svc, r->destination_port);

	statsd_counter(p, "meshwarp.tcp.connections_opened", a->opened - b->opened, tags);
	statsd_counter(p, "meshwarp.tcp.connections_closed", a->closed - b->closed, tags);
	pack_line(p, "meshwarp.tcp.connections_active:%" PRIu64 "|g|#%s", agg_active(a), tags);
	statsd_counter(p, "meshwarp.tcp.sent_bytes", a->bytes_sent - b->bytes_sent, tags);
	statsd_counter(p, "meshwarp.tcp.received_bytes", a->bytes_received - b->bytes_received,
		       tags);
	for (k = 0; k < ARRAY_SIZE(connect_failures); k++) {
		inc = a->ends[connect_failures[k].end] - b->ends[connect_failures[k].end];
		if (inc)
			pack_line(p, "meshwarp.tcp.connect_failures:%" PRIu64 "|c|#%s,reason:%s",
				  inc, tags, connect_failures[k].reason);
	}
	statsd_counter(p, "meshwarp.tcp.resets", a->ends[MW_END_RESET] - b->ends[MW_END_RESET],
		       tags);
	statsd_counter(p, "meshwarp.tcp.retransmits", a->retransmits - b->retransmits, tags);
	statsd_mean(p, "meshwarp.tcp.rtt_ms", a->rtt_hist, b->rtt_hist,
		    a->rtt_us_sum - b->rtt_us_sum, tags);
	statsd_mean(p, "meshwarp.tcp.connection_duration_ms", a->duration_hist, b->duration_hist,
		    a->duration_us_sum - b->duration_us_sum, tags);
}

static void statsd_decisions(struct packer *p, const struct mw_decision_row *r,
			     const struct mw_metric_set *prev)
{
	static const struct mw_counters zero;
	const struct mw_counters *b = &zero;
	char w[MW_LABEL_LEN];
	unsigned int d;
	const int *rs;
	uint64_t inc;
	size_t at;
	int found;

	if (prev) {
		at = decision_find(prev, r->source_workload, &found);
		if (found && !counters_went_down(&r->c, &prev->decisions[at].c))
			b = &prev->decisions[at].c;
	}
	tag_value(w, sizeof(w), r->source_workload);
	for (d = 0; d < MW_DIR_MAX; d++) {
		for (rs = dir_reasons[d]; *rs >= 0; rs++) {
			inc = r->c.n[d][*rs] - b->n[d][*rs];
			if (inc)
				pack_line(p, "meshwarp.decisions:%" PRIu64
					  "|c|#source_workload:%s,direction:%s,action:%s,reason:%s",
					  inc, w, dir_names[d], reason_action(*rs),
					  reason_names[*rs]);
		}
	}
}

int mw_render_statsd(const struct mw_metric_set *s, const struct mw_metric_set *prev,
		     size_t mtu, int (*emit)(void *ctx, const char *buf, size_t len), void *ctx)
{
	static const uint64_t zero_stats[MW_S_MAX], zero_sc[MW_SC_S_MAX];
	struct packer p = {};
	const uint64_t *b = zero_stats;
	size_t i;
	int st;

	if (!mtu || !emit)
		return -EINVAL;
	p.buf = malloc(mtu);
	if (!p.buf)
		return -ENOMEM;
	p.mtu = mtu;
	p.emit = emit;
	p.ctx = ctx;

	for (i = 0; i < s->n_rows; i++)
		statsd_row(&p, &s->rows[i], prev);
	for (i = 0; i < s->n_decisions; i++)
		statsd_decisions(&p, &s->decisions[i], prev);

	if (prev) {
		b = prev->stats;
		for (st = 0; st < MW_S_MAX; st++)
			if (s->stats[st] < prev->stats[st])
				b = zero_stats;
	}
	for (i = 0; i < ARRAY_SIZE(datapath_errors); i++) {
		st = datapath_errors[i].stat;
		if (s->stats[st] - b[st])
			pack_line(&p, "meshwarp.datapath_errors:%" PRIu64 "|c|#kind:%s",
				  s->stats[st] - b[st], datapath_errors[i].kind);
	}
	if (s->has_sc) {
		/* The same as the stats: a counter that went back (a reload) counts from zero. */
		const uint64_t *sb = zero_sc;

		if (prev && prev->has_sc) {
			sb = prev->sc_events;
			for (st = 0; st < MW_SC_S_MAX; st++)
				if (s->sc_events[st] < prev->sc_events[st])
					sb = zero_sc;
		}
		for (st = 0; st < MW_SC_S_MAX; st++) {
			uint64_t dv = s->sc_events[st] - sb[st];

			if (!dv || !sc_event_names[st])
				continue;
			if (sc_is_event((unsigned int)st))
				pack_line(&p, "meshwarp.shortcut_events:%" PRIu64 "|c|#event:%s", dv,
					  sc_event_names[st]);
			else
				pack_line(&p, "meshwarp.shortcut_%s:%" PRIu64 "|c", sc_event_names[st], dv);
		}
	}
	pack_flush(&p);
	free(p.buf);
	if (p.err)
		return p.err;
	return p.too_long ? -EMSGSIZE : 0;
}

/* --- JSON lines ---------------------------------------------------------- */

static const char *const role_names[] = {
	[MW_ROLE_DIRECT] = "direct",
	[MW_ROLE_REDIRECTED] = "redirected",
	[MW_ROLE_SIDECAR] = "sidecar",
	[MW_ROLE_INBOUND] = "inbound",
};

static const char *const end_names[MW_END_MAX] = {
	[MW_END_NORMAL] = "normal",
	[MW_END_RESET] = "reset",
	[MW_END_REFUSED] = "refused",
	[MW_END_TIMEOUT] = "timeout",
	[MW_END_FAILED] = "failed",
};

/* "10.0.0.1:80" or "[fd00::1]:443"; port in network order. */
static void addr_port_str(const uint8_t addr[MW_ADDR_LEN], __be16 port, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	addr_str(addr, a, sizeof(a));
	if (is_v4_mapped(addr))
		snprintf(buf, len, "%s:%u", a, ntohs(port));
	else
		snprintf(buf, len, "[%s]:%u", a, ntohs(port));
}

/* Adds v under key unless an earlier add failed; a NULL v is out of memory. */
static void jadd(json_object *o, const char *key, json_object *v, int *ret)
{
	if (!*ret && v && !json_object_object_add(o, key, v))
		return;
	json_object_put(v);
	if (!*ret)
		*ret = -ENOMEM;
}

int mw_render_conn_json(const struct mw_conn_event *e, const char *workload,
			const struct mw_names *names, uint64_t boot_to_realtime_ns, FILE *out)
{
	return mw_render_conn_json_hop(e, workload, names, boot_to_realtime_ns, 0, out);
}

int mw_render_conn_json_hop(const struct mw_conn_event *e, const char *workload,
			    const struct mw_names *names, uint64_t boot_to_realtime_ns,
			    uint64_t hop, FILE *out)
{
	const struct mw_conn *c = &e->c;
	char when[sizeof("YYYY-mm-ddTHH:MM:SS.mmmZ") + 16], src[MW_ADDRPORT_LEN];
	char dst[MW_ADDRPORT_LEN], svc[MW_LABEL_LEN], dur[MW_NUM_LEN];
	uint64_t t = e->end_ns + boot_to_realtime_ns, from;
	time_t secs = (time_t)(t / MW_NS_PER_S);
	const char *role = "unknown", *outcome = "unknown", *line;
	json_object *o;
	struct tm tm;
	size_t n;
	int ret = 0;

	if (!gmtime_r(&secs, &tm))
		return -EOVERFLOW;
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return -EOVERFLOW;
	snprintf(when + n, sizeof(when) - n, ".%03uZ",
		 (unsigned int)(t % MW_NS_PER_S / MW_NS_PER_MS));
	if (c->role < ARRAY_SIZE(role_names) && role_names[c->role])
		role = role_names[c->role];
	if (e->end < MW_END_MAX && end_names[e->end])
		outcome = end_names[e->end];
	addr_port_str(c->saddr, c->sport, src, sizeof(src));
	addr_port_str(c->daddr, c->dport, dst, sizeof(dst));
	mw_names_service(names, c->daddr, ntohs(c->dport), svc, sizeof(svc));
	from = c->established_ns ? c->established_ns : c->start_ns;
	us_seconds(e->end_ns > from ? (e->end_ns - from) / MW_NS_PER_US : 0, dur);

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	jadd(o, "time", json_object_new_string(when), &ret);
	if (workload)
		jadd(o, "source_workload", json_object_new_string(workload), &ret);
	else if (!ret && json_object_object_add(o, "source_workload", NULL))
		ret = -ENOMEM;
	jadd(o, "role", json_object_new_string(role), &ret);
	jadd(o, "src", json_object_new_string(src), &ret);
	jadd(o, "dst", json_object_new_string(dst), &ret);
	jadd(o, "destination_service", json_object_new_string(svc), &ret);
	jadd(o, "outcome", json_object_new_string(outcome), &ret);
	/* The decimal as written: json-c prints a double as %.17g, 0.00025 as
	 * 0.00025000000000000001. */
	jadd(o, "duration_s", json_object_new_double_s(strtod(dur, NULL), dur), &ret);
	jadd(o, "sent_bytes", json_object_new_uint64(c->bytes_sent), &ret);
	jadd(o, "received_bytes", json_object_new_uint64(c->bytes_received), &ret);
	jadd(o, "segs_out", json_object_new_uint64(c->segs_out), &ret);
	jadd(o, "segs_in", json_object_new_uint64(c->segs_in), &ret);
	jadd(o, "srtt_us", json_object_new_uint64(c->srtt_us), &ret);
	jadd(o, "min_rtt_us", json_object_new_uint64(c->min_rtt_us), &ret);
	jadd(o, "retransmits", json_object_new_uint64(c->retransmits), &ret);
	jadd(o, "cookie", json_object_new_uint64(e->cookie), &ret);
	if (hop)
		jadd(o, "hop", json_object_new_uint64(hop), &ret);
	if (ret)
		goto cleanup;

	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!line) {
		ret = -ENOMEM;
		goto cleanup;
	}
	if (fprintf(out, "%s\n", line) < 0)
		ret = -EIO;
cleanup:
	json_object_put(o);
	return ret;
}

int mw_tracking_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "on") || !strcmp(s, "1"))
		return 1;
	if (!strcmp(s, "off") || !strcmp(s, "0"))
		return 0;
	return -EINVAL;
}

void mw_conn_refresh(struct mw_conn *c, const struct mw_tcp_fresh *f)
{
	uint64_t acked = f->bytes_acked, rcvd = f->bytes_received;

	/* the corrections of mw_conn_sample (bpf/lib/track.bpf.h) */
	if (c->established_ns && c->role != MW_ROLE_INBOUND && acked)
		acked--;
	/* linux/tcp_states.h: FIN_WAIT2 5, TIME_WAIT 6, CLOSE_WAIT 8, LAST_ACK 9, CLOSING 11 */
	int fin_acked = f->state == 5 || f->state == 6;
	int fin_in = f->state == 6 || f->state == 8 || f->state == 9 || f->state == 11;

	if (((c->flags & MW_CONN_F_FIN_ACKED) || fin_acked) && acked)
		acked--;
	if (((c->flags & MW_CONN_F_FIN_IN) || fin_in) && rcvd)
		rcvd--;
	if (!c->established_ns)
		return;	/* nothing moved yet */
	if (acked > c->bytes_sent)
		c->bytes_sent = acked;
	if (rcvd > c->bytes_received)
		c->bytes_received = rcvd;
	if (f->data_segs_out > c->segs_out)
		c->segs_out = f->data_segs_out;
	if (f->data_segs_in > c->segs_in)
		c->segs_in = f->data_segs_in;
	if (f->total_retrans > c->retransmits)
		c->retransmits = f->total_retrans;
	if (f->rtt_us)
		c->srtt_us = f->rtt_us;
	if (f->min_rtt_us && (!c->min_rtt_us || f->min_rtt_us < c->min_rtt_us))
		c->min_rtt_us = f->min_rtt_us;
}
