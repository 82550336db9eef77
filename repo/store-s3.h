/* The S3 store backend (store-s3.c): s3://bucket[/prefix] on any S3 server.
 *
 * Options (struct store_opts, the [store] section) and their defaults:
 *   endpoint        http(s)://host[:port]; default $AWS_ENDPOINT_URL, else
 *                   https://s3.REGION.amazonaws.com
 *   region          default $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1
 *   addressing      path (bucket in the path; the default with an endpoint) or virtual
 *                   (bucket.host; the default for AWS)
 *   access_key_file, secret_key_file   one key per file (surrounding whitespace ignored);
 *                   without them AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *                   AWS_SESSION_TOKEN from the environment. Secrets never appear in errors.
 *   ca_file         CA bundle for https (verification is always on)
 *   parallel        requests in flight at most (default 8)
 * Environment for tests and tuning:
 *   FERRY_S3_RETRY_MS              total time one request may spend retrying (30000)
 *   FERRY_S3_LOW_SPEED_LIMIT,      a transfer below LIMIT bytes/s for TIME seconds is
 *   FERRY_S3_LOW_SPEED_TIME        stalled: aborted and retried (1024 and 30; 0 turns off)
 *   FERRY_S3_MULTIPART_THRESHOLD   objects above it go up in parts (67108864; >= 5 MiB)
 *   FERRY_S3_PART_SIZE             part size (16777216; >= 5 MiB)
 *
 * Mapping of S3 answers to -errno: 404 -ENOENT (NoSuchBucket: -ENXIO), 412 -EEXIST,
 * 416 -EINVAL, 401/403 -EACCES, 400 -EPROTO, 409 -EBUSY, 5xx after retries -EIO;
 * transport failures per s3-http.h. store_strerror() then says which request, which
 * endpoint and what the server said (<Code> and <Message>). */
#ifndef FERRY_STORE_S3_H
#define FERRY_STORE_S3_H

#include <stdbool.h>

#include "repo/store.h"

#define STORE_S3_DEFAULT_PARALLEL 8

bool store_is_s3(const struct store *st);
/* "http://127.0.0.1:7480" (what requests go to, before virtual-host rewriting). */
const char *store_s3_endpoint(const struct store *st);
bool store_s3_tls(const struct store *st);

/* Results of the probes behind `ferryctl store check`. */
struct store_s3_probe {
	long status;		/* HTTP status, 0 if none */
	double connect_ms, tls_ms, total_ms;
	char detail[512];	/* one line: what happened */
};

/* Connect to the endpoint (and do the TLS handshake for https), no request. 0 or -errno. */
int store_s3_probe_connect(struct store *st, struct store_s3_probe *p);
/* One signed ListObjectsV2 of at most one key under the store prefix. 0: authenticated and
 * the bucket is there; -EACCES: credentials rejected (InvalidAccessKeyId,
 * SignatureDoesNotMatch, ...) or access denied (detail says which); -ENXIO: no such bucket;
 * other -errno for transport or server failures. */
int store_s3_probe_list(struct store *st, struct store_s3_probe *p);

#endif
