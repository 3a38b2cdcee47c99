// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The local shortcut's two verdicts, both attached to the sockhash mw_sch_v1 (classic
 * attach: sk_msg and sk_skb links exist only from 6.12). bpf/lib/shortcut.bpf.h has the
 * rules, docs/shortcut.md the reasons.
 */
#include "lib/shortcut.bpf.h"

/* Every message an application writes on a member: to the peer's receive queue, or TCP. */
SEC("sk_msg")
int mw_sk_msg(struct sk_msg_md *msg)
{
	return mw_sc_verdict(msg);
}

/*
 * Every byte that reaches a member by TCP (after its connection left the shortcut, or
 * before it paired): kept, in the socket's one receive queue, behind what was handed
 * over. Reads, FIONREAD and a short read then mean what they mean on plain TCP.
 */
SEC("sk_skb/stream_verdict")
int mw_sk_skb(struct __sk_buff *skb)
{
	return SK_PASS;
}
