// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-udp: a UDP listener that keeps datagram boundaries (a statsd collector for tests).
 *
 *   mwt-udp [-b ADDR] -p PORT -o FILE
 *
 * Binds ADDR (an IPv4 or IPv6 literal, default 127.0.0.1) and PORT, and appends every datagram
 * to FILE followed by a newline (statsd datagrams hold lines separated by newlines, the last one
 * without: this keeps the last line of one datagram apart from the first of the next), then a
 * line "--" that ends the datagram. Prints "ready" on stdout once bound. SIGTERM/SIGINT exit 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void usage(void)
{
	fprintf(stderr, "usage: mwt-udp [-b ADDR] -p PORT -o FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static char buf[65536];
	struct sockaddr_storage ss = {};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	const char *addr = "127.0.0.1", *file = NULL;
	struct sigaction sa = {};
	int fd, out, opt, rcvbuf = 4 << 20;
	long port = -1;
	socklen_t sl;
	char *end;

	while ((opt = getopt(argc, argv, "b:p:o:")) != -1) {
		switch (opt) {
		case 'b': addr = optarg; break;
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*end || port < 1 || port > 65535)
				usage();
			break;
		case 'o': file = optarg; break;
		default: usage();
		}
	}
	if (port < 0 || !file || optind != argc)
		usage();
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	} else {
		usage();
	}
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	out = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "mwt-udp: %s: %s\n", file, strerror(errno));
		exit(1);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "mwt-udp: socket: %s\n", strerror(errno));
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		fprintf(stderr, "mwt-udp: bind %s:%ld: %s\n", addr, port, strerror(errno));
		exit(1);
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct iovec iov[2];

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "mwt-udp: recv: %s\n", strerror(errno));
			exit(1);
		}
		iov[0] = (struct iovec){ .iov_base = buf, .iov_len = (size_t)n };
		iov[1] = (struct iovec){ .iov_base = "\n--\n", .iov_len = 4 };
		if (writev(out, iov, 2) < 0) {
			fprintf(stderr, "mwt-udp: write: %s\n", strerror(errno));
			exit(1);
		}
	}
}
