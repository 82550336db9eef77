/* The engine-independent half of the I/O layer: engine choice, the pending queue, batching
 * into the kernel, and finishing short transfers.
 *
 * Why it works this way:
 * - The pending queue is an intrusive FIFO (io_req.io_next), so io_queue() never allocates
 *   and never fails. io_submit_pending() moves at most depth - inflight requests into the
 *   kernel, which is what keeps the io_uring CQ (2 x SQ) and the libaio ring from
 *   overflowing: the kernel never holds more than `depth` of our operations.
 * - A short read or write is not an error: the iovec array is advanced in place (entries are
 *   shifted down, so req->iov keeps pointing at the caller's array) and the remainder goes
 *   back to the head of the queue. done() sees the full byte count or -errno. A transfer
 *   that makes no progress (read at EOF, a write of 0 bytes) completes with -EIO.
 * - done() is only ever called with the engine in a consistent state (nothing half-popped),
 *   so callbacks may io_queue(), io_submit_pending() or even io_reap() again.
 * - io_reap() empties the eventfd before collecting, so a completion that lands after the
 *   last one collected makes it readable again: this works for level- and edge-triggered
 *   epoll alike.
 *
 * Not handled here: ordering between overlapping requests (the caller's business), and
 * cancellation (io_engine_free() waits for what is in flight and fails what is queued). */
#include "common/ioengine.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define SUBMIT_BATCH 64

static int try_setup(const struct io_engine_ops *ops, unsigned depth, struct io_engine **out)
{
	struct io_engine *eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	eng->ops = ops;
	eng->depth = depth;
	eng->inline_buffered = !getenv("FERRY_NO_INLINE");
	eng->event_fd = -1;
	int r = ops->setup(eng, depth);
	if (r < 0) {
		free(eng);
		return r;
	}
	*out = eng;
	return 0;
}

static bool uring_disabled_by_env(void)
{
	return env_flag("FERRY_DISABLE_URING");
}

int io_engine_create(enum engine_choice choice, unsigned depth, struct io_engine **out,
		     char *why, size_t whylen)
{
	char dummy[1];
	if (!why || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = '\0';
	*out = NULL;
	if (depth == 0 || depth > 32768) {
		snprintf(why, whylen, "invalid I/O depth %u", depth);
		return -EINVAL;
	}

	const char *env_note = uring_disabled_by_env() ? ", FERRY_DISABLE_URING=1" : "";
	int r;
	switch (choice) {
	case ENGINE_URING:
		r = try_setup(&io_engine_uring_ops, depth, out);
		if (r < 0)
			snprintf(why, whylen, "io_uring (forced by config) failed (io_uring_queue_init: %s%s)",
				 strerror(-r), env_note);
		else
			snprintf(why, whylen, "io_uring");
		return r;
	case ENGINE_AIO:
		r = try_setup(&io_engine_aio_ops, depth, out);
		if (r < 0)
			snprintf(why, whylen, "libaio (forced by config) failed (io_setup: %s)", strerror(-r));
		else
			snprintf(why, whylen, "libaio (forced by config)");
		return r;
	case ENGINE_AUTO:
	default:
		break;
	}

	r = try_setup(&io_engine_uring_ops, depth, out);
	if (r == 0) {
		snprintf(why, whylen, "io_uring");
		return 0;
	}
	char uring_err[64];
	snprintf(uring_err, sizeof(uring_err), "%s", strerror(-r));
	int r2 = try_setup(&io_engine_aio_ops, depth, out);
	if (r2 < 0) {
		snprintf(why, whylen, "no I/O engine: io_uring unavailable (io_uring_queue_init: %s%s), "
			 "libaio failed (io_setup: %s)", uring_err, env_note, strerror(-r2));
		return r2;
	}
	snprintf(why, whylen, "io_uring unavailable (io_uring_queue_init: %s%s); using libaio",
		 uring_err, env_note);
	return 0;
}

/* ---- pending queue ---- */

static void push_tail(struct io_engine *eng, struct io_req *req)
{
	req->io_next = NULL;
	if (eng->pend_tail)
		eng->pend_tail->io_next = req;
	else
		eng->pend_head = req;
	eng->pend_tail = req;
	eng->pending++;
}

static void push_head(struct io_engine *eng, struct io_req *req)
{
	req->io_next = eng->pend_head;
	eng->pend_head = req;
	if (!eng->pend_tail)
		eng->pend_tail = req;
	eng->pending++;
}

static struct io_req *pop_head(struct io_engine *eng)
{
	struct io_req *req = eng->pend_head;
	if (!req)
		return NULL;
	eng->pend_head = req->io_next;
	if (!eng->pend_head)
		eng->pend_tail = NULL;
	req->io_next = NULL;
	eng->pending--;
	return req;
}

/* Remove req from the pending queue if it is there; return whether it was. */
static bool unlink_pending(struct io_engine *eng, struct io_req *req)
{
	struct io_req *prev = NULL;
	for (struct io_req *r = eng->pend_head; r; prev = r, r = r->io_next) {
		if (r != req)
			continue;
		if (prev)
			prev->io_next = r->io_next;
		else
			eng->pend_head = r->io_next;
		if (eng->pend_tail == r)
			eng->pend_tail = prev;
		r->io_next = NULL;
		eng->pending--;
		return true;
	}
	return false;
}

void io_queue(struct io_engine *eng, struct io_req *req)
{
	size_t total = 0;
	if ((req->op == IO_OP_READ || req->op == IO_OP_WRITE) && req->iov && req->iovcnt > 0 &&
	    req->iovcnt <= IOV_MAX) {
		for (int i = 0; i < req->iovcnt; i++)
			total += req->iov[i].iov_len;
	}
	req->io_total = total;
	req->io_done = 0;
	push_tail(eng, req);
}

/* A request the kernel can never accept: fail it before it gets there (done() reports the
 * total as an int, and the kernel limits the iovec count). */
static int check_req(const struct io_req *req)
{
	switch (req->op) {
	case IO_OP_FDATASYNC:
		return req->fd < 0 ? -EBADF : 0;
	case IO_OP_WRITEBACK:
		if (req->fd < 0)
			return -EBADF;
		return req->length > UINT32_MAX || req->offset > (uint64_t)INT64_MAX - req->length
			? -EINVAL : 0;
	case IO_OP_READ:
	case IO_OP_WRITE:
		if (req->fd < 0)
			return -EBADF;
		if (req->iovcnt < 0 || req->iovcnt > IOV_MAX || (req->iovcnt > 0 && !req->iov))
			return -EINVAL;
		if (req->io_total > INT_MAX || req->offset > (uint64_t)INT64_MAX - req->io_total)
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static bool transient(int r)
{
	return r == -EAGAIN || r == -EBUSY || r == -EINTR;
}

static bool wants_inline(const struct io_engine *eng, const struct io_req *req)
{
	/* RWF_DSYNC waits for the device: never on the driving thread */
	return eng->inline_buffered && req->may_inline &&
	       (req->op == IO_OP_READ || req->op == IO_OP_WRITE) &&
	       !(req->rw_flags & RWF_DSYNC) && check_req(req) == 0;
}

/* A writeback hint the engine cannot start asynchronously is skipped (done with 0). */
static bool skip_writeback(const struct io_engine *eng, const struct io_req *req)
{
	return req->op == IO_OP_WRITEBACK && !eng->ops->writeback;
}

/* Run a may_inline request (or skip a writeback hint) now; its completion is delivered by
 * io_reap. */
static void run_inline(struct io_engine *eng, struct io_req *req)
{
	ssize_t r;
	if (req->op == IO_OP_WRITEBACK) {
		req->io_res = check_req(req);
		goto queue;
	}
	do {
		if (req->op == IO_OP_READ)
			r = preadv2(req->fd, req->iov, req->iovcnt, (off_t)req->offset, req->rw_flags);
		else
			r = pwritev2(req->fd, req->iov, req->iovcnt, (off_t)req->offset, req->rw_flags);
	} while (r < 0 && errno == EINTR);
	req->io_res = r < 0 ? -errno : (int)r;
queue:
	req->io_next = NULL;
	if (eng->idone_tail)
		eng->idone_tail->io_next = req;
	else
		eng->idone_head = req;
	eng->idone_tail = req;
	eng->idone_count++;
}

int io_submit_pending(struct io_engine *eng)
{
	while (eng->pend_head && eng->inflight < eng->depth) {
		if (wants_inline(eng, eng->pend_head) || skip_writeback(eng, eng->pend_head)) {
			run_inline(eng, pop_head(eng));
			continue;
		}
		struct io_req *batch[SUBMIT_BATCH];
		unsigned room = MIN(eng->depth - eng->inflight, (unsigned)SUBMIT_BATCH);
		unsigned n = 0;

		while (n < room && eng->pend_head) {
			if (wants_inline(eng, eng->pend_head) || skip_writeback(eng, eng->pend_head))
				break;
			int bad = check_req(eng->pend_head);
			if (bad == 0) {
				batch[n++] = pop_head(eng);
				continue;
			}
			if (n > 0)
				break;	/* submit the good ones first, then fail this one */
			struct io_req *req = pop_head(eng);
			req->done(req, bad);
		}
		if (n == 0)
			continue;

		int r = eng->ops->submit(eng, batch, n);
		if (r >= 0) {
			unsigned acc = MIN((unsigned)r, n);
			eng->inflight += acc;
			for (unsigned i = n; i-- > acc;)
				push_head(eng, batch[i]);
			if (acc == 0)
				return 0;	/* kernel full for now; reaping makes room */
			continue;
		}
		if (transient(r)) {
			for (unsigned i = n; i-- > 0;)
				push_head(eng, batch[i]);
			return eng->inflight ? 0 : r;
		}
		/* The first request was refused outright: fail it, keep the rest queued. */
		for (unsigned i = n; i-- > 1;)
			push_head(eng, batch[i]);
		batch[0]->done(batch[0], r);
	}
	return 0;
}

/* Drop `n` finished bytes from the front of the request's iovec, shifting the remaining
 * entries down so req->iov still points at the caller's array. */
static void advance_iov(struct io_req *req, size_t n)
{
	int skip = 0;
	while (skip < req->iovcnt && n >= req->iov[skip].iov_len) {
		n -= req->iov[skip].iov_len;
		skip++;
	}
	if (skip > 0) {
		memmove(req->iov, req->iov + skip, (size_t)(req->iovcnt - skip) * sizeof(*req->iov));
		req->iovcnt -= skip;
	}
	if (n && req->iovcnt > 0) {
		req->iov[0].iov_base = (char *)req->iov[0].iov_base + n;
		req->iov[0].iov_len -= n;
	}
}

void io_engine_complete(struct io_engine *eng, struct io_req *req, int res)
{
	if (eng->inflight)
		eng->inflight--;
	if (res < 0) {
		req->done(req, res);
		return;
	}
	if (req->op == IO_OP_FDATASYNC || req->op == IO_OP_WRITEBACK) {
		req->done(req, 0);
		return;
	}
	size_t left = req->io_total - req->io_done;
	if ((size_t)res >= left) {
		if ((size_t)res > left) {	/* the kernel never does this; be safe */
			req->done(req, -EIO);
			return;
		}
		req->io_done = req->io_total;
		req->done(req, (int)req->io_total);
		return;
	}
	if (res == 0) {			/* EOF on read, no progress on write */
		req->done(req, -EIO);
		return;
	}
	req->io_done += (size_t)res;
	req->offset += (uint64_t)res;
	advance_iov(req, (size_t)res);
	push_head(eng, req);
}

int io_reap(struct io_engine *eng, bool wait)
{
	int n = 0;
	struct io_req *list = eng->idone_head;
	eng->idone_head = eng->idone_tail = NULL;
	while (list) {
		struct io_req *req = list;
		list = req->io_next;
		eng->idone_count--;
		eng->inflight++;	/* io_engine_complete takes it off again */
		io_engine_complete(eng, req, req->io_res);
		n++;
	}
	if (n) {
		/* completions of kernel requests are collected on the next call: a caller that
		 * asked to wait has made progress already */
		if (eng->inflight == 0)
			return n;
		int r = eng->ops->reap(eng, false);
		return r < 0 ? r : n + r;
	}
	if (eng->event_fd >= 0) {
		uint64_t cnt;
		while (read(eng->event_fd, &cnt, sizeof(cnt)) < 0 && errno == EINTR)
			;
	}
	if (eng->inflight == 0)
		return 0;
	return eng->ops->reap(eng, wait);
}

struct sync_state {
	bool finished;
	int res;
};

static void sync_done(struct io_req *req, int res)
{
	struct sync_state *st = req->opaque;
	st->finished = true;
	st->res = res;
}

/* Runs req to completion, also completing whatever else the engine holds on the way.
 * req->done is not called: the result is returned instead (done and opaque are restored). */
int io_run_sync(struct io_engine *eng, struct io_req *req)
{
	io_done_fn *saved_done = req->done;
	void *saved_opaque = req->opaque;
	struct sync_state st = { false, 0 };
	int r = 0;

	req->done = sync_done;
	req->opaque = &st;
	io_queue(eng, req);
	while (!st.finished) {
		r = io_submit_pending(eng);
		if (r < 0)
			break;
		if (st.finished)
			break;
		r = io_reap(eng, true);
		if (r < 0 && r != -EINTR)
			break;
		r = 0;
	}
	if (!st.finished) {
		unlink_pending(eng, req);	/* in flight cannot happen: reap waits for it */
		st.res = r < 0 ? r : -EIO;
	}
	req->done = saved_done;
	req->opaque = saved_opaque;
	return st.res;
}

void io_engine_free(struct io_engine *eng)
{
	if (!eng)
		return;
	struct io_req *req;
	while ((req = pop_head(eng)))
		req->done(req, -ECANCELED);
	while (eng->inflight) {
		if (eng->ops->reap(eng, true) < 0)
			break;
		while ((req = pop_head(eng)))	/* remainders of short I/O */
			req->done(req, -ECANCELED);
	}
	eng->ops->teardown(eng);
	free(eng);
}
