/* The point writer's encode pool: chunk ids, dedupe checks, compression and encryption of
 * frames run on worker threads (2 by default: "hashing and compression run on both
 * cores"), each with its own blob context, while the caller goes on copying data in.
 *
 * Jobs live in a ring of POOL_DEPTH slots and are retired strictly in submission order by
 * the writer's thread (point-writer.c), which alone touches packs and the pending index:
 * so a pack's bytes follow the order of repo_point_data calls whatever the threads' timing.
 * The newest slot may be "filling": the writer appends the pieces of one frame to it
 * until it seals it (a piece that does not follow the previous one on the disk, a full
 * frame, a commit).
 *
 * Dedupe inside a point: a worker first checks the repository's index (its rwlock makes
 * that safe), then claims the id in the point's claim set (a chunk_index shared by the
 * workers): only the job that claims an id first stores it, whichever job that is, so a
 * chunk that appears twice in a point is stored once. Every job is retired before the
 * commit names anything, so a piece whose chunk another job stores is always resolved.
 *
 * With threads == 0 a job runs at once in the writer's thread when sealed (tests, and a
 * fallback if a thread cannot be started).
 *
 * Compression with auto_skip (the shipper's `compression = auto`) adapts to the data:
 * - Incompressible data (media, encrypted or random blocks) is common on VM disks, and
 *   compressing it costs as much CPU as compressing anything else to save nothing. So
 *   every SKIP_WINDOW compressed frames the saving is measured; under SKIP_MIN_SAVING the
 *   pool stops compressing and only every SKIP_PROBE-th frame is tried (a probe), which
 *   keeps measuring: when the data turns compressible again, compression resumes after
 *   SKIP_WINDOW probes. The sample lives in the repository, shared by its writers.
 * - igzip builds Huffman tables per call, which dominates for small frames (a 4 KiB write
 *   stored as a 4 KiB chunk): below IGZIP_MIN_LEN bytes zstd level 1 is used instead
 *   (measured: 4 KiB chunks encode about 1.6x faster with zstd-1 than with igzip-1). */
#include "repo/point-pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "common/banned.h"

enum { JOB_FREE, JOB_FILLING, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct encode_pool {
	struct repo *r;
	struct pool_codec codec;
	uint32_t frame_max;
	size_t max_pieces;
	struct chunk_index *claimed;	/* ids stored by some job of this point */
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct encode_job job[POOL_DEPTH];
	unsigned state[POOL_DEPTH];
	size_t head, count;		/* oldest job, jobs in the ring (the filling one too) */
	bool filling;			/* the newest job is being filled */
	bool stop;
	pthread_t th[POOL_MAX_THREADS];
	struct blob_ctx *cx[POOL_MAX_THREADS + 1];	/* last one: inline mode */
	unsigned nth;
	_Atomic uint64_t cpu_ns;
};

#define SKIP_WINDOW 256u	/* frames per measurement */
#define SKIP_MIN_SAVING 0.03	/* compress while it saves at least 3% */
#define SKIP_PROBE 16u		/* while skipping, try one frame in 16 */
#define IGZIP_MIN_LEN 16384u

/* The codec for the next frame of len bytes, or COMPRESS_NONE to skip it. */
static enum compress_type pick_codec(struct encode_pool *p, uint32_t len, int *level)
{
	struct repo *r = p->r;
	*level = p->codec.level;
	if (!p->codec.auto_skip || p->codec.type == COMPRESS_NONE)
		return p->codec.type;
	if (atomic_load(&r->cz_skip) && atomic_fetch_add(&r->cz_seq, 1) % SKIP_PROBE)
		return COMPRESS_NONE;
	if (p->codec.type == COMPRESS_IGZIP && len < IGZIP_MIN_LEN) {
		*level = 1;
		return COMPRESS_ZSTD;
	}
	return p->codec.type;
}

/* Account one compressed frame (plaintext len, blob n bytes) and re-decide skipping at
 * the end of each window. Races between workers only blur a window's edges. */
static void account(struct repo *r, uint32_t len, size_t n, bool encrypted)
{
	size_t ovh = encrypted ? BLOB_OVERHEAD_ENC : BLOB_OVERHEAD_PLAIN;
	atomic_fetch_add(&r->cz_in, len);
	atomic_fetch_add(&r->cz_out, n > ovh ? n - ovh : 0);
	if (atomic_fetch_add(&r->cz_tried, 1) + 1 < SKIP_WINDOW)
		return;
	atomic_store(&r->cz_tried, 0);
	uint64_t in = atomic_exchange(&r->cz_in, 0), out = atomic_exchange(&r->cz_out, 0);
	atomic_store(&r->cz_skip, in && (double)out > (1.0 - SKIP_MIN_SAVING) * (double)in);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Claim id for this point: *first is true if no job claimed it before. */
static int claim(struct encode_pool *p, const uint8_t *id, bool *first)
{
	static const struct chunk_loc none;
	int rc = index_claim(p->claimed, id, &none);
	*first = rc == 1;
	return rc < 0 ? rc : 0;
}

/* Ids of every piece; the fresh ones are moved to the front, back to back (the frame). */
static int sort_pieces(struct encode_pool *p, struct blob_ctx *cx, struct encode_job *j)
{
	uint32_t pos = 0, plain = 0;
	for (size_t k = 0; k < j->npc; k++) {
		struct frame_piece *pc = &j->pc[k];
		int rc = chunk_id(cx, j->data + pos, pc->len, pc->id);
		pc->fresh = false;
		if (rc == 0 && !index_lookup(&p->r->index, pc->id, NULL))
			rc = claim(p, pc->id, &pc->fresh);
		if (rc < 0)
			return rc;
		if (pc->fresh) {
			if (plain != pos)
				memmove(j->data + plain, j->data + pos, pc->len);
			pc->foff = plain;
			plain += pc->len;
		}
		pos += pc->len;
	}
	j->plain_len = plain;
	return 0;
}

static void run_job(struct encode_pool *p, struct blob_ctx *cx, struct encode_job *j)
{
	uint64_t t0 = thread_cpu_ns();
	j->err = sort_pieces(p, cx, j);
	if (j->err == 0 && j->plain_len) {
		int level;
		enum compress_type ct = pick_codec(p, j->plain_len, &level);
		ssize_t n = blob_encode(cx, j->data, j->plain_len, ct, level, j->blob, j->blob_cap);
		if (n < 0)
			j->err = (int)n;
		else
			j->blob_len = (uint32_t)n;
		if (n >= 0 && ct != COMPRESS_NONE && p->codec.auto_skip)
			account(p->r, j->plain_len, (size_t)n, p->r->encrypted);
	}
	atomic_fetch_add(&p->cpu_ns, thread_cpu_ns() - t0);
}

struct worker_arg {
	struct encode_pool *p;
	unsigned i;
};

static void *worker(void *arg)
{
	struct encode_pool *p = ((struct worker_arg *)arg)->p;
	struct blob_ctx *cx = p->cx[((struct worker_arg *)arg)->i];
	free(arg);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		size_t k = 0, i = 0;
		for (; k < p->count; k++) {
			i = (p->head + k) % POOL_DEPTH;
			if (p->state[i] == JOB_QUEUED)
				break;
		}
		if (k == p->count) {
			if (p->stop)
				break;
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		p->state[i] = JOB_RUNNING;
		pthread_mutex_unlock(&p->lock);
		run_job(p, cx, &p->job[i]);
		pthread_mutex_lock(&p->lock);
		p->state[i] = JOB_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int encode_pool_start(struct repo *r, unsigned threads, uint32_t frame_max,
		      size_t max_pieces, const struct pool_codec *codec,
		      struct chunk_index *claimed, struct encode_pool **out)
{
	struct encode_pool *p = calloc(1, sizeof(*p));
	size_t cap = blob_max_size(frame_max, r->encrypted);
	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->r = r;
	p->codec = *codec;
	p->frame_max = frame_max;
	p->max_pieces = max_pieces;
	p->claimed = claimed;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	threads = MIN(threads, POOL_MAX_THREADS);
	for (size_t i = 0; i < POOL_DEPTH; i++) {
		p->job[i].data = malloc(frame_max);
		p->job[i].blob = malloc(cap);
		p->job[i].blob_cap = cap;
		p->job[i].pc = malloc(max_pieces * sizeof(*p->job[i].pc));
		if (!p->job[i].data || !p->job[i].blob || !p->job[i].pc)
			goto nomem;
	}
	for (unsigned i = 0; i <= POOL_MAX_THREADS; i++)
		if (!(p->cx[i] = repo_cx_get(r)))
			goto nomem;
	for (; p->nth < threads; p->nth++) {
		struct worker_arg *a = malloc(sizeof(*a));
		if (!a)
			break;
		a->p = p;
		a->i = p->nth;
		if (pthread_create(&p->th[p->nth], NULL, worker, a)) {
			free(a);
			break;	/* fewer threads (maybe none: inline) */
		}
	}
	*out = p;
	return 0;
nomem:
	encode_pool_stop(p);
	return -ENOMEM;
}

void encode_pool_stop(struct encode_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	for (unsigned i = 0; i <= POOL_MAX_THREADS; i++)
		repo_cx_put(p->r, p->cx[i]);
	for (size_t i = 0; i < POOL_DEPTH; i++) {
		free(p->job[i].data);
		free(p->job[i].blob);
		free(p->job[i].pc);
	}
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* The job being filled (the lock is not needed: only the writer's thread fills). */
static struct encode_job *filling(struct encode_pool *p)
{
	return p->filling ? &p->job[(p->head + p->count - 1) % POOL_DEPTH] : NULL;
}

bool encode_pool_room(struct encode_pool *p, uint32_t len)
{
	struct encode_job *j = filling(p);
	return j && j->npc < p->max_pieces && len <= p->frame_max - j->len;
}

bool encode_pool_full(struct encode_pool *p)
{
	pthread_mutex_lock(&p->lock);
	bool full = !p->filling && p->count == POOL_DEPTH;
	pthread_mutex_unlock(&p->lock);
	return full;
}

void encode_pool_append(struct encode_pool *p, const void *data, uint32_t len, uint64_t tag)
{
	struct encode_job *j = filling(p);
	if (!j) {
		pthread_mutex_lock(&p->lock);
		size_t i = (p->head + p->count) % POOL_DEPTH;
		j = &p->job[i];
		p->state[i] = JOB_FILLING;
		p->count++;
		p->filling = true;
		pthread_mutex_unlock(&p->lock);
		j->len = 0;
		j->npc = 0;
		j->plain_len = 0;
		j->blob_len = 0;
		j->err = 0;
	}
	memcpy(j->data + j->len, data, len);
	j->pc[j->npc++] = (struct frame_piece){ .tag = tag, .len = len };
	j->len += len;
}

void encode_pool_seal(struct encode_pool *p)
{
	struct encode_job *j = filling(p);
	if (!j)
		return;
	size_t i = (size_t)(j - p->job);
	pthread_mutex_lock(&p->lock);
	p->filling = false;
	if (p->nth) {
		p->state[i] = JOB_QUEUED;
		pthread_cond_signal(&p->work);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	p->state[i] = JOB_RUNNING;
	pthread_mutex_unlock(&p->lock);
	run_job(p, p->cx[POOL_MAX_THREADS], j);
	pthread_mutex_lock(&p->lock);
	p->state[i] = JOB_DONE;
	pthread_mutex_unlock(&p->lock);
}

struct encode_job *encode_pool_oldest(struct encode_pool *p)
{
	pthread_mutex_lock(&p->lock);
	struct encode_job *j = NULL;
	if (p->count && !(p->filling && p->count == 1)) {
		while (p->state[p->head] != JOB_DONE)
			pthread_cond_wait(&p->done, &p->lock);
		j = &p->job[p->head];
	}
	pthread_mutex_unlock(&p->lock);
	return j;
}

void encode_pool_retire(struct encode_pool *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->count && p->state[p->head] == JOB_DONE) {
		p->state[p->head] = JOB_FREE;
		p->head = (p->head + 1) % POOL_DEPTH;
		p->count--;
	}
	pthread_mutex_unlock(&p->lock);
}

uint64_t encode_pool_cpu_ns(struct encode_pool *p)
{
	return atomic_load(&p->cpu_ns);
}
