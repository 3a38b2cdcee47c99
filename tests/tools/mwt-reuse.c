// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-reuse: a test client that connects from a fixed source port, again and again.
 *
 *   mwt-reuse [-b BIND_ADDR] [-s SPORT] [-n COUNT] [-t TIMEOUT_MS] ADDR PORT
 *
 * COUNT times (default 1): a socket of ADDR's family with SO_REUSEADDR, bound to
 * BIND_ADDR (default the wildcard) and SPORT (default 0: the kernel picks), connects to
 * ADDR PORT, reads the first line, then reads on until the server closes, and only then
 * closes. The server closes first, so the TIME_WAIT state stays on the server's side and
 * the next round's SYN, from the same source port, meets it. Prints one line per round:
 * the server's line, "ERR <errno name>" (ECONNREFUSED, ETIMEDOUT, EADDRINUSE, ...), or
 * "ERR EOF" when the server closed without sending anything. Each round is bounded by
 * TIMEOUT_MS (default 3000). Exit 0 when every round printed, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np */
#endif
#include <arpa/inet.h>
#include <errno.h>
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
	fprintf(stderr,
		"usage: mwt-reuse [-b BIND_ADDR] [-s SPORT] [-n COUNT] [-t TIMEOUT_MS] ADDR PORT\n");
	exit(2);
}

static long num_arg(const char *opt, const char *s, long min, long max)
{
	long v = mwt_parse_num(s, min, max);

	if (v < 0) {
		fprintf(stderr, "mwt-reuse: %s %s: not a number in %ld..%ld\n", opt, s, min, max);
		exit(2);
	}
	return v;
}

static void print_err(int err)
{
	const char *name = strerrorname_np(err);

	if (name)
		printf("ERR %s\n", name);
	else
		printf("ERR %d\n", err);
}

/* An IPv4 or IPv6 literal and a port into ss; returns the address length, 0 if not one. */
static socklen_t make_addr(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
	return 0;
}

/* One round; prints its line. Returns 0, or a positive errno when nothing was read. */
static int round_trip(const struct sockaddr_storage *dst, socklen_t dl,
		      const struct sockaddr_storage *src, socklen_t sl, long timeout)
{
	char line[LINE_MAX_LEN], drain[256];
	int64_t deadline = mwt_now_ms() + timeout;
	int fd, err = 0, one = 1, have_line = 0;
	socklen_t el = sizeof(err);
	size_t len = 0;

	fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)src, sl) < 0) {
		err = errno;
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)dst, dl) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto out;
		}
		err = mwt_wait_fd(fd, POLLOUT, deadline);
		if (err)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err)
			goto out;
	}

	/* The first line, then everything up to the server's FIN. */
	for (;;) {
		char *buf = have_line ? drain : line + len;
		size_t room = have_line ? sizeof(drain) : sizeof(line) - 1 - len;
		ssize_t r;

		if (!have_line && room == 0) {
			have_line = 1;
			continue;
		}
		err = mwt_wait_fd(fd, POLLIN, deadline);
		if (err)
			break;
		r = read(fd, buf, room);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = errno;
			break;
		}
		if (r == 0)
			break;
		if (!have_line) {
			char *nl;

			len += (size_t)r;
			line[len] = '\0';
			nl = memchr(line, '\n', len);
			if (nl) {
				len = (size_t)(nl - line);
				have_line = 1;
			}
		}
	}
	if (len > 0) {
		line[len] = '\0';
		/* A line but no FIN in time: the server did not close first. */
		if (err)
			printf("%s (then ERR %s)\n", line, strerrorname_np(err) ?: "?");
		else
			printf("%s\n", line);
		err = 0;
	} else if (!err) {
		printf("ERR EOF\n");
	}
out:
	close(fd);
	return err;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst, src;
	const char *bind_addr = NULL;
	long count = 1, timeout = 3000, sport = 0, port, i;
	socklen_t dl, sl;
	int opt;

	while ((opt = getopt(argc, argv, "b:s:n:t:")) != -1) {
		switch (opt) {
		case 'b': bind_addr = optarg; break;
		case 's': sport = num_arg("-s", optarg, 0, 65535); break;
		case 'n': count = num_arg("-n", optarg, 1, 1000); break;
		case 't': timeout = num_arg("-t", optarg, 1, 3600 * 1000); break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	port = num_arg("PORT", argv[optind + 1], 1, 65535);
	dl = make_addr(argv[optind], (uint16_t)port, &dst);
	if (!dl) {
		fprintf(stderr, "mwt-reuse: %s: not an IPv4 or IPv6 literal\n", argv[optind]);
		exit(2);
	}
	if (bind_addr) {
		sl = make_addr(bind_addr, (uint16_t)sport, &src);
		if (!sl || src.ss_family != dst.ss_family) {
			fprintf(stderr, "mwt-reuse: -b %s: not a literal of %s's family\n",
				bind_addr, argv[optind]);
			exit(2);
		}
	} else {
		sl = make_addr(dst.ss_family == AF_INET ? "0.0.0.0" : "::", (uint16_t)sport, &src);
	}

	for (i = 0; i < count; i++) {
		int err = round_trip(&dst, dl, &src, sl, timeout);

		if (err)
			print_err(err);
		fflush(stdout);
	}
	return 0;
}
