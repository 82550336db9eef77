/* The point writer's encode pool (point-pool.c): chunk id + compression + encryption of
 * chunk copies on worker threads; results are taken back strictly in submission order.
 * Used by one thread (the writer's): submit, oldest, retire are not for concurrent callers. */
#ifndef FERRY_POINT_POOL_H
#define FERRY_POINT_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "repo/repo-internal.h"

#define POOL_DEPTH 8
#define POOL_MAX_THREADS 4
#define POOL_THREADS 2

struct encode_job {
	uint8_t *data;		/* copy of the chunk (chunk size bytes) */
	uint32_t len;
	uint64_t tag;		/* the caller's (piece number) */
	uint8_t id[CHUNK_ID_LEN];
	bool known;		/* the repository already had it: not encoded */
	uint8_t *blob;
	uint32_t blob_len;
	size_t blob_cap;
	int err;
};

struct encode_pool;

/* threads 0: jobs run inline at submit. 0 or -ENOMEM. */
int encode_pool_start(struct repo *r, unsigned threads, struct encode_pool **out);
/* Waits for running jobs, then frees everything (unretired jobs are dropped). */
void encode_pool_stop(struct encode_pool *p);
bool encode_pool_full(struct encode_pool *p);
/* Copy data (len <= chunk size) into a new job. The pool must not be full. */
void encode_pool_submit(struct encode_pool *p, const void *data, uint32_t len, uint64_t tag);
/* The oldest job once it is done (waits), or NULL if there is none. */
struct encode_job *encode_pool_oldest(struct encode_pool *p);
/* Free the oldest job's slot. */
void encode_pool_retire(struct encode_pool *p);

#endif
