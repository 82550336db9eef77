#include "common/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/banned.h"

int json_add_str(struct dbuf *b, const char *s)
{
	int r = dbuf_add(b, "\"", 1);
	for (; !r && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[8];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			r = dbuf_add(b, esc, 2);
		} else if (ch < 0x20) {
			int n = snprintf(esc, sizeof esc, "\\u%04x", ch);
			r = dbuf_add(b, esc, (size_t)n);
		} else {
			r = dbuf_add(b, s, 1);
		}
	}
	return r ? r : dbuf_add(b, "\"", 1);
}

int dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof tmp)
		return dbuf_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = dbuf_add(b, big, (size_t)n);
	free(big);
	return r;
}
