/* Reading the data ring: record header encode/decode and CRC, a windowed reader, the
 * recovery scan, cursors and verify. All of them use one validation function,
 * rl_read_record(), so "what the scan accepts" is defined in exactly one place:
 *
 *   magic, version, known type and flags, seq == expected, prev_gen <= gen <= max_gen,
 *   the record lies inside the ring (a PAD ends exactly at the ring's end), WRITE payload
 *   <= 64 MiB, CRC32C over header (crc zeroed) + payload.
 *
 * The reader fills a window of up to 1 MiB with one pread and serves records out of it, so
 * scanning small records costs one system call per MiB, not one per record. Its window
 * never extends past `limit` (the current head for cursors), so cached bytes are never
 * newer than what the reader is allowed to see.
 *
 * Cursors read under no lock: they snapshot the done head (the end of the last completed
 * batch) under the log mutex and only read bytes before it, which nobody rewrites until the
 * tail has moved past them. */
#include "datapath/replog-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "common/util.h"
#include "common/banned.h"

uint64_t rl_rec_size(uint16_t type, uint32_t length)
{
	if (type == REPLOG_REC_WRITE)
		return ROUND_UP((uint64_t)REPLOG_REC_HDR_SIZE + length, REPLOG_REC_ALIGN);
	if (type == REPLOG_REC_PAD)
		return length;
	return REPLOG_REC_ALIGN;
}

static uint32_t rec_crc(const uint8_t *hdr, const void *payload, uint32_t paylen)
{
	uint8_t tmp[REPLOG_REC_HDR_SIZE];
	memcpy(tmp, hdr, sizeof tmp);
	put_le32(tmp + RL_REC_O_CRC, 0);
	uint32_t c = crc32c(0, tmp, sizeof tmp);
	if (paylen)
		c = crc32c(c, payload, paylen);
	return c;
}

void rl_rec_encode(uint8_t *hdr, const struct replog_record *rec, const void *payload)
{
	memset(hdr, 0, REPLOG_REC_HDR_SIZE);
	put_le32(hdr + RL_REC_O_MAGIC, REPLOG_REC_MAGIC);
	put_le16(hdr + RL_REC_O_VERSION, rec->version ? rec->version : REPLOG_VERSION);
	put_le16(hdr + RL_REC_O_TYPE, rec->type);
	put_le16(hdr + RL_REC_O_FLAGS, rec->flags);
	put_le32(hdr + RL_REC_O_GEN, rec->gen);
	put_le64(hdr + RL_REC_O_SEQ, rec->seq);
	put_le32(hdr + RL_REC_O_DOMAIN, rec->domain_id);
	put_le32(hdr + RL_REC_O_DISK, rec->disk_id);
	put_le64(hdr + RL_REC_O_OFFSET, rec->offset);
	put_le32(hdr + RL_REC_O_LENGTH, rec->length);
	put_le64(hdr + RL_REC_O_TIME, rec->time_ns);
	uint32_t paylen = rec->type == REPLOG_REC_WRITE ? rec->length : 0;
	put_le32(hdr + RL_REC_O_CRC, rec_crc(hdr, payload, paylen));
}

bool rl_rec_crc_ok(const uint8_t *hdr, const void *payload, uint32_t paylen)
{
	return rec_crc(hdr, payload, paylen) == get_le32(hdr + RL_REC_O_CRC);
}

int rl_rec_decode(const uint8_t *hdr, struct replog_record *rec, char *why, size_t whylen)
{
	memset(rec, 0, sizeof(*rec));
	if (get_le32(hdr + RL_REC_O_MAGIC) != REPLOG_REC_MAGIC) {
		snprintf(why, whylen, "bad magic");
		return -1;
	}
	uint16_t ver = get_le16(hdr + RL_REC_O_VERSION);
	if (ver < REPLOG_VERSION_MIN || ver > REPLOG_VERSION) {
		snprintf(why, whylen, "unsupported record version %u", ver);
		return -1;
	}
	rec->version = ver;
	rec->type = get_le16(hdr + RL_REC_O_TYPE);
	rec->flags = get_le16(hdr + RL_REC_O_FLAGS);
	rec->gen = get_le32(hdr + RL_REC_O_GEN);
	rec->seq = get_le64(hdr + RL_REC_O_SEQ);
	rec->domain_id = get_le32(hdr + RL_REC_O_DOMAIN);
	rec->disk_id = get_le32(hdr + RL_REC_O_DISK);
	rec->offset = get_le64(hdr + RL_REC_O_OFFSET);
	rec->length = get_le32(hdr + RL_REC_O_LENGTH);
	rec->time_ns = get_le64(hdr + RL_REC_O_TIME);
	if (rec->type < REPLOG_REC_WRITE || rec->type > REPLOG_REC_PAD) {
		snprintf(why, whylen, "bad record type %u", rec->type);
		return -1;
	}
	if (rec->flags & ~RL_REC_FLAGS_KNOWN) {
		snprintf(why, whylen, "unknown record flags 0x%x", rec->flags);
		return -1;
	}
	if (rec->seq == 0 || rec->gen == 0) {
		snprintf(why, whylen, "zero sequence or generation");
		return -1;
	}
	if (rec->type == REPLOG_REC_WRITE && rec->length > RL_MAX_PAYLOAD) {
		snprintf(why, whylen, "bad length %u", rec->length);
		return -1;
	}
	if (rec->type == REPLOG_REC_PAD &&
	    (rec->length < REPLOG_REC_ALIGN || rec->length % REPLOG_REC_ALIGN)) {
		snprintf(why, whylen, "bad PAD length %u", rec->length);
		return -1;
	}
	if (get_le16(hdr + 10) != 0 || get_le64(hdr + 56) != 0) {
		snprintf(why, whylen, "reserved bytes not zero");
		return -1;
	}
	rec->rec_size = rl_rec_size(rec->type, rec->length);
	return 0;
}

/* ---- windowed reader ---- */

void rl_reader_init(struct rl_reader *r, const struct replog *log)
{
	memset(r, 0, sizeof(*r));
	r->fd = log->fd;
	r->data_off = log->sb.data_off;
	r->ring = log->ring;
}

void rl_reader_release(struct rl_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->win_len = 0;
}

void rl_reader_reset(struct rl_reader *r)
{
	r->win_len = 0;
}

/* Make ring bytes [off, off+len) available at *p; reads may extend to limit. */
static int rd_get(struct rl_reader *r, uint64_t off, size_t len, uint64_t limit,
		  const uint8_t **p)
{
	if (off + len > r->ring || off + len > limit)
		return -ERANGE;
	if (r->win_len && off >= r->win_off && off + len <= r->win_off + r->win_len) {
		*p = r->buf + (off - r->win_off);
		return 0;
	}
	size_t want = MAX(len, (size_t)RL_READAHEAD);
	if (want > limit - off)
		want = (size_t)(limit - off);
	if (want > r->cap) {
		uint8_t *nb = realloc(r->buf, want);
		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = want;
	}
	r->win_len = 0;
	int e = pread_full(r->fd, r->buf, want, r->data_off + off);
	if (e < 0)
		return e;
	r->win_off = off;
	r->win_len = want;
	*p = r->buf;
	return 0;
}

int rl_read_header(struct rl_reader *r, uint64_t seq, uint64_t off, uint32_t prev_gen,
		   uint32_t max_gen, uint64_t limit, struct replog_record *rec, char *why,
		   size_t whylen)
{
	const uint8_t *p;
	if (off % REPLOG_REC_ALIGN || off + REPLOG_REC_ALIGN > r->ring) {
		snprintf(why, whylen, "bad ring offset %" PRIu64, off);
		return 0;
	}
	int e = rd_get(r, off, REPLOG_REC_HDR_SIZE, limit, &p);
	if (e == -ERANGE) {
		snprintf(why, whylen, "record beyond the readable end");
		return 0;
	}
	if (e < 0)
		return e;
	if (rl_rec_decode(p, rec, why, whylen) < 0)
		return 0;
	rec->log_off = off;
	if (rec->seq != seq) {
		snprintf(why, whylen, "sequence %" PRIu64 " expected %" PRIu64, rec->seq, seq);
		return 0;
	}
	if (rec->gen < prev_gen) {
		snprintf(why, whylen, "generation %u older than %u", rec->gen, prev_gen);
		return 0;
	}
	if (rec->gen > max_gen) {
		snprintf(why, whylen, "generation %u newer than open generation %u", rec->gen,
			 max_gen);
		return 0;
	}
	/* version 1: a PAD always reaches the ring's end; version 2: it may end inside */
	if (off + rec->rec_size > r->ring ||
	    (rec->type == REPLOG_REC_PAD && rec->version < 2 && off + rec->rec_size != r->ring)) {
		snprintf(why, whylen, "record does not fit the ring");
		return 0;
	}
	return 1;
}

int rl_read_record(struct rl_reader *r, uint64_t seq, uint64_t off, uint32_t prev_gen,
		   uint32_t max_gen, uint64_t limit, struct replog_record *rec,
		   const uint8_t **payload, char *why, size_t whylen)
{
	const uint8_t *p;
	int e = rl_read_header(r, seq, off, prev_gen, max_gen, limit, rec, why, whylen);
	if (e <= 0)
		return e;
	e = rd_get(r, off, REPLOG_REC_HDR_SIZE, limit, &p);
	if (e < 0)
		return e;
	uint32_t paylen = rec->type == REPLOG_REC_WRITE ? rec->length : 0;
	if (paylen) {
		e = rd_get(r, off, REPLOG_REC_HDR_SIZE + (size_t)paylen, limit, &p);
		if (e == -ERANGE) {
			snprintf(why, whylen, "record beyond the readable end");
			return 0;
		}
		if (e < 0)
			return e;
	}
	if (!rl_rec_crc_ok(p, p + REPLOG_REC_HDR_SIZE, paylen)) {
		snprintf(why, whylen, "crc mismatch");
		return 0;
	}
	*payload = paylen ? p + REPLOG_REC_HDR_SIZE : NULL;
	return 1;
}

int rl_scan(struct replog *log, uint64_t seq, uint64_t off, uint32_t max_gen,
	    struct rl_scan_end *end)
{
	struct rl_reader rd;
	struct replog_record rec;
	const uint8_t *pl;
	uint64_t scanned = 0;
	int r = 0;

	rl_reader_init(&rd, log);
	memset(end, 0, sizeof(*end));
	for (;;) {
		r = rl_read_record(&rd, seq, off, end->last_gen, max_gen, log->ring, &rec, &pl,
				   end->why, sizeof end->why);
		if (r <= 0)
			break;
		/* a full ring would mean head == tail: refuse (one unit always stays free) */
		if (scanned + rec.rec_size > log->ring - REPLOG_REC_ALIGN) {
			snprintf(end->why, sizeof end->why, "ring full");
			r = 0;
			break;
		}
		scanned += rec.rec_size;
		end->last_gen = rec.gen;
		end->records++;
		seq++;
		off = (off + rec.rec_size) % log->ring;
		if (rec.type == REPLOG_REC_PAD)
			rl_reader_reset(&rd);
	}
	end->seq = seq;
	end->off = off;
	rl_reader_release(&rd);
	return r < 0 ? r : 0;
}

/* ---- cursors ---- */

struct replog_cursor {
	struct replog *log;
	struct rl_reader rd;
	uint64_t seq, off;
	uint32_t prev_gen;
};

struct cur_snap {
	uint64_t tail_seq, head_seq, head_off;
	uint32_t max_gen;
};

static void cur_snapshot(struct replog *log, struct cur_snap *s)
{
	pthread_mutex_lock(&log->lock);
	s->tail_seq = log->tail_seq;
	s->head_seq = log->done_seq;
	s->head_off = log->done_off;
	s->max_gen = log->open_gen;
	pthread_mutex_unlock(&log->lock);
}

/* Read the record at the cursor (which must be before the head) and advance past it. */
static int cur_step(struct replog_cursor *c, const struct cur_snap *s,
		    struct replog_record *rec, const uint8_t **payload)
{
	char why[128];
	uint64_t limit = s->head_off > c->off ? s->head_off : c->log->ring;
	int r = rl_read_record(&c->rd, c->seq, c->off, c->prev_gen, s->max_gen, limit, rec,
			       payload, why, sizeof why);
	if (r < 0)
		return r;
	if (r == 0) {
		log_warn("%s: bad record at offset %" PRIu64 ": %s", c->log->path,
			 c->log->sb.data_off + c->off, why);
		return -EBADMSG;
	}
	c->prev_gen = rec->gen;
	c->seq++;
	c->off = (c->off + rec->rec_size) % c->log->ring;
	if (rec->type == REPLOG_REC_PAD)
		rl_reader_reset(&c->rd);
	return 1;
}

int replog_cursor_open(struct replog *log, uint64_t from_seq, struct replog_cursor **out)
{
	struct cur_snap s;
	struct replog_cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->log = log;
	rl_reader_init(&c->rd, log);

	pthread_mutex_lock(&log->lock);
	c->seq = log->tail_seq;
	c->off = log->tail_off;
	pthread_mutex_unlock(&log->lock);
	cur_snapshot(log, &s);
	if (from_seq == 0)
		from_seq = c->seq;
	if (from_seq < c->seq || from_seq > s.head_seq) {
		replog_cursor_close(c);
		return -EINVAL;
	}
	while (c->seq < from_seq) {
		struct replog_record rec;
		const uint8_t *pl;
		int r = cur_step(c, &s, &rec, &pl);
		if (r < 0) {
			replog_cursor_close(c);
			return r;
		}
	}
	*out = c;
	return 0;
}

int replog_cursor_next(struct replog_cursor *c, struct replog_record *rec,
		       const void **payload)
{
	struct cur_snap s;
	cur_snapshot(c->log, &s);
	if (c->seq < s.tail_seq)
		return -ERANGE;		/* reclaimed under our feet */
	uint64_t settled = atomic_load(&c->log->settled_seq);
	uint64_t stop = settled < s.head_seq ? settled + 1 : s.head_seq;
	while (c->seq < stop) {
		const uint8_t *pl;
		int r = cur_step(c, &s, rec, &pl);
		if (r < 0)
			return r;
		if (rec->type == REPLOG_REC_PAD)
			continue;
		*payload = pl;
		return 1;
	}
	return 0;
}

void replog_cursor_close(struct replog_cursor *c)
{
	if (!c)
		return;
	rl_reader_release(&c->rd);
	free(c);
}

/* ---- verify ---- */

int replog_verify(struct replog *log, uint64_t *bad_off, char *why, size_t whylen)
{
	struct rl_scan_end end;
	uint64_t tail_seq, tail_off;
	uint32_t max_gen;
	struct rl_sb sb;

	pthread_mutex_lock(&log->lock);
	sb = log->sb;
	tail_seq = log->tail_seq;
	tail_off = log->tail_off;
	max_gen = log->open_gen;
	pthread_mutex_unlock(&log->lock);

	int r = rl_scan(log, tail_seq, tail_off, max_gen, &end);
	if (r < 0)
		return r;
	if (end.seq < sb.head_seq) {
		*bad_off = sb.data_off + end.off;
		snprintf(why, whylen, "%s", end.why);
		return 1;
	}
	if (sb.clean && (end.seq != sb.head_seq || end.off != sb.head_off)) {
		*bad_off = sb.data_off + sb.head_off;
		snprintf(why, whylen, "log marked clean at sequence %" PRIu64
			 " but records continue to sequence %" PRIu64, sb.head_seq, end.seq);
		if (end.seq == sb.head_seq)
			snprintf(why, whylen, "clean head offset %" PRIu64 " but scan ends at %"
				 PRIu64, sb.head_off, end.off);
		return 1;
	}
	return 0;
}
