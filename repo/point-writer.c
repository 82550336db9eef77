/* Writing a point: coalescing the calls, dedupe, packing, and the commit order
 * (packs, then the index delta, then the manifest).
 *
 * Why it works this way:
 * - A DATA extent may show only part of its chunk (coff, clen; manifest version 2). So a
 *   point never reads old data: a 4 KiB write is stored as a 4 KiB chunk, a later call
 *   that overwrites part of an earlier piece leaves an extent showing the rest of that
 *   piece, and readers cut older extents where newer ones cover them (map_apply). Version
 *   1 rebuilt ("materialized") the whole 64 KiB slot instead, which cost a chunk read and a
 *   64 KiB encode per small write and made the RPO of random-write loads miss its target.
 * - Calls are painted into a sorted list of non-overlapping segments per disk as they come
 *   (later calls win); a DATA segment names its piece and the part of it still visible.
 *   Pieces are stored (encoded into the current pack) as they arrive, through the encode
 *   pool, so the data held stays bounded by the pack size whatever the point's size; a
 *   piece entirely overwritten later in the point is simply left unreferenced in its pack.
 * - Dedupe stays per piece (64 KiB chunks by default), but compression works on frames
 *   (format 2): pieces that follow each other on one disk go into one blob of up to
 *   REPO_FRAME_MAX bytes, which compresses much better than each chunk alone (measured
 *   in docs/repo-format.md "Frames"). A piece that does not follow the previous one
 *   starts a new frame, so a restore, which reads in disk order, decodes each frame once.
 *   Format 1 repositories get frames of one chunk, as format 1 readers expect.
 * - Packs close at PACK_TARGET_SIZE and at commit; each is uploaded in one put, on a
 *   thread of its own (up to UPLOADS_MAX at once) while the next pack fills. The index
 *   delta and the manifest go up only after every pack is durable, so a reader that sees a
 *   manifest can read every chunk it names. Nothing visible changes until the manifest
 *   put returns; an aborted or failed point leaves only unreferenced packs/index objects.
 * - Prune may condemn a pack this point dedupes against (or, once its index is up, one of
 *   its own packs) while the point is being written. Just before the manifest put the
 *   writer reads the index objects it has not seen (recheck) and stores any such chunk
 *   again; docs/repo-format.md "Prune" says why that, with prune's grace delay, is safe.
 * - The parent's map of a disk is loaded only for full points (their manifest carries the
 *   complete map); a delta point reads no old manifest or chunk at all.
 * - Memory stays bounded whatever the point's size (a seed of a 16 TiB disk is 256 M
 *   extents at 64 KiB): in a format 2 repository, once the segments or pieces held reach
 *   spill_at, the writer drains the pool (so every piece has its id), writes each disk's
 *   segments out as a sorted run of extents to an unlinked scratch file (map-spill.c) and
 *   forgets them and the pieces. Such a point is written as a full point: its maps are
 *   built one region at a time (map-writer.c), each run read once, in order, a region's
 *   slice at a time, later runs winning. Format 1 keeps a full map in one object anyway.
 * Assumed: one writer per domain (the shipper); a call after an error only fails again. */
#include "repo/point-pool.h"
#include "repo/repo-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define ZERO_EXT_MAX (1u << 30)	/* ZERO extents are split to fit the u32 length */
#define REGION_LEVEL 3		/* zstd level of map regions (as other metadata) */
#define DELTA_MAX_EXTENTS (1u << 22)	/* about 190 MB of manifest, under REPO_META_MAX */
#define UPLOADS_MAX 3		/* full packs uploading while the next one fills */
/* Segments or pieces held before they are spilled: about 32 + 36 + 56 bytes each while
 * held, so some 30 MiB, and a run per 16 GiB of a seed at 64 KiB chunks. */
#define SPILL_AT (1u << 18)
/* Pack buffers are allocated whole, page-aligned, and reused: a 16 MiB buffer grown by
 * realloc and freed per pack costs a page fault (zeroing a page) per 4 KiB every time,
 * which measured 12% of a seed's CPU; aligned, the file store can write it O_DIRECT. */
#define PACK_BUF_CAP (PACK_TARGET_SIZE + (4u << 20))
#define PACK_BUF_ALIGN 4096u

/* A full pack on its way to the store, on its own thread. */
struct upload {
	pthread_t th;
	struct repo *r;
	_Atomic uint64_t *ns;	/* the writer's upload time */
	struct pack_writer pw;
	int rc;
	char why[256];
};

struct seg {
	uint64_t off, len;
	uint8_t kind;		/* enum extent_kind */
	uint32_t piece;		/* DATA: index in w->pieces */
	uint32_t poff;		/* DATA: offset of this segment in the piece */
};

struct piece {
	uint8_t id[CHUNK_ID_LEN];
	uint32_t len;
};

struct wdisk {
	char name[REPO_NAME_MAX + 1];
	uint64_t size;
	struct seg *seg;
	size_t n, cap;
	struct disk_map *parent;	/* NULL: not in the parent point (or no parent) */
	struct disk_extent *out;	/* the manifest's extents, made at commit */
	size_t nout, capout;
	struct spill_runs runs;		/* segments spilled so far, oldest first */
};

struct repo_point_writer {
	struct repo *r;
	struct point_info info;
	bool has_parent;
	struct point_info parent;
	struct pool_codec codec;
	struct encode_pool *pool;	/* started at the first data call */
	struct wdisk *fill_disk;	/* the frame being filled: its disk and end on it */
	uint64_t fill_end;
	struct blob_ctx *cx;
	struct frame_buf fb;		/* store_again's frame */
	struct pack_entry *ent;		/* POOL_FRAME_PIECES: add_frame's work array */
	struct chunk_index pending;	/* chunks stored by this point */
	struct chunk_index claimed;	/* chunks some job of this point stores (the pool's) */
	struct pack_writer pack;
	struct piece *pieces;
	size_t npieces, cappieces;
	struct wdisk *disks;
	size_t ndisks;
	struct wdisk *cur;
	uint8_t *tmp, *blob;	/* chunk-size work buffer, blob encode buffer */
	size_t blob_cap;
	int err;			/* sticky */
	struct dbuf spare[UPLOADS_MAX + 1];	/* pack buffers to reuse */
	size_t nspare;
	struct upload up[UPLOADS_MAX];	/* packs being uploaded, oldest at up_head */
	size_t up_head, up_n;
	char up_why[256];		/* the first failed upload's reason */
	_Atomic uint64_t upload_ns;	/* summed over the uploads */
	struct repo_point_stats stats;	/* encode_ns is taken from the pool at the end */
	struct repo_point_stats *stats_out;
	struct spill_file spill;	/* fd -1 until the first spill */
	size_t spill_at;		/* SPILL_AT; 0: never (format 1) */
};

/* ---- uploading packs ---- */

/* An empty buffer for the next pack: a spare one, else a new one of PACK_BUF_CAP (else
 * one that grows as it fills). */
static struct dbuf pack_buf(struct repo_point_writer *w)
{
	struct dbuf b = DBUF_INIT(PACK_MAX_SIZE);
	void *p;
	if (w->nspare)
		b = w->spare[--w->nspare];
	else if (posix_memalign(&p, PACK_BUF_ALIGN, PACK_BUF_CAP) == 0)
		b = (struct dbuf){ p, 0, PACK_BUF_CAP, PACK_MAX_SIZE };
	dbuf_reset(&b);
	return b;
}

/* Done with an uploaded pack: keep its buffer for the next one, free the rest. */
static void pack_recycle(struct repo_point_writer *w, struct pack_writer *pw)
{
	if (w->nspare < ARRAY_SIZE(w->spare) && pw->data.data) {
		w->spare[w->nspare++] = pw->data;
		pw->data = (struct dbuf)DBUF_INIT(PACK_MAX_SIZE);
	}
	pack_writer_release(pw);
}

static void *upload_main(void *arg)
{
	struct upload *u = arg;
	uint64_t t0 = now_mono_ns();
	u->rc = pack_writer_put(u->r, &u->pw);
	atomic_fetch_add(u->ns, now_mono_ns() - t0);
	if (u->rc < 0)	/* the store's detail is per thread: take it here */
		snprintf(u->why, sizeof(u->why), "%s", store_strerror(repo_store(u->r), u->rc));
	return NULL;
}

/* Wait for the oldest upload; its result. */
static int upload_join(struct repo_point_writer *w)
{
	struct upload *u = &w->up[w->up_head];
	pthread_join(u->th, NULL);
	int rc = u->rc;
	if (rc < 0 && !w->up_why[0])
		snprintf(w->up_why, sizeof(w->up_why), "%s", u->why);
	pack_recycle(w, &u->pw);
	w->up_head = (w->up_head + 1) % UPLOADS_MAX;
	w->up_n--;
	return rc;
}

/* Wait for every upload; the first error. */
static int upload_wait_all(struct repo_point_writer *w)
{
	int rc = 0;
	while (w->up_n) {
		int e = upload_join(w);
		if (e < 0 && rc == 0)
			rc = e;
	}
	return rc;
}

/* Seal the current pack and upload it on a thread of its own (at most UPLOADS_MAX at
 * once), so that encoding the next pack overlaps the upload: on an object store a PUT is
 * mostly waiting. The pack's chunks are in w->pending already; nothing names them
 * before the commit, which waits for every upload before the index delta goes up. */
static int upload_async(struct repo_point_writer *w)
{
	int rc = pack_writer_seal(w->r, &w->pack);
	if (rc == 0 && w->up_n == UPLOADS_MAX)
		rc = upload_join(w);
	if (rc < 0)
		return rc;
	struct upload *u = &w->up[(w->up_head + w->up_n) % UPLOADS_MAX];
	u->r = w->r;
	u->ns = &w->upload_ns;
	u->pw = w->pack;
	u->rc = 0;
	u->why[0] = '\0';
	memset(&w->pack, 0, sizeof(w->pack));
	w->pack.data = pack_buf(w);
	if (pthread_create(&u->th, NULL, upload_main, u)) {
		rc = pack_writer_put(w->r, &u->pw);	/* no thread: upload here */
		pack_recycle(w, &u->pw);
		return rc;
	}
	w->up_n++;
	return 0;
}

/* ---- storing frames ---- */

/* The current pack, started if need be. */
static int pack_open(struct repo_point_writer *w)
{
	return w->pack.open ? 0 : pack_writer_start(&w->pack, w->r->format);
}

/* Put a finished job's frame (its fresh pieces) into the current pack and the pending
 * index. */
static int add_frame(struct repo_point_writer *w, const struct encode_job *j)
{
	struct pack_entry *ent = w->ent;
	size_t n = 0;
	uint64_t off;
	for (size_t k = 0; k < j->npc; k++) {
		const struct frame_piece *pc = &j->pc[k];
		if (!pc->fresh)
			continue;
		memcpy(ent[n].id, pc->id, CHUNK_ID_LEN);
		ent[n].foff = pc->foff;
		ent[n++].plain_len = pc->len;
	}
	int rc = pack_open(w);
	if (rc == 0)
		rc = pack_writer_add_frame(&w->pack, j->blob, j->blob_len, ent, n, &off);
	for (size_t k = 0; k < n && rc == 0; k++) {
		struct chunk_loc loc = { .off = off, .blob_len = j->blob_len, .foff = ent[k].foff,
					 .plain_len = ent[k].plain_len };
		memcpy(loc.pack, w->pack.id, PACK_ID_LEN);
		rc = index_add(&w->pending, ent[k].id, &loc);
	}
	if (rc < 0)
		return rc;
	w->info.stored_bytes += j->blob_len;
	w->stats.frames++;
	w->stats.plain_bytes += j->plain_len;
	if (w->pack.data.len >= PACK_TARGET_SIZE)
		rc = upload_async(w);
	return rc;
}

static int retire_one(struct repo_point_writer *w)
{
	struct encode_job *j = encode_pool_oldest(w->pool);
	int rc = 0;
	if (!j)
		return 0;
	if (j->err < 0)
		rc = j->err;
	else {
		for (size_t k = 0; k < j->npc; k++)
			memcpy(w->pieces[j->pc[k].tag].id, j->pc[k].id, CHUNK_ID_LEN);
		if (j->plain_len)
			rc = add_frame(w, j);
	}
	encode_pool_retire(w->pool);
	return rc;
}

/* Seal the frame being filled and retire every job. */
static int drain(struct repo_point_writer *w)
{
	int rc = 0;
	if (!w->pool)
		return 0;
	encode_pool_seal(w->pool);
	while (encode_pool_oldest(w->pool)) {
		int e = retire_one(w);
		if (e < 0 && rc == 0)
			rc = e;
	}
	return rc;
}

/* ---- painting calls into segments ---- */

/* First segment that ends after off. */
static size_t seg_find(const struct seg *s, size_t n, uint64_t off)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s[mid].off + s[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int paint(struct wdisk *d, const struct seg *ns)
{
	uint64_t a = ns->off, b = ns->off + ns->len;
	size_t i = seg_find(d->seg, d->n, a), j = i;
	while (j < d->n && d->seg[j].off < b)
		j++;
	struct seg rep[3];
	size_t k = 0;
	if (i < j && d->seg[i].off < a) {
		rep[k] = d->seg[i];
		rep[k++].len = a - d->seg[i].off;
	}
	rep[k++] = *ns;
	if (i < j && d->seg[j - 1].off + d->seg[j - 1].len > b) {
		struct seg r = d->seg[j - 1];
		uint64_t cut = b - r.off;
		r.off = b;
		r.len -= cut;
		if (r.kind == EXTENT_DATA)
			r.poff += (uint32_t)cut;
		rep[k++] = r;
	}
	size_t n = d->n - (j - i) + k;
	if (n > d->cap) {
		size_t cap = MAX(d->cap * 2, (size_t)64);
		struct seg *s = realloc(d->seg, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		d->seg = s;
		d->cap = cap;
	}
	memmove(d->seg + i + k, d->seg + j, (d->n - j) * sizeof(*d->seg));
	memcpy(d->seg + i, rep, k * sizeof(*rep));
	d->n = n;
	return 0;
}

/* ---- commit: resolving segments into manifest extents ---- */

static int out_add(struct wdisk *d, uint64_t off, uint32_t len, uint8_t kind, const uint8_t *id)
{
	if (d->nout == d->capout) {
		size_t cap = MAX(d->capout * 2, (size_t)64);
		struct disk_extent *e = realloc(d->out, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		d->out = e;
		d->capout = cap;
	}
	struct disk_extent *e = &d->out[d->nout++];
	memset(e, 0, sizeof(*e));
	e->offset = off;
	e->length = len;
	e->kind = kind;
	if (id)
		memcpy(e->id, id, CHUNK_ID_LEN);
	return 0;
}

static int out_zero(struct wdisk *d, uint64_t a, uint64_t b)
{
	int rc = 0;
	while (a < b && rc == 0) {
		uint64_t n = MIN(b - a, (uint64_t)ZERO_EXT_MAX);
		rc = out_add(d, a, (uint32_t)n, EXTENT_ZERO, NULL);
		a += n;
	}
	return rc;
}

/* Drop what lies past the disk's final size (it may have shrunk after calls). */
static void clip_to_size(struct wdisk *d)
{
	size_t n = d->n;
	while (n && d->seg[n - 1].off >= d->size)
		n--;
	if (n && d->seg[n - 1].off + d->seg[n - 1].len > d->size)
		d->seg[n - 1].len = d->size - d->seg[n - 1].off;
	d->n = n;
}

/* d's segments as extents, appended to d->out; *bytes += the bytes they cover. Every
 * piece must have its id (the pool drained). */
static int segs_to_out(struct repo_point_writer *w, struct wdisk *d, uint64_t *bytes)
{
	int rc = 0;
	for (size_t i = 0; i < d->n && rc == 0; i++) {
		const struct seg *s = &d->seg[i];
		*bytes += s->len;
		if (s->kind == EXTENT_ZERO) {
			rc = out_zero(d, s->off, s->off + s->len);
			continue;
		}
		rc = out_add(d, s->off, (uint32_t)s->len, EXTENT_DATA, w->pieces[s->piece].id);
		if (rc == 0) {
			d->out[d->nout - 1].coff = s->poff;
			d->out[d->nout - 1].clen = w->pieces[s->piece].len;
		}
	}
	return rc;
}

static int resolve_disk(struct repo_point_writer *w, struct wdisk *d)
{
	clip_to_size(d);
	return segs_to_out(w, d, &w->info.logical_bytes);
}

/* ---- spilling segments to the scratch file (see the note at the top) ---- */

/* Write every disk's segments out as its newest run and forget them, and the pieces. */
static int spill(struct repo_point_writer *w)
{
	uint64_t bytes = 0;	/* counted when the runs are read back (feed_region) */
	int rc = drain(w);
	if (rc == 0 && w->spill.fd < 0)
		rc = spill_open(&w->spill, repo_scratch_dir(w->r));
	for (size_t i = 0; i < w->ndisks && rc == 0; i++) {
		struct wdisk *d = &w->disks[i];
		d->nout = 0;
		if ((rc = segs_to_out(w, d, &bytes)) == 0)
			rc = spill_write(&w->spill, &d->runs, d->out, d->nout);
		d->n = d->nout = 0;
	}
	w->npieces = 0;
	w->info.flags |= POINT_FULL;	/* its maps are built region by region */
	return rc;
}

/* Spill once the segments (of all disks) or the pieces held reach spill_at. */
static int maybe_spill(struct repo_point_writer *w)
{
	size_t segs = 0;
	if (!w->spill_at)
		return 0;
	for (size_t i = 0; i < w->ndisks; i++)
		segs += w->disks[i].n;
	size_t held = MAX(segs, w->npieces);
	return held < w->spill_at ? 0 : (w->err = spill(w));
}

void point_writer_spill_at(struct repo_point_writer *w, size_t n)
{
	if (w->r->format >= 2)
		w->spill_at = n;
}

struct feed {
	struct repo_point_writer *w;
	struct spill_runs *runs;
};

/* region_feed's load for a spilled disk: its runs' extents in region k, laid over each
 * other; the bytes they cover within the disk are the point's logical bytes. */
static int feed_region(void *arg, uint64_t k, struct manifest_disk *extra)
{
	struct feed *f = arg;
	uint64_t rb = repo_region_bytes(f->w->r), lo = k * rb, hi = MIN(lo + rb, extra->size);
	free(extra->ext);
	extra->ext = NULL;
	extra->n = 0;
	int rc = spill_region(&f->w->spill, f->runs, lo, lo + rb, &extra->ext, &extra->n);
	for (size_t i = 0; i < extra->n && rc == 0; i++) {
		const struct disk_extent *e = &extra->ext[i];
		if (e->offset < hi)
			f->w->info.logical_bytes += MIN(e->offset + e->length, hi) - e->offset;
	}
	return rc;
}

/* ---- the public calls ---- */

static int newest_seq(void *arg, const char *key, uint64_t size)
{
	(void)size;
	const char *s = strrchr(key, '/');
	uint64_t v = 0;
	if (!s || strlen(s + 1) != 16)
		return 0;
	for (s++; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > *(uint64_t *)arg)
		*(uint64_t *)arg = v;
	return 0;
}

int repo_point_begin(struct repo *r, const struct point_info *meta,
		     struct repo_point_writer **out)
{
	char prefix[STORE_KEY_MAX];
	uint64_t newest = 0;
	*out = NULL;
	if (!name_ok(meta->domain) || meta->seq == 0 || meta->parent_seq + 1 != meta->seq)
		return -EINVAL;
	snprintf(prefix, sizeof(prefix), "domains/%s/epochs/%" PRIu32 "/points/", meta->domain,
		 meta->epoch);
	int rc = store_list(r->st, prefix, newest_seq, &newest);
	if (rc < 0)
		return rc;
	if (newest != meta->parent_seq)
		return newest > meta->parent_seq ? -EEXIST : -ENOENT;

	struct repo_point_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->r = r;
	w->info = *meta;
	w->info.flags = meta->flags & POINT_CONSISTENT;
	if (meta->parent_seq == 0 || meta->seq % REPO_FULL_MAP_EVERY == 0)
		w->info.flags |= POINT_FULL;
	w->info.logical_bytes = w->info.stored_bytes = 0;
	if (!w->info.time_ns)
		w->info.time_ns = now_real_ns();
	w->has_parent = meta->parent_seq != 0;
	w->parent = *meta;
	w->parent.seq = meta->parent_seq;
	w->codec = (struct pool_codec){ r->ctype, r->clevel, r->auto_skip };
	w->spill.fd = -1;
	w->spill_at = r->format >= 2 ? SPILL_AT : 0;
	w->pack.data = pack_buf(w);
	w->blob_cap = blob_max_size(REPO_FRAME_MAX, r->encrypted);
	w->tmp = malloc(r->chunk_size);
	w->blob = malloc(w->blob_cap);
	w->ent = malloc(POOL_FRAME_PIECES * sizeof(*w->ent));
	rc = index_init(&w->pending);
	if (rc == 0)
		rc = index_init(&w->claimed);
	/* a big point's chunks and claims keep their records in scratch files */
	if (rc == 0)
		rc = index_spill_to(&w->pending, repo_scratch_dir(r), INDEX_RAM_RECS);
	if (rc == 0)
		rc = index_spill_to(&w->claimed, repo_scratch_dir(r), INDEX_RAM_RECS);
	if (rc == 0 && (!w->tmp || !w->blob || !w->ent || !(w->cx = repo_cx_get(r))))
		rc = -ENOMEM;
	if (rc < 0) {
		repo_point_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

int repo_point_set_compression(struct repo_point_writer *w, enum compress_type type, int level,
			       bool auto_skip)
{
	if (w->pool || compress_level_check(type, level) < 0)
		return -EINVAL;
	w->codec = (struct pool_codec){ type, level, auto_skip };
	return 0;
}

void repo_point_stats_to(struct repo_point_writer *w, struct repo_point_stats *st)
{
	w->stats_out = st;
}

int repo_point_disk(struct repo_point_writer *w, const char *disk, uint64_t disk_size)
{
	if (w->err)
		return w->err;
	if (!name_ok(disk))
		return -EINVAL;
	for (size_t i = 0; i < w->ndisks; i++)
		if (!strcmp(w->disks[i].name, disk)) {
			w->cur = &w->disks[i];
			w->cur->size = disk_size;
			return 0;
		}
	if (w->ndisks == REPO_MAX_DISKS)
		return -E2BIG;
	struct wdisk *d = realloc(w->disks, (w->ndisks + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	w->disks = d;
	d = &w->disks[w->ndisks];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", disk);
	d->size = disk_size;
	w->ndisks++;
	w->cur = d;
	return 0;
}

int repo_point_data(struct repo_point_writer *w, uint64_t offset, const void *data,
		    uint32_t len)
{
	uint32_t cs = w->r->chunk_size;
	if (w->err)
		return w->err;
	if (!w->cur || !data || len == 0 || len > cs || offset / cs != (offset + len - 1) / cs ||
	    offset > w->cur->size || len > w->cur->size - offset)
		return -EINVAL;
	if (w->npieces == w->cappieces) {
		size_t cap = MAX(w->cappieces * 2, (size_t)256);
		struct piece *p = realloc(w->pieces, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->pieces = p;
		w->cappieces = cap;
	}
	struct seg s = { offset, len, EXTENT_DATA, (uint32_t)w->npieces, 0 };
	int rc = paint(w->cur, &s);
	if (rc < 0)
		return rc;
	w->pieces[w->npieces].len = len;
	if (!w->pool) {	/* format 1: frames of one chunk, as its readers expect */
		bool v1 = w->r->format < 2;
		rc = encode_pool_start(w->r, POOL_THREADS, v1 ? cs : REPO_FRAME_MAX,
				       v1 ? 1 : POOL_FRAME_PIECES, &w->codec, &w->claimed,
				       &w->pool);
		if (rc < 0)
			return w->err = rc;
	}
	/* a piece that does not follow the previous one on this disk starts a new frame */
	if (w->fill_disk != w->cur || offset != w->fill_end || !encode_pool_room(w->pool, len))
		encode_pool_seal(w->pool);
	while (rc == 0 && encode_pool_full(w->pool))
		rc = retire_one(w);
	if (rc < 0)
		return w->err = rc;
	encode_pool_append(w->pool, data, len, w->npieces++);
	w->fill_disk = w->cur;
	w->fill_end = offset + len;
	return maybe_spill(w);
}

int repo_point_zero(struct repo_point_writer *w, uint64_t offset, uint64_t len)
{
	if (w->err)
		return w->err;
	if (!w->cur)
		return -EINVAL;
	if (offset >= w->cur->size || len == 0)
		return 0;
	len = MIN(len, w->cur->size - offset);
	struct seg s = { offset, len, EXTENT_ZERO, 0, 0 };
	int rc = paint(w->cur, &s);
	return rc < 0 ? rc : maybe_spill(w);
}

/* ---- commit: full maps, uploads ---- */

static int full_disk(struct repo_point_writer *w, struct wdisk *d, struct manifest_disk *md)
{
	snprintf(md->name, sizeof(md->name), "%s", d->name);
	md->size = d->size;
	if (w->has_parent && !d->parent) {
		int rc = repo_disk_map(w->r, &w->parent, d->name, &d->parent, NULL, 0);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	if (d->parent && d->parent->n) {
		md->ext = malloc(d->parent->n * sizeof(*md->ext));
		if (!md->ext)
			return -ENOMEM;
		memcpy(md->ext, d->parent->ext, d->parent->n * sizeof(*md->ext));
		md->n = d->parent->n;
	}
	return map_apply(&md->ext, &md->n, d->out, d->nout, d->size);
}

/* A map region of a full point, stored like a chunk (zstd, in this point's pack) unless
 * the repository or this point has it already. */
static int store_region(void *arg, const void *plain, size_t len, uint8_t id[CHUNK_ID_LEN])
{
	struct repo_point_writer *w = arg;
	struct chunk_loc loc = { .plain_len = (uint32_t)len };
	int rc = chunk_id(w->cx, plain, len, id);
	if (rc < 0 || index_lookup(&w->pending, id, NULL) || index_lookup(&w->r->index, id, NULL))
		return rc;
	size_t cap = blob_max_size(len, w->r->encrypted);
	uint8_t *blob = malloc(cap);
	ssize_t n = blob ? blob_encode(w->cx, plain, len, COMPRESS_ZSTD, REGION_LEVEL, blob, cap)
			 : -ENOMEM;
	rc = n < 0 ? (int)n : pack_open(w);
	if (rc == 0)
		rc = pack_writer_add(&w->pack, id, blob, (uint32_t)n, (uint32_t)len, &loc.off);
	free(blob);
	if (rc < 0)
		return rc;
	loc.blob_len = (uint32_t)n;
	memcpy(loc.pack, w->pack.id, PACK_ID_LEN);
	if ((rc = index_add(&w->pending, id, &loc)) < 0)
		return rc;
	w->info.stored_bytes += (uint64_t)n;
	return w->pack.data.len >= PACK_TARGET_SIZE ? upload_async(w) : 0;
}

/* A disk of a full point in a format 2 repository: its region table. wd: what this point
 * wrote to it (NULL: a disk of the parent this point did not write). */
static int full_disk_regions(struct repo_point_writer *w, const struct chain *c,
			     const char *name, struct wdisk *wd, struct manifest_disk *md)
{
	struct region_sink sink = { store_region, w };
	bool fed = wd && wd->runs.n;	/* spilled: its extents come region by region */
	struct feed f = { w, wd ? &wd->runs : NULL };
	struct region_feed feed = { feed_region, &f };
	struct manifest_disk extra = { .size = wd ? wd->size : 0,
				       .ext = wd && !fed ? wd->out : NULL,
				       .n = wd && !fed ? wd->nout : 0 };
	snprintf(md->name, sizeof(md->name), "%s", name);
	snprintf(extra.name, sizeof(extra.name), "%s", name);
	md->has_regions = true;
	int rc = map_full_regions(w->r, c, name, wd ? &extra : NULL, fed ? &feed : NULL, &sink,
				  &md->reg, &md->nreg, &md->size, NULL, 0);
	if (fed)
		free(extra.ext);
	return rc;
}

static int build_manifest(struct repo_point_writer *w, struct manifest *m)
{
	char **names = NULL;
	size_t nn = 0;
	int rc = 0;
	bool full = w->info.flags & POINT_FULL;
	bool split = full && w->r->format >= 2;	/* full maps as regions */
	struct chain c = { 0 };

	memset(m, 0, sizeof(*m));
	m->info = w->info;
	m->version = w->r->format >= 2 ? 3 : 2;
	if (full && w->has_parent && (rc = repo_point_disks(w->r, &w->parent, &names, &nn)) < 0)
		return rc;
	if (split && w->has_parent && (rc = load_chain(w->r, &w->parent, &c, NULL, 0)) < 0)
		goto out;
	m->disks = calloc(w->ndisks + nn + 1, sizeof(*m->disks));
	if (!m->disks)
		rc = -ENOMEM;
	for (size_t i = 0; i < w->ndisks && rc == 0; i++) {
		struct manifest_disk *md = &m->disks[m->ndisks++];
		if (split) {
			rc = full_disk_regions(w, w->has_parent ? &c : NULL, w->disks[i].name,
					       &w->disks[i], md);
			continue;
		}
		if (full) {
			rc = full_disk(w, &w->disks[i], md);
			continue;
		}
		snprintf(md->name, sizeof(md->name), "%s", w->disks[i].name);
		md->size = w->disks[i].size;
		md->ext = w->disks[i].out;	/* borrowed: given back before release */
		md->n = w->disks[i].nout;
	}
	for (size_t i = 0; i < nn && rc == 0; i++) {	/* parent's disks untouched here */
		bool touched = false;
		for (size_t k = 0; k < w->ndisks; k++)
			touched |= !strcmp(w->disks[k].name, names[i]);
		if (touched)
			continue;
		if (split) {
			rc = full_disk_regions(w, &c, names[i], NULL, &m->disks[m->ndisks++]);
			continue;
		}
		struct disk_map *dm;
		rc = repo_disk_map(w->r, &w->parent, names[i], &dm, NULL, 0);
		if (rc < 0)
			break;
		struct manifest_disk *md = &m->disks[m->ndisks++];
		snprintf(md->name, sizeof(md->name), "%s", names[i]);
		md->size = dm->size;
		md->ext = dm->ext;
		md->n = dm->n;
		dm->ext = NULL;
		disk_map_free(dm);
	}
out:
	chain_release(&c);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void release_manifest(struct repo_point_writer *w, struct manifest *m)
{
	if (!(w->info.flags & POINT_FULL))
		for (size_t i = 0; i < m->ndisks; i++)
			m->disks[i].ext = NULL;	/* borrowed from the wdisks */
	manifest_release(m);
}

static int put_delta(void *arg, const void *plain, size_t len)
{
	struct repo_point_writer *w = arg;
	uint8_t id[INDEX_ID_LEN];
	char key[64];
	int rc = index_new_key(key, sizeof(key), id);
	if (rc == 0)
		rc = repo_put_meta(w->r, key, plain, len);
	if (rc == 0)
		index_mark_seen(w->r, key);	/* -ENOMEM: only read back once more */
	return rc;
}

/* The index deltas of ix: one object per INDEX_DELTA_PER chunks, so that a point of any
 * size stays within REPO_META_MAX an object (and its encoder's buffer small). */
static int upload_index(struct repo_point_writer *w, struct chunk_index *ix)
{
	return index_delta_put(ix, w->r->format < 2 ? 1 : 2, INDEX_DELTA_PER, put_delta, w);
}

/* ---- commit: the condemnation re-check (docs/repo-format.md "Prune") ---- */

/* Copy the frame of a chunk from a condemned pack (still there: prune deletes it only after
 * the grace delay) into this point's current pack, checking the chunk on the way. The
 * frame is copied whole, as a frame of this one chunk (its other chunks, if any, stay
 * unnamed in the copy). */
static int store_again(struct repo_point_writer *w, const uint8_t *id, const struct chunk_loc *loc,
		       struct chunk_index *redo)
{
	char key[64];
	struct chunk_loc nl = *loc;
	size_t zlen;
	int rc;
	if (index_lookup(redo, id, NULL))
		return 0;
	if (loc->plain_len > REPO_META_MAX)
		return -EBADMSG;
	/* a chunk fits the work buffers; a map region may need bigger ones */
	bool big = loc->blob_len > w->blob_cap || loc->plain_len > w->r->chunk_size;
	uint8_t *blob = big ? malloc(loc->blob_len) : w->blob;
	uint8_t *plain = big ? malloc(loc->plain_len ? loc->plain_len : 1) : w->tmp;
	rc = blob && plain ? 0 : -ENOMEM;
	pack_key(loc->pack, key, sizeof(key));
	if (rc == 0 && (rc = store_get_range(w->r->st, key, loc->off, loc->blob_len, blob)) == 0)
		rc = frame_read(w->cx, &w->fb, blob, loc, id, plain, NULL, 0, &zlen);
	struct pack_entry e = { .foff = loc->foff, .plain_len = loc->plain_len };
	memcpy(e.id, id, CHUNK_ID_LEN);
	if (rc == 0 && (rc = pack_open(w)) == 0)
		rc = pack_writer_add_frame(&w->pack, blob, loc->blob_len, &e, 1, &nl.off);
	if (big) {
		free(blob);
		free(plain);
	}
	if (rc < 0)
		return rc;
	memcpy(nl.pack, w->pack.id, PACK_ID_LEN);
	if ((rc = index_add(redo, id, &nl)) < 0)
		return rc;
	w->info.stored_bytes += loc->blob_len;
	if (w->pack.data.len >= PACK_TARGET_SIZE)
		rc = pack_writer_finish(w->r, &w->pack);
	return rc;
}

/* Read the index objects written since the last look. If a prune condemned packs that
 * hold chunks this manifest names (deduped ones, or this point's own packs once their
 * index went up), store those chunks again in a new pack with its own index delta, and
 * look again: the manifest goes up only after a look that found nothing to fix. */
static int recheck(struct repo_point_writer *w, const struct manifest *m)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		struct chunk_index dropped, redo;
		size_t fixed = 0;
		int rc = index_init(&dropped);
		if (rc < 0)
			return rc;
		if ((rc = index_init(&redo)) < 0) {
			index_release(&dropped);
			return rc;
		}
		/* another writer's refresh may have read the condemnation first: this writer's
		 * own chunks are dropped whenever any condemnation is in force, and the others'
		 * last locations come from r->dropped, whoever refreshed */
		rc = index_refresh(w->r, NULL, NULL);
		if (rc == 0)
			rc = index_drop_condemned(w->r, &w->pending, &dropped);
		for (size_t d = 0; d < m->ndisks && rc == 0; d++) {
			const struct manifest_disk *md = &m->disks[d];
			/* the chunks it names, and its map regions (a reused region's chunks are
			 * named by the older full point that is kept alive with this chain) */
			for (size_t i = 0; i < md->n + md->nreg && rc == 0; i++) {
				const uint8_t *id = i < md->n ? md->ext[i].id : md->reg[i - md->n].id;
				struct chunk_loc loc;
				if ((i < md->n && md->ext[i].kind != EXTENT_DATA) ||
				    index_lookup(&w->pending, id, NULL) ||
				    index_lookup(&w->r->index, id, NULL) ||
				    (!index_lookup(&dropped, id, &loc) && !index_dropped(w->r, id, &loc)))
					continue;
				rc = store_again(w, id, &loc, &redo);
				fixed++;
			}
		}
		if (rc == 0 && fixed && w->pack.open && w->pack.n)
			rc = pack_writer_finish(w->r, &w->pack);
		if (rc == 0 && fixed && (rc = upload_index(w, &redo)) == 0)
			rc = index_merge(&w->pending, &redo);
		index_release(&dropped);
		index_release(&redo);
		if (rc < 0 || !fixed)
			return rc;
	}
	return -EAGAIN;	/* condemned again and again: let the caller retry later */
}

/* A delta's extents are inline in its manifest: a point that wrote more extents than a
 * manifest should hold (a resync of a huge disk) is written as a full point instead,
 * whose maps are split into regions (format 2). Readers stop at any full point. */
static void big_delta_full(struct repo_point_writer *w)
{
	uint64_t n = 0;
	for (size_t i = 0; i < w->ndisks; i++)
		n += w->disks[i].nout;
	if (w->r->format >= 2 && n > DELTA_MAX_EXTENTS)
		w->info.flags |= POINT_FULL;
}

static int commit(struct repo_point_writer *w, char *err, size_t errlen)
{
	struct manifest m = { 0 };
	struct dbuf b = DBUF_INIT(REPO_META_MAX);
	char key[STORE_KEY_MAX];
	int rc = w->err ? w->err : drain(w);

	if (rc == 0)	/* every job is done: pending holds what they stored */
		index_clear(&w->claimed);
	/* a point that spilled: the rest as its last runs */
	if (rc == 0 && w->spill.fd >= 0 && (rc = spill(w)) < 0)
		repo_err(err, errlen, "cannot spill the map to %s: %s", repo_scratch_dir(w->r),
			 strerror(-rc));
	for (size_t i = 0; i < w->ndisks && rc == 0; i++)
		if ((rc = resolve_disk(w, &w->disks[i])) < 0)
			repo_err(err, errlen, "disk %s: %s", w->disks[i].name, store_strerror(repo_store(w->r), rc));
	if (rc == 0)
		big_delta_full(w);
	if (rc == 0 && (rc = build_manifest(w, &m)) < 0)
		repo_err(err, errlen, "cannot build the manifest: %s", store_strerror(repo_store(w->r), rc));
	if (rc == 0) {
		if (w->pack.open && w->pack.n)
			rc = upload_async(w);
		int up = upload_wait_all(w);
		if (rc == 0)
			rc = up;
		if (rc < 0)
			repo_err(err, errlen, "cannot upload a pack: %s", w->up_why[0] ? w->up_why :
				 store_strerror(repo_store(w->r), rc));
	} else {
		upload_wait_all(w);
	}
	if (rc == 0 && (rc = upload_index(w, &w->pending)) < 0)
		repo_err(err, errlen, "cannot upload the index delta: %s", store_strerror(repo_store(w->r), rc));
	if (rc == 0 && (rc = recheck(w, &m)) < 0)
		repo_err(err, errlen, "cannot re-store chunks of packs condemned by prune: %s",
			 store_strerror(repo_store(w->r), rc));
	m.info = w->info;
	if (rc == 0 && (rc = manifest_encode(&m, &b)) < 0)
		repo_err(err, errlen, "cannot encode the manifest: %s", strerror(-rc));
	point_key(w->info.domain, w->info.epoch, w->info.seq, key, sizeof(key));
	if (rc == 0 && (rc = repo_put_meta(w->r, key, b.data, b.len)) < 0)
		repo_err(err, errlen, "%s: %s", key, rc == -EEXIST ? "the point exists already" :
			 store_strerror(repo_store(w->r), rc));
	if (rc == 0)
		rc = index_merge(&w->r->index, &w->pending);	/* -ENOMEM: dedupe only */
	release_manifest(w, &m);
	dbuf_release(&b);
	if (rc < 0 && err && !err[0])
		repo_err(err, errlen, "%s", store_strerror(repo_store(w->r), rc));
	return rc;
}

int repo_point_commit(struct repo_point_writer *w, struct point_info *out, char *err,
		      size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	int rc = commit(w, err, errlen);
	if (rc == 0 && out)
		*out = w->info;
	repo_point_abort(w);
	return rc;
}

void repo_point_abort(struct repo_point_writer *w)
{
	if (!w)
		return;
	if (w->pool)
		w->stats.encode_ns = encode_pool_cpu_ns(w->pool);
	encode_pool_stop(w->pool);
	upload_wait_all(w);
	w->stats.upload_ns = atomic_load(&w->upload_ns);
	if (w->stats_out)
		*w->stats_out = w->stats;
	repo_cx_put(w->r, w->cx);
	frame_buf_release(&w->fb);
	index_release(&w->pending);
	index_release(&w->claimed);
	pack_writer_release(&w->pack);
	for (size_t i = 0; i < w->nspare; i++)
		dbuf_release(&w->spare[i]);
	for (size_t i = 0; i < w->ndisks; i++) {
		free(w->disks[i].seg);
		free(w->disks[i].out);
		spill_runs_release(&w->disks[i].runs);
		disk_map_free(w->disks[i].parent);
	}
	spill_close(&w->spill);
	free(w->disks);
	free(w->pieces);
	free(w->tmp);
	free(w->blob);
	free(w->ent);
	free(w);
}
