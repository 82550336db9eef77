/* libcurl plumbing for the S3 backend (see s3-http.h): one curl multi handle driven by one
 * event-loop thread per pool.
 *
 * Why a multi loop rather than a pool of easy handles each driven by its calling thread:
 * the multi handle owns one connection cache, so every request of the store reuses any idle
 * connection to the server whichever thread asks (with per-thread easy handles a connection
 * was tied to the handle that opened it), and CURLMOPT_MAX_TOTAL_CONNECTIONS bounds the
 * connections to `parallel` in one place. The calls stay blocking: store-s3.c keeps its
 * simple per-request retry loop, and runs requests concurrently (parallel multipart parts)
 * simply by calling from several threads; the loop interleaves their transfers.
 *
 * Flow: s3_http_perform (any thread) sets up an easy handle (taken from a free list, or
 * made), queues a job under the mutex, calls curl_multi_wakeup and waits on the job's
 * condition. The loop thread moves queued jobs into the multi handle while fewer than `max`
 * are in flight, runs curl_multi_perform / curl_multi_poll, and on CURLMSG_DONE removes the
 * handle and marks the job done. curl callbacks (read, write, header) run on the loop
 * thread and touch only the job's buffers, which their owner does not touch until done.
 * Only the loop thread calls the multi handle (curl_multi_wakeup excepted: it is
 * thread-safe). Lock order: one mutex, never held across a curl call on the multi handle
 * (except curl_multi_wakeup). Connect-only probes run on a private easy handle in the
 * calling thread (CONNECT_ONLY is an easy-interface feature in curl 7.88). */
#include "repo/s3-http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/banned.h"

#define UPLOAD_BUFFER (1L << 20)
#define DOWNLOAD_BUFFER (512L << 10)

struct job {
	struct job *next;
	CURL *c;
	CURLcode cc;
	bool done;
};

struct s3_http {
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* a job finished */
	CURLM *multi;
	pthread_t loop;
	bool stop;
	struct job *q_head, *q_tail;	/* submitted, not yet in the multi handle */
	unsigned active, max;		/* jobs in the multi handle */
	CURL **idle;			/* free easy handles (at most max) */
	unsigned n_idle;
	char *ca_file;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

/* ---- the loop thread ---- */

static void loop_add_queued(struct s3_http *h)
{
	for (;;) {
		pthread_mutex_lock(&h->mu);
		struct job *j = NULL;
		if (h->q_head && h->active < h->max) {
			j = h->q_head;
			h->q_head = j->next;
			if (!h->q_head)
				h->q_tail = NULL;
			h->active++;
		}
		pthread_mutex_unlock(&h->mu);
		if (!j)
			return;
		CURLMcode mc = curl_multi_add_handle(h->multi, j->c);
		if (mc != CURLM_OK) {
			pthread_mutex_lock(&h->mu);
			j->cc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			j->done = true;
			h->active--;
			pthread_cond_broadcast(&h->cv);
			pthread_mutex_unlock(&h->mu);
		}
	}
}

static void loop_reap(struct s3_http *h)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *c = msg->easy_handle;
		CURLcode cc = msg->data.result;
		struct job *j = NULL;
		curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&j);
		curl_multi_remove_handle(h->multi, c);
		pthread_mutex_lock(&h->mu);
		j->cc = cc;
		j->done = true;
		h->active--;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
}

static void *loop_main(void *arg)
{
	struct s3_http *h = arg;
	for (;;) {
		pthread_mutex_lock(&h->mu);
		bool stop = h->stop;
		pthread_mutex_unlock(&h->mu);
		if (stop)
			break;
		loop_add_queued(h);
		int running = 0;
		curl_multi_perform(h->multi, &running);
		loop_reap(h);
		/* a finished transfer frees a slot: add queued jobs before sleeping */
		loop_add_queued(h);
		curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
	}
	return NULL;
}

/* ---- pool ---- */

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
	h->multi = curl_multi_init();
	if (!h->idle || (ca_file && !h->ca_file) || !h->multi)
		goto fail;
	if (curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)h->max) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->max) != CURLM_OK)
		goto fail;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	int r = pthread_create(&h->loop, NULL, loop_main, h);
	if (r) {
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		curl_multi_cleanup(h->multi);
		free(h->idle);
		free(h->ca_file);
		free(h);
		return -r;
	}
	*out = h;
	return 0;
fail:
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->idle);
	free(h->ca_file);
	free(h);
	return -ENOMEM;
}

void s3_http_free(struct s3_http *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_mutex_unlock(&h->mu);
	curl_multi_wakeup(h->multi);
	pthread_join(h->loop, NULL);
	for (unsigned i = 0; i < h->n_idle; i++)
		curl_easy_cleanup(h->idle[i]);
	curl_multi_cleanup(h->multi);
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
	if (h->n_idle)
		c = h->idle[--h->n_idle];
	pthread_mutex_unlock(&h->mu);
	if (c)
		curl_easy_reset(c);
	else
		c = curl_easy_init();
	return c;
}

static void give_back(struct s3_http *h, CURL *c)
{
	pthread_mutex_lock(&h->mu);
	if (h->n_idle < h->max) {
		h->idle[h->n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	if (c)
		curl_easy_cleanup(c);
}

/* Run c on the loop thread; wait for it. */
static CURLcode run_on_loop(struct s3_http *h, CURL *c)
{
	struct job j = { .c = c };
	if (curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)&j) != CURLE_OK)
		return CURLE_FAILED_INIT;
	pthread_mutex_lock(&h->mu);
	if (h->q_tail)
		h->q_tail->next = &j;
	else
		h->q_head = &j;
	h->q_tail = &j;
	pthread_mutex_unlock(&h->mu);
	curl_multi_wakeup(h->multi);
	pthread_mutex_lock(&h->mu);
	while (!j.done)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	return j.cc;
}

/* ---- one transfer ---- */

struct xfer {
	CURL *c;
	const struct s3_http_req *req;
	struct s3_http_resp *resp;
	size_t sent;		/* request body bytes handed to curl */
	int to_dst;		/* -1 undecided, 0 into resp->body, 1 into req->dst */
	bool overflow;
	bool head_done;		/* the answer's head ended with its empty line */
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

/* counts the request heads curl sends (CURLINFO_HEADER_OUT): more than one is a resend */
static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
	struct xfer *x = arg;
	(void)c;
	(void)data;
	(void)size;
	if (type == CURLINFO_HEADER_OUT)
		x->resp->sends++;
	return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (len >= 5 && !memcmp(p, "HTTP/", 5))
		x->head_done = false;	/* a new head (after a 1xx, or a resend) */
	else if ((len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n'))
		x->head_done = true;
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

static int setup(struct s3_http *h, struct xfer *x, struct curl_slist **hl, char *errbuf)
{
	const struct s3_http_req *req = x->req;
	CURL *c = x->c;
	int bad = 0;

	for (const char *const *hd = req->headers; hd && *hd; hd++) {
		struct curl_slist *n = curl_slist_append(*hl, *hd);
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
	/* fewer, larger socket writes and reads for multi-MiB packs (curl's defaults: 64 KiB and
	 * 16 KiB) */
	bad |= curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (h->ca_file)
		bad |= curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file) != CURLE_OK;
	if (req->connect_only) {
		bad |= curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK;
	} else if (!strcmp(req->method, "HEAD")) {
		bad |= curl_easy_setopt(c, CURLOPT_NOBODY, 1L) != CURLE_OK;
	} else if (!strcmp(req->method, "PUT") || !strcmp(req->method, "POST")) {
		bad |= curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
					(curl_off_t)req->body_len) != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read) != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_READDATA, x) != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek) != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_SEEKDATA, x) != CURLE_OK;
		if (!strcmp(req->method, "POST"))
			bad |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST") != CURLE_OK;
	} else if (strcmp(req->method, "GET")) {
		bad |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method) != CURLE_OK;
	}
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_DEBUGDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_VERBOSE, 1L) != CURLE_OK;
	return bad ? -EINVAL : 0;
}

static void collect_info(CURL *c, struct s3_http_resp *resp)
{
	double t;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, &t) == CURLE_OK)
		resp->connect_ms = t * 1000;
	if (curl_easy_getinfo(c, CURLINFO_APPCONNECT_TIME, &t) == CURLE_OK)
		resp->tls_ms = t * 1000;
	if (curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &t) == CURLE_OK)
		resp->total_ms = t * 1000;
	curl_off_t cl = -1;
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0) {
		resp->content_length = (uint64_t)cl;
		resp->have_length = true;
	}
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
	resp->sends = 0;
	resp->error[0] = '\0';
	resp->connect_ms = resp->tls_ms = resp->total_ms = 0;
	dbuf_reset(&resp->body);
	resp->body.max = req->body_max;

	/* a connect-only probe leaves its connection unusable for requests: a private handle */
	x.c = req->connect_only ? curl_easy_init() : take(h);
	if (!x.c) {
		snprintf(resp->error, sizeof(resp->error), "cannot make a curl handle");
		return -ENOMEM;
	}
	r = setup(h, &x, &hl, errbuf);
	if (r < 0) {
		snprintf(resp->error, sizeof(resp->error), "cannot set up the request");
		curl_slist_free_all(hl);
		curl_easy_cleanup(x.c);
		return r;
	}
	cc = req->connect_only ? curl_easy_perform(x.c) : run_on_loop(h, x.c);
	collect_info(x.c, resp);
	curl_slist_free_all(hl);
	if (req->connect_only)
		curl_easy_cleanup(x.c);
	else
		give_back(h, x.c);	/* connections live in the multi handle's cache */

	/* curl 7.88 takes a head cut off by the connection's end for a complete answer */
	if (cc == CURLE_OK && !req->connect_only && !x.head_done) {
		snprintf(resp->error, sizeof(resp->error), "the answer's head was cut off");
		resp->status = 0;
		resp->sent = resp->retryable = true;
		return -ECONNRESET;
	}
	if (cc == CURLE_OK)
		return 0;
	resp->sent = resp->sends > 0 || x.sent > 0;
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
