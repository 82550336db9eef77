/* Batched writes (contract in batch-write.h).
 *
 * Queued writes live in a small array; a write that continues the previous one both on
 * disk and in memory is merged into it (a restore's extents are mostly back to back), up
 * to BW_MERGE_MAX. A flush puts every entry on the ring, submits once and reaps them all;
 * a short completion is finished with pwrite rather than failed, since regular files only
 * return short on real errors, which pwrite then reports. */
#include "common/batch-write.h"

#include <errno.h>
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

struct batch_writer {
	int fd;
	bool uring;
	struct io_uring ring;
	unsigned depth;
	struct bw_ent *q;
	unsigned n;
	int err;
};

int bw_open(int fd, unsigned depth, struct batch_writer **out)
{
	struct batch_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->depth = depth ? depth : 64;
	w->q = calloc(w->depth, sizeof(*w->q));
	if (!w->q) {
		free(w);
		return -ENOMEM;
	}
	const char *off = getenv("FERRY_DISABLE_URING");
	if (!(off && *off && strcmp(off, "0")))
		w->uring = io_uring_queue_init(w->depth, &w->ring, 0) == 0;
	*out = w;
	return 0;
}

const char *bw_engine(const struct batch_writer *w)
{
	return w->uring ? "io_uring" : "pwrite";
}

static int submit_all(struct batch_writer *w)
{
	int rc = 0;
	if (!w->uring) {
		for (unsigned i = 0; i < w->n && rc == 0; i++)
			rc = pwrite_full(w->fd, w->q[i].buf, w->q[i].len, w->q[i].off);
		w->n = 0;
		return rc;
	}
	for (unsigned i = 0; i < w->n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
		io_uring_prep_write(sqe, w->fd, w->q[i].buf, (unsigned)w->q[i].len, w->q[i].off);
		io_uring_sqe_set_data(sqe, &w->q[i]);
	}
	int s = io_uring_submit(&w->ring);
	unsigned pending = w->n;
	if (s < 0) {
		/* nothing went in: write them the slow way */
		io_uring_queue_exit(&w->ring);
		w->uring = false;
		return submit_all(w);
	}
	while (pending) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&w->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;	/* the ring is broken: fail the restore */
		struct bw_ent *e = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&w->ring, cqe);
		pending--;
		if (res < 0 && rc == 0)
			rc = res;
		else if (res >= 0 && (size_t)res < e->len && rc == 0)
			rc = pwrite_full(w->fd, e->buf + res, e->len - (size_t)res,
					 e->off + (uint64_t)res);
	}
	w->n = 0;
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
	if (w->n == w->depth && (w->err = submit_all(w)) < 0)
		return w->err;
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
	int rc = w->err ? w->err : submit_all(w);
	w->err = 0;
	w->n = 0;
	return rc;
}

void bw_close(struct batch_writer *w)
{
	if (!w)
		return;
	if (w->uring)
		io_uring_queue_exit(&w->ring);
	free(w->q);
	free(w);
}
