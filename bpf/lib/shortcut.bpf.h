/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The local shortcut, BPF side (docs/shortcut.md says why each rule is there).
 *
 * A connection whose two ends are sockets of this host seen by sockops, both in workloads
 * with the shortcut: the app's socket and its sidecar's (loopback), the sidecar's upstream
 * connection and another pod's accepted socket (a veth, two namespaces), a sidecar and its
 * app (loopback). sockops puts both into mw_sch_v1 under their own tuple (with the netns on
 * loopback, without it elsewhere: mw_sc_key_netns); the sk_msg verdict hands each message to
 * the peer's receive queue (bpf_msg_redirect_hash to the reversed tuple, BPF_F_INGRESS), so
 * it never crosses TCP. sk_msg redirect works across namespaces: one kernel.
 *
 * What keeps it right:
 * - One receive queue. The sk_skb verdict on mw_sch_v1 passes every byte that reaches a
 *   member by TCP into the same queue as the handed-over messages, in arrival order. So
 *   FIONREAD (which counts only that queue on 6.12+) is exact, and a short read still
 *   means "drained" (nginx relies on both). Without it, a connection that left the
 *   shortcut with bytes still queued split its bytes over two queues and nginx stalled.
 * - Pairing: the connecting socket joins at ACTIVE_ESTABLISHED in state NEW, the accepted
 *   one at PASSIVE_ESTABLISHED, which moves the connecting socket NEW -> PAIRED with one
 *   compare-and-swap, if its sequence numbers are the peer's (a key without the netns can
 *   be another namespace's connection). The connecting socket's first message does
 *   NEW -> TCP if it comes first: then the pair never forms and every byte takes TCP. A
 *   socket decides on its first message and never goes back to the shortcut.
 * - Leaving: a connection leaves for good (MW_SCF_OFF on both sockets, both directions)
 *   when the receiver's queue passes the budget, when the peer is gone, or when the
 *   workload's shortcut is turned off. Its later bytes take TCP and queue behind the
 *   handed-over ones: nothing is reordered, and TCP's window throttles the writer.
 * - Sockets stay in mw_sch_v1 until they close: taking one out drops what its queue
 *   holds, and with the verdict attached bytes can be moving into that queue at any time.
 * - Memory: the kernel bounds the handed-over bytes by nothing but tcp_mem; the budget
 *   is checked against the peer's psock->msg_tot_len, read through the kernel socket
 *   address that sockops recorded (CO-RE; without that field the shortcut stays off).
 *   Bytes that came by TCP stay charged to the receiver (its rcvbuf, its window).
 */
#ifndef MW_SHORTCUT_BPF_H
#define MW_SHORTCUT_BPF_H

#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "skops.bpf.h"
#include "track.bpf.h"
#include "compat.bpf.h"

/* How a socket sends (mw_sc_sock.state). */
#define MW_SCS_NEW	0	/* the app's socket, its peer not there yet */
#define MW_SCS_PAIRED	1	/* both sockets in mw_sch_v1, nothing sent yet */
#define MW_SCS_SHORT	2	/* has handed messages to its peer */
#define MW_SCS_TCP	3	/* never paired: TCP for good */

#define MW_SCF_OFF	(1u << 0)	/* the connection left the shortcut, both ways, for good */
#define MW_SCF_HOLD	(1u << 1)	/* this socket put its destination on hold (once) */
#define MW_SCF_ACTIVE	(1u << 2)	/* the connecting socket (it joined at ACTIVE_ESTABLISHED) */

#define MW_SC_QUEUE_UNKNOWN	0xffffffffu
/* bpf_msg_apply_bytes for a socket on TCP for good: the most it takes (u32). */
#define MW_SC_PASS_BYTES	0xffffffffu
/* sk_user_data carries flags in its low bits (SK_USER_DATA_PTRMASK). */
#define MW_SK_USER_DATA_PTRMASK	(~7ull)

/* Only the fields we read; CO-RE finds them in the running kernel. */
struct sock___mwsc {
	void *sk_user_data;
} __attribute__((preserve_access_index));

struct tcp_sock___mwsc {
	__u32 rcv_nxt;
	__u32 snd_nxt;
} __attribute__((preserve_access_index));

struct sk_psock___mwsc {
	__u32 msg_tot_len;
} __attribute__((preserve_access_index));

/* The budget needs the per-socket count of queued bytes (psock->msg_tot_len, there on
 * 6.12 and 6.18). Without it nothing joins the shortcut. */
static __always_inline int mw_sc_kernel_ok(void)
{
	struct sk_psock___mwsc *ps = NULL;

	return bpf_core_field_exists(ps->msg_tot_len);
}

/* Bytes waiting in a socket's receive queue on the shortcut; 0 once it has no psock. */
static __always_inline __u32 mw_sc_queued(__u64 skaddr)
{
	struct sock___mwsc *sk = (void *)skaddr;
	struct sk_psock___mwsc *ps;
	__u64 ud = 0;
	__u32 len = 0;

	if (!mw_sc_kernel_ok())
		return MW_SC_QUEUE_UNKNOWN;	/* keeps the read below out of the verifier's way */
	if (!skaddr || bpf_core_read(&ud, sizeof(ud), &sk->sk_user_data))
		return MW_SC_QUEUE_UNKNOWN;
	ud &= MW_SK_USER_DATA_PTRMASK;
	if (!ud)
		return 0;
	ps = (void *)ud;
	if (bpf_core_read(&len, sizeof(len), &ps->msg_tot_len))
		return MW_SC_QUEUE_UNKNOWN;
	return len;
}

static __always_inline void mw_sc_stat(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&mw_scst_v1, &idx);

	if (v)
		*v += n;
}

static __always_inline struct mw_sc_conf *mw_sc_conf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&mw_scc_v1, &zero);
}

/* Whether the workload of `netns` has the shortcut, as configured and as the host allows
 * (cmd_status.c's mw_sc_effective says the same). */
static __always_inline int mw_sc_enabled(__u64 netns, const struct mw_sc_conf *conf)
{
	struct mw_workload *wl = bpf_map_lookup_elem(&mw_wl_v1, &netns);
	__u32 f;

	if (!wl)
		return 0;
	f = wl->flags;
	if (!(f & MW_WL_F_ENABLED) || !(f & MW_WL_F_SHORTCUT))
		return 0;
	if (!conf || !(conf->flags & MW_SC_C_READY))
		return 0;
	return (f & MW_WL_F_SHORTCUT_FORCE) || !(conf->flags & MW_SC_C_FOREIGN);
}

/*
 * The namespace part of a shortcut key. A connection on loopback never leaves its namespace,
 * and the same loopback tuple exists in every namespace: the key keeps the netns. Any other
 * connection may span two namespaces (a veth to another pod of the host), so both ends must
 * build the same key without knowing the other's namespace: 0. Two namespaces can hold the
 * same such tuple (overlapping addresses); mw_sc_passive pairs only the right sockets.
 */
static __always_inline __u64 mw_sc_key_netns(const __u32 *local, __u64 netns)
{
	if (mw_addr_is_v4(local))
		return (bpf_ntohl(local[3]) & 0xff000000u) == MW_IN_LOOPBACKNET ? netns : 0;
	return local[0] == 0 && local[1] == 0 && local[2] == 0 && local[3] == bpf_htonl(1) ?
	       netns : 0;
}

static __always_inline void mw_sc_reverse(struct mw_tuple *r, const struct mw_tuple *t)
{
	r->netns = t->netns;
	__builtin_memcpy(r->saddr, t->daddr, MW_ADDR_LEN);
	__builtin_memcpy(r->daddr, t->saddr, MW_ADDR_LEN);
	r->sport = t->dport;
	r->dport = t->sport;
	r->pad = 0;
}

/* The socket's own tuple (local, remote), as sk_msg builds it too. */
static __always_inline int mw_sc_tuple_skops(struct mw_tuple *t, struct bpf_sock_ops *skops,
					     __u64 netns)
{
	__u32 l[4], r[4];

	if (!mw_skops_addrs(skops, l, r))
		return -1;
	t->netns = mw_sc_key_netns(l, netns);
	mw_addr_copy(t->saddr, l);
	mw_addr_copy(t->daddr, r);
	t->sport = bpf_htons((__u16)MW_CTX(skops->local_port));
	/* network order in the upper half on little-endian: ntohl gives the port */
	t->dport = bpf_htons((__u16)bpf_ntohl(MW_CTX(skops->remote_port)));
	return 0;
}

static __always_inline int mw_sc_tuple_msg(struct mw_tuple *t, struct sk_msg_md *msg, __u64 netns)
{
	__u32 family = MW_CTX(msg->family);
	__u32 l4 = MW_CTX(msg->local_ip4);
	__u32 r4 = MW_CTX(msg->remote_ip4);
	__u32 l[4], r[4];

	l[0] = MW_CTX(msg->local_ip6[0]);
	l[1] = MW_CTX(msg->local_ip6[1]);
	l[2] = MW_CTX(msg->local_ip6[2]);
	l[3] = MW_CTX(msg->local_ip6[3]);
	r[0] = MW_CTX(msg->remote_ip6[0]);
	r[1] = MW_CTX(msg->remote_ip6[1]);
	r[2] = MW_CTX(msg->remote_ip6[2]);
	r[3] = MW_CTX(msg->remote_ip6[3]);
	if (family == AF_INET) {
		mw_addr_from_v4(l, l4);
		mw_addr_from_v4(r, r4);
	} else if (family != AF_INET6) {
		return -1;
	}
	t->netns = mw_sc_key_netns(l, netns);
	mw_addr_copy(t->saddr, l);
	mw_addr_copy(t->daddr, r);
	t->sport = bpf_htons((__u16)MW_CTX(msg->local_port));
	t->dport = bpf_htons((__u16)bpf_ntohl(MW_CTX(msg->remote_port)));
	return 0;
}

/* ---- sockops ----------------------------------------------------------------------------- */

/* A socket's entry and its sockhash slot. NULL when the socket stays on TCP. */
static __always_inline struct mw_sc_sock *mw_sc_join(struct bpf_sock_ops *skops, struct bpf_sock *sk,
						     struct mw_tuple *t, __u32 state)
{
	struct mw_sc_sock init = {}, *e;

	init.state = state;
	init.flags = state == MW_SCS_NEW ? MW_SCF_ACTIVE : 0;
	/* NOEXIST: a key without its netns (mw_sc_key_netns) can be another namespace's socket's,
	 * which must keep its entry; this socket then stays on TCP. */
	if (bpf_map_update_elem(&mw_scs_v1, t, &init, BPF_NOEXIST)) {
		mw_sc_stat(bpf_map_lookup_elem(&mw_scs_v1, t) ? MW_SC_S_INSERT_ERR :
			   MW_SC_S_TABLE_FULL, 1);
		return NULL;
	}
	e = bpf_map_lookup_elem(&mw_scs_v1, t);
	if (!e)
		return NULL;
	/* Not reference-counted: the entry goes when the socket closes (mw_sc_state). */
	e->sk = (__u64)sk;
	e->cookie = bpf_get_socket_cookie(skops);
	if (bpf_sock_hash_update(skops, &mw_sch_v1, t, BPF_NOEXIST)) {
		mw_sc_stat(MW_SC_S_INSERT_ERR, 1);
		bpf_map_delete_elem(&mw_scs_v1, t);
		return NULL;
	}
	/* Its close must be seen to drop the entry (the address above dies with it). */
	bpf_sock_ops_cb_flags_set(skops, MW_CTX(skops->bpf_sock_ops_cb_flags) |
				  BPF_SOCK_OPS_STATE_CB_FLAG);
	return e;
}

/*
 * The destination a connecting workload asked for, as mw_scd_v1 keys it: from the socket's
 * storage (connect4/6 writes it on every client socket of an enrolled namespace; the
 * sidecar's accepted socket has its client's), else the socket's remote end. Both the hold
 * check at join and the verdict that puts a destination on hold build it this way.
 */
static __always_inline void mw_sc_dst_key(struct mw_sc_dst *d, const struct mw_sk_orig *so,
					  __u64 netns, const struct mw_tuple *t)
{
	if (so) {
		d->netns = so->netns;
		__builtin_memcpy(d->addr, so->addr, MW_ADDR_LEN);
		d->port = so->port;
	} else {
		d->netns = netns;
		__builtin_memcpy(d->addr, t->daddr, MW_ADDR_LEN);
		d->port = t->dport;
	}
	d->pad = 0;
	d->pad2 = 0;
}

static __always_inline __u64 mw_sc_hold_ns(const struct mw_sc_conf *conf)
{
	return (conf && conf->hold_s ? conf->hold_s : MW_SC_HOLD_DEFAULT_S) * 1000000000ull;
}

/* Whether the destination is on hold (docs/shortcut.md, the rule). */
static __always_inline int mw_sc_held(const struct mw_sc_dst *d, const struct mw_sc_conf *conf)
{
	struct mw_sc_hold *h;

	if (conf && (conf->flags & MW_SC_C_NO_HOLD))
		return 0;
	h = bpf_map_lookup_elem(&mw_scd_v1, d);
	return h && h->why && bpf_ktime_get_ns() - h->since_ns < mw_sc_hold_ns(conf);
}

/* Puts a destination on hold, or renews its hold (sk_msg). */
static __always_inline void mw_sc_hold(const struct mw_sc_dst *d, const struct mw_sc_conf *conf,
				       __u32 why)
{
	struct mw_sc_hold init = {}, *h;
	__u64 now = bpf_ktime_get_ns();

	if (conf && (conf->flags & MW_SC_C_NO_HOLD))
		return;
	h = bpf_map_lookup_elem(&mw_scd_v1, d);
	if (h) {
		/* Racing writers store nearly the same instant; either is right. */
		h->since_ns = now;
		h->why = (__u16)why;
		h->short_run = 0;
		__sync_fetch_and_add(&h->count, 1);
	} else {
		init.since_ns = now;
		init.count = 1;
		init.why = (__u16)why;
		bpf_map_update_elem(&mw_scd_v1, d, &init, BPF_ANY);
	}
	mw_sc_stat(MW_SC_S_HOLDS, 1);
}

/*
 * A paired connection closes (sockops, its connecting socket): joining a socket to the sockhash
 * and taking it out again costs more than a few handed-over messages win back (the new
 * connection per request rows of docs/shortcut.md). MW_SC_SHORT_RUN connections in a row to one
 * destination with fewer than MW_SC_SHORT_MSGS messages each put it on hold; a longer one in
 * between starts the count again, so the odd short connection (a health check) among long ones
 * holds nothing. Unlocked counts: a race loses a count, which only delays a hold.
 */
static __always_inline void mw_sc_note_close(struct bpf_sock_ops *skops, const struct mw_sc_sock *e,
					     const struct mw_tuple *t)
{
	struct mw_sc_conf *conf = mw_sc_conf();
	struct mw_sc_hold init = {}, *h;
	struct mw_sk_orig *so;
	struct bpf_sock *sk = skops->sk;
	struct mw_sc_dst d;
	int is_short = e->msgs < MW_SC_SHORT_MSGS;

	if (!sk || (conf && (conf->flags & MW_SC_C_NO_HOLD)))
		return;
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	mw_sc_dst_key(&d, so, mw_netns_skops(skops), t);
	h = bpf_map_lookup_elem(&mw_scd_v1, &d);
	if (!h) {
		if (!is_short)
			return;
		init.short_run = 1;
		bpf_map_update_elem(&mw_scd_v1, &d, &init, BPF_NOEXIST);
		return;
	}
	if (!is_short) {
		h->short_run = 0;
		return;
	}
	if (++h->short_run >= MW_SC_SHORT_RUN)
		mw_sc_hold(&d, conf, MW_SC_H_SHORT);
}

/*
 * Whether the peer of a connection off loopback can be a socket of this host with the
 * shortcut: its address is a workload's (mw_scl_v1) and that workload has the shortcut on.
 * Anything else (an upstream on another node, a pod without it) would sit in the sockhash,
 * unpaired, for the connection's life, every byte through both verdicts for nothing.
 */
static __always_inline int mw_sc_peer_local(const struct mw_tuple *t, const struct mw_sc_conf *conf)
{
	struct mw_sc_addr a;
	__u64 *owner;

	__builtin_memcpy(a.addr, t->daddr, MW_ADDR_LEN);
	owner = bpf_map_lookup_elem(&mw_scl_v1, &a);
	return owner && mw_sc_enabled(*owner, conf);
}

/*
 * ACTIVE_ESTABLISHED: a connecting socket of a workload with the shortcut joins, unpaired, if
 * its peer may be a socket of this host seen by sockops: every connection on loopback (the app
 * to its sidecar, the sidecar to its app, the app to a local port), and the sidecar's own
 * connections to the address of a workload of this host with the shortcut (its upstreams on
 * this host). Not the app's other connections (bypassed ports and addresses), nor the sidecar's
 * to anywhere else: a socket that joins stays in the sockhash, both verdicts on its path,
 * until it closes. Nor a connection to a destination on hold.
 */
static __always_inline void mw_sc_active(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct mw_sc_conf *conf;
	struct mw_sk_orig *so;
	struct mw_tuple t = {};
	struct mw_sc_dst d;
	__u64 netns;

	if (!sk || !mw_sc_kernel_ok())
		return;
	netns = mw_netns_skops(skops);
	conf = mw_sc_conf();
	if (!mw_sc_enabled(netns, conf))
		return;
	if (mw_sc_tuple_skops(&t, skops, netns))
		return;
	if (!t.netns) {
		if (!mw_sk_is_sidecar(sk, netns))
			return;
		if (!mw_sc_peer_local(&t, conf)) {
			mw_sc_stat(MW_SC_S_NOT_LOCAL, 1);
			return;
		}
	}
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	mw_sc_dst_key(&d, so, netns, &t);
	if (mw_sc_held(&d, conf)) {
		mw_sc_stat(MW_SC_S_HELD, 1);
		return;
	}
	mw_sc_join(skops, sk, &t, MW_SCS_NEW);
}

/*
 * Whether the connecting socket at `skaddr` is this passive socket's peer, not another
 * namespace's socket with the same tuple: the peer of a connection that just came up has sent
 * exactly the bytes we expect next and expects ours (random initial sequence numbers, a false
 * match is 2^-64). Read live (the address is not reference-counted: at worst a closing
 * socket's memory, which refuses). A peer that has written already no longer matches, and
 * could not pair anyway (its state is no longer NEW).
 */
static __always_inline int mw_sc_seq_match(struct bpf_sock_ops *skops, __u64 skaddr)
{
	struct tcp_sock___mwsc *tp = (void *)skaddr;
	__u32 snd = 0, rcv = 0;

	if (!skaddr || bpf_core_read(&snd, sizeof(snd), &tp->snd_nxt) ||
	    bpf_core_read(&rcv, sizeof(rcv), &tp->rcv_nxt))
		return 0;
	return snd == MW_CTX(skops->rcv_nxt) && rcv == MW_CTX(skops->snd_nxt);
}

/* PASSIVE_ESTABLISHED: an accepted socket of a workload with the shortcut whose connecting
 * peer joined (mw_sc_active) joins and pairs, unless the peer has already sent through TCP.
 * It cannot have sent anything itself yet: nothing has accepted it. Both ends' workloads
 * have the shortcut on, each checked on its own side. */
static __always_inline void mw_sc_passive(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct mw_tuple t = {}, r = {};
	struct mw_sc_sock *c;
	__u64 netns;

	if (!sk || !mw_sc_kernel_ok())
		return;
	netns = mw_netns_skops(skops);
	if (!mw_sc_enabled(netns, mw_sc_conf()))
		return;
	if (mw_sc_tuple_skops(&t, skops, netns))
		return;
	mw_sc_reverse(&r, &t);
	c = bpf_map_lookup_elem(&mw_scs_v1, &r);
	if (!c || c->state != MW_SCS_NEW)
		return;
	if (!mw_sc_seq_match(skops, c->sk)) {
		/* Another namespace's connection with the same tuple: not ours, leave it. */
		mw_sc_stat(MW_SC_S_MISMATCH, 1);
		return;
	}
	if (!mw_sc_join(skops, sk, &t, MW_SCS_PAIRED)) {
		/* No pair: the app's socket takes TCP from its first byte. */
		__sync_val_compare_and_swap(&c->state, MW_SCS_NEW, MW_SCS_TCP);
		return;
	}
	if (__sync_val_compare_and_swap(&c->state, MW_SCS_NEW, MW_SCS_PAIRED) != MW_SCS_NEW) {
		/* It wrote first: nothing was handed to us, leave at once (we hold nothing,
		 * and its bytes are processed after this callback, on plain TCP). */
		bpf_map_delete_elem(&mw_sch_v1, &t);
		bpf_map_delete_elem(&mw_scs_v1, &t);
		return;
	}
	mw_sc_stat(MW_SC_S_PAIRED, 1);
}

/*
 * STATE_CB, before the connection tracking sees the close: hands the bytes that took the
 * shortcut to the caller (the TCP counters the tracker reads never saw them; mw_track_close
 * adds them to the connection's record, so its close event and the destination's totals
 * both have them, once), and the socket's entry goes. *sent and *received are left alone
 * when the socket was not on the shortcut.
 */
static __always_inline void mw_sc_state(struct bpf_sock_ops *skops, __u64 *sent, __u64 *received)
{
	struct mw_tuple t = {};
	struct mw_sc_sock *e;

	if (MW_CTX(skops->args[1]) != BPF_TCP_CLOSE)
		return;
	if (mw_sc_tuple_skops(&t, skops, mw_netns_skops(skops)))
		return;
	e = bpf_map_lookup_elem(&mw_scs_v1, &t);
	/* Under a key without its netns the entry can be another namespace's socket's (this one
	 * could not join): leave it to that socket. */
	if (!e || e->sk != (__u64)skops->sk)
		return;
	*sent = e->sent;
	*received = e->received;
	/* A connection that paired and stayed: was it long enough to be worth it? */
	if ((e->flags & MW_SCF_ACTIVE) && !(e->flags & MW_SCF_OFF) && e->state == MW_SCS_SHORT)
		mw_sc_note_close(skops, e, &t);
	bpf_map_delete_elem(&mw_scs_v1, &t);
}

/* ---- sk_msg ---------------------------------------------------------------------------- */

/*
 * This socket sends by TCP for good (it never paired, or its connection left): pass this
 * message, and let the kernel pass the socket's next 4 GiB without running the verdict
 * again (psock->apply_bytes keeps the PASS). Every later verdict would say PASS too, so
 * nothing changes but the cost: a verdict run (three or four hash lookups) per write, 2 %
 * of the CPU of a 1 KiB-write upload that left (docs/shortcut.md, measurements). The bytes
 * are TCP's, and TCP counts them.
 */
static __always_inline int mw_sc_pass_for_good(struct sk_msg_md *msg)
{
	bpf_msg_apply_bytes(msg, MW_SC_PASS_BYTES);
	return SK_PASS;
}

/*
 * This socket's connection is the traffic the shortcut loses on (it streams, or its reader
 * fell behind): put the destination on hold, once per socket, so that the workload's next
 * connections to it take TCP from the start. The writer knows the destination when it is the
 * connecting socket or the sidecar's accepted one (their storage has it, mw_sc_dst_key);
 * otherwise (an upstream pod's socket writing to a sidecar) the sidecar's other hop, or the
 * connecting side's next write, does it.
 */
static __always_inline void mw_sc_hold_msg(struct sk_msg_md *msg, struct mw_sc_sock *me,
					   const struct mw_tuple *k, __u64 netns,
					   const struct mw_sc_conf *conf, __u32 why)
{
	struct mw_sk_orig *so = NULL;
	struct mw_sc_dst d;
	struct bpf_sock *sk = msg->sk;

	if (__sync_fetch_and_or(&me->flags, MW_SCF_HOLD) & MW_SCF_HOLD)
		return;
	if (sk)
		so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	if (!so)
		return;
	mw_sc_dst_key(&d, so, netns, k);
	mw_sc_hold(&d, conf, why);
}

/* The connection leaves the shortcut for good: this message and every later one, both
 * ways, take TCP (and queue behind what was handed over). */
static __always_inline int mw_sc_leave(struct sk_msg_md *msg, struct mw_sc_sock *me,
				       struct mw_sc_sock *peer, __u32 why)
{
	__u32 old = __sync_fetch_and_or(&me->flags, MW_SCF_OFF);

	if (peer)
		old |= __sync_fetch_and_or(&peer->flags, MW_SCF_OFF);
	if (!(old & MW_SCF_OFF))
		mw_sc_stat(why, 1);
	return mw_sc_pass_for_good(msg);
}

static __always_inline int mw_sc_verdict(struct sk_msg_md *msg)
{
	struct mw_tuple k = {}, pk = {};
	struct mw_sc_sock *me, *peer;
	struct mw_sc_conf *conf;
	__u64 netns = bpf_get_netns_cookie(msg);
	__u32 size = MW_CTX(msg->size), budget, q;

	if (mw_sc_tuple_msg(&k, msg, netns))
		return SK_PASS;
	me = bpf_map_lookup_elem(&mw_scs_v1, &k);
	if (!me)
		return SK_PASS;	/* closing (its entry went at TCP_CLOSE) */
	if (me->state == MW_SCS_TCP || (me->flags & MW_SCF_OFF))
		return mw_sc_pass_for_good(msg);
	if (me->state == MW_SCS_NEW &&
	    __sync_val_compare_and_swap(&me->state, MW_SCS_NEW, MW_SCS_TCP) == MW_SCS_NEW) {
		/* The first message, and no peer has joined: TCP for good. On loopback a peer was
		 * due (late, or outside sockops' view); elsewhere mostly a peer off this host or
		 * without the shortcut, the common case, counted apart. */
		mw_sc_stat(k.netns ? MW_SC_S_UNPAIRED : MW_SC_S_NO_PEER, 1);
		return mw_sc_pass_for_good(msg);
	}

	mw_sc_reverse(&pk, &k);
	peer = bpf_map_lookup_elem(&mw_scs_v1, &pk);
	if (!peer || (peer->flags & MW_SCF_OFF))
		return mw_sc_leave(msg, me, peer, MW_SC_S_OFF_PEER);
	conf = mw_sc_conf();
	if (!mw_sc_enabled(netns, conf))
		return mw_sc_leave(msg, me, peer, MW_SC_S_OFF_CONFIG);
	budget = conf && conf->budget ? conf->budget : MW_SC_BUDGET_DEFAULT;
	q = mw_sc_queued(peer->sk);
	if (q > budget || size > budget - q) {
		mw_sc_hold_msg(msg, me, &k, netns, conf, MW_SC_H_BUDGET);
		return mw_sc_leave(msg, me, peer, MW_SC_S_OFF_BUDGET);
	}

	if (bpf_msg_redirect_hash(msg, &mw_sch_v1, &pk, BPF_F_INGRESS) != SK_PASS)
		return mw_sc_leave(msg, me, peer, MW_SC_S_OFF_PEER);
	if (me->state != MW_SCS_SHORT)
		me->state = MW_SCS_SHORT;
	/* One way past the budget and not a byte back: a stream (an upload, say), which the
	 * shortcut does not win (docs/shortcut.md). This connection stays; the next ones to its
	 * destination do not join. */
	if (__sync_fetch_and_add(&me->sent, size) + size > budget && !me->received &&
	    !(me->flags & MW_SCF_HOLD))
		mw_sc_hold_msg(msg, me, &k, netns, conf, MW_SC_H_STREAM);
	__sync_fetch_and_add(&peer->received, size);
	me->msgs++;	/* only this socket's verdict writes it, under its socket lock */
	mw_sc_stat(MW_SC_S_MSGS, 1);
	mw_sc_stat(MW_SC_S_BYTES, size);
	return SK_PASS;
}

#endif /* MW_SHORTCUT_BPF_H */
