// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mwb-routes: the two halves of `make bench-routes` (bench/routes.sh).
 *
 *   mwb-routes gen N WORKLOAD [VERSION]
 *       prints a routing table with N rules for WORKLOAD: N - 3 host rules
 *       10.a.b.c (every other one bypass, the rest reject ECONNREFUSED; every third
 *       one only port 443), then 10.0.0.0/8 ports 8000-8999 bypass, 0.0.0.0/0 port 25
 *       reject EACCES, and {} sidecar. The shape of tests/unit/test_routes.c's scale
 *       test, so the two measure the same document.
 *   mwb-routes probe N
 *       prints the address of a host rule of that table that rejects on every port
 *       (near the middle), and one that no host rule covers (10.255.255.254).
 *   mwb-routes connect [-n COUNT] [-w WARMUP] ADDR PORT
 *       COUNT times: socket(), connect() to ADDR:PORT, close(); times connect() alone
 *       and prints "median_us p10_us p90_us errno_name" (the errno of the last attempt,
 *       or OK). A connect that succeeds is closed at once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: mwb-routes gen N WORKLOAD [VERSION] | probe N |\n"
			"       connect [-n COUNT] [-w WARMUP] ADDR PORT\n");
	exit(2);
}

static long num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		usage();
	return v;
}

/* Host rule i: 10.(i >> 16).(i >> 8).i; every other one rejects, every third one is port 443 only. */
static int gen(long n, const char *wl, const char *version)
{
	long i, hosts = n - 3;

	printf("{\"version\": \"%s\", \"workloads\": [{\"workload\": \"%s\", \"rules\": [\n",
	       version, wl);
	for (i = 0; i < hosts; i++)
		printf("{\"match\": {\"destination\": \"10.%ld.%ld.%ld\"%s}, \"action\": %s},\n",
		       (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, i % 3 ? "" : ", \"port\": 443",
		       i % 2 ? "\"bypass\"" : "{\"reject\": \"ECONNREFUSED\"}");
	printf("{\"match\": {\"destination\": \"10.0.0.0/8\", \"ports\": \"8000-8999\"}, "
	       "\"action\": \"bypass\"},\n"
	       "{\"match\": {\"destination\": \"0.0.0.0/0\", \"port\": 25}, "
	       "\"action\": {\"reject\": \"EACCES\"}},\n"
	       "{\"match\": {}, \"action\": \"sidecar\"}]}]}\n");
	return ferror(stdout) ? 1 : 0;
}

static int probe(long n)
{
	long hosts = n - 3, i = hosts / 2 / 6 * 6 + 2;	/* even (reject), not a multiple of 3 */

	if (i >= hosts) {
		fprintf(stderr, "mwb-routes: %ld rules hold no rejecting host rule\n", n);
		return 1;
	}
	printf("10.%ld.%ld.%ld 10.255.255.254\n", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int connect_loop(int argc, char **argv)
{
	long count = 2000, warmup = 200, i;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int opt, last = 0;
	double *t;

	while ((opt = getopt(argc, argv, "n:w:")) != -1) {
		switch (opt) {
		case 'n':
			count = num(optarg, 1, 10000000);
			break;
		case 'w':
			warmup = num(optarg, 0, 10000000);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || inet_pton(AF_INET, argv[optind], &sa.sin_addr) != 1)
		usage();
	sa.sin_port = htons((uint16_t)num(argv[optind + 1], 1, 65535));
	t = calloc((size_t)count, sizeof(*t));
	if (!t)
		return 1;
	for (i = -warmup; i < count; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		double t0, t1;
		int r;

		if (fd < 0) {
			perror("socket");
			return 1;
		}
		t0 = now_us();
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		t1 = now_us();
		last = r ? errno : 0;
		close(fd);
		if (i >= 0)
			t[i] = t1 - t0;
	}
	qsort(t, (size_t)count, sizeof(*t), cmp_double);
	printf("%.2f %.2f %.2f %s\n", t[count / 2], t[count / 10], t[count * 9 / 10],
	       last ? strerrorname_np(last) : "OK");
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "gen"))
		return gen(num(argv[2], 4, 16000000), argv[3], argc > 4 ? argv[4] : "bench");
	if (argc == 3 && !strcmp(argv[1], "probe"))
		return probe(num(argv[2], 4, 16000000));
	if (argc >= 2 && !strcmp(argv[1], "connect"))
		return connect_loop(argc - 1, argv + 1);
	usage();
	return 2;
}
