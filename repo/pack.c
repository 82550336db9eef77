/* Packs: many chunk blobs in one object, so that a point costs a few large PUTs rather than
 * one per chunk (docs/repo-format.md "Packs" and "Pack index").
 *
 *   | blob | blob | ... | pack index blob | trailer (16) |
 *
 * The pack is built in memory (at most PACK_TARGET_SIZE plus one chunk blob plus its
 * index) and uploaded in one put. The pack index is itself a blob (encrypted like the
 * chunks), so the pack reveals nothing but blob sizes; the trailer, in clear, only says
 * where the index is. Readers normally never read the pack index: the repository's index
 * deltas carry the same locations. It is there so a pack can be checked (verify) or its
 * entries rebuilt (a lost index object) on its own. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/crc32c.h"
#include "common/util.h"
#include "common/banned.h"

#define PACK_INDEX_MAGIC "FPIX"
#define PACK_TRAILER_MAGIC "FPAK"
#define PACK_INDEX_V1_ENTRY 44	/* version 1 (format 1): one entry per blob */
#define PACK_INDEX_V2_ENTRY 48	/* version 2 (format 2): one entry per chunk, + frame offset */

void pack_key(const uint8_t id[PACK_ID_LEN], char *key, size_t keylen)
{
	char hex[PACK_ID_HEX_LEN + 1];
	for (unsigned i = 0; i < PACK_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	snprintf(key, keylen, "packs/%.2s/%s", hex, hex);
}

int pack_writer_start(struct pack_writer *pw, int version)
{
	if (RAND_bytes(pw->id, PACK_ID_LEN) != 1)
		return -EIO;
	pw->version = (uint8_t)version;
	dbuf_reset(&pw->data);
	pw->data.max = PACK_MAX_SIZE;
	pw->n = 0;
	pw->open = true;
	return 0;
}

int pack_writer_add_frame(struct pack_writer *pw, const void *blob, uint32_t blob_len,
			  const struct pack_entry *ent, size_t n, uint64_t *off)
{
	if (n == 0 || (pw->version < 2 && (n > 1 || ent[0].foff)))
		return -EINVAL;	/* version 1 packs hold one chunk per blob */
	if (pw->n + n > pw->cap) {
		size_t cap = MAX(pw->cap ? pw->cap * 2 : 256, pw->n + n);
		struct pack_entry *e = realloc(pw->ent, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		pw->ent = e;
		pw->cap = cap;
	}
	uint64_t at = pw->data.len;
	int r = dbuf_add(&pw->data, blob, blob_len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct pack_entry *e = &pw->ent[pw->n++];
		*e = ent[i];
		e->off = (uint32_t)at;
		e->blob_len = blob_len;
	}
	*off = at;
	return 0;
}

int pack_writer_add(struct pack_writer *pw, const uint8_t id[CHUNK_ID_LEN], const void *blob,
		    uint32_t blob_len, uint32_t plain_len, uint64_t *off)
{
	struct pack_entry e = { .plain_len = plain_len };
	memcpy(e.id, id, CHUNK_ID_LEN);
	return pack_writer_add_frame(pw, blob, blob_len, &e, 1, off);
}

int pack_index_encode(const struct pack_entry *e, size_t n, int version, struct dbuf *out)
{
	uint8_t hdr[PACK_INDEX_HDR] = PACK_INDEX_MAGIC;
	if (version != 1 && version != 2)
		return -EINVAL;
	hdr[4] = (uint8_t)version;
	put_le32(hdr + 8, (uint32_t)n);
	int r = dbuf_add(out, hdr, sizeof(hdr));
	for (size_t i = 0; i < n && r == 0; i++) {
		uint8_t b[PACK_INDEX_V2_ENTRY];
		memcpy(b, e[i].id, CHUNK_ID_LEN);
		put_le32(b + 32, e[i].off);
		put_le32(b + 36, e[i].blob_len);
		put_le32(b + 40, e[i].plain_len);
		put_le32(b + 44, e[i].foff);
		r = dbuf_add(out, b, version == 1 ? PACK_INDEX_V1_ENTRY : PACK_INDEX_V2_ENTRY);
	}
	return r;
}

/* Entry i against the one before it: blobs are back to back from offset 0; in version 2
 * the entries of one frame share its blob and come in frame order without overlapping. */
static bool entry_follows(const struct pack_entry *e, uint32_t i, int version)
{
	const struct pack_entry *c = &e[i], *p = i ? &e[i - 1] : NULL;
	if (c->blob_len == 0)
		return false;
	if (version == 1)
		return c->foff == 0 && c->plain_len <= REPO_CHUNK_MAX &&
			c->off == (p ? (uint64_t)p->off + p->blob_len : 0);
	if (p && c->off == p->off)	/* the next chunk of p's frame */
		return c->blob_len == p->blob_len && c->foff >= p->foff + (uint64_t)p->plain_len &&
			(uint64_t)c->foff + c->plain_len <= REPO_FRAME_MAX;
	return c->off == (p ? (uint64_t)p->off + p->blob_len : 0) &&
		(c->foff ? (uint64_t)c->foff + c->plain_len <= REPO_FRAME_MAX :
			   c->plain_len <= REPO_META_MAX);
}

int pack_index_decode(const void *buf, size_t len, struct pack_entry **out, size_t *nout)
{
	const uint8_t *p = buf;
	*out = NULL;
	*nout = 0;
	if (len < PACK_INDEX_HDR || memcmp(p, PACK_INDEX_MAGIC, 4))
		return -EBADMSG;
	int version = p[4];
	if (version < 1 || version > 2 || p[5] || get_le16(p + 6) || get_le32(p + 12))
		return -EPROTO;
	size_t es = version == 1 ? PACK_INDEX_V1_ENTRY : PACK_INDEX_V2_ENTRY;
	uint32_t n = get_le32(p + 8);
	if ((len - PACK_INDEX_HDR) % es || (len - PACK_INDEX_HDR) / es != n)
		return -EBADMSG;
	struct pack_entry *e = malloc((n ? n : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *b = p + PACK_INDEX_HDR + (size_t)i * es;
		memcpy(e[i].id, b, CHUNK_ID_LEN);
		e[i].off = get_le32(b + 32);
		e[i].blob_len = get_le32(b + 36);
		e[i].plain_len = get_le32(b + 40);
		e[i].foff = version == 1 ? 0 : get_le32(b + 44);
		if (!entry_follows(e, i, version)) {
			free(e);
			return -EBADMSG;
		}
	}
	*out = e;
	*nout = n;
	return 0;
}

static void trailer_encode(uint8_t t[PACK_TRAILER_LEN], uint32_t off, uint32_t len)
{
	memcpy(t, PACK_TRAILER_MAGIC, 4);
	put_le32(t + 4, off);
	put_le32(t + 8, len);
	put_le32(t + 12, crc32c(0, t, 12));
}

int pack_trailer_decode(const uint8_t t[PACK_TRAILER_LEN], uint64_t pack_size, uint32_t *off,
			uint32_t *len)
{
	if (memcmp(t, PACK_TRAILER_MAGIC, 4) || get_le32(t + 12) != crc32c(0, t, 12))
		return -EBADMSG;
	*off = get_le32(t + 4);
	*len = get_le32(t + 8);
	if (pack_size > PACK_MAX_SIZE || pack_size < PACK_TRAILER_LEN ||
	    (uint64_t)*off + *len + PACK_TRAILER_LEN != pack_size || *len == 0)
		return -EBADMSG;
	return 0;
}

int pack_writer_seal(struct repo *r, struct pack_writer *pw)
{
	struct dbuf ix = DBUF_INIT(PACK_MAX_SIZE);
	uint8_t t[PACK_TRAILER_LEN];
	int rc = pack_index_encode(pw->ent, pw->n, pw->version, &ix);
	if (rc < 0)
		goto out;
	size_t cap = blob_max_size(ix.len, r->encrypted);
	uint8_t *blob = malloc(cap);
	struct blob_ctx *cx = repo_cx_get(r);
	ssize_t bl = blob && cx ? blob_encode(cx, ix.data, ix.len, COMPRESS_NONE, 0, blob, cap)
				: -ENOMEM;
	repo_cx_put(r, cx);
	uint32_t ioff = (uint32_t)pw->data.len;
	rc = bl < 0 ? (int)bl : dbuf_add(&pw->data, blob, (size_t)bl);
	free(blob);
	if (rc < 0)
		goto out;
	trailer_encode(t, ioff, (uint32_t)bl);
	rc = dbuf_add(&pw->data, t, sizeof(t));
out:
	dbuf_release(&ix);
	return rc;
}

int pack_writer_put(struct repo *r, struct pack_writer *pw)
{
	char key[64];
	pack_key(pw->id, key, sizeof(key));
	int rc = store_put(r->st, key, pw->data.data, pw->data.len);
	if (rc == 0)
		pw->open = false;
	return rc;
}

int pack_writer_finish(struct repo *r, struct pack_writer *pw)
{
	int rc = pack_writer_seal(r, pw);
	return rc < 0 ? rc : pack_writer_put(r, pw);
}

void pack_writer_release(struct pack_writer *pw)
{
	dbuf_release(&pw->data);
	free(pw->ent);
	memset(pw, 0, sizeof(*pw));
}

int pack_read_index(struct repo *r, const char *key, uint64_t size, struct pack_entry **e,
		    size_t *n)
{
	uint8_t t[PACK_TRAILER_LEN];
	uint32_t off, len;
	*e = NULL;
	*n = 0;
	if (size < PACK_TRAILER_LEN || size > PACK_MAX_SIZE)
		return -EBADMSG;
	int rc = store_get_range(r->st, key, size - PACK_TRAILER_LEN, PACK_TRAILER_LEN, t);
	if (rc < 0)
		return rc == -EINVAL ? -EBADMSG : rc;
	rc = pack_trailer_decode(t, size, &off, &len);
	if (rc < 0)
		return rc;
	void *blob = malloc(len);
	if (!blob)
		return -ENOMEM;
	rc = store_get_range(r->st, key, off, len, blob);
	if (rc == 0) {
		void *plain;
		size_t plen;
		rc = repo_decode_meta(r, blob, len, &plain, &plen);
		if (rc == 0) {
			rc = pack_index_decode(plain, plen, e, n);
			free(plain);
		}
		/* the blobs must end where the index begins */
		if (rc == 0 && *n && (*e)[*n - 1].off + (uint64_t)(*e)[*n - 1].blob_len != off) {
			free(*e);
			*e = NULL;
			*n = 0;
			rc = -EBADMSG;
		}
		if (rc == 0 && !*n && off != 0)
			rc = -EBADMSG;
	} else if (rc == -EINVAL) {
		rc = -EBADMSG;
	}
	free(blob);
	return rc;
}
