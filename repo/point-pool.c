/* The point writer's encode pool: chunk ids, compression and encryption of new chunks run
 * on worker threads (2 by default: "hashing and compression run on both cores"), each
 * with its own blob context, while the caller goes on copying data in.
 *
 * Jobs live in a ring of POOL_DEPTH slots and are retired strictly in submission order by
 * the writer's thread (point-writer.c), which alone touches packs and the pending index:
 * so a pack's bytes follow the order of repo_point_data calls whatever the threads' timing,
 * and two jobs of the same content are told apart at retirement (the second is dropped).
 * The workers only read the repository's index (its rwlock makes that safe) to skip
 * encoding chunks the repository already has.
 *
 * With threads == 0 a job runs at once in the submitting thread (tests, and a fallback if
 * a thread cannot be started).
 *
 * Compression with auto_skip (the shipper's `compression = auto`) adapts to the data:
 * - Incompressible data (media, encrypted or random blocks) is common on VM disks, and
 *   compressing it costs as much CPU as compressing anything else to save nothing. So
 *   every SKIP_WINDOW compressed chunks the saving is measured; under SKIP_MIN_SAVING the
 *   pool stops compressing and only every SKIP_PROBE-th chunk is tried (a probe), which
 *   keeps measuring: when the data turns compressible again, compression resumes after
 *   SKIP_WINDOW probes.
 * - igzip builds Huffman tables per call, which dominates for small chunks (a 4 KiB write
 *   stored as a 4 KiB chunk): below IGZIP_MIN_LEN bytes zstd level 1 is used instead
 *   (measured: 4 KiB chunks encode about 1.6x faster with zstd-1 than with igzip-1). */
#include "repo/point-pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

enum { JOB_FREE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct encode_pool {
	struct repo *r;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct encode_job job[POOL_DEPTH];
	unsigned state[POOL_DEPTH];
	size_t head, count;		/* oldest job, jobs in the ring */
	bool stop;
	pthread_t th[POOL_MAX_THREADS];
	struct blob_ctx *cx[POOL_MAX_THREADS + 1];	/* last one: inline mode */
	unsigned nth;
};

#define SKIP_WINDOW 256u	/* chunks per measurement */
#define SKIP_MIN_SAVING 0.03	/* compress while it saves at least 3% */
#define SKIP_PROBE 16u		/* while skipping, try one chunk in 16 */
#define IGZIP_MIN_LEN 16384u

/* The codec for the next chunk of len bytes, or COMPRESS_NONE to skip it. */
static enum compress_type pick_codec(struct repo *r, uint32_t len, int *level)
{
	*level = r->clevel;
	if (!r->auto_skip || r->ctype == COMPRESS_NONE)
		return r->ctype;
	if (atomic_load(&r->cz_skip) && atomic_fetch_add(&r->cz_seq, 1) % SKIP_PROBE)
		return COMPRESS_NONE;
	if (r->ctype == COMPRESS_IGZIP && len < IGZIP_MIN_LEN) {
		*level = 1;
		return COMPRESS_ZSTD;
	}
	return r->ctype;
}

/* Account one compressed chunk (plaintext len, blob n bytes) and re-decide skipping at
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

static void run_job(struct encode_pool *p, struct blob_ctx *cx, struct encode_job *j)
{
	uint64_t t0 = now_mono_ns();
	j->err = chunk_id(cx, j->data, j->len, j->id);
	if (j->err < 0)
		return;
	j->known = index_lookup(&p->r->index, j->id, NULL);
	if (!j->known) {
		int level;
		enum compress_type ct = pick_codec(p->r, j->len, &level);
		ssize_t n = blob_encode(cx, j->data, j->len, ct, level, j->blob, j->blob_cap);
		if (n < 0)
			j->err = (int)n;
		else
			j->blob_len = (uint32_t)n;
		if (n >= 0 && ct != COMPRESS_NONE && p->r->auto_skip)
			account(p->r, j->len, (size_t)n, p->r->encrypted);
	}
	atomic_fetch_add(&p->r->t_encode_ns, now_mono_ns() - t0);
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

int encode_pool_start(struct repo *r, unsigned threads, struct encode_pool **out)
{
	struct encode_pool *p = calloc(1, sizeof(*p));
	size_t cap = blob_max_size(r->chunk_size, r->encrypted);
	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->r = r;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	threads = MIN(threads, POOL_MAX_THREADS);
	for (size_t i = 0; i < POOL_DEPTH; i++) {
		p->job[i].data = malloc(r->chunk_size);
		p->job[i].blob = malloc(cap);
		p->job[i].blob_cap = cap;
		if (!p->job[i].data || !p->job[i].blob)
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
	}
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

bool encode_pool_full(struct encode_pool *p)
{
	pthread_mutex_lock(&p->lock);
	bool full = p->count == POOL_DEPTH;
	pthread_mutex_unlock(&p->lock);
	return full;
}

void encode_pool_submit(struct encode_pool *p, const void *data, uint32_t len, uint64_t tag)
{
	pthread_mutex_lock(&p->lock);
	size_t i = (p->head + p->count) % POOL_DEPTH;
	struct encode_job *j = &p->job[i];
	memcpy(j->data, data, len);
	j->len = len;
	j->tag = tag;
	j->err = 0;
	j->known = false;
	j->blob_len = 0;
	p->count++;
	if (p->nth) {
		p->state[i] = JOB_QUEUED;
		pthread_cond_signal(&p->work);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	pthread_mutex_unlock(&p->lock);
	run_job(p, p->cx[POOL_MAX_THREADS], j);
	p->state[i] = JOB_DONE;
}

struct encode_job *encode_pool_oldest(struct encode_pool *p)
{
	pthread_mutex_lock(&p->lock);
	struct encode_job *j = NULL;
	if (p->count) {
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
	if (p->count) {
		p->state[p->head] = JOB_FREE;
		p->head = (p->head + 1) % POOL_DEPTH;
		p->count--;
	}
	pthread_mutex_unlock(&p->lock);
}
