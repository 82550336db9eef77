/* The metadata region: the domain/disk registry with each domain's shipped watermark and
 * overflow flag (a table kept in two copies, A/B, chosen like the superblocks: generation
 * parity, CRC32C, newest valid wins), followed by one dirty bitmap per disk.
 *
 * Bitmaps are allocated once, at registration, in registration order, each on a 4 KiB
 * boundary; nothing is ever freed, so "bitmap_end" in the table is all the allocator needs.
 * They live in memory for the whole session: setting a bit is a memory operation on the
 * append path, and replog_commit writes the 4 KiB blocks that changed straight from this
 * live memory. Bitmap blocks are always written through log->fd (never the O_DIRECT
 * descriptor of large records), so a buffered write copies the block at the
 * moment it lands in the page cache: two in-flight writes of the same block cannot lose a
 * bit, since whichever lands last was copied from memory after the earlier one's bits were
 * set. The same holds for the clearing write of replog_dirty_end_resync: it clears in memory
 * under the lock, and a bit set after that (a new overflow) is in memory before either
 * write that follows copies the block.
 *
 * Resync handover: begin copies the bits and moves the domain from "overflow" to "resync
 * pending" (one table write), leaving the bits set; end clears exactly the copied bits
 * (bitmap blocks, fdatasync), then the flag (table write). A crash anywhere leaves the flag
 * and/or the bits set: the resync is repeated, nothing is lost. End clears nothing when the
 * domain overflowed again after the begin (tracked by an in-memory handover generation,
 * since only a begin can end an overflow).
 *
 * Table writes are synchronous and serialized by meta_lock; they happen at registration
 * (startup), when the shipper marks progress, when a domain enters overflow (rare) and when
 * a resync begins or ends. They sync only the bytes they write (pwritev2 RWF_DSYNC), never
 * the whole file: a whole-file fdatasync waits for every dirty page of the ring, which on
 * the event loop (entering overflow) stalled guest writes for milliseconds. Nothing they
 * write depends on ring data being durable. */
#include "datapath/replog-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/util.h"
#include "common/banned.h"

/* ---- table encode/decode ---- */

static void put_name(uint8_t *p, const char *name)
{
	memset(p, 0, REPLOG_NAME_MAX + 1);
	memcpy(p, name, strnlen(name, REPLOG_NAME_MAX));
}

void rl_meta_encode(const struct rl_meta *m, uint8_t *buf)
{
	memset(buf, 0, RL_TABLE_SIZE);
	put_le64(buf + RL_MT_O_MAGIC, REPLOG_META_MAGIC);
	put_le32(buf + RL_MT_O_VERSION, RL_META_VERSION);
	put_le32(buf + RL_MT_O_NDOM, m->n_domains);
	put_le32(buf + RL_MT_O_NDISK, m->n_disks);
	put_le64(buf + RL_MT_O_GEN, m->gen);
	put_le64(buf + RL_MT_O_BITMAP_END, m->bitmap_end);
	for (uint32_t i = 0; i < m->n_domains; i++) {
		const struct rl_domain *d = &m->domains[i];
		uint8_t *p = buf + RL_MT_DOM_OFF + i * RL_MT_DOM_SIZE;
		put_name(p, d->name);
		put_le32(p + 64, d->id);
		put_le32(p + 68, (d->overflow ? RL_DOM_FLAG_OVERFLOW : 0) |
				 (d->resync ? RL_DOM_FLAG_RESYNC : 0));
		put_le64(p + 72, d->shipped_seq);
	}
	for (uint32_t i = 0; i < m->n_disks; i++) {
		const struct rl_disk *d = &m->disks[i];
		uint8_t *p = buf + RL_MT_DISK_OFF + i * RL_MT_DISK_SIZE;
		put_name(p, d->name);
		put_le32(p + 64, d->id);
		put_le32(p + 68, d->domain_id);
		put_le64(p + 72, d->size);
		put_le32(p + 80, d->grain);
		put_le64(p + 88, d->bitmap_off);
		put_le64(p + 96, d->bitmap_bytes);
	}
	put_le32(buf + RL_MT_O_CRC, crc32c(0, buf, RL_TABLE_SIZE));
}

/* A name field: NUL-terminated within 64 bytes, not empty, zero-padded. */
static int get_name(const uint8_t *p, char *out)
{
	size_t n = strnlen((const char *)p, REPLOG_NAME_MAX + 1);
	if (n == 0 || n > REPLOG_NAME_MAX)
		return -1;
	for (size_t i = n; i <= REPLOG_NAME_MAX; i++)
		if (p[i])
			return -1;
	memcpy(out, p, n + 1);
	return 0;
}

uint64_t rl_disk_nbits(const struct rl_disk *d)
{
	return d->size / d->grain + (d->size % d->grain != 0);
}

static int decode_domains(const uint8_t *buf, struct rl_meta *m, char *why, size_t whylen)
{
	for (uint32_t i = 0; i < m->n_domains; i++) {
		const uint8_t *p = buf + RL_MT_DOM_OFF + i * RL_MT_DOM_SIZE;
		struct rl_domain *d = &m->domains[i];
		uint32_t flags = get_le32(p + 68);
		d->id = get_le32(p + 64);
		d->overflow = flags & RL_DOM_FLAG_OVERFLOW;
		d->resync = flags & RL_DOM_FLAG_RESYNC;
		d->shipped_seq = get_le64(p + 72);
		if (get_name(p, d->name) < 0 || d->id != i + 1 || 
		    flags & ~(RL_DOM_FLAG_OVERFLOW | RL_DOM_FLAG_RESYNC)) {
			snprintf(why, whylen, "bad domain entry %u", i);
			return -1;
		}
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(m->domains[j].name, d->name)) {
				snprintf(why, whylen, "duplicate domain %s", d->name);
				return -1;
			}
	}
	return 0;
}

static int decode_disks(const uint8_t *buf, uint64_t meta_size, struct rl_meta *m, char *why,
			size_t whylen)
{
	uint64_t next = RL_BITMAP_START;
	for (uint32_t i = 0; i < m->n_disks; i++) {
		const uint8_t *p = buf + RL_MT_DISK_OFF + i * RL_MT_DISK_SIZE;
		struct rl_disk *d = &m->disks[i];
		d->id = get_le32(p + 64);
		d->domain_id = get_le32(p + 68);
		d->size = get_le64(p + 72);
		d->grain = get_le32(p + 80);
		d->bitmap_off = get_le64(p + 88);
		d->bitmap_bytes = get_le64(p + 96);
		d->bits = NULL;
		bool ok = get_name(p, d->name) == 0 && d->id == i + 1 && d->domain_id >= 1 &&
			  d->domain_id <= m->n_domains && d->size > 0 &&
			  d->grain >= REPLOG_MIN_GRAIN && !(d->grain & (d->grain - 1)) &&
			  get_le32(p + 84) == 0 && d->bitmap_off == next &&
			  d->bitmap_bytes % REPLOG_BLOCK == 0 &&
			  d->bitmap_bytes <= meta_size - d->bitmap_off &&
			  d->bitmap_bytes >= ROUND_UP(rl_disk_nbits(d), 8) / 8;
		if (!ok) {
			snprintf(why, whylen, "bad disk entry %u", i);
			return -1;
		}
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(m->disks[j].name, d->name)) {
				snprintf(why, whylen, "duplicate disk %s", d->name);
				return -1;
			}
		next = d->bitmap_off + d->bitmap_bytes;
	}
	if (m->bitmap_end != next) {
		snprintf(why, whylen, "bitmap end %" PRIu64 " does not follow the disks",
			 m->bitmap_end);
		return -1;
	}
	return 0;
}

int rl_meta_decode(const uint8_t *buf, uint64_t meta_size, struct rl_meta *m, char *why,
		   size_t whylen)
{
	uint8_t *tmp;

	memset(m, 0, sizeof(*m));
	if (get_le64(buf + RL_MT_O_MAGIC) != REPLOG_META_MAGIC) {
		snprintf(why, whylen, "bad metadata magic");
		return -1;
	}
	tmp = malloc(RL_TABLE_SIZE);
	if (!tmp) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	memcpy(tmp, buf, RL_TABLE_SIZE);
	put_le32(tmp + RL_MT_O_CRC, 0);
	uint32_t crc = crc32c(0, tmp, RL_TABLE_SIZE);
	free(tmp);
	if (crc != get_le32(buf + RL_MT_O_CRC)) {
		snprintf(why, whylen, "metadata crc mismatch");
		return -1;
	}
	if (get_le32(buf + RL_MT_O_VERSION) != RL_META_VERSION) {
		snprintf(why, whylen, "unsupported metadata version %u",
			 get_le32(buf + RL_MT_O_VERSION));
		return -1;
	}
	m->n_domains = get_le32(buf + RL_MT_O_NDOM);
	m->n_disks = get_le32(buf + RL_MT_O_NDISK);
	m->gen = get_le64(buf + RL_MT_O_GEN);
	m->bitmap_end = get_le64(buf + RL_MT_O_BITMAP_END);
	if (m->n_domains > REPLOG_MAX_DOMAINS || m->n_disks > REPLOG_MAX_DISKS || !m->gen ||
	    meta_size < RL_BITMAP_START || m->bitmap_end > meta_size) {
		snprintf(why, whylen, "bad metadata header");
		return -1;
	}
	if (decode_domains(buf, m, why, whylen) < 0)
		return -1;
	return decode_disks(buf, meta_size, m, why, whylen);
}

/* ---- load, format, persist ---- */

int rl_meta_format(int fd, uint64_t meta_off)
{
	struct rl_meta *m = calloc(1, sizeof(*m));
	uint8_t *buf = calloc(2, RL_TABLE_SIZE);
	int r = -ENOMEM;
	if (m && buf) {
		m->gen = 1;
		m->bitmap_end = RL_BITMAP_START;
		rl_meta_encode(m, buf);		/* copy A; copy B stays zero */
		r = pwrite_full(fd, buf, 2 * RL_TABLE_SIZE, meta_off);
	}
	free(m);
	free(buf);
	return r;
}

int rl_meta_load(struct replog *log, char *why, size_t whylen)
{
	struct rl_meta *m[2] = { malloc(sizeof(struct rl_meta)), malloc(sizeof(struct rl_meta)) };
	uint8_t *buf = malloc(2 * RL_TABLE_SIZE);
	char w[2][96];
	int ok[2] = { 0, 0 }, r = -1;

	if (!m[0] || !m[1] || !buf) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	int e = pread_full(log->fd, buf, 2 * RL_TABLE_SIZE, log->sb.meta_off);
	if (e < 0) {
		snprintf(why, whylen, "reading metadata: %s", strerror(-e));
		goto out;
	}
	for (int i = 0; i < 2; i++)
		ok[i] = rl_meta_decode(buf + i * RL_TABLE_SIZE, log->sb.meta_size, m[i], w[i],
				       sizeof w[i]) == 0;
	if (!ok[0] && !ok[1]) {
		snprintf(why, whylen, "no valid metadata table (A: %s; B: %s)", w[0], w[1]);
		goto out;
	}
	int pick = !ok[0] ? 1 : !ok[1] ? 0 : m[1]->gen > m[0]->gen;
	log->meta = *m[pick];
	for (uint32_t i = 0; i < log->meta.n_disks; i++) {
		struct rl_disk *d = &log->meta.disks[i];
		d->bits = malloc(d->bitmap_bytes);
		if (!d->bits) {
			snprintf(why, whylen, "out of memory for dirty bitmaps");
			goto out;
		}
		e = pread_full(log->fd, d->bits, d->bitmap_bytes, log->sb.meta_off + d->bitmap_off);
		if (e < 0) {
			snprintf(why, whylen, "reading dirty bitmap: %s", strerror(-e));
			goto out;
		}
	}
	r = 0;
out:
	free(m[0]);
	free(m[1]);
	free(buf);
	return r;
}

int rl_meta_persist(struct replog *log)
{
	uint8_t *buf = malloc(RL_TABLE_SIZE);
	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&log->lock);
	log->meta.gen++;
	uint64_t gen = log->meta.gen;
	rl_meta_encode(&log->meta, buf);
	pthread_mutex_unlock(&log->lock);

	uint64_t off = log->sb.meta_off + ((gen & 1) ? 0 : RL_TABLE_SIZE);
	int r = rl_pwrite_sync(log, buf, RL_TABLE_SIZE, off);
	free(buf);
	if (r < 0) {
		/* not durable: the next write reuses this generation and slot */
		pthread_mutex_lock(&log->lock);
		log->meta.gen--;
		pthread_mutex_unlock(&log->lock);
	}
	return r;
}

void rl_meta_free(struct replog *log)
{
	for (uint32_t i = 0; i < log->meta.n_disks; i++) {
		free(log->meta.disks[i].bits);
		log->meta.disks[i].bits = NULL;
	}
}

struct rl_disk *rl_disk_by_id(struct replog *log, uint32_t disk_id)
{
	if (disk_id == 0 || disk_id > log->meta.n_disks)
		return NULL;
	return &log->meta.disks[disk_id - 1];
}

struct rl_domain *rl_domain_by_id(struct replog *log, uint32_t domain_id)
{
	if (domain_id == 0 || domain_id > log->meta.n_domains)
		return NULL;
	return &log->meta.domains[domain_id - 1];
}

/* ---- dirty bits ---- */

static int note_block(struct rl_batch *b, const struct replog *log, const struct rl_disk *d,
		      uint64_t blk)
{
	uint64_t file_off = log->sb.meta_off + d->bitmap_off + blk * REPLOG_BLOCK;
	if (b->n_blocks && b->blocks[b->n_blocks - 1].file_off == file_off)
		return 0;
	if (b->n_blocks == b->blocks_cap) {
		size_t cap = b->blocks_cap ? 2 * b->blocks_cap : 16;
		struct rl_blockref *nb = realloc(b->blocks, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		b->blocks = nb;
		b->blocks_cap = cap;
	}
	b->blocks[b->n_blocks].file_off = file_off;
	b->blocks[b->n_blocks].mem = d->bits + blk * REPLOG_BLOCK;
	b->n_blocks++;
	return 0;
}

int rl_bits_set(struct replog *log, struct rl_disk *d, uint64_t off, uint64_t len,
		struct rl_batch *b)
{
	uint64_t nbits = rl_disk_nbits(d);
	if (len == 0 || off / d->grain >= nbits)
		return 0;
	uint64_t first = off / d->grain;
	uint64_t last = (len - 1 > UINT64_MAX - off) ? nbits - 1 : (off + len - 1) / d->grain;
	if (last >= nbits)
		last = nbits - 1;
	int r = 0;
	for (uint64_t i = first; i <= last; i++) {
		uint8_t mask = (uint8_t)(1u << (i % 8));
		if (d->bits[i / 8] & mask)
			continue;
		d->bits[i / 8] |= mask;
		if (b && !r)
			r = note_block(b, log, d, i / 8 / REPLOG_BLOCK);
	}
	return r;
}

/* ---- registration ---- */

static int pick_grain(uint64_t size, uint64_t avail, uint32_t *grain, uint64_t *bytes)
{
	for (uint64_t g = REPLOG_MIN_GRAIN; g <= RL_MAX_GRAIN; g *= 2) {
		uint64_t nbits = size / g + (size % g != 0);
		uint64_t b = ROUND_UP(ROUND_UP(nbits, 8) / 8, REPLOG_BLOCK);
		if (b <= avail) {
			*grain = (uint32_t)g;
			*bytes = b;
			return 0;
		}
	}
	return -ENOSPC;
}

static int check_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return -EINVAL;
	return n > REPLOG_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* Known disk: same domain required; the size may change within the bitmap's coverage. */
static int reregister(struct replog *log, struct rl_disk *d, const char *domain,
		      uint64_t size, bool *changed)
{
	if (strcmp(log->meta.domains[d->domain_id - 1].name, domain))
		return -EEXIST;
	if (size / d->grain + (size % d->grain != 0) > d->bitmap_bytes * 8)
		return -EFBIG;
	*changed = d->size != size;
	d->size = size;
	return 0;
}

/* New disk (and maybe new domain) in memory; the caller persists or rolls back. */
static int add_disk(struct replog *log, const char *domain, const char *disk, uint64_t size,
		    bool *new_domain)
{
	struct rl_meta *m = &log->meta;
	struct rl_domain *dom = NULL;
	uint32_t grain;
	uint64_t bytes;

	for (uint32_t i = 0; i < m->n_domains; i++)
		if (!strcmp(m->domains[i].name, domain))
			dom = &m->domains[i];
	*new_domain = !dom;
	if ((!dom && m->n_domains == REPLOG_MAX_DOMAINS) || m->n_disks == REPLOG_MAX_DISKS)
		return -ENOSPC;
	if (pick_grain(size, log->sb.meta_size - m->bitmap_end, &grain, &bytes) < 0)
		return -ENOSPC;
	uint8_t *bits = calloc(1, bytes);
	if (!bits)
		return -ENOMEM;
	if (!dom) {
		dom = &m->domains[m->n_domains];
		memset(dom, 0, sizeof(*dom));
		put_name((uint8_t *)dom->name, domain);
		dom->id = ++m->n_domains;
	}
	struct rl_disk *d = &m->disks[m->n_disks];
	memset(d, 0, sizeof(*d));
	put_name((uint8_t *)d->name, disk);
	d->id = ++m->n_disks;
	d->domain_id = dom->id;
	d->size = size;
	d->grain = grain;
	d->bitmap_off = m->bitmap_end;
	d->bitmap_bytes = bytes;
	d->bits = bits;
	m->bitmap_end += bytes;
	return 0;
}

static void rollback_disk(struct replog *log, bool new_domain)
{
	struct rl_meta *m = &log->meta;
	struct rl_disk *d = &m->disks[--m->n_disks];
	m->bitmap_end -= d->bitmap_bytes;
	free(d->bits);
	memset(d, 0, sizeof(*d));
	if (new_domain)
		m->n_domains--;
}

int replog_register_disk(struct replog *log, const char *domain, const char *disk,
			 uint64_t disk_size, uint32_t *domain_id, uint32_t *disk_id)
{
	struct rl_disk *d = NULL;
	bool changed = false, is_new = false, new_domain = false;
	uint64_t old_size = 0;
	int r;

	if (log->readonly)
		return -EROFS;
	if ((r = check_name(domain)) < 0 || (r = check_name(disk)) < 0)
		return r;
	if (disk_size == 0)
		return -EINVAL;
	pthread_mutex_lock(&log->meta_lock);
	pthread_mutex_lock(&log->lock);
	for (uint32_t i = 0; i < log->meta.n_disks; i++)
		if (!strcmp(log->meta.disks[i].name, disk))
			d = &log->meta.disks[i];
	if (d) {
		old_size = d->size;
		r = reregister(log, d, domain, disk_size, &changed);
	} else {
		r = add_disk(log, domain, disk, disk_size, &new_domain);
		if (!r) {
			d = &log->meta.disks[log->meta.n_disks - 1];
			is_new = changed = true;
		}
	}
	pthread_mutex_unlock(&log->lock);
	/* a new bitmap area may hold old bytes on a reused device: zero it first */
	if (!r && is_new)
		r = rl_pwrite_sync(log, d->bits, d->bitmap_bytes, log->sb.meta_off + d->bitmap_off);
	if (!r && changed)
		r = rl_meta_persist(log);
	if (r < 0 && changed) {
		pthread_mutex_lock(&log->lock);
		if (is_new)
			rollback_disk(log, new_domain);
		else
			d->size = old_size;
		pthread_mutex_unlock(&log->lock);
	}
	if (!r) {
		*domain_id = d->domain_id;
		*disk_id = d->id;
	}
	pthread_mutex_unlock(&log->meta_lock);
	return r;
}

/* ---- dirty bits: read-only copy, resync handover ---- */

static size_t bitmap_bytes(uint64_t nbits)
{
	return (size_t)(ROUND_UP(nbits, 8) / 8);
}

static uint64_t count_set(const uint8_t *b, size_t n)
{
	uint64_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (uint64_t)__builtin_popcount(b[i]);
	return c;
}

int replog_dirty_take(struct replog *log, uint32_t disk_id, uint8_t **bits, uint64_t *nbits,
		      uint32_t *grain)
{
	pthread_mutex_lock(&log->lock);
	struct rl_disk *d = rl_disk_by_id(log, disk_id);
	if (!d) {
		pthread_mutex_unlock(&log->lock);
		return -ENOENT;
	}
	uint64_t n = rl_disk_nbits(d);
	size_t bytes = bitmap_bytes(n);
	uint8_t *copy = malloc(bytes ? bytes : 1);
	if (copy)
		memcpy(copy, d->bits, bytes);
	uint32_t g = d->grain;
	pthread_mutex_unlock(&log->lock);
	if (!copy)
		return -ENOMEM;
	*bits = copy;
	*nbits = n;
	*grain = g;
	return 0;
}

void replog_resync_free(struct replog_resync *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n_disks; i++)
		free(rs->disks[i].bits);
	free(rs->disks);
	free(rs);
}

/* Copy the bitmaps of the domain's disks (caller holds lock). Return NULL on ENOMEM. */
static struct replog_resync *copy_domain(struct replog *log, uint32_t domain_id)
{
	struct replog_resync *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->domain_id = domain_id;
	rs->disks = calloc(log->meta.n_disks ? log->meta.n_disks : 1, sizeof(*rs->disks));
	if (!rs->disks)
		goto fail;
	for (uint32_t i = 0; i < log->meta.n_disks; i++) {
		const struct rl_disk *d = &log->meta.disks[i];
		if (d->domain_id != domain_id)
			continue;
		struct replog_dirty_copy *c = &rs->disks[rs->n_disks++];
		c->disk_id = d->id;
		c->grain = d->grain;
		c->size = d->size;
		c->nbits = rl_disk_nbits(d);
		size_t bytes = bitmap_bytes(c->nbits);
		c->bits = malloc(bytes ? bytes : 1);
		if (!c->bits)
			goto fail;
		memcpy(c->bits, d->bits, bytes);
		c->set = count_set(c->bits, bytes);
		rs->set += c->set;
	}
	return rs;
fail:
	replog_resync_free(rs);
	return NULL;
}

int replog_dirty_begin_resync(struct replog *log, uint32_t domain_id, struct replog_resync **out)
{
	*out = NULL;
	if (log->readonly)
		return -EROFS;
	pthread_mutex_lock(&log->meta_lock);
	pthread_mutex_lock(&log->lock);
	struct rl_domain *dom = rl_domain_by_id(log, domain_id);
	if (!dom || (!dom->overflow && !dom->resync)) {
		pthread_mutex_unlock(&log->lock);
		pthread_mutex_unlock(&log->meta_lock);
		return dom ? 0 : -ENOENT;
	}
	struct replog_resync *rs = copy_domain(log, domain_id);
	bool was_overflow = dom->overflow, was_resync = dom->resync;
	if (rs) {
		dom->overflow = false;
		dom->resync = true;
		rs->gen = ++dom->resync_gen;
	}
	pthread_mutex_unlock(&log->lock);
	int r = rs ? 0 : -ENOMEM;
	if (rs && (was_overflow || !was_resync)) {
		r = rl_meta_persist(log);
		if (r < 0) {
			pthread_mutex_lock(&log->lock);
			dom->overflow = dom->overflow || was_overflow;
			dom->resync = was_resync;
			pthread_mutex_unlock(&log->lock);
		}
	}
	pthread_mutex_unlock(&log->meta_lock);
	if (r < 0) {
		replog_resync_free(rs);
		return r;
	}
	*out = rs;
	return 1;
}

/* Clear c's bits in d (caller holds lock); [*lo, *hi) receives the changed byte range. */
static void clear_copied(struct rl_disk *d, const struct replog_dirty_copy *c, size_t *lo,
			 size_t *hi)
{
	size_t n = MIN(bitmap_bytes(c->nbits), (size_t)d->bitmap_bytes);
	*lo = n;
	*hi = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(d->bits[i] & c->bits[i]))
			continue;
		d->bits[i] &= (uint8_t)~c->bits[i];
		*lo = MIN(*lo, i);
		*hi = i + 1;
	}
}

static bool domain_has_bits(const struct replog *log, uint32_t domain_id)
{
	for (uint32_t i = 0; i < log->meta.n_disks; i++) {
		const struct rl_disk *d = &log->meta.disks[i];
		if (d->domain_id == domain_id &&
		    count_set(d->bits, bitmap_bytes(rl_disk_nbits(d))))
			return true;
	}
	return false;
}

/* Write the changed 4 KiB blocks of each disk's bitmap from live memory, durably. */
static int write_cleared(struct replog *log, const struct replog_resync *rs, const size_t *lo,
			 const size_t *hi)
{
	for (size_t i = 0; i < rs->n_disks; i++) {
		if (lo[i] >= hi[i])
			continue;
		struct rl_disk *d = rl_disk_by_id(log, rs->disks[i].disk_id);
		uint64_t first = lo[i] / REPLOG_BLOCK * REPLOG_BLOCK;
		uint64_t end = ROUND_UP((uint64_t)hi[i], REPLOG_BLOCK);
		int r = rl_pwrite_sync(log, d->bits + first, end - first,
				       log->sb.meta_off + d->bitmap_off + first);
		if (r < 0)
			return r;
	}
	return 0;
}

int replog_dirty_end_resync(struct replog *log, uint32_t domain_id,
			    const struct replog_resync *rs)
{
	if (log->readonly)
		return -EROFS;
	if (!rs || rs->domain_id != domain_id)
		return -EINVAL;
	size_t *lo = calloc(rs->n_disks ? rs->n_disks : 1, sizeof(*lo));
	size_t *hi = calloc(rs->n_disks ? rs->n_disks : 1, sizeof(*hi));
	int r = 0;
	if (!lo || !hi) {
		free(lo);
		free(hi);
		return -ENOMEM;
	}
	pthread_mutex_lock(&log->meta_lock);
	pthread_mutex_lock(&log->lock);
	struct rl_domain *dom = rl_domain_by_id(log, domain_id);
	if (!dom) {
		r = -ENOENT;
	} else if (dom->overflow || !dom->resync || dom->resync_gen != rs->gen) {
		r = 1;		/* overflowed again (or superseded): keep every bit */
	} else {
		for (size_t i = 0; i < rs->n_disks && !r; i++) {
			struct rl_disk *d = rl_disk_by_id(log, rs->disks[i].disk_id);
			if (!d || d->domain_id != domain_id)
				r = -EINVAL;
		}
		for (size_t i = 0; i < rs->n_disks && !r; i++)
			clear_copied(rl_disk_by_id(log, rs->disks[i].disk_id), &rs->disks[i], &lo[i],
				     &hi[i]);
	}
	bool remaining = r == 0 && domain_has_bits(log, domain_id);
	pthread_mutex_unlock(&log->lock);
	if (r == 0) {
		r = write_cleared(log, rs, lo, hi);
		if (r == 0 && !remaining) {
			pthread_mutex_lock(&log->lock);
			dom->resync = false;
			pthread_mutex_unlock(&log->lock);
			r = rl_meta_persist(log);
			if (r < 0) {
				pthread_mutex_lock(&log->lock);
				dom->resync = true;
				pthread_mutex_unlock(&log->lock);
			}
		} else if (r < 0) {
			/* not durably cleared: put the bits back so a later end writes them */
			pthread_mutex_lock(&log->lock);
			for (size_t i = 0; i < rs->n_disks; i++) {
				struct rl_disk *d = rl_disk_by_id(log, rs->disks[i].disk_id);
				for (size_t k = lo[i]; k < hi[i]; k++)
					d->bits[k] |= rs->disks[i].bits[k];
			}
			pthread_mutex_unlock(&log->lock);
		}
	}
	pthread_mutex_unlock(&log->meta_lock);
	free(lo);
	free(hi);
	return r;
}
