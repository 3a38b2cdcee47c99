/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Inbound interception: the per-namespace sk_lookup hook and the sidecar's listener. */
#ifndef MW_INGRESS_H
#define MW_INGRESS_H

#include <stdint.h>
#include "loader.h"

/*
 * Registers the listening TCP sockets of the calling thread's namespace on
 * `port` (the sidecar's ingress port) for sk_lookup. The sockops hook registers
 * every listener that starts after enrolment; this covers one that was already
 * listening, or that lives outside the cgroup. Returns how many it registered
 * or a negative errno.
 */
int mw_ingress_adopt_listeners(struct mw_dp *dp, uint64_t netns, uint16_t port);

/* Forgets the listeners registered for `netns`. */
int mw_ingress_forget_listeners(struct mw_dp *dp, uint64_t netns);

#endif /* MW_INGRESS_H */
