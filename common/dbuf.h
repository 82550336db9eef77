/* A growable byte buffer with a hard cap, so input from a peer or a file can never grow it
 * without bound. Invariant: len <= cap_alloc <= max; data is NULL only while cap_alloc == 0. */
#ifndef FERRY_DBUF_H
#define FERRY_DBUF_H

#include <stddef.h>
#include <stdint.h>

struct dbuf {
	uint8_t *data;
	size_t len;
	size_t cap_alloc;
	size_t max;
};

#define DBUF_INIT(maxbytes) { NULL, 0, 0, (maxbytes) }

/* Append n bytes. Return 0, or -ENOBUFS past max, -ENOMEM when out of memory (nothing is
 * appended on failure). */
int dbuf_add(struct dbuf *b, const void *p, size_t n);
/* Drop the first n bytes (n <= len). */
void dbuf_consume(struct dbuf *b, size_t n);
void dbuf_reset(struct dbuf *b);	/* len = 0, keeps memory */
void dbuf_release(struct dbuf *b);	/* frees memory */

#endif
