/* The rehydrator: one monolithicFlat VMDK per disk of a domain, DIR/X.vmdk with its extent
 * DIR/X-flat.vmdk, brought to a point by writing only what changed (contract in
 * restore.h; the operator's view in docs/restore.md).
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
 *   resume), appearing only once complete.
 * - One rehydrator per directory: dir_lock on DIR/.ferry-rehydrate.lock. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/batch-write.h"
#include "common/util.h"
#include "image/vmdk.h"
#include "repo/map-diff.h"
#include "repo/restore-pipe.h"
#include "restore/restore-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

#define KEY_DOMAIN "ddb.ferry.domain"
#define KEY_DISK "ddb.ferry.disk"
#define KEY_POINT "ddb.ferry.point"
#define KEY_FROM "ddb.ferry.from"
#define KEY_TO "ddb.ferry.to"
#define LOCK_NAME ".ferry-rehydrate.lock"

struct rehydrator {
	struct repo *r;
	char *domain, *dir;
	int lock;
	uint64_t written;	/* bytes written by the last sync */
	restore_notice_fn *notice;
	void *notice_arg;
	/* progress of the running sync */
	restore_progress_fn *progress;
	void *progress_arg;
	uint64_t base_done, base_total;	/* of the disks already done */
};

static void point_id(const struct point_info *p, char *out, size_t n)
{
	snprintf(out, n, "%" PRIu32 ".%" PRIu64, p->epoch, p->seq);
}

static void notice(const struct rehydrator *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void notice(const struct rehydrator *h, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!h->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->notice(h->notice_arg, msg);
}

/* ---- progress over the disks of one sync ---- */

static int report(struct rehydrator *h, uint64_t done, uint64_t total)
{
	if (!h->progress)
		return 0;
	return h->progress(h->progress_arg, h->base_done + done, h->base_total + total);
}

static void disk_done(struct rehydrator *h, uint64_t total)
{
	h->base_done += total;
	h->base_total += total;
}

/* ---- applying a diff in place ---- */

struct apply {
	struct rehydrator *h;
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
 * pipe drains them before it lets go of any buffer, and the caller fdatasyncs after. A
 * point being applied is always finished: the progress callback cannot stop it. */
static int apply_window(void *arg, uint64_t upto, uint64_t done, uint64_t total)
{
	struct apply *a = arg;
	(void)upto;
	report(a->h, done, total);
	return bw_submit(a->bw);
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

/* The diff's data into f's extent, its zero ranges punched, all of it fdatasync'ed. */
static int apply_diff(struct rehydrator *h, struct vmdk_flat *f, const struct disk_map *d,
		      uint64_t *written, char *err, size_t errlen)
{
	struct apply ap = { .h = h };
	int rc = bw_open(f->fd, 64, &ap.bw);
	if (rc < 0)
		return err_set(err, errlen, rc, "%s: %s", f->extent_path, strerror(-rc));
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
	bw_close(ap.bw);
	if (rc < 0 && !err[0])
		err_set(err, errlen, rc, "%s: %s", f->extent_path, strerror(-rc));
	*written = ap.written;
	return rc;
}

/* Change the extent of f (which holds point `from`, or anything when from is NULL) into
 * point `to`. */
static int apply_point(struct rehydrator *h, struct vmdk_flat *f, const struct point_info *from,
		       const struct point_info *to, const char *disk, char *err,
		       size_t errlen)
{
	struct disk_map *a = NULL, *b = NULL, *d = NULL;
	char fid[48] = "unknown", tid[48];
	uint64_t written = 0;
	int rc = 0;
	point_id(to, tid, sizeof(tid));
	if (from) {
		point_id(from, fid, sizeof(fid));
		rc = repo_disk_map(h->r, from, disk, &a, NULL, 0);
		if (rc == -ENOENT) {
			notice(h, "%s: point %s is gone: rewriting all of it", f->desc_path, fid);
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
	uint64_t cap = ROUND_UP(b->size, (uint64_t)VMDK_SECTOR);

	/* 1. stop claiming any point */
	struct vmdk_kv changing[] = { { KEY_POINT, "none" }, { KEY_FROM, fid }, { KEY_TO, tid } };
	if ((rc = vmdk_flat_set(f, changing, ARRAY_SIZE(changing), f->capacity, err,
				errlen)) < 0)
		goto out;
	/* 2. change the extent */
	if (cap != f->capacity && ftruncate(f->fd, (off_t)cap) < 0) {
		rc = err_set(err, errlen, -errno, "%s: resizing to %" PRIu64 ": %s",
			     f->extent_path, cap, strerror(errno));
		goto out;
	}
	if ((rc = apply_diff(h, f, d, &written, err, errlen)) < 0)
		goto out;
	disk_done(h, disk_map_data_bytes(d, 0));
	/* 3. claim the new point */
	struct vmdk_kv done[] = { { KEY_POINT, tid }, { KEY_FROM, "-" }, { KEY_TO, "-" } };
	if ((rc = vmdk_flat_set(f, done, ARRAY_SIZE(done), cap, err, errlen)) < 0)
		goto out;
	h->written += written;
out:
	disk_map_free(a);
	disk_map_free(b);
	disk_map_free(d);
	return rc;
}

/* The point "E.S" of the domain, or -ENOENT. */
static int find_point(struct rehydrator *h, const char *id, struct point_info *p)
{
	char err[256];
	if (!id || !strchr(id, '.'))
		return -ENOENT;
	return repo_resolve_point(h->r, h->domain, id, p, err, sizeof(err));
}

static int first_progress(void *arg, uint64_t done, uint64_t total)
{
	report(arg, done, total);
	return 0;	/* a first copy is finished too */
}

static void first_notice(void *arg, const char *msg)
{
	notice(arg, "%s", msg);
}

/* A disk seen for the first time: restored in full, appearing only once complete. */
static int first_copy(struct rehydrator *h, const struct point_info *t, const char *disk,
		      const char *path, char *err, size_t errlen)
{
	char tid[48];
	point_id(t, tid, sizeof(tid));
	struct vmdk_kv kv[] = { { KEY_DOMAIN, h->domain }, { KEY_DISK, disk }, { KEY_POINT, tid } };
	struct restore_req q = { .r = h->r, .p = t, .domain = h->domain, .disk = disk,
				 .path = path, .fmt = RESTORE_VMDK_FLAT, .resume = true,
				 .extra = kv, .n_extra = ARRAY_SIZE(kv),
				 .progress = first_progress, .progress_arg = h,
				 .notice = first_notice };
	struct restore_result res;
	int rc = restore_disk(&q, &res, err, errlen);
	if (rc == 0) {
		struct disk_map *m;
		if (repo_disk_map(h->r, t, disk, &m, NULL, 0) == 0) {
			uint64_t n = disk_map_data_bytes(m, 0);
			h->written += n;
			disk_done(h, n);
			disk_map_free(m);
		}
	}
	return rc;
}

/* Bring one disk to point t. */
static int sync_disk(struct rehydrator *h, const struct point_info *t, const char *disk,
		     char *err, size_t errlen)
{
	char path[4096], tid[48];
	struct vmdk_flat f;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.vmdk", h->dir, disk) >= sizeof(path))
		return err_set(err, errlen, -ENAMETOOLONG, "%s: path too long", h->dir);
	point_id(t, tid, sizeof(tid));
	if (access(path, F_OK) < 0)
		return first_copy(h, t, disk, path, err, errlen);
	int rc = vmdk_flat_open(path, &f, err, errlen);
	if (rc < 0)
		return rc;
	const char *held = vmdk_desc_get(&f.desc, KEY_POINT);
	if (!held) {
		err_set(err, errlen, -EEXIST, "%.600s: not made by ferryctl rehydrate (no %s): "
			"move it away", path, KEY_POINT);
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
		const char *k = vmdk_desc_get(&f.desc, KEY_FROM);
		char *fid = strdup(k ? k : "");
		k = vmdk_desc_get(&f.desc, KEY_TO);
		char *mid_id = strdup(k ? k : "");
		have_from = fid && find_point(h, fid, &from) == 0;
		if (have_from && mid_id && strcmp(mid_id, tid) && find_point(h, mid_id, &mid) == 0) {
			notice(h, "%s: finishing the interrupted change from %s to %s", path, fid,
			       mid_id);
			rc = apply_point(h, &f, &from, &mid, disk, err, errlen);
			from = mid;
		}
		free(fid);
		free(mid_id);
	} else {
		have_from = find_point(h, held, &from) == 0;
	}
	if (rc == 0)
		rc = apply_point(h, &f, have_from ? &from : NULL, t, disk, err, errlen);
	vmdk_flat_close(&f);
	return rc;
}

int rehydrate_sync(struct rehydrator *h, const struct point_info *target,
		   struct point_info *reached, restore_progress_fn *progress, void *arg,
		   char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	h->written = 0;
	int rc = repo_refresh(h->r);
	if (rc < 0)
		return err_set(err, errlen, rc, "reading the repository's index: %s",
			       strerror(-rc));
	if (target)
		*reached = *target;
	else if ((rc = repo_resolve_point(h->r, h->domain, "latest", reached, err, errlen)) < 0)
		return rc;
	char **names = NULL;
	size_t n = 0;
	if ((rc = repo_point_disks(h->r, reached, &names, &n)) < 0)
		return err_set(err, errlen, rc, "listing the disks of point %" PRIu32 ".%"
			       PRIu64 ": %s", reached->epoch, reached->seq, strerror(-rc));
	h->progress = progress;
	h->progress_arg = arg;
	h->base_done = h->base_total = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = sync_disk(h, reached, names[i], err, errlen);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	h->progress = NULL;
	return rc;
}

/* ---- life cycle ---- */

static int open_common(struct repo *r, const char *domain, const char *dir, bool take_over,
		       struct rehydrator **out, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	struct rehydrator *h = calloc(1, sizeof(*h));
	if (h)
		h->lock = -1;
	if (!h || !(h->domain = strdup(domain)) || !(h->dir = strdup(dir))) {
		rehydrate_close(h);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	h->r = r;
	h->lock = dir_lock(dir, LOCK_NAME, take_over, err, errlen);
	if (h->lock < 0) {
		int rc = h->lock;
		rehydrate_close(h);
		return rc;
	}
	*out = h;
	return 0;
}

int rehydrate_open(struct repo *r, const char *domain, const char *dir,
		   struct rehydrator **out, char *err, size_t errlen)
{
	return open_common(r, domain, dir, false, out, err, errlen);
}

int rehydrate_take_over(struct repo *r, const char *domain, const char *dir,
			struct rehydrator **out, char *err, size_t errlen)
{
	return open_common(r, domain, dir, true, out, err, errlen);
}

void rehydrate_set_notice(struct rehydrator *h, restore_notice_fn *fn, void *arg)
{
	h->notice = fn;
	h->notice_arg = arg;
}

uint64_t rehydrate_written(const struct rehydrator *h)
{
	return h->written;
}

void rehydrate_close(struct rehydrator *h)
{
	if (!h)
		return;
	if (h->lock >= 0)
		close(h->lock);
	free(h->domain);
	free(h->dir);
	free(h);
}

/* ---- what a datastore holds ---- */

/* The point one descriptor of domain claims: 1 (id set, "" if none), 0 (not a disk of
 * domain, or not a descriptor), or -errno. */
static int claimed_point(const char *path, const char *domain, char *id, size_t n)
{
	struct vmdk_reader *rd;
	char err[256];
	if (vmdk_open(path, &rd, err, sizeof(err)) < 0)
		return 0;
	const struct vmdk_desc *d = vmdk_reader_desc(rd);
	const char *dom = d ? vmdk_desc_get(d, KEY_DOMAIN) : NULL;
	const char *p = d ? vmdk_desc_get(d, KEY_POINT) : NULL;
	int rc = 0;
	if (dom && !strcmp(dom, domain)) {
		snprintf(id, n, "%s", p && strcmp(p, "none") ? p : "");
		rc = 1;
	}
	vmdk_close(rd);
	return rc;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

int rehydrate_held_point(const char *dir, const char *domain, uint32_t *epoch, uint64_t *seq)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return -errno;
	char held[48] = "", id[48], path[4096];
	bool any = false, same = true;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (!ends_with(de->d_name, ".vmdk") || ends_with(de->d_name, "-flat.vmdk") ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		if (claimed_point(path, domain, id, sizeof(id)) != 1)
			continue;
		if (!id[0] || (any && strcmp(id, held)))
			same = false;
		snprintf(held, sizeof(held), "%s", id);
		any = true;
	}
	closedir(dh);
	unsigned long long e, s;
	int used = 0;
	if (!any || !same || sscanf(held, "%llu.%llu%n", &e, &s, &used) != 2 || held[used] ||
	    e > UINT32_MAX)
		return -ENOENT;
	*epoch = (uint32_t)e;
	*seq = s;
	return 0;
}
