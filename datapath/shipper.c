/* The shipper's threads: one scheduler that reads the log once for every domain and
 * hands each domain its records when it is due, and one worker per domain that cuts its
 * points (ship-point.c). Why it is built this way: ship-internal.h; what it does:
 * shipper.h. */
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
#include "datapath/monitor.h"
#include "datapath/server.h"
#include "datapath/ship-internal.h"
#include "datapath/ship-vms.h"
#include "common/banned.h"

static void shipper_free(struct shipper *sh);

/* ---- the scheduler: reading the log into stages ---- */

static struct ship_domain *domain_of(struct shipper *sh, uint32_t domain_id)
{
	for (size_t i = 0; i < sh->n_doms; i++)
		if (sh->doms[i].domain_id == domain_id)
			return &sh->doms[i];
	return NULL;
}

/* Add one record to its domain's stage (attached[] is a snapshot: domains detached
 * meanwhile have their stage dropped at the next hand-over). A stage past
 * SHIP_MAX_POINT_BYTES detaches its domain at once: the stage is dropped and the rest of
 * this pass skips the domain (attached[] is cleared), so the stage never grows past the
 * limit, whatever the log holds. */
static int stage_record(struct shipper *sh, bool *attached, const struct replog_record *rec,
			const void *payload)
{
	struct ship_domain *d = domain_of(sh, rec->domain_id);
	if (!d || !attached[d - sh->doms] || rec->seq <= d->skip_upto)
		return 0;
	int k = ship_disk_index(d, rec->disk_id);
	if (k < 0)
		return 0;	/* a disk no longer configured */
	if (!d->stage && !(d->stage = pb_new(repo_chunk_size(sh->repo))))
		return -ENOMEM;
	int r = pb_add(d->stage, (unsigned)k, rec->offset, rec->length,
		       rec->type == REPLOG_REC_WRITE ? payload : NULL);
	if (r < 0)
		return r;
	d->stage_records++;
	if (pb_bytes(d->stage) >= SHIP_MAX_POINT_BYTES) {
		log_info("domain %s: more than %llu MiB waiting: its worker reads the log itself",
			 d->cfg->name, SHIP_MAX_POINT_BYTES >> 20);
		pb_free(d->stage);
		d->stage = NULL;
		d->stage_records = 0;
		attached[d - sh->doms] = false;
		pthread_mutex_lock(&sh->mu);
		d->detached = true;
		pthread_mutex_unlock(&sh->mu);
	}
	return 0;
}

/* Wait until the records placed so far have settled (replog_settle_wait), for a cut. */
int ship_settle_wait(struct shipper *sh)
{
	int r = replog_settle_wait(sh->srv->log, SHIP_SETTLE_WAIT_MS);
	if (r < 0)
		log_warn("shipper: a primary write has been in flight for over %u s: points wait "
			 "for it (retrying)", SHIP_SETTLE_WAIT_MS / 1000);
	return r;
}

/* Read the log from the scheduler's position up to the head, into the stages. */
static int read_log(struct shipper *sh, bool *attached)
{
	struct replog_record rec;
	const void *payload;
	int r = 0;
	for (int tries = 0; tries < 2; tries++) {
		if (!sh->cur && (r = replog_cursor_open(sh->srv->log, sh->pos + 1, &sh->cur)) < 0) {
			if (r != -EINVAL)
				break;
			/* behind the tail: everything before it is shipped by every domain */
			struct replog_stat st;
			if (replog_get_stat(sh->srv->log, &st) < 0)
				break;
			sh->pos = st.tail_seq - 1;
			continue;
		}
		while ((r = replog_cursor_next(sh->cur, &rec, &payload)) == 1) {
			if ((r = stage_record(sh, attached, &rec, payload)) < 0)
				break;
			sh->pos = rec.seq;
		}
		if (r != -ERANGE)
			break;
		replog_cursor_close(sh->cur);	/* reclaimed under it: start again at the tail */
		sh->cur = NULL;
		sh->pos = 0;
	}
	if (r < 0)
		log_error("shipper: reading the log: %s", strerror(-r));
	return r < 0 ? r : 0;
}

/* A detached domain whose cut reached upto is attached again: records after upto that the
 * scheduler skipped meanwhile are staged now; later ones it will stage as they come. If
 * those alone pass SHIP_MAX_POINT_BYTES, it stays detached (its worker reads them). */
static void reattach(struct shipper *sh, struct ship_domain *d, uint64_t upto)
{
	pb_free(d->stage);
	d->stage = NULL;
	d->stage_records = 0;
	d->skip_upto = upto;
	if (upto < sh->pos) {
		struct replog_cursor *cur;
		struct replog_record rec;
		const void *payload;
		bool *only = calloc(sh->n_doms, sizeof *only);
		int r = only ? replog_cursor_open(sh->srv->log, upto + 1, &cur) : -ENOMEM;
		bool again = false;	/* detached again by stage_record */
		if (r == 0) {
			only[d - sh->doms] = true;
			while ((r = replog_cursor_next(cur, &rec, &payload)) == 1 && rec.seq <= sh->pos) {
				if ((r = stage_record(sh, only, &rec, payload)) < 0)
					break;
				if ((again = !only[d - sh->doms]))
					break;
			}
			replog_cursor_close(cur);
		}
		free(only);
		if (again)
			return;
		if (r < 0) {
			log_error("shipper: domain %s: reading the log again: %s", d->cfg->name,
				  strerror(-r));
			pb_free(d->stage);
			d->stage = NULL;
			return;	/* stays detached */
		}
	}
	pthread_mutex_lock(&sh->mu);
	d->detached = false;
	pthread_mutex_unlock(&sh->mu);
}

/* ---- the scheduler: handing out jobs ---- */

/* Due and idle domains get a job; the rest set *wake (monotonic ns). Under mu. */
static bool any_due(struct shipper *sh, uint64_t now, uint64_t *wake)
{
	bool due = false;
	*wake = UINT64_MAX;
	for (size_t i = 0; i < sh->n_doms; i++) {
		struct ship_domain *d = &sh->doms[i];
		if (d->busy || d->has_job || d->stopped)
			continue;
		if (d->requested || d->next_cut_ns <= now)
			due = true;
		else if (d->next_cut_ns < *wake)
			*wake = d->next_cut_ns;
	}
	return due;
}

static void wait_until(struct shipper *sh, uint64_t now, uint64_t wake)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t delta = wake == UINT64_MAX ? 1000000000ull : wake - now;
	uint64_t ns = (uint64_t)ts.tv_nsec + delta % 1000000000ull;
	ts.tv_sec += (time_t)(delta / 1000000000ull + ns / 1000000000ull);
	ts.tv_nsec = (long)(ns % 1000000000ull);
	pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
}

/* Give every due, idle domain its job (under mu). */
static void hand_out(struct shipper *sh, uint64_t now, uint64_t cut_ns)
{
	for (size_t i = 0; i < sh->n_doms; i++) {
		struct ship_domain *d = &sh->doms[i];
		if (d->busy || d->has_job || d->stopped || !(d->requested || d->next_cut_ns <= now))
			continue;
		struct ship_job *j = &d->job;
		*j = (struct ship_job){ .cut_ns = cut_ns, .requested = d->requested,
					.covered = d->n_waiters };
		if (!d->detached) {
			j->pb = d->stage ? d->stage : pb_new(repo_chunk_size(sh->repo));
			if (!j->pb)
				continue;	/* try again at the next turn */
			j->upto = sh->pos;
			j->records = d->stage_records;
		} else {
			pb_free(d->stage);	/* the worker reads these records itself */
		}
		d->stage = NULL;
		d->stage_records = 0;
		d->requested = false;
		d->has_job = true;
		pthread_cond_signal(&d->cv);
	}
}

static void *scheduler_main(void *arg)
{
	struct shipper *sh = arg;
	bool *attached = calloc(sh->n_doms, sizeof *attached);

	server_background_thread("shipper scheduler");

	pthread_mutex_lock(&sh->mu);
	while (!sh->stop && attached) {
		for (size_t i = 0; i < sh->n_doms; i++) {
			struct ship_domain *d = &sh->doms[i];
			uint64_t upto = d->reattach_at;
			if (!d->reattach || d->busy || d->has_job)
				continue;
			d->reattach = false;
			pthread_mutex_unlock(&sh->mu);
			reattach(sh, d, upto);
			pthread_mutex_lock(&sh->mu);
		}
		uint64_t now = now_mono_ns(), wake;
		if (!any_due(sh, now, &wake)) {
			wait_until(sh, now, wake);
			continue;
		}
		/* a stopped domain cuts no more points: its records are not staged either (they
		 * stay in the log, unshipped, for the next start) */
		for (size_t i = 0; i < sh->n_doms; i++)
			attached[i] = !sh->doms[i].detached && !sh->doms[i].stopped;
		pthread_mutex_unlock(&sh->mu);
		/* taken before the head is read, and every record placed by then settled
		 * before it is read: every write acknowledged by then is in */
		uint64_t cut_ns = now_real_ns();
		int r = ship_settle_wait(sh);
		if (r == 0)
			r = read_log(sh, attached);
		pthread_mutex_lock(&sh->mu);
		if (r == 0)
			hand_out(sh, now, cut_ns);
		else
			wait_until(sh, now, now + SHIP_RETRY_MS * 1000000ull);
	}
	pthread_mutex_unlock(&sh->mu);
	free(attached);
	return NULL;
}

/* ---- the workers: one per domain ---- */

/* Answer the first n waiters (those whose request came before the cut began: only they
 * are covered by it) and keep the rest for the next cut. */
static void reply_waiters(struct ship_domain *d, size_t n, const char *msg)
{
	n = MIN(n, d->n_waiters);
	for (size_t i = 0; i < n; i++) {
		if (write_full(d->waiters[i], msg, strlen(msg)) < 0)
			log_debug("shipper: a `ferryctl point` client went away");
		close(d->waiters[i]);
	}
	memmove(d->waiters, d->waiters + n, (d->n_waiters - n) * sizeof d->waiters[0]);
	d->n_waiters -= n;
	if (d->n_waiters)
		d->requested = true;	/* they asked during the cut: they get the next one */
}

static void *worker_main(void *arg)
{
	struct ship_domain *d = arg;
	struct shipper *sh = d->sh;
	char what[128];

	server_background_thread("shipper worker");

	pthread_mutex_lock(&sh->mu);
	for (;;) {
		while (!d->has_job && !sh->stop)
			pthread_cond_wait(&d->cv, &sh->mu);
		if (sh->stop)
			break;
		struct ship_job job = d->job;
		d->job.pb = NULL;
		d->has_job = false;
		d->busy = true;
		pthread_mutex_unlock(&sh->mu);

		uint64_t started = now_mono_ns(), reached;
		bool cut_short;
		int r = ship_cut_point(sh, d, &job, what, sizeof what, &reached, &cut_short);
		monitor_point_result(d->cfg->name, r < 0 ? d->last_err : 0);

		pthread_mutex_lock(&sh->mu);
		uint64_t now = now_mono_ns();
		d->busy = false;
		d->failing = r < 0;
		if (r < 0) {
			/* its records are read again from the log at the next try */
			d->detached = true;
			d->reattach = false;
			d->next_cut_ns = now + (uint64_t)MIN(d->cfg->rpo_ms, SHIP_RETRY_MS) * 1000000u;
		} else {
			/* points are cut every rpo from the start of the last cut, not rpo after it
			 * ended: a point that took t to ship is followed by the next one after
			 * max(rpo - t, 0), so the newest point's age stays below rpo + t */
			d->next_cut_ns = started + (uint64_t)d->cfg->rpo_ms * 1000000u;
			if (r == 1)
				d->requested = true;	/* more is waiting: go on */
			if (d->detached && !cut_short) {
				d->reattach = true;	/* caught up: the scheduler takes over */
				d->reattach_at = reached;
			}
		}
		if (r != 1)
			reply_waiters(d, job.covered, what);
		pthread_cond_signal(&sh->cv);
	}
	pb_free(d->job.pb);
	d->job.pb = NULL;
	d->has_job = false;
	pthread_mutex_unlock(&sh->mu);
	return NULL;
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
		d->sh = sh;
		d->epoch = 1;
		pthread_cond_init(&d->cv, NULL);
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
		if (ship_parse_compression(sh, d) < 0) {
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
		bool newest_consistent = true;
		for (size_t k = 0; k < n; k++) {
			if (pts[k].epoch == d->epoch && pts[k].seq > d->last_point) {
				d->last_point = pts[k].seq;
				d->last_ns = pts[k].time_ns;
				newest_consistent = pts[k].flags & POINT_CONSISTENT;
			}
			if (pts[k].epoch == d->epoch && (pts[k].flags & POINT_CONSISTENT) &&
			    pts[k].seq > d->consistent_seq) {
				d->consistent_seq = pts[k].seq;
				d->consistent_ns = pts[k].time_ns;
			}
		}
		free(pts);
		/* a crash between a seed or resync point and its catch-up: catch up at once */
		d->catchup_pending = d->last_point && !newest_consistent;
		/* until its first cut reaches the head, the worker reads its records itself */
		d->detached = true;
		/* the first point comes right away: it anchors the domain in the repository */
		d->next_cut_ns = d->last_point && !d->catchup_pending
					 ? now_mono_ns() + (uint64_t)d->cfg->rpo_ms * 1000000u
					 : now_mono_ns();
	}
	/* the scheduler reads what is logged from now on; older unshipped records are read
	 * by the (detached) workers */
	sh->pos = st->head_seq - 1;
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
	if (repo_open_cfg(cfg, &sh->repo, err, sizeof err) < 0) {
		log_error("store %s: %s", cfg->store_url, err);
		goto fail;
	}
	/* a huge point's map spills to a scratch file next to the appliance's state */
	if (cfg->state_dir && repo_set_scratch_dir(sh->repo, cfg->state_dir) < 0)
		goto fail;
	if (init_domains(sh) < 0 || ship_store_vms(sh->repo, cfg) < 0)
		goto fail;
	for (size_t i = 0; i < sh->n_doms; i++) {
		struct ship_domain *d = &sh->doms[i];
		int r = pthread_create(&d->thread, NULL, worker_main, d);
		if (r) {
			log_error("shipper: pthread_create: %s", strerror(r));
			goto fail;
		}
		d->started = true;
	}
	int r = pthread_create(&sh->thread, NULL, scheduler_main, sh);
	if (r) {
		log_error("shipper: pthread_create: %s", strerror(r));
		goto fail;
	}
	sh->started = true;
	log_info("shipping to %s (%zu domains, a worker each)", cfg->store_url, sh->n_doms);
	*out = sh;
	return 0;
fail:
	shipper_free(sh);
	return -1;
}

/* Stop the threads (each after its point in progress), answer every waiter, free all. */
static void shipper_free(struct shipper *sh)
{
	pthread_mutex_lock(&sh->mu);
	sh->stop = true;
	pthread_cond_signal(&sh->cv);
	for (size_t i = 0; i < sh->n_doms; i++)
		if (sh->doms[i].started)
			pthread_cond_signal(&sh->doms[i].cv);
	pthread_mutex_unlock(&sh->mu);
	if (sh->started)
		pthread_join(sh->thread, NULL);
	for (size_t i = 0; i < sh->n_doms; i++) {
		struct ship_domain *d = &sh->doms[i];
		if (d->started)
			pthread_join(d->thread, NULL);
		reply_waiters(d, SIZE_MAX, "error: ferryd is stopping\n");
		pb_free(d->stage);
		pthread_cond_destroy(&d->cv);
		free(d->disks);
	}
	if (sh->cur)
		replog_cursor_close(sh->cur);
	if (sh->repo)
		repo_close(sh->repo);
	free(sh->doms);
	pthread_mutex_destroy(&sh->mu);
	pthread_cond_destroy(&sh->cv);
	free(sh);
}

void shipper_stop(struct shipper *sh)
{
	if (sh)
		shipper_free(sh);
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
			if (d->stopped) {
				rc = -EPERM;
				break;
			}
			if (reply_fd >= 0) {
				if (d->n_waiters == SHIP_MAX_WAITERS) {
					rc = -EBUSY;
					break;
				}
				d->waiters[d->n_waiters++] = reply_fd;
			}
			d->requested = true;
			pthread_cond_signal(&sh->cv);	/* the scheduler hands it a job */
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

int shipper_stop_domain(struct shipper *sh, const char *domain)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&sh->mu);
	for (size_t i = 0; i < sh->n_doms; i++) {
		struct ship_domain *d = &sh->doms[i];
		if (strcmp(d->cfg->name, domain))
			continue;
		d->stopped = true;
		d->requested = false;
		reply_waiters(d, SIZE_MAX, "error: shipping of the domain was stopped\n");
		rc = 0;
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

int shipper_domain_state(struct shipper *sh, const char *domain, struct ship_state *out)
{
	int rc = -ENOENT;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&sh->mu);
	for (size_t i = 0; i < sh->n_doms; i++) {
		const struct ship_domain *d = &sh->doms[i];
		if (strcmp(d->cfg->name, domain))
			continue;
		out->epoch = d->epoch;
		out->last_seq = d->last_point;
		out->last_ns = d->last_ns;
		out->consistent_seq = d->consistent_seq;
		out->consistent_ns = d->consistent_ns;
		out->uptodate_ns = MAX(d->consistent_ns, d->idle_ns);
		out->rpo_ms = d->cfg->rpo_ms;
		out->failing = d->failing;
		out->stopped = d->stopped;
		rc = 0;
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}
