/* streamOptimized body (VMDK_STREAM): the spec's streaming layout (docs/vmdk.md,
 * "streamOptimized"), written front to back with no seek back:
 *
 *   header (gdOffset = GD_AT_END, version 3, flags 0x30001, compressAlgorithm 1)
 *   descriptor (sectors 1..20)
 *   grain records ...  [GT marker + GT after the grains of each 32 MiB span with data]
 *   GD marker + GD, footer marker + footer (the header with the real gdOffset), EOS
 *
 * Grains are compressed in zlib form (RFC 1950; qemu rejects raw deflate), one whole grain
 * per call (the last grain may be short), each grain's stream on its own (stateless: no
 * history or state is carried from one grain to the next, so the bytes do not depend on
 * which worker took which grains). At level 0 (the default) the codec is mixed: ISA-L
 * igzip level 2 for three grains in four and libdeflate level 2 for the fourth, picked by
 * a hash of the grain's index (vmdk_stream_strong_grain: spread evenly, unrelated to any
 * layout in the disk, and the same whatever order the grains come in). No single fast deflate is
 * within 1.1x of qemu-img's zlib-6 size at igzip's speed; the mix is (on vm-a: 1.096x
 * for 0.66x libdeflate-1's CPU time; docs/vmdk.md). Levels 1..3 are igzip alone (faster,
 * larger). Compression runs on a
 * pool of worker threads (one per online CPU by default) over a ring of slots:
 *
 *   caller --fill--> [FILLED] --worker claims--> [BUSY] --compressed--> [DONE]
 *          <--drain: record appended to the file, GTE noted, slot FREE again
 *
 * Slots are filled, claimed and drained in ring order, so records come out in grain
 * order whatever order the workers finish in. Only the calling thread touches the file.
 * The caller drains in batches: when the ring is full it sleeps until the oldest slot and
 * half the ring are compressed, writes those out and refills them, so the workers keep a
 * queue of half a ring while it is away. (Waking it for every grain cost more than the
 * compression on a busy 2-CPU machine: each wake-up waits for a CPU, and the workers
 * idled meanwhile. Half a ring is 32 grains per worker, some 7 ms of work: enough to cover
 * the caller being preempted.)
 * Memory is bounded: 64 slots per worker (256 at most in all), each one grain in and one
 * record out (~134 KiB),
 * plus one ISA-L stream (80 KiB) and level buffer (276 KiB at level 1, 324 KiB at 2, 340 KiB at 3)
 * and at level 0 a libdeflate compressor (about 0.5 MiB) per worker, one GT
 * (2 KiB) and the GD (4 bytes per 32 MiB of capacity): about 9 MiB per worker, 19 MiB
 * with 2 workers, 34 MiB of slots at most, whatever the disk size (docs/vmdk.md).
 *
 * A checkpoint (sync) waits for every slot to be written; the file up to `next` is then a
 * valid prefix of the stream, and reopen rebuilds the GD and the open span's GT from the
 * records themselves, so a checkpoint needs to record only two numbers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>

#include "common/util.h"
#include "image/vmdk-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

#define SLOTS_PER_WORKER 64u
#define SLOTS_MAX 256u	/* 34 MiB: more workers share a shallower queue each */
#define MAX_WORKERS 64u
#define WRITEBACK_SECTORS 2048u	/* 1 MiB */
#define REC_HDR 12u	/* u64 LBA, u32 compressed size */
/* room for a grain that does not compress: stored blocks cost 5 bytes per 64 KiB, plus
 * the zlib header/trailer and ISA-L's slack; well under qemu's limit of 2 grains */
#define OUT_CAP ROUND_UP(REC_HDR + VMDK_GRAIN_SIZE + VMDK_GRAIN_SIZE / 16 + 1024, VMDK_SECTOR)

enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_BUSY, SLOT_DONE };

struct slot {
	enum slot_state state;	/* under mu */
	int err;
	uint64_t grain;
	bool zlib;		/* in already holds the grain's zlib form: store it as is */
	size_t in_len, out_len;	/* out_len: the whole record, sector-padded */
	uint8_t *in, *out;
};

struct worker {
	struct vmdk_stream *s;
	pthread_t thread;
	struct isal_zstream zs;
	uint8_t *level_buf;
	struct libdeflate_compressor *ld;	/* level 0: its strong grains */
};

struct vmdk_stream {
	int fd;
	int err;		/* sticky */
	struct vmdk_header h;
	uint64_t next;		/* sector where the next record goes */
	uint64_t wb_from;	/* sectors below it are being written back */
	uint64_t n_gt;
	uint32_t *gd;		/* sector of each span's GT, 0 if the span has no data */
	uint32_t gt[VMDK_GTES_PER_GT];
	uint64_t gt_idx;
	bool gt_dirty;

	int level;		/* the writer's: 0 is the mix */
	uint32_t igzip_level;	/* igzip's: level, or VMDK_MIX_IGZIP_LEVEL */
	uint32_t level_buf_size;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	bool stop;
	struct slot *slots;
	unsigned nslots, fill, claim, drain;	/* claim is under mu */
	unsigned ndone;		/* slots DONE, under mu */
	unsigned wake_at;	/* under mu: the caller sleeps until ndone reaches it (0: not) */
	struct worker *workers;
	unsigned nworkers, started;
};

static void finish_record(struct slot *sl, size_t n)
{
	put_le64(sl->out, sl->grain * VMDK_GRAIN_SECTORS);
	put_le32(sl->out + 8, (uint32_t)n);
	sl->out_len = ROUND_UP(REC_HDR + n, VMDK_SECTOR);
	memset(sl->out + REC_HDR + n, 0, sl->out_len - REC_HDR - n);
}

/* At level 0, whether grain g goes to libdeflate: the top VMDK_MIX_STRONG_BITS bits of g
 * times 2^64 / golden ratio are zero for one grain in 1 << VMDK_MIX_STRONG_BITS, spread
 * evenly over any run of consecutive grains (Fibonacci hashing), with no period a disk
 * layout (block groups, stripes) could line up with. */
bool vmdk_stream_strong_grain(uint64_t g)
{
	return (g * 0x9e3779b97f4a7c15ull) >> (64 - VMDK_MIX_STRONG_BITS) == 0;
}

static int compress_slot(struct worker *wk, struct slot *sl)
{
	struct isal_zstream *zs = &wk->zs;

	if (sl->zlib) {
		memcpy(sl->out + REC_HDR, sl->in, sl->in_len);
		finish_record(sl, sl->in_len);
		return 0;
	}
	/* OUT_CAP holds libdeflate's bound */
	if (wk->ld && vmdk_stream_strong_grain(sl->grain)) {
		size_t n = libdeflate_zlib_compress(wk->ld, sl->in, sl->in_len, sl->out + REC_HDR,
						    OUT_CAP - REC_HDR);
		if (!n)
			return -EIO;
		finish_record(sl, n);
		return 0;
	}
	isal_deflate_stateless_init(zs);	/* a fresh stream: nothing of the last grain */
	zs->next_in = sl->in;
	zs->avail_in = (uint32_t)sl->in_len;
	zs->next_out = sl->out + REC_HDR;
	zs->avail_out = OUT_CAP - REC_HDR;
	zs->level = wk->s->igzip_level;
	zs->level_buf = wk->level_buf;
	zs->level_buf_size = wk->s->level_buf_size;
	zs->gzip_flag = IGZIP_ZLIB;
	zs->end_of_stream = 1;
	zs->flush = NO_FLUSH;
	if (isal_deflate_stateless(zs) != COMP_OK)
		return -EIO;
	finish_record(sl, zs->total_out);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct vmdk_stream *s = wk->s;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stop && s->slots[s->claim].state != SLOT_FILLED)
			pthread_cond_wait(&s->work, &s->mu);
		if (s->stop)
			break;
		struct slot *sl = &s->slots[s->claim];
		s->claim = (s->claim + 1) % s->nslots;
		sl->state = SLOT_BUSY;
		pthread_mutex_unlock(&s->mu);
		int err = compress_slot(wk, sl);
		pthread_mutex_lock(&s->mu);
		sl->err = err;
		sl->state = SLOT_DONE;
		if (++s->ndone >= s->wake_at && s->wake_at)
			pthread_cond_signal(&s->done);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- output, in grain order (calling thread only) ---- */

static void put_marker(uint8_t *p, uint64_t sectors, uint32_t type)
{
	memset(p, 0, VMDK_SECTOR);
	put_le64(p, sectors);
	put_le32(p + 12, type);
}

static int emit_gt(struct vmdk_stream *s)
{
	uint8_t buf[VMDK_SECTOR + VMDK_GTES_PER_GT * 4];

	if (!s->gt_dirty)
		return 0;
	put_marker(buf, VMDK_GTES_PER_GT * 4 / VMDK_SECTOR, VMDK_MARKER_GT);
	for (unsigned i = 0; i < VMDK_GTES_PER_GT; i++)
		put_le32(buf + VMDK_SECTOR + 4 * i, s->gt[i]);
	if (s->next + 1 > UINT32_MAX)
		return -EFBIG;
	int r = pwrite_full(s->fd, buf, sizeof buf, s->next * VMDK_SECTOR);
	if (r < 0)
		return r;
	s->gd[s->gt_idx] = (uint32_t)(s->next + 1);
	s->next += sizeof buf / VMDK_SECTOR;
	s->gt_dirty = false;
	return 0;
}

static int write_record(struct vmdk_stream *s, const struct slot *sl)
{
	int r;

	if (sl->err)
		return sl->err;
	if (s->gt_dirty && sl->grain / VMDK_GTES_PER_GT != s->gt_idx && (r = emit_gt(s)) < 0)
		return r;
	if (!s->gt_dirty) {
		memset(s->gt, 0, sizeof s->gt);
		s->gt_idx = sl->grain / VMDK_GTES_PER_GT;
	}
	if (s->next + sl->out_len / VMDK_SECTOR > UINT32_MAX)
		return -EFBIG;
	if ((r = pwrite_full(s->fd, sl->out, sl->out_len, s->next * VMDK_SECTOR)) < 0)
		return r;
	s->gt[sl->grain % VMDK_GTES_PER_GT] = (uint32_t)s->next;
	s->gt_dirty = true;
	s->next += sl->out_len / VMDK_SECTOR;
	return 0;
}

/* Start writing back the records written since the last call (once there is 1 MiB of
 * them), without waiting: otherwise they
 * stay dirty until the next checkpoint, whose fdatasync (on the caller's thread, with the
 * workers idle) would then write a second's output at once. A hint: the fdatasync reports
 * real failures. */
static void writeback(struct vmdk_stream *s)
{
	if (s->next < s->wb_from + WRITEBACK_SECTORS)
		return;
	(void)sync_file_range(s->fd, (off_t)(s->wb_from * VMDK_SECTOR),
			      (off_t)((s->next - s->wb_from) * VMDK_SECTOR), SYNC_FILE_RANGE_WRITE);
	s->wb_from = s->next;
}

/* Wait until the oldest slot in flight is compressed and at least `want` slots are (one
 * wake-up for a batch), then write out the compressed slots from the oldest on, in order,
 * and free them. The oldest slot must be in flight. 0 or -errno. */
static int drain_batch(struct vmdk_stream *s, unsigned want)
{
	unsigned n = 0;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	s->wake_at = want;
	while (s->slots[s->drain].state != SLOT_DONE || s->ndone < want)
		pthread_cond_wait(&s->done, &s->mu);
	s->wake_at = 0;
	/* the DONE run from the oldest on: the caller's own, no worker touches it now */
	while (n < s->nslots && s->slots[(s->drain + n) % s->nslots].state == SLOT_DONE)
		n++;
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < n && r >= 0; i++)
		r = write_record(s, &s->slots[(s->drain + i) % s->nslots]);
	writeback(s);
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < n; i++)
		s->slots[(s->drain + i) % s->nslots].state = SLOT_FREE;
	s->ndone -= n;
	pthread_mutex_unlock(&s->mu);
	s->drain = (s->drain + n) % s->nslots;
	return r;
}

static int fill_slot(struct vmdk_stream *s, uint64_t grain, const void *data, size_t len,
		     bool zlib)
{
	struct slot *sl = &s->slots[s->fill];
	int r;

	if (s->err)
		return s->err;
	/* The ring is full when the slot to fill is the oldest in flight (drain == fill) and
	 * not yet written: write out half a ring at least. Free slots are the caller's alone. */
	pthread_mutex_lock(&s->mu);
	bool full = sl->state != SLOT_FREE;
	pthread_mutex_unlock(&s->mu);
	if (full && (r = drain_batch(s, MAX(s->nslots / 2, 1u))) < 0)
		return s->err = r;
	memcpy(sl->in, data, len);
	sl->in_len = len;
	sl->grain = grain;
	sl->zlib = zlib;
	pthread_mutex_lock(&s->mu);
	sl->state = SLOT_FILLED;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	s->fill = (s->fill + 1) % s->nslots;
	return 0;
}

static int put_grain(struct vmdk_stream *s, uint64_t grain, const void *data, size_t len)
{
	return fill_slot(s, grain, data, len, false);
}

static int put_zgrain(struct vmdk_stream *s, uint64_t grain, const void *z, size_t zlen)
{
	if (zlen > VMDK_GRAIN_SIZE)
		return -EINVAL;
	return fill_slot(s, grain, z, zlen, true);
}

static int stream_sync(struct vmdk_stream *s, uint64_t *next);

static int stream_finish(struct vmdk_stream *s)
{
	uint64_t next;
	int r = stream_sync(s, &next);

	if (r >= 0)
		r = emit_gt(s);
	if (r < 0)
		return s->err = r;

	/* GD marker + GD, footer marker + footer, EOS */
	uint64_t gd_sectors = (s->n_gt * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR;
	size_t len = (size_t)(gd_sectors + 4) * VMDK_SECTOR;
	uint8_t *buf = calloc(1, len), *p = buf;
	if (!buf)
		return s->err = -ENOMEM;
	put_marker(p, gd_sectors, VMDK_MARKER_GD);
	p += VMDK_SECTOR;
	for (uint64_t i = 0; i < s->n_gt; i++)
		put_le32(p + 4 * i, s->gd[i]);
	p += gd_sectors * VMDK_SECTOR;
	put_marker(p, 1, VMDK_MARKER_FOOTER);
	p += VMDK_SECTOR;
	struct vmdk_header footer = s->h;
	footer.gd_offset = s->next + 1;
	vmdk_header_encode(&footer, p);	/* the EOS sector after it stays zero */
	r = pwrite_full(s->fd, buf, len, s->next * VMDK_SECTOR);
	free(buf);
	if (r == 0)
		s->next += len / VMDK_SECTOR;
	return r < 0 ? (s->err = r) : 0;
}

static void stream_free(struct vmdk_stream *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->started; i++)
		pthread_join(s->workers[i].thread, NULL);
	for (unsigned i = 0; s->workers && i < s->nworkers; i++) {
		free(s->workers[i].level_buf);
		if (s->workers[i].ld)
			libdeflate_free_compressor(s->workers[i].ld);
	}
	for (unsigned i = 0; s->slots && i < s->nslots; i++) {
		free(s->slots[i].in);
		free(s->slots[i].out);
	}
	free(s->slots);
	free(s->workers);
	free(s->gd);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static uint32_t level_buf_size(int level)
{
	switch (level) {
	case 1: return ISAL_DEF_LVL1_DEFAULT;
	case 2: return ISAL_DEF_LVL2_DEFAULT;
	case 3: return ISAL_DEF_LVL3_DEFAULT;
	default: return 0;
	}
}

/* Everything but the file's head and the worker threads. */
static int stream_new(int fd, uint64_t capacity, int level, unsigned threads,
		      struct vmdk_stream **out)
{
	struct vmdk_stream *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->done, NULL);
	s->fd = fd;
	s->level = level;
	s->igzip_level = level ? (uint32_t)level : VMDK_MIX_IGZIP_LEVEL;
	s->level_buf_size = level_buf_size((int)s->igzip_level);
	s->h = (struct vmdk_header){
		.version = 3, .flags = VMDK_FLAG_NL_TEST | VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS,
		.capacity = capacity / VMDK_SECTOR, .grain_size = VMDK_GRAIN_SECTORS,
		.desc_offset = 1, .desc_size = VMDK_DESC_SECTORS, .num_gtes = VMDK_GTES_PER_GT,
		.gd_offset = VMDK_GD_AT_END, .overhead = 1 + VMDK_DESC_SECTORS,
		.compress = VMDK_COMPRESS_DEFLATE,
	};
	s->n_gt = (capacity + VMDK_GT_SPAN - 1) / VMDK_GT_SPAN;
	s->next = 1 + VMDK_DESC_SECTORS;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	s->nworkers = MIN(threads, MAX_WORKERS);
	s->nslots = MIN(s->nworkers * SLOTS_PER_WORKER, SLOTS_MAX);
	if (!(s->gd = calloc(s->n_gt ? s->n_gt : 1, 4)) ||
	    !(s->slots = calloc(s->nslots, sizeof(*s->slots))) ||
	    !(s->workers = calloc(s->nworkers, sizeof(*s->workers))))
		goto fail;
	for (unsigned i = 0; i < s->nslots; i++)
		if (!(s->slots[i].in = malloc(VMDK_GRAIN_SIZE)) ||
		    !(s->slots[i].out = malloc(OUT_CAP)))
			goto fail;
	for (unsigned i = 0; i < s->nworkers; i++) {
		s->workers[i].s = s;
		if (s->level_buf_size && !(s->workers[i].level_buf = malloc(s->level_buf_size)))
			goto fail;
		if (level == 0 &&
		    !(s->workers[i].ld = libdeflate_alloc_compressor(VMDK_MIX_LD_LEVEL)))
			goto fail;
	}
	*out = s;
	return 0;
fail:
	stream_free(s);
	return -ENOMEM;
}

static int stream_start(struct vmdk_stream *s)
{
	for (; s->started < s->nworkers; s->started++) {
		int r = -pthread_create(&s->workers[s->started].thread, NULL, worker_main,
					&s->workers[s->started]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int stream_create(int fd, uint64_t capacity, const char *desc, size_t desc_len,
			 int level, unsigned threads, struct vmdk_stream **out)
{
	struct vmdk_stream *s;
	int r = stream_new(fd, capacity, level, threads, &s);
	if (r < 0)
		return r;
	uint8_t *head = calloc(1 + VMDK_DESC_SECTORS, VMDK_SECTOR);
	r = -ENOMEM;
	if (head) {
		vmdk_header_encode(&s->h, head);
		memcpy(head + VMDK_SECTOR, desc,
		       MIN(desc_len, (size_t)VMDK_DESC_SECTORS * VMDK_SECTOR));
		r = pwrite_full(fd, head, (1 + VMDK_DESC_SECTORS) * VMDK_SECTOR, 0);
		free(head);
	}
	if (r == 0)
		r = stream_start(s);
	if (r < 0) {
		stream_free(s);
		return r;
	}
	*out = s;
	return 0;
}

static int stream_sync(struct vmdk_stream *s, uint64_t *next)
{
	int r = s->err;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		bool idle = s->slots[s->drain].state == SLOT_FREE;
		pthread_mutex_unlock(&s->mu);
		if (idle || r < 0)
			break;
		r = drain_batch(s, 1);
	}
	if (r < 0)
		return s->err = r;
	*next = s->next;
	return 0;
}

/* Walk the records from the descriptor's end to sector next: grain records ascending and
 * below grain end, each span's grains closed by its GT marker and a GT that matches them.
 * Leaves s->gd, s->gt (the open span's) and s->next as the writer had them. */
static int scan_records(struct vmdk_stream *s, uint64_t next, uint64_t end, char *err,
			size_t errlen)
{
	uint8_t sec[VMDK_SECTOR], gt[VMDK_GTES_PER_GT * 4];
	uint64_t at = 1 + VMDK_DESC_SECTORS, prev = 0;
	bool any = false;
	int r;

	while (at < next) {
		if ((r = pread_full(s->fd, sec, sizeof sec, at * VMDK_SECTOR)) < 0)
			return err_set(err, errlen, r, "reading sector %" PRIu64, at);
		uint64_t lba = get_le64(sec);
		uint32_t size = get_le32(sec + 8);
		if (size) {
			uint64_t g = lba / VMDK_GRAIN_SECTORS;
			uint64_t len = ROUND_UP(REC_HDR + (uint64_t)size, VMDK_SECTOR) / VMDK_SECTOR;
			if (lba % VMDK_GRAIN_SECTORS || g >= end || (any && g <= prev) ||
			    size > OUT_CAP - REC_HDR || at + len > next ||
			    (s->gt_dirty && g / VMDK_GTES_PER_GT != s->gt_idx))
				return err_set(err, errlen, -EBADMSG, "grain record at sector %"
					       PRIu64 " out of place", at);
			if (!s->gt_dirty) {
				memset(s->gt, 0, sizeof s->gt);
				s->gt_idx = g / VMDK_GTES_PER_GT;
			}
			s->gt[g % VMDK_GTES_PER_GT] = (uint32_t)at;
			s->gt_dirty = true;
			prev = g, any = true;
			at += len;
			continue;
		}
		if (get_le32(sec + 12) != VMDK_MARKER_GT || lba != sizeof gt / VMDK_SECTOR ||
		    !s->gt_dirty || at + 1 + lba > next)
			return err_set(err, errlen, -EBADMSG, "marker at sector %" PRIu64
				       " out of place", at);
		if ((r = pread_full(s->fd, gt, sizeof gt, (at + 1) * VMDK_SECTOR)) < 0)
			return err_set(err, errlen, r, "reading sector %" PRIu64, at + 1);
		for (unsigned i = 0; i < VMDK_GTES_PER_GT; i++)
			if (get_le32(gt + 4 * i) != s->gt[i])
				return err_set(err, errlen, -EBADMSG, "grain table at sector %"
					       PRIu64 " does not match its grains", at + 1);
		s->gd[s->gt_idx] = (uint32_t)(at + 1);
		s->gt_dirty = false;
		at += 1 + lba;
	}
	if (at != next)
		return err_set(err, errlen, -EBADMSG, "last record runs past sector %" PRIu64,
			       next);
	s->next = next;
	return 0;
}

static int stream_reopen(int fd, uint64_t capacity, uint64_t next, uint64_t end,
			 int level, unsigned threads, struct vmdk_stream **out, char *err, size_t errlen)
{
	struct vmdk_stream *s;
	uint8_t want[VMDK_SECTOR], have[VMDK_SECTOR];
	int r = stream_new(fd, capacity, level, threads, &s);
	if (r < 0)
		return err_set(err, errlen, r, "out of memory");
	struct stat st;
	vmdk_header_encode(&s->h, want);
	if (fstat(fd, &st) < 0)
		r = err_set(err, errlen, -errno, "fstat: %s", strerror(errno));
	else if ((uint64_t)st.st_size < next * VMDK_SECTOR)
		r = err_set(err, errlen, -EBADMSG, "the checkpoint does not fit the file");
	else if ((r = pread_full(fd, have, sizeof have, 0)) < 0)
		r = err_set(err, errlen, r, "reading the header");
	else if (memcmp(want, have, sizeof have))
		r = err_set(err, errlen, -EBADMSG, "not the header of this image");
	else if ((r = scan_records(s, next, end, err, errlen)) == 0 &&
		 ftruncate(fd, (off_t)(next * VMDK_SECTOR)) < 0)
		r = err_set(err, errlen, -errno, "truncating: %s", strerror(errno));
	if (r == 0 && (r = stream_start(s)) < 0)
		err_set(err, errlen, r, "starting threads");
	if (r < 0) {
		stream_free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* ---- the body's table ---- */

static struct vmdk_stream *ST(const struct vmdk_writer *w)
{
	return w->body;
}

static int body_start(struct vmdk_writer *w)
{
	struct vmdk_stream *s;
	int r = stream_create(w->fd, w->capacity, w->desc, w->desc_len, w->level, w->threads,
			      &s);
	if (r == 0)
		w->body = s;
	return r;
}

static int body_grain(struct vmdk_writer *w, uint64_t g, const void *data, size_t len)
{
	return put_grain(ST(w), g, data, len);
}

static int body_zgrain(struct vmdk_writer *w, uint64_t g, const void *z, size_t zlen)
{
	return put_zgrain(ST(w), g, z, zlen);
}

static int body_finish(struct vmdk_writer *w)
{
	return stream_finish(ST(w));
}

static int body_checkpoint(struct vmdk_writer *w, uint64_t *next)
{
	return stream_sync(ST(w), next);
}

static int body_reopen(struct vmdk_writer *w, const struct vmdk_ckpt *c, char *err,
		       size_t errlen)
{
	struct vmdk_stream *s;
	int r = stream_reopen(w->fd, w->capacity, c->next,
			      (c->off + VMDK_GRAIN_SIZE - 1) / VMDK_GRAIN_SIZE, w->level, w->threads,
			      &s, err, errlen);
	if (r == 0)
		w->body = s;
	return r;
}

static void body_release(struct vmdk_writer *w)
{
	if (w->body)
		stream_free(ST(w));
	w->body = NULL;
}

const struct vmdk_body_ops vmdk_stream_ops = {
	.create_type = "streamOptimized",
	.ext_type = VMDK_EXT_SPARSE,
	.ordered = true,
	.start = body_start,
	.grain = body_grain,
	.zgrain = body_zgrain,
	.finish = body_finish,
	.checkpoint = body_checkpoint,
	.reopen = body_reopen,
	.release = body_release,
};
