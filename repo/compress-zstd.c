/* zstd codec: one-shot ZSTD_compressCCtx/ZSTD_decompressDCtx with contexts kept in the
 * caller's compress_ctx, so a worker thread allocates them once. The compressor is given
 * only the worth limit as output space: "dstSize_tooSmall" means "not worth it". The
 * decompressor gets exactly the expected size, so a frame that would produce more fails. */
#include <errno.h>
#include <stdlib.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "repo/compress.h"
#include "common/banned.h"

struct zstd_state {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

static struct zstd_state *zstate(void **state)
{
	if (!*state)
		*state = calloc(1, sizeof(struct zstd_state));
	return *state;
}

static ssize_t zstd_compress(void **state, int level, const void *src, size_t len, void *dst,
			     size_t dst_cap)
{
	struct zstd_state *z = zstate(state);
	if (!z)
		return -ENOMEM;
	if (!z->cctx && !(z->cctx = ZSTD_createCCtx()))
		return -ENOMEM;
	size_t n = ZSTD_compressCCtx(z->cctx, dst, dst_cap, src, len, level);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return 0;
		if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		return -EIO;
	}
	return (ssize_t)n;
}

static int zstd_decompress(void **state, const void *src, size_t len, void *dst,
			   size_t out_len)
{
	struct zstd_state *z = zstate(state);
	if (!z)
		return -ENOMEM;
	if (!z->dctx && !(z->dctx = ZSTD_createDCtx()))
		return -ENOMEM;
	size_t n = ZSTD_decompressDCtx(z->dctx, dst, out_len, src, len);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EBADMSG;
	return n == out_len ? 0 : -EBADMSG;
}

static void zstd_release(void *state)
{
	struct zstd_state *z = state;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

const struct compress_ops compress_zstd_ops = {
	.name = "zstd",
	.min_level = 1,
	.max_level = 19,
	.default_level = 3,
	.compress = zstd_compress,
	.decompress = zstd_decompress,
	.release = zstd_release,
};
