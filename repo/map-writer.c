/* A full point's split map of one disk (format 2: docs/repo-format.md section 16).
 *
 * A full point lists, per disk, one reference per region that holds data. A region that
 * nothing changed since the previous full point (no point of the chain, nor this one,
 * wrote in it, and no size change cut it) keeps that point's reference: its object is
 * not read, rebuilt or written again. Only the regions the chain touched are rebuilt
 * (the full point's region object, then each later point's extents in the region) and
 * stored as new objects, named by their id like chunks, so a rebuilt region that comes
 * out the same as an existing one (a write of the same data) costs nothing. So a full
 * point's metadata grows with what its chain changed, not with the disk, and holds one
 * region in memory at a time. The point being written may hand its own extents over one
 * region at a time too (a feed: the point writer's spilled runs), so that a seed of a huge
 * disk never holds its whole map either. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* Append ref to *out. */
static int push(struct region_ref **out, size_t *n, size_t *cap, const struct region_ref *ref)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct region_ref *v = realloc(*out, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		*out = v;
		*cap = c;
	}
	(*out)[(*n)++] = *ref;
	return 0;
}

int map_full_regions(struct repo *r, const struct chain *c, const char *disk,
		     struct manifest_disk *extra, const struct region_feed *feed,
		     const struct region_sink *sink,
		     struct region_ref **out, size_t *nout, uint64_t *size, char *err,
		     size_t errlen)
{
	struct map_iter *it;
	struct dbuf b = DBUF_INIT(REPO_META_MAX);
	size_t cap = 0;
	*out = NULL;
	*nout = 0;
	int rc = map_iter_chain(r, c, disk, extra, &it);
	if (rc < 0)
		return rc;
	*size = map_iter_size(it);
	uint64_t n = map_iter_pieces(it);
	for (uint64_t k = 0; k < n && rc == 0; k++) {
		struct region_ref ref = { .index = k };
		const struct region_ref *old;
		const struct disk_map *pc;
		if (feed && (rc = feed->load(feed->arg, k, extra)) < 0)
			break;
		if (!map_iter_touched(it, k)) {
			if ((old = map_iter_base_region(it, k)))
				rc = push(out, nout, &cap, old);
			continue;
		}
		if ((rc = map_iter_region(it, k, &pc, err, errlen)) < 0 || pc->n == 0)
			continue;	/* (a region without data has no object) */
		dbuf_reset(&b);
		if ((rc = region_encode(k, pc->ext, pc->n, &b)) < 0)
			break;
		ref.plain_len = (uint32_t)b.len;
		if ((rc = sink->store(sink->arg, b.data, b.len, ref.id)) == 0)
			rc = push(out, nout, &cap, &ref);
	}
	dbuf_release(&b);
	map_iter_free(it);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*nout = 0;
	}
	return rc;
}
