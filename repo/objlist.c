/* Collecting a store listing into memory (prune and verify both need every pack and
 * manifest key at once, sorted, to look objects up by key). */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/banned.h"

int objs_collect(void *arg, const char *key, uint64_t size)
{
	struct objs *o = arg;
	struct obj ob = { .key = strdup(key), .size = size };
	if (!ob.key || ARRAY_PUSH(o->v, o->n, o->cap, ob) < 0) {
		free(ob.key);
		return -ENOMEM;
	}
	return 0;
}

void objs_release(struct objs *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].key);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

static int cmp_obj(const void *a, const void *b)
{
	return strcmp(((const struct obj *)a)->key, ((const struct obj *)b)->key);
}

static int cmp_key_obj(const void *k, const void *o)
{
	return strcmp(k, ((const struct obj *)o)->key);
}

int objs_list_sorted(struct store *st, const char *prefix, struct objs *o)
{
	int rc = store_list(st, prefix, objs_collect, o);
	if (rc == 0 && o->n)	/* qsort(NULL, 0) is undefined */
		qsort(o->v, o->n, sizeof(*o->v), cmp_obj);
	return rc;
}

struct obj *objs_find(const struct objs *o, const char *key)
{
	return o->n ? bsearch(key, o->v, o->n, sizeof(*o->v), cmp_key_obj) : NULL;
}
