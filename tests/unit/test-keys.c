/* Unit tests for the key file and the wrapped repository keys: creation (mode 0600, never
 * overwriting), loading (strict content, the too-open warning), wrap/unwrap round trips,
 * wrong master key (-EKEYREJECTED), corruption of every byte of a wrapped record, and a
 * golden version-1 record (below) that every later version must still unwrap. Files live in
 * a fresh temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "repo/keys.h"
#include "common/secret.h"
#include "common/banned.h"

static char tmpdir[64];

static void tpath(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_text(const char *path, const char *text, size_t len, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, text, len), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ferry-test-keys.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- key file ---- */

static void test_key_file_create(void **state)
{
	(void)state;
	char path[128], text[80];
	uint8_t key[KEY_LEN], key2[KEY_LEN], zero[KEY_LEN] = { 0 };
	struct stat st;
	bool too_open = true;

	tpath(path, sizeof path, "store.key");
	mode_t old = umask(0);	/* the mode must not depend on the umask */
	assert_int_equal(key_file_create(path, key), 0);
	umask(old);
	assert_memory_not_equal(key, zero, KEY_LEN);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, KEY_FILE_LEN);

	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof text, f);
	fclose(f);
	assert_int_equal(n, KEY_FILE_LEN);
	assert_int_equal(text[64], '\n');
	for (int i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", text[i]));

	assert_int_equal(key_file_load(path, key2, &too_open), 0);
	assert_false(too_open);
	assert_memory_equal(key, key2, KEY_LEN);

	/* never overwritten */
	assert_int_equal(key_file_create(path, key2), -EEXIST);
	assert_int_equal(key_file_load(path, key2, NULL), 0);
	assert_memory_equal(key, key2, KEY_LEN);

	/* a second key file is a different key */
	tpath(path, sizeof path, "other.key");
	assert_int_equal(key_file_create(path, key2), 0);
	assert_memory_not_equal(key, key2, KEY_LEN);

	/* no directory: an error, and nothing left behind */
	tpath(path, sizeof path, "missing/dir.key");
	assert_int_equal(key_file_create(path, key2), -ENOENT);
}

static void test_key_file_load(void **state)
{
	(void)state;
	char path[128];
	uint8_t key[KEY_LEN], want[KEY_LEN];
	bool too_open;
	const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

	for (unsigned i = 0; i < KEY_LEN; i++)
		want[i] = (uint8_t)i;
	tpath(path, sizeof path, "k");

	write_text(path, hex, 64, 0600);	/* no newline: accepted */
	assert_int_equal(key_file_load(path, key, &too_open), 0);
	assert_memory_equal(key, want, KEY_LEN);
	assert_false(too_open);

	char upper[66];
	for (int i = 0; i < 64; i++)
		upper[i] = (hex[i] >= 'a') ? (char)(hex[i] - 32) : hex[i];
	upper[64] = '\n';
	write_text(path, upper, 65, 0644);	/* upper case; readable by others */
	too_open = false;
	assert_int_equal(key_file_load(path, key, &too_open), 0);
	assert_memory_equal(key, want, KEY_LEN);
	assert_true(too_open);
	write_text(path, upper, 65, 0640);
	assert_int_equal(key_file_load(path, key, &too_open), 0);
	assert_true(too_open);
	write_text(path, upper, 65, 0400);
	assert_int_equal(key_file_load(path, key, &too_open), 0);
	assert_false(too_open);

	char bad[80];
	static const struct {
		const char *what;
		size_t len;
	} bads[] = { { "empty", 0 },  { "63 digits", 63 }, { "65 digits", 65 },
		     { "CRLF", 66 },   { "space", 65 },	   { "two newlines", 66 },
		     { "non-hex", 65 } };
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		memset(bad, 'a', sizeof bad);
		if (i == 3) {
			bad[64] = '\r';
			bad[65] = '\n';
		} else if (i == 4) {
			bad[64] = ' ';
		} else if (i == 5) {
			bad[64] = '\n';
			bad[65] = '\n';
		} else if (i == 6) {
			bad[17] = 'g';
			bad[64] = '\n';
		}
		write_text(path, bad, bads[i].len, 0600);
		print_message("bad key file: %s\n", bads[i].what);
		assert_int_equal(key_file_load(path, key, NULL), -EINVAL);
	}
	assert_int_equal(key_file_load(tmpdir, key, NULL), -EINVAL);	/* a directory */
	tpath(path, sizeof path, "nonexistent");
	assert_int_equal(key_file_load(path, key, NULL), -ENOENT);
}

/* ---- wrapped keys ---- */

static void fixed(uint8_t *p, uint8_t base)
{
	for (unsigned i = 0; i < KEY_LEN; i++)
		p[i] = (uint8_t)(base + i);
}

static void test_generate(void **state)
{
	(void)state;
	struct repo_keys a, b;
	assert_int_equal(keys_generate(&a), 0);
	assert_int_equal(keys_generate(&b), 0);
	assert_memory_not_equal(a.data_key, b.data_key, KEY_LEN);
	assert_memory_not_equal(a.id_key, b.id_key, KEY_LEN);
	assert_memory_not_equal(a.data_key, a.id_key, KEY_LEN);
	secret_wipe(&a, sizeof a);
	for (size_t i = 0; i < sizeof a; i++)
		assert_int_equal(((uint8_t *)&a)[i], 0);
}

static void test_wrap_roundtrip(void **state)
{
	(void)state;
	uint8_t master[KEY_LEN], other[KEY_LEN], w1[KEYS_WRAPPED_LEN], w2[KEYS_WRAPPED_LEN];
	struct repo_keys k, got, zero;

	memset(&zero, 0, sizeof zero);
	fixed(master, 0x40);
	fixed(other, 0x41);
	assert_int_equal(keys_generate(&k), 0);
	assert_int_equal(keys_wrap(master, k.data_key, k.id_key, w1), 0);
	assert_int_equal(keys_wrap(master, k.data_key, k.id_key, w2), 0);
	assert_memory_not_equal(w1, w2, KEYS_WRAPPED_LEN);	/* fresh nonce */
	/* the keys do not appear in the record */
	assert_null(memmem(w1, sizeof w1, k.data_key, 8));
	assert_null(memmem(w1, sizeof w1, k.id_key, 8));

	assert_int_equal(keys_unwrap(master, w1, sizeof w1, &got), 0);
	assert_memory_equal(&got, &k, sizeof k);
	assert_int_equal(keys_unwrap(master, w2, sizeof w2, &got), 0);
	assert_memory_equal(&got, &k, sizeof k);

	/* the wrong key file */
	assert_int_equal(keys_unwrap(other, w1, sizeof w1, &got), -EKEYREJECTED);
	assert_memory_equal(&got, &zero, sizeof got);
	master[31] ^= 0x80;
	assert_int_equal(keys_unwrap(master, w1, sizeof w1, &got), -EKEYREJECTED);
	master[31] ^= 0x80;

	/* wrong lengths */
	assert_int_equal(keys_unwrap(master, w1, sizeof w1 - 1, &got), -EBADMSG);
	assert_int_equal(keys_unwrap(master, w1, 0, &got), -EBADMSG);
}

/* Every byte of the record, corrupted, with the right master key. */
static void test_wrap_corrupt(void **state)
{
	(void)state;
	uint8_t master[KEY_LEN], other[KEY_LEN], w[KEYS_WRAPPED_LEN];
	struct repo_keys k, got, zero;

	memset(&zero, 0, sizeof zero);
	fixed(master, 0x40);
	fixed(other, 0x41);
	assert_int_equal(keys_generate(&k), 0);
	assert_int_equal(keys_wrap(master, k.data_key, k.id_key, w), 0);
	for (size_t i = 0; i < KEYS_WRAPPED_LEN; i++) {
		w[i] ^= 0x04;
		int r = keys_unwrap(master, w, sizeof w, &got);
		if (i < 4) {			/* magic */
			assert_int_equal(r, -EBADMSG);
		} else if (i < 8) {		/* version, algorithm, reserved */
			assert_int_equal(r, -EPROTO);
		} else if (i < 16) {		/* key check: a diagnostic only */
			assert_int_equal(r, 0);
			assert_memory_equal(&got, &k, sizeof k);
			assert_int_equal(keys_unwrap(other, w, sizeof w, &got),
					 -EKEYREJECTED);
		} else {			/* nonce, ciphertext, tag: corrupt */
			assert_int_equal(r, -EBADMSG);
			assert_int_equal(keys_unwrap(other, w, sizeof w, &got),
					 -EKEYREJECTED);
		}
		if (r != 0)
			assert_memory_equal(&got, &zero, sizeof got);
		w[i] ^= 0x04;
	}
	assert_int_equal(keys_unwrap(master, w, sizeof w, &got), 0);
	assert_memory_equal(&got, &k, sizeof k);
}

/* A version-1 record made once with master 0x40..0x5f, data key 0x00..0x1f and id key
 * 0x80..0x9f. Every later version must still unwrap it. */
static const char golden_hex[] =
	"464b455901010000d4a9c2d4db0920a12f4d593b687b3e158d17d322c23d97f4"
	"e22716b717f6545221995decb4eb91ef1d092c6f5eafbc052501d3e4c13ed68f"
	"00655f1fa1dcffae80352e05bc6dc105c773196fd89b5a39944c9b0e1ef19a7d"
	"8d14d3cb849c061d51160ef7";

static void test_wrap_golden(void **state)
{
	(void)state;
	uint8_t rec[KEYS_WRAPPED_LEN], master[KEY_LEN];
	struct repo_keys got, want;

	assert_int_equal(strlen(golden_hex), 2 * KEYS_WRAPPED_LEN);
	for (size_t i = 0; i < KEYS_WRAPPED_LEN; i++) {
		unsigned v;
		assert_int_equal(sscanf(golden_hex + 2 * i, "%2x", &v), 1);
		rec[i] = (uint8_t)v;
	}
	fixed(master, 0x40);
	fixed(want.data_key, 0x00);
	fixed(want.id_key, 0x80);
	assert_int_equal(keys_unwrap(master, rec, sizeof rec, &got), 0);
	assert_memory_equal(&got, &want, sizeof got);
	master[0] ^= 1;
	assert_int_equal(keys_unwrap(master, rec, sizeof rec, &got), -EKEYREJECTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_file_create),
		cmocka_unit_test(test_key_file_load),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_wrap_roundtrip),
		cmocka_unit_test(test_wrap_corrupt),
		cmocka_unit_test(test_wrap_golden),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
