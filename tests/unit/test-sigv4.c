/* SigV4 signer against the published AWS S3 examples (example keys AKIAIOSFODNN7EXAMPLE,
 * 20130524T000000Z, us-east-1, host examplebucket.s3.amazonaws.com): the expected
 * signatures are the documented values; the requests are built here through the API.
 * Also: URI/query encoding, sorting, trimming and the Authorization header's shape. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "repo/s3-sigv4.h"
#include "common/banned.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DATE "20130524T000000Z"
#define HOST "examplebucket.s3.amazonaws.com"

static const struct sigv4_creds creds = {
	.access_key = "AKIAIOSFODNN7EXAMPLE",
	.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	.region = "us-east-1",
	.service = "s3",
};

static const char *sig_of(const char *auth)
{
	const char *s = strstr(auth, "Signature=");
	assert_non_null(s);
	return s + strlen("Signature=");
}

static void test_get_object_range(void **state)
{
	(void)state;
	/* given out of order on purpose: the signer sorts */
	const struct sigv4_kv h[] = {
		{ "x-amz-date", DATE },
		{ "range", "bytes=0-9" },
		{ "host", HOST },
		{ "x-amz-content-sha256", EMPTY_SHA },
	};
	struct sigv4_request r = { "GET", "/test.txt", NULL, 0, h, 4, EMPTY_SHA };
	char *creq = sigv4_canonical_request(&r);
	assert_non_null(creq);
	assert_string_equal(creq,
		"GET\n/test.txt\n\n"
		"host:" HOST "\nrange:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA "\n"
		"x-amz-date:" DATE "\n\nhost;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
	char hash[SIGV4_HASH_HEX];
	sigv4_sha256_hex(creq, strlen(creq), hash);
	/* the documented hash of this canonical request */
	assert_string_equal(hash, "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	free(creq);

	char auth[512];
	assert_int_equal(sigv4_sign(&r, &creds, DATE, auth, sizeof(auth)), 0);
	assert_string_equal(auth,
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* one byte of the secret changes everything */
	struct sigv4_creds bad = creds;
	bad.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ";
	assert_int_equal(sigv4_sign(&r, &bad, DATE, auth, sizeof(auth)), 0);
	assert_string_not_equal(sig_of(auth),
				"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* too small an output buffer */
	assert_int_equal(sigv4_sign(&r, &creds, DATE, auth, 40), -ENOSPC);
	assert_int_equal(sigv4_sign(&r, &creds, "2013-05-24", auth, sizeof(auth)), -EINVAL);
}

static void test_list_objects(void **state)
{
	(void)state;
	const struct sigv4_kv h[] = {
		{ "host", HOST },
		{ "x-amz-content-sha256", EMPTY_SHA },
		{ "x-amz-date", DATE },
	};
	const struct sigv4_kv q[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct sigv4_request r = { "GET", "/", q, 2, h, 3, EMPTY_SHA };
	char auth[512];
	assert_int_equal(sigv4_sign(&r, &creds, DATE, auth, sizeof(auth)), 0);
	assert_string_equal(sig_of(auth),
			    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	assert_non_null(strstr(auth, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
}

static void test_put_object(void **state)
{
	(void)state;
	const char *body = "Welcome to Amazon S3.";
	char ph[SIGV4_HASH_HEX];
	sigv4_sha256_hex(body, strlen(body), ph);
	assert_string_equal(ph, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	char *u = sigv4_uri_encode("/test$file.text", 1);
	assert_string_equal(u, "/test%24file.text");
	const struct sigv4_kv h[] = {
		{ "date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "host", HOST },
		{ "x-amz-content-sha256", ph },
		{ "x-amz-date", DATE },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	};
	struct sigv4_request r = { "PUT", u, NULL, 0, h, 5, ph };
	char auth[512];
	assert_int_equal(sigv4_sign(&r, &creds, DATE, auth, sizeof(auth)), 0);
	assert_string_equal(sig_of(auth),
			    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	free(u);
}

static void test_encoding(void **state)
{
	(void)state;
	char *s = sigv4_uri_encode("a b/c+d=e~f_g.h-i%", 0);
	assert_string_equal(s, "a%20b%2Fc%2Bd%3De~f_g.h-i%25");
	free(s);
	s = sigv4_uri_encode("dir/ob j", 1);
	assert_string_equal(s, "dir/ob%20j");
	free(s);
	s = sigv4_uri_encode("\xc3\xa9", 0);
	assert_string_equal(s, "%C3%A9");
	free(s);

	const struct sigv4_kv q[] = {
		{ "prefix", "a/b" }, { "uploads", NULL }, { "list-type", "2" },
		{ "continuation-token", "1/xy+z==" }, { "a", "2" }, { "a", "1" },
	};
	s = sigv4_canonical_query(q, 6);
	assert_string_equal(s, "a=1&a=2&continuation-token=1%2Fxy%2Bz%3D%3D&list-type=2&"
			    "prefix=a%2Fb&uploads=");
	free(s);
	s = sigv4_canonical_query(NULL, 0);
	assert_string_equal(s, "");
	free(s);

	/* header values: trimmed, inner runs collapsed */
	const struct sigv4_kv h[] = { { "x-amz-meta-a", "  one   two\tthree  " } };
	struct sigv4_request r = { "GET", "", NULL, 0, h, 1, EMPTY_SHA };
	s = sigv4_canonical_request(&r);
	assert_string_equal(s, "GET\n/\n\nx-amz-meta-a:one two three\n\nx-amz-meta-a\n" EMPTY_SHA);
	free(s);

	char d[SIGV4_DATE_LEN];
	sigv4_amz_date(1369353600, d);	/* 2013-05-24 00:00:00 UTC */
	assert_string_equal(d, DATE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_object_range),
		cmocka_unit_test(test_list_objects),
		cmocka_unit_test(test_put_object),
		cmocka_unit_test(test_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
