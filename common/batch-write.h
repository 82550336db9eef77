/* Batched file writes through io_uring: queue many writes (adjacent ones merged), then
 * flush them all at once. For restores and rehydration, which write a window of extents
 * at a time from buffers that stay valid until the flush. Falls back to pwrite when
 * io_uring cannot be set up (old kernel, seccomp, FERRY_DISABLE_URING=1).
 *
 * Not thread-safe: one writer per thread. Errors are -errno. */
#ifndef FERRY_BATCH_WRITE_H
#define FERRY_BATCH_WRITE_H

#include <stddef.h>
#include <stdint.h>

struct batch_writer;

/* A writer for fd (which it does not own), with up to depth writes in flight. */
int bw_open(int fd, unsigned depth, struct batch_writer **out);
/* Queue len bytes of buf at off. buf must stay valid and unchanged until bw_flush returns.
 * May submit (and wait for) earlier writes when the queue is full. */
int bw_write(struct batch_writer *w, const void *buf, size_t len, uint64_t off);
/* Submit everything queued and wait for it all. Returns 0 or the first error since the
 * last flush (a short write is -EIO). */
int bw_flush(struct batch_writer *w);
/* "io_uring" or "pwrite": which path this writer uses. */
const char *bw_engine(const struct batch_writer *w);
void bw_close(struct batch_writer *w);	/* does not flush; NULL is fine */

#endif
