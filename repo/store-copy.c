/* Repository copy between stores (contract and ordering in store-copy.h).
 *
 * Why it works this way: both stores are listed once up front (the destination sorted, so
 * "is it already there" is a binary search); then each phase's objects are shared out to
 * worker threads through one index under a mutex, and the phase ends when every worker
 * has finished, which is what makes the packs -> index -> manifests -> config order hold.
 * A worker reads one whole object (a ranged read of its listed size into the worker's
 * buffer) and puts it: repository objects are at most a pack (about 20 MiB), so memory is
 * threads x the largest object. The first failure stops the
 * workers from taking more work; what they already copied stays (a rerun skips it). */
#include "repo/store-copy.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

#define COPY_THREADS_DEFAULT 4u
#define COPY_THREADS_MAX 64u
#define CONFIG_KEY "config"

struct copy {
	struct store *src, *dst;
	const struct objs *have;	/* the destination's objects, sorted */
	struct obj **work;		/* this phase's objects */
	size_t n, next;			/* next: under mu */
	pthread_mutex_t mu;
	int rc;				/* first failure, under mu */
	char *err;
	size_t errlen;
	struct store_copy_stats *stats;	/* under mu */
};

static unsigned phase_of(const char *key)
{
	if (!strncmp(key, "packs/", 6))
		return 0;
	if (!strncmp(key, "index/", 6))
		return 1;
	return strcmp(key, CONFIG_KEY) ? 2 : 3;
}

/* Record the first failure (with its reason) and stop the workers. */
static int failed(struct copy *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int failed(struct copy *c, int rc, const char *fmt, ...)
{
	pthread_mutex_lock(&c->mu);
	if (!c->rc) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
		c->rc = rc;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void count(struct copy *c, uint64_t *n, uint64_t *bytes, uint64_t size)
{
	pthread_mutex_lock(&c->mu);
	(*n)++;
	if (bytes)
		*bytes += size;
	pthread_mutex_unlock(&c->mu);
}

static int conflict(struct copy *c, const char *key, uint64_t have, uint64_t want)
{
	return failed(c, -EEXIST, "%s: the destination has it with %" PRIu64 " bytes, the "
		      "source with %" PRIu64 ": not the same repository", key, have, want);
}

/* A worker's buffer, reused from object to object: reading into memory that is already
 * mapped saves the page faults and zeroing of a fresh buffer per object (measured: a
 * third of a file -> S3 copy's CPU time). */
struct buf {
	void *p;
	size_t cap;
};

static int copy_one(struct copy *c, const struct obj *o, struct buf *b)
{
	struct store_copy_stats *s = c->stats;
	const struct obj *there = objs_find(c->have, o->key);
	if (there && there->size != o->size)
		return conflict(c, o->key, there->size, o->size);
	if (there) {
		count(c, &s->present, &s->present_bytes, o->size);
		return 0;
	}
	size_t len = (size_t)o->size;
	if (len > b->cap) {
		free(b->p);
		b->cap = 0;
		if (!(b->p = malloc(len)))
			return failed(c, -ENOMEM, "out of memory for %s (%zu bytes)", o->key, len);
		b->cap = len;
	}
	/* listed sizes are exact (objects never change): read exactly that */
	int rc = len ? store_get_range(c->src, o->key, 0, len, b->p) : 0;
	if (rc == -ENOENT) {
		count(c, &s->vanished, NULL, 0);
		return 0;
	}
	if (rc < 0)
		return failed(c, rc, "reading %s: %s", o->key, store_strerror(c->src, rc));
	rc = store_put(c->dst, o->key, b->p, len);
	if (rc == -EEXIST) {	/* someone (an earlier, killed copy's retry) put it meanwhile */
		uint64_t size;
		if ((rc = store_head(c->dst, o->key, &size)) < 0)
			return failed(c, rc, "checking %s: %s", o->key, store_strerror(c->dst, rc));
		if (size != len)
			return conflict(c, o->key, size, len);
		count(c, &s->present, &s->present_bytes, len);
		return 0;
	}
	if (rc < 0)
		return failed(c, rc, "writing %s: %s", o->key, store_strerror(c->dst, rc));
	count(c, &s->objects, &s->bytes, len);
	return 0;
}

static void *worker(void *arg)
{
	struct copy *c = arg;
	struct buf b = { NULL, 0 };
	for (;;) {
		pthread_mutex_lock(&c->mu);
		bool stop = c->rc || c->next >= c->n;
		size_t i = stop ? 0 : c->next++;
		pthread_mutex_unlock(&c->mu);
		if (stop)
			break;
		copy_one(c, c->work[i], &b);
	}
	free(b.p);
	return NULL;
}

/* Run one phase's objects through `threads` workers; returns when all are done. */
static int run_phase(struct copy *c, unsigned threads)
{
	pthread_t tid[COPY_THREADS_MAX];
	unsigned started = 0;
	c->next = 0;
	threads = (unsigned)MIN((size_t)threads, c->n);
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, worker, c))
			break;
	if (started == 0 && c->n)
		worker(c);	/* no thread could start: do it here */
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	return c->rc;
}

/* The source must be a repository, and the destination empty of one or the same one. */
static int check_configs(struct copy *c)
{
	void *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int rc = store_get(c->src, CONFIG_KEY, &a, &alen);
	if (rc == -ENOENT)
		rc = failed(c, rc, "the source has no config object: not a ferry repository");
	else if (rc < 0)
		rc = failed(c, rc, "reading config: %s", store_strerror(c->src, rc));
	else if ((rc = store_get(c->dst, CONFIG_KEY, &b, &blen)) == -ENOENT)
		rc = 0;
	else if (rc < 0)
		rc = failed(c, rc, "reading the destination's config: %s",
			    store_strerror(c->dst, rc));
	else if (alen != blen || memcmp(a, b, alen))
		rc = failed(c, -EEXIST, "the destination holds another repository (its config "
			    "differs): nothing copied");
	free(a);
	free(b);
	return rc;
}

int store_copy(struct store *src, struct store *dst, unsigned threads,
	       struct store_copy_stats *stats, char *err, size_t errlen)
{
	struct objs from = { 0 }, have = { 0 };
	struct copy c = { .src = src, .dst = dst, .have = &have, .err = err, .errlen = errlen,
			  .stats = stats };
	int rc;

	memset(stats, 0, sizeof(*stats));
	err[0] = '\0';
	threads = threads ? MIN(threads, COPY_THREADS_MAX) : COPY_THREADS_DEFAULT;
	pthread_mutex_init(&c.mu, NULL);
	if ((rc = check_configs(&c)) < 0)
		goto out;
	if ((rc = store_list(src, "", objs_collect, &from)) < 0) {
		snprintf(err, errlen, "listing the source: %s", store_strerror(src, rc));
		goto out;
	}
	if ((rc = objs_list_sorted(dst, "", &have)) < 0) {
		snprintf(err, errlen, "listing the destination: %s", store_strerror(dst, rc));
		goto out;
	}
	if (!(c.work = malloc((from.n ? from.n : 1) * sizeof(*c.work)))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (unsigned phase = 0; phase < 4 && rc == 0; phase++) {
		c.n = 0;
		for (size_t i = 0; i < from.n; i++)
			if (phase_of(from.v[i].key) == phase)
				c.work[c.n++] = &from.v[i];
		rc = run_phase(&c, threads);
	}
out:
	free(c.work);
	objs_release(&from);
	objs_release(&have);
	pthread_mutex_destroy(&c.mu);
	return rc;
}
