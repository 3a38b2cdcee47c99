// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>

#include "probe.h"
#include "log.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

enum {
	MW_F_SOCK_ADDR,
	MW_F_SOCKOPS,
	MW_F_SOCKOPT,
	MW_F_SK_STORAGE,
	MW_F_LPM,
	MW_F_COOKIE_CONNECT,
	MW_F_SO_NETNS_COOKIE,
	MW_F_COOKIE_SOCKOPS,
	MW_F_SK_LOOKUP,
	MW_F_RINGBUF,
	MW_F_SET_RETVAL,
	MW_F_GETPEERNAME,
	MW_F_SK_MSG,
	MW_F_SK_SKB,
	MW_F_SC_QUEUE,
	MW_F_NR,
};

#define MW_NETNS_BY_INODE "network namespaces named by inode number (meshwarp status and conns show those)"

/* id: stable (scripts and vmtest key on it); the other texts are for people. */
static struct mw_feature mw_features[MW_F_NR] = {
	[MW_F_SOCK_ADDR] = { "prog_sock_addr", "cgroup sock_addr programs (connect4/6)", "egress interception", "4.17" },
	[MW_F_SOCKOPS] = { "prog_sockops", "sockops programs", "publishing the original destination", "4.13" },
	[MW_F_SOCKOPT] = { "prog_sockopt", "cgroup sockopt programs", "answering SO_ORIGINAL_DST", "5.3" },
	[MW_F_SK_STORAGE] = { "map_sk_storage", "socket storage maps", "remembering the original destination", "5.2" },
	[MW_F_LPM] = { "map_lpm_trie", "LPM trie maps", "address and CIDR rules", "4.11" },
	[MW_F_COOKIE_CONNECT] = { "netns_cookie_connect4", "bpf_get_netns_cookie in cgroup/connect4", "scoping interception to enrolled namespaces", "5.7" },
	[MW_F_SO_NETNS_COOKIE] = { "so_netns_cookie", "SO_NETNS_COOKIE socket option", "netns cookies in user space", "5.14", 0, 1, MW_NETNS_BY_INODE },
	[MW_F_COOKIE_SOCKOPS] = { "netns_cookie_sockops", "bpf_get_netns_cookie in sockops programs", "netns cookies in sockops", "6.1", 0, 1, MW_NETNS_BY_INODE },
	[MW_F_SK_LOOKUP] = { "prog_sk_lookup", "sk_lookup programs", "inbound interception", "5.9", 0, 1 },
	[MW_F_RINGBUF] = { "map_ringbuf", "ring buffer maps", "the connection log", "5.8" },
	[MW_F_SET_RETVAL] = { "set_retval_connect4", "bpf_set_retval in cgroup/connect4", "rejecting with a chosen errno", "6.1", 0, 1, "rejected connections fail with EPERM, whatever errno the rule names" },
	[MW_F_GETPEERNAME] = { "prog_getpeername", "cgroup getpeername4/6 programs", "showing a service's address after a forward", "5.8" },
	[MW_F_SK_MSG] = { "prog_sk_msg", "sk_msg programs", "the local shortcut", "4.17", 0, 1 },
	[MW_F_SK_SKB] = { "prog_sk_skb", "sk_skb programs", "the local shortcut (one receive queue)", "4.14", 0, 1 },
	[MW_F_SC_QUEUE] = { "sk_psock_msg_tot_len", "per-socket sk_msg queue length (struct sk_psock.msg_tot_len)", "the local shortcut's memory budget", "6.12", 0, 1 },
};

/* Whether getsockopt(SO_NETNS_COOKIE) works (no privilege needed). */
static int mw_probe_so_netns_cookie(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd, ok;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0;
	close(fd);
	return ok;
}

/* Whether the running kernel's struct `type` has member `member` (its BTF). */
static int mw_probe_btf_member(const char *type, const char *member)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_member *m;
	const struct btf_type *t;
	int id, i, found = 0;

	if (libbpf_get_error(btf))
		return 0;
	id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	for (i = 0, m = t ? btf_members(t) : NULL; t && i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), member))
			found = 1;
	btf__free(btf);
	return found;
}

/* errno of the first failed probe load: EPERM means no privilege, not no feature. */
static int mw_probe_errno;

/* Loads `call helper(ctx); return 1;` for the program type, or with arg_ctx 0
 * `call helper(arg); return 1;`; 1 when accepted. The argument must be one the
 * helper takes: 7.3 checks bpf_set_retval's range, so passing it ctx would read as
 * "missing". */
static int mw_probe_helper_arg(enum bpf_prog_type type, enum bpf_attach_type attach, int helper,
			       int arg_ctx, int arg)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = arg },
		{ .code = BPF_JMP | BPF_CALL, .imm = helper },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
	int fd, skip = arg_ctx ? 1 : 0;

	fd = bpf_prog_load(type, NULL, "GPL", insns + skip,
			   sizeof(insns) / sizeof(insns[0]) - skip, &opts);
	if (fd < 0) {
		if (!mw_probe_errno)
			mw_probe_errno = errno;
		return 0;
	}
	close(fd);
	return 1;
}

static int mw_probe_helper(enum bpf_prog_type type, enum bpf_attach_type attach, int helper)
{
	return mw_probe_helper_arg(type, attach, helper, 1, 0);
}

static int mw_probe_prog(enum bpf_prog_type type, enum bpf_attach_type attach)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
	int fd;

	fd = bpf_prog_load(type, NULL, "GPL", insns, sizeof(insns) / sizeof(insns[0]), &opts);
	if (fd < 0) {
		if (!mw_probe_errno)
			mw_probe_errno = errno;
		return 0;
	}
	close(fd);
	return 1;
}

static int mw_probed;

/* MESHWARP_FEATURES_OFF=id,id...: those features count as missing, so that the degraded
 * paths of older kernels (5.10) can be tested on any kernel. */
static void mw_features_mask(void)
{
	const char *off = getenv("MESHWARP_FEATURES_OFF"), *p;
	size_t len;
	int i;

	for (p = off; p && *p; p += len + (p[len] == ',')) {
		len = strcspn(p, ",");
		for (i = 0; i < MW_F_NR; i++)
			if (strlen(mw_features[i].id) == len && !strncmp(p, mw_features[i].id, len))
				mw_features[i].present = 0;
	}
}

const struct mw_feature *mw_features_probe(int *n)
{
	mw_probe_errno = 0;
	mw_features[MW_F_SOCK_ADDR].present =
		mw_probe_prog(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT);
	mw_features[MW_F_SOCKOPS].present = mw_probe_prog(BPF_PROG_TYPE_SOCK_OPS, 0);
	mw_features[MW_F_SOCKOPT].present =
		mw_probe_prog(BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT);
	mw_features[MW_F_SK_STORAGE].present =
		libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SK_STORAGE, NULL) == 1;
	mw_features[MW_F_LPM].present = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LPM_TRIE, NULL) == 1;
	mw_features[MW_F_COOKIE_CONNECT].present =
		mw_probe_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
				BPF_FUNC_get_netns_cookie);
	mw_features[MW_F_SO_NETNS_COOKIE].present = mw_probe_so_netns_cookie();
	mw_features[MW_F_COOKIE_SOCKOPS].present =
		mw_probe_helper(BPF_PROG_TYPE_SOCK_OPS, 0, BPF_FUNC_get_netns_cookie);
	mw_features[MW_F_SK_LOOKUP].present = mw_probe_prog(BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP);
	mw_features[MW_F_RINGBUF].present = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	mw_features[MW_F_SET_RETVAL].present =
		mw_probe_helper_arg(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
				    BPF_FUNC_set_retval, 0, -EPERM);
	mw_features[MW_F_GETPEERNAME].present =
		mw_probe_prog(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME);
	mw_features[MW_F_SK_MSG].present = mw_probe_prog(BPF_PROG_TYPE_SK_MSG, 0);
	mw_features[MW_F_SK_SKB].present =
		mw_probe_prog(BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_VERDICT);
	/* The budget reads it through CO-RE; the BPF side checks the same thing itself. */
	mw_features[MW_F_SC_QUEUE].present = mw_probe_btf_member("sk_psock", "msg_tot_len");
	mw_features_mask();
	mw_probed = 1;
	*n = MW_F_NR;
	return mw_features;
}

int mw_features_require(void)
{
	const struct mw_feature *f;
	int i, n, missing = 0;

	f = mw_features_probe(&n);
	if (mw_probe_errno == EPERM) {
		pr_warn("loading BPF programs is not permitted: run as root (CAP_BPF, CAP_NET_ADMIN)\n");
		return -EPERM;
	}
	for (i = 0; i < n; i++) {
		if (f[i].present)
			continue;
		if (f[i].optional && f[i].instead) {
			pr_warn("kernel lacks %s (Linux %s+): no %s; %s\n", f[i].name, f[i].since,
				f[i].needed_for, f[i].instead);
			continue;
		}
		if (f[i].optional) {
			pr_info("kernel lacks %s (Linux %s+): no %s\n", f[i].name, f[i].since,
				f[i].needed_for);
			continue;
		}
		pr_warn("kernel lacks %s (Linux %s+): no %s\n", f[i].name, f[i].since, f[i].needed_for);
		missing++;
	}
	return missing ? -EOPNOTSUPP : 0;
}

int mw_features_shortcut(void)
{
	int n;

	if (!mw_probed)
		mw_features_probe(&n);
	return mw_features[MW_F_SK_MSG].present && mw_features[MW_F_SK_SKB].present &&
	       mw_features[MW_F_SC_QUEUE].present;
}

int mw_features_netns_inum(void)
{
	int n;

	if (!mw_probed)
		mw_features_probe(&n);
	if (!mw_features[MW_F_SO_NETNS_COOKIE].present)
		return 1;
	/* Without the privilege to load programs the probe says nothing: assume the cookie. */
	if (mw_probe_errno == EPERM)
		return 0;
	return !mw_features[MW_F_COOKIE_SOCKOPS].present;
}

int mw_features_set_retval(void)
{
	int n;

	if (!mw_probed)
		mw_features_probe(&n);
	return mw_features[MW_F_SET_RETVAL].present;
}
