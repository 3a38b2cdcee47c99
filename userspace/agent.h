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

#endif /* MW_AGENT_H */
