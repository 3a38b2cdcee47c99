// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * meshwarp agent: the node agent. It loads (or adopts) the pinned data path,
 * enrols workloads that `meshwarp init` sends over a root-only Unix socket,
 * serves Prometheus metrics (libmicrohttpd, gzip through zlib), pushes statsd,
 * and writes one JSON line per closed connection. SIGTERM leaves the data path
 * running; --cleanup tears it down on exit.
 *
 * Threads: libmicrohttpd answers scrapes on its own thread, reading the maps
 * (bpf syscalls are thread-safe; the service names are read-only after start);
 * everything else runs in the main loop below.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <zlib.h>

#include "agent.h"
#include "cli.h"
#include "collect.h"
#include "cpclient.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "sdnotify.h"

/* A request carries the caller's APPMESH_* variables: lists can be long. */
#define MW_REQ_MAX	(16 * 1024 * 1024)
#define MW_STATSD_MTU	1400

static volatile sig_atomic_t mw_stop;

/* Routing-table outcomes, for metrics (written by the main loop, read by scrapes). */
static uint64_t mw_route_applies;
static uint64_t mw_route_errors;
static uint64_t mw_cp_errors;
static int64_t mw_route_applied_at;

static void mw_on_signal(int sig)
{
	mw_stop = sig;
}

struct mw_agent {
	struct mw_opts *o;
	struct mw_dp dp;
	struct mw_names names;
	struct MHD_Daemon *http;
	struct ring_buffer *rb;
	FILE *log;
	int statsd_fd;
	int listen_fd;
	uint64_t boot_to_realtime_ns;
	struct mw_metric_set prev;	/* last statsd push */
	int have_prev;
	/* routing tables */
	int inotify_fd;			/* --routes-file's directory */
	time_t cp_next;			/* next control-plane poll */
	unsigned int cp_failures;	/* consecutive, for the backoff */
	char cp_etag[256];		/* of the table in force */
	uint64_t file_hash;		/* of the routes file's content last tried */
	int file_seen;
};

/* FNV-1a: tells a file's new content from the old, nothing more. */
static uint64_t mw_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ (unsigned char)*p++) * 1099511628211ull;
	return h;
}

/* "HOST:PORT", "[V6]:PORT" -> sockaddr. */
static int mw_parse_hostport(const char *s, int socktype, struct sockaddr_storage *ss,
			     socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = socktype, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[128];
	const char *colon, *port;
	int rc;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* --- Prometheus ------------------------------------------------------------ */

static int mw_gzip(const char *in, size_t in_len, char **out, size_t *out_len)
{
	z_stream z = {};
	uLong bound;
	char *buf;

	/* windowBits 15 + 16: a gzip wrapper, which is what Content-Encoding: gzip means. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, in_len) + 32;
	buf = malloc(bound);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = z.total_out;
	deflateEnd(&z);
	return 0;
}

static void mw_render_route_metrics(FILE *f)
{
	fprintf(f, "# HELP meshwarp_routes_applies_total Routing tables applied.\n"
		   "# TYPE meshwarp_routes_applies_total counter\n"
		   "meshwarp_routes_applies_total %" PRIu64 "\n",
		__atomic_load_n(&mw_route_applies, __ATOMIC_RELAXED));
	fprintf(f, "# HELP meshwarp_routes_errors_total Routing tables refused (invalid or not applicable); the last good one stays.\n"
		   "# TYPE meshwarp_routes_errors_total counter\n"
		   "meshwarp_routes_errors_total %" PRIu64 "\n",
		__atomic_load_n(&mw_route_errors, __ATOMIC_RELAXED));
	fprintf(f, "# HELP meshwarp_control_plane_errors_total Failed polls of the control plane.\n"
		   "# TYPE meshwarp_control_plane_errors_total counter\n"
		   "meshwarp_control_plane_errors_total %" PRIu64 "\n",
		__atomic_load_n(&mw_cp_errors, __ATOMIC_RELAXED));
	fprintf(f, "# HELP meshwarp_routes_last_apply_timestamp_seconds When this agent last applied a routing table.\n"
		   "# TYPE meshwarp_routes_last_apply_timestamp_seconds gauge\n"
		   "meshwarp_routes_last_apply_timestamp_seconds %" PRId64 "\n",
		__atomic_load_n(&mw_route_applied_at, __ATOMIC_RELAXED));
}

/* The routing table in force: the generation of each enrolled workload (the kernel's
 * word), and the version and time recorded by whoever applied it last (the state dir). */
static void mw_render_route_state_of(struct mw_agent *a, FILE *f)
{
	struct mw_wl_gen *wl = NULL, *nwl;
	char path[PATH_MAX];
	json_object *applied = NULL, *v, *at;
	const char *version = NULL;
	int64_t when = 0;
	uint64_t k, next;
	size_t n = 0;
	int first = 1;

	while (bpf_map_get_next_key(a->dp.map_fd[MW_MAP_WL], first ? NULL : &k, &next) == 0) {
		struct mw_workload w;

		first = 0;
		k = next;
		if (bpf_map_lookup_elem(a->dp.map_fd[MW_MAP_WL], &k, &w))
			continue;	/* disabled meanwhile */
		nwl = realloc(wl, (n + 1) * sizeof(*wl));
		if (!nwl)
			break;
		wl = nwl;
		mw_workload_name(&a->dp, k, wl[n].workload, sizeof(wl[n].workload));
		wl[n++].gen = w.gen;
	}
	if (snprintf(path, sizeof(path), "%s/routes/applied.json", a->o->state_dir) < (int)sizeof(path))
		applied = json_object_from_file(path);
	if (applied && json_object_object_get_ex(applied, "version", &v) &&
	    json_object_object_get_ex(applied, "applied_at", &at)) {
		version = json_object_get_string(v);
		when = json_object_get_int64(at);
	}
	mw_render_route_state(f, version, when, wl, n);
	json_object_put(applied);
	free(wl);
}

static int mw_render_metrics_text(struct mw_agent *a, char **text, size_t *len)
{
	struct mw_metric_set set;
	FILE *f;
	int err;

	err = mw_collect(&a->dp, &a->names, &set);
	if (err)
		return err;
	f = open_memstream(text, len);
	if (!f) {
		mw_metric_set_free(&set);
		return -ENOMEM;
	}
	err = mw_render_prometheus(&set, f);
	if (!err) {
		mw_render_route_metrics(f);
		mw_render_route_state_of(a, f);
	}
	if (fclose(f) && !err)
		err = -EIO;
	mw_metric_set_free(&set);
	if (err) {
		free(*text);
		*text = NULL;
	}
	return err;
}

static enum MHD_Result mw_http(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **req_cls)
{
	static const char not_found[] = "not found: try /metrics\n";
	struct mw_agent *a = cls;
	struct MHD_Response *resp;
	const char *accept;
	char *text = NULL, *gz = NULL;
	size_t len = 0, gz_len = 0;
	enum MHD_Result ret;
	int err;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		resp = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
						       MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	err = mw_render_metrics_text(a, &text, &len);
	if (err) {
		static const char failed[] = "collecting metrics failed\n";

		pr_warn("collecting metrics: %s\n", strerror(-err));
		resp = MHD_create_response_from_buffer(sizeof(failed) - 1, (void *)failed,
						       MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (accept && strstr(accept, "gzip") && mw_gzip(text, len, &gz, &gz_len) == 0) {
		free(text);
		resp = MHD_create_response_from_buffer(gz_len, gz, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	} else {
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int mw_http_start(struct mw_agent *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (mw_parse_hostport(a->o->metrics_addr, SOCK_STREAM, &ss, &len)) {
		pr_warn("--metrics-addr: %s is not HOST:PORT with a numeric host\n", a->o->metrics_addr);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	a->http = MHD_start_daemon(flags, 0, NULL, NULL, mw_http, a, MHD_OPTION_SOCK_ADDR,
				   (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
				   (unsigned int)10, MHD_OPTION_END);
	if (!a->http) {
		pr_warn("serving metrics on %s failed (address in use?)\n", a->o->metrics_addr);
		return -EADDRINUSE;
	}
	pr_info("metrics on http://%s/metrics\n", a->o->metrics_addr);
	return 0;
}

/* --- statsd ---------------------------------------------------------------- */

static int mw_statsd_emit(void *ctx, const char *buf, size_t len)
{
	struct mw_agent *a = ctx;

	/* A collector that is not there (ECONNREFUSED) must not stop the agent. */
	if (send(a->statsd_fd, buf, len, 0) < 0 && errno != ECONNREFUSED)
		return -errno;
	return 0;
}

static void mw_statsd_push(struct mw_agent *a)
{
	struct mw_metric_set set;
	int err;

	if (a->statsd_fd < 0 || mw_collect(&a->dp, &a->names, &set))
		return;
	err = mw_render_statsd(&set, a->have_prev ? &a->prev : NULL, MW_STATSD_MTU, mw_statsd_emit, a);
	if (err)
		pr_warn("statsd push: %s\n", strerror(-err));
	if (a->have_prev)
		mw_metric_set_free(&a->prev);
	a->prev = set;
	a->have_prev = 1;
}

static int mw_statsd_open(struct mw_agent *a)
{
	struct sockaddr_storage ss;
	socklen_t len;

	a->statsd_fd = -1;
	if (!a->o->statsd_addr)
		return 0;
	if (mw_parse_hostport(a->o->statsd_addr, SOCK_DGRAM, &ss, &len)) {
		pr_warn("--statsd: %s is not HOST:PORT with a numeric host\n", a->o->statsd_addr);
		return -EINVAL;
	}
	a->statsd_fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->statsd_fd < 0 || connect(a->statsd_fd, (struct sockaddr *)&ss, len) < 0) {
		pr_warn("statsd %s: %s\n", a->o->statsd_addr, strerror(errno));
		return -errno;
	}
	pr_info("statsd to %s every %d s\n", a->o->statsd_addr, a->o->statsd_interval);
	return 0;
}

/* --- connection log -------------------------------------------------------- */

static int mw_on_event(void *ctx, void *data, size_t size)
{
	struct mw_agent *a = ctx;
	const struct mw_conn_event *e = data;
	__u64 hop = 0;
	char wl[80];

	if (!a->log || size < sizeof(*e))
		return 0;
	mw_workload_name(&a->dp, e->c.netns, wl, sizeof(wl));
	/* The hop: the app leg's cookie, on its own line and on the sidecar leg joined to it. */
	if (e->c.role == MW_ROLE_REDIRECTED)
		hop = e->cookie;
	else if (e->c.role == MW_ROLE_SIDECAR && a->dp.hop_fd >= 0 &&
		 !bpf_map_lookup_elem(a->dp.hop_fd, &e->cookie, &hop))
		bpf_map_delete_elem(a->dp.hop_fd, &e->cookie);
	mw_render_conn_json_hop(e, wl, &a->names, a->boot_to_realtime_ns, hop, a->log);
	fflush(a->log);
	return 0;
}

static uint64_t mw_boot_to_realtime(void)
{
	struct timespec mono, real;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	return ((uint64_t)real.tv_sec - (uint64_t)mono.tv_sec) * 1000000000ull +
	       (uint64_t)real.tv_nsec - (uint64_t)mono.tv_nsec;
}

/* --- enrolment socket ------------------------------------------------------ */

static int mw_listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		pr_warn("--socket: path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			pr_warn("mkdir %s: %s\n", dir, strerror(errno));
			return -errno;
		}
	}
	memcpy(sun.sun_path, path, strlen(path));
	unlink(path);	/* a stale socket of an agent that died */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 64) < 0) {
		int err = -errno;

		pr_warn("enrolment socket %s: %s\n", path, strerror(errno));
		close(fd);
		return err;
	}
	pr_info("enrolment socket %s\n", path);
	return fd;
}

/*
 * Runs init for the caller's network namespace in a child: the child enters the
 * namespace of the peer process (from SO_PEERCRED, never from the request: a pod
 * can only enrol itself), takes the request's variables as its environment and
 * runs the same code as a standalone `meshwarp init`. Its stderr becomes the
 * answer's message.
 */
/*
 * Reads a child's output (its stdout and stderr share the pipe) to the end, keeping the
 * start in msg (a child blocked on a full pipe would never exit), and reaps it. Returns
 * its exit status, MW_EXIT_FAIL when it did not exit normally. Closes rfd.
 */
static int mw_child_wait(pid_t child, int rfd, char *msg, size_t msglen)
{
	ssize_t n, got = 0;
	int status = 0;

	for (;;) {
		char sink[4096];

		if (got < (ssize_t)msglen - 1)
			n = read(rfd, msg + got, msglen - 1 - (size_t)got);
		else
			n = read(rfd, sink, sizeof(sink));
		if (n <= 0)
			break;
		if (got < (ssize_t)msglen - 1)
			got += n;
	}
	msg[got] = '\0';
	close(rfd);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status))
		return MW_EXIT_FAIL;
	return WEXITSTATUS(status);
}

static int mw_enrol_child(struct mw_agent *a, pid_t peer, const char *op, json_object *env,
			  char *msg, size_t msglen)
{
	char path[64], *argv[] = { "init", (char *)op, NULL };
	int pipefd[2], nsfd;
	pid_t child;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)peer);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		snprintf(msg, msglen, "the caller's network namespace (%s): %s", path, strerror(errno));
		return MW_EXIT_FAIL;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(nsfd);
		snprintf(msg, msglen, "pipe: %s", strerror(errno));
		return MW_EXIT_FAIL;
	}
	child = fork();
	if (child == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		if (setns(nsfd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "entering the caller's network namespace: %s\n", strerror(errno));
			_exit(MW_EXIT_FAIL);
		}
		clearenv();
		json_object_object_foreach(env, key, val) {
			if ((!strncmp(key, "APPMESH_", 8) || !strncmp(key, "MESHWARP_", 9)) &&
			    json_object_is_type(val, json_type_string))
				setenv(key, json_object_get_string(val), 1);
		}
		/* The agent's own data path, whatever the caller thought. */
		unsetenv("MESHWARP_PIN_DIR");
		unsetenv("MESHWARP_CGROUP");
		setenv("MESHWARP_STANDALONE", "1", 1);
		/* Tracking is host-wide: the agent's to set (--tracking, `meshwarp tracking`),
		 * not a pod's. */
		a->o->tracking = -1;
		if (getenv("MESHWARP_TRACKING")) {
			fprintf(stderr, "MESHWARP_TRACKING is the node's setting (meshwarp agent --tracking, meshwarp tracking): ignored here\n");
			unsetenv("MESHWARP_TRACKING");
		}
		a->o->sc_hold = -1;
		if (getenv("MESHWARP_SHORTCUT_HOLD")) {
			fprintf(stderr, "MESHWARP_SHORTCUT_HOLD is the node's setting (meshwarp agent --shortcut-hold): ignored here\n");
			unsetenv("MESHWARP_SHORTCUT_HOLD");
		}
		_exit(mw_cmd_init(a->o, 2, argv));
	}
	close(pipefd[1]);
	close(nsfd);
	if (child < 0) {
		close(pipefd[0]);
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		return MW_EXIT_FAIL;
	}
	return mw_child_wait(child, pipefd[0], msg, msglen);
}

/*
 * A routing table sent by `meshwarp routes apply` (or `rollback`): applied by a child
 * (its messages captured for the caller, its memory gone when it exits), counted in
 * the agent's metrics like the file's and the control plane's.
 */
static int mw_routes_child(struct mw_agent *a, const char *text, size_t len, const char *origin,
			   char *msg, size_t msglen)
{
	int pipefd[2], code;
	pid_t child;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(msg, msglen, "pipe: %s", strerror(errno));
		return MW_EXIT_FAIL;
	}
	child = fork();
	if (child == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		_exit(mw_routes_apply_text(a->o, text, len, origin) ? MW_EXIT_FAIL : MW_EXIT_OK);
	}
	close(pipefd[1]);
	if (child < 0) {
		close(pipefd[0]);
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		return MW_EXIT_FAIL;
	}
	code = mw_child_wait(child, pipefd[0], msg, msglen);
	__atomic_add_fetch(code ? &mw_route_errors : &mw_route_applies, 1, __ATOMIC_RELAXED);
	if (!code)
		__atomic_store_n(&mw_route_applied_at, (int64_t)time(NULL), __ATOMIC_RELAXED);
	return code;
}

static void mw_reply(int fd, int code, const char *msg)
{
	json_object *r = json_object_new_object();
	const char *s;

	json_object_object_add(r, "ok", json_object_new_boolean(code == 0));
	json_object_object_add(r, "exit", json_object_new_int(code));
	json_object_object_add(r, "message", json_object_new_string(msg));
	s = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN);
	if (send(fd, s, strlen(s), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
		pr_debug("reply: %s\n", strerror(errno));
	json_object_put(r);
}

static void mw_serve_one(struct mw_agent *a, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char *buf, msg[8192] = "";
	json_object *req = NULL, *op, *env, *pin;
	ssize_t n, got = 0;
	int code;

	size_t cap = 64 * 1024;

	buf = calloc(1, cap + 1);
	if (!buf)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		mw_reply(fd, MW_EXIT_FAIL, "no peer credentials");
		goto out;
	}
	if (cred.uid != 0) {
		mw_reply(fd, MW_EXIT_FAIL, "enrolment is for root only");
		goto out;
	}
	/* One line of JSON, read whole (up to MW_REQ_MAX). */
	while ((n = read(fd, buf + got, cap - (size_t)got)) > 0) {
		got += n;
		if (memchr(buf + got - n, '\n', (size_t)n))
			break;
		if ((size_t)got == cap) {
			char *nb;

			if (cap >= MW_REQ_MAX) {
				mw_reply(fd, MW_EXIT_USAGE, "request larger than 16 MiB");
				goto out;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				goto out;
			buf = nb;
		}
	}
	buf[got] = '\0';
	req = json_tokener_parse(buf);
	if (!req || !json_object_object_get_ex(req, "op", &op)) {
		mw_reply(fd, MW_EXIT_USAGE, "bad request: want {\"op\": \"enable|disable|routes-apply\", ...}");
		goto out;
	}
	if (json_object_object_get_ex(req, "pin_dir", &pin) &&
	    strcmp(json_object_get_string(pin), a->o->pin_dir)) {
		snprintf(msg, sizeof(msg), "this agent serves %s, not %s", a->o->pin_dir,
			 json_object_get_string(pin));
		mw_reply(fd, MW_EXIT_NOT_LOADED, msg);
		goto out;
	}
	if (!strcmp(json_object_get_string(op), "routes-apply")) {
		json_object *table, *origin;
		const char *from;

		if (!json_object_object_get_ex(req, "table", &table) ||
		    !json_object_is_type(table, json_type_string)) {
			mw_reply(fd, MW_EXIT_USAGE, "bad request: routes-apply wants \"table\": the document as a string");
			goto out;
		}
		from = json_object_object_get_ex(req, "origin", &origin) ?
		       json_object_get_string(origin) : "meshwarp routes";
		code = mw_routes_child(a, json_object_get_string(table),
				       (size_t)json_object_get_string_len(table), from, msg, sizeof(msg));
		pr_info("routes apply from pid %d (%s): exit %d\n", (int)cred.pid, from, code);
		mw_reply(fd, code, msg);
		goto out;
	}
	if (!json_object_object_get_ex(req, "env", &env) || !json_object_is_type(env, json_type_object)) {
		mw_reply(fd, MW_EXIT_USAGE, "bad request: want {\"op\": \"enable|disable\", \"env\": {...}}");
		goto out;
	}
	if (strcmp(json_object_get_string(op), "enable") && strcmp(json_object_get_string(op), "disable")) {
		mw_reply(fd, MW_EXIT_USAGE, "op must be enable, disable or routes-apply");
		goto out;
	}
	code = mw_enrol_child(a, cred.pid, json_object_get_string(op), env, msg, sizeof(msg));
	pr_info("%s for pid %d: exit %d\n", json_object_get_string(op), (int)cred.pid, code);
	mw_reply(fd, code, msg);
out:
	json_object_put(req);
	free(buf);
}

/* --- routing tables --------------------------------------------------------- */

/*
 * Applies a routing table from one of the agent's sources and records the
 * outcome for metrics. A bad table changes nothing: the last good one stays.
 */
static int mw_agent_apply(struct mw_agent *a, const char *text, size_t len, const char *origin)
{
	int err = mw_routes_apply_text(a->o, text, len, origin);

	__atomic_add_fetch(err ? &mw_route_errors : &mw_route_applies, 1, __ATOMIC_RELAXED);
	if (!err)
		__atomic_store_n(&mw_route_applied_at, (int64_t)time(NULL), __ATOMIC_RELAXED);
	return err;
}

static void mw_routes_file_apply(struct mw_agent *a)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = fopen(a->o->routes_file, "re");
	if (!f) {
		pr_warn("--routes-file %s: %s\n", a->o->routes_file, strerror(errno));
		__atomic_add_fetch(&mw_route_errors, 1, __ATOMIC_RELAXED);
		return;
	}
	text = calloc(1, 64u << 20);
	if (text)
		len = fread(text, 1, (64u << 20) - 1, f);
	fclose(f);
	if (!text)
		return;
	/* Events come for every file of the directory (a ConfigMap volume swaps a
	 * ..data symlink, editors write temporaries): apply only new content. */
	if (a->file_seen && mw_hash(text, len) == a->file_hash) {
		free(text);
		return;
	}
	a->file_seen = 1;
	a->file_hash = mw_hash(text, len);
	if (!mw_agent_apply(a, text, len, a->o->routes_file))
		pr_info("applied %s\n", a->o->routes_file);
	free(text);
}

/* Watches the file's directory: editors and `mv` replace files, which a watch on
 * the file itself would lose. */
static int mw_routes_watch(struct mw_agent *a)
{
	char dir[PATH_MAX], *slash;

	a->inotify_fd = -1;
	if (!a->o->routes_file)
		return 0;
	snprintf(dir, sizeof(dir), "%s", a->o->routes_file);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	a->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (a->inotify_fd < 0 ||
	    inotify_add_watch(a->inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		pr_warn("watching %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	pr_info("watching %s\n", a->o->routes_file);
	if (access(a->o->routes_file, F_OK) == 0)
		mw_routes_file_apply(a);
	return 0;
}

static void mw_routes_watch_event(struct mw_agent *a)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int hit = 0;
	ssize_t n;

	while ((n = read(a->inotify_fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)p;

			/* Any file finished or moved in: the file itself, or the ..data
			 * symlink a Kubernetes ConfigMap volume swaps in. */
			if (ev->len)
				hit = 1;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (hit)
		mw_routes_file_apply(a);
}

static void mw_cp_poll(struct mw_agent *a)
{
	struct mw_cp_result r = {};
	char err[512] = "";
	unsigned int delay;
	int ret;

	ret = mw_cp_fetch(&a->o->cp, a->cp_etag, &r, err, sizeof(err));
	if (!ret && r.status == 200) {
		ret = mw_agent_apply(a, r.body, r.len, a->o->cp.url);
		if (!ret)
			snprintf(a->cp_etag, sizeof(a->cp_etag), "%s", r.etag);
		else
			snprintf(err, sizeof(err), "control plane %s: the table was not applied",
				 a->o->cp.url);
	}
	if (ret) {
		pr_warn("%s; the routing table in force stays\n", err);
		__atomic_add_fetch(&mw_cp_errors, 1, __ATOMIC_RELAXED);
		a->cp_failures++;
		delay = mw_cp_backoff_ms(1000, (unsigned int)a->o->cp_interval * 1000, a->cp_failures,
					 (uint32_t)random());
	} else {
		a->cp_failures = 0;
		delay = (unsigned int)a->o->cp_interval * 1000;
	}
	mw_cp_result_free(&r);
	a->cp_next = time(NULL) + (time_t)((delay + 999) / 1000);
}

/* --- main loop ------------------------------------------------------------- */

static void mw_agent_close(struct mw_agent *a)
{
	if (a->http)
		MHD_stop_daemon(a->http);
	ring_buffer__free(a->rb);
	if (a->log && a->log != stdout)
		fclose(a->log);
	if (a->statsd_fd >= 0)
		close(a->statsd_fd);
	if (a->listen_fd >= 0) {
		close(a->listen_fd);
		unlink(a->o->socket_path);
	}
	if (a->have_prev)
		mw_metric_set_free(&a->prev);
	if (a->inotify_fd >= 0)
		close(a->inotify_fd);
	mw_names_free(&a->names);
	mw_dp_close(&a->dp);
}

static int mw_load_names(struct mw_agent *a)
{
	char err[256] = "", *text = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (!a->o->services)
		return 0;
	f = fopen(a->o->services, "re");
	if (!f) {
		pr_warn("--services %s: %s\n", a->o->services, strerror(errno));
		return -errno;
	}
	text = calloc(1, 1 << 20);
	if (text)
		len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	if (!text)
		return -ENOMEM;
	text[len] = '\0';
	ret = mw_names_parse(&a->names, text, err, sizeof(err));
	free(text);
	if (ret)
		pr_warn("%s: %s\n", a->o->services, err);
	return ret;
}

static void mw_agent_notify_ready(struct mw_agent *a)
{
	char msg[PATH_MAX + 64];
	int err;

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=data path at %s, enrolment socket %s",
		 a->o->pin_dir, a->o->socket_path);
	err = mw_sd_notify(msg);
	if (err)
		pr_warn("NOTIFY_SOCKET: %s (systemd will not see the agent ready)\n", strerror(-err));
}

int mw_cmd_agent(struct mw_opts *o, int argc, char **argv)
{
	struct mw_agent a = { .o = o, .statsd_fd = -1, .listen_fd = -1, .inotify_fd = -1 };
	struct sigaction sa = { .sa_handler = mw_on_signal };
	struct pollfd pfd[3];
	time_t next_push;
	int err;

	if (argc > 1) {
		fprintf(stderr, "usage: meshwarp agent [options] (meshwarp --help lists them)\n");
		return MW_EXIT_USAGE;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = mw_load_names(&a);
	if (err)
		return MW_EXIT_FAIL;
	/* Load, attach and pin what is missing, then let go of the lock: the
	 * children that enrol workloads take it. */
	err = mw_reach_bpffs(o->pin_dir);
	if (!err)
		err = mw_opts_cgroup(o);
	if (!err)
		err = mw_dp_open(&a.dp, o->pin_dir, o->cgroup, MW_DP_CREATE | MW_DP_LOCK);
	if (!err) {
		mw_dp_close(&a.dp);
		err = mw_dp_open(&a.dp, o->pin_dir, NULL, 0);
	}
	if (err) {
		pr_warn("data path at %s: %s\n", o->pin_dir, strerror(-err));
		mw_names_free(&a.names);
		return MW_EXIT_FAIL;
	}
	pr_info("data path pinned at %s, attached to %s\n", o->pin_dir, o->cgroup);
	if (o->tracking >= 0) {
		err = mw_dp_tracking_set(&a.dp, o->tracking);
		if (err)
			goto out;
	}
	pr_info("connection tracking %s\n", mw_dp_tracking(&a.dp) == 0 ? "off" : "on");
	if (o->sc_hold >= 0) {
		err = mw_dp_sc_hold_set(&a.dp, o->sc_hold);
		if (err)
			goto out;
	}

	a.boot_to_realtime_ns = mw_boot_to_realtime();
	if (o->conn_log) {
		a.log = strcmp(o->conn_log, "-") ? fopen(o->conn_log, "ae") : stdout;
		if (!a.log) {
			pr_warn("--conn-log %s: %s\n", o->conn_log, strerror(errno));
			err = -errno;
			goto out;
		}
	}
	/* Always drain the events, so a full buffer means the agent is behind, not gone. */
	a.rb = ring_buffer__new(a.dp.events_fd, mw_on_event, &a, NULL);
	if (!a.rb) {
		err = -errno;
		pr_warn("ring buffer: %s\n", strerror(-err));
		goto out;
	}
	err = mw_statsd_open(&a);
	if (!err)
		err = mw_http_start(&a);
	if (err)
		goto out;
	a.listen_fd = mw_listen_unix(o->socket_path);
	if (a.listen_fd < 0) {
		err = a.listen_fd;
		goto out;
	}
	err = mw_routes_watch(&a);
	if (err)
		goto out;
	if (o->cp.url)
		pr_info("polling %s every %d s\n", o->cp.url, o->cp_interval);
	/* systemd (Type=notify): the socket listens and /metrics answers from here on. */
	mw_agent_notify_ready(&a);

	next_push = time(NULL) + o->statsd_interval;
	pfd[0] = (struct pollfd){ .fd = ring_buffer__epoll_fd(a.rb), .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = a.listen_fd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = a.inotify_fd, .events = POLLIN };
	while (!mw_stop) {
		int n = poll(pfd, 3, 1000);

		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN))
			ring_buffer__consume(a.rb);
		if (n > 0 && (pfd[1].revents & POLLIN)) {
			int c = accept4(a.listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				mw_serve_one(&a, c);
				close(c);
			}
		}
		if (n > 0 && (pfd[2].revents & POLLIN))
			mw_routes_watch_event(&a);
		if (o->cp.url && time(NULL) >= a.cp_next)
			mw_cp_poll(&a);
		if (time(NULL) >= next_push) {
			mw_statsd_push(&a);
			next_push = time(NULL) + o->statsd_interval;
		}
	}
	ring_buffer__consume(a.rb);
	mw_statsd_push(&a);	/* what happened since the last push */
	mw_sd_notify("STOPPING=1");
	pr_info("stopping (signal %d)%s\n", (int)mw_stop,
		o->cleanup ? ": tearing the data path down" : ": the data path keeps running");
	err = 0;
out:
	mw_agent_close(&a);
	if (o->cleanup && mw_dp_unload(o->pin_dir))
		return MW_EXIT_FAIL;
	return err ? MW_EXIT_FAIL : MW_EXIT_OK;
}

/* --- the client side: init asks the agent first ---------------------------- */

extern char **environ;

/*
 * Sends one request to the agent serving o->pin_dir and copies its messages to stderr.
 * Returns its exit code, or -ENOENT when no agent serves o->pin_dir. Consumes req.
 */
static int mw_agent_call(const struct mw_opts *o, json_object *req)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	json_object *resp = NULL, *v;
	char buf[16384];
	const char *s;
	ssize_t n, got = 0;
	int fd, code = -1;

	if (getenv("MESHWARP_STANDALONE") || strlen(o->socket_path) >= sizeof(sun.sun_path)) {
		json_object_put(req);
		return -ENOENT;
	}
	memcpy(sun.sun_path, o->socket_path, strlen(o->socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		json_object_put(req);
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		json_object_put(req);
		return -ENOENT;	/* no agent: standalone */
	}
	json_object_object_add(req, "pin_dir", json_object_new_string(o->pin_dir));
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	/* MSG_NOSIGNAL: an agent that goes away must not kill the caller with SIGPIPE. */
	if (send(fd, s, strlen(s), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
		goto out;
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = '\0';
	resp = json_tokener_parse(buf);
	if (!resp || !json_object_object_get_ex(resp, "exit", &v))
		goto out;
	code = json_object_get_int(v);
	if (code == MW_EXIT_NOT_LOADED) {
		/* The agent serves another pin directory: not ours to use. */
		pr_debug("agent at %s: %s\n", o->socket_path,
			 json_object_get_string(json_object_object_get(resp, "message")));
		code = -ENOENT;
		goto out;
	}
	s = json_object_get_string(json_object_object_get(resp, "message"));
	if (s && *s)
		fputs(s, stderr);
	pr_debug("the agent at %s did it: exit %d\n", o->socket_path, code);
out:
	json_object_put(req);
	json_object_put(resp);
	close(fd);
	return code;
}

int mw_agent_request(const struct mw_opts *o, const char *op)
{
	json_object *req = json_object_new_object(), *env = json_object_new_object();
	char **e;

	for (e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		char key[128];

		if (!eq || (size_t)(eq - *e) >= sizeof(key))
			continue;
		if (strncmp(*e, "APPMESH_", 8) && strncmp(*e, "MESHWARP_", 9))
			continue;
		memcpy(key, *e, (size_t)(eq - *e));
		key[eq - *e] = '\0';
		json_object_object_add(env, key, json_object_new_string(eq + 1));
	}
	json_object_object_add(req, "op", json_object_new_string(op));
	json_object_object_add(req, "env", env);
	return mw_agent_call(o, req);
}

int mw_agent_routes_apply(const struct mw_opts *o, const char *text, size_t len, const char *origin)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "op", json_object_new_string("routes-apply"));
	json_object_object_add(req, "origin", json_object_new_string(origin));
	json_object_object_add(req, "table", json_object_new_string_len(text, (int)len));
	return mw_agent_call(o, req);
}
