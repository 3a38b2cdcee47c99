// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshwarp routes show | diff FILE | apply FILE | rollback | fetch
 *
 * A routing table is validated and compiled for every enrolled workload before
 * anything changes; then each workload's table goes in through the generation
 * switch (a connection is decided by one whole table). The document in force
 * and the one before it are kept in the state directory, so `rollback` and a
 * re-run of `init` find them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "agent.h"
#include "cli.h"
#include "cpclient.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "routes.h"
#include "table.h"

#define MW_ROUTES_MAX_BYTES	(64u << 20)

static void mw_print_warning(void *ctx, const char *msg)
{
	pr_warn("warning: %s\n", msg);
}

/*
 * Where an apply spends its time, printed with -v (bench/routes.sh reads it): the
 * phases of mw_routes_apply_text, and the store operations of the generation switch
 * sorted by what they do (writing the new generation, the switch, the barrier,
 * finding and deleting the old generation).
 */
enum mw_span {
	MW_SP_READ,
	MW_SP_PARSE,
	MW_SP_PLAN,
	MW_SP_STAGE,
	MW_SP_APPLY,
	MW_SP_SAVE,
	MW_SP_WRITE,
	MW_SP_SWITCH,
	MW_SP_BARRIER,
	MW_SP_WALK,
	MW_SP_DELETE,
	MW_SP_RECORDS,
	MW_SP_NR,
};

static const char *const mw_span_names[MW_SP_NR] = {
	"read", "parse+validate", "compile", "stage", "apply", "record",
	"apply.write", "apply.switch", "apply.barrier", "apply.find-old", "apply.delete",
	"apply.records",
};

struct mw_timing {
	double ms[MW_SP_NR];
	double cpu_ms[MW_SP_NR];	/* CPU time (user and system) of the top-level phases */
	double cpu;		/* CPU time from the read to the record */
	struct mw_store inner;
};

static double mw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct mw_timing mw_times;

static double mw_cpu_ms(void);

struct mw_span_start {
	double wall, cpu;
};

static struct mw_span_start mw_span_begin(void)
{
	struct mw_span_start st;

	st.wall = mw_now_ms();
	st.cpu = mw_cpu_ms();
	return st;
}

static void mw_span_end(enum mw_span sp, struct mw_span_start st)
{
	mw_times.ms[sp] = mw_now_ms() - st.wall;
	mw_times.cpu_ms[sp] = mw_cpu_ms() - st.cpu;
}

static double mw_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int mw_timed_update(void *ctx, enum mw_map_id map, const void *key, const void *val)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->update(mw_times.inner.ctx, map, key, val);

	mw_times.ms[map == MW_MAP_WL ? MW_SP_SWITCH : MW_SP_WRITE] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_lookup(void *ctx, enum mw_map_id map, const void *key, void *val)
{
	return mw_times.inner.ops->lookup(mw_times.inner.ctx, map, key, val);
}

static int mw_timed_remove(void *ctx, enum mw_map_id map, const void *key)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->remove(mw_times.inner.ctx, map, key);

	mw_times.ms[MW_SP_DELETE] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_next_key(void *ctx, enum mw_map_id map, const void *key, void *next)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->next_key(mw_times.inner.ctx, map, key, next);

	mw_times.ms[MW_SP_WALK] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_barrier(void *ctx)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->barrier(mw_times.inner.ctx);

	mw_times.ms[MW_SP_BARRIER] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_update_batch(void *ctx, enum mw_map_id map, const void *keys,
				 const void *vals, size_t n)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->update_batch(mw_times.inner.ctx, map, keys, vals, n);

	mw_times.ms[MW_SP_WRITE] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_remove_batch(void *ctx, enum mw_map_id map, const void *keys, size_t n)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->remove_batch(mw_times.inner.ctx, map, keys, n);

	mw_times.ms[MW_SP_DELETE] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_keys_record(void *ctx, uint64_t netns, const struct mw_table *t)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->keys_record(mw_times.inner.ctx, netns, t);

	mw_times.ms[MW_SP_RECORDS] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_keys_recorded(void *ctx, uint64_t netns, uint32_t gen,
				  struct mw_gen_keys *out)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->keys_recorded(mw_times.inner.ctx, netns, gen, out);

	mw_times.ms[MW_SP_RECORDS] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_keys_gens(void *ctx, uint64_t netns, uint32_t *gens, size_t max, size_t *n)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->keys_gens(mw_times.inner.ctx, netns, gens, max, n);

	mw_times.ms[MW_SP_RECORDS] += mw_now_ms() - t0;
	return ret;
}

static int mw_timed_keys_forget(void *ctx, uint64_t netns, uint32_t gen)
{
	double t0 = mw_now_ms();
	int ret = mw_times.inner.ops->keys_forget(mw_times.inner.ctx, netns, gen);

	mw_times.ms[MW_SP_RECORDS] += mw_now_ms() - t0;
	return ret;
}

/* s becomes a store that times the operations of the one it had (and has the same
 * optional ones). */
static void mw_store_timed(struct mw_store *s)
{
	static struct mw_store_ops ops;
	const struct mw_store_ops *in = s->ops;

	mw_times.inner = *s;
	ops = (struct mw_store_ops){
		.update = mw_timed_update,
		.lookup = mw_timed_lookup,
		.remove = mw_timed_remove,
		.next_key = mw_timed_next_key,
		.barrier = mw_timed_barrier,
		.update_batch = in->update_batch ? mw_timed_update_batch : NULL,
		.remove_batch = in->remove_batch ? mw_timed_remove_batch : NULL,
		.keys_record = in->keys_record ? mw_timed_keys_record : NULL,
		.keys_recorded = in->keys_recorded ? mw_timed_keys_recorded : NULL,
		.keys_gens = in->keys_gens ? mw_timed_keys_gens : NULL,
		.keys_forget = in->keys_forget ? mw_timed_keys_forget : NULL,
	};
	s->ops = &ops;
	s->ctx = NULL;
}

static void mw_times_print(void)
{
	char line[1024];
	size_t i, n = 0;
	double total = 0;

	for (i = 0; i <= MW_SP_SAVE; i++)
		total += mw_times.ms[i];
	n = (size_t)snprintf(line, sizeof(line), "total %.1f, cpu %.1f, ", total, mw_times.cpu);
	for (i = 0; i < MW_SP_NR && n < sizeof(line); i++) {
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s %.1f", i ? ", " : "",
				      mw_span_names[i], mw_times.ms[i]);
		if (i <= MW_SP_SAVE && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, " (cpu %.1f)",
					      mw_times.cpu_ms[i]);
	}
	pr_debug("routes apply times (ms): %s\n", line);
}

static int mw_read_file(const char *path, char **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	struct stat st;
	char *buf, *nb;
	ssize_t r;
	int fd, err = 0;

	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		return -errno;
	/* A regular file is read at once; a pipe grows the buffer. */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size < MW_ROUTES_MAX_BYTES)
		cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	while (buf && (r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			if (cap >= MW_ROUTES_MAX_BYTES) {
				err = -EFBIG;
				break;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
	}
	if (!buf)
		err = -ENOMEM;
	else if (!err && r < 0)
		err = -errno;
	if (fd != STDIN_FILENO)
		close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int mw_routes_load(const char *path, struct mw_routes *rt)
{
	char err[512] = "", *text = NULL;
	size_t len = 0;
	int ret;

	ret = mw_read_file(path, &text, &len);
	if (ret) {
		pr_warn("%s: %s\n", path, strerror(-ret));
		return ret;
	}
	ret = mw_routes_parse(rt, text, len, err, sizeof(err), mw_print_warning, NULL);
	if (ret)
		pr_warn("%s: %s\n", path, err);
	free(text);
	return ret;
}

/* --- state directory ------------------------------------------------------- */

static int mw_state_path(const struct mw_opts *o, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/routes/%s", o->state_dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mw_state_mkdir(const struct mw_opts *o)
{
	char path[PATH_MAX];

	if (mkdir(o->state_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/routes", o->state_dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Writes text to <state>/routes/<name> atomically (temp file, fsync, rename). */
static int mw_state_write(const struct mw_opts *o, const char *name, const char *text, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd, err = 0;

	err = mw_state_mkdir(o);
	if (!err)
		err = mw_state_path(o, name, path, sizeof(path));
	if (err)
		return err;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		err = -errno ? -errno : -EIO;
	close(fd);
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int mw_routes_current(const struct mw_opts *o, struct mw_routes *rt)
{
	char path[PATH_MAX], err[512] = "", *text = NULL;
	size_t len;
	int ret;

	ret = mw_state_path(o, "current.json", path, sizeof(path));
	if (ret)
		return ret;
	ret = mw_read_file(path, &text, &len);
	if (ret)
		return ret;	/* -ENOENT: no routing table applied */
	ret = mw_routes_parse(rt, text, len, err, sizeof(err), NULL, NULL);
	if (ret)
		pr_warn("%s: %s\n", path, err);
	free(text);
	return ret;
}

/* --- per workload ---------------------------------------------------------- */

static const char *mw_json_getenv(void *ctx, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(ctx, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * The APPMESH_* configuration the workload was enrolled with: kept in mw_env_v1
 * by init; for an enrolment that predates it, read back from the table.
 */
static int mw_workload_config(struct mw_dp *dp, struct mw_store *s, uint64_t netns,
			      struct mw_config *cfg)
{
	struct mw_table cur = {};
	struct mw_env *v;
	char msg[512] = "";
	int err;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(dp->env_fd, &netns, v) == 0 && v->len <= sizeof(v->text)) {
		json_object *env;

		v->text[v->len < sizeof(v->text) ? v->len : sizeof(v->text) - 1] = '\0';
		env = json_tokener_parse(v->text);
		free(v);
		if (!env)
			return -EINVAL;
		err = mw_config_from_env(cfg, mw_json_getenv, env, msg, sizeof(msg));
		json_object_put(env);
		if (err)
			pr_warn("netns %llu: its APPMESH_* variables: %s\n", (unsigned long long)netns, msg);
		return err;
	}
	free(v);
	err = mw_table_read(s, netns, &cur);
	if (!err)
		err = mw_config_from_table(&cur, cfg);
	mw_table_free(&cur);
	return err;
}

struct mw_wl_plan {
	uint64_t netns;
	char name[80];
	struct mw_table next;
	int have_next;
};

static void mw_plans_free(struct mw_wl_plan *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mw_table_free(&p[i].next);
	free(p);
}

/*
 * Compiles rt (or, rt NULL, each workload's App Mesh table alone) for every
 * enrolled workload. Nothing is changed. Returns 0 or the first error.
 */
static int mw_plan(struct mw_dp *dp, const struct mw_routes *rt, struct mw_wl_plan **out,
		   size_t *n_out)
{
	struct mw_wl_plan *p = NULL, *np;
	struct mw_store s;
	uint64_t k, next;
	size_t n = 0;
	int first = 1, err = 0;

	mw_dp_store(dp, &s);
	while (bpf_map_get_next_key(dp->map_fd[MW_MAP_WL], first ? NULL : &k, &next) == 0) {
		struct mw_config cfg = {};
		char msg[512] = "";

		first = 0;
		k = next;
		np = realloc(p, (n + 1) * sizeof(*p));
		if (!np) {
			err = -ENOMEM;
			break;
		}
		p = np;
		memset(&p[n], 0, sizeof(p[n]));
		p[n].netns = k;
		mw_workload_name(dp, k, p[n].name, sizeof(p[n].name));
		n++;

		err = mw_workload_config(dp, &s, k, &cfg);
		if (err) {
			pr_warn("workload %s: reading its table: %s\n", p[n - 1].name, strerror(-err));
			mw_config_free(&cfg);
			break;
		}
		if (rt && mw_routes_applies(rt, p[n - 1].name))
			err = mw_routes_compile(rt, p[n - 1].name, &cfg, k, &p[n - 1].next, msg,
						sizeof(msg));
		else
			err = mw_table_compile(&cfg, k, 0, &p[n - 1].next);
		if (!err) {
			/* keep the workload's own state: enabled or not */
			struct mw_workload wl;

			if (bpf_map_lookup_elem(dp->map_fd[MW_MAP_WL], &k, &wl) == 0 &&
			    !(wl.flags & MW_WL_F_ENABLED))
				p[n - 1].next.wl.flags &= ~MW_WL_F_ENABLED;
			p[n - 1].have_next = 1;
		} else {
			pr_warn("workload %s: %s\n", p[n - 1].name, msg[0] ? msg : strerror(-err));
		}
		mw_config_free(&cfg);
		if (err)
			break;
	}
	if (err) {
		mw_plans_free(p, n);
		return err;
	}
	*out = p;
	*n_out = n;
	return 0;
}

static int mw_routes_diff_cmd(struct mw_opts *o, const char *file)
{
	struct mw_routes rt = {};
	struct mw_wl_plan *p = NULL;
	struct mw_store s;
	struct mw_dp dp;
	size_t n = 0, i;
	int err, changes = 0;

	if (mw_routes_load(file, &rt))
		return MW_EXIT_FAIL;
	err = mw_dp_open(&dp, o->pin_dir, NULL, 0);
	if (err) {
		mw_routes_free(&rt);
		pr_warn("%s: %s\n", o->pin_dir, strerror(-err));
		return err == -ENOENT ? MW_EXIT_NOT_LOADED : MW_EXIT_FAIL;
	}
	mw_dp_store(&dp, &s);
	err = mw_plan(&dp, &rt, &p, &n);
	for (i = 0; !err && i < n; i++) {
		struct mw_table cur = {};
		int c;

		printf("workload %s (netns %llu):\n", p[i].name, (unsigned long long)p[i].netns);
		err = mw_table_read(&s, p[i].netns, &cur);
		if (err)
			break;
		c = mw_table_diff(&cur, &p[i].next, stdout);
		mw_table_free(&cur);
		if (c < 0) {
			err = c;
			break;
		}
		if (!c)
			printf("  (no change)\n");
		changes += c;
	}
	if (!err)
		printf("%d change(s) across %zu workload(s)\n", changes, n);
	mw_plans_free(p, n);
	mw_dp_close(&dp);
	mw_routes_free(&rt);
	return err ? MW_EXIT_FAIL : MW_EXIT_OK;
}

/*
 * The state is written before the tables change (staged as current.json.new),
 * so a state directory that cannot be written stops an apply before it starts
 * instead of leaving the kernel and the record disagreeing.
 */
static int mw_stage_applied(struct mw_opts *o, const char *text, size_t len)
{
	int err = mw_state_write(o, "current.json.new", text, len);

	if (err)
		pr_warn("state directory %s/routes: %s: nothing applied\n", o->state_dir,
			strerror(-err));
	return err;
}

static int mw_save_applied(struct mw_opts *o, const char *version)
{
	char cur[PATH_MAX], prev[PATH_MAX], staged[PATH_MAX];
	json_object *meta;
	const char *s;
	int err;

	err = mw_state_path(o, "current.json", cur, sizeof(cur));
	if (!err)
		err = mw_state_path(o, "previous.json", prev, sizeof(prev));
	if (!err)
		err = mw_state_path(o, "current.json.new", staged, sizeof(staged));
	if (err)
		return err;
	/* The document in force becomes the one to roll back to. */
	if (access(cur, F_OK) == 0 && rename(cur, prev) < 0)
		pr_warn("keeping %s for rollback: %s\n", prev, strerror(errno));
	if (rename(staged, cur) < 0) {
		err = -errno;
		pr_warn("recording %s: %s\n", cur, strerror(errno));
		return err;
	}
	meta = json_object_new_object();
	json_object_object_add(meta, "version", json_object_new_string(version));
	json_object_object_add(meta, "applied_at", json_object_new_int64((int64_t)time(NULL)));
	s = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
	err = mw_state_write(o, "applied.json", s, strlen(s));
	json_object_put(meta);
	return err;
}

/*
 * Validates and compiles `text` for every enrolled workload, then swaps each
 * workload's table. Nothing changes when anything fails before the swaps.
 * Returns 0 or a negative errno (messages printed).
 */
int mw_routes_apply_text(struct mw_opts *o, const char *text, size_t len, const char *origin)
{
	struct mw_routes rt = {};
	struct mw_wl_plan *p = NULL;
	char err_msg[512] = "";
	struct mw_store s;
	struct mw_dp dp;
	size_t n = 0, i;
	struct mw_span_start st;
	int err;

	/* The read (mw_routes_apply_file) is this apply's; the agent's applies have none. */
	for (i = MW_SP_PARSE; i < MW_SP_NR; i++)
		mw_times.ms[i] = 0;
	if (!mw_times.ms[MW_SP_READ])
		mw_times.cpu = mw_cpu_ms();
	st = mw_span_begin();
	err = mw_routes_parse(&rt, text, len, err_msg, sizeof(err_msg), mw_print_warning, NULL);
	mw_span_end(MW_SP_PARSE, st);
	if (err) {
		pr_warn("%s: %s\n", origin, err_msg);
		return err;
	}
	err = mw_dp_open(&dp, o->pin_dir, NULL, MW_DP_LOCK);
	if (err) {
		pr_warn("%s: %s\n", o->pin_dir, strerror(-err));
		mw_routes_free(&rt);
		return err;
	}
	mw_dp_store(&dp, &s);
	mw_store_timed(&s);
	st = mw_span_begin();
	err = mw_plan(&dp, &rt, &p, &n);
	mw_span_end(MW_SP_PLAN, st);
	st = mw_span_begin();
	if (!err)
		err = mw_stage_applied(o, text, len);
	mw_span_end(MW_SP_STAGE, st);
	st = mw_span_begin();
	for (i = 0; !err && i < n; i++) {
		err = mw_workload_apply_table(&s, p[i].netns, &p[i].next, NULL, 0, 1);
		if (err)
			pr_warn("workload %s: applying: %s (workloads before it have the new table)\n",
				p[i].name, strerror(-err));
	}
	mw_span_end(MW_SP_APPLY, st);
	st = mw_span_begin();
	if (!err)
		err = mw_save_applied(o, rt.version);
	mw_span_end(MW_SP_SAVE, st);
	mw_times.cpu = mw_cpu_ms() - mw_times.cpu;
	mw_times_print();
	mw_times.ms[MW_SP_READ] = 0;
	if (err && err != -ENOENT)
		pr_warn("routing table %s not applied: %s\n", rt.version[0] ? rt.version : origin,
			strerror(-err));
	if (!err)
		pr_info("routing table %s applied to %zu workload(s)\n", rt.version, n);
	mw_plans_free(p, n);
	mw_dp_close(&dp);
	mw_routes_free(&rt);
	return err;
}

static int mw_routes_apply_file(struct mw_opts *o, const char *file)
{
	struct mw_span_start st;
	char *text = NULL;
	size_t len = 0;
	int err;

	mw_times.cpu = mw_cpu_ms();
	st = mw_span_begin();
	err = mw_read_file(file, &text, &len);
	mw_span_end(MW_SP_READ, st);
	if (err) {
		pr_warn("%s: %s\n", file, strerror(-err));
		return MW_EXIT_FAIL;
	}
	/* One writer: a running agent applies it (and counts it), else we do. */
	err = mw_agent_routes_apply(o, text, len, file);
	if (err != -ENOENT) {
		free(text);
		return err < 0 ? MW_EXIT_FAIL : err;
	}
	err = mw_routes_apply_text(o, text, len, file);
	free(text);
	return err ? MW_EXIT_FAIL : MW_EXIT_OK;
}

static int mw_routes_rollback(struct mw_opts *o)
{
	char path[PATH_MAX];

	if (mw_state_path(o, "previous.json", path, sizeof(path)) || access(path, F_OK)) {
		pr_warn("no earlier routing table in %s/routes to roll back to\n", o->state_dir);
		return MW_EXIT_FAIL;
	}
	return mw_routes_apply_file(o, path);
}

static int mw_routes_show(struct mw_opts *o)
{
	char path[PATH_MAX], *text = NULL, *meta = NULL;
	size_t len = 0, mlen = 0;
	json_object *m;

	if (mw_state_path(o, "current.json", path, sizeof(path)) ||
	    mw_read_file(path, &text, &len)) {
		printf(o->json ? "{\"applied\": false}\n" :
		       "no routing table applied: the App Mesh variables decide\n");
		return MW_EXIT_OK;
	}
	if (!mw_state_path(o, "applied.json", path, sizeof(path)))
		mw_read_file(path, &meta, &mlen);
	m = meta ? json_tokener_parse(meta) : NULL;
	if (o->json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "applied", json_object_new_boolean(1));
		json_object_object_add(root, "meta", m ? json_object_get(m) : NULL);
		json_object_object_add(root, "table", json_tokener_parse(text));
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_SPACED));
		json_object_put(root);
	} else {
		json_object *v, *at;

		if (m && json_object_object_get_ex(m, "version", &v) &&
		    json_object_object_get_ex(m, "applied_at", &at)) {
			time_t t = (time_t)json_object_get_int64(at);
			char when[64];

			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
			printf("routing table %s, applied %s\n", json_object_get_string(v), when);
		}
		fwrite(text, 1, len, stdout);
		if (len && text[len - 1] != '\n')
			putchar('\n');
	}
	json_object_put(m);
	free(meta);
	free(text);
	return MW_EXIT_OK;
}

static int mw_routes_fetch(struct mw_opts *o)
{
	struct mw_cp_result r = {};
	char err[512] = "";
	int ret;

	if (!o->cp.url) {
		pr_warn("routes fetch: --cp-url (MESHWARP_CP_URL) is not set\n");
		return MW_EXIT_USAGE;
	}
	ret = mw_cp_fetch(&o->cp, o->etag ? o->etag : "", &r, err, sizeof(err));
	if (ret) {
		pr_warn("%s\n", err);
		return MW_EXIT_FAIL;
	}
	printf("HTTP %ld, ETag %s, %zu bytes\n", r.status, r.etag[0] ? r.etag : "-", r.len);
	if (o->apply && r.status == 200)
		ret = mw_routes_apply_text(o, r.body, r.len, o->cp.url);
	mw_cp_result_free(&r);
	return ret ? MW_EXIT_FAIL : MW_EXIT_OK;
}

int mw_cmd_routes(struct mw_opts *o, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "show";
	int err;

	err = mw_reach_bpffs(o->pin_dir);
	if (err)
		return MW_EXIT_FAIL;
	if (!strcmp(sub, "show") && argc <= 2)
		return mw_routes_show(o);
	if (!strcmp(sub, "diff") && argc == 3)
		return mw_routes_diff_cmd(o, argv[2]);
	if (!strcmp(sub, "apply") && argc == 3)
		return mw_routes_apply_file(o, argv[2]);
	if (!strcmp(sub, "rollback") && argc == 2)
		return mw_routes_rollback(o);
	if (!strcmp(sub, "fetch") && argc == 2)
		return mw_routes_fetch(o);
	fprintf(stderr, "usage: meshwarp routes show | diff FILE | apply FILE | rollback | fetch [--apply] [--etag ETAG]\n");
	return MW_EXIT_USAGE;
}
