/* Point builder: random writes and zero extents over two disks, checked against a byte
 * model; coalescing (overwrites replace, counters exact) and emission order/merging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "datapath/point-builder.h"

#define DISK_SIZE (1u << 20)
#define CHUNK 4096u

/* model: per byte 0 = untouched, 1 = zero, 2 = data (value in content) */
static uint8_t state[2][DISK_SIZE], content[2][DISK_SIZE];
static uint8_t seen[2][DISK_SIZE], seen_val[2][DISK_SIZE];
static uint64_t last_end[2];
static int emitted_zero_runs;

static int collect(void *arg, unsigned disk, const struct pb_piece *p)
{
	(void)arg;
	assert_true(disk < 2);
	assert_true(p->offset >= last_end[disk]);	/* sorted, non-overlapping */
	last_end[disk] = p->offset + p->length;
	if (!p->zero) {
		assert_true(p->offset / CHUNK == (p->offset + p->length - 1) / CHUNK);
		assert_non_null(p->data);
	} else {
		emitted_zero_runs++;
	}
	for (uint32_t i = 0; i < p->length; i++) {
		seen[disk][p->offset + i] = p->zero ? 1 : 2;
		seen_val[disk][p->offset + i] = p->zero ? 0 : p->data[i];
	}
	return 0;
}

static void test_random_against_model(void **st)
{
	(void)st;
	srand(42);
	struct point_builder *pb = pb_new(CHUNK);
	assert_non_null(pb);
	uint8_t *buf = malloc(3 * CHUNK);
	for (int op = 0; op < 4000; op++) {
		unsigned disk = (unsigned)rand() % 2;
		uint64_t len = 1 + (uint64_t)rand() % (3 * CHUNK);
		uint64_t off = (uint64_t)rand() % (DISK_SIZE - len);
		bool zero = rand() % 5 == 0;
		for (uint64_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		assert_int_equal(pb_add(pb, disk, off, len, zero ? NULL : buf), 0);
		for (uint64_t i = 0; i < len; i++) {
			state[disk][off + i] = zero ? 1 : 2;
			content[disk][off + i] = zero ? 0 : buf[i];
		}
	}
	uint64_t data = 0, logical = 0;
	for (int d = 0; d < 2; d++)
		for (uint32_t i = 0; i < DISK_SIZE; i++) {
			data += state[d][i] == 2;
			logical += state[d][i] != 0;
		}
	assert_int_equal(pb_bytes(pb), data);
	assert_int_equal(pb_logical(pb), logical);
	assert_int_equal(pb_emit(pb, collect, NULL), 0);
	assert_memory_equal(seen, state, sizeof state);
	assert_memory_equal(seen_val, content, sizeof content);
	pb_free(pb);
	free(buf);
}

static int stop_at_two(void *arg, unsigned disk, const struct pb_piece *p)
{
	(void)disk;
	(void)p;
	int *n = arg;
	return ++*n == 2 ? -42 : 0;
}

static void test_zero_merge_and_stop(void **st)
{
	(void)st;
	struct point_builder *pb = pb_new(CHUNK);
	uint8_t d[100];
	memset(d, 7, sizeof d);
	assert_int_equal(pb_add(pb, 0, 0, 10 * CHUNK, NULL), 0);	/* one zero run over 10 chunks */
	assert_int_equal(pb_add(pb, 0, 20 * CHUNK, 100, d), 0);
	assert_int_equal(pb_add(pb, 0, 20 * CHUNK, 100, NULL), 0);	/* TRIM after write: no data */
	assert_int_equal(pb_bytes(pb), 0);
	memset(last_end, 0, sizeof last_end);
	memset(seen, 0, sizeof seen);
	emitted_zero_runs = 0;
	assert_int_equal(pb_emit(pb, collect, NULL), 0);
	assert_int_equal(emitted_zero_runs, 2);
	int n = 0;
	assert_int_equal(pb_add(pb, 1, 0, 50, d), 0);
	assert_int_equal(pb_emit(pb, stop_at_two, &n), -42);
	pb_free(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_zero_merge_and_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
