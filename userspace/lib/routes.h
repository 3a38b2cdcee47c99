/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Routing tables from the control plane: a versioned JSON document of services
 * and per-workload ordered rules, parsed and validated (every error names the
 * line and column, or the path to the field), compiled per workload into the
 * kernel's table (struct mw_table: exact-port rules, per-destination rule
 * lists, services), and compared with what is loaded. Pure logic.
 *
 * The document (docs/routes.md is its reference):
 * {
 *   "version": "2026-11-26.1",
 *   "services": [
 *     { "name": "reviews", "addresses": ["10.96.0.10"], "ports": [9080],
 *       "versions": [ { "name": "v1", "weight": 90, "endpoints": ["10.250.5.2:9080"] },
 *                     { "name": "v2", "weight": 10, "endpoints": ["10.250.6.2:9080"] } ] }
 *   ],
 *   "workloads": [
 *     { "workload": "web",           (a name given at enrolment, or "*": every workload)
 *       "rules": [
 *         { "match": { "service": "reviews" }, "action": { "forward": "reviews" } },
 *         { "match": { "destination": "10.0.0.0/8", "ports": "8000-8999" },
 *           "action": { "reject": "ECONNREFUSED" } },
 *         { "match": { "port": 5432 }, "action": "bypass" },
 *         { "match": {}, "action": { "sidecar": 15001 } } ] } ]
 * }
 * match: "destination" (address or CIDR, v4 or v6), "port" (one) or "ports"
 * ("lo-hi" or a number; ports are 1..65535), "service" (its addresses and
 * ports; not with "destination", "port" or "ports"); all optional, absent
 * means any. action: "sidecar" (to the sidecar; a port or true for the
 * workload's egress port; the string "sidecar" is the same as true),
 * "bypass" (the string, or true), "reject" (an errno name: ECONNREFUSED,
 * EHOSTUNREACH, ENETUNREACH, EACCES, EPERM, ETIMEDOUT), "forward" (a service
 * with versions; the rule must match the family of the service's endpoints
 * only, so it needs a destination or a service of that family). A connection
 * no rule matches goes to the sidecar, as with the App Mesh variables. Unknown
 * keys and duplicate keys are errors.
 */
#ifndef MW_ROUTES_H
#define MW_ROUTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "config.h"
#include "table.h"

#define MW_NAME_LEN 64

enum mw_route_action {
	MW_RA_SIDECAR,
	MW_RA_BYPASS,
	MW_RA_REJECT,
	MW_RA_FORWARD,
};

struct mw_route_rule {
	int has_dst;
	struct mw_cidr dst;
	uint16_t port_lo;		/* host order, inclusive; 0..65535 when absent */
	uint16_t port_hi;
	enum mw_route_action action;
	uint16_t sidecar_port;		/* MW_RA_SIDECAR: 0 = the workload's egress port */
	int err;			/* MW_RA_REJECT: positive errno */
	size_t svc;			/* MW_RA_FORWARD: index into services */
	char path[96];			/* "workloads[0].rules[3]", for messages; the
					 * expansions of one "service" rule share it */
};

struct mw_route_endpoint {
	uint8_t addr[16];		/* v4-mapped for IPv4 */
	uint16_t port;			/* host order */
};

struct mw_route_version {
	char name[MW_NAME_LEN];
	uint32_t weight;
	struct mw_route_endpoint *eps;
	size_t n_eps;
};

struct mw_route_service {
	char name[MW_NAME_LEN];
	struct mw_cidr *addrs;
	size_t n_addrs;
	uint16_t *ports;		/* empty: every port */
	size_t n_ports;
	struct mw_route_version *versions;
	size_t n_versions;
};

struct mw_route_workload {
	char name[MW_NAME_LEN];		/* "*" for every workload */
	struct mw_route_rule *rules;	/* "match": {"service": ...} expanded, one rule per
					 * address and per run of consecutive ports */
	size_t n_rules;
};

struct mw_routes {
	char version[128];
	struct mw_route_service *services;
	size_t n_services;
	struct mw_route_workload *workloads;
	size_t n_workloads;
};

/* Warnings that do not stop an apply (overlapping or unreachable rules). */
typedef void (*mw_warn_fn)(void *ctx, const char *msg);

/*
 * Parses and validates a document. Errors: a syntax error as "line L, column C:
 * <what>"; a semantic one as the path and the reason, e.g.
 * "workloads[0].rules[3].match.port: 70000 out of range",
 * "workloads[1].rules[0].action.forward: no service named \"ratings\"",
 * "services[0].versions: weights add up to 0". Returns 0 or -EINVAL/-ENOMEM
 * (rt is empty on failure). warn (may be NULL) receives each warning, at most
 * one per rule and only for a document that parsed, e.g.
 * "workloads[0].rules[4]: unreachable: workloads[0].rules[2] matches all it matches",
 * "workloads[0].rules[5]: overlaps workloads[0].rules[1], which has a different action"
 * (rules of one workload entry compared; the first such earlier rule named).
 */
int mw_routes_parse(struct mw_routes *rt, const char *json, size_t len, char *err,
		    size_t errlen, mw_warn_fn warn, void *warn_ctx);
void mw_routes_free(struct mw_routes *rt);

/* Whether the document has rules for `workload` (its own or "*"). */
int mw_routes_applies(const struct mw_routes *rt, const char *workload);

/*
 * Compiles the rules for `workload` (the entries naming it, in document order,
 * then the "*" entries) on top of its App Mesh configuration `env` into a table
 * for namespace netns (generation 0: the apply sets it). The result is:
 * - wl, ports (ignored ports, app ports): as mw_table_compile(env): the ignored
 *   ports of APPMESH_EGRESS_IGNORED_PORTS stay ahead of every route rule;
 * - cidrs: for every destination prefix that some rule or ignored address names,
 *   the ordered list of every rule that covers it (route rules first, then the
 *   ignored addresses as bypass for every port), IPv6 rules never covering IPv4
 *   (::ffff:0:0/96) and rules without destination covering both (they add ::/0
 *   and ::ffff:0:0/96); a list longer than MW_RULES_PER_DST is an error naming
 *   the destination and the rules; rules after one that matches every port of a
 *   prefix are dropped from its list; a prefix with an empty list is left out,
 *   except ::ffff:0:0/96 when an IPv6 prefix covers it: that one gets the guard
 *   of mw_table_compile (redirect, every port). In order of address, then
 *   prefix length;
 * - svcs: one per forwarded service, id = its index in rt->services + 1 (the
 *   same in every workload's table), each version's weight shared by its
 *   endpoints (all weights scaled by the least factor that makes the shares
 *   whole), versions of weight 0 left out, cumulative weights; more than
 *   MW_SVC_ENDPOINTS endpoints is an error. In order of id.
 * Returns 0 or a negative errno (-EINVAL, -ENOMEM) with a message in err.
 */
int mw_routes_compile(const struct mw_routes *rt, const char *workload,
		      const struct mw_config *env, uint64_t netns, struct mw_table *out,
		      char *err, size_t errlen);

/* The rules of the table in force for netns (at the generation of its workload
 * entry), read back from the store in the compile's order. -ENOENT when netns is
 * not enrolled. */
int mw_table_read(struct mw_store *s, uint64_t netns, struct mw_table *out);

/*
 * Writes what changes from `old` to `new` (both of one workload), one line per
 * entry added, removed or changed, entries compared by key: the workload entry,
 * then ports, address blocks (by address), services (by id). E.g.
 * "+ 10.0.0.0/8 ports 8000-8999 reject ECONNREFUSED; bypass", "- port 5432 bypass",
 * "~ 10.96.0.10: port 9080 sidecar -> port 9080 forward service 1",
 * "~ service 1: 10.250.5.2:9080 weight 90, 10.250.6.2:9080 weight 10 -> ...".
 * Generations are ignored. Returns the number of changes (0: identical) or a
 * negative errno.
 */
int mw_table_diff(const struct mw_table *old, const struct mw_table *new, FILE *out);

#endif /* MW_ROUTES_H */
