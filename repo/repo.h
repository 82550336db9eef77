/* The repository: recovery points of protection domains, stored as immutable objects in an
 * object store (docs/design.md section 3, byte layouts in docs/repo-format.md).
 *
 *   config                                   format, chunk size, wrapped keys
 *   packs/<xx>/<pack-id>                     blobs + encrypted pack index at the tail
 *   index/<index-id>                         chunk id -> (pack, offset, length), for dedupe
 *   domains/<d>/epochs/<e>/points/<seq:016>  point manifests (a point exists iff this does)
 *
 * Writing a point (the shipper in ferryd): repo_point_begin, then per disk
 * repo_point_disk + any number of repo_point_data / repo_point_zero calls in any order
 * (later calls win where they overlap), then repo_point_commit, which closes the packs,
 * uploads packs, then the index delta, then the manifest, in that order, and returns only
 * when the manifest is durable. Chunks already in the repository (by id) are not stored
 * again. Data is cut at chunk boundaries (repo_chunk_size, 64 KiB by default): a piece
 * never crosses one.
 *
 * Reading (ferryctl, the recovery side): list and resolve points, build the block map of a
 * disk at a point (the nearest full map at or before it plus the deltas after it), read
 * chunks (a ranged GET of one blob out of its pack, verified against its id).
 *
 * Errors: -errno. -EKEYREJECTED: the key file does not open this repository. -EBADMSG: an
 * object is corrupt or truncated. -ENOENT: missing object/point/disk. The functions that
 * take err/errlen also describe the failure there (object key, offset, what is wrong).
 *
 * Thread safety: one struct repo may be used by any number of point writers of different
 * domains at once (ferryd's shipper runs one per domain) plus any number of concurrent
 * readers; one writer per domain. */
#ifndef FERRY_REPO_H
#define FERRY_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/blob.h"
#include "repo/store.h"

#define REPO_FORMAT_VERSION 2	/* what repo_create writes; format 1 is still read and written */
#define REPO_DEFAULT_CHUNK (64u << 10)
#define REPO_DEFAULT_REGION_CHUNKS 16384u	/* format 2: chunks per map region (1 GiB at 64 KiB) */
#define REPO_FULL_MAP_EVERY 16		/* every K-th point of an epoch carries full maps */
#define REPO_NAME_MAX 63

struct repo;
struct ferry_config;

struct repo_create_opts {
	const char *url;		/* store URL */
	const char *key_file;		/* created (0600, random) if missing; unused if !encrypted */
	bool encrypted;			/* false: --encryption none */
	uint32_t chunk_size;		/* 0: REPO_DEFAULT_CHUNK; power of two, 4 KiB..1 MiB (format 2:
					 * from 256 bytes) */
	uint32_t region_chunks;		/* format 2: chunks per map region, a power of two
					 * 16..2^24 (0: REPO_DEFAULT_REGION_CHUNKS) */
	uint16_t format;		/* 0: REPO_FORMAT_VERSION; 1 makes a format 1 repository */
};

/* Create a repository: write its config object. -EEXIST if one is already there. */
int repo_create(const struct repo_create_opts *o, char *err, size_t errlen);
/* The same with store backend options (NULL: defaults). */
int repo_create_with_store(const struct repo_create_opts *o, const struct store_opts *so,
			   char *err, size_t errlen);
/* Open: read config, unwrap the keys with the key file (NULL for an unencrypted
 * repository), load the chunk index from index/ objects. */
int repo_open(const char *url, const char *key_file, struct repo **out, char *err,
	      size_t errlen);
/* The same with backend options (NULL: defaults). */
int repo_open_opts(const char *url, const char *key_file, const struct store_opts *so,
		   struct repo **out, char *err, size_t errlen);
/* Open the repository that cfg's [store] section names (url, key_file and the backend
 * options); -EINVAL with a reason if it has no url. */
int repo_open_cfg(const struct ferry_config *cfg, struct repo **out, char *err, size_t errlen);
/* cfg's [store] backend options into *o (the strings stay owned by cfg). */
void repo_store_opts(const struct ferry_config *cfg, struct store_opts *o);
void repo_close(struct repo *r);
uint32_t repo_chunk_size(const struct repo *r);
uint16_t repo_format(const struct repo *r);
bool repo_encrypted(const struct repo *r);
struct store *repo_store(struct repo *r);

/* The compression of point writers begun from now on (default zstd level 1, auto_skip;
 * repo_point_set_compression overrides it for one point). The level is checked with
 * compress_level_check (-EINVAL). Incompressible frames (blob.h's 97% rule) are always
 * stored as COMPRESS_NONE; auto_skip also stops trying while the data does not compress
 * (point-pool.c). */
int repo_set_compression(struct repo *r, enum compress_type type, int level, bool auto_skip);
/* The directory where point writers keep their scratch file (a huge point's extents,
 * spilled as it is written: repo/map-spill.c); copied. Default: $TMPDIR, else /var/tmp. */
int repo_set_scratch_dir(struct repo *r, const char *dir);

/* ---- points ---- */

enum point_flags {
	POINT_CONSISTENT = 1,	/* crash-consistent: restorable as "latest" */
	POINT_FULL = 2,		/* carries full maps of every disk (set by the writer) */
};

struct point_info {
	char domain[REPO_NAME_MAX + 1];
	uint32_t epoch;
	uint64_t seq;		/* point number within the epoch, from 1, dense */
	uint64_t parent_seq;	/* 0 for the first point of the epoch */
	uint64_t time_ns;	/* CLOCK_REALTIME when the point was cut */
	uint32_t flags;		/* POINT_* */
	uint64_t logical_bytes;	/* bytes of data and zero extents in this point */
	uint64_t stored_bytes;	/* bytes newly stored by this point (after dedupe/compression) */
	uint64_t log_seq;	/* replication-log sequence the point covers up to (informative) */
};

/* ---- writing a point ---- */

struct repo_point_writer;

/* Begin point meta->seq of (meta->domain, meta->epoch); its parent must be the newest point
 * of that epoch (meta->parent_seq), or 0 for the first. The flags POINT_CONSISTENT is taken
 * from meta; POINT_FULL is decided by the writer. */
int repo_point_begin(struct repo *r, const struct point_info *meta,
		     struct repo_point_writer **out);
/* Select the disk that the following data/zero calls apply to (creates it in this point;
 * the size is recorded, and a disk may grow between points). */
int repo_point_disk(struct repo_point_writer *w, const char *disk, uint64_t disk_size);
/* len bytes written at offset: must not cross a chunk boundary and must be <= chunk size.
 * The data is copied (the caller may reuse its buffer at once). */
int repo_point_data(struct repo_point_writer *w, uint64_t offset, const void *data,
		    uint32_t len);
/* [offset, offset+len) reads as zeroes (any length, any alignment). */
int repo_point_zero(struct repo_point_writer *w, uint64_t offset, uint64_t len);
/* Store everything and make the point durable; on success fill *out (stored_bytes etc.).
 * On failure nothing visible has changed (a manifest is never written). The writer is
 * freed either way. */
int repo_point_commit(struct repo_point_writer *w, struct point_info *out, char *err,
		      size_t errlen);
void repo_point_abort(struct repo_point_writer *w);

/* This point's compression (before its first repo_point_data; default: the repository's).
 * 0 or -EINVAL (bad level, or data was given already). */
int repo_point_set_compression(struct repo_point_writer *w, enum compress_type type, int level,
			       bool auto_skip);

/* What writing a point cost, for the shipper's `compression = auto` (docs/config.md). */
struct repo_point_stats {
	uint64_t encode_ns;	/* CPU time of chunk ids, dedupe checks, compression, encryption
				 * (all encode workers) */
	uint64_t upload_ns;	/* time in pack PUTs, summed over the uploads in flight */
	uint64_t frames;	/* blobs of new chunks stored */
	uint64_t plain_bytes;	/* their plaintext */
};
/* Where the writer leaves its measurements when it is done (commit or abort). */
void repo_point_stats_to(struct repo_point_writer *w, struct repo_point_stats *st);

/* ---- reading ---- */

/* The domains the repository has points or VM sets (repo/vmdesc.h) of, sorted (a malloc'd
 * array of malloc'd names; free with repo_names_free). */
int repo_list_domains(struct repo *r, char ***names, size_t *n);
void repo_names_free(char **names, size_t n);
/* Every point of a domain (all epochs), sorted by (epoch, seq). *out is malloc'd. */
int repo_list_points(struct repo *r, const char *domain, struct point_info **out, size_t *n);
/* "latest" (newest consistent point), a number "SEQ" or "EPOCH.SEQ", or a time
 * (YYYY-MM-DDTHH:MM:SS[Z], the newest consistent point at or before it). */
int repo_resolve_point(struct repo *r, const char *domain, const char *spec,
		       struct point_info *out, char *err, size_t errlen);

enum extent_kind { EXTENT_ZERO = 0, EXTENT_DATA = 1 };

/* A disk's content at a point: sorted, non-overlapping extents; bytes not covered read as
 * zeroes. DATA extents are at most one chunk and never cross a chunk boundary. A DATA
 * extent shows part of its chunk: disk bytes [offset, offset + length) are the chunk's
 * plaintext bytes [coff, coff + length), and the chunk's plaintext is clen bytes long
 * (coff = 0 and clen = length when it shows the whole chunk). */
struct disk_extent {
	uint64_t offset;
	uint32_t length;
	uint8_t kind;		/* enum extent_kind */
	uint8_t id[CHUNK_ID_LEN];
	uint32_t coff;		/* DATA: offset of the extent's first byte in its chunk */
	uint32_t clen;		/* DATA: the chunk's plaintext length */
};

struct disk_map {
	char disk[REPO_NAME_MAX + 1];
	uint64_t size;
	struct disk_extent *ext;
	size_t n;
};

int repo_disk_map(struct repo *r, const struct point_info *p, const char *disk,
		  struct disk_map **out, char *err, size_t errlen);
void disk_map_free(struct disk_map *m);
/* A disk's map at a point one piece at a time, in disk order: in a format 2 repository a
 * piece is one map region (region_chunks chunks of the disk, docs/repo-format.md section
 * 15), so a reader holds one region's extents whatever the disk's size; otherwise the one
 * piece is the whole map. repo_disk_map is all the pieces at once. */
struct map_iter;
int map_iter_open(struct repo *r, const struct point_info *p, const char *disk,
		  struct map_iter **out, char *err, size_t errlen);
uint64_t map_iter_size(const struct map_iter *it);	/* the disk's size at the point */
const char *map_iter_disk(const struct map_iter *it);
uint64_t map_iter_pieces(const struct map_iter *it);
/* The next piece (extents of its byte range only; valid until the next call): 1, or 0
 * after the last, or -errno with a reason in err. */
int map_iter_next(struct map_iter *it, const struct disk_map **piece, char *err, size_t errlen);
void map_iter_rewind(struct map_iter *it);	/* back to the first piece */
void map_iter_free(struct map_iter *it);

/* Names of the disks in a point (malloc'd array of malloc'd strings). */
int repo_point_disks(struct repo *r, const struct point_info *p, char ***names, size_t *n);

/* Pick up what other writers added since open (new index objects), so that chunks of newer
 * points resolve. A long-running reader (the rehydrator) calls it before each point. */
int repo_refresh(struct repo *r);

/* Read and verify one chunk (exactly len bytes, its plaintext length). Thread-safe. */
int repo_read_chunk(struct repo *r, const uint8_t id[CHUNK_ID_LEN], void *buf, uint32_t len);

/* ---- verify, prune (ferryctl) ---- */

/* Called for each bad object: key and what is wrong. */
typedef void repo_report_fn(void *arg, const char *key, const char *problem);
/* Every manifest decodes and every chunk it references is in the index and its pack exists;
 * with read_data every blob of every pack decrypts and matches its id. Returns the number
 * of problems reported (0: sound) or -errno. */
int repo_verify(struct repo *r, bool read_data, repo_report_fn *fn, void *arg);

/* ---- retention and prune (repo/prune.c; protocol in docs/repo-format.md "Prune") ---- */

/* Retention: keep the newest `last` points, and the newest point of each of the newest
 * `hourly` hours / `daily` days / `weekly` ISO weeks (Monday to Sunday, UTC) that have
 * points. 0: that rule keeps nothing. */
struct prune_keep {
	uint32_t last, hourly, daily, weekly;
};

/* "last:N,hourly:N,daily:N,weekly:N", any non-empty subset in any order, each at most
 * once, N in 0..1000000. 0 or -EINVAL. */
int prune_keep_parse(const char *spec, struct prune_keep *k);

/* Why a point is kept (bits of the why array of prune_select). */
enum prune_why {
	PRUNE_LAST = 1, PRUNE_HOURLY = 2, PRUNE_DAILY = 4, PRUNE_WEEKLY = 8,
	PRUNE_NEWEST = 16,		/* the newest point (the shipper's next parent) */
	PRUNE_CONSISTENT = 32,		/* the newest consistent point ("latest") */
	PRUNE_DEPENDENCY = 64,		/* a kept delta point's chain back to a full point */
};

/* Pure: v[0..n) is one domain's points sorted by (epoch, seq) (as repo_list_points gives
 * them); why[i] gets the reasons point i is kept, 0 when it expires. The newest point and
 * the newest consistent point are always kept, and every kept delta point keeps its parents
 * back to the nearest full point ("hidden" dependencies: restore needs their manifests).
 * "Newest" is by list order; the time rules bucket each point by its time_ns. */
void prune_select(const struct point_info *v, size_t n, const struct prune_keep *k,
		  uint32_t *why);

struct prune_policy {
	const char *domain;
	struct prune_keep keep;
};

/* The steps of a prune run, each a single store mutation: the hook is called before each
 * one with its key; non-zero stops the run there (tests simulate a crash this way). */
enum prune_step {
	PRUNE_STEP_RESCUE,		/* put a rescue object (phase 2) */
	PRUNE_STEP_DELETE_PACK,		/* delete a condemned pack (phase 2) */
	PRUNE_STEP_DELETE_POINT,	/* delete an expired point's manifest */
	PRUNE_STEP_CONDEMN,		/* put a condemn object (phase 1) */
	PRUNE_STEP_DELETE_VMS,		/* delete a VM set no kept point needs (vmdesc.h) */
};

struct prune_opts {
	const struct prune_policy *policies;	/* the domains whose points expire */
	size_t n_policies;
	uint64_t grace_ns;	/* a condemnation is carried out only this long after it */
	bool wait;		/* after condemning, wait grace_ns and carry it out in this run */
	int (*hook)(void *arg, enum prune_step step, const char *key);	/* tests; or NULL */
	void *hook_arg;
	/* sweep: at the end, remove the leftovers of interrupted puts (store_sweep) that are
	 * at least sweep_age_ns old */
	bool sweep;
	uint64_t sweep_age_ns;
};

struct prune_stats {
	size_t points_kept, points_deleted;
	size_t vm_sets_deleted;		/* VM sets no kept point needs (vmdesc.h) */
	size_t packs_condemned, packs_deleted, packs_rescued;
	size_t packs_pending;	/* condemned, still in the store at the end of the run */
	uint64_t bytes_deleted;
	size_t packs_before, packs_after;
	uint64_t bytes_before, bytes_after;
	uint64_t leftovers_removed;	/* by the sweep */
	int sweep_err;			/* the sweep failed (-errno; the prune itself did not) */
	char sweep_detail[256];		/* its reason */
};

/* One prune run: (1) carry out the condemnations older than the grace delay (rescue what a
 * manifest needs, delete the rest); (2) delete the expired points of each policy's domain;
 * (3) condemn the packs no remaining manifest needs; (4) with wait, sleep and do (1)
 * again. Safe to run while a shipper writes points, and to kill at any moment; one prune
 * at a time per repository. Returns 0, -ECANCELED (the hook stopped it), or -errno with a
 * reason in err. A manifest that cannot be read stops the run before any pack is condemned
 * or deleted (prune never guesses what a point needs). */
int repo_prune(struct repo *r, const struct prune_opts *o, struct prune_stats *st, char *err,
	       size_t errlen);

#endif
