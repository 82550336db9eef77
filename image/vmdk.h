/* VMDK images of the recovery site (docs/design.md section 4; the format as qemu 7.2
 * accepts it and what ferry writes, byte by byte: docs/vmdk.md).
 *
 *   writers  vmdk-write.c   common part (ordering, grain assembly, temp files, publishing)
 *                           over one table of functions per image kind (vmdk-internal.h):
 *            vmdk-sparse.c  monolithicSparse
 *            vmdk-flat.c    monolithicFlat, and an existing flat disk updated in place
 *            vmdk-stream.c  streamOptimized: zlib-form grains compressed by ISA-L igzip on a
 *                           pool of threads, written in order
 *   reader   vmdk-read.c    monolithicSparse, monolithicFlat, streamOptimized (both layouts),
 *                           and any descriptor file of FLAT/VMFS/SPARSE/ZERO extents
 *   text     vmdk-desc.c    descriptor parser (pure, on a buffer) and canonical generator
 *
 * Sizes are bytes in this API unless a name says sectors (512 bytes). Errors are -errno and
 * nothing here logs; functions that take (err, errlen) also leave a one-line reason there.
 * A file that is not a valid VMDK (or a hostile one) is -EBADMSG with a reason, never a
 * crash or an allocation larger than the file (and never above the caps below).
 * Nothing here is thread-safe per object; different objects may be used concurrently. */
#ifndef FERRY_VMDK_H
#define FERRY_VMDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- pinned format numbers (docs/vmdk.md) ---- */
#define VMDK_SECTOR		512u
#define VMDK_MAGIC		0x564d444bu	/* "KDMV" */
#define VMDK_GRAIN_SECTORS	128u		/* what ferry writes: 64 KiB grains */
#define VMDK_GRAIN_SIZE		(VMDK_GRAIN_SECTORS * VMDK_SECTOR)
#define VMDK_GTES_PER_GT	512u		/* a GT covers 32 MiB */
#define VMDK_GT_SPAN		((uint64_t)VMDK_GTES_PER_GT * VMDK_GRAIN_SIZE)
#define VMDK_DESC_SECTORS	20u		/* embedded descriptor at sector 1, 20 sectors */
#define VMDK_GD_AT_END		UINT64_MAX
#define VMDK_FLAG_NL_TEST	0x1u		/* valid newline-detection bytes */
#define VMDK_FLAG_RGD		0x2u		/* redundant grain directory */
#define VMDK_FLAG_ZERO_GTE	0x4u		/* GTE 1 = zero grain (version 2) */
#define VMDK_FLAG_COMPRESSED	0x10000u
#define VMDK_FLAG_MARKERS	0x20000u
#define VMDK_COMPRESS_DEFLATE	1u
#define VMDK_MARKER_EOS		0u
#define VMDK_MARKER_GT		1u
#define VMDK_MARKER_GD		2u
#define VMDK_MARKER_FOOTER	3u

/* ---- caps on what is read (a hostile file cannot push past them) ---- */
#define VMDK_DESC_MAX		(64u * 1024)	/* descriptor text, file or embedded */
#define VMDK_DESC_MAX_EXTENTS	1024u
#define VMDK_DESC_MAX_DDB	1024u
#define VMDK_MAX_GRAIN_SECTORS	2048u		/* 1 MiB grains */
#define VMDK_MAX_GD_ENTRIES	(1u << 24)	/* 64 MiB of GD */

/* ---- the sparse extent header (512 bytes on disk, little-endian) ---- */
struct vmdk_header {
	uint32_t version;
	uint32_t flags;
	uint64_t capacity;		/* sectors */
	uint64_t grain_size;		/* sectors */
	uint64_t desc_offset, desc_size;	/* sectors */
	uint32_t num_gtes;		/* GTEs per GT */
	uint64_t rgd_offset, gd_offset;	/* sectors; gd_offset may be VMDK_GD_AT_END */
	uint64_t overhead;		/* sectors */
	uint8_t unclean;
	uint16_t compress;		/* VMDK_COMPRESS_* */
};

/* Encode into 512 bytes (pad and newline-detection bytes included). */
void vmdk_header_encode(const struct vmdk_header *h, uint8_t out[VMDK_SECTOR]);
/* Decode and check what does not depend on the file size: magic, version 1..3, newline
 * bytes (when flag bit 0), no unknown incompatible flag, grain a power of two of at most
 * VMDK_MAX_GRAIN_SECTORS, 1..512 GTEs per GT, compression 0 or 1. 0 or -EBADMSG. */
int vmdk_header_decode(const uint8_t in[VMDK_SECTOR], struct vmdk_header *h, char *err,
		       size_t errlen);

/* ---- descriptor text (vmdk-desc.c) ---- */
struct vmdk_kv {
	const char *key;	/* "ddb.something": [A-Za-z0-9._-], starts with "ddb." */
	const char *value;	/* printable ASCII, no '"' and no '\\' */
};

enum vmdk_ext_type { VMDK_EXT_FLAT, VMDK_EXT_SPARSE, VMDK_EXT_ZERO, VMDK_EXT_VMFS,
		     VMDK_EXT_OTHER };
enum vmdk_access { VMDK_RW, VMDK_RDONLY, VMDK_NOACCESS };

struct vmdk_desc_extent {
	enum vmdk_access access;
	enum vmdk_ext_type type;
	char type_name[16];	/* as written, uppercase ("FLAT", "VMFSSPARSE", ...) */
	uint64_t sectors;
	char *file;		/* NULL for ZERO */
	uint64_t offset;	/* sectors into the file (FLAT/VMFS) */
};

struct vmdk_desc {
	unsigned version;
	uint32_t cid, parent_cid;
	char create_type[32];
	char *parent_hint;	/* parentFileNameHint, or NULL */
	struct vmdk_desc_extent *extents;
	size_t n_extents;
	struct vmdk_desc_ddb { char *key, *value; } *ddb;	/* in file order */
	size_t n_ddb;
	size_t cap_extents, cap_ddb;	/* allocated room (common/array.h) */
};
#define VMDK_DESC_INIT { 1, 0, 0xffffffffu, "", NULL, NULL, 0, NULL, 0, 0, 0 }

/* Parse descriptor text (len bytes; stops at the first NUL, as an embedded descriptor is
 * zero-padded). Lenient as the spec allows (keys case-insensitive, spaces around '=',
 * optional quotes, CRLF), strict on limits: at most VMDK_DESC_MAX bytes,
 * VMDK_DESC_MAX_EXTENTS extents, VMDK_DESC_MAX_DDB ddb entries. Requires version (1..3),
 * CID and createType. Returns 0 (d filled; release it), -EBADMSG with a reason (d left
 * empty), -ENOMEM. d must not hold anything on entry. */
int vmdk_desc_parse(const char *text, size_t len, struct vmdk_desc *d, char *err,
		    size_t errlen);
/* Write the canonical form qemu 7.2 writes (docs/vmdk.md, "The descriptor"): header lines, extents, DDB in
 * the order held. Returns the length (no NUL is counted; one is written if it fits), or
 * -E2BIG if cap is too small, -EINVAL if a field cannot be written canonically. */
ssize_t vmdk_desc_format(const struct vmdk_desc *d, char *buf, size_t cap);
/* Add key = value, or replace the value of an existing key (compared case-insensitively).
 * 0, -EINVAL (key/value not writable, see struct vmdk_kv), -ENOMEM, -E2BIG (too many). */
int vmdk_desc_set(struct vmdk_desc *d, const char *key, const char *value);
/* The value of key (case-insensitive), or NULL. */
const char *vmdk_desc_get(const struct vmdk_desc *d, const char *key);
/* Append an extent line. file may be NULL only for ZERO. 0, -EINVAL, -ENOMEM, -E2BIG. */
int vmdk_desc_add_extent(struct vmdk_desc *d, enum vmdk_access access,
			 enum vmdk_ext_type type, uint64_t sectors, const char *file,
			 uint64_t offset);
void vmdk_desc_release(struct vmdk_desc *d);	/* frees what it holds; back to empty */

/* ddb.uuid as VMware writes it: "60 00 c2 9a 2b 4e 8d 11-94 12 74 4e e0 dd ad 01"
 * (out needs 48 bytes). The parser takes the 16 bytes separated by spaces or '-'. */
void vmdk_uuid_format(const uint8_t uuid[16], char out[48]);
int vmdk_uuid_parse(const char *s, uint8_t uuid[16]);	/* 0 or -EINVAL */

/* ---- writers (vmdk-write.c and one file per image kind) ---- */
enum vmdk_format {
	VMDK_SPARSE,	/* monolithicSparse: hosted sparse extent, descriptor embedded */
	VMDK_FLAT,	/* monolithicFlat: descriptor PATH + raw extent NAME-flat.vmdk */
	VMDK_STREAM,	/* streamOptimized: compressed grains with markers, streaming layout */
};

struct vmdk_meta {
	uint64_t capacity;		/* bytes, a multiple of 512 (0 is allowed) */
	const char *adapter_type;	/* NULL: "lsilogic"; or ide, buslogic, legacyESX,
					 * lsisas1068, pvscsi */
	const char *hw_version;		/* ddb.virtualHWVersion; NULL: "4" */
	uint8_t uuid[16];		/* ddb.uuid; all zero: a random one */
	const struct vmdk_kv *extra;	/* more ddb keys, written after the standard ones */
	size_t n_extra;
	int level;			/* STREAM: 0 (default): ISA-L igzip level 2,
					 * libdeflate level 2 for one grain in 4;
					 * 1..3: igzip alone at that level (faster,
					 * larger) */
	unsigned threads;		/* STREAM: compression threads; 0: one per online CPU */
};

struct vmdk_writer;

/* Create a writer for a new image at path. Nothing appears at path (nor, for FLAT, at the
 * extent's name) before vmdk_writer_finish(): output goes to "PATH.part" (and for FLAT
 * "DIR/NAME-flat.vmdk.part", NAME being the basename of path without ".vmdk"), created or
 * truncated. An existing file at path is replaced only by a successful finish.
 * Returns 0 (*out set), -EINVAL (bad meta, format or name), -EFBIG (capacity beyond what
 * 32-bit grain offsets can address, about 2 TiB for SPARSE), -E2BIG (descriptor does not
 * fit in 20 sectors), or an I/O -errno. STREAM capacity is capped at VMDK_STREAM_MAX
 * (its GD is kept in memory: 8 MiB at the cap); its file is limited to 2 TiB as well. */
#define VMDK_STREAM_MAX (64ull << 40)
int vmdk_writer_open(const char *path, enum vmdk_format f, const struct vmdk_meta *m,
		     struct vmdk_writer **out, char *err, size_t errlen);

/* Write len bytes at byte offset off; no alignment is required. Ranges never written read
 * as zeroes, and all-zero grains are never stored (FLAT: all-zero 64 KiB-aligned blocks
 * are punched as holes instead of written), so a caller may simply skip zero ranges.
 * SPARSE and STREAM: offsets must ascend and not overlap (off >= the end of the previous
 * write), else -EINVAL; FLAT: any order, overwrites allowed. off + len > capacity is
 * -EINVAL. Other errors: -EIO (compression), -EFBIG, or an I/O -errno. After an error the
 * writer is failed: every later call returns the same error; call vmdk_writer_abort(). */
int vmdk_writer_write(struct vmdk_writer *w, uint64_t off, const void *data, size_t len);

/* vmdk_writer_write of one whole grain (off a multiple of VMDK_GRAIN_SIZE, len the grain's
 * length) whose zlib form (RFC 1950, at most a grain long) the caller has and has checked
 * to inflate to data: STREAM stores z as the grain instead of compressing data again
 * (the restore of a repository whose chunks are igzip-compressed grains). Anything else
 * (other formats, a grain already partly written) is just vmdk_writer_write(data). */
int vmdk_writer_write_zgrain(struct vmdk_writer *w, uint64_t off, const void *data, size_t len,
			     const void *z, size_t zlen);

/* FLAT only: the file descriptor of the (temporary) flat extent, which is exactly the
 * disk (byte offset = disk offset; its size is already the capacity), for a caller that
 * writes with its own engine (io_uring). Prefer vmdk_flat_pwrite() for its zero punching.
 * The fd stays owned by the writer. -EINVAL for other formats. */
int vmdk_writer_flat_fd(const struct vmdk_writer *w);

/* Complete the image: last grain, grain tables, directory, footer; fsync; rename the
 * temporary files into place (FLAT: extent first, then the descriptor); fsync the
 * directory. Frees w whether it succeeds or not; on failure the temporary files are
 * removed and nothing new is at path. 0 or -errno. */
int vmdk_writer_finish(struct vmdk_writer *w, char *err, size_t errlen);

/* Stop, remove every temporary file, free w. NULL is fine. */
void vmdk_writer_abort(struct vmdk_writer *w);

/* ---- checkpoints of the ordered formats (SPARSE, STREAM), for a resumable restore ----
 * vmdk_writer_checkpoint() makes what the writer has emitted durable in PATH.part and
 * says how far that goes: every byte below off is in the file (a grain still being
 * assembled from partial writes is not counted, so off is a grain boundary), and next is
 * where the image's grain data ends (sectors). A process killed after that may leave
 * PATH.part with more in it; vmdk_writer_resume() reopens it at the checkpoint, drops
 * whatever came after it, and the caller writes again from off on. */
struct vmdk_ckpt {
	uint64_t off;	/* bytes: writes continue here */
	uint64_t next;	/* sectors: the end of the grain data (SPARSE: next grain's place) */
};

/* Drain the compression workers (STREAM), write the current grain table (SPARSE), and
 * fdatasync PATH.part. 0 (*c set) or -errno; -EINVAL for FLAT or a failed writer. */
int vmdk_writer_checkpoint(struct vmdk_writer *w, struct vmdk_ckpt *c);

/* Free w without removing PATH.part (a failed restore that may be resumed). NULL is
 * fine. */
void vmdk_writer_suspend(struct vmdk_writer *w);

/* Reopen PATH.part, left by a writer of the same path, format and meta (capacity, level,
 * threads; the descriptor is the one already in the file), at checkpoint c. The header,
 * layout and (STREAM) every record up to c->next are checked: a file that does not match
 * is -EBADMSG with a reason, and the caller starts over with vmdk_writer_open(). The
 * next write must start at or after c->off. -EINVAL for FLAT. */
int vmdk_writer_resume(const char *path, enum vmdk_format f, const struct vmdk_meta *m,
		       const struct vmdk_ckpt *c, struct vmdk_writer **out, char *err,
		       size_t errlen);

/* pwrite len bytes at off into a flat extent (any fd of a raw file), punching
 * 64 KiB-aligned all-zero blocks as holes instead of writing them (falls back to writing
 * zeroes where punching is unsupported). 0 or -errno. */
int vmdk_flat_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Make len bytes at off read as zeroes: punched as a hole, or written as zeroes where
 * punching is unsupported. 0 or -errno. */
int vmdk_zero_range(int fd, uint64_t off, uint64_t len);

/* The extent path of a monolithicFlat descriptor path: "DIR/NAME-flat.vmdk" for
 * "DIR/NAME.vmdk" (or "DIR/NAME"). malloc'd, or NULL. */
char *vmdk_flat_extent_path(const char *desc_path);
/* Write the descriptor of a new monolithicFlat image at path (atomically: temporary
 * file, fsync, rename, fsync of the directory) whose extent, m->capacity bytes, is
 * vmdk_flat_extent_path(path), written by the caller and already durable. 0 or -errno
 * with a reason in err. */
int vmdk_flat_write_desc(const char *path, const struct vmdk_meta *m, char *err,
			 size_t errlen);

/* ---- an existing monolithicFlat disk, updated in place (the continuous rehydrator) ---- */
struct vmdk_flat {
	int fd;			/* the flat extent, O_RDWR; byte offset = disk offset */
	uint64_t capacity;	/* bytes */
	struct vmdk_desc desc;	/* the parsed descriptor */
	char *extent_path;
	char *desc_path;
};

/* Open descriptor path: createType monolithicFlat, one RW FLAT extent at offset 0 whose
 * file is at least capacity bytes long. 0, -EBADMSG (with a reason), or -errno. */
int vmdk_flat_open(const char *path, struct vmdk_flat *f, char *err, size_t errlen);
void vmdk_flat_close(struct vmdk_flat *f);	/* closes the fd, frees; fine twice */

/* Rewrite the descriptor file at path atomically (PATH.tmp, fsync, rename, fsync of the
 * directory) with the given ddb keys set (added or replaced) and a new random CID (the
 * content changed, as VMware does on modification). Everything else is kept; comments
 * are rewritten in the canonical form. Call it after fdatasync() of the extent. */
int vmdk_flat_update_desc(const char *path, const struct vmdk_kv *kv, size_t n, char *err,
			  size_t errlen);
/* The same for the descriptor f was opened from, from f's parsed copy (kept in step), with
 * the extent line set to capacity bytes (the caller resized the extent). f->capacity
 * follows on success. 0 or -errno with a reason in err. */
int vmdk_flat_set(struct vmdk_flat *f, const struct vmdk_kv *kv, size_t n, uint64_t capacity,
		  char *err, size_t errlen);

/* ---- an existing monolithicSparse disk, read and written in place (vmdk-inplace.c) ----
 * For Re-IP, which edits a few blocks of a restored disk. Writes to unallocated grains
 * append whole grains at the end of the file; the grain tables (and the redundant ones)
 * that point at them are written by vmdk_rw_flush() after the grains are durable. The
 * header's uncleanShutdown byte is set from the first write to vmdk_rw_close(). Not
 * thread-safe. */
struct vmdk_rw;

/* Open path (a hosted sparse extent with its GD in the header: monolithicSparse).
 * -ENOTSUP: compressed (streamOptimized); -EBADMSG: not a VMDK or corrupt; -errno. */
int vmdk_rw_open(const char *path, struct vmdk_rw **out, char *err, size_t errlen);
uint64_t vmdk_rw_capacity(const struct vmdk_rw *v);		/* bytes */
/* off + len <= capacity, else -EINVAL. Unallocated grains read as zeroes. */
int vmdk_rw_read(struct vmdk_rw *v, uint64_t off, void *buf, size_t len);
/* -ENOTSUP: a write into a span whose grain table was never allocated; -EFBIG: the file
 * would pass what 32-bit sector numbers address. */
int vmdk_rw_write(struct vmdk_rw *v, uint64_t off, const void *buf, size_t len);
/* fdatasync the grains, then write the changed grain tables and fdatasync again. After a
 * failed flush every call fails with its error. */
int vmdk_rw_flush(struct vmdk_rw *v);
/* Flush, mark the header clean, close, free. The first error, or 0. NULL is fine. */
int vmdk_rw_close(struct vmdk_rw *v);

/* ---- reader (vmdk-read.c) ---- */
struct vmdk_reader;

/* Open a VMDK: a hosted sparse file (monolithicSparse, streamOptimized of either layout)
 * or a descriptor file whose extents are FLAT, VMFS, SPARSE (hosted sparse files) or
 * ZERO (monolithicFlat, twoGbMaxExtent*, vmfs). 0, -EBADMSG (reason in err), -ENOTSUP
 * (a VMDK kind not handled: COWD/vmfsSparse/seSparse, deltas with a parent), or -errno. */
int vmdk_open(const char *path, struct vmdk_reader **out, char *err, size_t errlen);
/* The same on a file image in memory (a hosted sparse file only; buf must outlive r). */
int vmdk_open_mem(const void *buf, size_t len, struct vmdk_reader **out, char *err,
		  size_t errlen);
void vmdk_close(struct vmdk_reader *r);	/* NULL is fine */

uint64_t vmdk_capacity(const struct vmdk_reader *r);		/* bytes */
/* The descriptor (embedded or the file), or NULL for a sparse file without one. */
const struct vmdk_desc *vmdk_reader_desc(const struct vmdk_reader *r);

/* Read len bytes at off (no alignment needed; off + len <= capacity, else -EINVAL).
 * Unallocated grains and holes read as zeroes. 0, -EBADMSG (corrupt metadata or grain),
 * or -errno. */
int vmdk_read(struct vmdk_reader *r, uint64_t off, void *buf, size_t len);

/* The first allocated range at or after off: *data_off >= off, *data_len > 0, both within
 * the capacity. Returns 1 (found), 0 (no data from off to the end), or -errno. Allocation
 * is per grain for sparse extents and per SEEK_DATA/SEEK_HOLE for flat ones, so a range may
 * hold zeroes; everything outside every range reads as zeroes. */
int vmdk_next_data(struct vmdk_reader *r, uint64_t off, uint64_t *data_off,
		   uint64_t *data_len);

/* Copy the whole disk into fd as a sparse raw image: fd is truncated to the capacity,
 * only allocated ranges are read, and all-zero 64 KiB blocks are left as holes. For
 * seeding a protected disk from an existing VMDK (`ferryctl import`). 0 or -errno. */
int vmdk_export_raw(struct vmdk_reader *r, int fd);

#endif
