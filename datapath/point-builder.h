/* Coalescing the log records of one recovery point before they are stored.
 *
 * Records are added in sequence order; each is cut at chunk boundaries and kept per
 * (disk, chunk) as sorted, non-overlapping pieces, a later record replacing what it
 * overlaps. So a block written ten times within a point is stored once, and a write
 * followed by a TRIM of the same range stores nothing. Only the winning bytes are kept in
 * memory; pb_bytes() lets the shipper end a point early when that grows too large.
 * Single-threaded: the shipper owns one builder per point. */
#ifndef FERRY_POINT_BUILDER_H
#define FERRY_POINT_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct point_builder;

struct pb_piece {
	uint64_t offset;	/* in the disk */
	uint32_t length;
	bool zero;
	const uint8_t *data;	/* length bytes, NULL for zero pieces */
};

/* Called for each piece in (disk, offset) order; adjacent zero pieces are merged. Return
 * 0 to go on, or a negative errno to stop (pb_emit returns it). */
typedef int pb_emit_fn(void *arg, unsigned disk, const struct pb_piece *piece);

struct point_builder *pb_new(uint32_t chunk_size);
void pb_free(struct point_builder *pb);
/* A WRITE (data != NULL) or a zero extent (data == NULL) of disk index `disk`.
 * Return 0 or -ENOMEM. */
int pb_add(struct point_builder *pb, unsigned disk, uint64_t offset, uint64_t length,
	   const void *data);
/* Bytes of data held, and bytes covered (data + zero) by the pieces. */
uint64_t pb_bytes(const struct point_builder *pb);
uint64_t pb_logical(const struct point_builder *pb);
int pb_emit(struct point_builder *pb, pb_emit_fn *fn, void *arg);

#endif
