/* Codec dispatch and the "worth it" rule. The codecs themselves live in compress-zstd.c and
 * compress-igzip.c; this file only checks arguments, bounds the output to the worth limit
 * (so an incompressible chunk costs one failed pass, never a copy of a larger output), and
 * maps COMPRESS_NONE. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/compress.h"
#include "common/banned.h"

static const struct compress_ops *const codecs[COMPRESS_NTYPES] = {
	[COMPRESS_NONE] = NULL,
	[COMPRESS_ZSTD] = &compress_zstd_ops,
	[COMPRESS_IGZIP] = &compress_igzip_ops,
};

static const struct compress_ops *codec(enum compress_type type)
{
	if ((unsigned)type >= COMPRESS_NTYPES)
		return NULL;
	return codecs[type];
}

void compress_ctx_release(struct compress_ctx *cx)
{
	for (unsigned i = 0; i < COMPRESS_NTYPES; i++) {
		if (cx->state[i] && codecs[i])
			codecs[i]->release(cx->state[i]);
		cx->state[i] = NULL;
	}
}

const char *compress_name(enum compress_type type)
{
	if (type == COMPRESS_NONE)
		return "none";
	const struct compress_ops *c = codec(type);
	return c ? c->name : NULL;
}

int compress_level_check(enum compress_type type, int level)
{
	if (type == COMPRESS_NONE)
		return 0;
	const struct compress_ops *c = codec(type);
	if (!c || level < c->min_level || level > c->max_level)
		return -EINVAL;
	return 0;
}

int compress_default_level(enum compress_type type)
{
	const struct compress_ops *c = codec(type);
	return c ? c->default_level : 0;
}

int compress_parse(const char *s, enum compress_type *type, int *level)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	for (unsigned t = 0; t < COMPRESS_NTYPES; t++) {
		const char *name = compress_name((enum compress_type)t);
		if (!name || strlen(name) != n || memcmp(s, name, n) != 0)
			continue;
		int lvl = compress_default_level((enum compress_type)t);
		if (colon) {
			char *end;
			errno = 0;
			long v = strtol(colon + 1, &end, 10);
			if (t == COMPRESS_NONE || colon[1] < '0' || colon[1] > '9' || *end || errno ||
			    v < INT_MIN || v > INT_MAX)
				return -EINVAL;
			lvl = (int)v;
		}
		if (compress_level_check((enum compress_type)t, lvl) < 0)
			return -EINVAL;
		*type = (enum compress_type)t;
		*level = lvl;
		return 0;
	}
	return -EINVAL;
}

size_t compress_worth_limit(size_t len)
{
	/* largest c with c * 100 < len * 97, without overflowing len * 97 */
	size_t whole = (len / 100) * 97, rem = (len % 100) * 97;
	size_t f = whole + rem / 100;	/* floor(len * 97 / 100) */
	if (rem % 100 == 0)
		return f ? f - 1 : 0;	/* exact: c must stay strictly below */
	return f;
}

ssize_t compress_buf(struct compress_ctx *cx, enum compress_type type, int level,
		     const void *src, size_t len, void *dst, size_t dst_cap)
{
	if (compress_level_check(type, level) < 0)
		return -EINVAL;
	if (type == COMPRESS_NONE)
		return 0;
	size_t limit = compress_worth_limit(len);
	if (dst_cap < limit || (len && !src) || (limit && !dst) || len > SSIZE_MAX)
		return -EINVAL;
	if (limit == 0)
		return 0;
	const struct compress_ops *c = codec(type);
	ssize_t n = c->compress(&cx->state[type], level, src, len, dst, limit);
	if (n > 0 && (size_t)n > limit)
		return -EIO;	/* a codec that ignored its bound */
	return n;
}

int decompress_buf(struct compress_ctx *cx, enum compress_type type, const void *src,
		   size_t len, void *dst, size_t out_len)
{
	if ((len && !src) || (out_len && !dst))
		return -EINVAL;
	if (type == COMPRESS_NONE) {
		if (len != out_len)
			return -EBADMSG;
		if (len)
			memcpy(dst, src, len);
		return 0;
	}
	const struct compress_ops *c = codec(type);
	if (!c)
		return -EPROTO;
	uint8_t dummy;
	return c->decompress(&cx->state[type], len ? src : &dummy, len, out_len ? dst : &dummy,
			     out_len);
}
