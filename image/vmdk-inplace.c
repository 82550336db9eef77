/* An existing monolithicSparse VMDK read and written in place (contract in vmdk.h), for
 * Re-IP, which edits a few blocks of a restored guest disk without converting it.
 *
 * Reads follow the grain directory and tables like any reader. A write to an allocated
 * grain goes to its place in the file; a write to a grain not allocated yet appends a
 * whole new grain at the end of the file (the rest of it zeroes, as it read before) and
 * sets its entry in the grain table and in the redundant one. Crash order: new grains are
 * written first, and the tables that point at them only in vmdk_rw_flush() after an
 * fdatasync, so a table never points at a grain that is not durable; a crash before that
 * leaves unreferenced grains at the end of the file (qemu-img check reports them as
 * leaked clusters, nothing worse). The header's uncleanShutdown byte is 1 from the first
 * write until vmdk_rw_close().
 *
 * Refused (-ENOTSUP): compressed grains (streamOptimized), a write into a 32 MiB span
 * whose grain table was never allocated, growing past what 32-bit sectors address. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/vmdk-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

#define GT_CACHE 16

struct gtc {
	uint64_t idx;		/* GD entry */
	uint32_t *gt;		/* num_gtes entries, host order */
	bool dirty;
};

struct vmdk_rw {
	int fd;
	uint64_t size;			/* of the file, grown by appended grains */
	struct vmdk_header h;
	uint64_t grain, capacity;	/* bytes */
	uint64_t gd_entries;
	uint32_t *gd, *rgd;		/* rgd: NULL without a redundant directory */
	struct gtc c[GT_CACHE];
	size_t nc;
	bool marked;			/* uncleanShutdown set by our first write */
	int err;			/* a failed flush: every later call fails with it */
};

static int read_dir(struct vmdk_rw *v, uint64_t sector, uint32_t **out, char *err,
		    size_t errlen)
{
	uint64_t bytes = v->gd_entries * 4;
	if (sector > v->size / VMDK_SECTOR || bytes > v->size - sector * VMDK_SECTOR)
		return err_set(err, errlen, -EBADMSG, "grain directory outside the file");
	uint32_t *d = malloc(bytes ? bytes : 4);
	if (!d)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	int rc = pread_full(v->fd, d, bytes, sector * VMDK_SECTOR);
	if (rc < 0) {
		free(d);
		return err_set(err, errlen, rc, "cannot read the grain directory");
	}
	for (uint64_t i = 0; i < v->gd_entries; i++) {
		d[i] = get_le32((const uint8_t *)&d[i]);
		if (d[i] && (d[i] > v->size / VMDK_SECTOR ||
			     (uint64_t)v->h.num_gtes * 4 > v->size - (uint64_t)d[i] * VMDK_SECTOR)) {
			free(d);
			return err_set(err, errlen, -EBADMSG, "grain table %llu outside the file",
					 (unsigned long long)i);
		}
	}
	*out = d;
	return 0;
}

static int check_header(struct vmdk_rw *v, char *err, size_t errlen)
{
	const struct vmdk_header *h = &v->h;
	if (h->compress || (h->flags & (VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS)) ||
	    h->gd_offset == VMDK_GD_AT_END)
		return err_set(err, errlen, -ENOTSUP, "a compressed (streamOptimized) VMDK "
				 "cannot be written in place; restore it as vmdk or vmdk-flat");
	v->grain = h->grain_size * VMDK_SECTOR;
	v->capacity = h->capacity * VMDK_SECTOR;
	uint64_t span = (uint64_t)h->num_gtes * h->grain_size;
	v->gd_entries = (h->capacity + span - 1) / span;
	if (!h->capacity || v->gd_entries > VMDK_MAX_GD_ENTRIES)
		return err_set(err, errlen, -EBADMSG, "capacity out of range");
	return 0;
}

int vmdk_rw_open(const char *path, struct vmdk_rw **out, char *err, size_t errlen)
{
	uint8_t b[VMDK_SECTOR];
	struct stat st;
	struct vmdk_rw *v = calloc(1, sizeof(*v));
	int rc;
	*out = NULL;
	if (!v)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	v->fd = open(path, O_RDWR | O_CLOEXEC);
	if (v->fd < 0 || fstat(v->fd, &st) < 0) {
		rc = err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	v->size = (uint64_t)st.st_size;
	if (v->size < VMDK_SECTOR || (rc = pread_full(v->fd, b, sizeof(b), 0)) < 0) {
		rc = err_set(err, errlen, -EBADMSG, "%s: shorter than a VMDK header", path);
		goto fail;
	}
	char why[160];
	if ((rc = vmdk_header_decode(b, &v->h, why, sizeof(why))) < 0) {
		err_set(err, errlen, rc, "%s: %s", path, why);
		goto fail;
	}
	if ((rc = check_header(v, why, sizeof(why))) < 0 ||
	    (rc = read_dir(v, v->h.gd_offset, &v->gd, why, sizeof(why))) < 0 ||
	    ((v->h.flags & VMDK_FLAG_RGD) && v->h.rgd_offset &&
	     (rc = read_dir(v, v->h.rgd_offset, &v->rgd, why, sizeof(why))) < 0)) {
		err_set(err, errlen, rc, "%s: %s", path, why);
		goto fail;
	}
	*out = v;
	return 0;
fail:
	if (v->fd >= 0)
		close(v->fd);
	free(v->gd);
	free(v);
	return rc;
}

uint64_t vmdk_rw_capacity(const struct vmdk_rw *v)
{
	return v->capacity;
}

/* The cached grain table of GD entry gdi (loaded if needed; the cache is written out
 * and emptied when full). */
static int gt_get(struct vmdk_rw *v, uint64_t gdi, struct gtc **out)
{
	for (size_t i = 0; i < v->nc; i++)
		if (v->c[i].idx == gdi) {
			*out = &v->c[i];
			return 0;
		}
	if (v->nc == GT_CACHE) {
		int rc = vmdk_rw_flush(v);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < v->nc; i++)
			free(v->c[i].gt);
		v->nc = 0;
	}
	struct gtc *c = &v->c[v->nc];
	size_t bytes = (size_t)v->h.num_gtes * 4;
	if (!(c->gt = malloc(bytes)))
		return -ENOMEM;
	int rc = pread_full(v->fd, c->gt, bytes, (uint64_t)v->gd[gdi] * VMDK_SECTOR);
	if (rc < 0) {
		free(c->gt);
		return rc;
	}
	for (unsigned i = 0; i < v->h.num_gtes; i++)
		c->gt[i] = get_le32((const uint8_t *)&c->gt[i]);
	c->idx = gdi;
	c->dirty = false;
	v->nc++;
	*out = c;
	return 0;
}

/* The sector of grain g, 0 when it is not allocated (or the zero grain); *c its table. */
static int grain_sector(struct vmdk_rw *v, uint64_t g, uint32_t *sector, struct gtc **c)
{
	uint64_t gdi = g / v->h.num_gtes;
	*sector = 0;
	*c = NULL;
	if (v->gd[gdi] == 0)
		return 0;
	int rc = gt_get(v, gdi, c);
	if (rc < 0)
		return rc;
	uint32_t s = (*c)->gt[g % v->h.num_gtes];
	if (s == 1 && (v->h.flags & VMDK_FLAG_ZERO_GTE))
		return 0;
	if (s && ((uint64_t)s > v->size / VMDK_SECTOR ||
		  v->grain > v->size - (uint64_t)s * VMDK_SECTOR))
		return -EBADMSG;
	*sector = s;
	return 0;
}

int vmdk_rw_read(struct vmdk_rw *v, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;
	if (v->err)
		return v->err;
	if (off > v->capacity || len > v->capacity - off)
		return -EINVAL;
	while (len) {
		uint64_t g = off / v->grain, in = off % v->grain;
		size_t n = (size_t)MIN(len, v->grain - in);
		uint32_t s;
		struct gtc *c;
		int rc = grain_sector(v, g, &s, &c);
		if (rc < 0)
			return rc;
		if (s)
			rc = pread_full(v->fd, p, n, (uint64_t)s * VMDK_SECTOR + in);
		else
			memset(p, 0, n);
		if (rc < 0)
			return rc;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int write_header(struct vmdk_rw *v, bool unclean)
{
	uint8_t b[VMDK_SECTOR];
	v->h.unclean = unclean;
	vmdk_header_encode(&v->h, b);
	int rc = pwrite_full(v->fd, b, sizeof(b), 0);
	if (rc == 0 && fdatasync(v->fd) < 0)
		rc = -errno;
	return rc;
}

/* A new grain at the end of the file holding data at in (the rest zeroes). */
static int append_grain(struct vmdk_rw *v, uint64_t g, uint64_t in, const uint8_t *data,
			size_t n)
{
	uint64_t gdi = g / v->h.num_gtes, at = ROUND_UP(v->size, VMDK_SECTOR);
	struct gtc *c;
	if (v->gd[gdi] == 0)
		return -ENOTSUP;	/* no grain table for this span */
	if (at / VMDK_SECTOR > UINT32_MAX - v->h.grain_size)
		return -EFBIG;
	int rc = gt_get(v, gdi, &c);
	uint8_t *grain = rc == 0 ? calloc(1, v->grain) : NULL;
	if (rc == 0 && !grain)
		rc = -ENOMEM;
	if (rc == 0) {
		memcpy(grain + in, data, n);
		rc = pwrite_full(v->fd, grain, v->grain, at);
	}
	free(grain);
	if (rc < 0)
		return rc;
	v->size = at + v->grain;
	c->gt[g % v->h.num_gtes] = (uint32_t)(at / VMDK_SECTOR);
	c->dirty = true;
	return 0;
}

int vmdk_rw_write(struct vmdk_rw *v, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc = v->err;
	if (rc)
		return rc;
	if (off > v->capacity || len > v->capacity - off)
		return -EINVAL;
	if (len && !v->marked) {
		if ((rc = write_header(v, true)) < 0)
			return v->err = rc;
		v->marked = true;
	}
	while (len) {
		uint64_t g = off / v->grain, in = off % v->grain;
		size_t n = (size_t)MIN(len, v->grain - in);
		uint32_t s;
		struct gtc *c;
		rc = grain_sector(v, g, &s, &c);
		if (rc == 0)
			rc = s ? pwrite_full(v->fd, p, n, (uint64_t)s * VMDK_SECTOR + in) :
				 append_grain(v, g, in, p, n);
		if (rc < 0)
			return rc;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Write one cached table to the directory's place and the redundant one's. */
static int write_gt(struct vmdk_rw *v, const struct gtc *c)
{
	size_t bytes = (size_t)v->h.num_gtes * 4;
	uint8_t *b = malloc(bytes);
	if (!b)
		return -ENOMEM;
	for (unsigned i = 0; i < v->h.num_gtes; i++)
		put_le32(b + 4 * i, c->gt[i]);
	int rc = pwrite_full(v->fd, b, bytes, (uint64_t)v->gd[c->idx] * VMDK_SECTOR);
	if (rc == 0 && v->rgd && v->rgd[c->idx])
		rc = pwrite_full(v->fd, b, bytes, (uint64_t)v->rgd[c->idx] * VMDK_SECTOR);
	free(b);
	return rc;
}

int vmdk_rw_flush(struct vmdk_rw *v)
{
	bool dirty = false;
	int rc = v->err;
	for (size_t i = 0; i < v->nc; i++)
		dirty |= v->c[i].dirty;
	if (rc == 0 && fdatasync(v->fd) < 0)		/* the grains before the tables */
		rc = -errno;
	for (size_t i = 0; i < v->nc && rc == 0 && dirty; i++)
		if (v->c[i].dirty && (rc = write_gt(v, &v->c[i])) == 0)
			v->c[i].dirty = false;
	if (rc == 0 && dirty && fdatasync(v->fd) < 0)
		rc = -errno;
	if (rc < 0)
		v->err = rc;
	return rc;
}

int vmdk_rw_close(struct vmdk_rw *v)
{
	if (!v)
		return 0;
	int rc = vmdk_rw_flush(v);
	if (rc == 0 && v->marked)
		rc = write_header(v, false);
	if (close(v->fd) < 0 && rc == 0)
		rc = -errno;
	for (size_t i = 0; i < v->nc; i++)
		free(v->c[i].gt);
	free(v->gd);
	free(v->rgd);
	free(v);
	return rc;
}
