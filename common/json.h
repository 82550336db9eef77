/* Writing JSON text into a dbuf: just enough for status and dump output. */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include "common/dbuf.h"

/* Append s as a JSON string literal (quoted, escaped). Return 0 or -errno. */
int json_add_str(struct dbuf *b, const char *s);
/* printf into the buffer. Return 0 or -errno. */
int dbuf_printf(struct dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
