/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What meshwarp asks of the host: namespaces, addresses, mounts, cgroups. */
#ifndef MW_HOST_H
#define MW_HOST_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* The calling thread's network namespace as the programs name it: its cookie
 * (SO_NETNS_COOKIE), or its inode number where the kernel lacks the cookie in sockops or
 * user space (5.10; mw_features_netns_inum). */
int mw_netns_cookie(uint64_t *cookie);

/* The namespace's own addresses as host routes (/32, /128), v4 mapped. The caller frees. */
int mw_local_addrs(struct mw_cidr **out, size_t *n);

/* 1 when IPv6 can be used in this namespace, 0 when it is disabled or absent. */
int mw_ipv6_usable(void);

/*
 * Makes `path` (a directory under a bpffs, maybe not created yet) reachable.
 * `ip netns exec` runs its command in a private mount namespace with a fresh
 * /sys, which hides bpffs and cgroup2: then this enters PID 1's mount namespace.
 * On the host's mount namespace, mounts bpffs at /sys/fs/bpf when it is missing.
 */
int mw_reach_bpffs(const char *path);

/* The root of the cgroup2 mount in /proc/mounts (hybrid hosts included). */
int mw_cgroup2_root(char *buf, size_t len);

/* Makes a path absolute against the current directory (no symlink resolution). */
int mw_abspath(const char *in, char *out, size_t len);

#endif /* MW_HOST_H */
