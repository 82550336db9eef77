/* VMDK reader: a disk is a list of extents (FLAT/VMFS raw files, hosted SPARSE files, ZERO)
 * laid end to end; a monolithicSparse or streamOptimized file is a disk of one SPARSE
 * extent whose descriptor is embedded.
 *
 * Distrust: every number read from a file is checked before use. Offsets are checked
 * against the file size before any read (a read that would pass the end is -EBADMSG), the
 * grain directory must lie inside the file and below VMDK_MAX_GD_ENTRIES (so its
 * allocation never exceeds the file size), grains are at most VMDK_MAX_GRAIN_SECTORS, a
 * compressed grain record must carry its own LBA, at most 2 grains of data, and inflate to
 * at most one grain (ISA-L stops at the output size). Grain tables are read on demand, one
 * cached per extent; one decompressed grain is cached, so sequential small reads inflate
 * each grain once. streamOptimized files with the GD at the end are opened through the
 * footer at EOF-1536 exactly as qemu does (footer marker, footer, EOS).
 *
 * Not handled (-ENOTSUP): COWD/vmfsSparse/seSparse extents, delta disks (a parent). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>

#include "common/util.h"
#include "image/vmdk-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

#define MAX_CAPACITY_SECTORS (1ull << 54)	/* 8 EiB: keeps byte arithmetic in range */

struct src {
	int fd;			/* -1 for memory */
	const uint8_t *mem;
	uint64_t size;
};

struct sparse {
	struct vmdk_header h;
	bool compressed, markers, zero_gte;
	uint64_t grain_bytes;
	uint64_t gd_entries;
	uint32_t *gd;
	uint32_t *gt;			/* h.num_gtes entries, of GD entry gt_idx */
	uint64_t gt_idx;
	bool gt_valid;
	uint8_t *gbuf, *cbuf;		/* decompressed grain, compressed record */
	size_t glen;			/* valid bytes in gbuf */
	uint64_t g_idx;
	bool g_valid;
	struct inflate_state *is;
};

struct extent {
	enum vmdk_ext_type type;
	uint64_t start, len;		/* bytes of the disk */
	struct src src;
	uint64_t file_off;		/* FLAT: bytes into the file */
	struct sparse *sp;
};

struct vmdk_reader {
	uint64_t capacity;
	struct vmdk_desc desc;
	bool has_desc;
	struct extent *ext;
	size_t n_ext;
};

/* Exactly len bytes at off, which must lie inside the file: else -EBADMSG. */
static int src_read(const struct src *s, void *buf, size_t len, uint64_t off)
{
	if (off > s->size || len > s->size - off)
		return -EBADMSG;
	if (s->mem) {
		memcpy(buf, s->mem + off, len);
		return 0;
	}
	return pread_full(s->fd, buf, len, off);
}

/* ---- header ---- */

int vmdk_header_decode(const uint8_t in[VMDK_SECTOR], struct vmdk_header *h, char *err,
		       size_t errlen)
{
	if (get_le32(in) != VMDK_MAGIC)
		return err_set(err, errlen, -EBADMSG, "no VMDK magic");
	h->version = get_le32(in + 4);
	h->flags = get_le32(in + 8);
	h->capacity = get_le64(in + 12);
	h->grain_size = get_le64(in + 20);
	h->desc_offset = get_le64(in + 28);
	h->desc_size = get_le64(in + 36);
	h->num_gtes = get_le32(in + 44);
	h->rgd_offset = get_le64(in + 48);
	h->gd_offset = get_le64(in + 56);
	h->overhead = get_le64(in + 64);
	h->unclean = in[72];
	h->compress = get_le16(in + 77);
	if (h->version < 1 || h->version > 3)
		return err_set(err, errlen, -EBADMSG, "unknown version %u", h->version);
	if ((h->flags & VMDK_FLAG_NL_TEST) && memcmp(in + 73, "\n \r\n", 4) != 0)
		return err_set(err, errlen, -EBADMSG, "newline bytes damaged (text-mode copy?)");
	if (h->flags & 0xffff0000u & ~(VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS))
		return err_set(err, errlen, -EBADMSG, "unknown incompatible flags 0x%x", h->flags);
	if (h->grain_size == 0 || h->grain_size > VMDK_MAX_GRAIN_SECTORS ||
	    (h->grain_size & (h->grain_size - 1)))
		return err_set(err, errlen, -EBADMSG, "bad grain size %llu",
			    (unsigned long long)h->grain_size);
	if (h->num_gtes == 0 || h->num_gtes > 512)
		return err_set(err, errlen, -EBADMSG, "bad GTEs per GT %u", h->num_gtes);
	if (h->compress > VMDK_COMPRESS_DEFLATE)
		return err_set(err, errlen, -EBADMSG, "unknown compression %u", h->compress);
	if (h->capacity > MAX_CAPACITY_SECTORS)
		return err_set(err, errlen, -EBADMSG, "capacity out of range");
	return 0;
}

/* ---- a hosted sparse extent ---- */

static void sparse_free(struct sparse *sp)
{
	if (!sp)
		return;
	free(sp->gd);
	free(sp->gt);
	free(sp->gbuf);
	free(sp->cbuf);
	free(sp->is);
	free(sp);
}

/* streamOptimized with the GD at the end: the footer at EOF-1536 replaces the header. */
static int read_footer(const struct src *s, struct vmdk_header *h, char *err, size_t errlen)
{
	uint8_t b[3 * VMDK_SECTOR];

	if (s->size < 4 * VMDK_SECTOR || src_read(s, b, sizeof b, s->size - sizeof b) < 0)
		return err_set(err, errlen, -EBADMSG, "GD at end but no footer");
	if (get_le32(b + 8) != 0 || get_le32(b + 12) != VMDK_MARKER_FOOTER)
		return err_set(err, errlen, -EBADMSG, "no footer marker at EOF-1536");
	if (get_le64(b + 2 * VMDK_SECTOR) != 0 || get_le32(b + 2 * VMDK_SECTOR + 8) != 0 ||
	    get_le32(b + 2 * VMDK_SECTOR + 12) != VMDK_MARKER_EOS)
		return err_set(err, errlen, -EBADMSG, "no end-of-stream marker at EOF-512");
	char e2[160];
	if (vmdk_header_decode(b + VMDK_SECTOR, h, e2, sizeof e2) < 0)
		return err_set(err, errlen, -EBADMSG, "footer: %s", e2);
	if (h->gd_offset == VMDK_GD_AT_END)
		return err_set(err, errlen, -EBADMSG, "footer without a GD offset");
	return 0;
}

/* Open the sparse extent in s. desc (may be NULL): the embedded descriptor is parsed into
 * it if there is one; *has_desc says so. */
static int sparse_open(const struct src *s, struct sparse **out, struct vmdk_desc *desc,
		       bool *has_desc, char *err, size_t errlen)
{
	uint8_t b[VMDK_SECTOR];
	struct sparse *sp;
	int r;

	*out = NULL;
	if (s->size < VMDK_SECTOR || src_read(s, b, VMDK_SECTOR, 0) < 0)
		return err_set(err, errlen, -EBADMSG, "shorter than a header");
	if (memcmp(b, "COWD", 4) == 0)
		return err_set(err, errlen, -ENOTSUP, "COWD (vmfsSparse) extents are not handled");
	if (!(sp = calloc(1, sizeof(*sp))))
		return err_set(err, errlen, -ENOMEM, "out of memory");
	struct vmdk_header *h = &sp->h;
	if ((r = vmdk_header_decode(b, h, err, errlen)) < 0)
		goto fail;
	if (h->gd_offset == VMDK_GD_AT_END && (r = read_footer(s, h, err, errlen)) < 0)
		goto fail;
	sp->compressed = h->compress == VMDK_COMPRESS_DEFLATE;
	sp->markers = h->flags & VMDK_FLAG_MARKERS;
	sp->zero_gte = h->flags & VMDK_FLAG_ZERO_GTE;
	sp->grain_bytes = h->grain_size * VMDK_SECTOR;
	uint64_t span = (uint64_t)h->num_gtes * h->grain_size;
	sp->gd_entries = (h->capacity + span - 1) / span;
	r = -EBADMSG;
	if (h->overhead > s->size / VMDK_SECTOR) {
		err_set(err, errlen, r, "file shorter than its overHead");
		goto fail;
	}
	if (sp->gd_entries > VMDK_MAX_GD_ENTRIES || h->gd_offset > s->size / VMDK_SECTOR ||
	    sp->gd_entries * 4 > s->size - h->gd_offset * VMDK_SECTOR) {
		err_set(err, errlen, r, "grain directory outside the file");
		goto fail;
	}
	if (!(sp->gd = malloc(sp->gd_entries * 4 + 4)) ||
	    !(sp->gt = malloc((size_t)h->num_gtes * 4))) {
		r = err_set(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = src_read(s, sp->gd, sp->gd_entries * 4, h->gd_offset * VMDK_SECTOR)) < 0) {
		err_set(err, errlen, r, "cannot read the grain directory");
		goto fail;
	}
	for (uint64_t i = 0; i < sp->gd_entries; i++)
		sp->gd[i] = get_le32((const uint8_t *)&sp->gd[i]);

	if (has_desc)
		*has_desc = false;
	if (desc && has_desc && h->desc_offset && h->desc_size) {
		size_t dl = (size_t)MIN(h->desc_size, (uint64_t)VMDK_DESC_MAX / VMDK_SECTOR) *
			    VMDK_SECTOR;
		CLEANUP_FREE char *text = malloc(dl);
		if (!text) {
			r = err_set(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
		if (h->desc_offset > s->size / VMDK_SECTOR ||
		    src_read(s, text, dl, h->desc_offset * VMDK_SECTOR) < 0) {
			r = err_set(err, errlen, -EBADMSG, "embedded descriptor outside the file");
			goto fail;
		}
		char e2[160];
		if ((r = vmdk_desc_parse(text, dl, desc, e2, sizeof e2)) < 0) {
			err_set(err, errlen, r, "embedded descriptor: %s", e2);
			goto fail;
		}
		*has_desc = true;
	}
	*out = sp;
	return 0;
fail:
	sparse_free(sp);
	return r;
}

/* The GTE of grain g of the extent (0: none). */
static int sparse_gte(const struct src *s, struct sparse *sp, uint64_t g, uint32_t *gte)
{
	uint64_t gdi = g / sp->h.num_gtes;

	*gte = 0;
	if (gdi >= sp->gd_entries || sp->gd[gdi] == 0)
		return 0;
	if (!sp->gt_valid || sp->gt_idx != gdi) {
		sp->gt_valid = false;
		int r = src_read(s, sp->gt, (size_t)sp->h.num_gtes * 4,
				 (uint64_t)sp->gd[gdi] * VMDK_SECTOR);
		if (r < 0)
			return r;
		for (unsigned i = 0; i < sp->h.num_gtes; i++)
			sp->gt[i] = get_le32((const uint8_t *)&sp->gt[i]);
		sp->gt_idx = gdi;
		sp->gt_valid = true;
	}
	*gte = sp->gt[g % sp->h.num_gtes];
	return 0;
}

static bool gte_allocated(const struct sparse *sp, uint32_t gte)
{
	return gte > 1 || (gte == 1 && !sp->zero_gte);
}

/* Inflate the grain record at sector gte into sp->gbuf. */
static int load_compressed(const struct src *s, struct sparse *sp, uint64_t g, uint32_t gte)
{
	uint64_t off = (uint64_t)gte * VMDK_SECTOR;
	size_t clen;
	int r;

	if (!sp->gbuf && !(sp->gbuf = malloc(sp->grain_bytes)))
		return -ENOMEM;
	if (!sp->cbuf && !(sp->cbuf = malloc(2 * sp->grain_bytes)))
		return -ENOMEM;
	if (!sp->is && !(sp->is = malloc(sizeof(*sp->is))))
		return -ENOMEM;
	sp->g_valid = false;
	if (sp->markers) {
		uint8_t rh[12];
		if ((r = src_read(s, rh, sizeof rh, off)) < 0)
			return r;
		clen = get_le32(rh + 8);
		if (get_le64(rh) != g * sp->h.grain_size || clen == 0 ||
		    clen > 2 * sp->grain_bytes)
			return -EBADMSG;
		off += sizeof rh;
	} else {
		if (off > s->size)
			return -EBADMSG;
		clen = (size_t)MIN(2 * sp->grain_bytes, s->size - off);
	}
	if ((r = src_read(s, sp->cbuf, clen, off)) < 0)
		return r;
	isal_inflate_init(sp->is);
	sp->is->next_in = sp->cbuf;
	sp->is->avail_in = (uint32_t)clen;
	sp->is->next_out = sp->gbuf;
	sp->is->avail_out = (uint32_t)sp->grain_bytes;
	sp->is->crc_flag = ISAL_ZLIB;
	if (isal_inflate_stateless(sp->is) != ISAL_DECOMP_OK)
		return -EBADMSG;
	sp->glen = sp->is->total_out;
	sp->g_idx = g;
	sp->g_valid = true;
	return 0;
}

/* Read n bytes at byte off of the extent, inside one grain. */
static int sparse_read(const struct src *s, struct sparse *sp, uint64_t off, uint8_t *buf,
		       size_t n)
{
	uint64_t g = off / sp->grain_bytes, in = off % sp->grain_bytes;
	uint32_t gte;
	int r;

	if ((r = sparse_gte(s, sp, g, &gte)) < 0)
		return r;
	if (!gte_allocated(sp, gte)) {
		memset(buf, 0, n);
		return 0;
	}
	if (!sp->compressed)
		return src_read(s, buf, n, (uint64_t)gte * VMDK_SECTOR + in);
	if ((!sp->g_valid || sp->g_idx != g) && (r = load_compressed(s, sp, g, gte)) < 0)
		return r;
	if (in + n > sp->glen)
		return -EBADMSG;	/* the grain inflated shorter than the disk needs */
	memcpy(buf, sp->gbuf + in, n);
	return 0;
}

/* ---- extents ---- */

static void extent_release(struct extent *e)
{
	if (e->src.fd >= 0)
		close(e->src.fd);
	sparse_free(e->sp);
}

/* A raw extent: reads past the end of its file give zeroes. */
static int flat_read(const struct extent *e, uint64_t off, uint8_t *buf, size_t n)
{
	uint64_t at = e->file_off + off;
	while (n) {
		ssize_t k = pread(e->src.fd, buf, n, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0) {
			memset(buf, 0, n);
			return 0;
		}
		buf += k, n -= (size_t)k, at += (uint64_t)k;
	}
	return 0;
}

static struct extent *find_extent(struct vmdk_reader *r, uint64_t off)
{
	size_t lo = 0, hi = r->n_ext;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct extent *e = &r->ext[mid];
		if (off < e->start)
			hi = mid;
		else if (off >= e->start + e->len)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

int vmdk_read(struct vmdk_reader *r, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	if (off > r->capacity || len > r->capacity - off)
		return -EINVAL;
	while (len) {
		struct extent *e = find_extent(r, off);
		if (!e)
			return -EINVAL;	/* cannot happen: extents cover the capacity */
		uint64_t eo = off - e->start;
		size_t n = (size_t)MIN((uint64_t)len, e->len - eo);
		int rc = 0;
		if (e->type == VMDK_EXT_ZERO) {
			memset(p, 0, n);
		} else if (e->type == VMDK_EXT_SPARSE) {
			n = (size_t)MIN((uint64_t)n, e->sp->grain_bytes - eo % e->sp->grain_bytes);
			rc = sparse_read(&e->src, e->sp, eo, p, n);
		} else {
			rc = flat_read(e, eo, p, n);
		}
		if (rc < 0)
			return rc;
		off += n, p += n, len -= n;
	}
	return 0;
}

/* First allocated range of sparse extent e at or after extent offset eo. */
static int sparse_next(struct extent *e, uint64_t eo, uint64_t *doff, uint64_t *dlen)
{
	struct sparse *sp = e->sp;
	uint64_t gb = sp->grain_bytes, ngrains = (e->len + gb - 1) / gb;
	uint64_t g = eo / gb, first = UINT64_MAX;
	uint32_t gte;
	int r;

	while (g < ngrains) {
		uint64_t gdi = g / sp->h.num_gtes;
		if (gdi >= sp->gd_entries)
			break;
		if (sp->gd[gdi] == 0) {
			if (first != UINT64_MAX)
				break;
			g = (gdi + 1) * sp->h.num_gtes;
			continue;
		}
		if ((r = sparse_gte(&e->src, sp, g, &gte)) < 0)
			return r;
		if (gte_allocated(sp, gte)) {
			if (first == UINT64_MAX)
				first = g;
		} else if (first != UINT64_MAX) {
			break;
		}
		g++;
	}
	if (first == UINT64_MAX)
		return 0;
	*doff = MAX(first * gb, eo);
	*dlen = MIN(g * gb, e->len) - *doff;
	return 1;
}

static int flat_next(struct extent *e, uint64_t eo, uint64_t *doff, uint64_t *dlen)
{
	off_t d = lseek(e->src.fd, (off_t)(e->file_off + eo), SEEK_DATA);
	if (d < 0 && errno == ENXIO)
		return 0;
	if (d < 0) {	/* no SEEK_DATA here: all of it is data */
		*doff = eo;
		*dlen = e->len - eo;
		return 1;
	}
	if ((uint64_t)d - e->file_off >= e->len)
		return 0;
	off_t h = lseek(e->src.fd, d, SEEK_HOLE);
	uint64_t end = h < 0 ? e->len : MIN((uint64_t)h - e->file_off, e->len);
	*doff = (uint64_t)d - e->file_off;
	*dlen = end - *doff;
	return 1;
}

int vmdk_next_data(struct vmdk_reader *r, uint64_t off, uint64_t *data_off,
		   uint64_t *data_len)
{
	struct extent *e = off < r->capacity ? find_extent(r, off) : NULL;

	for (; e && e < r->ext + r->n_ext; e++) {
		uint64_t eo = off > e->start ? off - e->start : 0, d, l;
		int rc = 0;
		if (e->type == VMDK_EXT_SPARSE)
			rc = sparse_next(e, eo, &d, &l);
		else if (e->type != VMDK_EXT_ZERO)
			rc = flat_next(e, eo, &d, &l);
		if (rc < 0)
			return rc;
		if (rc > 0 && l > 0) {
			*data_off = e->start + d;
			*data_len = l;
			return 1;
		}
	}
	return 0;
}

/* ---- opening ---- */

uint64_t vmdk_capacity(const struct vmdk_reader *r)
{
	return r->capacity;
}

const struct vmdk_desc *vmdk_reader_desc(const struct vmdk_reader *r)
{
	return r->has_desc ? &r->desc : NULL;
}

void vmdk_close(struct vmdk_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_ext; i++)
		extent_release(&r->ext[i]);
	free(r->ext);
	vmdk_desc_release(&r->desc);
	free(r);
}

static struct vmdk_reader *reader_new(size_t n_ext)
{
	static const struct vmdk_desc empty = VMDK_DESC_INIT;
	struct vmdk_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->desc = empty;
	if (!(r->ext = calloc(n_ext ? n_ext : 1, sizeof(*r->ext)))) {
		free(r);
		return NULL;
	}
	for (size_t i = 0; i < n_ext; i++)
		r->ext[i].src.fd = -1;
	return r;
}

/* A disk that is one hosted sparse file (src is taken over, also on failure). */
static int open_sparse_file(struct src *s, struct vmdk_reader **out, char *err, size_t errlen)
{
	struct vmdk_reader *r = reader_new(1);
	int rc;

	if (!r) {
		if (s->fd >= 0)
			close(s->fd);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	r->n_ext = 1;
	struct extent *e = &r->ext[0];
	e->type = VMDK_EXT_SPARSE;
	e->src = *s;
	if ((rc = sparse_open(&e->src, &e->sp, &r->desc, &r->has_desc, err, errlen)) < 0) {
		vmdk_close(r);
		return rc;
	}
	if (r->has_desc && (r->desc.parent_hint || r->desc.parent_cid != 0xffffffffu)) {
		vmdk_close(r);
		return err_set(err, errlen, -ENOTSUP, "a delta disk (it has a parent)");
	}
	e->len = r->capacity = e->sp->h.capacity * VMDK_SECTOR;
	*out = r;
	return 0;
}

int vmdk_open_mem(const void *buf, size_t len, struct vmdk_reader **out, char *err,
		  size_t errlen)
{
	struct src s = { -1, buf, len };
	*out = NULL;
	return open_sparse_file(&s, out, err, errlen);
}

static int open_extent_file(const char *path, const char *file, struct src *s, char *err,
			    size_t errlen)
{
	CLEANUP_FREE char *p = vmdk_path_beside(path, file);
	struct stat st;

	if (!p)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	s->fd = open(p, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &st) < 0)
		return err_set(err, errlen, -errno, "extent %s: %s", p, strerror(errno));
	s->size = (uint64_t)st.st_size;
	return 0;
}

/* A descriptor file: every extent opened beside it. */
static int open_desc_file(const char *path, const char *text, size_t len,
			  struct vmdk_reader **out, char *err, size_t errlen)
{
	struct vmdk_desc d;
	char e2[200];
	int rc = vmdk_desc_parse(text, len, &d, e2, sizeof e2);

	if (rc < 0)
		return err_set(err, errlen, rc, "%s: not a VMDK (%s)", path, e2);
	if (d.parent_hint || d.parent_cid != 0xffffffffu) {
		vmdk_desc_release(&d);
		return err_set(err, errlen, -ENOTSUP, "%s: a delta disk (it has a parent)", path);
	}
	struct vmdk_reader *r = reader_new(d.n_extents);
	if (!r) {
		vmdk_desc_release(&d);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	r->desc = d;
	r->has_desc = true;
	rc = d.n_extents ? 0 : err_set(err, errlen, -EBADMSG, "%s: no extent", path);
	for (size_t i = 0; i < d.n_extents && rc == 0; i++) {
		const struct vmdk_desc_extent *de = &d.extents[i];
		struct extent *e = &r->ext[i];
		r->n_ext = i + 1;
		e->type = de->type;
		e->start = r->capacity;
		e->len = de->sectors * VMDK_SECTOR;
		if (de->access == VMDK_NOACCESS || de->type == VMDK_EXT_OTHER) {
			rc = err_set(err, errlen, -ENOTSUP, "%s: %s %s extents are not handled", path,
				  de->access == VMDK_NOACCESS ? "NOACCESS" : "", de->type_name);
			break;
		}
		if (de->type == VMDK_EXT_VMFS)
			e->type = VMDK_EXT_FLAT;
		if (e->len > (MAX_CAPACITY_SECTORS * VMDK_SECTOR) - r->capacity) {
			rc = err_set(err, errlen, -EBADMSG, "%s: extents too large", path);
			break;
		}
		r->capacity += e->len;
		if (de->type == VMDK_EXT_ZERO)
			continue;
		if ((rc = open_extent_file(path, de->file, &e->src, err, errlen)) < 0)
			break;
		if (e->type == VMDK_EXT_FLAT) {
			if (de->offset > MAX_CAPACITY_SECTORS)
				rc = err_set(err, errlen, -EBADMSG, "%s: bad extent offset", path);
			e->file_off = de->offset * VMDK_SECTOR;
		} else if ((rc = sparse_open(&e->src, &e->sp, NULL, NULL, e2, sizeof e2)) < 0) {
			err_set(err, errlen, rc, "extent %s: %s", de->file, e2);
		}
	}
	if (rc < 0) {
		vmdk_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int vmdk_open(const char *path, struct vmdk_reader **out, char *err, size_t errlen)
{
	struct src s = { -1, NULL, 0 };
	struct stat st;
	uint8_t magic[4] = { 0 };

	*out = NULL;
	s.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s.fd < 0 || fstat(s.fd, &st) < 0) {
		int e = errno;
		if (s.fd >= 0)
			close(s.fd);
		return err_set(err, errlen, -e, "%s: %s", path, strerror(e));
	}
	s.size = (uint64_t)st.st_size;
	if (s.size >= 4 && pread_full(s.fd, magic, 4, 0) < 0)
		memset(magic, 0, 4);
	if (memcmp(magic, "KDMV", 4) == 0 || memcmp(magic, "COWD", 4) == 0) {
		char e2[200];
		int rc = open_sparse_file(&s, out, e2, sizeof e2);
		if (rc < 0)
			err_set(err, errlen, rc, "%s: %s", path, e2);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || s.size > VMDK_DESC_MAX) {
		close(s.fd);
		return err_set(err, errlen, -EBADMSG, "%s: not a VMDK", path);
	}
	char *text = malloc(s.size + 1);
	int rc = text ? pread_full(s.fd, text, s.size, 0) : -ENOMEM;
	close(s.fd);
	if (rc == 0) {
		text[s.size] = '\0';
		rc = open_desc_file(path, text, s.size, out, err, errlen);
	} else {
		err_set(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	free(text);
	return rc;
}

int vmdk_export_raw(struct vmdk_reader *r, int fd)
{
	const size_t bs = 1u << 16;
	uint64_t cap = vmdk_capacity(r), off = 0, d, l;
	uint8_t *buf = malloc(bs);
	int rc = buf ? 0 : -ENOMEM;
	if (rc == 0 && ftruncate(fd, (off_t)cap) < 0)
		rc = -errno;
	while (rc == 0 && (rc = vmdk_next_data(r, off, &d, &l)) == 1) {
		rc = 0;
		for (uint64_t p = d; rc == 0 && p < d + l; p += bs) {
			size_t n = (size_t)MIN((uint64_t)bs, d + l - p);
			rc = vmdk_read(r, p, buf, n);
			if (rc == 0 && !mem_is_zero(buf, n))
				rc = pwrite_full(fd, buf, n, p);
		}
		off = d + l;
	}
	free(buf);
	return rc;
}
