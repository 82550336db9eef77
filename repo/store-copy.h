/* Copying a repository from one store to another (`ferryctl store copy`): seed a local
 * repository and carry it to the cloud bucket, move a repository between buckets, or keep
 * a second copy in step by running the copy again (only what is missing is copied).
 *
 * Objects are opaque here (nothing is decrypted; the key file is not needed) and, being
 * immutable (store.h), a key that the destination already holds is the same object: it is
 * skipped when its size matches and reported as a conflict when it does not. The copy goes
 * in the order the repository writes in (docs/repo-format.md), so a reader of the
 * destination never meets an object that refers to one not yet there, even while a copy
 * is under way or after one was killed:
 *
 *   1. packs/...   2. index/...   3. everything else (domains/...: point manifests)
 *   4. config      (last: until it is there, the destination is not a repository)
 *
 * Each phase completes before the next starts. A destination whose config differs from
 * the source's holds another repository: nothing is copied. */
#ifndef FERRY_STORE_COPY_H
#define FERRY_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "repo/store.h"

struct store_copy_stats {
	uint64_t objects, bytes;	/* copied */
	uint64_t present, present_bytes;	/* already in the destination */
	uint64_t vanished;		/* listed in the source, gone when read (pruned) */
};

/* Copy with `threads` workers (0: 4, as rclone), each holding one object in memory at a time. Returns
 * 0, -EEXIST (the destination holds another repository, or an object of the same key
 * but another size), -ENOENT (the source has no config: not a repository), or the first
 * failed store call's -errno; err names the key and the store's own reason. The stats
 * count what was done before a failure too. */
int store_copy(struct store *src, struct store *dst, unsigned threads,
	       struct store_copy_stats *stats, char *err, size_t errlen);

#endif
