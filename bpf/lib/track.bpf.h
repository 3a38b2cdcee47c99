/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking from sockops: a record per connection from connect() to
 * close, totals per destination, a ring buffer event at close. BPF side only.
 */
#ifndef MW_TRACK_BPF_H
#define MW_TRACK_BPF_H

#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "skops.bpf.h"
#include "compat.bpf.h"

#define MW_ECONNREFUSED	111
#define MW_ETIMEDOUT	110

/* Only the fields we read; CO-RE finds them in the running kernel's struct sock. */
struct sock___mw {
	int sk_err;
} __attribute__((preserve_access_index));

/* tcp_sock's windowed minimum RTT (tcp_min_rtt(): rtt_min.s[0].v, ~0U before the first
 * sample), the value tcp_info reports as tcpi_min_rtt. */
struct minmax_sample___mw {
	__u32 t;
	__u32 v;
} __attribute__((preserve_access_index));

struct minmax___mw {
	struct minmax_sample___mw s[3];
} __attribute__((preserve_access_index));

struct tcp_sock___mwrtt {
	struct minmax___mw rtt_min;
} __attribute__((preserve_access_index));

struct sock___mwuid {
	struct {
		__u32 val;
	} sk_uid;		/* kuid_t: the creator's fsuid */
} __attribute__((preserve_access_index));

/*
 * Whether a socket connect4/6 left alone (no rule flag) belongs to the sidecar: its owner is
 * the workload's ignored UID. connect4/6 decide "local destination" before the UID, so the
 * sidecar's connection to the app on loopback (the inbound hop's second leg) would otherwise
 * count as a connection the workload opened. The socket's sk_uid is its creator's fsuid,
 * where connect4/6 compare the caller's UID: the same for a sidecar process. GID-only
 * workloads are not told apart here.
 */
static __always_inline int mw_sk_is_sidecar(struct bpf_sock *sk, __u64 netns)
{
	struct mw_workload *wl = bpf_map_lookup_elem(&mw_wl_v1, &netns);
	struct sock___mwuid *s;
	__u32 uid = 0;

	if (!wl || !(wl->flags & MW_WL_F_HAS_UID))
		return 0;
	s = (void *)bpf_skc_to_tcp_sock(sk);
	if (!s || !bpf_core_field_exists(s->sk_uid))
		return 0;
	if (bpf_core_read(&uid, sizeof(uid), &s->sk_uid.val))
		return 0;
	return uid == wl->ignore_uid;
}

/* Bucket of a value in microseconds: 0 for v <= 1, i for 2^(i-1) < v <= 2^i. */
static __always_inline __u32 mw_hist_bucket(__u64 v)
{
	__u32 r = 0;

	if (v <= 1)
		return 0;
	v--;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	r += 1;
	return r < MW_HIST_BUCKETS ? r : MW_HIST_BUCKETS - 1;
}

/* The kernel's minimum RTT of the socket in microseconds, 0 before the first sample. */
static __always_inline __u32 mw_sk_min_rtt(struct bpf_sock_ops *skops)
{
	struct tcp_sock___mwrtt *tp = NULL;
	__u32 v = 0;

	if (skops->sk)
		tp = (void *)bpf_skc_to_tcp_sock(skops->sk);
	if (!tp || !bpf_core_field_exists(tp->rtt_min))
		return 0;
	if (bpf_core_read(&v, sizeof(v), &tp->rtt_min.s[0].v))
		return 0;
	return v == ~0U ? 0 : v;
}

/*
 * Reads the live counters of the socket into its record. The kernel's byte
 * counters follow the sequence space: bytes_acked includes our SYN once the
 * connection is up and our FIN once acked, bytes_received the peer's FIN. The
 * record counts what the application wrote and can read. RTTs are the kernel's
 * own: the smoothed RTT and the windowed minimum (tcp_info's tcpi_rtt and
 * tcpi_min_rtt), so no per-ACK RTT callback is needed to follow them.
 */
static __always_inline void mw_conn_sample(struct mw_conn *c, struct bpf_sock_ops *skops)
{
	__u64 acked = MW_CTX(skops->bytes_acked);
	__u64 rcvd = MW_CTX(skops->bytes_received);
	__u32 srtt = MW_CTX(skops->srtt_us) >> 3;	/* the kernel keeps srtt << 3 */
	__u32 mrtt;

	/* The active side's bytes_acked counts its SYN; the passive side's does not. */
	if (c->established_ns && c->role != MW_ROLE_INBOUND && acked)
		acked--;
	if ((c->flags & MW_CONN_F_FIN_ACKED) && acked)
		acked--;
	if ((c->flags & MW_CONN_F_FIN_IN) && rcvd)
		rcvd--;
	c->bytes_sent = acked;
	c->bytes_received = rcvd;
	c->segs_out = MW_CTX(skops->data_segs_out);
	c->segs_in = MW_CTX(skops->data_segs_in);
	c->retransmits = MW_CTX(skops->total_retrans);
	c->srtt_us = srtt;
	mrtt = mw_sk_min_rtt(skops);
	if (!mrtt)
		mrtt = srtt;
	if (mrtt && (!c->min_rtt_us || mrtt < c->min_rtt_us))
		c->min_rtt_us = mrtt;
}

/* Which FINs a state change means, for mw_conn_sample. */
static __always_inline void mw_conn_fins(struct mw_conn *c, __u32 old_state, __u32 new_state)
{
	switch (new_state) {
	case BPF_TCP_FIN_WAIT1:
	case BPF_TCP_LAST_ACK:
		c->flags |= MW_CONN_F_FIN_OUT;
		break;
	case BPF_TCP_FIN_WAIT2:
		c->flags |= MW_CONN_F_FIN_ACKED;
		break;
	case BPF_TCP_CLOSE_WAIT:
		c->flags |= MW_CONN_F_FIN_IN;
		break;
	case BPF_TCP_CLOSING:	/* simultaneous close: their FIN before our FIN's ack */
		c->flags |= MW_CONN_F_FIN_IN;
		break;
	case BPF_TCP_CLOSE:
		/* LAST_ACK and CLOSING -> CLOSE: our FIN was acked. FIN_WAIT2 ->
		 * CLOSE says nothing about their FIN (an orphan goes to TIME_WAIT
		 * without it): mw_track_hdr watches the packets for it. */
		if (old_state == BPF_TCP_LAST_ACK || old_state == BPF_TCP_CLOSING)
			c->flags |= MW_CONN_F_FIN_ACKED;
		break;
	default:
		break;
	}
}

/* The host-wide tracking switch (mw_set_v1; all zero, or no entry: on). Read only where a
 * record would be opened: a record open when tracking is turned off finishes normally, so
 * every connection counted as opened is also counted as closed. */
static __always_inline int mw_tracking_on(void)
{
	struct mw_settings *s;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&mw_set_v1, &zero);
	return !s || !(s->flags & MW_SET_F_NO_TRACKING);
}

static __always_inline void mw_hop_key(struct mw_agg_key *k, const struct mw_conn *c)
{
	k->netns = c->netns;
	__builtin_memcpy(k->daddr, c->daddr, MW_ADDR_LEN);
	k->dport = c->dport;
}

/* The app's redirected connection is up: its sidecar is about to open the upstream leg to
 * the same destination. A second offer inside the window makes the destination ambiguous
 * until every waiting one is taken or the window has passed. */
static __always_inline void mw_hop_offer(const struct mw_conn *c, __u64 cookie)
{
	struct mw_hop_offer init = {}, *o;
	struct mw_agg_key k = {};
	__u64 now = bpf_ktime_get_ns();

	mw_hop_key(&k, c);
	o = bpf_map_lookup_elem(&mw_hopo_v1, &k);
	if (!o) {
		bpf_map_update_elem(&mw_hopo_v1, &k, &init, BPF_NOEXIST);
		o = bpf_map_lookup_elem(&mw_hopo_v1, &k);
		if (!o)
			return;	/* full: no join for this destination */
	}
	bpf_spin_lock(&o->lock);
	if (o->n && now - o->ts_ns < MW_HOP_WINDOW_NS) {
		o->n++;
		o->cookie = 0;
	} else {
		o->n = 1;
		o->cookie = cookie;
	}
	o->ts_ns = now;
	bpf_spin_unlock(&o->lock);
}

/* The sidecar connects to a destination (c: its record, cookie: its socket): take the
 * offer, and remember whose leg this is when the offer was unambiguous. */
static __always_inline void mw_hop_take(const struct mw_conn *c, __u64 cookie)
{
	struct mw_agg_key k = {};
	struct mw_hop_offer *o;
	__u64 now = bpf_ktime_get_ns(), app = 0;

	mw_hop_key(&k, c);
	o = bpf_map_lookup_elem(&mw_hopo_v1, &k);
	if (!o)
		return;
	bpf_spin_lock(&o->lock);
	if (o->n && now - o->ts_ns < MW_HOP_WINDOW_NS) {
		if (o->n == 1)
			app = o->cookie;
		o->n--;
		if (!o->n)
			o->cookie = 0;
	} else {
		o->n = 0;
		o->cookie = 0;
	}
	bpf_spin_unlock(&o->lock);
	if (app)
		bpf_map_update_elem(&mw_hop_v1, &cookie, &app, BPF_ANY);
}

/* connect() started on a socket connect4/6 saw: open its record. */
static __always_inline void mw_track_connect(struct bpf_sock_ops *skops)
{
	struct mw_conn c = {};
	struct mw_sk_orig *so;
	struct bpf_sock *sk = skops->sk;
	__u32 l[4], r[4];
	__u64 cookie;

	if (!sk || !mw_tracking_on())
		return;
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	if (!so || (so->flags & MW_SKO_F_SIDECAR))
		return;
	cookie = bpf_get_socket_cookie(skops);
	c.netns = so->netns;
	c.start_ns = bpf_ktime_get_ns();
	c.role = (so->flags & MW_SKO_F_OWN) ? MW_ROLE_SIDECAR :
		 (so->flags & MW_SKO_F_REDIRECTED) ? MW_ROLE_REDIRECTED : MW_ROLE_DIRECT;
	if (c.role == MW_ROLE_DIRECT && !(so->flags & MW_SKO_F_FORWARDED) &&
	    mw_sk_is_sidecar(sk, so->netns))
		c.role = MW_ROLE_SIDECAR;
	c.state = BPF_TCP_SYN_SENT;
	c.family = (__u16)mw_skops_addrs(skops, l, r);
	mw_addr_copy(c.saddr, l);
	c.sport = bpf_htons((__u16)MW_CTX(skops->local_port));
	__builtin_memcpy(c.daddr, so->addr, MW_ADDR_LEN);
	c.dport = so->port;
	if (bpf_map_update_elem(&mw_conn_v1, &cookie, &c, BPF_ANY)) {
		mw_stat_inc(MW_S_CONN_FULL);
		return;
	}
	bpf_sock_ops_cb_flags_set(skops, MW_CTX(skops->bpf_sock_ops_cb_flags) |
				  BPF_SOCK_OPS_STATE_CB_FLAG);
	if (c.role == MW_ROLE_SIDECAR)
		mw_hop_take(&c, cookie);
}

/*
 * PASSIVE_ESTABLISHED: a connection the sidecar's ingress listener accepted for its workload
 * (sk_lookup steered it there; mw_lsk_v1's mark is cloned from the listener). Opened
 * established, followed to its close like the others, for conns and the log.
 */
static __always_inline void mw_track_inbound(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct mw_conn c = {};
	struct mw_sk_lsn *sl;
	__u32 l[4], r[4];
	__u64 cookie;

	if (!sk || !mw_tracking_on())
		return;
	sl = bpf_sk_storage_get(&mw_lsk_v1, sk, 0, 0);
	if (!sl || !(sl->flags & MW_SKL_F_INGRESS))
		return;
	cookie = bpf_get_socket_cookie(skops);
	c.netns = mw_netns_skops(skops);
	c.start_ns = c.established_ns = bpf_ktime_get_ns();
	c.role = MW_ROLE_INBOUND;
	c.state = BPF_TCP_ESTABLISHED;
	c.family = (__u16)mw_skops_addrs(skops, l, r);
	mw_addr_copy(c.saddr, r);
	c.sport = bpf_htons((__u16)bpf_ntohl(MW_CTX(skops->remote_port)));
	mw_addr_copy(c.daddr, l);
	c.dport = bpf_htons((__u16)MW_CTX(skops->local_port));
	mw_conn_sample(&c, skops);
	if (bpf_map_update_elem(&mw_conn_v1, &cookie, &c, BPF_ANY)) {
		mw_stat_inc(MW_S_CONN_FULL);
		return;
	}
	bpf_sock_ops_cb_flags_set(skops, MW_CTX(skops->bpf_sock_ops_cb_flags) |
				  BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline struct mw_agg *mw_agg_of(const struct mw_conn *c)
{
	struct mw_agg_key k = {};
	struct mw_agg *a;
	__u32 zero = 0;
	void *init;

	k.netns = c->netns;
	__builtin_memcpy(k.daddr, c->daddr, MW_ADDR_LEN);
	k.dport = c->dport;
	a = bpf_map_lookup_elem(&mw_agg_v1, &k);
	if (a)
		return a;
	init = bpf_map_lookup_elem(&mw_zero_v1, &zero);
	if (!init)
		return NULL;
	if (bpf_map_update_elem(&mw_agg_v1, &k, init, BPF_NOEXIST) && !bpf_map_lookup_elem(&mw_agg_v1, &k)) {
		mw_stat_inc(MW_S_AGG_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&mw_agg_v1, &k);
}

static __always_inline void mw_track_established(struct bpf_sock_ops *skops)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct mw_conn *c;
	struct mw_agg *a;

	c = bpf_map_lookup_elem(&mw_conn_v1, &cookie);
	if (!c)
		return;
	c->established_ns = bpf_ktime_get_ns();
	c->state = BPF_TCP_ESTABLISHED;
	mw_conn_sample(c, skops);
	if (c->role == MW_ROLE_SIDECAR)
		return;
	if (c->role == MW_ROLE_REDIRECTED)
		mw_hop_offer(c, cookie);
	a = mw_agg_of(c);
	if (a)
		a->opened++;
}

/* How a connection ended, from the state it left and the socket's error. */
static __always_inline __u8 mw_end_of(struct bpf_sock_ops *skops, __u32 old_state)
{
	struct sock___mw *sk = NULL;
	int err = 0;

	switch (old_state) {
	case BPF_TCP_SYN_SENT:
		/* The error that ended connect() is in sk_err, which the context does
		 * not expose: take the kernel's socket through a BTF pointer. */
		if (skops->sk)
			sk = (void *)bpf_skc_to_tcp_sock(skops->sk);
		if (sk && bpf_core_field_exists(sk->sk_err))
			bpf_core_read(&err, sizeof(err), &sk->sk_err);
		if (err == MW_ECONNREFUSED)
			return MW_END_REFUSED;
		if (err == MW_ETIMEDOUT)
			return MW_END_TIMEOUT;
		return MW_END_FAILED;
	case BPF_TCP_ESTABLISHED:
	case BPF_TCP_SYN_RECV:
	case BPF_TCP_CLOSE_WAIT:
	case BPF_TCP_FIN_WAIT1:
		/* Straight to CLOSE from a state with data in flight: an abort,
		 * a RST sent or received. An orderly close passes FIN states. */
		return MW_END_RESET;
	default:
		return MW_END_NORMAL;
	}
}

/* A state change short of CLOSE: keep the FIN bookkeeping and the state. */
static __always_inline void mw_track_state(struct bpf_sock_ops *skops, __u32 old_state,
					   __u32 new_state)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct mw_conn *c;

	c = bpf_map_lookup_elem(&mw_conn_v1, &cookie);
	if (!c)
		return;
	mw_conn_fins(c, old_state, new_state);
	c->state = (__u8)new_state;
	/* Once we closed, their FIN can only be seen on the wire: parse the few
	 * packets that still come (no cost before this point). */
	if (new_state == BPF_TCP_FIN_WAIT1)
		bpf_sock_ops_cb_flags_set(skops, MW_CTX(skops->bpf_sock_ops_cb_flags) |
					  BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG);
}

#define MW_TCPHDR_FIN 0x01

/* A packet of a connection we closed first: note their FIN. */
static __always_inline void mw_track_hdr(struct bpf_sock_ops *skops)
{
	__u64 cookie;
	struct mw_conn *c;

	if (!(MW_CTX(skops->skb_tcp_flags) & MW_TCPHDR_FIN))
		return;
	cookie = bpf_get_socket_cookie(skops);
	c = bpf_map_lookup_elem(&mw_conn_v1, &cookie);
	if (c)
		c->flags |= MW_CONN_F_FIN_IN;
}

/* The socket closed. sc_sent and sc_received are the bytes it handed over on the local
 * shortcut (mw_sc_state): the application wrote and read them, TCP never saw them. */
static __always_inline void mw_track_close(struct bpf_sock_ops *skops, __u32 old_state,
					   __u64 sc_sent, __u64 sc_received)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct mw_conn_event *e;
	struct mw_conn *c;
	struct mw_agg *a;
	__u64 now = bpf_ktime_get_ns(), dur_us;
	__u8 end;

	c = bpf_map_lookup_elem(&mw_conn_v1, &cookie);
	if (!c)
		return;
	mw_conn_fins(c, old_state, BPF_TCP_CLOSE);
	mw_conn_sample(c, skops);
	c->bytes_sent += sc_sent;
	c->bytes_received += sc_received;
	c->state = BPF_TCP_CLOSE;
	end = mw_end_of(skops, old_state);

	/* The sidecar's legs count only their connect failures; inbound connections are the
	 * client's outbound ones (counted there when it is enrolled), not aggregated twice. */
	a = c->role == MW_ROLE_INBOUND ? NULL :
	    (c->role != MW_ROLE_SIDECAR || !c->established_ns) ? mw_agg_of(c) : NULL;
	if (a) {
		a->ends[end & (MW_END_MAX - 1)]++;
		if (c->established_ns) {
			dur_us = (now - c->established_ns) / 1000;
			a->closed++;
			a->bytes_sent += c->bytes_sent;
			a->bytes_received += c->bytes_received;
			a->retransmits += c->retransmits;
			a->rtt_us_sum += c->srtt_us;
			a->duration_us_sum += dur_us;
			a->rtt_hist[mw_hist_bucket(c->srtt_us) & (MW_HIST_BUCKETS - 1)]++;
			a->duration_hist[mw_hist_bucket(dur_us) & (MW_HIST_BUCKETS - 1)]++;
		}
	}

	e = bpf_ringbuf_reserve(&mw_events_v1, sizeof(*e), 0);
	if (e) {
		__builtin_memcpy(&e->c, c, sizeof(*c));
		e->end_ns = now;
		e->cookie = cookie;
		e->end = end;
		__builtin_memset(e->pad, 0, sizeof(e->pad));
		bpf_ringbuf_submit(e, 0);
	} else {
		mw_stat_inc(MW_S_EVENTS_LOST);
	}
	bpf_map_delete_elem(&mw_conn_v1, &cookie);
}

#endif /* MW_TRACK_BPF_H */
