/* Point manifests: encode, decode (bounded and strict), load, and applying a delta to a
 * map (docs/repo-format.md "Point manifests", "Full maps" and "Split full maps").
 *
 * A manifest is one metadata blob. Its plaintext is a fixed header (the point_info), the
 * domain name, then per disk its name, size and extents (map-codec.c encodes them).
 * Version 2 added PART extents (a DATA extent showing part of its chunk), so a point never
 * has to rebuild a chunk that a small write lands in; version 3 (format 2 repositories)
 * gives a full point's disks a table of map region objects instead of extents (map-iter.c
 * reads them, map-writer.c writes them), so a full map is never one huge object. Versions
 * 1 and 2 are still read (and re-encode as themselves). A delta point's extents are the
 * extents written in that point (DATA and ZERO), already coalesced by the writer.
 *
 * The decoder trusts nothing: every count is checked against the bytes left before
 * anything is allocated for it, so an object of N bytes never costs more than a small
 * multiple of N in memory, and names must be valid store key components. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define MANIFEST_MAGIC "FMAN"
#define MANIFEST_VERSION 3	/* 2 added PART extents, 3 (format 2) full maps split into
				 * regions; versions 1 and 2 are still read */
#define MANIFEST_HDR 64
#define REGION_REF_LEN (8 + CHUNK_ID_LEN + 4)	/* region index, id, plaintext length */
#define KNOWN_FLAGS (POINT_CONSISTENT | POINT_FULL)

void point_key(const char *domain, uint32_t epoch, uint64_t seq, char *key, size_t keylen)
{
	snprintf(key, keylen, "domains/%s/epochs/%" PRIu32 "/points/%016" PRIu64, domain, epoch,
		 seq);
}

/* ---- encode ---- */

static int add_name(struct dbuf *b, const char *s)
{
	uint8_t n = (uint8_t)strlen(s);
	int r = dbuf_add(b, &n, 1);
	return r ? r : dbuf_add(b, s, n);
}

int manifest_encode(const struct manifest *m, struct dbuf *out)
{
	const struct point_info *pi = &m->info;
	uint8_t h[MANIFEST_HDR] = MANIFEST_MAGIC;
	uint8_t b[8];
	int r;

	uint8_t version = m->version ? m->version : MANIFEST_VERSION;
	if (version < 1 || version > MANIFEST_VERSION)
		return -EINVAL;
	bool full = pi->flags & POINT_FULL;
	h[4] = version;
	put_le32(h + 8, pi->epoch);
	put_le32(h + 12, pi->flags);
	put_le64(h + 16, pi->seq);
	put_le64(h + 24, pi->parent_seq);
	put_le64(h + 32, pi->time_ns);
	put_le64(h + 40, pi->logical_bytes);
	put_le64(h + 48, pi->stored_bytes);
	put_le64(h + 56, pi->log_seq);
	if ((r = dbuf_add(out, h, sizeof(h))) || (r = add_name(out, pi->domain)))
		return r;
	put_le32(b, (uint32_t)m->ndisks);
	if ((r = dbuf_add(out, b, 4)))
		return r;
	for (size_t d = 0; d < m->ndisks; d++) {
		const struct manifest_disk *md = &m->disks[d];
		if ((r = add_name(out, md->name)))
			return r;
		put_le64(b, md->size);
		if ((r = dbuf_add(out, b, 8)))
			return r;
		if (full && version >= 3) {	/* a region table instead of the extents */
			if (md->n)
				return -EINVAL;
			put_le64(b, md->nreg);
			if ((r = dbuf_add(out, b, 8)))
				return r;
			for (size_t i = 0; i < md->nreg; i++) {
				uint8_t x[REGION_REF_LEN];
				put_le64(x, md->reg[i].index);
				memcpy(x + 8, md->reg[i].id, CHUNK_ID_LEN);
				put_le32(x + 8 + CHUNK_ID_LEN, md->reg[i].plain_len);
				if ((r = dbuf_add(out, x, sizeof(x))))
					return r;
			}
			continue;
		}
		if (md->nreg)
			return -EINVAL;
		if ((r = extents_put(out, md->ext, md->n, version)))
			return r;
	}
	return 0;
}

/* ---- decode ---- */

struct rd {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->left < n)
		return NULL;
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static int take_name(struct rd *r, char *out)
{
	const uint8_t *n = take(r, 1), *s;
	if (!n || !*n || *n > REPO_NAME_MAX || !(s = take(r, *n)))
		return -EBADMSG;
	if (memchr(s, '\0', *n))
		return -EBADMSG;	/* names are exact: no embedded NUL */
	memcpy(out, s, *n);
	out[*n] = '\0';
	return name_ok(out) ? 0 : -EBADMSG;
}

static int decode_header(struct rd *r, struct point_info *pi, uint8_t *version)
{
	const uint8_t *h = take(r, MANIFEST_HDR);
	memset(pi, 0, sizeof(*pi));
	if (!h || memcmp(h, MANIFEST_MAGIC, 4))
		return -EBADMSG;
	if (h[4] < 1 || h[4] > MANIFEST_VERSION || h[5] || h[6] || h[7])
		return -EPROTO;
	if (version)
		*version = h[4];
	pi->epoch = get_le32(h + 8);
	pi->flags = get_le32(h + 12);
	pi->seq = get_le64(h + 16);
	pi->parent_seq = get_le64(h + 24);
	pi->time_ns = get_le64(h + 32);
	pi->logical_bytes = get_le64(h + 40);
	pi->stored_bytes = get_le64(h + 48);
	pi->log_seq = get_le64(h + 56);
	if (pi->flags & ~(uint32_t)KNOWN_FLAGS)
		return -EPROTO;
	if (pi->seq == 0 || pi->parent_seq >= pi->seq)
		return -EBADMSG;
	return take_name(r, pi->domain);
}

int manifest_decode_info(const void *buf, size_t len, struct point_info *info)
{
	struct rd r = { buf, len };
	return decode_header(&r, info, NULL);
}

/* A version 3 full disk's region table: sorted by region, every region within the disk. */
static int decode_regions(struct rd *r, struct manifest_disk *md, uint64_t region_bytes)
{
	const uint8_t *b = take(r, 8);
	if (!b)
		return -EBADMSG;
	uint64_t n = get_le64(b);
	if (n > r->left / REGION_REF_LEN)	/* bounded by the bytes that are left */
		return -EBADMSG;
	md->reg = malloc((n ? n : 1) * sizeof(*md->reg));
	if (!md->reg)
		return -ENOMEM;
	md->has_regions = true;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *x = take(r, REGION_REF_LEN);
		struct region_ref *g = &md->reg[i];
		g->index = get_le64(x);
		memcpy(g->id, x + 8, CHUNK_ID_LEN);
		g->plain_len = get_le32(x + 8 + CHUNK_ID_LEN);
		md->nreg = i + 1;
		if ((i && g->index <= md->reg[i - 1].index) || g->plain_len > REPO_META_MAX ||
		    g->plain_len < REGION_HDR ||
		    (region_bytes && (g->index > (md->size - 1) / region_bytes || !md->size)))
			return -EBADMSG;
	}
	return 0;
}

int manifest_decode(const void *buf, size_t len, uint32_t chunk_size, uint64_t region_bytes,
		    struct manifest *m)
{
	struct rd r = { buf, len };
	memset(m, 0, sizeof(*m));
	int rc = decode_header(&r, &m->info, &m->version);
	if (rc < 0)
		return rc;
	const uint8_t *b = take(&r, 4);
	if (!b)
		return -EBADMSG;
	uint32_t nd = get_le32(b);
	if (nd > REPO_MAX_DISKS || nd > r.left / 18)	/* a disk takes at least 18 bytes */
		return -EBADMSG;
	m->disks = calloc(nd ? nd : 1, sizeof(*m->disks));
	if (!m->disks)
		return -ENOMEM;
	bool full = m->info.flags & POINT_FULL;
	for (uint32_t d = 0; d < nd; d++) {
		struct manifest_disk *md = &m->disks[d];
		m->ndisks = d + 1;
		if ((rc = take_name(&r, md->name)) < 0)
			goto fail;
		for (uint32_t o = 0; o < d; o++)
			if (!strcmp(m->disks[o].name, md->name)) {
				rc = -EBADMSG;
				goto fail;
			}
		if (!(b = take(&r, 8))) {
			rc = -EBADMSG;
			goto fail;
		}
		md->size = get_le64(b);
		if (full && m->version >= 3) {
			if ((rc = decode_regions(&r, md, region_bytes)) < 0)
				goto fail;
			continue;
		}
		struct ext_rules rl = { .chunk_size = chunk_size, .data_only = full,
					.version = m->version, .lo = 0, .hi = md->size };
		const uint8_t *p = r.p;
		size_t left = r.left;
		rc = extents_take(&p, &left, &rl, &md->ext, &md->n);
		r.p = p;
		r.left = left;
		if (rc < 0)
			goto fail;
	}
	if (r.left) {
		rc = -EBADMSG;
		goto fail;
	}
	return 0;
fail:
	manifest_release(m);
	return rc;
}

void manifest_release(struct manifest *m)
{
	for (size_t d = 0; d < m->ndisks; d++) {
		free(m->disks[d].ext);
		free(m->disks[d].reg);
	}
	free(m->disks);
	m->disks = NULL;
	m->ndisks = 0;
}

int manifest_load(struct repo *r, const char *domain, uint32_t epoch, uint64_t seq,
		  struct manifest *m, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	void *plain;
	size_t len;
	memset(m, 0, sizeof(*m));
	point_key(domain, epoch, seq, key, sizeof(key));
	int rc = repo_get_meta(r, key, &plain, &len);
	if (rc == 0) {
		rc = manifest_decode(plain, len, r->chunk_size, repo_region_bytes(r), m);
		free(plain);
	}
	if (rc == 0 && (strcmp(m->info.domain, domain) || m->info.epoch != epoch ||
			m->info.seq != seq)) {
		manifest_release(m);
		rc = -EBADMSG;	/* a manifest moved to another point's key */
	}
	if (rc < 0)
		repo_err(err, errlen, "%s: %s", key, rc == -ENOENT ? "missing" : rc == -EBADMSG ?
			 "corrupt or truncated manifest" : rc == -EPROTO ?
			 "unsupported manifest (newer format)" : strerror(-rc));
	return rc;
}

/* ---- maps ---- */

/* Append to out what of base extent e lies in [a, b): the same chunk, shifted. */
static void emit_part(struct disk_extent *out, size_t *o, const struct disk_extent *e,
		      uint64_t a, uint64_t b)
{
	struct disk_extent *x = &out[(*o)++];
	*x = *e;
	x->offset = a;
	x->length = (uint32_t)(b - a);
	if (e->kind == EXTENT_DATA)
		x->coff = e->coff + (uint32_t)(a - e->offset);
}

/* map_apply, and with keep_zero map_overlay: which delta extents are added. */
static bool added(const struct disk_extent *d, uint64_t size, bool keep_zero)
{
	return keep_zero || (d->kind == EXTENT_DATA && d->offset + d->length <= size);
}

static int apply(struct disk_extent **ext, size_t *n, const struct disk_extent *d, size_t dn,
		 uint64_t size, bool keep_zero)
{
	/* each delta extent adds itself and splits at most one base extent in two */
	struct disk_extent *out = malloc((*n + 2 * dn + 1) * sizeof(*out));
	if (!out)
		return -ENOMEM;
	size_t o = 0, j = 0, k = 0;
	/* j: first delta extent that may overlap the current base extent; k: next delta
	 * extent to merge in (in offset order) */
	for (size_t i = 0; i < *n; i++) {
		const struct disk_extent *e = &(*ext)[i];
		uint64_t pos = e->offset, end = MIN(e->offset + e->length, size);
		while (j < dn && d[j].offset + d[j].length <= pos)
			j++;
		for (size_t q = j; pos < end;) {
			uint64_t cut = q < dn && d[q].offset < end ? d[q].offset : end;
			if (cut > pos) {
				for (; k < dn && d[k].offset < pos; k++)
					if (added(&d[k], size, keep_zero))
						out[o++] = d[k];
				emit_part(out, &o, e, pos, cut);
			}
			if (cut == end)
				break;
			pos = MAX(pos, d[q].offset + d[q].length);
			q++;
		}
	}
	for (; k < dn; k++)
		if (added(&d[k], size, keep_zero))
			out[o++] = d[k];
	free(*ext);
	*ext = out;
	*n = o;
	return 0;
}

int map_apply(struct disk_extent **ext, size_t *n, const struct disk_extent *d, size_t dn,
	      uint64_t size)
{
	return apply(ext, n, d, dn, size, false);
}

int map_overlay(struct disk_extent **ext, size_t *n, const struct disk_extent *d, size_t dn)
{
	return apply(ext, n, d, dn, UINT64_MAX, true);
}
