/* VMDK writers, the common part: argument checks, names, the descriptor, ascending-order
 * grain assembly, temporary files, checkpoints and publishing. What differs per image kind
 * lives behind struct vmdk_body_ops (vmdk-internal.h): vmdk-sparse.c, vmdk-flat.c,
 * vmdk-stream.c.
 *
 * Publishing: everything is written under temporary names (PATH.part; for FLAT the extent
 * NAME-flat.vmdk.part) and renamed into place only by finish(), after fsync, and followed
 * by an fsync of the directory; for FLAT the extent is renamed first and the descriptor
 * last, so a crash at any point leaves no descriptor at PATH that points at a partial
 * extent. abort() unlinks the temporaries.
 *
 * Ordered bodies (sparse, stream) need ascending writes. That lets the writer hold only
 * one grain (64 KiB) being assembled from partial writes; the body sees whole grains, and
 * all-zero grains are never handed to it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic-file.h"
#include "common/util.h"
#include "image/vmdk-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

static const struct vmdk_body_ops *const bodies[] = {
	[VMDK_SPARSE] = &vmdk_sparse_ops,
	[VMDK_FLAT] = &vmdk_flat_ops,
	[VMDK_STREAM] = &vmdk_stream_ops,
};

void vmdk_header_encode(const struct vmdk_header *h, uint8_t o[VMDK_SECTOR])
{
	memset(o, 0, VMDK_SECTOR);
	put_le32(o + 0, VMDK_MAGIC);
	put_le32(o + 4, h->version);
	put_le32(o + 8, h->flags);
	put_le64(o + 12, h->capacity);
	put_le64(o + 20, h->grain_size);
	put_le64(o + 28, h->desc_offset);
	put_le64(o + 36, h->desc_size);
	put_le32(o + 44, h->num_gtes);
	put_le64(o + 48, h->rgd_offset);
	put_le64(o + 56, h->gd_offset);
	put_le64(o + 64, h->overhead);
	o[72] = h->unclean;
	o[73] = '\n';
	o[74] = ' ';
	o[75] = '\r';
	o[76] = '\n';
	put_le16(o + 77, h->compress);
}

/* ---- ascending writes: grains assembled and handed to the body ---- */

static size_t grain_len(const struct vmdk_writer *w, uint64_t g)
{
	return (size_t)MIN((uint64_t)VMDK_GRAIN_SIZE, w->capacity - g * VMDK_GRAIN_SIZE);
}

static int emit_grain(struct vmdk_writer *w, uint64_t g, const void *data, size_t len)
{
	if (mem_is_zero(data, len))
		return 0;
	return w->ops->grain(w, g, data, len);
}

static int flush_grain(struct vmdk_writer *w)
{
	if (!w->have_grain)
		return 0;
	w->have_grain = false;
	return emit_grain(w, w->cur_grain, w->gbuf, grain_len(w, w->cur_grain));
}

static int seq_write(struct vmdk_writer *w, uint64_t off, const uint8_t *p, size_t len)
{
	int r = 0;

	if (off < w->pos)
		return -EINVAL;
	while (len && r == 0) {
		uint64_t g = off / VMDK_GRAIN_SIZE;
		size_t in = (size_t)(off % VMDK_GRAIN_SIZE), glen = grain_len(w, g);
		size_t n = MIN(len, glen - in);

		if (w->have_grain && w->cur_grain != g && (r = flush_grain(w)) < 0)
			break;
		if (!w->have_grain && in == 0 && n == glen) {
			r = emit_grain(w, g, p, glen);	/* a whole grain: no copy */
		} else {
			if (!w->have_grain) {
				memset(w->gbuf, 0, glen);
				w->cur_grain = g;
				w->have_grain = true;
			}
			memcpy(w->gbuf + in, p, n);
			if (in + n == glen)
				r = flush_grain(w);
		}
		off += n, p += n, len -= n;
	}
	w->pos = off;
	return r;
}

/* ---- names, descriptor, life cycle ---- */

static char *concat(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	char *p = malloc(an + bn + 1);
	if (p) {
		memcpy(p, a, an);
		memcpy(p + an, b, bn + 1);
	}
	return p;
}

/* A descriptor file beside its extent: w->path becomes the extent's final path,
 * DIR/NAME-flat.vmdk (NAME: the basename of the descriptor path without ".vmdk"), and
 * w->desc_path the descriptor's. */
static int flat_names(struct vmdk_writer *w, const char **ext_name)
{
	const char *slash = strrchr(w->path, '/');
	size_t dir_len = slash ? (size_t)(slash + 1 - w->path) : 0;
	size_t stem_len = strlen(w->path);

	if (stem_len > dir_len + 5 && strcmp(w->path + stem_len - 5, ".vmdk") == 0)
		stem_len -= 5;
	char *ext = concat(w->path, stem_len, "-flat.vmdk");
	if (!ext)
		return -ENOMEM;
	w->desc_path = w->path;
	w->path = ext;
	*ext_name = ext + dir_len;
	return 0;
}

static void writer_free(struct vmdk_writer *w, bool unlink_tmp)
{
	if (w->ops->release)
		w->ops->release(w);
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp && w->tmp)
		unlink(w->tmp);
	free(w->path);
	free(w->tmp);
	free(w->desc_path);
	free(w->desc);
	free(w->gbuf);
	free(w);
}

static int make_desc(struct vmdk_writer *w, const struct vmdk_meta *m, const char *ext_name,
		     char *err, size_t errlen)
{
	struct vmdk_desc d;
	size_t cap = w->ops->desc_file ? VMDK_DESC_MAX : VMDK_DESC_SECTORS * VMDK_SECTOR;
	int r = vmdk_desc_build(&d, m, w->ops->create_type, w->ops->ext_type, ext_name);
	if (r < 0)
		return err_set(err, errlen, r, "bad image metadata (adapter type or ddb keys)");
	if (!(w->desc = malloc(cap))) {
		vmdk_desc_release(&d);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	ssize_t n = vmdk_desc_format(&d, w->desc, cap);
	vmdk_desc_release(&d);
	if (n < 0)
		return err_set(err, errlen, (int)n, "descriptor: %s", n == -E2BIG ?
			    "larger than 20 sectors" : "a value cannot be written");
	w->desc_len = (size_t)n;
	return 0;
}

/* Everything both open and resume need: checks, names, body state, descriptor, buffers. */
static int writer_new(const char *path, enum vmdk_format f, const struct vmdk_meta *m,
		      struct vmdk_writer **out, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/'), *ext_name = slash ? slash + 1 : path;
	int r;

	*out = NULL;
	if ((unsigned)f >= ARRAY_SIZE(bodies) || m->capacity % VMDK_SECTOR || !*ext_name ||
	    m->level < 0 || m->level > 3)
		return err_set(err, errlen, -EINVAL, "bad format, capacity or level");
	if (m->capacity > (UINT64_MAX >> 12) ||
	    (f == VMDK_STREAM && m->capacity > VMDK_STREAM_MAX))
		return err_set(err, errlen, -EFBIG, "capacity too large");
	struct vmdk_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	w->ops = bodies[f];
	w->capacity = m->capacity;
	w->level = m->level;	/* STREAM: 0 is libdeflate (vmdk-stream.c) */
	w->threads = m->threads;
	w->fd = -1;
	if (!(w->path = strdup(path))) {
		r = err_set(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	if (w->ops->desc_file && (r = flat_names(w, &ext_name)) < 0) {
		r = err_set(err, errlen, r, "%s: bad name for a flat VMDK", path);
		goto fail;
	}
	if (w->ops->init && (r = w->ops->init(w, err, errlen)) < 0)
		goto fail;
	if ((r = make_desc(w, m, ext_name, err, errlen)) < 0)
		goto fail;
	if ((w->ops->ordered && !(w->gbuf = malloc(VMDK_GRAIN_SIZE))) ||
	    !(w->tmp = concat(w->path, strlen(w->path), ".part"))) {
		r = err_set(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	writer_free(w, false);
	return r;
}

int vmdk_writer_open(const char *path, enum vmdk_format f, const struct vmdk_meta *m,
		     struct vmdk_writer **out, char *err, size_t errlen)
{
	struct vmdk_writer *w;
	int r = writer_new(path, f, m, &w, err, errlen);
	if (r < 0)
		return r;
	w->fd = open(w->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		r = err_set(err, errlen, -errno, "%s: %s", w->tmp, strerror(errno));
		writer_free(w, false);
		return r;
	}
	if ((r = w->ops->start(w)) < 0) {
		r = err_set(err, errlen, r, "%s: %s", w->tmp, strerror(-r));
		writer_free(w, true);
		return r;
	}
	*out = w;
	return 0;
}

int vmdk_writer_write(struct vmdk_writer *w, uint64_t off, const void *data, size_t len)
{
	if (w->err)
		return w->err;
	if (off > w->capacity || len > w->capacity - off)
		return -EINVAL;
	if (len == 0)
		return 0;
	int r = w->ops->ordered ? seq_write(w, off, data, len) : w->ops->write(w, off, data, len);
	if (r < 0 && r != -EINVAL)
		w->err = r;
	return r;
}

int vmdk_writer_write_zgrain(struct vmdk_writer *w, uint64_t off, const void *data, size_t len,
			     const void *z, size_t zlen)
{
	uint64_t g = off / VMDK_GRAIN_SIZE;
	if (w->err || !w->ops->zgrain || off % VMDK_GRAIN_SIZE || off < w->pos ||
	    off >= w->capacity || len != grain_len(w, g) || zlen > VMDK_GRAIN_SIZE)
		return vmdk_writer_write(w, off, data, len);
	int r = flush_grain(w);
	if (r == 0 && !mem_is_zero(data, len))
		r = w->ops->zgrain(w, g, z, zlen);
	w->pos = off + len;
	if (r < 0)
		w->err = r;
	return r;
}

int vmdk_writer_flat_fd(const struct vmdk_writer *w)
{
	return w->ops->ordered ? -EINVAL : w->fd;
}

int vmdk_writer_finish(struct vmdk_writer *w, char *err, size_t errlen)
{
	int r = w->err;

	if (r == 0 && w->ops->ordered)
		r = flush_grain(w);
	if (r == 0 && w->ops->finish)
		r = w->ops->finish(w);
	if (r == 0 && fsync(w->fd) < 0)
		r = -errno;
	if (r == 0 && close(w->fd) < 0)
		r = -errno;
	w->fd = -1;
	if (r == 0 && rename(w->tmp, w->path) < 0)
		r = -errno;
	if (r < 0) {
		err_set(err, errlen, r, "%s: %s", w->tmp, strerror(-r));
		writer_free(w, true);
		return r;
	}
	if (w->ops->desc_file)
		r = atomic_file_write(w->desc_path, w->desc, w->desc_len, 0600);
	else
		r = fsync_parent_dir(w->path);
	if (r < 0) {
		err_set(err, errlen, r, "%s: %s", w->ops->desc_file ? w->desc_path : w->path,
			strerror(-r));
	}
	writer_free(w, false);
	return r;
}

void vmdk_writer_abort(struct vmdk_writer *w)
{
	if (w)
		writer_free(w, true);
}

/* ---- checkpoints ---- */

int vmdk_writer_checkpoint(struct vmdk_writer *w, struct vmdk_ckpt *c)
{
	if (w->err)
		return w->err;
	if (!w->ops->checkpoint)
		return -EINVAL;
	/* a grain being assembled is not in the file: the caller writes it again */
	uint64_t off = w->have_grain ? w->cur_grain * VMDK_GRAIN_SIZE : w->pos;
	int r = w->ops->checkpoint(w, &c->next);
	if (r == 0 && fdatasync(w->fd) < 0)
		r = -errno;
	if (r < 0)
		return w->err = r;
	c->off = off;
	return 0;
}

void vmdk_writer_suspend(struct vmdk_writer *w)
{
	if (w)
		writer_free(w, false);
}

int vmdk_writer_resume(const char *path, enum vmdk_format f, const struct vmdk_meta *m,
		       const struct vmdk_ckpt *c, struct vmdk_writer **out, char *err,
		       size_t errlen)
{
	struct vmdk_writer *w;
	*out = NULL;
	if ((unsigned)f >= ARRAY_SIZE(bodies) || !bodies[f]->reopen || c->off > m->capacity)
		return err_set(err, errlen, -EINVAL, "no checkpoint for this format or size");
	int r = writer_new(path, f, m, &w, err, errlen);
	if (r < 0)
		return r;
	w->fd = open(w->tmp, O_RDWR | O_CLOEXEC);
	if (w->fd < 0)
		r = err_set(err, errlen, -errno, "%s: %s", w->tmp, strerror(errno));
	else
		r = w->ops->reopen(w, c, err, errlen);
	if (r < 0) {
		writer_free(w, false);
		return r;
	}
	w->pos = c->off;
	*out = w;
	return 0;
}
