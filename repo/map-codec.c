/* Extents and map regions on the wire (docs/repo-format.md sections 10 and 15).
 *
 * An extent is 13 bytes (ZERO), 45 (DATA) or 53 (PART: a DATA extent showing part of its
 * chunk); manifests carry them, and so do map regions: in a format 2 repository a full
 * map is split into regions of region_chunks chunks each, every region one object of its
 * own (stored like a chunk, named by its id), so that a full point rewrites only the
 * regions its chain changed and a reader holds one region at a time.
 *
 * The decoder trusts nothing: a count is checked against the bytes left before anything
 * is allocated for it, extents must be sorted, non-overlapping and inside the range the
 * caller allows (the disk, or the region's slice of it), DATA extents within one chunk. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define EXT_ZERO_LEN 13		/* offset 8, length 4, kind 1 */
#define EXT_DATA_LEN (EXT_ZERO_LEN + CHUNK_ID_LEN)
#define EXT_PART_LEN (EXT_DATA_LEN + 8)	/* + chunk offset 4, chunk length 4 */
#define KIND_PART 2		/* encoded kind of a DATA extent showing part of its chunk */
#define REGION_MAGIC "FMRG"
#define REGION_VERSION 1

int extent_put(struct dbuf *b, const struct disk_extent *e, uint8_t version)
{
	uint8_t x[EXT_PART_LEN];
	size_t xl = EXT_ZERO_LEN;
	put_le64(x, e->offset);
	put_le32(x + 8, e->length);
	x[12] = e->kind;
	if (e->kind == EXTENT_DATA) {
		memcpy(x + 13, e->id, CHUNK_ID_LEN);
		xl = EXT_DATA_LEN;
		if (e->coff || e->clen != e->length) {
			if (version < 2)
				return -EINVAL;
			x[12] = KIND_PART;
			put_le32(x + EXT_DATA_LEN, e->coff);
			put_le32(x + EXT_DATA_LEN + 4, e->clen);
			xl = EXT_PART_LEN;
		}
	}
	return dbuf_add(b, x, xl);
}

static const uint8_t *take(const uint8_t **p, size_t *left, size_t n)
{
	if (*left < n)
		return NULL;
	const uint8_t *r = *p;
	*p += n;
	*left -= n;
	return r;
}

/* One extent from *p, checked on its own (kind, PART canonical form, chunk bounds). */
static int extent_take(const uint8_t **p, size_t *left, const struct ext_rules *rl,
		       struct disk_extent *e)
{
	const uint8_t *x = take(p, left, EXT_ZERO_LEN);
	if (!x)
		return -EBADMSG;
	memset(e, 0, sizeof(*e));
	e->offset = get_le64(x);
	e->length = get_le32(x + 8);
	e->kind = x[12];
	if (e->kind == EXTENT_ZERO)
		return rl->data_only ? -EBADMSG : 0;	/* full maps hold DATA extents only */
	if (e->kind != EXTENT_DATA && !(e->kind == KIND_PART && rl->version >= 2))
		return -EBADMSG;
	const uint8_t *id = take(p, left, CHUNK_ID_LEN), *pp;
	if (!id)
		return -EBADMSG;
	memcpy(e->id, id, CHUNK_ID_LEN);
	e->clen = e->length;
	if (e->kind == KIND_PART) {
		if (!(pp = take(p, left, 8)))
			return -EBADMSG;
		e->coff = get_le32(pp);
		e->clen = get_le32(pp + 4);
		/* canonical: a PART extent never shows its whole chunk */
		if ((uint64_t)e->coff + e->length > e->clen || (e->coff == 0 && e->clen == e->length))
			return -EBADMSG;
		e->kind = EXTENT_DATA;
	}
	uint32_t cs = rl->chunk_size;
	if (e->clen > REPO_CHUNK_MAX || (cs && e->clen > cs) ||
	    (cs && e->length && e->offset / cs != (e->offset + e->length - 1) / cs))
		return -EBADMSG;
	return 0;
}

int extents_take(const uint8_t **p, size_t *left, const struct ext_rules *rl,
		 struct disk_extent **out, size_t *nout)
{
	const uint8_t *b = take(p, left, 8);
	*out = NULL;
	*nout = 0;
	if (!b)
		return -EBADMSG;
	uint64_t n = get_le64(b);
	if (n > *left / EXT_ZERO_LEN)		/* bounded by the bytes that are left */
		return -EBADMSG;
	struct disk_extent *e = malloc((n ? n : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	uint64_t end = rl->lo;
	int rc = 0;
	for (uint64_t i = 0; i < n && rc == 0; i++) {
		rc = extent_take(p, left, rl, &e[i]);
		if (rc == 0 && (e[i].length == 0 || e[i].offset < end || e[i].offset > rl->hi ||
				e[i].length > rl->hi - e[i].offset))
			rc = -EBADMSG;
		end = e[i].offset + e[i].length;
	}
	if (rc < 0) {
		free(e);
		return rc;
	}
	*out = e;
	*nout = n;
	return 0;
}

int extents_put(struct dbuf *b, const struct disk_extent *e, size_t n, uint8_t version)
{
	uint8_t c[8];
	put_le64(c, n);
	int rc = dbuf_add(b, c, 8);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = extent_put(b, &e[i], version);
	return rc;
}

/* ---- map regions ---- */

int region_encode(uint64_t index, const struct disk_extent *e, size_t n, struct dbuf *out)
{
	uint8_t h[REGION_HDR] = REGION_MAGIC;
	h[4] = REGION_VERSION;
	put_le64(h + 8, index);
	int rc = dbuf_add(out, h, 16);
	return rc ? rc : extents_put(out, e, n, 2);
}

int region_decode(const void *buf, size_t len, uint64_t index, uint64_t region_bytes,
		  uint64_t disk_size, uint32_t chunk_size, struct disk_extent **e, size_t *n)
{
	const uint8_t *p = buf;
	size_t left = len;
	*e = NULL;
	*n = 0;
	if (len < REGION_HDR || memcmp(p, REGION_MAGIC, 4))
		return -EBADMSG;
	if (p[4] != REGION_VERSION || p[5] || p[6] || p[7])
		return -EPROTO;
	if (get_le64(p + 8) != index || !region_bytes || index > UINT64_MAX / region_bytes)
		return -EBADMSG;	/* a region object named for another region */
	uint64_t lo = index * region_bytes;
	struct ext_rules rl = { .chunk_size = chunk_size, .data_only = true, .version = 2,
				.lo = lo, .hi = MIN(disk_size, lo + MIN(region_bytes, UINT64_MAX - lo)) };
	if (lo >= disk_size)
		return -EBADMSG;
	p += 16;
	left -= 16;
	int rc = extents_take(&p, &left, &rl, e, n);
	if (rc == 0 && left) {
		free(*e);
		*e = NULL;
		*n = 0;
		rc = -EBADMSG;	/* the object must be consumed exactly */
	}
	return rc;
}
