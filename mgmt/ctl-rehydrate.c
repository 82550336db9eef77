/* ferryctl rehydrate: keep one monolithicFlat VMDK per disk of a domain at the newest
 * consistent point, so that failover boots at once (continuous failover, near-zero RTO).
 *
 *   rehydrate (--store URL --key-file PATH | -c FILE) --domain D --dir DATASTORE
 *             [--follow [--interval SECONDS]] [--complete]
 *
 * Without --follow: bring every disk to the newest consistent point once. --follow: go on,
 * polling every --interval (default 5 s), until SIGTERM/SIGINT (a point being applied is
 * finished first). --complete: stop a follower running on DIR (SIGTERM, then wait for its
 * lock), apply what remains, print the point reached and the time taken.
 *
 * Why it works this way:
 * - The descriptor says what the extent holds: ddb.ferry.point = "E.S" only when the
 *   extent is exactly the disk at that point. Before the extent is touched the descriptor
 *   is rewritten (atomically: temp file, fsync, rename) to point = "none" with
 *   ddb.ferry.from / ddb.ferry.to; only after the changes are fdatasync'ed does it claim
 *   the new point. So a VMDK never claims a point it does not fully hold, whenever the
 *   process dies.
 * - Only what changed is written: the two points' maps are diffed by chunk reference
 *   (repo/map-diff.c, no data read), and the diff's data goes through the restore
 *   pipeline. The cost follows the changed bytes and the maps' extent counts, not the disk
 *   size. A change interrupted half-way is redone from its "from" point to its "to" point
 *   first (bytes outside diff(from, to) still hold "from"), then the newer points follow.
 *   If the "from" point was pruned meanwhile, every byte is rewritten (a full pass).
 * - A disk seen for the first time is restored in full (restore_disk, vmdk-flat, with
 *   --resume semantics), appearing only once complete.
 * - One rehydrator per directory: an flock on DIR/.ferry-rehydrate.lock, holding its pid. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/batch-write.h"
#include "common/util.h"
#include "image/vmdk.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-rehydrate.h"
#include "mgmt/ctl-restore.h"
#include "repo/map-diff.h"
#include "repo/restore-pipe.h"
#include "common/banned.h"

#define KEY_POINT "ddb.ferry.point"
#define KEY_FROM "ddb.ferry.from"
#define KEY_TO "ddb.ferry.to"
#define LOCK_NAME ".ferry-rehydrate.lock"
#define DEFAULT_INTERVAL_S 5.0

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct rh {
	struct repo *r;
	const char *domain, *dir;
	uint64_t written;	/* bytes written by the last sync */
};

static void point_id(const struct point_info *p, char *out, size_t n)
{
	snprintf(out, n, "%" PRIu32 ".%" PRIu64, p->epoch, p->seq);
}

/* ---- applying a diff in place ---- */

struct apply {
	struct batch_writer *bw;
	uint64_t written;
};

static int apply_sink(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct apply *a = arg;
	a->written += len;
	return bw_write(a->bw, buf, len, off);
}

/* A window's writes run on (O_DIRECT where aligned) while the next windows decode; the
 * pipe drains them before it lets go of any buffer, and the caller fdatasyncs after. */
static int apply_window(void *arg, uint64_t upto, uint64_t done, uint64_t total)
{
	(void)upto;
	(void)done;
	(void)total;
	return bw_submit(((struct apply *)arg)->bw);
}

static int apply_drain(void *arg)
{
	return bw_flush(((struct apply *)arg)->bw);
}

/* A map every byte of which differs from any real map: diffing against it rewrites all. */
static int unknown_map(const char *disk, uint64_t size, struct disk_map **out)
{
	struct disk_map *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(m->disk, sizeof(m->disk), "%s", disk);
	m->size = size;
	size_t n = (size_t)((size + (1u << 30) - 1) >> 30);
	m->ext = calloc(n ? n : 1, sizeof(*m->ext));
	if (!m->ext) {
		free(m);
		return -ENOMEM;
	}
	for (uint64_t off = 0; off < size; off += 1u << 30) {
		struct disk_extent *e = &m->ext[m->n++];
		e->offset = off;
		e->length = (uint32_t)MIN(size - off, (uint64_t)1 << 30);
		e->kind = EXTENT_DATA;
		memset(e->id, 0xff, CHUNK_ID_LEN);	/* no chunk has this id */
		e->clen = e->length;
	}
	*out = m;
	return 0;
}

/* Change the extent of f (which holds point `from`, or anything when from is NULL) into
 * point `to`. */
static int apply_point(struct rh *h, const char *path, struct vmdk_flat *f,
		       const struct point_info *from, const struct point_info *to,
		       const char *disk, char *err, size_t errlen)
{
	struct disk_map *a = NULL, *b = NULL, *d = NULL;
	struct apply ap = { 0 };
	char fid[48] = "unknown", tid[48];
	int rc = 0;
	point_id(to, tid, sizeof(tid));
	if (from) {
		point_id(from, fid, sizeof(fid));
		rc = repo_disk_map(h->r, from, disk, &a, NULL, 0);
		if (rc == -ENOENT) {
			fprintf(stderr, "ferryctl rehydrate: %s: point %s is gone: rewriting all of it\n",
				path, fid);
			rc = 0;
		}
	}
	if (rc == 0 && !a)
		rc = unknown_map(disk, f->capacity, &a);
	if (rc == 0)
		rc = repo_disk_map(h->r, to, disk, &b, err, errlen);
	if (rc == 0)
		rc = disk_map_diff(a, b, &d);
	if (rc < 0)
		goto out;
	uint64_t cap = (b->size + VMDK_SECTOR - 1) / VMDK_SECTOR * VMDK_SECTOR;

	/* 1. stop claiming any point */
	struct vmdk_kv changing[] = { { KEY_POINT, "none" }, { KEY_FROM, fid }, { KEY_TO, tid } };
	if ((rc = vmdk_flat_set(f, changing, ARRAY_SIZE(changing), f->capacity, err,
				errlen)) < 0)
		goto out;
	/* 2. change the extent */
	if (cap != f->capacity && ftruncate(f->fd, (off_t)cap) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: resizing to %" PRIu64 ": %s", f->extent_path, cap,
			 strerror(-rc));
		goto out;
	}
	if ((rc = bw_open(f->fd, 64, &ap.bw)) < 0)
		goto out;
	bw_use_direct(ap.bw, f->extent_path);
	struct restore_pipe_opts po = { .sink = apply_sink, .window_done = apply_window,
					.drain = apply_drain, .arg = &ap };
	rc = repo_restore_pipe(h->r, d, &po, err, errlen);
	if (rc > 0)
		rc = -EIO;
	for (size_t i = 0; i < d->n && rc == 0; i++)
		if (d->ext[i].kind == EXTENT_ZERO)
			rc = vmdk_zero_range(f->fd, d->ext[i].offset, d->ext[i].length);
	if (rc == 0 && fdatasync(f->fd) < 0)
		rc = -errno;
	if (rc < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", f->extent_path, strerror(-rc));
		goto out;
	}
	/* 3. claim the new point */
	struct vmdk_kv done[] = { { KEY_POINT, tid }, { KEY_FROM, "-" }, { KEY_TO, "-" } };
	if ((rc = vmdk_flat_set(f, done, ARRAY_SIZE(done), cap, err, errlen)) < 0)
		goto out;
	h->written += ap.written;
out:
	bw_close(ap.bw);
	disk_map_free(a);
	disk_map_free(b);
	disk_map_free(d);
	return rc;
}

/* The point "E.S" of the domain, or -ENOENT. */
static int find_point(struct rh *h, const char *id, struct point_info *p)
{
	char err[256];
	if (!id || !strchr(id, '.'))
		return -ENOENT;
	return repo_resolve_point(h->r, h->domain, id, p, err, sizeof(err));
}

/* Bring one disk to point t. */
static int sync_disk(struct rh *h, const struct point_info *t, const char *disk, char *err,
		     size_t errlen)
{
	char path[4096], tid[48];
	struct vmdk_flat f;
	snprintf(path, sizeof(path), "%s/%s.vmdk", h->dir, disk);
	point_id(t, tid, sizeof(tid));
	if (access(path, F_OK) < 0) {
		struct vmdk_kv kv[] = { { "ddb.ferry.domain", h->domain },
					{ "ddb.ferry.disk", disk }, { KEY_POINT, tid } };
		struct restore_req q = { .r = h->r, .p = t, .domain = h->domain, .disk = disk,
					 .path = path, .fmt = OUT_FLAT, .resume = true,
					 .extra = kv, .n_extra = ARRAY_SIZE(kv) };
		int rc = restore_disk(&q, err, errlen);
		if (rc == 0) {
			struct disk_map *m;
			if (repo_disk_map(h->r, t, disk, &m, NULL, 0) == 0) {
				h->written += disk_map_data_bytes(m, 0);
				disk_map_free(m);
			}
		}
		return rc;
	}
	int rc = vmdk_flat_open(path, &f, err, errlen);
	if (rc < 0)
		return rc;
	const char *held = vmdk_desc_get(&f.desc, KEY_POINT);
	if (!held) {
		snprintf(err, errlen, "%.600s: not made by ferryctl rehydrate (no %s): move it away",
			 path, KEY_POINT);
		vmdk_flat_close(&f);
		return -EEXIST;
	}
	if (!strcmp(held, tid)) {
		vmdk_flat_close(&f);
		return 0;
	}
	struct point_info from, mid;
	bool have_from;
	if (!strcmp(held, "none")) {
		/* interrupted: finish the change it was making first */
		char *fid = strdup(vmdk_desc_get(&f.desc, KEY_FROM) ?
				   vmdk_desc_get(&f.desc, KEY_FROM) : "");
		char *mid_id = strdup(vmdk_desc_get(&f.desc, KEY_TO) ?
				      vmdk_desc_get(&f.desc, KEY_TO) : "");
		have_from = fid && find_point(h, fid, &from) == 0;
		if (have_from && mid_id && strcmp(mid_id, tid) && find_point(h, mid_id, &mid) == 0) {
			fprintf(stderr, "ferryctl rehydrate: %s: finishing the interrupted change from "
				"%s to %s\n", path, fid, mid_id);
			rc = apply_point(h, path, &f, &from, &mid, disk, err, errlen);
			from = mid;
		}
		free(fid);
		free(mid_id);
	} else {
		have_from = find_point(h, held, &from) == 0;
	}
	if (rc == 0)
		rc = apply_point(h, path, &f, have_from ? &from : NULL, t, disk, err, errlen);
	vmdk_flat_close(&f);
	return rc;
}

/* Bring every disk of the domain to its newest consistent point. *reached gets it. */
static int sync_all(struct rh *h, struct point_info *reached, char *err, size_t errlen)
{
	int rc = repo_refresh(h->r);
	if (rc < 0) {
		snprintf(err, errlen, "reading the repository's index: %s", strerror(-rc));
		return rc;
	}
	if ((rc = repo_resolve_point(h->r, h->domain, "latest", reached, err, errlen)) < 0)
		return rc;
	char **names = NULL;
	size_t n = 0;
	if ((rc = repo_point_disks(h->r, reached, &names, &n)) < 0) {
		snprintf(err, errlen, "listing the disks of the point: %s", strerror(-rc));
		return rc;
	}
	h->written = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = sync_disk(h, reached, names[i], err, errlen);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---- one rehydrator per directory ---- */

static int take_lock(const char *dir, bool complete)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, LOCK_NAME);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "ferryctl rehydrate: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
		if (!complete) {
			fprintf(stderr, "ferryctl rehydrate: another rehydrate runs on %s (pid %ld)\n",
				dir, pid);
			close(fd);
			return -1;
		}
		if (pid > 0)
			kill((pid_t)pid, SIGTERM);	/* the follower finishes its point and exits */
		if (flock(fd, LOCK_EX) < 0) {
			close(fd);
			return -1;
		}
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		fprintf(stderr, "ferryctl rehydrate: %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void sleep_interruptible(double secs)
{
	uint64_t end = now_mono_ns() + (uint64_t)(secs * 1e9);
	while (!stop_requested && now_mono_ns() < end) {
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
}

int ctl_rehydrate_main(int argc, char **argv)
{
	struct args a = { .usage = "rehydrate --store URL --key-file PATH (or -c FILE) --domain D "
			  "--dir DATASTORE [--follow [--interval SECONDS]] [--complete]" };
	struct repo *r = NULL;
	char err[1024] = "";
	int lock = -1;
	uint64_t t0 = now_mono_ns();
	int rc = ctl_parse(argc, argv, OPT_STORE | OPT_KEY | OPT_CONF | OPT_DOMAIN | OPT_DIR |
			   OPT_FOLLOW | OPT_INTERVAL | OPT_COMPLETE, OPT_DOMAIN | OPT_DIR, &a);
	if (rc)
		goto out;
	double interval = DEFAULT_INTERVAL_S;
	if (a.interval) {
		char *end;
		interval = strtod(a.interval, &end);
		if (*end || !(interval > 0 && interval <= 86400)) {
			rc = ctl_usage(&a, "bad --interval (seconds, > 0)");
			goto out;
		}
	}
	if (a.follow && a.complete) {
		rc = ctl_usage(&a, "--follow and --complete exclude each other");
		goto out;
	}
	struct stat sb;
	if (stat(a.dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "ferryctl rehydrate: %s: not a directory\n", a.dir);
		rc = 2;
		goto out;
	}
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((lock = take_lock(a.dir, a.complete)) < 0) {
		rc = 1;
		goto out;
	}
	if ((rc = ctl_open_repo(&a, &r)))
		goto out;
	struct rh h = { .r = r, .domain = a.domain, .dir = a.dir };
	char last[48] = "";
	for (;;) {
		struct point_info p;
		uint64_t t1 = now_mono_ns();
		err[0] = '\0';
		int e = sync_all(&h, &p, err, sizeof(err));
		if (e < 0) {
			fprintf(stderr, "ferryctl rehydrate: %s\n", err[0] ? err : strerror(-e));
			if (!a.follow) {
				rc = 1;
				break;
			}
		} else {
			char id[48];
			point_id(&p, id, sizeof(id));
			if (a.complete)
				printf("rehydrate %s: reached point %s in %.3f s (%" PRIu64
				       " bytes written)\n", a.domain, id,
				       (double)(now_mono_ns() - t0) / 1e9, h.written);
			else if (strcmp(id, last))
				printf("rehydrate %s: at point %s (%" PRIu64 " bytes written in %.3f s)\n",
				       a.domain, id, h.written, (double)(now_mono_ns() - t1) / 1e9);
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", id);
		}
		if (!a.follow || stop_requested)
			break;
		sleep_interruptible(interval);
		if (stop_requested)
			break;
	}
out:
	if (lock >= 0)
		close(lock);
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}
