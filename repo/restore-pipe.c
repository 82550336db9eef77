/* The restore pipeline (contract and memory bound in restore-pipe.h).
 *
 * Why it works this way:
 * - A window is built from the map alone (no I/O): its DATA extents, their chunks made
 *   unique by id (a chunk deduped within the window is fetched once), each chunk's place
 *   in the window buffer, and the ranged GETs: chunks sorted by (pack, offset) and merged
 *   while the next blob starts less than RESTORE_GAP after the previous one ends. On an
 *   object store a GET costs a round trip whatever its size, so a restore of a disk that
 *   was seeded in order reads its packs almost sequentially, a few MiB per request.
 * - RESTORE_DEPTH windows are queued: the fetchers take ranges from the oldest window that
 *   has some left, so they always have work while the caller's thread hands finished
 *   windows to the sink (a file write, a VMDK compressor) in disk order, which ordered
 *   formats need. Ranges are small (RESTORE_RANGE_MAX) so that a window's decoding
 *   spreads over every core instead of waiting on one long range.
 * - Every chunk is decoded with its id (blob_decode checks the MAC or CRC, the length and
 *   the content id), so wrong or corrupt data can never reach the sink. The first failure
 *   stops the fetchers and names the disk offset of the first extent that needed it.
 * - Chunks live in frames (several chunks in one blob, format 2). The chunks of one frame
 *   sort next to each other, so they share one range and each fetcher decodes a frame
 *   once for all of them (frame.c); and a window that reaches into a frame takes the rest
 *   of the frame's extents too (up to REPO_FRAME_MAX more), so that a frame is not decoded
 *   again for the next window. */
#include "repo/restore-pipe.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

struct wchunk {
	uint8_t id[CHUNK_ID_LEN];
	struct chunk_loc loc;
	uint64_t slot;		/* offset of its plaintext in the window buffer */
	uint64_t zslot;		/* offset of its zlib form in the window's zbuf (sink_z) */
	size_t zcap, zlen;	/* room there (0: not wanted), bytes got (0: none) */
	uint64_t first_off;	/* disk offset of the first extent showing it (messages) */
};

struct range {
	uint8_t pack[PACK_ID_LEN];
	uint64_t off, len;
	size_t c0, c1;		/* order[c0..c1): its chunks */
};

struct window {
	struct disk_extent *ext;	/* its extents (a copy: the piece they came from may be
					 * gone by the time the window is sunk) */
	size_t n;
	uint64_t upto;		/* every byte below it is in this window or an earlier one */
	struct wchunk *ch;
	size_t nch;
	size_t *ext_chunk;	/* per extent of the window: its chunk (SIZE_MAX: not DATA) */
	size_t *order;		/* chunk indices sorted by (pack, off) */
	struct range *rg;
	size_t nrg;
	uint8_t *buf;		/* buf_cap bytes of plaintext, then zbuf_cap of zlib forms */
	size_t buf_len;
	size_t next_rg, done_rg;	/* under the pipe's lock */
};

struct pipe {
	struct repo *r;
	const struct disk_map *m;	/* the piece of the map being cut into windows */
	const char *disk;		/* for messages */
	uint64_t size;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct window *q[RESTORE_DEPTH];	/* windows in flight, oldest first */
	size_t qn;
	bool stop;
	int err;
	char why[512];
	pthread_t *th;
	unsigned nth;
	/* window buffers are reused (RESTORE_DEPTH in use at most): fresh mallocs are fresh pages,
	 * and their page faults cost as much as the decompression that fills them */
	uint8_t *spare[RESTORE_DEPTH];
	size_t buf_cap, zbuf_cap;
	size_t z_chunk;		/* opts.z_chunk when there is a sink_z, else 0 */
};

static void window_free(struct pipe *p, struct window *w)
{
	if (!w)
		return;
	free(w->ext);
	free(w->ch);
	free(w->ext_chunk);
	free(w->order);
	free(w->rg);
	for (size_t i = 0; w->buf && i < RESTORE_DEPTH; i++)
		if (!p->spare[i]) {
			p->spare[i] = w->buf;
			w->buf = NULL;
		}
	free(w->buf);
	free(w);
}

static uint8_t *take_buf(struct pipe *p)
{
	for (size_t i = 0; i < RESTORE_DEPTH; i++)
		if (p->spare[i]) {
			uint8_t *b = p->spare[i];
			p->spare[i] = NULL;
			return b;
		}
	void *b;
	return posix_memalign(&b, RESTORE_ALIGN, p->buf_cap + p->zbuf_cap) ? NULL : b;
}

struct map_iter_src {
	struct map_iter *it;
	char *err;
	size_t errlen;
};

struct ent {
	uint8_t id[CHUNK_ID_LEN];
	size_t ext;		/* extent index in the window */
};

static int cmp_ent(const void *a, const void *b)
{
	return memcmp(((const struct ent *)a)->id, ((const struct ent *)b)->id, CHUNK_ID_LEN);
}

static int cmp_first_off(const void *a, const void *b, void *arg)
{
	const struct wchunk *ch = arg;
	uint64_t x = ch[*(const size_t *)a].first_off, y = ch[*(const size_t *)b].first_off;
	return x < y ? -1 : x > y;
}

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct wchunk *ch = arg;
	const struct chunk_loc *x = &ch[*(const size_t *)a].loc;
	const struct chunk_loc *y = &ch[*(const size_t *)b].loc;
	int c = memcmp(x->pack, y->pack, PACK_ID_LEN);
	if (c)
		return c;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* w->order: the window's chunk indices sorted by cmp. */
static void sort_chunks(struct window *w, int (*cmp)(const void *, const void *, void *))
{
	for (size_t i = 0; i < w->nch; i++)
		w->order[i] = i;
	if (w->nch)
		qsort_r(w->order, w->nch, sizeof(*w->order), cmp, w->ch);
}

static bool same_frame(const struct chunk_loc *a, const struct chunk_loc *b)
{
	return a->off == b->off && !memcmp(a->pack, b->pack, PACK_ID_LEN);
}

/* A window [e0, e1) that ends inside a frame takes the next extents of that frame too, up
 * to REPO_FRAME_MAX more bytes of slots. */
static size_t frame_end(struct pipe *p, size_t e0, size_t e1, uint64_t sum)
{
	const struct disk_map *m = p->m;
	struct chunk_loc last, next;
	size_t k = e1;
	while (k > e0 && m->ext[k - 1].kind != EXTENT_DATA)
		k--;
	if (k == e0 || !index_lookup(&p->r->index, m->ext[k - 1].id, &last))
		return e1;
	uint64_t limit = sum + REPO_FRAME_MAX;
	while (e1 < m->n && m->ext[e1].kind == EXTENT_DATA &&
	       sum + ROUND_UP(m->ext[e1].clen, RESTORE_ALIGN) <= limit &&
	       index_lookup(&p->r->index, m->ext[e1].id, &next) && same_frame(&last, &next)) {
		sum += ROUND_UP(m->ext[e1].clen, RESTORE_ALIGN);
		e1++;
	}
	return e1;
}

/* Build the window of extents from e0 on (at least one, at most window bytes of chunk
 * plaintext unless a single chunk is larger, plus the rest of a frame it reaches into). */
static int window_build(struct pipe *p, size_t e0, size_t wbytes, struct window **out,
			char *err, size_t errlen)
{
	const struct disk_map *m = p->m;
	struct window *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	size_t e1 = e0;
	uint64_t sum = 0;
	while (e1 < m->n && (e1 == e0 || sum + ROUND_UP(m->ext[e1].clen, RESTORE_ALIGN) <= wbytes)) {
		if (m->ext[e1].kind == EXTENT_DATA)
			sum += ROUND_UP(m->ext[e1].clen, RESTORE_ALIGN);
		e1++;
	}
	e1 = frame_end(p, e0, e1, sum);
	size_t n = e1 - e0, ne = 0;
	w->n = n;
	w->upto = e1 < m->n ? m->ext[e1].offset : m->ext[e1 - 1].offset + m->ext[e1 - 1].length;
	w->ext = malloc((n ? n : 1) * sizeof(*w->ext));
	struct ent *ents = malloc((n ? n : 1) * sizeof(*ents));
	w->ext_chunk = malloc((n ? n : 1) * sizeof(*w->ext_chunk));
	w->ch = malloc((n ? n : 1) * sizeof(*w->ch));
	w->order = malloc((n ? n : 1) * sizeof(*w->order));
	w->rg = malloc((n ? n : 1) * sizeof(*w->rg));
	int rc = 0;
	if (!ents || !w->ext || !w->ext_chunk || !w->ch || !w->order || !w->rg) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(w->ext, m->ext + e0, n * sizeof(*w->ext));
	for (size_t i = 0; i < n; i++) {
		w->ext_chunk[i] = SIZE_MAX;
		if (w->ext[i].kind != EXTENT_DATA)
			continue;
		memcpy(ents[ne].id, w->ext[i].id, CHUNK_ID_LEN);
		ents[ne++].ext = i;
	}
	if (ne)
		qsort(ents, ne, sizeof(*ents), cmp_ent);
	uint64_t slot = 0;
	for (size_t i = 0; i < ne; i++) {
		const struct disk_extent *e = &w->ext[ents[i].ext];
		if (i == 0 || memcmp(ents[i].id, ents[i - 1].id, CHUNK_ID_LEN)) {
			struct wchunk *c = &w->ch[w->nch];
			memcpy(c->id, ents[i].id, CHUNK_ID_LEN);
			c->first_off = e->offset;
			if (!index_lookup(&p->r->index, c->id, &c->loc)) {
				char hex[2 * CHUNK_ID_LEN + 1];
				chunk_id_to_hex(c->id, hex);
				repo_err(err, errlen, "disk %s, offset %" PRIu64 ": chunk %s is not in "
					 "the repository's chunk index", p->disk, e->offset, hex);
				rc = -ENOENT;
				goto out;
			}
			if (c->loc.plain_len != e->clen) {
				char hex[2 * CHUNK_ID_LEN + 1];
				chunk_id_to_hex(c->id, hex);
				repo_err(err, errlen, "disk %s, offset %" PRIu64 ": chunk %s is %" PRIu32
					 " bytes in the index but %" PRIu32 " in the manifest", p->disk,
					 e->offset, hex, c->loc.plain_len, e->clen);
				rc = -EBADMSG;
				goto out;
			}
			w->nch++;
		}
		struct wchunk *c = &w->ch[w->nch - 1];
		if (e->offset < c->first_off)
			c->first_off = e->offset;
		w->ext_chunk[ents[i].ext] = w->nch - 1;
	}
	/* slots in disk order, each aligned: a run of chunks shown back to back on disk is
	 * back to back in memory too, so the sink writes it in one aligned (O_DIRECT) write */
	sort_chunks(w, cmp_first_off);
	uint64_t zslot = 0;
	for (size_t i = 0; i < w->nch; i++) {
		struct wchunk *c = &w->ch[w->order[i]];
		c->slot = slot;
		slot += ROUND_UP(c->loc.plain_len, RESTORE_ALIGN);
		c->zcap = c->zlen = 0;
		/* only a frame of just this chunk can have its zlib form (else compressed again) */
		if (p->z_chunk && c->loc.plain_len == p->z_chunk && c->loc.foff == 0 &&
		    c->loc.blob_len <= p->z_chunk + BLOB_OVERHEAD_ENC &&
		    zslot + c->loc.blob_len <= p->zbuf_cap) {
			c->zslot = zslot;
			c->zcap = c->loc.blob_len;
			zslot += c->loc.blob_len;
		}
	}
	w->buf_len = slot;
	if (slot > p->buf_cap) {	/* cannot happen: a window stops before wbytes */
		rc = -EINVAL;
		goto out;
	}
	if (slot && !(w->buf = take_buf(p))) {
		rc = -ENOMEM;
		goto out;
	}
	sort_chunks(w, cmp_order);
	for (size_t i = 0; i < w->nch; i++) {
		const struct chunk_loc *l = &w->ch[w->order[i]].loc;
		struct range *g = w->nrg ? &w->rg[w->nrg - 1] : NULL;
		const struct chunk_loc *prev = i ? &w->ch[w->order[i - 1]].loc : NULL;
		if (g && prev && same_frame(prev, l)) {	/* another chunk of the same frame */
			g->c1 = i + 1;
			continue;
		}
		if (g && !memcmp(g->pack, l->pack, PACK_ID_LEN) && l->off >= g->off + g->len &&
		    l->off - (g->off + g->len) < RESTORE_GAP &&
		    l->off + l->blob_len - g->off <= RESTORE_RANGE_MAX) {
			g->len = l->off + l->blob_len - g->off;
			g->c1 = i + 1;
			continue;
		}
		g = &w->rg[w->nrg++];
		memcpy(g->pack, l->pack, PACK_ID_LEN);
		g->off = l->off;
		g->len = l->blob_len;
		g->c0 = i;
		g->c1 = i + 1;
	}
out:
	free(ents);
	if (rc < 0) {
		window_free(p, w);
		return rc;
	}
	*out = w;
	return 0;
}

static void fail(struct pipe *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct pipe *p, int rc, const char *fmt, ...)
{
	pthread_mutex_lock(&p->lock);
	if (!p->err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof(p->why), fmt, ap);
		va_end(ap);
		p->err = rc;
	}
	pthread_cond_broadcast(&p->done);
	pthread_mutex_unlock(&p->lock);
}

/* GET one range and decode its chunks into the window buffer. */
static void fetch_range(struct pipe *p, struct window *w, const struct range *g, uint8_t *rbuf,
			struct blob_ctx *cx, struct frame_buf *fb)
{
	char key[64];
	pack_key(g->pack, key, sizeof(key));
	int rc = store_get_range(p->r->st, key, g->off, (size_t)g->len, rbuf);
	if (rc < 0) {
		const struct wchunk *c = &w->ch[w->order[g->c0]];
		fail(p, rc == -EINVAL ? -EBADMSG : rc, "disk %s, offset %" PRIu64 ": reading %s: %s",
		     p->disk, c->first_off, key, rc == -EINVAL ?
		     "the pack is shorter than the index says" : store_strerror(p->r->st, rc));
		return;
	}
	for (size_t i = g->c0; i < g->c1; i++) {
		struct wchunk *c = &w->ch[w->order[i]];
		rc = frame_read(cx, fb, rbuf + (c->loc.off - g->off), &c->loc, c->id,
				w->buf + c->slot, c->zcap ? w->buf + p->buf_cap + c->zslot : NULL,
				c->zcap, &c->zlen);
		if (rc < 0) {
			char hex[2 * CHUNK_ID_LEN + 1];
			chunk_id_to_hex(c->id, hex);
			fail(p, rc, "disk %s, offset %" PRIu64 ": chunk %s in %s at %" PRIu64 ": %s",
			     p->disk, c->first_off, hex, key, c->loc.off,
			     rc == -EBADMSG ? "corrupt (fails its integrity check)" : strerror(-rc));
			return;
		}
	}
}

static void *fetcher(void *arg)
{
	struct pipe *p = arg;
	uint8_t *rbuf = malloc(RESTORE_RANGE_MAX + REPO_FRAME_MAX + 4096);
	struct frame_buf fb = FRAME_BUF_INIT;
	struct blob_ctx *cx = repo_cx_get(p->r);
	if (!rbuf || !cx)
		fail(p, -ENOMEM, "out of memory");
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct window *w = NULL;
		if (p->stop)
			break;
		for (size_t i = 0; i < p->qn && !w; i++)	/* the oldest window with work */
			if (p->q[i]->next_rg < p->q[i]->nrg)
				w = p->q[i];
		if (!w || p->err) {
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		const struct range *g = &w->rg[w->next_rg++];
		pthread_mutex_unlock(&p->lock);
		if (rbuf && cx)
			fetch_range(p, w, g, rbuf, cx, &fb);
		pthread_mutex_lock(&p->lock);
		w->done_rg++;
		/* every completion: after a failure the waiter waits for the ranges in flight */
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	if (cx)
		repo_cx_put(p->r, cx);
	frame_buf_release(&fb);
	free(rbuf);
	return NULL;
}

static void enqueue(struct pipe *p, struct window *w)
{
	pthread_mutex_lock(&p->lock);
	p->q[p->qn++] = w;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
}

/* Wait until the oldest window is fetched (or something failed), and take it off the
 * queue. On failure, wait for every range in flight first (they write into buffers that
 * are about to be freed). */
static int dequeue(struct pipe *p, struct window **out)
{
	struct window *w = p->q[0];
	pthread_mutex_lock(&p->lock);
	while (!p->err && w->done_rg < w->nrg)
		pthread_cond_wait(&p->done, &p->lock);
	for (size_t i = 0; p->err && i < p->qn; i++)
		while (p->q[i]->done_rg < p->q[i]->next_rg)
			pthread_cond_wait(&p->done, &p->lock);
	int rc = p->err;
	if (!rc) {
		memmove(p->q, p->q + 1, (p->qn - 1) * sizeof(p->q[0]));
		p->qn--;
	}
	pthread_mutex_unlock(&p->lock);
	*out = rc ? NULL : w;
	return rc;
}

uint64_t disk_map_data_bytes(const struct disk_map *m, uint64_t start)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct disk_extent *e = &m->ext[i];
		if (e->kind != EXTENT_DATA || e->offset + e->length <= start)
			continue;
		sum += e->offset >= start ? e->length : e->offset + e->length - start;
	}
	return sum;
}

/* Hand window w's extents to the sink, in order (from start on). */
static int sink_window(const struct pipe *p, const struct window *w,
		       const struct restore_pipe_opts *o, uint64_t *done)
{
	for (size_t i = 0; i < w->n; i++) {
		const struct disk_extent *e = &w->ext[i];
		size_t c = w->ext_chunk[i];
		if (c == SIZE_MAX || e->offset + e->length <= o->start)
			continue;
		uint64_t skip = e->offset < o->start ? o->start - e->offset : 0;
		uint64_t len = e->length - skip;
		if (e->offset + e->length > p->size)	/* a map is cut to size; be safe */
			len = e->offset + skip < p->size ? p->size - e->offset - skip : 0;
		if (!len)
			continue;
		const struct wchunk *ch = &w->ch[c];
		const uint8_t *buf = w->buf + ch->slot + e->coff + skip;
		int rc;
		if (ch->zlen && !skip && !e->coff && len == p->z_chunk && e->offset % p->z_chunk == 0)
			rc = o->sink_z(o->arg, e->offset, buf, (size_t)len,
				       w->buf + p->buf_cap + ch->zslot, ch->zlen);
		else
			rc = o->sink(o->arg, e->offset + skip, buf, (size_t)len);
		if (rc)
			return rc;
		*done += len;
	}
	return 0;
}

/* The next piece's first extent that ends after start (moving to later pieces as they
 * run out); false at the end of the map. */
static int next_extent(struct pipe *p, const struct map_source *src, uint64_t start,
		       size_t *built)
{
	for (;;) {
		while (p->m && *built < p->m->n &&
		       p->m->ext[*built].offset + p->m->ext[*built].length <= start)
			(*built)++;
		if (p->m && *built < p->m->n)
			return 1;
		int rc = src->next(src->arg, &p->m);
		if (rc <= 0) {
			p->m = NULL;
			return rc;
		}
		*built = 0;
	}
}

int repo_restore_pipe_src(struct repo *r, const char *disk, uint64_t size,
			  const struct map_source *src, uint64_t total,
			  const struct restore_pipe_opts *o, char *err, size_t errlen)
{
	struct pipe p = { .r = r, .disk = disk, .size = size };
	unsigned nth = o->threads ? o->threads : RESTORE_THREADS_DEFAULT;
	size_t wbytes = o->window_bytes ? o->window_bytes : RESTORE_WINDOW_DEFAULT;
	uint64_t done = 0;
	struct window *cur = NULL, *held[RESTORE_SINK_LAG] = { NULL };
	size_t nheld = 0;
	size_t built = 0;	/* extents of the current piece put in windows so far */
	bool more = true;	/* the source may have more */
	int rc = 0;
	/* a window may pass wbytes by one chunk, then by the rest of a frame (both multiples
	 * of RESTORE_ALIGN) */
	p.buf_cap = wbytes + REPO_CHUNK_MAX + REPO_FRAME_MAX;
	if (o->sink_z && o->z_chunk) {
		p.z_chunk = o->z_chunk;
		p.zbuf_cap = p.buf_cap / 2;	/* zlib forms are smaller; the rest is recompressed */
	}
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.work, NULL);
	pthread_cond_init(&p.done, NULL);
	p.th = calloc(nth, sizeof(*p.th));
	if (!p.th) {
		rc = -ENOMEM;
		goto out;
	}
	for (; p.nth < nth; p.nth++)
		if (pthread_create(&p.th[p.nth], NULL, fetcher, &p)) {
			if (p.nth == 0) {
				rc = -EAGAIN;
				goto out;
			}
			break;
		}
	for (;;) {
		while (p.qn < RESTORE_DEPTH && more) {	/* keep the fetchers busy */
			struct window *w;
			if ((rc = next_extent(&p, src, o->start, &built)) < 0) {
				if (err && !err[0])
					repo_err(err, errlen, "disk %s: reading its map: %s", disk,
						 strerror(-rc));
				goto out;
			}
			if (!(more = rc == 1)) {
				rc = 0;
				break;
			}
			if ((rc = window_build(&p, built, wbytes, &w, err, errlen)) < 0)
				goto out;
			built += w->n;
			enqueue(&p, w);
		}
		if (!p.qn)
			break;
		if ((rc = dequeue(&p, &cur))) {
			repo_err(err, errlen, "%s", p.why);
			break;
		}
		if ((rc = sink_window(&p, cur, o, &done)))
			break;
		uint64_t upto = !more && !p.qn ? size : cur->upto;	/* the last: everything */
		if (o->window_done && (rc = o->window_done(o->arg, upto, done, total)))
			break;
		if (o->drain) {		/* its writes may still be running: keep it a while */
			window_free(&p, held[nheld % RESTORE_SINK_LAG]);
			held[nheld++ % RESTORE_SINK_LAG] = cur;
		} else {
			window_free(&p, cur);
		}
		cur = NULL;
	}
out:
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.work);
	pthread_mutex_unlock(&p.lock);
	for (unsigned i = 0; i < p.nth; i++)
		pthread_join(p.th[i], NULL);
	free(p.th);
	if (o->drain) {
		int d = o->drain(o->arg);
		if (rc == 0)
			rc = d;
	}
	for (size_t i = 0; i < RESTORE_SINK_LAG; i++)
		window_free(&p, held[i]);
	window_free(&p, cur);
	for (size_t i = 0; i < p.qn; i++)
		window_free(&p, p.q[i]);
	for (size_t i = 0; i < RESTORE_DEPTH; i++)
		free(p.spare[i]);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.work);
	pthread_cond_destroy(&p.done);
	if (rc < 0 && err && !err[0])
		repo_err(err, errlen, "disk %s: %s", disk, strerror(-rc));
	return rc;
}

/* A source that hands out one whole map once. */
static int one_piece(void *arg, const struct disk_map **piece)
{
	const struct disk_map **m = arg;
	*piece = *m;
	*m = NULL;
	return *piece ? 1 : 0;
}

int repo_restore_pipe(struct repo *r, const struct disk_map *m,
		      const struct restore_pipe_opts *o, char *err, size_t errlen)
{
	const struct disk_map *once = m;
	struct map_source src = { one_piece, &once };
	return repo_restore_pipe_src(r, m->disk, m->size, &src, disk_map_data_bytes(m, o->start),
				     o, err, errlen);
}

static int iter_piece(void *arg, const struct disk_map **piece)
{
	struct map_iter_src *s = arg;
	return map_iter_next(s->it, piece, s->err, s->errlen);
}

int repo_restore_pipe_iter(struct repo *r, struct map_iter *it, uint64_t total,
			   const struct restore_pipe_opts *o, char *err, size_t errlen)
{
	struct map_iter_src s = { it, err, errlen };
	struct map_source src = { iter_piece, &s };
	map_iter_rewind(it);
	return repo_restore_pipe_src(r, map_iter_disk(it), map_iter_size(it), &src, total, o,
				     err, errlen);
}

int map_iter_data_bytes(struct map_iter *it, uint64_t start, uint64_t *total, uint64_t *rest,
			char *err, size_t errlen)
{
	const struct disk_map *pc;
	int rc;
	*total = *rest = 0;
	map_iter_rewind(it);
	while ((rc = map_iter_next(it, &pc, err, errlen)) == 1) {
		*total += disk_map_data_bytes(pc, 0);
		*rest += disk_map_data_bytes(pc, start);
	}
	map_iter_rewind(it);
	return rc;
}
