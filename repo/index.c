/* The chunk index: chunk id -> (pack, offset, blob length, plain length), for dedupe and
 * for reading chunks.
 *
 * In memory it is an open-addressing hash table (linear probing, load <= 1/2), keyed by the
 * id's first 8 bytes: ids are HMAC/SHA-256 outputs, uniformly distributed, so no further
 * hashing is needed. It is rebuilt at every open from all index/ objects (no local cache is
 * persisted yet: an open costs one GET per index object, i.e. per committed point).
 *
 * An index delta (docs/repo-format.md "Index deltas") lists the chunks newly stored by one
 * commit. Entries are written sorted by (pack, offset) so that the same commit always
 * produces the same bytes. The first location of an id wins: a later delta naming the
 * same id elsewhere (two writers racing, a retried commit) is ignored.
 *
 * Prune (later) removes packs: it will write index objects of kind 2 (tombstones) listing
 * the removed pack ids, and index_load will drop every entry of those packs after reading
 * all adds. Pack ids are random and never reused, so the order in which index objects are
 * read does not matter. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define INDEX_MAGIC "FIDX"
#define INDEX_VERSION 1

int index_init(struct chunk_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	return -pthread_rwlock_init(&ix->lock, NULL);
}

void index_release(struct chunk_index *ix)
{
	free(ix->slots);
	pthread_rwlock_destroy(&ix->lock);
	memset(ix, 0, sizeof(*ix));
}

static size_t slot_of(const struct chunk_index *ix, const uint8_t *id)
{
	return (size_t)get_le64(id) & (ix->cap - 1);
}

static struct index_slot *find(const struct chunk_index *ix, const uint8_t *id)
{
	if (!ix->cap)
		return NULL;
	for (size_t i = slot_of(ix, id);; i = (i + 1) & (ix->cap - 1)) {
		struct index_slot *s = &ix->slots[i];
		if (!s->used)
			return NULL;
		if (!memcmp(s->id, id, CHUNK_ID_LEN))
			return s;
	}
}

bool index_lookup(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], struct chunk_loc *loc)
{
	pthread_rwlock_rdlock(&ix->lock);
	struct index_slot *s = find(ix, id);
	if (s && loc)
		*loc = s->loc;
	pthread_rwlock_unlock(&ix->lock);
	return s != NULL;
}

static void insert_slot(struct index_slot *slots, size_t cap, const struct index_slot *src)
{
	for (size_t i = (size_t)get_le64(src->id) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (!slots[i].used) {
			slots[i] = *src;
			return;
		}
	}
}

static int grow(struct chunk_index *ix)
{
	size_t cap = ix->cap ? ix->cap * 2 : 1024;
	struct index_slot *s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slots[i].used)
			insert_slot(s, cap, &ix->slots[i]);
	free(ix->slots);
	ix->slots = s;
	ix->cap = cap;
	return 0;
}

static int add_locked(struct chunk_index *ix, const uint8_t *id, const struct chunk_loc *loc)
{
	if (find(ix, id))
		return 0;
	if ((ix->n + 1) * 2 > ix->cap) {
		int r = grow(ix);
		if (r < 0)
			return r;
	}
	struct index_slot s = { .loc = *loc, .used = true };
	memcpy(s.id, id, CHUNK_ID_LEN);
	insert_slot(ix->slots, ix->cap, &s);
	ix->n++;
	return 0;
}

int index_add(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], const struct chunk_loc *loc)
{
	pthread_rwlock_wrlock(&ix->lock);
	int r = add_locked(ix, id, loc);
	pthread_rwlock_unlock(&ix->lock);
	return r;
}

int index_merge(struct chunk_index *dst, struct chunk_index *src)
{
	int r = 0;
	pthread_rwlock_rdlock(&src->lock);
	pthread_rwlock_wrlock(&dst->lock);
	for (size_t i = 0; i < src->cap && r == 0; i++)
		if (src->slots[i].used)
			r = add_locked(dst, src->slots[i].id, &src->slots[i].loc);
	pthread_rwlock_unlock(&dst->lock);
	pthread_rwlock_unlock(&src->lock);
	return r;
}

void index_each(struct chunk_index *ix, void (*fn)(void *arg, const uint8_t *id,
						   const struct chunk_loc *loc), void *arg)
{
	pthread_rwlock_rdlock(&ix->lock);
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slots[i].used)
			fn(arg, ix->slots[i].id, &ix->slots[i].loc);
	pthread_rwlock_unlock(&ix->lock);
}

/* ---- index delta objects ---- */

static int cmp_slot(const void *a, const void *b)
{
	const struct index_slot *x = a, *y = b;
	int c = memcmp(x->loc.pack, y->loc.pack, PACK_ID_LEN);
	if (c)
		return c;
	return x->loc.off < y->loc.off ? -1 : x->loc.off > y->loc.off;
}

int index_delta_encode(struct chunk_index *ix, struct dbuf *out)
{
	uint8_t hdr[INDEX_DELTA_HDR] = INDEX_MAGIC;
	int r = 0;

	pthread_rwlock_rdlock(&ix->lock);
	struct index_slot *v = malloc((ix->n ? ix->n : 1) * sizeof(*v));
	size_t n = 0;
	if (!v) {
		pthread_rwlock_unlock(&ix->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slots[i].used)
			v[n++] = ix->slots[i];
	pthread_rwlock_unlock(&ix->lock);
	qsort(v, n, sizeof(*v), cmp_slot);

	hdr[4] = INDEX_VERSION;
	hdr[5] = INDEX_KIND_ADD;
	put_le32(hdr + 8, (uint32_t)n);
	r = dbuf_add(out, hdr, sizeof(hdr));
	for (size_t i = 0; i < n && r == 0; i++) {
		uint8_t e[INDEX_DELTA_ENTRY];
		memcpy(e, v[i].id, CHUNK_ID_LEN);
		memcpy(e + 32, v[i].loc.pack, PACK_ID_LEN);
		put_le64(e + 48, v[i].loc.off);
		put_le32(e + 56, v[i].loc.blob_len);
		put_le32(e + 60, v[i].loc.plain_len);
		r = dbuf_add(out, e, sizeof(e));
	}
	free(v);
	return r;
}

int index_delta_decode(const void *buf, size_t len,
		       int (*fn)(void *arg, const uint8_t *id, const struct chunk_loc *loc),
		       void *arg)
{
	const uint8_t *p = buf;
	if (len < INDEX_DELTA_HDR || memcmp(p, INDEX_MAGIC, 4))
		return -EBADMSG;
	if (p[4] != INDEX_VERSION || p[5] != INDEX_KIND_ADD || get_le16(p + 6) ||
	    get_le32(p + 12))
		return -EPROTO;
	uint32_t n = get_le32(p + 8);
	if ((len - INDEX_DELTA_HDR) % INDEX_DELTA_ENTRY ||
	    (len - INDEX_DELTA_HDR) / INDEX_DELTA_ENTRY != n)
		return -EBADMSG;
	/* check everything before calling fn for anything: a delta is used whole or not at all */
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + INDEX_DELTA_HDR + (size_t)i * INDEX_DELTA_ENTRY;
		uint64_t off = get_le64(e + 48);
		uint32_t bl = get_le32(e + 56);
		if (bl == 0 || off > PACK_MAX_SIZE || bl > PACK_MAX_SIZE - off ||
		    get_le32(e + 60) > REPO_CHUNK_MAX)
			return -EBADMSG;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + INDEX_DELTA_HDR + (size_t)i * INDEX_DELTA_ENTRY;
		struct chunk_loc loc;
		memcpy(loc.pack, e + 32, PACK_ID_LEN);
		loc.off = get_le64(e + 48);
		loc.blob_len = get_le32(e + 56);
		loc.plain_len = get_le32(e + 60);
		int r = fn(arg, e, &loc);
		if (r)
			return r;
	}
	return 0;
}

/* ---- loading at open ---- */

struct load_ctx {
	char **keys;
	size_t n, cap;
};

static int collect_key(void *arg, const char *key, uint64_t size)
{
	(void)size;
	struct load_ctx *lc = arg;
	if (lc->n == lc->cap) {
		size_t cap = lc->cap ? lc->cap * 2 : 64;
		char **k = realloc(lc->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		lc->keys = k;
		lc->cap = cap;
	}
	if (!(lc->keys[lc->n] = strdup(key)))
		return -ENOMEM;
	lc->n++;
	return 0;
}

static int add_entry(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	return index_add(arg, id, loc);
}

int index_load(struct repo *r, char *err, size_t errlen)
{
	struct load_ctx lc = { 0 };
	int rc = store_list(r->st, "index/", collect_key, &lc);
	for (size_t i = 0; i < lc.n && rc == 0; i++) {
		void *plain;
		size_t len;
		int e = repo_get_meta(r, lc.keys[i], &plain, &len);
		if (e == 0) {
			e = index_delta_decode(plain, len, add_entry, &r->index);
			free(plain);
		}
		if (e == -ENOMEM || e == -EIO) {
			rc = e;
			repo_err(err, errlen, "%s: %s", lc.keys[i], strerror(-e));
		} else if (e < 0) {
			/* a corrupt index object: its chunks are unknown (reads of them fail, a
			 * writer stores them again); verify reports it */
			rc = repo_add_problem(r, lc.keys[i], e == -EPROTO ? "unsupported index "
					      "object (newer format)" : "corrupt index object");
		}
	}
	if (rc < 0 && err && !err[0])
		repo_err(err, errlen, "cannot load the chunk index: %s", strerror(-rc));
	for (size_t i = 0; i < lc.n; i++)
		free(lc.keys[i]);
	free(lc.keys);
	return rc;
}
