// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "ingress.h"
#include "log.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define MW_TCP_LISTEN 0x0a	/* st column of /proc/net/tcp */
#define MW_MAX_LISTENERS 16

struct mw_lsn_inode {
	unsigned long inode;
	int family;
};

/* Inodes of the LISTEN sockets on `port` in /proc/net/tcp or tcp6 (this namespace). */
static int mw_listen_inodes(const char *file, int family, uint16_t port, struct mw_lsn_inode *out,
			    int n, int max)
{
	char line[512], local[64];
	unsigned int st, lport;
	unsigned long inode;
	FILE *f;

	f = fopen(file, "re");
	if (!f)
		return n;	/* no IPv6 in this namespace */
	if (!fgets(line, sizeof(line), f)) {	/* header */
		fclose(f);
		return n;
	}
	while (n < max && fgets(line, sizeof(line), f)) {
		char *colon;

		if (sscanf(line, " %*d: %63s %*s %x %*s %*s %*s %*d %*d %lu", local, &st, &inode) != 3)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &lport) != 1)
			continue;
		if (st != MW_TCP_LISTEN || lport != port || !inode)
			continue;
		out[n].inode = inode;
		out[n].family = family;
		n++;
	}
	fclose(f);
	return n;
}

/* Duplicates the socket with inode `inode` from whichever process holds it. */
static int mw_grab_socket(unsigned long inode)
{
	char want[64], path[300], link[64];
	struct dirent *pe, *fe;
	DIR *proc, *fds;
	int sock = -1;

	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while (sock < 0 && (pe = readdir(proc))) {
		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			ssize_t n;
			int pidfd;

			if (!isdigit((unsigned char)fe->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", pe->d_name, fe->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want))
				continue;
			pidfd = (int)syscall(SYS_pidfd_open, atoi(pe->d_name), 0);
			if (pidfd < 0)
				break;
			sock = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(fe->d_name), 0);
			close(pidfd);
			break;
		}
		closedir(fds);
	}
	closedir(proc);
	return sock;
}

/*
 * Puts sock in the first free slot of k's port, unless a slot holds it already
 * (sockops saw it listen). Returns 0 when registered, 1 when it was, or a
 * negative errno (-ENOSPC: every slot holds another live listener).
 */
static int mw_register_slot(struct mw_dp *dp, struct mw_lsn_key *k, int sock)
{
	__u64 cookie = 0, have, val = (__u64)sock;
	socklen_t len = sizeof(cookie);
	__u32 slot;

	if (getsockopt(sock, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return -errno;
	/* A sockhash answers a lookup from user space with the socket's cookie. */
	for (slot = 0; slot < MW_LSN_SLOTS; slot++) {
		k->slot = slot;
		if (bpf_map_lookup_elem(dp->lsn_fd, k, &have) == 0 && have == cookie)
			return 1;
	}
	for (slot = 0; slot < MW_LSN_SLOTS; slot++) {
		k->slot = slot;
		if (bpf_map_update_elem(dp->lsn_fd, k, &val, BPF_NOEXIST) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -ENOSPC;
}

int mw_ingress_adopt_listeners(struct mw_dp *dp, uint64_t netns, uint16_t port)
{
	struct mw_lsn_inode found[MW_MAX_LISTENERS];
	int n, i, done = 0;

	n = mw_listen_inodes("/proc/net/tcp", AF_INET, port, found, 0, MW_MAX_LISTENERS);
	n = mw_listen_inodes("/proc/net/tcp6", AF_INET6, port, found, n, MW_MAX_LISTENERS);
	for (i = 0; i < n; i++) {
		struct mw_sk_lsn mark = { .flags = MW_SKL_F_INGRESS, .port = htons(port) };
		struct mw_lsn_key k = {};
		int sock, err;

		sock = mw_grab_socket(found[i].inode);
		if (sock < 0) {
			pr_warn("the listener on port %u (socket inode %lu) could not be reached: %s\n",
				port, found[i].inode, strerror(errno));
			continue;
		}
		k.netns = netns;
		k.port = htons(port);
		k.family = (__u16)found[i].family;
		err = mw_register_slot(dp, &k, sock);
		if (!err && bpf_map_update_elem(dp->lsk_fd, &sock, &mark, BPF_ANY))
			err = -errno;
		if (err < 0)
			pr_warn("registering the listener on port %u: %s\n", port, strerror(-err));
		else if (err == 0)
			done++;
		close(sock);
	}
	return done;
}

int mw_ingress_forget_listeners(struct mw_dp *dp, uint64_t netns)
{
	struct mw_lsn_key k, next, gone[2 * MW_LSN_SLOTS * 8];
	int first = 1, n = 0, i;

	while (n < (int)(sizeof(gone) / sizeof(gone[0])) && bpf_map_get_next_key(dp->lsn_fd, first ? NULL : &k, &next) == 0) {
		first = 0;
		k = next;
		if (k.netns == netns)
			gone[n++] = k;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(dp->lsn_fd, &gone[i]);
	return 0;
}
