/* libaio engine: the fallback where io_uring is missing or blocked (seccomp'd containers,
 * kernel.io_uring_disabled).
 *
 * A context of `depth` events and a fixed pool of `depth` iocbs (the generic layer never has
 * more than `depth` in flight, so the pool cannot run dry). Every iocb names the engine's
 * eventfd (IOCB_FLAG_RESFD), so completions wake the event loop exactly as with io_uring.
 * RWF_DSYNC travels in aio_rw_flags (Linux 4.13+), fdatasync is IOCB_CMD_FDSYNC (regular
 * files and block devices since Linux 4.18). iocb->data carries the struct io_req pointer.
 *
 * Completions are copied out of the kernel ring into a local batch and each iocb is returned
 * to the pool before any done() runs, so callbacks may submit or reap again. Note that
 * buffered (non O_DIRECT) I/O through libaio runs synchronously inside io_submit(): correct,
 * just not asynchronous. */
#include <errno.h>
#include <libaio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/ioengine.h"
#include "common/util.h"
#include "common/banned.h"

#define REAP_BATCH 64
#define REAP_BUDGET_FACTOR 2

struct aio_state {
	io_context_t ctx;
	struct iocb *iocbs;	/* pool of depth */
	struct iocb **free;	/* stack of free pool entries */
	unsigned nfree;
	struct iocb **batch;	/* submit scratch, depth entries */
};

static void aio_free_state(struct aio_state *st)
{
	free(st->iocbs);
	free(st->free);
	free(st->batch);
	free(st);
}

static int aio_setup_engine(struct io_engine *eng, unsigned depth)
{
	if (env_flag("FERRY_DISABLE_AIO"))
		return -EPERM;
	struct aio_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->iocbs = calloc(depth, sizeof(*st->iocbs));
	st->free = calloc(depth, sizeof(*st->free));
	st->batch = calloc(depth, sizeof(*st->batch));
	if (!st->iocbs || !st->free || !st->batch) {
		aio_free_state(st);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < depth; i++)
		st->free[i] = &st->iocbs[i];
	st->nfree = depth;

	int r = io_setup((int)depth, &st->ctx);	/* libaio returns -errno */
	if (r < 0) {
		aio_free_state(st);
		return r;
	}
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		io_destroy(st->ctx);
		aio_free_state(st);
		return r;
	}
	eng->priv = st;
	eng->event_fd = efd;
	return 0;
}

static void aio_teardown(struct io_engine *eng)
{
	struct aio_state *st = eng->priv;
	if (st) {
		io_destroy(st->ctx);
		aio_free_state(st);
	}
	if (eng->event_fd >= 0)
		close(eng->event_fd);
	eng->priv = NULL;
	eng->event_fd = -1;
}

static void prep(struct iocb *cb, struct io_req *req, int efd)
{
	switch (req->op) {
	case IO_OP_READ:
		io_prep_preadv2(cb, req->fd, req->iov, req->iovcnt, (long long)req->offset,
				req->rw_flags);
		break;
	case IO_OP_WRITE:
		io_prep_pwritev2(cb, req->fd, req->iov, req->iovcnt, (long long)req->offset,
				 req->rw_flags);
		break;
	case IO_OP_FDATASYNC:
		io_prep_fdsync(cb, req->fd);
		break;
	case IO_OP_WRITEBACK:	/* never submitted: libaio has no such operation */
		break;
	}
	if (efd >= 0)
		io_set_eventfd(cb, efd);
	cb->data = req;
}

static int aio_submit(struct io_engine *eng, struct io_req **reqs, unsigned n)
{
	struct aio_state *st = eng->priv;
	if (n > st->nfree)
		n = st->nfree;
	if (n == 0)
		return -EAGAIN;
	for (unsigned i = 0; i < n; i++) {
		struct iocb *cb = st->free[--st->nfree];
		prep(cb, reqs[i], eng->event_fd);
		st->batch[i] = cb;
	}
	int r;
	do
		r = io_submit(st->ctx, (long)n, st->batch);
	while (r == -EINTR);
	unsigned acc = r > 0 ? (unsigned)r : 0;
	for (unsigned i = n; i-- > acc;)	/* give back what the kernel did not take */
		st->free[st->nfree++] = st->batch[i];
	return r;
}

static int aio_reap(struct io_engine *eng, bool wait)
{
	struct aio_state *st = eng->priv;
	struct io_event ev[REAP_BATCH];
	unsigned budget = eng->depth * REAP_BUDGET_FACTOR;
	int count = 0;
	long min_nr = wait ? 1 : 0;

	while ((unsigned)count < budget) {
		struct timespec zero = { 0, 0 };
		int r = io_getevents(st->ctx, min_nr, REAP_BATCH, ev, min_nr ? NULL : &zero);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return count ? count : r;
		for (int i = 0; i < r; i++)	/* free every iocb before any callback runs */
			st->free[st->nfree++] = ev[i].obj;
		for (int i = 0; i < r; i++) {
			struct io_req *req = ev[i].data;
			long res = (long)ev[i].res;
			io_engine_complete(eng, req, (int)res);
		}
		count += r;
		min_nr = 0;
		if (r < REAP_BATCH)
			return count;
	}
	if (eng->event_fd >= 0)
		eventfd_write(eng->event_fd, 1);	/* budget hit: more may be waiting */
	return count;
}

const struct io_engine_ops io_engine_aio_ops = {
	.name = "libaio",
	.setup = aio_setup_engine,
	.teardown = aio_teardown,
	.submit = aio_submit,
	.reap = aio_reap,
};
