/* Cutting one point of a domain (the shipper's worker threads; contract in
 * ship-internal.h, the threads in shipper.c).
 *
 * A point covers the domain's records from the first unshipped one up to a log position:
 * the scheduler's hand-over (its stage of the domain's records), or, for a detached
 * domain, the log head seen when the cut started (read here with the domain's own cursor;
 * to keep memory bounded, such a cut stops early once SHIP_MAX_POINT_BYTES of coalesced
 * data are held and the next cut follows at once). Points of a domain are numbered densely
 * within epoch 1 (failover, which starts new epochs, comes with the recovery issues).
 * Points cut while the domain is in overflow are flagged inconsistent (their extents are
 * incomplete until a resync).
 *
 * Overflow resync: at a cut that finds the domain in overflow (or with a resync pending from
 * a failed point or a crash), the cut's target (the log position) is fixed and its records
 * read first, and only then does the resync begin (replog_dirty_begin_resync: overflow ends,
 * the bits stay persisted). So every record logged after the begin is past the target and
 * goes into the next point, and every record up to the target is older than what the
 * primaries hold now. The point is: the records, then the dirty grains re-read from the
 * primaries (they win: later calls win in the repository writer), streamed one chunk at a
 * time, flagged inconsistent. Only after it commits are the bits cleared
 * (replog_dirty_end_resync); the next point, cut at once, holds the records logged since the
 * begin and is consistent unless the domain overflowed again. A point that fails leaves the
 * bits alone: the next cut begins again with the same bits plus any new ones.
 * Three refinements: a cut cut short (SHIP_MAX_POINT_BYTES) does not resync, since the
 * records it leaves for later are older than the primaries; a domain whose log is still
 * mostly full first ships its records once (the resync would only overflow again at once);
 * and the primaries are read only once every write that overflowed before the begin has
 * reached its primary (their primary I/O starts only after their bitmap block is written):
 * disk-io.c counts them per domain in srv->overflow_inflight, and the shipper waits for
 * zero (the begin ended the overflow, so the count can only go down). */
#include "datapath/ship-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "datapath/server.h"
#include "common/banned.h"

#define SHIP_RESYNC_DEFER_PERMILLE 500u	/* log fuller than this: ship the records first */
#define SHIP_RESYNC_DRAIN_MS 30000u	/* give up waiting for overflowed writes after this */

static void auto_pick_codec(struct ship_domain *d, const struct repo_point_stats *st,
			    uint64_t wall_ns);

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

int ship_disk_index(const struct ship_domain *d, uint32_t disk_id)
{
	for (size_t i = 0; i < d->n_disks; i++)
		if (d->disks[i]->disk_id == disk_id)
			return (int)i;
	return -1;
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

/* Resync: the dirty grains of one disk, re-read from its primary in chunk-sized pieces (no
 * piece crosses a chunk boundary), all-zero pieces as zero extents. *extents counts runs of
 * dirty grains, *bytes what was read. */
static bool bit_set(const uint8_t *bits, uint64_t i)
{
	return bits[i / 8] & (1u << (i % 8));
}

static int resync_disk(struct repo_point_writer *w, const struct disk *dk,
		       const struct replog_dirty_copy *c, uint8_t *buf, uint32_t chunk,
		       uint64_t *extents, uint64_t *bytes)
{
	uint64_t limit = MIN(dk->size, c->nbits * (uint64_t)c->grain);
	for (uint64_t i = 0; i < c->nbits;) {
		if (i % 8 == 0 && !c->bits[i / 8]) {
			i += 8;
			continue;
		}
		if (!bit_set(c->bits, i)) {
			i++;
			continue;
		}
		uint64_t j = i + 1;
		while (j < c->nbits && bit_set(c->bits, j))
			j++;
		uint64_t pos = i * c->grain, end = MIN(j * c->grain, limit);
		i = j;
		if (pos < end)
			(*extents)++;
		while (pos < end) {
			uint32_t n = (uint32_t)MIN((uint64_t)(chunk - pos % chunk), end - pos);
			int r = pread_full(dk->fd, buf, n, pos);
			if (r < 0)
				return r;
			r = all_zero(buf, n) ? repo_point_zero(w, pos, n)
					     : repo_point_data(w, pos, buf, n);
			if (r < 0)
				return r;
			*bytes += n;
			pos += n;
		}
	}
	return 0;
}

/* Stream every dirty grain of rs into the point (after the records: they win). */
static int resync_emit(struct shipper *sh, struct ship_domain *d, struct repo_point_writer *w,
		       const struct replog_resync *rs)
{
	uint32_t chunk = repo_chunk_size(sh->repo);
	uint64_t extents = 0, bytes = 0;
	uint8_t *buf = malloc(chunk);
	int r = buf ? 0 : -ENOMEM;

	for (unsigned waited = 0;
	     atomic_load(&sh->srv->overflow_inflight[d->domain_id]) && waited < SHIP_RESYNC_DRAIN_MS;
	     waited++)
		usleep(1000);
	if (atomic_load(&sh->srv->overflow_inflight[d->domain_id]))
		log_warn("domain %s: overflowed writes still in flight after %u ms; resyncing anyway "
			 "(they will be in the next resync)", d->cfg->name, SHIP_RESYNC_DRAIN_MS);
	for (size_t i = 0; i < rs->n_disks && !r; i++) {
		const struct replog_dirty_copy *c = &rs->disks[i];
		int k = ship_disk_index(d, c->disk_id);
		if (k < 0 || !c->set)
			continue;	/* a disk no longer configured, or nothing dirty */
		const struct disk *dk = d->disks[k];
		r = repo_point_disk(w, dk->name, dk->size);
		if (!r)
			r = resync_disk(w, dk, c, buf, chunk, &extents, &bytes);
	}
	free(buf);
	if (r < 0)
		log_error("shipper: domain %s: resync from the primaries: %s", d->cfg->name,
			  strerror(-r));
	else
		log_info("domain %s: resync of %" PRIu64 " extents (%" PRIu64
			 " bytes) from the primaries", d->cfg->name, extents, bytes);
	return r;
}

/* After the resync point committed: clear the handed-out bits. */
static void resync_end(struct shipper *sh, struct ship_domain *d, struct replog_resync *rs)
{
	int r = replog_dirty_end_resync(sh->srv->log, d->domain_id, rs);
	if (r < 0)
		log_error("shipper: domain %s: ending the resync: %s (it will be repeated)",
			  d->cfg->name, strerror(-r));
	else if (r == 1)
		log_info("domain %s overflowed again during the resync: its extents stay dirty",
			 d->cfg->name);
	else
		log_info("domain %s: resync stored; the next point catches up", d->cfg->name);
	if (r == 0)
		notify_event(NOTIFY_RESYNC_DONE, d->cfg->name, "resync stored; the next point "
			     "makes the domain consistent");
}

/* Whether this cut begins a resync: see the note at the top. */
static int maybe_begin_resync(struct shipper *sh, struct ship_domain *d, bool overflow,
			      uint64_t records, bool cut_short, struct replog_resync **rs,
			      bool *deferred)
{
	*rs = NULL;
	*deferred = false;
	if (cut_short)
		return 0;
	if (overflow && records && !d->resync_deferred &&
	    replog_usage_permille(sh->srv->log) > SHIP_RESYNC_DEFER_PERMILLE) {
		log_debug("domain %s: log still full: shipping its records before the resync",
			  d->cfg->name);
		*deferred = true;
		return 0;
	}
	int r = replog_dirty_begin_resync(sh->srv->log, d->domain_id, rs);
	if (r < 0) {
		log_error("shipper: domain %s: beginning the resync: %s", d->cfg->name,
			  strerror(-r));
		return -1;
	}
	if (*rs)
		notify_event(NOTIFY_RESYNC_STARTED, d->cfg->name, "overflow ended: %" PRIu64
			     " dirty grains are read again from the primaries", (*rs)->set);
	return 0;
}

/* A detached domain's records: from its shipped position up to target (the head seen when
 * the cut started) with its own cursor, at most SHIP_MAX_POINT_BYTES of them (*more: cut
 * short). *last: the last sequence read. 0 or -1 (logged). */
static int read_own(struct shipper *sh, struct ship_domain *d, uint64_t from, uint64_t target,
		    struct point_builder *pb, uint64_t *last, uint64_t *records, bool *more)
{
	struct replog_cursor *cur;
	struct replog_record rec;
	const void *payload;
	if (from > target)
		return 0;
	int r = replog_cursor_open(sh->srv->log, from, &cur);
	if (r < 0) {
		log_error("shipper: domain %s: reading the log from %" PRIu64 ": %s", d->cfg->name,
			  from, strerror(-r));
		return -1;
	}
	while ((r = replog_cursor_next(cur, &rec, &payload)) == 1) {
		if (rec.seq > target)
			break;
		*last = rec.seq;
		if (rec.domain_id != d->domain_id)
			continue;
		int k = ship_disk_index(d, rec.disk_id);
		if (k < 0)
			continue;	/* a disk no longer configured */
		r = pb_add(pb, (unsigned)k, rec.offset, rec.length,
			   rec.type == REPLOG_REC_WRITE ? payload : NULL);
		if (r < 0)
			break;
		(*records)++;
		if (pb_bytes(pb) >= SHIP_MAX_POINT_BYTES) {
			*more = true;
			break;
		}
	}
	replog_cursor_close(cur);
	if (r < 0) {
		log_error("shipper: domain %s: reading the log: %s", d->cfg->name, strerror(-r));
		return -1;
	}
	return 0;
}

/* Write the point: seed (first point), records, resync; then commit. 0 or -1 (logged). */
static int store_point(struct shipper *sh, struct ship_domain *d, struct repo_point_writer *w,
		       struct point_builder **pb, const struct replog_resync *rs, bool seeding)
{
	struct emit_ctx e = { .d = d, .w = w };
	int r = 0;
	if (seeding) {
		uint64_t seeded = 0;
		for (size_t i = 0; i < d->n_disks && !r; i++) {
			r = select_disks_upto(&e, i);
			if (!r)
				r = seed_disk(w, d->disks[i], repo_chunk_size(sh->repo), &seeded);
		}
		if (r < 0) {
			log_error("shipper: domain %s: seeding: %s", d->cfg->name, strerror(-r));
			return -1;
		}
		log_info("seeding domain %s: read %" PRIu64 " bytes of its disks", d->cfg->name,
			 seeded);
		/* the log records go on top; the disks are selected again as pieces arrive */
		e.next_disk = 0;
	}
	r = pb_emit(*pb, emit_piece, &e);
	if (r == 0)
		r = select_disks_upto(&e, d->n_disks);
	pb_free(*pb);		/* the records are in the writer now: free them before the resync */
	*pb = NULL;
	if (r == 0 && rs && (r = resync_emit(sh, d, w, rs)) < 0)
		return -1;
	if (r < 0) {
		log_error("shipper: domain %s: storing a point: %s", d->cfg->name, strerror(-r));
		return -1;
	}
	return 0;
}

int ship_cut_point(struct shipper *sh, struct ship_domain *d, struct ship_job *job,
		   char *what, size_t whatlen, uint64_t *reached, bool *cut_short)
{
	struct server *srv = sh->srv;
	struct replog_stat *st = calloc(1, sizeof *st);
	struct point_builder *pb = job->pb;
	struct repo_point_writer *w = NULL;
	struct replog_resync *rs = NULL;
	struct repo_point_stats stats = { 0 };
	uint64_t last = MAX(d->shipped, job->upto), records = job->records;
	bool more = false, overflow = false, deferred = false;
	int rc = -1, r = -EIO;
	char err[256] = "";

	uint64_t t0 = now_mono_ns(), t_read = 0, t_emit = 0;
	job->pb = NULL;
	*reached = 0;
	*cut_short = false;
	snprintf(what, whatlen, "error: shipping failed (see ferryd's log)\n");
	/* detached: taken before the log's head is read, so every write acknowledged by then
	 * is in (the scheduler does the same for its hand-overs) */
	if (!pb) {
		job->cut_ns = now_real_ns();
		if (ship_settle_wait(sh) < 0) {
			snprintf(what, whatlen, "error: a primary write is hung; no point now\n");
			goto out;
		}
	}
	if (!st || replog_get_stat(srv->log, st) < 0)
		goto out;
	for (size_t i = 0; i < st->n_domains; i++)
		if (st->domains[i].id == d->domain_id)
			overflow = st->domains[i].overflow;
	if (!pb) {	/* detached: this cut reads the log itself, up to the head now */
		if (!(pb = pb_new(repo_chunk_size(sh->repo))))
			goto out;
		/* the point covers what was read: the cursor stops at the settled point
		 * (replog_set_settled) when records below the head still have primary I/O
		 * in flight, and those must not be marked shipped unread */
		uint64_t lastread = d->shipped;
		if (read_own(sh, d, MAX(st->tail_seq, d->shipped + 1), st->head_seq - 1, pb,
			     &lastread, &records, &more) < 0)
			goto out;
		last = MAX(last, lastread);
	}
	t_read = now_mono_ns();
	if (maybe_begin_resync(sh, d, overflow, records, more, &rs, &deferred) < 0)
		goto out;
	if (records == 0 && !job->requested && d->last_point && !d->catchup_pending && !rs) {
		/* nothing of this domain: only let the log tail move past the others' records */
		if (last > d->shipped && replog_mark_shipped(srv->log, d->domain_id, last) == 0) {
			d->shipped = last;
			replog_reclaim(srv->log);
		}
		pthread_mutex_lock(&sh->mu);
		if (d->consistent_seq == d->last_point)
			d->idle_ns = job->cut_ns;
		pthread_mutex_unlock(&sh->mu);
		*reached = last;
		rc = 0;
		goto out;
	}

	struct point_info meta = { 0 };
	snprintf(meta.domain, sizeof meta.domain, "%s", d->cfg->name);
	meta.epoch = d->epoch;
	meta.seq = d->last_point + 1;
	meta.parent_seq = d->last_point;
	meta.time_ns = job->cut_ns;
	bool seeding = d->last_point == 0;
	meta.flags = overflow || seeding || rs ? 0 : POINT_CONSISTENT;
	meta.log_seq = last;
	r = repo_point_begin(sh->repo, &meta, &w);
	if (r == 0) {
		r = repo_point_set_compression(w, d->ctype, d->clevel, d->cauto);
		repo_point_stats_to(w, &stats);
	}
	if (r < 0) {
		log_error("shipper: domain %s: starting point %" PRIu32 ".%" PRIu64 ": %s",
			  d->cfg->name, meta.epoch, meta.seq, strerror(-r));
		repo_point_abort(w);
		goto out;
	}
	if (store_point(sh, d, w, &pb, rs, seeding) < 0) {
		repo_point_abort(w);
		goto out;
	}
	struct point_info done;
	t_emit = now_mono_ns();
	r = repo_point_commit(w, &done, err, sizeof err);
	if (r < 0) {
		log_error("shipper: domain %s: committing point %" PRIu32 ".%" PRIu64 ": %s",
			  d->cfg->name, meta.epoch, meta.seq, err[0] ? err : strerror(-r));
		goto out;
	}
	d->last_point = done.seq;
	pthread_mutex_lock(&sh->mu);
	d->last_ns = done.time_ns;
	if (done.flags & POINT_CONSISTENT) {
		d->consistent_ns = done.time_ns;
		d->consistent_seq = done.seq;
	}
	pthread_mutex_unlock(&sh->mu);
	auto_pick_codec(d, &stats, now_mono_ns() - t0);
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
	if (rs)
		resync_end(sh, d, rs);
	*reached = last;
	*cut_short = more;
	/* a seed or resync point is followed at once by the catch-up point that makes the
	 * domain consistent; so is a records-only point shipped instead of a resync */
	d->catchup_pending = seeding || rs;
	d->resync_deferred = deferred;
	if (seeding || rs || deferred)
		more = true;
	log_info("point %s %" PRIu32 ".%" PRIu64 "%s: %" PRIu64 " records, %" PRIu64
		 " logical bytes, %" PRIu64 " bytes stored, log shipped to %" PRIu64
		 " (%" PRIu64 " ms: read %" PRIu64 ", store %" PRIu64 ", commit %" PRIu64 ")",
		 d->cfg->name, done.epoch, done.seq,
		 done.flags & POINT_CONSISTENT ? "" :
		 seeding ? " (seed, inconsistent until caught up)" :
		 rs ? " (resync, inconsistent until caught up)" : " (inconsistent: overflow)", records,
		 done.logical_bytes, done.stored_bytes, last, (now_mono_ns() - t0) / 1000000,
		 (t_read - t0) / 1000000, (t_emit - t_read) / 1000000,
		 (now_mono_ns() - t_emit) / 1000000);
	snprintf(what, whatlen, "ok %" PRIu32 ".%" PRIu64 "\n", done.epoch, done.seq);
	rc = more ? 1 : 0;
out:
	if (rc < 0)
		d->last_err = r < 0 ? r : -EIO;
	pb_free(pb);
	replog_resync_free(rs);
	free(st);
	return rc;
}

/* compression = auto: after each point, repo/compress-auto.c picks the next point's codec
 * and level from what this one cost (encode CPU, upload time, its share of the rpo). */
static void auto_pick_codec(struct ship_domain *d, const struct repo_point_stats *st,
			    uint64_t wall_ns)
{
	if (!d->cauto)
		return;
	struct auto_sample s = { st->encode_ns, st->upload_ns, wall_ns,
				 (uint64_t)d->cfg->rpo_ms * 1000000u };
	const char *why = auto_codec_next(&d->ac, &s);
	if (why)
		log_info("domain %s: compression auto: %s (encode %" PRIu64 " ms, upload %" PRIu64
			 " ms, point %" PRIu64 " ms of rpo %" PRIu32 " ms): %s level %d next",
			 d->cfg->name, why, st->encode_ns / 1000000u, st->upload_ns / 1000000u,
			 wall_ns / 1000000u, d->cfg->rpo_ms, compress_name(d->ac.type),
			 d->ac.level);
	d->ctype = d->ac.type;
	d->clevel = d->ac.level;
}

int ship_parse_compression(struct shipper *sh, struct ship_domain *d)
{
	const char *c = d->cfg->compression ? d->cfg->compression : "auto";
	if (strcmp(c, "auto") == 0) {
		auto_codec_init(&d->ac, repo_format(sh->repo) >= 2);
		d->ctype = d->ac.type;
		d->clevel = d->ac.level;
		d->cauto = true;
		return 0;
	}
	d->cauto = false;
	return compress_parse(c, &d->ctype, &d->clevel);
}

