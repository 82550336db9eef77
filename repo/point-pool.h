/* The point writer's encode pool (point-pool.c): chunk ids, dedupe checks, compression and
 * encryption of frames on worker threads; results are taken back strictly in submission
 * order. Used by one thread (the writer's): nothing here is for concurrent callers.
 *
 * A job is one frame (docs/repo-format.md "Frames"): pieces that follow each other on a
 * disk, copied back to back into the job (encode_pool_append) until the writer seals it.
 * The worker gives every piece its chunk id, leaves out the pieces the repository (or
 * another job of this point) already has, and encodes the rest as one blob. */
#ifndef FERRY_POINT_POOL_H
#define FERRY_POINT_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "repo/repo-internal.h"

#define POOL_DEPTH 8
#define POOL_MAX_THREADS 4
#define POOL_THREADS 2
#define POOL_FRAME_PIECES 4096u	/* pieces in one frame, at most */

struct frame_piece {
	uint64_t tag;		/* the caller's (piece number) */
	uint32_t len;
	uint8_t id[CHUNK_ID_LEN];
	bool fresh;		/* stored in this job's frame (else known already) */
	uint32_t foff;		/* fresh: its place in the frame's plaintext */
};

struct encode_job {
	uint8_t *data;		/* the pieces back to back (frame_max bytes) */
	uint32_t len;
	struct frame_piece *pc;
	size_t npc;
	uint32_t plain_len;	/* of the frame (the fresh pieces); 0: nothing to store */
	uint8_t *blob;
	uint32_t blob_len;
	size_t blob_cap;
	int err;
};

/* How the pool compresses (a writer's settings; the pool keeps its own auto_skip sample). */
struct pool_codec {
	enum compress_type type;
	int level;
	bool auto_skip;
};

struct encode_pool;

/* threads 0: jobs run inline when sealed. frame_max: the largest frame (format 1: one
 * chunk per job, whatever its size: frame_max = chunk size and one piece per job).
 * 0 or -ENOMEM. */
int encode_pool_start(struct repo *r, unsigned threads, uint32_t frame_max,
		      size_t max_pieces, const struct pool_codec *codec,
		      struct chunk_index *claimed, struct encode_pool **out);
/* Waits for running jobs, then frees everything (unretired jobs are dropped). */
void encode_pool_stop(struct encode_pool *p);
/* Can len more bytes go into the job being filled (false if there is none)? */
bool encode_pool_room(struct encode_pool *p, uint32_t len);
/* Is a new job impossible until the oldest is retired (no job being filled, no free
 * slot)? */
bool encode_pool_full(struct encode_pool *p);
/* Copy data (len <= frame_max) into the job being filled, or into a new one (then the
 * pool must not be full). */
void encode_pool_append(struct encode_pool *p, const void *data, uint32_t len, uint64_t tag);
/* Hand the job being filled (if any) to the workers. */
void encode_pool_seal(struct encode_pool *p);
/* The oldest sealed job once it is done (waits), or NULL if there is none. */
struct encode_job *encode_pool_oldest(struct encode_pool *p);
/* Free the oldest job's slot. */
void encode_pool_retire(struct encode_pool *p);
/* CPU time the workers spent on jobs so far (ids, compression, encryption). */
uint64_t encode_pool_cpu_ns(struct encode_pool *p);

#endif
