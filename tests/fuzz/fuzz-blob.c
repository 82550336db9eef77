/* Fuzz target for blob decoding. The first byte picks what the rest is:
 *   0  a blob, decoded in an encrypted repository (the fixed test keys of test-blob.c, so the
 *      golden encrypted blobs are valid seeds)
 *   1  a blob, decoded in an unencrypted repository
 *   2  edits to a valid encrypted blob: byte 1 picks the codec, byte 2 a length change
 *      (signed: truncate or extend with zeros), then (offset le16, xor byte) triples. A decode
 *      that succeeds on anything but the original bytes aborts: tampering is never accepted.
 *   3  the same edits to a valid plain blob, decoded with its expected chunk id: success
 *      with any other plaintext aborts (the CRC alone is forgeable, the id is not)
 *   4  plaintext: encoded with the codec of byte 1 in both kinds of repository and decoded
 *      back, which must give it back exactly
 * Decoding must never crash, whatever the bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "repo/blob.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PLAIN (4u << 20)

static struct blob_ctx enc_cx, plain_cx;
static const char ref_text[] =
	"reference plaintext of the blob fuzzer: the quick brown fox jumps over the lazy dog, "
	"the quick brown fox jumps over the lazy dog, 0123456789 0123456789 0123456789\n";
#define REF_LEN (sizeof(ref_text) - 1)
static uint8_t ref_blob[2][COMPRESS_NTYPES][REF_LEN + BLOB_OVERHEAD_ENC];
static size_t ref_len[2][COMPRESS_NTYPES];
static uint8_t ref_id[2][CHUNK_ID_LEN];

static void init_once(void)
{
	static bool done;
	struct repo_keys k;

	if (done)
		return;
	for (unsigned i = 0; i < KEY_LEN; i++) {
		k.data_key[i] = (uint8_t)i;
		k.id_key[i] = (uint8_t)(0x80 + i);
	}
	if (blob_ctx_init(&enc_cx, &k) < 0 || blob_ctx_init(&plain_cx, NULL) < 0)
		abort();
	for (unsigned e = 0; e < 2; e++) {
		struct blob_ctx *cx = e ? &enc_cx : &plain_cx;
		for (unsigned t = 0; t < COMPRESS_NTYPES; t++) {
			ssize_t n = blob_encode(cx, ref_text, REF_LEN, (enum compress_type)t, 1,
						ref_blob[e][t], sizeof ref_blob[e][t]);
			if (n <= 0)
				abort();
			ref_len[e][t] = (size_t)n;
		}
		if (chunk_id(cx, ref_text, REF_LEN, ref_id[e]) < 0)
			abort();
	}
	done = true;
}

static void fuzz_decode(struct blob_ctx *cx, const uint8_t *data, size_t size)
{
	struct blob_info bi;
	uint8_t id[CHUNK_ID_LEN];

	if (blob_peek(data, size, &bi) < 0)
		return;
	size_t n = (size_t)MIN(bi.plain_len, (uint64_t)MAX_PLAIN);
	uint8_t *out = malloc(n ? n : 1);
	if (!out)
		return;
	if (blob_decode(cx, data, size, out, n, NULL) == 0) {
		if (bi.blob_len != size || bi.plain_len != n)
			abort();
		if (chunk_id(cx, out, n, id) < 0 || blob_decode(cx, data, size, out, n, id) != 0)
			abort();
	}
	free(out);
}

/* Apply the edits of data to a copy of the reference blob; returns its length. */
static size_t apply_edits(const uint8_t *ref, size_t rlen, const uint8_t *data, size_t size,
			  uint8_t *buf, size_t cap)
{
	int delta = size > 0 ? (int8_t)data[0] : 0;
	size_t len = (size_t)MAX(0, MIN((long)cap, (long)rlen + delta));

	memset(buf, 0, cap);
	memcpy(buf, ref, MIN(len, rlen));
	for (size_t i = 1; i + 3 <= size; i += 3) {
		size_t off = get_le16(data + i);
		if (len)
			buf[off % len] ^= data[i + 2];
	}
	return len;
}

static void fuzz_tamper(bool encrypted, const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	unsigned e = encrypted, t = data[0] % COMPRESS_NTYPES;
	struct blob_ctx *cx = encrypted ? &enc_cx : &plain_cx;
	uint8_t buf[REF_LEN + BLOB_OVERHEAD_ENC + 128], out[REF_LEN];
	size_t len = apply_edits(ref_blob[e][t], ref_len[e][t], data + 1, size - 1, buf,
				 sizeof buf);
	bool same = len == ref_len[e][t] && memcmp(buf, ref_blob[e][t], len) == 0;

	if (encrypted) {
		int r = blob_decode(cx, buf, len, out, REF_LEN, NULL);
		if (r == 0 && !same)
			abort();	/* a tampered encrypted blob was accepted */
		if (r == 0 && memcmp(out, ref_text, REF_LEN))
			abort();
		if (same && r != 0)
			abort();
	}
	int r = blob_decode(cx, buf, len, out, REF_LEN, ref_id[e]);
	if (r == 0 && memcmp(out, ref_text, REF_LEN))
		abort();	/* another plaintext under the expected id */
	if (same && r != 0)
		abort();
}

static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	enum compress_type t = (enum compress_type)(data[0] % COMPRESS_NTYPES);
	int level = t == COMPRESS_ZSTD ? 1 + data[0] / 3 % 19 : data[0] / 3 % 4;
	data++;
	size--;
	for (int e = 0; e < 2; e++) {
		struct blob_ctx *cx = e ? &enc_cx : &plain_cx;
		size_t cap = blob_max_size(size, e);
		uint8_t *b = malloc(cap), *out = malloc(size ? size : 1), id[CHUNK_ID_LEN];
		if (!b || !out)
			abort();
		ssize_t n = blob_encode(cx, data, size, t, level, b, cap);
		if (n <= 0 || chunk_id(cx, data, size, id) < 0 ||
		    blob_decode(cx, b, (size_t)n, out, size, id) != 0 || memcmp(out, data, size))
			abort();
		free(b);
		free(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_decode(&enc_cx, data + 1, size - 1);
		break;
	case 1:
		fuzz_decode(&plain_cx, data + 1, size - 1);
		break;
	case 2:
		fuzz_tamper(true, data + 1, size - 1);
		break;
	case 3:
		fuzz_tamper(false, data + 1, size - 1);
		break;
	default:
		fuzz_roundtrip(data + 1, size - 1);
		break;
	}
	return 0;
}
