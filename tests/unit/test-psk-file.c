/* The TLS PSK file parser (datapath/psk-file.h): the format psktool writes and qemu and
 * libnbd read, comments and CRLF, and every error with its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "datapath/psk-file.h"
#include "common/banned.h"

static void parse_ok(const char *text, struct psk_list *l)
{
	char why[128] = "";
	int r = psk_file_parse(text, strlen(text), l, why, sizeof why);
	if (r)
		print_error("unexpected error: %s\n", why);
	assert_int_equal(r, 0);
}

static void parse_bad(const char *text, const char *want)
{
	struct psk_list l;
	char why[128] = "";
	assert_int_equal(psk_file_parse(text, strlen(text), &l, why, sizeof why), -1);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	if (!strstr(why, want))
		print_error("'%s' does not contain '%s'\n", why, want);
	assert_non_null(strstr(why, want));
}

static void test_good(void **st)
{
	(void)st;
	struct psk_list l;
	parse_ok("# keys for ferry\r\n\r\nferry:00ff10\r\nqemu user:DEADbeef\n", &l);
	assert_int_equal(l.n, 2);
	const struct psk_entry *e = psk_find(&l, "ferry");
	assert_non_null(e);
	assert_int_equal(e->key_len, 3);
	static const uint8_t k1[] = { 0x00, 0xff, 0x10 };
	assert_memory_equal(e->key, k1, 3);
	e = psk_find(&l, "qemu user");
	assert_non_null(e);
	static const uint8_t k2[] = { 0xde, 0xad, 0xbe, 0xef };
	assert_memory_equal(e->key, k2, 4);
	assert_null(psk_find(&l, "nobody"));
	psk_list_release(&l);
	assert_null(l.v);

	/* the largest key and identity; many entries */
	char big[2000], *p = big;
	memset(p, 'i', 255);
	p += 255;
	*p++ = ':';
	memset(p, 'a', 512);
	p += 512;
	memcpy(p, "\nlast:01", 9);
	parse_ok(big, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].key_len, 256);
	psk_list_release(&l);
}

static void test_errors(void **st)
{
	(void)st;
	parse_bad("", "no identity");
	parse_bad("# only a comment\n\n", "no identity");
	parse_bad("a:00\nnocolon\n", "line 2: expected IDENTITY:HEXKEY");
	parse_bad(":00\n", "line 1: empty identity");
	parse_bad("a:\n", "line 1: the key must be");
	parse_bad("a:123\n", "line 1: the key must be");
	parse_bad("a:0g\n", "line 1: the key is not hexadecimal");
	parse_bad("a:00\n\nb:00\na:11\n", "line 4: duplicate identity");
	parse_bad("a\tb:00\n", "control character");
	parse_bad("a:00\nb:00 \n", "line 2: the key");
	char big[1100];
	memset(big, 'a', 2);
	big[0] = 'a';
	big[1] = ':';
	memset(big + 2, '0', 514);
	big[516] = 0;
	parse_bad(big, "the key must be");
	memset(big, 'i', 256);
	memcpy(big + 256, ":00", 4);
	parse_bad(big, "identity longer than 255 bytes");
	static const char nul[] = "a:00\nb\0:00\n";
	struct psk_list l;
	char why[64];
	assert_int_equal(psk_file_parse(nul, sizeof nul - 1, &l, why, sizeof why), -1);
	assert_non_null(strstr(why, "line 2: NUL byte"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
