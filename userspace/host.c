// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <mntent.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "host.h"
#include "log.h"
#include "probe.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* The namespace's inode number, what the programs read where they cannot have its cookie
 * (bpf/lib/compat.bpf.h, mw_kf_netns_inum). */
static int mw_netns_inode(uint64_t *id)
{
	struct stat st;

	/* the calling thread's, as SO_NETNS_COOKIE would be (setns() is per thread) */
	if (stat("/proc/thread-self/ns/net", &st) < 0) {
		pr_warn("/proc/thread-self/ns/net: %s\n", strerror(errno));
		return -errno;
	}
	*id = (uint64_t)st.st_ino;
	return 0;
}

int mw_netns_cookie(uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd, err = 0;

	if (mw_features_netns_inum())
		return mw_netns_inode(cookie);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) < 0) {
		err = -errno;
		if (err == -ENOPROTOOPT)
			pr_warn("kernel lacks SO_NETNS_COOKIE (Linux 5.14+): cannot identify the network namespace\n");
		else
			pr_warn("getsockopt(SO_NETNS_COOKIE): %s\n", strerror(errno));
	}
	close(fd);
	return err;
}

int mw_local_addrs(struct mw_cidr **out, size_t *n)
{
	struct ifaddrs *ifa, *it;
	struct mw_cidr *v = NULL, *nv;
	size_t cnt = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (it = ifa; it; it = it->ifa_next) {
		struct mw_cidr c = {};

		if (!it->ifa_addr)
			continue;
		if (it->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)it->ifa_addr;

			c.addr[10] = 0xff;
			c.addr[11] = 0xff;
			memcpy(&c.addr[12], &sin->sin_addr, 4);
			c.prefix = 128;
			c.is_v4 = 1;
		} else if (it->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const void *)it->ifa_addr;

			memcpy(c.addr, &sin6->sin6_addr, 16);
			c.prefix = 128;
		} else {
			continue;
		}
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			freeifaddrs(ifa);
			return -ENOMEM;
		}
		v = nv;
		v[cnt++] = c;
	}
	freeifaddrs(ifa);
	*out = v;
	*n = cnt;
	return 0;
}

int mw_ipv6_usable(void)
{
	char buf[8] = "";
	FILE *f;
	int fd;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	close(fd);
	f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '1';
	fclose(f);
	return buf[0] == '0';
}

static int mw_is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/* The nearest existing ancestor of path (path itself when it exists). */
static void mw_existing_ancestor(const char *path, char *buf, size_t len)
{
	char *slash;

	snprintf(buf, len, "%s", path);
	while (access(buf, F_OK) != 0) {
		slash = strrchr(buf, '/');
		if (!slash || slash == buf) {
			snprintf(buf, len, "/");
			return;
		}
		*slash = '\0';
	}
}

static int mw_ppid(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	/* The command name may hold spaces and parentheses: parse after the last ')'. */
	p = ok ? strrchr(buf, ')') : NULL;
	if (!p || sscanf(p + 1, " %*c %d", ppid) != 1)
		return -EINVAL;
	return 0;
}

/*
 * Enters the mount namespace of PID 1 or, when that one cannot be inspected (a
 * sandbox), of the nearest ancestor whose mount namespace differs from ours
 * (`ip netns exec` is a child of a process in the host's). Returns 1 when it
 * entered one, 0 when every candidate shares ours, or a negative errno.
 */
static int mw_enter_outer_mntns(void)
{
	struct stat self, other;
	char path[64];
	pid_t pid = 1, next = getppid();
	int fd, hops;

	if (stat("/proc/self/ns/mnt", &self) < 0)
		return -errno;
	for (hops = 0; hops < 64 && pid > 0; hops++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		if (stat(path, &other) == 0 && other.st_ino != self.st_ino) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || setns(fd, CLONE_NEWNS) < 0) {
				int err = -errno;

				if (fd >= 0)
					close(fd);
				return err;
			}
			close(fd);
			pr_debug("entered the mount namespace of pid %d\n", (int)pid);
			return 1;
		}
		pid = next;
		if (pid <= 1 || mw_ppid(pid, &next))
			next = 0;
	}
	return 0;
}

int mw_reach_bpffs(const char *path)
{
	char anc[PATH_MAX];
	int err;

	mw_existing_ancestor(path, anc, sizeof(anc));
	if (mw_is_bpffs(anc))
		return 0;

	err = mw_enter_outer_mntns();
	if (err < 0) {
		pr_warn("%s is not on a bpffs here and the host's mount namespace cannot be entered: %s\n",
			path, strerror(-err));
		return err;
	}
	if (err > 0) {
		mw_existing_ancestor(path, anc, sizeof(anc));
		if (mw_is_bpffs(anc))
			return 0;
	}

	/* The host's mount namespace, on a machine that has not mounted bpffs yet. */
	if (strncmp(path, "/sys/fs/bpf/", 12) == 0 && !mw_is_bpffs("/sys/fs/bpf")) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0) {
			pr_warn("mounting bpffs at /sys/fs/bpf: %s\n", strerror(errno));
			return -errno;
		}
		pr_info("mounted bpffs at /sys/fs/bpf\n");
		return 0;
	}
	pr_warn("%s is not on a bpffs (mount one: mount -t bpf bpf <dir>)\n", path);
	return -ENOTSUP;
}

int mw_cgroup2_root(char *buf, size_t len)
{
	struct mntent *m;
	FILE *f;
	int err = -ENOENT;

	f = setmntent("/proc/mounts", "re");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2") == 0) {
			snprintf(buf, len, "%s", m->mnt_dir);
			err = 0;
			break;
		}
	}
	endmntent(f);
	if (err)
		pr_warn("no cgroup2 mount in /proc/mounts (meshwarp needs cgroup v2, hybrid hosts included)\n");
	return err;
}

int mw_abspath(const char *in, char *out, size_t len)
{
	char cwd[PATH_MAX];
	int n;

	if (in[0] == '/')
		n = snprintf(out, len, "%s", in);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, len, "%s/%s", cwd, in);
	else
		return -errno;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
