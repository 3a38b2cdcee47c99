/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Metrics: the kernel's per-destination totals (struct mw_agg) and decision
 * counters, named (workload and service names) and merged into rows whose
 * labels are bounded, then rendered as Prometheus text exposition, as statsd /
 * DogStatsD lines, and closed connections as JSON lines. Pure logic: the agent
 * reads the maps and hands the numbers in.
 */
#ifndef MW_METRICS_H
#define MW_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <meshwarp/abi.h>
#include "config.h"

/* Size of a label value buffer (workload and service names): 63 bytes and a NUL. */
#define MW_LABEL_LEN	64

/* --- names --------------------------------------------------------------- */

/* A service: a name for a set of addresses/CIDRs, optionally restricted to ports. */
struct mw_service {
	char name[MW_LABEL_LEN];
	struct mw_cidr *cidrs;
	size_t n_cidrs;
	uint16_t *ports;	/* host order; empty: every port */
	size_t n_ports;
};

struct mw_names {
	struct mw_service *services;
	size_t n_services;
};

/*
 * Parses the agent's service map, a JSON document:
 *   { "services": [ { "name": "payments", "addresses": ["10.0.1.0/24", "fd00::5"],
 *                     "ports": [8080] }, ... ] }
 * "name" (1..63 bytes) and "addresses" (at least one) are required, "ports" is
 * optional (integers; absent or empty: every port); unknown keys are refused, so
 * that a misspelt key is an error rather than a service that matches everything.
 * Errors name the path: "services[2].addresses[0]: invalid IP or CIDR block [x]".
 * Returns 0, -EINVAL (bad input) or -ENOMEM, with a one-line message in err. On
 * failure n is left empty; mw_names_free() is safe on it either way.
 */
int mw_names_parse(struct mw_names *n, const char *json, char *err, size_t errlen);
void mw_names_free(struct mw_names *n);

/* The service name of (addr, port) (first service listed that matches, the most
 * specific CIDR not required), else the address as text ("10.0.0.5", "fd00::5").
 * addr is 16 bytes, v4-mapped for IPv4; port in host order; n may be NULL. Writes
 * into buf (MW_LABEL_LEN bytes hold any answer) and returns it. */
const char *mw_names_service(const struct mw_names *n, const uint8_t addr[16], uint16_t port,
			     char *buf, size_t len);

/* --- rows ---------------------------------------------------------------- */

struct mw_metric_row {
	char source_workload[MW_LABEL_LEN];
	char destination_service[MW_LABEL_LEN];
	uint16_t destination_port;
	struct mw_agg agg;	/* summed over CPUs and over everything merged into the row */
};

struct mw_metric_set {
	struct mw_metric_row *rows;
	size_t n_rows;
	/* decision counters: per workload, direction, reason (struct mw_counters) */
	struct mw_decision_row {
		char source_workload[MW_LABEL_LEN];
		struct mw_counters c;
	} *decisions;
	size_t n_decisions;
	uint64_t stats[MW_S_MAX];	/* mw_stats_v1 */
	int has_sc;			/* the data path has the local shortcut: sc_events valid */
	uint64_t sc_events[MW_SC_S_MAX];	/* mw_scst_v1 */
	uint32_t route_generation;	/* reserved for routing tables: 0 */
};

/* Adds agg into the row with these labels, creating it. Rows stay sorted by labels
 * (workload, service, then port numerically), so output order is stable. Start from
 * a zeroed set. Returns 0, -EINVAL (a label NULL or longer than 63 bytes) or -ENOMEM;
 * on error the set is unchanged. The same for decision rows, keyed by workload. */
int mw_metric_set_add(struct mw_metric_set *s, const char *workload, const char *service,
		      uint16_t port, const struct mw_agg *agg);
int mw_metric_set_add_decisions(struct mw_metric_set *s, const char *workload,
				const struct mw_counters *c);
void mw_metric_set_free(struct mw_metric_set *s);

/* --- renderers ----------------------------------------------------------- */

/*
 * Prometheus text exposition format 0.0.4, every metric with # HELP and # TYPE:
 *   meshwarp_tcp_connections_opened_total{source_workload,destination_service,destination_port}
 *   meshwarp_tcp_connections_closed_total{...}
 *   meshwarp_tcp_connections_active{...}                      (gauge: opened - closed)
 *   meshwarp_tcp_sent_bytes_total{...}
 *   meshwarp_tcp_received_bytes_total{...}
 *   meshwarp_tcp_connect_failures_total{...,reason="refused|timeout|other"}
 *   meshwarp_tcp_resets_total{...}
 *   meshwarp_tcp_retransmits_total{...}
 *   meshwarp_tcp_rtt_seconds{...} histogram (_bucket{le=...}, _sum, _count)
 *   meshwarp_tcp_connection_duration_seconds{...} histogram
 *   meshwarp_decisions_total{source_workload,direction="egress|ingress",
 *                            action="redirect|bypass|reject",reason=...}
 *   meshwarp_datapath_errors_total{kind=...}                  (from stats)
 *   meshwarp_shortcut_events_total{event=...}                 (has_sc: sc_events, every
 *                                  index mw_sc_event_name names but messages and bytes)
 *   meshwarp_shortcut_messages_total, meshwarp_shortcut_bytes_total   (has_sc)
 * Label values escaped as the format requires (backslash, quote, newline).
 * Histogram buckets: le = 2^i microseconds in seconds for i < MW_HIST_BUCKETS-1, then +Inf;
 * le and _sum are exact decimals of whole microseconds ("0.000001", "1073.741824").
 * Decisions: action "redirect" for MW_R_REDIRECT, "bypass" for the others (no reason
 * maps to "reject" yet); only the reasons a direction can count, zeros included, as
 * every counter here, so that series exist from the start.
 * Returns 0 or a negative errno (write error, the stream is flushed).
 */
int mw_render_prometheus(const struct mw_metric_set *s, FILE *out);

/* A decision reason's name (MW_R_*), as status and the metrics say it; NULL if unknown. */
const char *mw_reason_name(int reason);
/* The reasons a direction (MW_DIR_*) can count, in the order status shows them, ending
 * with -1. */
const int *mw_dir_reasons(unsigned int dir);

/* The name of a shortcut event counter (MW_SC_S_*), as status and the metrics call it;
 * NULL for an index without one. */
const char *mw_sc_event_name(unsigned int idx);

/* The routing table in force, for the agent's /metrics. */
struct mw_wl_gen {
	char workload[80];	/* the workload's name, as in the other series */
	uint64_t gen;		/* its table generation in the kernel (mw_wl_v1) */
};

/*
 * Renders, whoever applied the table (this agent, another, or `meshwarp routes` and
 * `init` without one):
 *   meshwarp_routes_generation{source_workload}     gauge, one per enrolled workload
 *   meshwarp_routes_table_info{version}             gauge 1, only when a table is in force
 *   meshwarp_routes_table_applied_timestamp_seconds gauge, 0 when none is
 * version NULL: no routing table in force (the App Mesh variables decide).
 */
void mw_render_route_state(FILE *out, const char *version, int64_t applied_at,
			   const struct mw_wl_gen *wl, size_t n);

/*
 * statsd lines, DogStatsD tags (what the CloudWatch agent's statsd listener takes):
 *   meshwarp.tcp.connections_opened:3|c|#source_workload:a,destination_service:b,
 *     destination_port:80                            (one line, wrapped here)
 * Counters are sent as the increase since `prev` (NULL: since zero); gauges as values.
 * Histograms are not sent (statsd has no cumulative histogram); rtt and duration go as
 * the mean of the interval in milliseconds: meshwarp.tcp.rtt_ms:0.125|g|#...
 * Counters whose increase is zero are not sent (statsd: absent is zero), gauges always,
 * the means only when connections closed in the interval. A row of prev is matched by
 * its labels; when any counter of a row went down (the maps were recreated), the whole
 * row counts from zero, as one missing from prev does (the stats count as one row).
 * Names: meshwarp.tcp.{connections_opened,connections_closed,sent_bytes,received_bytes,
 * connect_failures (tag reason),resets,retransmits}|c, meshwarp.tcp.connections_active|g,
 * meshwarp.tcp.{rtt_ms,connection_duration_ms}|g, meshwarp.decisions|c (tags direction,
 * action, reason), meshwarp.datapath_errors|c (tag kind). Tag values have ',', '|', '#',
 * ':' and control characters replaced by '_'.
 * Writes one datagram's worth of lines per call of `emit` (at most `mtu` bytes each,
 * lines separated by '\n', never split). A line longer than mtu is left out and the
 * rest still sent. Returns 0, -EINVAL (mtu 0), -ENOMEM, the first negative errno from
 * emit (nothing more is sent), or -EMSGSIZE when a line was left out.
 */
int mw_render_statsd(const struct mw_metric_set *s, const struct mw_metric_set *prev,
		     size_t mtu, int (*emit)(void *ctx, const char *buf, size_t len), void *ctx);

/*
 * One JSON line (with '\n') for a closed connection, keys in this order:
 *   {"time":"2024-05-01T12:00:00.123Z","source_workload":"web","role":"redirected",
 *    "src":"10.0.0.2:40000","dst":"[fd00::5]:443","destination_service":"payments",
 *    "outcome":"normal","duration_s":1.5,"sent_bytes":..,"received_bytes":..,
 *    "segs_out":..,"segs_in":..,"srtt_us":..,"min_rtt_us":..,"retransmits":..,"cookie":..}
 * time is end_ns + boot_to_realtime_ns (UTC, milliseconds); duration_s runs from
 * establishment (from connect() when never established) to close, in whole
 * microseconds. workload NULL: null. names may be NULL. Unknown role or outcome:
 * "unknown". Returns 0, -ENOMEM, -EOVERFLOW (time out of range) or -EIO.
 */
int mw_render_conn_json(const struct mw_conn_event *e, const char *workload,
			const struct mw_names *names, uint64_t boot_to_realtime_ns, FILE *out);
/* The same, with "hop":N after "cookie" when hop is not 0: the app leg's socket cookie that
 * joins the two legs of a sidecar hop (docs/metrics.md). */
int mw_render_conn_json_hop(const struct mw_conn_event *e, const char *workload,
			    const struct mw_names *names, uint64_t boot_to_realtime_ns,
			    uint64_t hop, FILE *out);

/* The tracking switch as written in --tracking, MESHWARP_TRACKING and `meshwarp tracking`:
 * "on"/"1" -> 1, "off"/"0" -> 0, anything else -EINVAL. */
int mw_tracking_parse(const char *s);

/* Fresh counters of a live socket, as sock_diag's tcp_info gives them (the same kernel
 * counters sockops samples). */
struct mw_tcp_fresh {
	uint64_t cookie;
	uint64_t bytes_acked;	/* tcpi_bytes_acked: sequence space, SYN and FIN included */
	uint64_t bytes_received;	/* tcpi_bytes_received: the peer's FIN included */
	uint32_t data_segs_out, data_segs_in, total_retrans;
	uint32_t rtt_us, min_rtt_us;
	uint8_t state;		/* tcpi_state of the same snapshot (TCP_ESTABLISHED...) */
};

/* Puts fresh counters into a live record (c->bytes_* as the application wrote and can read):
 * the SYN of an active socket and the FINs are taken out, as sockops does at a sample; a FIN
 * counts when the record's flags name it or when the snapshot's own state shows it (a FIN
 * that came between reading the record and the snapshot must not count as a byte); nothing
 * goes backwards. */
void mw_conn_refresh(struct mw_conn *c, const struct mw_tcp_fresh *f);

/* Bucket index for a value in microseconds (the kernel computes the same). */
unsigned int mw_hist_bucket(uint64_t us);

#endif /* MW_METRICS_H */
