/* A guest disk's bytes (contract in guest.h): two small implementations behind one table,
 * a file descriptor (raw files, block devices, a monolithicFlat VMDK's extent, whose byte
 * offsets are the disk's) and an in-place monolithicSparse VMDK (image/vmdk-inplace.c).
 * Which one a VMDK path is follows from its first bytes: "KDMV" is a sparse extent, text
 * is a descriptor. */
#include "agent/guest.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/vmdk.h"
#include "common/banned.h"

struct disk_ops {
	const char *kind;
	int (*read)(struct guest_disk *d, void *buf, size_t len, uint64_t off);
	int (*write)(struct guest_disk *d, const void *buf, size_t len, uint64_t off);
	int (*flush)(struct guest_disk *d);
	int (*close)(struct guest_disk *d);
};

struct guest_disk {
	const struct disk_ops *ops;
	uint64_t size;
	int fd;			/* raw and flat */
	struct vmdk_flat flat;	/* flat: owns fd */
	bool is_flat;
	struct vmdk_rw *rw;	/* sparse */
};

/* ---- a file descriptor ---- */

static int fd_read(struct guest_disk *d, void *buf, size_t len, uint64_t off)
{
	return pread_full(d->fd, buf, len, off);
}

static int fd_write(struct guest_disk *d, const void *buf, size_t len, uint64_t off)
{
	return pwrite_full(d->fd, buf, len, off);
}

static int fd_flush(struct guest_disk *d)
{
	return fsync(d->fd) < 0 ? -errno : 0;
}

static int fd_close(struct guest_disk *d)
{
	int rc = fd_flush(d);
	if (d->is_flat) {
		vmdk_flat_close(&d->flat);
	} else if (close(d->fd) < 0 && rc == 0) {
		rc = -errno;
	}
	return rc;
}

static const struct disk_ops raw_ops = { "raw", fd_read, fd_write, fd_flush, fd_close };
static const struct disk_ops flat_ops = { "monolithicFlat VMDK", fd_read, fd_write, fd_flush,
					  fd_close };

/* ---- a sparse VMDK ---- */

static int rw_read(struct guest_disk *d, void *buf, size_t len, uint64_t off)
{
	return vmdk_rw_read(d->rw, off, buf, len);
}

static int rw_write(struct guest_disk *d, const void *buf, size_t len, uint64_t off)
{
	return vmdk_rw_write(d->rw, off, buf, len);
}

static int rw_flush(struct guest_disk *d)
{
	return vmdk_rw_flush(d->rw);
}

static int rw_close(struct guest_disk *d)
{
	return vmdk_rw_close(d->rw);
}

static const struct disk_ops sparse_ops = { "monolithicSparse VMDK", rw_read, rw_write,
					    rw_flush, rw_close };

/* ---- opening ---- */

static int open_raw(const char *image, struct guest_disk *d, char *err, size_t errlen)
{
	struct stat st;
	d->fd = open(image, O_RDWR | O_CLOEXEC);
	if (d->fd < 0 || fstat(d->fd, &st) < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", image, strerror(errno));
		return rc;
	}
	d->size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(d->fd, BLKGETSIZE64, &d->size) < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: cannot get the device's size: %s", image, strerror(errno));
		return rc;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: neither a file nor a block device", image);
		return -EINVAL;
	}
	d->ops = &raw_ops;
	return 0;
}

static int open_vmdk(const char *image, struct guest_disk *d, char *err, size_t errlen)
{
	uint8_t magic[4] = { 0 };
	int fd = open(image, O_RDONLY | O_CLOEXEC), rc;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", image, strerror(errno));
		return rc;
	}
	rc = pread_full(fd, magic, sizeof(magic), 0);
	close(fd);
	if (rc == 0 && get_le32(magic) == VMDK_MAGIC) {
		if ((rc = vmdk_rw_open(image, &d->rw, err, errlen)) < 0)
			return rc;
		d->size = vmdk_rw_capacity(d->rw);
		d->ops = &sparse_ops;
		return 0;
	}
	char why[256];
	if ((rc = vmdk_flat_open(image, &d->flat, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "%s: not a monolithicSparse VMDK, and as a descriptor: %s",
			 image, why);
		return rc;
	}
	d->is_flat = true;
	d->fd = d->flat.fd;
	d->size = d->flat.capacity;
	d->ops = &flat_ops;
	return 0;
}

int guest_disk_open(const char *image, enum reip_image kind, struct guest_disk **out,
		    char *err, size_t errlen)
{
	struct guest_disk *d = calloc(1, sizeof(*d));
	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->fd = -1;
	int rc = kind == REIP_IMAGE_VMDK ? open_vmdk(image, d, err, errlen) :
					   open_raw(image, d, err, errlen);
	if (rc < 0) {
		if (d->fd >= 0 && !d->is_flat)
			close(d->fd);
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

uint64_t guest_disk_size(const struct guest_disk *d)
{
	return d->size;
}

const char *guest_disk_kind(const struct guest_disk *d)
{
	return d->ops->kind;
}

int guest_disk_read(struct guest_disk *d, void *buf, size_t len, uint64_t off)
{
	if (off > d->size || len > d->size - off)
		return -EINVAL;
	return d->ops->read(d, buf, len, off);
}

int guest_disk_write(struct guest_disk *d, const void *buf, size_t len, uint64_t off)
{
	if (off > d->size || len > d->size - off)
		return -EINVAL;
	return d->ops->write(d, buf, len, off);
}

int guest_disk_flush(struct guest_disk *d)
{
	return d->ops->flush(d);
}

int guest_disk_close(struct guest_disk *d)
{
	if (!d)
		return 0;
	int rc = d->ops->close(d);
	free(d);
	return rc;
}
