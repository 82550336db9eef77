/* Blob encode/decode and chunk ids. This runs for every 64 KiB chunk, so the OpenSSL
 * contexts are keyed once in blob_ctx_init (AES key schedule, HMAC key) and only re-armed
 * per call (new nonce; HMAC reset), and the compressor writes straight into the output blob,
 * where the payload is then encrypted in place. Decoding decrypts an uncompressed payload
 * straight into the caller's buffer (wiped if the tag fails) and a compressed one into the
 * context's scratch buffer, which grows to the largest payload seen and stays.
 *
 * Order of checks in decode: header (magic, header CRC) -> version/codec/flags (-EPROTO only
 * for an intact header) -> whole-blob length -> encryption matches the repository ->
 * expected length -> tag or CRC -> decompress -> chunk id. A flipped bit anywhere is
 * therefore -EBADMSG, never -EPROTO, and nothing unauthenticated reaches a decompressor. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/crc32c.h"
#include "common/strnum.h"
#include "common/util.h"
#include "repo/blob.h"
#include "common/banned.h"

static const uint8_t blob_magic[4] = { 'F', 'B', 'L', 'B' };

#define GCM_STEP (1u << 30)	/* EVP takes int lengths */

/* ---- context ---- */

void blob_ctx_release(struct blob_ctx *cx)
{
	EVP_CIPHER_CTX_free(cx->enc);
	EVP_CIPHER_CTX_free(cx->dec);
	EVP_MAC_CTX_free(cx->mac);
	EVP_MD_CTX_free(cx->md);
	EVP_MD_free(cx->sha256);
	compress_ctx_release(&cx->cz);
	if (cx->scratch)
		OPENSSL_cleanse(cx->scratch, cx->scratch_cap);
	free(cx->scratch);
	memset(cx, 0, sizeof(*cx));
}

static int ctx_init_keys(struct blob_ctx *cx, const struct repo_keys *keys)
{
	EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	int r = -EIO;

	if (!gcm || !hmac)
		goto out;
	cx->enc = EVP_CIPHER_CTX_new();
	cx->dec = EVP_CIPHER_CTX_new();
	cx->mac = EVP_MAC_CTX_new(hmac);
	if (!cx->enc || !cx->dec || !cx->mac) {
		r = -ENOMEM;
		goto out;
	}
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_END,
	};
	if (EVP_EncryptInit_ex2(cx->enc, gcm, keys->data_key, NULL, NULL) &&
	    EVP_DecryptInit_ex2(cx->dec, gcm, keys->data_key, NULL, NULL) &&
	    EVP_MAC_init(cx->mac, keys->id_key, KEY_LEN, params))
		r = 0;
out:
	EVP_CIPHER_free(gcm);
	EVP_MAC_free(hmac);
	return r;
}

int blob_ctx_init(struct blob_ctx *cx, const struct repo_keys *keys)
{
	int r;

	memset(cx, 0, sizeof(*cx));
	cx->encrypted = keys != NULL;
	if (keys) {
		r = ctx_init_keys(cx, keys);
	} else {
		cx->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
		cx->md = EVP_MD_CTX_new();
		r = cx->sha256 && cx->md ? 0 : -EIO;
	}
	if (r < 0)
		blob_ctx_release(cx);
	return r;
}

/* ---- chunk ids ---- */

int chunk_id(struct blob_ctx *cx, const void *data, size_t len, uint8_t id[CHUNK_ID_LEN])
{
	size_t n = 0;
	unsigned int mdlen = 0;

	if (len && !data)
		return -EINVAL;
	if (cx->encrypted) {
		/* a NULL key re-arms HMAC with the key set in blob_ctx_init */
		if (!EVP_MAC_init(cx->mac, NULL, 0, NULL) ||
		    !EVP_MAC_update(cx->mac, data, len) ||
		    !EVP_MAC_final(cx->mac, id, &n, CHUNK_ID_LEN) || n != CHUNK_ID_LEN)
			return -EIO;
		return 0;
	}
	if (!EVP_DigestInit_ex2(cx->md, cx->sha256, NULL) || !EVP_DigestUpdate(cx->md, data, len) ||
	    !EVP_DigestFinal_ex(cx->md, id, &mdlen) || mdlen != CHUNK_ID_LEN)
		return -EIO;
	return 0;
}

void chunk_id_to_hex(const uint8_t id[CHUNK_ID_LEN], char *hex)
{
	hex_encode(id, CHUNK_ID_LEN, hex);
}

int chunk_id_from_hex(const char *hex, uint8_t id[CHUNK_ID_LEN])
{
	uint8_t tmp[CHUNK_ID_LEN];

	if (hex_decode(hex, CHUNK_ID_LEN, tmp) < 0 || hex[CHUNK_ID_HEX_LEN] != '\0')
		return -EINVAL;
	memcpy(id, tmp, CHUNK_ID_LEN);
	return 0;
}

/* ---- header ---- */

static void hdr_put(uint8_t *h, enum compress_type type, uint8_t flags, uint64_t plain_len,
		    uint64_t stored_len)
{
	memcpy(h, blob_magic, 4);
	h[4] = BLOB_VERSION;
	h[5] = (uint8_t)type;
	h[6] = flags;
	h[7] = 0;
	put_le64(h + 8, plain_len);
	put_le64(h + 16, stored_len);
	put_le32(h + 24, crc32c(0, h, 24));
}

int blob_peek(const void *buf, size_t len, struct blob_info *info)
{
	const uint8_t *h = buf;

	if (!buf || len < BLOB_HDR_LEN || memcmp(h, blob_magic, 4) != 0 ||
	    crc32c(0, h, 24) != get_le32(h + 24))
		return -EBADMSG;
	if (h[4] != BLOB_VERSION || h[5] >= COMPRESS_NTYPES || (h[6] & ~BLOB_FLAG_ENCRYPTED) ||
	    h[7] != 0)
		return -EPROTO;
	info->version = h[4];
	info->compression = (enum compress_type)h[5];
	info->flags = h[6];
	info->plain_len = get_le64(h + 8);
	info->stored_len = get_le64(h + 16);
	uint64_t over = (h[6] & BLOB_FLAG_ENCRYPTED) ? BLOB_OVERHEAD_ENC : BLOB_OVERHEAD_PLAIN;
	if (info->stored_len > SIZE_MAX - over || info->plain_len > SIZE_MAX ||
	    (info->compression == COMPRESS_NONE && info->stored_len != info->plain_len))
		return -EBADMSG;
	info->blob_len = info->stored_len + over;
	return 0;
}

/* ---- AES-256-GCM ---- */

static int gcm_update(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len) {
		int step = (int)MIN(len, (size_t)GCM_STEP), n;
		if (!EVP_CipherUpdate(c, out, &n, in, step) || n != step)
			return -EIO;
		out += step;
		in += step;
		len -= (size_t)step;
	}
	return 0;
}

/* out may equal in (in place). */
static int gcm_seal(struct blob_ctx *cx, const uint8_t *hdr, const uint8_t *nonce,
		    const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	int n;
	OSSL_PARAM p[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, BLOB_TAG_LEN),
		OSSL_PARAM_END,
	};

	if (!EVP_EncryptInit_ex2(cx->enc, NULL, NULL, nonce, NULL) ||
	    !EVP_EncryptUpdate(cx->enc, NULL, &n, hdr, BLOB_HDR_LEN) ||
	    gcm_update(cx->enc, out, in, len) < 0 || !EVP_EncryptFinal_ex(cx->enc, out + len, &n) ||
	    !EVP_CIPHER_CTX_get_params(cx->enc, p))
		return -EIO;
	return 0;
}

/* 0, or -EBADMSG when authentication fails (out is then wiped). */
static int gcm_open(struct blob_ctx *cx, const uint8_t *hdr, const uint8_t *nonce,
		    const uint8_t *in, size_t len, const uint8_t *tag_in, uint8_t *out)
{
	uint8_t tag[BLOB_TAG_LEN];
	int n;

	memcpy(tag, tag_in, BLOB_TAG_LEN);
	OSSL_PARAM p[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, BLOB_TAG_LEN),
		OSSL_PARAM_END,
	};
	if (!EVP_DecryptInit_ex2(cx->dec, NULL, NULL, nonce, NULL) ||
	    !EVP_DecryptUpdate(cx->dec, NULL, &n, hdr, BLOB_HDR_LEN) ||
	    gcm_update(cx->dec, out, in, len) < 0 || !EVP_CIPHER_CTX_set_params(cx->dec, p)) {
		OPENSSL_cleanse(out, len);
		return -EIO;
	}
	if (EVP_DecryptFinal_ex(cx->dec, out + len, &n) <= 0) {
		OPENSSL_cleanse(out, len);
		return -EBADMSG;
	}
	return 0;
}

/* ---- encode ---- */

ssize_t blob_encode(struct blob_ctx *cx, const void *plain, size_t len,
		    enum compress_type type, int level, void *out, size_t out_cap)
{
	uint8_t *h = out;
	size_t over = cx->encrypted ? BLOB_OVERHEAD_ENC : BLOB_OVERHEAD_PLAIN;

	if ((len && !plain) || !out || len > SSIZE_MAX - over || out_cap < len + over ||
	    compress_level_check(type, level) < 0)
		return -EINVAL;
	uint8_t *payload = h + BLOB_HDR_LEN + (cx->encrypted ? BLOB_NONCE_LEN : 0);
	ssize_t n = compress_buf(&cx->cz, type, level, plain, len, payload, len);
	if (n < 0)
		return n;
	const uint8_t *src = n ? payload : plain;
	size_t stored = n ? (size_t)n : len;
	if (!n)
		type = COMPRESS_NONE;

	hdr_put(h, type, cx->encrypted ? BLOB_FLAG_ENCRYPTED : 0, len, stored);
	if (cx->encrypted) {
		uint8_t *nonce = h + BLOB_HDR_LEN;
		if (RAND_bytes(nonce, BLOB_NONCE_LEN) != 1 ||
		    gcm_seal(cx, h, nonce, src, stored, payload, payload + stored) < 0)
			return -EIO;
	} else {
		if (!n && len)
			memcpy(payload, plain, len);
		put_le32(payload + stored, crc32c(0, h, BLOB_HDR_LEN + stored));
	}
	return (ssize_t)(stored + over);
}

/* ---- decode ---- */

static int scratch_reserve(struct blob_ctx *cx, size_t len)
{
	if (len <= cx->scratch_cap)
		return 0;
	size_t cap = MAX(len, (size_t)64 * 1024);
	uint8_t *p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (cx->scratch) {
		OPENSSL_cleanse(cx->scratch, cx->scratch_cap);
		free(cx->scratch);
	}
	cx->scratch = p;
	cx->scratch_cap = cap;
	return 0;
}

/* Authenticate and decompress; no id check. *payload: the plaintext payload it read. */
static int decode_payload(struct blob_ctx *cx, const uint8_t *b, const struct blob_info *bi,
			  uint8_t *out, size_t out_len, const uint8_t **payload)
{
	size_t stored = (size_t)bi->stored_len;
	int r;

	if (cx->encrypted) {
		const uint8_t *nonce = b + BLOB_HDR_LEN, *ct = nonce + BLOB_NONCE_LEN;
		if (bi->compression == COMPRESS_NONE)	/* stored == out_len */
			return gcm_open(cx, b, nonce, ct, stored, ct + stored, out);
		if ((r = scratch_reserve(cx, stored)) < 0)
			return r;
		if ((r = gcm_open(cx, b, nonce, ct, stored, ct + stored, cx->scratch)) < 0)
			return r;
		*payload = cx->scratch;
	} else {
		*payload = b + BLOB_HDR_LEN;
		if (crc32c(0, b, BLOB_HDR_LEN + stored) != get_le32(*payload + stored))
			return -EBADMSG;
	}
	r = decompress_buf(&cx->cz, bi->compression, *payload, stored, out, out_len);
	return r == -EPROTO ? -EBADMSG : r;
}

int blob_decode(struct blob_ctx *cx, const void *blob, size_t len, void *out, size_t out_len,
		const uint8_t *expect_id)
{
	size_t zlen;
	return blob_decode_z(cx, blob, len, out, out_len, expect_id, NULL, 0, &zlen);
}

int blob_decode_z(struct blob_ctx *cx, const void *blob, size_t len, void *out, size_t out_len,
		  const uint8_t *expect_id, void *z, size_t zcap, size_t *zlen)
{
	struct blob_info bi;
	uint8_t id[CHUNK_ID_LEN];
	const uint8_t *payload = NULL;
	int r;

	*zlen = 0;
	if (!blob || (out_len && !out))
		return -EINVAL;
	if ((r = blob_peek(blob, len, &bi)) < 0)
		goto fail;
	r = -EBADMSG;
	if (bi.blob_len != len || !!(bi.flags & BLOB_FLAG_ENCRYPTED) != cx->encrypted ||
	    bi.plain_len != out_len)
		goto fail;
	if ((r = decode_payload(cx, blob, &bi, out, out_len, &payload)) < 0)
		goto fail;
	if (expect_id) {
		if ((r = chunk_id(cx, out, out_len, id)) < 0)
			goto fail;
		if (CRYPTO_memcmp(id, expect_id, CHUNK_ID_LEN) != 0) {
			r = -EBADMSG;
			goto fail;
		}
	}
	if (z && bi.compression == COMPRESS_IGZIP && bi.stored_len <= zcap) {
		memcpy(z, payload, (size_t)bi.stored_len);
		*zlen = (size_t)bi.stored_len;
	}
	return 0;
fail:
	if (out_len)
		OPENSSL_cleanse(out, out_len);
	return r;
}

int blob_decode_frame(struct blob_ctx *cx, const void *blob, size_t len, void *out,
		      size_t out_cap, size_t *plain_len)
{
	struct blob_info bi;
	size_t zlen;
	*plain_len = 0;
	int r = blob_peek(blob, len, &bi);
	if (r < 0)
		return r;
	if (bi.plain_len > out_cap)
		return -EBADMSG;
	r = blob_decode_z(cx, blob, len, out, (size_t)bi.plain_len, NULL, NULL, 0, &zlen);
	if (r == 0)
		*plain_len = (size_t)bi.plain_len;
	return r;
}
