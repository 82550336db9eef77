/* monolithicFlat (VMDK_FLAT): a descriptor file PATH and a raw extent NAME-flat.vmdk beside
 * it, byte offset = disk offset. The writer body (any write order, overwrites allowed,
 * all-zero 64 KiB blocks punched as holes), and an existing flat disk opened and updated
 * in place (the continuous rehydrator).
 *
 * The descriptor is always replaced whole and atomically (temporary file, fsync, rename,
 * directory fsync) with a new random CID, as VMware does when a disk's content changes;
 * callers fdatasync the extent before they rewrite the descriptor, so a descriptor never
 * describes an extent that is not on disk yet. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic-file.h"
#include "common/util.h"
#include "image/vmdk-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

/* ---- raw extents ---- */

int vmdk_flat_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	int r;

	while (len) {
		/* one run: the unaligned head, or aligned blocks all zero or all not */
		size_t n = (size_t)MIN((uint64_t)len, VMDK_GRAIN_SIZE - off % VMDK_GRAIN_SIZE);
		bool zero = n == VMDK_GRAIN_SIZE && mem_is_zero(p, n);
		if (n == VMDK_GRAIN_SIZE) {
			while (n + VMDK_GRAIN_SIZE <= len &&
			       mem_is_zero(p + n, VMDK_GRAIN_SIZE) == zero)
				n += VMDK_GRAIN_SIZE;
		}
		r = -EOPNOTSUPP;
		if (zero && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				      (off_t)n) < 0)
			r = -errno;
		else if (zero)
			r = 0;
		if (r == -EOPNOTSUPP)
			r = pwrite_full(fd, p, n, off);
		if (r < 0)
			return r;
		p += n, off += n, len -= n;
	}
	return 0;
}

int vmdk_zero_range(int fd, uint64_t off, uint64_t len)
{
	if (!len || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len) == 0)
		return 0;
	return pwrite_zeroes(fd, off, len);
}

char *vmdk_flat_extent_path(const char *desc_path)
{
	const char *slash = strrchr(desc_path, '/');
	size_t dir_len = slash ? (size_t)(slash + 1 - desc_path) : 0;
	size_t stem_len = strlen(desc_path);

	if (stem_len > dir_len + 5 && strcmp(desc_path + stem_len - 5, ".vmdk") == 0)
		stem_len -= 5;
	char *p = malloc(stem_len + sizeof("-flat.vmdk"));
	if (p) {
		memcpy(p, desc_path, stem_len);
		memcpy(p + stem_len, "-flat.vmdk", sizeof("-flat.vmdk"));
	}
	return p;
}

/* ---- the writer body ---- */

static int flat_start(struct vmdk_writer *w)
{
	return ftruncate(w->fd, (off_t)w->capacity) < 0 ? -errno : 0;
}

static int flat_write(struct vmdk_writer *w, uint64_t off, const void *data, size_t len)
{
	return vmdk_flat_pwrite(w->fd, data, len, off);
}

const struct vmdk_body_ops vmdk_flat_ops = {
	.create_type = "monolithicFlat",
	.ext_type = VMDK_EXT_FLAT,
	.desc_file = true,
	.start = flat_start,
	.write = flat_write,
};

/* ---- descriptors ---- */

/* d with a new random CID, written atomically to path. */
static int write_new_cid(const char *path, struct vmdk_desc *d, char *err, size_t errlen)
{
	CLEANUP_FREE char *out = malloc(VMDK_DESC_MAX);
	uint32_t cid = d->cid;
	int r = 0;

	if (!out)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	while (r == 0 && (cid == d->cid || cid == 0xffffffffu))
		r = vmdk_random(&cid, sizeof cid);
	if (r < 0)
		return err_set(err, errlen, r, "getrandom: %s", strerror(-r));
	d->cid = cid;
	ssize_t n = vmdk_desc_format(d, out, VMDK_DESC_MAX);
	if (n < 0)
		return err_set(err, errlen, (int)n, "%s: descriptor cannot be written: %s", path,
			       strerror((int)-n));
	if ((r = atomic_file_write(path, out, (size_t)n, 0600)) < 0)
		return err_set(err, errlen, r, "%s: %s", path, strerror(-r));
	return 0;
}

static int set_keys(struct vmdk_desc *d, const struct vmdk_kv *kv, size_t n, char *err,
		    size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int r = vmdk_desc_set(d, kv[i].key, kv[i].value);
		if (r < 0)
			return err_set(err, errlen, r, "cannot set %s: %s", kv[i].key, strerror(-r));
	}
	return 0;
}

int vmdk_flat_write_desc(const char *path, const struct vmdk_meta *m, char *err, size_t errlen)
{
	CLEANUP_FREE char *ext = vmdk_flat_extent_path(path), *buf = malloc(VMDK_DESC_MAX);
	struct vmdk_desc d = VMDK_DESC_INIT;

	if (!ext || !buf)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	const char *slash = strrchr(ext, '/');
	int r = vmdk_desc_build(&d, m, vmdk_flat_ops.create_type, VMDK_EXT_FLAT,
				slash ? slash + 1 : ext);
	if (r < 0)
		return err_set(err, errlen, r, "%s: bad image metadata (adapter type or ddb "
			       "keys)", path);
	ssize_t n = vmdk_desc_format(&d, buf, VMDK_DESC_MAX);
	vmdk_desc_release(&d);
	r = n < 0 ? (int)n : atomic_file_write(path, buf, (size_t)n, 0600);
	if (r < 0)
		return err_set(err, errlen, r, "%s: writing the descriptor: %s", path,
			       strerror(-r));
	return 0;
}

int vmdk_flat_update_desc(const char *path, const struct vmdk_kv *kv, size_t n, char *err,
			  size_t errlen)
{
	CLEANUP_FREE char *text = NULL;
	struct vmdk_desc d;
	size_t len;
	int r;

	if ((r = vmdk_read_desc_file(path, &text, &len, err, errlen)) < 0)
		return r;
	if ((r = vmdk_desc_parse(text, len, &d, err, errlen)) < 0)
		return r;
	if ((r = set_keys(&d, kv, n, err, errlen)) == 0)
		r = write_new_cid(path, &d, err, errlen);
	vmdk_desc_release(&d);
	return r;
}

/* ---- an existing monolithicFlat disk ---- */

int vmdk_flat_open(const char *path, struct vmdk_flat *f, char *err, size_t errlen)
{
	CLEANUP_FREE char *text = NULL;
	size_t len;
	struct stat st;
	int r;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (!(f->desc_path = strdup(path)))
		return err_set(err, errlen, -ENOMEM, "out of memory");
	if ((r = vmdk_read_desc_file(path, &text, &len, err, errlen)) < 0 ||
	    (r = vmdk_desc_parse(text, len, &f->desc, err, errlen)) < 0)
		goto fail;
	const struct vmdk_desc_extent *e = f->desc.extents;
	if (strcasecmp(f->desc.create_type, "monolithicFlat") != 0 || f->desc.n_extents != 1 ||
	    e->type != VMDK_EXT_FLAT || e->access != VMDK_RW || e->offset != 0) {
		r = err_set(err, errlen, -EBADMSG,
			 "%s: not a monolithicFlat disk with one RW FLAT extent", path);
		goto fail;
	}
	f->capacity = e->sectors * VMDK_SECTOR;
	if (!(f->extent_path = vmdk_path_beside(path, e->file))) {
		r = err_set(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	f->fd = open(f->extent_path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0 || fstat(f->fd, &st) < 0) {
		r = err_set(err, errlen, -errno, "%s: %s", f->extent_path, strerror(errno));
		goto fail;
	}
	if ((uint64_t)st.st_size < f->capacity) {
		r = err_set(err, errlen, -EBADMSG, "%s: extent shorter than the descriptor says",
			 f->extent_path);
		goto fail;
	}
	return 0;
fail:
	vmdk_flat_close(f);
	return r;
}

int vmdk_flat_set(struct vmdk_flat *f, const struct vmdk_kv *kv, size_t n, uint64_t capacity,
		  char *err, size_t errlen)
{
	if (capacity % VMDK_SECTOR)
		return err_set(err, errlen, -EINVAL, "capacity not a multiple of 512");
	int r = set_keys(&f->desc, kv, n, err, errlen);
	if (r < 0)
		return r;
	f->desc.extents[0].sectors = capacity / VMDK_SECTOR;
	if ((r = write_new_cid(f->desc_path, &f->desc, err, errlen)) < 0)
		return r;
	f->capacity = capacity;
	return 0;
}

void vmdk_flat_close(struct vmdk_flat *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->extent_path);
	free(f->desc_path);
	f->extent_path = f->desc_path = NULL;
	vmdk_desc_release(&f->desc);
}
