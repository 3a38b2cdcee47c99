// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-xfer: a test client whose byte counts are known end to end (the peer of mwt-sink).
 *
 *   mwt-xfer [-n COUNT] [-s SEND] [-r RECV] [-c] [-H FILE] [-t TIMEOUT_MS] ADDR PORT
 *
 * Opens COUNT (default 1) connections to ADDR:PORT (an IPv4 or IPv6 literal), one after the
 * other. On each: writes exactly SEND bytes, reads exactly RECV bytes, then
 *   - default: reads the peer's EOF (the peer closes first; a byte more is an error), closes;
 *   - -c: closes first, right after the RECV bytes (the peer waits for our EOF: mwt-sink -e).
 * -H FILE (with COUNT 1): once the bytes are through, prints "held" and keeps the connection
 * open until FILE exists (60 s at most), then goes on as above.
 * Every step is bounded by TIMEOUT_MS (default 5000).
 * Prints "ok COUNT sent=S received=R" (totals) when every connection went as described, else
 * "ERR <errno name> (connection I)" for the first that did not ("ERR EOF": the peer closed
 * early, "ERR EXTRA": it sent more than RECV bytes), and exits 1. Exit 2 on usage errors.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mwt-util.h"

#define BUF_LEN 65536
#define E_EOF	-1
#define E_EXTRA	-2

static long timeout_ms = 5000;

static void usage(void)
{
	fprintf(stderr, "usage: mwt-xfer [-n COUNT] [-s SEND] [-r RECV] [-c] [-H FILE] "
		"[-t TIMEOUT_MS] ADDR PORT\n");
	exit(2);
}

/* Waits for events on fd, timeout_ms at most; 0, or a positive errno. */
static int wait_fd(int fd, short events)
{
	return mwt_wait_fd(fd, events, mwt_now_ms() + timeout_ms);
}

static int do_connect(const struct sockaddr_storage *ss, socklen_t sl, int *out)
{
	int fd, err;
	socklen_t el = sizeof(err);

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)ss, sl) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			close(fd);
			return err;
		}
		err = wait_fd(fd, POLLOUT);
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			close(fd);
			return err;
		}
	}
	*out = fd;
	return 0;
}

static int send_exact(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n < BUF_LEN ? n : BUF_LEN, MSG_NOSIGNAL);
		int err;

		if (w < 0 && errno == EAGAIN) {
			err = wait_fd(fd, POLLOUT);
			if (err)
				return err;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes (n 0: nothing), or with eof, then expects EOF. */
static int recv_exact(int fd, char *buf, size_t n, int eof)
{
	for (;;) {
		size_t want = eof && !n ? 1 : n < BUF_LEN ? n : BUF_LEN;
		ssize_t r;
		int err;

		if (!n && !eof)
			return 0;
		r = recv(fd, buf, want, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			err = wait_fd(fd, POLLIN);
			if (err)
				return err;
			continue;
		}
		if (r < 0)
			return errno;
		if (r == 0)
			return n ? E_EOF : 0;
		if (!n)
			return E_EXTRA;
		n -= (size_t)r;
	}
}

static void hold(const char *file)
{
	struct stat st;
	int i;

	printf("held\n");
	fflush(stdout);
	for (i = 0; i < 6000 && stat(file, &st) < 0; i++)
		usleep(10000);
}

static int fail(int err, long i)
{
	const char *name = err == E_EOF ? "EOF" : err == E_EXTRA ? "EXTRA" : strerrorname_np(err);

	if (name)
		printf("ERR %s (connection %ld)\n", name, i);
	else
		printf("ERR %d (connection %ld)\n", err, i);
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	long count = 1, send_n = 0, recv_n = 0, port, i;
	const char *hold_file = NULL;
	int client_first = 0, opt, fd = -1, err;
	socklen_t sl;
	char *buf;

	while ((opt = getopt(argc, argv, "n:s:r:cH:t:")) != -1) {
		switch (opt) {
		case 'n': count = mwt_parse_num(optarg, 1, 10000000); break;
		case 's': send_n = mwt_parse_num(optarg, 0, 1L << 40); break;
		case 'r': recv_n = mwt_parse_num(optarg, 0, 1L << 40); break;
		case 'c': client_first = 1; break;
		case 'H': hold_file = optarg; break;
		case 't': timeout_ms = mwt_parse_num(optarg, 1, 3600 * 1000); break;
		default: usage();
		}
	}
	if (count < 0 || send_n < 0 || recv_n < 0 || timeout_ms < 0 || argc - optind != 2 ||
	    (hold_file && count != 1))
		usage();
	port = mwt_parse_num(argv[optind + 1], 1, 65535);
	if (port < 0)
		usage();
	if (inet_pton(AF_INET, argv[optind], &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, argv[optind], &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	} else {
		fprintf(stderr, "mwt-xfer: %s: not an IPv4 or IPv6 literal\n", argv[optind]);
		exit(2);
	}
	buf = malloc(BUF_LEN);
	if (!buf)
		return 1;
	memset(buf, 'c', BUF_LEN);

	for (i = 1; i <= count; i++) {
		err = do_connect(&ss, sl, &fd);
		if (err)
			return fail(err, i);
		err = send_exact(fd, buf, (size_t)send_n);
		if (!err)
			err = recv_exact(fd, buf, (size_t)recv_n, 0);
		if (!err && hold_file)
			hold(hold_file);
		if (!err && !client_first)
			err = recv_exact(fd, buf, 0, 1);
		close(fd);
		if (err)
			return fail(err, i);
	}
	printf("ok %ld sent=%ld received=%ld\n", count, count * send_n, count * recv_n);
	return 0;
}
