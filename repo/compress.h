/* Compression of one chunk or metadata object, behind a small table of codecs.
 *
 * Codecs (numbers are pinned: they are written in every blob header, docs/repo-format.md):
 *   COMPRESS_NONE  = 0  stored as is
 *   COMPRESS_ZSTD  = 1  a zstd frame (ZSTD_compress), levels 1..19
 *   COMPRESS_IGZIP = 2  ISA-L igzip, levels 0..3, ZLIB form (RFC 1950: 2-byte header,
 *                       deflate, Adler-32 trailer), so that a 64 KiB chunk can be copied
 *                       as is into a VMDK streamOptimized grain (which must be zlib form)
 *
 * Contexts: struct compress_ctx holds each codec's reusable state (ZSTD_CCtx/DCtx, ISA-L
 * stream and level buffer), created on first use and kept until compress_ctx_release().
 * A context is NOT thread-safe: keep one per worker thread. There is no global mutable
 * state, so different contexts may be used concurrently.
 *
 * Errors are -errno, and nothing here logs. */
#ifndef FERRY_COMPRESS_H
#define FERRY_COMPRESS_H

#include <stddef.h>
#include <sys/types.h>

enum compress_type {
	COMPRESS_NONE = 0,
	COMPRESS_ZSTD = 1,
	COMPRESS_IGZIP = 2,
};
#define COMPRESS_NTYPES 3

struct compress_ctx {
	void *state[COMPRESS_NTYPES];	/* per codec, owned by that codec's file */
};
#define COMPRESS_CTX_INIT { { 0 } }

/* Free every codec state (the struct itself is the caller's; it may be reused after). */
void compress_ctx_release(struct compress_ctx *cx);

/* "none", "zstd", "igzip", or NULL for an unknown type. */
const char *compress_name(enum compress_type type);
/* 0 if level is valid for type (any level for NONE), else -EINVAL (also unknown type). */
int compress_level_check(enum compress_type type, int level);
int compress_default_level(enum compress_type type);	/* zstd 3, igzip 1, none 0 */
/* Parse "none", "zstd", "zstd:LEVEL", "igzip", "igzip:LEVEL" (as in `compression =` of the
 * config; "auto" is a shipper policy, not a codec, and is rejected here). 0 or -EINVAL. */
int compress_parse(const char *s, enum compress_type *type, int *level);

/* The largest compressed size still worth storing for an input of len bytes: the output
 * must be smaller than 97% of the input (0 for len 0: nothing is worth compressing). */
size_t compress_worth_limit(size_t len);

/* Compress src[0..len) into dst (dst_cap bytes; at least compress_worth_limit(len)).
 * Returns the compressed size (> 0), or 0 for "not worth it": the output would not be
 * smaller than 97% of the input (incompressible data; the caller stores COMPRESS_NONE), or
 * -EINVAL (bad type, level, or dst_cap too small), -ENOMEM, -EIO (codec failure).
 * type COMPRESS_NONE always returns 0. */
ssize_t compress_buf(struct compress_ctx *cx, enum compress_type type, int level,
		     const void *src, size_t len, void *dst, size_t dst_cap);

/* Decompress src[0..len) into dst, which must come out exactly out_len bytes long.
 * Returns 0, -EBADMSG (corrupt stream, or any other output size), -EPROTO (unknown type),
 * -ENOMEM. type COMPRESS_NONE copies and requires len == out_len. */
int decompress_buf(struct compress_ctx *cx, enum compress_type type, const void *src,
		   size_t len, void *dst, size_t out_len);

/* ---- codec implementations (compress-NAME.c) ----
 * To add a codec: 1. write compress-NAME.c with a `const struct compress_ops` table;
 * 2. give it the next pinned number in enum compress_type and bump COMPRESS_NTYPES;
 * 3. list it in codecs[] in compress.c; 4. document it in docs/repo-format.md. */
struct compress_ops {
	const char *name;
	int min_level, max_level, default_level;
	/* *state is this codec's slot in the context: NULL at first, set up by the codec.
	 * Return the compressed size, 0 if the output does not fit in dst_cap bytes, or
	 * -errno. Level is already checked. */
	ssize_t (*compress)(void **state, int level, const void *src, size_t len, void *dst,
			    size_t dst_cap);
	/* 0 if the stream decodes to exactly out_len bytes, else -EBADMSG (or -ENOMEM). */
	int (*decompress)(void **state, const void *src, size_t len, void *dst, size_t out_len);
	void (*release)(void *state);
};

extern const struct compress_ops compress_zstd_ops;
extern const struct compress_ops compress_igzip_ops;

#endif
