/* Unit tests of the growable-array helper (common/array.h): pushes of any element type
 * keep order and grow geometrically, reserve is idempotent, an impossible size is -ENOMEM
 * with the array left as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/array.h"
#include "common/banned.h"

struct pair {
	uint64_t a;
	char b;
};

static void test_push(void **state)
{
	(void)state;
	struct pair *v = NULL;
	size_t n = 0, cap = 0, grows = 0, last_cap = 0;
	for (uint64_t i = 0; i < 100000; i++) {
		assert_int_equal(ARRAY_PUSH(v, n, cap, ((struct pair){ i, (char)i })), 0);
		if (cap != last_cap)
			grows++, last_cap = cap;
	}
	assert_int_equal(n, 100000);
	assert_true(cap >= n);
	assert_true(grows <= 15);	/* doubling: log2(100000 / 8) + 1 */
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(v[i].a, i);
		assert_int_equal(v[i].b, (char)i);
	}
	free(v);
}

static void test_reserve(void **state)
{
	(void)state;
	int *v = NULL;
	size_t cap = 0;
	assert_int_equal(ARRAY_RESERVE(v, cap, 0), 0);
	assert_null(v);
	assert_int_equal(ARRAY_RESERVE(v, cap, 3), 0);
	assert_int_equal(cap, 8);
	int *before = v;
	assert_int_equal(ARRAY_RESERVE(v, cap, 8), 0);	/* fits: nothing moves */
	assert_ptr_equal(v, before);
	assert_int_equal(ARRAY_RESERVE(v, cap, 9), 0);
	assert_int_equal(cap, 16);
	before = v;
	assert_int_equal(ARRAY_RESERVE(v, cap, SIZE_MAX / 2), -ENOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 16);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push),
		cmocka_unit_test(test_reserve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
