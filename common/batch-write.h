/* Batched file writes through the I/O engine (common/ioengine.h: io_uring, or libaio where
 * io_uring cannot be set up: old kernel, seccomp, FERRY_DISABLE_URING=1): queue many writes
 * (adjacent ones merged), then flush them all at once. For restores and rehydration, which
 * write a window of extents at a time from buffers that stay valid until the flush. Falls
 * back to pwrite when neither engine can be set up.
 *
 * With a second, O_DIRECT descriptor of the same file (bw_set_direct), the aligned part of
 * every write skips the page cache. A restore writes gigabytes nobody reads back soon;
 * through the page cache the kernel's copy costs as much CPU as decrypting and
 * decompressing them (measured on the 2-core test machine: 1.2 GB in 1.85 s of system time
 * buffered, 0.11 s direct).
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
/* Start writing everything queued and return without waiting for it, so the caller goes
 * on producing while the device writes. At most BW_BATCHES submits are in flight: the
 * oldest is waited for first when that many are. So buffers handed in before a bw_submit
 * must stay valid until BW_BATCHES more bw_submit calls, or a bw_flush, have returned.
 * Same errors as bw_flush (an error may belong to an earlier batch). */
#define BW_BATCHES 3u
int bw_submit(struct batch_writer *w);
/* Send the aligned middle of each write (memory, offset and length multiples of
 * BW_DIRECT_ALIGN) through dfd, an O_DIRECT descriptor of the same file, which the writer
 * now owns (closes at bw_close; -1: none); unaligned heads and tails go through fd. If
 * the kernel refuses a direct write (EINVAL: the file system wants another alignment),
 * that write is redone through fd and direct writes stop. */
#define BW_DIRECT_ALIGN 4096u
void bw_set_direct(struct batch_writer *w, int dfd);
/* bw_set_direct with path (the file fd is) opened again, write-only with O_DIRECT; nothing
 * if that fails (a file system without direct I/O: the writer stays buffered) or
 * FERRY_DISABLE_DIRECT is set. */
void bw_use_direct(struct batch_writer *w, const char *path);
/* "io_uring", "libaio" or "pwrite": which path this writer uses. */
const char *bw_engine(const struct batch_writer *w);
void bw_close(struct batch_writer *w);	/* waits for writes in flight, writes nothing queued; NULL is fine */

#endif
