/* ISA-L igzip codec, zlib form (RFC 1950). Stateless calls on the whole buffer: the
 * stream and inflate states (~80 KiB each) and the level buffer (levels 1..3) live in the
 * caller's compress_ctx and are allocated on first use. The deflater is given only the
 * worth limit as output space (STATELESS_OVERFLOW means "not worth it"); the inflater gets
 * exactly the expected size and must finish the stream (header, data, Adler-32) in it.
 * ISA-L counts in 32 bits, so buffers of 4 GiB or more are refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <isa-l/igzip_lib.h>

#include "repo/compress.h"
#include "common/banned.h"

#define LEVEL_BUF_SIZE ISAL_DEF_LVL3_DEFAULT	/* the largest of levels 1..3 */

struct igzip_state {
	struct isal_zstream zs;
	struct inflate_state is;
	uint8_t *level_buf;	/* LEVEL_BUF_SIZE bytes, for levels >= 1 */
};

static struct igzip_state *gstate(void **state)
{
	if (!*state)
		*state = calloc(1, sizeof(struct igzip_state));
	return *state;
}

static ssize_t igzip_compress(void **state, int level, const void *src, size_t len,
			      void *dst, size_t dst_cap)
{
	struct igzip_state *g = gstate(state);
	if (!g)
		return -ENOMEM;
	if (len > UINT32_MAX)
		return -EINVAL;
	if (level > 0 && !g->level_buf && !(g->level_buf = malloc(LEVEL_BUF_SIZE)))
		return -ENOMEM;
	struct isal_zstream *zs = &g->zs;
	isal_deflate_stateless_init(zs);
	zs->next_in = (uint8_t *)(uintptr_t)src;	/* ISA-L does not write its input */
	zs->avail_in = (uint32_t)len;
	zs->next_out = dst;
	zs->avail_out = dst_cap > UINT32_MAX ? UINT32_MAX : (uint32_t)dst_cap;
	zs->level = (uint32_t)level;
	zs->level_buf = level > 0 ? g->level_buf : NULL;
	zs->level_buf_size = level > 0 ? LEVEL_BUF_SIZE : 0;
	zs->gzip_flag = IGZIP_ZLIB;
	zs->end_of_stream = 1;
	zs->flush = NO_FLUSH;
	int r = isal_deflate_stateless(zs);
	if (r == STATELESS_OVERFLOW)
		return 0;
	if (r != COMP_OK)
		return -EIO;
	return (ssize_t)zs->total_out;
}

static int igzip_decompress(void **state, const void *src, size_t len, void *dst,
			    size_t out_len)
{
	struct igzip_state *g = gstate(state);
	if (!g)
		return -ENOMEM;
	if (len > UINT32_MAX || out_len > UINT32_MAX)
		return -EBADMSG;
	struct inflate_state *is = &g->is;
	isal_inflate_init(is);
	is->next_in = (uint8_t *)(uintptr_t)src;
	is->avail_in = (uint32_t)len;
	is->next_out = dst;
	is->avail_out = (uint32_t)out_len;
	is->crc_flag = ISAL_ZLIB;
	int r = isal_inflate_stateless(is);
	if (r != ISAL_DECOMP_OK || is->total_out != out_len)
		return -EBADMSG;
	return 0;
}

static void igzip_release(void *state)
{
	struct igzip_state *g = state;
	free(g->level_buf);
	free(g);
}

const struct compress_ops compress_igzip_ops = {
	.name = "igzip",
	.min_level = 0,
	.max_level = 3,
	.default_level = 1,
	.compress = igzip_compress,
	.decompress = igzip_decompress,
	.release = igzip_release,
};
