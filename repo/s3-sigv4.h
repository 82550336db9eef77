/* AWS Signature Version 4 for S3 requests (header authentication), with OpenSSL.
 *
 * The caller builds the request (method, canonical URI, query parameters, the headers to
 * sign, the payload hash) and gets back the Authorization header value. The same query
 * string that is signed must be sent: sigv4_canonical_query() produces it, so the URL and
 * the signature can never disagree (libcurl 7.88's own signer does not canonicalise).
 *
 * All functions are pure (no global state) and thread-safe. Secrets are only read. */
#ifndef FERRY_S3_SIGV4_H
#define FERRY_S3_SIGV4_H

#include <stddef.h>
#include <time.h>

#define SIGV4_HASH_HEX 65	/* 64 hex digits + NUL */
#define SIGV4_DATE_LEN 17	/* "YYYYMMDDTHHMMSSZ" + NUL */

struct sigv4_kv {
	const char *name;	/* headers: lowercase; query: raw (encoded by the signer) */
	const char *value;	/* raw; NULL for a query parameter without value ("uploads=") */
};

struct sigv4_request {
	const char *method;		/* "GET", "PUT", ... */
	const char *uri;		/* canonical URI, already encoded (sigv4_uri_encode) */
	const struct sigv4_kv *query;	/* any order */
	size_t n_query;
	const struct sigv4_kv *headers;	/* every header to sign, lowercase names, any order;
					 * must include host, x-amz-date, x-amz-content-sha256 */
	size_t n_headers;
	const char *payload_hash;	/* the x-amz-content-sha256 value */
};

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *region;	/* e.g. "us-east-1" */
	const char *service;	/* "s3" */
};

/* Lowercase hex SHA-256 of data into out[SIGV4_HASH_HEX]. */
void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HASH_HEX]);
/* x-amz-date for t (UTC) into out[SIGV4_DATE_LEN]. */
void sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN]);

/* Percent-encode s the SigV4 way: keep A-Z a-z 0-9 - _ . ~ (and '/' if keep_slash),
 * everything else %XX with uppercase hex. Return a malloc'd string, or NULL (ENOMEM). */
char *sigv4_uri_encode(const char *s, int keep_slash);
/* The canonical query string: names and values encoded, sorted by name then value, joined
 * with '&', a NULL value written "name=". malloc'd ("" for none), or NULL (ENOMEM). */
char *sigv4_canonical_query(const struct sigv4_kv *q, size_t n);
/* The canonical request text (step 1 of SigV4); malloc'd or NULL. Header values are
 * trimmed and inner runs of spaces collapsed. */
char *sigv4_canonical_request(const struct sigv4_request *r);

/* Sign r at amz_date ("YYYYMMDDTHHMMSSZ", the x-amz-date header's value) and write the
 * Authorization header value ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...") into auth. Return 0, -ENOMEM, -EINVAL (bad date) or -ENOSPC (authlen). */
int sigv4_sign(const struct sigv4_request *r, const struct sigv4_creds *c,
	       const char *amz_date, char *auth, size_t authlen);

#endif
