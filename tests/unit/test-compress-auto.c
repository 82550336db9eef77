/* Unit tests for the `compression = auto` rule (repo/compress-auto.c), driven through
 * sequences of points as docs/config.md describes them:
 * - a slow store (uploads dominate) raises the level one step per point up to 9, and it
 *   stays there while the store is slow, whatever share of the rpo the points take;
 * - CPU-bound points that take more than half the rpo lower it to 1, one step at a time;
 * - quiet points (under a quarter of the rpo) raise it to 6 only;
 * - points too small to tell change nothing; a point in between changes nothing;
 * - format 1 switches between igzip-1 and zstd-3 only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "repo/compress-auto.h"
#include "common/banned.h"

#define MS 1000000ull
#define RPO (5000 * MS)

static const struct auto_sample slow_store = { 300 * MS, 4000 * MS, 4500 * MS, RPO };
static const struct auto_sample cpu_late = { 4000 * MS, 500 * MS, 3000 * MS, RPO };
static const struct auto_sample quiet = { 200 * MS, 100 * MS, 600 * MS, RPO };
static const struct auto_sample middle = { 1500 * MS, 400 * MS, 1800 * MS, RPO };
static const struct auto_sample tiny = { 10 * MS, 20 * MS, 4000 * MS, RPO };

static void test_start(void **state)
{
	(void)state;
	struct auto_codec a;
	auto_codec_init(&a, true);
	assert_int_equal(a.type, COMPRESS_ZSTD);
	assert_int_equal(a.level, AUTO_START);
	auto_codec_init(&a, false);
	assert_int_equal(a.type, COMPRESS_IGZIP);
	assert_int_equal(a.level, 1);
}

static void test_slow_store(void **state)
{
	(void)state;
	struct auto_codec a;
	auto_codec_init(&a, true);
	for (int want = AUTO_START + 1; want <= AUTO_MAX; want++) {
		assert_string_equal(auto_codec_next(&a, &slow_store), "upload-bound");
		assert_int_equal(a.level, want);
	}
	/* stays at the top; a late upload-bound point never lowers it */
	assert_null(auto_codec_next(&a, &slow_store));
	assert_int_equal(a.level, AUTO_MAX);
	struct auto_sample late_upload = { 500 * MS, 6000 * MS, 6500 * MS, RPO };
	assert_null(auto_codec_next(&a, &late_upload));
	assert_int_equal(a.level, AUTO_MAX);
	assert_int_equal(a.type, COMPRESS_ZSTD);
}

static void test_cpu_late(void **state)
{
	(void)state;
	struct auto_codec a;
	auto_codec_init(&a, true);
	for (int want = AUTO_START - 1; want >= AUTO_MIN; want--) {
		assert_string_equal(auto_codec_next(&a, &cpu_late), "CPU-bound and late");
		assert_int_equal(a.level, want);
	}
	assert_null(auto_codec_next(&a, &cpu_late));
	assert_int_equal(a.level, AUTO_MIN);
	/* the store turns slow: back up */
	assert_string_equal(auto_codec_next(&a, &slow_store), "upload-bound");
	assert_int_equal(a.level, AUTO_MIN + 1);
}

static void test_headroom(void **state)
{
	(void)state;
	struct auto_codec a;
	auto_codec_init(&a, true);
	for (int want = AUTO_START + 1; want <= AUTO_HEADROOM_MAX; want++) {
		assert_string_equal(auto_codec_next(&a, &quiet), "CPU headroom");
		assert_int_equal(a.level, want);
	}
	assert_null(auto_codec_next(&a, &quiet));
	assert_int_equal(a.level, AUTO_HEADROOM_MAX);
	/* in between: nothing moves; too small to tell: nothing moves */
	assert_null(auto_codec_next(&a, &middle));
	assert_null(auto_codec_next(&a, &tiny));
	assert_int_equal(a.level, AUTO_HEADROOM_MAX);
	/* a burst: down again, one step per late point */
	assert_non_null(auto_codec_next(&a, &cpu_late));
	assert_int_equal(a.level, AUTO_HEADROOM_MAX - 1);
	/* a point with no rpo (0: unknown) is never late nor idle */
	struct auto_sample norpo = cpu_late;
	norpo.rpo_ns = 0;
	assert_null(auto_codec_next(&a, &norpo));
}

static void test_format1(void **state)
{
	(void)state;
	struct auto_codec a;
	auto_codec_init(&a, false);
	assert_string_equal(auto_codec_next(&a, &slow_store), "upload-bound");
	assert_int_equal(a.type, COMPRESS_ZSTD);
	assert_int_equal(a.level, 3);
	assert_null(auto_codec_next(&a, &slow_store));
	assert_string_equal(auto_codec_next(&a, &cpu_late), "CPU-bound");
	assert_int_equal(a.type, COMPRESS_IGZIP);
	assert_int_equal(a.level, 1);
	assert_null(auto_codec_next(&a, &quiet));	/* no headroom steps in format 1 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start), cmocka_unit_test(test_slow_store),
		cmocka_unit_test(test_cpu_late), cmocka_unit_test(test_headroom),
		cmocka_unit_test(test_format1),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
