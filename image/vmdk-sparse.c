/* monolithicSparse body (VMDK_SPARSE): one hosted sparse file with its descriptor embedded.
 *
 * The layout is qemu-img create's, byte for byte (docs/vmdk.md): header, descriptor at
 * sector 1 (20 sectors), redundant GD + all GTs, GD + all GTs, grains from the
 * grain-aligned overHead on, each a whole grain. Grains come in ascending order (the
 * common part assembles them), so only the grain table of the current 32 MiB span is held:
 * a table is final once the writes have moved past its span, and it is written out (both
 * copies) right then.
 *
 * Checkpoints (resumable restores) write the open span's GT (it stays open); a resume
 * reads that GT back without the entries at or after the checkpoint and clears later
 * spans' GTs, so whatever a killed writer added after it is unreachable and gets
 * overwritten. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/vmdk-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

struct sparse {
	uint64_t n_gt, gd_sectors, rgd, gd, overhead, next_alloc;	/* sectors */
	uint64_t gt_idx;
	bool gt_dirty;
	uint32_t gt[VMDK_GTES_PER_GT];
};

static struct sparse *S(const struct vmdk_writer *w)
{
	return w->body;
}

static int sparse_init(struct vmdk_writer *w, char *err, size_t errlen)
{
	uint64_t sectors = w->capacity / VMDK_SECTOR;
	uint64_t span = (uint64_t)VMDK_GTES_PER_GT * VMDK_GRAIN_SECTORS;
	uint64_t grains = (sectors + VMDK_GRAIN_SECTORS - 1) / VMDK_GRAIN_SECTORS;
	struct sparse *s = calloc(1, sizeof(*s));

	if (!s)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	w->body = s;
	s->n_gt = (sectors + span - 1) / span;
	s->gd_sectors = (s->n_gt * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR;
	s->rgd = 1 + VMDK_DESC_SECTORS;
	s->gd = s->rgd + s->gd_sectors + 4 * s->n_gt;
	s->overhead = ROUND_UP(s->gd + s->gd_sectors + 4 * s->n_gt, VMDK_GRAIN_SECTORS);
	s->next_alloc = s->overhead;
	if (s->next_alloc + grains * VMDK_GRAIN_SECTORS > UINT32_MAX)
		return err_set(err, errlen, -EFBIG, "capacity too large for a sparse VMDK");
	return 0;
}

static void sparse_release(struct vmdk_writer *w)
{
	free(w->body);
	w->body = NULL;
}

static void sparse_header(const struct vmdk_writer *w, uint8_t out[VMDK_SECTOR])
{
	const struct sparse *s = S(w);
	struct vmdk_header h = {
		.version = 1, .flags = VMDK_FLAG_NL_TEST | VMDK_FLAG_RGD,
		.capacity = w->capacity / VMDK_SECTOR, .grain_size = VMDK_GRAIN_SECTORS,
		.desc_offset = 1, .desc_size = VMDK_DESC_SECTORS, .num_gtes = VMDK_GTES_PER_GT,
		.rgd_offset = s->rgd, .gd_offset = s->gd, .overhead = s->overhead,
	};
	vmdk_header_encode(&h, out);
}

/* Header, descriptor, and both grain directories (they point at every GT). */
static int sparse_start(struct vmdk_writer *w)
{
	const struct sparse *s = S(w);
	uint8_t *buf = calloc(1 + VMDK_DESC_SECTORS, VMDK_SECTOR);
	if (!buf)
		return -ENOMEM;
	sparse_header(w, buf);
	memcpy(buf + VMDK_SECTOR, w->desc, w->desc_len);
	int r = pwrite_full(w->fd, buf, (1 + VMDK_DESC_SECTORS) * VMDK_SECTOR, 0);
	free(buf);
	if (r < 0 || s->n_gt == 0)
		return r;
	uint8_t *gd = calloc(s->gd_sectors, VMDK_SECTOR);
	if (!gd)
		return -ENOMEM;
	for (unsigned copy = 0; copy < 2 && r == 0; copy++) {
		uint64_t base = copy ? s->gd : s->rgd;
		for (uint64_t i = 0; i < s->n_gt; i++)
			put_le32(gd + 4 * i, (uint32_t)(base + s->gd_sectors + 4 * i));
		r = pwrite_full(w->fd, gd, s->gd_sectors * VMDK_SECTOR, base * VMDK_SECTOR);
	}
	free(gd);
	return r;
}

/* The byte offset of GT i: copy 0 the redundant one, copy 1 the primary one. */
static uint64_t gt_pos(const struct sparse *s, unsigned copy, uint64_t i)
{
	return ((copy ? s->gd : s->rgd) + s->gd_sectors + 4 * i) * VMDK_SECTOR;
}

static int write_gt(struct vmdk_writer *w)
{
	const struct sparse *s = S(w);
	uint8_t buf[VMDK_GTES_PER_GT * 4];
	int r = 0;

	for (unsigned i = 0; i < VMDK_GTES_PER_GT; i++)
		put_le32(buf + 4 * i, s->gt[i]);
	for (unsigned copy = 0; copy < 2 && r == 0; copy++)
		r = pwrite_full(w->fd, buf, sizeof buf, gt_pos(s, copy, s->gt_idx));
	return r;
}

static int flush_gt(struct vmdk_writer *w)
{
	if (!S(w)->gt_dirty)
		return 0;
	S(w)->gt_dirty = false;
	return write_gt(w);
}

static int sparse_grain(struct vmdk_writer *w, uint64_t g, const void *data, size_t len)
{
	struct sparse *s = S(w);
	int r;

	if (g / VMDK_GTES_PER_GT != s->gt_idx || !s->gt_dirty) {
		if ((r = flush_gt(w)) < 0)
			return r;
		memset(s->gt, 0, sizeof s->gt);
		s->gt_idx = g / VMDK_GTES_PER_GT;
	}
	if ((r = pwrite_full(w->fd, data, len, s->next_alloc * VMDK_SECTOR)) < 0)
		return r;
	s->gt[g % VMDK_GTES_PER_GT] = (uint32_t)s->next_alloc;
	s->gt_dirty = true;
	s->next_alloc += VMDK_GRAIN_SECTORS;
	return 0;
}

static int sparse_finish(struct vmdk_writer *w)
{
	int r = flush_gt(w);
	if (r == 0 && ftruncate(w->fd, (off_t)(S(w)->next_alloc * VMDK_SECTOR)) < 0)
		r = -errno;
	return r;
}

static int sparse_checkpoint(struct vmdk_writer *w, uint64_t *next)
{
	int r = 0;
	if (S(w)->gt_dirty)
		r = write_gt(w);	/* stays dirty: more of the span may come */
	*next = S(w)->next_alloc;
	return r;
}

/* The checkpoint's span's GT comes back from the file without the entries at or after
 * off; the GTs of later spans, which a killed writer may have written, are cleared. */
static int sparse_reopen(struct vmdk_writer *w, const struct vmdk_ckpt *c, char *err,
			 size_t errlen)
{
	struct sparse *s = S(w);
	uint8_t want[VMDK_SECTOR], have[VMDK_SECTOR], buf[VMDK_GTES_PER_GT * 4];
	struct stat st;
	int r;

	if (c->next < s->overhead || (c->next - s->overhead) % VMDK_GRAIN_SECTORS ||
	    c->next > UINT32_MAX || fstat(w->fd, &st) < 0 ||
	    (uint64_t)st.st_size < c->next * VMDK_SECTOR)
		return err_set(err, errlen, -EBADMSG, "the checkpoint does not fit the file");
	sparse_header(w, want);
	if ((r = pread_full(w->fd, have, sizeof have, 0)) < 0)
		return err_set(err, errlen, r, "reading the header");
	if (memcmp(want, have, sizeof have))
		return err_set(err, errlen, -EBADMSG, "not the header of this image");
	s->next_alloc = c->next;
	uint64_t g = c->off / VMDK_GRAIN_SIZE;
	s->gt_idx = g / VMDK_GTES_PER_GT;
	if (s->gt_idx >= s->n_gt)
		return 0;	/* complete up to the end */
	if ((r = pread_full(w->fd, buf, sizeof buf, gt_pos(s, 1, s->gt_idx))) < 0)
		return err_set(err, errlen, r, "reading a grain table");
	for (unsigned i = 0; i < VMDK_GTES_PER_GT; i++) {
		uint32_t e = i < g % VMDK_GTES_PER_GT ? get_le32(buf + 4 * i) : 0;
		if (e && (e < s->overhead || e >= c->next || (e - s->overhead) %
							       VMDK_GRAIN_SECTORS))
			return err_set(err, errlen, -EBADMSG, "grain table %" PRIu64
				       " points outside the checkpoint", s->gt_idx);
		s->gt[i] = e;
	}
	s->gt_dirty = true;
	uint64_t later = (s->n_gt - s->gt_idx - 1) * 4 * VMDK_SECTOR;
	for (unsigned copy = 0; copy < 2 && r == 0; copy++)
		r = vmdk_zero_range(w->fd, gt_pos(s, copy, s->gt_idx + 1), later);
	return r < 0 ? err_set(err, errlen, r, "clearing grain tables: %s", strerror(-r)) : 0;
}

const struct vmdk_body_ops vmdk_sparse_ops = {
	.create_type = "monolithicSparse",
	.ext_type = VMDK_EXT_SPARSE,
	.ordered = true,
	.init = sparse_init,
	.start = sparse_start,
	.grain = sparse_grain,
	.finish = sparse_finish,
	.checkpoint = sparse_checkpoint,
	.reopen = sparse_reopen,
	.release = sparse_release,
};
