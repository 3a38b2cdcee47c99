// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-tally: a test client that makes many connections and counts what each one got.
 *
 *   mwt-tally [-m] [-n COUNT] [-t TIMEOUT_MS] [-g] [-u STOPFILE] ADDR PORT [ADDR PORT ...]
 *
 * Makes COUNT connections (default 1000) one after the other, as fast as it can, cycling over
 * the targets (ADDR is an IPv4 or IPv6 literal; the socket is of its family; -m: an AF_INET6
 * socket with IPV6_V6ONLY=0 and, for an IPv4 ADDR, its v4-mapped form). Each connection's
 * outcome is the first line the server sends, "ERR <errno name>" when connect() or the read
 * fails (ECONNREFUSED, EHOSTUNREACH, ...), or "ERR EOF" when the server closed without a line.
 * Each exchange is bounded by TIMEOUT_MS (default 3000): past it, "ERR ETIMEDOUT".
 * With -g the outcome of a connection that connected ends with " peer=<getpeername()>"
 * ("a.b.c.d:port" or "[addr6]:port"), the address the application sees it connected to.
 * With -u it stops early, before a connection, once STOPFILE exists (COUNT still bounds it).
 *
 * At the end it prints one line per distinct target and outcome, tab-separated, sorted:
 *
 *   <count>\t<addr>:<port>\t<outcome>
 *
 * then "total\t<connections made>". Exit 0, 1 on a setup error (too many distinct outcomes),
 * 2 on usage errors.
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

#define LINE_LEN	512
#define MAX_TARGETS	64
#define MAX_OUTCOMES	4096

struct target {
	struct sockaddr_storage ss;
	socklen_t len;
	char name[INET6_ADDRSTRLEN + 8];
};

struct outcome {
	unsigned int target;
	char text[LINE_LEN + INET6_ADDRSTRLEN + 16];
	unsigned long count;
};

static struct target targets[MAX_TARGETS];
static struct outcome outcomes[MAX_OUTCOMES];
static size_t n_outcomes;

static void usage(void)
{
	fprintf(stderr,
		"usage: mwt-tally [-m] [-n COUNT] [-t TIMEOUT_MS] [-g] [-u STOPFILE] ADDR PORT [ADDR PORT ...]\n");
	exit(2);
}

static void err_text(int err, char *buf, size_t len)
{
	const char *name = strerrorname_np(err);

	if (name)
		snprintf(buf, len, "ERR %s", name);
	else
		snprintf(buf, len, "ERR %d", err);
}

/* One connection to t; its outcome in out. */
static void one(const struct target *t, long timeout, int peer, char *out, size_t outlen)
{
	char line[LINE_LEN], paddr[INET6_ADDRSTRLEN + 16] = "";
	struct sockaddr_storage p = {};
	int64_t deadline = mwt_now_ms() + timeout;
	socklen_t pl = sizeof(p), el;
	size_t len = 0;
	int fd, err, zero = 0;

	fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_text(errno, out, outlen);
		return;
	}
	if (t->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) {
		err_text(errno, out, outlen);
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)&t->ss, t->len) < 0) {
		if (errno != EINPROGRESS) {
			err_text(errno, out, outlen);
			goto out;
		}
		err = mwt_wait_fd(fd, POLLOUT, deadline);
		el = sizeof(err);
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			err_text(err, out, outlen);
			goto out;
		}
	}
	if (peer) {
		if (getpeername(fd, (struct sockaddr *)&p, &pl) < 0)
			err_text(errno, paddr, sizeof(paddr));
		else
			mwt_format_addr(&p, paddr, sizeof(paddr));
	}
	while (len < sizeof(line) - 1) {
		ssize_t r;
		char *nl;

		err = mwt_wait_fd(fd, POLLIN, deadline);
		if (err) {
			err_text(err, out, outlen);
			goto out;
		}
		r = read(fd, line + len, sizeof(line) - 1 - len);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err_text(errno, out, outlen);
			goto out;
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
	line[len] = '\0';
	snprintf(out, outlen, "%s", len ? line : "ERR EOF");
	if (peer) {
		size_t o = strlen(out);

		snprintf(out + o, outlen - o, " peer=%s", paddr);
	}
out:
	close(fd);
}

static int count(unsigned int target, const char *text)
{
	size_t i;

	for (i = 0; i < n_outcomes; i++) {
		if (outcomes[i].target == target && !strcmp(outcomes[i].text, text)) {
			outcomes[i].count++;
			return 0;
		}
	}
	if (n_outcomes == MAX_OUTCOMES)
		return -1;
	outcomes[n_outcomes].target = target;
	snprintf(outcomes[n_outcomes].text, sizeof(outcomes[n_outcomes].text), "%s", text);
	outcomes[n_outcomes].count = 1;
	n_outcomes++;
	return 0;
}

static int cmp_outcome(const void *a, const void *b)
{
	const struct outcome *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return strcmp(x->text, y->text);
}

static int parse_target(struct target *t, const char *addr, const char *port_s, int mapped)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&t->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->ss;
	long port = mwt_parse_num(port_s, 1, 65535);

	if (port < 0)
		return -1;
	memset(t, 0, sizeof(*t));
	if (mapped && inet_pton(AF_INET, addr, &sin6->sin6_addr.s6_addr[12]) == 1) {
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		t->len = sizeof(*sin6);
	} else if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		t->len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		t->len = sizeof(*sin6);
	} else {
		return -1;
	}
	mwt_format_addr(&t->ss, t->name, sizeof(t->name));
	return 0;
}

int main(int argc, char **argv)
{
	const char *stopfile = NULL;
	long n = 1000, timeout = 3000, i;
	unsigned int n_targets = 0;
	char out[sizeof(outcomes[0].text)];
	int opt, peer = 0, mapped = 0;
	size_t k;

	while ((opt = getopt(argc, argv, "mn:t:gu:")) != -1) {
		switch (opt) {
		case 'n':
			n = mwt_parse_num(optarg, 1, 100000000);
			if (n < 0)
				usage();
			break;
		case 't':
			timeout = mwt_parse_num(optarg, 1, 3600 * 1000);
			if (timeout < 0)
				usage();
			break;
		case 'g': peer = 1; break;
		case 'm': mapped = 1; break;
		case 'u': stopfile = optarg; break;
		default: usage();
		}
	}
	if (argc - optind < 2 || (argc - optind) % 2 || (argc - optind) / 2 > MAX_TARGETS)
		usage();
	for (; optind < argc; optind += 2) {
		if (parse_target(&targets[n_targets], argv[optind], argv[optind + 1], mapped)) {
			fprintf(stderr, "mwt-tally: %s %s: not an address literal and a port\n",
				argv[optind], argv[optind + 1]);
			exit(2);
		}
		n_targets++;
	}

	for (i = 0; i < n; i++) {
		unsigned int t = (unsigned int)(i % n_targets);

		if (stopfile && access(stopfile, F_OK) == 0)
			break;
		one(&targets[t], timeout, peer, out, sizeof(out));
		if (count(t, out)) {
			fprintf(stderr, "mwt-tally: more than %d distinct outcomes\n", MAX_OUTCOMES);
			return 1;
		}
	}
	qsort(outcomes, n_outcomes, sizeof(outcomes[0]), cmp_outcome);
	for (k = 0; k < n_outcomes; k++)
		printf("%lu\t%s\t%s\n", outcomes[k].count, targets[outcomes[k].target].name,
		       outcomes[k].text);
	printf("total\t%ld\n", i);
	return 0;
}
