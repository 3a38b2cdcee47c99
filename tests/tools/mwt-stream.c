// SPDX-License-Identifier: GPL-2.0
/*
 * mwt-stream: both directions of a TCP connection at once, every byte checked.
 *
 *   mwt-stream -l PORT [-4|-6] [options]        server: each accepted connection on a thread
 *   mwt-stream [options] ADDR PORT              client
 *
 * options (the same on both sides; each side applies them to what it does):
 *   -s BYTES   bytes to send after the 8-byte seed header (default 0)
 *   -r BYTES   bytes expected from the peer, then its EOF (default 0)
 *   -w SIZE    bytes per send() (default 65536)
 *   -b SIZE    read buffer (default 65536)
 *   -m MODE    how to read: "plain" (poll, recv until EAGAIN) or "fionread": nginx's way,
 *              edge-triggered epoll, FIONREAD after a read that filled the buffer, then only
 *              the bytes FIONREAD announced until the next edge
 *   -d USEC    sleep this long after every read (a slow reader)
 *   -H         half-close: shutdown(SHUT_WR) once everything is sent, keep reading
 *   -c CONC    client: connections at once (default 1), -n COUNT in all (default CONC)
 *   -t MS      give up when no byte moves either way for this long (default 10000)
 *   -S SEED    client: base seed (default 1); connection i uses SEED + i
 *   -P FILE    once half of -s is sent, print "paused" and send nothing more until FILE
 *              exists (reading goes on); with -c 1 -n 1
 *
 * Without -H the server closes once it has sent and received everything and the client reads
 * up to that EOF; with -H both shut down their sending side and read up to the other's EOF.
 * Each connection starts with the client's seed (8 bytes); the two directions' bytes come from
 * xorshift64* generators seeded from it, so every byte of every connection is known to both
 * ends and compared on arrival. Client prints "ok CONNS sent=S received=R" or, for the first
 * connection that failed, "ERR MISMATCH at N", "ERR STALL at N (K readable)", "ERR EOF at N",
 * "ERR EXTRA", or "ERR <errno name>", and exits 1. The server prints "ready", then one line per
 * connection that failed; SIGUSR1 prints "served N bad M". Exit 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BUF		(1 << 20)
#define E_MISMATCH	-1
#define E_STALL		-2
#define E_EOF		-3
#define E_EXTRA		-4
#define C2S_SALT	0x6d77632d73747265ull
#define S2C_SALT	0x6d77732d63737472ull

struct opts {
	long long send, recv;
	long wsize, bsize, delay_us, timeout_ms;
	int fionread, half_close;
	const char *pause_file;
};

static struct opts o = { .wsize = 65536, .bsize = 65536, .timeout_ms = 10000 };
static atomic_ulong served, bad;
static atomic_ulong total_sent, total_recv;
static volatile sig_atomic_t report;

struct gen {
	uint64_t s;
	uint8_t buf[8];
	int used;	/* bytes of buf consumed */
};

static void gen_init(struct gen *g, uint64_t seed)
{
	g->s = seed ? seed : 1;
	g->used = 8;
}

static uint8_t gen_byte(struct gen *g)
{
	if (g->used == 8) {
		uint64_t x = g->s;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		g->s = x;
		x *= 0x2545f4914f6cdd1dull;
		memcpy(g->buf, &x, 8);
		g->used = 0;
	}
	return g->buf[g->used++];
}

static void gen_fill(struct gen *g, uint8_t *p, size_t n)
{
	while (n--)
		*p++ = gen_byte(g);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long parse_num(const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

struct conn {
	int fd;
	struct gen tx, rx;
	long long sent, got;
	long long fail_at;
	int readable_at_stall;
	int wr_done, eof;
	int paused;	/* -P: 1 while waiting for the file, 2 once past it */
	int available;	/* fionread mode: -1 unknown, else what FIONREAD announced, minus reads */
	int ready;	/* fionread mode: may read without waiting for an edge */
	uint8_t *wbuf, *rbuf, *ebuf;
	size_t wlen, woff;
};

static int conn_write(struct conn *c)
{
	while (c->sent < o.send) {
		ssize_t w;

		if (o.pause_file && c->paused < 2 && c->sent >= o.send / 2 && c->woff == c->wlen) {
			struct stat st;

			if (!c->paused) {
				c->paused = 1;
				printf("paused\n");
				fflush(stdout);
			}
			if (stat(o.pause_file, &st) < 0)
				return 0;
			c->paused = 2;
		}

		if (c->woff == c->wlen) {
			long long left = o.send - c->sent;

			c->wlen = (size_t)(left < o.wsize ? left : o.wsize);
			gen_fill(&c->tx, c->wbuf, c->wlen);
			c->woff = 0;
		}
		w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w < 0)
			return errno;
		c->woff += (size_t)w;
		c->sent += w;
	}
	if (!c->wr_done) {
		c->wr_done = 1;
		if (o.half_close && shutdown(c->fd, SHUT_WR) < 0)
			return errno;
	}
	return 0;
}

/* Checks n received bytes against the generator. */
static int conn_check(struct conn *c, ssize_t n)
{
	ssize_t i;

	if (c->got + n > o.recv) {
		c->fail_at = c->got;
		return E_EXTRA;
	}
	gen_fill(&c->rx, c->ebuf, (size_t)n);
	for (i = 0; i < n; i++) {
		if (c->rbuf[i] != c->ebuf[i]) {
			c->fail_at = c->got + i;
			return E_MISMATCH;
		}
	}
	c->got += n;
	if (o.delay_us)
		usleep((useconds_t)o.delay_us);
	return 0;
}

/* One recv(); 1 when it moved bytes or saw EOF, 0 on EAGAIN, <0 on error. */
static int conn_recv_once(struct conn *c, ssize_t *out)
{
	ssize_t n = recv(c->fd, c->rbuf, (size_t)o.bsize, 0);
	int err;

	*out = n;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : errno;
	if (n == 0) {
		c->eof = 1;
		if (c->got < o.recv) {
			c->fail_at = c->got;
			return E_EOF;
		}
		return 1;
	}
	err = conn_check(c, n);
	return err ? err : 1;
}

static int conn_read_plain(struct conn *c)
{
	ssize_t n;
	int r;

	while (!c->eof) {
		r = conn_recv_once(c, &n);
		if (r <= 0)
			return r;
	}
	return 0;
}

/* nginx's ngx_unix_recv with epoll and EPOLLRDHUP, around one readiness edge. */
static int conn_read_fionread(struct conn *c, int pending_eof)
{
	ssize_t n;
	int r;

	while (c->ready && !c->eof) {
		if (c->available == 0 && !pending_eof) {
			c->ready = 0;
			return 0;
		}
		r = conn_recv_once(c, &n);
		if (r < 0 || (r > 0 && c->eof))
			return r < 0 ? r : 0;
		if (r == 0) {
			c->ready = 0;
			return 0;
		}
		if (c->available >= 0) {
			c->available -= (int)n;
			if (c->available < 0) {
				c->available = 0;
				c->ready = 0;
			}
		} else if (n == o.bsize) {
			int avail = 0;

			if (ioctl(c->fd, FIONREAD, &avail) < 0)
				return errno;
			c->available = avail;
		}
		if (n < o.bsize) {
			if (!pending_eof)
				c->ready = 0;
			c->available = 0;
		}
	}
	return 0;
}

static int readable_now(int fd)
{
	int n = 0;
	char tmp[MAX_BUF / 16];
	ssize_t r = recv(fd, tmp, sizeof(tmp), MSG_PEEK | MSG_DONTWAIT);

	if (r > 0)
		n = (int)r;
	return n;
}

/* Runs one connection both ways until both directions are complete. */
static int conn_run(int fd, uint64_t seed, int is_client)
{
	struct conn c = { .fd = fd, .fail_at = -1, .available = -1 };
	int64_t last = now_ms();
	int ep = -1, err = 0, flags = 1;

	gen_init(&c.tx, seed ^ (is_client ? C2S_SALT : S2C_SALT));
	gen_init(&c.rx, seed ^ (is_client ? S2C_SALT : C2S_SALT));
	c.wbuf = malloc((size_t)o.wsize);
	c.rbuf = malloc((size_t)o.bsize);
	c.ebuf = malloc((size_t)o.bsize);
	if (!c.wbuf || !c.rbuf || !c.ebuf) {
		err = ENOMEM;
		goto out;
	}
	if (ioctl(fd, FIONBIO, &flags) < 0) {
		err = errno;
		goto out;
	}
	if (o.fionread) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };

		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			err = errno;
			goto out;
		}
	}
	for (;;) {
		long long before = c.sent + c.got;
		int done_w = c.sent >= o.send && c.wr_done;
		/* Without -H the server closes first, once both ways are through; the client reads
		 * up to that EOF (so a byte too many is seen). With -H both wait for the other's. */
		int done_r = c.eof || (!is_client && !o.half_close && c.got == o.recv);
		int pending_eof = 0, wait_ms;

		if (done_w && done_r)
			break;
		wait_ms = (int)(o.timeout_ms - (now_ms() - last));
		if (c.paused == 1) {
			last = now_ms();	/* waiting on purpose is no stall */
			wait_ms = 50;
		}
		if (wait_ms <= 0) {
			c.fail_at = c.got;
			c.readable_at_stall = readable_now(fd);
			err = E_STALL;
			break;
		}
		if (o.fionread) {
			struct epoll_event ev;
			int r = epoll_wait(ep, &ev, 1, wait_ms);

			if (r < 0 && errno != EINTR) {
				err = errno;
				break;
			}
			if (r > 0 && (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
				c.ready = 1;
				c.available = -1;
				pending_eof = !!(ev.events & (EPOLLRDHUP | EPOLLHUP));
			}
			err = conn_read_fionread(&c, pending_eof);
		} else {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (!done_w && c.paused != 1)
				p.events |= POLLOUT;
			if (poll(&p, 1, wait_ms) < 0 && errno != EINTR) {
				err = errno;
				break;
			}
			err = conn_read_plain(&c);
		}
		if (!err && !done_w)
			err = conn_write(&c);
		if (err)
			break;
		if (c.sent + c.got != before)
			last = now_ms();
	}
out:
	atomic_fetch_add(&total_sent, (unsigned long)c.sent);
	atomic_fetch_add(&total_recv, (unsigned long)c.got);
	if (err) {
		const char *name = err == E_MISMATCH ? "MISMATCH" : err == E_STALL ? "STALL" :
				   err == E_EOF ? "EOF" : err == E_EXTRA ? "EXTRA" : strerrorname_np(err);

		if (err == E_STALL)
			printf("ERR STALL at %lld (%d readable, sent %lld of %lld)\n", c.fail_at,
			       c.readable_at_stall, c.sent, o.send);
		else if (err < 0)
			printf("ERR %s at %lld\n", name, c.fail_at);
		else
			printf("ERR %s\n", name ? name : "?");
		fflush(stdout);
	}
	if (ep >= 0)
		close(ep);
	free(c.wbuf);
	free(c.rbuf);
	free(c.ebuf);
	return err;
}

/* --- server ------------------------------------------------------------------------------- */

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg, err;
	uint64_t seed = 0;
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (got < sizeof(seed)) {
		ssize_t n;

		if (poll(&p, 1, (int)o.timeout_ms) <= 0)
			break;
		n = recv(fd, (char *)&seed + got, sizeof(seed) - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	err = got == sizeof(seed) ? conn_run(fd, seed, 0) : EPROTO;
	close(fd);
	atomic_fetch_add(&served, 1);
	if (err)
		atomic_fetch_add(&bad, 1);
	return NULL;
}

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

static int server(int family, long port)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	int ls, one = 1;

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = { .sa_handler = on_usr1 };

		sigaction(SIGUSR1, &sa, NULL);
	}
	ls = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		return 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	}
	if (bind(ls, (struct sockaddr *)&ss, family == AF_INET6 ? sizeof(*sin6) : sizeof(*sin)) ||
	    listen(ls, 1024)) {
		perror("mwt-stream: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		pthread_t t;
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

		if (report) {
			report = 0;
			printf("served %lu bad %lu\n", atomic_load(&served), atomic_load(&bad));
			fflush(stdout);
		}
		if (fd < 0)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd)) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

/* --- client ------------------------------------------------------------------------------- */

static struct sockaddr_storage dst;
static socklen_t dst_len;
static uint64_t base_seed = 1;
static atomic_long next_conn;
static long n_conns = 1;
static atomic_int first_err;

static int client_one(long i)
{
	uint64_t seed = base_seed + (uint64_t)i;
	struct pollfd p;
	int fd, err = 0;
	socklen_t el = sizeof(err);

	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (struct sockaddr *)&dst, dst_len) < 0 && errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, (int)o.timeout_ms) <= 0) {
		err = ETIMEDOUT;
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err)
		goto out;
	/* The seed header: small, before anything else, written whole. */
	if (send(fd, &seed, sizeof(seed), MSG_NOSIGNAL) != sizeof(seed)) {
		err = errno ? errno : EIO;
		goto out;
	}
	err = conn_run(fd, seed, 1);
out:
	close(fd);
	return err;
}

static void *client_thread(void *arg)
{
	long i;

	(void)arg;
	while ((i = atomic_fetch_add(&next_conn, 1)) < n_conns) {
		int err = client_one(i);
		int zero = 0;

		if (err) {
			atomic_compare_exchange_strong(&first_err, &zero, err);
			if (err > 0) {
				const char *name = strerrorname_np(err);

				printf("ERR %s (connection %ld)\n", name ? name : "?", i);
				fflush(stdout);
			}
		}
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: mwt-stream -l PORT [-4|-6] [opts] | mwt-stream [opts] ADDR PORT\n"
		"opts: -s BYTES -r BYTES -w SIZE -b SIZE -m plain|fionread -d USEC -H -c CONC -n COUNT -t MS -S SEED\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long port = -1, conc = 1, i;
	int family = AF_INET, opt, have_n = 0;
	pthread_t *t;

	while ((opt = getopt(argc, argv, "l:46s:r:w:b:m:d:Hc:n:t:S:P:")) != -1) {
		switch (opt) {
		case 'l': port = (long)parse_num(optarg, 1, 65535); if (port < 0) usage(); break;
		case '4': family = AF_INET; break;
		case '6': family = AF_INET6; break;
		case 's': o.send = parse_num(optarg, 0, 1LL << 40); if (o.send < 0) usage(); break;
		case 'r': o.recv = parse_num(optarg, 0, 1LL << 40); if (o.recv < 0) usage(); break;
		case 'w': o.wsize = (long)parse_num(optarg, 1, MAX_BUF); if (o.wsize < 0) usage(); break;
		case 'b': o.bsize = (long)parse_num(optarg, 1, MAX_BUF); if (o.bsize < 0) usage(); break;
		case 'm':
			if (!strcmp(optarg, "fionread"))
				o.fionread = 1;
			else if (strcmp(optarg, "plain"))
				usage();
			break;
		case 'd': o.delay_us = (long)parse_num(optarg, 0, 10000000); if (o.delay_us < 0) usage(); break;
		case 'H': o.half_close = 1; break;
		case 'c': conc = (long)parse_num(optarg, 1, 1000); if (conc < 0) usage(); break;
		case 'n': n_conns = (long)parse_num(optarg, 1, 10000000); have_n = 1; if (n_conns < 0) usage(); break;
		case 't': o.timeout_ms = (long)parse_num(optarg, 1, 3600000); if (o.timeout_ms < 0) usage(); break;
		case 'S': base_seed = (uint64_t)parse_num(optarg, 0, 1LL << 62); break;
		case 'P': o.pause_file = optarg; break;
		default: usage();
		}
	}
	if (port > 0) {
		if (optind != argc)
			usage();
		return server(family, port);
	}
	if (argc - optind != 2)
		usage();
	port = (long)parse_num(argv[optind + 1], 1, 65535);
	if (port < 0)
		usage();
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)&dst;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&dst;

		if (inet_pton(AF_INET, argv[optind], &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			dst_len = sizeof(*sin);
		} else if (inet_pton(AF_INET6, argv[optind], &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			dst_len = sizeof(*sin6);
		} else {
			fprintf(stderr, "mwt-stream: %s: not an IPv4 or IPv6 literal\n", argv[optind]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (!have_n)
		n_conns = conc;
	t = calloc((size_t)conc, sizeof(*t));
	if (!t)
		return 1;
	for (i = 0; i < conc; i++)
		if (pthread_create(&t[i], NULL, client_thread, NULL))
			return 1;
	for (i = 0; i < conc; i++)
		pthread_join(t[i], NULL);
	if (atomic_load(&first_err))
		return 1;
	printf("ok %ld sent=%lu received=%lu\n", n_conns, atomic_load(&total_sent),
	       atomic_load(&total_recv));
	return 0;
}
