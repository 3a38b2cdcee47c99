/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control-plane client: fetches the routing table over HTTPS with mutual
 * TLS (libcurl for HTTP, OpenSSL for the trust decisions: the server must
 * chain to the configured CA bundle and carry the configured Subject
 * Alternative Name, as App Mesh's mTLS validation does), conditional on the
 * ETag it last applied (If-None-Match), with exponential backoff on failure.
 */
#ifndef MW_CPCLIENT_H
#define MW_CPCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "backoff.h"

struct mw_cp_config {
	const char *url;	/* https://host:port/path */
	const char *ca_file;	/* PEM bundle the server must chain to */
	const char *cert_file;	/* our client certificate (PEM) */
	const char *key_file;	/* its key (PEM) */
	const char *server_san;	/* the SAN the server must present (DNS name or IP); NULL: the URL's host */
	long timeout_ms;	/* whole request; 0: 10 s */
};

struct mw_cp_result {
	long status;		/* 200 (body set) or 304 (not modified) */
	char *body;		/* NUL-terminated */
	size_t len;
	char etag[256];		/* the response's ETag, "" when none */
};

/*
 * One GET of c->url, with If-None-Match: etag when etag is non-empty. Returns 0
 * with r->status 200 or 304, or a negative errno with one line in err that
 * says what failed, e.g. "control plane https://...: server certificate does
 * not match SAN cp.mesh.local", "...: server certificate: unable to get local
 * issuer certificate", "...: TLS handshake failed: the server refused our
 * certificate", "...: HTTP 500". r needs mw_cp_result_free on success.
 */
int mw_cp_fetch(const struct mw_cp_config *c, const char *etag, struct mw_cp_result *r, char *err,
		size_t errlen);
void mw_cp_result_free(struct mw_cp_result *r);

/* mw_cp_backoff_ms: lib/backoff.h. */

#endif /* MW_CPCLIENT_H */
