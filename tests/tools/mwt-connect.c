// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-connect: a test client.
 *
 *   mwt-connect [-m] [-t TIMEOUT_MS] ADDR PORT
 *
 * Connects to ADDR (an IPv4 or IPv6 literal) with a socket of that family; -m uses an AF_INET6
 * socket with IPV6_V6ONLY=0 and, for an IPv4 ADDR, its v4-mapped form (a dual-stack client).
 * Prints the first line the server sends, or "ERR <errno name>" (ECONNREFUSED, ETIMEDOUT,
 * ECONNRESET, ...), or "ERR EOF" when the server closed without sending anything. The whole
 * exchange is bounded by TIMEOUT_MS (default 3000): past it, "ERR ETIMEDOUT".
 * Exit 0 when a line or an ERR was printed, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np, accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mwt-util.h"

#define LINE_MAX_LEN 4096

static void usage(void)
{
	fprintf(stderr, "usage: mwt-connect [-m] [-t TIMEOUT_MS] ADDR PORT\n");
	exit(2);
}

static int fail(int err)
{
	const char *name = strerrorname_np(err);

	if (name)
		printf("ERR %s\n", name);
	else
		printf("ERR %d\n", err);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char line[LINE_MAX_LEN];
	int mapped = 0, opt, fd, err, zero = 0;
	long timeout = 3000, port;
	struct in_addr a4;
	int64_t deadline;
	socklen_t sl, el;
	size_t len = 0;

	while ((opt = getopt(argc, argv, "mt:")) != -1) {
		switch (opt) {
		case 'm': mapped = 1; break;
		case 't':
			timeout = mwt_parse_num(optarg, 1, 3600 * 1000);
			if (timeout < 0) {
				fprintf(stderr, "mwt-connect: -t %s: not a timeout in ms\n",
					optarg);
				exit(2);
			}
			break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	port = mwt_parse_num(argv[optind + 1], 1, 65535);
	if (port < 0) {
		fprintf(stderr, "mwt-connect: %s: not a port in 1..65535\n", argv[optind + 1]);
		exit(2);
	}

	if (inet_pton(AF_INET, argv[optind], &a4) == 1) {
		if (mapped) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr.s6_addr[10] = 0xff;
			sin6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&sin6->sin6_addr.s6_addr[12], &a4, sizeof(a4));
			sin6->sin6_port = htons((uint16_t)port);
			sl = sizeof(*sin6);
		} else {
			sin->sin_family = AF_INET;
			sin->sin_addr = a4;
			sin->sin_port = htons((uint16_t)port);
			sl = sizeof(*sin);
		}
	} else if (inet_pton(AF_INET6, argv[optind], &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	} else {
		fprintf(stderr, "mwt-connect: %s: not an IPv4 or IPv6 literal\n", argv[optind]);
		exit(2);
	}

	deadline = mwt_now_ms() + timeout;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(errno);
	if (ss.ss_family == AF_INET6 && mapped &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		return fail(errno);

	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		if (errno != EINPROGRESS)
			return fail(errno);
		err = mwt_wait_fd(fd, POLLOUT, deadline);
		if (err)
			return fail(err);
		el = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return fail(errno);
		if (err)
			return fail(err);
	}

	while (len < sizeof(line) - 1) {
		ssize_t r;
		char *nl;

		err = mwt_wait_fd(fd, POLLIN, deadline);
		if (err)
			return fail(err);
		r = read(fd, line + len, sizeof(line) - 1 - len);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail(errno);
		}
		if (r == 0)
			break;
		len += (size_t)r;
		line[len] = '\0';
		nl = memchr(line, '\n', len);
		if (nl) {
			len = (size_t)(nl - line);
			break;
		}
	}
	close(fd);
	if (len == 0) {
		printf("ERR EOF\n");
		return 0;
	}
	line[len] = '\0';
	printf("%s\n", line);
	return 0;
}
