/* The append path: group commit through the io engine (event-loop thread only).
 *
 * replog_append() decides everything at call time, under the log mutex: either the record
 * fits (it gets the next sequence number and its ring position, plus a PAD record first when
 * it would cross the end of the ring), or its domain is (or now goes) in overflow and the
 * extent's bits are set in the disk's dirty bitmap. The header and its CRC (over header and
 * payload, once) are computed outside the mutex into a->hdr. Nothing is written yet.
 *
 * replog_commit() turns the batch into as few pwritev requests as possible: one per
 * contiguous ring run (two if the batch wraps), split only at IOV_MAX iovecs, each record
 * contributing header | payload | zeros up to its 512-byte boundary (zeros come from a
 * static buffer; a PAD writes only its first 512 bytes), plus one request per run of changed
 * 4 KiB bitmap blocks. RWF_DSYNC is set on all of them if any append asked for FUA. If a
 * domain entered overflow in this batch, the metadata table recording it is written
 * synchronously first: it is rare, and it makes the flag durable before any
 * done(REPLOG_OVERFLOWED).
 *
 * Records are 512-byte aligned, not page aligned: a 4 KiB guest write costs 4608 bytes of
 * log instead of 8192. The writes are buffered, so appending into the page the previous
 * record ended in costs no extra I/O; only log volume reaches the disk. The exception is a
 * large WRITE (RL_DIRECT_MIN): the whole ring pages inside its payload are written with
 * O_DIRECT straight from the client's buffer (add_direct_record), since copying them into
 * the page cache and writing them back cost more than the disk write itself (1 MiB writes
 * ran at a fifth of the disk's rate, the event loop busy copying).
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
#include <unistd.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "common/banned.h"

#define RL_IOV_MAX 1024
#define RL_DIRECT_MIN (64u << 10)	/* WRITE payloads this large go O_DIRECT (whole pages) */

static const uint8_t zero_pad[REPLOG_REC_ALIGN];	/* a record pads < 512 bytes */

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
	b->has_logged = b->fua = b->table_dirty = b->complete = b->has_pad = false;
	b->err = 0;
	b->outstanding = 0;
	b->n_blocks = 0;
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

/* Does a record of rs bytes fit at the head? *pad receives the PAD size needed first. */
static bool ring_fits(const struct replog *log, uint64_t rs, uint64_t *pad)
{
	uint64_t free_bytes = log->ring - rl_ring_used(log) - REPLOG_REC_ALIGN;
	*pad = 0;
	if (rs > log->ring - REPLOG_REC_ALIGN)
		return false;
	if (log->head_off + rs <= log->ring)
		return rs <= free_bytes;
	*pad = log->ring - log->head_off;
	return *pad + rs <= free_bytes;
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

struct placed {
	bool logged;
	uint64_t pad_seq, pad_len, pad_off;
};

/* Under the mutex: sequence number and position, or overflow. Return the status for a
 * non-logged append (REPLOG_OVERFLOWED, REPLOG_MARKED or -errno), or 0 when placed in the
 * ring. */
static int place(struct replog *log, struct rl_batch *b, struct replog_append *a,
		 struct placed *pl)
{
	struct rl_disk *d = rl_disk_by_id(log, a->disk_id);
	if (!d)
		return -ENOENT;
	struct rl_domain *dom = rl_domain_by_id(log, d->domain_id);
	if (a->type == REPLOG_MARK_DIRTY)
		return mark_dirty(log, b, d, dom, a);
	if (!dom->overflow) {
		uint64_t pad, rs = a->type == REPLOG_REC_WRITE && a->length > RL_MAX_PAYLOAD ?
			UINT64_MAX : rl_rec_size(a->type, a->length);
		if (ring_fits(log, rs, &pad) && !(pad && b->has_pad)) {
			if (pad) {
				pl->pad_seq = log->head_seq++;
				pl->pad_off = log->head_off;
				pl->pad_len = pad;
				log->head_off = 0;
				b->has_pad = true;
				b->pad_off = pl->pad_off;
			}
			if (!b->has_logged) {
				b->has_logged = true;
				b->start_off = pad ? pl->pad_off : log->head_off;
			}
			a->seq = log->head_seq++;
			log->head_off = (log->head_off + rs) % log->ring;
			b->end_seq = log->head_seq;
			b->end_off = log->head_off;
			pl->logged = true;
			return 0;
		}
		dom->overflow = true;
		b->table_dirty = true;
		log_warn("%s: log full, domain %s enters overflow", log->path, dom->name);
		notify_event(NOTIFY_OVERFLOW_ENTERED, dom->name, "replication log %s full: writes "
			     "are tracked in a dirty bitmap until a resync", log->path);
	}
	int r = rl_bits_set(log, d, a->offset, a->length, b);
	return r < 0 ? r : REPLOG_OVERFLOWED;
}

void replog_append(struct replog *log, struct replog_append *a)
{
	struct rl_batch *b = log->cur ? log->cur : (log->cur = batch_get(log));
	struct placed pl = { false, 0, 0, 0 };
	int st;

	a->next = NULL;
	a->seq = 0;
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
		st = place(log, b, a, &pl);
		pthread_mutex_unlock(&log->lock);
	}

	if (pl.logged) {
		struct replog_record rec = {
			.seq = a->seq, .type = a->type, .flags = a->fua ? REPLOG_RF_FUA : 0,
			.disk_id = a->disk_id, .offset = a->offset, .length = a->length,
			.gen = log->open_gen, .time_ns = now_real_ns(),
		};
		/* domain ids never change once registered: no lock needed to read it */
		rec.domain_id = log->meta.disks[a->disk_id - 1].domain_id;
		rl_rec_encode(a->hdr, &rec, a->payload);
		if (pl.pad_len) {
			struct replog_record pad = {
				.seq = pl.pad_seq, .type = REPLOG_REC_PAD,
				.length = (uint32_t)pl.pad_len, .gen = log->open_gen,
				.time_ns = rec.time_ns,
			};
			rl_rec_encode(b->pad_hdr, &pad, NULL);
		}
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

/* A payload starts REPLOG_REC_HDR_SIZE bytes after its 512-byte-aligned record, so its
 * whole ring pages start at payload offsets that are 512 - REPLOG_REC_HDR_SIZE modulo 512:
 * memory at REPLOG_REC_HDR_SIZE past a 512-byte boundary puts every one of them on a
 * 512-byte boundary, which is what O_DIRECT asks of memory (stx_dio_mem_align). */
#define RL_PAYLOAD_PHASE REPLOG_REC_HDR_SIZE

void *replog_payload_alloc(size_t len)
{
	void *base;
	if (posix_memalign(&base, REPLOG_REC_ALIGN, len + RL_PAYLOAD_PHASE))
		return NULL;
	return (uint8_t *)base + RL_PAYLOAD_PHASE;
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
	size_t niov, run_start, nreq;
	uint64_t run_off;	/* ring offset where the current run starts */
	bool run_cold;		/* the run touches pages a direct write may have left uncached */
};

static void add_iov(struct builder *bd, const void *base, size_t len)
{
	bd->b->iov[bd->niov].iov_base = (void *)(uintptr_t)base;
	bd->b->iov[bd->niov].iov_len = len;
	bd->niov++;
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

/* The whole 4 KiB pages of the ring inside a WRITE record's payload at ring offset off, as
 * payload bytes [*h, *h + *mid), when they should go through the O_DIRECT descriptor:
 * large payloads only (small ones stay in the page cache, where a write costs a copy, not
 * a device round trip), and only if the memory is aligned as the device wants. */
static bool direct_middle(const struct replog *log, const struct replog_append *a, uint64_t off,
			  uint64_t *h, uint64_t *mid)
{
	if (!log->use_direct || a->type != REPLOG_REC_WRITE || a->length < RL_DIRECT_MIN)
		return false;
	uint64_t p = off + REPLOG_REC_HDR_SIZE;		/* ring offset of the payload */
	uint64_t b = ROUND_UP(p, REPLOG_BLOCK), e = (p + a->length) / REPLOG_BLOCK * REPLOG_BLOCK;
	if (e <= b)
		return false;
	*h = b - p;
	*mid = e - b;
	return (uintptr_t)((const uint8_t *)a->payload + *h) % log->dio_mem_align == 0;
}

/* A large record: its head (header and payload up to the first whole page) ends the
 * current buffered run, its whole pages go to the O_DIRECT descriptor as one request, and
 * its tail (the rest, and the zeros to its 512-byte end) starts the next run. The pages on
 * either side of the direct range are written buffered only, and a page is never written
 * both ways at once (the head and tail pages of a record are outside its direct range, and
 * no later record is placed in a page before the earlier one is written). Pages the direct
 * write leaves uncached may need a read before a partial buffered write into them later, so
 * the runs holding a head or tail are never run inline on the event loop. */
static void add_direct_record(struct builder *bd, const struct replog_append *a, uint64_t off,
			      uint64_t rs, uint64_t h, uint64_t mid)
{
	const uint8_t *pay = a->payload;
	add_iov(bd, a->hdr, REPLOG_REC_HDR_SIZE);
	if (h)
		add_iov(bd, pay, (size_t)h);
	bd->run_cold = true;
	close_run(bd);
	uint64_t b = off + REPLOG_REC_HDR_SIZE + h;
	size_t first = bd->niov;
	add_iov(bd, pay + h, (size_t)mid);
	add_req(bd, first, 1, bd->log->sb.data_off + b, bd->log->dfd, false);
	bd->run_start = bd->niov;
	bd->run_off = b + mid;
	bd->run_cold = true;
	uint64_t tail = a->length - h - mid;
	if (tail)
		add_iov(bd, pay + h + mid, (size_t)tail);
	add_zeros(bd, rs - REPLOG_REC_HDR_SIZE - a->length);
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

static int ensure_arrays(struct rl_batch *b, size_t niov, size_t nreq)
{
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

/* Build every request of the batch. Return how many, or -errno. */
static int build_io(struct replog *log, struct rl_batch *b)
{
	size_t niov = b->has_pad ? 2 : 0, nrec = 0;
	for (struct replog_append *a = b->first; a; a = a->next)
		if (a->seq)
			nrec++;
	niov += 5 * nrec;	/* a direct record: header, head | middle | tail, zeros */
	size_t nreq = niov / RL_IOV_MAX + 2 + 2 * nrec + b->n_blocks;
	int r = ensure_arrays(b, niov + b->n_blocks, nreq);
	if (r < 0)
		return r;

	struct builder bd = { log, b, 0, 0, 0, b->start_off, false };
	uint64_t off = b->start_off, h, mid;
	for (struct replog_append *a = b->first; b->has_logged && a; a = a->next) {
		if (!a->seq)
			continue;
		uint32_t paylen = a->type == REPLOG_REC_WRITE ? a->length : 0;
		uint64_t rs = rl_rec_size(a->type, a->length);
		if (off + rs > log->ring) {	/* the PAD placed by replog_append */
			add_record_iov(&bd, b->pad_hdr, NULL, 0, REPLOG_REC_ALIGN);
			close_run(&bd);
			off = bd.run_off = 0;
		}
		if (direct_middle(log, a, off, &h, &mid))
			add_direct_record(&bd, a, off, rs, h, mid);
		else
			add_record_iov(&bd, a->hdr, a->payload, paylen, rs);
		off += rs;
		if (off == log->ring) {
			close_run(&bd);
			off = bd.run_off = 0;
		}
	}
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
