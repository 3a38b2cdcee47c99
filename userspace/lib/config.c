// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * APPMESH_* environment variables -> struct mw_config. Error texts follow the
 * App Mesh init script and the aws-appmesh CNI plugin so that users searching
 * for a message find the same answers; see docs and
 * shared/reference/appmesh-contract.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <meshwarp/abi.h>

#include "config.h"

#define MW_PORT_MAX	65535u
#define MW_ID_MAX	4294967294u	/* (uid_t)-1 means "no change" to the kernel */
#define MW_V4_BITS	32u
#define MW_V6_BITS	128u
#define MW_V4_OFF	12		/* offset of the IPv4 address in a v4-mapped one */

static const char *const ws = " \t\r\n";

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

/* Decimal digits only, at least one, value <= max. No sign, no spaces, no base prefix. */
static int parse_dec(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)	/* checked per digit: cannot overflow */
			return -EINVAL;
	}
	*out = v;
	return 0;
}

int mw_parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (parse_dec(s, MW_PORT_MAX, &v) || v == 0)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int mw_parse_id(const char *s, uint32_t *id)
{
	uint64_t v;

	if (parse_dec(s, MW_ID_MAX, &v))
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

static int is_v4_mapped(const uint8_t *a)
{
	static const uint8_t pfx[MW_V4_OFF] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

/* 1 if any bit at position >= prefix is set. */
static int host_bits_set(const uint8_t *a, unsigned int prefix)
{
	unsigned int i;

	for (i = prefix; i < MW_V6_BITS; i++)
		if (a[i / 8] & (0x80u >> (i % 8)))
			return 1;
	return 0;
}

/* mw_parse_cidr, telling the caller whether the refusal was for host bits. */
static int parse_cidr(const char *s, struct mw_cidr *out, int *host_bits)
{
	char buf[INET6_ADDRSTRLEN + sizeof("/128")];
	struct mw_cidr c = {};
	struct in_addr a4;
	unsigned int max;
	uint64_t len = 0;
	char *slash;
	size_t n;

	*host_bits = 0;
	if (!s)
		return -EINVAL;
	n = strlen(s);
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);

	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (!buf[0])
		return -EINVAL;

	if (inet_pton(AF_INET, buf, &a4) == 1) {
		c.addr[10] = 0xff;
		c.addr[11] = 0xff;
		memcpy(&c.addr[MW_V4_OFF], &a4, sizeof(a4));
		c.is_v4 = 1;
		max = MW_V4_BITS;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		max = MW_V6_BITS;
	} else {
		return -EINVAL;
	}

	if (slash) {
		if (parse_dec(slash + 1, max, &len))
			return -EINVAL;
	} else {
		len = max;
	}
	c.prefix = (uint8_t)(c.is_v4 ? MW_V4_MAPPED_BITS + len : len);

	if (host_bits_set(c.addr, c.prefix)) {
		*host_bits = 1;
		return -EINVAL;
	}
	/* ::ffff:a.b.c.d matches what an IPv4 socket connects to: it is IPv4. Without host
	 * bits set, a v4-mapped block is always at least /96. */
	if (!c.is_v4 && is_v4_mapped(c.addr) && c.prefix >= MW_V4_MAPPED_BITS)
		c.is_v4 = 1;

	*out = c;
	return 0;
}

int mw_parse_cidr(const char *s, struct mw_cidr *out)
{
	int host_bits;

	return parse_cidr(s, out, &host_bits);
}

void mw_cidr_str(const struct mw_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!buf || !len)
		return;
	if (c->is_v4 && c->prefix >= MW_V4_MAPPED_BITS) {
		inet_ntop(AF_INET, &c->addr[MW_V4_OFF], a, sizeof(a));
		if (c->prefix == MW_V6_BITS)
			snprintf(buf, len, "%s", a);
		else
			snprintf(buf, len, "%s/%u", a, c->prefix - MW_V4_MAPPED_BITS);
		return;
	}
	inet_ntop(AF_INET6, c->addr, a, sizeof(a));
	if (c->prefix == MW_V6_BITS)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, c->prefix);
}

/* Set and not empty. */
static const char *env_value(mw_getenv_fn getenv_fn, void *ctx, const char *name)
{
	const char *v = getenv_fn(ctx, name);

	return v && *v ? v : NULL;
}

/*
 * Splits a comma list in place: returns the next item with surrounding blanks
 * trimmed, skipping empty items, or NULL at the end.
 */
static char *list_next(char **cursor)
{
	char *item, *end, *comma;

	while (*cursor) {
		item = *cursor;
		comma = strchr(item, ',');
		if (comma) {
			*comma = '\0';
			*cursor = comma + 1;
		} else {
			*cursor = NULL;
		}
		item += strspn(item, ws);
		end = item + strlen(item);
		while (end > item && strchr(ws, end[-1]))
			*--end = '\0';
		if (*item)
			return item;
	}
	return NULL;
}

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

static int cmp_port(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x > y) - (x < y);
}

static size_t sort_unique(uint16_t *p, size_t n)
{
	size_t i, o;

	if (!n)
		return 0;
	qsort(p, n, sizeof(*p), cmp_port);
	for (i = 1, o = 1; i < n; i++)
		if (p[i] != p[o - 1])
			p[o++] = p[i];
	return o;
}

/*
 * Parses the port list `value` of variable `name` into *out (sorted, unique),
 * with `extra` appended first when non-zero.
 */
static int parse_port_list(const char *name, const char *value, uint16_t extra,
			   uint16_t **out, size_t *n_out, char *err, size_t errlen)
{
	uint16_t *ports = NULL;
	size_t n = 0, cap = 0;
	char *copy = NULL, *cur, *item;
	uint16_t port;
	int ret = 0;

	if (extra) {
		ret = grow((void **)&ports, &cap, n, sizeof(*ports));
		if (ret)
			goto nomem;
		ports[n++] = extra;
	}
	if (value) {
		copy = strdup(value);
		if (!copy) {
			ret = -ENOMEM;
			goto nomem;
		}
		cur = copy;
		while ((item = list_next(&cur))) {
			if (mw_parse_port(item, &port)) {
				set_err(err, errlen, "%s: invalid port [%s] specified", name, item);
				ret = -EINVAL;
				goto cleanup;
			}
			ret = grow((void **)&ports, &cap, n, sizeof(*ports));
			if (ret)
				goto nomem;
			ports[n++] = port;
		}
	}
	*out = ports;
	*n_out = sort_unique(ports, n);
	ports = NULL;
	goto cleanup;
nomem:
	set_err(err, errlen, "%s: out of memory", name);
cleanup:
	free(copy);
	free(ports);
	return ret;
}

static int parse_cidr_list(const char *name, const char *value, struct mw_cidr **out,
			   size_t *n_out, char *err, size_t errlen)
{
	struct mw_cidr *cidrs = NULL;
	size_t n = 0, cap = 0;
	char *copy, *cur, *item;
	int host_bits, ret = 0;

	copy = strdup(value);
	if (!copy) {
		ret = -ENOMEM;
		goto nomem;
	}
	cur = copy;
	while ((item = list_next(&cur))) {
		ret = grow((void **)&cidrs, &cap, n, sizeof(*cidrs));
		if (ret)
			goto nomem;
		if (parse_cidr(item, &cidrs[n], &host_bits)) {
			set_err(err, errlen,
				"%s: invalid IP or CIDR block [%s] specified in egressIgnoredIPs%s",
				name, item, host_bits ? "; host bits set" : "");
			ret = -EINVAL;
			goto cleanup;
		}
		n++;
	}
	*out = cidrs;
	*n_out = n;
	cidrs = NULL;
	goto cleanup;
nomem:
	set_err(err, errlen, "%s: out of memory", name);
cleanup:
	free(copy);
	free(cidrs);
	return ret;
}

static int parse_port_var(const char *name, const char *value, uint16_t *port,
			  char *err, size_t errlen)
{
	if (mw_parse_port(value, port)) {
		set_err(err, errlen, "%s: invalid port [%s] specified", name, value);
		return -EINVAL;
	}
	return 0;
}

static int parse_id_var(const char *name, const char *what, const char *value, uint32_t *id,
			char *err, size_t errlen)
{
	if (mw_parse_id(value, id)) {
		set_err(err, errlen, "%s: invalid %s [%s] specified", name, what, value);
		return -EINVAL;
	}
	return 0;
}

int mw_config_from_env(struct mw_config *cfg, mw_getenv_fn getenv_fn, void *ctx,
		       char *err, size_t errlen)
{
	const char *uid, *gid, *egress, *ingress, *app, *ports, *ips, *v6, *start, *policy, *sc;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen)
		err[0] = '\0';

	start = getenv_fn(ctx, "APPMESH_START_ENABLED");
	cfg->start_enabled = start && !strcmp(start, "1");

	uid = env_value(getenv_fn, ctx, "APPMESH_IGNORE_UID");
	gid = env_value(getenv_fn, ctx, "APPMESH_IGNORE_GID");
	if (!uid && !gid) {
		set_err(err, errlen,
			"Variables APPMESH_IGNORE_UID and/or APPMESH_IGNORE_GID must be set.");
		return -EINVAL;
	}
	if (uid) {
		ret = parse_id_var("APPMESH_IGNORE_UID", "UID", uid, &cfg->ignore_uid,
				   err, errlen);
		if (ret)
			return ret;
		cfg->has_uid = 1;
	}
	if (gid) {
		ret = parse_id_var("APPMESH_IGNORE_GID", "GID", gid, &cfg->ignore_gid,
				   err, errlen);
		if (ret)
			return ret;
		cfg->has_gid = 1;
	}

	egress = env_value(getenv_fn, ctx, "APPMESH_ENVOY_EGRESS_PORT");
	if (!egress) {
		set_err(err, errlen,
			"APPMESH_ENVOY_EGRESS_PORT: missing required parameter proxyEgressPort");
		return -EINVAL;
	}
	ret = parse_port_var("APPMESH_ENVOY_EGRESS_PORT", egress, &cfg->egress_port,
			     err, errlen);
	if (ret)
		return ret;

	ingress = env_value(getenv_fn, ctx, "APPMESH_ENVOY_INGRESS_PORT");
	if (ingress) {
		ret = parse_port_var("APPMESH_ENVOY_INGRESS_PORT", ingress, &cfg->ingress_port,
				     err, errlen);
		if (ret)
			return ret;
	}

	/* Set but empty is an egress-only workload (the controller renders it so). */
	app = getenv_fn(ctx, "APPMESH_APP_PORTS");
	if (app) {
		cfg->app_ports_set = 1;
		ret = parse_port_list("APPMESH_APP_PORTS", app, 0, &cfg->app_ports,
				      &cfg->n_app_ports, err, errlen);
		if (ret)
			return ret;
	}
	if (cfg->n_app_ports && !ingress) {
		set_err(err, errlen, "APPMESH_ENVOY_INGRESS_PORT: missing parameter "
			"proxyIngressPort (required if appPorts are provided)");
		return -EINVAL;
	}
	if (ingress && !app) {
		set_err(err, errlen, "APPMESH_APP_PORTS: missing parameter appPorts "
			"(required if proxyIngressPort is provided)");
		return -EINVAL;
	}

	ports = getenv_fn(ctx, "APPMESH_EGRESS_IGNORED_PORTS");
	ret = parse_port_list("APPMESH_EGRESS_IGNORED_PORTS", ports, MW_ALWAYS_IGNORED_PORT,
			      &cfg->ignored_ports, &cfg->n_ignored_ports, err, errlen);
	if (ret)
		return ret;

	ips = getenv_fn(ctx, "APPMESH_EGRESS_IGNORED_IP");
	if (ips) {
		ret = parse_cidr_list("APPMESH_EGRESS_IGNORED_IP", ips, &cfg->ignored,
				      &cfg->n_ignored, err, errlen);
		if (ret)
			return ret;
	}

	v6 = getenv_fn(ctx, "APPMESH_ENABLE_IPV6");
	if (!v6 || !*v6 || !strcmp(v6, "0")) {
		cfg->enable_ipv6 = 0;
	} else if (!strcmp(v6, "1")) {
		cfg->enable_ipv6 = 1;
	} else {
		set_err(err, errlen,
			"APPMESH_ENABLE_IPV6: invalid value [%s] specified (expected 0 or 1)", v6);
		return -EINVAL;
	}

	/* Not App Mesh's: what happens to inbound connections while the sidecar does
	 * not listen. iptables refused them (a reset): that stays the default. */
	policy = getenv_fn(ctx, "MESHWARP_INBOUND_POLICY");
	if (!policy || !*policy || !strcmp(policy, "fail-closed")) {
		cfg->inbound_fail_open = 0;
	} else if (!strcmp(policy, "fail-open")) {
		cfg->inbound_fail_open = 1;
	} else {
		set_err(err, errlen,
			"MESHWARP_INBOUND_POLICY: invalid value [%s] specified (expected fail-closed or fail-open)",
			policy);
		return -EINVAL;
	}

	/* Not App Mesh's either: the local shortcut between the app and its sidecar. */
	sc = getenv_fn(ctx, "MESHWARP_SHORTCUT");
	if (!sc || !*sc || !strcmp(sc, "0")) {
		cfg->shortcut = MW_SHORTCUT_OFF;
	} else if (!strcmp(sc, "1")) {
		cfg->shortcut = MW_SHORTCUT_ON;
	} else if (!strcmp(sc, "force")) {
		cfg->shortcut = MW_SHORTCUT_FORCE;
	} else {
		set_err(err, errlen,
			"MESHWARP_SHORTCUT: invalid value [%s] specified (expected 0, 1 or force)", sc);
		return -EINVAL;
	}
	return 0;
}

void mw_config_free(struct mw_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->app_ports);
	free(cfg->ignored_ports);
	free(cfg->ignored);
	memset(cfg, 0, sizeof(*cfg));
}
