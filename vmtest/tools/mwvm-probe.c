// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mwvm-probe: the kernel-side measurements of `make vmtest`, run inside each guest.
 *
 *   mwvm-probe features        one line per feature: "VMTEST-FEATURE: <id> yes|no <detail>"
 *   mwvm-probe verifier OBJ... every program of the objects, loaded one at a time with the
 *                              verifier's statistics on:
 *                              "VMTEST-VERIFIER: <prog> <type> <insns>|- ok|rejected <reason>"
 *
 * Probes load tiny programs, create tiny maps or attach for a moment: version numbers lie
 * (backports) and so do verifier-message heuristics (libbpf's and bpftool's helper probes
 * report every helper as present on 6.12+, whose verifier says "program of this type cannot use
 * helper" instead of "unknown func"). A helper counts as missing only when the verifier names
 * it unknown or not allowed for the type; any other refusal (argument types) means it exists.
 *
 * Built on the host by vmtest/mkroot.sh against the host's libbpf; the guest carries the library.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
/* Newer than the host's 6.1 uapi headers. */
#define MWVM_TCX_INGRESS 46

static char vlog[1 << 20];	/* verifier log of the last load */
static char llog[1 << 16];	/* libbpf's messages since the last reset */
static size_t llog_len;

static int mwvm_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG || llog_len >= sizeof(llog) - 1)
		return 0;
	n = vsnprintf(llog + llog_len, sizeof(llog) - llog_len, fmt, ap);
	if (n > 0)
		llog_len += (size_t)n < sizeof(llog) - llog_len ? (size_t)n : sizeof(llog) - llog_len - 1;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* features */

static int mwvm_load(enum bpf_prog_type type, enum bpf_attach_type attach, const struct bpf_insn *insns,
		     size_t n)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .log_buf = vlog,
		    .log_size = sizeof(vlog), .log_level = 1);

	vlog[0] = '\0';
	return bpf_prog_load(type, NULL, "GPL", insns, n, &opts);
}

static int mwvm_prog(enum bpf_prog_type type, enum bpf_attach_type attach)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return mwvm_load(type, attach, insns, 2);
}

static void mwvm_feature(const char *id, int yes, const char *detail)
{
	printf("VMTEST-FEATURE: %s %s%s%s\n", id, yes ? "yes" : "no", detail && *detail ? " " : "",
	       detail ? detail : "");
}

/* The last line of the verifier log that says something: not the statistics (7.x adds
 * "subprog N ... insns_self" lines) nor 7.x's Reason:/Suggestion: lines. */
static int mwvm_line_has(const char *p, const char *end, const char *what)
{
	size_t n = strlen(what);

	for (; p + n <= end; p++)
		if (!strncmp(p, what, n))
			return 1;
	return 0;
}

static const char *mwvm_reason(const char *log, char *out, size_t len)
{
	const char *p = log, *end, *best = NULL;
	size_t best_len = 0;

	while (*p) {
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		if (end > p && strncmp(p, "Reason:", 7) && strncmp(p, "Suggestion:", 11) &&
		    strncmp(p, "processed ", 10) && strncmp(p, "verification time", 17) &&
		    strncmp(p, "stack depth", 11) && strncmp(p, "-- END", 6) &&
		    strncmp(p, "subprog ", 8) && strncmp(p, "func#", 5) &&
		    !mwvm_line_has(p, end, "failed to load object") &&
		    !mwvm_line_has(p, end, "Retrying without BTF")) {
			best = p;
			best_len = end - p;
		}
		p = *end ? end + 1 : end;
	}
	if (!best) {
		snprintf(out, len, "%s", "(no verifier message)");
		return out;
	}
	if (best_len >= len)
		best_len = len - 1;
	memcpy(out, best, best_len);
	out[best_len] = '\0';
	return out;
}

/* 1 when the helper may be called from the type (the program loads, or is refused for
 * something else than the helper itself), 0 when the verifier does not know it or forbids it
 * for this type. */
static void mwvm_helper(const char *id, enum bpf_prog_type type, enum bpf_attach_type attach, int helper)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = helper },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char why[200];
	int fd, yes;

	fd = mwvm_load(type, attach, insns, 3);
	if (fd >= 0) {
		close(fd);
		mwvm_feature(id, 1, "");
		return;
	}
	yes = !(strstr(vlog, "unknown func") || strstr(vlog, "invalid func") ||
		strstr(vlog, "cannot use helper") || strstr(vlog, "not supported for"));
	/* The program type itself missing is "no" too. */
	if (errno == EINVAL && !vlog[0])
		yes = 0;
	mwvm_feature(id, yes, yes ? "(loads with other arguments)" : mwvm_reason(vlog, why, sizeof(why)));
}

static void mwvm_prog_feature(const char *id, enum bpf_prog_type type, enum bpf_attach_type attach)
{
	char why[200];
	int fd = mwvm_prog(type, attach);

	if (fd >= 0)
		close(fd);
	snprintf(why, sizeof(why), "%s", fd >= 0 ? "" : strerror(errno));
	mwvm_feature(id, fd >= 0, why);
}

static void mwvm_map_feature(const char *id, enum bpf_map_type type)
{
	int ret = libbpf_probe_bpf_map_type(type, NULL);

	mwvm_feature(id, ret == 1, ret < 0 ? strerror(-ret) : "");
}

static void mwvm_netns_cookie_sockopt(void)
{
	unsigned long long cookie;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;

	ok = fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0;
	mwvm_feature("so_netns_cookie", ok, ok ? "" : strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* verified_insns in bpf_prog_info (5.16+): the kernel zero-fills what it does not know. */
static void mwvm_verified_insns(void)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = mwvm_prog(BPF_PROG_TYPE_SOCKET_FILTER, 0), ok = 0;

	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		ok = info.verified_insns > 0;
	if (fd >= 0)
		close(fd);
	mwvm_feature("prog_info_verified_insns", ok, "");
}

/* Attaches for a moment to lo (of the guest's namespace): the program says TCX_NEXT (-1). */
static void mwvm_tcx(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = mwvm_load(BPF_PROG_TYPE_SCHED_CLS, 0, insns, 2), link = -1;

	if (fd >= 0)
		link = bpf_link_create(fd, 1 /* lo */, MWVM_TCX_INGRESS, NULL);
	mwvm_feature("tcx_link", link >= 0, link >= 0 ? "" : strerror(errno));
	if (link >= 0)
		close(link);
	if (fd >= 0)
		close(fd);
}

static void mwvm_sockmap_link(void)
{
	int map = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, NULL, 4, 8, 1, NULL);
	int fd = mwvm_prog(BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT), link = -1;

	if (fd >= 0 && map >= 0)
		link = bpf_link_create(fd, map, BPF_SK_MSG_VERDICT, NULL);
	mwvm_feature("sk_msg_link", link >= 0, link >= 0 ? "" : strerror(errno));
	if (link >= 0)
		close(link);
	if (fd >= 0)
		close(fd);
	if (map >= 0)
		close(map);
}

static int mwvm_features(void)
{
	mwvm_netns_cookie_sockopt();
	mwvm_prog_feature("prog_connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT);
	mwvm_prog_feature("prog_sockops", BPF_PROG_TYPE_SOCK_OPS, 0);
	mwvm_prog_feature("prog_getsockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT);
	mwvm_prog_feature("prog_sk_lookup", BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP);
	mwvm_prog_feature("prog_sk_msg", BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT);
	mwvm_prog_feature("prog_tc", BPF_PROG_TYPE_SCHED_CLS, 0);
	mwvm_map_feature("map_sk_storage", BPF_MAP_TYPE_SK_STORAGE);
	mwvm_map_feature("map_sockhash", BPF_MAP_TYPE_SOCKHASH);
	mwvm_map_feature("map_lpm_trie", BPF_MAP_TYPE_LPM_TRIE);
	mwvm_map_feature("map_ringbuf", BPF_MAP_TYPE_RINGBUF);
	mwvm_helper("netns_cookie_connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
		    BPF_FUNC_get_netns_cookie);
	mwvm_helper("netns_cookie_sockops", BPF_PROG_TYPE_SOCK_OPS, 0, BPF_FUNC_get_netns_cookie);
	mwvm_helper("netns_cookie_getsockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT,
		    BPF_FUNC_get_netns_cookie);
	mwvm_helper("netns_cookie_sk_msg", BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT,
		    BPF_FUNC_get_netns_cookie);
	mwvm_helper("netns_cookie_tc", BPF_PROG_TYPE_SCHED_CLS, 0, BPF_FUNC_get_netns_cookie);
	mwvm_helper("set_retval_getsockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT,
		    BPF_FUNC_set_retval);
	mwvm_helper("uid_gid_sockops", BPF_PROG_TYPE_SOCK_OPS, 0, BPF_FUNC_get_current_uid_gid);
	mwvm_helper("bpf_loop", BPF_PROG_TYPE_SOCK_OPS, 0, BPF_FUNC_loop);
	mwvm_helper("sk_assign_tc", BPF_PROG_TYPE_SCHED_CLS, 0, BPF_FUNC_sk_assign);
	mwvm_verified_insns();
	mwvm_tcx();
	mwvm_sockmap_link();
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* verifier statistics */

static const char *mwvm_type_name(enum bpf_prog_type t)
{
	const char *s = libbpf_bpf_prog_type_str(t);

	return s ? s : "unknown";
}

/* 1 when a tiny program calling `helper` (argument r1 = arg, or ctx) loads. */
static int mwvm_helper_loads(enum bpf_prog_type type, enum bpf_attach_type attach, int helper,
			     int arg_ctx, int arg)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = arg },
		{ .code = BPF_JMP | BPF_CALL, .imm = helper },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = mwvm_load(type, attach, insns + (arg_ctx ? 1 : 0), arg_ctx ? 3 : 4);

	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* As meshwarp's probe (userspace/probe.c, mw_features_shortcut): sk_msg and sk_skb programs,
 * and struct sk_psock with msg_tot_len in the kernel's BTF. */
static int mwvm_shortcut_ok(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_member *m;
	const struct btf_type *t;
	int id, i, found = 0, fd;

	if (libbpf_get_error(btf))
		return 0;
	id = btf__find_by_name_kind(btf, "sk_psock", BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	for (i = 0, m = t ? btf_members(t) : NULL; t && i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), "msg_tot_len"))
			found = 1;
	btf__free(btf);
	fd = found ? mwvm_prog(BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT) : -1;
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* Sets the rodata variable `var` of obj, when it has one (a const volatile global). */
static void mwvm_set_rodata(struct bpf_object *obj, const char *var, __u32 val)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_map *map;
	const void *cur;
	size_t size;
	char *data;
	int id, i;

	map = bpf_object__find_map_by_name(obj, ".rodata");
	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	if (!map || id <= 0)
		return;
	cur = bpf_map__initial_value(map, &size);
	data = cur ? malloc(size) : NULL;
	if (!data)
		return;
	memcpy(data, cur, size);
	sec = btf__type_by_id(btf, id);
	for (i = 0, vs = btf_var_secinfos(sec); i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, v->name_off), var) == 0 && vs->size == sizeof(val) &&
		    vs->offset + sizeof(val) <= size)
			memcpy(data + vs->offset, &val, sizeof(val));
	}
	bpf_map__set_initial_value(map, data, size);
	free(data);
}

/*
 * Configures an object as meshwarp's loader does (userspace/loader.c): the rodata flags of
 * what the kernel lacks (bpf/lib/compat.bpf.h) from the same probes, and hash maps whose
 * size the kernel refuses (mw_env_v1 before 5.11: E2BIG) shrunk until it takes them.
 */
static void mwvm_configure(struct bpf_object *obj)
{
	unsigned long long cookie;
	socklen_t len = sizeof(cookie);
	int fd, so_cookie, skops_cookie, set_retval;
	struct bpf_map *map;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	so_cookie = fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0;
	if (fd >= 0)
		close(fd);
	skops_cookie = mwvm_helper_loads(BPF_PROG_TYPE_SOCK_OPS, 0, BPF_FUNC_get_netns_cookie, 1, 0);
	set_retval = mwvm_helper_loads(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
				       BPF_FUNC_set_retval, 0, -EPERM);
	mwvm_set_rodata(obj, "mw_kf_set_retval", set_retval);
	mwvm_set_rodata(obj, "mw_kf_netns_inum", !(so_cookie && skops_cookie));

	bpf_object__for_each_map(map, obj) {
		LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(map));
		__u32 size = bpf_map__value_size(map);

		if (bpf_map__type(map) != BPF_MAP_TYPE_HASH || size < 128 * 1024)
			continue;
		for (; size >= 64 * 1024; size /= 2) {
			fd = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, bpf_map__key_size(map), size,
					    bpf_map__max_entries(map), &opts);
			if (fd >= 0) {
				close(fd);
				break;
			}
			if (errno != E2BIG)
				break;
		}
		if (fd >= 0 && size != bpf_map__value_size(map))
			bpf_map__set_value_size(map, size);
	}
	vlog[0] = '\0';
}

/* Loads program `name` of `path` alone (every other program of the object off). */
static int mwvm_verify_one(const char *path, const char *name)
{
	struct bpf_object *obj;
	struct bpf_program *p, *me = NULL;
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);
	char why[300];
	const char *s;
	long insns = -1;
	int err;

	llog_len = 0;
	llog[0] = '\0';
	vlog[0] = '\0';
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		printf("VMTEST-VERIFIER: %s - - rejected cannot open %s\n", name, path);
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		if (strcmp(bpf_program__name(p), name) == 0)
			me = p;
		else
			bpf_program__set_autoload(p, false);
	}
	if (!me) {
		bpf_object__close(obj);
		return 1;
	}
	mwvm_configure(obj);
	/* meshwarp loads the shortcut's verdicts only where the shortcut can work, and one of its
	 * two sockops programs (with or without the shortcut's part) */
	if (((bpf_program__type(me) == BPF_PROG_TYPE_SK_MSG ||
	      bpf_program__type(me) == BPF_PROG_TYPE_SK_SKB || !strcmp(name, "mw_sockops")) &&
	     !mwvm_shortcut_ok()) || (!strcmp(name, "mw_sockops_nosc") && mwvm_shortcut_ok())) {
		printf("VMTEST-VERIFIER: %s %s - skipped not loaded by meshwarp here (shortcut %s)\n",
		       name, mwvm_type_name(bpf_program__type(me)), mwvm_shortcut_ok() ? "on" : "off");
		bpf_object__close(obj);
		return 0;
	}
	/* 4 = BPF_LOG_STATS: the statistics and any error message, not the whole trace. */
	bpf_program__set_log_level(me, 4);
	bpf_program__set_log_buf(me, vlog, sizeof(vlog));
	err = bpf_object__load(obj);
	s = strstr(vlog, "processed ");
	if (s)
		insns = strtol(s + 10, NULL, 10);
	if (!err) {
		/* Cross-check with prog info where the kernel has verified_insns (5.16+). */
		if (insns < 0 && bpf_obj_get_info_by_fd(bpf_program__fd(me), &info, &ilen) == 0 &&
		    info.verified_insns)
			insns = info.verified_insns;
		if (insns >= 0)
			printf("VMTEST-VERIFIER: %s %s %ld ok\n", name,
			       mwvm_type_name(bpf_program__type(me)), insns);
		else
			printf("VMTEST-VERIFIER: %s %s - ok (no statistics)\n", name,
			       mwvm_type_name(bpf_program__type(me)));
	} else {
		if (vlog[0] && strstr(vlog, "\n"))
			mwvm_reason(vlog, why, sizeof(why));
		else
			mwvm_reason(llog, why, sizeof(why));
		printf("VMTEST-VERIFIER: %s %s %s rejected %s\n", name,
		       mwvm_type_name(bpf_program__type(me)), insns >= 0 ? "-" : "-", why);
		/* The whole message, for the log (not parsed). */
		fprintf(stderr, "--- %s (%s): verifier log ---\n%s\n--- libbpf ---\n%s\n", name, path,
			vlog, llog);
	}
	bpf_object__close(obj);
	return err ? 1 : 0;
}

static int mwvm_verifier(int argc, char **argv)
{
	char *seen[256];
	int nseen = 0, i, j, rejected = 0;

	for (i = 0; i < argc; i++) {
		struct bpf_object *obj = bpf_object__open_file(argv[i], NULL);
		struct bpf_program *p;
		char *names[64];
		int n = 0;

		if (!obj) {
			printf("VMTEST-VERIFIER: %s - - rejected cannot open\n", argv[i]);
			rejected++;
			continue;
		}
		bpf_object__for_each_program(p, obj) {
			int dup = 0;

			for (j = 0; j < nseen; j++)
				dup |= strcmp(seen[j], bpf_program__name(p)) == 0;
			if (dup || n >= 64 || nseen >= 256)
				continue;
			names[n++] = seen[nseen++] = strdup(bpf_program__name(p));
		}
		bpf_object__close(obj);
		for (j = 0; j < n; j++)
			rejected += mwvm_verify_one(argv[i], names[j]);
	}
	for (j = 0; j < nseen; j++)
		free(seen[j]);
	return rejected ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(mwvm_libbpf_print);
	if (argc >= 2 && strcmp(argv[1], "features") == 0)
		return mwvm_features();
	if (argc >= 3 && strcmp(argv[1], "verifier") == 0)
		return mwvm_verifier(argc - 2, argv + 2);
	fprintf(stderr, "usage: mwvm-probe features | verifier OBJ...\n");
	return 2;
}
