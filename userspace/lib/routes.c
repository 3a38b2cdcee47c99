// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Routing tables: a JSON document -> struct mw_routes (validated; rules that
 * can never decide or that overlap are warned about), and struct mw_routes ->
 * the kernel's table for one workload. docs/routes.md is the reference.
 *
 * The kernel looks up the longest prefix that holds a destination and takes
 * the first entry of that prefix's list whose ports match (policy.bpf.h). The
 * compiler therefore gives every prefix the whole ordered list of rules that
 * cover it, which it builds from its parent's list in one pass over the
 * prefixes sorted by address: near-linear, never rule against rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "routes.h"
#include "routes_json.h"

#define MW_PORT_MAX		65535u
#define MW_WEIGHT_MAX		1000000u
#define MW_VERSION_MAX		(sizeof(((struct mw_routes *)0)->version) - 1)
#define MW_V4_OFF		12
#define MW_ANY_WORKLOAD		"*"
#define NONE			UINT32_MAX

static const struct {
	const char *name;
	int err;
} mw_route_errnos[] = {
	{ "ECONNREFUSED", ECONNREFUSED },
	{ "EHOSTUNREACH", EHOSTUNREACH },
	{ "ENETUNREACH", ENETUNREACH },
	{ "EACCES", EACCES },
	{ "EPERM", EPERM },
	{ "ETIMEDOUT", ETIMEDOUT },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ::ffff:0:0/96, where IPv4 lives in the 128-bit space; 0.0.0.0/0 as a key. */
static const struct mw_cidr mw_v4_space = {
	.addr = { [10] = 0xff, [11] = 0xff },
	.prefix = MW_V4_MAPPED_BITS,
	.is_v4 = 1,
};

/* ::/0, the home of rules without a destination for IPv6. */
static const struct mw_cidr mw_all_space = {};

/* ------------------------------------------------------------------------ */
/* Small helpers */

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	if (*cap > SIZE_MAX / 2 / elem)
		return -ENOMEM;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Whether a contains b (a's prefix is no longer and their first a->prefix bits agree). */
static int cidr_contains(const struct mw_cidr *a, const struct mw_cidr *b)
{
	unsigned int full = a->prefix / 8, rest = a->prefix % 8;

	if (a->prefix > b->prefix)
		return 0;
	if (memcmp(a->addr, b->addr, full))
		return 0;
	if (!rest)
		return 1;
	return !((a->addr[full] ^ b->addr[full]) & (0xffu << (8 - rest)));
}

/* An IPv6 block that holds all of IPv4 (::/0 .. ::ffff:0:0/96 written as IPv6). */
static int cidr_covers_v4(const struct mw_cidr *c)
{
	return !c->is_v4 && cidr_contains(c, &mw_v4_space);
}

static int cmp_cidr(const struct mw_cidr *a, const struct mw_cidr *b)
{
	int d = memcmp(a->addr, b->addr, sizeof(a->addr));

	if (d)
		return d;
	return (a->prefix > b->prefix) - (a->prefix < b->prefix);
}

static int rule_full(const struct mw_route_rule *r)
{
	return r->port_lo == 0 && r->port_hi == MW_PORT_MAX;
}

static int rule_same_action(const struct mw_route_rule *a, const struct mw_route_rule *b)
{
	if (a->action != b->action)
		return 0;
	switch (a->action) {
	case MW_RA_SIDECAR:
		return a->sidecar_port == b->sidecar_port;
	case MW_RA_REJECT:
		return a->err == b->err;
	case MW_RA_FORWARD:
		return a->svc == b->svc;
	default:
		return 1;
	}
}

/* ------------------------------------------------------------------------ */
/* Prefix forests: prefixes sorted by address, then length, so that a block comes
 * before everything inside it and each block's subtree is a contiguous run. */

struct pfx_ent {
	const struct mw_cidr *c;
	uint32_t item;		/* rule index; NONE for a prefix that is only a node */
};

struct pfx_node {
	const struct mw_cidr *c;
	uint32_t parent;	/* nearest enclosing node, NONE at the top */
	uint32_t end;		/* subtree: nodes [self, end) */
	uint32_t first, n;	/* its entries: ents[first .. first + n), items ascending */
};

static int cmp_pfx_ent(const void *a, const void *b)
{
	const struct pfx_ent *x = a, *y = b;
	int d = cmp_cidr(x->c, y->c);

	if (d)
		return d;
	return (x->item > y->item) - (x->item < y->item);
}

/* Sorts ents and groups them into nodes with parents and subtree ends. */
static int pfx_build(struct pfx_ent *ents, size_t n, struct pfx_node **out, size_t *n_out)
{
	/* Nested blocks differ in length: at most 129 deep. */
	uint32_t stack[MW_ADDR_LEN * 8 + 1];
	struct pfx_node *nodes;
	size_t i, nn = 0, depth = 0;

	*out = NULL;
	*n_out = 0;
	if (!n)
		return 0;
	if (n >= NONE)
		return -E2BIG;
	qsort(ents, n, sizeof(*ents), cmp_pfx_ent);
	nodes = calloc(n, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct pfx_node *nd;

		if (nn && !cmp_cidr(nodes[nn - 1].c, ents[i].c)) {
			nodes[nn - 1].n++;
			continue;
		}
		nd = &nodes[nn];
		nd->c = ents[i].c;
		nd->first = (uint32_t)i;
		nd->n = 1;
		while (depth && !cidr_contains(nodes[stack[depth - 1]].c, nd->c))
			nodes[stack[--depth]].end = (uint32_t)nn;
		nd->parent = depth ? stack[depth - 1] : NONE;
		stack[depth++] = (uint32_t)nn;
		nn++;
	}
	while (depth)
		nodes[stack[--depth]].end = (uint32_t)nn;
	*out = nodes;
	*n_out = nn;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Parsing */

struct parser {
	struct mw_routes *rt;
	char *err;
	size_t errlen;
	mw_warn_fn warn;
	void *warn_ctx;
	uint32_t *svc_by_name;	/* service indices sorted by name */
	const struct mw_json *j;	/* the document's tree */
};

static int __attribute__((format(printf, 3, 4)))
fail(struct parser *p, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return set_err(p->err, p->errlen, "%s: %s", path, msg);
}

static int nomem_err(char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static int nomem(struct parser *p)
{
	return nomem_err(p->err, p->errlen);
}

/* "line L, column C" of a byte offset; both from 1, columns in bytes. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
	size_t i, l = 1, start = 0;

	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			l++;
			start = i + 1;
		}
	}
	*line = l;
	*col = off - start + 1;
}

static int syntax_err(struct parser *p, const char *text, size_t off, const char *what)
{
	size_t line, col;

	line_col(text, off, &line, &col);
	return set_err(p->err, p->errlen, "line %zu, column %zu: %s", line, col, what);
}

/* Member `key` of object o: 1 and *v when present (a JSON null too). */
static int member(struct parser *p, const struct mw_json_node *o, const char *key,
		  const struct mw_json_node **v)
{
	*v = mw_json_get(p->j, o, key);
	return *v != NULL;
}

static void path_key(char *buf, size_t len, const char *path, const char *key)
{
	if (*path)
		snprintf(buf, len, "%s.%s", path, key);
	else
		snprintf(buf, len, "%s", key);
}

static int check_keys(struct parser *p, const struct mw_json_node *o, const char *path,
		      const char *const *keys)
{
	char kp[256];
	size_t i, k;

	for (i = 0; i < mw_json_len(o); i++) {
		const char *name = mw_json_key(p->j, mw_json_at(p->j, o, i));

		for (k = 0; keys[k]; k++)
			if (!strcmp(keys[k], name))
				break;
		if (!keys[k]) {
			path_key(kp, sizeof(kp), path, name);
			return fail(p, kp, "unknown key");
		}
	}
	return 0;
}

static int want_object(struct parser *p, const struct mw_json_node *v, const char *path)
{
	if (!mw_json_is(v, MW_JSON_OBJECT))
		return fail(p, path, "not an object");
	return 0;
}

static int want_array(struct parser *p, const struct mw_json_node *v, const char *path)
{
	if (!mw_json_is(v, MW_JSON_ARRAY))
		return fail(p, path, "not an array");
	return 0;
}

static int get_str(struct parser *p, const struct mw_json_node *v, const char *path, const char **s)
{
	*s = "";
	if (!mw_json_is(v, MW_JSON_STRING))
		return fail(p, path, "not a string");
	*s = mw_json_str(p->j, v);
	return 0;
}

static int get_int(struct parser *p, const struct mw_json_node *v, const char *path, int64_t min,
		   int64_t max, int64_t *out)
{
	const char *text;
	int64_t x;
	int n;

	if (!mw_json_is(v, MW_JSON_INT))
		return fail(p, path, "not an integer");
	if (mw_json_int(p->j, v, &x)) {
		text = mw_json_num_text(p->j, v, &n);
		return fail(p, path, "%.*s out of range", n, text);
	}
	if (x < min || x > max)
		return fail(p, path, "%lld out of range", (long long)x);
	*out = x;
	return 0;
}

/* A name: a string of 1..MW_NAME_LEN-1 bytes. */
static int get_name(struct parser *p, const struct mw_json_node *v, const char *path, char *out)
{
	const char *s;
	size_t n;
	int ret;

	ret = get_str(p, v, path, &s);
	if (ret)
		return ret;
	n = strlen(s);
	if (!n)
		return fail(p, path, "empty");
	if (n >= MW_NAME_LEN)
		return fail(p, path, "longer than %d characters", MW_NAME_LEN - 1);
	memcpy(out, s, n + 1);
	return 0;
}

/* A required member. */
static int need(struct parser *p, const struct mw_json_node *o, const char *path, const char *key,
		const struct mw_json_node **v)
{
	char kp[256];

	if (member(p, o, key, v))
		return 0;
	path_key(kp, sizeof(kp), path, key);
	return fail(p, kp, "missing");
}

/* Whether s is a valid address and prefix length whose only fault is host bits set. */
static int cidr_host_bits(const char *s)
{
	char buf[INET6_ADDRSTRLEN + 8], *len;
	struct mw_cidr tmp;
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n + 1);
	len = strchr(buf, '/');
	if (!len)
		return 0;
	*len++ = '\0';
	if (mw_parse_cidr(buf, &tmp) || !*len || strlen(len) > 3 ||
	    strspn(len, "0123456789") != strlen(len))
		return 0;
	return atoi(len) <= (strchr(buf, ':') ? 128 : 32);
}

/* An address or CIDR block. */
static int get_cidr(struct parser *p, const struct mw_json_node *v, const char *path, struct mw_cidr *c)
{
	const char *s;
	int ret;

	ret = get_str(p, v, path, &s);
	if (ret)
		return ret;
	if (!mw_parse_cidr(s, c))
		return 0;
	if (cidr_host_bits(s))
		return fail(p, path, "\"%s\" has host bits set", s);
	return fail(p, path, "\"%s\" is not an address or CIDR block", s);
}

/* "a.b.c.d:port" or "[v6]:port". */
static int parse_endpoint(const char *s, struct mw_route_endpoint *ep, int *is_v4)
{
	char buf[INET6_ADDRSTRLEN + 16], *host, *port, *close;
	struct in_addr a4;
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	memset(ep, 0, sizeof(*ep));
	if (buf[0] == '[') {
		close = strchr(buf, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		*close = '\0';
		host = buf + 1;
		port = close + 2;
		if (inet_pton(AF_INET6, host, ep->addr) != 1)
			return -EINVAL;
		*is_v4 = ep->addr[10] == 0xff && ep->addr[11] == 0xff &&
			 !memcmp(ep->addr, mw_v4_space.addr, MW_V4_OFF);
	} else {
		port = strchr(buf, ':');
		if (!port || strchr(port + 1, ':'))
			return -EINVAL;
		*port++ = '\0';
		if (inet_pton(AF_INET, buf, &a4) != 1)
			return -EINVAL;
		ep->addr[10] = 0xff;
		ep->addr[11] = 0xff;
		memcpy(&ep->addr[MW_V4_OFF], &a4, sizeof(a4));
		*is_v4 = 1;
	}
	return mw_parse_port(port, &ep->port);
}

static const char *fam_name(int is_v4)
{
	return is_v4 ? "IPv4" : "IPv6";
}

static int cmp_port(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x > y) - (x < y);
}

static const char *const svc_keys[] = { "name", "addresses", "ports", "versions", NULL };
static const char *const ver_keys[] = { "name", "weight", "endpoints", NULL };

static int parse_version(struct parser *p, const struct mw_json_node *o, const char *svc_path,
			 size_t vi, struct mw_route_service *s, int *fam)
{
	struct mw_route_version *v = &s->versions[vi];
	const struct mw_json_node *m, *e;
	char path[96], kp[160];
	const char *str;
	int64_t w;
	size_t k;
	int ret, is_v4;

	snprintf(path, sizeof(path), "%s.versions[%zu]", svc_path, vi);
	ret = want_object(p, o, path) ?: check_keys(p, o, path, ver_keys);
	if (ret)
		return ret;
	ret = need(p, o, path, "name", &m);
	if (ret)
		return ret;
	snprintf(kp, sizeof(kp), "%s.name", path);
	ret = get_name(p, m, kp, v->name);
	if (ret)
		return ret;
	for (k = 0; k < vi; k++)
		if (!strcmp(s->versions[k].name, v->name))
			return fail(p, kp, "\"%s\" already names %s.versions[%zu]", v->name,
				    svc_path, k);
	ret = need(p, o, path, "weight", &m);
	if (ret)
		return ret;
	snprintf(kp, sizeof(kp), "%s.weight", path);
	ret = get_int(p, m, kp, 0, MW_WEIGHT_MAX, &w);
	if (ret)
		return ret;
	v->weight = (uint32_t)w;

	snprintf(kp, sizeof(kp), "%s.endpoints", path);
	if (member(p, o, "endpoints", &m)) {
		ret = want_array(p, m, kp);
		if (ret)
			return ret;
		v->n_eps = mw_json_len(m);
		if (v->n_eps) {
			v->eps = calloc(v->n_eps, sizeof(*v->eps));
			if (!v->eps)
				return nomem(p);
		}
		for (k = 0; k < v->n_eps; k++) {
			char ep_path[192];

			snprintf(ep_path, sizeof(ep_path), "%s[%zu]", kp, k);
			e = mw_json_at(p->j, m, k);
			ret = get_str(p, e, ep_path, &str);
			if (ret)
				return ret;
			if (parse_endpoint(str, &v->eps[k], &is_v4))
				return fail(p, ep_path, "\"%s\" is not address:port", str);
			if (*fam >= 0 && *fam != is_v4)
				return fail(p, ep_path, "%s endpoint in an %s service",
					    fam_name(is_v4), fam_name(*fam));
			*fam = is_v4;
		}
	}
	if (v->weight && !v->n_eps)
		return fail(p, kp, "none for a weight of %u", v->weight);
	return 0;
}

static int parse_service(struct parser *p, const struct mw_json_node *o, size_t si)
{
	struct mw_route_service *s = &p->rt->services[si];
	const struct mw_json_node *m, *e;
	char path[64], kp[128];
	uint64_t total = 0;
	size_t k, weighted = 0;
	int ret, fam = -1;
	int64_t port;

	snprintf(path, sizeof(path), "services[%zu]", si);
	ret = want_object(p, o, path) ?: check_keys(p, o, path, svc_keys);
	if (ret)
		return ret;
	ret = need(p, o, path, "name", &m);
	if (ret)
		return ret;
	snprintf(kp, sizeof(kp), "%s.name", path);
	ret = get_name(p, m, kp, s->name);
	if (ret)
		return ret;

	if (member(p, o, "addresses", &m)) {
		snprintf(kp, sizeof(kp), "%s.addresses", path);
		ret = want_array(p, m, kp);
		if (ret)
			return ret;
		s->n_addrs = mw_json_len(m);
		if (s->n_addrs) {
			s->addrs = calloc(s->n_addrs, sizeof(*s->addrs));
			if (!s->addrs)
				return nomem(p);
		}
		for (k = 0; k < s->n_addrs; k++) {
			snprintf(kp, sizeof(kp), "%s.addresses[%zu]", path, k);
			e = mw_json_at(p->j, m, k);
			ret = get_cidr(p, e, kp, &s->addrs[k]);
			if (ret)
				return ret;
			if (fam >= 0 && fam != s->addrs[k].is_v4)
				return fail(p, kp, "%s address in an %s service",
					    fam_name(s->addrs[k].is_v4), fam_name(fam));
			fam = s->addrs[k].is_v4;
		}
	}

	if (member(p, o, "ports", &m)) {
		snprintf(kp, sizeof(kp), "%s.ports", path);
		ret = want_array(p, m, kp);
		if (ret)
			return ret;
		s->n_ports = mw_json_len(m);
		if (!s->n_ports)
			return fail(p, kp, "empty (leave it out for every port)");
		s->ports = calloc(s->n_ports, sizeof(*s->ports));
		if (!s->ports)
			return nomem(p);
		for (k = 0; k < s->n_ports; k++) {
			snprintf(kp, sizeof(kp), "%s.ports[%zu]", path, k);
			e = mw_json_at(p->j, m, k);
			ret = get_int(p, e, kp, 1, MW_PORT_MAX, &port);
			if (ret)
				return ret;
			s->ports[k] = (uint16_t)port;
		}
		qsort(s->ports, s->n_ports, sizeof(*s->ports), cmp_port);
		for (k = 1, weighted = 1; k < s->n_ports; k++)
			if (s->ports[k] != s->ports[weighted - 1])
				s->ports[weighted++] = s->ports[k];
		s->n_ports = weighted;
		weighted = 0;
	}

	if (member(p, o, "versions", &m)) {
		snprintf(kp, sizeof(kp), "%s.versions", path);
		ret = want_array(p, m, kp);
		if (ret)
			return ret;
		s->n_versions = mw_json_len(m);
		if (s->n_versions) {
			s->versions = calloc(s->n_versions, sizeof(*s->versions));
			if (!s->versions)
				return nomem(p);
		}
		for (k = 0; k < s->n_versions; k++) {
			ret = parse_version(p, mw_json_at(p->j, m, k), path, k, s, &fam);
			if (ret)
				return ret;
			total += s->versions[k].weight;
			if (s->versions[k].weight)
				weighted += s->versions[k].n_eps;
		}
		if (!total)
			return fail(p, kp, "weights add up to 0");
		if (total > MW_WEIGHT_MAX)
			return fail(p, kp, "weights add up to %llu, more than %u",
				    (unsigned long long)total, MW_WEIGHT_MAX);
		if (weighted > MW_SVC_ENDPOINTS)
			return fail(p, kp,
				    "%zu endpoints with a weight, the kernel takes at most %d",
				    weighted, MW_SVC_ENDPOINTS);
	}
	return 0;
}

/* The family of a service: of its addresses, else of its endpoints; -1 if it has neither. */
static int svc_family(const struct mw_route_service *s)
{
	size_t v;

	if (s->n_addrs)
		return s->addrs[0].is_v4;
	for (v = 0; v < s->n_versions; v++)
		if (s->versions[v].n_eps)
			return !memcmp(s->versions[v].eps[0].addr, mw_v4_space.addr, MW_V4_OFF);
	return -1;
}

/* Finds the first pair of equal names (the later one in document order) in `names`
 * of n entries `stride` bytes apart. Returns 1 with *dup and *orig set. */
static int cmp_name_idx(const void *a, const void *b, void *ctx)
{
	const char *base = ((const char *const *)ctx)[0];
	size_t stride = (size_t)((const char *const *)ctx)[1];
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int d = strcmp(base + x * stride, base + y * stride);

	return d ? d : (x > y) - (x < y);
}

static int sort_names(const char *base, size_t stride, size_t n, uint32_t **out)
{
	const char *ctx[2] = { base, (const char *)stride };
	uint32_t *idx;
	size_t i;

	*out = NULL;
	if (!n)
		return 0;
	idx = calloc(n, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	qsort_r(idx, n, sizeof(*idx), cmp_name_idx, ctx);
	*out = idx;
	return 0;
}

static int first_dup(const char *base, size_t stride, const uint32_t *idx, size_t n,
		     size_t *dup, size_t *orig)
{
	size_t i, best = SIZE_MAX, best_orig = 0;

	for (i = 1; i < n; i++) {
		if (strcmp(base + idx[i] * stride, base + idx[i - 1] * stride))
			continue;
		/* idx[i - 1] is the group's first when idx[i] is its second: that pair
		 * is the group's earliest duplicate. */
		if (idx[i] < best && (i < 2 || strcmp(base + idx[i - 2] * stride,
						      base + idx[i] * stride))) {
			best = idx[i];
			best_orig = idx[i - 1];
		}
	}
	if (best == SIZE_MAX)
		return 0;
	*dup = best;
	*orig = best_orig;
	return 1;
}

static const struct mw_route_service *find_service(const struct parser *p, const char *name,
						   size_t *si)
{
	const struct mw_routes *rt = p->rt;
	size_t lo = 0, hi = rt->n_services;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(rt->services[p->svc_by_name[mid]].name, name);

		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < rt->n_services && !strcmp(rt->services[p->svc_by_name[lo]].name, name)) {
		*si = p->svc_by_name[lo];
		return &rt->services[*si];
	}
	return NULL;
}

/* "lo-hi" or "port". */
static int parse_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char buf[16], *dash;
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	dash = strchr(buf, '-');
	if (!dash)
		return mw_parse_port(buf, lo) ?: (*hi = *lo, 0);
	*dash = '\0';
	if (mw_parse_port(buf, lo) || mw_parse_port(dash + 1, hi))
		return -EINVAL;
	return 0;
}

static const char *const match_keys[] = { "destination", "port", "ports", "service", NULL };
static const char *const action_keys[] = { "sidecar", "bypass", "reject", "forward", NULL };
static const char *const rule_keys[] = { "match", "action", NULL };
static const char *const wl_keys[] = { "workload", "rules", NULL };
static const char *const top_keys[] = { "version", "services", "workloads", NULL };

/* match: fills t's destination and ports; *msvc is the matched service or NULL. */
static int parse_match(struct parser *p, const struct mw_json_node *o, const char *path,
		       struct mw_route_rule *t, const struct mw_route_service **msvc)
{
	const struct mw_json_node *dst, *port, *ports, *svc;
	int has_dst, has_port, has_ports, has_svc, ret;
	char kp[160];
	const char *s;
	int64_t v;
	size_t si;

	*msvc = NULL;
	ret = want_object(p, o, path) ?: check_keys(p, o, path, match_keys);
	if (ret)
		return ret;
	has_dst = member(p, o, "destination", &dst);
	has_port = member(p, o, "port", &port);
	has_ports = member(p, o, "ports", &ports);
	has_svc = member(p, o, "service", &svc);
	if (has_svc && has_dst)
		return fail(p, path, "\"service\" and \"destination\" together");
	if (has_port && has_ports)
		return fail(p, path, "\"port\" and \"ports\" together");
	if (has_svc && (has_port || has_ports))
		return fail(p, path,
			    "\"service\" and \"%s\" together (the service names its ports)",
			    has_port ? "port" : "ports");

	if (has_dst) {
		snprintf(kp, sizeof(kp), "%s.destination", path);
		ret = get_cidr(p, dst, kp, &t->dst);
		if (ret)
			return ret;
		t->has_dst = 1;
	}
	if (has_port) {
		snprintf(kp, sizeof(kp), "%s.port", path);
		ret = get_int(p, port, kp, 1, MW_PORT_MAX, &v);
		if (ret)
			return ret;
		t->port_lo = t->port_hi = (uint16_t)v;
	}
	if (has_ports) {
		snprintf(kp, sizeof(kp), "%s.ports", path);
		if (mw_json_is(ports, MW_JSON_INT)) {
			ret = get_int(p, ports, kp, 1, MW_PORT_MAX, &v);
			if (ret)
				return ret;
			t->port_lo = t->port_hi = (uint16_t)v;
		} else if (mw_json_is(ports, MW_JSON_STRING)) {
			s = mw_json_str(p->j, ports);
			if (parse_range(s, &t->port_lo, &t->port_hi))
				return fail(p, kp, "\"%s\" is not a port or a range lo-hi", s);
			if (t->port_lo > t->port_hi)
				return fail(p, kp, "\"%s\": %u is above %u", s, t->port_lo,
					    t->port_hi);
		} else {
			return fail(p, kp, "not a port or a range \"lo-hi\"");
		}
	}
	if (has_svc) {
		snprintf(kp, sizeof(kp), "%s.service", path);
		ret = get_str(p, svc, kp, &s);
		if (ret)
			return ret;
		*msvc = find_service(p, s, &si);
		if (!*msvc)
			return fail(p, kp, "no service named \"%s\"", s);
		if (!(*msvc)->n_addrs)
			return fail(p, kp, "service \"%s\" has no addresses", s);
	}
	return 0;
}

static int parse_action(struct parser *p, const struct mw_json_node *o, const char *path,
			struct mw_route_rule *t)
{
	const struct mw_json_node *v;
	const char *name, *s;
	char kp[160];
	int64_t port;
	size_t k;
	int ret;

	if (mw_json_is(o, MW_JSON_STRING)) {
		s = mw_json_str(p->j, o);
		if (!strcmp(s, "bypass")) {
			t->action = MW_RA_BYPASS;
			return 0;
		}
		if (!strcmp(s, "sidecar")) {
			t->action = MW_RA_SIDECAR;
			return 0;
		}
		return fail(p, path, "\"%s\" is not an action (\"bypass\", \"sidecar\", or one of "
			    "{\"sidecar\": port}, {\"reject\": errno}, {\"forward\": service})", s);
	}
	if (!mw_json_is(o, MW_JSON_OBJECT))
		return fail(p, path, "not a string or an object");
	ret = check_keys(p, o, path, action_keys);
	if (ret)
		return ret;
	if (mw_json_len(o) != 1)
		return fail(p, path, "%zu actions, one needed", mw_json_len(o));

	v = mw_json_at(p->j, o, 0);
	name = mw_json_key(p->j, v);
	path_key(kp, sizeof(kp), path, name);
	if (!strcmp(name, "sidecar")) {
		t->action = MW_RA_SIDECAR;
		if (mw_json_is(v, MW_JSON_BOOL) && v->flag)
			return 0;
		if (!mw_json_is(v, MW_JSON_INT))
			return fail(p, kp, "true or a port");
		ret = get_int(p, v, kp, 1, MW_PORT_MAX, &port);
		if (ret)
			return ret;
		t->sidecar_port = (uint16_t)port;
	} else if (!strcmp(name, "bypass")) {
		t->action = MW_RA_BYPASS;
		if (!mw_json_is(v, MW_JSON_BOOL) || !v->flag)
			return fail(p, kp, "true only");
	} else if (!strcmp(name, "reject")) {
		t->action = MW_RA_REJECT;
		ret = get_str(p, v, kp, &s);
		if (ret)
			return ret;
		for (k = 0; k < ARRAY_SIZE(mw_route_errnos); k++)
			if (!strcmp(mw_route_errnos[k].name, s))
				break;
		if (k == ARRAY_SIZE(mw_route_errnos))
			return fail(p, kp, "\"%s\" is not one of ECONNREFUSED, EHOSTUNREACH, "
				    "ENETUNREACH, EACCES, EPERM, ETIMEDOUT", s);
		t->err = mw_route_errnos[k].err;
	} else {
		const struct mw_route_service *svc;

		t->action = MW_RA_FORWARD;
		ret = get_str(p, v, kp, &s);
		if (ret)
			return ret;
		svc = find_service(p, s, &t->svc);
		if (!svc)
			return fail(p, kp, "no service named \"%s\"", s);
		if (!svc->n_versions)
			return fail(p, kp, "service \"%s\" has no versions", s);
	}
	return 0;
}

static int add_rule(struct parser *p, struct mw_route_workload *wl, size_t *cap,
		    const struct mw_route_rule *r)
{
	if (grow((void **)&wl->rules, cap, wl->n_rules, sizeof(*wl->rules)))
		return nomem(p);
	wl->rules[wl->n_rules++] = *r;
	return 0;
}

static int parse_rule(struct parser *p, const struct mw_json_node *o, size_t wi, size_t ri,
		      struct mw_route_workload *wl, size_t *cap)
{
	const struct mw_route_service *msvc, *fsvc;
	struct mw_route_rule t = { .port_hi = MW_PORT_MAX };
	const struct mw_json_node *m;
	char kp[160];
	size_t a, k, run;
	int ret, mfam, sfam;

	snprintf(t.path, sizeof(t.path), "workloads[%zu].rules[%zu]", wi, ri);
	ret = want_object(p, o, t.path) ?: check_keys(p, o, t.path, rule_keys);
	if (ret)
		return ret;
	ret = need(p, o, t.path, "match", &m);
	if (ret)
		return ret;
	snprintf(kp, sizeof(kp), "%s.match", t.path);
	ret = parse_match(p, m, kp, &t, &msvc);
	if (ret)
		return ret;
	ret = need(p, o, t.path, "action", &m);
	if (ret)
		return ret;
	snprintf(kp, sizeof(kp), "%s.action", t.path);
	ret = parse_action(p, m, kp, &t);
	if (ret)
		return ret;

	if (t.action == MW_RA_FORWARD) {
		/* connect4 can only reach an IPv4 endpoint and an IPv6-only socket only an
		 * IPv6 one: the rule must match the family the service's endpoints are in. */
		fsvc = &p->rt->services[t.svc];
		sfam = svc_family(fsvc);
		mfam = t.has_dst ? t.dst.is_v4 : msvc ? svc_family(msvc) : -1;
		snprintf(kp, sizeof(kp), "%s.action.forward", t.path);
		if (mfam < 0)
			return fail(p, kp, "the rule matches IPv4 and IPv6, service \"%s\" only %s",
				    fsvc->name, fam_name(sfam));
		if (mfam != sfam)
			return fail(p, kp, "the rule matches %s, service \"%s\" only %s",
				    fam_name(mfam), fsvc->name, fam_name(sfam));
	}

	if (!msvc)
		return add_rule(p, wl, cap, &t);
	/* One rule per address of the service and per run of consecutive ports. */
	for (a = 0; a < msvc->n_addrs; a++) {
		t.has_dst = 1;
		t.dst = msvc->addrs[a];
		if (!msvc->n_ports) {
			ret = add_rule(p, wl, cap, &t);
			if (ret)
				return ret;
			continue;
		}
		for (k = 0; k < msvc->n_ports; k = run) {
			for (run = k + 1; run < msvc->n_ports &&
			     msvc->ports[run] == msvc->ports[run - 1] + 1; run++)
				;
			t.port_lo = msvc->ports[k];
			t.port_hi = msvc->ports[run - 1];
			ret = add_rule(p, wl, cap, &t);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int parse_workload(struct parser *p, const struct mw_json_node *o, size_t wi)
{
	struct mw_route_workload *wl = &p->rt->workloads[wi];
	const struct mw_json_node *m;
	char path[64], kp[96];
	size_t j, n, cap = 0;
	int ret;

	snprintf(path, sizeof(path), "workloads[%zu]", wi);
	ret = want_object(p, o, path) ?: check_keys(p, o, path, wl_keys);
	if (ret)
		return ret;
	ret = need(p, o, path, "workload", &m);
	if (ret)
		return ret;
	snprintf(kp, sizeof(kp), "%s.workload", path);
	ret = get_name(p, m, kp, wl->name);
	if (ret)
		return ret;
	ret = need(p, o, path, "rules", &m);
	if (ret)
		return ret;
	snprintf(kp, sizeof(kp), "%s.rules", path);
	ret = want_array(p, m, kp);
	if (ret)
		return ret;
	n = mw_json_len(m);
	/* One rule per element unless a service expands: no copies while growing. */
	if (n) {
		wl->rules = mw_calloc_large(n, sizeof(*wl->rules));
		if (!wl->rules)
			return nomem(p);
		cap = n;
	}
	for (j = 0; j < n; j++) {
		ret = parse_rule(p, mw_json_at(p->j, m, j), wi, j, wl, &cap);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Warnings: for each rule, the earlier rules of its list that match some of what it
 * matches. Those are the rules at its own prefix and the enclosing ones (the chain)
 * and, for overlaps only, the rules inside its prefix (its subtree). */

struct analysis {
	const struct mw_route_rule *r;
	struct pfx_ent *ents;
	struct pfx_node *nodes;
	size_t n_nodes;
	uint32_t *node_of;	/* rule -> node, NONE for a rule without destination */
	uint32_t *first_full;	/* node -> its lowest rule matching every port, NONE */
	uint32_t *any;		/* rules without destination, ascending */
	size_t n_any;
	uint32_t any_full;
};

/* More earlier rules than this on a rule's chain, none of them for every port, and
 * its prefix's list cannot fit the kernel: the compile fails, stop looking. */
#define CHAIN_SCAN_MAX	(4 * MW_RULES_PER_DST)

static int same_source(const struct mw_route_rule *a, const struct mw_route_rule *b)
{
	return !strcmp(a->path, b->path);
}

/*
 * One earlier rule i on rule j's chain (i covers j's prefix). Returns 1 when the
 * rules after i at its prefix do not matter (i takes every port), -E2BIG past the
 * budget.
 */
static int chain_one(const struct analysis *an, uint32_t i, uint32_t j, uint32_t *cont,
		     uint32_t *ov, size_t *scanned)
{
	const struct mw_route_rule *ri = &an->r[i], *rj = &an->r[j];

	if (same_source(ri, rj))
		return 0;
	if (ri->port_lo <= rj->port_lo && rj->port_hi <= ri->port_hi) {
		if (i < *cont)
			*cont = i;
	} else if (ri->port_lo <= rj->port_hi && rj->port_lo <= ri->port_hi &&
		   !rule_same_action(ri, rj) && i < *ov) {
		*ov = i;
	}
	if (rule_full(ri))
		return 1;
	return ++*scanned > CHAIN_SCAN_MAX ? -E2BIG : 0;
}

/* The first earlier rule that matches all rule j matches (*cont), else the first
 * earlier one that matches some of it with another action (*ov); NONE if none. */
static void analyse_rule(const struct analysis *an, uint32_t j, uint32_t *cont, uint32_t *ov)
{
	const struct mw_route_rule *rj = &an->r[j];
	uint32_t a = an->node_of[j], m, i, limit, full = NONE, d, d_end;
	int v4 = a != NONE && an->nodes[a].c->is_v4, ret;
	size_t scanned = 0, k;

	*cont = NONE;
	*ov = NONE;
	/* The earliest rule for every port on the chain: nothing after it matters. An
	 * IPv6 block never covers an IPv4 rule. */
	for (m = a; m != NONE && (!v4 || an->nodes[m].c->is_v4); m = an->nodes[m].parent)
		if (an->first_full[m] < full && !same_source(&an->r[an->first_full[m]], rj))
			full = an->first_full[m];
	if (an->any_full < full && !same_source(&an->r[an->any_full], rj))
		full = an->any_full;
	limit = full < j ? full + 1 : j;

	for (m = a; m != NONE && (!v4 || an->nodes[m].c->is_v4); m = an->nodes[m].parent) {
		const struct pfx_node *nd = &an->nodes[m];

		for (k = 0; k < nd->n && (i = an->ents[nd->first + k].item) < limit; k++) {
			ret = chain_one(an, i, j, cont, ov, &scanned);
			if (ret < 0)
				goto capped;
			if (ret)
				break;
		}
	}
	for (k = 0; k < an->n_any && an->any[k] < limit; k++) {
		ret = chain_one(an, an->any[k], j, cont, ov, &scanned);
		if (ret < 0)
			goto capped;
		if (ret)
			break;
	}
	if (*cont != NONE)
		return;

	/* Earlier rules inside its prefix, for overlaps: its subtree (every prefix for a
	 * rule without destination), IPv4 prefixes not for an IPv6 rule. */
	d = a == NONE ? 0 : a + 1;
	d_end = a == NONE ? (uint32_t)an->n_nodes : an->nodes[a].end;
	for (; d < d_end; d++) {
		const struct pfx_node *nd = &an->nodes[d];

		if (a != NONE && !v4 && nd->c->is_v4)
			continue;
		for (k = 0; k < nd->n; k++) {
			const struct mw_route_rule *ri;

			i = an->ents[nd->first + k].item;
			if (i >= j || i >= *ov)
				break;
			ri = &an->r[i];
			if (ri->port_lo <= rj->port_hi && rj->port_lo <= ri->port_hi &&
			    !rule_same_action(ri, rj) && !same_source(ri, rj)) {
				*ov = i;
				break;
			}
		}
	}
	return;
capped:
	/* Its prefix's list is longer than the kernel takes: the compile says so. */
	*cont = full < j ? full : NONE;
	*ov = NONE;
}

static void __attribute__((format(printf, 2, 3)))
warnf(struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->warn(p->warn_ctx, msg);
}

static int analyse_workload(struct parser *p, const struct mw_route_workload *wl)
{
	struct analysis an = { .r = wl->rules, .any_full = NONE };
	const char *warned = NULL;
	size_t i, n_ents = 0;
	uint32_t j, cont, ov;
	int ret = -ENOMEM;

	if (!wl->n_rules)
		return 0;
	if (wl->n_rules >= NONE)
		return fail(p, wl->rules[0].path, "too many rules");
	an.ents = calloc(wl->n_rules, sizeof(*an.ents));
	an.node_of = calloc(wl->n_rules, sizeof(*an.node_of));
	an.any = calloc(wl->n_rules, sizeof(*an.any));
	if (!an.ents || !an.node_of || !an.any)
		goto cleanup;
	for (j = 0; j < wl->n_rules; j++) {
		an.node_of[j] = NONE;
		if (wl->rules[j].has_dst) {
			an.ents[n_ents].c = &wl->rules[j].dst;
			an.ents[n_ents++].item = j;
		} else {
			if (an.any_full == NONE && rule_full(&wl->rules[j]))
				an.any_full = j;
			an.any[an.n_any++] = j;
		}
	}
	ret = pfx_build(an.ents, n_ents, &an.nodes, &an.n_nodes);
	if (ret)
		goto cleanup;
	an.first_full = calloc(an.n_nodes ? an.n_nodes : 1, sizeof(*an.first_full));
	if (!an.first_full) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < an.n_nodes; i++) {
		const struct pfx_node *nd = &an.nodes[i];
		size_t k;

		an.first_full[i] = NONE;
		for (k = 0; k < nd->n; k++) {
			uint32_t it = an.ents[nd->first + k].item;

			an.node_of[it] = (uint32_t)i;
			if (an.first_full[i] == NONE && rule_full(&wl->rules[it]))
				an.first_full[i] = it;
		}
	}

	for (j = 0; j < wl->n_rules; j++) {
		const struct mw_route_rule *r = &wl->rules[j];

		/* Expansions of one rule come one after the other: one warning per rule. */
		if (warned && !strcmp(warned, r->path))
			continue;
		analyse_rule(&an, j, &cont, &ov);
		if (cont != NONE) {
			warnf(p, "%s: unreachable: %s matches all it matches", r->path,
			      wl->rules[cont].path);
			warned = r->path;
		} else if (ov != NONE) {
			warnf(p, "%s: overlaps %s, which has a different action", r->path,
			      wl->rules[ov].path);
			warned = r->path;
		}
	}
	ret = 0;
cleanup:
	if (ret == -ENOMEM)
		nomem(p);
	free(an.ents);
	free(an.nodes);
	free(an.node_of);
	free(an.first_full);
	free(an.any);
	return ret;
}

static int parse_doc(struct parser *p, const struct mw_json_node *root)
{
	struct mw_routes *rt = p->rt;
	const struct mw_json_node *m;
	uint32_t *wl_by_name = NULL;
	size_t i, dup, orig;
	const char *s;
	int ret;

	if (!mw_json_is(root, MW_JSON_OBJECT))
		return fail(p, "document", "not an object");
	ret = check_keys(p, root, "", top_keys);
	if (ret)
		return ret;
	ret = need(p, root, "", "version", &m) ?: get_str(p, m, "version", &s);
	if (ret)
		return ret;
	if (!*s)
		return fail(p, "version", "empty");
	if (strlen(s) > MW_VERSION_MAX)
		return fail(p, "version", "longer than %zu characters", MW_VERSION_MAX);
	strcpy(rt->version, s);

	if (member(p, root, "services", &m)) {
		ret = want_array(p, m, "services");
		if (ret)
			return ret;
		rt->n_services = mw_json_len(m);
		if (rt->n_services >= NONE)
			return fail(p, "services", "too many");
		if (rt->n_services) {
			rt->services = calloc(rt->n_services, sizeof(*rt->services));
			if (!rt->services)
				return nomem(p);
		}
		for (i = 0; i < rt->n_services; i++) {
			ret = parse_service(p, mw_json_at(p->j, m, i), i);
			if (ret)
				return ret;
		}
	}
	if (sort_names(rt->services ? rt->services[0].name : NULL, sizeof(*rt->services),
		       rt->n_services, &p->svc_by_name))
		return nomem(p);
	if (first_dup(rt->services ? rt->services[0].name : NULL, sizeof(*rt->services),
		      p->svc_by_name, rt->n_services, &dup, &orig)) {
		char kp[64];

		snprintf(kp, sizeof(kp), "services[%zu].name", dup);
		return fail(p, kp, "\"%s\" already names services[%zu]", rt->services[dup].name,
			    orig);
	}

	if (member(p, root, "workloads", &m)) {
		ret = want_array(p, m, "workloads");
		if (ret)
			return ret;
		rt->n_workloads = mw_json_len(m);
		if (rt->n_workloads) {
			rt->workloads = calloc(rt->n_workloads, sizeof(*rt->workloads));
			if (!rt->workloads)
				return nomem(p);
		}
		for (i = 0; i < rt->n_workloads; i++) {
			ret = parse_workload(p, mw_json_at(p->j, m, i), i);
			if (ret)
				return ret;
		}
	}
	if (sort_names(rt->workloads ? rt->workloads[0].name : NULL, sizeof(*rt->workloads),
		       rt->n_workloads, &wl_by_name))
		return nomem(p);
	if (first_dup(rt->workloads ? rt->workloads[0].name : NULL, sizeof(*rt->workloads),
		      wl_by_name, rt->n_workloads, &dup, &orig)) {
		char kp[64];

		free(wl_by_name);
		snprintf(kp, sizeof(kp), "workloads[%zu].workload", dup);
		return fail(p, kp, "\"%s\" already has workloads[%zu]", rt->workloads[dup].name,
			    orig);
	}
	free(wl_by_name);

	if (p->warn) {
		for (i = 0; i < rt->n_workloads; i++) {
			ret = analyse_workload(p, &rt->workloads[i]);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int mw_routes_parse(struct mw_routes *rt, const char *json, size_t len, char *err,
		    size_t errlen, mw_warn_fn warn, void *warn_ctx)
{
	struct parser p = { .rt = rt, .err = err, .errlen = errlen, .warn = warn,
			    .warn_ctx = warn_ctx };
	struct mw_json doc;
	const char *what;
	size_t off;
	int ret;

	memset(rt, 0, sizeof(*rt));
	if (err && errlen)
		err[0] = '\0';
	if (len > INT32_MAX)
		return set_err(err, errlen, "document too large");
	ret = mw_json_parse(&doc, json, len, &off, &what);
	if (ret == -EINVAL)
		ret = syntax_err(&p, json, off, what);
	else if (ret)
		ret = nomem(&p);
	if (!ret) {
		p.j = &doc;
		ret = parse_doc(&p, mw_json_root(&doc));
	}
	mw_json_free(&doc);
	free(p.svc_by_name);
	if (ret)
		mw_routes_free(rt);
	return ret;
}

void mw_routes_free(struct mw_routes *rt)
{
	size_t i, v;

	if (!rt)
		return;
	for (i = 0; i < rt->n_services; i++) {
		struct mw_route_service *s = &rt->services[i];

		for (v = 0; v < s->n_versions; v++)
			free(s->versions[v].eps);
		free(s->versions);
		free(s->addrs);
		free(s->ports);
	}
	free(rt->services);
	for (i = 0; i < rt->n_workloads; i++)
		free(rt->workloads[i].rules);
	free(rt->workloads);
	memset(rt, 0, sizeof(*rt));
}

int mw_routes_applies(const struct mw_routes *rt, const char *workload)
{
	size_t i;

	for (i = 0; i < rt->n_workloads; i++)
		if (!strcmp(rt->workloads[i].name, workload) ||
		    !strcmp(rt->workloads[i].name, MW_ANY_WORKLOAD))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Compiling */

struct compiler {
	const struct mw_route_rule **rules;	/* the workload's entry, then "*"'s */
	size_t n_rules;
	const struct mw_config *env;		/* items n_rules.. are env->ignored[] */
	struct pfx_ent *ents;
	struct pfx_node *nodes;
	size_t n_nodes;
	uint32_t *any;				/* rules without destination, ascending */
	size_t n_any;
	char *err;
	size_t errlen;
};

/* The rules that decide at one prefix, in order: at most what the kernel takes. */
struct clist {
	uint32_t n;
	uint32_t it[MW_RULES_PER_DST];
};

static int item_full(const struct compiler *c, uint32_t it)
{
	return it >= c->n_rules || rule_full(c->rules[it]);
}

/* Appends it to l: 1 when nothing after it can decide, -E2BIG when l has no room. */
static int clist_add(const struct compiler *c, struct clist *l, uint32_t it)
{
	if (l->n == MW_RULES_PER_DST)
		return -E2BIG;
	l->it[l->n++] = it;
	return item_full(c, it);
}

/* out = base and a node's own items merged in order, cut after the first item that
 * takes every port. Base lists are cut the same way, so merging a cut list gives
 * the cut of the whole. */
static int clist_merge(const struct compiler *c, const struct clist *base,
		       const struct pfx_ent *own, size_t n_own, struct clist *out)
{
	size_t a = 0, b = 0;
	int ret = 0;

	out->n = 0;
	while (!ret && (a < base->n || b < n_own)) {
		uint32_t it;

		if (b == n_own || (a < base->n && base->it[a] < own[b].item))
			it = base->it[a++];
		else
			it = own[b++].item;
		ret = clist_add(c, out, it);
	}
	return ret < 0 ? ret : 0;
}

/* A node's own items, without the NONE of a prefix added only as a node (it sorts last). */
static size_t node_own(const struct compiler *c, const struct pfx_node *nd)
{
	size_t n = nd->n;

	while (n && c->ents[nd->first + n - 1].item == NONE)
		n--;
	return n;
}

static void item_name(const struct compiler *c, uint32_t it, char *buf, size_t len)
{
	char cidr[64];

	if (it < c->n_rules) {
		snprintf(buf, len, "%s", c->rules[it]->path);
		return;
	}
	mw_cidr_str(&c->env->ignored[it - c->n_rules], cidr, sizeof(cidr));
	snprintf(buf, len, "APPMESH_EGRESS_IGNORED_IP %s", cidr);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The error for a prefix that more rules apply to than its list can hold: they are
 * collected again from the whole chain, so the message names every one. */
static int overflow_err(const struct compiler *c, uint32_t node)
{
	const struct pfx_node *nd = &c->nodes[node];
	char dst[64], names[1024], name[128];
	uint32_t *its, m;
	size_t n = 0, k, pos = 0;
	int v4 = nd->c->is_v4;

	its = calloc(c->n_rules + c->env->n_ignored + 1, sizeof(*its));
	if (!its)
		return nomem_err(c->err, c->errlen);
	for (m = node; m != NONE && (!v4 || c->nodes[m].c->is_v4); m = c->nodes[m].parent)
		for (k = 0; k < node_own(c, &c->nodes[m]); k++)
			its[n++] = c->ents[c->nodes[m].first + k].item;
	for (k = 0; k < c->n_any; k++)
		its[n++] = c->any[k];
	qsort(its, n, sizeof(*its), cmp_u32);
	for (k = 0; k < n; k++) {
		if (item_full(c, its[k])) {
			n = k + 1;
			break;
		}
	}
	names[0] = '\0';
	for (k = 0; k < n && k <= MW_RULES_PER_DST && pos < sizeof(names); k++) {
		item_name(c, its[k], name, sizeof(name));
		pos += (size_t)snprintf(names + pos, sizeof(names) - pos, "%s%s", k ? ", " : "",
					name);
	}
	if (k < n && pos < sizeof(names))
		snprintf(names + pos, sizeof(names) - pos, ", ...");
	free(its);
	mw_cidr_str(nd->c, dst, sizeof(dst));
	return set_err(c->err, c->errlen,
		       "destination %s: %zu rules apply (%s), the kernel takes at most %d",
		       dst, n, names, MW_RULES_PER_DST);
}

static void ent_fill(const struct compiler *c, uint32_t it, struct mw_rule_ent *e)
{
	const struct mw_route_rule *r;

	memset(e, 0, sizeof(*e));
	if (it >= c->n_rules) {
		e->port_hi = MW_PORT_MAX;
		e->rule.action = MW_ACT_BYPASS;
		e->rule.reason = MW_R_ADDR;
		return;
	}
	r = c->rules[it];
	e->port_lo = r->port_lo;
	e->port_hi = r->port_hi;
	switch (r->action) {
	case MW_RA_SIDECAR:
		e->rule.action = MW_ACT_REDIRECT;
		e->rule.reason = MW_R_REDIRECT;
		e->rule.port = htons(r->sidecar_port);
		break;
	case MW_RA_BYPASS:
		e->rule.action = MW_ACT_BYPASS;
		e->rule.reason = MW_R_RULE;
		break;
	case MW_RA_REJECT:
		e->rule.action = MW_ACT_REJECT;
		e->rule.reason = MW_R_REJECT;
		e->rule.err = (uint32_t)r->err;
		break;
	case MW_RA_FORWARD:
		e->rule.action = MW_ACT_FORWARD;
		e->rule.reason = MW_R_FORWARD;
		e->svc = (uint32_t)(r->svc + 1);
		break;
	}
}

static int compile_cidrs(struct compiler *c, uint64_t netns, struct mw_table *t)
{
	const struct mw_config *env = c->env;
	struct clist any = {}, *lists = NULL;
	size_t i, n_ents = 0, n_out = 0;
	int ret, any_over = 0, need_guard = 0;

	if (c->n_rules + env->n_ignored + 2 >= NONE)
		return set_err(c->err, c->errlen, "too many rules");
	c->ents = calloc(c->n_rules + env->n_ignored + 2, sizeof(*c->ents));
	c->any = calloc(c->n_rules + 1, sizeof(*c->any));
	if (!c->ents || !c->any)
		goto nomem;
	for (i = 0; i < c->n_rules; i++) {
		if (c->rules[i]->has_dst) {
			c->ents[n_ents].c = &c->rules[i]->dst;
			c->ents[n_ents++].item = (uint32_t)i;
		} else {
			c->any[c->n_any++] = (uint32_t)i;
		}
	}
	for (i = 0; i < env->n_ignored; i++) {
		c->ents[n_ents].c = &env->ignored[i];
		c->ents[n_ents++].item = (uint32_t)(c->n_rules + i);
	}
	/* Rules without destination reach IPv6 through ::/0. An IPv6 block that holds
	 * all of IPv4 must not decide for it: ::ffff:0:0/96 takes IPv4 over, with the
	 * rules that do cover IPv4 (a guard that redirects when none does). */
	if (c->n_any) {
		c->ents[n_ents].c = &mw_all_space;
		c->ents[n_ents++].item = NONE;
	}
	for (i = 0; i < n_ents; i++)
		if (cidr_covers_v4(c->ents[i].c))
			need_guard = 1;
	if (need_guard) {
		c->ents[n_ents].c = &mw_v4_space;
		c->ents[n_ents++].item = NONE;
	}
	ret = pfx_build(c->ents, n_ents, &c->nodes, &c->n_nodes);
	if (ret == -ENOMEM)
		goto nomem;
	if (ret)
		return ret;

	for (i = 0; i < c->n_any; i++) {
		ret = clist_add(c, &any, c->any[i]);
		if (ret < 0)
			any_over = 1;
		if (ret)
			break;
	}
	lists = mw_calloc_large(c->n_nodes ? c->n_nodes : 1, sizeof(*lists));
	if (!lists)
		goto nomem;
	for (i = 0; i < c->n_nodes; i++) {
		const struct pfx_node *nd = &c->nodes[i];
		const struct clist *base = &any;

		/* Parents come first in the sort. IPv4 under an IPv6 block starts over
		 * from the rules without destination. */
		if (nd->parent != NONE && (!nd->c->is_v4 || c->nodes[nd->parent].c->is_v4))
			base = &lists[nd->parent];
		if ((base == &any && any_over) ||
		    clist_merge(c, base, &c->ents[nd->first], node_own(c, nd), &lists[i])) {
			ret = overflow_err(c, (uint32_t)i);
			goto cleanup;
		}
		if (lists[i].n || !cmp_cidr(nd->c, &mw_v4_space))
			n_out++;
	}

	if (n_out) {
		t->cidrs = mw_calloc_large(n_out, sizeof(*t->cidrs));
		if (!t->cidrs)
			goto nomem;
	}
	for (i = 0; i < c->n_nodes; i++) {
		const struct pfx_node *nd = &c->nodes[i];
		struct mw_cidr_entry *e;
		uint32_t k;

		if (!lists[i].n && cmp_cidr(nd->c, &mw_v4_space))
			continue;
		e = &t->cidrs[t->n_cidrs++];
		mw_lpm_key_fill(&e->key, 0, netns, nd->c);
		if (!lists[i].n) {
			mw_rule_list_one(&e->list, MW_ACT_REDIRECT, MW_R_REDIRECT);
			continue;
		}
		e->list.n = lists[i].n;
		for (k = 0; k < lists[i].n; k++)
			ent_fill(c, lists[i].it[k], &e->list.e[k]);
	}
	ret = 0;
	goto cleanup;
nomem:
	ret = nomem_err(c->err, c->errlen);
cleanup:
	free(lists);
	return ret;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * A service's endpoints with cumulative weights. A version's weight is shared by
 * its endpoints: every weight is scaled by the least factor that makes the shares
 * whole. That factor is at most 140 (the largest lcm of counts that add up to
 * MW_SVC_ENDPOINTS, 4 + 5 + 7), so with weights adding up to at most
 * MW_WEIGHT_MAX the total stays far below 2^32. Versions of weight 0 are left out.
 */
static int svc_fill(const struct mw_route_service *s, uint32_t id, uint64_t netns,
		    struct mw_svc_entry *e, char *err, size_t errlen)
{
	uint64_t total = 0, scale = 1, cum = 0, f;
	size_t v, k, n = 0;

	for (v = 0; v < s->n_versions; v++) {
		const struct mw_route_version *ver = &s->versions[v];

		if (!ver->weight)
			continue;
		if (!ver->n_eps)
			return set_err(err, errlen,
				       "service \"%s\": version \"%s\" has no endpoints",
				       s->name, ver->name);
		total += ver->weight;
		n += ver->n_eps;
		f = ver->n_eps / gcd64(ver->weight, ver->n_eps);
		scale = scale / gcd64(scale, f) * f;
	}
	if (!total || total > MW_WEIGHT_MAX)
		return set_err(err, errlen, "service \"%s\": weights add up to %llu", s->name,
			       (unsigned long long)total);
	if (n > MW_SVC_ENDPOINTS)
		return set_err(err, errlen, "service \"%s\": %zu endpoints with a weight, "
			       "the kernel takes at most %d", s->name, n, MW_SVC_ENDPOINTS);

	memset(e, 0, sizeof(*e));
	e->key.netns = netns;
	e->key.id = id;
	for (v = 0; v < s->n_versions; v++) {
		const struct mw_route_version *ver = &s->versions[v];

		for (k = 0; ver->weight && k < ver->n_eps; k++) {
			struct mw_endpoint *ep = &e->svc.ep[e->svc.n++];

			cum += ver->weight * scale / ver->n_eps;
			memcpy(ep->addr, ver->eps[k].addr, MW_ADDR_LEN);
			ep->port = htons(ver->eps[k].port);
			ep->cum_weight = (uint32_t)cum;
		}
	}
	e->svc.total_weight = (uint32_t)cum;
	return 0;
}

static int compile_svcs(const struct mw_routes *rt, const struct compiler *c, uint64_t netns,
			struct mw_table *t)
{
	unsigned char *used;
	size_t i, n = 0;
	int ret = 0;

	if (!rt->n_services)
		return 0;
	used = calloc(rt->n_services, 1);
	if (!used)
		return nomem_err(c->err, c->errlen);
	for (i = 0; i < c->n_rules; i++) {
		if (c->rules[i]->action != MW_RA_FORWARD || c->rules[i]->svc >= rt->n_services)
			continue;
		n += !used[c->rules[i]->svc];
		used[c->rules[i]->svc] = 1;
	}
	if (n) {
		t->svcs = calloc(n, sizeof(*t->svcs));
		if (!t->svcs) {
			ret = nomem_err(c->err, c->errlen);
			goto cleanup;
		}
	}
	/* id = index + 1: a service keeps its id in every workload's table. */
	for (i = 0; i < rt->n_services; i++) {
		if (!used[i])
			continue;
		ret = svc_fill(&rt->services[i], (uint32_t)(i + 1), netns, &t->svcs[t->n_svcs],
			       c->err, c->errlen);
		if (ret)
			goto cleanup;
		t->n_svcs++;
	}
cleanup:
	free(used);
	return ret;
}

/* The rules that apply to `workload`, in order: its own entry's, then those of the
 * entry for every workload ("*" itself takes them once). Counts them when out is NULL. */
static size_t collect_rules(const struct mw_routes *rt, const char *workload,
			    const struct mw_route_rule **out)
{
	const char *names[2] = { workload, MW_ANY_WORKLOAD };
	size_t i, k, n = 0;
	int pass;

	for (pass = !strcmp(workload, MW_ANY_WORKLOAD); pass < 2; pass++) {
		for (i = 0; i < rt->n_workloads; i++) {
			const struct mw_route_workload *wl = &rt->workloads[i];

			if (strcmp(wl->name, names[pass]))
				continue;
			for (k = 0; k < wl->n_rules; k++, n++)
				if (out)
					out[n] = &wl->rules[k];
		}
	}
	return n;
}

int mw_routes_compile(const struct mw_routes *rt, const char *workload,
		      const struct mw_config *env, uint64_t netns, struct mw_table *out,
		      char *err, size_t errlen)
{
	struct compiler c = { .env = env, .err = err, .errlen = errlen };
	struct mw_table t = {};
	int ret;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	ret = mw_table_compile(env, netns, 0, &t);
	if (ret)
		return nomem_err(err, errlen);
	/* The App Mesh ports stay as compiled; the address lists are rebuilt with the rules. */
	free(t.cidrs);
	t.cidrs = NULL;
	t.n_cidrs = 0;

	c.n_rules = collect_rules(rt, workload, NULL);
	if (c.n_rules) {
		c.rules = calloc(c.n_rules, sizeof(*c.rules));
		if (!c.rules) {
			ret = nomem_err(err, errlen);
			goto cleanup;
		}
		collect_rules(rt, workload, c.rules);
	}
	ret = compile_cidrs(&c, netns, &t) ?: compile_svcs(rt, &c, netns, &t);
	if (ret)
		goto cleanup;
	*out = t;
	memset(&t, 0, sizeof(t));
cleanup:
	mw_table_free(&t);
	free(c.rules);
	free(c.ents);
	free(c.nodes);
	free(c.any);
	return ret;
}
