// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The JSON reader of routing tables (routes_json.h) on yajl's event parser: yajl lexes
 * the text and checks its grammar, the callbacks below build the node array. A
 * container's children are kept on a stack while it is open and moved to the node array
 * when it closes, so they end up contiguous there (after their own descendants) and an
 * element is found by index.
 *
 * Strings and numbers stay where they are in a private copy of the text: a string's
 * closing quote becomes its NUL, and a string with escapes is written there decoded
 * (never longer than its text) by the callback.
 *
 * yajl runs with its defaults: no comments, no trailing garbage, one value, UTF-8
 * checked. The callbacks refuse what it takes and this reader never has: a key given
 * twice in one object, \u0000 and lone surrogates, overlong or surrogate UTF-8, nesting
 * past MW_JSON_MAX_DEPTH. A fault is reported at the offending byte in json-c's words,
 * where yajl's error has them (yajl_faults), else in yajl's own.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <yajl/yajl_parse.h>

#include "routes_json.h"

struct jp_frame {
	size_t base;		/* the container's first child on the stack */
	uint32_t key;		/* its own name, when its parent is an object */
	uint8_t type;
};

struct jp {
	const char *text;	/* what yajl reads */
	char *s;		/* the copy the nodes point into */
	size_t len;
	yajl_handle h;
	struct mw_json_node *nodes, *stk;
	size_t n_nodes, cap_nodes, n_stk, cap_stk;
	struct jp_frame frames[MW_JSON_MAX_DEPTH];
	int depth;		/* containers open */
	uint32_t key;		/* the name of the next member of the innermost object */
	int after_key;		/* the last token was that name */
	struct mw_json_node root;
	int has_root;
	/*
	 * Where the last token that had a callback ended. Only ',' and ':' have none, so the
	 * next token starts after blanks and at most one of those: how a fault is placed.
	 */
	size_t last_end;
	int finishing;		/* in yajl_complete_parse: yajl counts from 0 again */
	int nomem;
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

/* A callback's refusal: yajl stops with yajl_status_client_canceled. */
static int jp_fail(struct jp *p, size_t off, const char *what)
{
	p->what = what;
	p->err_off = off;
	return 0;
}

static int jp_nomem(struct jp *p)
{
	p->nomem = 1;
	return 0;
}

/* The end of the token whose callback runs. */
static size_t jp_consumed(struct jp *p)
{
	/* yajl_complete_parse feeds one blank of its own: only a number that ends the text
	 * completes there. */
	return p->finishing ? p->len : yajl_get_bytes_consumed(p->h);
}

static size_t skip_ws(const struct jp *p, size_t i)
{
	while (i < p->len && (p->text[i] == ' ' || p->text[i] == '\t' || p->text[i] == '\n' ||
			      p->text[i] == '\r' || p->text[i] == '\v' || p->text[i] == '\f'))
		i++;
	return i;
}

/* The first byte of the token after the last one with a callback, past a ',' or ':'. */
static size_t next_token(const struct jp *p)
{
	size_t i = skip_ws(p, p->last_end);

	if (i < p->len && (p->text[i] == ',' || p->text[i] == ':'))
		i = skip_ws(p, i + 1);
	return i;
}

/* Whether yajl hands over [ptr, ptr + n) from the text itself, not from a buffer of its own. */
static int in_text(const struct jp *p, const void *ptr, size_t n)
{
	uintptr_t a = (uintptr_t)ptr, t = (uintptr_t)p->text;

	return a >= t && a - t <= p->len && n <= p->len - (a - t);
}

static int in_object(const struct jp *p)
{
	return p->depth && p->frames[p->depth - 1].type == MW_JSON_OBJECT;
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

/* A complete value: a child of the innermost container, or the document. */
static int add_value(struct jp *p, const struct mw_json_node *v)
{
	p->after_key = 0;
	if (!p->depth) {
		p->root = *v;
		p->has_root = 1;
		return 1;
	}
	return push(&p->stk, &p->n_stk, &p->cap_stk, v) ? jp_nomem(p) : 1;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char c = s[i];

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

/*
 * The text of a string, [i, to), for what yajl takes and this reader does not: overlong
 * or surrogate UTF-8, \u0000 (a NUL inside a C string), and lone surrogates (yajl turns
 * a lone high one into '?' and drops the character after it). Also finds the byte at
 * fault when yajl stopped inside a string. Returns 1, or 0 with the fault set.
 */
static int check_string(struct jp *p, size_t i, size_t to)
{
	const unsigned char *s = (const unsigned char *)p->text;
	uint32_t cp, lo;
	size_t n;

	while (i < to) {
		if (s[i] >= 0x80) {
			n = utf8_len(s + i, to - i);
			if (!n)
				return jp_fail(p, i, E_UTF8);
			i += n;
		} else if (s[i] < 0x20) {
			return jp_fail(p, i, E_STRING);
		} else if (s[i] != '\\') {
			i++;
		} else if (i + 1 < to && s[i + 1] && memchr("\"\\/bfnrt", s[i + 1], 8)) {
			i += 2;
		} else if (i + 6 <= to && s[i + 1] == 'u' && !hex4(s + i + 2, &cp) && cp &&
			   (cp < 0xdc00 || cp > 0xdfff)) {
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (i + 12 > to || s[i + 6] != '\\' || s[i + 7] != 'u' ||
				    hex4(s + i + 8, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return jp_fail(p, i, E_STRING);
				i += 6;
			}
			i += 6;
		} else {
			return jp_fail(p, i, E_STRING);
		}
	}
	return 1;
}

/* Whether any byte of s[0..n) is not ASCII; a word at a time. */
static int has_high(const unsigned char *s, size_t n)
{
	uint64_t w, acc = 0;
	size_t i = 0;

	for (; i + sizeof(w) <= n; i += sizeof(w)) {
		memcpy(&w, s + i, sizeof(w));
		acc |= w;
	}
	for (; i < n; i++)
		acc |= s[i];
	return !!(acc & 0x8080808080808080ull);
}

/*
 * A string or key from yajl: checked, then placed in the copy, ending at its closing
 * quote. *open is where its opening quote is, *at where it is kept.
 */
static int take_string(struct jp *p, const unsigned char *str, size_t n, size_t *open,
		       uint32_t *at)
{
	size_t end = jp_consumed(p) - 1;	/* the closing quote */
	const char *c = (const char *)str;

	if (in_text(p, str, n) && n == end - (size_t)(c - p->text)) {
		/* No escapes: yajl points into the text. */
		*open = (size_t)(c - p->text) - 1;
	} else {
		/* Decoded into yajl's buffer: look at the escapes in the text. */
		*open = next_token(p);
		if (end - *open - 1 < n)
			return jp_fail(p, *open, E_STRING);
	}
	p->last_end = end + 1;
	/* yajl has refused control characters and checked the shape of UTF-8 sequences. */
	if ((c != p->text + *open + 1 || has_high(str, n)) && !check_string(p, *open + 1, end))
		return 0;
	if (c != p->text + end - n)
		memcpy(p->s + end - n, str, n);
	p->s[end] = '\0';
	*at = (uint32_t)(end - n);
	return 1;
}

static int cb_null(void *ctx)
{
	struct jp *p = ctx;
	struct mw_json_node v = { .type = MW_JSON_NULL };

	p->last_end = jp_consumed(p);
	v.key = in_object(p) ? p->key : 0;
	return add_value(p, &v);
}

static int cb_boolean(void *ctx, int b)
{
	struct jp *p = ctx;
	struct mw_json_node v = { .type = MW_JSON_BOOL, .flag = !!b };

	p->last_end = jp_consumed(p);
	v.key = in_object(p) ? p->key : 0;
	return add_value(p, &v);
}

/* The number as written: its text stays in the copy, mw_json_int reads it. */
static int cb_number(void *ctx, const char *num, size_t n)
{
	struct jp *p = ctx;
	struct mw_json_node v = { .type = MW_JSON_INT };
	size_t at;

	p->last_end = jp_consumed(p);
	if (in_text(p, num, n)) {
		at = (size_t)(num - p->text);
	} else {
		/* yajl's lexer held a number that ends the text until yajl_complete_parse. */
		if (n > p->len || memcmp(p->text + p->len - n, num, n))
			return jp_fail(p, p->len, E_EOF);
		at = p->len - n;
	}
	if (memchr(num, '.', n) || memchr(num, 'e', n) || memchr(num, 'E', n))
		v.type = MW_JSON_DOUBLE;
	v.a = (uint32_t)at;
	v.b = (uint32_t)n;
	v.key = in_object(p) ? p->key : 0;
	return add_value(p, &v);
}

static int cb_string(void *ctx, const unsigned char *str, size_t n)
{
	struct jp *p = ctx;
	struct mw_json_node v = { .type = MW_JSON_STRING };
	size_t open;

	if (!take_string(p, str, n, &open, &v.a))
		return 0;
	v.key = in_object(p) ? p->key : 0;
	return add_value(p, &v);
}

static int cb_map_key(void *ctx, const unsigned char *str, size_t n)
{
	struct jp *p = ctx;
	const struct jp_frame *f = &p->frames[p->depth - 1];
	size_t open, k;
	uint32_t key;

	if (!take_string(p, str, n, &open, &key))
		return 0;
	for (k = f->base; k < p->n_stk && k - f->base < MW_JSON_DUP_KEYS; k++) {
		if (!strcmp(p->s + p->stk[k].key, p->s + key)) {
			/* Long keys are cut; the offset says which one anyway. */
			snprintf(p->msg, MW_JSON_MSG_LEN, "duplicate key \"%.64s\"", p->s + key);
			return jp_fail(p, open, p->msg);
		}
	}
	p->key = key;
	p->after_key = 1;
	return 1;
}

static int open_container(struct jp *p, uint8_t type)
{
	struct jp_frame *f;

	p->last_end = jp_consumed(p);
	if (p->depth == MW_JSON_MAX_DEPTH)
		return jp_fail(p, p->last_end - 1, E_DEPTH);
	f = &p->frames[p->depth];
	f->base = p->n_stk;
	f->type = type;
	f->key = in_object(p) ? p->key : 0;
	p->after_key = 0;
	p->depth++;
	return 1;
}

/* Moves the children on the stack to the node array: the closed container's children. */
static int close_container(struct jp *p)
{
	const struct jp_frame *f = &p->frames[--p->depth];
	struct mw_json_node v = { .type = f->type, .key = f->key };
	size_t n = p->n_stk - f->base;

	p->last_end = jp_consumed(p);
	if (p->n_nodes + n > p->cap_nodes) {
		size_t ncap = p->cap_nodes ? p->cap_nodes : 1024;
		struct mw_json_node *na;

		while (ncap < p->n_nodes + n)
			ncap *= 2;
		na = realloc(p->nodes, ncap * sizeof(*na));
		if (!na)
			return jp_nomem(p);
		p->nodes = na;
		p->cap_nodes = ncap;
	}
	if (p->n_nodes + n >= UINT32_MAX)
		return jp_nomem(p);
	if (n)
		memcpy(p->nodes + p->n_nodes, p->stk + f->base, n * sizeof(*p->stk));
	v.a = (uint32_t)p->n_nodes;
	v.b = (uint32_t)n;
	p->n_nodes += n;
	p->n_stk = f->base;
	return add_value(p, &v);
}

static int cb_start_map(void *ctx)
{
	return open_container(ctx, MW_JSON_OBJECT);
}

static int cb_start_array(void *ctx)
{
	return open_container(ctx, MW_JSON_ARRAY);
}

static int cb_end(void *ctx)
{
	return close_container(ctx);
}

/*
 * What json-c's grammar wants at the token at `start` when no value can go there (a
 * name, ':', or ','), NULL where one can (or a name, and the token is a string). yajl's
 * lexer reads a token before its parser knows where it is, so a lexical fault may stand
 * where the grammar's fault comes first.
 */
static const char *misplaced(const struct jp *p, size_t start)
{
	size_t i = start;
	char prev;

	while (i > 0 && (p->text[i - 1] == ' ' || p->text[i - 1] == '\t' ||
			 p->text[i - 1] == '\n' || p->text[i - 1] == '\r'))
		i--;
	prev = i ? p->text[i - 1] : '\0';
	if (!p->depth)
		return p->has_root ? E_CHAR : NULL;
	if (prev == '[' || prev == ':' || (prev == ',' && !in_object(p)))
		return NULL;
	if (prev == '{' || prev == ',')
		return start < p->len && (p->text[start] == '"' || p->text[start] == '\'') ?
			NULL : E_KEY;
	if (p->after_key)
		return E_COLON;
	return in_object(p) ? E_OBJ_SEP : E_ARR_SEP;
}

enum { AT_YAJL, AT_BEFORE, AT_NEXT, AT_KEY, AT_STRING };

/*
 * yajl's faults, by the text yajl_get_error gives them (yajl 2 has no error codes in its
 * API), with json-c's words for the same fault and where that is. A fault not listed
 * keeps yajl's own words.
 */
static const struct {
	const char *yajl, *what;
	int at;
} yajl_faults[] = {
	/* ':', ',', ']' or '}' where a value belongs: yajl is past it. */
	{ "unallowed token at this point in JSON text", E_CHAR, AT_BEFORE },
	{ "invalid object key (must be a string)", E_KEY, AT_KEY },
	{ "object key and value must be separated by a colon (':')", E_COLON, AT_NEXT },
	{ "after key and value, inside map, I expect ',' or '}'", E_OBJ_SEP, AT_NEXT },
	{ "after array element, I expect ',' or ']'", E_ARR_SEP, AT_NEXT },
	{ "trailing garbage", E_CHAR, AT_NEXT },
	/* Lexical faults: yajl stops on the offending byte or just past it. */
	{ "invalid char in json text.", E_CHAR, AT_BEFORE },
	{ "invalid string in json text.", E_BOOL, AT_YAJL },	/* a misspelt literal */
	{ "malformed number, a digit is required after the exponent.", E_NUM, AT_YAJL },
	{ "malformed number, a digit is required after the decimal point.", E_NUM, AT_YAJL },
	{ "malformed number, a digit is required after the minus sign.", E_NUM, AT_YAJL },
	{ "invalid bytes in UTF8 string.", E_UTF8, AT_STRING },
	{ "inside a string, '\\' occurs before a character which it may not.", E_STRING,
	  AT_STRING },
	{ "invalid character inside string.", E_STRING, AT_STRING },
	{ "invalid (non-hex) character occurs after '\\u' inside string.", E_STRING, AT_STRING },
};

/* The fault yajl stopped at: p->what and p->err_off. Returns -EINVAL, or -ENOMEM. */
static int yajl_fault(struct jp *p)
{
	size_t off = yajl_get_bytes_consumed(p->h), i, tok;
	const char *m, *ctx;
	unsigned char *err;
	int lexical;
	size_t n;

	if (p->finishing) {
		/* The text ended inside a value, or a token was cut off at its end. */
		tok = next_token(p);
		ctx = tok < p->len ? misplaced(p, tok) : NULL;
		p->what = ctx ? ctx : E_EOF;
		p->err_off = ctx ? tok : p->len;
		return -EINVAL;
	}
	err = yajl_get_error(p->h, 0, (const unsigned char *)p->text, p->len);
	if (!err)
		return -ENOMEM;
	/* "lexical error: <what>\n" or "parse error: <what>\n" */
	lexical = !strncmp((const char *)err, "lexical", 7);
	m = strstr((const char *)err, ": ");
	m = m ? m + 2 : (const char *)err;
	n = strcspn(m, "\n");
	p->what = NULL;
	p->err_off = off;
	tok = next_token(p);
	ctx = lexical ? misplaced(p, tok) : NULL;
	if (ctx) {
		p->what = ctx;
		p->err_off = tok;
		goto out;
	}
	for (i = 0; i < sizeof(yajl_faults) / sizeof(yajl_faults[0]); i++) {
		if (strlen(yajl_faults[i].yajl) != n || strncmp(m, yajl_faults[i].yajl, n))
			continue;
		p->what = yajl_faults[i].what;
		switch (yajl_faults[i].at) {
		case AT_BEFORE:
			p->err_off = off ? off - 1 : 0;
			break;
		case AT_NEXT:
			p->err_off = skip_ws(p, p->last_end);
			break;
		case AT_KEY:
			/* A value where a name belongs, perhaps after a ','. yajl is past it. */
			p->err_off = off && memchr(",:[]{}", p->text[off - 1], 6) ? off - 1 : tok;
			if (p->text[p->err_off] == '}')
				p->what = E_CHAR;	/* a ',' before it */
			break;
		case AT_STRING:
			if (!check_string(p, tok + 1, off < p->len ? off + 1 : p->len))
				goto out;
			break;
		}
		break;
	}
	if (!p->what) {
		/* yajl's own words, without the final '.'. */
		if (n && m[n - 1] == '.')
			n--;
		snprintf(p->msg, MW_JSON_MSG_LEN, "%.*s", (int)n, m);
		p->what = p->msg;
	} else if (p->what == E_BOOL && tok < p->len && p->text[tok] == 'n') {
		p->what = E_NULL;
	} else if (p->what == E_CHAR && lexical && tok < p->len && p->text[tok] == '\'') {
		p->what = E_QUOTE;	/* json-c takes 'x' for a name */
	}
out:
	yajl_free_error(p->h, err);
	return -EINVAL;
}

int mw_json_parse(struct mw_json *d, const char *text, size_t len, size_t *off, const char **what)
{
	static const yajl_callbacks cbs = {
		.yajl_null = cb_null,
		.yajl_boolean = cb_boolean,
		.yajl_number = cb_number,
		.yajl_string = cb_string,
		.yajl_start_map = cb_start_map,
		.yajl_map_key = cb_map_key,
		.yajl_end_map = cb_end,
		.yajl_start_array = cb_start_array,
		.yajl_end_array = cb_end,
	};
	struct jp p = { .text = text, .len = len };
	yajl_status st;
	int ret = 0;

	memset(d, 0, sizeof(*d));
	p.msg = d->msg;
	*off = 0;
	*what = NULL;
	if (len >= UINT32_MAX - 1)
		return -E2BIG;
	p.s = mw_calloc_large(len + 1, 1);
	/* Room for a value every 8 bytes without a copy (a rule of the scale test is 76
	 * bytes and 5 values); past that the array doubles. */
	p.cap_nodes = len / 8 + 1024;
	p.nodes = mw_calloc_large(p.cap_nodes, sizeof(*p.nodes));
	p.h = yajl_alloc(&cbs, NULL, &p);
	if (!p.s || !p.nodes || !p.h) {
		ret = -ENOMEM;
		goto cleanup;
	}
	memcpy(p.s, text, len);
	st = yajl_parse(p.h, (const unsigned char *)text, len);
	if (st == yajl_status_ok) {
		p.finishing = 1;
		st = yajl_complete_parse(p.h);
	}
	if (p.nomem)
		ret = -ENOMEM;
	else if (st == yajl_status_client_canceled)
		ret = -EINVAL;
	else if (st != yajl_status_ok)
		ret = yajl_fault(&p);
	else if (!p.has_root)
		ret = -EINVAL;	/* yajl says "premature EOF" first */
	else if (push(&p.nodes, &p.n_nodes, &p.cap_nodes, &p.root))
		ret = -ENOMEM;
	if (ret == -EINVAL) {
		*off = p.err_off;
		*what = p.what ? p.what : E_EOF;
	}
cleanup:
	if (p.h)
		yajl_free(p.h);
	free(p.stk);
	d->buf = p.s;
	d->nodes = p.nodes;
	d->n_nodes = p.n_nodes;
	d->root = p.n_nodes ? (uint32_t)(p.n_nodes - 1) : 0;
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
