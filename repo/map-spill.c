/* Spilled runs of a point's extents: see the contract in repo-internal.h.
 *
 * Why it works this way:
 * - A point writer that holds every extent of a huge point until its commit needs memory
 *   in proportion to the disk (a seed of 16 TiB at 64 KiB chunks: 256 M extents). Instead
 *   it writes its extents out, sorted, every so often (a run), and forgets them. A full
 *   point's map is built one region at a time (map-writer.c), so at the commit each run is
 *   read once, in order, a region's worth at a time: memory holds a region, not a disk.
 * - Runs are written in the order the point made them, and a later run wins where runs
 *   overlap (as a later call wins in the writer): a region is the runs' slices laid over
 *   each other oldest first (map_overlay), ZERO extents kept, since they cut the parent's
 *   map under them.
 * - Each run keeps a cursor: its next unread extent and that extent's offset, so a region
 *   reads only the runs that reach into it. An extent is consumed once it ends within the
 *   region; one that goes on past it (only ZERO extents cross a region's edge: DATA ones
 *   never cross a chunk's) is read again, clipped, for the next region.
 * - The scratch file is private to the process and never a format: it is created unlinked
 *   (O_TMPFILE, or mkstemp then unlink), so a crash leaves nothing behind, and nothing of
 *   it becomes visible: the point is still only its manifest, put last. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/array.h"
#include "common/util.h"
#include "common/banned.h"

#define READ_BATCH 4096u	/* extents per read */

int repo_scratch_open(const char *dir)
{
	char path[4096];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* O_TMPFILE unsupported by this file system: a named file, unlinked at once */
	if ((size_t)snprintf(path, sizeof(path), "%s/ferry-spill.XXXXXX", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int spill_open(struct spill_file *f, const char *dir)
{
	f->len = 0;
	f->fd = repo_scratch_open(dir);
	return f->fd < 0 ? f->fd : 0;
}

void spill_close(struct spill_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->buf);
	f->buf = NULL;
	free(f->slice);
	f->slice = NULL;
	f->slice_cap = 0;
}

int spill_write(struct spill_file *f, struct spill_runs *rs, const struct disk_extent *e,
		size_t n)
{
	if (n == 0)
		return 0;
	struct spill_run run = { .at = f->len, .left = n, .next_off = e[0].offset };
	int rc = pwrite_full(f->fd, e, n * sizeof(*e), f->len);
	if (rc == 0 && (rc = ARRAY_PUSH(rs->v, rs->n, rs->cap, run)) == 0)
		f->len += n * sizeof(*e);
	return rc;
}

/* Append e, clipped to [lo, hi), to f's slice. */
static int slice_add(struct spill_file *f, size_t *n, const struct disk_extent *e, uint64_t lo,
		     uint64_t hi)
{
	struct disk_extent x = *e;
	uint64_t a = MAX(x.offset, lo), z = MIN(x.offset + x.length, hi);
	if (x.kind == EXTENT_DATA && (a != x.offset || z != x.offset + x.length))
		return -EBADMSG;	/* a DATA extent across a region's edge */
	x.offset = a;
	x.length = (uint32_t)(z - a);
	return ARRAY_PUSH(f->slice, *n, f->slice_cap, x);
}

/* Run r's extents that start before hi, clipped to [lo, hi), into f's slice (*n of them);
 * those that end by hi are consumed. */
static int run_slice(struct spill_file *f, struct spill_run *r, uint64_t lo, uint64_t hi,
		     size_t *n)
{
	*n = 0;
	if (!f->buf && !(f->buf = malloc(READ_BATCH * sizeof(*f->buf))))
		return -ENOMEM;
	while (r->left && r->next_off < hi) {
		size_t k = (size_t)MIN(r->left, (uint64_t)READ_BATCH), i;
		int rc = pread_full(f->fd, f->buf, k * sizeof(*f->buf), r->at);
		if (rc < 0)
			return rc;
		for (i = 0; i < k && f->buf[i].offset < hi; i++) {
			if ((rc = slice_add(f, n, &f->buf[i], lo, hi)) < 0)
				return rc;
			if (f->buf[i].offset + f->buf[i].length > hi)
				break;	/* goes on into the next region: read again there */
		}
		r->at += i * sizeof(*f->buf);
		r->left -= i;
		if (i < k) {
			r->next_off = f->buf[i].offset;
			break;
		}
		if (r->left) {	/* the next batch: peek at its first offset */
			struct disk_extent e;
			if ((rc = pread_full(f->fd, &e, sizeof(e), r->at)) < 0)
				return rc;
			r->next_off = e.offset;
		}
	}
	return 0;
}

int spill_region(struct spill_file *f, struct spill_runs *rs, uint64_t lo, uint64_t hi,
		 struct disk_extent **ext, size_t *n)
{
	for (size_t i = 0; i < rs->n; i++) {
		size_t k;
		int rc = run_slice(f, &rs->v[i], lo, hi, &k);
		if (rc == 0 && k)
			rc = map_overlay(ext, n, f->slice, k);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void spill_runs_release(struct spill_runs *rs)
{
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}
