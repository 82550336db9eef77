/* ferryctl's --json output: one JSON object per line on stdout, each with an "event"
 * ("progress", "notice", "problem", "step", "result", "error", ...), so that a consumer can
 * read the stream line by line and always ends on a "result" or an "error" object.
 *
 *   struct jobj j;
 *   jobj_begin(&j, "result");
 *   jobj_str(&j, "point", "1.4");
 *   jobj_u64(&j, "bytes", n);
 *   jobj_print(&j);        // {"event":"result","point":"1.4","bytes":N}\n, flushed
 *
 * Keys are the caller's literals (written as they are); string values are escaped. A
 * failure to build the line (out of memory) drops the line and is reported by
 * jobj_print (-errno). */
#ifndef FERRY_CTL_JSON_H
#define FERRY_CTL_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "common/dbuf.h"

struct jobj {
	struct dbuf b;
	int err;
};

void jobj_begin(struct jobj *j, const char *event);
void jobj_str(struct jobj *j, const char *key, const char *val);	/* NULL: null */
void jobj_u64(struct jobj *j, const char *key, uint64_t v);
void jobj_int(struct jobj *j, const char *key, int64_t v);
void jobj_num(struct jobj *j, const char *key, double v, int decimals);
void jobj_bool(struct jobj *j, const char *key, bool v);
/* Print the object and a newline on stdout, flush, free. 0 or -errno. */
int jobj_print(struct jobj *j);

#endif
