/* The restore pipeline: a disk map's DATA extents, fetched out of their packs and handed to
 * a sink in ascending disk order (docs/restore.md).
 *
 * The map is cut into windows of consecutive extents whose distinct chunks hold at most
 * window_bytes of plaintext. For each window the chunks' blobs are sorted by pack and
 * offset and coalesced into ranged GETs (neighbours in a pack less than RESTORE_GAP apart,
 * at most RESTORE_RANGE_MAX per GET); `threads` fetchers run those GETs, decrypt,
 * decompress and check every chunk against its id, while the caller's thread hands the
 * oldest finished window's extents to the sink. A window that ends inside a frame (several
 * chunks in one blob) takes the rest of the frame too. RESTORE_DEPTH windows are in memory
 * at most, so memory is bounded by RESTORE_DEPTH x (window_bytes + 2 MiB) + threads x
 * (RESTORE_RANGE_MAX + 2 MiB: the range and a decoded frame) (+ the map itself), whatever
 * the disk size: 48 MiB with the defaults (RESTORE_SINK_LAG more windows with an
 * asynchronous sink: 66 MiB). Small windows measured fastest (4 MiB: 1.65 s for 800 MB
 * where 32 MiB took 2.4 s): they stay in the CPU caches between decoding and writing.
 *
 * Zero extents and holes never reach the sink: a sink starts from a zero-filled image
 * (a sparse file, unallocated grains) and only writes data. */
#ifndef FERRY_RESTORE_PIPE_H
#define FERRY_RESTORE_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

#define RESTORE_WINDOW_DEFAULT (4u << 20)
#define RESTORE_DEPTH 4u		/* windows in memory: 1 being sunk, 3 being fetched */
#define RESTORE_THREADS_DEFAULT 8u
#define RESTORE_GAP (256u << 10)
#define RESTORE_RANGE_MAX (1u << 20)
/* Window buffers and every chunk's place in them are aligned to this, and chunks that are
 * neighbours on disk are neighbours in the buffer: sinks may write with O_DIRECT. */
#define RESTORE_ALIGN 4096u
/* Windows an asynchronous sink (opts.drain) may still be writing after their window_done. */
#define RESTORE_SINK_LAG 3u

struct restore_pipe_opts {
	unsigned threads;	/* fetchers; 0: RESTORE_THREADS_DEFAULT */
	size_t window_bytes;	/* 0: RESTORE_WINDOW_DEFAULT (at least one chunk) */
	uint64_t start;		/* skip extents that end at or before this disk offset */
	/* len bytes of the disk at off, in ascending, non-overlapping order; called on the
	 * caller's thread. Non-zero stops the restore with that value. */
	int (*sink)(void *arg, uint64_t off, const void *buf, size_t len);
	/* after each window: every byte below upto has been handed to the sink (a resume
	 * checkpoint), done of total data bytes so far. May be NULL; non-zero stops. */
	int (*window_done)(void *arg, uint64_t upto, uint64_t done, uint64_t total);
	/* Optional, for a sink whose format is zlib (streamOptimized VMDK grains): an extent
	 * that shows one whole chunk of exactly z_chunk bytes at a multiple of z_chunk, whose
	 * blob holds it in zlib form, goes to sink_z with that form as well (verified: it
	 * inflates to buf, whose id matched). Other extents go to sink. */
	int (*sink_z)(void *arg, uint64_t off, const void *buf, size_t len, const void *z,
		      size_t zlen);
	size_t z_chunk;
	/* Set by a sink that writes asynchronously: then the buffers of a window stay valid
	 * until RESTORE_SINK_LAG more window_done calls have returned, and drain (wait for
	 * every write the sink has in flight; 0 or -errno) is called before the pipe releases
	 * any buffer at the end or after an error. */
	int (*drain)(void *arg);
	void *arg;
};

/* Restore map m (of disk `disk`, for messages) through the sink. 0, the sink's or
 * window_done's non-zero value, or -errno with a reason in err naming the disk, the disk
 * offset and the object (a missing or corrupt chunk: -ENOENT / -EBADMSG). */
int repo_restore_pipe(struct repo *r, const struct disk_map *m,
		      const struct restore_pipe_opts *o, char *err, size_t errlen);

/* A map handed to the pipeline in ascending pieces: next gives the next one (sorted,
 * non-overlapping, after every earlier piece; valid until the next call) and returns 1,
 * or 0 after the last, or -errno. The pipeline copies what it keeps of a piece. */
struct map_source {
	int (*next)(void *arg, const struct disk_map **piece);
	void *arg;
};
/* repo_restore_pipe over a source: memory holds one piece at a time plus the windows.
 * total: the data bytes from o->start on (for window_done). */
int repo_restore_pipe_src(struct repo *r, const char *disk, uint64_t size,
			  const struct map_source *src, uint64_t total,
			  const struct restore_pipe_opts *o, char *err, size_t errlen);
/* The same over a map iterator (from its first piece; format 2 maps: a region at a time,
 * so a restore of any disk holds one region of its map). */
int repo_restore_pipe_iter(struct repo *r, struct map_iter *it, uint64_t total,
			   const struct restore_pipe_opts *o, char *err, size_t errlen);
/* The data bytes of the iterator's map: all of them (total) and those at or after start
 * (rest), in one pass over its pieces (rewinds). */
int map_iter_data_bytes(struct map_iter *it, uint64_t start, uint64_t *total, uint64_t *rest,
			char *err, size_t errlen);

/* Bytes of data (DATA extents) in m at or after start. */
uint64_t disk_map_data_bytes(const struct disk_map *m, uint64_t start);

#endif
