/* raw onto a block device (a LUN, an LV, a loop device): written in place.
 *
 * Why it works this way:
 * - No PATH.part and no rename: a device node is not a file to replace (renaming over it
 *   would put a regular file under /dev and leave the device untouched).
 * - The device is opened O_EXCL, which the kernel refuses while it is mounted or held (a
 *   device-mapper target on it): restoring under a mounted file system would corrupt it.
 * - Its size is checked before anything is written: smaller than the disk is an error,
 *   larger is fine (the bytes past the disk's end are left as they are; the caller says
 *   so).
 * - A device is not a sparse file that starts as zeroes: every byte of the disk that the
 *   map does not hold as data (holes and zero extents) is zeroed first, with BLKZEROOUT
 *   (write-zeroes or discard on the device, no data moved) and plain writes for unaligned
 *   edges. Then the data goes through the batch writer with O_DIRECT, and finish() fsyncs
 *   the device (its write cache included).
 * - No checkpoints: resuming needs a state file, and there is no place beside /dev/sdX
 *   to keep one; an interrupted restore onto a device is started again. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/batch-write.h"
#include "common/util.h"
#include "restore/restore-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

#define SECTOR 512u

/* [off, off + len) reads as zeroes: the 512-aligned middle by BLKZEROOUT, the edges (and
 * everything, where the ioctl is refused) by writing zeroes. */
static int zero_range(int fd, uint64_t off, uint64_t len)
{
	uint64_t a = ROUND_UP(off, (uint64_t)SECTOR), b = (off + len) / SECTOR * SECTOR;
	if (a < b) {
		uint64_t range[2] = { a, b - a };
		if (ioctl(fd, BLKZEROOUT, range) == 0) {
			int r = pwrite_zeroes(fd, off, a - off);
			return r ? r : pwrite_zeroes(fd, b, off + len - b);
		}
	}
	return pwrite_zeroes(fd, off, len);
}

/* Everything of the disk that is not a DATA extent, at or after start (the map read a
 * piece at a time). */
static int zero_gaps(int fd, struct map_iter *it, uint64_t start)
{
	const struct disk_map *m;
	uint64_t pos = start;
	int r, rc = 0;
	map_iter_rewind(it);
	while (rc == 0 && (r = map_iter_next(it, &m, NULL, 0)) != 0) {
		if (r < 0) {
			rc = r;
			break;
		}
		for (size_t i = 0; i < m->n && rc == 0; i++) {
			const struct disk_extent *e = &m->ext[i];
			if (e->kind != EXTENT_DATA || e->offset + e->length <= pos)
				continue;
			if (e->offset > pos)
				rc = zero_range(fd, pos, e->offset - pos);
			pos = e->offset + e->length;
		}
	}
	if (rc == 0 && pos < map_iter_size(it))
		rc = zero_range(fd, pos, map_iter_size(it) - pos);
	return rc;
}

static int bdev_open(struct rout *o, uint64_t *start, char *err, size_t errlen)
{
	const char *path = o->q->path;
	uint64_t size;
	*start = 0;
	o->fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
	if (o->fd < 0 && errno == EBUSY)
		return err_set(err, errlen, -EBUSY, "%s is in use (mounted, or held by "
			       "another device): not restoring onto it", path);
	if (o->fd < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (ioctl(o->fd, BLKGETSIZE64, &size) < 0)
		return err_set(err, errlen, -errno, "%s: reading its size: %s", path,
			       strerror(errno));
	o->device_size = size;
	if (size < o->size)
		return err_set(err, errlen, -ENOSPC, "%s is %" PRIu64 " bytes, smaller than "
			       "disk %s (%" PRIu64 " bytes): nothing written", path, size,
			       o->q->disk, o->size);
	int rc = zero_gaps(o->fd, o->map, 0);
	if (rc < 0)
		return err_set(err, errlen, rc, "%s: zeroing what the disk does not hold: %s",
			       path, strerror(-rc));
	if ((rc = bw_open(o->fd, 64, &o->bw)) < 0)
		return rc;
	bw_use_direct(o->bw, path);
	return 0;
}

static int bdev_finish(struct rout *o, char *err, size_t errlen)
{
	int rc = bw_flush(o->bw);
	if (rc == 0 && fsync(o->fd) < 0)
		rc = -errno;
	if (close(o->fd) < 0 && rc == 0)
		rc = -errno;
	o->fd = -1;
	if (rc < 0)
		return err_set(err, errlen, rc, "%s: %s", o->q->path, strerror(-rc));
	return 0;
}

static void bdev_release(struct rout *o, bool keep)
{
	(void)keep;
	bw_close(o->bw);
	o->bw = NULL;
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
}

const struct out_ops out_bdev_ops = {
	.open = bdev_open,
	.sink = rout_bw_sink,
	.drain = rout_bw_drain,
	.window = rout_bw_window,
	.finish = bdev_finish,
	.release = bdev_release,
};
