// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-sink: a test upstream whose byte counts are known end to end.
 *
 *   mwt-sink [-4|-6|-d] -p PORT [-r READ] [-w WRITE] [-e] [-R]
 *
 * -4 binds 0.0.0.0, -6 binds [::] with IPV6_V6ONLY=1, -d (default) binds [::] dual-stack.
 * Each accepted connection is served on a thread of its own:
 *   - reads exactly READ bytes (default 0), then writes exactly WRITE bytes (default 0);
 *   - default: then closes first (shutdown(SHUT_WR), reads the client's EOF, close);
 *   - -e: then waits for the client's EOF before closing (the client closes first);
 *   - -R: nothing of the above: as soon as accepted, SO_LINGER {1, 0} and close (a RST).
 * A connection that sends more than READ bytes, or ends early, is counted as bad.
 * Prints "ready" on stdout once listening. SIGUSR1 prints "served N bad M" on stdout.
 * SIGTERM/SIGINT exit 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "mwt-listen.h"
#include "mwt-util.h"

#define BUF_LEN 65536


static size_t opt_read, opt_write;
static int opt_client_first, opt_reset;
static atomic_ulong served, bad;
static volatile sig_atomic_t report;

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void on_usr1(int sig)
{
	(void)sig;
	report = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: mwt-sink [-4|-6|-d] -p PORT [-r READ] [-w WRITE] [-e] [-R]\n");
	exit(2);
}

/* Reads exactly n bytes; 0 on success, -1 on EOF, error or timeout. */
static int read_exact(int fd, char *buf, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, buf, n < BUF_LEN ? n : BUF_LEN);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		n -= (size_t)r;
	}
	return 0;
}

static int write_exact(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n < BUF_LEN ? n : BUF_LEN);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		n -= (size_t)w;
	}
	return 0;
}

/* Waits for the client's EOF; 0 when it came with no byte before it. */
static int read_eof(int fd, char *buf)
{
	for (;;) {
		ssize_t r = read(fd, buf, BUF_LEN);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return 0;
		return -1;
	}
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct timeval tv = { .tv_sec = 30 };
	char *buf = malloc(BUF_LEN);
	int ok = 0;

	if (!buf)
		goto out;
	if (opt_reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		ok = 1;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(buf, 'x', BUF_LEN);
	if (read_exact(fd, buf, opt_read))
		goto out;
	memset(buf, 'y', BUF_LEN);
	if (write_exact(fd, buf, opt_write))
		goto out;
	if (!opt_client_first)
		shutdown(fd, SHUT_WR);
	ok = read_eof(fd, buf) == 0;
out:
	close(fd);
	free(buf);
	if (ok)
		atomic_fetch_add(&served, 1);
	else
		atomic_fetch_add(&bad, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	enum bind_mode mode = BIND_DUAL;
	struct sigaction sa = {};
	pthread_attr_t attr;
	int fd, opt;
	long port = -1, v;

	while ((opt = getopt(argc, argv, "46dp:r:w:eR")) != -1) {
		switch (opt) {
		case '4': mode = BIND_V4; break;
		case '6': mode = BIND_V6ONLY; break;
		case 'd': mode = BIND_DUAL; break;
		case 'p':
			port = mwt_parse_num(optarg, 1, 65535);
			if (port < 0)
				usage();
			break;
		case 'r':
		case 'w':
			v = mwt_parse_num(optarg, 0, 1L << 40);
			if (v < 0)
				usage();
			*(opt == 'r' ? &opt_read : &opt_write) = (size_t)v;
			break;
		case 'e': opt_client_first = 1; break;
		case 'R': opt_reset = 1; break;
		default: usage();
		}
	}
	if (port < 0 || optind != argc)
		usage();

	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = mwt_listen("mwt-sink", mode, (int)port, 4096);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (report) {
			report = 0;
			printf("served %lu bad %lu\n", atomic_load(&served), atomic_load(&bad));
			fflush(stdout);
		}
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "mwt-sink: accept: %s\n", strerror(errno));
			exit(1);
		}
		if (pthread_create(&t, &attr, serve, (void *)(intptr_t)cfd)) {
			fprintf(stderr, "mwt-sink: pthread_create failed\n");
			close(cfd);
			atomic_fetch_add(&bad, 1);
		}
	}
}
