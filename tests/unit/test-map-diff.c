/* disk_map_diff: on random pairs of maps (random extents, shared chunks, PART slices,
 * different sizes), applying the diff to a's content gives b's content, and every byte the
 * diff names really differs (nothing unchanged is rewritten). Content is modelled per
 * byte as (chunk tag, chunk offset), zero as a special value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repo/map-diff.h"
#include "common/banned.h"

#define DISK_MAX 4096u
#define ZERO_TAG UINT32_MAX

static uint32_t tag_of(const struct disk_extent *e, uint64_t pos)
{
	return (uint32_t)e->id[0] << 16 | (uint32_t)(e->coff + (pos - e->offset));
}

static void content(const struct disk_map *m, uint32_t *c, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		c[i] = ZERO_TAG;
	for (size_t k = 0; k < m->n; k++)
		for (uint64_t p = m->ext[k].offset; p < m->ext[k].offset + m->ext[k].length; p++)
			if (p < n)
				c[p] = tag_of(&m->ext[k], p);
}

/* A random sorted map: extents of 1..300 bytes with gaps, from 4 chunk tags. */
static void random_map(struct disk_map *m, uint64_t size)
{
	m->size = size;
	m->ext = calloc(DISK_MAX, sizeof(*m->ext));
	m->n = 0;
	uint64_t pos = (uint64_t)(rand() % 50);
	while (pos < size) {
		uint32_t len = (uint32_t)(rand() % 300 + 1);
		if (pos + len > size)
			len = (uint32_t)(size - pos);
		struct disk_extent *e = &m->ext[m->n++];
		memset(e, 0, sizeof(*e));
		e->offset = pos;
		e->length = len;
		e->kind = EXTENT_DATA;
		e->id[0] = (uint8_t)(rand() % 4 + 1);
		e->coff = rand() % 3 == 0 ? (uint32_t)pos : (uint32_t)(rand() % 100);	/* often aligned */
		e->clen = e->coff + len;
		pos += len + (rand() % 3 ? 0u : (uint64_t)(rand() % 200));
	}
}

static void check_pair(const struct disk_map *a, const struct disk_map *b)
{
	uint32_t *ca = malloc(DISK_MAX * sizeof(*ca)), *cb = malloc(DISK_MAX * sizeof(*cb));
	uint32_t *orig = malloc(DISK_MAX * sizeof(*orig));
	struct disk_map *d;
	content(a, ca, DISK_MAX);
	content(b, cb, DISK_MAX);
	for (uint64_t i = a->size; i < DISK_MAX; i++)
		ca[i] = ZERO_TAG;	/* past a's size reads as zero */
	memcpy(orig, ca, DISK_MAX * sizeof(*ca));
	assert_int_equal(disk_map_diff(a, b, &d), 0);
	assert_int_equal(d->size, b->size);
	uint64_t end = 0;
	for (size_t k = 0; k < d->n; k++) {
		const struct disk_extent *e = &d->ext[k];
		assert_true(e->offset >= end);	/* sorted, non-overlapping */
		assert_true(e->length > 0);
		assert_true(e->offset + e->length <= b->size);
		end = e->offset + e->length;
		for (uint64_t p = e->offset; p < end; p++) {
			assert_true(orig[p] != cb[p]);	/* only what differs */
			ca[p] = e->kind == EXTENT_DATA ? tag_of(e, p) : ZERO_TAG;
		}
	}
	for (uint64_t p = 0; p < b->size; p++)
		assert_int_equal(ca[p], cb[p]);
	disk_map_free(d);
	free(ca);
	free(cb);
	free(orig);
}

static void test_random_pairs(void **state)
{
	(void)state;
	srand(7);
	for (int i = 0; i < 2000; i++) {
		struct disk_map a = { 0 }, b = { 0 };
		random_map(&a, (uint64_t)(rand() % DISK_MAX));
		if (rand() % 4 == 0) {	/* b = a with a few changes: the common case */
			random_map(&b, a.size);
			size_t keep = a.n / 2;
			for (size_t k = 0; k < b.n && k < keep; k++)
				if (a.ext[k].offset + a.ext[k].length <= b.size)
					b.ext[k] = a.ext[k];
			/* re-sort by building a valid map: fall back to a's map when overlapping */
			for (size_t k = 1; k < b.n; k++)
				if (b.ext[k].offset < b.ext[k - 1].offset + b.ext[k - 1].length) {
					memcpy(b.ext, a.ext, a.n * sizeof(*a.ext));
					b.n = a.n;
					break;
				}
		} else {
			random_map(&b, (uint64_t)(rand() % DISK_MAX));
		}
		check_pair(&a, &b);
		free(a.ext);
		free(b.ext);
	}
}

static void test_identical_and_empty(void **state)
{
	(void)state;
	struct disk_map a = { 0 }, e = { 0 };
	struct disk_map *d;
	srand(3);
	random_map(&a, 3000);
	assert_int_equal(disk_map_diff(&a, &a, &d), 0);
	assert_int_equal(d->n, 0);	/* nothing changed: nothing to write */
	disk_map_free(d);
	e.size = 3000;
	assert_int_equal(disk_map_diff(&e, &a, &d), 0);	/* from nothing: all of a's data */
	uint64_t sum = 0;
	for (size_t k = 0; k < d->n; k++) {
		assert_int_equal(d->ext[k].kind, EXTENT_DATA);
		sum += d->ext[k].length;
	}
	uint64_t want = 0;
	for (size_t k = 0; k < a.n; k++)
		want += a.ext[k].length;
	assert_int_equal(sum, want);
	disk_map_free(d);
	assert_int_equal(disk_map_diff(&a, &e, &d), 0);	/* to nothing: zero where a had data */
	for (size_t k = 0; k < d->n; k++)
		assert_int_equal(d->ext[k].kind, EXTENT_ZERO);
	disk_map_free(d);
	free(a.ext);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_pairs),
		cmocka_unit_test(test_identical_and_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
