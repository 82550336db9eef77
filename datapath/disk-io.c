/* Executing NBD requests against a protected disk and the replication log.
 *
 * Ordering: a write-class op (WRITE, WRITE_ZEROES, TRIM) that overlaps a write-class op whose
 * primary I/O is still in flight waits in a FIFO until that one completes, and so does every
 * later overlapping op (FIFO order is kept among waiters). Its log sequence number is
 * assigned when it is dispatched. So for any two overlapping writes the one with the higher
 * sequence number reached the primary last, and replaying the log always reproduces the
 * primary. Non-overlapping writes run fully in parallel. Reads do not wait: NBD gives no
 * ordering between a read and an unreplied overlapping write.
 *
 * Write-ahead: a write-class op first goes into the log (group-committed by replog_commit
 * at the end of the loop iteration, one pwritev for all records of the iteration), and only
 * when its batch is written does its primary write start; it is acknowledged when that
 * finishes. So the primary never holds data the log lacks, and after a crash ferryd's
 * restart re-applies the log records past the last persisted "applied" point (see
 * server_applied_seq), which makes the primary and the log agree again whatever the crash
 * interrupted. FUA makes the log batch and the primary write RWF_DSYNC. A failed log write
 * fails the request with EIO: an acknowledged write is always in both places. */
#include "datapath/server.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "datapath/monitor.h"
#include "common/banned.h"

/* Large writes whose offset and length are multiples of this go to the primary with
 * O_DIRECT (queue_primary): ext4 serializes direct I/O that is not aligned to its block
 * size, in the file or in memory, so 4 KiB it is. */
#define PRIMARY_DIRECT_ALIGN 4096u

int disk_open(struct server *srv, struct disk *d, const struct disk_cfg *cfg, const char *domain)
{
	struct stat st;

	memset(d, 0, sizeof *d);
	d->srv = srv;
	d->name = cfg->name;
	d->path = cfg->path;
	d->domain = domain;
	d->dfd = -1;
	d->fd = open(cfg->path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		log_error("%s:%u: disk %s: cannot open %s: %m", srv->cfg->file, cfg->line,
			  cfg->name, cfg->path);
		return -1;
	}
	if (fstat(d->fd, &st) < 0) {
		log_error("disk %s: fstat %s: %m", cfg->name, cfg->path);
		goto err;
	}
	if (S_ISBLK(st.st_mode)) {
		d->is_blockdev = true;
		if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0) {
			log_error("disk %s: BLKGETSIZE64 %s: %m", cfg->name, cfg->path);
			goto err;
		}
	} else if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
	} else {
		log_error("disk %s: %s is neither a regular file nor a block device", cfg->name,
			  cfg->path);
		goto err;
	}
	if (d->size == 0) {
		log_error("disk %s: %s is empty (size 0)", cfg->name, cfg->path);
		goto err;
	}
	if (disk_lock(srv, d) < 0)
		goto err;
	if (!env_flag("FERRY_DISABLE_DIRECT"))
		d->dfd = open_direct_twin(d->fd, d->path, O_WRONLY, PRIMARY_DIRECT_ALIGN, NULL);
	d->use_direct = d->dfd >= 0;
	return 0;
err:
	close(d->fd);
	d->fd = -1;
	return -1;
}

int disk_close(struct disk *d)
{
	int r = 0;
	if (d->fd >= 0) {
		if (fdatasync(d->fd) < 0) {
			log_error("disk %s: fdatasync at close: %m", d->name);
			r = -1;
		}
		close(d->fd);
	}
	if (d->dfd >= 0)
		close(d->dfd);
	d->fd = d->dfd = -1;
	return r;
}

void disk_update_rates(struct disk *d)
{
	const struct io_stats *a = &d->st, *b = &d->st_prev;
	d->iops = (a->reads + a->writes + a->zeroes + a->trims) -
		  (b->reads + b->writes + b->zeroes + b->trims);
	d->write_bps = a->bytes_written - b->bytes_written;
	d->read_bps = a->bytes_read - b->bytes_read;
	d->st_prev = d->st;
}

void op_free(struct nbd_op *op)
{
	replog_payload_free(op->buf);
	free(op);
}

/* ---- completion ---- */

static void op_part_done(struct nbd_op *op, int res)
{
	if (res < 0 && !op->err)
		op->err = res;
	if (--op->parts == 0) {
		if (op->err)
			op->disk->st.errors++;
		conn_reply(op->conn, op);
	}
}

static bool is_write_class(const struct nbd_op *op)
{
	return op->req.type == NBD_CMD_WRITE || op->req.type == NBD_CMD_WRITE_ZEROES ||
	       op->req.type == NBD_CMD_TRIM;
}

static bool overlaps(const struct nbd_op *a, const struct nbd_op *b)
{
	uint64_t a0 = a->req.offset, a1 = a0 + a->req.length;
	uint64_t b0 = b->req.offset, b1 = b0 + b->req.length;
	return a0 < b1 && b0 < a1;
}

static bool overlaps_list(const struct nbd_op *op, const struct nbd_op *list,
			  const struct nbd_op *stop)
{
	for (const struct nbd_op *o = list; o && o != stop; o = o->next)
		if (overlaps(op, o))
			return true;
	return false;
}

static void op_start(struct nbd_op *op);

static void active_remove(struct disk *d, struct nbd_op *op)
{
	for (struct nbd_op **pp = &d->active; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			op->next = NULL;
			return;
		}
	}
}

/* Start every waiter that no longer overlaps an active op or an earlier waiter. */
static void wait_queue_kick(struct disk *d)
{
	struct nbd_op **pp = &d->wait_head, *prev = NULL;
	while (*pp) {
		struct nbd_op *op = *pp;
		if (!overlaps_list(op, d->active, NULL) && !overlaps_list(op, d->wait_head, op)) {
			*pp = op->next;
			if (d->wait_tail == op)
				d->wait_tail = prev;
			op->next = NULL;
			op_start(op);
			continue;
		}
		prev = op;
		pp = &op->next;
	}
}

/* ---- redo watermark ----
 * Ops whose record is in the log but whose primary I/O has not completed, in sequence
 * order. Every record below the first of them is in its primary; ferryd persists that
 * point so that the restart after a crash re-applies only the records after it. */

static void redo_track(struct nbd_op *op)
{
	struct server *srv = op->disk->srv;
	if (!op->la.seq)
		return;		/* overflowed: not in the log */
	op->tracked = true;
	op->anext = NULL;
	op->aprev = srv->redo_tail;
	if (srv->redo_tail)
		srv->redo_tail->anext = op;
	else
		srv->redo_head = op;
	srv->redo_tail = op;
	if (op->la.seq > srv->last_seq)
		srv->last_seq = op->la.seq;
}

static void redo_untrack(struct nbd_op *op)
{
	struct server *srv = op->disk->srv;
	if (!op->tracked)
		return;
	op->tracked = false;
	if (op->aprev)
		op->aprev->anext = op->anext;
	else
		srv->redo_head = op->anext;
	if (op->anext)
		op->anext->aprev = op->aprev;
	else
		srv->redo_tail = op->aprev;
}

uint64_t server_applied_seq(const struct server *srv)
{
	return srv->redo_head ? srv->redo_head->la.seq - 1 : srv->last_seq;
}

/* ---- backpressure ----
 * With `[log] backpressure = N ms`, a write's reply is held back while the ring is more than
 * 75% full, by up to N ms growing linearly to a full ring, so a guest that writes faster
 * than the shipper drains slows down before the domain has to go into overflow. Only the
 * reply waits: the data is already in the primary and the log. Off by default. */
#define BACKPRESSURE_START_PERMILLE 750

static uint64_t backpressure_delay_ns(struct server *srv)
{
	uint32_t max_ms = srv->cfg->log_backpressure_ms;
	if (!max_ms)
		return 0;
	unsigned u = replog_usage_permille(srv->log);
	if (u <= BACKPRESSURE_START_PERMILLE)
		return 0;
	return (uint64_t)max_ms * 1000000u * (u - BACKPRESSURE_START_PERMILLE) /
	       (1000 - BACKPRESSURE_START_PERMILLE);
}

bool server_backpressure_engaged(struct server *srv)
{
	return backpressure_delay_ns(srv) > 0;
}

static void hold_reply(struct server *srv, struct nbd_op *op, uint64_t delay_ns)
{
	op->due_ns = now_mono_ns() + delay_ns;
	struct nbd_op **pp = &srv->delayed_head;
	while (*pp && (*pp)->due_ns <= op->due_ns)
		pp = &(*pp)->next;
	op->next = *pp;
	*pp = op;
	srv->delayed_acks++;
}

int server_release_delayed(struct server *srv)
{
	uint64_t now = now_mono_ns();
	while (srv->delayed_head && srv->delayed_head->due_ns <= now) {
		struct nbd_op *op = srv->delayed_head;
		srv->delayed_head = op->next;
		op->next = NULL;
		conn_reply(op->conn, op);
	}
	if (!srv->delayed_head)
		return -1;
	return (int)((srv->delayed_head->due_ns - now) / 1000000u) + 1;
}

static void mark_done(struct replog_append *a, int res)
{
	struct nbd_op *op = a->opaque;
	if (res < 0)
		log_error("disk %s: recording %llu+%u as dirty in the replication log failed: %s; "
			  "the next point may hold data the primary lacks", op->disk->name,
			  (unsigned long long)op->req.offset, op->req.length, strerror(-res));
	op_part_done(op, 0);
}

/* A write-class op failed on the primary after its record was logged (the event where a
 * primary write fails). The record must not reach the replica: its extent is marked dirty
 * (the bits are set before this returns, and before the op settles, so no point reads the
 * record without them), and the next point re-reads it from the primary. */
static void primary_write_failed(struct nbd_op *op, int res)
{
	struct disk *d = op->disk;
	if (!op->la.seq)
		return;		/* overflowed: its extent is dirty already */
	log_warn("disk %s: %llu+%u marked dirty: the next point re-reads it from the primary "
		 "(its logged write failed there: %s)", d->name, (unsigned long long)op->req.offset,
		 op->req.length, strerror(-res));
	op->mark = (struct replog_append){
		.disk_id = d->disk_id,
		.type = REPLOG_MARK_DIRTY,
		.offset = op->req.offset,
		.length = op->req.length,
		.done = mark_done,
		.opaque = op,
	};
	op->parts++;
	replog_append(d->srv->log, &op->mark);
}

/* The write-class op is finished with the primary: let overlapping waiters go, reply. */
static void write_op_end(struct nbd_op *op, int res)
{
	struct server *srv = op->disk->srv;
	redo_untrack(op);
	replog_set_settled(srv->log, server_applied_seq(srv));
	if (op->overflowed) {
		atomic_fetch_sub(&srv->overflow_inflight[op->disk->domain_id], 1);
		op->overflowed = false;
	}
	active_remove(op->disk, op);
	if (op->disk->wait_head)
		wait_queue_kick(op->disk);
	uint64_t delay = res == 0 && !op->err ? backpressure_delay_ns(srv) : 0;
	if (delay && op->parts == 1 && !srv->stopping) {
		op->parts = 0;
		hold_reply(srv, op, delay);
		return;
	}
	op_part_done(op, res);
}

/* Larger primary reads and writes go to the kernel engine's workers instead of running
 * inline on the event loop: copying a MiB into or out of the page cache takes long enough
 * that the loop is better off receiving the next request meanwhile (the second core does
 * the copy). Large aligned writes skip the page cache altogether (queue_primary). */
#define PRIMARY_INLINE_MAX REPLOG_PAYLOAD_LARGE

static void writeback_done(struct io_req *io, int res)
{
	(void)res;	/* a hint: the next checkpoint's fdatasync reports real failures */
	free(io);
}

/* Start writing back what a large write just put into the primary's page cache, without
 * waiting for it. Otherwise it stays dirty until the next applied checkpoint, whose
 * fdatasync then writes two seconds of data at once: a burst that the log's writes queue
 * behind (1 MiB writes at QD8 stalled for 100-300 ms at each checkpoint). Streamed out as
 * it comes, the primary's writeback shares the disk with the log evenly. */
static void primary_writeback(struct nbd_op *op)
{
	struct io_req *io = malloc(sizeof *io);
	if (!io)
		return;
	*io = (struct io_req){
		.op = IO_OP_WRITEBACK,
		.fd = op->disk->fd,
		.offset = op->req.offset,
		.length = op->req.length,
		.done = writeback_done,
	};
	io_queue(op->disk->srv->eng, io);
}

static void primary_done(struct io_req *io, int res)
{
	struct nbd_op *op = io->opaque;
	struct disk *d = op->disk;
	if (res == -EINVAL && d->dfd >= 0 && io->fd == d->dfd) {
		/* the file system refused a direct write after all: redo it buffered, and
		 * write buffered from now on */
		if (d->use_direct)
			log_warn("disk %s: direct write refused (%s); writing through the page "
				 "cache", d->name, strerror(-res));
		d->use_direct = false;
		io->fd = d->fd;
		io_queue(d->srv->eng, io);
		return;
	}
	if (res < 0) {
		log_error("disk %s: primary %s at %llu+%u failed: %s", op->disk->name,
			  op->req.type == NBD_CMD_READ ? "read" : "write",
			  (unsigned long long)op->req.offset, op->req.length, strerror(-res));
		monitor_disk_error(op->disk, op->req.type == NBD_CMD_READ ? "read" : "write", res);
	}
	if (is_write_class(op)) {
		if (res < 0)
			primary_write_failed(op, res);
		else if (op->req.type == NBD_CMD_WRITE && op->req.length >= PRIMARY_INLINE_MAX &&
			 !(io->rw_flags & RWF_DSYNC) && io->fd != op->disk->dfd)
			primary_writeback(op);
		write_op_end(op, res < 0 ? res : 0);
	} else {
		op_part_done(op, res < 0 ? res : 0);
	}
}

static void flush_done(struct io_req *io, int res)
{
	struct nbd_op *op = io->opaque;
	struct server *srv = op->disk->srv;
	if (res < 0)
		log_error("disk %s: flush of %s failed: %s", op->disk->name,
			  io == &op->io ? "primary" : "replication log", strerror(-res));
	if (res < 0 && io == &op->io)
		monitor_disk_error(op->disk, "flush", res);
	/* a whole-server checkpoint needs every primary synced; one export's FLUSH is enough
	 * only when it is the only one */
	if (op->parts == 1 && !op->err && res >= 0 && srv->n_disks == 1 &&
	    op->flush_applied > srv->redo_persisted) {
		if (replog_set_applied(srv->log, op->flush_applied) == 0)
			srv->redo_persisted = op->flush_applied;
	}
	op_part_done(op, res);
}

/* A large WRITE whose range is block aligned goes to the primary with O_DIRECT, from its
 * payload moved onto a 4 KiB boundary (the log, done with it, wanted it 64 bytes past
 * one): copying it into the page cache and writing it back cost more CPU than everything
 * else the write does (1 MiB writes ran at 0.38x the disk's rate, a kernel worker busy
 * copying). The kernel writes back and drops any cached pages of the range first, so
 * buffered reads and smaller buffered writes of the same range stay coherent; an
 * overlapping write never runs at the same time (op_dispatch). */
static void *direct_payload(struct nbd_op *op, enum io_op kind)
{
	const struct disk *d = op->disk;
	if (kind != IO_OP_WRITE || !d->use_direct || op->req.length < PRIMARY_INLINE_MAX ||
	    op->req.offset % PRIMARY_DIRECT_ALIGN || op->req.length % PRIMARY_DIRECT_ALIGN)
		return NULL;
	return replog_payload_realign(op->buf, op->req.length);
}

static void queue_primary(struct nbd_op *op, enum io_op kind, int rw_flags)
{
	struct server *srv = op->disk->srv;
	void *direct = direct_payload(op, kind);
	op->iov.iov_base = direct ? direct : op->buf;
	op->iov.iov_len = op->req.length;
	op->io = (struct io_req){
		.op = kind,
		.fd = direct ? op->disk->dfd : op->disk->fd,
		.iov = &op->iov,
		.iovcnt = 1,
		.offset = op->req.offset,
		.rw_flags = rw_flags,
		.may_inline = !op->disk->is_blockdev && op->req.length < PRIMARY_INLINE_MAX,
		.done = kind == IO_OP_FDATASYNC && op->req.type == NBD_CMD_FLUSH ? flush_done
										: primary_done,
		.opaque = op,
	};
	io_queue(srv->eng, &op->io);
}

/* Zero a range of the primary. Holes where allowed (TRIM, WRITE_ZEROES without NO_HOLE),
 * allocated zeroes otherwise; falls back to writing zero buffers where fallocate cannot,
 * unless fast (FAST_ZERO): then -EOPNOTSUPP, and the disk is known to zero slowly. */
int disk_zero_range(struct disk *d, uint64_t off, uint64_t len, bool may_punch, bool fast)
{
	int mode = may_punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			     : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(d->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOTSUP && errno != EINVAL)
		return -errno;
	if (may_punch && fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				   (off_t)len) == 0)
		return 0;
	d->zero_slow = true;
	if (fast)
		return -EOPNOTSUPP;
	static const uint8_t zeroes[65536];
	while (len) {
		size_t n = (size_t)MIN(len, sizeof zeroes);
		int r = pwrite_full(d->fd, zeroes, n, off);
		if (r < 0)
			return r;
		off += n, len -= n;
	}
	return 0;
}

/* The record is in the log (or the extent is marked dirty): now the primary. Write-ahead
 * order means the primary never holds data the log lacks, and the redo after a crash
 * brings the primary up to the log. */
static void log_done(struct replog_append *a, int res)
{
	struct nbd_op *op = a->opaque;
	struct disk *d = op->disk;
	bool fua = (op->req.flags & NBD_CMD_FLAG_FUA) != 0;

	if (res < 0) {
		log_error("disk %s: replication log append at %llu+%u failed: %s; write refused",
			  d->name, (unsigned long long)op->req.offset, op->req.length,
			  strerror(-res));
		write_op_end(op, -EIO);
		return;
	}
	if (op->req.type == NBD_CMD_WRITE) {
		queue_primary(op, IO_OP_WRITE, fua ? RWF_DSYNC : 0);
		return;
	}
	bool trim = op->req.type == NBD_CMD_TRIM;
	int r = disk_zero_range(d, op->req.offset, op->req.length,
				trim || !(op->req.flags & NBD_CMD_FLAG_NO_HOLE),
				(op->req.flags & NBD_CMD_FLAG_FAST_ZERO) != 0);
	if (r < 0) {
		log_error("disk %s: zeroing %llu+%u failed: %s", d->name,
			  (unsigned long long)op->req.offset, op->req.length, strerror(-r));
		monitor_disk_error(d, "zeroing", r);
		primary_write_failed(op, r);
		write_op_end(op, r);
		return;
	}
	if (fua)
		queue_primary(op, IO_OP_FDATASYNC, 0);
	else
		write_op_end(op, 0);
}

static void queue_log(struct nbd_op *op, uint16_t type, const void *payload)
{
	op->la = (struct replog_append){
		.disk_id = op->disk->disk_id,
		.type = type,
		.fua = (op->req.flags & NBD_CMD_FLAG_FUA) != 0,
		.offset = op->req.offset,
		.length = op->req.length,
		.payload = payload,
		.done = log_done,
		.opaque = op,
	};
	replog_append(op->disk->srv->log, &op->la);
}

/* ---- dispatch ---- */

static void op_start(struct nbd_op *op)
{
	struct disk *d = op->disk;

	switch (op->req.type) {
	case NBD_CMD_WRITE:
		d->st.writes++;
		d->st.bytes_written += op->req.length;
		break;
	case NBD_CMD_WRITE_ZEROES:
		d->st.zeroes++;
		break;
	case NBD_CMD_TRIM:
		d->st.trims++;
		break;
	default:
		abort();
	}
	op->parts = 1;
	op->next = d->active;
	d->active = op;
	queue_log(op, op->req.type == NBD_CMD_WRITE ? REPLOG_REC_WRITE : REPLOG_REC_ZERO,
		  op->req.type == NBD_CMD_WRITE ? op->buf : NULL);
	if (!op->la.seq) {	/* overflow: tracked in the dirty bitmap, not logged */
		op->overflowed = true;
		atomic_fetch_add(&d->srv->overflow_inflight[d->domain_id], 1);
	}
	redo_track(op);
}

void op_dispatch(struct nbd_op *op)
{
	struct disk *d = op->disk;

	switch (op->req.type) {
	case NBD_CMD_READ:
		d->st.reads++;
		d->st.bytes_read += op->req.length;
		if (op->req.length == 0) {
			op->parts = 1;
			op_part_done(op, 0);
			return;
		}
		op->parts = 1;
		queue_primary(op, IO_OP_READ, 0);
		return;
	case NBD_CMD_FLUSH:
		d->st.flushes++;
		op->flush_applied = server_applied_seq(d->srv);
		op->parts = 2;
		queue_primary(op, IO_OP_FDATASYNC, 0);
		op->io2 = (struct io_req){
			.op = IO_OP_FDATASYNC,
			.fd = replog_fd(d->srv->log),
			.done = flush_done,
			.opaque = op,
		};
		io_queue(d->srv->eng, &op->io2);
		return;
	case NBD_CMD_CACHE:
		disk_cache(op);
		op->parts = 1;
		op_part_done(op, 0);
		return;
	case NBD_CMD_BLOCK_STATUS:
		op->parts = 1;
		op_part_done(op, disk_block_status(op));
		return;
	case NBD_CMD_WRITE_ZEROES:
		if ((op->req.flags & NBD_CMD_FLAG_FAST_ZERO) &&
		    !disk_zero_is_fast(d, !(op->req.flags & NBD_CMD_FLAG_NO_HOLE))) {
			op->err = -EOPNOTSUPP;	/* refused before logging: nothing changed */
			op->parts = 1;
			op_part_done(op, 0);
			return;
		}
		/* fall through */
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
		if (op->req.length == 0) {
			op->parts = 1;
			op_part_done(op, 0);
			return;
		}
		if (overlaps_list(op, d->active, NULL) || overlaps_list(op, d->wait_head, NULL)) {
			op->next = NULL;
			if (d->wait_tail)
				d->wait_tail->next = op;
			else
				d->wait_head = op;
			d->wait_tail = op;
			return;
		}
		op_start(op);
		return;
	default:
		op->err = -EINVAL;
		op->parts = 1;
		op_part_done(op, 0);
		return;
	}
}
