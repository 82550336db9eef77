/* Point builder: see point-builder.h. A hash table keyed by (disk, chunk number) holds, per
 * touched chunk, a small sorted array of pieces. Chunks are small (64 KiB by default) so the
 * per-chunk arrays stay short and the split/replace work is a linear pass over a handful of
 * pieces. */
#include "datapath/point-builder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

struct piece {
	uint32_t off, len;	/* within the chunk */
	uint8_t *data;		/* owned; NULL: zeroes */
};

struct entry {
	uint64_t key;		/* disk << 48 | chunk number; 0 = empty slot (key stored + 1) */
	struct piece *p;
	uint32_t n, cap;
};

struct point_builder {
	uint32_t chunk;
	struct entry *tab;
	size_t cap, used;
	uint64_t bytes, logical;
};

static uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

struct point_builder *pb_new(uint32_t chunk_size)
{
	struct point_builder *pb = calloc(1, sizeof *pb);
	if (!pb)
		return NULL;
	pb->chunk = chunk_size;
	pb->cap = 1024;
	pb->tab = calloc(pb->cap, sizeof *pb->tab);
	if (!pb->tab) {
		free(pb);
		return NULL;
	}
	return pb;
}

void pb_free(struct point_builder *pb)
{
	if (!pb)
		return;
	for (size_t i = 0; i < pb->cap; i++) {
		struct entry *e = &pb->tab[i];
		for (uint32_t j = 0; j < e->n; j++)
			free(e->p[j].data);
		free(e->p);
	}
	free(pb->tab);
	free(pb);
}

static struct entry *find_slot(struct entry *tab, size_t cap, uint64_t key)
{
	size_t i = hash64(key) & (cap - 1);
	while (tab[i].key && tab[i].key != key)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int grow(struct point_builder *pb)
{
	size_t ncap = pb->cap * 2;
	struct entry *nt = calloc(ncap, sizeof *nt);
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < pb->cap; i++)
		if (pb->tab[i].key)
			*find_slot(nt, ncap, pb->tab[i].key) = pb->tab[i];
	free(pb->tab);
	pb->tab = nt;
	pb->cap = ncap;
	return 0;
}

static struct entry *get_entry(struct point_builder *pb, uint64_t key)
{
	if ((pb->used + 1) * 4 > pb->cap * 3 && grow(pb) < 0)
		return NULL;
	struct entry *e = find_slot(pb->tab, pb->cap, key);
	if (!e->key) {
		e->key = key;
		pb->used++;
	}
	return e;
}

static int reserve(struct entry *e, uint32_t need)
{
	if (need <= e->cap)
		return 0;
	uint32_t ncap = e->cap ? e->cap * 2 : 4;
	while (ncap < need)
		ncap *= 2;
	struct piece *np = realloc(e->p, ncap * sizeof *np);
	if (!np)
		return -ENOMEM;
	e->p = np;
	e->cap = ncap;
	return 0;
}

/* Replace [a, b) of the chunk with a new piece (data NULL: zeroes). */
static int put_piece(struct point_builder *pb, struct entry *e, uint32_t a, uint32_t b,
		     const uint8_t *data)
{
	uint8_t *copy = NULL;
	if (data) {
		copy = malloc(b - a);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, b - a);
	}
	/* worst case: one piece split in two, plus the new one */
	if (reserve(e, e->n + 2) < 0) {
		free(copy);
		return -ENOMEM;
	}
	struct piece *out = malloc((e->n + 2) * sizeof *out);
	if (!out) {
		free(copy);
		return -ENOMEM;
	}
	uint32_t n = 0;
	bool placed = false;
	for (uint32_t i = 0; i < e->n; i++) {
		struct piece p = e->p[i];
		uint32_t pe = p.off + p.len;
		if (pe <= a || p.off >= b) {
			if (!placed && p.off >= b) {
				out[n++] = (struct piece){ a, b - a, copy };
				placed = true;
			}
			out[n++] = p;
			continue;
		}
		bool keep_buf = false;
		/* take the whole old piece out of the counters, add back what remains of it */
		if (p.data)
			pb->bytes -= p.len;
		pb->logical -= p.len;
		if (p.off < a) {	/* left remainder keeps the front of the buffer */
			out[n++] = (struct piece){ p.off, a - p.off, p.data };
			keep_buf = true;
			if (p.data)
				pb->bytes += a - p.off;
			pb->logical += a - p.off;
		}
		if (!placed) {
			out[n++] = (struct piece){ a, b - a, copy };
			placed = true;
		}
		if (pe > b) {		/* right remainder gets its own copy */
			uint8_t *r = NULL;
			if (p.data) {
				r = malloc(pe - b);
				if (!r) {
					free(out);
					free(copy);
					return -ENOMEM;
				}
				memcpy(r, p.data + (b - p.off), pe - b);
				pb->bytes += pe - b;
			}
			pb->logical += pe - b;
			out[n++] = (struct piece){ b, pe - b, r };
		}
		if (!keep_buf)
			free(p.data);
	}
	if (!placed)
		out[n++] = (struct piece){ a, b - a, copy };
	memcpy(e->p, out, n * sizeof *out);
	e->n = n;
	free(out);
	if (copy)
		pb->bytes += b - a;
	pb->logical += b - a;
	return 0;
}

int pb_add(struct point_builder *pb, unsigned disk, uint64_t offset, uint64_t length,
	   const void *data)
{
	const uint8_t *src = data;
	while (length) {
		uint64_t chunk_no = offset / pb->chunk;
		uint32_t a = (uint32_t)(offset % pb->chunk);
		uint32_t b = (uint32_t)MIN((uint64_t)pb->chunk, a + length);
		struct entry *e = get_entry(pb, ((uint64_t)disk << 48 | chunk_no) + 1);
		if (!e)
			return -ENOMEM;
		int r = put_piece(pb, e, a, b, src);
		if (r < 0)
			return r;
		offset += b - a;
		length -= b - a;
		if (src)
			src += b - a;
	}
	return 0;
}

uint64_t pb_bytes(const struct point_builder *pb)
{
	return pb->bytes;
}

uint64_t pb_logical(const struct point_builder *pb)
{
	return pb->logical;
}

static int cmp_entry(const void *x, const void *y)
{
	const struct entry *a = *(const struct entry *const *)x, *b = *(const struct entry *const *)y;
	return a->key < b->key ? -1 : a->key > b->key;
}

int pb_emit(struct point_builder *pb, pb_emit_fn *fn, void *arg)
{
	struct entry **order = malloc((pb->used ? pb->used : 1) * sizeof *order);
	if (!order)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < pb->cap; i++)
		if (pb->tab[i].key && pb->tab[i].n)
			order[n++] = &pb->tab[i];
	qsort(order, n, sizeof *order, cmp_entry);

	int r = 0;
	struct pb_piece zrun = { 0 };
	unsigned zdisk = 0;
	bool have_z = false;
	for (size_t i = 0; i < n && !r; i++) {
		uint64_t key = order[i]->key - 1;
		unsigned disk = (unsigned)(key >> 48);
		uint64_t base = (key & ((1ull << 48) - 1)) * pb->chunk;
		for (uint32_t j = 0; j < order[i]->n && !r; j++) {
			const struct piece *p = &order[i]->p[j];
			struct pb_piece out = { base + p->off, p->len, p->data == NULL, p->data };
			if (out.zero && have_z && zdisk == disk &&
			    zrun.offset + zrun.length == out.offset && zrun.length + (uint64_t)out.length <= UINT32_MAX) {
				zrun.length += out.length;
				continue;
			}
			if (have_z) {
				r = fn(arg, zdisk, &zrun);
				have_z = false;
				if (r)
					break;
			}
			if (out.zero) {
				zrun = out;
				zdisk = disk;
				have_z = true;
				continue;
			}
			r = fn(arg, disk, &out);
		}
	}
	if (!r && have_z)
		r = fn(arg, zdisk, &zrun);
	free(order);
	return r;
}
