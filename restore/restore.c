/* restore_disk: one disk at one point into one output (contract in restore.h, the flow in
 * restore-internal.h).
 *
 * Why it works this way:
 * - The chunks come from repo_restore_pipe (parallel coalesced ranged GETs, every chunk
 *   checked against its id, a few 4 MiB windows in memory at most), in disk order, so
 *   the ordered VMDK writers can take them and "everything below offset X is written" is
 *   true at each window's end: after a flush and fdatasync it is a durable statement, the
 *   resume checkpoint, made after the first window and then at most once a second
 *   (FERRY_RESTORE_CKPT_MS), and when the caller stops the restore.
 * - Progress is reported at every window; the caller decides how often to show it.
 * - A failed or cancelled restore keeps its partial output for --resume only when a
 *   checkpoint describes it and the failure is not the data's (a corrupt or missing chunk
 *   would fail again the same way): otherwise nothing is left behind.
 * Tests shrink the windows and checkpoint at every window with FERRY_RESTORE_WINDOW_KB and
 * FERRY_RESTORE_CKPT_MS (so that a kill -9 lands between checkpoints). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "repo/restore-pipe.h"
#include "restore/restore-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

#define CKPT_EVERY_NS 1000000000ull

static const char *const format_names[] = {
	[RESTORE_RAW] = "raw",
	[RESTORE_VMDK] = "vmdk",
	[RESTORE_VMDK_FLAT] = "vmdk-flat",
	[RESTORE_VMDK_STREAM] = "vmdk-stream",
};

int restore_format_parse(const char *s, enum restore_format *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(format_names); i++)
		if (!strcmp(s, format_names[i])) {
			*f = (enum restore_format)i;
			return 0;
		}
	return -EINVAL;
}

const char *restore_format_name(enum restore_format f)
{
	return (size_t)f < ARRAY_SIZE(format_names) ? format_names[f] : "?";
}

char *restore_flat_extent_path(const char *desc_path)
{
	return vmdk_flat_extent_path(desc_path);
}

void rout_notice(const struct rout *o, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!o->q->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->q->notice(o->q->progress_arg, msg);
}

void rout_meta(const struct rout *o, struct vmdk_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->capacity = o->size;
	m->extra = o->q->extra;
	m->n_extra = o->q->n_extra;
	m->level = o->q->level;
}

/* ---- which points are restored ---- */

static void point_id(const struct point_info *p, char *out, size_t n)
{
	snprintf(out, n, "%" PRIu32 ".%" PRIu64, p->epoch, p->seq);
}

/* -EPERM with the nearest consistent points (before and after p) named in err. */
static int refuse_inconsistent(const struct restore_req *q, char *err, size_t errlen)
{
	struct point_info *v = NULL;
	size_t n = 0, at = 0;
	char id[48], before[48] = "", after[48] = "", near[128] = "";
	point_id(q->p, id, sizeof(id));
	if (repo_list_points(q->r, q->p->domain, &v, &n) == 0) {
		while (at < n && (v[at].epoch != q->p->epoch || v[at].seq != q->p->seq))
			at++;
		for (size_t i = at; i-- > 0 && !before[0];)
			if (v[i].flags & POINT_CONSISTENT)
				point_id(&v[i], before, sizeof(before));
		for (size_t i = at + 1; i < n && !after[0]; i++)
			if (v[i].flags & POINT_CONSISTENT)
				point_id(&v[i], after, sizeof(after));
	}
	free(v);
	if (before[0] && after[0])
		snprintf(near, sizeof(near), "%s (before it) and %s (after it)", before, after);
	else if (before[0] || after[0])
		snprintf(near, sizeof(near), "%s (%s it)", before[0] ? before : after,
			 before[0] ? "before" : "after");
	if (!near[0])
		return err_set(err, errlen, -EPERM, "point %s of domain %s is not consistent "
			       "(a seed or resync point: its disks may be torn) and the domain "
			       "has no consistent point; --allow-inconsistent restores it anyway",
			       id, q->p->domain);
	return err_set(err, errlen, -EPERM, "point %s of domain %s is not consistent (a "
		       "seed or resync point: its disks may be torn); the nearest consistent "
		       "point%s: %s; --allow-inconsistent restores it anyway", id,
		       q->p->domain, before[0] && after[0] ? "s are" : " is", near);
}

/* ---- one run ---- */

struct run {
	struct rout o;
	uint64_t ckpt_ns, ckpt_every_ns;
	uint64_t resumed;	/* data bytes the earlier run wrote */
	uint64_t written;	/* data bytes this run handed to the output */
};

/* Make everything below upto durable and say so in the checkpoint file. */
static int checkpoint(struct run *u, uint64_t upto)
{
	struct vmdk_ckpt c;
	int rc = u->o.ops->sync(&u->o, upto, &c);
	if (rc == 0 && c.off && (rc = ckpt_write(&u->o, &c)) == 0)
		u->o.ckpt_written = true;
	return rc;
}

static int window_done(void *arg, uint64_t upto, uint64_t done, uint64_t total)
{
	struct run *u = arg;
	const struct restore_req *q = u->o.q;
	int rc = 0;
	uint64_t now = now_mono_ns();
	u->written = done;
	bool stop = q->progress && q->progress(q->progress_arg, u->resumed + done,
					       u->resumed + total);
	/* a checkpoint when one is due (the first after the first window), and when stopped,
	 * so that a resume loses nothing written so far */
	if (u->o.ops->sync && upto < u->o.size && (stop || now - u->ckpt_ns >= u->ckpt_every_ns)) {
		if ((rc = checkpoint(u, upto)) < 0)
			return rc;
		u->ckpt_ns = now;
	} else if (u->o.ops->window && (rc = u->o.ops->window(&u->o)) < 0) {
		return rc;
	}
	return stop ? -ECANCELED : 0;
}

static const char *kind_of(mode_t m)
{
	return S_ISCHR(m) ? "a character device" : S_ISDIR(m) ? "a directory" :
	       S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* The output for q->path: a regular file (new or existing) or a block device; anything
 * else is refused (-EINVAL). */
static int pick_output(const struct restore_req *q, const struct out_ops **ops, char *err,
		       size_t errlen)
{
	struct stat st;
	if ((unsigned)q->fmt > RESTORE_VMDK_STREAM)
		return err_set(err, errlen, -EINVAL, "bad format");
	bool exists = stat(q->path, &st) == 0;
	if (!exists && errno != ENOENT)
		return err_set(err, errlen, -errno, "%s: %s", q->path, strerror(errno));
	if (exists && S_ISBLK(st.st_mode)) {
		if (q->fmt != RESTORE_RAW)
			return err_set(err, errlen, -EINVAL, "%s is a block device: only "
				       "--format raw is restored onto a device", q->path);
		if (q->resume)
			return err_set(err, errlen, -EINVAL, "%s is a block device: a restore "
				       "onto a device cannot be resumed, only started again",
				       q->path);
		*ops = &out_bdev_ops;
		return 0;
	}
	if (exists && !S_ISREG(st.st_mode))
		return err_set(err, errlen, -EINVAL, "%s is %s: restore writes a regular "
			       "file or a block device", q->path, kind_of(st.st_mode));
	if (!q->force) {
		CLEANUP_FREE char *ext = q->fmt == RESTORE_VMDK_FLAT ?
					 vmdk_flat_extent_path(q->path) : NULL;
		const char *there = exists ? q->path : ext && access(ext, F_OK) == 0 ? ext : NULL;
		if (there)
			return err_set(err, errlen, -EEXIST, "%s exists: not replacing it "
				       "(--force replaces it)", there);
	}
	*ops = q->fmt == RESTORE_RAW || q->fmt == RESTORE_VMDK_FLAT ? &out_file_ops :
								      &out_vmdk_ops;
	return 0;
}

/* Open the output and run the pipeline through it. */
static int run_pipe(struct run *u, struct map_iter *m, uint64_t *start, uint64_t *total,
		    char *err, size_t errlen)
{
	const struct restore_req *q = u->o.q;
	const struct out_ops *ops = u->o.ops;
	struct restore_pipe_opts po = { .threads = q->threads, .window_done = window_done,
					.sink = ops->sink, .drain = ops->drain, .arg = u };
	const char *env = getenv("FERRY_RESTORE_WINDOW_KB");
	if (env)
		po.window_bytes = (size_t)strtoul(env, NULL, 10) << 10;
	if (q->fmt == RESTORE_VMDK_STREAM && q->level == 1 && ops->sink_z) {	/* stored igzip grains */
		po.sink_z = ops->sink_z;
		po.z_chunk = VMDK_GRAIN_SIZE;
	}
	int rc = ops->open(&u->o, start, err, errlen);
	if (rc < 0) {
		if (!err[0])
			err_set(err, errlen, rc, "%s: %s", u->o.final_path ? u->o.final_path :
				q->path, strerror(-rc));
		return rc;
	}
	if (*start)
		rout_notice(&u->o, "resuming %s at offset %" PRIu64, u->o.final_path, *start);
	po.start = *start;
	/* the map is read a region at a time (format 2): its totals cost a pass over it */
	uint64_t rest;
	if ((rc = map_iter_data_bytes(m, *start, total, &rest, err, errlen)) < 0)
		return rc;
	u->resumed = *total - rest;
	u->ckpt_ns = 0;		/* the first checkpoint comes with the first window */
	rc = repo_restore_pipe_iter(q->r, m, rest, &po, err, errlen);
	if (rc > 0)
		rc = -EIO;
	if (rc < 0 && !err[0])
		err_set(err, errlen, rc, "disk %s: %s", q->disk, rc == -ECANCELED ?
			"cancelled" : strerror(-rc));
	return rc;
}

int restore_disk(const struct restore_req *q, struct restore_result *res, char *err,
		 size_t errlen)
{
	struct map_iter *m = NULL;
	struct run u = { .o = { .q = q, .fd = -1 } };
	uint64_t start = 0, total = 0;

	memset(res, 0, sizeof(*res));
	if (errlen)
		err[0] = '\0';
	if (!(q->p->flags & POINT_CONSISTENT) && !q->allow_inconsistent)
		return refuse_inconsistent(q, err, errlen);
	int rc = pick_output(q, &u.o.ops, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = map_iter_open(q->r, q->p, q->disk, &m, err, errlen)) < 0)
		return rc;
	u.o.map = m;
	res->disk_size = map_iter_size(m);
	res->block_device = u.o.ops == &out_bdev_ops;
	/* VMDK capacities are whole sectors; a disk of another size reads zeroes past its end */
	u.o.size = q->fmt == RESTORE_RAW ? res->disk_size :
					   ROUND_UP(res->disk_size, (uint64_t)VMDK_SECTOR);
	const char *env = getenv("FERRY_RESTORE_CKPT_MS");
	u.ckpt_every_ns = env ? strtoull(env, NULL, 10) * 1000000ull : CKPT_EVERY_NS;

	rc = run_pipe(&u, m, &start, &total, err, errlen);
	if (rc == 0) {
		rc = u.o.ops->finish(&u.o, err, errlen);
		if (rc == 0 && q->progress)
			q->progress(q->progress_arg, total, total);
	}
	res->resumed_at = start;
	res->bytes_written = u.written;
	res->device_size = u.o.device_size;
	/* keep a half-done output for --resume, unless its data is what is wrong */
	res->resumable = rc < 0 && u.o.ckpt_written && rc != -EBADMSG && rc != -ENOENT;
	if (res->resumable)
		snprintf(res->part_path, sizeof(res->part_path), "%s", u.o.part);
	u.o.ops->release(&u.o, res->resumable || rc == 0);
	free(u.o.final_path);
	free(u.o.part);
	free(u.o.state);
	map_iter_free(m);
	return rc;
}
