// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control-plane client (cpclient.h): one HTTPS GET of the routing table with libcurl
 * (OpenSSL backend), mutual TLS, If-None-Match, and failures turned into one line each.
 *
 * Trust is decided by OpenSSL: the server must chain to the CA bundle (CURLOPT_CAINFO,
 * CURLOPT_SSL_VERIFYPEER) and carry the configured Subject Alternative Name, which the
 * CURLOPT_SSL_CTX_FUNCTION callback puts on the SSL_CTX's verify param (a DNS SAN via
 * X509_VERIFY_PARAM_set1_host, an IP SAN via X509_VERIFY_PARAM_set1_ip_asc), so curl's own
 * host-name check is off (CURLOPT_SSL_VERIFYHOST 0). Without a configured SAN the URL's host
 * is the SAN, checked the same way.
 */
#include <stdint.h>

#include "cpclient.h"


#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#define MW_CP_MAX_BODY		(64u << 20)	/* 64 MiB */
#define MW_CP_TIMEOUT_MS	10000L
#define MW_CP_CONNECT_MS	5000L

/* ------------------------------------------------------------------------------------------ */
/* Once per process. */

static pthread_once_t mw_cp_once = PTHREAD_ONCE_INIT;
static CURLcode mw_cp_global_rc = CURLE_FAILED_INIT;
static bool mw_cp_have_openssl;

static void mw_cp_global_init(void)
{
	const curl_version_info_data *v;

	mw_cp_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (mw_cp_global_rc != CURLE_OK)
		return;
	/* The trust decision is made on OpenSSL objects: any other TLS backend cannot do it. */
	v = curl_version_info(CURLVERSION_NOW);
	mw_cp_have_openssl = v && v->ssl_version && strncasecmp(v->ssl_version, "OpenSSL", 7) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* One request's state. */

struct mw_cp_req {
	/* response */
	char *body;
	size_t len, cap;
	bool too_big;
	bool oom;
	char etag[sizeof(((struct mw_cp_result *)0)->etag)];
	char content_type[64];
	/* the SAN the server must present (configured, or the URL's host) */
	char san[256];
	bool san_is_ip;
	bool san_set_failed;
};

static size_t mw_cp_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct mw_cp_req *q = userdata;
	size_t n = size * nmemb, want;
	char *p;

	if (n == 0)
		return 0;
	if (n > MW_CP_MAX_BODY - q->len) {
		q->too_big = true;
		return 0;	/* CURLE_WRITE_ERROR: abort the transfer */
	}
	if (q->len + n + 1 > q->cap) {
		want = q->cap ? q->cap : 16384;
		while (want < q->len + n + 1)
			want *= 2;
		p = realloc(q->body, want);
		if (!p) {
			q->oom = true;
			return 0;
		}
		q->body = p;
		q->cap = want;
	}
	memcpy(q->body + q->len, data, n);
	q->len += n;
	q->body[q->len] = '\0';
	return n;
}

/* Trims a header value in place (leading/trailing blanks, CR, LF); returns its start. */
static char *mw_cp_trim(char *s, size_t *len)
{
	size_t n = *len;

	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*len = n;
	return s;
}

/* An ETag value we can store and send back: fits, and only visible characters. */
static bool mw_cp_etag_ok(const char *s, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n >= max)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static size_t mw_cp_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct mw_cp_req *q = userdata;
	size_t n = size * nmemb, vlen;
	char *v;

	/* A new status line starts a new response (after a 100 Continue, say): forget the last. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		q->etag[0] = '\0';
		q->content_type[0] = '\0';
		return n;
	}
	if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		vlen = n - 5;
		v = mw_cp_trim(data + 5, &vlen);
		/* too long or odd: none rather than a wrong one (we would only get 200s) */
		if (mw_cp_etag_ok(v, vlen, sizeof(q->etag))) {
			memcpy(q->etag, v, vlen);
			q->etag[vlen] = '\0';
		} else {
			q->etag[0] = '\0';
		}
	} else if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
		vlen = n - 13;
		v = mw_cp_trim(data + 13, &vlen);
		if (vlen >= sizeof(q->content_type))
			vlen = sizeof(q->content_type) - 1;
		memcpy(q->content_type, v, vlen);
		q->content_type[vlen] = '\0';
	}
	return n;
}

/* Runs once per connection, before the handshake: the SAN check, by OpenSSL. */
static CURLcode mw_cp_ssl_ctx(CURL *curl __attribute__((unused)), void *sslctx, void *userdata)
{
	struct mw_cp_req *q = userdata;
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param((SSL_CTX *)sslctx);
	int ok;

	if (!param) {
		q->san_set_failed = true;
		return CURLE_SSL_CERTPROBLEM;
	}
	if (q->san_is_ip) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, q->san);
	} else {
		/* Subject Alternative Names only, as App Mesh: never the subject's CN. */
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
							       X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(param, q->san, 0);
	}
	if (ok != 1) {
		q->san_set_failed = true;
		return CURLE_SSL_CERTPROBLEM;
	}
	return CURLE_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Messages. */

__attribute__((format(printf, 4, 5)))
static int mw_cp_err(char *err, size_t errlen, const char *url, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "control plane %s: %s", url, what);
	return 0;
}

/* The URL as shown in messages: without user:password@. */
static void mw_cp_url_shown(const char *url, char *buf, size_t len)
{
	const char *auth = strstr(url, "://"), *at, *end;

	if (!auth) {
		snprintf(buf, len, "%s", url);
		return;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	if (!at) {
		snprintf(buf, len, "%s", url);
		return;
	}
	snprintf(buf, len, "%.*s%s", (int)(auth - url), url, at + 1);
}

/* Copies at most max visible characters of s (len n) into buf, runs of blanks as one space. */
static void mw_cp_clean(const char *s, size_t n, char *buf, size_t len, size_t max)
{
	size_t i, o = 0;
	bool space = false;

	if (len == 0)
		return;
	for (i = 0; i < n && o + 1 < len && o < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = o > 0;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			continue;
		if (space && o + 2 < len) {
			buf[o++] = ' ';
			space = false;
		}
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
}

/*
 * What an error response says, in a few words: an HTML page's <title> without its leading
 * status ("400 No required SSL certificate was sent" -> "No required SSL certificate was sent"),
 * else the first line of a text body. "" when it says nothing readable.
 */
static void mw_cp_reason(const struct mw_cp_req *q, long status, char *buf, size_t len)
{
	const char *b = q->body, *t, *e;
	char code[16];
	size_t n;

	buf[0] = '\0';
	if (!b || q->len == 0)
		return;
	t = strcasestr(b, "<title>");
	if (t) {
		t += 7;
		e = strcasestr(t, "</title>");
		n = e ? (size_t)(e - t) : strnlen(t, 120);
		while (n && isspace((unsigned char)*t)) {
			t++;
			n--;
		}
		snprintf(code, sizeof(code), "%ld", status);
		if (n > strlen(code) && strncmp(t, code, strlen(code)) == 0 &&
		    isspace((unsigned char)t[strlen(code)])) {
			t += strlen(code);
			n -= strlen(code);
		}
		mw_cp_clean(t, n, buf, len, 120);
		return;
	}
	if (strncasecmp(q->content_type, "text/", 5) != 0 &&
	    strncasecmp(q->content_type, "application/json", 16) != 0)
		return;
	while (*b && isspace((unsigned char)*b))
		b++;
	n = strcspn(b, "\r\n");
	mw_cp_clean(b, n, buf, len, 120);
}

/* OpenSSL's error text in curl's message names a TLS alert about certificates we sent. */
static bool mw_cp_refused_ours(const char *msg)
{
	static const char *const alerts[] = {
		"alert bad certificate", "alert certificate required", "alert unknown ca",
		"alert certificate expired", "alert certificate revoked",
		"alert certificate unknown", "alert unsupported certificate",
		"alert access denied", "alert handshake failure",
	};
	size_t i;

	for (i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
		if (strcasestr(msg, alerts[i]))
			return true;
	return false;
}

/* "...:sslv3 alert certificate expired, errno 0" -> "certificate expired". */
static void mw_cp_alert(const char *msg, char *buf, size_t len)
{
	const char *a = strcasestr(msg, "alert ");

	if (!a) {
		snprintf(buf, len, "?");
		return;
	}
	a += 6;
	snprintf(buf, len, "%.*s", (int)strcspn(a, ",;\r\n"), a);
}

static bool mw_cp_readable(const char *path, int *e)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		*e = errno;
		return false;
	}
	fclose(f);
	return true;
}

/* ------------------------------------------------------------------------------------------ */

void mw_cp_result_free(struct mw_cp_result *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/* The URL's host, without IPv6 brackets, as the SAN to check when none is configured. */
static int mw_cp_url_parts(const char *url, char *host, size_t hostlen, bool *https)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL;
	size_t n;
	int ret = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	*https = strcasecmp(scheme, "https") == 0;
	if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
		goto out;
	n = strlen(h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
		snprintf(host, hostlen, "%.*s", (int)(n - 2), h + 1);
	else
		snprintf(host, hostlen, "%s", h);
	/* a zone id (fe80::1%eth0) is no part of an IP SAN */
	host[strcspn(host, "%")] = '\0';
	ret = 0;
out:
	curl_free(scheme);
	curl_free(h);
	curl_url_cleanup(u);
	return ret;
}

static bool mw_cp_is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

#define SETOPT(opt, val)                                                                   \
	do {                                                                               \
		CURLcode _rc = curl_easy_setopt(h, opt, val);                              \
		if (_rc != CURLE_OK) {                                                     \
			mw_cp_err(err, errlen, shown, "libcurl rejects %s: %s", #opt,      \
				  curl_easy_strerror(_rc));                                \
			ret = -ENOTSUP;                                                    \
			goto out;                                                          \
		}                                                                          \
	} while (0)

int mw_cp_fetch(const struct mw_cp_config *c, const char *etag, struct mw_cp_result *r, char *err,
		size_t errlen)
{
	struct mw_cp_req q = { 0 };
	char shown[512], curl_err[CURL_ERROR_SIZE], hdr[sizeof(q.etag) + 32], reason[160];
	struct curl_slist *headers = NULL;
	long timeout, connect_timeout, status = 0, verify = X509_V_OK, oserr = 0;
	bool https = false, send_etag;
	CURL *h = NULL;
	CURLcode rc;
	int ret, e;

	if (err && errlen)
		err[0] = '\0';
	if (!r)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	if (!c || !c->url || !*c->url) {
		if (err && errlen)
			snprintf(err, errlen, "control plane: no URL configured");
		return -EINVAL;
	}
	mw_cp_url_shown(c->url, shown, sizeof(shown));

	pthread_once(&mw_cp_once, mw_cp_global_init);
	if (mw_cp_global_rc != CURLE_OK) {
		mw_cp_err(err, errlen, shown, "libcurl initialisation failed: %s",
			  curl_easy_strerror(mw_cp_global_rc));
		return -ENOTSUP;
	}
	if (!mw_cp_have_openssl) {
		mw_cp_err(err, errlen, shown, "libcurl is not built with OpenSSL (%s)",
			  curl_version_info(CURLVERSION_NOW)->ssl_version ?: "no TLS");
		return -ENOTSUP;
	}

	/* What can be told before any traffic: the URL, the files. */
	ret = mw_cp_url_parts(c->url, q.san, sizeof(q.san), &https);
	if (ret == -ENOMEM) {
		mw_cp_err(err, errlen, shown, "out of memory");
		return ret;
	}
	if (ret < 0) {
		mw_cp_err(err, errlen, shown, "not a valid URL");
		return -EINVAL;
	}
	if (!https) {
		mw_cp_err(err, errlen, shown, "only https:// URLs are accepted");
		return -EINVAL;
	}
	if (c->server_san && *c->server_san) {
		if (strlen(c->server_san) >= sizeof(q.san)) {
			mw_cp_err(err, errlen, shown, "SAN too long");
			return -EINVAL;
		}
		snprintf(q.san, sizeof(q.san), "%s", c->server_san);
	}
	if (!q.san[0]) {
		mw_cp_err(err, errlen, shown, "no host to check the server certificate against");
		return -EINVAL;
	}
	q.san_is_ip = mw_cp_is_ip(q.san);
	if (c->ca_file && *c->ca_file && !mw_cp_readable(c->ca_file, &e)) {
		mw_cp_err(err, errlen, shown, "CA bundle %s: %s", c->ca_file, strerror(e));
		return -e;
	}
	if (c->cert_file && *c->cert_file && !mw_cp_readable(c->cert_file, &e)) {
		mw_cp_err(err, errlen, shown, "client certificate %s: %s", c->cert_file, strerror(e));
		return -e;
	}
	if (c->key_file && *c->key_file) {
		if (!c->cert_file || !*c->cert_file) {
			mw_cp_err(err, errlen, shown, "a client key needs a client certificate");
			return -EINVAL;
		}
		if (!mw_cp_readable(c->key_file, &e)) {
			mw_cp_err(err, errlen, shown, "client key %s: %s", c->key_file, strerror(e));
			return -e;
		}
	}

	timeout = c->timeout_ms > 0 ? c->timeout_ms : MW_CP_TIMEOUT_MS;
	connect_timeout = timeout < MW_CP_CONNECT_MS ? timeout : MW_CP_CONNECT_MS;
	/* Only an ETag we could have stored goes back: nothing that could split a header. */
	send_etag = etag && mw_cp_etag_ok(etag, strlen(etag), sizeof(q.etag));

	h = curl_easy_init();
	if (!h) {
		mw_cp_err(err, errlen, shown, "libcurl: cannot make a handle");
		return -ENOMEM;
	}
	curl_err[0] = '\0';
	ret = 0;
	SETOPT(CURLOPT_ERRORBUFFER, curl_err);
	SETOPT(CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85: the _STR forms, the bitmask ones deprecated */
	SETOPT(CURLOPT_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
	SETOPT(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_NOPROXY, "*");
	SETOPT(CURLOPT_TIMEOUT_MS, timeout);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MW_CP_MAX_BODY);
	SETOPT(CURLOPT_USERAGENT, "meshwarp");
	SETOPT(CURLOPT_WRITEFUNCTION, mw_cp_write);
	SETOPT(CURLOPT_WRITEDATA, &q);
	SETOPT(CURLOPT_HEADERFUNCTION, mw_cp_header);
	SETOPT(CURLOPT_HEADERDATA, &q);

	/* TLS: peer verified against the bundle, the SAN by OpenSSL (callback), our certificate. */
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
	if (c->ca_file && *c->ca_file) {
		/* the bundle alone: not also the system's directory (Debian's curl has one) */
		SETOPT(CURLOPT_CAINFO, c->ca_file);
		SETOPT(CURLOPT_CAPATH, (char *)NULL);
	}
	if (c->cert_file && *c->cert_file) {
		SETOPT(CURLOPT_SSLCERT, c->cert_file);
		SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		SETOPT(CURLOPT_SSLKEY, c->key_file && *c->key_file ? c->key_file : c->cert_file);
		SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	}
	SETOPT(CURLOPT_SSL_CTX_FUNCTION, mw_cp_ssl_ctx);
	SETOPT(CURLOPT_SSL_CTX_DATA, &q);

	if (send_etag) {
		struct curl_slist *l;

		snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
		l = curl_slist_append(headers, hdr);
		if (!l) {
			mw_cp_err(err, errlen, shown, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		headers = l;
		SETOPT(CURLOPT_HTTPHEADER, headers);
	}

	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &verify);
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);

	if (rc != CURLE_OK) {
		const char *detail = curl_err[0] ? curl_err : curl_easy_strerror(rc);

		/*
		 * A certificate the server sent that OpenSSL did not accept. curl sets the result
		 * to X509_V_ERR_UNSPECIFIED before each handshake: that value alone means the
		 * handshake never got to the server's certificate.
		 */
		if (rc == CURLE_PEER_FAILED_VERIFICATION ||
		    (verify != X509_V_OK && verify != X509_V_ERR_UNSPECIFIED)) {
			const char *why = verify != X509_V_OK && verify != X509_V_ERR_UNSPECIFIED
						  ? X509_verify_cert_error_string(verify)
						  : detail;

			if (verify == X509_V_ERR_HOSTNAME_MISMATCH)
				mw_cp_err(err, errlen, shown, "server certificate: %s (want SAN %s)",
					  why, q.san);
			else if (verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
				mw_cp_err(err, errlen, shown,
					  "server certificate: %s (want IP SAN %s)", why, q.san);
			else
				mw_cp_err(err, errlen, shown, "server certificate: %s (%s%s)", why,
					  c->ca_file && *c->ca_file ? "CA bundle " : "",
					  c->ca_file && *c->ca_file ? c->ca_file : "the system's CAs");
			ret = -EACCES;
			goto out;
		}
		switch (rc) {
		case CURLE_COULDNT_CONNECT:
			if (oserr)
				mw_cp_err(err, errlen, shown, "cannot connect: %s", strerror((int)oserr));
			else
				mw_cp_err(err, errlen, shown, "cannot connect: %s", detail);
			ret = oserr ? -(int)oserr : -ECONNREFUSED;
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
			mw_cp_err(err, errlen, shown, "cannot resolve the host: %s", detail);
			ret = -EHOSTUNREACH;
			break;
		case CURLE_OPERATION_TIMEDOUT: {
			curl_off_t connected = 0;

			curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected);
			if (connected == 0)
				mw_cp_err(err, errlen, shown,
					  "cannot connect: no answer within %ld ms", connect_timeout);
			else
				mw_cp_err(err, errlen, shown, "timed out after %ld ms: %s", timeout,
					  detail);
			ret = -ETIMEDOUT;
			break;
		}
		case CURLE_WRITE_ERROR:
		case CURLE_FILESIZE_EXCEEDED:
			if (q.oom) {
				mw_cp_err(err, errlen, shown, "out of memory reading the response");
				ret = -ENOMEM;
			} else if (q.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
				mw_cp_err(err, errlen, shown, "response larger than %u MiB",
					  MW_CP_MAX_BODY >> 20);
				ret = -EFBIG;
			} else {
				mw_cp_err(err, errlen, shown, "%s", detail);
				ret = -EIO;
			}
			break;
		case CURLE_SSL_CACERT_BADFILE:
			mw_cp_err(err, errlen, shown, "CA bundle %s: %s",
				  c->ca_file ? c->ca_file : "(system)", detail);
			ret = -EINVAL;
			break;
		case CURLE_SSL_CERTPROBLEM:
			if (q.san_set_failed)
				mw_cp_err(err, errlen, shown, "cannot check SAN %s: %s", q.san,
					  q.san_is_ip ? "not an IP address OpenSSL accepts"
						      : "not a DNS name OpenSSL accepts");
			else
				mw_cp_err(err, errlen, shown, "client certificate %s or key %s: %s",
					  c->cert_file ? c->cert_file : "-",
					  c->key_file ? c->key_file : c->cert_file ? c->cert_file : "-",
					  detail);
			ret = -EINVAL;
			break;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
			if (mw_cp_refused_ours(detail)) {
				char alert[64];

				mw_cp_alert(detail, alert, sizeof(alert));
				if (c->cert_file && *c->cert_file)
					mw_cp_err(err, errlen, shown,
						  "TLS handshake failed: the server refused our "
						  "certificate (alert: %s)", alert);
				else
					mw_cp_err(err, errlen, shown,
						  "TLS handshake failed: the server wants a client "
						  "certificate; none configured (alert: %s)", alert);
				ret = -EACCES;
			} else if (rc == CURLE_SSL_CONNECT_ERROR) {
				mw_cp_err(err, errlen, shown, "TLS handshake failed: %s", detail);
				ret = -EPROTO;
			} else if (rc == CURLE_GOT_NOTHING) {
				mw_cp_err(err, errlen, shown,
					  "the server closed the connection without an answer");
				ret = -ECONNRESET;
			} else {
				mw_cp_err(err, errlen, shown, "%s", detail);
				ret = -ECONNRESET;
			}
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:	/* the scheme was checked: HTTP/0.9 and such */
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			mw_cp_err(err, errlen, shown, "not an HTTP answer: %s", detail);
			ret = -EPROTO;
			break;
		case CURLE_OUT_OF_MEMORY:
			mw_cp_err(err, errlen, shown, "out of memory");
			ret = -ENOMEM;
			break;
		default:
			mw_cp_err(err, errlen, shown, "%s", detail);
			ret = -EIO;
			break;
		}
		goto out;
	}

	if (status != 200 && status != 304) {
		mw_cp_reason(&q, status, reason, sizeof(reason));
		if (status == 400 && strcasestr(reason, "SSL certificate")) {
			/* nginx's answer to a missing or refused client certificate */
			mw_cp_err(err, errlen, shown, "HTTP 400: %s (%s)", reason,
				  c->cert_file && *c->cert_file
					  ? "the server refused our client certificate"
					  : "the server wants a client certificate; none configured");
			ret = -EACCES;
		} else if (status >= 300 && status < 400) {
			mw_cp_err(err, errlen, shown, "HTTP %ld%s%s (redirects are not followed)",
				  status, reason[0] ? ": " : "", reason);
			ret = -EPROTO;
		} else {
			mw_cp_err(err, errlen, shown, "HTTP %ld%s%s", status, reason[0] ? ": " : "",
				  reason);
			ret = -EPROTO;
		}
		goto out;
	}

	if (status == 200 && q.len && memchr(q.body, '\0', q.len)) {
		mw_cp_err(err, errlen, shown, "the response body holds NUL bytes: not a routing table");
		ret = -EBADMSG;
		goto out;
	}

	r->status = status;
	if (status == 304) {
		free(q.body);
		q.body = NULL;
		q.len = 0;
		/* Not modified: the ETag we sent still names it, when the 304 did not repeat it. */
		if (!q.etag[0] && send_etag)
			snprintf(q.etag, sizeof(q.etag), "%s", etag);
	}
	if (!q.body) {
		q.body = calloc(1, 1);
		if (!q.body) {
			mw_cp_err(err, errlen, shown, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
	}
	r->body = q.body;
	r->len = q.len;
	q.body = NULL;
	memcpy(r->etag, q.etag, sizeof(r->etag));
	ret = 0;
out:
	free(q.body);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	if (ret < 0)
		memset(r, 0, sizeof(*r));
	return ret;
}
