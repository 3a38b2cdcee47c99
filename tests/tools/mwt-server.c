// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-server: a test upstream.
 *
 *   mwt-server [-4|-6|-d] -p PORT -n NAME
 *
 * -4 binds 0.0.0.0, -6 binds [::] with IPV6_V6ONLY=1, -d (default) binds [::] dual-stack.
 * Writes "UPSTREAM <NAME> local=<addr:port>" and a newline to each client, then closes.
 * The local address is the accepted socket's, as the kernel reports it ("a.b.c.d:port" or
 * "[addr6]:port", v4-mapped included), i.e. where the client's connection really landed.
 * Prints "ready" on stdout once listening. SIGTERM/SIGINT exit 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np, accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mwt-listen.h"
#include "mwt-util.h"


static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void usage(void)
{
	fprintf(stderr, "usage: mwt-server [-4|-6|-d] -p PORT -n NAME\n");
	exit(2);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv)
{
	enum bind_mode mode = BIND_DUAL;
	struct sigaction sa = {};
	const char *name = NULL;
	int port = -1, fd, opt;

	while ((opt = getopt(argc, argv, "46dp:n:")) != -1) {
		switch (opt) {
		case '4': mode = BIND_V4; break;
		case '6': mode = BIND_V6ONLY; break;
		case 'd': mode = BIND_DUAL; break;
		case 'p':
			port = mwt_parse_port(optarg);
			if (port < 0) {
				fprintf(stderr, "mwt-server: -p %s: not a port in 1..65535\n",
					optarg);
				exit(2);
			}
			break;
		case 'n': name = optarg; break;
		default: usage();
		}
	}
	if (port < 0 || !name || optind != argc)
		usage();

	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = mwt_listen("mwt-server", mode, (int)port, 128);
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		struct sockaddr_storage local = {};
		socklen_t sl = sizeof(local);
		char addr[INET6_ADDRSTRLEN + 16], line[512];
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		int n;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "mwt-server: accept: %s\n", strerror(errno));
			exit(1);
		}
		if (getsockname(cfd, (struct sockaddr *)&local, &sl) < 0)
			snprintf(addr, sizeof(addr), "ERR:%d", errno);
		else
			mwt_format_addr(&local, addr, sizeof(addr));
		n = snprintf(line, sizeof(line), "UPSTREAM %s local=%s\n", name, addr);
		if (n >= (int)sizeof(line))
			n = sizeof(line) - 1;
		write_all(cfd, line, (size_t)n);
		close(cfd);
	}
}
