/* The replication log: a preallocated file or block device that holds, in order, every
 * block write of every protected disk until the shipper has stored it in the object store.
 * The byte-level format is specified in docs/replog-format.md; replog-format.h pins the
 * numbers.
 *
 *   [superblock A | superblock B | metadata region | data ring .......................]
 *      4 KiB          4 KiB        meta_size          data_size
 *
 * Writers (ferryd's event loop, one thread): replog_append() queues a record,
 * replog_commit() (once per loop iteration) writes every queued record with one pwritev
 * through the io engine — group commit; the whole pages of large payloads with O_DIRECT
 * from the caller's buffer — and then calls each append's done(). When a record
 * does not fit in the ring the disk's domain enters overflow: its writes are no longer
 * logged, their extents are set in the domain's dirty bitmaps, which are written to the
 * metadata region before done() is called. Overflow ends when the consumer begins a resync
 * (replog_dirty_begin_resync): it gets a copy of the bitmaps, the domain is marked "resync
 * pending" and its writes are logged again; the bits stay set on disk until the consumer has
 * stored the re-read extents and calls replog_dirty_end_resync, so a crash in between loses
 * nothing (the resync is simply done again).
 *
 * Consumers (the shipper, any thread; ferryctl offline): cursors read records in sequence
 * order with pread; replog_mark_shipped() + replog_reclaim() free space. Space is reused only
 * after the superblock that moves the tail past it is durable.
 *
 * Recovery (replog_open): take the valid superblock with the higher generation, then scan
 * from its tail; the scan stops at the first record that fails its CRC, breaks the dense
 * sequence, or carries an older open-generation than its predecessor (a stale record from
 * before a crash). That is the head.
 *
 * Locking: one mutex inside struct replog guards head/tail/domain state, so the consumer
 * calls are safe from another thread while the event loop appends; the calls the event loop
 * makes never wait for another thread's superblock fdatasync (replog-internal.h). */
#ifndef FERRY_REPLOG_H
#define FERRY_REPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ioengine.h"
#include "datapath/replog-format.h"

struct replog;

/* One decoded record header (see replog-format.h for the on-disk layout). */
struct replog_record {
	uint16_t version;	/* the record's format version */
	uint64_t seq;
	uint16_t type;		/* REPLOG_REC_* */
	uint16_t flags;		/* REPLOG_RF_* */
	uint32_t domain_id;
	uint32_t disk_id;
	uint64_t offset;	/* byte offset in the disk */
	uint32_t length;	/* bytes written/zeroed in the disk (payload size for WRITE) */
	uint32_t gen;		/* open generation of the log when written */
	uint64_t time_ns;	/* CLOCK_REALTIME at append */
	uint64_t log_off;	/* where the record starts, relative to the data ring */
	uint64_t rec_size;	/* bytes it occupies in the ring (REPLOG_REC_ALIGN multiple) */
};

struct replog_open_opts {
	uint64_t data_size;	/* ring bytes when creating; when opening must match (0: any) */
	uint64_t meta_size;	/* metadata bytes, same rule */
	bool create;		/* create and preallocate the file if it does not exist */
	bool readonly;		/* for ferryctl: never writes, no engine needed */
};

/* Open (or create) the log at path and run the recovery scan. Errors are described in err
 * ("PATH: reason") and -1 is returned. Block devices are used as they are (their size must
 * hold the geometry); files are created with the geometry's full size (fallocate). */
int replog_open(const char *path, const struct replog_open_opts *opts, struct replog **out,
		char *err, size_t errlen);
/* Flush, and if clean, mark the superblock clean with the current head; release all. */
void replog_close(struct replog *log, bool clean);
/* The engine used by append/commit. Must be set before the first append. */
void replog_set_engine(struct replog *log, struct io_engine *eng);
/* Redo after a crash. Writes reach the log before their primary (write-ahead), so after an
 * unclean stop the primaries may lack the newest records. replog_redo_from() is the first
 * sequence that may not be in its primary (records before it are known to be durable
 * there); ferryd re-applies records from it to the head, syncs the primaries, then calls
 * replog_set_applied(head - 1).
 * replog_set_applied: every record with seq <= applied_seq is durable in its primary.
 * Kept in memory at once, and stored in the superblock without fdatasync (it becomes
 * durable with the next log flush; a stale value only means more redo) — by this call when
 * no other thread is writing the superblock, else by that thread when it is done: it never
 * waits for a reclaim's fdatasync (the event loop calls it). Monotonic. From the first call
 * on, replog_reclaim never frees a record past it. Return 0 or -errno. */
uint64_t replog_redo_from(struct replog *log);
int replog_set_applied(struct replog *log, uint64_t applied_seq);

/* Ring usage in per mille (0..1000), cheap enough to call per request. */
unsigned replog_usage_permille(struct replog *log);

/* The log's file descriptor (ferryd's FLUSH fdatasyncs it through the engine). */
int replog_fd(const struct replog *log);

/* Find or add a disk in the metadata region's registry (stable ids across restarts). A disk
 * keeps its domain; re-registering a known disk under another domain is an error (-EEXIST).
 * Return 0 or -errno (-ENOSPC: registry or bitmap space exhausted). */
int replog_register_disk(struct replog *log, const char *domain, const char *disk,
			 uint64_t disk_size, uint32_t *domain_id, uint32_t *disk_id);

/* ---- append path (event-loop thread only) ---- */

/* res passed to replog_append.done */
#define REPLOG_LOGGED 0		/* the record is in the ring */
#define REPLOG_OVERFLOWED 1	/* not logged: extent marked in the dirty bitmap instead */
#define REPLOG_MARKED 2		/* a REPLOG_MARK_DIRTY append: the bits are set */

/* replog_append type besides REPLOG_REC_WRITE and REPLOG_REC_ZERO: no record; set the dirty
 * bits of [offset, offset + length) and mark the disk's domain "resync pending", so the
 * next point re-reads the extent from the primary (the records of it that are in the log
 * lose to what the primary holds). For a write whose record is logged but whose primary
 * write then failed: the replica must not keep data the primary does not have. The bits
 * are set in memory before replog_append returns; done(REPLOG_MARKED) once they are
 * written. */
#define REPLOG_MARK_DIRTY 0x100

struct replog_append;
typedef void replog_done_fn(struct replog_append *a, int res);

/* Owned by the caller; keep it and payload alive until done(). */
struct replog_append {
	uint32_t disk_id;
	uint16_t type;		/* REPLOG_REC_WRITE or REPLOG_REC_ZERO */
	bool fua;		/* make this record (and its batch) durable before done() */
	uint64_t offset;
	uint32_t length;
	const void *payload;	/* length bytes, WRITE only */
	replog_done_fn *done;	/* REPLOG_LOGGED, REPLOG_OVERFLOWED or -errno */
	void *opaque;

	/* private */
	uint64_t seq;
	struct replog_append *next;
	uint32_t pad_first;	/* its PADs in the batch: npre before the record, npost after */
	uint8_t npre, npost;
	uint8_t hdr[REPLOG_REC_HDR_SIZE];
};

/* Buffers for WRITE payloads (NULL on failure; free with replog_payload_free). Their
 * address phase lets replog_commit write the whole 4 KiB pages of a large payload straight
 * from the buffer with O_DIRECT (no copy into the page cache); any other buffer works too,
 * it is just written buffered. */
void *replog_payload_alloc(size_t len);
void replog_payload_free(void *p);
/* Once the log is done with a payload from replog_payload_alloc (its append's done() has
 * run), move a large one (REPLOG_PAYLOAD_LARGE bytes or more) to the 4 KiB boundary just
 * before it, so that it can be written with O_DIRECT elsewhere too, and return its new
 * address; NULL for a smaller one (left where it is). Free it with the original pointer. */
#define REPLOG_PAYLOAD_LARGE (64u << 10)
void *replog_payload_realign(void *p, size_t len);

/* Queue a record. Nothing is written until replog_commit(). */
void replog_append(struct replog *log, struct replog_append *a);
/* Write everything queued since the last commit as one batch through the engine (the
 * caller then runs io_submit_pending). Cheap when nothing is queued. */
void replog_commit(struct replog *log);

/* Every record with seq <= settled_seq has finished its primary I/O: written, or failed and
 * its extent marked with REPLOG_MARK_DIRTY. From the first call on, cursors stop after the
 * settled point (not only at the written head), so a consumer never reads a record whose
 * primary write might still fail before that failure is marked. Monotonic; any thread
 * (an atomic store). */
void replog_set_settled(struct replog *log, uint64_t settled_seq);
/* Wait until every WRITE or ZERO record placed before the call has settled, so a cursor
 * opened afterwards reads each of them. A consumer that cuts a point at a moment T calls it
 * after taking T: a write acknowledged before T has its record placed and settled by then
 * (it was answered after its primary I/O ended), but a record placed before it may still
 * have primary I/O in flight, and the cursor stops below that one, so without the wait the
 * acknowledged write would be left out of a point that claims T. Return 0, or -ETIMEDOUT
 * after timeout_ms (a primary write hung that long: the caller retries later). Any thread. */
int replog_settle_wait(struct replog *log, uint32_t timeout_ms);

/* ---- consumer interface (any thread, or offline) ---- */

struct replog_cursor;
/* Start reading at sequence from_seq (must be >= tail; 0 means tail). Return 0 or -errno. */
int replog_cursor_open(struct replog *log, uint64_t from_seq, struct replog_cursor **out);
/* Next record in sequence order, skipping PAD records. For WRITE records *payload points to
 * rec->length bytes valid until the next call (CRC checked). Return 1 with a record, 0 at
 * the head or the settled point (nothing more now), or -errno (-EBADMSG: corrupt record). */
int replog_cursor_next(struct replog_cursor *cur, struct replog_record *rec,
		       const void **payload);
void replog_cursor_close(struct replog_cursor *cur);

/* Everything of domain_id up to and including seq is durable in the object store. */
int replog_mark_shipped(struct replog *log, uint32_t domain_id, uint64_t seq);
/* Advance the tail past every record that all domains have shipped; write and fdatasync the
 * superblock before the space can be reused. Return bytes freed or -errno. */
int64_t replog_reclaim(struct replog *log);

/* ---- overflow resync (the shipper) ----
 *
 *   overflow --begin_resync--> resync pending --end_resync--> ok
 *      ^                           |   (bits cleared durably, unless the domain overflowed
 *      +------- log full ----------+    again in between: then nothing is cleared)
 *
 * Both states are persisted in the domain's metadata entry (flags OVERFLOW and RESYNC, both
 * may be set); the bits are cleared only by end_resync. */

/* A copy of one disk's dirty bitmap: bit i covers [i*grain, (i+1)*grain) of the disk. */
struct replog_dirty_copy {
	uint32_t disk_id;
	uint32_t grain;
	uint64_t size;		/* disk size as registered (bits past it cover nothing) */
	uint64_t nbits;
	uint64_t set;		/* bits set in this copy */
	uint8_t *bits;		/* ceil(nbits / 8) bytes */
};

/* What replog_dirty_begin_resync handed out. Owned by the caller: replog_resync_free. */
struct replog_resync {
	uint32_t domain_id;
	size_t n_disks;
	struct replog_dirty_copy *disks;	/* every disk of the domain, registry order */
	uint64_t set;		/* bits set over all disks */
	uint64_t gen;		/* private: identifies this handover */
};

/* If the domain is in overflow or has a resync pending, end its overflow (later writes are
 * logged again), persist "resync pending" and return 1 with *out holding a copy of each of
 * its disks' bitmaps; the persisted bits are NOT cleared. Return 0 (*out = NULL) when there
 * is nothing to resync, or -errno (then the domain's state is unchanged). */
int replog_dirty_begin_resync(struct replog *log, uint32_t domain_id, struct replog_resync **out);
/* The extents of rs are durable elsewhere: clear exactly the bits of rs, durably, and when
 * none of the domain's bits remain, its "resync pending" state. If the domain entered
 * overflow again since the begin (or another begin happened), clear nothing and return 1:
 * those extents will be resynced again. Return 0 when cleared, or -errno (the bits are kept:
 * the safe direction). */
int replog_dirty_end_resync(struct replog *log, uint32_t domain_id,
			    const struct replog_resync *rs);
void replog_resync_free(struct replog_resync *rs);

/* Read-only copy of disk_id's dirty bitmap (ferryctl log dirty): *bits receives a malloc'd
 * bitmap of *nbits bits (bit i covers [i*grain, (i+1)*grain)). Changes nothing. Return 0 or
 * -errno. */
int replog_dirty_take(struct replog *log, uint32_t disk_id, uint8_t **bits, uint64_t *nbits,
		      uint32_t *grain);

/* ---- inspection (ferryctl log stat/dump/verify) ---- */

struct replog_disk_stat {
	char domain[REPLOG_NAME_MAX + 1];
	char name[REPLOG_NAME_MAX + 1];
	uint32_t domain_id, disk_id;
	uint64_t size;
	uint32_t grain;		/* dirty-bitmap grain in bytes */
	uint64_t dirty_bits;	/* bits set now */
};

struct replog_domain_stat {
	char name[REPLOG_NAME_MAX + 1];
	uint32_t id;
	bool overflow;
	uint64_t shipped_seq;	/* highest shipped sequence (0: none) */
};

struct replog_stat {
	uint8_t uuid[16];
	uint32_t version;
	uint64_t meta_off, meta_size, data_off, data_size;
	uint64_t sb_gen;	/* superblock generation */
	uint32_t open_gen;	/* how many times the log was opened read-write */
	bool clean;		/* the previous close was clean (read-write open: before this session) */
	uint64_t applied_seq;	/* records <= this are durable in their primaries */
	uint64_t tail_seq, tail_off;	/* oldest record kept */
	uint64_t head_seq, head_off;	/* next sequence to write, and where */
	uint64_t used_bytes;
	uint64_t records;	/* records between tail and head (PAD included) */
	bool direct;		/* large records' whole pages are written with O_DIRECT */
	size_t n_domains, n_disks;
	struct replog_domain_stat domains[REPLOG_MAX_DOMAINS];
	struct replog_disk_stat disks[REPLOG_MAX_DISKS];
};

int replog_get_stat(struct replog *log, struct replog_stat *st);

/* Full scan from the tail, checking every header and payload CRC. Return 0 when every
 * record up to the recovered head is sound and the log ends where its superblock says it
 * may; 1 with *bad_off (absolute file offset) and a reason in why when a record is bad;
 * -errno on I/O error. */
int replog_verify(struct replog *log, uint64_t *bad_off, char *why, size_t whylen);

#endif
