/* Opening, creating and closing the replication log; the two superblocks; stat.
 *
 * Superblocks alternate by generation parity (odd -> A at 0, even -> B at 4096), so a write
 * always goes to the slot that does not hold the newest copy and a torn superblock write
 * leaves the previous one intact. Open takes the valid one with the higher generation.
 *
 * A read-write open runs the recovery scan with the stored open generation as the upper
 * bound, then makes durable a superblock with open_gen + 1, clean = 0 and head = where the
 * scan stopped, before any record of the new session can be written. Records of this session
 * carry the new open_gen, which is what lets a later scan refuse stale records of an older
 * session that happen to sit right after the new ones (see docs/replog-format.md).
 *
 * A read-only open (ferryctl, possibly while ferryd runs) never writes and takes no lock on
 * the file; ferryd takes an exclusive flock so two daemons cannot share one log. */
#include "datapath/replog-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "common/util.h"
#include "common/banned.h"

/* ---- superblock encode/decode ---- */

void rl_sb_encode(const struct rl_sb *sb, uint8_t *blk)
{
	memset(blk, 0, REPLOG_BLOCK);
	put_le64(blk + RL_SB_O_MAGIC, REPLOG_SB_MAGIC);
	put_le32(blk + RL_SB_O_VERSION, sb->version);
	put_le32(blk + RL_SB_O_FLAGS, sb->clean ? RL_SB_FLAG_CLEAN : 0);
	put_le64(blk + RL_SB_O_GEN, sb->gen);
	memcpy(blk + RL_SB_O_UUID, sb->uuid, 16);
	put_le64(blk + RL_SB_O_META_OFF, sb->meta_off);
	put_le64(blk + RL_SB_O_META_SIZE, sb->meta_size);
	put_le64(blk + RL_SB_O_DATA_OFF, sb->data_off);
	put_le64(blk + RL_SB_O_DATA_SIZE, sb->data_size);
	put_le32(blk + RL_SB_O_OPEN_GEN, sb->open_gen);
	put_le64(blk + RL_SB_O_TAIL_SEQ, sb->tail_seq);
	put_le64(blk + RL_SB_O_TAIL_OFF, sb->tail_off);
	put_le64(blk + RL_SB_O_HEAD_SEQ, sb->head_seq);
	put_le64(blk + RL_SB_O_HEAD_OFF, sb->head_off);
	put_le64(blk + RL_SB_O_APPLIED_SEQ, sb->applied_seq);
	put_le32(blk + RL_SB_O_CRC, crc32c(0, blk, REPLOG_BLOCK));
}

int rl_sb_decode(const uint8_t *blk, struct rl_sb *sb, char *why, size_t whylen)
{
	uint8_t tmp[REPLOG_BLOCK];

	memset(sb, 0, sizeof(*sb));
	if (get_le64(blk + RL_SB_O_MAGIC) != REPLOG_SB_MAGIC) {
		snprintf(why, whylen, "bad superblock magic");
		return -1;
	}
	memcpy(tmp, blk, sizeof tmp);
	put_le32(tmp + RL_SB_O_CRC, 0);
	if (crc32c(0, tmp, sizeof tmp) != get_le32(blk + RL_SB_O_CRC)) {
		snprintf(why, whylen, "superblock crc mismatch");
		return -1;
	}
	uint32_t ver = get_le32(blk + RL_SB_O_VERSION);
	if (ver < REPLOG_VERSION_MIN || ver > REPLOG_VERSION) {
		snprintf(why, whylen, "unsupported log version %u", ver);
		return -1;
	}
	uint32_t flags = get_le32(blk + RL_SB_O_FLAGS);
	sb->version = ver;
	sb->clean = flags & RL_SB_FLAG_CLEAN;
	sb->gen = get_le64(blk + RL_SB_O_GEN);
	memcpy(sb->uuid, blk + RL_SB_O_UUID, 16);
	sb->meta_off = get_le64(blk + RL_SB_O_META_OFF);
	sb->meta_size = get_le64(blk + RL_SB_O_META_SIZE);
	sb->data_off = get_le64(blk + RL_SB_O_DATA_OFF);
	sb->data_size = get_le64(blk + RL_SB_O_DATA_SIZE);
	sb->open_gen = get_le32(blk + RL_SB_O_OPEN_GEN);
	sb->tail_seq = get_le64(blk + RL_SB_O_TAIL_SEQ);
	sb->tail_off = get_le64(blk + RL_SB_O_TAIL_OFF);
	sb->head_seq = get_le64(blk + RL_SB_O_HEAD_SEQ);
	sb->head_off = get_le64(blk + RL_SB_O_HEAD_OFF);
	sb->applied_seq = get_le64(blk + RL_SB_O_APPLIED_SEQ);

	if (flags & ~RL_SB_FLAG_CLEAN || sb->gen == 0) {
		snprintf(why, whylen, "bad superblock flags or generation");
		return -1;
	}
	if (sb->meta_off != RL_META_OFF || sb->meta_size < RL_BITMAP_START ||
	    sb->meta_size > RL_MAX_META_SIZE || sb->meta_size % REPLOG_BLOCK ||
	    sb->data_off != sb->meta_off + sb->meta_size || sb->data_size < 2 * REPLOG_BLOCK ||
	    sb->data_size > RL_MAX_DATA_SIZE || sb->data_size % REPLOG_BLOCK) {
		snprintf(why, whylen, "bad geometry in superblock");
		return -1;
	}
	if (sb->tail_seq == 0 || sb->head_seq < sb->tail_seq ||
	    sb->tail_off >= sb->data_size || sb->tail_off % REPLOG_REC_ALIGN ||
	    sb->head_off >= sb->data_size || sb->head_off % REPLOG_REC_ALIGN) {
		snprintf(why, whylen, "bad head/tail in superblock");
		return -1;
	}
	return 0;
}

int rl_sb_write(struct replog *log, struct rl_sb *sb)
{
	return rl_sb_write_opt(log, sb, true);
}

int rl_sb_write_opt(struct replog *log, struct rl_sb *sb, bool durable)
{
	uint8_t *blk;
	int r;

	if (log->readonly)
		return -EROFS;
	sb->gen = log->sb.gen + 1;
	if (posix_memalign((void **)&blk, REPLOG_BLOCK, REPLOG_BLOCK))
		return -ENOMEM;
	rl_sb_encode(sb, blk);
	uint64_t off = (sb->gen & 1) ? RL_SB_A_OFF : RL_SB_B_OFF;
	if (durable && rl_test_hooks.sb_sync)
		rl_test_hooks.sb_sync(log);
	r = durable ? rl_pwrite_sync(log, blk, REPLOG_BLOCK, off)
		    : pwrite_full(log->fd, blk, REPLOG_BLOCK, off);
	free(blk);
	if (!r) {
		pthread_mutex_lock(&log->lock);
		log->sb = *sb;
		pthread_mutex_unlock(&log->lock);
	}
	return r;
}

struct rl_test_hooks rl_test_hooks;

int rl_pwrite_sync(struct replog *log, const void *buf, size_t len, uint64_t off)
{
	return pwrite_full_flags(log->fd, buf, len, off, RWF_DSYNC);
}

/* Is there an applied point in memory that the superblock does not have yet? */
static bool applied_pending(struct replog *log)
{
	pthread_mutex_lock(&log->lock);
	bool p = log->applied_tracking && log->applied_seq > log->sb.applied_seq;
	pthread_mutex_unlock(&log->lock);
	return p;
}

/* Write the applied point into the superblock (pwrite only), unless another thread is
 * writing the superblock: then that thread does it as it lets go (rl_sb_unlock). Never
 * waits for sb_lock, so the event loop never waits for a reclaim's fdatasync. The loop
 * ends when nothing is pending after letting go: a point set while we held the lock (its
 * setter's trylock failed) is seen by that check. */
static int publish_applied(struct replog *log)
{
	int r = 0;
	while (applied_pending(log) && pthread_mutex_trylock(&log->sb_lock) == 0) {
		pthread_mutex_lock(&log->lock);
		struct rl_sb sb = log->sb;
		uint64_t a = log->applied_seq;
		pthread_mutex_unlock(&log->lock);
		if (a > sb.applied_seq) {
			sb.applied_seq = a;
			r = rl_sb_write_opt(log, &sb, false);
		}
		pthread_mutex_unlock(&log->sb_lock);
		if (r < 0)
			break;
	}
	return r;
}

void rl_sb_unlock(struct replog *log)
{
	pthread_mutex_unlock(&log->sb_lock);
	if (!log->readonly)
		publish_applied(log);
}

uint64_t rl_applied_for_sb(struct replog *log, const struct rl_sb *sb)
{
	pthread_mutex_lock(&log->lock);
	uint64_t a = log->applied_tracking && log->applied_seq > sb->applied_seq
		? log->applied_seq : sb->applied_seq;
	pthread_mutex_unlock(&log->lock);
	return a;
}

uint64_t rl_ring_used(const struct replog *log)
{
	if (log->head_off >= log->tail_off)
		return log->head_off - log->tail_off;
	return log->ring - log->tail_off + log->head_off;
}

/* ---- create ---- */

static int dev_size(int fd, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0)
			return -errno;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (dfd < 0)
		return -errno;
	int r = fsync(dfd) < 0 ? -errno : 0;
	close(dfd);
	return r;
}

/* Lay out an empty log: table copy A (gen 1), copy B zeroed, superblock A gen 1 (clean,
 * empty ring at seq 1), superblock B zeroed. */
static int format_log(int fd, uint64_t meta_size, uint64_t data_size, bool is_file)
{
	uint64_t total = RL_META_OFF + meta_size + data_size;
	uint8_t *blk;
	int r;

	if (is_file) {
		r = fallocate(fd, 0, 0, (off_t)total);
		if (r < 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
			r = ftruncate(fd, (off_t)total);
		if (r < 0)
			return -errno;
	}
	r = rl_meta_format(fd, RL_META_OFF);
	if (r < 0)
		return r;
	if (posix_memalign((void **)&blk, REPLOG_BLOCK, REPLOG_BLOCK))
		return -ENOMEM;
	struct rl_sb sb = {
		.version = REPLOG_VERSION,
		.gen = 1, .meta_off = RL_META_OFF, .meta_size = meta_size,
		.data_off = RL_META_OFF + meta_size, .data_size = data_size,
		.open_gen = 0, .clean = true,
		.tail_seq = 1, .tail_off = 0, .head_seq = 1, .head_off = 0,
	};
	if (getrandom(sb.uuid, sizeof sb.uuid, 0) != (ssize_t)sizeof sb.uuid) {
		free(blk);
		return -EIO;
	}
	memset(blk, 0, REPLOG_BLOCK);
	r = pwrite_full(fd, blk, REPLOG_BLOCK, RL_SB_B_OFF);
	if (!r) {
		rl_sb_encode(&sb, blk);
		r = pwrite_full(fd, blk, REPLOG_BLOCK, RL_SB_A_OFF);
	}
	free(blk);
	if (!r && fdatasync(fd) < 0)
		r = -errno;
	return r;
}

/* Neither superblock slot carries the magic: nothing that looks like a log is there. */
static int looks_unformatted(int fd, bool *yes)
{
	uint8_t b[8];
	*yes = true;
	for (unsigned i = 0; i < 2; i++) {
		int r = pread_full(fd, b, sizeof b, i * REPLOG_BLOCK);
		if (r < 0)
			return r;
		if (get_le64(b) == REPLOG_SB_MAGIC)
			*yes = false;
	}
	return 0;
}

/* ---- open ---- */

static int read_superblocks(struct replog *log, char *why, size_t whylen)
{
	uint8_t *blk = malloc(2 * REPLOG_BLOCK);
	struct rl_sb s[2];
	char w[2][96];
	int ok[2];

	if (!blk)
		return -ENOMEM;
	int r = pread_full(log->fd, blk, 2 * REPLOG_BLOCK, 0);
	if (r < 0) {
		free(blk);
		snprintf(why, whylen, "reading superblocks: %s", strerror(-r));
		return -1;
	}
	for (int i = 0; i < 2; i++)
		ok[i] = rl_sb_decode(blk + i * REPLOG_BLOCK, &s[i], w[i], sizeof w[i]) == 0;
	free(blk);
	if (!ok[0] && !ok[1]) {
		snprintf(why, whylen, "no valid superblock (A: %s; B: %s)", w[0], w[1]);
		return -1;
	}
	int pick = !ok[0] ? 1 : !ok[1] ? 0 : s[1].gen > s[0].gen;
	log->sb = s[pick];
	return 0;
}

static int open_fd(const char *path, const struct replog_open_opts *o, bool *created,
		   char *err, size_t errlen)
{
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int fd = open(path, flags);
	*created = false;
	if (fd < 0 && errno == ENOENT && o->create && !o->readonly) {
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		*created = fd >= 0;
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!o->readonly && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == EWOULDBLOCK ?
			 "in use by another process" : strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int maybe_format(struct replog *log, const struct replog_open_opts *o, bool created,
			char *err, size_t errlen)
{
	uint64_t size;
	bool blank = created;
	int r = dev_size(log->fd, &size);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", log->path, r == -EINVAL ?
			 "not a regular file or block device" : strerror(-r));
		return -1;
	}
	if (!o->create || o->readonly)
		return 0;
	struct stat st;
	fstat(log->fd, &st);
	bool is_file = S_ISREG(st.st_mode);
	if (is_file && size == 0)
		blank = true;
	if (!blank && !is_file && size >= 2 * REPLOG_BLOCK) {
		r = looks_unformatted(log->fd, &blank);
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", log->path, strerror(-r));
			return -1;
		}
	}
	if (!blank)
		return 0;
	if (!o->data_size || !o->meta_size || o->data_size % REPLOG_BLOCK ||
	    o->meta_size % REPLOG_BLOCK || o->meta_size < RL_BITMAP_START ||
	    o->data_size < 2 * REPLOG_BLOCK || o->data_size > RL_MAX_DATA_SIZE ||
	    o->meta_size > RL_MAX_META_SIZE) {
		snprintf(err, errlen, "%s: cannot create: data size must be a multiple of 4096 "
			 ">= 8K and metadata size a multiple of 4096 >= %uK", log->path,
			 RL_BITMAP_START / 1024);
		return -1;
	}
	if (!is_file && size < RL_META_OFF + o->meta_size + o->data_size) {
		snprintf(err, errlen, "%s: device too small for the log geometry", log->path);
		return -1;
	}
	r = format_log(log->fd, o->meta_size, o->data_size, is_file);
	if (!r && created)
		r = fsync_parent(log->path);
	if (r < 0) {
		snprintf(err, errlen, "%s: creating log: %s", log->path, strerror(-r));
		return -1;
	}
	return 0;
}

static int check_geometry(struct replog *log, const struct replog_open_opts *o, char *err,
			  size_t errlen)
{
	uint64_t size;
	const struct rl_sb *sb = &log->sb;
	if ((o->data_size && o->data_size != sb->data_size) ||
	    (o->meta_size && o->meta_size != sb->meta_size)) {
		snprintf(err, errlen, "%s: geometry mismatch: log has data %" PRIu64 " metadata %"
			 PRIu64 " bytes, asked for %" PRIu64 " and %" PRIu64, log->path,
			 sb->data_size, sb->meta_size, o->data_size, o->meta_size);
		return -1;
	}
	int r = dev_size(log->fd, &size);
	if (r < 0 || size < sb->data_off + sb->data_size) {
		snprintf(err, errlen, "%s: shorter than its geometry (%" PRIu64 " bytes)",
			 log->path, sb->data_off + sb->data_size);
		return -1;
	}
	return 0;
}

/* Scan from the stored tail, then (read-write) make the new session's superblock durable. */
static int recover(struct replog *log, char *err, size_t errlen)
{
	struct rl_scan_end end;
	int r = rl_scan(log, log->sb.tail_seq, log->sb.tail_off, log->sb.open_gen, &end);
	if (r < 0) {
		snprintf(err, errlen, "%s: recovery scan: %s", log->path, strerror(-r));
		return -1;
	}
	log->tail_seq = log->sb.tail_seq;
	log->tail_off = log->sb.tail_off;
	log->head_seq = log->done_seq = end.seq;
	log->head_off = log->done_off = end.off;
	log->open_gen = log->sb.open_gen;
	log->applied_seq = log->sb.clean ? end.seq - 1 : log->sb.applied_seq;
	if (end.seq < log->sb.head_seq) {
		log->scan_lost_from = end.seq;
		log_warn("%s: records from sequence %" PRIu64 " to %" PRIu64 " were durable but "
			 "are unreadable (offset %" PRIu64 ": %s)", log->path, end.seq,
			 log->sb.head_seq - 1, log->sb.data_off + end.off, end.why);
	}
	if (log->readonly)
		return 0;
	if (log->sb.open_gen == UINT32_MAX) {
		snprintf(err, errlen, "%s: open generation exhausted", log->path);
		return -1;
	}
	log->was_clean = log->sb.clean;
	struct rl_sb sb = log->sb;
	sb.version = REPLOG_VERSION;	/* records written from now on may use its features */
	sb.open_gen++;
	sb.clean = false;
	sb.head_seq = end.seq;
	sb.head_off = end.off;
	r = rl_sb_write(log, &sb);
	if (r < 0) {
		snprintf(err, errlen, "%s: writing superblock: %s", log->path, strerror(-r));
		return -1;
	}
	log->open_gen = sb.open_gen;
	return 0;
}

static void free_log(struct replog *log)
{
	rl_batches_free(log);
	rl_meta_free(log);
	if (log->fd >= 0)
		close(log->fd);
	if (log->dfd >= 0)
		close(log->dfd);
	pthread_mutex_destroy(&log->sb_lock);
	pthread_mutex_destroy(&log->meta_lock);
	pthread_mutex_destroy(&log->lock);
	free(log->path);
	free(log);
}

int replog_open(const char *path, const struct replog_open_opts *opts, struct replog **out,
		char *err, size_t errlen)
{
	struct replog *log = calloc(1, sizeof(*log));
	char why[256];
	bool created;

	if (!log || !(log->path = strdup(path))) {
		free(log);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	pthread_mutex_init(&log->sb_lock, NULL);
	pthread_mutex_init(&log->meta_lock, NULL);
	pthread_mutex_init(&log->lock, NULL);
	log->dfd = -1;
	atomic_init(&log->settled_seq, UINT64_MAX);
	atomic_init(&log->last_record_seq, 0);
	log->readonly = opts->readonly;
	log->fd = open_fd(path, opts, &created, err, errlen);
	if (log->fd < 0)
		goto err;
	if (maybe_format(log, opts, created, err, errlen) < 0)
		goto err_unlink;
	if (read_superblocks(log, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto err;
	}
	log->ring = log->sb.data_size;
	if (check_geometry(log, opts, err, errlen) < 0)
		goto err;
	if (rl_meta_load(log, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto err;
	}
	if (recover(log, err, errlen) < 0)
		goto err;
	*out = log;
	return 0;

err_unlink:
	if (created)
		unlink(path);
err:
	free_log(log);
	return -1;
}

void replog_close(struct replog *log, bool clean)
{
	if (!log)
		return;
	if (log->fifo_head && log->eng) {
		/* the caller should have drained the engine; do it rather than free live I/O */
		while (log->fifo_head) {
			io_submit_pending(log->eng);
			if (io_reap(log->eng, true) < 0)
				break;
		}
	}
	if (clean && !log->readonly && !log->fifo_head) {
		/* the records before the clean head must be durable before it is */
		if (fdatasync(log->fd) < 0)
			log_error("%s: fdatasync at close: %m", log->path);
		pthread_mutex_lock(&log->sb_lock);
		pthread_mutex_lock(&log->lock);
		struct rl_sb sb = log->sb;
		sb.clean = true;
		sb.tail_seq = log->tail_seq;
		sb.tail_off = log->tail_off;
		sb.head_seq = log->done_seq;
		sb.head_off = log->done_off;
		sb.applied_seq = log->done_seq - 1;	/* the caller synced the primaries */
		pthread_mutex_unlock(&log->lock);
		int r = rl_sb_write(log, &sb);
		rl_sb_unlock(log);
		if (r < 0)
			log_error("%s: writing clean superblock: %s", log->path, strerror(-r));
	}
	if (log->fifo_head) {
		log_error("%s: closing with log writes in flight; leaking them", log->path);
		return;
	}
	free_log(log);
}

int replog_set_applied(struct replog *log, uint64_t applied_seq)
{
	if (log->readonly)
		return -EROFS;
	pthread_mutex_lock(&log->lock);
	log->applied_tracking = true;
	if (applied_seq > log->applied_seq)
		log->applied_seq = applied_seq;
	pthread_mutex_unlock(&log->lock);
	return publish_applied(log);
}

unsigned replog_usage_permille(struct replog *log)
{
	pthread_mutex_lock(&log->lock);
	uint64_t used = rl_ring_used(log);
	pthread_mutex_unlock(&log->lock);
	return log->ring ? (unsigned)(used * 1000 / log->ring) : 0;
}

uint64_t replog_redo_from(struct replog *log)
{
	pthread_mutex_lock(&log->lock);
	uint64_t from = log->applied_seq + 1;
	if (from < log->tail_seq)
		from = log->tail_seq;
	pthread_mutex_unlock(&log->lock);
	return from;
}

/* The O_DIRECT descriptor for large records (replog-append.c): only where the kernel
 * reports direct I/O alignment (statx STATX_DIOALIGN) that 4 KiB-aligned offsets and memory
 * satisfy; else -1 and every record is written buffered. */
static void open_direct(struct replog *log)
{
	if (log->readonly || env_flag("FERRY_DISABLE_DIRECT"))
		return;
	log->dfd = open_direct_twin(log->fd, log->path, O_WRONLY, REPLOG_BLOCK,
				    &log->dio_mem_align);
	log->use_direct = log->dfd >= 0;
}

void replog_set_engine(struct replog *log, struct io_engine *eng)
{
	struct stat st;
	log->is_file = fstat(log->fd, &st) == 0 && S_ISREG(st.st_mode);
	log->eng = eng;
	if (log->dfd < 0)
		open_direct(log);
}

int replog_fd(const struct replog *log)
{
	return log->fd;
}

/* ---- stat ---- */

static uint64_t popcount_bytes(const uint8_t *p, uint64_t n)
{
	uint64_t c = 0, i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		c += (uint64_t)__builtin_popcountll(w);
	}
	for (; i < n; i++)
		c += (uint64_t)__builtin_popcount(p[i]);
	return c;
}

int replog_get_stat(struct replog *log, struct replog_stat *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&log->lock);
	memcpy(st->uuid, log->sb.uuid, 16);
	st->version = log->sb.version;
	st->meta_off = log->sb.meta_off;
	st->meta_size = log->sb.meta_size;
	st->data_off = log->sb.data_off;
	st->data_size = log->sb.data_size;
	st->sb_gen = log->sb.gen;
	st->clean = log->readonly ? log->sb.clean : log->was_clean;
	st->applied_seq = log->sb.applied_seq;
	st->open_gen = log->open_gen;
	st->tail_seq = log->tail_seq;
	st->tail_off = log->tail_off;
	st->head_seq = log->head_seq;
	st->head_off = log->head_off;
	st->used_bytes = rl_ring_used(log);
	st->records = log->head_seq - log->tail_seq;
	st->direct = log->use_direct;
	st->n_domains = log->meta.n_domains;
	for (size_t i = 0; i < st->n_domains; i++) {
		const struct rl_domain *d = &log->meta.domains[i];
		struct replog_domain_stat *o = &st->domains[i];
		memcpy(o->name, d->name, sizeof o->name);
		o->id = d->id;
		o->overflow = d->overflow;
		o->shipped_seq = d->shipped_seq;
	}
	st->n_disks = log->meta.n_disks;
	for (size_t i = 0; i < st->n_disks; i++) {
		const struct rl_disk *d = &log->meta.disks[i];
		struct replog_disk_stat *o = &st->disks[i];
		memcpy(o->name, d->name, sizeof o->name);
		memcpy(o->domain, log->meta.domains[d->domain_id - 1].name, sizeof o->domain);
		o->domain_id = d->domain_id;
		o->disk_id = d->id;
		o->size = d->size;
		o->grain = d->grain;
		o->dirty_bits = d->bits ? popcount_bytes(d->bits, d->bitmap_bytes) : 0;
	}
	pthread_mutex_unlock(&log->lock);
	return 0;
}
