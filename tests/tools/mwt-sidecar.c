// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-sidecar: a test sidecar that asks for the original destination the way Envoy does.
 *
 *   mwt-sidecar [-4|-6|-d] -p PORT [-l LOGFILE]
 *
 * -4 binds 0.0.0.0, -6 binds [::] with IPV6_V6ONLY=1, -d (default) binds [::] dual-stack.
 * For each accepted connection it writes one line to the client (and appends it to LOGFILE):
 *
 *   SIDECAR orig=<ANSWER> orig6=<ANSWER6>
 *
 * orig is the answer Envoy would use: getsockopt(SOL_IP, SO_ORIGINAL_DST) when the accepted
 * socket's local address is IPv4 or v4-mapped, getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST)
 * otherwise. orig6 is the SOL_IPV6 answer, also asked for v4-mapped local addresses (proxies
 * differ there), and "-" when that question is not asked (IPv4 socket). An answer is
 * "a.b.c.d:port", "[addr6]:port" or "ERR:<errno name>".
 *
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

/* From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, whose includes clash
 * with glibc's netinet/in.h. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

#define ANSWER_LEN (INET6_ADDRSTRLEN + 32)


static void on_term(int sig)
{
	(void)sig;
	/* Every log line is already flushed: nothing to lose. */
	_exit(0);
}

static void usage(void)
{
	fprintf(stderr, "usage: mwt-sidecar [-4|-6|-d] -p PORT [-l LOGFILE]\n");
	exit(2);
}

static void err_answer(char *buf, size_t len, int err)
{
	const char *name = strerrorname_np(err);

	if (name)
		snprintf(buf, len, "ERR:%s", name);
	else
		snprintf(buf, len, "ERR:%d", err);
}

/* Envoy's question for an IPv4 (or v4-mapped) local address. */
static void ask_sol_ip(int fd, char *buf, size_t len)
{
	struct sockaddr_in sin = {};
	socklen_t sl = sizeof(sin);
	char a[INET_ADDRSTRLEN];

	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &sin, &sl) < 0) {
		err_answer(buf, len, errno);
		return;
	}
	inet_ntop(AF_INET, &sin.sin_addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, ntohs(sin.sin_port));
}

/* Envoy's question for an IPv6 local address. */
static void ask_sol_ipv6(int fd, char *buf, size_t len)
{
	struct sockaddr_in6 sin6 = {};
	socklen_t sl = sizeof(sin6);
	char a[INET6_ADDRSTRLEN];

	if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &sin6, &sl) < 0) {
		err_answer(buf, len, errno);
		return;
	}
	inet_ntop(AF_INET6, &sin6.sin6_addr, a, sizeof(a));
	snprintf(buf, len, "[%s]:%u", a, ntohs(sin6.sin6_port));
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* the client went away: nothing to report to it */
		}
		p += w;
		n -= (size_t)w;
	}
}

static void serve(int cfd, FILE *log)
{
	struct sockaddr_storage local = {};
	socklen_t sl = sizeof(local);
	char orig[ANSWER_LEN], orig6[ANSWER_LEN], line[2 * ANSWER_LEN + 32];
	int n;

	strcpy(orig6, "-");
	if (getsockname(cfd, (struct sockaddr *)&local, &sl) < 0) {
		err_answer(orig, sizeof(orig), errno);
	} else if (local.ss_family == AF_INET) {
		ask_sol_ip(cfd, orig, sizeof(orig));
	} else {
		const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&local;

		ask_sol_ipv6(cfd, orig6, sizeof(orig6));
		if (IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr))
			ask_sol_ip(cfd, orig, sizeof(orig));
		else
			strcpy(orig, orig6);
	}

	n = snprintf(line, sizeof(line), "SIDECAR orig=%s orig6=%s\n", orig, orig6);
	write_all(cfd, line, (size_t)n);
	if (log) {
		fputs(line, log);
		fflush(log);
	}
}

int main(int argc, char **argv)
{
	enum bind_mode mode = BIND_DUAL;
	const char *logpath = NULL;
	struct sigaction sa = {};
	FILE *log = NULL;
	int port = -1, fd, opt;

	while ((opt = getopt(argc, argv, "46dp:l:")) != -1) {
		switch (opt) {
		case '4': mode = BIND_V4; break;
		case '6': mode = BIND_V6ONLY; break;
		case 'd': mode = BIND_DUAL; break;
		case 'p':
			port = mwt_parse_port(optarg);
			if (port < 0) {
				fprintf(stderr, "mwt-sidecar: -p %s: not a port in 1..65535\n",
					optarg);
				exit(2);
			}
			break;
		case 'l': logpath = optarg; break;
		default: usage();
		}
	}
	if (port < 0 || optind != argc)
		usage();

	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (logpath) {
		log = fopen(logpath, "a");
		if (!log) {
			fprintf(stderr, "mwt-sidecar: %s: %s\n", logpath, strerror(errno));
			exit(1);
		}
		setvbuf(log, NULL, _IOLBF, 0);
	}

	fd = mwt_listen("mwt-sidecar", mode, (int)port, 128);
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "mwt-sidecar: accept: %s\n", strerror(errno));
			exit(1);
		}
		serve(cfd, log);
		close(cfd);
	}
}
