/* ferryctl restore: one disk at one point into raw or VMDK (contract in ctl-restore.h).
 *
 * Why it works this way:
 * - The chunks come from repo_restore_pipe (parallel coalesced ranged GETs, every chunk
 *   checked against its id, a few 4 MiB windows in memory at most), in disk order.
 * - raw and vmdk-flat are random-access files: the sink queues io_uring writes straight
 *   from the window buffer and flushes them at each window's end; zero ranges are never
 *   written (the file is sparse). Because windows complete in disk order, "everything
 *   below offset X is written" is a true statement after a flush, and after fdatasync it
 *   is a durable one: that is the resume checkpoint, written at most once a second.
 * - vmdk and vmdk-stream go through image/'s ordered writers (grain tables, compressed
 *   grains in order). Their checkpoint is the writer's own (vmdk_writer_checkpoint: the
 *   offset below which the image is complete and durable, and where its grains end), and
 *   --resume reopens PATH.part there, dropping whatever a killed run wrote after it.
 * - Progress goes to stderr only: a redrawn line on a terminal, JSON lines with --json.
 * Tests shrink the windows and checkpoint at every window with FERRY_RESTORE_WINDOW_KB
 * and FERRY_RESTORE_CKPT_MS (so that a kill -9 lands between checkpoints). */
#include "mgmt/ctl-restore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic-file.h"
#include "common/batch-write.h"
#include "common/util.h"
#include "mgmt/ctl-args.h"
#include "repo/restore-pipe.h"
#include "common/banned.h"

#define CKPT_EVERY_NS 1000000000ull
#define PROGRESS_EVERY_NS 500000000ull

static const char *const format_names[] = { "raw", "vmdk", "vmdk-flat", "vmdk-stream" };

int out_format_parse(const char *s, enum out_format *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(format_names); i++)
		if (!strcmp(s, format_names[i])) {
			*f = (enum out_format)i;
			return 0;
		}
	return -EINVAL;
}

char *flat_extent_path(const char *desc_path)
{
	return vmdk_flat_extent_path(desc_path);
}

/* ---- progress ---- */

struct progress {
	enum progress_mode mode;
	const char *disk;
	uint64_t t0, last;
	bool drawn;
};

static void human(uint64_t b, char *out, size_t n)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t i = 0;
	while (v >= 1024 && i + 1 < ARRAY_SIZE(u)) {
		v /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void progress_show(struct progress *pg, uint64_t done, uint64_t total, bool final)
{
	uint64_t now = now_mono_ns();
	if (pg->mode == PROGRESS_NONE || (!final && now - pg->last < PROGRESS_EVERY_NS))
		return;
	pg->last = now;
	double secs = (double)(now - pg->t0) / 1e9;
	double rate = secs > 0 ? (double)done / secs : 0;
	double eta = rate > 0 ? (double)(total - done) / rate : -1;
	if (pg->mode == PROGRESS_JSON) {
		fprintf(stderr, "{\"event\":\"progress\",\"disk\":\"%s\",\"done_bytes\":%" PRIu64
			",\"total_bytes\":%" PRIu64 ",\"rate_bps\":%.0f,\"eta_s\":%.1f,"
			"\"final\":%s}\n", pg->disk, done, total, rate, eta < 0 ? 0 : eta,
			final ? "true" : "false");
		return;
	}
	char a[32], b[32];
	human(done, a, sizeof(a));
	human(total, b, sizeof(b));
	fprintf(stderr, "\rrestoring %s: %s of %s (%.0f%%), %.1f MB/s, ETA %.0f s   ", pg->disk,
		a, b, total ? 100.0 * (double)done / (double)total : 100.0, rate / 1e6,
		eta < 0 ? 0 : eta);
	pg->drawn = true;
	if (final)
		fputc('\n', stderr);
}

/* ---- the resume checkpoint ---- */

struct out {
	const struct restore_req *q;
	char *final_path;	/* raw: PATH; flat: the extent */
	char *part, *state;
	int fd;
	struct batch_writer *bw;
	struct vmdk_writer *vw;
	uint64_t size;		/* bytes of the output's data area */
	uint64_t ckpt_ns, ckpt_every_ns;
	bool ckpt_written;
	struct progress pg;
	uint64_t resumed;	/* bytes already there when resuming */
};

/* done: every byte of the disk below it is durable in the output; next: the VMDK writer's
 * end of grains (vmdk, vmdk-stream; 0 otherwise). */
static int state_text(const struct out *o, const struct vmdk_ckpt *c, char *buf, size_t n)
{
	const struct point_info *p = o->q->p;
	return snprintf(buf, n, "ferry-restore-state 2\npoint %" PRIu32 ".%" PRIu64
			"\ndomain %s\ndisk %s\nformat %s\nsize %" PRIu64 "\ndone %" PRIu64
			" next %" PRIu64 "\n", p->epoch, p->seq, o->q->domain, o->q->disk,
			format_names[o->q->fmt], o->size, c->off, c->next);
}

static int write_state(struct out *o, const struct vmdk_ckpt *c)
{
	char buf[512], tmp[PATH_MAX];
	int n = state_text(o, c, buf, sizeof(buf));
	snprintf(tmp, sizeof(tmp), "%s.tmp", o->state);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = write_full(fd, buf, (size_t)n);
	close(fd);
	if (rc == 0 && rename(tmp, o->state) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* The checkpoint of this very restore (same point, disk, format and size) in c: 0, or
 * -ENOENT if there is none (c is then all zero). */
static int read_state(const struct out *o, struct vmdk_ckpt *c)
{
	char want[512], have[512];
	*c = (struct vmdk_ckpt){ 0, 0 };
	int fd = open(o->state, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	ssize_t n = read(fd, have, sizeof(have) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	have[n] = '\0';
	state_text(o, c, want, sizeof(want));
	size_t fixed = strlen(want) - strlen("0 next 0\n");	/* all but the two numbers */
	unsigned long long done, next;
	int used = 0;
	if (strncmp(want, have, fixed) ||
	    sscanf(have + fixed, "%llu next %llu\n%n", &done, &next, &used) != 2 ||
	    have[fixed + (size_t)used] || done > o->size || !done)
		return -ENOENT;
	*c = (struct vmdk_ckpt){ done, next };
	return 0;
}

/* PATH.part and PATH.part.resume; *c: the checkpoint to resume from, if --resume is given
 * and the files are there (else all zero, and an old checkpoint file is removed). */
static int find_checkpoint(struct out *o, const char *final_path, struct vmdk_ckpt *c)
{
	size_t n = strlen(final_path) + sizeof(".part.resume");
	o->part = malloc(n);
	o->state = malloc(n);
	if (!o->part || !o->state)
		return -ENOMEM;
	snprintf(o->part, n, "%s.part", final_path);
	snprintf(o->state, n, "%s.part.resume", final_path);
	*c = (struct vmdk_ckpt){ 0, 0 };
	bool had_part = access(o->part, F_OK) == 0;
	if (o->q->resume && had_part && read_state(o, c) < 0)
		fprintf(stderr, "ferryctl restore: nothing to resume for %s: starting over\n",
			final_path);
	if (!c->off)
		unlink(o->state);
	return 0;
}

/* ---- sinks ---- */

static int sink_file(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct out *o = arg;
	return bw_write(o->bw, buf, len, off);
}

static int sink_vmdk(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct out *o = arg;
	return vmdk_writer_write(o->vw, off, buf, len);
}

static int drain(void *arg)
{
	struct out *o = arg;
	return bw_flush(o->bw);
}

/* a whole grain the repository holds in zlib form: stored as is, not compressed again */
static int sink_vmdk_z(void *arg, uint64_t off, const void *buf, size_t len, const void *z,
		       size_t zlen)
{
	struct out *o = arg;
	return vmdk_writer_write_zgrain(o->vw, off, buf, len, z, zlen);
}

/* Make everything below upto durable (the VMDK writers: what they have emitted) and say
 * so in the checkpoint file. */
static int checkpoint(struct out *o, uint64_t upto)
{
	struct vmdk_ckpt c = { upto, 0 };
	int rc;
	if (o->vw)
		rc = vmdk_writer_checkpoint(o->vw, &c);
	else if ((rc = bw_flush(o->bw)) == 0 && fdatasync(o->fd) < 0)
		rc = -errno;
	if (rc == 0 && c.off && (rc = write_state(o, &c)) == 0)
		o->ckpt_written = true;
	return rc;
}

static int window_done(void *arg, uint64_t upto, uint64_t done, uint64_t total)
{
	struct out *o = arg;
	int rc = 0;
	uint64_t now = now_mono_ns();
	if (now - o->ckpt_ns >= o->ckpt_every_ns && upto < o->size) {
		if ((rc = checkpoint(o, upto)) < 0)
			return rc;
		o->ckpt_ns = now;
	} else if (o->bw && (rc = bw_submit(o->bw)) < 0) {
		/* the window's writes run on while the next windows are decoded, except at a
		 * checkpoint, which must only claim what is written */
		return rc;
	}
	progress_show(&o->pg, o->resumed + done, o->resumed + total, false);
	return 0;
}

/* ---- the formats ---- */

static int open_file_out(struct out *o, const char *final_path, uint64_t size, uint64_t *start)
{
	struct vmdk_ckpt c;
	o->size = size;
	if (!(o->final_path = strdup(final_path)))
		return -ENOMEM;
	int rc = find_checkpoint(o, final_path, &c);
	if (rc < 0)
		return rc;
	*start = c.off;
	o->fd = open(o->part, O_RDWR | O_CREAT | O_CLOEXEC | (*start ? 0 : O_TRUNC), 0644);
	if (o->fd < 0)
		return -errno;
	if (ftruncate(o->fd, (off_t)size) < 0)
		return -errno;
	rc = bw_open(o->fd, 64, &o->bw);
	if (rc == 0)
		bw_use_direct(o->bw, o->part);
	return rc;
}

static int finish_file_out(struct out *o)
{
	int rc = bw_flush(o->bw);
	if (rc == 0 && fsync(o->fd) < 0)
		rc = -errno;
	if (close(o->fd) < 0 && rc == 0)
		rc = -errno;
	o->fd = -1;
	if (rc == 0 && rename(o->part, o->final_path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_parent_dir(o->final_path);
	if (rc == 0)
		unlink(o->state);
	return rc;
}

static void meta_for(const struct restore_req *q, struct vmdk_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->extra = q->extra;
	m->n_extra = q->n_extra;
}

/* vmdk, vmdk-stream: a new writer, or the interrupted one reopened at its checkpoint. */
static int open_vmdk_out(struct out *o, uint64_t cap, uint64_t *start, char *err,
			 size_t errlen)
{
	const struct restore_req *q = o->q;
	enum vmdk_format f = q->fmt == OUT_VMDK ? VMDK_SPARSE : VMDK_STREAM;
	struct vmdk_meta vm;
	struct vmdk_ckpt c;
	meta_for(q, &vm);
	vm.capacity = cap;
	vm.level = q->level;
	o->size = cap;
	if (!(o->final_path = strdup(q->path)))
		return -ENOMEM;
	int rc = find_checkpoint(o, q->path, &c);
	if (rc < 0)
		return rc;
	if (c.off && vmdk_writer_resume(q->path, f, &vm, &c, &o->vw, err, errlen) == 0) {
		*start = c.off;
		return 0;
	}
	if (c.off) {
		fprintf(stderr, "ferryctl restore: cannot resume %s (%s): starting over\n",
			o->part, err);
		err[0] = '\0';
		unlink(o->state);
	}
	*start = 0;
	return vmdk_writer_open(q->path, f, &vm, &o->vw, err, errlen);
}

/* The descriptor of a monolithicFlat image whose extent is complete. */
static int write_flat_descriptor(const struct restore_req *q, uint64_t capacity, char *err,
				 size_t errlen)
{
	struct vmdk_meta m;
	meta_for(q, &m);
	m.capacity = capacity;
	return vmdk_flat_write_desc(q->path, &m, err, errlen);
}

static void out_release(struct out *o, bool keep_partial)
{
	if (o->fd >= 0)
		close(o->fd);
	bw_close(o->bw);
	if (o->vw && keep_partial)
		vmdk_writer_suspend(o->vw);
	else if (o->vw)
		vmdk_writer_abort(o->vw);
	if (o->part && !keep_partial) {
		unlink(o->part);
		unlink(o->state);
	}
	free(o->final_path);
	free(o->part);
	free(o->state);
}

int restore_disk(const struct restore_req *q, char *err, size_t errlen)
{
	struct disk_map *m = NULL;
	struct out o = { .q = q, .fd = -1 };
	uint64_t start = 0;
	char *extent = NULL;
	int rc = repo_disk_map(q->r, q->p, q->disk, &m, err, errlen);
	if (rc < 0)
		return rc;
	/* VMDK capacities are whole sectors; a disk of another size reads zeroes past its end */
	uint64_t cap = q->fmt == OUT_RAW ? m->size : (m->size + VMDK_SECTOR - 1) / VMDK_SECTOR *
								VMDK_SECTOR;
	struct restore_pipe_opts po = { .threads = q->threads, .window_done = window_done,
					.arg = &o };
	const char *env = getenv("FERRY_RESTORE_WINDOW_KB");
	if (env)
		po.window_bytes = (size_t)strtoul(env, NULL, 10) << 10;
	env = getenv("FERRY_RESTORE_CKPT_MS");
	o.ckpt_every_ns = env ? strtoull(env, NULL, 10) * 1000000ull : CKPT_EVERY_NS;
	o.pg = (struct progress){ q->progress, q->disk, now_mono_ns(), 0, false };

	switch (q->fmt) {
	case OUT_RAW:
		rc = open_file_out(&o, q->path, cap, &start);
		po.sink = sink_file;
		break;
	case OUT_FLAT:
		if (!(extent = flat_extent_path(q->path))) {
			rc = -ENOMEM;
			break;
		}
		rc = open_file_out(&o, extent, cap, &start);
		po.sink = sink_file;
		break;
	case OUT_VMDK:
	case OUT_STREAM:
		rc = open_vmdk_out(&o, cap, &start, err, errlen);
		po.sink = sink_vmdk;
		if (q->fmt == OUT_STREAM && q->level <= 1) {
			po.sink_z = sink_vmdk_z;
			po.z_chunk = VMDK_GRAIN_SIZE;
		}
		break;
	}
	if (rc < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", extent ? extent : q->path, strerror(-rc));
		goto out;
	}
	if (start)
		fprintf(stderr, "ferryctl restore: resuming %s at offset %" PRIu64 "\n",
			o.final_path, start);
	po.start = start;
	if (o.bw)
		po.drain = drain;
	o.resumed = disk_map_data_bytes(m, 0) - disk_map_data_bytes(m, start);
	o.ckpt_ns = now_mono_ns();
	rc = repo_restore_pipe(q->r, m, &po, err, errlen);
	if (rc > 0)
		rc = -EIO;
	if (rc == 0) {
		uint64_t total = disk_map_data_bytes(m, 0);
		if (o.vw) {
			struct vmdk_writer *vw = o.vw;
			o.vw = NULL;
			if ((rc = vmdk_writer_finish(vw, err, errlen)) == 0)
				unlink(o.state);
		} else {
			rc = finish_file_out(&o);
			if (rc < 0)
				snprintf(err, errlen, "%s: %s", o.final_path, strerror(-rc));
			if (rc == 0 && q->fmt == OUT_FLAT)
				rc = write_flat_descriptor(q, cap, err, errlen);
		}
		if (rc == 0)
			progress_show(&o.pg, total, total, true);
	} else if (!err[0]) {
		snprintf(err, errlen, "disk %s: %s", q->disk, strerror(-rc));
	}
out:
	if (o.pg.drawn && rc < 0)
		fputc('\n', stderr);
	/* keep a half-done output for --resume, unless its data is what is wrong */
	bool keep = rc < 0 && o.ckpt_written && rc != -EBADMSG && rc != -ENOENT;
	if (keep)
		fprintf(stderr, "ferryctl restore: the partial output is kept in %s; run again "
			"with --resume to continue\n", o.part);
	out_release(&o, keep || rc == 0);
	free(extent);
	disk_map_free(m);
	return rc;
}

/* ---- the command ---- */

int ctl_restore_main(int argc, char **argv)
{
	struct args a = { .usage = "restore --store URL --key-file PATH (or -c FILE) --domain D "
			  "--disk X [--point latest|EPOCH.SEQ|SEQ|YYYY-MM-DDTHH:MM:SSZ] "
			  "[--format raw|vmdk|vmdk-flat|vmdk-stream [--level 1|2|3]] [--resume] [--json] "
			  "-o PATH" };
	struct repo *r = NULL;
	char err[1024] = "";
	enum out_format fmt = OUT_RAW;
	int rc = ctl_parse(argc, argv, OPT_STORE | OPT_KEY | OPT_CONF | OPT_DOMAIN | OPT_DISK |
			   OPT_POINT | OPT_FORMAT | OPT_OUT | OPT_RESUME | OPT_JSON | OPT_LEVEL,
			   OPT_DOMAIN | OPT_DISK | OPT_OUT, &a);
	if (rc)
		goto out;
	if (a.format && out_format_parse(a.format, &fmt) < 0) {
		rc = ctl_usage(&a, "bad --format (raw, vmdk, vmdk-flat or vmdk-stream)");
		goto out;
	}
	int level = 0;
	if (a.level && (fmt != OUT_STREAM || strlen(a.level) != 1 || a.level[0] < '1' ||
			a.level[0] > '3')) {
		rc = ctl_usage(&a, "--level is 1, 2 or 3, for --format vmdk-stream");
		goto out;
	}
	if (a.level)
		level = a.level[0] - '0';
	if ((rc = ctl_open_repo(&a, &r)))
		goto out;
	struct point_info p;
	int e = repo_resolve_point(r, a.domain, a.point ? a.point : "latest", &p, err, sizeof(err));
	if (e == 0) {
		char id[48];
		snprintf(id, sizeof(id), "%" PRIu32 ".%" PRIu64, p.epoch, p.seq);
		struct vmdk_kv kv[] = { { "ddb.ferry.domain", a.domain },
					{ "ddb.ferry.disk", a.disk }, { "ddb.ferry.point", id } };
		struct restore_req q = {
			.r = r, .p = &p, .domain = a.domain, .disk = a.disk, .path = a.out,
			.fmt = fmt, .resume = a.resume, .extra = kv, .n_extra = ARRAY_SIZE(kv),
			.level = level,
			.progress = a.json ? PROGRESS_JSON : isatty(2) ? PROGRESS_TTY :
									 PROGRESS_NONE,
		};
		e = restore_disk(&q, err, sizeof(err));
	}
	if (e < 0) {
		fprintf(stderr, "ferryctl restore: %s\n", err[0] ? err : strerror(-e));
		rc = e == -EINVAL ? 2 : 1;
		goto out;
	}
	char t[32];
	ctl_fmt_time(p.time_ns, t, sizeof(t));
	printf("restored disk %s of domain %s at point %" PRIu32 ".%" PRIu64 " (%s) to %s (%s)\n",
	       a.disk, a.domain, p.epoch, p.seq, t, a.out, format_names[fmt]);
out:
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}
