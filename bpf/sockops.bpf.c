// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: publishes the original destination of a redirected connection under
 * its client->sidecar tuple once the connection is established, so that the
 * sidecar's SO_ORIGINAL_DST can be answered, and withdraws it when the client
 * socket closes.
 */
#include "lib/maps.bpf.h"
#include "lib/addr.bpf.h"

static __always_inline int mw_tuple_from_skops(struct mw_tuple *t, struct bpf_sock_ops *skops,
					       __u64 netns)
{
	/* Every field is read unconditionally, in this order: loads chosen by a
	 * branch get merged by clang into one load through a computed context
	 * pointer, which the verifier refuses. */
	__u32 family = MW_CTX(skops->family);
	__u32 l4 = MW_CTX(skops->local_ip4);
	__u32 r4 = MW_CTX(skops->remote_ip4);
	__u32 l6[4], r6[4];

	l6[0] = MW_CTX(skops->local_ip6[0]);
	l6[1] = MW_CTX(skops->local_ip6[1]);
	l6[2] = MW_CTX(skops->local_ip6[2]);
	l6[3] = MW_CTX(skops->local_ip6[3]);
	r6[0] = MW_CTX(skops->remote_ip6[0]);
	r6[1] = MW_CTX(skops->remote_ip6[1]);
	r6[2] = MW_CTX(skops->remote_ip6[2]);
	r6[3] = MW_CTX(skops->remote_ip6[3]);

	t->netns = netns;
	if (family == AF_INET) {
		mw_addr_from_v4(l6, l4);
		mw_addr_from_v4(r6, r4);
	} else if (family != AF_INET6) {
		return -1;
	}
	mw_addr_copy(t->saddr, l6);
	mw_addr_copy(t->daddr, r6);
	t->sport = bpf_htons((__u16)MW_CTX(skops->local_port));
	/* remote_port carries the network-order port in its upper half on
	 * little-endian: ntohl() yields the host-order port on every kernel. */
	t->dport = bpf_htons((__u16)bpf_ntohl(MW_CTX(skops->remote_port)));
	return 0;
}

static __always_inline void mw_publish(struct bpf_sock_ops *skops)
{
	struct mw_origdst od = {};
	struct mw_tuple t = {};
	struct mw_sk_orig *so;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return;
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	if (!so)
		return;
	if (mw_tuple_from_skops(&t, skops, so->netns))
		return;
	__builtin_memcpy(od.addr, so->addr, MW_ADDR_LEN);
	od.port = so->port;
	if (bpf_map_update_elem(&mw_orig_v1, &t, &od, BPF_ANY)) {
		mw_stat_inc(MW_S_ORIG_UPDATE_ERR);
		return;
	}
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void mw_withdraw(struct bpf_sock_ops *skops)
{
	struct mw_tuple t = {};
	struct mw_sk_orig *so;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return;
	so = bpf_sk_storage_get(&mw_sko_v1, sk, 0, 0);
	if (!so)
		return;
	if (mw_tuple_from_skops(&t, skops, so->netns))
		return;
	bpf_map_delete_elem(&mw_orig_v1, &t);
}

SEC("sockops")
int mw_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		mw_publish(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			mw_withdraw(skops);
		break;
	default:
		break;
	}
	return 1;
}
