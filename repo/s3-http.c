/* libcurl plumbing for the S3 backend (see s3-http.h). The pool is a stack of idle easy
 * handles under a mutex; a handle is created lazily up to `max`, and a caller finding all of
 * them busy waits on a condition variable. curl_global_init runs once per process. */
#include "repo/s3-http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/banned.h"

struct s3_http {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	CURL **idle;
	unsigned n_idle, n_made, max;
	char *ca_file;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

int s3_http_new(unsigned max_handles, const char *ca_file, struct s3_http **out)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc)
		return global_rc;
	struct s3_http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->max = max_handles ? max_handles : 1;
	h->idle = calloc(h->max, sizeof(*h->idle));
	h->ca_file = ca_file ? strdup(ca_file) : NULL;
	if (!h->idle || (ca_file && !h->ca_file)) {
		free(h->idle);
		free(h->ca_file);
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	*out = h;
	return 0;
}

void s3_http_free(struct s3_http *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < h->n_idle; i++)
		curl_easy_cleanup(h->idle[i]);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->idle);
	free(h->ca_file);
	free(h);
}

static CURL *take(struct s3_http *h)
{
	CURL *c = NULL;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		if (h->n_idle) {
			c = h->idle[--h->n_idle];
			break;
		}
		if (h->n_made < h->max) {
			c = curl_easy_init();
			if (c)
				h->n_made++;
			break;
		}
		pthread_cond_wait(&h->cv, &h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return c;
}

static void give_back(struct s3_http *h, CURL *c, bool keep)
{
	pthread_mutex_lock(&h->mu);
	if (keep) {
		h->idle[h->n_idle++] = c;
	} else {
		curl_easy_cleanup(c);
		h->n_made--;
	}
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

struct xfer {
	CURL *c;
	const struct s3_http_req *req;
	struct s3_http_resp *resp;
	size_t sent;		/* request body bytes handed to curl */
	int to_dst;		/* -1 undecided, 0 into resp->body, 1 into req->dst */
	bool overflow;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t left = x->req->body_len - x->sent, k = size * n;
	if (k > left)
		k = left;
	if (k)
		memcpy(buf, (const char *)x->req->body + x->sent, k);
	x->sent += k;
	return k;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;
	if (origin != SEEK_SET || off < 0 || (size_t)off > x->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (x->to_dst < 0) {
		long st = 0;
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &st);
		x->to_dst = x->req->dst && st >= 200 && st < 300;
	}
	if (x->to_dst) {
		if (len > x->req->dst_len - x->resp->dst_got) {
			x->overflow = true;
			return 0;
		}
		memcpy((char *)x->req->dst + x->resp->dst_got, p, len);
		x->resp->dst_got += len;
		return len;
	}
	if (dbuf_add(&x->resp->body, p, len) < 0) {
		x->overflow = true;
		return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
		const char *v = p + 5, *end = p + len;
		while (v < end && (*v == ' ' || *v == '\t' || *v == '"'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
				   end[-1] == '"'))
			end--;
		size_t k = (size_t)(end - v);
		if (k < sizeof(x->resp->etag)) {
			memcpy(x->resp->etag, v, k);
			x->resp->etag[k] = '\0';
		}
	}
	return len;
}

/* transport error -> -errno, and whether a retry may help */
static int map_curl(CURLcode cc, bool *retryable)
{
	*retryable = true;
	switch (cc) {
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR: return -EPROTO;
	case CURLE_WEIRD_SERVER_REPLY: return -EPROTO;
	default: break;
	}
	*retryable = false;
	switch (cc) {
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM: return -EPROTO;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: return -EINVAL;
	default: return -EIO;
	}
}

static int setup(struct xfer *x, struct curl_slist **hl, char *errbuf)
{
	const struct s3_http_req *req = x->req;
	CURL *c = x->c;
	int bad = 0;

	for (const char *const *h = req->headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(*hl, *h);
		if (!n)
			return -ENOMEM;
		*hl = n;
	}
	/* no "Expect: 100-continue" round trip, no default Accept/Content-Type */
	static const char *const off[] = { "Expect:", "Accept:", "Content-Type:" };
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		struct curl_slist *n = curl_slist_append(*hl, off[i]);
		if (!n)
			return -ENOMEM;
		*hl = n;
	}
	bad |= curl_easy_setopt(c, CURLOPT_URL, req->url) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
				req->connect_timeout_s ? req->connect_timeout_s : 10L) != CURLE_OK;
	if (req->low_speed_time) {
		bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, req->low_speed_limit) != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req->low_speed_time) != CURLE_OK;
	}
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	return bad ? -EINVAL : 0;
}

int s3_http_perform(struct s3_http *h, const struct s3_http_req *req, struct s3_http_resp *resp)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL;
	struct xfer x = { .req = req, .resp = resp, .to_dst = -1 };
	CURLcode cc;
	int r;

	resp->status = 0;
	resp->dst_got = 0;
	resp->content_length = 0;
	resp->have_length = false;
	resp->etag[0] = '\0';
	resp->retryable = false;
	resp->sent = false;
	resp->error[0] = '\0';
	resp->connect_ms = resp->tls_ms = resp->total_ms = 0;
	dbuf_reset(&resp->body);
	resp->body.max = req->body_max;

	x.c = take(h);
	if (!x.c) {
		snprintf(resp->error, sizeof(resp->error), "cannot make a curl handle");
		return -ENOMEM;
	}
	curl_easy_reset(x.c);
	r = setup(&x, &hl, errbuf);
	if (r == 0 && h->ca_file)
		r = curl_easy_setopt(x.c, CURLOPT_CAINFO, h->ca_file) == CURLE_OK ? 0 : -EINVAL;
	if (r == 0) {
		int bad = 0;
		if (req->connect_only) {
			bad |= curl_easy_setopt(x.c, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK;
		} else if (!strcmp(req->method, "HEAD")) {
			bad |= curl_easy_setopt(x.c, CURLOPT_NOBODY, 1L) != CURLE_OK;
		} else if (!strcmp(req->method, "PUT") || !strcmp(req->method, "POST")) {
			bad |= curl_easy_setopt(x.c, CURLOPT_UPLOAD, 1L) != CURLE_OK;
			bad |= curl_easy_setopt(x.c, CURLOPT_INFILESIZE_LARGE,
						(curl_off_t)req->body_len) != CURLE_OK;
			bad |= curl_easy_setopt(x.c, CURLOPT_READFUNCTION, on_read) != CURLE_OK;
			bad |= curl_easy_setopt(x.c, CURLOPT_READDATA, &x) != CURLE_OK;
			bad |= curl_easy_setopt(x.c, CURLOPT_SEEKFUNCTION, on_seek) != CURLE_OK;
			bad |= curl_easy_setopt(x.c, CURLOPT_SEEKDATA, &x) != CURLE_OK;
			if (!strcmp(req->method, "POST"))
				bad |= curl_easy_setopt(x.c, CURLOPT_CUSTOMREQUEST, "POST") != CURLE_OK;
		} else if (strcmp(req->method, "GET")) {
			bad |= curl_easy_setopt(x.c, CURLOPT_CUSTOMREQUEST, req->method) != CURLE_OK;
		}
		bad |= curl_easy_setopt(x.c, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
		bad |= curl_easy_setopt(x.c, CURLOPT_WRITEDATA, &x) != CURLE_OK;
		bad |= curl_easy_setopt(x.c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
		bad |= curl_easy_setopt(x.c, CURLOPT_HEADERDATA, &x) != CURLE_OK;
		r = bad ? -EINVAL : 0;
	}
	if (r < 0) {
		snprintf(resp->error, sizeof(resp->error), "cannot set up the request");
		curl_slist_free_all(hl);
		give_back(h, x.c, false);
		return r;
	}

	cc = curl_easy_perform(x.c);
	curl_easy_getinfo(x.c, CURLINFO_RESPONSE_CODE, &resp->status);
	double t;
	if (curl_easy_getinfo(x.c, CURLINFO_CONNECT_TIME, &t) == CURLE_OK)
		resp->connect_ms = t * 1000;
	if (curl_easy_getinfo(x.c, CURLINFO_APPCONNECT_TIME, &t) == CURLE_OK)
		resp->tls_ms = t * 1000;
	if (curl_easy_getinfo(x.c, CURLINFO_TOTAL_TIME, &t) == CURLE_OK)
		resp->total_ms = t * 1000;
	curl_off_t cl = -1;
	if (curl_easy_getinfo(x.c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0) {
		resp->content_length = (uint64_t)cl;
		resp->have_length = true;
	}
	curl_slist_free_all(hl);
	/* a connection that may be in a bad state is not reused */
	give_back(h, x.c, cc == CURLE_OK && !req->connect_only);

	if (cc == CURLE_OK)
		return 0;
	resp->sent = resp->connect_ms > 0 || x.sent > 0;
	if (x.overflow) {
		snprintf(resp->error, sizeof(resp->error), "answer larger than expected");
		resp->status = 0;
		return -EMSGSIZE;
	}
	r = map_curl(cc, &resp->retryable);
	snprintf(resp->error, sizeof(resp->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	size_t n = strlen(resp->error);
	while (n && resp->error[n - 1] == '\n')
		resp->error[--n] = '\0';
	resp->status = 0;
	return r;
}
