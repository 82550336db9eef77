/* Freeing ring space (consumer side: the shipper's workers, one per domain).
 *
 * replog_mark_shipped() makes the domain's watermark durable in the metadata table
 * (synchronously) before it is used. replog_reclaim() then walks record headers from the
 * tail, in ring order, over every PAD and every record whose domain has shipped it, stops
 * at the first record that is still needed (or at the done head), and makes the new tail
 * durable in the superblock. Only then does the in-memory tail move, which is what lets the
 * append path reuse the space: a crash at any point leaves a tail that still covers every
 * record not yet durable in the object store.
 *
 * The walk reads headers through the windowed reader without holding the log mutex: the
 * bytes between the tail and the done head are stable until the tail moves, and only this
 * function (serialized by sb_lock) moves it. The superblock fdatasync happens under sb_lock,
 * which the event loop never waits for: its applied points are handed over in memory and
 * written by whoever holds sb_lock as it lets go (rl_sb_unlock in replog.c). */
#include "datapath/replog-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/banned.h"

int replog_mark_shipped(struct replog *log, uint32_t domain_id, uint64_t seq)
{
	int r = 0;

	if (log->readonly)
		return -EROFS;
	pthread_mutex_lock(&log->meta_lock);
	pthread_mutex_lock(&log->lock);
	struct rl_domain *dom = rl_domain_by_id(log, domain_id);
	if (!dom || seq >= log->head_seq) {
		pthread_mutex_unlock(&log->lock);
		pthread_mutex_unlock(&log->meta_lock);
		return dom ? -EINVAL : -ENOENT;
	}
	uint64_t old = dom->shipped_seq;
	if (seq > old)
		dom->shipped_seq = seq;
	pthread_mutex_unlock(&log->lock);
	if (seq > old) {
		r = rl_meta_persist(log);
		if (r < 0) {
			pthread_mutex_lock(&log->lock);
			dom->shipped_seq = old;
			pthread_mutex_unlock(&log->lock);
		}
	}
	pthread_mutex_unlock(&log->meta_lock);
	return r;
}

struct walk {
	uint64_t seq, off, freed;
};

/* Advance w over shipped records and PADs up to end_seq. Return 0 or -errno. */
static int walk_shipped(struct replog *log, struct walk *w, uint64_t end_seq, uint64_t end_off,
			uint32_t max_gen, const uint64_t *shipped, uint32_t n_domains)
{
	struct rl_reader rd;
	struct replog_record rec;
	uint32_t prev_gen = 0;
	char why[128];
	int r = 0;

	rl_reader_init(&rd, log);
	while (w->seq < end_seq) {
		uint64_t limit = end_off > w->off ? end_off : log->ring;
		r = rl_read_header(&rd, w->seq, w->off, prev_gen, max_gen, limit, &rec, why,
				   sizeof why);
		if (r <= 0) {
			if (r == 0) {
				log_error("%s: reclaim: bad record at offset %" PRIu64 ": %s",
					  log->path, log->sb.data_off + w->off, why);
				r = -EBADMSG;
			}
			break;
		}
		r = 0;
		if (rec.type != REPLOG_REC_PAD &&
		    (rec.domain_id == 0 || rec.domain_id > n_domains ||
		     shipped[rec.domain_id - 1] < rec.seq))
			break;
		prev_gen = rec.gen;
		w->seq++;
		w->off = (w->off + rec.rec_size) % log->ring;
		w->freed += rec.rec_size;
		if (rec.type == REPLOG_REC_PAD)
			rl_reader_reset(&rd);
	}
	rl_reader_release(&rd);
	return r;
}

int64_t replog_reclaim(struct replog *log)
{
	uint64_t shipped[REPLOG_MAX_DOMAINS];
	uint64_t end_seq, end_off;
	uint32_t max_gen, n_domains;
	struct walk w;

	if (log->readonly)
		return -EROFS;
	pthread_mutex_lock(&log->sb_lock);
	pthread_mutex_lock(&log->lock);
	w.seq = log->tail_seq;
	w.off = log->tail_off;
	w.freed = 0;
	end_seq = log->done_seq;
	end_off = log->done_off;
	max_gen = log->open_gen;
	/* never reclaim a record whose primary write might still be missing after a crash:
	 * the restart's redo needs it */
	if (log->applied_tracking && end_seq > log->applied_seq + 1)
		end_seq = log->applied_seq + 1;
	n_domains = log->meta.n_domains;
	for (uint32_t i = 0; i < n_domains; i++)
		shipped[i] = log->meta.domains[i].shipped_seq;
	pthread_mutex_unlock(&log->lock);

	int r = walk_shipped(log, &w, end_seq, end_off, max_gen, shipped, n_domains);
	if (r < 0 || w.freed == 0) {
		rl_sb_unlock(log);
		return r;
	}
	struct rl_sb sb = log->sb;
	sb.applied_seq = rl_applied_for_sb(log, &sb);	/* made durable with the tail */
	sb.tail_seq = w.seq;
	sb.tail_off = w.off;
	if (sb.head_seq < w.seq) {	/* the recorded head must never lag the tail */
		sb.head_seq = w.seq;
		sb.head_off = w.off;
	}
	r = rl_sb_write(log, &sb);
	if (!r) {
		pthread_mutex_lock(&log->lock);
		log->tail_seq = w.seq;
		log->tail_off = w.off;
		pthread_mutex_unlock(&log->lock);
	}
	rl_sb_unlock(log);
	return r < 0 ? r : (int64_t)w.freed;
}
