/* disk_map_diff (contract in map-diff.h).
 *
 * A sweep over both maps at once: at each step, the current position lies in an extent of
 * a or in a gap of a, and likewise for b; the step runs to the nearest boundary of either.
 * The piece is emitted when its two sources differ, merged with the previous emitted piece
 * when that continues it exactly (same chunk, consecutive chunk offsets, or both zero). */
#include "repo/map-diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define ZERO_MAX (1u << 30)

struct out {
	struct disk_extent *v;
	size_t n, cap;
};

static int emit(struct out *o, uint64_t off, uint64_t len, const struct disk_extent *src)
{
	struct disk_extent *l = o->n ? &o->v[o->n - 1] : NULL;
	if (l && l->offset + l->length == off) {
		if (!src && l->kind == EXTENT_ZERO && l->length + len <= ZERO_MAX) {
			l->length += (uint32_t)len;
			return 0;
		}
		if (src && l->kind == EXTENT_DATA && !memcmp(l->id, src->id, CHUNK_ID_LEN) &&
		    l->coff + l->length == src->coff + (off - src->offset)) {
			l->length += (uint32_t)len;
			return 0;
		}
	}
	while (len) {
		uint64_t n = src ? len : MIN(len, (uint64_t)ZERO_MAX);
		if (o->n == o->cap) {
			size_t cap = o->cap ? o->cap * 2 : 64;
			struct disk_extent *v = realloc(o->v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			o->v = v;
			o->cap = cap;
		}
		struct disk_extent *e = &o->v[o->n++];
		memset(e, 0, sizeof(*e));
		e->offset = off;
		e->length = (uint32_t)n;
		if (src) {
			*e = *src;
			e->offset = off;
			e->length = (uint32_t)n;
			e->coff = src->coff + (uint32_t)(off - src->offset);
		} else {
			e->kind = EXTENT_ZERO;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* The extent of m at or after index *i that covers pos, or NULL (then *next is where the
 * next extent starts, or UINT64_MAX). */
static const struct disk_extent *at(const struct disk_map *m, size_t *i, uint64_t pos,
				    uint64_t *next)
{
	while (*i < m->n && m->ext[*i].offset + m->ext[*i].length <= pos)
		(*i)++;
	if (*i < m->n && m->ext[*i].offset <= pos) {
		*next = m->ext[*i].offset + m->ext[*i].length;
		return &m->ext[*i];
	}
	*next = *i < m->n ? m->ext[*i].offset : UINT64_MAX;
	return NULL;
}

static bool same(const struct disk_extent *x, const struct disk_extent *y, uint64_t pos)
{
	if (!x || !y)
		return !x && !y;
	return !memcmp(x->id, y->id, CHUNK_ID_LEN) &&
	       x->coff + (pos - x->offset) == y->coff + (pos - y->offset);
}

int disk_map_diff(const struct disk_map *a, const struct disk_map *b, struct disk_map **outp)
{
	struct disk_map *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	memcpy(m->disk, b->disk, sizeof(m->disk));
	m->size = b->size;
	struct out o = { 0 };
	size_t ia = 0, ib = 0;
	uint64_t pos = 0;
	int rc = 0;
	while (pos < b->size && rc == 0) {
		uint64_t na, nb;
		const struct disk_extent *xa = pos < a->size ? at(a, &ia, pos, &na) : NULL;
		const struct disk_extent *xb = at(b, &ib, pos, &nb);
		if (pos >= a->size)
			na = UINT64_MAX;
		else if (na > a->size)
			na = a->size;
		uint64_t end = MIN(MIN(na, nb), b->size);
		if (xa && xa->kind != EXTENT_DATA)
			xa = NULL;
		if (xb && xb->kind != EXTENT_DATA)
			xb = NULL;
		if (!same(xa, xb, pos))
			rc = emit(&o, pos, end - pos, xb);
		pos = end;
	}
	if (rc < 0) {
		free(o.v);
		free(m);
		return rc;
	}
	m->ext = o.v;
	m->n = o.n;
	*outp = m;
	return 0;
}
