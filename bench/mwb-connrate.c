// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mwb-connrate: new TCP connections per second, one HTTP request each.
 *
 *   mwb-connrate [-c CONC] [-d SECONDS] [-w WARMUP_SECONDS] [-T TIMEOUT_MS] ADDR PORT
 *
 * Keeps CONC connections in flight (default 16). Each one: non-blocking connect() to ADDR:PORT
 * (an IPv4 literal), "GET / HTTP/1.1" once writable, read one complete response (headers and
 * Content-Length bytes of body), then close() with SO_LINGER {1, 0}: an RST, so neither end
 * keeps a TIME_WAIT socket (or a conntrack TIME_WAIT entry) for the 4-tuple and the ephemeral
 * port can be reused at once. That is why this exists instead of `wrk -H "Connection: close"`:
 * with a FIN close, client ports wrap into TIME_WAIT on loopback, and some SYNs then wait for a
 * one-second retransmit (worst behind iptables NAT), which measures TIME_WAIT, not interception.
 *
 * Completions during the first WARMUP_SECONDS (default 0.5) are not counted; then it runs for
 * SECONDS (default 3, fractions allowed). A connection that takes longer than TIMEOUT_MS
 * (default 2000) is aborted and counted as an error. Prints one line:
 *
 *   CONNRATE conns=N seconds=S cps=X errors=E p50_us=A p99_us=B max_us=C total=T
 *
 * where the latencies are per connection, connect() to the end of the response, and T counts
 * every completed connection, warm-up included (for CPU cost per connection). Exit 0 when at
 * least one connection completed, 1 otherwise, 2 on usage errors. The run is bounded in time.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONC 1024
#define RESP_MAX 4096
#define LAT_MAX (1u << 22)	/* latency samples kept; beyond that, a uniform subsample */

static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: mwb-connrate\r\n\r\n";

struct slot {
	int fd;
	int state;		/* 0 idle, 1 connecting, 2 reading */
	int64_t start_ns;
	size_t got;
	char buf[RESP_MAX];
};

static struct slot slots[MAX_CONC];
static uint32_t *lat;		/* microseconds */
static uint64_t nlat, nseen;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void usage(void)
{
	fprintf(stderr, "usage: mwb-connrate [-c CONC] [-d SECONDS] [-w WARMUP_SECONDS] "
			"[-T TIMEOUT_MS] ADDR PORT\n");
	exit(2);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double parse_pos(const char *s, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *s == '\0' || *end != '\0' || !(v >= 0) || v > max)
		usage();
	return v;
}

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void record(uint32_t us)
{
	nseen++;
	if (nlat < LAT_MAX) {
		lat[nlat++] = us;
		return;
	}
	/* reservoir sampling keeps the percentiles unbiased past LAT_MAX samples */
	uint64_t j = xorshift() % nseen;
	if (j < LAT_MAX)
		lat[j] = us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	uint64_t i;

	if (!nlat)
		return 0;
	i = (uint64_t)(p / 100.0 * (double)(nlat - 1) + 0.5);
	return lat[i];
}

/* Complete when the headers are in and Content-Length bytes of body follow them. */
static int response_complete(struct slot *s)
{
	char *hdr_end, *cl;
	long len;

	s->buf[s->got < RESP_MAX ? s->got : RESP_MAX - 1] = '\0';
	hdr_end = strstr(s->buf, "\r\n\r\n");
	if (!hdr_end)
		return 0;
	if (strncmp(s->buf, "HTTP/1.", 7) != 0 || strncmp(s->buf + 8, " 200", 4) != 0)
		return -1;
	cl = strcasestr(s->buf, "\r\nContent-Length:");
	if (!cl || cl > hdr_end)
		return -1;
	len = strtol(cl + 17, NULL, 10);
	if (len < 0 || len > RESP_MAX)
		return -1;
	return (size_t)(hdr_end + 4 - s->buf) + (size_t)len <= s->got ? 1 : 0;
}

static void close_rst(struct slot *s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (s->fd >= 0) {
		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(s->fd);
	}
	s->fd = -1;
	s->state = 0;
}

static int start(int ep, struct slot *s, const struct sockaddr_in *dst)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s->fd < 0)
		return -1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->start_ns = now_ns();
	s->got = 0;
	if (connect(s->fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
		close_rst(s);
		return -1;
	}
	s->state = 1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		close_rst(s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	double secs = 3, warm = 0.5;
	long conc = 16, timeout_ms = 2000;
	int64_t t0, t_meas, t_end, t_hard;
	uint64_t done = 0, errors = 0, total = 0;
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct epoll_event evs[MAX_CONC];
	int ep, opt;
	long i;

	while ((opt = getopt(argc, argv, "c:d:w:T:")) != -1) {
		switch (opt) {
		case 'c': conc = (long)parse_pos(optarg, MAX_CONC); break;
		case 'd': secs = parse_pos(optarg, 3600); break;
		case 'w': warm = parse_pos(optarg, 600); break;
		case 'T': timeout_ms = (long)parse_pos(optarg, 60000); break;
		default: usage();
		}
	}
	if (argc - optind != 2 || conc < 1 || secs <= 0 || timeout_ms < 1)
		usage();
	if (inet_pton(AF_INET, argv[optind], &dst.sin_addr) != 1)
		usage();
	dst.sin_port = htons((uint16_t)parse_pos(argv[optind + 1], 65535));

	lat = malloc(sizeof(*lat) * LAT_MAX);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!lat || ep < 0) {
		perror("mwb-connrate: setup");
		return 1;
	}
	for (i = 0; i < conc; i++)
		slots[i].fd = -1;

	t0 = now_ns();
	t_meas = t0 + (int64_t)(warm * 1e9);
	t_end = t_meas + (int64_t)(secs * 1e9);
	t_hard = t_end + (int64_t)timeout_ms * 1000000 + 1000000000;

	for (;;) {
		int64_t now = now_ns();
		int n;

		if (now >= t_end)
			break;
		for (i = 0; i < conc; i++) {
			struct slot *s = &slots[i];

			if (s->state && now - s->start_ns > timeout_ms * 1000000) {
				close_rst(s);
				errors++;
			}
			if (!s->state && start(ep, s, &dst) < 0)
				errors++;
		}
		if (now >= t_hard)
			break;
		n = epoll_wait(ep, evs, MAX_CONC, 10);
		if (n < 0 && errno != EINTR) {
			perror("mwb-connrate: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct slot *s = evs[i].data.ptr;
			ssize_t r;
			int rc;

			if (s->state == 1) {
				int err = 0;
				socklen_t el = sizeof(err);
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || send(s->fd, request, sizeof(request) - 1, MSG_NOSIGNAL) !=
						   (ssize_t)(sizeof(request) - 1) ||
				    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) < 0) {
					close_rst(s);
					errors++;
					continue;
				}
				s->state = 2;
				continue;
			}
			r = recv(s->fd, s->buf + s->got, RESP_MAX - 1 - s->got, 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				close_rst(s);
				errors++;
				continue;
			}
			s->got += (size_t)r;
			rc = response_complete(s);
			if (rc == 0 && s->got < RESP_MAX - 1)
				continue;
			if (rc == 1) {
				int64_t t = now_ns();

				total++;

				if (t >= t_meas && t < t_end) {
					done++;
					record((uint32_t)((t - s->start_ns) / 1000));
				}
			} else {
				errors++;
			}
			close_rst(s);	/* closing removes it from the epoll set */
		}
	}
	for (i = 0; i < conc; i++)
		if (slots[i].state)
			close_rst(&slots[i]);

	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("CONNRATE conns=%llu seconds=%.3f cps=%.1f errors=%llu p50_us=%u p99_us=%u max_us=%u "
	       "total=%llu\n",
	       (unsigned long long)done, secs, (double)done / secs, (unsigned long long)errors,
	       pct(50), pct(99), nlat ? lat[nlat - 1] : 0, (unsigned long long)total);
	return done ? 0 : 1;
}
