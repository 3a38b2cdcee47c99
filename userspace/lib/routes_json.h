/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The JSON reader of routing tables: yajl's event parser (no tree of its own) building
 * a compact tree.
 *
 * json-c's tree costs about 750 bytes per object (a 16-slot hash table each), 230 MB
 * for a 100 000-rule table, and faulting that in took seconds. This tree is 16 bytes
 * a value: nodes in one array, a container's children contiguous in it, strings
 * decoded in place in one copy of the text. It also refuses what json-c (or yajl)
 * would take silently: a key given twice in one object (among its first
 * MW_JSON_DUP_KEYS keys), single-quoted strings, a \u0000 and lone surrogates.
 *
 * Errors carry the byte offset of the offending character (the end of the text when
 * it ends too early) and json-c's wording for the same fault where there is one, so
 * messages stay as documented in docs/routes.md; else yajl's words.
 */
#ifndef MW_ROUTES_JSON_H
#define MW_ROUTES_JSON_H

#include <stddef.h>
#include <stdint.h>

#define MW_JSON_MAX_DEPTH	32	/* json-c's default */
#define MW_JSON_DUP_KEYS	16
#define MW_JSON_MSG_LEN		96

enum mw_json_type {
	MW_JSON_NULL,
	MW_JSON_BOOL,
	MW_JSON_INT,		/* no fraction, no exponent */
	MW_JSON_DOUBLE,
	MW_JSON_STRING,
	MW_JSON_ARRAY,
	MW_JSON_OBJECT,
};

struct mw_json_node {
	uint8_t type;		/* enum mw_json_type */
	uint8_t flag;		/* BOOL: the value */
	uint16_t pad;
	uint32_t key;		/* member of an object: offset of its name in buf */
	uint32_t a;		/* STRING: offset in buf; number: offset of its text in buf;
				 * ARRAY/OBJECT: index of the first child */
	uint32_t b;		/* number: length of its text; ARRAY/OBJECT: children */
};

struct mw_json {
	char *buf;		/* the text, strings decoded in place and NUL-terminated */
	struct mw_json_node *nodes;
	size_t n_nodes;
	uint32_t root;
	char msg[MW_JSON_MSG_LEN];	/* an error's `what` when it names something */
};

/*
 * Parses text (len bytes, at most UINT32_MAX - 1). Returns 0, -EINVAL with *off and
 * *what set (the offending byte and the fault), or -ENOMEM. d needs mw_json_free
 * either way.
 */
int mw_json_parse(struct mw_json *d, const char *text, size_t len, size_t *off, const char **what);
void mw_json_free(struct mw_json *d);

static inline const struct mw_json_node *mw_json_root(const struct mw_json *d)
{
	return &d->nodes[d->root];
}

static inline int mw_json_is(const struct mw_json_node *v, enum mw_json_type t)
{
	return v && v->type == t;
}

/* Elements of an array, members of an object. */
static inline size_t mw_json_len(const struct mw_json_node *v)
{
	return v->type == MW_JSON_ARRAY || v->type == MW_JSON_OBJECT ? v->b : 0;
}

/* Element or member i (i < mw_json_len). */
static inline const struct mw_json_node *mw_json_at(const struct mw_json *d,
						    const struct mw_json_node *v, size_t i)
{
	return &d->nodes[v->a + i];
}

static inline const char *mw_json_key(const struct mw_json *d, const struct mw_json_node *v)
{
	return d->buf + v->key;
}

static inline const char *mw_json_str(const struct mw_json *d, const struct mw_json_node *v)
{
	return d->buf + v->a;
}

/* Member `key` of object o, NULL when absent. */
const struct mw_json_node *mw_json_get(const struct mw_json *d, const struct mw_json_node *o,
				       const char *key);

/* An INT's value; -ERANGE beyond int64. */
int mw_json_int(const struct mw_json *d, const struct mw_json_node *v, int64_t *out);

/* A number as written: its text and length. */
static inline const char *mw_json_num_text(const struct mw_json *d, const struct mw_json_node *v,
					   int *len)
{
	*len = (int)v->b;
	return d->buf + v->a;
}

/*
 * Zeroed memory for a large array that is filled once (a table of 100 000 rules): in
 * 2 MB pages where the kernel hands them out on request (transparent huge pages in
 * "madvise" mode), so filling it faults once per 2 MB instead of once per 4 KB. Faults
 * were most of the parse and compile time on the development VM. Free with free().
 */
void *mw_calloc_large(size_t n, size_t size);

#endif /* MW_ROUTES_JSON_H */
