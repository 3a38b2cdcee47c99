/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the test servers share: parsing a port and opening the listening socket in one
 * of the three ways the tests need (-4 IPv4 only, -6 IPv6 only, -d dual-stack).
 * Header-only: every tool is built from its one .c file.
 */
#ifndef MWT_LISTEN_H
#define MWT_LISTEN_H

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum bind_mode { BIND_V4, BIND_V6ONLY, BIND_DUAL };

/* A TCP port 1..65535, or -1. */
static inline int mwt_parse_port(const char *s)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v == 0 || v > 65535)
		return -1;
	return (int)v;
}

/* A listening socket on the wildcard address of `mode` and `port`; on failure says why
 * on stderr, prefixed by `prog`, and exits 1 (the test sees the tool die, not hang). */
static inline int mwt_listen(const char *prog, enum bind_mode mode, int port, int backlog)
{
	struct sockaddr_storage ss = {};
	int one = 1, v6only, fd;
	socklen_t sl;

	if (mode == BIND_V4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (mode != BIND_V4) {
		v6only = mode == BIND_V6ONLY;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) {
			fprintf(stderr, "%s: IPV6_V6ONLY: %s\n", prog, strerror(errno));
			exit(1);
		}
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
		fprintf(stderr, "%s: bind/listen port %d: %s\n", prog, port, strerror(errno));
		exit(1);
	}
	return fd;
}

#endif /* MWT_LISTEN_H */
