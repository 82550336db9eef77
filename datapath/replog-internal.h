/* Private to the replication log (datapath/replog*.c), plus the pure decoders the unit tests
 * and the fuzz target call directly. The byte layout is in docs/replog-format.md.
 *
 * Files:
 *   replog.c          open/create/close, superblocks, geometry, stat
 *   replog-meta.c     metadata table (domains, disks, overflow, shipped), dirty bitmaps,
 *                     the resync handover
 *   replog-append.c   append, group commit, batch FIFO, overflow on the append path
 *   replog-scan.c     record encode/decode + CRC, windowed reader, recovery scan, cursors,
 *                     verify
 *   replog-reclaim.c  mark_shipped, reclaim
 *
 * Request flow (event-loop thread):
 *
 *   replog_append --(seq, ring position or dirty bits)--> log->cur batch
 *   replog_commit --> [sync table write if a domain entered overflow]
 *                 --> io_req(pwritev of hdr|payload|zeros ...) + io_req(bitmap blocks)
 *                 --> batch pushed on the FIFO
 *   io_reap -> rl_req_done -> batch complete -> rl_drain: FIFO front batches complete in
 *                 order: done head advances, every append's done() is called.
 *
 * Locks (order: sb_lock -> meta_lock -> lock; never held across done() callbacks):
 *   sb_lock    serializes superblock writes (reclaim, close, applied points); held across
 *              pwrite+fdatasync. The event loop only ever try-locks it: replog_set_applied
 *              stores the point in memory and writes it only if sb_lock is free; otherwise
 *              the holder writes it as it lets go (rl_sb_unlock). So no guest write waits
 *              for a reclaim's fdatasync.
 *   meta_lock  serializes metadata-table and bitmap-clear writes; held across the I/O.
 *   lock       the in-memory state: head/tail/done head, domain/disk tables, bitmaps, the
 *              applied point, and the copy of the newest superblock (log->sb is assigned
 *              under sb_lock and lock both, so either one is enough to read it). Only ever
 *              held for memory work, so the event loop never waits for an fdatasync on it
 *              (except the rare synchronous table write when entering overflow, which takes
 *              meta_lock). */
#ifndef FERRY_REPLOG_INTERNAL_H
#define FERRY_REPLOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "datapath/replog.h"

/* ---- format constants not pinned in replog-format.h (docs/replog-format.md) ---- */
#define RL_SB_A_OFF 0u
#define RL_SB_B_OFF 4096u
#define RL_META_OFF 8192u
#define RL_TABLE_SIZE 32768u		/* one metadata table copy */
#define RL_BITMAP_START (2u * RL_TABLE_SIZE)	/* first bitmap byte, relative to meta */
#define RL_MAX_PAYLOAD (64u << 20)	/* largest WRITE payload */
#define RL_MAX_REC (RL_MAX_PAYLOAD + REPLOG_REC_ALIGN)	/* largest record (rounded up) */
#define RL_MAX_GRAIN (1u << 31)
#define RL_MAX_DATA_SIZE (1ull << 50)	/* sanity bound for decoders */
#define RL_MAX_META_SIZE (1ull << 40)
#define RL_META_VERSION 1		/* the metadata table's own version */
#define RL_SB_FLAG_CLEAN 1u
#define RL_DOM_FLAG_OVERFLOW 1u
#define RL_DOM_FLAG_RESYNC 2u		/* dirty bits handed to a resync not yet finished */
#define RL_REC_FLAGS_KNOWN (REPLOG_RF_FUA | REPLOG_RF_TRIM)

/* superblock field offsets */
#define RL_SB_O_MAGIC 0
#define RL_SB_O_VERSION 8
#define RL_SB_O_FLAGS 12
#define RL_SB_O_GEN 16
#define RL_SB_O_UUID 24
#define RL_SB_O_META_OFF 40
#define RL_SB_O_META_SIZE 48
#define RL_SB_O_DATA_OFF 56
#define RL_SB_O_DATA_SIZE 64
#define RL_SB_O_OPEN_GEN 72
#define RL_SB_O_TAIL_SEQ 80
#define RL_SB_O_TAIL_OFF 88
#define RL_SB_O_HEAD_SEQ 96
#define RL_SB_O_HEAD_OFF 104
#define RL_SB_O_APPLIED_SEQ 112	/* records <= this are durable in their primaries (0: unknown) */
#define RL_SB_O_CRC 4092

/* record header field offsets */
#define RL_REC_O_MAGIC 0
#define RL_REC_O_VERSION 4
#define RL_REC_O_TYPE 6
#define RL_REC_O_FLAGS 8
#define RL_REC_O_GEN 12
#define RL_REC_O_SEQ 16
#define RL_REC_O_DOMAIN 24
#define RL_REC_O_DISK 28
#define RL_REC_O_OFFSET 32
#define RL_REC_O_LENGTH 40
#define RL_REC_O_CRC 44
#define RL_REC_O_TIME 48

/* metadata table offsets */
#define RL_MT_O_MAGIC 0
#define RL_MT_O_VERSION 8
#define RL_MT_O_NDOM 12
#define RL_MT_O_NDISK 16
#define RL_MT_O_CRC 20
#define RL_MT_O_GEN 24
#define RL_MT_O_BITMAP_END 32
#define RL_MT_DOM_OFF 64
#define RL_MT_DOM_SIZE 80
#define RL_MT_DISK_OFF (RL_MT_DOM_OFF + REPLOG_MAX_DOMAINS * RL_MT_DOM_SIZE)
#define RL_MT_DISK_SIZE 104

/* ---- decoded on-disk structures ---- */

struct rl_sb {
	uint32_t version;	/* REPLOG_VERSION_MIN .. REPLOG_VERSION */
	uint64_t gen;
	uint8_t uuid[16];
	uint64_t meta_off, meta_size, data_off, data_size;
	uint32_t open_gen;
	bool clean;
	uint64_t tail_seq, tail_off;
	uint64_t head_seq, head_off;
	uint64_t applied_seq;
};

struct rl_domain {
	char name[REPLOG_NAME_MAX + 1];
	uint32_t id;
	bool overflow;
	bool resync;		/* resync pending: its bits stay set until it ends */
	uint64_t shipped_seq;
	uint64_t resync_gen;	/* in memory only: counts replog_dirty_begin_resync calls */
};

struct rl_disk {
	char name[REPLOG_NAME_MAX + 1];
	uint32_t id, domain_id;
	uint64_t size;
	uint32_t grain;
	uint64_t bitmap_off;	/* relative to the metadata region */
	uint64_t bitmap_bytes;	/* 4 KiB multiple */
	uint8_t *bits;		/* in memory (not decoded): bitmap_bytes bytes */
};

struct rl_meta {
	uint64_t gen;
	uint64_t bitmap_end;	/* first unallocated byte of the meta region */
	uint32_t n_domains, n_disks;
	struct rl_domain domains[REPLOG_MAX_DOMAINS];
	struct rl_disk disks[REPLOG_MAX_DISKS];
};

/* One group-commit batch (replog-append.c). Reused through log->free_batches; the arrays
 * keep their capacity across reuse so the steady state allocates nothing. */
struct rl_blockref {
	uint64_t file_off;	/* absolute offset of the 4 KiB bitmap block */
	uint8_t *mem;		/* the live in-memory block */
};

/* A PAD record placed in a batch: to the end of the ring, or (log version 2) up to a 4 KiB
 * boundary around a large record. */
struct rl_pad {
	uint64_t seq, off;
	uint32_t len;
	uint8_t hdr[REPLOG_REC_HDR_SIZE];
};

struct rl_batch {
	struct replog *log;
	struct rl_batch *next;		/* FIFO or freelist */
	struct replog_append *first, *last;
	bool has_logged;		/* at least one record goes to the ring */
	bool fua;
	bool table_dirty;		/* a domain entered overflow or resync pending */
	bool complete;
	int err;
	unsigned outstanding;		/* io_reqs not yet done */
	uint64_t start_off;		/* ring offset of the first logged record or PAD */
	uint64_t end_seq, end_off;	/* head after this batch */
	struct rl_pad *pads;		/* PADs placed, in ring order; each append owns a range */
	size_t n_pads, pads_cap;
	uint8_t *bounce;		/* 4 KiB-aligned pages for large records' first/last pages */
	size_t bounce_cap;		/* pages */
	struct iovec *iov;
	size_t iov_cap;
	struct io_req *reqs;
	size_t req_cap;
	struct rl_blockref *blocks;
	size_t n_blocks, blocks_cap;
};

/* Windowed reader over the data ring (replog-scan.c): one pread fills up to RL_READAHEAD
 * bytes, so scanning small records costs no syscall per record. */
#define RL_READAHEAD (1u << 20)
struct rl_reader {
	int fd;
	uint64_t data_off, ring;
	uint8_t *buf;
	size_t cap;
	uint64_t win_off;	/* ring offset of buf[0] */
	size_t win_len;		/* valid bytes in buf */
};

struct replog {
	int fd;
	bool readonly;
	char *path;
	pthread_mutex_t sb_lock, meta_lock, lock;

	struct rl_sb sb;		/* the newest superblock on disk (as read or written);
					 * assigned under sb_lock + lock, read under either */
	uint64_t ring;			/* data_size */
	uint32_t open_gen;		/* stamped on records written now */

	/* under lock */
	uint64_t tail_seq, tail_off;
	uint64_t head_seq, head_off;	/* next append: counts queued and in-flight batches */
	uint64_t done_seq, done_off;	/* end of the last completed batch: readers stop here */
	struct rl_meta meta;

	bool was_clean;			/* read-write open: the previous close was clean */
	bool is_file;			/* regular file: buffered writes may run inline */
	/* O_DIRECT descriptor of the same file for the whole pages inside large records
	 * (replog-append.c), or -1; and the memory alignment it needs */
	int dfd;
	uint32_t dio_mem_align;
	bool use_direct;		/* dfd is open and the kernel has not refused it */
	/* cursors stop after this (replog_set_settled); UINT64_MAX until the first call */
	_Atomic uint64_t settled_seq;
	/* the newest WRITE or ZERO record placed (not a PAD): what replog_settle_wait waits
	 * for; stored under lock, read anywhere */
	_Atomic uint64_t last_record_seq;
	/* under lock: set by replog_set_applied; reclaim never passes it once tracking */
	uint64_t applied_seq;
	bool applied_tracking;

	/* recovery result (open) */
	uint64_t scan_lost_from;	/* 0, or first seq before the recorded head that was bad */

	/* event-loop thread only */
	struct io_engine *eng;
	struct rl_batch *cur;
	struct rl_batch *fifo_head, *fifo_tail;
	struct rl_batch *free_batches;
	bool draining;
	int failed;			/* first write error: everything after it fails */
};

/* ---- replog.c ---- */
void rl_sb_encode(const struct rl_sb *sb, uint8_t *blk);
/* Return 0, or -1 with a reason in why. */
int rl_sb_decode(const uint8_t *blk, struct rl_sb *sb, char *why, size_t whylen);
/* Write len bytes at off and make exactly them durable (pwritev2 RWF_DSYNC: the kernel
 * writes back and flushes that range only, not every dirty page of the ring, which is what
 * a whole-file fdatasync would wait for). Return 0 or -errno. */
int rl_pwrite_sync(struct replog *log, const void *buf, size_t len, uint64_t off);
/* Write sb (gen = log->sb.gen + 1) durably (rl_pwrite_sync) to the slot of its parity.
 * Caller holds sb_lock. On success log->sb = *sb. Return 0 or -errno. */
int rl_sb_write(struct replog *log, struct rl_sb *sb);
/* durable=false: pwrite only (for hints that may safely be stale after a power loss). */
int rl_sb_write_opt(struct replog *log, struct rl_sb *sb, bool durable);
/* Release sb_lock, then write any applied point that was set while it was held. Every
 * holder of sb_lock lets go with this. */
void rl_sb_unlock(struct replog *log);
/* The applied point a superblock about to be written should carry: the newer of sb's and
 * the one in memory. Takes lock. */
uint64_t rl_applied_for_sb(struct replog *log, const struct rl_sb *sb);

/* Test hooks (unit tests only; all NULL in ferryd). sb_sync runs just before a durable
 * superblock write (where it waits for the disk), with sb_lock held. */
struct rl_test_hooks {
	void (*sb_sync)(struct replog *log);
};
extern struct rl_test_hooks rl_test_hooks;
uint64_t rl_ring_used(const struct replog *log);	/* caller holds lock */

/* ---- replog-meta.c ---- */
void rl_meta_encode(const struct rl_meta *m, uint8_t *buf);
/* Decode one table copy (RL_TABLE_SIZE bytes) of a region of meta_size bytes. */
int rl_meta_decode(const uint8_t *buf, uint64_t meta_size, struct rl_meta *m, char *why,
		   size_t whylen);
/* Read both copies, keep the newest valid one, load the bitmaps. */
int rl_meta_load(struct replog *log, char *why, size_t whylen);
/* Write an empty table (gen 1) at create. */
int rl_meta_format(int fd, uint64_t meta_off);
/* Write the in-memory table to the next slot durably (rl_pwrite_sync). Caller holds
 * meta_lock only. */
int rl_meta_persist(struct replog *log);
void rl_meta_free(struct replog *log);
struct rl_disk *rl_disk_by_id(struct replog *log, uint32_t disk_id);
struct rl_domain *rl_domain_by_id(struct replog *log, uint32_t domain_id);
uint64_t rl_disk_nbits(const struct rl_disk *d);
/* Set the bits covering [off, off+len) (caller holds lock); changed 4 KiB blocks are noted
 * in b (when b is not NULL). Return -ENOMEM if the note could not be stored. */
int rl_bits_set(struct replog *log, struct rl_disk *d, uint64_t off, uint64_t len,
		struct rl_batch *b);

/* ---- replog-append.c ---- */
void rl_batches_free(struct replog *log);

/* ---- replog-scan.c ---- */
uint64_t rl_rec_size(uint16_t type, uint32_t length);
/* Encode a record header with its CRC (over the header and payload); version 0 means
 * REPLOG_VERSION. */
void rl_rec_encode(uint8_t *hdr, const struct replog_record *rec, const void *payload);
/* Check a header alone (magic, version, type, flags, length bounds); fills rec (log_off and
 * rec_size from the header; log_off is left 0). Return 0 or -1 with why. */
int rl_rec_decode(const uint8_t *hdr, struct replog_record *rec, char *why, size_t whylen);
bool rl_rec_crc_ok(const uint8_t *hdr, const void *payload, uint32_t paylen);

void rl_reader_init(struct rl_reader *r, const struct replog *log);
void rl_reader_release(struct rl_reader *r);
void rl_reader_reset(struct rl_reader *r);

/* Where a scan stopped and why. */
struct rl_scan_end {
	uint64_t seq, off;		/* first sequence/ring offset not accepted */
	uint32_t last_gen;		/* gen of the last accepted record (0: none) */
	uint64_t records;		/* accepted, PAD included */
	char why[128];			/* why the record at (seq, off) was refused */
};
/* Read and validate the record expected at (seq, off): everything the recovery scan checks.
 * prev_gen is the previous record's gen (0: none), max_gen the newest allowed, limit the
 * ring offset reads may extend to (readahead bound). Return 1 (ok: rec, *payload filled),
 * 0 (refused: why), -errno on I/O error. */
int rl_read_record(struct rl_reader *r, uint64_t seq, uint64_t off, uint32_t prev_gen,
		   uint32_t max_gen, uint64_t limit, struct replog_record *rec,
		   const uint8_t **payload, char *why, size_t whylen);
/* The same checks without reading the payload or checking the CRC (reclaim). */
int rl_read_header(struct rl_reader *r, uint64_t seq, uint64_t off, uint32_t prev_gen,
		   uint32_t max_gen, uint64_t limit, struct replog_record *rec, char *why,
		   size_t whylen);
/* Scan from (seq, off) until the first refused record. Return 0 or -errno. */
int rl_scan(struct replog *log, uint64_t seq, uint64_t off, uint32_t max_gen,
	    struct rl_scan_end *end);

#endif
