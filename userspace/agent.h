/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef MW_AGENT_H
#define MW_AGENT_H

struct mw_opts;

/*
 * Asks a running agent (o->socket_path) to enable or disable the calling
 * process's network namespace with the calling process's APPMESH_* and
 * MESHWARP_* variables. Returns the agent's exit code (its messages copied to
 * stderr), or -ENOENT when no agent serves o->pin_dir (then init works
 * standalone). MESHWARP_STANDALONE=1 skips the agent.
 */
int mw_agent_request(const struct mw_opts *o, const char *op);

/*
 * Hands a routing table (`routes apply`, `routes rollback`) to the agent serving
 * o->pin_dir, which applies it as it applies its file's and the control plane's, and
 * counts it. Returns the agent's exit code (its messages copied to stderr), or -ENOENT
 * when no agent serves o->pin_dir (then the CLI applies it itself).
 */
int mw_agent_routes_apply(const struct mw_opts *o, const char *text, size_t len,
			  const char *origin);

#endif /* MW_AGENT_H */
