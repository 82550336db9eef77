/* The difference between two maps of one disk: what to write to turn a copy of the disk
 * at point A into the disk at point B (continuous rehydration applies only this).
 *
 * Content is compared by reference, not by reading data: two bytes are the same when both
 * read as zeroes, or both come from the same chunk at the same chunk offset. So the diff
 * costs O(extents of A + extents of B) and no I/O, whatever the disk size; a chunk that
 * was rewritten with identical content (same id) is not written again. */
#ifndef FERRY_MAP_DIFF_H
#define FERRY_MAP_DIFF_H

#include "repo/repo.h"

/* *out (malloc'd, release with disk_map_free) gets, sorted and non-overlapping, the DATA
 * extents of b that differ from a (slices of b's extents, coff adjusted) and ZERO extents
 * (at most 1 GiB each) where b reads zeroes but a does not; out->size = b->size. Bytes
 * past a->size count as zeroes in a, and nothing is emitted past b->size. 0 or -ENOMEM. */
int disk_map_diff(const struct disk_map *a, const struct disk_map *b, struct disk_map **out);

#endif
