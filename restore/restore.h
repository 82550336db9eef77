/* The recovery side's library: one disk at one point into a file of a given format or onto
 * a block device, and continuous rehydration of a domain's disks into monolithicFlat
 * VMDKs. ferryctl (mgmt/ctl-restore.c, mgmt/ctl-rehydrate.c) and ferry-agent call only
 * this header; they keep argument parsing and printing. Nothing here prints or logs:
 * progress goes through a callback, remarks a person should see through the notice
 * callback, failures through (err, errlen) and -errno.
 *
 *   restore.c       restore_disk: the map, the pipeline (repo/restore-pipe.h), windows,
 *                   checkpoints, progress, what is kept after a failure
 *   out-file.c      raw and vmdk-flat into a regular file (batch writer, O_DIRECT)
 *   out-vmdk.c      vmdk and vmdk-stream (image/'s ordered writers)
 *   out-bdev.c      raw onto a block device, in place
 *   checkpoint.c    PATH.part and its resume file (docs/restore.md "--resume")
 *   rehydrate.c     the rehydrator: a point's diff applied in place, descriptors that
 *                   never claim a point they do not hold
 *   dir-lock.c      one rehydrator per directory
 *
 * Thread safety: one call at a time per rehydrator; restores of different outputs may run
 * concurrently on one struct repo. */
#ifndef FERRY_RESTORE_H
#define FERRY_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

struct vmdk_kv;

enum restore_format {
	RESTORE_RAW,		/* sparse raw image */
	RESTORE_VMDK,		/* monolithicSparse */
	RESTORE_VMDK_FLAT,	/* monolithicFlat: PATH is the descriptor, NAME-flat.vmdk the extent */
	RESTORE_VMDK_STREAM,	/* streamOptimized */
};

/* "raw", "vmdk", "vmdk-flat", "vmdk-stream": 0, or -EINVAL. */
int restore_format_parse(const char *s, enum restore_format *f);
const char *restore_format_name(enum restore_format f);
/* The path of a vmdk-flat descriptor's extent ("dir/NAME-flat.vmdk"), malloc'd. */
char *restore_flat_extent_path(const char *desc_path);

/* done of total data bytes (holes and zero ranges are free; a resumed restore counts what
 * the earlier run wrote as done). Called on the restoring thread after each window of the
 * pipeline and once at the end (done == total); non-zero stops the restore, which then
 * writes a checkpoint of everything written so far, returns -ECANCELED and keeps what
 * resume needs (restore_result.resumable). A restore is resumable from its first window
 * on: the first checkpoint comes with it. */
typedef int restore_progress_fn(void *arg, uint64_t done, uint64_t total);
/* A one-line remark for a person, e.g. "resuming PATH at offset X" or why a resume starts
 * over. Called on the calling thread. */
typedef void restore_notice_fn(void *arg, const char *msg);

struct restore_req {
	struct repo *r;
	const struct point_info *p;
	const char *domain, *disk;
	const char *path;	/* a regular file (written as PATH.part, renamed when complete),
				 * or a block device (format raw only: written in place, O_DIRECT,
				 * after a size check; no resume) */
	enum restore_format fmt;
	bool resume;		/* continue PATH.part from its checkpoint */
	bool force;		/* replace an existing regular file at PATH */
	bool allow_inconsistent;	/* restore a point that is not crash-consistent (a seed
					 * or resync point: its disks may be torn) */
	const struct vmdk_kv *extra;	/* VMDK formats: more ddb keys */
	size_t n_extra;
	unsigned threads;	/* 0: default */
	int level;		/* vmdk-stream: ISA-L level 1..3; 0: default (igzip-2 mixed
				 * with libdeflate-2, image/vmdk-stream.c) */
	restore_progress_fn *progress;	/* may be NULL */
	void *progress_arg;
	restore_notice_fn *notice;	/* may be NULL; called with progress_arg */
};

/* Filled by restore_disk whether it succeeds or not. */
struct restore_result {
	uint64_t disk_size;	/* bytes of the disk at the point */
	uint64_t bytes_written;	/* data bytes written by this run */
	uint64_t resumed_at;	/* resume: disk offset the run continued from (0: from start) */
	bool block_device;	/* PATH was a block device */
	uint64_t device_size;	/* block_device: its size (may exceed the disk's) */
	bool resumable;		/* failed or cancelled, with PATH.part and its checkpoint kept:
				 * the same restore with resume continues */
	char part_path[4096];	/* resumable: the partial output kept */
};

/* Restore. 0, or -errno with a one-line reason in err (a missing or corrupt chunk names
 * the disk and the offset; -ECANCELED: the progress callback stopped it; -ENOSPC: the
 * device is smaller than the disk (nothing written); -EEXIST: a regular file is at PATH
 * (vmdk-flat: or at its extent's path) and !force; -EPERM: the point is not consistent
 * and !allow_inconsistent (err names the nearest consistent points); -EBUSY: the device is mounted or
 * held; -EINVAL: a character device or other non-regular target, or a block device with
 * another format than raw or with resume). */
int restore_disk(const struct restore_req *q, struct restore_result *res, char *err,
		 size_t errlen);

/* ---- rehydration (continuous failover) ---- */

struct rehydrator;

/* Open DIR as the rehydrated datastore of domain: takes DIR's lock (-EBUSY with the
 * holder's pid in err when another rehydrator holds it). */
int rehydrate_open(struct repo *r, const char *domain, const char *dir,
		   struct rehydrator **out, char *err, size_t errlen);
/* The same, but a rehydrator holding DIR is asked to stop (SIGTERM to the pid in the lock
 * file: a follower finishes the point it is applying and exits) and its lock waited for.
 * The failover step. */
int rehydrate_take_over(struct repo *r, const char *domain, const char *dir,
			struct rehydrator **out, char *err, size_t errlen);
/* Remarks during rehydrate_sync (a pruned point forces a full rewrite; an interrupted
 * change is finished first). fn may be NULL. */
void rehydrate_set_notice(struct rehydrator *h, restore_notice_fn *fn, void *arg);
/* Bring every disk of the domain to target (NULL: the newest consistent point, after
 * picking up what the store gained since the last call), writing only what changed;
 * *reached is the point every disk's descriptor now claims. progress: done of total bytes
 * to write in this sync, total growing as each disk's share becomes known. */
int rehydrate_sync(struct rehydrator *h, const struct point_info *target,
		   struct point_info *reached, restore_progress_fn *progress, void *arg,
		   char *err, size_t errlen);
/* Data bytes the last rehydrate_sync wrote. */
uint64_t rehydrate_written(const struct rehydrator *h);
void rehydrate_close(struct rehydrator *h);	/* releases the lock; NULL is fine */
/* The point DIR's disks of domain all hold ("E.S" in *reached), without taking the lock:
 * 0, or -ENOENT when no disk claims a point (never rehydrated, or a change half-applied,
 * or the disks claim different points). */
int rehydrate_held_point(const char *dir, const char *domain, uint32_t *epoch, uint64_t *seq);

#endif
