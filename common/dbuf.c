#include "common/dbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dbuf_add(struct dbuf *b, const void *p, size_t n)
{
	if (n > b->max - b->len)
		return -ENOBUFS;
	if (b->len + n > b->cap_alloc) {
		size_t want = b->cap_alloc ? b->cap_alloc : 256;
		while (want < b->len + n)
			want *= 2;
		if (want > b->max)
			want = b->max;
		uint8_t *nd = realloc(b->data, want);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap_alloc = want;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void dbuf_consume(struct dbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void dbuf_reset(struct dbuf *b)
{
	b->len = 0;
}

void dbuf_release(struct dbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap_alloc = 0;
}
