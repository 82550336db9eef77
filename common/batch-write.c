/* Batched writes (contract in batch-write.h).
 *
 * Queued writes live in a small array; a write that continues the previous one both on
 * disk and in memory is merged into it (a restore's extents are mostly back to back), up
 * to BW_MERGE_MAX. Submitting cuts every entry into at most three pieces (an unaligned
 * head, an aligned middle for the O_DIRECT descriptor if there is one, an unaligned tail)
 * and hands the pieces, a batch, to the I/O engine (common/ioengine.h: io_uring, or libaio
 * where io_uring is disabled) at once. Up to BW_BATCHES batches are in flight (direct
 * writes are synchronous for the device: with one at a time the disk idles while the
 * caller produces the next window); each batch has its own piece array, so a completion
 * always finds its piece. The engine finishes short writes itself. Without any engine
 * (neither io_uring nor libaio can be set up) every piece is written with pwrite. */
#include "common/batch-write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ioengine.h"
#include "common/util.h"
#include "common/banned.h"

#define BW_MERGE_MAX (8u << 20)

struct bw_ent {
	const uint8_t *buf;
	size_t len;
	uint64_t off;
};

struct bw_batch;
struct batch_writer;

struct bw_piece {
	struct io_req req;	/* first: the completion finds its piece from the request */
	struct iovec iov;
	bool direct;
	struct batch_writer *w;
	struct bw_batch *batch;
};

struct bw_batch {
	struct bw_piece *pc;	/* 3 per queue entry */
	unsigned pending;	/* pieces handed to the engine, not yet done */
};

struct batch_writer {
	int fd, dfd;		/* dfd: O_DIRECT, or -1 (also once the kernel refused it) */
	int dfd_owned;		/* the O_DIRECT descriptor to close, or -1 */
	struct io_engine *eng;	/* NULL: pwrite */
	unsigned depth;
	struct bw_ent *q;	/* queued, not submitted */
	unsigned n;
	struct bw_batch b[BW_BATCHES];
	unsigned next;		/* the batch the next submit uses (the oldest) */
	int err;		/* first error not reported yet */
};

int bw_open(int fd, unsigned depth, struct batch_writer **out)
{
	struct batch_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->dfd = w->dfd_owned = -1;
	w->depth = depth ? depth : 64;
	bool ok = (w->q = calloc(w->depth, sizeof(*w->q))) != NULL;
	for (unsigned i = 0; i < BW_BATCHES; i++)
		ok = ok && (w->b[i].pc = calloc(3 * (size_t)w->depth, sizeof(struct bw_piece)));
	if (!ok) {
		bw_close(w);
		return -ENOMEM;
	}
	if (io_engine_create(ENGINE_AUTO, 3 * BW_BATCHES * w->depth, &w->eng, NULL, 0) < 0)
		w->eng = NULL;
	*out = w;
	return 0;
}

const char *bw_engine(const struct batch_writer *w)
{
	return w->eng ? w->eng->ops->name : "pwrite";
}

void bw_set_direct(struct batch_writer *w, int dfd)
{
	if (w->dfd_owned >= 0)
		close(w->dfd_owned);
	w->dfd = w->dfd_owned = dfd;
}

void bw_use_direct(struct batch_writer *w, const char *path)
{
	if (!env_flag("FERRY_DISABLE_DIRECT"))
		bw_set_direct(w, open(path, O_WRONLY | O_DIRECT | O_CLOEXEC));
}

static bool aligned(uint64_t x)
{
	return x % BW_DIRECT_ALIGN == 0;
}

static void piece_set(struct bw_piece *p, struct batch_writer *w, struct bw_batch *b,
		      const uint8_t *buf, size_t len, uint64_t off, bool direct)
{
	p->w = w;
	p->batch = b;
	p->direct = direct;
	p->iov = (struct iovec){ (void *)(uintptr_t)buf, len };
	p->req = (struct io_req){ .op = IO_OP_WRITE, .iov = &p->iov, .iovcnt = 1, .offset = off };
}

/* Cut the queue into pieces of batch b; returns how many. */
static unsigned cut_pieces(struct batch_writer *w, struct bw_batch *b)
{
	unsigned np = 0;
	for (unsigned i = 0; i < w->n; i++) {
		const struct bw_ent *e = &w->q[i];
		size_t head = (size_t)(ROUND_UP(e->off, BW_DIRECT_ALIGN) - e->off);
		size_t mid = head < e->len ? (e->len - head) / BW_DIRECT_ALIGN * BW_DIRECT_ALIGN : 0;
		if (w->dfd < 0 || !mid || !aligned((uintptr_t)(e->buf + head))) {
			piece_set(&b->pc[np++], w, b, e->buf, e->len, e->off, false);
			continue;
		}
		if (head)
			piece_set(&b->pc[np++], w, b, e->buf, head, e->off, false);
		piece_set(&b->pc[np++], w, b, e->buf + head, mid, e->off + head, true);
		if (head + mid < e->len)
			piece_set(&b->pc[np++], w, b, e->buf + head + mid, e->len - head - mid,
				  e->off + head + mid, false);
	}
	w->n = 0;
	return np;
}

static int piece_fd(const struct batch_writer *w, const struct bw_piece *p)
{
	return p->direct && w->dfd >= 0 ? w->dfd : w->fd;
}

static void note_err(struct batch_writer *w, int rc)
{
	if (rc < 0 && w->err == 0)
		w->err = rc;
}

/* A direct write the file system refused (EINVAL: it wants another alignment) is redone
 * through the buffered descriptor, and direct writes stop. */
static bool redo_buffered(struct batch_writer *w, struct bw_piece *p, int res)
{
	if (res != -EINVAL || !p->direct || p->req.fd == w->fd)
		return false;
	w->dfd = -1;
	p->direct = false;
	p->req.fd = w->fd;
	return true;
}

static void piece_done(struct io_req *req, int res)
{
	struct bw_piece *p = (struct bw_piece *)req;	/* req is the first member */
	struct batch_writer *w = p->w;
	if (redo_buffered(w, p, res)) {
		io_queue(w->eng, req);
		return;
	}
	p->batch->pending--;
	note_err(w, res < 0 ? res : 0);
}

static void write_sync(struct batch_writer *w, struct bw_piece *p)
{
	p->req.fd = piece_fd(w, p);
	int r = pwrite_full(p->req.fd, p->iov.iov_base, p->iov.iov_len, p->req.offset);
	if (redo_buffered(w, p, r))
		r = pwrite_full(w->fd, p->iov.iov_base, p->iov.iov_len, p->req.offset);
	note_err(w, r);
}

/* The engine failed as a whole: it fails what it holds (-ECANCELED, through piece_done),
 * and the writer goes on with pwrite. */
static void engine_broken(struct batch_writer *w, int r)
{
	note_err(w, r);
	io_engine_free(w->eng);
	w->eng = NULL;
	for (unsigned i = 0; i < BW_BATCHES; i++)
		w->b[i].pending = 0;
}

/* Drive the engine until batch b has nothing pending. */
static void wait_batch(struct batch_writer *w, struct bw_batch *b)
{
	while (w->eng && b->pending) {
		int r = io_submit_pending(w->eng);
		if (r >= 0)
			r = io_reap(w->eng, true);
		if (r < 0 && r != -EINTR)
			engine_broken(w, r);
	}
}

static void wait_all(struct batch_writer *w)
{
	for (unsigned i = 0; i < BW_BATCHES; i++)
		wait_batch(w, &w->b[i]);
}

/* Write the queue as the next batch (after the oldest batch, which it reuses, is done); if
 * wait, wait for every batch. Returns the first error not reported yet, and forgets it. */
static int submit_all(struct batch_writer *w, bool wait)
{
	struct bw_batch *b = &w->b[w->next];
	wait_batch(w, b);
	unsigned np = cut_pieces(w, b);
	for (unsigned i = 0; i < np; i++) {
		struct bw_piece *p = &b->pc[i];
		if (!w->eng) {
			write_sync(w, p);
			continue;
		}
		p->req.fd = piece_fd(w, p);
		p->req.done = piece_done;
		b->pending++;
		io_queue(w->eng, &p->req);
	}
	w->next = (w->next + 1) % BW_BATCHES;
	if (w->eng) {
		int r = io_submit_pending(w->eng);
		if (r < 0)
			engine_broken(w, r);
	}
	if (wait)
		wait_all(w);
	int rc = w->err;
	w->err = 0;
	return rc;
}

int bw_write(struct batch_writer *w, const void *buf, size_t len, uint64_t off)
{
	if (w->err)
		return w->err;
	if (!len)
		return 0;
	if (w->n) {
		struct bw_ent *l = &w->q[w->n - 1];
		if (l->off + l->len == off && l->buf + l->len == (const uint8_t *)buf &&
		    l->len + len <= BW_MERGE_MAX) {
			l->len += len;
			return 0;
		}
	}
	if (w->n == w->depth) {
		int rc = submit_all(w, true);
		if (rc < 0)
			return w->err = rc;
	}
	/* io_uring takes an unsigned length: keep entries well below 4 GiB */
	while (len > BW_MERGE_MAX) {
		int rc = bw_write(w, buf, BW_MERGE_MAX, off);
		if (rc < 0)
			return rc;
		buf = (const uint8_t *)buf + BW_MERGE_MAX;
		off += BW_MERGE_MAX;
		len -= BW_MERGE_MAX;
	}
	w->q[w->n++] = (struct bw_ent){ buf, len, off };
	return 0;
}

int bw_flush(struct batch_writer *w)
{
	return submit_all(w, true);
}

int bw_submit(struct batch_writer *w)
{
	return submit_all(w, false);
}

void bw_close(struct batch_writer *w)
{
	if (!w)
		return;
	wait_all(w);	/* the kernel must be done with the caller's buffers */
	io_engine_free(w->eng);
	if (w->dfd_owned >= 0)
		close(w->dfd_owned);
	free(w->q);
	for (unsigned i = 0; i < BW_BATCHES; i++)
		free(w->b[i].pc);
	free(w);
}
