// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "meshwarp.skel.h"
#include "meshwarp_lookup.skel.h"

static const char *const mw_prog_names[MW_PROG_NR] = {
	[MW_PROG_CONNECT4] = "connect4",
	[MW_PROG_CONNECT6] = "connect6",
	[MW_PROG_GETSOCKOPT] = "getsockopt",
	[MW_PROG_SOCKOPS] = "sockops",
	[MW_PROG_GETPEERNAME4] = "getpeername4",
	[MW_PROG_GETPEERNAME6] = "getpeername6",
};

static const char *const mw_map_names[MW_MAP_NR] = {
	[MW_MAP_WL] = "mw_wl_v1",
	[MW_MAP_PORT] = "mw_port_v1",
	[MW_MAP_CIDR] = "mw_cidr_v1",
	[MW_MAP_LOCAL] = "mw_local_v1",
	[MW_MAP_CTR] = "mw_ctr_v1",
	[MW_MAP_SVC] = "mw_svc_v1",
	[MW_MAP_SCL] = "mw_scl_v1",
};

const char *mw_prog_name(enum mw_prog_id id)
{
	return id < MW_PROG_NR ? mw_prog_names[id] : "?";
}

static int mw_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* One level lower than libbpf says: its warnings (a verifier log among
	 * them) follow our own message about the failure and show with -v. */
	enum mw_log_level ours = level == LIBBPF_WARN ? MW_LOG_DEBUG : MW_LOG_TRACE;

	if (ours > mw_log_level)
		return 0;
	fputs("meshwarp: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

void mw_libbpf_logging(void)
{
	libbpf_set_print(mw_libbpf_print);
}

static int mw_path(char *buf, size_t len, const char *dir, const char *sub, const char *name)
{
	int n = snprintf(buf, len, "%s/%s/%s", dir, sub, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mw_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mw_mkdir(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		pr_warn("mkdir %s: %s\n", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int mw_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	char *p;
	int err;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (access(buf, F_OK) != 0) {
			err = mw_mkdir(buf);
			if (err)
				return err;
		}
		*p = '/';
	}
	return mw_mkdir(buf);
}

static struct bpf_program *mw_skel_prog(struct meshwarp_bpf *skel, enum mw_prog_id id)
{
	switch (id) {
	case MW_PROG_CONNECT4:
		return skel->progs.mw_connect4;
	case MW_PROG_CONNECT6:
		return skel->progs.mw_connect6;
	case MW_PROG_GETSOCKOPT:
		return skel->progs.mw_getsockopt;
	case MW_PROG_SOCKOPS:
		/* Without the shortcut, the sockops program without its code: 5.10 refuses
		 * the BPF atomics its pairing uses, even where they would never run. */
		return mw_features_shortcut() ? skel->progs.mw_sockops : skel->progs.mw_sockops_nosc;
	case MW_PROG_GETPEERNAME4:
		return skel->progs.mw_getpeername4;
	case MW_PROG_GETPEERNAME6:
		return skel->progs.mw_getpeername6;
	default:
		return NULL;
	}
}

static int mw_link_state_at(const char *path, struct mw_link_state *st)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, err;

	memset(st, 0, sizeof(*st));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (err)
		return -errno;
	st->pinned = 1;
	st->link_id = info.id;
	st->prog_id = info.prog_id;
	if (info.type == BPF_LINK_TYPE_CGROUP) {
		st->cgroup_id = info.cgroup.cgroup_id;
		st->attach_type = info.cgroup.attach_type;
	} else if (info.type == BPF_LINK_TYPE_NETNS) {
		st->attach_type = info.netns.attach_type;
		/* A namespace that is gone leaves a defunct link: not attached. */
		st->pinned = info.netns.netns_ino != 0;
	}
	return 0;
}

int mw_dp_link_state(const struct mw_dp *dp, enum mw_prog_id id, struct mw_link_state *st)
{
	char path[PATH_MAX];
	int err;

	memset(st, 0, sizeof(*st));
	err = mw_path(path, sizeof(path), dp->pin_dir, "links", mw_prog_name(id));
	if (err)
		return err;
	return mw_link_state_at(path, st);
}

static int mw_netns_dir(const struct mw_dp *dp, uint64_t netns, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/netns/%llu", dp->pin_dir, (unsigned long long)netns);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int mw_dp_netns_state(const struct mw_dp *dp, uint64_t netns, struct mw_link_state *st)
{
	char path[PATH_MAX];
	int err;

	memset(st, 0, sizeof(*st));
	err = mw_netns_dir(dp, netns, path, sizeof(path));
	if (err)
		return err;
	return mw_link_state_at(strcat(path, "/sk_lookup"), st);
}

/*
 * mw_env_v1 keeps 1 MiB per workload, 4 GiB at most over 4096 workloads (not
 * preallocated). Before 5.11 the kernel charged that whole maximum to the memlock limit
 * at creation, refusing 4 GiB and more with E2BIG: there the value shrinks until the map
 * can be created (init checks each workload's variables against what the map holds).
 */
static void mw_env_fit(struct bpf_map *map)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(map));
	static __u32 fitted;	/* the node object's and the sk_lookup object's map: once */
	__u32 size = bpf_map__value_size(map);
	int fd;

	if (fitted) {
		if (fitted != size)
			bpf_map__set_value_size(map, fitted);
		return;
	}
	for (; size >= 64 * 1024; size /= 2) {
		fd = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, bpf_map__key_size(map), size,
				    bpf_map__max_entries(map), &opts);
		if (fd >= 0) {
			close(fd);
			break;
		}
		if (errno != E2BIG)
			return;	/* not a size problem: let the load say what it is */
	}
	if (size < 64 * 1024)
		return;
	fitted = size;
	if (size == bpf_map__value_size(map))
		return;
	pr_info("kernel refuses %u KiB per workload in mw_env_v1: keeping %u KiB of APPMESH_* variables per workload\n",
		bpf_map__value_size(map) / 1024, size / 1024);
	bpf_map__set_value_size(map, size);
}

int mw_dp_attach_netns(struct mw_dp *dp, uint64_t netns, int netns_fd)
{
	struct meshwarp_lookup *skel = NULL;
	struct bpf_link *link = NULL;
	struct mw_link_state st;
	char dir[PATH_MAX], path[PATH_MAX];
	struct bpf_map *map;
	int err;

	err = mw_dp_netns_state(dp, netns, &st);
	if (err)
		return err;
	if (st.pinned)
		return 0;
	err = mw_netns_dir(dp, netns, dir, sizeof(dir));
	if (err)
		return err;
	mw_join(path, sizeof(path), dir, "sk_lookup");
	unlink(path);	/* a defunct link left by an earlier namespace with this cookie */

	skel = meshwarp_lookup__open();
	if (!skel) {
		err = -errno;
		pr_warn("opening the embedded sk_lookup object: %s\n", strerror(-err));
		return err;
	}
	skel->rodata->mw_netns = netns;
	mw_env_fit(skel->maps.mw_env_v1);	/* as pinned (the object declares every map) */
	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);

		if (strstr(name, ".rodata"))
			continue;
		err = mw_path(path, sizeof(path), dp->pin_dir, "maps", name);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto cleanup;
	}
	err = meshwarp_lookup__load(skel);
	if (err) {
		pr_warn("loading the sk_lookup program failed: %s (run with -v for the verifier's log)\n",
			strerror(-err));
		goto cleanup;
	}
	link = bpf_program__attach_netns(skel->progs.mw_sk_lookup, netns_fd);
	if (!link) {
		err = -errno;
		pr_warn("attaching sk_lookup to netns %llu: %s\n", (unsigned long long)netns,
			strerror(-err));
		goto cleanup;
	}
	mw_join(path, sizeof(path), dp->pin_dir, "netns");
	err = mw_mkdir(path);
	if (!err)
		err = mw_mkdir(dir);
	if (!err) {
		mw_join(path, sizeof(path), dir, "sk_lookup");
		err = bpf_link__pin(link, path);
		if (err)
			pr_warn("pinning %s: %s\n", path, strerror(-err));
	}
cleanup:
	bpf_link__destroy(link);
	meshwarp_lookup__destroy(skel);
	return err;
}


static int mw_cgroup_id(const char *cgroup, uint64_t *id)
{
	struct stat st;

	if (stat(cgroup, &st) < 0) {
		pr_warn("cgroup %s: %s\n", cgroup, strerror(errno));
		return -errno;
	}
	/* On cgroup v2 the directory's inode number is the cgroup id. */
	*id = st.st_ino;
	return 0;
}

static int mw_meta_read(struct mw_dp *dp)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->meta_fd, &zero, &dp->meta))
		return -errno;
	if (dp->meta.magic == 0 && dp->meta.abi_version == 0) {
		/* Our own first load died between pinning the maps and writing this. */
		pr_debug("%s: load never completed, loading again\n", dp->pin_dir);
		return -EAGAIN;
	}
	if (dp->meta.magic != MW_META_MAGIC) {
		pr_warn("%s holds pins that are not meshwarp's (bad magic %#x)\n", dp->pin_dir,
			dp->meta.magic);
		return -EUCLEAN;
	}
	if (dp->meta.abi_version != MW_ABI_VERSION) {
		pr_warn("%s was pinned by a meshwarp with ABI %u, this one speaks %u: run 'meshwarp unload' first\n",
			dp->pin_dir, dp->meta.abi_version, MW_ABI_VERSION);
		return -EPROTO;
	}
	return 0;
}

static int mw_open_pinned_map(const struct mw_dp *dp, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (mw_path(path, sizeof(path), dp->pin_dir, "maps", name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

/*
 * The pinned maps besides the table store's (mw_map_names) and the meta, each with its fd in
 * struct mw_dp. Optional: absent in a pin directory of a meshwarp without it, which then
 * simply goes without (no shortcut; tracking on, no hop joins); the fd is -1.
 */
static const struct {
	const char *name;
	size_t off;
	int optional;
} mw_dp_maps[] = {
	{ "mw_stats_v1", offsetof(struct mw_dp, stats_fd), 0 },
	{ "mw_orig_v1", offsetof(struct mw_dp, orig_fd), 0 },
	{ "mw_lsn_v1", offsetof(struct mw_dp, lsn_fd), 0 },
	{ "mw_lsk_v1", offsetof(struct mw_dp, lsk_fd), 0 },
	{ "mw_conn_v1", offsetof(struct mw_dp, conn_fd), 0 },
	{ "mw_agg_v1", offsetof(struct mw_dp, agg_fd), 0 },
	{ "mw_events_v1", offsetof(struct mw_dp, events_fd), 0 },
	{ "mw_name_v1", offsetof(struct mw_dp, name_fd), 0 },
	{ "mw_env_v1", offsetof(struct mw_dp, env_fd), 0 },
	{ "mw_sch_v1", offsetof(struct mw_dp, sch_fd), 1 },
	{ "mw_scc_v1", offsetof(struct mw_dp, scc_fd), 1 },
	{ "mw_scst_v1", offsetof(struct mw_dp, scst_fd), 1 },
	{ "mw_set_v1", offsetof(struct mw_dp, set_fd), 1 },
	{ "mw_hop_v1", offsetof(struct mw_dp, hop_fd), 1 },
	{ "mw_scd_v1", offsetof(struct mw_dp, scd_fd), 1 },
};

#define MW_DP_MAPS_N	((int)(sizeof(mw_dp_maps) / sizeof(mw_dp_maps[0])))

static int *mw_dp_map_fd(struct mw_dp *dp, int i)
{
	return (int *)((char *)dp + mw_dp_maps[i].off);
}

static int mw_open_maps(struct mw_dp *dp)
{
	int i, fd;

	fd = mw_open_pinned_map(dp, "mw_meta_v1");
	if (fd < 0)
		return fd;
	dp->meta_fd = fd;
	for (i = 0; i < MW_MAP_NR; i++) {
		fd = mw_open_pinned_map(dp, mw_map_names[i]);
		if (fd == -ENOENT && i == MW_MAP_SCL) {
			/* Pinned by an older version: the shortcut's upstream hop stays off. */
			pr_debug("%s/maps/%s: absent (pinned by an older version)\n", dp->pin_dir,
				 mw_map_names[i]);
			dp->map_fd[i] = -1;
			continue;
		}
		if (fd < 0) {
			pr_warn("%s/maps/%s: %s\n", dp->pin_dir, mw_map_names[i], strerror(-fd));
			return fd;
		}
		dp->map_fd[i] = fd;
	}
	for (i = 0; i < MW_DP_MAPS_N; i++) {
		fd = mw_open_pinned_map(dp, mw_dp_maps[i].name);
		if (fd < 0 && !mw_dp_maps[i].optional)
			return fd;
		*mw_dp_map_fd(dp, i) = fd < 0 ? -1 : fd;
	}
	return mw_meta_read(dp);
}

static int mw_links_complete(const struct mw_dp *dp, uint64_t cgid, int *complete)
{
	struct mw_link_state st;
	int i, err;

	*complete = 1;
	for (i = 0; i < MW_PROG_NR; i++) {
		err = mw_dp_link_state(dp, i, &st);
		if (err)
			return err;
		if (!st.pinned) {
			*complete = 0;
			continue;
		}
		if (cgid && st.cgroup_id != cgid) {
			pr_warn("%s is attached to cgroup id %llu, not to the requested cgroup (id %llu): use its own --pin-dir or 'meshwarp unload' it first\n",
				dp->pin_dir, (unsigned long long)st.cgroup_id,
				(unsigned long long)cgid);
			return -EEXIST;
		}
	}
	return 0;
}

/* Loads the object (reusing maps already pinned), pins what is new, and attaches
 * and pins every program whose link is missing. */
static int mw_load_and_attach(struct mw_dp *dp, const char *cgroup)
{
	struct meshwarp_bpf *skel = NULL;
	struct mw_link_state st;
	struct bpf_map *map;
	char path[PATH_MAX];
	struct mw_meta cur = {};
	int cg_fd = -1, err, i, sc_ok;
	__u32 zero = 0;

	err = mw_features_require();
	if (err)
		return err;

	skel = meshwarp_bpf__open();
	if (!skel) {
		err = -errno;
		pr_warn("opening the embedded BPF object: %s\n", strerror(-err));
		return err;
	}
	skel->rodata->mw_page_size = (__u32)sysconf(_SC_PAGESIZE);
	/* What the kernel lacks: the verifier prunes the branches that would use it
	 * (bpf/lib/compat.bpf.h). */
	skel->rodata->mw_kf_set_retval = (__u32)mw_features_set_retval();
	skel->rodata->mw_kf_netns_inum = (__u32)mw_features_netns_inum();
	mw_env_fit(skel->maps.mw_env_v1);
	/* The shortcut is optional: without sk_msg (or the queue length its budget reads)
	 * its verdict is not loaded and nothing joins it (MW_SC_C_READY stays clear). */
	sc_ok = mw_features_shortcut();
	if (!sc_ok) {
		bpf_program__set_autoload(skel->progs.mw_sk_msg, false);
		bpf_program__set_autoload(skel->progs.mw_sk_skb, false);
	}
	/* sockops with or without the shortcut's part (mw_skel_prog picks the same one) */
	bpf_program__set_autoload(sc_ok ? skel->progs.mw_sockops_nosc : skel->progs.mw_sockops,
				  false);

	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);

		if (strstr(name, ".rodata"))
			continue;
		err = mw_path(path, sizeof(path), dp->pin_dir, "maps", name);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto cleanup;
	}

	err = meshwarp_bpf__load(skel);
	if (err) {
		pr_warn("loading the BPF programs failed: %s (run with -v for the verifier's log)\n",
			strerror(-err));
		goto cleanup;
	}
	/* A new pin directory, or one whose first load died before this point. */
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.mw_meta_v1), &zero, &cur) ||
	    cur.magic != MW_META_MAGIC) {
		struct mw_meta meta = {
			.magic = MW_META_MAGIC,
			.abi_version = MW_ABI_VERSION,
			.created_ns = (__u64)time(NULL) * 1000000000ull,
		};

		err = bpf_map_update_elem(bpf_map__fd(skel->maps.mw_meta_v1), &zero, &meta, BPF_ANY);
		if (err) {
			err = -errno;
			goto cleanup;
		}
	}

	/* sk_msg and sk_skb links exist only from 6.12: the classic attach, which lives as
	 * long as the (pinned) map. A later load replaces the programs; sockets already in
	 * the map keep the ones they joined with. The shortcut is ready only with both
	 * (mw_dp_sc_configure checks). */
	if (sc_ok && (bpf_prog_attach(bpf_program__fd(skel->progs.mw_sk_msg),
				      bpf_map__fd(skel->maps.mw_sch_v1), BPF_SK_MSG_VERDICT, 0) ||
		      bpf_prog_attach(bpf_program__fd(skel->progs.mw_sk_skb),
				      bpf_map__fd(skel->maps.mw_sch_v1), BPF_SK_SKB_STREAM_VERDICT, 0)))
		pr_warn("attaching the shortcut's verdicts to mw_sch_v1: %s: the shortcut stays off\n",
			strerror(errno));

	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		err = -errno;
		pr_warn("cgroup %s: %s\n", cgroup, strerror(errno));
		goto cleanup;
	}
	for (i = 0; i < MW_PROG_NR; i++) {
		struct bpf_link *link;

		err = mw_dp_link_state(dp, i, &st);
		if (err)
			goto cleanup;
		if (st.pinned)
			continue;
		link = bpf_program__attach_cgroup(mw_skel_prog(skel, i), cg_fd);
		if (!link) {
			err = -errno;
			pr_warn("attaching %s to %s: %s\n", mw_prog_name(i), cgroup, strerror(-err));
			goto cleanup;
		}
		err = mw_path(path, sizeof(path), dp->pin_dir, "links", mw_prog_name(i));
		if (!err)
			err = bpf_link__pin(link, path);
		bpf_link__destroy(link);	/* the pin keeps it attached */
		if (err) {
			pr_warn("pinning the %s link at %s: %s\n", mw_prog_name(i), path, strerror(-err));
			goto cleanup;
		}
		pr_debug("attached %s to %s\n", mw_prog_name(i), cgroup);
	}
	err = 0;
cleanup:
	if (cg_fd >= 0)
		close(cg_fd);
	meshwarp_bpf__destroy(skel);
	return err;
}

static void mw_dp_init(struct mw_dp *dp)
{
	int i;

	memset(dp, 0, sizeof(*dp));
	dp->lock_fd = dp->meta_fd = -1;
	for (i = 0; i < MW_DP_MAPS_N; i++)
		*mw_dp_map_fd(dp, i) = -1;
	for (i = 0; i < MW_MAP_NR; i++)
		dp->map_fd[i] = -1;
}

static uint32_t mw_fd_id(int fd, int is_map)
{
	struct bpf_prog_info pi = {};
	struct bpf_map_info mi = {};
	__u32 len;

	if (fd < 0)
		return 0;
	if (is_map) {
		len = sizeof(mi);
		return bpf_obj_get_info_by_fd(fd, &mi, &len) ? 0 : mi.id;
	}
	len = sizeof(pi);
	return bpf_obj_get_info_by_fd(fd, &pi, &len) ? 0 : pi.id;
}

static uint32_t mw_sc_attached(const struct mw_dp *dp, enum bpf_attach_type type)
{
	__u32 ids[4] = {}, cnt = 4, attach_flags = 0;

	if (dp->sch_fd < 0)
		return 0;
	/* Query of a sockmap's programs: 6.0+ (EINVAL before: unknown). */
	if (bpf_prog_query(dp->sch_fd, type, 0, &attach_flags, ids, &cnt) || !cnt)
		return 0;
	return ids[0];
}

uint32_t mw_dp_sc_prog_id(const struct mw_dp *dp)
{
	return mw_sc_attached(dp, BPF_SK_MSG_VERDICT);
}

uint32_t mw_dp_sc_skb_prog_id(const struct mw_dp *dp)
{
	return mw_sc_attached(dp, BPF_SK_SKB_STREAM_VERDICT);
}

static const char *mw_sc_kind(int is_map, __u32 type)
{
	if (is_map)
		return type == BPF_MAP_TYPE_SOCKMAP ? "sockmap" :
		       type == BPF_MAP_TYPE_SOCKHASH ? "sockhash" : NULL;
	return type == BPF_PROG_TYPE_SOCK_OPS ? "sockops" :
	       type == BPF_PROG_TYPE_SK_MSG ? "sk_msg" :
	       type == BPF_PROG_TYPE_SK_SKB ? "sk_skb" : NULL;
}

int mw_dp_sc_users(const struct mw_dp *dp, struct mw_sc_user **out, size_t *n)
{
	struct mw_sc_user *v = NULL, *nv;
	uint32_t own[4] = {}, id;
	struct mw_link_state st;
	int is_map, fd, i, own_n = 0;
	size_t cnt = 0;

	/* This pin directory's own: its sockops program, its two verdicts, its two
	 * sockhashes. */
	if (!mw_dp_link_state(dp, MW_PROG_SOCKOPS, &st) && st.pinned)
		own[own_n++] = st.prog_id;
	own[own_n++] = mw_dp_sc_prog_id(dp);
	own[own_n++] = mw_dp_sc_skb_prog_id(dp);
	for (is_map = 0; is_map < 2; is_map++) {
		if (is_map) {
			own[0] = mw_fd_id(dp->lsn_fd, 1);
			own[1] = mw_fd_id(dp->sch_fd, 1);
			own_n = 2;
		}
		id = 0;
		while (!(is_map ? bpf_map_get_next_id(id, &id) : bpf_prog_get_next_id(id, &id))) {
			struct bpf_prog_info pi = {};
			struct bpf_map_info mi = {};
			__u32 len = is_map ? sizeof(mi) : sizeof(pi), type;
			const char *kind, *name;

			for (i = 0; i < own_n && own[i] != id; i++)
				;
			if (i < own_n)
				continue;
			fd = is_map ? bpf_map_get_fd_by_id(id) : bpf_prog_get_fd_by_id(id);
			if (fd < 0)
				continue;	/* gone meanwhile */
			if (bpf_obj_get_info_by_fd(fd, is_map ? (void *)&mi : (void *)&pi, &len)) {
				close(fd);
				continue;
			}
			close(fd);
			type = is_map ? mi.type : pi.type;
			name = is_map ? mi.name : pi.name;
			kind = mw_sc_kind(is_map, type);
			if (!kind)
				continue;
			nv = realloc(v, (cnt + 1) * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			memset(&v[cnt], 0, sizeof(v[cnt]));
			v[cnt].id = id;
			v[cnt].is_map = is_map;
			v[cnt].kind = kind;
			snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", name);
			v[cnt].meshwarp = !strncmp(name, "mw_", 3);
			cnt++;
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

/*
 * Writes the shortcut's host-wide settings (at every enrolment, so a user of sockmap
 * that arrived since is seen): ready when both verdicts are attached, foreign users.
 */
static void mw_dp_sc_configure(struct mw_dp *dp)
{
	struct mw_sc_conf conf = {}, cur = {};
	struct mw_sc_user *u = NULL;
	const char *asked = getenv("MESHWARP_SHORTCUT");
	size_t n = 0, i, foreign = 0;
	char list[512] = "";
	size_t off = 0;
	__u32 zero = 0;

	if (dp->scc_fd < 0 || dp->sch_fd < 0)
		return;
	bpf_map_lookup_elem(dp->scc_fd, &zero, &cur);
	/* The verdicts are only loaded and attached where the kernel has what they need. A
	 * kernel that cannot list a sockmap's programs (before 6.0) gets no shortcut. */
	if (mw_dp_sc_prog_id(dp) && mw_dp_sc_skb_prog_id(dp))
		conf.flags |= MW_SC_C_READY;
	if (!mw_dp_sc_users(dp, &u, &n)) {
		for (i = 0; i < n; i++) {
			if (!mw_sc_user_foreign(&u[i]))
				continue;
			foreign++;
			if (off < sizeof(list))
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s %u \"%s\"",
							off ? ", " : "", u[i].kind, u[i].id, u[i].name);
		}
		free(u);
	}
	if (foreign) {
		conf.flags |= MW_SC_C_FOREIGN;
		/* Said loudly only to whoever asked for the shortcut. */
		if (asked && !strcmp(asked, "1"))
			pr_warn("other sockops/sk_msg/sockmap users on this host (%s): the local shortcut stays off (MESHWARP_SHORTCUT=force overrides)\n",
				list);
		else
			pr_debug("other sockops/sk_msg/sockmap users on this host: %s\n", list);
	}
	conf.budget = cur.budget ? cur.budget : MW_SC_BUDGET_DEFAULT;
	conf.hold_s = cur.hold_s;
	conf.flags |= cur.flags & MW_SC_C_NO_HOLD;
	if (bpf_map_update_elem(dp->scc_fd, &zero, &conf, BPF_ANY))
		pr_warn("writing the shortcut settings: %s\n", strerror(errno));
}

int mw_dp_sc_hold_set(struct mw_dp *dp, long secs)
{
	struct mw_sc_conf conf = {};
	__u32 zero = 0;

	if (dp->scc_fd < 0)
		return 0;	/* no shortcut in this data path: nothing to hold */
	if (secs < 0 || secs > MW_SC_HOLD_MAX_S)
		return -EINVAL;
	if (bpf_map_lookup_elem(dp->scc_fd, &zero, &conf))
		return -errno;
	if (secs) {
		conf.flags &= ~MW_SC_C_NO_HOLD;
		conf.hold_s = (__u32)secs;
	} else {
		conf.flags |= MW_SC_C_NO_HOLD;
	}
	if (bpf_map_update_elem(dp->scc_fd, &zero, &conf, BPF_ANY)) {
		int err = -errno;

		pr_warn("writing the shortcut settings: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

long mw_sc_hold_parse(const char *s)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > MW_SC_HOLD_MAX_S)
		return -1;
	return (long)v;
}

int mw_dp_tracking(const struct mw_dp *dp)
{
	struct mw_settings st = {};
	__u32 zero = 0;

	if (dp->set_fd < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(dp->set_fd, &zero, &st))
		return -errno;
	return !(st.flags & MW_SET_F_NO_TRACKING);
}

int mw_dp_tracking_set(struct mw_dp *dp, int on)
{
	struct mw_settings st = {};
	__u32 zero = 0;

	if (dp->set_fd < 0) {
		pr_warn("%s has no tracking switch (pinned by an older meshwarp): run 'meshwarp unload' and load again\n",
			dp->pin_dir);
		return -ENOENT;
	}
	if (bpf_map_lookup_elem(dp->set_fd, &zero, &st))
		return -errno;
	if (on)
		st.flags &= ~MW_SET_F_NO_TRACKING;
	else
		st.flags |= MW_SET_F_NO_TRACKING;
	if (bpf_map_update_elem(dp->set_fd, &zero, &st, BPF_ANY)) {
		int err = -errno;

		pr_warn("%s/maps/mw_set_v1: writing the tracking switch: %s\n", dp->pin_dir,
			strerror(-err));
		return err;
	}
	return 0;
}

int mw_dp_open(struct mw_dp *dp, const char *pin_dir, const char *cgroup, unsigned int flags)
{
	char path[PATH_MAX];
	uint64_t cgid = 0;
	int err, complete, have_meta;

	mw_dp_init(dp);
	snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s", pin_dir);

	err = mw_reach_bpffs(pin_dir);
	if (err)
		return err;

	if (!(flags & MW_DP_CREATE) && access(pin_dir, F_OK) != 0)
		return -ENOENT;
	if (flags & MW_DP_CREATE) {
		err = mw_mkdir_p(pin_dir);
		if (!err) {
			mw_join(path, sizeof(path), pin_dir, "maps");
			err = mw_mkdir(path);
		}
		if (!err) {
			mw_join(path, sizeof(path), pin_dir, "links");
			err = mw_mkdir(path);
		}
		if (err)
			goto fail;
	}
	if (flags & MW_DP_LOCK) {
		dp->lock_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dp->lock_fd < 0 || flock(dp->lock_fd, LOCK_EX) < 0) {
			err = -errno;
			pr_warn("locking %s: %s\n", pin_dir, strerror(errno));
			goto fail;
		}
	}

	if (flags & MW_DP_CREATE) {
		err = mw_cgroup_id(cgroup, &cgid);
		if (err)
			goto fail;
		/* A pin directory of another ABI must not be reused: check the meta first. */
		dp->meta_fd = mw_open_pinned_map(dp, "mw_meta_v1");
		have_meta = dp->meta_fd >= 0;
		if (have_meta) {
			err = mw_meta_read(dp);
			close(dp->meta_fd);
			dp->meta_fd = -1;
			if (err == -EAGAIN)
				have_meta = 0;
			else if (err)
				goto fail;
		}
		err = mw_links_complete(dp, cgid, &complete);
		if (err)
			goto fail;
		if (!complete || !have_meta) {
			err = mw_load_and_attach(dp, cgroup);
			if (err)
				goto fail;
		}
	}

	err = mw_open_maps(dp);
	if (err == -ENOENT && !(flags & MW_DP_CREATE))
		goto fail;
	if (err) {
		pr_warn("%s: pinned maps are incomplete (%s): run 'meshwarp unload' and init again\n",
			pin_dir, strerror(-err));
		goto fail;
	}
	if (flags & MW_DP_CREATE)
		mw_dp_sc_configure(dp);
	return 0;
fail:
	mw_dp_close(dp);
	return err;
}

void mw_dp_close(struct mw_dp *dp)
{
	int i;

	for (i = 0; i < MW_MAP_NR; i++)
		if (dp->map_fd[i] >= 0)
			close(dp->map_fd[i]);
	if (dp->meta_fd >= 0)
		close(dp->meta_fd);
	for (i = 0; i < MW_DP_MAPS_N; i++)
		if (*mw_dp_map_fd(dp, i) >= 0)
			close(*mw_dp_map_fd(dp, i));
	if (dp->lock_fd >= 0)
		close(dp->lock_fd);	/* releases the lock */
	mw_dp_init(dp);
}

/* Removes a directory of pins and everything below it (pins are files on bpffs). */
static int mw_rm_tree(const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) == 0 || errno == ENOENT)
			continue;
		if ((errno == EISDIR || errno == EPERM) && depth > 0) {
			int e = mw_rm_tree(path, depth - 1);

			if (e && !err)
				err = e;
			continue;
		}
		pr_warn("removing %s: %s\n", path, strerror(errno));
		if (!err)
			err = -errno;
	}
	closedir(d);
	if (!err && rmdir(dir) < 0 && errno != ENOENT)
		err = -errno;
	return err;
}

int mw_dp_detach_netns(struct mw_dp *dp, uint64_t netns)
{
	char dir[PATH_MAX];
	int err;

	err = mw_netns_dir(dp, netns, dir, sizeof(dir));
	if (err)
		return err;
	return mw_rm_tree(dir, 0);
}

long mw_dp_sc_sockets(const char *pin_dir)
{
	struct mw_tuple k, next;
	char path[PATH_MAX];
	long n = 0;
	int fd, first = 1;

	if (mw_path(path, sizeof(path), pin_dir, "maps", "mw_scs_v1"))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;	/* nothing pinned, or no shortcut */
	while (bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
		first = 0;
		k = next;
		n++;
	}
	close(fd);
	return n;
}

int mw_dp_unload(const char *pin_dir)
{
	char path[PATH_MAX];
	int lock_fd, err;

	err = mw_reach_bpffs(pin_dir);
	if (err)
		return err;
	lock_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock_fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(lock_fd, LOCK_EX) < 0) {
		err = -errno;
		close(lock_fd);
		return err;
	}
	/* Links first: interception stops before its state goes away. */
	mw_join(path, sizeof(path), pin_dir, "links");
	err = mw_rm_tree(path, 0);
	if (!err) {
		mw_join(path, sizeof(path), pin_dir, "netns");
		err = mw_rm_tree(path, 1);
	}
	if (!err) {
		mw_join(path, sizeof(path), pin_dir, "maps");
		err = mw_rm_tree(path, 0);
	}
	if (!err && rmdir(pin_dir) < 0 && errno != ENOENT) {
		err = -errno;
		pr_warn("removing %s: %s\n", pin_dir, strerror(errno));
	}
	close(lock_fd);
	return err;
}

int mw_percpu_sum(int fd, const void *key, void *out, size_t size)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t words = size / sizeof(__u64), i;
	__u64 *buf, *sum = out;
	int c, err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	buf = calloc((size_t)ncpu, size);
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, key, buf)) {
		err = -errno;
		goto cleanup;
	}
	memset(out, 0, size);
	for (c = 0; c < ncpu; c++)
		for (i = 0; i < words; i++)
			sum[i] += buf[(size_t)c * words + i];
cleanup:
	free(buf);
	return err;
}
