/* Unit tests of the text-number helpers (common/strnum.h): decimal limits and junk, hex
 * both ways and both cases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/strnum.h"
#include "common/banned.h"

static void test_u64(void **state)
{
	(void)state;
	uint64_t v = 7;
	assert_true(parse_u64_str("0", &v));
	assert_int_equal(v, 0);
	assert_true(parse_u64_str("18446744073709551615", &v));
	assert_true(v == UINT64_MAX);
	assert_false(parse_u64_str("18446744073709551616", &v));	/* overflow */
	assert_false(parse_u64_str("99999999999999999999", &v));
	assert_false(parse_u64_str("", &v));
	assert_false(parse_u64_str("-1", &v));
	assert_false(parse_u64_str("+1", &v));
	assert_false(parse_u64_str(" 1", &v));
	assert_false(parse_u64_str("1x", &v));
	assert_false(parse_u64_str("000000000000000000001", &v));	/* 21 digits */
	assert_true(parse_u64("123abc", 3, &v));	/* only n bytes are read */
	assert_int_equal(v, 123);
}

static void test_hex(void **state)
{
	(void)state;
	const uint8_t in[] = { 0x00, 0x01, 0xab, 0xff, 0x7f };
	char out[11];
	uint8_t back[5];
	hex_encode(in, sizeof in, out);
	assert_string_equal(out, "0001abff7f");
	assert_int_equal(hex_decode("0001ABff7F", 5, back), 0);
	assert_memory_equal(back, in, sizeof in);
	assert_int_equal(hex_decode("0g", 1, back), -EINVAL);
	assert_int_equal(hex_digit('a'), 10);
	assert_int_equal(hex_digit('F'), 15);
	assert_int_equal(hex_digit('9'), 9);
	assert_int_equal(hex_digit('x'), -1);
	hex_encode(in, 0, out);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
