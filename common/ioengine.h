/* Asynchronous disk I/O behind one small interface, with two implementations:
 * ioengine-uring.c (liburing, the default) and ioengine-aio.c (libaio, the fallback).
 *
 * An engine is driven by one thread: ferryd's event loop, or a restore's batch writer
 * (batch-write.c), each with its own engine. Requests are queued with
 * io_queue(), pushed to the kernel with io_submit_pending() (once per loop iteration, so
 * one system call carries a whole batch), and completed with io_reap(), which calls each
 * request's done() callback from the driving thread. The engine exposes an eventfd that
 * becomes readable when completions are waiting, so the loop can poll it next to sockets.
 *
 * Short reads and writes are finished by the generic layer (ioengine.c): done() sees
 * either the full byte count or a negative errno, never a partial transfer. A read that
 * hits EOF completes with -EIO.
 *
 * FERRY_DISABLE_URING=1 makes io_uring unavailable (as kernel.io_uring_disabled or a
 * container's seccomp profile would), FERRY_DISABLE_AIO=1 the same for libaio (tests).
 *
 * Buffered writes to regular files: many filesystems (ext4 among them, measured on Debian's
 * and newer kernels) cannot do them without blocking (pwritev2(RWF_NOWAIT) fails with
 * EOPNOTSUPP), so io_uring hands every one to a kernel worker thread and libaio runs them
 * synchronously inside io_submit. On a 2-core appliance the worker wake-ups cost more than
 * the copy into the page cache, so requests marked may_inline are run right away with
 * preadv2/pwritev2 inside io_submit_pending, and their done() is called from the next
 * io_reap like any other completion. Block devices, O_DIRECT files, fdatasync and
 * RWF_DSYNC (FUA) writes, which wait for the device, always go through the kernel engine.
 * IO_OP_WRITEBACK (start writing a range back, wait for nothing) is a hint: io_uring does
 * it on a worker; libaio has no such operation, so there it completes at once, undone.
 * Set FERRY_NO_INLINE=1 to send everything through the engine.
 *
 * To add an engine: 1. write ioengine-NAME.c with a `const struct io_engine_ops` table;
 * 2. declare it below; 3. choose it in io_engine_create(). */
#ifndef FERRY_IOENGINE_H
#define FERRY_IOENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/config.h"

enum io_op {
	IO_OP_READ,	 /* preadv */
	IO_OP_WRITE,	 /* pwritev; rw_flags may carry RWF_DSYNC (FUA) */
	IO_OP_FDATASYNC, /* fdatasync(fd); iov/offset unused */
	IO_OP_WRITEBACK, /* start writeback of [offset, offset + length) and wait for nothing
			  * (sync_file_range SYNC_FILE_RANGE_WRITE): a hint; an engine that
			  * cannot do it asynchronously completes it at once with 0 */
};

struct io_req;
typedef void io_done_fn(struct io_req *req, int res);

/* Owned by the caller, which must keep it (and the iovec array and buffers) alive until
 * done() has been called. Fill the public fields; the engine owns the rest. */
struct io_req {
	enum io_op op;
	int fd;
	struct iovec *iov;	/* may be modified by the engine while finishing short I/O */
	int iovcnt;
	uint64_t offset;
	uint64_t length;	/* IO_OP_WRITEBACK only */
	int rw_flags;		/* RWF_* for pwritev2/preadv2 (RWF_DSYNC for FUA) */
	io_done_fn *done;	/* res: total bytes (read/write), 0 (fdatasync), or -errno */
	void *opaque;		/* for the caller */
	bool may_inline;	/* READ/WRITE on a buffered regular file: the engine may run it
				 * synchronously in io_submit_pending (see below) */

	/* private to the engine layer */
	size_t io_total;	/* bytes requested */
	size_t io_done;		/* bytes finished so far */
	struct io_req *io_next;	/* pending queue link */
	int io_res;		/* result of an inline execution */
};

struct io_engine;

struct io_engine_ops {
	const char *name;
	bool writeback;		/* can start writeback asynchronously (IO_OP_WRITEBACK) */
	/* Create the kernel context for up to `depth` requests in flight and set eng->event_fd.
	 * Return 0 or -errno (e.g. -ENOSYS/-EPERM when io_uring is disabled). */
	int (*setup)(struct io_engine *eng, unsigned depth);
	void (*teardown)(struct io_engine *eng);
	/* Hand up to n requests to the kernel. Return how many were accepted (>= 0) or -errno. */
	int (*submit)(struct io_engine *eng, struct io_req **reqs, unsigned n);
	/* Collect finished requests, calling io_engine_complete() for each. If wait is true,
	 * block until at least one has finished. Return the number collected or -errno. */
	int (*reap)(struct io_engine *eng, bool wait);
};

struct io_engine {
	const struct io_engine_ops *ops;
	void *priv;		/* the implementation's state */
	int event_fd;		/* readable when completions are waiting; -1 if none */
	unsigned depth;		/* max in flight in the kernel */
	unsigned inflight;	/* in the kernel now */
	struct io_req *pend_head, *pend_tail;	/* queued, not yet submitted */
	unsigned pending;
	struct io_req *idone_head, *idone_tail;	/* ran inline, done() not yet called */
	unsigned idone_count;
	bool inline_buffered;	/* honour io_req.may_inline (default true) */
};

extern const struct io_engine_ops io_engine_uring_ops;
extern const struct io_engine_ops io_engine_aio_ops;

/* Create an engine. ENGINE_AUTO tries io_uring and falls back to libaio; the reason for the
 * choice is written to why (e.g. "io_uring setup failed: Operation not permitted; using
 * libaio"). Return 0 or -errno. */
int io_engine_create(enum engine_choice choice, unsigned depth, struct io_engine **out,
		     char *why, size_t whylen);
void io_engine_free(struct io_engine *eng);

/* Queue a request (never blocks, never fails: the queue is unbounded and drained by
 * io_submit_pending). */
void io_queue(struct io_engine *eng, struct io_req *req);
/* Push as many queued requests to the kernel as fit. Return 0 or -errno. Requests the
 * kernel refuses outright are completed with the error. */
int io_submit_pending(struct io_engine *eng);
/* Run done() for every finished request (after clearing the eventfd). If wait is true and
 * something is in flight, block until at least one finishes. Return the number completed
 * or -errno. */
int io_reap(struct io_engine *eng, bool wait);
/* Called by implementations from reap() for each finished kernel operation. */
void io_engine_complete(struct io_engine *eng, struct io_req *req, int res);
/* Requests queued or in flight. */
static inline unsigned io_busy(const struct io_engine *eng)
{
	return eng->inflight + eng->pending + eng->idone_count;
}

/* Convenience for tools and tests: run one request synchronously through the engine. */
int io_run_sync(struct io_engine *eng, struct io_req *req);

#endif
