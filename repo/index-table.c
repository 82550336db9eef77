/* The in-memory chunk index table: chunk id -> location, compact.
 *
 * Every open holds an entry per unique chunk of the repository (and a point writer one per
 * chunk it stores), so the bytes per entry bound how big a repository one ferryd or one
 * restore can serve. An entry is two parts:
 *
 *   records: 64 bytes each (id, pack, four 32-bit numbers: one cache line), appended in
 *            pages of INDEX_PAGE records, never moved while the table grows (no copy,
 *            no doubling peak);
 *   slots:   an open-addressing table (linear probing, load <= 3/4) of 8-byte slots:
 *            the record's number + 1 (0: empty) and a 32-bit tag from the id.
 *
 * That is 64 + 8 / load = 75 to 85 bytes an entry (the table it replaces held 80-byte
 * slots at load 1/4 to 1/2: 160 to 320 bytes, 480 while growing). Ids are HMAC/SHA-256
 * outputs, uniformly random: bytes 0-7 choose the home slot, bytes 8-11 are the tag, so a
 * miss (every chunk of a seed of new data) reads slots only, and a record is read only
 * when its tag matches; the whole id is always compared before a hit is reported.
 *
 * Offsets and lengths fit 32 bits: readers reject packs past PACK_MAX_SIZE (1 GiB) and
 * plaintexts past REPO_META_MAX; an entry beyond is refused (-EOVERFLOW). */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define PAGE_SHIFT 12
#define INDEX_PAGE (1u << PAGE_SHIFT)	/* records a page: 256 KiB */
#define SLOTS_MIN 1024u
#define RECS_MAX 0xfffffffeu		/* record number + 1 fits the slot's 32 bits */

int index_init(struct chunk_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	return -pthread_rwlock_init(&ix->lock, NULL);
}

static void free_pages(struct chunk_index *ix, size_t from)
{
	for (size_t p = from; p < ix->npages; p++)
		free(ix->pages[p]);
	ix->npages = from;
}

void index_release(struct chunk_index *ix)
{
	free_pages(ix, 0);
	free(ix->pages);
	free(ix->slots);
	pthread_rwlock_destroy(&ix->lock);
	memset(ix, 0, sizeof(*ix));
}

void index_clear(struct chunk_index *ix)
{
	pthread_rwlock_wrlock(&ix->lock);
	free_pages(ix, 0);
	free(ix->pages);
	free(ix->slots);
	ix->pages = NULL;
	ix->slots = NULL;
	ix->n = ix->cap = ix->pages_cap = 0;
	pthread_rwlock_unlock(&ix->lock);
}

const struct index_rec *index_rec_at(const struct chunk_index *ix, size_t i)
{
	return &ix->pages[i >> PAGE_SHIFT][i & (INDEX_PAGE - 1)];
}

static struct index_rec *rec_at(struct chunk_index *ix, size_t i)
{
	return &ix->pages[i >> PAGE_SHIFT][i & (INDEX_PAGE - 1)];
}

void index_rec_loc(const struct index_rec *e, struct chunk_loc *loc)
{
	memset(loc, 0, sizeof(*loc));	/* padding too: callers may compare whole structs */
	memcpy(loc->pack, e->pack, PACK_ID_LEN);
	loc->off = e->off;
	loc->blob_len = e->blob_len;
	loc->foff = e->foff;
	loc->plain_len = e->plain_len;
}

static uint64_t tag_of(const uint8_t *id)
{
	return (uint64_t)get_le32(id + 8) << 32;
}

/* The slot holding id, or the empty slot where it would go (cap != 0). */
static uint64_t *probe(struct chunk_index *ix, const uint8_t *id)
{
	uint64_t tag = tag_of(id);
	for (size_t i = (size_t)get_le64(id) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
		uint64_t s = ix->slots[i];
		if (!s)
			return &ix->slots[i];
		if ((s & ~0xffffffffull) == tag &&
		    !memcmp(rec_at(ix, (s & 0xffffffffu) - 1)->id, id, CHUNK_ID_LEN))
			return &ix->slots[i];
	}
}

static const struct index_rec *find(struct chunk_index *ix, const uint8_t *id)
{
	if (!ix->cap)
		return NULL;
	uint64_t s = *probe(ix, id);
	return s ? rec_at(ix, (s & 0xffffffffu) - 1) : NULL;
}

bool index_lookup(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], struct chunk_loc *loc)
{
	pthread_rwlock_rdlock(&ix->lock);
	const struct index_rec *e = find(ix, id);
	if (e && loc)
		index_rec_loc(e, loc);
	pthread_rwlock_unlock(&ix->lock);
	return e != NULL;
}

/* Put records [0, n) into the empty slot table s of cap slots, which replaces the old. */
static void rehash_into(struct chunk_index *ix, uint64_t *s, size_t cap)
{
	free(ix->slots);
	ix->slots = s;
	ix->cap = cap;
	for (size_t i = 0; i < ix->n; i++) {
		const uint8_t *id = rec_at(ix, i)->id;
		size_t k = (size_t)get_le64(id) & (cap - 1);
		while (s[k])
			k = (k + 1) & (cap - 1);
		s[k] = tag_of(id) | (i + 1);
	}
}

static int rehash(struct chunk_index *ix, size_t cap)
{
	uint64_t *s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rehash_into(ix, s, cap);
	return 0;
}

/* Slots enough for n entries at load <= 3/4. */
static size_t cap_for(size_t n)
{
	size_t cap = SLOTS_MIN;
	while (n * 4 > cap * 3)
		cap *= 2;
	return cap;
}

static int room_for_one(struct chunk_index *ix)
{
	if (ix->n >= RECS_MAX)
		return -EOVERFLOW;
	if (ix->n == ix->npages * INDEX_PAGE) {
		if (ix->npages == ix->pages_cap) {
			size_t c = ix->pages_cap ? ix->pages_cap * 2 : 1;
			struct index_rec **p = realloc(ix->pages, c * sizeof(*p));
			if (!p)
				return -ENOMEM;
			ix->pages = p;
			ix->pages_cap = c;
		}
		if (!(ix->pages[ix->npages] = malloc(INDEX_PAGE * sizeof(struct index_rec))))
			return -ENOMEM;
		ix->npages++;
	}
	return (ix->n + 1) * 4 > ix->cap * 3 ? rehash(ix, cap_for(ix->n + 1)) : 0;
}

/* 1 added, 0 present already, or -errno. */
static int add_locked(struct chunk_index *ix, const uint8_t *id, const struct chunk_loc *loc)
{
	if (loc->off > UINT32_MAX)
		return -EOVERFLOW;
	if (find(ix, id))
		return 0;
	int rc = room_for_one(ix);
	if (rc < 0)
		return rc;
	struct index_rec *e = rec_at(ix, ix->n);
	memcpy(e->id, id, CHUNK_ID_LEN);
	memcpy(e->pack, loc->pack, PACK_ID_LEN);
	e->off = (uint32_t)loc->off;
	e->blob_len = loc->blob_len;
	e->foff = loc->foff;
	e->plain_len = loc->plain_len;
	*probe(ix, id) = tag_of(id) | (ix->n + 1);
	ix->n++;
	return 1;
}

int index_claim(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], const struct chunk_loc *loc)
{
	pthread_rwlock_wrlock(&ix->lock);
	int r = add_locked(ix, id, loc);
	pthread_rwlock_unlock(&ix->lock);
	return r;
}

int index_add(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], const struct chunk_loc *loc)
{
	int r = index_claim(ix, id, loc);
	return r < 0 ? r : 0;
}

int index_merge(struct chunk_index *dst, struct chunk_index *src)
{
	int r = 0;
	pthread_rwlock_rdlock(&src->lock);
	pthread_rwlock_wrlock(&dst->lock);
	for (size_t i = 0; i < src->n && r >= 0; i++) {
		struct chunk_loc loc;
		const struct index_rec *e = rec_at(src, i);
		index_rec_loc(e, &loc);
		r = add_locked(dst, e->id, &loc);
	}
	pthread_rwlock_unlock(&dst->lock);
	pthread_rwlock_unlock(&src->lock);
	return r < 0 ? r : 0;
}

void index_each(struct chunk_index *ix, void (*fn)(void *arg, const uint8_t *id,
						   const struct chunk_loc *loc), void *arg)
{
	pthread_rwlock_rdlock(&ix->lock);
	for (size_t i = 0; i < ix->n; i++) {
		struct chunk_loc loc;
		const struct index_rec *e = rec_at(ix, i);
		index_rec_loc(e, &loc);
		fn(arg, e->id, &loc);
	}
	pthread_rwlock_unlock(&ix->lock);
}

static bool keep(struct chunk_index *ix, size_t i,
		 bool (*drop)(void *arg, const struct chunk_loc *loc), void *arg)
{
	struct chunk_loc loc;
	index_rec_loc(rec_at(ix, i), &loc);
	return !drop(arg, &loc);
}

/* The records kept are moved down in place (order kept), the emptied pages freed, and the
 * slots rebuilt (allocated before anything moves): no second table. */
int index_remove_if(struct chunk_index *ix, bool (*drop)(void *arg, const struct chunk_loc *loc),
		    void *arg, struct chunk_index *dropped)
{
	int rc = 0;
	size_t kept = 0;
	pthread_rwlock_wrlock(&ix->lock);
	for (size_t i = 0; i < ix->n && rc == 0; i++) {
		if (keep(ix, i, drop, arg)) {
			kept++;
		} else if (dropped) {
			struct chunk_loc loc;
			index_rec_loc(rec_at(ix, i), &loc);
			rc = index_add(dropped, rec_at(ix, i)->id, &loc);
		}
	}
	uint64_t *s = rc == 0 && kept != ix->n ? calloc(cap_for(kept), sizeof(*s)) : NULL;
	if (rc == 0 && kept != ix->n && !s)
		rc = -ENOMEM;
	if (s) {
		for (size_t i = 0, j = 0; i < ix->n; i++)
			if (keep(ix, i, drop, arg)) {
				if (j != i)
					*rec_at(ix, j) = *rec_at(ix, i);
				j++;
			}
		ix->n = kept;
		free_pages(ix, (kept + INDEX_PAGE - 1) / INDEX_PAGE);
		rehash_into(ix, s, cap_for(kept));
	}
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}
