/* io_uring engine (liburing).
 *
 * One ring of `depth` SQ entries (the CQ is twice that, and the generic layer never has more
 * than `depth` operations in the kernel, so completions cannot overflow). An eventfd is
 * registered with the ring, so it becomes readable whenever a CQE is posted. user_data
 * carries the struct io_req pointer.
 *
 * submit() only fails for lack of SQEs: entries the kernel did not consume because of a
 * transient io_uring_enter error (EAGAIN/EBUSY/EINTR) stay in the SQ ring and are flushed by
 * the next submit or reap, so they are counted as accepted. Errors of single operations come
 * back in their CQE. FERRY_DISABLE_URING (set and not "0", env_flag) makes setup fail with -EPERM, as it would in a
 * container whose seccomp profile blocks io_uring_setup. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/ioengine.h"
#include "common/util.h"
#include "common/banned.h"

/* reap at most this many CQEs per call (times depth), then re-arm the eventfd: keeps one
 * busy engine from starving the event loop when callbacks keep resubmitting */
#define REAP_BUDGET_FACTOR 2

static int uring_setup(struct io_engine *eng, unsigned depth)
{
	if (env_flag("FERRY_DISABLE_URING"))
		return -EPERM;

	struct io_uring *ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	int r = io_uring_queue_init(depth, ring, 0);
	if (r < 0) {
		free(ring);
		return r;
	}
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		goto err_ring;
	}
	r = io_uring_register_eventfd(ring, efd);
	if (r < 0)
		goto err_efd;
	eng->priv = ring;
	eng->event_fd = efd;
	return 0;

err_efd:
	close(efd);
err_ring:
	io_uring_queue_exit(ring);
	free(ring);
	return r;
}

static void uring_teardown(struct io_engine *eng)
{
	struct io_uring *ring = eng->priv;
	if (ring) {
		io_uring_queue_exit(ring);
		free(ring);
	}
	if (eng->event_fd >= 0)
		close(eng->event_fd);
	eng->priv = NULL;
	eng->event_fd = -1;
}

static void prep(struct io_uring_sqe *sqe, struct io_req *req)
{
	switch (req->op) {
	case IO_OP_READ:
		io_uring_prep_readv(sqe, req->fd, req->iov, (unsigned)req->iovcnt, req->offset);
		sqe->rw_flags = req->rw_flags;
		break;
	case IO_OP_WRITE:
		io_uring_prep_writev(sqe, req->fd, req->iov, (unsigned)req->iovcnt, req->offset);
		sqe->rw_flags = req->rw_flags;
		break;
	case IO_OP_FDATASYNC:
		io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
		break;
	case IO_OP_WRITEBACK:
		io_uring_prep_sync_file_range(sqe, req->fd, (unsigned)req->length, req->offset,
					      SYNC_FILE_RANGE_WRITE);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
}

static int flush_sq(struct io_uring *ring)
{
	int r = io_uring_submit(ring);
	if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR)
		return r;
	return 0;
}

static int uring_submit(struct io_engine *eng, struct io_req **reqs, unsigned n)
{
	struct io_uring *ring = eng->priv;
	unsigned i;
	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		if (!sqe)
			break;
		prep(sqe, reqs[i]);
	}
	if (i == 0)
		return -EAGAIN;
	/* What is prepared is in the ring: count it as accepted whatever enter says. */
	flush_sq(ring);
	return (int)i;
}

static int uring_reap(struct io_engine *eng, bool wait)
{
	struct io_uring *ring = eng->priv;
	struct io_uring_cqe *cqe;
	unsigned budget = eng->depth * REAP_BUDGET_FACTOR;
	int count = 0;
	int r;

	if (io_uring_sq_ready(ring)) {
		r = flush_sq(ring);
		if (r < 0)
			return r;
	}
	if (wait) {
		do {
			if (io_uring_sq_ready(ring))
				r = io_uring_submit_and_wait(ring, 1);
			else
				r = io_uring_wait_cqe(ring, &cqe);
		} while (r == -EINTR || (r >= 0 && !io_uring_cq_ready(ring)));
		if (r < 0)
			return r;
	}
	while ((unsigned)count < budget && io_uring_peek_cqe(ring, &cqe) == 0) {
		struct io_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		/* mark seen before the callback, which may submit or reap again */
		io_uring_cqe_seen(ring, cqe);
		count++;
		io_engine_complete(eng, req, res);
	}
	if (io_uring_cq_ready(ring) && eng->event_fd >= 0)
		eventfd_write(eng->event_fd, 1);	/* budget hit: come back soon */
	return count;
}

const struct io_engine_ops io_engine_uring_ops = {
	.name = "io_uring",
	.writeback = true,
	.setup = uring_setup,
	.teardown = uring_teardown,
	.submit = uring_submit,
	.reap = uring_reap,
};
