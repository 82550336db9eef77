/* A disk's map at a point, one region at a time (format 2: docs/repo-format.md section
 * 15), so that a reader of a huge disk holds one region's extents, not the disk's.
 *
 * The map of region k at point p is built as repo_disk_map builds a whole map, restricted
 * to the region's bytes: the full point's region object k (if the region holds data),
 * then each later point of the chain that lists the disk, its extents clipped to the
 * region, cut to its disk size (map_apply). The deltas of the chain are small (what each
 * point wrote); they are loaded once, with the chain. A chain whose full point carries
 * the map inline (format 1, or manifests before version 3) is one piece: the whole map.
 *
 * Region objects are read through the chunk index like chunks (a frame of their own),
 * checked against their id, so a region can never be another one or be corrupt unseen. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

struct map_iter {
	struct repo *r;
	struct chain c;
	bool own_chain;
	const struct manifest_disk *extra;	/* a point being written, after the chain */
	char disk[REPO_NAME_MAX + 1];
	int base;		/* the chain's full point lists the disk: index 0, else -1 */
	uint64_t size;		/* the disk's size at the point */
	uint64_t rbytes;	/* region size; UINT64_MAX: one piece */
	uint64_t next, nregions;
	struct disk_map piece;
	struct disk_extent *tmp;	/* a delta's extents clipped to the region */
	size_t tmp_cap;
};

int region_read(struct repo *r, const struct region_ref *ref, uint64_t disk_size,
		struct disk_extent **e, size_t *n, char *err, size_t errlen)
{
	struct chunk_loc loc;
	struct frame_buf fb = FRAME_BUF_INIT;
	char key[64], hex[CHUNK_ID_HEX_LEN + 1];
	size_t zlen;
	*e = NULL;
	*n = 0;
	chunk_id_to_hex(ref->id, hex);
	if (!index_lookup(&r->index, ref->id, &loc)) {
		repo_err(err, errlen, "map region %" PRIu64 " (%s) is not in the chunk index",
			 ref->index, hex);
		return -ENOENT;
	}
	if (loc.plain_len != ref->plain_len || loc.foff) {
		repo_err(err, errlen, "map region %" PRIu64 " (%s): the index says another size",
			 ref->index, hex);
		return -EBADMSG;
	}
	uint8_t *blob = malloc(loc.blob_len), *plain = malloc(loc.plain_len);
	int rc = blob && plain ? 0 : -ENOMEM;
	pack_key(loc.pack, key, sizeof(key));
	if (rc == 0 && (rc = store_get_range(r->st, key, loc.off, loc.blob_len, blob)) == -EINVAL)
		rc = -EBADMSG;
	struct blob_ctx *cx = rc == 0 ? repo_cx_get(r) : NULL;
	if (rc == 0)
		rc = cx ? frame_read(cx, &fb, blob, &loc, ref->id, plain, NULL, 0, &zlen) : -ENOMEM;
	repo_cx_put(r, cx);
	if (rc == 0)
		rc = region_decode(plain, loc.plain_len, ref->index, repo_region_bytes(r), disk_size,
				   r->chunk_size, e, n);
	if (rc < 0 && err && !err[0])
		repo_err(err, errlen, "map region %" PRIu64 " (%s in %s): %s", ref->index, hex, key,
			 rc == -EBADMSG ? "corrupt" : rc == -EPROTO ? "unsupported (newer format)" :
			 store_strerror(r->st, rc));
	frame_buf_release(&fb);
	free(blob);
	free(plain);
	return rc;
}

int regions_load_all(struct repo *r, const struct manifest_disk *md, struct disk_extent **ext,
		     size_t *n, char *err, size_t errlen)
{
	int rc = 0;
	for (size_t i = 0; i < md->nreg && rc == 0; i++) {
		struct disk_extent *e;
		size_t k;
		if ((rc = region_read(r, &md->reg[i], md->size, &e, &k, err, errlen)) < 0)
			break;
		struct disk_extent *v = realloc(*ext, (*n + k + 1) * sizeof(*v));
		if (!v)
			rc = -ENOMEM;
		else {
			memcpy(v + *n, e, k * sizeof(*e));
			*ext = v;
			*n += k;
		}
		free(e);
	}
	return rc;
}

/* ---- the iterator ---- */

/* Set up it over chain c (and extra after it): which pieces, the disk's size. */
static int iter_setup(struct map_iter *it)
{
	bool present = false;
	for (size_t i = 0; i < it->c.n; i++) {
		const struct manifest_disk *md = find_disk(&it->c.m[i], it->disk);
		if (md) {
			present = true;
			it->size = md->size;
		}
	}
	if (it->extra) {
		present = true;
		it->size = it->extra->size;
	}
	if (!present)
		return -ENOENT;
	const struct manifest_disk *b = it->c.n ? find_disk(&it->c.m[0], it->disk) : NULL;
	it->base = b ? 0 : -1;
	/* pieces of a region each when the full map is split (or the repository splits
	 * maps), else the whole map at once */
	it->rbytes = (b && b->has_regions) || (!b && repo_region_bytes(it->r)) ?
		repo_region_bytes(it->r) : UINT64_MAX;
	it->nregions = it->rbytes == UINT64_MAX ? 1 : (it->size + it->rbytes - 1) / it->rbytes;
	snprintf(it->piece.disk, sizeof(it->piece.disk), "%s", it->disk);
	it->piece.size = it->size;
	return 0;
}

int map_iter_open(struct repo *r, const struct point_info *p, const char *disk,
		  struct map_iter **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!name_ok(disk) || !name_ok(p->domain)) {
		repo_err(err, errlen, "bad disk or domain name");
		return -EINVAL;
	}
	struct map_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->r = r;
	it->own_chain = true;
	snprintf(it->disk, sizeof(it->disk), "%s", disk);
	int rc = load_chain(r, p, &it->c, err, errlen);
	if (rc < 0) {
		free(it);
		return rc;
	}
	if ((rc = iter_setup(it)) < 0) {
		repo_err(err, errlen, "no disk '%s' in point %" PRIu32 ".%" PRIu64 " of domain %s",
			 disk, p->epoch, p->seq, p->domain);
		map_iter_free(it);
		return rc;
	}
	*out = it;
	return 0;
}

int map_iter_chain(struct repo *r, const struct chain *c, const char *disk,
		   const struct manifest_disk *extra, struct map_iter **out)
{
	struct map_iter *it = calloc(1, sizeof(*it));
	*out = NULL;
	if (!it)
		return -ENOMEM;
	it->r = r;
	if (c)
		it->c = *c;	/* borrowed */
	it->extra = extra;
	snprintf(it->disk, sizeof(it->disk), "%s", disk);
	int rc = iter_setup(it);
	if (rc < 0) {
		free(it);
		return rc;
	}
	*out = it;
	return 0;
}

uint64_t map_iter_size(const struct map_iter *it)
{
	return it->size;
}

const char *map_iter_disk(const struct map_iter *it)
{
	return it->disk;
}

void map_iter_rewind(struct map_iter *it)
{
	it->next = 0;
}

void map_iter_free(struct map_iter *it)
{
	if (!it)
		return;
	if (it->own_chain)
		chain_release(&it->c);
	free(it->piece.ext);
	free(it->tmp);
	free(it);
}

/* First extent of e[0..n) that ends after lo. */
static size_t first_after(const struct disk_extent *e, size_t n, uint64_t lo)
{
	size_t a = 0, b = n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (e[m].offset + e[m].length <= lo)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/* md's extents within [lo, hi), clipped (only ZERO extents can cross a region's edge:
 * DATA ones never cross a chunk's). */
static int clip(struct map_iter *it, const struct manifest_disk *md, uint64_t lo, uint64_t hi,
		size_t *n)
{
	size_t i = first_after(md->ext, md->n, lo), k = 0;
	for (size_t j = i; j < md->n && md->ext[j].offset < hi; j++)
		k++;
	if (k > it->tmp_cap) {
		struct disk_extent *t = realloc(it->tmp, k * sizeof(*t));
		if (!t)
			return -ENOMEM;
		it->tmp = t;
		it->tmp_cap = k;
	}
	for (size_t j = 0; j < k; j++) {
		struct disk_extent e = md->ext[i + j];
		uint64_t a = MAX(e.offset, lo), z = MIN(e.offset + e.length, hi);
		if (e.kind == EXTENT_DATA && (a != e.offset || z != e.offset + e.length))
			return -EBADMSG;	/* a DATA extent across a region's edge */
		e.offset = a;
		e.length = (uint32_t)(z - a);
		it->tmp[j] = e;
	}
	*n = k;
	return 0;
}

static const struct region_ref *find_region(const struct manifest_disk *md, uint64_t index)
{
	size_t a = 0, b = md->nreg;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (md->reg[m].index < index)
			a = m + 1;
		else
			b = m;
	}
	return a < md->nreg && md->reg[a].index == index ? &md->reg[a] : NULL;
}

/* The full point's map of [lo, hi): its region object, or a slice of its inline map. */
static int base_piece(struct map_iter *it, uint64_t k, uint64_t lo, uint64_t hi, char *err,
		      size_t errlen)
{
	struct disk_map *pc = &it->piece;
	const struct manifest_disk *b = it->base < 0 ? NULL : find_disk(&it->c.m[0], it->disk);
	if (!b)
		return 0;
	if (b->has_regions) {
		const struct region_ref *ref = find_region(b, k);
		return ref ? region_read(it->r, ref, b->size, &pc->ext, &pc->n, err, errlen) : 0;
	}
	size_t i = first_after(b->ext, b->n, lo), j = i;
	while (j < b->n && b->ext[j].offset < hi)
		j++;
	if (!(pc->ext = malloc((j - i + 1) * sizeof(*pc->ext))))
		return -ENOMEM;
	memcpy(pc->ext, b->ext + i, (j - i) * sizeof(*pc->ext));
	pc->n = j - i;
	return 0;
}

/* The changes after the full point, in order: the chain's later points (1..n-1), then
 * extra (i == n, or 0 without a chain: index ndeltas() - 1). */
static size_t ndeltas(const struct map_iter *it)
{
	return (it->c.n ? it->c.n - 1 : 0) + 1;
}

static const struct manifest_disk *delta_at(const struct map_iter *it, size_t i)
{
	if (i + 1 < ndeltas(it))
		return find_disk(&it->c.m[i + 1], it->disk);
	return it->extra;
}

int map_iter_region(struct map_iter *it, uint64_t k, const struct disk_map **out, char *err,
		    size_t errlen)
{
	struct disk_map *pc = &it->piece;
	uint64_t lo = it->rbytes == UINT64_MAX ? 0 : k * it->rbytes;
	uint64_t hi = it->rbytes == UINT64_MAX ? UINT64_MAX : lo + it->rbytes;
	*out = NULL;
	free(pc->ext);
	pc->ext = NULL;
	pc->n = 0;
	int rc = base_piece(it, k, lo, hi, err, errlen);
	for (size_t i = 0; i < ndeltas(it) && rc == 0; i++) {
		const struct manifest_disk *md = delta_at(it, i);
		size_t n;
		if (!md)
			continue;
		if ((rc = clip(it, md, lo, hi, &n)) == 0)
			rc = map_apply(&pc->ext, &pc->n, it->tmp, n, md->size);
	}
	if (rc == 0 && !pc->ext && !(pc->ext = malloc(sizeof(*pc->ext))))
		rc = -ENOMEM;	/* an empty piece is still a piece */
	if (rc < 0) {
		if (err && !err[0])
			repo_err(err, errlen, "disk %s, map region %" PRIu64 ": %s", it->disk, k,
				 strerror(-rc));
		return rc;
	}
	*out = pc;
	return 0;
}

bool map_iter_touched(const struct map_iter *it, uint64_t k)
{
	uint64_t lo = k * it->rbytes, hi = lo + it->rbytes, minsize = UINT64_MAX, base_size = 0;
	const struct manifest_disk *b = it->base < 0 ? NULL : find_disk(&it->c.m[0], it->disk);
	if (!b || !b->has_regions)
		return true;	/* nothing to take as it is */
	base_size = minsize = b->size;
	bool resized = false;
	for (size_t i = 0; i < ndeltas(it); i++) {
		const struct manifest_disk *md = delta_at(it, i);
		if (!md)
			continue;
		size_t j = first_after(md->ext, md->n, lo);
		if (j < md->n && md->ext[j].offset < hi)
			return true;	/* written in the chain or by this point */
		minsize = MIN(minsize, md->size);
		resized |= md->size != base_size;
	}
	/* cut by a smaller size somewhere in the chain (even if it grew again) */
	return resized && minsize < hi && find_region(b, k);
}

int map_iter_next(struct map_iter *it, const struct disk_map **out, char *err, size_t errlen)
{
	*out = NULL;
	if (it->next >= it->nregions)
		return 0;
	int rc = map_iter_region(it, it->next++, out, err, errlen);
	return rc < 0 ? rc : 1;
}

const struct region_ref *map_iter_base_region(const struct map_iter *it, uint64_t k)
{
	const struct manifest_disk *b = it->base < 0 ? NULL : find_disk(&it->c.m[0], it->disk);
	return b && b->has_regions ? find_region(b, k) : NULL;
}

uint64_t map_iter_pieces(const struct map_iter *it)
{
	return it->nregions;
}
