/* Private interfaces of the restore library (restore/restore.h is the contract).
 *
 *   restore_disk (restore.c)
 *     |  map = map_iter_open(point, disk): read a region at a time
 *     |  out_ops = by target and format: out-file.c (raw, vmdk-flat), out-vmdk.c (vmdk,
 *     |            vmdk-stream), out-bdev.c (raw onto a block device)
 *     |  ops->open: PATH.part fresh, or reopened at its checkpoint (checkpoint.c); a
 *     |            device in place
 *     v
 *   repo_restore_pipe --sink(off, buf)--> ops->sink ... --window_done(upto)--> checkpoint?
 *     |                                                                      progress
 *     v
 *   ops->finish: durable, renamed into place; or ops->release(keep) after a failure
 *
 * To add an output kind: 1. write restore/out-NAME.c with a `const struct out_ops` table;
 * 2. declare it below; 3. choose it in restore.c's pick_output(). */
#ifndef FERRY_RESTORE_INTERNAL_H
#define FERRY_RESTORE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/vmdk.h"
#include "restore/restore.h"

struct batch_writer;

/* An output being written (one restore_disk call). */
struct rout {
	const struct restore_req *q;
	const struct out_ops *ops;
	struct map_iter *map;		/* the disk at the point, a region at a time */
	uint64_t size;		/* bytes of the output's data area (raw: the disk size; VMDK:
				 * the capacity, the disk size rounded up to a sector) */
	char *final_path;	/* what appears when complete (vmdk-flat: the extent) */
	char *part, *state;	/* final_path.part and final_path.part.resume */
	int fd;			/* out-file.c: the .part file */
	struct batch_writer *bw;
	struct vmdk_writer *vw;
	bool ckpt_written;	/* a checkpoint file describes .part */
	uint64_t device_size;	/* out-bdev.c: the block device's size */
};

struct out_ops {
	/* Create final_path's .part (and q->path's, if another), or reopen it at its
	 * checkpoint when q->resume: *start is where writing continues (0: from the start).
	 * -errno with a reason in err. */
	int (*open)(struct rout *o, uint64_t *start, char *err, size_t errlen);
	/* the pipeline's sink, arg = o (restore-pipe.h) */
	int (*sink)(void *arg, uint64_t off, const void *buf, size_t len);
	/* Optional: the pipeline's sink_z and z_chunk (zlib-form grains taken as they are) */
	int (*sink_z)(void *arg, uint64_t off, const void *buf, size_t len, const void *z,
		      size_t zlen);
	/* Optional: the sink writes asynchronously (the pipeline's drain) */
	int (*drain)(void *arg);
	/* Optional: a window ended and no checkpoint is due: start its writes. */
	int (*window)(struct rout *o);
	/* Optional: make everything below upto durable; *c gets what the checkpoint file
	 * records. NULL: the output has no checkpoints (no --resume). */
	int (*sync)(struct rout *o, uint64_t upto, struct vmdk_ckpt *c);
	/* Everything written: make it durable and put it in place. -errno with err. */
	int (*finish)(struct rout *o, char *err, size_t errlen);
	/* Free what open made; keep: leave .part for --resume (else remove it). */
	void (*release)(struct rout *o, bool keep);
};

extern const struct out_ops out_file_ops;	/* raw, vmdk-flat */
extern const struct out_ops out_vmdk_ops;	/* vmdk, vmdk-stream */
extern const struct out_ops out_bdev_ops;	/* raw onto a block device */

/* ---- out-file.c: the batch writer's side of an output (o->bw), for out-bdev.c too ---- */

int rout_bw_sink(void *arg, uint64_t off, const void *buf, size_t len);
int rout_bw_drain(void *arg);
int rout_bw_window(struct rout *o);

/* ---- checkpoint.c ---- */

/* o->part and o->state for final_path, and the checkpoint to resume from into *c: with
 * q->resume and a checkpoint of this very restore (point, domain, disk, format, size),
 * else all zero (and a stale checkpoint file is removed). */
int ckpt_find(struct rout *o, const char *final_path, struct vmdk_ckpt *c);
/* Record *c as the checkpoint of o's .part (atomically, durably). */
int ckpt_write(struct rout *o, const struct vmdk_ckpt *c);
/* Remove the checkpoint file (the output is complete, or not resumable). */
void ckpt_remove(struct rout *o);

/* ---- restore.c ---- */

/* The VMDK metadata of q (extra ddb keys, level, threads) for capacity bytes. */
void rout_meta(const struct rout *o, struct vmdk_meta *m);
/* A remark through q->notice, printf-style. */
void rout_notice(const struct rout *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- dir-lock.c ---- */

/* Take the lock file name in dir (created if missing, the pid written in it): the fd, or
 * -EBUSY with the holder's pid in err; with take_over the holder is sent SIGTERM and its
 * lock waited for instead. Closing the fd releases the lock. */
int dir_lock(const char *dir, const char *name, bool take_over, char *err, size_t errlen);

#endif
