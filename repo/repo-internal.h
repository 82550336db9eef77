/* Private interfaces of the repository library (repo/repo.h is the public contract; byte
 * layouts in docs/repo-format.md sections 6-11).
 *
 *   repo_point_data --chunk id--> dedupe? (index-table.c: repo index + this point's pending)
 *        | new                                         
 *        v
 *   blob_encode --> pack.c (current pack buffer) --16 MiB / commit--> packs/xx/<id>
 *   commit: packs --> index/<id> (index-delta.c) --> manifest (manifest.c) --> durable
 *   read:   manifest chain (block-map.c) --> map --> index --> ranged GET of one blob
 *   prune:  expire manifests --> condemn object (index/, kind 2) --grace--> delete packs;
 *           commit re-checks new index/ objects before its manifest (point-writer.c)
 *
 * Locks: repo->index.lock (rwlock) guards the in-memory chunk index; repo->cx_lock guards
 * the pool of spare blob contexts; repo->marks_lock guards the prune state (seen index
 * objects, condemn and rescue marks) and is held across a whole index_load or
 * index_refresh, store calls included, so that concurrent point writers (one per domain)
 * refresh one at a time. Lock order: marks_lock, then an index lock. cx_lock is never
 * held with another lock. */
#ifndef FERRY_REPO_INTERNAL_H
#define FERRY_REPO_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dbuf.h"
#include "repo/blob.h"
#include "repo/keys.h"
#include "repo/repo.h"
#include "repo/store.h"

#define REPO_UUID_LEN 16
#define PACK_ID_LEN 16
#define PACK_ID_HEX_LEN 32
#define PACK_TARGET_SIZE (16u << 20)	/* a pack is closed once it reaches this size */
#define PACK_MAX_SIZE (1u << 30)	/* readers reject packs (and pack indexes) beyond */
#define PACK_TRAILER_LEN 16
#define REPO_META_MAX (512u << 20)	/* largest plaintext of a metadata object */
#define REPO_CHUNK_MIN (4u << 10)	/* format 1 */
#define REPO_CHUNK_MIN_V2 256u		/* format 2 */
#define REPO_CHUNK_MAX (1u << 20)
#define REPO_FRAME_MAX (1u << 20)	/* largest plaintext of a frame of chunks (format 2) */
#define REPO_REGION_CHUNKS_MIN 16u
#define REPO_REGION_CHUNKS_MAX (1u << 24)
#define REPO_CX_POOL 8			/* spare blob contexts kept for readers */
#define REPO_MAX_CHAIN 4096		/* deltas walked back to a full point, at most */
#define REPO_MAX_DISKS 4096		/* disks in one manifest, at most */

/* ---- repo.c ---- */

/* Where a chunk is: the blob holding it (its frame: one or more chunks, docs/repo-format.md
 * "Frames"), and the chunk's bytes in that blob's plaintext. */
struct chunk_loc {
	uint8_t pack[PACK_ID_LEN];
	uint64_t off;		/* of the frame's blob in its pack */
	uint32_t blob_len;	/* of the frame's blob */
	uint32_t foff;		/* of the chunk in the frame's plaintext (format 1: 0) */
	uint32_t plain_len;	/* of the chunk */
};

/* One entry of a chunk index (index-table.c): 64 bytes, one cache line. Offsets and
 * lengths fit 32 bits (packs <= PACK_MAX_SIZE, plaintexts <= REPO_META_MAX). */
struct index_rec {
	uint8_t id[CHUNK_ID_LEN];
	uint8_t pack[PACK_ID_LEN];
	uint32_t off, blob_len, foff, plain_len;
};

/* A chunk index (index-table.c): records in pages, in insertion order (those before
 * nfile in a scratch file once spilled), and a table of 8-byte slots (a record's number + 1
 * and a tag of its id) to find them by id. */
struct chunk_index {
	uint64_t *slots;
	size_t cap;		/* slots: a power of two, or 0 */
	size_t n;		/* records */
	struct index_rec **pages;	/* records [nfile, n) */
	size_t npages, pages_cap;
	int fd;			/* spilled: records [0, nfile) are in this file; else -1 */
	size_t nfile;
	char *spill_dir;	/* index_spill_to; NULL: never spills */
	size_t spill_at;
	pthread_rwlock_t lock;
};

struct pack_mark;

struct repo_problem {
	char *key;
	char *what;
};

struct repo {
	struct store *st;
	uint16_t format;		/* 1 or 2 (config) */
	bool encrypted;
	uint32_t chunk_size;
	uint32_t region_chunks;		/* format 2: chunks per map region; format 1: 0 */
	uint8_t uuid[REPO_UUID_LEN];
	uint64_t created_ns;
	struct repo_keys keys;		/* wiped at close */
	enum compress_type ctype;	/* writers' default (repo_set_compression) */
	int clevel;
	bool auto_skip;
	char *scratch_dir;		/* repo_set_scratch_dir (NULL: the default) */
	/* auto_skip's running sample (point-pool.c): plaintext bytes tried and the bytes they
	 * compressed to, frames tried; and whether compression is being skipped for now */
	_Atomic uint64_t cz_in, cz_out;
	_Atomic uint32_t cz_tried, cz_seq;
	_Atomic bool cz_skip;
	struct chunk_index index;
	pthread_mutex_t cx_lock;
	struct blob_ctx *cx_pool[REPO_CX_POOL];
	size_t cx_n;
	/* objects found bad while opening (corrupt index objects): verify reports them */
	struct repo_problem *problems;
	size_t n_problems;
	/* prune state (index.c), under marks_lock: index/ keys read so far (sorted), and the
	 * condemn and rescue marks seen (sorted by pack, then object); dropped: the last
	 * location of every chunk whose pack was condemned since open (writers re-store the
	 * ones they name: point-writer.c's recheck) */
	pthread_mutex_t marks_lock;
	struct chunk_index dropped;
	char **seen;
	size_t n_seen, cap_seen;
	struct pack_mark *cond, *resc;
	size_t n_cond, n_resc;
};

/* Where point writers put their scratch file (repo_set_scratch_dir). */
const char *repo_scratch_dir(const struct repo *r);
__attribute__((format(printf, 3, 4)))
void repo_err(char *err, size_t errlen, const char *fmt, ...);
/* A blob context for this thread to use (from the pool or new); give it back with put. */
struct blob_ctx *repo_cx_get(struct repo *r);
void repo_cx_put(struct repo *r, struct blob_ctx *cx);
/* Encode plain as one metadata blob (zstd) and put it at key. */
int repo_put_meta(struct repo *r, const char *key, const void *plain, size_t len);
/* Get and decode the metadata object at key: *plain malloc'd (plain_len <= REPO_META_MAX).
 * -ENOENT, -EBADMSG (corrupt, truncated, too large), -EPROTO. */
int repo_get_meta(struct repo *r, const char *key, void **plain, size_t *len);
/* Decode a metadata blob held in memory (as repo_get_meta after the GET). */
int repo_decode_meta(struct repo *r, const void *blob, size_t blen, void **plain, size_t *len);
int repo_add_problem(struct repo *r, const char *key, const char *what);

/* Config object (repo.c). */
struct repo_config {
	uint16_t version;
	bool encrypted;
	uint32_t chunk_size;
	uint32_t region_chunks;		/* version 2 (offset 12, reserved in version 1) */
	uint8_t uuid[REPO_UUID_LEN];
	uint64_t created_ns;
	uint8_t wrapped[KEYS_WRAPPED_LEN];
};
#define REPO_CONFIG_LEN_PLAIN 48
#define REPO_CONFIG_LEN_ENC (REPO_CONFIG_LEN_PLAIN + KEYS_WRAPPED_LEN)
size_t repo_config_encode(const struct repo_config *c, uint8_t *out);
/* 0, -EBADMSG (corrupt: magic, CRC, length, bad chunk size), -EPROTO (newer version). */
int repo_config_decode(const void *buf, size_t len, struct repo_config *c);

/* ---- index-table.c: the in-memory chunk index ---- */

/* Entries of the repository's index kept in RAM (16 MiB of records); past that its records
 * go to a scratch file (index_spill_to): about 16 bytes an entry stay in memory. */
#define INDEX_RAM_RECS (1u << 18)

int index_init(struct chunk_index *ix);
void index_release(struct chunk_index *ix);
/* Past `at` entries, keep the records in an unlinked scratch file in dir (dir copied):
 * about 16 bytes an entry stay in memory instead of 80. Everything works on a spilled table
 * but index_rec_at; a hit reads its record back from the file. */
int index_spill_to(struct chunk_index *ix, const char *dir, size_t at);
/* Remove every entry and free their memory (ix stays usable). */
void index_clear(struct chunk_index *ix);
bool index_lookup(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], struct chunk_loc *loc);
/* Add id -> loc (a present id keeps its first location). 0, -ENOMEM, or -EOVERFLOW (an
 * offset past 32 bits, or 2^32 - 1 entries). */
int index_add(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], const struct chunk_loc *loc);
/* index_add that tells whether id was new: 1 added, 0 present already, or -errno. */
int index_claim(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], const struct chunk_loc *loc);
/* Add every entry of src to dst. */
int index_merge(struct chunk_index *dst, struct chunk_index *src);
/* Call fn for every entry, in the order they were added (under the read lock: fn must not
 * touch ix). 0, or -EIO/-ENOMEM (a spilled table could not be read: fn saw only some). */
int index_each(struct chunk_index *ix, void (*fn)(void *arg, const uint8_t *id,
						   const struct chunk_loc *loc), void *arg);
/* Remove every entry whose location drop (pure: called more than once per entry) names,
 * adding it to dropped when not NULL. 0 or -errno (then nothing is removed). */
int index_remove_if(struct chunk_index *ix, bool (*drop)(void *arg, const struct chunk_loc *loc),
		    void *arg, struct chunk_index *dropped);
/* Entry i (0 <= i < ix->n, in the order added) of a table not spilled (NULL if it is): the
 * caller holds the lock or owns ix. */
const struct index_rec *index_rec_at(const struct chunk_index *ix, size_t i);
void index_rec_loc(const struct index_rec *e, struct chunk_loc *loc);
/* Copy entries [from, from + k) (within ix->n) into buf, spilled or not: the caller holds
 * the lock or owns ix. 0 or -EIO. */
int index_read_recs(const struct chunk_index *ix, size_t from, size_t k, struct index_rec *buf);

/* ---- index.c, index-delta.c: index objects in the store ---- */

#define INDEX_MAGIC "FIDX"
#define INDEX_DELTA_HDR 16
#define INDEX_DELTA_ENTRY 64
#define INDEX_KIND_ADD 1
#define INDEX_KIND_CONDEMN 2	/* prune phase 1: these packs are to be deleted */
#define INDEX_KIND_RESCUE 3	/* prune phase 2: these condemnations are cancelled */
#define INDEX_ID_LEN 16		/* index/<32 hex digits> */

/* One entry of a condemn or rescue object: the pack, the condemn object the mark is about
 * (the object itself for a condemn entry), and when the mark was made. */
struct pack_mark {
	uint8_t pack[PACK_ID_LEN];
	uint8_t obj[INDEX_ID_LEN];
	uint64_t time_ns;
};

struct index_visitor {
	int (*add)(void *arg, const uint8_t *id, const struct chunk_loc *loc);
	int (*condemn)(void *arg, const uint8_t *pack, uint64_t time_ns);
	int (*rescue)(void *arg, const uint8_t *pack, const uint8_t *obj, uint64_t time_ns);
	void *arg;
};

#define INDEX_DELTA_PER (1u << 17)	/* entries a writer puts in one delta object */
/* Index delta plaintexts of every entry of ix (index-delta.c), sorted by pack, offset,
 * frame offset (deterministic; a spilled table's are sorted when each pack's entries were
 * added in one run at increasing offsets, as a point writer adds them), `per` entries a
 * plaintext (the last may hold fewer; none for an empty ix), each given to put in turn, in
 * index object version 1 (format 1: -EINVAL for a chunk inside a frame of several) or 2
 * (format 2). 0, -EINVAL, -EIO, -ENOMEM, or put's error. */
int index_delta_put(struct chunk_index *ix, int version, size_t per,
		    int (*put)(void *arg, const void *plain, size_t len), void *arg);
/* Parse an index delta plaintext; fn per entry. 0, -EBADMSG, -EPROTO, or fn's error. */
int index_delta_decode(const void *buf, size_t len,
		       int (*fn)(void *arg, const uint8_t *id, const struct chunk_loc *loc),
		       void *arg);
/* Parse an index object of any kind; the visitor's callback for its kind per entry (a
 * NULL callback skips those entries). The whole object is checked first. 0, -EBADMSG,
 * -EPROTO, or a callback's error. */
int index_object_decode(const void *buf, size_t len, const struct index_visitor *v);
/* Plaintext of a condemn or rescue object (kind 2 or 3) with n marks (obj is not written
 * for a condemn entry: its object is the one being written). */
int index_marks_encode(int kind, const struct pack_mark *m, size_t n, struct dbuf *out);
/* Read every index/ object into r->index; corrupt ones are recorded as problems. Entries
 * of condemned packs (docs/repo-format.md "Prune") are left out. */
int index_load(struct repo *r, char *err, size_t errlen);
/* Read the index/ objects not seen since open (or the last refresh): new adds, condemn
 * and rescue marks. Entries of packs newly condemned are removed from r->index and added
 * to r->dropped (their last known location), and when dropped is not NULL, r->dropped is
 * merged into it. *fresh (if not NULL): how
 * many condemnations came into force. A corrupt new object is skipped (verify reports
 * it). 0 or -errno (store listing or read failures: nothing is marked seen then). */
int index_refresh(struct repo *r, struct chunk_index *dropped, size_t *fresh);
/* Remove the entries of condemned packs from ix (adding them to dropped if not NULL). */
int index_drop_condemned(struct repo *r, struct chunk_index *ix, struct chunk_index *dropped);
/* Is this pack condemned (a condemn mark not cancelled by a rescue)? *mark filled if so. */
bool index_condemned(struct repo *r, const uint8_t pack[PACK_ID_LEN], struct pack_mark *mark);
/* Every condemnation in force (malloc'd array, may be NULL with n 0). */
int index_condemnations(struct repo *r, struct pack_mark **out, size_t *n);
/* The last location of a chunk whose pack was condemned since open (still readable until
 * prune's grace delay has passed), if it was. */
bool index_dropped(struct repo *r, const uint8_t id[CHUNK_ID_LEN], struct chunk_loc *loc);
/* Remember that key has been read (the writer's own uploads). */
int index_mark_seen(struct repo *r, const char *key);
/* A fresh random index object key, "index/<32 hex>", and its binary id. */
int index_new_key(char *key, size_t keylen, uint8_t id[INDEX_ID_LEN]);
/* Free the prune state (seen keys, marks): repo_close. */
void index_state_release(struct repo *r);

/* ---- frame.c ---- */

/* One decoded frame, kept while chunks are taken out of it (one per reader thread). */
struct frame_buf {
	uint8_t *data;		/* REPO_FRAME_MAX bytes once used */
	size_t cap, len;
	bool valid;
	uint8_t pack[PACK_ID_LEN];	/* which frame it holds */
	uint64_t off;
	uint32_t blob_len;
};
#define FRAME_BUF_INIT { 0 }

/* Read the chunk `id` at loc out of its frame's blob (blob: the loc->blob_len bytes of the
 * frame, or anything when fb already holds that frame) into out (loc->plain_len bytes),
 * checked against id. A frame of just this chunk is decoded straight into out, and then
 * z/zcap/zlen work as in blob_decode_z; otherwise the frame is decoded into fb (kept for
 * the next chunk of the same frame) and *zlen is 0. 0, -EBADMSG, -EPROTO, -ENOMEM. */
int frame_read(struct blob_ctx *cx, struct frame_buf *fb, const void *blob,
	       const struct chunk_loc *loc, const uint8_t *id, void *out, void *z, size_t zcap,
	       size_t *zlen);
void frame_buf_release(struct frame_buf *fb);

/* ---- pack.c ---- */

#define PACK_INDEX_HDR 16

/* A chunk in a pack: its frame's blob (off, blob_len) and its place in the frame. */
struct pack_entry {
	uint8_t id[CHUNK_ID_LEN];
	uint32_t off, blob_len, plain_len;
	uint32_t foff;
};

struct pack_writer {
	uint8_t id[PACK_ID_LEN];
	uint8_t version;		/* of its pack index: the repository's format */
	struct dbuf data;		/* blobs so far; then index blob and trailer */
	struct pack_entry *ent;
	size_t n, cap;
	bool open;
};

void pack_key(const uint8_t id[PACK_ID_LEN], char *key, size_t keylen);
/* Start a new pack with a random id; version: of its pack index (the repository's
 * format: 1 allows only frames of one chunk). */
int pack_writer_start(struct pack_writer *pw, int version);
/* Append one encoded blob holding one chunk (a frame of one). */
int pack_writer_add(struct pack_writer *pw, const uint8_t id[CHUNK_ID_LEN], const void *blob,
		    uint32_t blob_len, uint32_t plain_len, uint64_t *off);
/* Append one encoded frame holding the n chunks of ent (id, foff, plain_len; the rest is
 * filled in); *off: where the blob went. */
int pack_writer_add_frame(struct pack_writer *pw, const void *blob, uint32_t blob_len,
			  const struct pack_entry *ent, size_t n, uint64_t *off);
/* Append the (encoded) pack index and the trailer (the pack is then complete in pw). */
int pack_writer_seal(struct repo *r, struct pack_writer *pw);
/* Upload a sealed pack; on success pw->open = false. Thread-safe for distinct pw. */
int pack_writer_put(struct repo *r, struct pack_writer *pw);
/* Append the (encoded) pack index and the trailer, upload the pack, and reset the writer
 * (pw->open = false). The pack data stays readable in pw until the next start. */
int pack_writer_finish(struct repo *r, struct pack_writer *pw);
void pack_writer_release(struct pack_writer *pw);
int pack_index_encode(const struct pack_entry *e, size_t n, int version, struct dbuf *out);
/* Version 1 or 2. Bounded: n <= (len - header) / entry size. *e malloc'd. */
int pack_index_decode(const void *buf, size_t len, struct pack_entry **e, size_t *n);
/* Parse a trailer against the pack size: index blob [*off, *off + *len). */
int pack_trailer_decode(const uint8_t t[PACK_TRAILER_LEN], uint64_t pack_size, uint32_t *off,
			uint32_t *len);
/* Read a pack's trailer and index from the store. */
int pack_read_index(struct repo *r, const char *key, uint64_t size, struct pack_entry **e,
		    size_t *n);

/* ---- manifest.c ---- */

/* One region of a split full map (format 2): the object holding the region's extents. */
struct region_ref {
	uint64_t index;			/* disk bytes [index * region bytes, + region bytes) */
	uint8_t id[CHUNK_ID_LEN];	/* its id: the chunk index locates it */
	uint32_t plain_len;		/* its plaintext length */
};

struct manifest_disk {
	char name[REPO_NAME_MAX + 1];
	uint64_t size;
	struct disk_extent *ext;	/* a delta's extents, or a version 1/2 full map */
	size_t n;
	bool has_regions;		/* a version 3 full map: reg instead of ext */
	struct region_ref *reg;		/* sorted by index; regions with no data are absent */
	size_t nreg;
};

struct manifest {
	struct point_info info;
	uint8_t version;	/* format version to encode (0: MANIFEST_VERSION); set by decode */
	struct manifest_disk *disks;
	size_t ndisks;
};

void point_key(const char *domain, uint32_t epoch, uint64_t seq, char *key, size_t keylen);
int manifest_encode(const struct manifest *m, struct dbuf *out);
/* Decode and check a manifest plaintext: every count bounded by the bytes left, names
 * valid, extents sorted, non-overlapping, inside the disk, DATA ones within one chunk of
 * chunk_size (0: not checked), regions inside the disk for region_bytes (0: not
 * checked). -EBADMSG, -EPROTO, -ENOMEM. */
int manifest_decode(const void *buf, size_t len, uint32_t chunk_size, uint64_t region_bytes,
		    struct manifest *m);
/* Only the point_info header. */
int manifest_decode_info(const void *buf, size_t len, struct point_info *info);
void manifest_release(struct manifest *m);
/* Load (get, decode) the manifest of a point and check it names that point. */
int manifest_load(struct repo *r, const char *domain, uint32_t epoch, uint64_t seq,
		  struct manifest *m, char *err, size_t errlen);
/* Apply a delta's extents (sorted; DATA or ZERO) to a map (sorted, DATA only), then cut
 * the map to size: the parts of base extents that a delta extent covers, or that lie
 * past size, are cut away (an extent may be split, keeping what shows of its chunk);
 * the delta's DATA extents are added. */
int map_apply(struct disk_extent **ext, size_t *n, const struct disk_extent *d, size_t dn,
	      uint64_t size);
/* Lay d (sorted, non-overlapping; DATA or ZERO) over ext (the same, of any kinds): ext's
 * parts that d covers are cut away and every extent of d added, ZERO ones too. */
int map_overlay(struct disk_extent **ext, size_t *n, const struct disk_extent *d, size_t dn);



/* ---- block-map.c: the chain of manifests behind a point ---- */

struct chain {
	struct manifest *m;	/* m[0] is the full point, m[n-1] the point asked for */
	size_t n;
};
/* Load the manifests from p back to the nearest full point, oldest first. */
int load_chain(struct repo *r, const struct point_info *p, struct chain *c, char *err,
	       size_t errlen);
void chain_release(struct chain *c);
const struct manifest_disk *find_disk(const struct manifest *m, const char *disk);

/* ---- map-iter.c ---- */

/* Read and decode the region object of ref for a disk of disk_size bytes (through the
 * chunk index; checked against its id). *e malloc'd. */
int region_read(struct repo *r, const struct region_ref *ref, uint64_t disk_size,
		struct disk_extent **e, size_t *n, char *err, size_t errlen);
/* An iterator over chain c (borrowed: it must outlive the iterator; NULL: no chain) with
 * extra, a point being written, applied after it (NULL: none). */
int map_iter_chain(struct repo *r, const struct chain *c, const char *disk,
		   const struct manifest_disk *extra, struct map_iter **out);
/* Region k's map (its byte range only; valid until the next call). */
int map_iter_region(struct map_iter *it, uint64_t k, const struct disk_map **piece, char *err,
		    size_t errlen);
/* Did the chain after its full point (or extra) change region k? False only for a region
 * the full point's split map already holds as it is now (or lacks and nothing wrote). */
bool map_iter_touched(const struct map_iter *it, uint64_t k);
/* The full point's reference to region k, if it has one. */
const struct region_ref *map_iter_base_region(const struct map_iter *it, uint64_t k);
/* Append every region of a split full map to the (empty) map *ext, in order. */
int regions_load_all(struct repo *r, const struct manifest_disk *md, struct disk_extent **ext,
		     size_t *n, char *err, size_t errlen);

/* ---- map-writer.c ---- */

/* Where a full point's rebuilt regions go (the point writer stores them like chunks). */
struct region_sink {
	/* Store a region object's plaintext (unless already stored); its id into id. */
	int (*store)(void *arg, const void *plain, size_t len, uint8_t id[CHUNK_ID_LEN]);
	void *arg;
};
/* Where a point being written takes its extents of a disk from one region at a time: load
 * sets extra->ext and extra->n to its extents (DATA and ZERO, sorted, non-overlapping)
 * within region k, the previous region's no longer needed. Called for k = 0, 1, ... */
struct region_feed {
	int (*load)(void *arg, uint64_t k, struct manifest_disk *extra);
	void *arg;
};
/* The region table of disk in a full point: chain c is the parent's (NULL for the first
 * point of an epoch), extra this point's extents of the disk (NULL if it wrote none),
 * whole, or with feed (NULL: none) filled in region by region (extra->size set).
 * *out malloc'd, sorted by region; *size the disk's size. 0 or -errno (reason in err). */
int map_full_regions(struct repo *r, const struct chain *c, const char *disk,
		     struct manifest_disk *extra, const struct region_feed *feed,
		     const struct region_sink *sink,
		     struct region_ref **out, size_t *nout, uint64_t *size, char *err,
		     size_t errlen);

/* ---- map-spill.c: a point's extents spilled to a scratch file, read back by region ---- */

struct spill_file {
	int fd;			/* unlinked: nothing is left behind */
	uint64_t len;
	struct disk_extent *buf, *slice;	/* read buffer; a run's slice of a region */
	size_t slice_cap;
};
/* One run: sorted, non-overlapping extents (DATA or ZERO), and a cursor over them. */
struct spill_run {
	uint64_t at;		/* file offset of the next unread extent */
	uint64_t left;		/* extents not read yet */
	uint64_t next_off;	/* disk offset of the next unread extent (when left) */
};
struct spill_runs {		/* one disk's runs, oldest first */
	struct spill_run *v;
	size_t n, cap;
};
/* An unlinked scratch file in dir (O_TMPFILE, else a named file unlinked at once): its fd
 * or -errno. */
int repo_scratch_open(const char *dir);
/* Create the (unlinked) scratch file in dir. */
int spill_open(struct spill_file *f, const char *dir);
void spill_close(struct spill_file *f);
/* Write e[0..n) (sorted, non-overlapping) as the newest run of rs. */
int spill_write(struct spill_file *f, struct spill_runs *rs, const struct disk_extent *e,
		size_t n);
/* Lay the runs' extents within [lo, hi) (clipped) over *ext, oldest run first (a later run
 * wins). Regions are read in order: a run's extents before lo are gone by then. */
int spill_region(struct spill_file *f, struct spill_runs *rs, uint64_t lo, uint64_t hi,
		 struct disk_extent **ext, size_t *n);
void spill_runs_release(struct spill_runs *rs);

/* ---- point-writer.c ---- */

/* Spill once n segments or pieces are held (format 2; tests make it small). */
void point_writer_spill_at(struct repo_point_writer *w, size_t n);

/* ---- map-codec.c ---- */

#define REGION_HDR 24	/* a region object's header and extent count */

/* What extents_take accepts. */
struct ext_rules {
	uint32_t chunk_size;	/* DATA extents within one chunk of it (0: not checked) */
	bool data_only;		/* a full map or region: no ZERO extents */
	uint8_t version;	/* manifest version: PART extents from 2 on */
	uint64_t lo, hi;	/* every extent within [lo, hi) */
};
/* An extent's encoding (PART when it shows part of its chunk; -EINVAL in version 1). */
int extent_put(struct dbuf *b, const struct disk_extent *e, uint8_t version);
/* A count then the extents. */
int extents_put(struct dbuf *b, const struct disk_extent *e, size_t n, uint8_t version);
/* A count and that many extents from *p (advanced), checked against rl: sorted,
 * non-overlapping, non-empty. *out malloc'd. 0, -EBADMSG, -ENOMEM. */
int extents_take(const uint8_t **p, size_t *left, const struct ext_rules *rl,
		 struct disk_extent **out, size_t *nout);
/* A map region's plaintext (docs/repo-format.md section 16). */
int region_encode(uint64_t index, const struct disk_extent *e, size_t n, struct dbuf *out);
/* Decode region `index` of a disk of disk_size bytes: every extent DATA, inside the region
 * and the disk. 0, -EBADMSG, -EPROTO, -ENOMEM. */
int region_decode(const void *buf, size_t len, uint64_t index, uint64_t region_bytes,
		  uint64_t disk_size, uint32_t chunk_size, struct disk_extent **e, size_t *n);
/* Disk bytes per map region (format 2), 0 in format 1. */
static inline uint64_t repo_region_bytes(const struct repo *r)
{
	return (uint64_t)r->region_chunks * r->chunk_size;
}

/* ---- objlist.c: a store listing held in memory ---- */
struct obj {
	char *key;
	uint64_t size;
	bool reported;		/* verify: a problem was already reported for it */
};
struct objs {
	struct obj *v;
	size_t n, cap;
};
/* store_list callback appending to a struct objs (in listing order). */
int objs_collect(void *arg, const char *key, uint64_t size);
/* List prefix into o sorted by key. Return 0 or -errno. */
int objs_list_sorted(struct store *st, const char *prefix, struct objs *o);
/* The object with this key in a sorted list, or NULL. */
struct obj *objs_find(const struct objs *o, const char *key);
void objs_release(struct objs *o);

#endif
