/* Reading chunks out of frames (docs/repo-format.md "Frames").
 *
 * A frame is one blob whose plaintext is several chunks back to back (format 2 writers put
 * up to REPO_FRAME_MAX bytes of chunks that follow each other on a disk in one frame, so
 * that compression sees more than one chunk at a time); the index gives each chunk its
 * frame (pack, offset, blob length) and its place in the frame's plaintext. A format 1
 * blob is a frame of one chunk.
 *
 * A reader that takes several chunks of one frame decodes the frame once into a struct
 * frame_buf and copies each chunk out of it; a frame that is exactly the chunk asked for
 * is decoded straight into the caller's buffer, as before frames. Either way the chunk's
 * bytes are checked against its id before they are handed out, and nothing is handed out
 * on failure (the output is wiped). */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/banned.h"

void frame_buf_release(struct frame_buf *fb)
{
	if (fb->data)
		OPENSSL_cleanse(fb->data, fb->cap);
	free(fb->data);
	memset(fb, 0, sizeof(*fb));
}

static bool frame_held(const struct frame_buf *fb, const struct chunk_loc *loc)
{
	return fb->valid && fb->off == loc->off && fb->blob_len == loc->blob_len &&
		!memcmp(fb->pack, loc->pack, PACK_ID_LEN);
}

/* Decode the frame of loc (blob: its loc->blob_len bytes) into fb. */
static int frame_load(struct blob_ctx *cx, struct frame_buf *fb, const void *blob,
		      const struct chunk_loc *loc)
{
	fb->valid = false;
	if (!fb->data) {
		if (!(fb->data = malloc(REPO_FRAME_MAX)))
			return -ENOMEM;
		fb->cap = REPO_FRAME_MAX;
	}
	int rc = blob_decode_frame(cx, blob, loc->blob_len, fb->data, fb->cap, &fb->len);
	if (rc < 0)
		return rc;
	memcpy(fb->pack, loc->pack, PACK_ID_LEN);
	fb->off = loc->off;
	fb->blob_len = loc->blob_len;
	fb->valid = true;
	return 0;
}

int frame_read(struct blob_ctx *cx, struct frame_buf *fb, const void *blob,
	       const struct chunk_loc *loc, const uint8_t *id, void *out, void *z, size_t zcap,
	       size_t *zlen)
{
	struct blob_info bi;
	uint8_t got[CHUNK_ID_LEN];
	*zlen = 0;
	if (!frame_held(fb, loc)) {
		int rc = blob_peek(blob, loc->blob_len, &bi);
		if (rc < 0)
			return rc;
		if (loc->foff == 0 && bi.plain_len == loc->plain_len)	/* a frame of one */
			return blob_decode_z(cx, blob, loc->blob_len, out, loc->plain_len, id, z,
					     zcap, zlen);
		if ((rc = frame_load(cx, fb, blob, loc)) < 0)
			return rc;
	}
	if ((uint64_t)loc->foff + loc->plain_len > fb->len)
		return -EBADMSG;	/* the index points past the frame's end */
	memcpy(out, fb->data + loc->foff, loc->plain_len);
	int rc = chunk_id(cx, out, loc->plain_len, got);
	if (rc == 0 && CRYPTO_memcmp(got, id, CHUNK_ID_LEN))
		rc = -EBADMSG;
	if (rc < 0)
		OPENSSL_cleanse(out, loc->plain_len);
	return rc;
}
