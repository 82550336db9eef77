/* Request bodies of the API (agent/api.h api_body_parse): pure, fuzzed. Unknown members
 * are errors, so a typo never silently becomes a default. */
#include "agent/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define MAX_PLANS 64

__attribute__((format(printf, 3, 4)))
static unsigned bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return 400;
}

/* A string member without NUL bytes: 0 (absent: *out NULL unless required), or 400. */
static unsigned str(json_t *o, const char *key, bool required, const char **out, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return required ? bad(err, errlen, "'%s' is missing", key) : 0;
	if (!json_is_string(v))
		return bad(err, errlen, "'%s' must be a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(err, errlen, "'%s' contains a NUL character", key);
	*out = json_string_value(v);
	return 0;
}

static unsigned only(json_t *o, const char *const *keys, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool ok = false;
		for (size_t i = 0; keys[i] && !ok; i++)
			ok = !strcmp(keys[i], k);
		if (!ok)
			return bad(err, errlen, "unknown member '%.64s'", k);
	}
	return 0;
}

static unsigned plans(json_t *o, struct api_body *b, char *err, size_t errlen)
{
	json_t *a = json_object_get(o, "plans");
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > MAX_PLANS)
		return bad(err, errlen, "'plans' must be an array of 1 to %d plan texts", MAX_PLANS);
	b->n_plans = json_array_size(a);
	if (!(b->plans = calloc(b->n_plans, sizeof(*b->plans)))) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	for (size_t i = 0; i < b->n_plans; i++) {
		json_t *v = json_array_get(a, i);
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, errlen, "plans[%zu] must be a string (the plan's text)", i);
		b->plans[i] = json_string_value(v);
	}
	return 0;
}

unsigned api_body_parse(enum api_body_kind k, const char *body, size_t len, struct api_body *b,
			char *err, size_t errlen)
{
	static const char *const keys[][4] = {
		[BODY_VALIDATE] = { "plan", "mode", NULL },
		[BODY_PLAN] = { "plan", NULL },
		[BODY_FAILOVER] = { "mode", "point", "plans", NULL },
		[BODY_COMPLETE] = { "point", NULL },
		[BODY_TEST_STOP] = { NULL },
	};
	memset(b, 0, sizeof(*b));
	if (len > API_MAX_BODY) {
		snprintf(err, errlen, "request body larger than %u bytes", API_MAX_BODY);
		return 413;
	}
	json_error_t je;
	if (len == 0 && (k == BODY_COMPLETE || k == BODY_TEST_STOP))
		b->root = json_object();
	else
		b->root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
	if (!b->root)
		return bad(err, errlen, "request body is not JSON: %s (line %d, column %d)", je.text,
			   je.line, je.column);
	if (!json_is_object(b->root))
		return bad(err, errlen, "request body must be a JSON object");
	unsigned st = only(b->root, keys[k], err, errlen);
	if (st)
		return st;
	switch (k) {
	case BODY_VALIDATE:
		if ((st = str(b->root, "plan", true, &b->plan, err, errlen)))
			return st;
		return str(b->root, "mode", false, &b->mode, err, errlen);
	case BODY_PLAN:
		return str(b->root, "plan", true, &b->plan, err, errlen);
	case BODY_FAILOVER:
		if ((st = str(b->root, "mode", true, &b->mode, err, errlen)) ||
		    (st = str(b->root, "point", false, &b->point, err, errlen)))
			return st;
		return plans(b->root, b, err, errlen);
	case BODY_COMPLETE:
		return str(b->root, "point", false, &b->point, err, errlen);
	case BODY_TEST_STOP:
		return 0;
	}
	return bad(err, errlen, "unknown request");
}

void api_body_release(struct api_body *b)
{
	json_decref(b->root);
	free(b->plans);
	memset(b, 0, sizeof(*b));
}
