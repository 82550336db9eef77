/* The S3 store backend (s3://bucket[/prefix]; options and error mapping in store-s3.h).
 *
 * Why it works this way:
 * - Immutability is the server's job: every put carries `If-None-Match: *`, so of racing
 *   or retried puts exactly one creates the object and the others get 412 (-EEXIST). A
 *   retry after an attempt whose fate is unknown (connection lost after sending, 5xx) may
 *   meet its own earlier success as 412; then the object's ETag is compared with the MD5 of
 *   our bytes (single-part ETags are the content MD5) and equal means the put succeeded.
 *   "Unknown fate" includes curl's own silent resend of a request whose reused connection
 *   died before the answer (s3-http.h `sends`): the first send may have been carried out.
 * - Requests are signed here (s3-sigv4.c) with the payload's SHA-256 in
 *   x-amz-content-sha256, so the server checks integrity of every upload; the query string
 *   sent is the canonical one that was signed. Each retry is signed afresh (new date).
 * - Retries: connection errors, timeouts, stalls (below FERRY_S3_LOW_SPEED_LIMIT bytes/s,
 *   default 1 KiB/s, for FERRY_S3_LOW_SPEED_TIME s, default 30), 429, 500, 502,
 *   503 (SlowDown), 504, 400 RequestTimeout and 409 ConditionalRequestConflict, with
 *   exponential backoff and full jitter (random(0, min(10 s, 200 ms * 2^n))), for at most
 *   FERRY_S3_RETRY_MS per request. Everything else (403 above all) fails at once.
 * - delete: S3 answers 204 for a missing key too, so del() first HEADs the key to report
 *   -ENOENT; a key deleted by someone else between the two is reported as deleted by us.
 * - list: ListObjectsV2 pages of up to 1000 keys, following NextContinuationToken; names
 *   under the prefix that are not valid keys (store.h) are skipped, not reported.
 * - Connections are reused through s3-http.c's curl multi loop (`parallel` transfers and
 *   connections at most).
 * - Objects above FERRY_S3_MULTIPART_THRESHOLD (default 64 MiB) go up as a multipart upload
 *   in parts of FERRY_S3_PART_SIZE (default 16 MiB, at least 5 MiB, grown to keep at most
 *   10,000 parts), up to `parallel` parts at once (the caller plus helper threads, each
 *   part a blocking request retried like any other: the retry loop stays simple and the
 *   multi loop interleaves the transfers); the first failure stops the other workers and
 *   aborts the upload. A CreateMultipartUpload whose fate was unknown (retried) may have
 *   made an upload we never heard of: afterwards the uploads of that very name are listed
 *   and all but ours aborted, so none is left behind. Immutability: HEAD first (-EEXIST
 *   early), then If-None-Match: * on the
 *   completion. Ceph RGW 16 ignores that condition there, so two writers racing on one big
 *   key may both succeed (the last completion stands); ferry's big objects are packs with
 *   random names, never written by two writers.
 * - sweep() (run by prune) aborts the multipart uploads under the prefix that a crash
 *   mid-upload left, once they are older than any upload still under way can be.
 * Not done yet: clock-skew correction. */
#include "repo/store-s3.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/secret.h"
#include "common/strnum.h"
#include "common/util.h"
#include "repo/s3-http.h"
#include "repo/s3-sigv4.h"
#include "repo/s3-xml.h"
#include "common/banned.h"

#define DEFAULT_RETRY_MS 30000u
#define BACKOFF_BASE_MS 200u
#define BACKOFF_CAP_MS 10000u
#define SMALL_BODY_MAX (16u << 20)	/* error bodies, listings */
#define OBJECT_MAX ((size_t)4 << 30)	/* whole-object GET */
#define LOW_SPEED_BYTES 1024L
#define LOW_SPEED_SECONDS 30L
#define MP_DEFAULT_THRESHOLD ((size_t)64 << 20)
#define MP_DEFAULT_PART ((size_t)16 << 20)
#define MP_MIN_PART ((size_t)5 << 20)
#define MP_MAX_PARTS 10000u
#define MP_COMPLETE_TRIES 4	/* a 200 answer carrying InternalError or SlowDown */
#define MP_MAX_THREADS 64	/* part workers of one upload, at most */

struct s3 {
	char *bucket;
	char *prefix;		/* "" or "a/b": object names are prefix + "/" + key */
	char *endpoint;		/* "http://127.0.0.1:7480", no trailing '/' */
	const char *scheme;	/* "http" or "https" */
	char *host;		/* Host header: endpoint host[:port], or bucket.host */
	bool vhost;
	char *region;
	char *ak, *sk, *token;
	struct s3_http *http;
	unsigned retry_ms;
	unsigned parallel;	/* requests in flight at most (multipart parts at once) */
	long low_speed_limit;	/* bytes/s ... */
	long low_speed_time;	/* ... for this many seconds: a stall */
	size_t mp_threshold;	/* objects larger than this go up in parts */
	size_t mp_part;		/* part size (the last part is smaller) */
};

static __thread char detail[768];

#define S3(st) ((struct s3 *)(st)->priv)

__attribute__((format(printf, 1, 2)))
static void set_detail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
}

static const char *s3_errdetail(struct store *st)
{
	(void)st;
	return detail[0] ? detail : NULL;
}

/* ---- open / close ---- */

/* A credential from a file: one key, surrounding whitespace removed (common/secret.h). */
static int read_secret(const char *path, const char *what, char **out)
{
	int r = secret_read(path, false, out);
	if (r == -EINVAL)
		set_detail("%s %s: expected one key on one line", what, path);
	else if (r < 0 && r != -ENOMEM)
		set_detail("%s %s: %s", what, path, strerror(-r));
	return r;
}

static int load_creds(struct s3 *s, const struct store_opts *o)
{
	if (o->access_key_file || o->secret_key_file) {
		if (!o->access_key_file || !o->secret_key_file) {
			set_detail("access_key_file and secret_key_file go together");
			return -EINVAL;
		}
		int r = read_secret(o->access_key_file, "access key file", &s->ak);
		if (r == 0)
			r = read_secret(o->secret_key_file, "secret key file", &s->sk);
		return r;
	}
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	if (!ak || !*ak || !sk || !*sk) {
		set_detail("no S3 credentials (set access_key_file and secret_key_file in [store], "
			   "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
		return -EINVAL;
	}
	s->ak = strdup(ak);
	s->sk = strdup(sk);
	if (tok && *tok)
		s->token = strdup(tok);
	return s->ak && s->sk && (!tok || !*tok || s->token) ? 0 : -ENOMEM;
}

static bool bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* endpoint "http(s)://host[:port][/]" -> scheme and host[:port] */
static int parse_endpoint(struct s3 *s, const char *ep)
{
	const char *h;
	if (!strncmp(ep, "https://", 8)) {
		s->scheme = "https";
		h = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		s->scheme = "http";
		h = ep + 7;
	} else {
		set_detail("endpoint '%s' must start with http:// or https://", ep);
		return -EINVAL;
	}
	size_t n = strcspn(h, "/");
	if (n == 0 || (h[n] && strcmp(h + n, "/")) || strpbrk(h, " \t@?#")) {
		set_detail("endpoint '%s' must be http(s)://HOST[:PORT] (no path)", ep);
		return -EINVAL;
	}
	s->endpoint = malloc(strlen(s->scheme) + 3 + n + 1);
	if (!s->endpoint)
		return -ENOMEM;
	snprintf(s->endpoint, strlen(s->scheme) + 3 + n + 1, "%s://%.*s", s->scheme, (int)n, h);
	size_t hl = n + (s->vhost ? strlen(s->bucket) + 1 : 0) + 1;
	s->host = malloc(hl);
	if (!s->host)
		return -ENOMEM;
	if (s->vhost)
		snprintf(s->host, hl, "%s.%.*s", s->bucket, (int)n, h);
	else
		snprintf(s->host, hl, "%.*s", (int)n, h);
	return 0;
}

static void s3_free(struct s3 *s)
{
	if (!s)
		return;
	s3_http_free(s->http);
	free(s->bucket);
	free(s->prefix);
	free(s->endpoint);
	free(s->host);
	free(s->region);
	secret_free(s->ak);
	secret_free(s->sk);
	secret_free(s->token);
	free(s);
}

static int s3_open(struct store *st, const char *location)
{
	const struct store_opts *o = st->opts;
	struct s3 *s = calloc(1, sizeof(*s));
	int r;

	detail[0] = '\0';
	if (!s)
		return -ENOMEM;
	size_t bl = strcspn(location, "/");
	if (!bucket_ok(location, bl)) {
		set_detail("'%.*s' is not a bucket name (3-63 of a-z 0-9 . - _; expected "
			   "s3://bucket/prefix)", (int)bl, location);
		s3_free(s);
		return -EINVAL;
	}
	s->bucket = strndup(location, bl);
	const char *pfx = location[bl] ? location + bl + 1 : "";
	s->prefix = strdup(pfx);
	if (!s->bucket || !s->prefix) {
		s3_free(s);
		return -ENOMEM;
	}
	size_t pl = strlen(s->prefix);
	while (pl && s->prefix[pl - 1] == '/')
		s->prefix[--pl] = '\0';
	if (pl && store_key_check(s->prefix) < 0) {
		set_detail("bad prefix '%s' (components of A-Za-z0-9._- separated by '/')", pfx);
		s3_free(s);
		return -EINVAL;
	}

	const char *region = o->region ? o->region : getenv("AWS_REGION");
	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	if (!region || !*region)
		region = "us-east-1";
	s->region = strdup(region);
	const char *ep = o->endpoint ? o->endpoint : getenv("AWS_ENDPOINT_URL");
	char aws_ep[128];
	if (!ep || !*ep) {
		snprintf(aws_ep, sizeof(aws_ep), "https://s3.%s.amazonaws.com", region);
		ep = aws_ep;
		s->vhost = true;
	}
	if (o->addressing) {
		if (!strcmp(o->addressing, "virtual")) {
			s->vhost = true;
		} else if (!strcmp(o->addressing, "path")) {
			s->vhost = false;
		} else {
			set_detail("addressing '%s' (expected path or virtual)", o->addressing);
			s3_free(s);
			return -EINVAL;
		}
	}
	if (!s->region) {
		s3_free(s);
		return -ENOMEM;
	}
	if ((r = parse_endpoint(s, ep)) < 0 || (r = load_creds(s, o)) < 0) {
		s3_free(s);
		return r;
	}
	const char *rm = getenv("FERRY_S3_RETRY_MS");
	s->retry_ms = rm && *rm ? (unsigned)strtoul(rm, NULL, 10) : DEFAULT_RETRY_MS;
	const char *mt = getenv("FERRY_S3_MULTIPART_THRESHOLD"), *ps = getenv("FERRY_S3_PART_SIZE");
	s->mp_threshold = mt && *mt ? (size_t)strtoull(mt, NULL, 10) : MP_DEFAULT_THRESHOLD;
	s->mp_part = ps && *ps ? (size_t)strtoull(ps, NULL, 10) : MP_DEFAULT_PART;
	if (s->mp_threshold < MP_MIN_PART)
		s->mp_threshold = MP_MIN_PART;
	if (s->mp_part < MP_MIN_PART)
		s->mp_part = MP_MIN_PART;
	const char *ll = getenv("FERRY_S3_LOW_SPEED_LIMIT"), *lt = getenv("FERRY_S3_LOW_SPEED_TIME");
	s->low_speed_limit = ll && *ll ? strtol(ll, NULL, 10) : LOW_SPEED_BYTES;
	s->low_speed_time = lt && *lt ? strtol(lt, NULL, 10) : LOW_SPEED_SECONDS;
	if (s->low_speed_limit <= 0 || s->low_speed_time <= 0)
		s->low_speed_limit = s->low_speed_time = 0;	/* off */
	s->parallel = o->parallel ? o->parallel : STORE_S3_DEFAULT_PARALLEL;
	r = s3_http_new(s->parallel, o->ca_file, &s->http);
	if (r < 0) {
		set_detail("cannot initialise libcurl");
		s3_free(s);
		return r;
	}
	st->priv = s;
	return 0;
}

static void s3_close(struct store *st)
{
	s3_free(S3(st));
	st->priv = NULL;
}

/* ---- one request, with retries ---- */

struct s3_op {
	const char *method;
	const char *obj;		/* object name with the prefix, or NULL: the bucket */
	const struct sigv4_kv *query;
	size_t n_query;
	const char *range;		/* Range header value, or NULL */
	bool if_none_match;
	const void *body;
	size_t body_len;
	void *dst;
	size_t dst_len;
	size_t body_max;
	const char *what;		/* for messages: "key" of the store, or a description */
};

static uint64_t mono_ms(void)
{
	return now_mono_ns() / 1000000u;
}

static unsigned jitter(unsigned max_ms)
{
	static __thread unsigned seed;
	if (!seed)
		seed = (unsigned)now_mono_ns() ^ (unsigned)pthread_self();
	return max_ms ? (unsigned)(rand_r(&seed) % (max_ms + 1)) : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static bool status_retryable(long status, const struct dbuf *body)
{
	char code[64];
	if (status == 429 || status == 500 || status == 502 || status == 503 || status == 504)
		return true;
	if ((status == 400 || status == 409) && body->len &&
	    s3_xml_get((const char *)body->data, body->len, "Code", code, sizeof(code)) == 0)
		return !strcmp(code, "RequestTimeout") || !strcmp(code, "ConditionalRequestConflict") ||
		       !strcmp(code, "SlowDown");
	return false;
}

static char *make_url(const struct s3 *s, const struct s3_op *op, char **uri_out)
{
	CLEANUP_FREE char *enc = sigv4_uri_encode(op->obj ? op->obj : "", 1);
	CLEANUP_FREE char *q = sigv4_canonical_query(op->query, op->n_query);
	if (!enc || !q)
		return NULL;
	size_t ul = strlen(s->bucket) + strlen(enc) + 3;
	char *uri = malloc(ul);
	if (!uri)
		return NULL;
	if (s->vhost)
		snprintf(uri, ul, "/%s", enc);
	else
		snprintf(uri, ul, "/%s%s%s", s->bucket, op->obj ? "/" : "", enc);
	size_t n = strlen(s->scheme) + strlen(s->host) + strlen(uri) + strlen(q) + 8;
	char *url = malloc(n);
	if (!url) {
		free(uri);
		return NULL;
	}
	snprintf(url, n, "%s://%s%s%s%s", s->scheme, s->host, uri, *q ? "?" : "", q);
	*uri_out = uri;
	return url;
}

/* Describe a failed answer in `detail` and map it to -errno. */
static int answer_error(const struct s3 *s, const struct s3_op *op, const struct s3_http_resp *rs)
{
	char code[64] = "", msg[256] = "";
	if (rs->body.len) {
		s3_xml_get((const char *)rs->body.data, rs->body.len, "Code", code, sizeof(code));
		s3_xml_get((const char *)rs->body.data, rs->body.len, "Message", msg, sizeof(msg));
	}
	set_detail("%s %s at %s: HTTP %ld%s%s%s%s", op->method, op->what, s->endpoint, rs->status,
		   code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
	switch (rs->status) {
	case 404: return !strcmp(code, "NoSuchBucket") ? -ENXIO : -ENOENT;
	case 412: return -EEXIST;
	case 416: return -EINVAL;
	case 401: case 403: return -EACCES;
	case 400: return -EPROTO;
	case 409: return -EBUSY;
	case 507: return -ENOSPC;
	default: return -EIO;
	}
}

/* Run op until it gets a final answer or the retry budget is spent. Return 0 with rs->status
 * set (any status), or a transport -errno (detail set). *uncertain: an earlier attempt may
 * have been carried out by the server. */
static int s3_call(struct s3 *s, const struct s3_op *op, struct s3_http_resp *rs,
		   bool *uncertain)
{
	char hash[SIGV4_HASH_HEX], date[SIGV4_DATE_LEN], auth[512];
	char h_host[300], h_sha[100], h_date[40], h_auth[600], h_range[80], *h_tok = NULL;
	CLEANUP_FREE char *uri = NULL;
	CLEANUP_FREE char *url = make_url(s, op, &uri);
	uint64_t deadline = mono_ms() + s->retry_ms;
	int r = 0;

	*uncertain = false;
	if (!url)
		return -ENOMEM;
	sigv4_sha256_hex(op->body ? op->body : "", op->body_len, hash);
	if (s->token) {
		size_t n = strlen(s->token) + 32;
		if (!(h_tok = malloc(n)))
			return -ENOMEM;
		snprintf(h_tok, n, "x-amz-security-token: %s", s->token);
	}
	for (unsigned attempt = 0;; attempt++) {
		sigv4_amz_date(time(NULL), date);
		struct sigv4_kv kv[6];
		const char *lines[9];
		size_t n = 0, nl = 0;
		kv[n++] = (struct sigv4_kv){ "host", s->host };
		kv[n++] = (struct sigv4_kv){ "x-amz-content-sha256", hash };
		kv[n++] = (struct sigv4_kv){ "x-amz-date", date };
		if (s->token)
			kv[n++] = (struct sigv4_kv){ "x-amz-security-token", s->token };
		if (op->range)
			kv[n++] = (struct sigv4_kv){ "range", op->range };
		if (op->if_none_match)
			kv[n++] = (struct sigv4_kv){ "if-none-match", "*" };
		struct sigv4_request sr = { op->method, uri, op->query, op->n_query, kv, n, hash };
		struct sigv4_creds cr = { s->ak, s->sk, s->region, "s3" };
		r = sigv4_sign(&sr, &cr, date, auth, sizeof(auth));
		if (r < 0)
			break;
		snprintf(h_host, sizeof(h_host), "Host: %s", s->host);
		snprintf(h_sha, sizeof(h_sha), "x-amz-content-sha256: %s", hash);
		snprintf(h_date, sizeof(h_date), "x-amz-date: %s", date);
		snprintf(h_auth, sizeof(h_auth), "Authorization: %s", auth);
		lines[nl++] = h_host;
		lines[nl++] = h_sha;
		lines[nl++] = h_date;
		lines[nl++] = h_auth;
		if (h_tok)
			lines[nl++] = h_tok;
		if (op->range) {
			snprintf(h_range, sizeof(h_range), "Range: %s", op->range);
			lines[nl++] = h_range;
		}
		if (op->if_none_match)
			lines[nl++] = "If-None-Match: *";
		lines[nl] = NULL;
		struct s3_http_req req = {
			.method = op->method, .url = url, .headers = lines, .body = op->body,
			.body_len = op->body_len, .dst = op->dst, .dst_len = op->dst_len,
			.body_max = op->body_max ? op->body_max : SMALL_BODY_MAX,
			.low_speed_limit = s->low_speed_limit, .low_speed_time = s->low_speed_time,
		};
		r = s3_http_perform(s->http, &req, rs);
		if (rs->sends > 1)
			*uncertain = true;	/* curl resent it: the first may have worked */
		bool again = r < 0 ? rs->retryable : status_retryable(rs->status, &rs->body);
		if (!again)
			break;
		if ((r < 0 && rs->sent) || rs->status >= 500)
			*uncertain = true;
		unsigned cap = attempt < 16 ? BACKOFF_BASE_MS << attempt : BACKOFF_CAP_MS;
		unsigned wait = jitter(cap < BACKOFF_CAP_MS ? cap : BACKOFF_CAP_MS);
		uint64_t now = mono_ms();
		if (now + wait >= deadline) {
			if (r < 0)
				set_detail("%s %s at %s: %s (gave up after %u attempts in %.1f s)",
					   op->method, op->what, s->endpoint, rs->error, attempt + 1,
					   (double)(now + s->retry_ms - deadline) / 1000);
			break;
		}
		sleep_ms(wait);
	}
	if (r < 0 && !detail[0])
		set_detail("%s %s at %s: %s", op->method, op->what, s->endpoint,
			   rs->error[0] ? rs->error : strerror(-r));
	secret_free(h_tok);
	return r;
}

/* ---- object calls ---- */

/* prefix + "/" + key, or key; NULL on ENOMEM */
static char *obj_name(const struct s3 *s, const char *key)
{
	size_t n = strlen(s->prefix) + strlen(key) + 2;
	char *o = malloc(n);
	if (o)
		snprintf(o, n, "%s%s%s", s->prefix, s->prefix[0] ? "/" : "", key);
	return o;
}

#define OP_BEGIN(key)						\
	struct s3 *s = S3(st);					\
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };	\
	bool unsure;						\
	int r;							\
	detail[0] = '\0';					\
	if ((r = store_key_check(key)) < 0)			\
		return r;					\
	CLEANUP_FREE char *obj = obj_name(s, key);		\
	if (!obj)						\
		return -ENOMEM

static int do_head(struct s3 *s, const char *obj, const char *key, uint64_t *size, char *etag,
		   size_t etaglen)
{
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	struct s3_op op = { .method = "HEAD", .obj = obj, .what = key };
	bool unsure;
	int r = s3_call(s, &op, &rs, &unsure);
	if (r == 0 && rs.status == 200) {
		if (size)
			*size = rs.content_length;
		if (etag)
			snprintf(etag, etaglen, "%s", rs.etag);
	} else if (r == 0) {
		r = answer_error(s, &op, &rs);
	}
	dbuf_release(&rs.body);
	return r;
}

static void md5_hex(const void *data, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	out[0] = '\0';
	if (!EVP_Digest(data, len, md, &n, EVP_md5(), NULL) || n != 16)
		return;
	hex_encode(md, 16, out);
}

/* ---- multipart upload ---- */

struct mp {
	struct s3 *s;
	const char *obj, *key;
	char upload_id[1024];
	bool create_unsure;	/* an earlier CreateMultipartUpload may have worked too */
	char (*etags)[80];	/* per part, quotes removed */
	unsigned n;
	const char *data;
	size_t len, part;
	/* the part workers: parts are taken in order; the first failure stops them all */
	pthread_mutex_t mu;
	unsigned next;
	int err;
	char err_detail[sizeof(detail)];
};

/* The ETag S3 gives a completed multipart object: MD5 of the parts' binary MD5s, "-N".
 * "" if a part's ETag is not an MD5 (then nothing can be compared). */
static void mp_etag(const struct mp *m, char *out, size_t outlen)
{
	unsigned char *md = malloc((size_t)m->n * 16);
	char hex[33];
	out[0] = '\0';
	if (!md)
		return;
	for (unsigned i = 0; i < m->n; i++) {
		const char *e = m->etags[i];
		if (strlen(e) != 32 || hex_decode(e, 16, md + i * 16) < 0)
			goto out;
	}
	md5_hex(md, (size_t)m->n * 16, hex);
	if (hex[0])
		snprintf(out, outlen, "%s-%u", hex, m->n);
out:
	free(md);
}

static int mp_create(struct mp *m)
{
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	struct sigv4_kv q[1] = { { "uploads", NULL } };
	struct s3_op op = { .method = "POST", .obj = m->obj, .query = q, .n_query = 1,
			    .what = m->key };
	int r = s3_call(m->s, &op, &rs, &m->create_unsure);
	if (r == 0 && rs.status == 200) {
		if (s3_xml_get((const char *)rs.body.data, rs.body.len, "UploadId", m->upload_id,
			       sizeof(m->upload_id)) < 0 || !m->upload_id[0]) {
			set_detail("POST %s (create multipart upload) at %s: no UploadId in the "
				   "answer", m->key, m->s->endpoint);
			r = -EPROTO;
		}
	} else if (r == 0) {
		r = answer_error(m->s, &op, &rs);
	}
	dbuf_release(&rs.body);
	return r;
}

static int mp_upload_part(struct mp *m, unsigned i, const void *data, size_t len)
{
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	char num[16];
	snprintf(num, sizeof(num), "%u", i + 1);
	struct sigv4_kv q[2] = { { "partNumber", num }, { "uploadId", m->upload_id } };
	struct s3_op op = { .method = "PUT", .obj = m->obj, .query = q, .n_query = 2,
			    .body = data, .body_len = len, .what = m->key };
	bool unsure;
	int r = s3_call(m->s, &op, &rs, &unsure);
	if (r == 0 && rs.status == 200) {
		if (!rs.etag[0]) {
			set_detail("PUT %s part %u at %s: no ETag in the answer", m->key, i + 1,
				   m->s->endpoint);
			r = -EPROTO;
		}
		snprintf(m->etags[i], sizeof(m->etags[i]), "%s", rs.etag);
	} else if (r == 0) {
		r = answer_error(m->s, &op, &rs);
	}
	dbuf_release(&rs.body);
	return r;
}

static int mp_complete_body(const struct mp *m, struct dbuf *b)
{
	char line[160];
	int r = dbuf_add(b, "<CompleteMultipartUpload>", 25);
	for (unsigned i = 0; i < m->n && r == 0; i++) {
		int n = snprintf(line, sizeof(line), "<Part><PartNumber>%u</PartNumber><ETag>\"%s\""
				 "</ETag></Part>", i + 1, m->etags[i]);
		r = dbuf_add(b, line, (size_t)n);
	}
	if (r == 0)
		r = dbuf_add(b, "</CompleteMultipartUpload>", 26);
	return r;
}

/* CompleteMultipartUpload. A 200 answer may still carry an <Error> (the server failed while
 * assembling): InternalError and SlowDown are tried again. A retried request whose first
 * attempt may have completed the upload meets NoSuchUpload: then the object's ETag tells. */
static int mp_complete(struct mp *m, size_t len)
{
	struct dbuf body = DBUF_INIT((size_t)2 << 20);	/* 10,000 parts of < 200 bytes */
	struct sigv4_kv q[1] = { { "uploadId", m->upload_id } };
	struct s3_op op = { .method = "POST", .obj = m->obj, .query = q, .n_query = 1,
			    .if_none_match = true, .what = m->key };
	bool unsure = false;
	int r = mp_complete_body(m, &body);
	if (r < 0)
		goto out;
	op.body = body.data;
	op.body_len = body.len;
	for (unsigned t = 0; t < MP_COMPLETE_TRIES; t++) {
		struct s3_http_resp rs = { .body = DBUF_INIT(0) };
		char code[64] = "", msg[256] = "";
		bool u;
		r = s3_call(m->s, &op, &rs, &u);
		unsure |= u;
		if (r == 0 && rs.status == 200 &&
		    s3_xml_get((const char *)rs.body.data, rs.body.len, "Code", code,
			       sizeof(code)) == 0) {
			s3_xml_get((const char *)rs.body.data, rs.body.len, "Message", msg,
				   sizeof(msg));
			set_detail("POST %s (complete multipart upload) at %s: HTTP 200 with error "
				   "%s%s%s", m->key, m->s->endpoint, code, msg[0] ? ": " : "", msg);
			r = !strcmp(code, "PreconditionFailed") ? -EEXIST : -EIO;
			unsure = true;
			dbuf_release(&rs.body);
			if (!strcmp(code, "InternalError") || !strcmp(code, "SlowDown")) {
				sleep_ms(jitter(BACKOFF_BASE_MS << t));
				continue;
			}
			break;
		}
		if (r == 0 && rs.status != 200)
			r = answer_error(m->s, &op, &rs);
		dbuf_release(&rs.body);
		break;
	}
	if ((r == -ENOENT || r == -EEXIST) && unsure) {
		/* maybe an earlier attempt of ours completed it */
		char etag[80], mine[80];
		uint64_t size;
		mp_etag(m, mine, sizeof(mine));
		if (mine[0] && do_head(m->s, m->obj, m->key, &size, etag, sizeof(etag)) == 0 &&
		    size == len && !strcmp(etag, mine))
			r = 0;
	}
out:
	dbuf_release(&body);
	return r;
}

/* AbortMultipartUpload of upload id; best effort (the detail of the failure that led here
 * is kept). */
static void mp_abort(struct mp *m, const char *id)
{
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	struct sigv4_kv q[1] = { { "uploadId", id } };
	struct s3_op op = { .method = "DELETE", .obj = m->obj, .query = q, .n_query = 1,
			    .what = m->key };
	char saved[sizeof(detail)];
	bool unsure;
	memcpy(saved, detail, sizeof(saved));
	s3_call(m->s, &op, &rs, &unsure);
	dbuf_release(&rs.body);
	memcpy(detail, saved, sizeof(saved));
}

/* When a CreateMultipartUpload was retried after an attempt whose answer was lost, the
 * server may hold an upload we never learnt the id of: list the uploads of this very name
 * and abort every one but ours (the name is new, as the HEAD before showed, and ferry's big
 * objects have random names: nobody else uploads it). Best effort, one page of 1000. */
static void mp_sweep(struct mp *m)
{
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	struct sigv4_kv q[2] = { { "prefix", m->obj }, { "uploads", NULL } };
	struct s3_op op = { .method = "GET", .query = q, .n_query = 2, .what = m->key };
	char saved[sizeof(detail)], key[STORE_KEY_MAX + 1], id[sizeof(m->upload_id)];
	const char *val;
	size_t vlen, pos = 0;
	bool unsure;
	memcpy(saved, detail, sizeof(saved));
	if (s3_call(m->s, &op, &rs, &unsure) == 0 && rs.status == 200) {
		const char *doc = (const char *)rs.body.data;
		while (s3_xml_next(doc, rs.body.len, &pos, "Upload", &val, &vlen) == 1) {
			if (s3_xml_get(val, vlen, "Key", key, sizeof(key)) == 0 &&
			    s3_xml_get(val, vlen, "UploadId", id, sizeof(id)) == 0 &&
			    !strcmp(key, m->obj) && strcmp(id, m->upload_id))
				mp_abort(m, id);
		}
	}
	dbuf_release(&rs.body);
	memcpy(detail, saved, sizeof(saved));
}

/* One part worker: upload parts in order until none is left or one failed. */
static void mp_run(struct mp *m)
{
	for (;;) {
		pthread_mutex_lock(&m->mu);
		unsigned i = m->next;
		bool go = !m->err && i < m->n;
		if (go)
			m->next++;
		pthread_mutex_unlock(&m->mu);
		if (!go)
			return;
		size_t off = (size_t)i * m->part;
		int r = mp_upload_part(m, i, m->data + off, MIN(m->part, m->len - off));
		if (r < 0) {
			pthread_mutex_lock(&m->mu);
			if (!m->err) {
				m->err = r;
				memcpy(m->err_detail, detail, sizeof(detail));
			}
			pthread_mutex_unlock(&m->mu);
			return;
		}
	}
}

static void *mp_worker(void *arg)
{
	mp_run(arg);
	return NULL;
}

/* Upload all parts, up to `parallel` at once: the calling thread and parallel - 1 helper
 * threads (fewer if there are fewer parts, or if threads cannot be made). */
static int mp_parts(struct mp *m)
{
	unsigned want = MIN(m->s->parallel, m->n), nth = 0;
	pthread_t th[MP_MAX_THREADS];
	if (want > MP_MAX_THREADS)
		want = MP_MAX_THREADS;
	for (; nth + 1 < want; nth++)
		if (pthread_create(&th[nth], NULL, mp_worker, m))
			break;
	mp_run(m);
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (m->err)
		memcpy(detail, m->err_detail, sizeof(detail));
	return m->err;
}

/* A large object in parts: HEAD first (-EEXIST early, without uploading anything), then
 * create, the parts (in parallel), complete with If-None-Match: * (servers that do not
 * honour the condition at completion leave a race between two writers of one key: see
 * docs/store.md), and abort on any failure so no parts are left behind. */
static int put_multipart(struct s3 *s, const char *obj, const char *key, const void *data,
			 size_t len)
{
	struct mp m = { .s = s, .obj = obj, .key = key, .data = data, .len = len };
	size_t part = s->mp_part;
	if ((len + part - 1) / part > MP_MAX_PARTS)
		part = (len + MP_MAX_PARTS - 1) / MP_MAX_PARTS;
	m.part = part;
	m.n = (unsigned)((len + part - 1) / part);

	int r = do_head(s, obj, key, NULL, NULL, 0);
	if (r == 0) {
		set_detail("PUT %s at %s: the object exists", key, s->endpoint);
		return -EEXIST;
	}
	if (r != -ENOENT)
		return r;
	detail[0] = '\0';
	m.etags = calloc(m.n, sizeof(*m.etags));
	if (!m.etags)
		return -ENOMEM;
	pthread_mutex_init(&m.mu, NULL);
	r = mp_create(&m);
	if (r < 0)
		goto out;
	r = mp_parts(&m);
	if (r == 0)
		r = mp_complete(&m, len);
	if (r < 0)
		mp_abort(&m, m.upload_id);
	if (m.create_unsure)
		mp_sweep(&m);
out:
	pthread_mutex_destroy(&m.mu);
	free(m.etags);
	return r;
}

static int s3_put(struct store *st, const char *key, const void *data, size_t len)
{
	OP_BEGIN(key);
	if (len > s->mp_threshold)
		return put_multipart(s, obj, key, data, len);
	struct s3_op op = { .method = "PUT", .obj = obj, .if_none_match = true, .body = data,
			    .body_len = len, .what = key };
	r = s3_call(s, &op, &rs, &unsure);
	if (r == 0 && rs.status >= 200 && rs.status < 300) {
		r = 0;
	} else if (r == 0) {
		r = answer_error(s, &op, &rs);
		if (r == -EEXIST && unsure) {
			/* maybe our own earlier attempt: same bytes means it worked */
			char etag[80], mine[33];
			uint64_t size;
			md5_hex(data, len, mine);
			if (do_head(s, obj, key, &size, etag, sizeof(etag)) == 0 && size == len &&
			    !strcmp(etag, mine))
				r = 0;
		}
	}
	dbuf_release(&rs.body);
	return r;
}

static int s3_get(struct store *st, const char *key, void **data, size_t *len)
{
	OP_BEGIN(key);
	struct s3_op op = { .method = "GET", .obj = obj, .body_max = OBJECT_MAX, .what = key };
	r = s3_call(s, &op, &rs, &unsure);
	if (r == 0 && rs.status == 200) {
		if (rs.have_length && rs.content_length != rs.body.len) {
			set_detail("GET %s at %s: %zu bytes instead of %llu", key, s->endpoint,
				   rs.body.len, (unsigned long long)rs.content_length);
			r = -EIO;
		} else {
			*len = rs.body.len;
			*data = rs.body.len ? rs.body.data : malloc(1);
			if (!*data)
				r = -ENOMEM;
			if (rs.body.len)
				rs.body = (struct dbuf)DBUF_INIT(0);
		}
	} else if (r == 0) {
		r = answer_error(s, &op, &rs);
	}
	dbuf_release(&rs.body);
	return r;
}

static int s3_get_range(struct store *st, const char *key, uint64_t off, size_t len, void *buf)
{
	OP_BEGIN(key);
	if (len == 0) {
		uint64_t size;
		r = do_head(s, obj, key, &size, NULL, 0);
		return r < 0 ? r : off > size ? -EINVAL : 0;
	}
	if (off + len < off)
		return -EINVAL;
	char range[64];
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	struct s3_op op = { .method = "GET", .obj = obj, .range = range, .dst = buf,
			    .dst_len = len, .what = key };
	r = s3_call(s, &op, &rs, &unsure);
	if (r == -EMSGSIZE) {
		set_detail("GET %s at %s: the server ignored the Range header", key, s->endpoint);
		r = -EIO;
	} else if (r == 0 && (rs.status == 206 || (rs.status == 200 && off == 0))) {
		r = rs.dst_got == len ? 0 : -EINVAL;	/* short: the range ends past the object */
	} else if (r == 0 && rs.status == 200) {
		set_detail("GET %s at %s: the server ignored the Range header", key, s->endpoint);
		r = -EIO;
	} else if (r == 0) {
		r = answer_error(s, &op, &rs);
	}
	dbuf_release(&rs.body);
	return r;
}

static int s3_head(struct store *st, const char *key, uint64_t *size)
{
	OP_BEGIN(key);
	(void)rs;
	(void)unsure;
	return do_head(s, obj, key, size, NULL, 0);
}

static int s3_del(struct store *st, const char *key)
{
	OP_BEGIN(key);
	r = do_head(s, obj, key, NULL, NULL, 0);
	if (r < 0)
		return r;
	struct s3_op op = { .method = "DELETE", .obj = obj, .what = key };
	r = s3_call(s, &op, &rs, &unsure);
	if (r == 0 && rs.status >= 200 && rs.status < 300)
		r = 0;
	else if (r == 0)
		r = answer_error(s, &op, &rs);
	dbuf_release(&rs.body);
	return r;
}

/* ---- list ---- */

/* A list prefix per store.h: the start of a key. */
static int prefix_check(const char *p)
{
	size_t n = strnlen(p, STORE_KEY_MAX + 1), start = 0;
	if (n > STORE_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '/') {
			size_t k = i - start;
			if (k == 0 || (p[start] == '.' && (k == 1 || (k == 2 && p[start + 1] == '.'))))
				return -EINVAL;
			start = i + 1;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
			return -EINVAL;
		}
	}
	return 0;
}

struct list_ctx {
	size_t strip;		/* length of "prefix/" */
	store_list_fn *fn;
	void *arg;
};

static int list_entry(void *arg, const char *name, uint64_t size)
{
	struct list_ctx *c = arg;
	if (strlen(name) < c->strip)
		return 0;
	const char *key = name + c->strip;
	if (store_key_check(key) < 0)
		return 0;	/* not something this store wrote */
	return c->fn(c->arg, key, size);
}

static int s3_list(struct store *st, const char *prefix, store_list_fn *fn, void *arg)
{
	struct s3 *s = S3(st);
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	struct list_ctx ctx = { .fn = fn, .arg = arg };
	char token[1024] = "";
	bool unsure, more = true;
	int r;

	detail[0] = '\0';
	if (!prefix || prefix_check(prefix) < 0)
		return -EINVAL;
	CLEANUP_FREE char *full = obj_name(s, prefix);
	if (!full)
		return -ENOMEM;
	if (!prefix[0])
		full[strlen(s->prefix) + (s->prefix[0] ? 1 : 0)] = '\0';	/* "pfx/" or "" */
	ctx.strip = strlen(s->prefix) + (s->prefix[0] ? 1 : 0);
	while (more) {
		struct sigv4_kv q[4];
		size_t n = 0;
		q[n++] = (struct sigv4_kv){ "list-type", "2" };
		if (full[0])
			q[n++] = (struct sigv4_kv){ "prefix", full };
		if (token[0])
			q[n++] = (struct sigv4_kv){ "continuation-token", token };
		struct s3_op op = { .method = "GET", .query = q, .n_query = n,
				    .what = "(list)" };
		r = s3_call(s, &op, &rs, &unsure);
		if (r == 0 && rs.status != 200)
			r = answer_error(s, &op, &rs);
		if (r == 0) {
			r = s3_xml_list_page((const char *)rs.body.data, rs.body.len, list_entry, &ctx,
					     &more, token, sizeof(token));
			if (r == -EBADMSG)
				set_detail("list %s at %s: malformed ListObjectsV2 answer", full,
					   s->endpoint);
		}
		if (r)
			break;
	}
	dbuf_release(&rs.body);
	return r;
}

/* ---- sweep: multipart uploads that were never completed nor aborted ---- */

/* "2026-11-23T17:44:00.000Z" (the Initiated time of ListMultipartUploads). */
static int parse_iso_time(const char *str, time_t *t)
{
	struct tm tm = { 0 };
	if (sscanf(str, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -EINVAL : 0;
}

/* Abort the uploads of one ListMultipartUploads page that are old enough. */
static int sweep_page(struct s3 *s, const char *doc, size_t len, const char *pfx,
		      uint64_t min_age_ns, uint64_t *removed)
{
	char key[STORE_KEY_MAX + 256], id[1024], when[64];
	const char *val;
	size_t vlen, pos = 0;
	time_t now = time(NULL), t;
	int r = 0;
	while (r == 0 && s3_xml_next(doc, len, &pos, "Upload", &val, &vlen) == 1) {
		if (s3_xml_get(val, vlen, "Key", key, sizeof(key)) ||
		    s3_xml_get(val, vlen, "UploadId", id, sizeof(id)) ||
		    s3_xml_get(val, vlen, "Initiated", when, sizeof(when)) ||
		    parse_iso_time(when, &t) < 0 || strncmp(key, pfx, strlen(pfx)) ||
		    t > now || (uint64_t)(now - t) * 1000000000u < min_age_ns)
			continue;
		struct s3_http_resp rs = { .body = DBUF_INIT(0) };
		struct sigv4_kv q[1] = { { "uploadId", id } };
		struct s3_op op = { .method = "DELETE", .obj = key, .query = q, .n_query = 1,
				    .what = key };
		bool unsure;
		r = s3_call(s, &op, &rs, &unsure);
		if (r == 0 && (rs.status == 204 || rs.status == 200))
			(*removed)++;
		else if (r == 0 && rs.status != 404)	/* 404: aborted meanwhile */
			r = answer_error(s, &op, &rs);
		dbuf_release(&rs.body);
	}
	return r;
}

static int s3_sweep(struct store *st, uint64_t min_age_ns, uint64_t *removed)
{
	struct s3 *s = S3(st);
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	char pfx[STORE_KEY_MAX + 2], kmark[STORE_KEY_MAX + 256] = "", umark[1024] = "";
	char trunc[8];
	bool unsure, more = true;
	int r = 0;

	detail[0] = '\0';
	snprintf(pfx, sizeof(pfx), "%s%s", s->prefix, s->prefix[0] ? "/" : "");
	while (more && r == 0) {
		struct sigv4_kv q[4];
		size_t n = 0;
		q[n++] = (struct sigv4_kv){ "uploads", NULL };
		if (pfx[0])
			q[n++] = (struct sigv4_kv){ "prefix", pfx };
		if (kmark[0]) {
			q[n++] = (struct sigv4_kv){ "key-marker", kmark };
			q[n++] = (struct sigv4_kv){ "upload-id-marker", umark };
		}
		struct s3_op op = { .method = "GET", .query = q, .n_query = n,
				    .what = "(multipart uploads)" };
		r = s3_call(s, &op, &rs, &unsure);
		if (r == 0 && rs.status != 200)
			r = answer_error(s, &op, &rs);
		if (r)
			break;
		const char *doc = (const char *)rs.body.data;
		r = sweep_page(s, doc, rs.body.len, pfx, min_age_ns, removed);
		more = s3_xml_get(doc, rs.body.len, "IsTruncated", trunc, sizeof(trunc)) == 0 &&
		       !strcmp(trunc, "true");
		if (more && (s3_xml_get(doc, rs.body.len, "NextKeyMarker", kmark, sizeof(kmark)) ||
			     s3_xml_get(doc, rs.body.len, "NextUploadIdMarker", umark,
					sizeof(umark)) || !kmark[0])) {
			set_detail("multipart uploads at %s: a truncated listing without a marker",
				   s->endpoint);
			r = -EBADMSG;
		}
	}
	dbuf_release(&rs.body);
	return r;
}

/* ---- probes for `ferryctl store check` ---- */

bool store_is_s3(const struct store *st)
{
	return st && st->ops == &store_s3_ops;
}

const char *store_s3_endpoint(const struct store *st)
{
	return S3(st)->endpoint;
}

bool store_s3_tls(const struct store *st)
{
	return !strcmp(S3(st)->scheme, "https");
}

int store_s3_probe_connect(struct store *st, struct store_s3_probe *p)
{
	struct s3 *s = S3(st);
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	char url[400];
	snprintf(url, sizeof(url), "%s://%s/", s->scheme, s->host);
	struct s3_http_req req = { .method = "GET", .url = url, .connect_only = true,
				   .body_max = SMALL_BODY_MAX };
	int r = s3_http_perform(s->http, &req, &rs);
	p->status = 0;
	p->connect_ms = rs.connect_ms;
	p->tls_ms = rs.tls_ms;
	p->total_ms = rs.total_ms;
	if (r < 0)
		snprintf(p->detail, sizeof(p->detail), "%s: %s", s->host, rs.error);
	else
		snprintf(p->detail, sizeof(p->detail), "%s", s->host);
	dbuf_release(&rs.body);
	return r;
}

int store_s3_probe_list(struct store *st, struct store_s3_probe *p)
{
	struct s3 *s = S3(st);
	struct s3_http_resp rs = { .body = DBUF_INIT(0) };
	char pfx[STORE_KEY_MAX + 2];
	bool unsure;
	struct sigv4_kv q[3];
	size_t n = 0;

	detail[0] = '\0';
	snprintf(pfx, sizeof(pfx), "%s%s", s->prefix, s->prefix[0] ? "/" : "");
	q[n++] = (struct sigv4_kv){ "list-type", "2" };
	q[n++] = (struct sigv4_kv){ "max-keys", "1" };
	if (pfx[0])
		q[n++] = (struct sigv4_kv){ "prefix", pfx };
	struct s3_op op = { .method = "GET", .query = q, .n_query = n, .what = "(list bucket)" };
	int r = s3_call(s, &op, &rs, &unsure);
	if (r == 0 && rs.status != 200)
		r = answer_error(s, &op, &rs);
	p->status = rs.status;
	p->connect_ms = rs.connect_ms;
	p->tls_ms = rs.tls_ms;
	p->total_ms = rs.total_ms;
	if (r < 0)
		snprintf(p->detail, sizeof(p->detail), "%s", detail);
	else
		snprintf(p->detail, sizeof(p->detail), "bucket %s, prefix '%.300s'", s->bucket, pfx);
	dbuf_release(&rs.body);
	return r;
}

const struct store_ops store_s3_ops = {
	.scheme = "s3",
	.open = s3_open,
	.close = s3_close,
	.put = s3_put,
	.get = s3_get,
	.get_range = s3_get_range,
	.head = s3_head,
	.list = s3_list,
	.del = s3_del,
	.sweep = s3_sweep,
	.errdetail = s3_errdetail,
};
