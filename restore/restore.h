/* The recovery side's library: one disk at one point into a file or a block device of a
 * given format, and continuous rehydration of a domain's disks into monolithicFlat VMDKs.
 * ferryctl (mgmt/ctl-restore.c, mgmt/ctl-rehydrate.c) and ferry-agent call only this
 * header; they keep argument parsing and printing. Nothing here prints or logs: progress
 * goes through a callback, failures through (err, errlen) and -errno.
 *
 * CONTRACT DRAFT (session 10): the shape below is what ferry-agent is written against.
 * The implementation lands with issue 11 section 2; names may be refined there, the shape
 * (request struct in, result struct out, progress callback, -errno + err) stays. */
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

/* done of total data bytes. Called on the restoring thread; non-zero stops the restore,
 * which then returns -ECANCELED and keeps what --resume needs. */
typedef int restore_progress_fn(void *arg, uint64_t done, uint64_t total);

struct restore_req {
	struct repo *r;
	const struct point_info *p;
	const char *domain, *disk;
	const char *path;	/* a regular file (written as PATH.part, renamed when complete),
				 * or a block device (written in place, O_DIRECT) */
	enum restore_format fmt;
	bool resume;		/* continue PATH.part from its checkpoint */
	bool force;		/* replace an existing regular file at PATH */
	const struct vmdk_kv *extra;	/* VMDK formats: more ddb keys */
	size_t n_extra;
	unsigned threads;	/* 0: default */
	int level;		/* vmdk-stream: ISA-L level 1..3; 0: default */
	restore_progress_fn *progress;	/* may be NULL */
	void *progress_arg;
};

struct restore_result {
	uint64_t bytes_written;	/* data bytes written by this run */
	uint64_t resumed_at;	/* resume: disk offset the run continued from (0: from start) */
	bool block_device;	/* PATH was a block device */
	uint64_t device_size;	/* block_device: its size (may exceed the disk's) */
};

/* Restore. 0, or -errno with a one-line reason in err (a missing or corrupt chunk names
 * the disk and the offset; -EEXIST: PATH exists and !force; -ENOSPC: the device is
 * smaller than the disk; -EINVAL: a character device or other non-regular target). */
int restore_disk(const struct restore_req *q, struct restore_result *res, char *err,
		 size_t errlen);

/* ---- rehydration (continuous failover) ---- */

struct rehydrator;

/* Open DIR as the rehydrated datastore of domain: takes DIR's lock (-EBUSY with the
 * holder's pid in err when another rehydrator holds it). */
int rehydrate_open(struct repo *r, const char *domain, const char *dir,
		   struct rehydrator **out, char *err, size_t errlen);
/* Bring every disk of the domain to target (NULL: the newest consistent point), writing
 * only what changed; *reached is the point every disk's descriptor now claims. */
int rehydrate_sync(struct rehydrator *h, const struct point_info *target,
		   struct point_info *reached, restore_progress_fn *progress, void *arg,
		   char *err, size_t errlen);
void rehydrate_close(struct rehydrator *h);
/* The point DIR's disks of domain all hold ("E.S" in *reached), without taking the lock:
 * 0, or -ENOENT when no disk claims a point (never rehydrated, or a change half-applied). */
int rehydrate_held_point(const char *dir, const char *domain, uint32_t *epoch, uint64_t *seq);

#endif
