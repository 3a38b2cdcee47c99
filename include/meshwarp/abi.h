/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * meshwarp kernel/user ABI: every map key and value shared by the BPF programs
 * and the user side. This header is the only thing the two sides share.
 *
 * Rules (docs/abi.md explains each map): fixed-width types, explicit byte order,
 * explicit padding, no bool and no enum inside structs, sizes asserted below.
 * Any layout change bumps MW_ABI_VERSION (the _vN suffix of the map names follows from the
 * first release on; docs/abi.md).
 */
#ifndef MESHWARP_ABI_H
#define MESHWARP_ABI_H

#include <linux/types.h>

#define MW_ABI_VERSION	2
#define MW_META_MAGIC	0x4d575250u	/* "MWRP" */

/* Addresses are always 16 bytes: IPv4 is stored v4-mapped (::ffff:a.b.c.d), so one
 * key layout serves v4, v6 and v4-mapped sockets and both ends of a hop agree. */
#define MW_ADDR_LEN	16

/* Prefix bits that precede the address in an LPM key (gen + netns). */
#define MW_LPM_HDR_BITS	96
#define MW_V4_MAPPED_BITS 96

/* Decision reasons, per direction; counters are indexed by these. */
#define MW_R_REDIRECT	0	/* sent to the sidecar */
#define MW_R_LOCAL	1	/* destination is a local address of the namespace */
#define MW_R_UID	2	/* caller's UID is the ignored UID */
#define MW_R_GID	3	/* caller's GID is the ignored GID */
#define MW_R_PORT	4	/* destination port is ignored */
#define MW_R_ADDR	5	/* destination address or CIDR is ignored */
#define MW_R_NO_V6	6	/* IPv6 destination, IPv6 interception off */
#define MW_R_DISABLED	7	/* workload enrolled but disabled */
#define MW_R_RULE	8	/* a route-table rule decided (action in the rule) */
#define MW_R_NO_LISTENER 9	/* ingress, fail-open: sidecar not listening, to the app */
#define MW_R_REFUSED	10	/* ingress, fail-closed: sidecar not listening, reset */
#define MW_R_REJECT	11	/* a route rule rejected the connect */
#define MW_R_FORWARD	12	/* a route rule forwarded it to a service version */
#define MW_R_MAX	16

#define MW_DIR_EGRESS	0
#define MW_DIR_INGRESS	1
#define MW_DIR_MAX	2

/* Rule actions (route table values). */
#define MW_ACT_REDIRECT	0	/* to the sidecar's port */
#define MW_ACT_BYPASS	1	/* leave the connection alone */
#define MW_ACT_REJECT	2	/* fail connect() with the rule's errno */
#define MW_ACT_FORWARD	3	/* connect to one of a service's endpoints, by weight */

/* Workload flags. */
#define MW_WL_F_ENABLED		(1u << 0)
#define MW_WL_F_IPV6		(1u << 1)	/* intercept IPv6 destinations */
#define MW_WL_F_HAS_UID		(1u << 2)
#define MW_WL_F_HAS_GID		(1u << 3)
#define MW_WL_F_FAIL_OPEN	(1u << 4)	/* ingress: sidecar not listening -> to the app */
#define MW_WL_F_SHORTCUT	(1u << 5)	/* the local shortcut on the app-sidecar hop (sk_msg) */
#define MW_WL_F_SHORTCUT_FORCE	(1u << 6)	/* ... even next to other sockmap users of the host */

/* Global statistics (per-CPU array mw_stats_v1, indexed by these). */
#define MW_S_ORIGDST_HIT	0	/* SO_ORIGINAL_DST answered from our map */
#define MW_S_ORIGDST_MISS	1	/* asked on a socket we did not redirect */
#define MW_S_ORIGDST_CT		2	/* conntrack had answered already: left alone */
#define MW_S_ORIG_UPDATE_ERR	3	/* mw_orig_v1 full: sidecar cannot learn the destination */
#define MW_S_SK_STORAGE_ERR	4	/* no socket storage at connect: connection not redirected */
#define MW_S_ORIGDST_INBOUND	5	/* SO_ORIGINAL_DST answered for an inbound (steered) socket */
#define MW_S_LSN_UPDATE_ERR	6	/* the sidecar's listener could not be registered */
#define MW_S_CONN_FULL		7	/* mw_conn_v1 full: a connection is not tracked */
#define MW_S_AGG_FULL		8	/* mw_agg_v1 full: a destination is not aggregated */
#define MW_S_EVENTS_LOST	9	/* ring buffer full: a close event is not in the log */
#define MW_S_MAX		16

/* mw_meta_v1[0]: identifies a pin directory as ours and its ABI. Written once at load. */
struct mw_meta {
	__u32 magic;
	__u32 abi_version;
	__u64 created_ns;	/* CLOCK_REALTIME of the load, for status */
	__u32 pad[2];
};

/* mw_wl_v1: netns cookie -> workload. Written by the user side at enrol; read by connect4/6. */
struct mw_workload {
	__u32 gen;		/* generation of the rule tables in force */
	__u32 flags;		/* MW_WL_F_* */
	__u32 ignore_uid;
	__u32 ignore_gid;
	__be16 egress_port;	/* sidecar's outbound listener */
	__be16 ingress_port;	/* sidecar's inbound listener (0: none) */
	__u32 pad;
};

/* mw_port_v1: (netns, gen, dir, port) -> rule. Exact destination-port rules. */
struct mw_port_key {
	__u64 netns;
	__u32 gen;
	__be16 port;
	__u8 dir;		/* MW_DIR_* */
	__u8 pad;
};

/* Value of mw_port_v1; an entry of mw_cidr_v1's lists. */
struct mw_rule {
	__u8 action;		/* MW_ACT_* */
	__u8 reason;		/* MW_R_* counted when this rule decides */
	__be16 port;		/* MW_ACT_REDIRECT: target port, 0 = the workload's */
	__u32 err;		/* MW_ACT_REJECT: positive errno */
};

/*
 * Value of mw_cidr_v1: the ordered rules that apply to a destination prefix,
 * first match wins. The compiler flattens a routing table so that the longest
 * matching prefix carries every rule that covers it, in the table's order.
 */
#define MW_RULES_PER_DST	8

struct mw_rule_ent {
	__u16 port_lo;		/* host order, inclusive */
	__u16 port_hi;
	struct mw_rule rule;
	__u32 svc;		/* MW_ACT_FORWARD: service id in mw_svc_v1 */
};

struct mw_rule_list {
	__u32 n;		/* entries in use, at most MW_RULES_PER_DST */
	__u32 pad;
	struct mw_rule_ent e[MW_RULES_PER_DST];
};

/* mw_svc_v1: (netns, gen, id) -> a service's endpoints with cumulative weights. */
#define MW_SVC_ENDPOINTS	16

struct mw_svc_key {
	__u64 netns;
	__u32 gen;
	__u32 id;
};

struct mw_endpoint {
	__u8 addr[MW_ADDR_LEN];	/* v4-mapped for IPv4 */
	__be16 port;
	__u16 pad;
	__u32 cum_weight;	/* sum of the weights up to and including this one */
};

struct mw_svc {
	__u32 n;		/* endpoints in use */
	__u32 total_weight;	/* == ep[n-1].cum_weight, > 0 */
	struct mw_endpoint ep[MW_SVC_ENDPOINTS];
};

/*
 * mw_cidr_v1 (LPM trie): (gen, netns, address/prefix) -> struct mw_rule_list.
 * mw_local_v1 (LPM trie): (0, netns, address/prefix) -> __u32: the namespace's own
 * addresses. gen precedes netns so that no padding sits inside the compared bytes.
 * prefixlen = MW_LPM_HDR_BITS + address bits (v4: MW_V4_MAPPED_BITS + mask length).
 */
struct mw_lpm_key {
	__u32 prefixlen;
	__u32 gen;
	__u64 netns;
	__u8 addr[MW_ADDR_LEN];
};

/* mw_ctr_v1 (per-CPU hash): netns cookie -> decision counters. */
struct mw_counters {
	__u64 n[MW_DIR_MAX][MW_R_MAX];
};

/*
 * Socket storage mw_sko_v1: where a connection was going. On every client
 * socket of an enrolled namespace from connect4/6 (the destination the
 * application asked for, and whether it was redirected); on the sidecar's
 * accepted socket (MW_SKO_F_SIDECAR) from sockops, which moves it there from
 * mw_orig_v1, so the answer lives exactly as long as the socket that asks.
 */
#define MW_SKO_F_SIDECAR	(1u << 0)	/* the sidecar's accepted socket: answers SO_ORIGINAL_DST */
#define MW_SKO_F_REDIRECTED	(1u << 1)	/* a client socket sent to the sidecar */
#define MW_SKO_F_OWN		(1u << 2)	/* a client socket of the sidecar itself (ignored UID/GID) */
#define MW_SKO_F_FORWARDED	(1u << 3)	/* sent to a service endpoint: getpeername shows addr */

struct mw_sk_orig {
	__u8 addr[MW_ADDR_LEN];
	__be16 port;
	__u16 pad;
	__u32 flags;
	__u64 netns;
};

/*
 * mw_orig_v1 (LRU hash): a redirected connection as the client sees it (client
 * -> sidecar) -> the original destination. sockops writes it when the client's
 * side is established and takes it out when the sidecar's side is (moving it to
 * that socket's storage). The LRU bound covers sidecars outside the cgroup,
 * whose side sockops never sees.
 */
struct mw_tuple {
	__u64 netns;
	__u8 saddr[MW_ADDR_LEN];
	__u8 daddr[MW_ADDR_LEN];
	__be16 sport;
	__be16 dport;
	__u32 pad;
};

struct mw_origdst {
	__u8 addr[MW_ADDR_LEN];
	__be16 port;
	__u16 pad;
	__u32 flags;
};

/*
 * Connection tracking (sockops). Every TCP connection that a process of an
 * enrolled namespace opens is tracked from connect() to close, as the
 * application sees it: a redirected connection under its original destination,
 * bytes as the application wrote and read them. The sidecar's own connections
 * (ignored UID/GID) are legs of a hop already counted: only their connect
 * failures count, under the destination they failed to reach.
 */
#define MW_ROLE_DIRECT		0	/* the app's connection, not redirected */
#define MW_ROLE_REDIRECTED	1	/* the app's connection, through the sidecar */
#define MW_ROLE_SIDECAR		2	/* the sidecar's own (ignored UID/GID) */
#define MW_ROLE_INBOUND		3	/* accepted by the sidecar's ingress listener for the
					 * workload: saddr the client, daddr what it dialled
					 * (the workload's address and app port); bytes as the
					 * workload sent and received them. Not aggregated. */

#define MW_END_NORMAL		0	/* FIN handshake */
#define MW_END_RESET		1	/* aborted after establishment (RST either way) */
#define MW_END_REFUSED		2	/* connect failed: RST to the SYN */
#define MW_END_TIMEOUT		3	/* connect failed: no answer */
#define MW_END_FAILED		4	/* connect failed otherwise (unreachable, aborted) */
#define MW_END_MAX		8

/* Histograms: bucket i counts values v (microseconds) with 2^(i-1) < v <= 2^i,
 * bucket 0 v <= 1, the last bucket everything above. */
#define MW_HIST_BUCKETS		32

/* mw_conn_v1 (hash by socket cookie): a live connection. sockops writes; `meshwarp
 * conns` reads (the agent learns of closed ones from the ring buffer). */
struct mw_conn {
	__u64 netns;
	__u64 start_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) at connect() */
	__u64 established_ns;	/* 0 until established */
	__u64 bytes_sent;	/* acked bytes the application wrote */
	__u64 bytes_received;	/* bytes the application can read */
	__u64 segs_out;
	__u64 segs_in;
	__u32 srtt_us;		/* smoothed RTT */
	__u32 min_rtt_us;	/* the kernel's minimum RTT, tcp_min_rtt() (0: none) */
	__u32 retransmits;	/* total retransmitted segments */
	__u8 role;		/* MW_ROLE_* */
	__u8 state;		/* TCP state (BPF_TCP_*) */
	__u16 family;
	__u8 saddr[MW_ADDR_LEN];	/* the application's end */
	__u8 daddr[MW_ADDR_LEN];	/* where the application was going */
	__be16 sport;
	__be16 dport;
	__u8 flags;		/* MW_CONN_F_*: which FINs the byte counters include */
	__u8 pad[3];
};

#define MW_CONN_F_FIN_IN	(1u << 0)	/* the peer's FIN arrived (counted in bytes_received) */
#define MW_CONN_F_FIN_OUT	(1u << 1)	/* our FIN was sent */
#define MW_CONN_F_FIN_ACKED	(1u << 2)	/* our FIN was acked (counted in bytes_acked) */

/* Ring buffer mw_events_v1: one record per closed tracked connection. */
struct mw_conn_event {
	struct mw_conn c;
	__u64 end_ns;
	__u64 cookie;
	__u8 end;		/* MW_END_* */
	__u8 pad[7];
};

/* mw_agg_v1 (per-CPU hash): totals per (namespace, destination, port). They are
 * what metrics are made of: exact whatever the agent or the ring buffer did. */
struct mw_agg_key {
	__u64 netns;
	__u8 daddr[MW_ADDR_LEN];
	__be16 dport;
	__u16 pad[3];
};

struct mw_agg {
	__u64 opened;		/* established */
	__u64 closed;		/* established, then closed */
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 retransmits;
	__u64 ends[MW_END_MAX];	/* MW_END_* of every closed or failed connection */
	__u64 rtt_us_sum;	/* of closed connections' final srtt */
	__u64 duration_us_sum;	/* of closed connections, established to close */
	__u64 rtt_hist[MW_HIST_BUCKETS];
	__u64 duration_hist[MW_HIST_BUCKETS];
};

/* mw_name_v1: netns cookie -> the workload's name (MESHWARP_WORKLOAD at init). */
struct mw_name {
	char name[64];
};

/*
 * mw_env_v1: netns cookie -> the APPMESH_* variables the workload was enrolled
 * with, as a JSON object (init writes; `routes apply` reads). A routing table
 * compiles on top of them; kept beside the pins, they live exactly as long as
 * the enrolment. Only the user side touches it.
 */
#define MW_ENV_TEXT_MAX		((1u << 20) - 8)	/* about 60 000 CIDRs */

struct mw_env {
	__u32 len;		/* bytes of text used */
	__u32 pad;
	char text[MW_ENV_TEXT_MAX];
};

/*
 * mw_lsn_v1 (SOCKHASH): (netns, port, family) -> the sidecar's ingress listener.
 * sockops (TCP_LISTEN_CB) and the user side at enrol write; sk_lookup reads. An
 * entry vanishes by itself when its socket closes.
 */
struct mw_lsn_key {
	__u64 netns;
	__be16 port;
	__u16 family;		/* AF_INET or AF_INET6 */
	__u32 slot;		/* 0..MW_LSN_SLOTS-1: one live listener each */
};

/* Listeners of one port (SO_REUSEPORT groups: Envoy's workers, a reload) take a
 * free slot each, so that one closing never hides the others. sk_lookup takes
 * the first present; the kernel then picks within the reuseport group. */
#define MW_LSN_SLOTS		8

/* Socket storage (mw_lsk_v1, cloned to accepted sockets): marks the sidecar's
 * ingress listener, so its accepted sockets can answer SO_ORIGINAL_DST. */
struct mw_sk_lsn {
	__u32 flags;		/* MW_SKL_F_* */
	__be16 port;		/* the listener's port */
	__u16 pad;
};

#define MW_SKL_F_INGRESS	(1u << 0)

/*
 * The local shortcut (docs/shortcut.md). sockops puts both sockets of a connection whose
 * two ends are on this host and in workloads with the shortcut (app-sidecar on loopback,
 * the sidecar's upstream to another pod of the host, sidecar-app) into the sockhash
 * mw_sch_v1, each under its own struct mw_tuple (netns 0 off loopback: the two ends can be
 * in two namespaces); the sk_msg program hands a message to the peer's receive queue (the
 * reversed tuple).
 */

/* mw_scc_v1[0]: host-wide settings of the shortcut. The user side writes it at load
 * and at every enrolment; sockops and sk_msg read it. */
struct mw_sc_conf {
	__u32 flags;		/* MW_SC_C_* */
	__u32 budget;		/* bytes queued on the receiving socket past which a
				 * connection leaves the shortcut for good (0: default) */
	__u32 hold_s;		/* seconds a destination stays off the shortcut once one of
				 * its connections streamed (0: default; see mw_scd_v1) */
	__u32 pad;
};

#define MW_SC_C_READY		(1u << 0)	/* both verdicts (sk_msg, sk_skb) are attached to
						 * mw_sch_v1: nothing joins the shortcut without */
#define MW_SC_C_FOREIGN		(1u << 1)	/* other sockops/sk_msg/sockmap users on the host:
						 * only MW_WL_F_SHORTCUT_FORCE workloads pair */
#define MW_SC_C_NO_HOLD		(1u << 2)	/* no destination is put on hold: every
						 * connection joins (MESHWARP_SHORTCUT_HOLD=0) */
#define MW_SC_BUDGET_DEFAULT	(1u << 20)
#define MW_SC_HOLD_DEFAULT_S	600

/*
 * mw_scs_v1 (hash by the socket's own struct mw_tuple): one socket on the shortcut.
 * sockops creates it when the socket joins and deletes it when the socket closes, so
 * the kernel address in it (not reference-counted) never outlives the socket; the sk_msg
 * verdict updates it (the counters atomically: both sockets' verdicts add to them).
 */
struct mw_sc_sock {
	__u64 sk;		/* the socket's struct sock, read with bpf_probe_read_kernel */
	__u64 cookie;		/* the socket's cookie: conns finds the record's entry by it */
	__u64 sent;		/* bytes this socket handed to its peer */
	__u64 received;		/* bytes its peer handed to it */
	__u32 state;		/* how it sends: MW_SCS_* in bpf/lib/shortcut.bpf.h */
	__u32 flags;		/* MW_SCF_* there */
	__u32 msgs;		/* messages this socket handed to its peer */
	__u32 pad;
};

/* mw_scst_v1 (per-CPU array): what the shortcut did, indexed by these. */
#define MW_SC_S_PAIRED		0	/* a connection's two sockets joined the shortcut */
#define MW_SC_S_UNPAIRED	1	/* the app wrote before a peer joined (late, or a sidecar
					 * sockops never sees): TCP for good */
#define MW_SC_S_OFF_BUDGET	2	/* left: the receiver's queue passed the budget */
#define MW_SC_S_OFF_PEER	3	/* left: the peer's socket is gone or refused the message */
#define MW_SC_S_OFF_CONFIG	4	/* left: the workload's shortcut was turned off */
#define MW_SC_S_INSERT_ERR	5	/* a socket could not join the sockhash (full, or the socket
					 * in another program's sockmap): TCP */
#define MW_SC_S_TABLE_FULL	6	/* mw_scs_v1 full: TCP */
#define MW_SC_S_MSGS		7	/* messages handed over */
#define MW_SC_S_BYTES		8	/* bytes handed over */
#define MW_SC_S_NO_PEER		9	/* a connection off loopback (the sidecar's upstream) wrote
					 * and no peer had joined (off the host, or without the
					 * shortcut): TCP for good */
#define MW_SC_S_MISMATCH	10	/* an accepted socket found a joined socket of its reversed
					 * tuple whose sequence numbers were not its peer's (another
					 * namespace's connection): not paired */
#define MW_SC_S_HOLDS		11	/* a destination was put on hold: a connection to it streamed
					 * one way past the budget, or left for it */
#define MW_SC_S_HELD		12	/* a connection did not join: its destination is on hold */
#define MW_SC_S_NOT_LOCAL	13	/* a sidecar's connection off loopback did not join: its
					 * destination is no address of a workload of this host
					 * with the shortcut (mw_scl_v1) */
#define MW_SC_S_MAX		16

/*
 * mw_scd_v1 (LRU hash): destinations on hold. The shortcut loses on a connection that streams
 * one way (its writer hands over more than the budget before it receives a byte), whose reader
 * falls behind by the budget (it leaves), and on connections too short to pay for joining
 * (MW_SC_SHORT_RUN in a row with fewer than MW_SC_SHORT_MSGS messages each) (docs/shortcut.md,
 * the rule): the destination, as the connecting workload asked for it, is put on hold, and the
 * workload's next connections to it stay on TCP for the hold time (mw_sc_conf.hold_s). The
 * sk_msg verdict (streams, budget) and sockops at close (short runs) write; sockops reads when
 * a connecting socket would join; status lists.
 */
struct mw_sc_dst {
	__u64 netns;		/* the connecting workload's */
	__u8 addr[MW_ADDR_LEN];	/* the destination it asked for (mw_sko_v1), v4-mapped */
	__be16 port;
	__u16 pad;
	__u32 pad2;
};

struct mw_sc_hold {
	__u64 since_ns;		/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last time it was
				 * put on hold: held while less than the hold time ago (so a
				 * new hold time applies to the holds already there) */
	__u32 count;		/* times put on hold (renewals included) */
	__u16 why;		/* the last: MW_SC_H_*; 0: never held (only short_run counts) */
	__u16 short_run;	/* short connections in a row since the last long one or hold */
};

#define MW_SC_H_STREAM		1	/* handed over more than the budget, nothing came back */
#define MW_SC_H_BUDGET		2	/* the reader fell behind by the budget: it left */
#define MW_SC_H_SHORT		3	/* MW_SC_SHORT_RUN connections in a row closed having handed
					 * over fewer than MW_SC_SHORT_MSGS messages each */
#define MW_SC_SHORT_MSGS	8
#define MW_SC_SHORT_RUN		16

/*
 * mw_scl_v1 (hash): the addresses of the enrolled workloads (not loopback) -> the netns cookie
 * of the workload that has it (the last enrolled, when two namespaces share one). The user side
 * writes it with the workload's local addresses and removes a workload's at unenrolment; sockops
 * reads it so that a sidecar's connection off loopback joins only when its peer can be a socket
 * of this host with the shortcut (every other would stay in the sockhash, unpaired, for its life).
 */
struct mw_sc_addr {
	__u8 addr[MW_ADDR_LEN];	/* v4-mapped for IPv4 */
};

/*
 * mw_set_v1[0]: host-wide switches read by the BPF programs on every use, so they change
 * without a reload. The user side writes (`meshwarp agent --tracking`, `meshwarp tracking`,
 * `init` with MESHWARP_TRACKING); all zero is the default: everything on.
 */
struct mw_settings {
	__u32 flags;		/* MW_SET_F_* */
	__u32 pad[3];
};

#define MW_SET_F_NO_TRACKING	(1u << 0)	/* sockops opens no connection record: no
						 * aggregates, no events, nothing in conns
						 * (records already open finish normally) */

/*
 * Joining the two legs of a sidecar hop (docs/metrics.md, "Hops"). The app's redirected
 * connection offers itself when it is established (per namespace and original destination);
 * the sidecar's own connection to that destination takes the offer when it connects, if it
 * is the only one waiting and younger than MW_HOP_WINDOW_NS. mw_hop_v1 (LRU hash): the
 * sidecar leg's socket cookie -> the app leg's socket cookie (the "hop"), for the log and
 * conns. The offers (mw_hopo_v1) are BPF-only (a spin lock in the value, bpf/lib/maps.bpf.h).
 */
#define MW_HOP_WINDOW_NS	1000000000ull	/* 1 s from the app's establishment */

/* Capacities (max_entries). */
#define MW_MAX_WORKLOADS	4096
#define MW_MAX_PORTS		(1u << 20)
#define MW_MAX_CIDRS		(1u << 20)
#define MW_MAX_LOCAL		(1u << 16)
#define MW_MAX_ORIG		(1u << 18)
#define MW_MAX_LSN		(2 * MW_LSN_SLOTS * MW_MAX_WORKLOADS)
#define MW_MAX_SVCS		(1u << 16)
#define MW_MAX_CONNS		(1u << 18)
#define MW_MAX_AGG		(1u << 14)
#define MW_EVENTS_BYTES		(4u << 20)
#define MW_MAX_SC		(1u << 17)	/* shortcut sockets (two per connection) */
#define MW_MAX_HOP		(1u << 18)	/* joined sidecar legs (mw_hop_v1, LRU) */
#define MW_MAX_SC_HOLD		(1u << 14)	/* destinations on hold (mw_scd_v1, LRU) */
#define MW_MAX_SC_ADDR		(1u << 16)	/* workload addresses (mw_scl_v1) */

#ifndef __bpf__
_Static_assert(sizeof(struct mw_meta) == 24, "mw_meta");
_Static_assert(sizeof(struct mw_workload) == 24, "mw_workload");
_Static_assert(sizeof(struct mw_port_key) == 16, "mw_port_key");
_Static_assert(sizeof(struct mw_rule) == 8, "mw_rule");
_Static_assert(sizeof(struct mw_rule_ent) == 16, "mw_rule_ent");
_Static_assert(sizeof(struct mw_rule_list) == 8 + 16 * MW_RULES_PER_DST, "mw_rule_list");
_Static_assert(sizeof(struct mw_svc_key) == 16, "mw_svc_key");
_Static_assert(sizeof(struct mw_endpoint) == 24, "mw_endpoint");
_Static_assert(sizeof(struct mw_svc) == 8 + 24 * MW_SVC_ENDPOINTS, "mw_svc");
_Static_assert(sizeof(struct mw_lpm_key) == 32, "mw_lpm_key");
_Static_assert(__builtin_offsetof(struct mw_lpm_key, netns) == 8, "mw_lpm_key.netns");
_Static_assert(sizeof(struct mw_counters) == 8 * MW_DIR_MAX * MW_R_MAX, "mw_counters");
_Static_assert(sizeof(struct mw_sk_orig) == 32, "mw_sk_orig");
_Static_assert(sizeof(struct mw_tuple) == 48, "mw_tuple");
_Static_assert(sizeof(struct mw_origdst) == 24, "mw_origdst");
_Static_assert(sizeof(struct mw_lsn_key) == 16, "mw_lsn_key");
_Static_assert(sizeof(struct mw_sk_lsn) == 8, "mw_sk_lsn");
_Static_assert(sizeof(struct mw_conn) == 112, "mw_conn");
_Static_assert(sizeof(struct mw_conn_event) == 136, "mw_conn_event");
_Static_assert(sizeof(struct mw_agg_key) == 32, "mw_agg_key");
_Static_assert(sizeof(struct mw_env) == 1u << 20, "mw_env");
_Static_assert(sizeof(struct mw_agg) == 8 * (7 + MW_END_MAX + 2 * MW_HIST_BUCKETS), "mw_agg");
_Static_assert(sizeof(struct mw_sc_conf) == 16, "mw_sc_conf");
_Static_assert(sizeof(struct mw_sc_sock) == 48, "mw_sc_sock");
_Static_assert(sizeof(struct mw_sc_dst) == 32, "mw_sc_dst");
_Static_assert(sizeof(struct mw_sc_hold) == 16, "mw_sc_hold");
_Static_assert(sizeof(struct mw_sc_addr) == 16, "mw_sc_addr");
_Static_assert(sizeof(struct mw_settings) == 16, "mw_settings");
#endif

#endif /* MESHWARP_ABI_H */
