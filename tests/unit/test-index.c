/* Unit tests for the in-memory chunk index (repo/index-table.c) and the writer's index
 * deltas (repo/index.c index_delta_put):
 * - 200,000 random ids: every one found with its location, 200,000 others not, re-adding
 *   keeps the first location, claim tells new from present, iteration is in the order
 *   added;
 * - ids that share their first 12 bytes (same home slot, same tag) stay distinct;
 * - remove_if drops the entries of some packs, hands them to dropped, keeps the others
 *   (findable, in order), and the table grows again after;
 * - all of the above again with the records spilled to a scratch file past 5000 entries
 *   (index_spill_to), which leaves no file in the directory; a directory that cannot be
 *   used leaves the table in RAM;
 * - merge; an offset past 32 bits is refused (-EOVERFLOW), nothing added;
 * - deltas: split per N entries, sorted by location across the parts, decoding back to
 *   the same entries, from a table in RAM and from a spilled one; version 1 refuses a
 *   chunk inside a frame. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

#define N 200000u
static void *null_state;
#define NULL_STATE (&null_state)

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void rand_id(uint8_t id[CHUNK_ID_LEN])
{
	for (int i = 0; i < CHUNK_ID_LEN; i += 8)
		put_le64(id + i, next());
}

/* Location of entry i: pack i / 100, increasing offsets. */
static void loc_of(size_t i, struct chunk_loc *l)
{
	memset(l, 0, sizeof(*l));
	put_le64(l->pack, i / 100 + 1);
	l->off = (i % 100) * 4096;
	l->blob_len = 1000 + (uint32_t)(i % 7);
	l->foff = (uint32_t)(i % 3) * 256;
	l->plain_len = 256;
}

static bool loc_eq(const struct chunk_loc *a, const struct chunk_loc *b)
{
	return !memcmp(a->pack, b->pack, PACK_ID_LEN) && a->off == b->off &&
	       a->blob_len == b->blob_len && a->foff == b->foff && a->plain_len == b->plain_len;
}

static uint8_t (*ids)[CHUNK_ID_LEN];

static int setup(void **state)
{
	(void)state;
	ids = malloc(N * sizeof(*ids));
	for (size_t i = 0; ids && i < N; i++)
		rand_id(ids[i]);
	return ids ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(ids);
	return 0;
}

static char spill_dir[] = "/tmp/test-index.XXXXXX";

/* state: NULL for a table in RAM, else the spill directory (spill past 5000 entries) */
static void init(struct chunk_index *ix, void **state)
{
	assert_int_equal(index_init(ix), 0);
	if (*state)
		assert_int_equal(index_spill_to(ix, *state, 5000), 0);
}

static void fill(struct chunk_index *ix, void **state)
{
	init(ix, state);
	for (size_t i = 0; i < N; i++) {
		struct chunk_loc l;
		loc_of(i, &l);
		assert_int_equal(index_claim(ix, ids[i], &l), 1);
	}
	assert_int_equal(ix->n, N);
}

struct order_ctx {
	size_t i;
	bool ok;
};

static void check_order(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	struct order_ctx *o = arg;
	struct chunk_loc l;
	loc_of(o->i, &l);
	o->ok = o->ok && !memcmp(id, ids[o->i], CHUNK_ID_LEN) && loc_eq(loc, &l);
	o->i++;
}

static void test_add_lookup(void **state)
{
	struct chunk_index ix;
	fill(&ix, state);
	assert_int_equal(ix.fd >= 0, *state != NULL);
	for (size_t i = 0; i < N; i++) {
		struct chunk_loc got, want;
		loc_of(i, &want);
		assert_true(index_lookup(&ix, ids[i], &got));
		assert_true(loc_eq(&got, &want));
		/* a second location is ignored */
		struct chunk_loc other = want;
		other.off += 1;
		assert_int_equal(index_claim(&ix, ids[i], &other), 0);
		assert_int_equal(index_add(&ix, ids[i], &other), 0);
	}
	assert_int_equal(ix.n, N);
	for (size_t i = 0; i < N; i++) {
		uint8_t id[CHUNK_ID_LEN];
		rand_id(id);
		assert_false(index_lookup(&ix, id, NULL));
	}
	struct order_ctx o = { 0, true };
	assert_int_equal(index_each(&ix, check_order, &o), 0);
	assert_int_equal(o.i, N);
	assert_true(o.ok);
	/* load <= 3/4 */
	assert_true(ix.n * 4 <= ix.cap * 3);
	index_release(&ix);
}

static void test_same_prefix(void **state)
{
	struct chunk_index ix;
	init(&ix, state);
	assert_int_equal(index_spill_to(&ix, *state ? *state : "/tmp", 10), 0);
	uint8_t id[CHUNK_ID_LEN];
	rand_id(id);
	for (unsigned k = 0; k < 50; k++) {	/* same slot, same tag: only byte 31 differs */
		struct chunk_loc l;
		loc_of(k, &l);
		id[31] = (uint8_t)k;
		assert_int_equal(index_claim(&ix, id, &l), 1);
	}
	for (unsigned k = 0; k < 60; k++) {
		struct chunk_loc got, want;
		loc_of(k, &want);
		id[31] = (uint8_t)k;
		assert_int_equal(index_lookup(&ix, id, &got), k < 50);
		if (k < 50)
			assert_true(loc_eq(&got, &want));
	}
	index_release(&ix);
}

/* Packs with an odd number are dropped. */
static bool odd_pack(void *arg, const struct chunk_loc *loc)
{
	(*(size_t *)arg)++;
	return get_le64(loc->pack) & 1;
}

static void test_remove_if(void **state)
{
	struct chunk_index ix, dropped;
	size_t calls = 0, kept = 0;
	fill(&ix, state);
	assert_int_equal(index_init(&dropped), 0);
	assert_int_equal(index_remove_if(&ix, odd_pack, &calls, &dropped), 0);
	for (size_t i = 0; i < N; i++)
		kept += !((i / 100 + 1) & 1);
	assert_int_equal(ix.n, kept);
	assert_int_equal(dropped.n, N - kept);
	size_t j = 0;
	for (size_t i = 0; i < N; i++) {
		struct chunk_loc got, want;
		loc_of(i, &want);
		bool odd = (i / 100 + 1) & 1;
		assert_int_equal(index_lookup(&ix, ids[i], &got), !odd);
		assert_int_equal(index_lookup(&dropped, ids[i], NULL), odd);
		if (!odd && !*state) {	/* the records kept their order */
			assert_memory_equal(index_rec_at(&ix, j)->id, ids[i], CHUNK_ID_LEN);
			assert_true(loc_eq(&got, &want));
			j++;
		}
	}
	/* nothing to drop: unchanged */
	assert_int_equal(index_remove_if(&ix, odd_pack, &calls, NULL), 0);
	assert_int_equal(ix.n, kept);
	/* it grows again: the dropped come back through merge */
	assert_int_equal(index_merge(&ix, &dropped), 0);
	assert_int_equal(ix.n, N);
	for (size_t i = 0; i < N; i++)
		assert_true(index_lookup(&ix, ids[i], NULL));
	index_release(&dropped);
	index_release(&ix);
}

static void test_overflow(void **state)
{
	(void)state;
	struct chunk_index ix;
	assert_int_equal(index_init(&ix), 0);
	struct chunk_loc l;
	loc_of(0, &l);
	l.off = (uint64_t)UINT32_MAX + 1;
	assert_int_equal(index_add(&ix, ids[0], &l), -EOVERFLOW);
	assert_false(index_lookup(&ix, ids[0], NULL));
	assert_int_equal(ix.n, 0);
	index_release(&ix);
}

struct parts {
	size_t nparts, n;
	bool sorted;
	struct chunk_loc last;
	struct chunk_index back;
};

static int back_add(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	struct parts *p = arg;
	if (p->n) {
		int c = memcmp(p->last.pack, loc->pack, PACK_ID_LEN);
		p->sorted = p->sorted && (c < 0 || (c == 0 && (p->last.off < loc->off ||
				(p->last.off == loc->off && p->last.foff < loc->foff))));
	}
	p->last = *loc;
	p->n++;
	return index_add(&p->back, id, loc);
}

static int take_part(void *arg, const void *plain, size_t len)
{
	struct parts *p = arg;
	p->nparts++;
	return index_delta_decode(plain, len, back_add, p);
}

static void test_delta_parts(void **state)
{
	struct chunk_index ix;
	fill(&ix, NULL_STATE);
	struct parts p = { .sorted = true };
	assert_int_equal(index_init(&p.back), 0);
	assert_int_equal(index_delta_put(&ix, 2, 30000, take_part, &p), 0);
	assert_int_equal(p.nparts, (N + 29999) / 30000);
	assert_int_equal(p.n, N);
	assert_true(p.sorted);
	for (size_t i = 0; i < N; i++) {
		struct chunk_loc got, want;
		loc_of(i, &want);
		assert_true(index_lookup(&p.back, ids[i], &got));
		assert_true(loc_eq(&got, &want));
	}
	index_release(&p.back);
	/* version 1: no chunk inside a frame; a bad part size */
	assert_int_equal(index_init(&p.back), 0);
	assert_int_equal(index_delta_put(&ix, 1, 1000, take_part, &p), -EINVAL);
	assert_int_equal(index_delta_put(&ix, 2, 0, take_part, &p), -EINVAL);
	index_release(&p.back);
	index_release(&ix);
	/* a spilled table: read run by run (one per pack here), sorted all the same */
	fill(&ix, state);
	assert_null(index_rec_at(&ix, 0));
	memset(&p, 0, sizeof(p));
	p.sorted = true;
	assert_int_equal(index_init(&p.back), 0);
	assert_int_equal(index_delta_put(&ix, 2, 30000, take_part, &p), 0);
	assert_int_equal(p.nparts, (N + 29999) / 30000);
	assert_int_equal(p.n, N);
	assert_true(p.sorted);
	for (size_t i = 0; i < N; i++)
		assert_true(index_lookup(&p.back, ids[i], NULL));
	index_release(&p.back);
	index_release(&ix);
	/* an empty index: no object */
	assert_int_equal(index_init(&ix), 0);
	p.nparts = 0;
	assert_int_equal(index_delta_put(&ix, 2, 10, take_part, &p), 0);
	assert_int_equal(p.nparts, 0);
	index_release(&ix);
}

/* A spill directory that cannot be used: the table stays in RAM, whole. */
static void test_spill_fails(void **state)
{
	(void)state;
	struct chunk_index ix;
	assert_int_equal(index_init(&ix), 0);
	assert_int_equal(index_spill_to(&ix, "/nonexistent/ferry-test", 100), 0);
	for (size_t i = 0; i < 10000; i++) {
		struct chunk_loc l;
		loc_of(i, &l);
		assert_int_equal(index_add(&ix, ids[i], &l), 0);
	}
	assert_int_equal(ix.fd, -1);
	for (size_t i = 0; i < 10000; i++)
		assert_true(index_lookup(&ix, ids[i], NULL));
	index_release(&ix);
}

/* The spill directory is empty: the scratch files were unlinked from the start. */
static void test_no_file_left(void **state)
{
	struct chunk_index ix;
	fill(&ix, state);
	DIR *d = opendir(*state);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 0);
	index_release(&ix);
}

int main(void)
{
	if (!mkdtemp(spill_dir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_lookup),
		cmocka_unit_test(test_same_prefix),
		cmocka_unit_test(test_remove_if),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_spill_fails),
		cmocka_unit_test_prestate(test_add_lookup, spill_dir),
		cmocka_unit_test_prestate(test_same_prefix, spill_dir),
		cmocka_unit_test_prestate(test_remove_if, spill_dir),
		cmocka_unit_test_prestate(test_delta_parts, spill_dir),
		cmocka_unit_test_prestate(test_no_file_left, spill_dir),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);
	rmdir(spill_dir);
	return rc;
}
