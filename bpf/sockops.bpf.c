// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: carries the original destination of a redirected connection from
 * the client's socket to the sidecar's accepted socket (through mw_orig_v1,
 * keyed by the tuple both ends share), and registers the sidecar's ingress
 * listener for sk_lookup.
 */
#include "lib/maps.bpf.h"
#include "lib/skops.bpf.h"
#include "lib/track.bpf.h"
#include "lib/shortcut.bpf.h"
#include "lib/compat.bpf.h"

static __always_inline int mw_tuple_from_skops(struct mw_tuple *t, struct bpf_sock_ops *skops,
					       __u64 netns)
{
	__u32 l[4], r[4];

	if (!mw_skops_addrs(skops, l, r))
		return -1;
	t->netns = netns;
	mw_addr_copy(t->saddr, l);
	mw_addr_copy(t->daddr, r);
	t->sport = bpf_htons((__u16)MW_CTX(skops->local_port));
	/* remote_port carries the network-order port in its upper half on
	 * little-endian: ntohl() yields the host-order port on every kernel. */
	t->dport = bpf_htons((__u16)bpf_ntohl(MW_CTX(skops->remote_port)));
	return 0;
}

/* The client's side of a redirected connection is up: publish its tuple. */
static __always_inline void mw_publish(struct bpf_sock_ops *skops)
{
	struct mw_origdst od = {};
	struct mw_tuple t = {};
	struct mw_sk_orig *so;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return;
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	if (!so || !(so->flags & MW_SKO_F_REDIRECTED))
		return;
	if (mw_tuple_from_skops(&t, skops, so->netns))
		return;
	__builtin_memcpy(od.addr, so->addr, MW_ADDR_LEN);
	od.port = so->port;
	if (bpf_map_update_elem(&mw_orig_v1, &t, &od, BPF_ANY))
		mw_stat_inc(MW_S_ORIG_UPDATE_ERR);
}

/*
 * The sidecar's side is up (the client's side always is by then: the client
 * publishes before it sends the ACK that completes this side). Move the
 * original destination from the tuple map into this socket's storage, where
 * getsockopt finds it for as long as the socket lives.
 */
static __always_inline void mw_adopt(struct bpf_sock_ops *skops)
{
	struct mw_tuple t = {}, r = {};
	struct mw_origdst *od;
	struct mw_sk_orig *so;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return;
	if (mw_tuple_from_skops(&t, skops, mw_netns_skops(skops)))
		return;
	/* The client's view: its local end is our remote end. */
	r.netns = t.netns;
	__builtin_memcpy(r.saddr, t.daddr, MW_ADDR_LEN);
	__builtin_memcpy(r.daddr, t.saddr, MW_ADDR_LEN);
	r.sport = t.dport;
	r.dport = t.sport;
	od = bpf_map_lookup_elem(&mw_orig_v1, &r);
	if (!od)
		return;
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (so) {
		__builtin_memcpy(so->addr, od->addr, MW_ADDR_LEN);
		so->port = od->port;
		so->pad = 0;
		so->flags = MW_SKO_F_SIDECAR;
		so->netns = r.netns;
	} else {
		mw_stat_inc(MW_S_SK_STORAGE_ERR);
	}
	bpf_map_delete_elem(&mw_orig_v1, &r);
}

/* The sidecar starts listening on its ingress port in an enrolled namespace:
 * register the listener for sk_lookup and mark it, so that the sockets it
 * accepts can answer SO_ORIGINAL_DST. A listener that closes leaves the
 * sockhash by itself; a new one registers again. */
static __always_inline void mw_register_listener(struct bpf_sock_ops *skops)
{
	struct mw_lsn_key k = {};
	struct mw_workload *wl;
	struct mw_sk_lsn *sl;
	struct bpf_sock *sk;
	__u32 slot;
	__u64 netns = mw_netns_skops(skops);
	__u32 family = MW_CTX(skops->family);
	__be16 port = bpf_htons((__u16)MW_CTX(skops->local_port));

	wl = bpf_map_lookup_elem(&mw_wl_v1, &netns);
	if (!wl || !wl->ingress_port || wl->ingress_port != port)
		return;
	k.netns = netns;
	k.port = port;
	k.family = (__u16)family;
	/* The first free slot: a live listener is never displaced (a closed one
	 * has left its slot by itself). */
	for (slot = 0; slot < MW_LSN_SLOTS; slot++) {
		k.slot = slot;
		if (!bpf_sock_hash_update(skops, &mw_lsn_v1, &k, BPF_NOEXIST))
			break;
	}
	if (slot == MW_LSN_SLOTS) {
		mw_stat_inc(MW_S_LSN_UPDATE_ERR);
		return;
	}
	sk = skops->sk;
	if (!sk)
		return;
	sl = bpf_sk_storage_get(&mw_lsk_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (sl) {
		sl->flags = MW_SKL_F_INGRESS;
		sl->port = port;
	}
}

/* sc: the local shortcut's part, a constant (each program below inlines its own copy). */
static __always_inline int mw_sockops_run(struct bpf_sock_ops *skops, const int sc)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		mw_track_connect(skops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		mw_publish(skops);
		mw_track_established(skops);
		if (sc)
			mw_sc_active(skops);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		mw_track_hdr(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB: {
		__u64 sc_sent = 0, sc_received = 0;

		/* the shortcut's bytes, before the tracker closes the record with them */
		if (sc)
			mw_sc_state(skops, &sc_sent, &sc_received);
		if (MW_CTX(skops->args[1]) == BPF_TCP_CLOSE)
			mw_track_close(skops, (__u32)MW_CTX(skops->args[0]), sc_sent, sc_received);
		else
			mw_track_state(skops, (__u32)MW_CTX(skops->args[0]),
				       (__u32)MW_CTX(skops->args[1]));
		break;
	}
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		mw_register_listener(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		mw_adopt(skops);
		if (sc)
			mw_sc_passive(skops);
		mw_track_inbound(skops);
		break;
	default:
		break;
	}
	return 1;
}

SEC("sockops")
int mw_sockops(struct bpf_sock_ops *skops)
{
	return mw_sockops_run(skops, 1);
}

/* The same without the shortcut, for kernels where it stays off (userspace/loader.c loads
 * one of the two): its pairing uses BPF atomics (5.12), and 5.10 refuses a program that
 * contains any, even where the verifier would never go. */
SEC("sockops")
int mw_sockops_nosc(struct bpf_sock_ops *skops)
{
	return mw_sockops_run(skops, 0);
}
