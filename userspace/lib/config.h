/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Workload configuration: the App Mesh proxy-init environment variables
 * (APPMESH_*), parsed and validated. Pure logic: no BPF, no syscalls beyond
 * memory allocation, so unit tests reach it without root.
 */
#ifndef MW_CONFIG_H
#define MW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Port 22 is always ignored on egress, as the App Mesh init script does. */
#define MW_ALWAYS_IGNORED_PORT 22

/* An address or CIDR block. IPv4 is stored v4-mapped (::ffff:a.b.c.d) with
 * prefix = 96 + mask length, so v4 and v6 share one representation. */
struct mw_cidr {
	uint8_t addr[16];	/* network order, host bits cleared */
	uint8_t prefix;		/* 0..128, in the 128-bit (mapped) space */
	uint8_t is_v4;		/* written as IPv4 by the user */
};

struct mw_config {
	int start_enabled;		/* APPMESH_START_ENABLED == "1" */
	int has_uid;
	uint32_t ignore_uid;		/* APPMESH_IGNORE_UID */
	int has_gid;
	uint32_t ignore_gid;		/* APPMESH_IGNORE_GID */
	uint16_t egress_port;		/* APPMESH_ENVOY_EGRESS_PORT, host order */
	uint16_t ingress_port;		/* APPMESH_ENVOY_INGRESS_PORT, 0 = unset */
	int app_ports_set;		/* APPMESH_APP_PORTS present (may be empty) */
	uint16_t *app_ports;		/* sorted, unique */
	size_t n_app_ports;
	uint16_t *ignored_ports;	/* APPMESH_EGRESS_IGNORED_PORTS + 22; sorted, unique */
	size_t n_ignored_ports;
	struct mw_cidr *ignored;	/* APPMESH_EGRESS_IGNORED_IP, in the user's order */
	size_t n_ignored;
	int enable_ipv6;		/* APPMESH_ENABLE_IPV6 == "1" */
	int inbound_fail_open;		/* MESHWARP_INBOUND_POLICY == "fail-open" */
	int shortcut;			/* MESHWARP_SHORTCUT: MW_SHORTCUT_* */
};

/* The local shortcut (docs/shortcut.md): off by default, per workload. */
#define MW_SHORTCUT_OFF		0	/* unset, "" or "0" */
#define MW_SHORTCUT_ON		1	/* "1": unless other sockmap users are on the host */
#define MW_SHORTCUT_FORCE	2	/* "force": even next to them */

/* Reads a variable; returns NULL when unset. Tests pass a fake. */
typedef const char *(*mw_getenv_fn)(void *ctx, const char *name);

/*
 * Fills cfg from the APPMESH_* variables. On error returns a negative errno
 * (-EINVAL for bad input, -ENOMEM) and writes one line to err naming the
 * variable and the value, using the App Mesh message texts where they exist:
 *   "Variables APPMESH_IGNORE_UID and/or APPMESH_IGNORE_GID must be set."
 *   "APPMESH_ENVOY_EGRESS_PORT: invalid port [70000] specified"
 *   "APPMESH_EGRESS_IGNORED_IP: invalid IP or CIDR block [10.0.0.0/33] specified in egressIgnoredIPs"
 * cfg needs mw_config_free() on success and on failure.
 */
int mw_config_from_env(struct mw_config *cfg, mw_getenv_fn getenv_fn, void *ctx,
		       char *err, size_t errlen);
void mw_config_free(struct mw_config *cfg);

/* "1".."65535", decimal, no sign, no spaces (callers trim). 0 or -EINVAL. */
int mw_parse_port(const char *s, uint16_t *port);
/* Decimal 0..4294967294 (the kernel's invalid ID 4294967295 is refused). */
int mw_parse_id(const char *s, uint32_t *id);
/* "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n"; host bits set are refused. */
int mw_parse_cidr(const char *s, struct mw_cidr *out);
/* Formats a cidr as the user would write it ("10.0.0.0/8", "fd00::/8", "1.2.3.4"). */
void mw_cidr_str(const struct mw_cidr *c, char *buf, size_t len);

#endif /* MW_CONFIG_H */
