/* SigV4 signing (see s3-sigv4.h). Strings are built with open_memstream, which keeps the
 * code short; every allocation failure becomes NULL/-ENOMEM. The four HMAC steps of the
 * signing key are recomputed per request: they cost microseconds, and caching them would
 * need a lock and a date check. */
#include "repo/s3-sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/strnum.h"
#include "common/util.h"
#include "common/banned.h"


void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HASH_HEX])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(data, len, md);
	hex_encode(md, sizeof(md), out);
}

void sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

char *sigv4_uri_encode(const char *s, int keep_slash)
{
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (unreserved(*c) || (keep_slash && *c == '/')) {
			*o++ = (char)*c;
		} else {
			*o++ = '%';
			*o++ = "0123456789ABCDEF"[*c >> 4];
			*o++ = "0123456789ABCDEF"[*c & 15];
		}
	}
	*o = '\0';
	return out;
}

struct enc_kv {
	char *name, *value;
};

static int cmp_enc_kv(const void *a, const void *b)
{
	const struct enc_kv *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

char *sigv4_canonical_query(const struct sigv4_kv *q, size_t n)
{
	struct enc_kv *e = calloc(n ? n : 1, sizeof(*e));
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = NULL;
	int ok = e != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		e[i].name = sigv4_uri_encode(q[i].name, 0);
		e[i].value = sigv4_uri_encode(q[i].value ? q[i].value : "", 0);
		ok = e[i].name && e[i].value;
	}
	if (ok) {
		qsort(e, n, sizeof(*e), cmp_enc_kv);
		f = open_memstream(&buf, &blen);
		ok = f != NULL;
	}
	for (size_t i = 0; ok && i < n; i++)
		fprintf(f, "%s%s=%s", i ? "&" : "", e[i].name, e[i].value);
	if (f && fclose(f))
		ok = 0;
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int cmp_kv_name(const void *a, const void *b)
{
	const struct sigv4_kv *x = *(const struct sigv4_kv *const *)a;
	const struct sigv4_kv *y = *(const struct sigv4_kv *const *)b;
	return strcmp(x->name, y->name);
}

/* value trimmed, inner runs of spaces/tabs collapsed to one space */
static void put_trimmed(FILE *f, const char *v)
{
	int space = 0, started = 0;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = started;
			continue;
		}
		if (space)
			fputc(' ', f);
		space = 0;
		started = 1;
		fputc(*v, f);
	}
}

/* Sorted pointers to the headers, or NULL. */
static const struct sigv4_kv **sorted_headers(const struct sigv4_request *r)
{
	const struct sigv4_kv **h = calloc(r->n_headers ? r->n_headers : 1, sizeof(*h));
	if (!h)
		return NULL;
	for (size_t i = 0; i < r->n_headers; i++)
		h[i] = &r->headers[i];
	qsort(h, r->n_headers, sizeof(*h), cmp_kv_name);
	return h;
}

static void put_signed_headers(FILE *f, const struct sigv4_kv **h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ";" : "", h[i]->name);
}

char *sigv4_canonical_request(const struct sigv4_request *r)
{
	CLEANUP_FREE const struct sigv4_kv **h = sorted_headers(r);
	CLEANUP_FREE char *query = sigv4_canonical_query(r->query, r->n_query);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f;

	if (!h || !query || !(f = open_memstream(&buf, &blen)))
		return NULL;
	fprintf(f, "%s\n%s\n%s\n", r->method, r->uri[0] ? r->uri : "/", query);
	for (size_t i = 0; i < r->n_headers; i++) {
		fprintf(f, "%s:", h[i]->name);
		put_trimmed(f, h[i]->value);
		fputc('\n', f);
	}
	fputc('\n', f);
	put_signed_headers(f, h, r->n_headers);
	fprintf(f, "\n%s", r->payload_hash);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int olen = 32;
	return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
		    &olen) ? 0 : -ENOMEM;
}

int sigv4_sign(const struct sigv4_request *r, const struct sigv4_creds *c,
	       const char *amz_date, char *auth, size_t authlen)
{
	char day[9], scope[256], sts[512], hash[SIGV4_HASH_HEX], sig[SIGV4_HASH_HEX];
	unsigned char k[32], k2[32];
	int rc = 0;

	if (strlen(amz_date) != 16 || amz_date[8] != 'T')
		return -EINVAL;
	memcpy(day, amz_date, 8);
	day[8] = '\0';
	char *creq = sigv4_canonical_request(r);
	if (!creq)
		return -ENOMEM;
	sigv4_sha256_hex(creq, strlen(creq), hash);
	free(creq);
	int n = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", day, c->region, c->service);
	if (n < 0 || (size_t)n >= sizeof(scope))
		return -EINVAL;
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, hash);

	/* signing key: HMAC chain from "AWS4" + secret */
	size_t slen = strlen(c->secret_key);
	CLEANUP_FREE char *k0 = malloc(slen + 5);
	if (!k0)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, c->secret_key, slen + 1);
	rc = hmac(k0, slen + 4, day, k);
	OPENSSL_cleanse(k0, slen + 4);
	const char *chain[] = { c->region, c->service, "aws4_request", sts };
	for (size_t i = 0; !rc && i < ARRAY_SIZE(chain); i++) {
		rc = hmac(k, 32, chain[i], k2);
		memcpy(k, k2, sizeof(k));
	}
	OPENSSL_cleanse(k2, sizeof(k2));
	if (rc)
		return rc;
	hex_encode(k, 32, sig);
	OPENSSL_cleanse(k, sizeof(k));

	CLEANUP_FREE const struct sigv4_kv **h = sorted_headers(r);
	char *sh = NULL;
	size_t shlen = 0;
	FILE *f;
	if (!h || !(f = open_memstream(&sh, &shlen)))
		return -ENOMEM;
	put_signed_headers(f, h, r->n_headers);
	if (fclose(f)) {
		free(sh);
		return -ENOMEM;
	}
	n = snprintf(auth, authlen, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
		     "Signature=%s", c->access_key, scope, sh, sig);
	free(sh);
	return n < 0 || (size_t)n >= authlen ? -ENOSPC : 0;
}
