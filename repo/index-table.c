/* The chunk index table: chunk id -> location, compact, its records optionally in a file.
 *
 * Every open holds an entry per unique chunk of the repository (and a point writer one per
 * chunk it stores), so the bytes per entry bound how big a repository one ferryd or one
 * restore can serve. An entry is two parts:
 *
 *   records: 64 bytes each (id, pack, four 32-bit numbers: one cache line), appended in
 *            pages of INDEX_PAGE records that never move while the table grows;
 *   slots:   an open-addressing table (linear probing, load <= 3/4) of 8-byte slots:
 *            the record's number + 1 (0: empty) and a 32-bit tag from the id.
 *
 * In RAM that is 64 + 8 / load = 75 to 85 bytes an entry (the table it replaced held
 * 80-byte slots at load 1/4 to 1/2: 160 to 320 bytes, 480 while growing). Ids are
 * HMAC/SHA-256 outputs, uniformly random: bytes 0-7 choose the home slot, bytes 8-11 are
 * the tag, so a miss (every chunk of a seed of new data) reads slots only, and a record
 * is read only when its tag matches; the whole id is always compared before a hit.
 *
 * A table given a spill directory (index_spill_to: the repository's own index) keeps its
 * records in RAM up to a threshold; past it, every full page goes to an unlinked scratch
 * file there and only the page being filled stays in RAM: the process keeps 8 / load =
 * 11 to 21 bytes an entry, and a hit reads its record back (pread; the page cache keeps
 * the hot ones). The file is this process's alone, made anew at every open from the
 * index/ objects (nothing persists: no stale or torn file can be met). A first spill that
 * fails (no such directory, no space) leaves the table in RAM.
 *
 * Offsets and lengths fit 32 bits: readers reject packs past PACK_MAX_SIZE (1 GiB) and
 * plaintexts past REPO_META_MAX; an entry beyond is refused (-EOVERFLOW). */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define PAGE_SHIFT 12
#define INDEX_PAGE (1u << PAGE_SHIFT)	/* records a page: 256 KiB */
#define PAGE_BYTES (INDEX_PAGE * sizeof(struct index_rec))
#define SLOTS_MIN 1024u
#define RECS_MAX 0xfffffffeu		/* record number + 1 fits the slot's 32 bits */

int index_init(struct chunk_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->fd = -1;
	return -pthread_rwlock_init(&ix->lock, NULL);
}

int index_spill_to(struct chunk_index *ix, const char *dir, size_t at)
{
	char *d = strdup(dir);
	if (!d)
		return -ENOMEM;
	free(ix->spill_dir);
	ix->spill_dir = d;
	ix->spill_at = at;
	return 0;
}

static void free_pages(struct chunk_index *ix, size_t from)
{
	for (size_t p = from; p < ix->npages; p++)
		free(ix->pages[p]);
	ix->npages = from;
}

/* Free the records and slots (the lock and the spill settings stay). */
static void drop_all(struct chunk_index *ix)
{
	free_pages(ix, 0);
	free(ix->pages);
	free(ix->slots);
	if (ix->fd >= 0)
		close(ix->fd);
	ix->pages = NULL;
	ix->slots = NULL;
	ix->fd = -1;
	ix->n = ix->cap = ix->pages_cap = ix->nfile = 0;
}

void index_release(struct chunk_index *ix)
{
	drop_all(ix);
	free(ix->spill_dir);
	pthread_rwlock_destroy(&ix->lock);
	memset(ix, 0, sizeof(*ix));
	ix->fd = -1;
}

void index_clear(struct chunk_index *ix)
{
	pthread_rwlock_wrlock(&ix->lock);
	drop_all(ix);
	pthread_rwlock_unlock(&ix->lock);
}

/* Record i in RAM (i >= nfile). */
static struct index_rec *ram_rec(const struct chunk_index *ix, size_t i)
{
	i -= ix->nfile;
	return &ix->pages[i >> PAGE_SHIFT][i & (INDEX_PAGE - 1)];
}

const struct index_rec *index_rec_at(const struct chunk_index *ix, size_t i)
{
	return ix->fd < 0 ? ram_rec(ix, i) : NULL;
}

/* Record i: in RAM, or read from the file into *buf (NULL if that read fails). */
static const struct index_rec *rec_get(const struct chunk_index *ix, size_t i,
				       struct index_rec *buf)
{
	if (i >= ix->nfile)
		return ram_rec(ix, i);
	return pread_full(ix->fd, buf, sizeof(*buf), (uint64_t)i * sizeof(*buf)) ? NULL : buf;
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

/* The slot holding id (its record into *out when out is not NULL), or the empty slot
 * where it would go (cap != 0). A record that cannot be read back counts as another id. */
static uint64_t *probe(const struct chunk_index *ix, const uint8_t *id, struct index_rec *out)
{
	uint64_t tag = tag_of(id);
	for (size_t i = (size_t)get_le64(id) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
		uint64_t s = ix->slots[i];
		struct index_rec buf;
		const struct index_rec *e;
		if (!s)
			return &ix->slots[i];
		if ((s & ~0xffffffffull) != tag ||
		    !(e = rec_get(ix, (s & 0xffffffffu) - 1, &buf)) ||
		    memcmp(e->id, id, CHUNK_ID_LEN))
			continue;
		if (out)
			*out = *e;
		return &ix->slots[i];
	}
}

static bool find(const struct chunk_index *ix, const uint8_t *id, struct index_rec *out)
{
	return ix->cap && *probe(ix, id, out);
}

bool index_lookup(struct chunk_index *ix, const uint8_t id[CHUNK_ID_LEN], struct chunk_loc *loc)
{
	struct index_rec e;
	pthread_rwlock_rdlock(&ix->lock);
	bool hit = find(ix, id, loc ? &e : NULL);
	pthread_rwlock_unlock(&ix->lock);
	if (hit && loc)
		index_rec_loc(&e, loc);
	return hit;
}

int index_read_recs(const struct chunk_index *ix, size_t from, size_t k, struct index_rec *buf)
{
	size_t in_file = from < ix->nfile ? (ix->nfile - from < k ? ix->nfile - from : k) : 0;
	int rc = in_file ? pread_full(ix->fd, buf, in_file * sizeof(*buf),
				      (uint64_t)from * sizeof(*buf)) : 0;
	for (size_t i = in_file; i < k && rc == 0; i++)
		buf[i] = *ram_rec(ix, from + i);
	return rc;
}

/* Call fn for records [0, n) in order; 0, -errno (a failed read, -ENOMEM) or fn's error. */
static int scan(const struct chunk_index *ix, int (*fn)(void *arg, const struct index_rec *e),
		void *arg)
{
	struct index_rec *buf = ix->nfile ? malloc(PAGE_BYTES) : NULL;
	int rc = ix->nfile && !buf ? -ENOMEM : 0;
	for (size_t i = 0; i < ix->nfile && rc == 0; i += INDEX_PAGE) {
		size_t k = ix->nfile - i < INDEX_PAGE ? ix->nfile - i : INDEX_PAGE;
		rc = index_read_recs(ix, i, k, buf);
		for (size_t j = 0; j < k && rc == 0; j++)
			rc = fn(arg, &buf[j]);
	}
	free(buf);
	for (size_t i = ix->nfile; i < ix->n && rc == 0; i++)
		rc = fn(arg, ram_rec(ix, i));
	return rc;
}

struct fill_ctx {
	uint64_t *s;
	size_t cap, i;
};

static int fill_slot(void *arg, const struct index_rec *e)
{
	struct fill_ctx *f = arg;
	size_t k = (size_t)get_le64(e->id) & (f->cap - 1);
	while (f->s[k])
		k = (k + 1) & (f->cap - 1);
	f->s[k] = tag_of(e->id) | ++f->i;
	return 0;
}

/* Put records [0, n) into the empty slot table s of cap slots, which replaces the old
 * (the ids are read from the records: 0, or a failed read's -errno and s is freed). */
static int rehash_into(struct chunk_index *ix, uint64_t *s, size_t cap)
{
	struct fill_ctx f = { s, cap, 0 };
	int rc = scan(ix, fill_slot, &f);
	if (rc < 0) {
		free(s);
		return rc;
	}
	free(ix->slots);
	ix->slots = s;
	ix->cap = cap;
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

static int rehash(struct chunk_index *ix, size_t cap)
{
	uint64_t *s = calloc(cap, sizeof(*s));
	return s ? rehash_into(ix, s, cap) : -ENOMEM;
}

/* Every RAM page (all full) to a new scratch file; the first page stays as the one being
 * filled. Any failure: no file, the table stays in RAM (and stops trying). */
static void spill(struct chunk_index *ix)
{
	int fd = repo_scratch_open(ix->spill_dir);
	for (size_t p = 0; fd >= 0 && p < ix->npages; p++)
		if (pwrite_full(fd, ix->pages[p], PAGE_BYTES, (uint64_t)p * PAGE_BYTES) < 0) {
			close(fd);
			fd = -1;
		}
	if (fd < 0) {
		free(ix->spill_dir);
		ix->spill_dir = NULL;
		return;
	}
	ix->fd = fd;
	free_pages(ix, 1);
	ix->nfile = ix->n;
}

/* A place for record n: a fresh page, or (spilled) the full page written out and reused. */
static int page_for_one(struct chunk_index *ix)
{
	if (ix->n < ix->nfile + ix->npages * INDEX_PAGE)
		return 0;
	if (ix->fd < 0 && ix->spill_dir && ix->n >= ix->spill_at && ix->n) {
		spill(ix);
		if (ix->fd >= 0)	/* the first page is free again */
			return 0;
	}
	if (ix->fd >= 0) {
		int rc = pwrite_full(ix->fd, ix->pages[0], PAGE_BYTES,
				     (uint64_t)ix->nfile * sizeof(struct index_rec));
		if (rc == 0)
			ix->nfile += INDEX_PAGE;
		return rc;
	}
	if (ix->npages == ix->pages_cap) {
		size_t c = ix->pages_cap ? ix->pages_cap * 2 : 1;
		struct index_rec **p = realloc(ix->pages, c * sizeof(*p));
		if (!p)
			return -ENOMEM;
		ix->pages = p;
		ix->pages_cap = c;
	}
	if (!(ix->pages[ix->npages] = malloc(PAGE_BYTES)))
		return -ENOMEM;
	ix->npages++;
	return 0;
}

/* 1 added, 0 present already, or -errno. */
static int add_locked(struct chunk_index *ix, const uint8_t *id, const struct chunk_loc *loc)
{
	if (loc->off > UINT32_MAX)
		return -EOVERFLOW;
	if (find(ix, id, NULL))
		return 0;
	if (ix->n >= RECS_MAX)
		return -EOVERFLOW;
	int rc = page_for_one(ix);
	if (rc == 0 && (ix->n + 1) * 4 > ix->cap * 3)
		rc = rehash(ix, cap_for(ix->n + 1));
	if (rc < 0)
		return rc;
	struct index_rec *e = ram_rec(ix, ix->n);
	memcpy(e->id, id, CHUNK_ID_LEN);
	memcpy(e->pack, loc->pack, PACK_ID_LEN);
	e->off = (uint32_t)loc->off;
	e->blob_len = loc->blob_len;
	e->foff = loc->foff;
	e->plain_len = loc->plain_len;
	*probe(ix, id, NULL) = tag_of(id) | (ix->n + 1);
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

static int add_rec(void *arg, const struct index_rec *e)
{
	struct chunk_loc loc;
	index_rec_loc(e, &loc);
	int r = add_locked(arg, e->id, &loc);
	return r < 0 ? r : 0;
}

int index_merge(struct chunk_index *dst, struct chunk_index *src)
{
	pthread_rwlock_rdlock(&src->lock);
	pthread_rwlock_wrlock(&dst->lock);
	int r = scan(src, add_rec, dst);
	pthread_rwlock_unlock(&dst->lock);
	pthread_rwlock_unlock(&src->lock);
	return r;
}

struct each_ctx {
	void (*fn)(void *arg, const uint8_t *id, const struct chunk_loc *loc);
	void *arg;
};

static int each_rec(void *arg, const struct index_rec *e)
{
	struct each_ctx *c = arg;
	struct chunk_loc loc;
	index_rec_loc(e, &loc);
	c->fn(c->arg, e->id, &loc);
	return 0;
}

int index_each(struct chunk_index *ix, void (*fn)(void *arg, const uint8_t *id,
						  const struct chunk_loc *loc), void *arg)
{
	struct each_ctx c = { fn, arg };
	pthread_rwlock_rdlock(&ix->lock);
	int rc = scan(ix, each_rec, &c);
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}

/* ---- removing entries ---- */

struct remove_ctx {
	bool (*drop)(void *arg, const struct chunk_loc *loc);
	void *arg;
	struct chunk_index *dropped, *kept;	/* kept: NULL when only counting */
	size_t nkept;
};

static int sort_rec(void *arg, const struct index_rec *e)
{
	struct remove_ctx *c = arg;
	struct chunk_loc loc;
	index_rec_loc(e, &loc);
	if (!c->drop(c->arg, &loc)) {
		c->nkept++;
		return c->kept ? add_rec(c->kept, e) : 0;
	}
	return c->dropped && !c->kept ? index_add(c->dropped, e->id, &loc) : 0;
}

static bool keep(struct chunk_index *ix, size_t i,
		 bool (*drop)(void *arg, const struct chunk_loc *loc), void *arg)
{
	struct chunk_loc loc;
	index_rec_loc(ram_rec(ix, i), &loc);
	return !drop(arg, &loc);
}

/* In RAM: the records kept are moved down in place (order kept), the emptied pages freed,
 * the slots rebuilt (allocated before anything moves): no second table. */
static int compact_ram(struct chunk_index *ix, const struct remove_ctx *c)
{
	uint64_t *s = calloc(cap_for(c->nkept), sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0, j = 0; i < ix->n; i++)
		if (keep(ix, i, c->drop, c->arg)) {
			if (j != i)
				*ram_rec(ix, j) = *ram_rec(ix, i);
			j++;
		}
	ix->n = c->nkept;
	free_pages(ix, (c->nkept + INDEX_PAGE - 1) / INDEX_PAGE);
	return rehash_into(ix, s, cap_for(c->nkept));	/* in RAM: cannot fail */
}

/* Spilled: the kept entries into a new table (a new file), which then replaces ix's. */
static int rebuild_spilled(struct chunk_index *ix, struct remove_ctx *c)
{
	struct chunk_index t;
	int rc = index_init(&t);
	if (rc < 0)
		return rc;
	if ((rc = index_spill_to(&t, ix->spill_dir, ix->spill_at)) == 0) {
		c->kept = &t;
		c->nkept = 0;
		rc = scan(ix, sort_rec, c);
	}
	if (rc == 0) {
		drop_all(ix);
		ix->slots = t.slots;
		ix->cap = t.cap;
		ix->n = t.n;
		ix->pages = t.pages;
		ix->npages = t.npages;
		ix->pages_cap = t.pages_cap;
		ix->fd = t.fd;
		ix->nfile = t.nfile;
		t.slots = NULL;		/* now ix's */
		t.pages = NULL;
		t.npages = 0;
		t.fd = -1;
	}
	index_release(&t);
	return rc;
}

int index_remove_if(struct chunk_index *ix, bool (*drop)(void *arg, const struct chunk_loc *loc),
		    void *arg, struct chunk_index *dropped)
{
	struct remove_ctx c = { drop, arg, dropped, NULL, 0 };
	pthread_rwlock_wrlock(&ix->lock);
	int rc = scan(ix, sort_rec, &c);	/* count, and hand the dropped over */
	if (rc == 0 && c.nkept != ix->n)
		rc = ix->fd < 0 ? compact_ram(ix, &c) : rebuild_spilled(ix, &c);
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}
