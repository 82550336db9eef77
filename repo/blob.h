/* Blobs and chunk ids: the stored form of one chunk or metadata object (docs/design.md
 * section 3, byte layout in docs/repo-format.md "Blob format" and "Chunk ids").
 *
 *   plaintext --chunk_id()--> id (HMAC-SHA256 under the id key, or SHA-256 unencrypted)
 *   plaintext --compress (unless not worth it)--> payload
 *   encrypted:   header | nonce | AES-256-GCM(payload, AAD = header) | tag
 *   unencrypted: header | payload | CRC32C(header + payload)
 *
 * A struct blob_ctx is one worker's reusable state: cipher contexts keyed once, the HMAC or
 * SHA-256 context, the compressors, and a scratch buffer for decoding. It is NOT
 * thread-safe: keep one per thread. Contexts share nothing, so any number may run at once.
 * The hot path (chunk_id, blob_encode, blob_decode) allocates nothing after warm-up.
 *
 * Errors (all -errno, nothing logs):
 *   -EBADMSG  corrupt, truncated or tampered blob, wrong data key, wrong expected id, a
 *             plaintext of another length than expected, or a blob whose encryption does
 *             not match the repository's (a wrong data key cannot be told from tampering)
 *   -EPROTO   intact header of an unknown version, codec or flag (written by a newer ferry)
 *   -EINVAL   bad arguments (NULL buffers, too small an output buffer, bad level)
 *   -ENOMEM, -EIO  allocation or OpenSSL failure */
#ifndef FERRY_BLOB_H
#define FERRY_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "repo/compress.h"
#include "repo/keys.h"

#define CHUNK_ID_LEN 32
#define CHUNK_ID_HEX_LEN 64

#define BLOB_VERSION 1
#define BLOB_HDR_LEN 28
#define BLOB_NONCE_LEN 12
#define BLOB_TAG_LEN 16
#define BLOB_CRC_LEN 4
#define BLOB_FLAG_ENCRYPTED 0x01
/* Bytes a blob adds to its payload. */
#define BLOB_OVERHEAD_ENC (BLOB_HDR_LEN + BLOB_NONCE_LEN + BLOB_TAG_LEN)
#define BLOB_OVERHEAD_PLAIN (BLOB_HDR_LEN + BLOB_CRC_LEN)

struct evp_cipher_ctx_st;
struct evp_mac_ctx_st;
struct evp_md_ctx_st;
struct evp_md_st;

struct blob_ctx {
	bool encrypted;
	struct evp_cipher_ctx_st *enc, *dec;	/* AES-256-GCM, data key set once */
	struct evp_mac_ctx_st *mac;		/* HMAC-SHA256, id key set once */
	struct evp_md_ctx_st *md;		/* SHA-256 (unencrypted repositories) */
	struct evp_md_st *sha256;
	struct compress_ctx cz;
	uint8_t *scratch;			/* decrypted compressed payload */
	size_t scratch_cap;
};

/* Set up a context for a repository: keys NULL for an unencrypted one. The keys are copied
 * into OpenSSL contexts; the caller may wipe its copy afterwards. 0, -ENOMEM or -EIO (on
 * error the context is released). */
int blob_ctx_init(struct blob_ctx *cx, const struct repo_keys *keys);
void blob_ctx_release(struct blob_ctx *cx);

/* ---- chunk ids ---- */

/* id = HMAC-SHA256(id key, data) in an encrypted repository, SHA-256(data) otherwise.
 * 0 or -EIO. */
int chunk_id(struct blob_ctx *cx, const void *data, size_t len, uint8_t id[CHUNK_ID_LEN]);
/* Lower-case hex, NUL-terminated (hex has CHUNK_ID_HEX_LEN + 1 bytes). */
void chunk_id_to_hex(const uint8_t id[CHUNK_ID_LEN], char *hex);
/* Parse exactly 64 hex digits (either case) followed by NUL. 0 or -EINVAL. */
int chunk_id_from_hex(const char *hex, uint8_t id[CHUNK_ID_LEN]);

/* ---- blobs ---- */

struct blob_info {
	uint8_t version;
	enum compress_type compression;
	uint8_t flags;
	uint64_t plain_len;	/* length of the plaintext */
	uint64_t stored_len;	/* length of the (compressed) payload */
	uint64_t blob_len;	/* whole blob: header + payload + trailer */
};

/* The largest blob that encoding len bytes can produce (payload never exceeds len). */
static inline size_t blob_max_size(size_t len, bool encrypted)
{
	return len + (encrypted ? BLOB_OVERHEAD_ENC : BLOB_OVERHEAD_PLAIN);
}

/* Encode plain[0..len) as a blob into out (out_cap >= blob_max_size(len, cx->encrypted)),
 * compressed with (type, level) if that is worth it (compress_buf's 97% rule), stored
 * COMPRESS_NONE otherwise. Returns the blob's length (> 0) or -errno. out must not overlap
 * plain. The compression actually used is in the header: blob_peek(). */
ssize_t blob_encode(struct blob_ctx *cx, const void *plain, size_t len,
		    enum compress_type type, int level, void *out, size_t out_cap);

/* Read a blob's header from the first len bytes of buf (at least BLOB_HDR_LEN; the header
 * has its own CRC, so this is enough to walk a pack without its index). The header is not
 * yet authenticated: cap plain_len before allocating for it. Returns 0, -EBADMSG or
 * -EPROTO (see above). */
int blob_peek(const void *buf, size_t len, struct blob_info *info);

/* Verify and decode the blob blob[0..len) (exactly one whole blob) into out, which must come
 * out exactly out_len bytes long. With expect_id non-NULL, the plaintext's chunk id is
 * recomputed and must equal it. Nothing is decompressed before the tag or CRC verified.
 * out must not overlap blob. Returns 0, or -errno as above; on any error out holds no
 * plaintext (it is zeroed). */
int blob_decode(struct blob_ctx *cx, const void *blob, size_t len, void *out, size_t out_len,
		const uint8_t *expect_id);
/* blob_decode that also hands back the payload it decompressed when that payload is in
 * zlib form (COMPRESS_IGZIP) and fits in zcap: copied to z, its length in *zlen (0 when
 * not). Those bytes were verified as blob_decode verifies: they inflate to out, whose id
 * matched. For writers whose own format is zlib (a streamOptimized VMDK's grains), which
 * can store them instead of compressing the plaintext again. */
int blob_decode_z(struct blob_ctx *cx, const void *blob, size_t len, void *out, size_t out_len,
		  const uint8_t *expect_id, void *z, size_t zcap, size_t *zlen);
/* Verify and decode a blob whose plaintext length the caller does not know in advance (a
 * frame of several chunks, docs/repo-format.md "Frames") into out: at most out_cap bytes,
 * its length in *plain_len. No id is checked: the caller checks each chunk it takes out.
 * 0 or -errno as blob_decode; -EBADMSG also when the plaintext would exceed out_cap. */
int blob_decode_frame(struct blob_ctx *cx, const void *blob, size_t len, void *out,
		      size_t out_cap, size_t *plain_len);

#endif
