/* The shipper thread: see shipper.h for what it does and why in that order.
 *
 * Points of a domain are numbered densely within epoch 1 (failover, which starts new
 * epochs, comes with the recovery issues). A cut covers the domain's records from the
 * first unshipped one up to the log head seen when the cut started; to keep memory
 * bounded, a cut stops early once SHIP_MAX_POINT_BYTES of coalesced data are held and the
 * next cut follows at once. Points cut while the domain is in overflow are flagged
 * inconsistent (their extents are incomplete until a resync). */
#include "datapath/shipper.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "datapath/point-builder.h"
#include "datapath/server.h"
#include "repo/repo.h"
#include "common/banned.h"

#define SHIP_MAX_POINT_BYTES (512ull << 20)
#define SHIP_RETRY_MS 5000u
#define SHIP_MAX_WAITERS 16

struct ship_domain {
	const struct domain_cfg *cfg;
	uint32_t domain_id;
	struct disk **disks;		/* this domain's disks, in config order */
	size_t n_disks;
	uint64_t next_cut_ns;
	bool requested;
	int waiters[SHIP_MAX_WAITERS];	/* reply fds of `ferryctl point` */
	size_t n_waiters;
	uint32_t epoch;
	uint64_t last_point;		/* newest point seq of the epoch (0: none) */
	uint64_t shipped;		/* log sequence shipped up to */
	enum compress_type ctype;
	int clevel;
	bool cauto;
	bool seed_pending;	/* the last point was a seed: cut the catch-up point even if empty */
};

struct shipper {
	struct server *srv;
	struct repo *repo;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct ship_domain *doms;
	size_t n_doms;
};

/* ---- one point ---- */

struct emit_ctx {
	struct ship_domain *d;
	struct repo_point_writer *w;
	size_t next_disk;	/* disks [0, next_disk) have been selected already */
	size_t cur;
};

static int select_disks_upto(struct emit_ctx *e, size_t disk)
{
	while (e->next_disk <= disk && e->next_disk < e->d->n_disks) {
		const struct disk *dk = e->d->disks[e->next_disk];
		int r = repo_point_disk(e->w, dk->name, dk->size);
		if (r < 0)
			return r;
		e->cur = e->next_disk++;
	}
	return 0;
}

static int emit_piece(void *arg, unsigned disk, const struct pb_piece *p)
{
	struct emit_ctx *e = arg;
	int r = select_disks_upto(e, disk);
	if (r < 0)
		return r;
	if (p->zero)
		return repo_point_zero(e->w, p->offset, p->length);
	return repo_point_data(e->w, p->offset, p->data, p->length);
}

static int local_disk_index(const struct ship_domain *d, uint32_t disk_id)
{
	for (size_t i = 0; i < d->n_disks; i++)
		if (d->disks[i]->disk_id == disk_id)
			return (int)i;
	return -1;
}

static void reply_waiters(struct ship_domain *d, const char *msg)
{
	for (size_t i = 0; i < d->n_waiters; i++) {
		if (write_full(d->waiters[i], msg, strlen(msg)) < 0)
			log_debug("shipper: a `ferryctl point` client went away");
		close(d->waiters[i]);
	}
	d->n_waiters = 0;
}

/* Seeding: the first point of a domain carries the whole content of its disks, read from
 * the primaries (holes skipped with SEEK_DATA/SEEK_HOLE, all-zero chunks recorded as zero
 * extents) while capture is already on; the log records of the point are applied after it,
 * so they win. Such a point mixes the primary at read time with the log, so it is flagged
 * inconsistent; the next point (the catch-up) is consistent. */
static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int seed_disk(struct repo_point_writer *w, const struct disk *dk, uint32_t chunk,
		     uint64_t *bytes)
{
	uint8_t *buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	int r = 0;
	uint64_t off = 0;
	while (off < dk->size) {
		off_t data = lseek(dk->fd, (off_t)off, SEEK_DATA);
		if (data < 0) {
			if (errno != ENXIO)	/* ENXIO: only a hole remains */
				r = -errno;
			break;
		}
		off_t hole = lseek(dk->fd, data, SEEK_HOLE);
		if (hole < 0) {
			r = -errno;
			break;
		}
		uint64_t pos = (uint64_t)data / chunk * chunk;
		for (; pos < (uint64_t)hole && pos < dk->size && !r; pos += chunk) {
			uint32_t n = (uint32_t)MIN((uint64_t)chunk, dk->size - pos);
			r = pread_full(dk->fd, buf, n, pos);
			if (r < 0)
				break;
			r = all_zero(buf, n) ? repo_point_zero(w, pos, n) : repo_point_data(w, pos, buf, n);
			*bytes += n;
		}
		off = MAX(pos, (uint64_t)hole);
	}
	free(buf);
	return r;
}

/* Cut one point of d. Return 0 (done or nothing to do), 1 (done, but more is waiting:
 * cut again now), or -1 (failed; logged). *what receives a line for waiting clients. */
static int cut_point(struct shipper *sh, struct ship_domain *d, bool requested, char *what,
		     size_t whatlen)
{
	struct server *srv = sh->srv;
	struct replog_stat *st = calloc(1, sizeof *st);
	struct point_builder *pb = NULL;
	struct replog_cursor *cur = NULL;
	struct repo_point_writer *w = NULL;
	struct replog_record rec;
	const void *payload;
	uint64_t last = d->shipped, records = 0;
	bool more = false, overflow = false;
	int rc = -1, r;
	char err[256] = "";

	snprintf(what, whatlen, "error: shipping failed (see ferryd's log)\n");
	if (!st || replog_get_stat(srv->log, st) < 0)
		goto out;
	for (size_t i = 0; i < st->n_domains; i++)
		if (st->domains[i].id == d->domain_id)
			overflow = st->domains[i].overflow;
	uint64_t target = st->head_seq - 1;
	uint64_t from = MAX(st->tail_seq, d->shipped + 1);
	pb = pb_new(repo_chunk_size(sh->repo));
	if (!pb)
		goto out;
	if (from <= target) {
		r = replog_cursor_open(srv->log, from, &cur);
		if (r < 0) {
			log_error("shipper: domain %s: reading the log from %" PRIu64 ": %s",
				  d->cfg->name, from, strerror(-r));
			goto out;
		}
		while ((r = replog_cursor_next(cur, &rec, &payload)) == 1) {
			if (rec.seq > target)
				break;
			last = rec.seq;
			if (rec.domain_id != d->domain_id)
				continue;
			int k = local_disk_index(d, rec.disk_id);
			if (k < 0)
				continue;	/* a disk no longer configured */
			r = pb_add(pb, (unsigned)k, rec.offset, rec.length,
				   rec.type == REPLOG_REC_WRITE ? payload : NULL);
			if (r < 0)
				goto out;
			records++;
			if (pb_bytes(pb) >= SHIP_MAX_POINT_BYTES) {
				more = true;
				break;
			}
		}
		if (r < 0) {
			log_error("shipper: domain %s: reading the log: %s", d->cfg->name, strerror(-r));
			goto out;
		}
	}
	if (records == 0 && !requested && d->last_point && !d->seed_pending) {
		/* nothing of this domain: only let the log tail move past the others' records */
		if (last > d->shipped && replog_mark_shipped(srv->log, d->domain_id, last) == 0) {
			d->shipped = last;
			replog_reclaim(srv->log);
		}
		rc = 0;
		goto out;
	}

	struct point_info meta = { 0 };
	snprintf(meta.domain, sizeof meta.domain, "%s", d->cfg->name);
	meta.epoch = d->epoch;
	meta.seq = d->last_point + 1;
	meta.parent_seq = d->last_point;
	meta.time_ns = now_real_ns();
	bool seeding = d->last_point == 0;
	meta.flags = overflow || seeding ? 0 : POINT_CONSISTENT;
	meta.log_seq = last;
	repo_set_compression(sh->repo, d->ctype, d->clevel, d->cauto);
	r = repo_point_begin(sh->repo, &meta, &w);
	if (r < 0) {
		log_error("shipper: domain %s: starting point %" PRIu32 ".%" PRIu64 ": %s",
			  d->cfg->name, meta.epoch, meta.seq, strerror(-r));
		goto out;
	}
	struct emit_ctx e = { .d = d, .w = w };
	if (seeding) {
		uint64_t seeded = 0;
		r = 0;
		for (size_t i = 0; i < d->n_disks && !r; i++) {
			r = select_disks_upto(&e, i);
			if (!r)
				r = seed_disk(w, d->disks[i], repo_chunk_size(sh->repo), &seeded);
		}
		if (r < 0) {
			log_error("shipper: domain %s: seeding: %s", d->cfg->name, strerror(-r));
			repo_point_abort(w);
			goto out;
		}
		log_info("seeding domain %s: read %" PRIu64 " bytes of its disks", d->cfg->name,
			 seeded);
		/* the log records go on top; the disks are selected again as pieces arrive */
		e.next_disk = 0;
	}
	r = pb_emit(pb, emit_piece, &e);
	if (r == 0)
		r = select_disks_upto(&e, d->n_disks);
	if (r < 0) {
		log_error("shipper: domain %s: storing point %" PRIu32 ".%" PRIu64 ": %s",
			  d->cfg->name, meta.epoch, meta.seq, strerror(-r));
		repo_point_abort(w);
		goto out;
	}
	struct point_info done;
	r = repo_point_commit(w, &done, err, sizeof err);
	if (r < 0) {
		log_error("shipper: domain %s: committing point %" PRIu32 ".%" PRIu64 ": %s",
			  d->cfg->name, meta.epoch, meta.seq, err[0] ? err : strerror(-r));
		goto out;
	}
	d->last_point = done.seq;
	if (last > d->shipped) {
		r = replog_mark_shipped(srv->log, d->domain_id, last);
		if (r < 0)
			log_error("shipper: domain %s: marking the log shipped: %s", d->cfg->name,
				  strerror(-r));
		else
			d->shipped = last;
		int64_t freed = replog_reclaim(srv->log);
		if (freed < 0)
			log_error("shipper: reclaiming log space: %s", strerror((int)-freed));
	}
	/* a seed point is followed at once by the catch-up point that makes it consistent */
	d->seed_pending = seeding;
	if (seeding)
		more = true;
	log_info("point %s %" PRIu32 ".%" PRIu64 "%s: %" PRIu64 " records, %" PRIu64
		 " logical bytes, %" PRIu64 " bytes stored, log shipped to %" PRIu64,
		 d->cfg->name, done.epoch, done.seq,
		 done.flags & POINT_CONSISTENT ? "" : seeding ? " (seed, inconsistent until caught up)"
							     : " (inconsistent: overflow)", records,
		 done.logical_bytes, done.stored_bytes, last);
	snprintf(what, whatlen, "ok %" PRIu32 ".%" PRIu64 "\n", done.epoch, done.seq);
	rc = more ? 1 : 0;
out:
	if (cur)
		replog_cursor_close(cur);
	pb_free(pb);
	free(st);
	return rc;
}

/* ---- the thread ---- */

static struct ship_domain *next_due(struct shipper *sh, uint64_t now, uint64_t *wake)
{
	struct ship_domain *due = NULL;
	*wake = UINT64_MAX;
	for (size_t i = 0; i < sh->n_doms; i++) {
		struct ship_domain *d = &sh->doms[i];
		if (d->requested || d->next_cut_ns <= now) {
			if (!due || d->requested)
				due = d;
		} else if (d->next_cut_ns < *wake) {
			*wake = d->next_cut_ns;
		}
	}
	return due;
}

static void *shipper_main(void *arg)
{
	struct shipper *sh = arg;
	char what[128];

	pthread_mutex_lock(&sh->mu);
	while (!sh->stop) {
		uint64_t now = now_mono_ns(), wake;
		struct ship_domain *d = next_due(sh, now, &wake);
		if (!d) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t delta = wake == UINT64_MAX ? 1000000000ull : wake - now;
			uint64_t ns = (uint64_t)ts.tv_nsec + delta % 1000000000ull;
			ts.tv_sec += (time_t)(delta / 1000000000ull + ns / 1000000000ull);
			ts.tv_nsec = (long)(ns % 1000000000ull);
			pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
			continue;
		}
		bool requested = d->requested;
		d->requested = false;
		pthread_mutex_unlock(&sh->mu);

		int r = cut_point(sh, d, requested, what, sizeof what);

		pthread_mutex_lock(&sh->mu);
		now = now_mono_ns();
		if (r < 0) {
			d->next_cut_ns = now + (uint64_t)MIN(d->cfg->rpo_ms, SHIP_RETRY_MS) * 1000000u;
		} else {
			d->next_cut_ns = now + (uint64_t)d->cfg->rpo_ms * 1000000u;
			if (r == 1)
				d->requested = true;	/* the point was cut short: go on */
		}
		if (r != 1)
			reply_waiters(d, what);
	}
	for (size_t i = 0; i < sh->n_doms; i++)
		reply_waiters(&sh->doms[i], "error: ferryd is stopping\n");
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

/* ---- setup ---- */

static int parse_compression(struct ship_domain *d)
{
	const char *c = d->cfg->compression ? d->cfg->compression : "auto";
	if (strcmp(c, "auto") == 0) {
		d->ctype = COMPRESS_ZSTD;
		d->clevel = 1;
		d->cauto = true;
		return 0;
	}
	d->cauto = false;
	return compress_parse(c, &d->ctype, &d->clevel);
}

static int init_domains(struct shipper *sh)
{
	struct server *srv = sh->srv;
	const struct ferry_config *cfg = srv->cfg;
	struct replog_stat *st = calloc(1, sizeof *st);
	if (!st || replog_get_stat(srv->log, st) < 0) {
		free(st);
		return -1;
	}
	sh->doms = calloc(cfg->n_domains, sizeof *sh->doms);
	if (!sh->doms) {
		free(st);
		return -1;
	}
	sh->n_doms = cfg->n_domains;
	for (size_t i = 0; i < cfg->n_domains; i++) {
		struct ship_domain *d = &sh->doms[i];
		d->cfg = &cfg->domains[i];
		d->epoch = 1;
		d->disks = calloc(d->cfg->n_disks, sizeof *d->disks);
		if (!d->disks) {
			free(st);
			return -1;
		}
		for (size_t j = 0; j < srv->n_disks; j++)
			if (strcmp(srv->disks[j].domain, d->cfg->name) == 0)
				d->disks[d->n_disks++] = &srv->disks[j];
		if (d->n_disks)
			d->domain_id = d->disks[0]->domain_id;
		for (size_t j = 0; j < st->n_domains; j++)
			if (st->domains[j].id == d->domain_id)
				d->shipped = st->domains[j].shipped_seq;
		if (parse_compression(d) < 0) {
			log_error("%s:%u: domain %s: bad compression '%s'", cfg->file, d->cfg->line,
				  d->cfg->name, d->cfg->compression);
			free(st);
			return -1;
		}
		struct point_info *pts = NULL;
		size_t n = 0;
		int r = repo_list_points(sh->repo, d->cfg->name, &pts, &n);
		if (r < 0 && r != -ENOENT) {
			log_error("shipper: listing the points of %s: %s", d->cfg->name, strerror(-r));
			free(st);
			return -1;
		}
		for (size_t k = 0; k < n; k++)
			if (pts[k].epoch == d->epoch && pts[k].seq > d->last_point)
				d->last_point = pts[k].seq;
		free(pts);
		/* the first point comes right away: it anchors the domain in the repository */
		d->next_cut_ns = d->last_point ? now_mono_ns() + (uint64_t)d->cfg->rpo_ms * 1000000u
					       : now_mono_ns();
	}
	free(st);
	return 0;
}

int shipper_start(struct server *srv, struct shipper **out)
{
	const struct ferry_config *cfg = srv->cfg;
	char err[512];
	*out = NULL;
	if (!cfg->store_url) {
		log_info("no [store] url configured: capturing only, not shipping");
		return 0;
	}
	struct shipper *sh = calloc(1, sizeof *sh);
	if (!sh)
		return -1;
	sh->srv = srv;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (repo_open(cfg->store_url, cfg->store_key_file, &sh->repo, err, sizeof err) < 0) {
		log_error("store %s: %s", cfg->store_url, err);
		goto fail;
	}
	if (init_domains(sh) < 0)
		goto fail;
	int r = pthread_create(&sh->thread, NULL, shipper_main, sh);
	if (r) {
		log_error("shipper: pthread_create: %s", strerror(r));
		goto fail;
	}
	log_info("shipping to %s", cfg->store_url);
	*out = sh;
	return 0;
fail:
	if (sh->repo)
		repo_close(sh->repo);
	for (size_t i = 0; i < sh->n_doms; i++)
		free(sh->doms[i].disks);
	free(sh->doms);
	free(sh);
	return -1;
}

void shipper_stop(struct shipper *sh)
{
	if (!sh)
		return;
	pthread_mutex_lock(&sh->mu);
	sh->stop = true;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	pthread_join(sh->thread, NULL);
	repo_close(sh->repo);
	for (size_t i = 0; i < sh->n_doms; i++)
		free(sh->doms[i].disks);
	free(sh->doms);
	pthread_mutex_destroy(&sh->mu);
	pthread_cond_destroy(&sh->cv);
	free(sh);
}

int shipper_request(struct shipper *sh, const char *domain, int reply_fd)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&sh->mu);
	if (sh->stop) {
		rc = -ESHUTDOWN;
	} else {
		for (size_t i = 0; i < sh->n_doms; i++) {
			struct ship_domain *d = &sh->doms[i];
			if (strcmp(d->cfg->name, domain) != 0)
				continue;
			if (reply_fd >= 0) {
				if (d->n_waiters == SHIP_MAX_WAITERS) {
					rc = -EBUSY;
					break;
				}
				d->waiters[d->n_waiters++] = reply_fd;
			}
			d->requested = true;
			pthread_cond_signal(&sh->cv);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}
