/* One HTTP exchange with libcurl, for the S3 backend (store-s3.c does signing, retries and
 * S3 semantics; this file only moves bytes).
 *
 * All requests of one pool go through one curl multi handle driven by the pool's own
 * event-loop thread: connections are reused across requests from any thread (one
 * connection cache), at most `max` transfers are in flight (and at most `max` connections
 * open); further requests queue in submission order. s3_http_perform blocks its caller
 * until its request completes, so callers get concurrency by calling from several threads.
 * Every request sets all of its options afresh. Proxies come from the usual environment
 * variables (curl's default). TLS peer and host verification are always on; ca_file
 * replaces the system CA bundle.
 *
 * Thread-safe: any number of threads may call s3_http_perform on one pool; s3_http_free
 * only when no call is in flight. */
#ifndef FERRY_S3_HTTP_H
#define FERRY_S3_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dbuf.h"

struct s3_http;

/* max_handles: transfers in flight at most (0: 1). Starts the loop thread. Return 0 or
 * -errno (-ENOMEM, -EIO if libcurl cannot be initialised, or pthread_create's error). */
int s3_http_new(unsigned max_handles, const char *ca_file, struct s3_http **out);
void s3_http_free(struct s3_http *h);

struct s3_http_req {
	const char *method;		/* GET, HEAD, PUT, DELETE, POST */
	const char *url;
	const char *const *headers;	/* "Name: value" lines, NULL-terminated */
	const void *body;		/* request body for PUT/POST (may be NULL if 0 bytes) */
	size_t body_len;
	void *dst;			/* if set, a 2xx answer's body goes here (at most dst_len
					 * bytes; more is an error), else into resp->body */
	size_t dst_len;
	size_t body_max;		/* cap of resp->body */
	bool connect_only;		/* just connect (+ TLS handshake); no request */
	long connect_timeout_s;		/* 0: 10 s */
	long low_speed_limit;		/* bytes/s; below it for low_speed_time s aborts */
	long low_speed_time;
};

struct s3_http_resp {
	long status;			/* HTTP status; 0 when no answer */
	struct dbuf body;		/* non-dst body (error XML, listing, whole object) */
	size_t dst_got;			/* bytes written into req->dst */
	uint64_t content_length;	/* from the headers; valid if have_length */
	bool have_length;
	char etag[80];			/* ETag header, quotes removed; "" if none */
	bool retryable;			/* transport error worth retrying */
	bool sent;			/* the request may have reached the server */
	unsigned sends;			/* times the request was sent: curl itself resends once
					 * on a reused connection that died before answering, so
					 * 2 with a final answer means an earlier send may have
					 * been carried out too */
	char error[256];		/* transport error text */
	double connect_ms, tls_ms, total_ms;
};

/* Perform req. Return 0 when an HTTP answer arrived (any status: see resp->status), or a
 * transport error as -errno (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ECONNRESET,
 * -EPROTO for TLS/protocol trouble, -EMSGSIZE if the body exceeded dst_len/body_max,
 * -EIO otherwise) with resp->error describing it. The caller releases resp->body
 * (dbuf_release) whether or not the call succeeded; resp must start zeroed with body
 * initialised (DBUF_INIT) — s3_http_perform resets everything else. */
int s3_http_perform(struct s3_http *h, const struct s3_http_req *req, struct s3_http_resp *resp);

#endif
