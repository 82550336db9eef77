/* The append path: group commit through the io engine (event-loop thread only).
 *
 * replog_append() decides everything at call time, under the log mutex: either the record
 * fits (it gets the next sequence number and its ring position, with PAD records before it
 * when it would cross the end of the ring, and around it when it is large: see below), or
 * its domain is (or now goes) in overflow and the extent's bits are set in the disk's dirty
 * bitmap. The headers and their CRCs (over header and payload, once) are computed outside
 * the mutex. Nothing is written yet.
 *
 * replog_commit() turns the batch into as few pwritev requests as possible: one per
 * contiguous ring run (two if the batch wraps), split only at IOV_MAX iovecs, each record
 * contributing header | payload | zeros up to its 512-byte boundary (zeros come from a
 * static buffer; a PAD at the ring's end writes only its first 512 bytes), plus one request
 * per run of changed
 * 4 KiB bitmap blocks. RWF_DSYNC is set on all of them if any append asked for FUA. If a
 * domain entered overflow in this batch, the metadata table recording it is written
 * synchronously first: it is rare, and it makes the flag durable before any
 * done(REPLOG_OVERFLOWED).
 *
 * Records are 512-byte aligned, not page aligned: a 4 KiB guest write costs 4608 bytes of
 * log instead of 8192. The writes are buffered, so appending into the page the previous
 * record ended in costs no extra I/O; only log volume reaches the disk. The exception is a
 * large WRITE (RL_LARGE_MIN, format version 2): it is placed on 4 KiB boundaries between
 * PADs so that it has its pages to itself, and written with one O_DIRECT request, the pages
 * inside its payload straight from the client's buffer (add_direct_record): copying them
 * into the page cache and writing them back cost more than the disk write itself (1 MiB
 * writes ran at a fifth of the disk's rate, the event loop busy copying), and direct I/O
 * from memory that is not 4 KiB aligned, or into blocks shared with buffered writes, is
 * serialized by the file system.
 *
 * Batches complete in FIFO order whatever order the kernel finishes them in: a finished
 * batch waits until every earlier one has finished, then the done head advances (cursors
 * may read up to it) and its appends' done() run in call order. The first write error fails
 * that batch, every later one, and every later append (the ring now has a hole; a restart
 * recovers up to it).
 *
 * Batches and their iovec/io_req arrays are recycled through a freelist, so after warm-up
 * the hot path performs no allocation and no system call per record. */
#include "datapath/replog-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "common/banned.h"

#define RL_IOV_MAX 1024
#define RL_LARGE_MIN REPLOG_PAYLOAD_LARGE	/* WRITE payloads this large are large records */

static const uint8_t zero_pad[REPLOG_BLOCK];	/* padding is always < 4 KiB */

/* ---- batch bookkeeping ---- */

static struct rl_batch *batch_get(struct replog *log)
{
	struct rl_batch *b = log->free_batches;
	if (b) {
		log->free_batches = b->next;
	} else {
		b = calloc(1, sizeof(*b));
		if (!b) {
			log_error("%s: out of memory for a log batch", log->path);
			abort();
		}
	}
	b->log = log;
	b->next = NULL;
	b->first = b->last = NULL;
	b->has_logged = b->fua = b->table_dirty = b->complete = false;
	b->err = 0;
	b->outstanding = 0;
	b->n_blocks = 0;
	b->n_pads = 0;
	return b;
}

static void batch_put(struct replog *log, struct rl_batch *b)
{
	b->next = log->free_batches;
	log->free_batches = b;
}

static void batch_destroy(struct rl_batch *b)
{
	free(b->iov);
	free(b->reqs);
	free(b->blocks);
	free(b->pads);
	free(b->bounce);
	free(b);
}

void rl_batches_free(struct replog *log)
{
	struct rl_batch *b, *n;
	for (b = log->free_batches; b; b = n) {
		n = b->next;
		batch_destroy(b);
	}
	for (b = log->fifo_head; b; b = n) {
		n = b->next;
		batch_destroy(b);
	}
	if (log->cur)
		batch_destroy(log->cur);
	log->free_batches = log->fifo_head = log->fifo_tail = log->cur = NULL;
}

/* A non-logged append keeps its result in the (unused) header bytes. */
static void set_status(struct replog_append *a, int res)
{
	a->seq = 0;
	memcpy(a->hdr, &res, sizeof res);
}

static int get_status(const struct replog_append *a)
{
	int res;
	memcpy(&res, a->hdr, sizeof res);
	return res;
}

/* ---- append ---- */

/* Where a record of rs bytes goes, from the head: a PAD to the end of the ring first if it
 * does not fit before it; for a large record, a PAD up to the next 4 KiB boundary before
 * it and one up to the next boundary after it, so it has its pages to itself. */
struct layout {
	uint64_t end_pad, pre_pad, post_pad;
	uint64_t rec_off;
};

static bool layout_fits(const struct replog *log, uint64_t rs, bool large, struct layout *lo)
{
	uint64_t free_bytes = log->ring - rl_ring_used(log) - REPLOG_REC_ALIGN;
	uint64_t pos = log->head_off;
	memset(lo, 0, sizeof *lo);
	if (rs > log->ring - REPLOG_REC_ALIGN)
		return false;
	for (int pass = 0; pass < 2; pass++) {
		lo->pre_pad = large ? (REPLOG_BLOCK - pos % REPLOG_BLOCK) % REPLOG_BLOCK : 0;
		lo->post_pad = large ? ROUND_UP(rs, REPLOG_BLOCK) - rs : 0;
		if (pos + lo->pre_pad + rs + lo->post_pad <= log->ring)
			break;
		if (pos == 0)
			return false;
		lo->end_pad = log->ring - pos;
		pos = 0;
	}
	lo->rec_off = pos + lo->pre_pad;
	return lo->end_pad + lo->pre_pad + rs + lo->post_pad <= free_bytes;
}

/* Room for three more PADs (a record has at most three). */
static int reserve_pads(struct rl_batch *b)
{
	if (b->n_pads + 3 <= b->pads_cap)
		return 0;
	size_t cap = MAX(2 * b->pads_cap, (size_t)16);
	struct rl_pad *n = realloc(b->pads, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	b->pads = n;
	b->pads_cap = cap;
	return 0;
}

/* A PAD record of len bytes at the head (under the mutex); its header is encoded later. */
static void place_pad(struct replog *log, struct rl_batch *b, uint64_t len)
{
	struct rl_pad *p = &b->pads[b->n_pads++];
	p->seq = log->head_seq++;
	p->off = log->head_off;
	p->len = (uint32_t)len;
	log->head_off = (log->head_off + len) % log->ring;
}

static bool is_large(const struct replog_append *a)
{
	return a->type == REPLOG_REC_WRITE && a->length >= RL_LARGE_MIN;
}

/* The record and its PADs (under the mutex). */
static int place_record(struct replog *log, struct rl_batch *b, struct replog_append *a,
			const struct layout *lo, uint64_t rs)
{
	if (reserve_pads(b) < 0)
		return -ENOMEM;
	a->pad_first = (uint32_t)b->n_pads;
	a->npre = 0;
	if (!b->has_logged) {
		b->has_logged = true;
		b->start_off = log->head_off;
	}
	uint64_t pads[2] = { lo->end_pad, lo->pre_pad };
	for (int i = 0; i < 2; i++) {
		if (pads[i])
			place_pad(log, b, pads[i]);
		a->npre += pads[i] != 0;
	}
	a->seq = log->head_seq++;
	atomic_store(&log->last_record_seq, a->seq);
	log->head_off = (log->head_off + rs) % log->ring;
	a->npost = lo->post_pad != 0;
	if (lo->post_pad)
		place_pad(log, b, lo->post_pad);
	b->end_seq = log->head_seq;
	b->end_off = log->head_off;
	return 0;
}

/* The event where a domain's log is full and it enters overflow (under the mutex). */
static void enter_overflow(struct replog *log, struct rl_batch *b, struct rl_domain *dom)
{
	dom->overflow = true;
	b->table_dirty = true;
	log_warn("%s: log full, domain %s enters overflow", log->path, dom->name);
	notify_event(NOTIFY_OVERFLOW_ENTERED, dom->name, "replication log %s full: writes "
		     "are tracked in a dirty bitmap until a resync", log->path);
}

/* A REPLOG_MARK_DIRTY append (under the mutex): bits set now, "resync pending" recorded in
 * the table at commit. The handover generation moves, so a resync already begun keeps
 * every bit when it ends (it may have read the extent before the primary write failed). */
static int mark_dirty(struct replog *log, struct rl_batch *b, struct rl_disk *d,
		      struct rl_domain *dom, const struct replog_append *a)
{
	int r = rl_bits_set(log, d, a->offset, a->length, b);
	if (r < 0)
		return r;
	if (!dom->resync) {
		dom->resync = true;
		b->table_dirty = true;
	}
	dom->resync_gen++;
	return REPLOG_MARKED;
}

/* Under the mutex: sequence number and position (PADs included), or overflow. Return the
 * status for a non-logged append (REPLOG_OVERFLOWED, REPLOG_MARKED or -errno), or 0 when
 * placed in the ring. */
static int place(struct replog *log, struct rl_batch *b, struct replog_append *a)
{
	struct rl_disk *d = rl_disk_by_id(log, a->disk_id);
	if (!d)
		return -ENOENT;
	struct rl_domain *dom = rl_domain_by_id(log, d->domain_id);
	if (a->type == REPLOG_MARK_DIRTY)
		return mark_dirty(log, b, d, dom, a);
	if (!dom->overflow) {
		struct layout lo;
		uint64_t rs = a->type == REPLOG_REC_WRITE && a->length > RL_MAX_PAYLOAD ?
			UINT64_MAX : rl_rec_size(a->type, a->length);
		if (layout_fits(log, rs, is_large(a), &lo))
			return place_record(log, b, a, &lo, rs);
		enter_overflow(log, b, dom);
	}
	int r = rl_bits_set(log, d, a->offset, a->length, b);
	return r < 0 ? r : REPLOG_OVERFLOWED;
}

/* The headers of a's PADs (outside the mutex). */
static void encode_pads(struct replog *log, struct rl_batch *b, const struct replog_append *a,
			uint64_t time_ns)
{
	for (unsigned i = 0; i < (unsigned)a->npre + a->npost; i++) {
		struct rl_pad *p = &b->pads[a->pad_first + i];
		struct replog_record pad = {
			.seq = p->seq, .type = REPLOG_REC_PAD, .length = p->len,
			.gen = log->open_gen, .time_ns = time_ns,
		};
		rl_rec_encode(p->hdr, &pad, NULL);
	}
}

void replog_append(struct replog *log, struct replog_append *a)
{
	struct rl_batch *b = log->cur ? log->cur : (log->cur = batch_get(log));
	int st;

	a->next = NULL;
	a->seq = 0;
	a->npre = a->npost = 0;
	if (log->readonly)
		st = -EROFS;
	else if (log->failed)
		st = log->failed;
	else if ((a->type != REPLOG_REC_WRITE && a->type != REPLOG_REC_ZERO &&
		  a->type != REPLOG_MARK_DIRTY) ||
		 (a->type == REPLOG_REC_WRITE && a->length && !a->payload))
		st = -EINVAL;
	else {
		pthread_mutex_lock(&log->lock);
		st = place(log, b, a);
		pthread_mutex_unlock(&log->lock);
	}

	if (st == 0) {
		struct replog_record rec = {
			.seq = a->seq, .type = a->type, .flags = a->fua ? REPLOG_RF_FUA : 0,
			.disk_id = a->disk_id, .offset = a->offset, .length = a->length,
			.gen = log->open_gen, .time_ns = now_real_ns(),
		};
		/* domain ids never change once registered: no lock needed to read it */
		rec.domain_id = log->meta.disks[a->disk_id - 1].domain_id;
		rl_rec_encode(a->hdr, &rec, a->payload);
		encode_pads(log, b, a, rec.time_ns);
	} else {
		set_status(a, st);
	}
	if (a->fua)
		b->fua = true;
	if (b->last)
		b->last->next = a;
	else
		b->first = a;
	b->last = a;
}

/* A large record starts on a 4 KiB boundary of the ring and its payload right after the
 * header, so the payload's whole pages begin PAGE - REPLOG_REC_HDR_SIZE bytes in: a buffer
 * REPLOG_REC_HDR_SIZE bytes past a 4 KiB boundary puts each of them on a 4 KiB boundary of
 * memory too, which is what lets the kernel write them directly without serializing on
 * the file (ext4 treats I/O whose memory is not block aligned as unaligned). */
#define RL_PAYLOAD_PHASE REPLOG_REC_HDR_SIZE

void *replog_payload_alloc(size_t len)
{
	void *base;
	if (len < RL_LARGE_MIN)
		base = malloc(len + RL_PAYLOAD_PHASE);
	else if (posix_memalign(&base, REPLOG_BLOCK, len + RL_PAYLOAD_PHASE))
		base = NULL;
	return base ? (uint8_t *)base + RL_PAYLOAD_PHASE : NULL;
}

void *replog_payload_realign(void *p, size_t len)
{
	if (!p || len < RL_LARGE_MIN)
		return NULL;
	uint8_t *base = (uint8_t *)p - RL_PAYLOAD_PHASE;
	memmove(base, p, len);
	return base;
}

void replog_payload_free(void *p)
{
	if (p)
		free((uint8_t *)p - RL_PAYLOAD_PHASE);
}

/* ---- commit: building the requests ---- */

struct builder {
	struct replog *log;
	struct rl_batch *b;
	size_t niov, run_start, nreq, nbounce;
	uint64_t run_off;	/* ring offset where the current run starts */
	uint64_t off;		/* ring offset the next iovec lands at */
	bool run_cold;		/* the run touches pages a direct write may have left uncached */
};

static void add_iov(struct builder *bd, const void *base, size_t len)
{
	bd->b->iov[bd->niov].iov_base = (void *)(uintptr_t)base;
	bd->b->iov[bd->niov].iov_len = len;
	bd->niov++;
	bd->off += len;
}

static void add_req(struct builder *bd, size_t iov_first, size_t iovcnt, uint64_t file_off,
		    int fd, bool may_inline)
{
	struct io_req *q = &bd->b->reqs[bd->nreq++];
	memset(q, 0, sizeof(*q));
	q->op = IO_OP_WRITE;
	q->fd = fd;
	q->iov = bd->b->iov + iov_first;
	q->iovcnt = (int)iovcnt;
	q->offset = file_off;
	q->rw_flags = bd->b->fua ? RWF_DSYNC : 0;
	q->may_inline = may_inline;
	q->opaque = bd->b;
}

static bool run_inline(const struct builder *bd)
{
	return bd->log->is_file && !bd->run_cold && !bd->b->fua && bd->log->eng->inline_buffered;
}

/* Turn the iovecs of the current ring run into requests of at most RL_IOV_MAX each. */
static void close_run(struct builder *bd)
{
	uint64_t off = bd->log->sb.data_off + bd->run_off;
	size_t i = bd->run_start;
	while (i < bd->niov) {
		size_t n = MIN(bd->niov - i, (size_t)RL_IOV_MAX);
		add_req(bd, i, n, off, bd->log->fd, bd->log->is_file && !bd->run_cold);
		for (size_t k = i; k < i + n; k++)
			off += bd->b->iov[k].iov_len;
		i += n;
	}
	bd->run_start = bd->niov;
	bd->run_cold = false;
}

/* Start a new run at ring offset off (after a wrap, or after a direct write). */
static void new_run(struct builder *bd, uint64_t off)
{
	close_run(bd);
	bd->run_off = bd->off = off;
}

static void add_zeros(struct builder *bd, uint64_t n)
{
	if (n)
		add_iov(bd, zero_pad, (size_t)n);
}

static void add_record_iov(struct builder *bd, const uint8_t *hdr, const void *payload,
			   uint32_t paylen, uint64_t rs)
{
	add_iov(bd, hdr, REPLOG_REC_HDR_SIZE);
	if (paylen)
		add_iov(bd, payload, paylen);
	add_zeros(bd, rs - REPLOG_REC_HDR_SIZE - paylen);
}

/* A PAD, buffered: one at the ring's end writes only its first 512 bytes (the rest of the
 * ring is unspecified) and wraps; one inside the ring is written whole. */
static void add_pad(struct builder *bd, const struct rl_pad *p)
{
	bool at_end = p->off + p->len == bd->log->ring;
	add_iov(bd, p->hdr, REPLOG_REC_HDR_SIZE);
	add_zeros(bd, (at_end ? REPLOG_REC_ALIGN : p->len) - REPLOG_REC_HDR_SIZE);
	if (at_end)
		new_run(bd, 0);
}

/* A large record that can go O_DIRECT: its payload's pages are 4 KiB aligned in memory
 * (replog_payload_alloc) and the file system takes direct writes. */
static bool goes_direct(const struct replog *log, const struct replog_append *a)
{
	return log->use_direct && is_large(a) &&
	       (uintptr_t)((const uint8_t *)a->payload + REPLOG_BLOCK - REPLOG_REC_HDR_SIZE) %
	       REPLOG_BLOCK == 0 && REPLOG_BLOCK % log->dio_mem_align == 0;
}

/* One O_DIRECT write for a large record and its trailing PAD, which together fill whole
 * pages from a 4 KiB boundary: the first page (header and the first bytes of the payload)
 * and the last (the rest of the payload, the record's zeros, the PAD) are copied into
 * aligned bounce pages, every page between comes straight from the client's buffer. No
 * other record shares these pages, so none is ever written buffered and directly at once;
 * the kernel writes back and drops any stale cached copy from an earlier lap first. The
 * buffered run after it may start in a page the direct write left uncached (a read before
 * the partial write): that run is not run inline on the event loop. */
static void add_direct_record(struct builder *bd, const struct replog_append *a, uint64_t rs)
{
	const uint8_t *pay = a->payload;
	uint64_t head = REPLOG_BLOCK - REPLOG_REC_HDR_SIZE;
	uint64_t mid = (a->length - head) / REPLOG_BLOCK * REPLOG_BLOCK;
	uint64_t rest = a->length - head - mid;
	uint64_t tail = ROUND_UP(rs, REPLOG_BLOCK) - REPLOG_BLOCK - mid;
	uint8_t *first = bd->b->bounce + REPLOG_BLOCK * bd->nbounce++;

	close_run(bd);
	memcpy(first, a->hdr, REPLOG_REC_HDR_SIZE);
	memcpy(first + REPLOG_REC_HDR_SIZE, pay, (size_t)head);
	size_t iov0 = bd->niov;
	uint64_t start = bd->off;
	add_iov(bd, first, REPLOG_BLOCK);
	if (mid)
		add_iov(bd, pay + head, (size_t)mid);
	if (tail) {
		uint8_t *last = bd->b->bounce + REPLOG_BLOCK * bd->nbounce++;
		memcpy(last, pay + head + mid, (size_t)rest);
		memset(last + rest, 0, (size_t)(tail - rest));
		if (a->npost) {	/* the trailing PAD's header, where the record ends */
			const struct rl_pad *p = &bd->b->pads[a->pad_first + a->npre];
			memcpy(last + (p->off % REPLOG_BLOCK), p->hdr, REPLOG_REC_HDR_SIZE);
		}
		add_iov(bd, last, (size_t)tail);
	}
	add_req(bd, iov0, bd->niov - iov0, bd->log->sb.data_off + start, bd->log->dfd, false);
	bd->run_start = bd->niov;
	bd->run_off = bd->off % bd->log->ring;
	bd->off = bd->run_off;
	bd->run_cold = true;
}

static int cmp_block(const void *x, const void *y)
{
	const struct rl_blockref *a = x, *b = y;
	return a->file_off < b->file_off ? -1 : a->file_off > b->file_off;
}

static void add_bitmap_reqs(struct builder *bd)
{
	struct rl_batch *b = bd->b;
	if (!b->n_blocks)
		return;
	qsort(b->blocks, b->n_blocks, sizeof(*b->blocks), cmp_block);
	size_t i = 0;
	while (i < b->n_blocks) {
		size_t j = i + 1;
		uint64_t len = REPLOG_BLOCK;
		while (j < b->n_blocks && (b->blocks[j].file_off == b->blocks[j - 1].file_off ||
		       (b->blocks[j].file_off == b->blocks[i].file_off + len &&
			b->blocks[j].mem == b->blocks[i].mem + len))) {
			if (b->blocks[j].file_off != b->blocks[j - 1].file_off)
				len += REPLOG_BLOCK;
			j++;
		}
		size_t first = bd->niov;
		add_iov(bd, b->blocks[i].mem, (size_t)len);
		add_req(bd, first, 1, b->blocks[i].file_off, bd->log->fd, bd->log->is_file);
		i = j;
	}
}

static int ensure_arrays(struct rl_batch *b, size_t niov, size_t nreq, size_t npages)
{
	if (npages > b->bounce_cap) {
		size_t cap = MAX(npages, 2 * b->bounce_cap);
		void *n;
		if (posix_memalign(&n, REPLOG_BLOCK, cap * REPLOG_BLOCK))
			return -ENOMEM;
		free(b->bounce);
		b->bounce = n;
		b->bounce_cap = cap;
	}
	if (niov > b->iov_cap) {
		size_t cap = MAX(niov, 2 * b->iov_cap);
		struct iovec *n = realloc(b->iov, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		b->iov = n;
		b->iov_cap = cap;
	}
	if (nreq > b->req_cap) {
		size_t cap = MAX(nreq, 2 * b->req_cap);
		struct io_req *n = realloc(b->reqs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		b->reqs = n;
		b->req_cap = cap;
	}
	return 0;
}

/* After a batch's last buffered run written inline, zeroes up to the end of its last page
 * when that is free ring space: the next batch then writes into a whole cached page, never
 * into a partial one that would first have to be read (a page a direct write left
 * uncached, or one evicted since the last lap) on the event loop. Inline writes finish in
 * order, so the zeroes can never land after the next batch's records. */
static void zero_to_page_end(struct builder *bd)
{
	uint64_t end = bd->off, ext = ROUND_UP(end, REPLOG_BLOCK) - end;
	if (!ext || bd->niov == bd->run_start || !run_inline(bd))
		return;
	pthread_mutex_lock(&bd->log->lock);
	bool room = bd->log->ring - rl_ring_used(bd->log) - REPLOG_REC_ALIGN >= ext;
	pthread_mutex_unlock(&bd->log->lock);
	if (room)
		add_zeros(bd, ext);
}

/* Build every request of the batch. Return how many, or -errno. */
static int build_io(struct replog *log, struct rl_batch *b)
{
	size_t nrec = 0, nlarge = 0;
	for (struct replog_append *a = b->first; a; a = a->next) {
		nrec += a->seq != 0;
		nlarge += a->seq && goes_direct(log, a);
	}
	/* a record: header, payload, zeros (a direct one: 3 pages); a PAD: header, zeros */
	size_t niov = 3 * nrec + 2 * b->n_pads + 1;
	size_t nreq = niov / RL_IOV_MAX + 3 + 2 * nlarge + b->n_blocks;
	int r = ensure_arrays(b, niov + b->n_blocks, nreq, 2 * nlarge);
	if (r < 0)
		return r;

	struct builder bd = { log, b, 0, 0, 0, 0, b->start_off, b->start_off, false };
	for (struct replog_append *a = b->first; b->has_logged && a; a = a->next) {
		if (!a->seq)
			continue;
		for (unsigned i = 0; i < a->npre; i++)
			add_pad(&bd, &b->pads[a->pad_first + i]);
		uint64_t rs = rl_rec_size(a->type, a->length);
		if (goes_direct(log, a)) {
			add_direct_record(&bd, a, rs);
			continue;
		}
		add_record_iov(&bd, a->hdr, a->payload,
			       a->type == REPLOG_REC_WRITE ? a->length : 0, rs);
		if (a->npost)
			add_pad(&bd, &b->pads[a->pad_first + a->npre]);
		if (bd.off == log->ring)
			new_run(&bd, 0);
	}
	zero_to_page_end(&bd);
	close_run(&bd);
	add_bitmap_reqs(&bd);
	return (int)bd.nreq;
}

/* ---- completion, in FIFO order ---- */

static void drain(struct replog *log)
{
	struct rl_batch *b;

	if (log->draining)
		return;		/* a done() callback committed again: the outer loop goes on */
	log->draining = true;
	while ((b = log->fifo_head) && b->complete) {
		log->fifo_head = b->next;
		if (!log->fifo_head)
			log->fifo_tail = NULL;
		if (b->err && !log->failed) {
			log->failed = b->err;
			log_error("%s: log write failed: %s; failing every later append",
				  log->path, strerror(-b->err));
		}
		int err = b->err ? b->err : log->failed;
		if (!err && b->has_logged) {
			pthread_mutex_lock(&log->lock);
			log->done_seq = b->end_seq;
			log->done_off = b->end_off;
			pthread_mutex_unlock(&log->lock);
		}
		struct replog_append *a = b->first, *next;
		batch_put(log, b);
		for (; a; a = next) {
			next = a->next;
			int res = a->seq ? REPLOG_LOGGED : get_status(a);
			if (err && res >= 0)
				res = err;
			a->done(a, res);
		}
	}
	log->draining = false;
}

static void req_done(struct io_req *req, int res)
{
	struct rl_batch *b = req->opaque;
	struct replog *log = b->log;
	if (res == -EINVAL && req->fd != log->fd) {
		/* the file system refused a direct write after all: redo it buffered, and
		 * write buffered from now on */
		if (log->use_direct)
			log_warn("%s: direct write refused (%s); writing through the page cache",
				 log->path, strerror(-res));
		log->use_direct = false;
		req->fd = log->fd;
		io_queue(log->eng, req);
		return;
	}
	if (res < 0 && !b->err)
		b->err = res;
	if (--b->outstanding == 0) {
		b->complete = true;
		drain(b->log);
	}
}

static int persist_table(struct replog *log)
{
	pthread_mutex_lock(&log->meta_lock);
	int r = rl_meta_persist(log);
	pthread_mutex_unlock(&log->meta_lock);
	if (r < 0)
		log_error("%s: recording overflow or resync in the metadata table: %s", log->path,
			  strerror(-r));
	return r;
}

void replog_set_settled(struct replog *log, uint64_t settled_seq)
{
	atomic_store(&log->settled_seq, settled_seq);
}

int replog_settle_wait(struct replog *log, uint32_t timeout_ms)
{
	uint64_t target = atomic_load(&log->last_record_seq);
	uint64_t deadline = now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		uint64_t settled = atomic_load(&log->settled_seq);
		if (settled == UINT64_MAX || settled >= target)
			return 0;
		if (now_mono_ns() >= deadline)
			return -ETIMEDOUT;
		/* primary writes end within milliseconds: a short poll costs nothing, and the
		 * event loop never has to signal anyone */
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
}

void replog_commit(struct replog *log)
{
	struct rl_batch *b = log->cur;
	int n = 0;

	if (!b || !b->first)
		return;
	log->cur = NULL;
	if (b->table_dirty)
		b->err = persist_table(log);
	if (!b->err && (b->has_logged || b->n_blocks)) {
		n = log->eng ? build_io(log, b) : -EINVAL;
		if (n < 0) {
			b->err = n;
			n = 0;
		}
	}
	for (int i = 0; i < n; i++)
		b->reqs[i].done = req_done;
	b->outstanding = (unsigned)n;
	if (log->fifo_tail)
		log->fifo_tail->next = b;
	else
		log->fifo_head = b;
	log->fifo_tail = b;
	if (n == 0) {
		b->complete = true;
		drain(log);
		return;
	}
	for (int i = 0; i < n; i++)
		io_queue(log->eng, &b->reqs[i]);
}
