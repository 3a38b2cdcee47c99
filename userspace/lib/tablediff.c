// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The table in force, read back from the store, and what an apply would change:
 * tables compared as sets of entries by key (generation aside), one line per
 * entry added, removed or changed, in a stable order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

#define MW_V4_OFF	12

/* ------------------------------------------------------------------------ */
/* Reading */

/* Where netns and gen sit in a key, and how large a key and an entry are. */
struct map_shape {
	enum mw_map_id map;
	size_t ksz, esz, val_off, netns_off, gen_off;
};

static const struct map_shape port_shape = {
	MW_MAP_PORT, sizeof(struct mw_port_key), sizeof(struct mw_port_entry),
	offsetof(struct mw_port_entry, rule), offsetof(struct mw_port_key, netns),
	offsetof(struct mw_port_key, gen),
};

static const struct map_shape cidr_shape = {
	MW_MAP_CIDR, sizeof(struct mw_lpm_key), sizeof(struct mw_cidr_entry),
	offsetof(struct mw_cidr_entry, list), offsetof(struct mw_lpm_key, netns),
	offsetof(struct mw_lpm_key, gen),
};

static const struct map_shape svc_shape = {
	MW_MAP_SVC, sizeof(struct mw_svc_key), sizeof(struct mw_svc_entry),
	offsetof(struct mw_svc_entry, svc), offsetof(struct mw_svc_key, netns),
	offsetof(struct mw_svc_key, gen),
};

/* The orders of the compile: ports by direction and number, address blocks by
 * address and then length (a block before those inside it), services by id. */
static int cmp_port_entry(const void *a, const void *b)
{
	const struct mw_port_entry *x = a, *y = b;

	uint16_t xp = ntohs(x->key.port), yp = ntohs(y->key.port);

	if (x->key.dir != y->key.dir)
		return x->key.dir < y->key.dir ? -1 : 1;
	return (xp > yp) - (xp < yp);
}

static int cmp_cidr_entry(const void *a, const void *b)
{
	const struct mw_cidr_entry *x = a, *y = b;
	int d = memcmp(x->key.addr, y->key.addr, sizeof(x->key.addr));

	if (d)
		return d;
	return (x->key.prefixlen > y->key.prefixlen) - (x->key.prefixlen < y->key.prefixlen);
}

static int cmp_svc_entry(const void *a, const void *b)
{
	const struct mw_svc_entry *x = a, *y = b;

	return (x->key.id > y->key.id) - (x->key.id < y->key.id);
}

/* Every entry of netns at generation gen in one map, sorted. */
static int read_map(struct mw_store *s, const struct map_shape *sh, uint64_t netns, uint32_t gen,
		    void **arr, size_t *n, int (*cmp)(const void *, const void *))
{
	unsigned char cur[sizeof(struct mw_lpm_key)], next[sizeof(struct mw_lpm_key)];
	unsigned char *a = NULL;
	const void *prev = NULL;
	size_t cnt = 0, cap = 0;
	uint64_t k_netns;
	uint32_t k_gen;
	int ret;

	for (;;) {
		ret = s->ops->next_key(s->ctx, sh->map, prev, next);
		if (ret == -ENOENT)
			break;
		if (ret)
			goto cleanup;
		memcpy(cur, next, sh->ksz);
		prev = cur;
		memcpy(&k_netns, cur + sh->netns_off, sizeof(k_netns));
		memcpy(&k_gen, cur + sh->gen_off, sizeof(k_gen));
		if (k_netns != netns || k_gen != gen)
			continue;
		if (cnt == cap) {
			unsigned char *p;

			if (cap > SIZE_MAX / 2 / sh->esz) {
				ret = -ENOMEM;
				goto cleanup;
			}
			cap = cap ? cap * 2 : 16;
			p = realloc(a, cap * sh->esz);
			if (!p) {
				ret = -ENOMEM;
				goto cleanup;
			}
			a = p;
		}
		memset(a + cnt * sh->esz, 0, sh->esz);
		memcpy(a + cnt * sh->esz, cur, sh->ksz);
		ret = s->ops->lookup(s->ctx, sh->map, cur, a + cnt * sh->esz + sh->val_off);
		if (ret == -ENOENT)	/* deleted since the walk saw it */
			continue;
		if (ret)
			goto cleanup;
		cnt++;
	}
	if (cnt)
		qsort(a, cnt, sh->esz, cmp);
	*arr = a;
	*n = cnt;
	return 0;
cleanup:
	free(a);
	return ret;
}

int mw_table_read(struct mw_store *s, uint64_t netns, struct mw_table *out)
{
	struct mw_table t = {};
	int ret;

	memset(out, 0, sizeof(*out));
	ret = s->ops->lookup(s->ctx, MW_MAP_WL, &netns, &t.wl);
	if (ret)
		return ret;
	ret = read_map(s, &port_shape, netns, t.wl.gen, (void **)&t.ports, &t.n_ports,
		       cmp_port_entry) ?:
	      read_map(s, &cidr_shape, netns, t.wl.gen, (void **)&t.cidrs, &t.n_cidrs,
		       cmp_cidr_entry) ?:
	      read_map(s, &svc_shape, netns, t.wl.gen, (void **)&t.svcs, &t.n_svcs,
		       cmp_svc_entry);
	if (ret) {
		mw_table_free(&t);
		return ret;
	}
	*out = t;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Text */

struct sbuf {
	char *p;
	size_t len, pos;
};

static void __attribute__((format(printf, 2, 3))) sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->pos >= b->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->pos, b->len - b->pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->pos += (size_t)n;
}

static int addr_is_v4(const uint8_t *a)
{
	static const uint8_t pfx[MW_V4_OFF] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

static void endpoint_add(struct sbuf *b, const uint8_t *addr, __be16 port)
{
	char a[INET6_ADDRSTRLEN];

	if (addr_is_v4(addr)) {
		inet_ntop(AF_INET, addr + MW_V4_OFF, a, sizeof(a));
		sb_add(b, "%s:%u", a, ntohs(port));
	} else {
		inet_ntop(AF_INET6, addr, a, sizeof(a));
		sb_add(b, "[%s]:%u", a, ntohs(port));
	}
}

static const char *reason_name(unsigned int reason)
{
	static const char *const names[MW_R_MAX] = {
		[MW_R_REDIRECT] = "redirect",
		[MW_R_LOCAL] = "local",
		[MW_R_UID] = "uid",
		[MW_R_GID] = "gid",
		[MW_R_PORT] = "ignored port",
		[MW_R_ADDR] = "ignored address",
		[MW_R_NO_V6] = "no ipv6",
		[MW_R_DISABLED] = "disabled",
		[MW_R_RULE] = "rule",
		[MW_R_NO_LISTENER] = "no listener",
		[MW_R_REFUSED] = "refused",
		[MW_R_REJECT] = "reject",
		[MW_R_FORWARD] = "forward",
	};

	return reason < MW_R_MAX && names[reason] ? names[reason] : NULL;
}

/* "sidecar 15001", "bypass", "reject ECONNREFUSED", "forward service 1", with the
 * reason when it is not the one that goes with the action (port: in mw_port_v1). */
static void rule_add(struct sbuf *b, const struct mw_rule *r, uint32_t svc, int port_map)
{
	unsigned int usual;
	const char *name;

	switch (r->action) {
	case MW_ACT_REDIRECT:
		usual = MW_R_REDIRECT;
		if (r->port)
			sb_add(b, "sidecar %u", ntohs(r->port));
		else
			sb_add(b, "sidecar");
		break;
	case MW_ACT_BYPASS:
		usual = port_map ? MW_R_PORT : MW_R_RULE;
		sb_add(b, "bypass");
		break;
	case MW_ACT_REJECT:
		usual = MW_R_REJECT;
		name = r->err ? strerrorname_np((int)r->err) : NULL;
		if (name)
			sb_add(b, "reject %s", name);
		else
			sb_add(b, "reject errno %u", r->err);
		break;
	case MW_ACT_FORWARD:
		usual = MW_R_FORWARD;
		sb_add(b, "forward service %u", svc);
		break;
	default:
		usual = r->reason;
		sb_add(b, "action %u", r->action);
		break;
	}
	if (r->reason != usual) {
		name = reason_name(r->reason);
		if (name)
			sb_add(b, " (%s)", name);
		else
			sb_add(b, " (reason %u)", r->reason);
	}
}

static void port_what(struct sbuf *b, const struct mw_port_entry *e)
{
	sb_add(b, "%sport %u", e->key.dir == MW_DIR_INGRESS ? "ingress " : "", ntohs(e->key.port));
}

static void cidr_what(struct sbuf *b, const struct mw_cidr_entry *e)
{
	struct mw_cidr c = {};
	char s[64];

	memcpy(c.addr, e->key.addr, sizeof(c.addr));
	c.prefix = (uint8_t)(e->key.prefixlen - MW_LPM_HDR_BITS);
	c.is_v4 = addr_is_v4(c.addr) && c.prefix >= MW_V4_MAPPED_BITS;
	mw_cidr_str(&c, s, sizeof(s));
	sb_add(b, "%s", s);
}

static void list_add(struct sbuf *b, const struct mw_rule_list *l)
{
	uint32_t i;

	if (!l->n)
		sb_add(b, "no rules");
	for (i = 0; i < l->n && i < MW_RULES_PER_DST; i++) {
		const struct mw_rule_ent *e = &l->e[i];

		if (i)
			sb_add(b, "; ");
		if (e->port_lo == e->port_hi)
			sb_add(b, "port %u ", e->port_lo);
		else if (e->port_lo != 0 || e->port_hi != 65535)
			sb_add(b, "ports %u-%u ", e->port_lo, e->port_hi);
		rule_add(b, &e->rule, e->svc, 0);
	}
}

static void svc_add(struct sbuf *b, const struct mw_svc *s)
{
	uint32_t i, prev = 0;

	if (!s->n)
		sb_add(b, "no endpoints");
	for (i = 0; i < s->n && i < MW_SVC_ENDPOINTS; i++) {
		sb_add(b, "%s", i ? ", " : "");
		endpoint_add(b, s->ep[i].addr, s->ep[i].port);
		sb_add(b, " weight %u", s->ep[i].cum_weight - prev);
		prev = s->ep[i].cum_weight;
	}
}

static void wl_add(struct sbuf *b, const struct mw_workload *w)
{
	const uint32_t named = MW_WL_F_ENABLED | MW_WL_F_IPV6 | MW_WL_F_FAIL_OPEN |
			       MW_WL_F_HAS_UID | MW_WL_F_HAS_GID;

	sb_add(b, "%s", w->flags & MW_WL_F_ENABLED ? "enabled" : "disabled");
	if (w->flags & MW_WL_F_IPV6)
		sb_add(b, ", ipv6");
	if (w->flags & MW_WL_F_FAIL_OPEN)
		sb_add(b, ", fail-open");
	if (w->flags & ~named)
		sb_add(b, ", flags 0x%x", w->flags & ~named);
	if (w->flags & MW_WL_F_HAS_UID)
		sb_add(b, ", uid %u", w->ignore_uid);
	if (w->flags & MW_WL_F_HAS_GID)
		sb_add(b, ", gid %u", w->ignore_gid);
	sb_add(b, ", egress port %u", ntohs(w->egress_port));
	if (w->ingress_port)
		sb_add(b, ", ingress port %u", ntohs(w->ingress_port));
}

/* ------------------------------------------------------------------------ */
/* Diffing */

/* One kind of entry: how to order, compare and print it. */
struct kind {
	size_t esz;
	int (*cmp_key)(const void *a, const void *b);	/* generation aside */
	int (*same_val)(const void *a, const void *b);
	void (*what)(struct sbuf *b, const void *e);
	void (*val)(struct sbuf *b, const void *e);
	const char *sep;	/* between what and value on +/- lines */
};

static int cmp_port_key(const void *a, const void *b)
{
	return cmp_port_entry(*(const void *const *)a, *(const void *const *)b);
}

static int same_port_val(const void *a, const void *b)
{
	const struct mw_port_entry *x = a, *y = b;

	return !memcmp(&x->rule, &y->rule, sizeof(x->rule));
}

static void port_what_v(struct sbuf *b, const void *e)
{
	port_what(b, e);
}

static void port_val(struct sbuf *b, const void *e)
{
	rule_add(b, &((const struct mw_port_entry *)e)->rule, 0, 1);
}

static int cmp_cidr_key(const void *a, const void *b)
{
	return cmp_cidr_entry(*(const void *const *)a, *(const void *const *)b);
}

static int same_cidr_val(const void *a, const void *b)
{
	const struct mw_cidr_entry *x = a, *y = b;
	uint32_t i;

	if (x->list.n != y->list.n)
		return 0;
	for (i = 0; i < x->list.n && i < MW_RULES_PER_DST; i++)
		if (memcmp(&x->list.e[i], &y->list.e[i], sizeof(x->list.e[i])))
			return 0;
	return 1;
}

static void cidr_what_v(struct sbuf *b, const void *e)
{
	cidr_what(b, e);
}

static void cidr_val(struct sbuf *b, const void *e)
{
	list_add(b, &((const struct mw_cidr_entry *)e)->list);
}

static int cmp_svc_key(const void *a, const void *b)
{
	return cmp_svc_entry(*(const void *const *)a, *(const void *const *)b);
}

static int same_svc_val(const void *a, const void *b)
{
	const struct mw_svc_entry *x = a, *y = b;
	uint32_t i;

	if (x->svc.n != y->svc.n || x->svc.total_weight != y->svc.total_weight)
		return 0;
	for (i = 0; i < x->svc.n && i < MW_SVC_ENDPOINTS; i++)
		if (memcmp(&x->svc.ep[i], &y->svc.ep[i], sizeof(x->svc.ep[i])))
			return 0;
	return 1;
}

static void svc_what(struct sbuf *b, const void *e)
{
	sb_add(b, "service %u", ((const struct mw_svc_entry *)e)->key.id);
}

static void svc_val(struct sbuf *b, const void *e)
{
	svc_add(b, &((const struct mw_svc_entry *)e)->svc);
}

static const struct kind port_kind = {
	sizeof(struct mw_port_entry), cmp_port_key, same_port_val, port_what_v, port_val, " ",
};
static const struct kind cidr_kind = {
	sizeof(struct mw_cidr_entry), cmp_cidr_key, same_cidr_val, cidr_what_v, cidr_val, " ",
};
static const struct kind svc_kind = {
	sizeof(struct mw_svc_entry), cmp_svc_key, same_svc_val, svc_what, svc_val, ": ",
};

/* A line as long as the longest: two lists of 8 rules, or two services of 16 endpoints. */
#define LINE_MAX_LEN	4096

static void emit(FILE *out, char sign, const struct kind *k, const void *a, const void *b)
{
	char line[LINE_MAX_LEN];
	struct sbuf sb = { line, sizeof(line), 0 };

	sb_add(&sb, "%c ", sign);
	k->what(&sb, a);
	if (b) {
		sb_add(&sb, ": ");
		k->val(&sb, a);
		sb_add(&sb, " -> ");
		k->val(&sb, b);
	} else {
		sb_add(&sb, "%s", k->sep);
		k->val(&sb, a);
	}
	fprintf(out, "%s\n", line);
}

static const void **sorted(const struct kind *k, const void *arr, size_t n)
{
	const void **p;
	size_t i;

	p = calloc(n ? n : 1, sizeof(*p));
	if (!p)
		return NULL;
	for (i = 0; i < n; i++)
		p[i] = (const unsigned char *)arr + i * k->esz;
	qsort(p, n, sizeof(*p), k->cmp_key);
	return p;
}

/* Merges two sorted runs of one kind; returns the number of lines or -ENOMEM. */
static long diff_kind(const struct kind *k, const void *oa, size_t on, const void *na, size_t nn,
		      FILE *out)
{
	const void **o, **n;
	size_t i = 0, j = 0;
	long changes = 0;

	o = sorted(k, oa, on);
	n = sorted(k, na, nn);
	if (!o || !n) {
		free(o);
		free(n);
		return -ENOMEM;
	}
	while (i < on || j < nn) {
		int d = i == on ? 1 : j == nn ? -1 : k->cmp_key(&o[i], &n[j]);

		if (d < 0) {
			emit(out, '-', k, o[i++], NULL);
		} else if (d > 0) {
			emit(out, '+', k, n[j++], NULL);
		} else {
			if (!k->same_val(o[i], n[j]))
				emit(out, '~', k, o[i], n[j]);
			else
				changes--;
			i++;
			j++;
		}
		changes++;
	}
	free(o);
	free(n);
	return changes;
}

int mw_table_diff(const struct mw_table *old, const struct mw_table *new, FILE *out)
{
	struct mw_workload ow = old->wl, nw = new->wl;
	long n, total = 0;

	ow.gen = 0;
	nw.gen = 0;
	if (memcmp(&ow, &nw, sizeof(ow))) {
		char line[LINE_MAX_LEN];
		struct sbuf sb = { line, sizeof(line), 0 };

		sb_add(&sb, "~ workload: ");
		wl_add(&sb, &ow);
		sb_add(&sb, " -> ");
		wl_add(&sb, &nw);
		fprintf(out, "%s\n", line);
		total++;
	}
	n = diff_kind(&port_kind, old->ports, old->n_ports, new->ports, new->n_ports, out);
	if (n < 0)
		return (int)n;
	total += n;
	n = diff_kind(&cidr_kind, old->cidrs, old->n_cidrs, new->cidrs, new->n_cidrs, out);
	if (n < 0)
		return (int)n;
	total += n;
	n = diff_kind(&svc_kind, old->svcs, old->n_svcs, new->svcs, new->n_svcs, out);
	if (n < 0)
		return (int)n;
	total += n;
	return total > INT32_MAX ? INT32_MAX : (int)total;
}
