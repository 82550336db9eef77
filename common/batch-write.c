/* Batched writes (contract in batch-write.h).
 *
 * Queued writes live in a small array; a write that continues the previous one both on
 * disk and in memory is merged into it (a restore's extents are mostly back to back), up
 * to BW_MERGE_MAX. Submitting cuts every entry into at most three pieces (an unaligned
 * head, an aligned middle for the O_DIRECT descriptor if there is one, an unaligned tail)
 * and puts the pieces, a batch, on the ring at once. Up to BW_BATCHES batches are in
 * flight (direct writes are synchronous for the device: with one at a time the disk idles
 * while the caller produces the next window); each batch has its own piece array, so a
 * completion always finds its piece. A short completion is finished with pwrite rather
 * than failed, since regular files only return short on real errors, which pwrite then
 * reports. */
#include "common/batch-write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include "common/util.h"
#include "common/banned.h"

#define BW_MERGE_MAX (8u << 20)

struct bw_ent {
	const uint8_t *buf;
	size_t len;
	uint64_t off;
};

struct bw_batch;

struct bw_piece {
	const uint8_t *buf;
	size_t len;
	uint64_t off;
	bool direct;
	struct bw_batch *batch;
};

struct bw_batch {
	struct bw_piece *pc;	/* 3 per queue entry */
	unsigned pending;	/* pieces on the ring */
};

struct batch_writer {
	int fd, dfd;		/* dfd: O_DIRECT, or -1 (also once the kernel refused it) */
	int dfd_owned;		/* the O_DIRECT descriptor to close, or -1 */
	bool uring;
	struct io_uring ring;
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
	if (!env_flag("FERRY_DISABLE_URING"))
		w->uring = io_uring_queue_init(3 * BW_BATCHES * w->depth, &w->ring, 0) == 0;
	*out = w;
	return 0;
}

const char *bw_engine(const struct batch_writer *w)
{
	return w->uring ? "io_uring" : "pwrite";
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

/* Cut the queue into pieces of batch b; returns how many. */
static unsigned cut_pieces(struct batch_writer *w, struct bw_batch *b)
{
	unsigned np = 0;
	for (unsigned i = 0; i < w->n; i++) {
		const struct bw_ent *e = &w->q[i];
		size_t head = (size_t)(ROUND_UP(e->off, BW_DIRECT_ALIGN) - e->off);
		size_t mid = head < e->len ? (e->len - head) / BW_DIRECT_ALIGN * BW_DIRECT_ALIGN : 0;
		if (w->dfd < 0 || !mid || !aligned((uintptr_t)(e->buf + head))) {
			b->pc[np++] = (struct bw_piece){ e->buf, e->len, e->off, false, b };
			continue;
		}
		if (head)
			b->pc[np++] = (struct bw_piece){ e->buf, head, e->off, false, b };
		b->pc[np++] = (struct bw_piece){ e->buf + head, mid, e->off + head, true, b };
		if (head + mid < e->len)
			b->pc[np++] = (struct bw_piece){ e->buf + head + mid, e->len - head - mid,
							 e->off + head + mid, false, b };
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

/* The end of a piece whose write returned res: its error, or the rest written through the
 * buffered descriptor (a short write; a direct write the file system refused). */
static void piece_finish(struct batch_writer *w, const struct bw_piece *p, int res)
{
	if (res == -EINVAL && p->direct) {
		w->dfd = -1;	/* this file system wants other alignment: stay buffered */
		res = 0;
	}
	if (res >= 0 && (size_t)res < p->len)
		res = pwrite_full(w->fd, p->buf + res, p->len - (size_t)res, p->off + (uint64_t)res);
	note_err(w, res);
}

/* Reap completions until batch b has none pending. */
static void wait_batch(struct batch_writer *w, struct bw_batch *b)
{
	while (b->pending) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&w->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0) {	/* the ring is broken: fail the restore */
			note_err(w, r);
			for (unsigned i = 0; i < BW_BATCHES; i++)
				w->b[i].pending = 0;
			return;
		}
		struct bw_piece *p = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&w->ring, cqe);
		p->batch->pending--;
		piece_finish(w, p, res);
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
	if (w->uring)
		wait_batch(w, b);
	unsigned np = cut_pieces(w, b);
	if (!w->uring) {
		for (unsigned i = 0; i < np; i++) {
			const struct bw_piece *p = &b->pc[i];
			ssize_t r = pwrite(piece_fd(w, p), p->buf, p->len, (off_t)p->off);
			piece_finish(w, p, r < 0 ? -errno : (int)MIN((size_t)r, (size_t)INT_MAX));
		}
	} else if (np) {
		for (unsigned i = 0; i < np; i++) {
			const struct bw_piece *p = &b->pc[i];
			struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
			io_uring_prep_write(sqe, piece_fd(w, p), p->buf, (unsigned)p->len, p->off);
			io_uring_sqe_set_data(sqe, &b->pc[i]);
		}
		int in = io_uring_submit(&w->ring);
		b->pending = in > 0 ? (unsigned)in : 0;
		w->next = (w->next + 1) % BW_BATCHES;
		if (in != (int)np) {
			/* not all went in (the first `in` did, in order): finish those, write the
			 * rest the slow way, and stay off the ring from now on */
			wait_all(w);
			io_uring_queue_exit(&w->ring);
			w->uring = false;
			for (unsigned i = in > 0 ? (unsigned)in : 0; i < np; i++)
				note_err(w, pwrite_full(w->fd, b->pc[i].buf, b->pc[i].len, b->pc[i].off));
		}
	}
	if (wait && w->uring)
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
	if (w->uring) {
		wait_all(w);	/* the kernel must be done with the caller's buffers */
		io_uring_queue_exit(&w->ring);
	}
	if (w->dfd_owned >= 0)
		close(w->dfd_owned);
	free(w->q);
	for (unsigned i = 0; i < BW_BATCHES; i++)
		free(w->b[i].pc);
	free(w);
}
