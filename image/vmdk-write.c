/* VMDK writers: the common part (argument checks, ascending-order grain assembly, temporary
 * files and publishing) plus the monolithicSparse and monolithicFlat bodies; the
 * streamOptimized body is vmdk-stream.c.
 *
 * Publishing: everything is written under temporary names (PATH.part; for FLAT the extent
 * NAME-flat.vmdk.part) and renamed into place only by finish(), after fsync, and followed
 * by an fsync of the directory; for FLAT the extent is renamed first and the descriptor
 * last, so a crash at any point leaves no descriptor at PATH that points at a partial
 * extent. abort() unlinks the temporaries.
 *
 * Sparse and stream writes must ascend. That lets the writer hold only one grain (64 KiB)
 * being assembled from partial writes and, for SPARSE, only the grain table of the current
 * 32 MiB span: a table is final once the writes have moved past its span, so it is
 * written out (both copies) right then. The layout is qemu-img create's, byte for byte
 * (reference 2.4): header, descriptor at sector 1 (20 sectors), redundant GD + all GTs,
 * GD + all GTs, grains from the grain-aligned overHead on, each a whole grain.
 *
 * Checkpoints (resumable restores): SPARSE writes the open span's GT (it stays open) and
 * fdatasyncs; a resume reads that GT back without the entries at or after the checkpoint
 * and clears later spans' GTs, so whatever a killed writer added after it is unreachable
 * and gets overwritten. STREAM's side is in vmdk-stream.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/vmdk.h"
#include "common/banned.h"

struct vmdk_writer {
	enum vmdk_format fmt;
	uint64_t capacity;	/* bytes */
	int err;		/* sticky: the first failure */
	int fd;			/* the temporary image (FLAT: the temporary extent) */
	char *path, *tmp;	/* PATH and PATH.part (FLAT: the extent's) */
	char *desc_path;	/* FLAT: the descriptor, written by finish() */
	char *desc;		/* the descriptor text */
	size_t desc_len;

	/* SPARSE and STREAM: ascending writes */
	uint64_t pos;		/* lowest offset the next write may start at */
	uint64_t cur_grain;	/* the grain in gbuf, when have_grain */
	bool have_grain;
	uint8_t *gbuf;

	/* SPARSE: layout in sectors, and the grain table of the current span */
	uint64_t n_gt, gd_sectors, rgd, gd, overhead, next_alloc;
	uint64_t gt_idx;
	bool gt_dirty;
	uint32_t gt[VMDK_GTES_PER_GT];

	struct vmdk_stream *stream;	/* STREAM */
};

/* ---- helpers shared with the other files ---- */

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

bool vmdk_is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n && i < 16; i++)
		if (b[i])
			return false;
	return n <= 16 || memcmp(b, b + 16, n - 16) == 0;
}

int vmdk_random(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r, n -= (size_t)r;
	}
	return 0;
}

int vmdk_fsync_dir(const char *path)
{
	CLEANUP_FREE char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int vmdk_flat_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	int r;

	while (len) {
		/* one run: the unaligned head, or aligned blocks all zero or all not */
		size_t n = (size_t)MIN((uint64_t)len, VMDK_GRAIN_SIZE - off % VMDK_GRAIN_SIZE);
		bool zero = n == VMDK_GRAIN_SIZE && vmdk_is_zero(p, n);
		if (n == VMDK_GRAIN_SIZE) {
			while (n + VMDK_GRAIN_SIZE <= len &&
			       vmdk_is_zero(p + n, VMDK_GRAIN_SIZE) == zero)
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
	static const uint8_t zeros[64 << 10];
	if (!len || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len) == 0)
		return 0;
	while (len) {
		size_t n = (size_t)MIN(len, (uint64_t)sizeof zeros);
		int r = pwrite_full(fd, zeros, n, off);
		if (r < 0)
			return r;
		off += n, len -= n;
	}
	return 0;
}

/* ---- monolithicSparse ---- */

static int sparse_layout(struct vmdk_writer *w, char *err, size_t errlen)
{
	uint64_t sectors = w->capacity / VMDK_SECTOR;
	uint64_t span = (uint64_t)VMDK_GTES_PER_GT * VMDK_GRAIN_SECTORS;
	uint64_t grains = (sectors + VMDK_GRAIN_SECTORS - 1) / VMDK_GRAIN_SECTORS;

	w->n_gt = (sectors + span - 1) / span;
	w->gd_sectors = (w->n_gt * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR;
	w->rgd = 1 + VMDK_DESC_SECTORS;
	w->gd = w->rgd + w->gd_sectors + 4 * w->n_gt;
	w->overhead = ROUND_UP(w->gd + w->gd_sectors + 4 * w->n_gt, VMDK_GRAIN_SECTORS);
	w->next_alloc = w->overhead;
	if (w->next_alloc + grains * VMDK_GRAIN_SECTORS > UINT32_MAX)
		return vmdk_fail(err, errlen, -EFBIG, "capacity too large for a sparse VMDK");
	return 0;
}

static void sparse_header(const struct vmdk_writer *w, uint8_t out[VMDK_SECTOR])
{
	struct vmdk_header h = {
		.version = 1, .flags = VMDK_FLAG_NL_TEST | VMDK_FLAG_RGD,
		.capacity = w->capacity / VMDK_SECTOR, .grain_size = VMDK_GRAIN_SECTORS,
		.desc_offset = 1, .desc_size = VMDK_DESC_SECTORS, .num_gtes = VMDK_GTES_PER_GT,
		.rgd_offset = w->rgd, .gd_offset = w->gd, .overhead = w->overhead,
	};
	vmdk_header_encode(&h, out);
}

/* Header, descriptor, and both grain directories (they point at every GT). */
static int sparse_start(struct vmdk_writer *w)
{
	uint8_t *buf = calloc(1 + VMDK_DESC_SECTORS, VMDK_SECTOR);
	if (!buf)
		return -ENOMEM;
	sparse_header(w, buf);
	memcpy(buf + VMDK_SECTOR, w->desc, w->desc_len);
	int r = pwrite_full(w->fd, buf, (1 + VMDK_DESC_SECTORS) * VMDK_SECTOR, 0);
	free(buf);
	if (r < 0 || w->n_gt == 0)
		return r;
	uint8_t *gd = calloc(w->gd_sectors, VMDK_SECTOR);
	if (!gd)
		return -ENOMEM;
	for (unsigned copy = 0; copy < 2 && r == 0; copy++) {
		uint64_t base = copy ? w->gd : w->rgd;
		for (uint64_t i = 0; i < w->n_gt; i++)
			put_le32(gd + 4 * i, (uint32_t)(base + w->gd_sectors + 4 * i));
		r = pwrite_full(w->fd, gd, w->gd_sectors * VMDK_SECTOR, base * VMDK_SECTOR);
	}
	free(gd);
	return r;
}

/* The byte offset of GT i: copy 0 the redundant one, copy 1 the primary one. */
static uint64_t gt_pos(const struct vmdk_writer *w, unsigned copy, uint64_t i)
{
	return ((copy ? w->gd : w->rgd) + w->gd_sectors + 4 * i) * VMDK_SECTOR;
}

static int sparse_write_gt(struct vmdk_writer *w)
{
	uint8_t buf[VMDK_GTES_PER_GT * 4];
	int r = 0;

	for (unsigned i = 0; i < VMDK_GTES_PER_GT; i++)
		put_le32(buf + 4 * i, w->gt[i]);
	for (unsigned copy = 0; copy < 2 && r == 0; copy++)
		r = pwrite_full(w->fd, buf, sizeof buf, gt_pos(w, copy, w->gt_idx));
	return r;
}

static int sparse_flush_gt(struct vmdk_writer *w)
{
	if (!w->gt_dirty)
		return 0;
	w->gt_dirty = false;
	return sparse_write_gt(w);
}

static int sparse_grain(struct vmdk_writer *w, uint64_t g, const void *data, size_t len)
{
	int r;

	if (g / VMDK_GTES_PER_GT != w->gt_idx || !w->gt_dirty) {
		if ((r = sparse_flush_gt(w)) < 0)
			return r;
		memset(w->gt, 0, sizeof w->gt);
		w->gt_idx = g / VMDK_GTES_PER_GT;
	}
	if ((r = pwrite_full(w->fd, data, len, w->next_alloc * VMDK_SECTOR)) < 0)
		return r;
	w->gt[g % VMDK_GTES_PER_GT] = (uint32_t)w->next_alloc;
	w->gt_dirty = true;
	w->next_alloc += VMDK_GRAIN_SECTORS;
	return 0;
}

static int sparse_finish(struct vmdk_writer *w)
{
	int r = sparse_flush_gt(w);
	if (r == 0 && ftruncate(w->fd, (off_t)(w->next_alloc * VMDK_SECTOR)) < 0)
		r = -errno;
	return r;
}

/* ---- ascending writes: grains assembled and handed to the body ---- */

static size_t grain_len(const struct vmdk_writer *w, uint64_t g)
{
	return (size_t)MIN((uint64_t)VMDK_GRAIN_SIZE, w->capacity - g * VMDK_GRAIN_SIZE);
}

static int emit_grain(struct vmdk_writer *w, uint64_t g, const void *data, size_t len)
{
	if (vmdk_is_zero(data, len))
		return 0;
	if (w->fmt == VMDK_SPARSE)
		return sparse_grain(w, g, data, len);
	return vmdk_stream_grain(w->stream, g, data, len);
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

/* ---- public ---- */

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

/* FLAT: w->path becomes the extent's final path, DIR/NAME-flat.vmdk (NAME: the basename
 * of the descriptor path without ".vmdk"), and w->desc_path the descriptor's. */
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
	if (w->stream)
		vmdk_stream_free(w->stream);
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
	static const char *const types[] = { "monolithicSparse", "monolithicFlat",
					     "streamOptimized" };
	struct vmdk_desc d;
	size_t cap = w->fmt == VMDK_FLAT ? VMDK_DESC_MAX : VMDK_DESC_SECTORS * VMDK_SECTOR;
	int r = vmdk_desc_build(&d, m, types[w->fmt],
				w->fmt == VMDK_FLAT ? VMDK_EXT_FLAT : VMDK_EXT_SPARSE, ext_name);
	if (r < 0)
		return vmdk_fail(err, errlen, r, "bad image metadata (adapter type or ddb keys)");
	if (!(w->desc = malloc(cap))) {
		vmdk_desc_release(&d);
		return vmdk_fail(err, errlen, -ENOMEM, "out of memory");
	}
	ssize_t n = vmdk_desc_format(&d, w->desc, cap);
	vmdk_desc_release(&d);
	if (n < 0)
		return vmdk_fail(err, errlen, (int)n, "descriptor: %s", n == -E2BIG ?
			    "larger than 20 sectors" : "a value cannot be written");
	w->desc_len = (size_t)n;
	return 0;
}

/* Everything both open and resume need: checks, names, layout, descriptor, buffers. */
static int writer_new(const char *path, enum vmdk_format f, const struct vmdk_meta *m,
		      struct vmdk_writer **out, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/'), *ext_name = slash ? slash + 1 : path;
	int r;

	*out = NULL;
	if ((unsigned)f > VMDK_STREAM || m->capacity % VMDK_SECTOR || !*ext_name ||
	    m->level < 0 || m->level > 3)
		return vmdk_fail(err, errlen, -EINVAL, "bad format, capacity or level");
	if (m->capacity > (UINT64_MAX >> 12) ||
	    (f == VMDK_STREAM && m->capacity > VMDK_STREAM_MAX))
		return vmdk_fail(err, errlen, -EFBIG, "capacity too large");
	struct vmdk_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return vmdk_fail(err, errlen, -ENOMEM, "out of memory");
	w->fmt = f;
	w->capacity = m->capacity;
	w->fd = -1;
	if (!(w->path = strdup(path))) {
		r = vmdk_fail(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	if (f == VMDK_FLAT && (r = flat_names(w, &ext_name)) < 0) {
		r = vmdk_fail(err, errlen, r, "%s: bad name for a flat VMDK", path);
		goto fail;
	}
	if (f == VMDK_SPARSE && (r = sparse_layout(w, err, errlen)) < 0)
		goto fail;
	if ((r = make_desc(w, m, ext_name, err, errlen)) < 0)
		goto fail;
	if ((f != VMDK_FLAT && !(w->gbuf = malloc(VMDK_GRAIN_SIZE))) ||
	    !(w->tmp = concat(w->path, strlen(w->path), ".part"))) {
		r = vmdk_fail(err, errlen, -ENOMEM, "out of memory");
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
		r = vmdk_fail(err, errlen, -errno, "%s: %s", w->tmp, strerror(errno));
		writer_free(w, false);
		return r;
	}
	if (f == VMDK_FLAT)
		r = ftruncate(w->fd, (off_t)w->capacity) < 0 ? -errno : 0;
	else if (f == VMDK_SPARSE)
		r = sparse_start(w);
	else
		r = vmdk_stream_create(w->fd, w->capacity, w->desc, w->desc_len,
				       m->level ? m->level : 1, m->threads, &w->stream);
	if (r < 0) {
		r = vmdk_fail(err, errlen, r, "%s: %s", w->tmp, strerror(-r));
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
	int r = w->fmt == VMDK_FLAT ? vmdk_flat_pwrite(w->fd, data, len, off)
				    : seq_write(w, off, data, len);
	if (r < 0 && r != -EINVAL)
		w->err = r;
	return r;
}

int vmdk_writer_write_zgrain(struct vmdk_writer *w, uint64_t off, const void *data, size_t len,
			     const void *z, size_t zlen)
{
	uint64_t g = off / VMDK_GRAIN_SIZE;
	if (w->err || w->fmt != VMDK_STREAM || off % VMDK_GRAIN_SIZE || off < w->pos ||
	    off >= w->capacity || len != grain_len(w, g) || zlen > VMDK_GRAIN_SIZE)
		return vmdk_writer_write(w, off, data, len);
	int r = flush_grain(w);
	if (r == 0 && !vmdk_is_zero(data, len))
		r = vmdk_stream_zgrain(w->stream, g, z, zlen);
	w->pos = off + len;
	if (r < 0)
		w->err = r;
	return r;
}

int vmdk_writer_flat_fd(const struct vmdk_writer *w)
{
	return w->fmt == VMDK_FLAT ? w->fd : -EINVAL;
}

int vmdk_writer_finish(struct vmdk_writer *w, char *err, size_t errlen)
{
	int r = w->err;

	if (r == 0 && w->fmt != VMDK_FLAT)
		r = flush_grain(w);
	if (r == 0 && w->fmt == VMDK_SPARSE)
		r = sparse_finish(w);
	if (r == 0 && w->fmt == VMDK_STREAM)
		r = vmdk_stream_finish(w->stream);
	if (r == 0 && fsync(w->fd) < 0)
		r = -errno;
	if (r == 0 && close(w->fd) < 0)
		r = -errno;
	w->fd = -1;
	if (r == 0 && rename(w->tmp, w->path) < 0)
		r = -errno;
	if (r < 0) {
		vmdk_fail(err, errlen, r, "%s: %s", w->tmp, strerror(-r));
		writer_free(w, true);
		return r;
	}
	if (w->fmt == VMDK_FLAT)
		r = vmdk_write_file_atomic(w->desc_path, w->desc, w->desc_len);
	else
		r = vmdk_fsync_dir(w->path);
	if (r < 0) {
		vmdk_fail(err, errlen, r, "%s: %s", w->fmt == VMDK_FLAT ? w->desc_path : w->path,
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
	if (w->fmt == VMDK_FLAT)
		return -EINVAL;
	/* a grain being assembled is not in the file: the caller writes it again */
	uint64_t off = w->have_grain ? w->cur_grain * VMDK_GRAIN_SIZE : w->pos;
	int r = 0;
	if (w->fmt == VMDK_SPARSE) {
		if (w->gt_dirty)
			r = sparse_write_gt(w);	/* stays dirty: more of the span may come */
		c->next = w->next_alloc;
	} else {
		r = vmdk_stream_sync(w->stream, &c->next);
	}
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

/* The checkpoint's span's GT comes back from the file without the entries at or after
 * off; the GTs of later spans, which a killed writer may have written, are cleared. */
static int sparse_reopen(struct vmdk_writer *w, const struct vmdk_ckpt *c, char *err,
			 size_t errlen)
{
	uint8_t want[VMDK_SECTOR], have[VMDK_SECTOR], buf[VMDK_GTES_PER_GT * 4];
	struct stat st;
	int r;

	if (c->next < w->overhead || (c->next - w->overhead) % VMDK_GRAIN_SECTORS ||
	    c->next > UINT32_MAX || fstat(w->fd, &st) < 0 ||
	    (uint64_t)st.st_size < c->next * VMDK_SECTOR)
		return vmdk_fail(err, errlen, -EBADMSG, "the checkpoint does not fit the file");
	sparse_header(w, want);
	if ((r = pread_full(w->fd, have, sizeof have, 0)) < 0)
		return vmdk_fail(err, errlen, r, "reading the header");
	if (memcmp(want, have, sizeof have))
		return vmdk_fail(err, errlen, -EBADMSG, "not the header of this image");
	w->next_alloc = c->next;
	w->pos = c->off;
	uint64_t g = c->off / VMDK_GRAIN_SIZE;
	w->gt_idx = g / VMDK_GTES_PER_GT;
	if (w->gt_idx >= w->n_gt)
		return 0;	/* complete up to the end */
	if ((r = pread_full(w->fd, buf, sizeof buf, gt_pos(w, 1, w->gt_idx))) < 0)
		return vmdk_fail(err, errlen, r, "reading a grain table");
	for (unsigned i = 0; i < VMDK_GTES_PER_GT; i++) {
		uint32_t e = i < g % VMDK_GTES_PER_GT ? get_le32(buf + 4 * i) : 0;
		if (e && (e < w->overhead || e >= c->next || (e - w->overhead) %
							       VMDK_GRAIN_SECTORS))
			return vmdk_fail(err, errlen, -EBADMSG, "grain table %" PRIu64
					 " points outside the checkpoint", w->gt_idx);
		w->gt[i] = e;
	}
	w->gt_dirty = true;
	uint64_t later = (w->n_gt - w->gt_idx - 1) * 4 * VMDK_SECTOR;
	for (unsigned copy = 0; copy < 2 && r == 0; copy++)
		r = vmdk_zero_range(w->fd, gt_pos(w, copy, w->gt_idx + 1), later);
	return r < 0 ? vmdk_fail(err, errlen, r, "clearing grain tables: %s", strerror(-r)) : 0;
}

int vmdk_writer_resume(const char *path, enum vmdk_format f, const struct vmdk_meta *m,
		       const struct vmdk_ckpt *c, struct vmdk_writer **out, char *err,
		       size_t errlen)
{
	struct vmdk_writer *w;
	*out = NULL;
	if (f == VMDK_FLAT || c->off > m->capacity)
		return vmdk_fail(err, errlen, -EINVAL, "no checkpoint for this format or size");
	int r = writer_new(path, f, m, &w, err, errlen);
	if (r < 0)
		return r;
	w->fd = open(w->tmp, O_RDWR | O_CLOEXEC);
	if (w->fd < 0)
		r = vmdk_fail(err, errlen, -errno, "%s: %s", w->tmp, strerror(errno));
	else if (f == VMDK_SPARSE)
		r = sparse_reopen(w, c, err, errlen);
	else
		r = vmdk_stream_reopen(w->fd, w->capacity, c->next,
				       (c->off + VMDK_GRAIN_SIZE - 1) / VMDK_GRAIN_SIZE,
				       m->level ? m->level : 1, m->threads, &w->stream, err,
				       errlen);
	if (r < 0) {
		writer_free(w, false);
		return r;
	}
	w->pos = c->off;
	*out = w;
	return 0;
}
