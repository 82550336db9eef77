/* ferryctl's JSON lines (contract in ctl-json.h). */
#include "mgmt/ctl-json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/json.h"
#include "common/banned.h"

#define LINE_MAX_BYTES (1u << 20)

static void key(struct jobj *j, const char *k)
{
	if (!j->err)
		j->err = dbuf_printf(&j->b, ",\"%s\":", k);
}

void jobj_begin(struct jobj *j, const char *event)
{
	*j = (struct jobj){ .b = DBUF_INIT(LINE_MAX_BYTES) };
	j->err = dbuf_printf(&j->b, "{\"event\":");
	if (!j->err)
		j->err = json_add_str(&j->b, event);
}

void jobj_str(struct jobj *j, const char *k, const char *val)
{
	key(j, k);
	if (!j->err)
		j->err = val ? json_add_str(&j->b, val) : dbuf_printf(&j->b, "null");
}

void jobj_u64(struct jobj *j, const char *k, uint64_t v)
{
	key(j, k);
	if (!j->err)
		j->err = dbuf_printf(&j->b, "%" PRIu64, v);
}

void jobj_int(struct jobj *j, const char *k, int64_t v)
{
	key(j, k);
	if (!j->err)
		j->err = dbuf_printf(&j->b, "%" PRId64, v);
}

void jobj_num(struct jobj *j, const char *k, double v, int decimals)
{
	key(j, k);
	if (!j->err)
		j->err = dbuf_printf(&j->b, "%.*f", decimals, v);
}

void jobj_bool(struct jobj *j, const char *k, bool v)
{
	key(j, k);
	if (!j->err)
		j->err = dbuf_printf(&j->b, v ? "true" : "false");
}

int jobj_print(struct jobj *j)
{
	int r = j->err ? j->err : dbuf_add(&j->b, "}\n", 2);
	if (r == 0) {
		fwrite(j->b.data, 1, j->b.len, stdout);
		if (fflush(stdout) != 0)
			r = -EIO;
	}
	dbuf_release(&j->b);
	return r;
}
