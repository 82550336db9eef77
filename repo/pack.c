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
#define PACK_INDEX_VERSION 1

void pack_key(const uint8_t id[PACK_ID_LEN], char *key, size_t keylen)
{
	char hex[PACK_ID_HEX_LEN + 1];
	for (unsigned i = 0; i < PACK_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	snprintf(key, keylen, "packs/%.2s/%s", hex, hex);
}

int pack_writer_start(struct pack_writer *pw)
{
	if (RAND_bytes(pw->id, PACK_ID_LEN) != 1)
		return -EIO;
	dbuf_reset(&pw->data);
	pw->data.max = PACK_MAX_SIZE;
	pw->n = 0;
	pw->open = true;
	return 0;
}

int pack_writer_add(struct pack_writer *pw, const uint8_t id[CHUNK_ID_LEN], const void *blob,
		    uint32_t blob_len, uint32_t plain_len, uint64_t *off)
{
	if (pw->n == pw->cap) {
		size_t cap = pw->cap ? pw->cap * 2 : 256;
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
	struct pack_entry *e = &pw->ent[pw->n++];
	memcpy(e->id, id, CHUNK_ID_LEN);
	e->off = (uint32_t)at;
	e->blob_len = blob_len;
	e->plain_len = plain_len;
	*off = at;
	return 0;
}

int pack_index_encode(const struct pack_entry *e, size_t n, struct dbuf *out)
{
	uint8_t hdr[PACK_INDEX_HDR] = PACK_INDEX_MAGIC;
	hdr[4] = PACK_INDEX_VERSION;
	put_le32(hdr + 8, (uint32_t)n);
	int r = dbuf_add(out, hdr, sizeof(hdr));
	for (size_t i = 0; i < n && r == 0; i++) {
		uint8_t b[PACK_INDEX_ENTRY];
		memcpy(b, e[i].id, CHUNK_ID_LEN);
		put_le32(b + 32, e[i].off);
		put_le32(b + 36, e[i].blob_len);
		put_le32(b + 40, e[i].plain_len);
		r = dbuf_add(out, b, sizeof(b));
	}
	return r;
}

int pack_index_decode(const void *buf, size_t len, struct pack_entry **out, size_t *nout)
{
	const uint8_t *p = buf;
	*out = NULL;
	*nout = 0;
	if (len < PACK_INDEX_HDR || memcmp(p, PACK_INDEX_MAGIC, 4))
		return -EBADMSG;
	if (p[4] != PACK_INDEX_VERSION || p[5] || get_le16(p + 6) || get_le32(p + 12))
		return -EPROTO;
	uint32_t n = get_le32(p + 8);
	if ((len - PACK_INDEX_HDR) % PACK_INDEX_ENTRY || (len - PACK_INDEX_HDR) / PACK_INDEX_ENTRY != n)
		return -EBADMSG;
	struct pack_entry *e = malloc((n ? n : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	uint64_t expect = 0;	/* blobs are back to back from offset 0 */
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *b = p + PACK_INDEX_HDR + (size_t)i * PACK_INDEX_ENTRY;
		memcpy(e[i].id, b, CHUNK_ID_LEN);
		e[i].off = get_le32(b + 32);
		e[i].blob_len = get_le32(b + 36);
		e[i].plain_len = get_le32(b + 40);
		if (e[i].off != expect || e[i].blob_len == 0 || e[i].plain_len > REPO_CHUNK_MAX) {
			free(e);
			return -EBADMSG;
		}
		expect += e[i].blob_len;
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
	int rc = pack_index_encode(pw->ent, pw->n, &ix);
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
	uint64_t t0 = now_mono_ns();
	int rc = store_put(r->st, key, pw->data.data, pw->data.len);
	atomic_fetch_add(&r->t_upload_ns, now_mono_ns() - t0);
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

void repo_take_timings(struct repo *r, uint64_t *encode_ns, uint64_t *upload_ns)
{
	*encode_ns = atomic_exchange(&r->t_encode_ns, 0);
	*upload_ns = atomic_exchange(&r->t_upload_ns, 0);
}
