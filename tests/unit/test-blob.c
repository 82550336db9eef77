/* Unit tests for compression, chunk ids and blobs: round trips of every codec and level
 * class, encrypted and plain, over the sizes that matter (empty, one byte, a page, a
 * 64 KiB chunk of random bytes and of zeros, 1 MiB of text); the 97% "not worth it" rule;
 * every single-bit flip, truncation and extension of a blob; wrong keys and ids; known
 * answers for SHA-256 and HMAC-SHA256; and the golden blobs tests/golden/blob-v1-*.bin,
 * which every later version must still decode (regenerated, once and deliberately, with
 * FERRY_REGEN_GOLDEN=1). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/util.h"
#include "repo/blob.h"
#include "repo/compress.h"
#include "repo/keys.h"
#include "common/banned.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

/* ---- fixtures ---- */

/* The fixed test keys (also used to make the golden files). */
static void test_keys(struct repo_keys *k, uint8_t base)
{
	for (unsigned i = 0; i < KEY_LEN; i++) {
		k->data_key[i] = (uint8_t)(base + i);
		k->id_key[i] = (uint8_t)(0x80 + base + i);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng() >> 32);
}

static void fill_text(uint8_t *p, size_t n)
{
	static const char *const words[] = { "ferry ", "replicates ", "the ", "disk ",
					     "of ", "every ", "virtual ", "machine ",
					     "to ", "a ", "recovery ", "site.\n" };
	size_t i = 0;
	while (i < n) {
		const char *w = words[rng() % ARRAY_SIZE(words)];
		size_t l = MIN(strlen(w), n - i);
		memcpy(p + i, w, l);
		i += l;
	}
}

struct ctxs {
	struct blob_ctx enc, plain;
};

static int setup(void **state)
{
	struct ctxs *c = calloc(1, sizeof(*c));
	struct repo_keys k;
	test_keys(&k, 0);
	if (!c || blob_ctx_init(&c->enc, &k) < 0 || blob_ctx_init(&c->plain, NULL) < 0)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctxs *c = *state;
	blob_ctx_release(&c->enc);
	blob_ctx_release(&c->plain);
	free(c);
	return 0;
}

/* Encode into a fresh exact-size buffer; returns it (caller frees), length in *blen. */
static uint8_t *encode(struct blob_ctx *cx, const void *p, size_t n, enum compress_type t,
		       int level, size_t *blen)
{
	size_t cap = blob_max_size(n, cx->encrypted);
	uint8_t *b = malloc(cap);
	assert_non_null(b);
	ssize_t r = blob_encode(cx, p, n, t, level, b, cap);
	assert_true(r > 0);
	*blen = (size_t)r;
	return b;
}

/* ---- compression ---- */

static void test_worth_limit(void **state)
{
	(void)state;
	assert_int_equal(compress_worth_limit(0), 0);
	assert_int_equal(compress_worth_limit(1), 0);
	assert_int_equal(compress_worth_limit(100), 96);	/* 97 is not < 97 */
	assert_int_equal(compress_worth_limit(101), 97);	/* 97.97 */
	assert_int_equal(compress_worth_limit(1000), 969);
	assert_int_equal(compress_worth_limit(65536), 63569);	/* 63569.92 */
	for (size_t n = 1; n < 5000; n += 7) {
		size_t l = compress_worth_limit(n);
		assert_true(l * 100 < n * 97);
		assert_false((l + 1) * 100 < n * 97);
	}
}

static void test_not_worth_it(void **state)
{
	(void)state;
	struct compress_ctx cz = COMPRESS_CTX_INIT;
	size_t n = 64 * KiB;
	uint8_t *src = malloc(n), *dst = malloc(n);
	fill_random(src, n);
	assert_int_equal(compress_buf(&cz, COMPRESS_ZSTD, 1, src, n, dst, n), 0);
	assert_int_equal(compress_buf(&cz, COMPRESS_ZSTD, 19, src, n, dst, n), 0);
	for (int l = 0; l <= 3; l++)
		assert_int_equal(compress_buf(&cz, COMPRESS_IGZIP, l, src, n, dst, n), 0);
	assert_int_equal(compress_buf(&cz, COMPRESS_NONE, 0, src, n, dst, n), 0);
	/* the same buffer of zeros is worth it, and decompresses back */
	memset(src, 0, n);
	ssize_t c = compress_buf(&cz, COMPRESS_IGZIP, 1, src, n, dst, n);
	assert_true(c > 0 && c < 1000);
	memset(src, 1, n);
	assert_int_equal(decompress_buf(&cz, COMPRESS_IGZIP, dst, (size_t)c, src, n), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(src[i], 0);
	/* a size other than the real one is corrupt, both ways */
	assert_int_equal(decompress_buf(&cz, COMPRESS_IGZIP, dst, (size_t)c, src, n - 1),
			 -EBADMSG);
	c = compress_buf(&cz, COMPRESS_ZSTD, 3, src, n - 1, dst, n);
	assert_true(c > 0);
	assert_int_equal(decompress_buf(&cz, COMPRESS_ZSTD, dst, (size_t)c, src, n), -EBADMSG);
	assert_int_equal(decompress_buf(&cz, COMPRESS_ZSTD, dst, (size_t)c, src, n - 2), -EBADMSG);
	assert_int_equal(decompress_buf(&cz, COMPRESS_ZSTD, dst, (size_t)c, src, n - 1), 0);
	assert_int_equal(decompress_buf(&cz, (enum compress_type)7, dst, 1, src, 1), -EPROTO);
	/* the output bound must allow the worth limit */
	assert_int_equal(compress_buf(&cz, COMPRESS_ZSTD, 3, src, n, dst, n / 2), -EINVAL);
	compress_ctx_release(&cz);
	compress_ctx_release(&cz);	/* idempotent */
	free(src);
	free(dst);
}

static void test_levels_and_parse(void **state)
{
	(void)state;
	enum compress_type t;
	int l;

	assert_int_equal(compress_level_check(COMPRESS_ZSTD, 0), -EINVAL);
	assert_int_equal(compress_level_check(COMPRESS_ZSTD, 1), 0);
	assert_int_equal(compress_level_check(COMPRESS_ZSTD, 19), 0);
	assert_int_equal(compress_level_check(COMPRESS_ZSTD, 20), -EINVAL);
	assert_int_equal(compress_level_check(COMPRESS_IGZIP, -1), -EINVAL);
	assert_int_equal(compress_level_check(COMPRESS_IGZIP, 0), 0);
	assert_int_equal(compress_level_check(COMPRESS_IGZIP, 3), 0);
	assert_int_equal(compress_level_check(COMPRESS_IGZIP, 4), -EINVAL);
	assert_int_equal(compress_level_check((enum compress_type)3, 1), -EINVAL);
	assert_string_equal(compress_name(COMPRESS_IGZIP), "igzip");
	assert_null(compress_name((enum compress_type)9));

	assert_int_equal(compress_parse("zstd", &t, &l), 0);
	assert_int_equal(t, COMPRESS_ZSTD);
	assert_int_equal(l, 3);
	assert_int_equal(compress_parse("zstd:19", &t, &l), 0);
	assert_int_equal(l, 19);
	assert_int_equal(compress_parse("igzip:0", &t, &l), 0);
	assert_int_equal(t, COMPRESS_IGZIP);
	assert_int_equal(l, 0);
	assert_int_equal(compress_parse("none", &t, &l), 0);
	assert_int_equal(t, COMPRESS_NONE);
	static const char *const bad[] = { "auto", "zstd:", "zstd:0", "zstd:20", "zstd:3x",
					   "zstd: 3", "igzip:4", "none:1", "zst", "zstdd", "",
					   "gzip", "zstd:-1", "zstd:99999999999999999999" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(compress_parse(bad[i], &t, &l), -EINVAL);
}

/* ---- round trips ---- */

struct codec_case {
	enum compress_type type;
	int level;
};

static const struct codec_case codec_cases[] = {
	{ COMPRESS_NONE, 0 },  { COMPRESS_ZSTD, 1 },  { COMPRESS_ZSTD, 3 },
	{ COMPRESS_ZSTD, 19 }, { COMPRESS_IGZIP, 0 }, { COMPRESS_IGZIP, 1 },
	{ COMPRESS_IGZIP, 2 }, { COMPRESS_IGZIP, 3 },
};

enum content { ZEROS, RANDOM, TEXT };

struct size_case {
	size_t len;
	enum content content;
	bool compressible;
};

static const struct size_case size_cases[] = {
	{ 0, TEXT, false },	{ 1, TEXT, false },	  { 4096, TEXT, true },
	{ 65536, RANDOM, false }, { 65536, ZEROS, true }, { MiB, TEXT, true },
};

static void roundtrip_one(struct blob_ctx *cx, const uint8_t *p, size_t n,
			  const struct codec_case *cc, bool compressible)
{
	size_t blen;
	uint8_t id[CHUNK_ID_LEN];
	struct blob_info bi;

	assert_int_equal(chunk_id(cx, p, n, id), 0);
	uint8_t *b = encode(cx, p, n, cc->type, cc->level, &blen);
	assert_true(blen <= blob_max_size(n, cx->encrypted));
	assert_int_equal(blob_peek(b, blen, &bi), 0);
	assert_int_equal(bi.version, BLOB_VERSION);
	assert_int_equal(bi.plain_len, n);
	assert_int_equal(bi.blob_len, blen);
	assert_int_equal(bi.flags, cx->encrypted ? BLOB_FLAG_ENCRYPTED : 0);
	enum compress_type want = compressible ? cc->type : COMPRESS_NONE;
	assert_int_equal(bi.compression, want);
	if (want != COMPRESS_NONE)
		assert_true(bi.stored_len * 100 < n * 97);

	uint8_t *out = malloc(n ? n : 1);
	assert_non_null(out);
	assert_int_equal(blob_decode(cx, b, blen, out, n, id), 0);
	assert_memory_equal(out, p, n);
	assert_int_equal(blob_decode(cx, b, blen, out, n, NULL), 0);
	assert_memory_equal(out, p, n);

	/* the zlib form comes back exactly for igzip blobs, and inflates to the plaintext */
	size_t zlen = 1;
	uint8_t *z = malloc(blen), *back = malloc(n ? n : 1);
	assert_non_null(z);
	assert_non_null(back);
	assert_int_equal(blob_decode_z(cx, b, blen, out, n, id, z, blen, &zlen), 0);
	assert_memory_equal(out, p, n);
	if (want == COMPRESS_IGZIP) {
		assert_int_equal(zlen, bi.stored_len);
		struct compress_ctx cz = { 0 };
		assert_int_equal(decompress_buf(&cz, COMPRESS_IGZIP, z, zlen, back, n), 0);
		assert_memory_equal(back, p, n);
		compress_ctx_release(&cz);
		assert_int_equal(blob_decode_z(cx, b, blen, out, n, id, z, zlen - 1, &zlen), 0);
	}
	assert_int_equal(zlen, 0);
	free(z);
	free(back);
	free(out);
	free(b);
}

static void test_roundtrip(void **state)
{
	struct ctxs *c = *state;
	uint8_t *p = malloc(MiB);

	for (size_t s = 0; s < ARRAY_SIZE(size_cases); s++) {
		const struct size_case *sc = &size_cases[s];
		if (sc->content == ZEROS)
			memset(p, 0, sc->len);
		else if (sc->content == RANDOM)
			fill_random(p, sc->len);
		else
			fill_text(p, sc->len);
		for (size_t i = 0; i < ARRAY_SIZE(codec_cases); i++) {
			roundtrip_one(&c->enc, p, sc->len, &codec_cases[i], sc->compressible);
			roundtrip_one(&c->plain, p, sc->len, &codec_cases[i], sc->compressible);
		}
	}
	free(p);
}

static void test_encode_args(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[100] = { 0 }, b[200];

	assert_int_equal(blob_encode(&c->enc, p, sizeof p, COMPRESS_ZSTD, 3, b,
				     blob_max_size(sizeof p, true) - 1), -EINVAL);
	assert_int_equal(blob_encode(&c->enc, p, sizeof p, COMPRESS_ZSTD, 0, b, sizeof b),
			 -EINVAL);
	assert_int_equal(blob_encode(&c->enc, NULL, 1, COMPRESS_ZSTD, 3, b, sizeof b), -EINVAL);
	assert_true(blob_encode(&c->enc, p, sizeof p, COMPRESS_ZSTD, 3, b, sizeof b) > 0);
	assert_int_equal(blob_decode(&c->enc, NULL, 10, p, sizeof p, NULL), -EINVAL);
}

/* Fresh nonce per encrypted blob; plain blobs are deterministic. */
static void test_nonce(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[4096];
	size_t l1, l2;

	fill_text(p, sizeof p);
	uint8_t *a = encode(&c->enc, p, sizeof p, COMPRESS_ZSTD, 3, &l1);
	uint8_t *b = encode(&c->enc, p, sizeof p, COMPRESS_ZSTD, 3, &l2);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(a + BLOB_HDR_LEN, b + BLOB_HDR_LEN, BLOB_NONCE_LEN);
	assert_memory_not_equal(a, b, l1);
	free(a);
	free(b);
	a = encode(&c->plain, p, sizeof p, COMPRESS_ZSTD, 3, &l1);
	b = encode(&c->plain, p, sizeof p, COMPRESS_ZSTD, 3, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(a, b, l1);
	free(a);
	free(b);
	/* an uncompressed encrypted blob does not show its plaintext */
	fill_random(p, sizeof p);
	a = encode(&c->enc, p, sizeof p, COMPRESS_NONE, 0, &l1);
	assert_int_equal(l1, sizeof p + BLOB_OVERHEAD_ENC);
	assert_memory_not_equal(a + BLOB_HDR_LEN + BLOB_NONCE_LEN, p, 64);
	free(a);
}

/* ---- tampering ---- */

static void flip_every_bit(struct blob_ctx *cx, const uint8_t *p, size_t n,
			   enum compress_type t, bool all_bits)
{
	size_t blen;
	uint8_t id[CHUNK_ID_LEN];
	uint8_t *b = encode(cx, p, n, t, 3, &blen);
	uint8_t *out = malloc(n);

	assert_int_equal(chunk_id(cx, p, n, id), 0);
	for (size_t i = 0; i < blen; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			if (!all_bits && bit != i % 8)
				continue;
			b[i] ^= (uint8_t)(1u << bit);
			memset(out, 0x55, n);
			assert_int_equal(blob_decode(cx, b, blen, out, n, NULL), -EBADMSG);
			assert_int_equal(blob_decode(cx, b, blen, out, n, id), -EBADMSG);
			/* nothing of the plaintext is left in the output */
			for (size_t j = 0; j < n; j++)
				assert_int_equal(out[j], 0);
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(blob_decode(cx, b, blen, out, n, id), 0);
	assert_memory_equal(out, p, n);
	free(out);
	free(b);
}

static void test_bitflip_encrypted(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[4096];
	fill_text(p, sizeof p);
	flip_every_bit(&c->enc, p, sizeof p, COMPRESS_ZSTD, true);
	flip_every_bit(&c->enc, p, sizeof p, COMPRESS_IGZIP, true);
	fill_random(p, sizeof p);
	flip_every_bit(&c->enc, p, sizeof p, COMPRESS_NONE, false);
	flip_every_bit(&c->enc, p, 1, COMPRESS_NONE, true);
}

static void test_bitflip_plain(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[4096];
	fill_text(p, sizeof p);
	flip_every_bit(&c->plain, p, sizeof p, COMPRESS_ZSTD, true);
	flip_every_bit(&c->plain, p, sizeof p, COMPRESS_IGZIP, true);
	fill_random(p, sizeof p);
	flip_every_bit(&c->plain, p, sizeof p, COMPRESS_NONE, false);
	flip_every_bit(&c->plain, p, 1, COMPRESS_NONE, true);
}

static void truncate_and_extend(struct blob_ctx *cx, const uint8_t *p, size_t n)
{
	size_t blen;
	uint8_t *b = encode(cx, p, n, COMPRESS_ZSTD, 1, &blen);
	uint8_t *big = malloc(blen + 1), *out = malloc(n);

	for (size_t l = 0; l < blen; l++)
		assert_int_equal(blob_decode(cx, b, l, out, n, NULL), -EBADMSG);
	memcpy(big, b, blen);
	big[blen] = 0;
	assert_int_equal(blob_decode(cx, big, blen + 1, out, n, NULL), -EBADMSG);
	/* a plaintext of another length than the caller expects */
	assert_int_equal(blob_decode(cx, b, blen, out, n - 1, NULL), -EBADMSG);
	assert_int_equal(blob_decode(cx, b, blen, out, n, NULL), 0);
	free(big);
	free(out);
	free(b);
}

static void test_truncated(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[4096];
	fill_text(p, sizeof p);
	truncate_and_extend(&c->enc, p, sizeof p);
	truncate_and_extend(&c->plain, p, sizeof p);
}

static void test_wrong_data_key(void **state)
{
	struct ctxs *c = *state;
	struct blob_ctx other;
	struct repo_keys k;
	uint8_t p[4096], out[4096], id[CHUNK_ID_LEN];
	size_t blen;

	test_keys(&k, 0);
	k.data_key[31] ^= 1;	/* same id key, other data key */
	assert_int_equal(blob_ctx_init(&other, &k), 0);
	fill_text(p, sizeof p);
	assert_int_equal(chunk_id(&c->enc, p, sizeof p, id), 0);
	for (unsigned t = 0; t < COMPRESS_NTYPES; t++) {
		uint8_t *b = encode(&c->enc, p, sizeof p, (enum compress_type)t,
				    t == COMPRESS_ZSTD ? 3 : 1, &blen);
		assert_int_equal(blob_decode(&other, b, blen, out, sizeof out, id), -EBADMSG);
		assert_int_equal(blob_decode(&other, b, blen, out, sizeof out, NULL), -EBADMSG);
		assert_int_equal(blob_decode(&c->enc, b, blen, out, sizeof out, id), 0);
		free(b);
	}
	blob_ctx_release(&other);
}

static void test_wrong_id(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[4096], out[4096], id[CHUNK_ID_LEN];
	size_t blen;
	struct blob_ctx *cxs[] = { &c->enc, &c->plain };

	fill_text(p, sizeof p);
	for (size_t i = 0; i < ARRAY_SIZE(cxs); i++) {
		uint8_t *b = encode(cxs[i], p, sizeof p, COMPRESS_ZSTD, 3, &blen);
		assert_int_equal(chunk_id(cxs[i], p, sizeof p, id), 0);
		id[7] ^= 0x10;
		memset(out, 0x55, sizeof out);
		assert_int_equal(blob_decode(cxs[i], b, blen, out, sizeof out, id), -EBADMSG);
		for (size_t j = 0; j < sizeof out; j++)
			assert_int_equal(out[j], 0);
		/* the id of the other kind of repository is wrong too */
		assert_int_equal(chunk_id(cxs[1 - i], p, sizeof p, id), 0);
		assert_int_equal(blob_decode(cxs[i], b, blen, out, sizeof out, id), -EBADMSG);
		free(b);
	}
}

static void test_encryption_mismatch(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[100] = "hello", out[100];
	size_t blen;

	uint8_t *b = encode(&c->plain, p, sizeof p, COMPRESS_NONE, 0, &blen);
	assert_int_equal(blob_decode(&c->enc, b, blen, out, sizeof out, NULL), -EBADMSG);
	free(b);
	b = encode(&c->enc, p, sizeof p, COMPRESS_NONE, 0, &blen);
	assert_int_equal(blob_decode(&c->plain, b, blen, out, sizeof out, NULL), -EBADMSG);
	free(b);
}

/* An intact header from a newer writer is -EPROTO, not -EBADMSG. */
static void test_unknown_version(void **state)
{
	struct ctxs *c = *state;
	uint8_t p[4096], out[4096];
	size_t blen;
	struct blob_info bi;

	fill_text(p, sizeof p);
	uint8_t *b = encode(&c->plain, p, sizeof p, COMPRESS_ZSTD, 3, &blen);
	static const struct {
		unsigned off;
		uint8_t val;
	} edits[] = { { 4, 2 }, { 4, 0 }, { 5, 3 }, { 5, 255 }, { 6, 0x02 }, { 7, 1 } };
	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		uint8_t save = b[edits[i].off];
		b[edits[i].off] = edits[i].val;
		put_le32(b + 24, crc32c(0, b, 24));
		assert_int_equal(blob_peek(b, blen, &bi), -EPROTO);
		assert_int_equal(blob_decode(&c->plain, b, blen, out, sizeof out, NULL), -EPROTO);
		b[edits[i].off] = save;
		put_le32(b + 24, crc32c(0, b, 24));
	}
	assert_int_equal(blob_decode(&c->plain, b, blen, out, sizeof out, NULL), 0);
	assert_int_equal(blob_peek(b, BLOB_HDR_LEN - 1, &bi), -EBADMSG);
	assert_int_equal(blob_peek(b, BLOB_HDR_LEN, &bi), 0);
	assert_int_equal(bi.blob_len, blen);
	free(b);
}

/* ---- chunk ids ---- */

static void from_hex(const char *hex, uint8_t id[CHUNK_ID_LEN])
{
	assert_int_equal(chunk_id_from_hex(hex, id), 0);
}

static void test_chunk_ids(void **state)
{
	struct ctxs *c = *state;
	uint8_t id[CHUNK_ID_LEN], want[CHUNK_ID_LEN], other[CHUNK_ID_LEN];
	char hex[CHUNK_ID_HEX_LEN + 1];

	/* SHA-256("abc"), FIPS 180-2 */
	from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want);
	assert_int_equal(chunk_id(&c->plain, "abc", 3, id), 0);
	assert_memory_equal(id, want, CHUNK_ID_LEN);
	chunk_id_to_hex(id, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* SHA-256("") */
	from_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", want);
	assert_int_equal(chunk_id(&c->plain, NULL, 0, id), 0);
	assert_memory_equal(id, want, CHUNK_ID_LEN);

	/* HMAC-SHA256(id key 0x80..0x9f, "abc"), computed independently (Python hmac) */
	from_hex("bdd7c155b3722fddb816b7fded299706ed08b2e5d0ff0ae5e695fc8086b223dc", want);
	assert_int_equal(chunk_id(&c->enc, "abc", 3, id), 0);
	assert_memory_equal(id, want, CHUNK_ID_LEN);
	assert_int_equal(chunk_id(&c->enc, "abc", 3, id), 0);	/* re-armed, same key */
	assert_memory_equal(id, want, CHUNK_ID_LEN);
	assert_int_equal(chunk_id(&c->plain, "abc", 3, other), 0);
	assert_memory_not_equal(id, other, CHUNK_ID_LEN);

	struct blob_ctx cx2;
	struct repo_keys k;
	test_keys(&k, 1);
	assert_int_equal(blob_ctx_init(&cx2, &k), 0);
	assert_int_equal(chunk_id(&cx2, "abc", 3, other), 0);
	assert_memory_not_equal(id, other, CHUNK_ID_LEN);
	blob_ctx_release(&cx2);

	/* hex parsing */
	char buf[80];
	memset(buf, 'a', 64);
	buf[64] = '\0';
	assert_int_equal(chunk_id_from_hex(buf, id), 0);
	buf[64] = 'a';
	buf[65] = '\0';
	assert_int_equal(chunk_id_from_hex(buf, id), -EINVAL);
	buf[63] = '\0';
	assert_int_equal(chunk_id_from_hex(buf, id), -EINVAL);
	memset(buf, 'a', 64);
	buf[64] = '\0';
	buf[10] = 'g';
	assert_int_equal(chunk_id_from_hex(buf, id), -EINVAL);
}

/* ---- threads: contexts share nothing ---- */

static void *worker(void *arg)
{
	struct blob_ctx cx;
	struct repo_keys k;
	uint8_t p[8192], out[8192], *b = malloc(blob_max_size(sizeof p, true));
	uintptr_t seed = (uintptr_t)arg, bad = 0;

	test_keys(&k, 0);
	if (!b || blob_ctx_init(&cx, &k) < 0)
		return (void *)1;
	for (unsigned i = 0; i < 200; i++) {
		uint8_t id[CHUNK_ID_LEN];
		for (size_t j = 0; j < sizeof p; j++)
			p[j] = (uint8_t)((seed + i) * (j / 64 + 1));
		enum compress_type t = (enum compress_type)(i % COMPRESS_NTYPES);
		ssize_t n = blob_encode(&cx, p, sizeof p, t, 1, b, blob_max_size(sizeof p, true));
		if (n < 0 || chunk_id(&cx, p, sizeof p, id) < 0 ||
		    blob_decode(&cx, b, (size_t)n, out, sizeof out, id) < 0 || memcmp(p, out, sizeof p))
			bad++;
	}
	blob_ctx_release(&cx);
	free(b);
	return (void *)bad;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t th[4];
	for (uintptr_t i = 0; i < ARRAY_SIZE(th); i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
	for (size_t i = 0; i < ARRAY_SIZE(th); i++) {
		void *ret;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
}

/* ---- golden files ---- */

#define GOLDEN_TEXT                                                              \
	"ferry golden blob, format version 1: the quick brown fox jumps over the " \
	"lazy dog. the quick brown fox jumps over the lazy dog. the quick brown "  \
	"fox jumps over the lazy dog. 0123456789 0123456789 0123456789.\n"

static const struct {
	const char *path;
	enum compress_type type;
	int level;
	bool encrypted;
} golden[] = {
	{ "tests/golden/blob-v1-none-plain.bin", COMPRESS_NONE, 0, false },
	{ "tests/golden/blob-v1-none-enc.bin", COMPRESS_NONE, 0, true },
	{ "tests/golden/blob-v1-zstd-plain.bin", COMPRESS_ZSTD, 3, false },
	{ "tests/golden/blob-v1-zstd-enc.bin", COMPRESS_ZSTD, 3, true },
	{ "tests/golden/blob-v1-igzip-plain.bin", COMPRESS_IGZIP, 1, false },
	{ "tests/golden/blob-v1-igzip-enc.bin", COMPRESS_IGZIP, 1, true },
};

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(64 * KiB);
	assert_non_null(f);
	*len = fread(buf, 1, 64 * KiB, f);
	fclose(f);
	return buf;
}

static void test_golden(void **state)
{
	struct ctxs *c = *state;
	const size_t n = sizeof(GOLDEN_TEXT) - 1;
	uint8_t out[sizeof(GOLDEN_TEXT)], id[CHUNK_ID_LEN];
	bool regen = getenv("FERRY_REGEN_GOLDEN") != NULL;

	for (size_t i = 0; i < ARRAY_SIZE(golden); i++) {
		struct blob_ctx *cx = golden[i].encrypted ? &c->enc : &c->plain;
		size_t len;
		if (regen) {
			uint8_t *b = encode(cx, GOLDEN_TEXT, n, golden[i].type, golden[i].level, &len);
			FILE *f = fopen(golden[i].path, "wb");
			assert_non_null(f);
			assert_int_equal(fwrite(b, 1, len, f), len);
			assert_int_equal(fclose(f), 0);
			free(b);
		}
		uint8_t *b = read_file(golden[i].path, &len);
		struct blob_info bi;
		assert_int_equal(blob_peek(b, len, &bi), 0);
		assert_int_equal(bi.version, 1);
		assert_int_equal(bi.compression, golden[i].type);
		assert_int_equal(bi.flags, golden[i].encrypted ? BLOB_FLAG_ENCRYPTED : 0);
		assert_int_equal(bi.plain_len, n);
		assert_int_equal(bi.blob_len, len);
		assert_int_equal(chunk_id(cx, GOLDEN_TEXT, n, id), 0);
		assert_int_equal(blob_decode(cx, b, len, out, n, id), 0);
		assert_memory_equal(out, GOLDEN_TEXT, n);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worth_limit),
		cmocka_unit_test(test_not_worth_it),
		cmocka_unit_test(test_levels_and_parse),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_encode_args),
		cmocka_unit_test(test_nonce),
		cmocka_unit_test(test_bitflip_encrypted),
		cmocka_unit_test(test_bitflip_plain),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_wrong_data_key),
		cmocka_unit_test(test_wrong_id),
		cmocka_unit_test(test_encryption_mismatch),
		cmocka_unit_test(test_unknown_version),
		cmocka_unit_test(test_chunk_ids),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_golden),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
