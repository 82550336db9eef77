/* The requests that only ask about a protected disk or warm it: BLOCK_STATUS
 * (base:allocation), CACHE, and whether a FAST_ZERO can be honoured. They run inline on
 * the event loop: lseek(SEEK_DATA/SEEK_HOLE) and posix_fadvise consult the file system's
 * extent maps and start readahead, without waiting for data.
 *
 * base:allocation reports what the primary's file system says: a hole (or an unwritten
 * extent without cached data) is HOLE|ZERO, anything else data (flags 0). Nothing is
 * reported past the request's end, at most BS_MAX_EXTENTS descriptors per reply (the
 * client asks again for the rest), one with REQ_ONE. A block device has no such map: it
 * is reported as data. */
#include "datapath/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define BS_MAX_EXTENTS 1024u

bool disk_zero_is_fast(const struct disk *d, bool may_punch)
{
	if (d->zero_slow)
		return false;
	return !d->is_blockdev || may_punch;	/* a device punches without fallback */
}

static void add_extent(struct nbd_extent *ext, size_t *n, uint64_t len, uint32_t flags)
{
	if (*n && ext[*n - 1].flags == flags) {
		ext[*n - 1].length += (uint32_t)len;
		return;
	}
	ext[*n].length = (uint32_t)len;
	ext[*n].flags = flags;
	(*n)++;
}

/* Extents of [off, off + len) of a regular file. */
static int file_extents(int fd, uint64_t off, uint32_t len, bool one, struct nbd_extent *ext,
			size_t *n)
{
	uint64_t pos = off, end = off + len;
	*n = 0;
	while (pos < end && *n < BS_MAX_EXTENTS) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
		if (data < 0 && errno != ENXIO)
			return -errno;
		uint64_t next = data < 0 ? end : MIN((uint64_t)data, end);
		if (next > pos) {	/* a hole up to the next data (or the end) */
			add_extent(ext, n, next - pos, NBD_STATE_HOLE | NBD_STATE_ZERO);
		} else {
			off_t hole = lseek(fd, (off_t)pos, SEEK_HOLE);
			if (hole < 0)
				return -errno;
			next = MIN((uint64_t)hole, end);
			if (next <= pos)
				next = end;	/* a racing write: call the rest data */
			add_extent(ext, n, next - pos, 0);
		}
		pos = next;
		if (one)
			break;
	}
	return 0;
}

int disk_block_status(struct nbd_op *op)
{
	struct disk *d = op->disk;
	bool one = op->req.flags & NBD_CMD_FLAG_REQ_ONE;
	struct nbd_extent *ext = malloc(BS_MAX_EXTENTS * sizeof *ext);
	uint8_t *buf = replog_payload_alloc(NBD_CHUNK_HDR_SIZE + 4 + 8 * BS_MAX_EXTENTS);
	size_t n = 1;
	int r = ext && buf ? 0 : -ENOMEM;
	if (!r && d->is_blockdev) {
		ext[0].length = op->req.length;
		ext[0].flags = 0;
	} else if (!r) {
		r = file_extents(d->fd, op->req.offset, op->req.length, one, ext, &n);
	}
	if (!r) {
		op->buf = buf;
		op->iov.iov_base = buf;
		op->iov.iov_len = nbd_reply_block_status(buf, op->req.cookie,
							 NBD_META_ID_ALLOCATION, ext, n);
		buf = NULL;
	}
	free(ext);
	replog_payload_free(buf);	/* op_free frees it once it is op->buf */
	return r;
}

void disk_cache(struct nbd_op *op)
{
	/* advisory: a failure only means nothing was prefetched */
	(void)posix_fadvise(op->disk->fd, (off_t)op->req.offset, (off_t)op->req.length,
			    POSIX_FADV_WILLNEED);
}
