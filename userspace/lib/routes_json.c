// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A strict JSON reader for routing tables (routes_json.h). Recursive descent over a
 * private copy of the text. A container's children are kept on a stack while it is
 * read and moved to the node array when it closes, so they end up contiguous there
 * (after their own descendants) and an element is found by index.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "routes_json.h"

struct jp {
	char *s;		/* the copy: strings are decoded into it */
	size_t len, pos;
	struct mw_json_node *nodes, *stk;
	size_t n_nodes, cap_nodes, n_stk, cap_stk;
	const char *what;
	size_t err_off;
	char *msg;		/* mw_json.msg */
};

static const char E_EOF[] = "unexpected end of data";
static const char E_CHAR[] = "unexpected character";
static const char E_DEPTH[] = "nesting too deep";
static const char E_NULL[] = "null expected";
static const char E_BOOL[] = "boolean expected";
static const char E_NUM[] = "number expected";
static const char E_ARR_SEP[] = "array value separator ',' expected";
static const char E_KEY[] = "quoted object property name expected";
static const char E_COLON[] = "object property name separator ':' expected";
static const char E_OBJ_SEP[] = "object value separator ',' expected";
static const char E_STRING[] = "invalid string sequence";
static const char E_UTF8[] = "invalid utf-8 string";
static const char E_QUOTE[] = "strings take double quotes";

static int jp_err(struct jp *p, size_t off, const char *what)
{
	p->what = what;
	p->err_off = off;
	return -EINVAL;
}

/* At the end of the text, "unexpected end of data" there; else `what` at pos. */
static int jp_err_here(struct jp *p, const char *what)
{
	return p->pos >= p->len ? jp_err(p, p->len, E_EOF) : jp_err(p, p->pos, what);
}

static int push(struct mw_json_node **arr, size_t *n, size_t *cap, const struct mw_json_node *v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct mw_json_node *na = realloc(*arr, ncap * sizeof(*na));

		if (!na)
			return -ENOMEM;
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = *v;
	return 0;
}

static void skip_ws(struct jp *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		p->pos++;
	}
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t k, need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < need + 1)
		return 0;
	for (k = 1; k <= need; k++) {
		if (s[k] < lo || s[k] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at pos (its opening quote): decoded in place, NUL-terminated; *off is where. */
static int parse_string(struct jp *p, uint32_t *off)
{
	char *s = p->s, *o;
	size_t i = p->pos + 1, n;

	*off = (uint32_t)i;
	o = s + i;
	for (;;) {
		unsigned char c;

		if (i >= p->len)
			return jp_err(p, p->len, E_EOF);
		c = (unsigned char)s[i];
		if (c == '"') {
			*o = '\0';
			p->pos = i + 1;
			return 0;
		}
		if (c < 0x20)
			return jp_err(p, i, E_STRING);
		if (c >= 0x80) {
			n = utf8_len((const unsigned char *)s + i, p->len - i);
			if (!n)
				return jp_err(p, i, E_UTF8);
			memmove(o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		if (c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (i + 1 >= p->len)
			return jp_err(p, p->len, E_EOF);
		switch (s[i + 1]) {
		case '"':
		case '\\':
		case '/':
			*o++ = s[i + 1];
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			uint32_t cp, lo;

			if (i + 6 > p->len)
				return jp_err(p, p->len, E_EOF);
			if (hex4(s + i + 2, &cp) || !cp || (cp >= 0xdc00 && cp <= 0xdfff))
				return jp_err(p, i, E_STRING);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				/* A high surrogate: its low half must follow. */
				if ((i + 6 < p->len && s[i + 6] != '\\') ||
				    (i + 7 < p->len && s[i + 7] != 'u'))
					return jp_err(p, i, E_STRING);
				if (i + 12 > p->len)
					return jp_err(p, p->len, E_EOF);
				if (s[i + 6] != '\\' || s[i + 7] != 'u' || hex4(s + i + 8, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return jp_err(p, i, E_STRING);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			/* Never longer than the escape it replaces. */
			o += put_utf8(o, cp);
			i += 6;
			continue;
		}
		default:
			return jp_err(p, i, E_STRING);
		}
		i += 2;
	}
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct jp *p, struct mw_json_node *v)
{
	const char *s = p->s;
	size_t i = p->pos, start = p->pos;
	int is_int = 1;

	if (s[i] == '-')
		i++;
	if (i >= p->len)
		return jp_err(p, p->len, E_EOF);
	if (s[i] == '0') {
		i++;
	} else if (is_digit(s[i])) {
		while (i < p->len && is_digit(s[i]))
			i++;
	} else {
		return jp_err(p, i, E_NUM);
	}
	if (i < p->len && s[i] == '.') {
		is_int = 0;
		if (++i >= p->len)
			return jp_err(p, p->len, E_EOF);
		if (!is_digit(s[i]))
			return jp_err(p, i, E_NUM);
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		is_int = 0;
		if (++i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->len)
			return jp_err(p, p->len, E_EOF);
		if (!is_digit(s[i]))
			return jp_err(p, i, E_NUM);
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	v->type = is_int ? MW_JSON_INT : MW_JSON_DOUBLE;
	v->a = (uint32_t)start;
	v->b = (uint32_t)(i - start);
	p->pos = i;
	return 0;
}

static int literal(struct jp *p, const char *word, const char *what)
{
	size_t k;

	for (k = 0; word[k]; k++) {
		if (p->pos + k >= p->len)
			return jp_err(p, p->len, E_EOF);
		if (p->s[p->pos + k] != word[k])
			return jp_err(p, p->pos + k, what);
	}
	p->pos += k;
	return 0;
}

static int parse_value(struct jp *p, struct mw_json_node *v, int depth);

/* Moves the children on the stack from `base` to the node array: v's children. */
static int close_container(struct jp *p, struct mw_json_node *v, size_t base)
{
	size_t n = p->n_stk - base;

	if (p->n_nodes + n > p->cap_nodes) {
		size_t ncap = p->cap_nodes ? p->cap_nodes : 1024;
		struct mw_json_node *na;

		while (ncap < p->n_nodes + n)
			ncap *= 2;
		na = realloc(p->nodes, ncap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		p->nodes = na;
		p->cap_nodes = ncap;
	}
	if (p->n_nodes + n >= UINT32_MAX)
		return -ENOMEM;
	if (n)
		memcpy(p->nodes + p->n_nodes, p->stk + base, n * sizeof(*p->stk));
	v->a = (uint32_t)p->n_nodes;
	v->b = (uint32_t)n;
	p->n_nodes += n;
	p->n_stk = base;
	return 0;
}

static int parse_array(struct jp *p, struct mw_json_node *v, int depth)
{
	size_t base = p->n_stk;
	struct mw_json_node e;
	int ret;

	v->type = MW_JSON_ARRAY;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return close_container(p, v, base);
	}
	for (;;) {
		memset(&e, 0, sizeof(e));
		ret = parse_value(p, &e, depth + 1);
		if (ret)
			return ret;
		if (push(&p->stk, &p->n_stk, &p->cap_stk, &e))
			return -ENOMEM;
		skip_ws(p);
		if (p->pos >= p->len)
			return jp_err(p, p->len, E_EOF);
		if (p->s[p->pos] == ']') {
			p->pos++;
			return close_container(p, v, base);
		}
		if (p->s[p->pos] != ',')
			return jp_err(p, p->pos, E_ARR_SEP);
		p->pos++;
	}
}

static int parse_object(struct jp *p, struct mw_json_node *v, int depth)
{
	size_t base = p->n_stk, k, key_at;
	struct mw_json_node e;
	uint32_t key;
	int ret;

	v->type = MW_JSON_OBJECT;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return close_container(p, v, base);
	}
	for (;;) {
		skip_ws(p);
		if (p->pos >= p->len)
			return jp_err(p, p->len, E_EOF);
		if (p->s[p->pos] == '\'')
			return jp_err(p, p->pos, E_QUOTE);
		if (p->s[p->pos] == '}')	/* after a comma */
			return jp_err(p, p->pos, E_CHAR);
		if (p->s[p->pos] != '"')
			return jp_err(p, p->pos, E_KEY);
		key_at = p->pos;
		ret = parse_string(p, &key);
		if (ret)
			return ret;
		for (k = base; k < p->n_stk && k - base < MW_JSON_DUP_KEYS; k++) {
			if (!strcmp(p->s + p->stk[k].key, p->s + key)) {
				/* Long keys are cut; the offset says which one anyway. */
				snprintf(p->msg, MW_JSON_MSG_LEN, "duplicate key \"%.64s\"",
					 p->s + key);
				return jp_err(p, key_at, p->msg);
			}
		}
		skip_ws(p);
		if (p->pos >= p->len)
			return jp_err(p, p->len, E_EOF);
		if (p->s[p->pos] != ':')
			return jp_err(p, p->pos, E_COLON);
		p->pos++;
		memset(&e, 0, sizeof(e));
		ret = parse_value(p, &e, depth + 1);
		if (ret)
			return ret;
		e.key = key;
		if (push(&p->stk, &p->n_stk, &p->cap_stk, &e))
			return -ENOMEM;
		skip_ws(p);
		if (p->pos >= p->len)
			return jp_err(p, p->len, E_EOF);
		if (p->s[p->pos] == '}') {
			p->pos++;
			return close_container(p, v, base);
		}
		if (p->s[p->pos] != ',')
			return jp_err(p, p->pos, E_OBJ_SEP);
		p->pos++;
	}
}

static int parse_value(struct jp *p, struct mw_json_node *v, int depth)
{
	char c;
	int ret;

	skip_ws(p);
	if (p->pos >= p->len)
		return jp_err(p, p->len, E_EOF);
	c = p->s[p->pos];
	switch (c) {
	case '{':
	case '[':
		if (depth >= MW_JSON_MAX_DEPTH)
			return jp_err(p, p->pos, E_DEPTH);
		return c == '{' ? parse_object(p, v, depth) : parse_array(p, v, depth);
	case '"':
		v->type = MW_JSON_STRING;
		return parse_string(p, &v->a);
	case '\'':
		return jp_err(p, p->pos, E_QUOTE);
	case 't':
		v->type = MW_JSON_BOOL;
		v->flag = 1;
		return literal(p, "true", E_BOOL);
	case 'f':
		v->type = MW_JSON_BOOL;
		v->flag = 0;
		return literal(p, "false", E_BOOL);
	case 'n':
		v->type = MW_JSON_NULL;
		return literal(p, "null", E_NULL);
	default:
		if (c == '-' || is_digit(c)) {
			ret = parse_number(p, v);
			return ret;
		}
		return jp_err_here(p, E_CHAR);
	}
}

int mw_json_parse(struct mw_json *d, const char *text, size_t len, size_t *off, const char **what)
{
	struct jp p = { .len = len, .msg = d->msg };
	struct mw_json_node root = {};
	int ret;

	memset(d, 0, sizeof(*d));
	p.msg = d->msg;
	*off = 0;
	*what = NULL;
	if (len >= UINT32_MAX - 1)
		return -E2BIG;
	p.s = mw_calloc_large(len + 1, 1);
	if (!p.s)
		return -ENOMEM;
	/* Room for a value every 8 bytes without a copy (a rule of the scale test is 76
	 * bytes and 5 values); past that the array doubles. */
	p.cap_nodes = len / 8 + 1024;
	p.nodes = mw_calloc_large(p.cap_nodes, sizeof(*p.nodes));
	if (!p.nodes) {
		free(p.s);
		return -ENOMEM;
	}
	memcpy(p.s, text, len);
	p.s[len] = '\0';
	ret = parse_value(&p, &root, 0);
	if (!ret) {
		skip_ws(&p);
		if (p.pos < p.len)
			ret = jp_err(&p, p.pos, E_CHAR);
	}
	if (!ret && push(&p.nodes, &p.n_nodes, &p.cap_nodes, &root))
		ret = -ENOMEM;
	free(p.stk);
	d->buf = p.s;
	d->nodes = p.nodes;
	d->n_nodes = p.n_nodes;
	d->root = p.n_nodes ? (uint32_t)(p.n_nodes - 1) : 0;
	if (ret == -EINVAL) {
		*off = p.err_off;
		*what = p.what;
	}
	return ret;
}

void mw_json_free(struct mw_json *d)
{
	if (!d)
		return;
	free(d->buf);
	free(d->nodes);
	memset(d, 0, sizeof(*d));
}

const struct mw_json_node *mw_json_get(const struct mw_json *d, const struct mw_json_node *o,
				       const char *key)
{
	size_t i;

	if (!mw_json_is(o, MW_JSON_OBJECT))
		return NULL;
	for (i = 0; i < o->b; i++)
		if (!strcmp(d->buf + d->nodes[o->a + i].key, key))
			return &d->nodes[o->a + i];
	return NULL;
}

int mw_json_int(const struct mw_json *d, const struct mw_json_node *v, int64_t *out)
{
	const char *s;
	uint64_t x = 0, lim;
	size_t i = 0, n;
	int neg;

	if (!d || !v)
		return -EINVAL;
	s = d->buf + v->a;
	n = v->b;
	neg = n && s[0] == '-';
	if (neg)
		i++;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		uint64_t dgt = (uint64_t)(s[i] - '0');

		if (x > (lim - dgt) / 10)
			return -ERANGE;
		x = x * 10 + dgt;
	}
	*out = neg ? (int64_t)(0 - x) : (int64_t)x;
	return 0;
}

#define MW_HUGE_PAGE	(2u << 20)

void *mw_calloc_large(size_t n, size_t size)
{
	size_t len;
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	len = n * size;
	if (len < 2 * MW_HUGE_PAGE)
		return calloc(n ? n : 1, size ? size : 1);
	len = (len + MW_HUGE_PAGE - 1) & ~(size_t)(MW_HUGE_PAGE - 1);
	p = aligned_alloc(MW_HUGE_PAGE, len);
	if (!p)
		return NULL;
	madvise(p, len, MADV_HUGEPAGE);	/* a hint: without it, 4 KB pages */
	memset(p, 0, len);
	return p;
}
