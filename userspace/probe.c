// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>

#include "probe.h"
#include "log.h"

enum {
	MW_F_SOCK_ADDR,
	MW_F_SOCKOPS,
	MW_F_SOCKOPT,
	MW_F_SK_STORAGE,
	MW_F_LPM,
	MW_F_COOKIE_CONNECT,
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

static struct mw_feature mw_features[MW_F_NR] = {
	[MW_F_SOCK_ADDR] = { "cgroup sock_addr programs (connect4/6)", "egress interception", "4.17" },
	[MW_F_SOCKOPS] = { "sockops programs", "publishing the original destination", "4.13" },
	[MW_F_SOCKOPT] = { "cgroup sockopt programs", "answering SO_ORIGINAL_DST", "5.3" },
	[MW_F_SK_STORAGE] = { "socket storage maps", "remembering the original destination", "5.2" },
	[MW_F_LPM] = { "LPM trie maps", "address and CIDR rules", "4.11" },
	[MW_F_COOKIE_CONNECT] = { "bpf_get_netns_cookie in cgroup/connect4", "scoping interception to enrolled namespaces", "5.7" },
	[MW_F_COOKIE_SOCKOPS] = { "bpf_get_netns_cookie in sockops programs", "carrying the original destination to the sidecar and finding its listener", "6.1" },
	[MW_F_SK_LOOKUP] = { "sk_lookup programs", "inbound interception", "5.9", 0, 1 },
	[MW_F_RINGBUF] = { "ring buffer maps", "the connection log", "5.8" },
	[MW_F_SET_RETVAL] = { "bpf_set_retval in cgroup/connect4", "rejecting with a chosen errno", "6.1" },
	[MW_F_GETPEERNAME] = { "cgroup getpeername4/6 programs", "showing a service's address after a forward", "5.8" },
	[MW_F_SK_MSG] = { "sk_msg programs", "the local shortcut", "4.17", 0, 1 },
	[MW_F_SK_SKB] = { "sk_skb programs", "the local shortcut (one receive queue)", "4.14", 0, 1 },
	[MW_F_SC_QUEUE] = { "per-socket sk_msg queue length (struct sk_psock.msg_tot_len)", "the local shortcut's memory budget", "6.12", 0, 1 },
};

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
