/* Keeping the primaries and the replication log in agreement across crashes.
 *
 * Writes go to the log first and to the primary after (write-ahead, disk-io.c). A crash can
 * therefore leave the newest logged records missing from their primaries, never the other
 * way round. The superblock holds an "applied" point: every record up to it is durable in
 * its primary. It is advanced by a checkpoint every couple of seconds (sync every primary,
 * then record the point captured before the sync) and by single-export FLUSHes; at
 * start-up after an unclean stop, server_redo() re-applies the records after it.
 * Re-applying a record that did reach the primary is harmless: records are applied in
 * sequence order, so each block ends with its newest logged content. */
#include "datapath/server.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/banned.h"

static struct disk *disk_by_id(struct server *srv, uint32_t id)
{
	for (size_t i = 0; i < srv->n_disks; i++)
		if (srv->disks[i].disk_id == id)
			return &srv->disks[i];
	return NULL;
}

int server_redo(struct server *srv)
{
	struct replog_stat *st = calloc(1, sizeof *st);
	struct replog_cursor *cur = NULL;
	struct replog_record rec;
	const void *payload;
	uint64_t n = 0, bytes = 0, skipped = 0;
	int r, rc = -1;

	if (!st || replog_get_stat(srv->log, st) < 0) {
		log_error("redo: cannot read the log state");
		goto out;
	}
	srv->last_seq = st->head_seq - 1;
	srv->redo_persisted = st->applied_seq;
	if (st->clean) {
		rc = 0;
		goto out;
	}
	uint64_t from = replog_redo_from(srv->log);
	r = replog_cursor_open(srv->log, from, &cur);
	if (r < 0) {
		log_error("redo: cannot read the log from sequence %" PRIu64 ": %s", from,
			  strerror(-r));
		goto out;
	}
	while ((r = replog_cursor_next(cur, &rec, &payload)) == 1) {
		struct disk *d = disk_by_id(srv, rec.disk_id);
		if (!d) {
			skipped++;
			continue;
		}
		if (rec.offset > d->size || rec.length > d->size - rec.offset) {
			log_error("redo: record %" PRIu64 " is beyond the end of disk %s", rec.seq,
				  d->name);
			goto out;
		}
		if (rec.type == REPLOG_REC_WRITE)
			r = pwrite_full(d->fd, payload, rec.length, rec.offset);
		else
			r = disk_zero_range(d, rec.offset, rec.length, true, false);
		if (r < 0) {
			log_error("redo: applying record %" PRIu64 " to %s: %s", rec.seq, d->name,
				  strerror(-r));
			goto out;
		}
		n++;
		bytes += rec.length;
	}
	if (r < 0) {
		log_error("redo: reading the log: %s", strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < srv->n_disks; i++) {
		if (fdatasync(srv->disks[i].fd) < 0) {
			log_error("redo: fdatasync %s: %m", srv->disks[i].path);
			goto out;
		}
	}
	if (st->head_seq > 1 && (r = replog_set_applied(srv->log, st->head_seq - 1)) < 0) {
		log_error("redo: recording the applied point: %s", strerror(-r));
		goto out;
	}
	srv->redo_persisted = srv->last_seq = st->head_seq - 1;
	log_info("unclean shutdown: re-applied %" PRIu64 " log records (%" PRIu64
		 " bytes) from sequence %" PRIu64 " to the primaries%s", n, bytes, from,
		 skipped ? " (records of unconfigured disks skipped)" : "");
	rc = 0;
out:
	if (cur)
		replog_cursor_close(cur);
	free(st);
	return rc;
}

static void checkpoint_sync_done(struct io_req *req, int res)
{
	struct server *srv = req->opaque;
	if (res < 0) {
		log_error("applied checkpoint: fdatasync of a primary failed: %s", strerror(-res));
		srv->redo_candidate = 0;
	}
	if (--srv->redo_syncs > 0 || !srv->redo_candidate)
		return;
	int r = replog_set_applied(srv->log, srv->redo_candidate);
	if (r < 0)
		log_error("applied checkpoint: %s", strerror(-r));
	else
		srv->redo_persisted = srv->redo_candidate;
}

void server_applied_checkpoint(struct server *srv)
{
	if (srv->redo_syncs || !srv->redo_reqs)
		return;
	uint64_t a = server_applied_seq(srv);
	if (a <= srv->redo_persisted)
		return;
	srv->redo_candidate = a;
	for (size_t i = 0; i < srv->n_disks; i++) {
		srv->redo_reqs[i] = (struct io_req){
			.op = IO_OP_FDATASYNC,
			.fd = srv->disks[i].fd,
			.done = checkpoint_sync_done,
			.opaque = srv,
		};
		srv->redo_syncs++;
		io_queue(srv->eng, &srv->redo_reqs[i]);
	}
}
