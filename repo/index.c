/* The chunk index: chunk id -> (pack, offset, blob length, plain length), for dedupe and
 * for reading chunks.
 *
 * The table itself is index-table.c (compact records, spilled to a scratch file when
 * big). It is rebuilt at every open from all index/ objects (no local cache is persisted
 * yet: an open costs one GET per index object, i.e. about one per committed point).
 *
 * An index delta (docs/repo-format.md "Index deltas") lists chunks newly stored by one
 * commit (index-delta.c writes them: sorted by (pack, offset) so that the same commit always
 * produces the same bytes, in objects of at most INDEX_DELTA_PER entries). The first
 * location of an id wins: a later delta naming the same id elsewhere (two writers racing,
 * a retried commit) is ignored.
 *
 * Prune removes packs in two phases (docs/repo-format.md "Prune"): it writes a condemn
 * object (kind 2) naming the packs, and later deletes them unless a rescue object (kind 3)
 * cancels the condemnation. A reader leaves out every entry of a condemned pack: all marks
 * are collected first, and an id met twice keeps its other locations aside ("alternates")
 * until the marks are known, so a chunk stored again elsewhere by a writer (because its
 * first pack was condemned) is found there whatever order the objects are read in. Pack
 * ids are random and never reused.
 *
 * index_refresh reads only the objects not seen yet: the point writer calls it just before
 * its manifest goes up, so that it never names a chunk of a pack condemned meanwhile. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/util.h"
#include "common/banned.h"

#define INDEX_VERSION_MAX 2	/* 2 (format 2): add entries locate a chunk inside its frame */

/* ---- index delta objects ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* An add entry's location (version 1: 64-bit offset, no frame offset). */
static void entry_loc(int version, const uint8_t *e, struct chunk_loc *loc)
{
	memcpy(loc->pack, e + 32, PACK_ID_LEN);
	loc->off = version == 1 ? get_le64(e + 48) : get_le32(e + 48);
	loc->foff = version == 1 ? 0 : get_le32(e + 52);
	loc->blob_len = get_le32(e + 56);
	loc->plain_len = get_le32(e + 60);
}

static bool entry_ok(int kind, int version, const uint8_t *e)
{
	struct chunk_loc l;
	switch (kind) {
	case INDEX_KIND_ADD:
		entry_loc(version, e, &l);
		if (l.blob_len == 0 || l.off > PACK_MAX_SIZE || l.blob_len > PACK_MAX_SIZE - l.off)
			return false;
		if (version == 1)
			return l.plain_len <= REPO_CHUNK_MAX;
		/* a chunk inside a frame, or a frame of its own (a map region may be larger) */
		return l.foff ? (uint64_t)l.foff + l.plain_len <= REPO_FRAME_MAX :
			l.plain_len <= REPO_META_MAX;
	case INDEX_KIND_CONDEMN:	/* chunk id field zero; offset field: time; no lengths */
		return all_zero(e, CHUNK_ID_LEN) && all_zero(e + 56, 8);
	default:			/* rescue: the condemn object's id, then zeroes */
		return all_zero(e + INDEX_ID_LEN, CHUNK_ID_LEN - INDEX_ID_LEN) &&
			all_zero(e + 56, 8);
	}
}

static int decode(const void *buf, size_t len, bool adds_only, const struct index_visitor *v)
{
	const uint8_t *p = buf;
	if (len < INDEX_DELTA_HDR || memcmp(p, INDEX_MAGIC, 4))
		return -EBADMSG;
	int kind = p[5], version = p[4];
	if (version < 1 || version > INDEX_VERSION_MAX || kind < INDEX_KIND_ADD ||
	    kind > INDEX_KIND_RESCUE ||
	    (adds_only && kind != INDEX_KIND_ADD) || get_le16(p + 6) || get_le32(p + 12))
		return -EPROTO;
	uint32_t n = get_le32(p + 8);
	if ((len - INDEX_DELTA_HDR) % INDEX_DELTA_ENTRY ||
	    (len - INDEX_DELTA_HDR) / INDEX_DELTA_ENTRY != n)
		return -EBADMSG;
	/* check everything before calling back for anything: an object is used whole or not
	 * at all */
	for (uint32_t i = 0; i < n; i++)
		if (!entry_ok(kind, version, p + INDEX_DELTA_HDR + (size_t)i * INDEX_DELTA_ENTRY))
			return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + INDEX_DELTA_HDR + (size_t)i * INDEX_DELTA_ENTRY;
		int r = 0;
		if (kind == INDEX_KIND_ADD && v->add) {
			struct chunk_loc loc;
			entry_loc(version, e, &loc);
			r = v->add(v->arg, e, &loc);
		} else if (kind == INDEX_KIND_CONDEMN && v->condemn) {
			r = v->condemn(v->arg, e + 32, get_le64(e + 48));
		} else if (kind == INDEX_KIND_RESCUE && v->rescue) {
			r = v->rescue(v->arg, e + 32, e, get_le64(e + 48));
		}
		if (r)
			return r;
	}
	return 0;
}

int index_delta_decode(const void *buf, size_t len,
		       int (*fn)(void *arg, const uint8_t *id, const struct chunk_loc *loc),
		       void *arg)
{
	struct index_visitor v = { .add = fn, .arg = arg };
	return decode(buf, len, true, &v);
}

int index_object_decode(const void *buf, size_t len, const struct index_visitor *v)
{
	return decode(buf, len, false, v);
}

int index_marks_encode(int kind, const struct pack_mark *m, size_t n, struct dbuf *out)
{
	uint8_t hdr[INDEX_DELTA_HDR] = INDEX_MAGIC;
	if (kind != INDEX_KIND_CONDEMN && kind != INDEX_KIND_RESCUE)
		return -EINVAL;
	hdr[4] = 1;	/* condemn and rescue entries are the same in every version */
	hdr[5] = (uint8_t)kind;
	put_le32(hdr + 8, (uint32_t)n);
	int r = dbuf_add(out, hdr, sizeof(hdr));
	for (size_t i = 0; i < n && r == 0; i++) {
		uint8_t e[INDEX_DELTA_ENTRY] = { 0 };
		if (kind == INDEX_KIND_RESCUE)
			memcpy(e, m[i].obj, INDEX_ID_LEN);
		memcpy(e + 32, m[i].pack, PACK_ID_LEN);
		put_le64(e + 48, m[i].time_ns);
		r = dbuf_add(out, e, sizeof(e));
	}
	return r;
}

/* ---- seen keys and marks ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool key_seen(const struct repo *r, const char *key)
{
	return r->n_seen && bsearch(&key, r->seen, r->n_seen, sizeof(char *), cmp_str);
}

static int mark_seen_locked(struct repo *r, const char *key)
{
	size_t lo = 0, hi = r->n_seen;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->seen[mid], key);
		if (c == 0)
			return 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (r->n_seen == r->cap_seen) {
		size_t cap = r->cap_seen ? r->cap_seen * 2 : 64;
		char **v = realloc(r->seen, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->seen = v;
		r->cap_seen = cap;
	}
	char *k = strdup(key);
	if (!k)
		return -ENOMEM;
	memmove(r->seen + lo + 1, r->seen + lo, (r->n_seen - lo) * sizeof(char *));
	r->seen[lo] = k;
	r->n_seen++;
	return 0;
}

int index_mark_seen(struct repo *r, const char *key)
{
	pthread_mutex_lock(&r->marks_lock);
	int rc = mark_seen_locked(r, key);
	pthread_mutex_unlock(&r->marks_lock);
	return rc;
}

static int cmp_mark(const void *a, const void *b)
{
	const struct pack_mark *x = a, *y = b;
	int c = memcmp(x->pack, y->pack, PACK_ID_LEN);
	return c ? c : memcmp(x->obj, y->obj, INDEX_ID_LEN);
}

static bool condemned_locked(const struct repo *r, const uint8_t pack[PACK_ID_LEN],
			     struct pack_mark *mark)
{
	size_t lo = 0, hi = r->n_cond;
	while (lo < hi) {	/* the first mark of this pack */
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(r->cond[mid].pack, pack, PACK_ID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < r->n_cond && !memcmp(r->cond[lo].pack, pack, PACK_ID_LEN); lo++)
		if (!r->n_resc || !bsearch(&r->cond[lo], r->resc, r->n_resc, sizeof(*r->resc),
					   cmp_mark)) {
			if (mark)
				*mark = r->cond[lo];
			return true;
		}
	return false;
}

bool index_condemned(struct repo *r, const uint8_t pack[PACK_ID_LEN], struct pack_mark *mark)
{
	pthread_mutex_lock(&r->marks_lock);
	bool c = condemned_locked(r, pack, mark);
	pthread_mutex_unlock(&r->marks_lock);
	return c;
}

int index_condemnations(struct repo *r, struct pack_mark **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&r->marks_lock);
	struct pack_mark *v = r->n_cond ? malloc(r->n_cond * sizeof(*v)) : NULL;
	for (size_t i = 0; v && i < r->n_cond; i++)
		if (!r->n_resc || !bsearch(&r->cond[i], r->resc, r->n_resc, sizeof(*r->resc),
					   cmp_mark))
			v[(*n)++] = r->cond[i];
	int rc = r->n_cond && !v ? -ENOMEM : 0;
	pthread_mutex_unlock(&r->marks_lock);
	*out = v;
	return rc;
}

bool index_dropped(struct repo *r, const uint8_t id[CHUNK_ID_LEN], struct chunk_loc *loc)
{
	return index_lookup(&r->dropped, id, loc);
}

void index_state_release(struct repo *r)
{
	for (size_t i = 0; i < r->n_seen; i++)
		free(r->seen[i]);
	free(r->seen);
	free(r->cond);
	free(r->resc);
	r->seen = NULL;
	r->cond = r->resc = NULL;
	r->n_seen = r->cap_seen = r->n_cond = r->n_resc = 0;
}

int index_new_key(char *key, size_t keylen, uint8_t id[INDEX_ID_LEN])
{
	if (RAND_bytes(id, INDEX_ID_LEN) != 1)
		return -EIO;
	int n = snprintf(key, keylen, "index/");
	for (unsigned i = 0; i < INDEX_ID_LEN; i++)
		n += snprintf(key + n, keylen - (size_t)n, "%02x", id[i]);
	return 0;
}

/* "index/<32 hex>" -> id; anything else: zeroes (such an object cannot be rescued by id,
 * which only prune's own objects need). */
static void key_id(const char *key, uint8_t id[INDEX_ID_LEN])
{
	const char *h = key + 6;
	memset(id, 0, INDEX_ID_LEN);
	if (strncmp(key, "index/", 6) || strlen(h) != 2 * INDEX_ID_LEN)
		return;
	for (unsigned i = 0; i < INDEX_ID_LEN; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1) {
			memset(id, 0, INDEX_ID_LEN);
			return;
		}
		id[i] = (uint8_t)v;
	}
}

/* ---- dropping the entries of condemned packs ---- */

static bool loc_condemned(void *arg, const struct chunk_loc *loc)
{
	return condemned_locked(arg, loc->pack, NULL);
}

static int drop_locked(struct repo *r, struct chunk_index *ix, struct chunk_index *dropped)
{
	return r->n_cond ? index_remove_if(ix, loc_condemned, r, dropped) : 0;
}

int index_drop_condemned(struct repo *r, struct chunk_index *ix, struct chunk_index *dropped)
{
	pthread_mutex_lock(&r->marks_lock);
	int rc = drop_locked(r, ix, dropped);
	pthread_mutex_unlock(&r->marks_lock);
	return rc;
}

/* ---- reading a batch of index objects (open, refresh) ---- */

struct alt {
	uint8_t id[CHUNK_ID_LEN];
	struct chunk_loc loc;
};

struct batch {
	struct repo *r;
	uint8_t obj[INDEX_ID_LEN];	/* the object being decoded */
	struct pack_mark *cond, *resc;
	size_t n_cond, cap_cond, n_resc, cap_resc;
	struct alt *alt;		/* a second location of an id (kept aside) */
	size_t n_alt, cap_alt;
};

static int grow_array(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, c * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int batch_add(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	struct batch *b = arg;
	struct chunk_loc old;
	if (condemned_locked(b->r, loc->pack, NULL))
		return 0;	/* condemned by an object read earlier */
	if (!index_lookup(&b->r->index, id, &old))
		return index_add(&b->r->index, id, loc);
	if (!memcmp(old.pack, loc->pack, PACK_ID_LEN))
		return 0;
	if (grow_array((void **)&b->alt, &b->cap_alt, b->n_alt, sizeof(*b->alt)))
		return -ENOMEM;
	memcpy(b->alt[b->n_alt].id, id, CHUNK_ID_LEN);
	b->alt[b->n_alt++].loc = *loc;
	return 0;
}

static int batch_mark(struct batch *b, bool condemn, const uint8_t *pack, const uint8_t *obj,
		      uint64_t time_ns)
{
	struct pack_mark **v = condemn ? &b->cond : &b->resc;
	size_t *n = condemn ? &b->n_cond : &b->n_resc;
	if (grow_array((void **)v, condemn ? &b->cap_cond : &b->cap_resc, *n, sizeof(**v)))
		return -ENOMEM;
	struct pack_mark *m = &(*v)[(*n)++];
	memcpy(m->pack, pack, PACK_ID_LEN);
	memcpy(m->obj, obj, INDEX_ID_LEN);
	m->time_ns = time_ns;
	return 0;
}

static int batch_condemn(void *arg, const uint8_t *pack, uint64_t time_ns)
{
	struct batch *b = arg;
	return batch_mark(b, true, pack, b->obj, time_ns);
}

static int batch_rescue(void *arg, const uint8_t *pack, const uint8_t *obj, uint64_t time_ns)
{
	return batch_mark(arg, false, pack, obj, time_ns);
}

/* Append src[0..n) to the sorted array *v (size *nv), keeping it sorted. */
static int merge_marks(struct pack_mark **v, size_t *nv, const struct pack_mark *src, size_t n)
{
	if (!n)
		return 0;
	struct pack_mark *p = realloc(*v, (*nv + n) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memcpy(p + *nv, src, n * sizeof(*p));
	*nv += n;
	qsort(p, *nv, sizeof(*p), cmp_mark);
	*v = p;
	return 0;
}

/* Fold a batch into r: marks, then drop the newly condemned, then the alternates. */
static int batch_finish(struct batch *b, struct chunk_index *dropped, size_t *fresh)
{
	struct repo *r = b->r;
	int rc = merge_marks(&r->resc, &r->n_resc, b->resc, b->n_resc);
	if (rc == 0)
		rc = merge_marks(&r->cond, &r->n_cond, b->cond, b->n_cond);
	size_t nf = 0;
	for (size_t i = 0; i < b->n_cond && rc == 0; i++)
		nf += !r->n_resc ||
		      !bsearch(&b->cond[i], r->resc, r->n_resc, sizeof(*r->resc), cmp_mark);
	/* the entries of newly condemned packs leave the index; r->dropped keeps their last
	 * location for writers that named them (point-writer.c's recheck) */
	if (rc == 0 && nf)
		rc = drop_locked(r, &r->index, &r->dropped);
	if (rc == 0 && nf && dropped)
		rc = index_merge(dropped, &r->dropped);
	for (size_t i = 0; i < b->n_alt && rc == 0; i++)
		if (!condemned_locked(r, b->alt[i].loc.pack, NULL))
			rc = index_add(&r->index, b->alt[i].id, &b->alt[i].loc);
	if (fresh)
		*fresh = nf;
	free(b->cond);
	free(b->resc);
	free(b->alt);
	return rc;
}

struct load_ctx {
	char **keys;
	size_t n, cap;
	const struct repo *r;	/* refresh: only keys not seen yet */
};

static int collect_key(void *arg, const char *key, uint64_t size)
{
	(void)size;
	struct load_ctx *lc = arg;
	if (lc->r && key_seen(lc->r, key))
		return 0;
	if (grow_array((void **)&lc->keys, &lc->cap, lc->n, sizeof(char *)))
		return -ENOMEM;
	if (!(lc->keys[lc->n] = strdup(key)))
		return -ENOMEM;
	lc->n++;
	return 0;
}

/* Read the listed objects into a batch. Fatal errors (-ENOMEM, -EIO, no space for the
 * index's scratch file) stop the reading; what was read is still folded in. */
static int read_batch(struct repo *r, struct load_ctx *lc, struct chunk_index *dropped,
		      size_t *fresh, char *err, size_t errlen)
{
	struct batch b = { .r = r };
	struct index_visitor v = { batch_add, batch_condemn, batch_rescue, &b };
	int rc = 0;
	for (size_t i = 0; i < lc->n && rc == 0; i++) {
		void *plain;
		size_t len;
		int e = repo_get_meta(r, lc->keys[i], &plain, &len);
		if (e == 0) {
			key_id(lc->keys[i], b.obj);
			e = index_object_decode(plain, len, &v);
			free(plain);
		}
		/* out of memory, the store failing, or the index's scratch file (no space) */
		if (e == -ENOMEM || e == -EIO || e == -ENOSPC || e == -EDQUOT || e == -EOVERFLOW) {
			rc = e;
			repo_err(err, errlen, "%s: %s", lc->keys[i],
				 store_strerror(repo_store(r), e));
			break;
		}
		if (e < 0 && e != -ENOENT)
			/* a corrupt index object: its chunks are unknown (reads of them fail, a
			 * writer stores them again); verify reports it */
			rc = repo_add_problem(r, lc->keys[i], e == -EPROTO ? "unsupported index "
					      "object (newer format)" : "corrupt index object");
		if (rc == 0)
			rc = mark_seen_locked(r, lc->keys[i]);
	}
	int e = batch_finish(&b, dropped, fresh);
	return rc ? rc : e;
}

static void load_ctx_release(struct load_ctx *lc)
{
	for (size_t i = 0; i < lc->n; i++)
		free(lc->keys[i]);
	free(lc->keys);
}

int index_load(struct repo *r, char *err, size_t errlen)
{
	struct load_ctx lc = { 0 };
	pthread_mutex_lock(&r->marks_lock);
	int rc = store_list(r->st, "index/", collect_key, &lc);
	if (rc == 0)
		rc = read_batch(r, &lc, NULL, NULL, err, errlen);
	pthread_mutex_unlock(&r->marks_lock);
	if (rc < 0 && err && !err[0])
		repo_err(err, errlen, "cannot load the chunk index: %s",
			 store_strerror(repo_store(r), rc));
	load_ctx_release(&lc);
	return rc;
}

int index_refresh(struct repo *r, struct chunk_index *dropped, size_t *fresh)
{
	struct load_ctx lc = { .r = r };
	if (fresh)
		*fresh = 0;
	/* one refresh at a time: writers of several domains share the repository */
	pthread_mutex_lock(&r->marks_lock);
	int rc = store_list(r->st, "index/", collect_key, &lc);
	if (rc == 0 && lc.n)
		rc = read_batch(r, &lc, dropped, fresh, NULL, 0);
	pthread_mutex_unlock(&r->marks_lock);
	load_ctx_release(&lc);
	return rc;
}
