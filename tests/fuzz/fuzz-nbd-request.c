/* Fuzz target for NBD request decoding and validation (datapath/nbd-request.c).
 * Input: byte 0 = bit0 read-only, bit1 structured replies, bit2 multi-conn, bit3
 * base:allocation negotiated; byte 1
 * picks the export size from a table of edge cases; then a stream of 28-byte request
 * headers, each WRITE followed by its payload (skipped), as on the wire. The stream ends
 * where a server would stop: bad magic, DISC, or a disconnect verdict. Each verdict is
 * checked against the contract in nbd-proto.h; a violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "datapath/nbd-proto.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t sizes[] = {
	1u << 20, 0, 1, 512, 4096, (1u << 20) + 1, 64ull << 20, 1ull << 63,
	UINT64_MAX - 1, UINT64_MAX, 1ull << 40, 32ull << 20,
};

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant violated: %s\n", what);
		abort();
	}
}

static int in_bounds(const struct nbd_request *r, uint64_t size)
{
	return r->offset <= size && r->length <= size - r->offset;
}

static void check_verdict(const struct nbd_request *r, const struct nbd_handshake *hs,
			  enum nbd_verdict v, uint32_t err)
{
	const struct nbd_export_info *e = hs->chosen;
	int write_class = r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
			  r->type == NBD_CMD_WRITE_ZEROES;

	switch (v) {
	case NBD_REQ_OK:
		check(err == 0, "OK with an error");
		check(r->type <= NBD_CMD_BLOCK_STATUS && r->type != NBD_CMD_DISC,
		      "OK for an unknown command");
		check(!(r->flags & ~(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_DF |
				     NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_REQ_ONE)),
		      "OK with unknown flags");
		check(!(r->flags & NBD_CMD_FLAG_FAST_ZERO) || r->type == NBD_CMD_WRITE_ZEROES,
		      "FAST_ZERO accepted where not allowed");
		check(!(r->flags & NBD_CMD_FLAG_REQ_ONE) || r->type == NBD_CMD_BLOCK_STATUS,
		      "REQ_ONE accepted where not allowed");
		check(r->type != NBD_CMD_BLOCK_STATUS ||
		      (hs->structured && hs->meta_alloc && r->length > 0),
		      "BLOCK_STATUS without base:allocation, or of length 0");
		check(!(r->flags & NBD_CMD_FLAG_DF) || (hs->structured && r->type == NBD_CMD_READ),
		      "DF accepted where not allowed");
		check(!(r->flags & NBD_CMD_FLAG_NO_HOLE) || r->type == NBD_CMD_WRITE_ZEROES,
		      "NO_HOLE accepted where not allowed");
		if (r->type == NBD_CMD_FLUSH)
			break;
		check(in_bounds(r, e->size), "OK out of bounds");
		check(!write_class || !e->read_only, "write accepted on read-only export");
		check((r->type != NBD_CMD_READ && r->type != NBD_CMD_WRITE) ||
		      r->length <= NBD_MAX_PAYLOAD, "OK over max payload");
		break;
	case NBD_REQ_ERROR:
		check(err == NBD_EINVAL || err == NBD_ENOSPC || err == NBD_EPERM ||
		      err == NBD_EOVERFLOW, "unexpected error value");
		check(r->type != NBD_CMD_WRITE || r->length <= NBD_MAX_PAYLOAD,
		      "skippable error for an oversized WRITE");
		check(err != NBD_EOVERFLOW || (r->flags & NBD_CMD_FLAG_DF), "EOVERFLOW without DF");
		check(err != NBD_ENOSPC || write_class, "ENOSPC for a non-write");
		check(err != NBD_EPERM || (write_class && e->read_only), "EPERM for no reason");
		break;
	case NBD_REQ_DISCONNECT:
		check(r->type == NBD_CMD_WRITE && r->length > NBD_MAX_PAYLOAD,
		      "disconnect for a skippable request");
		check(err == NBD_EINVAL, "disconnect error");
		break;
	case NBD_REQ_DISC:
		check(r->type == NBD_CMD_DISC, "DISC verdict for another command");
		break;
	default:
		check(0, "unknown verdict");
	}
}

static void encode_reply(const struct nbd_request *r, const struct nbd_handshake *hs,
			 uint32_t err)
{
	uint8_t b[NBD_CHUNK_HDR_SIZE + 8 + 64];

	if (hs->structured && r->type == NBD_CMD_BLOCK_STATUS && !err) {
		struct nbd_extent ext[2] = { { r->length, NBD_STATE_HOLE | NBD_STATE_ZERO },
					     { 0, 0 } };
		uint8_t bs[NBD_CHUNK_HDR_SIZE + 4 + 16];
		check(nbd_reply_block_status(bs, r->cookie, NBD_META_ID_ALLOCATION, ext, 2) ==
		      sizeof bs, "block status chunk");
		check(get_be64(bs + 8) == r->cookie, "cookie not echoed");
	} else if (hs->structured && (r->type == NBD_CMD_READ || r->type == NBD_CMD_BLOCK_STATUS)) {
		if (err)
			check(nbd_reply_error_chunk(b, r->cookie, err, "fuzz") == 30, "error chunk");
		else if (r->length)
			check(nbd_reply_read_chunk(b, r->cookie, r->offset, r->length, true) == 28,
			      "read chunk");
		else
			check(nbd_reply_none_chunk(b, r->cookie) == 20, "none chunk");
	} else {
		check(nbd_reply_simple(b, err, r->cookie) == 16, "simple reply");
		check(get_be64(b + 8) == r->cookie, "cookie not echoed");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct nbd_export_info e = {
		.name = "fuzz",
		.size = sizes[data[1] % ARRAY_SIZE(sizes)],
		.read_only = data[0] & 1,
		.multi_conn = data[0] & 4,
	};
	struct nbd_handshake hs;
	nbd_hs_init(&hs, &e, 1);
	hs.state = NBD_HS_TRANSMISSION;
	hs.structured = data[0] & 2;
	hs.meta_alloc = hs.structured && (data[0] & 8);
	hs.meta_export = &e;
	hs.chosen = &e;
	hs.tflags = nbd_export_tflags(&e, hs.structured);

	size_t pos = 2;
	while (size - pos >= NBD_REQUEST_SIZE) {
		struct nbd_request r;
		uint32_t err = 0xdeadbeef;

		if (!nbd_request_decode(data + pos, &r)) {
			check(get_be32(data + pos) != NBD_REQUEST_MAGIC, "good magic rejected");
			break;
		}
		pos += NBD_REQUEST_SIZE;
		enum nbd_verdict v = nbd_request_validate(&r, &hs, &err);
		check_verdict(&r, &hs, v, err);
		if (v == NBD_REQ_DISC || v == NBD_REQ_DISCONNECT)
			break;
		encode_reply(&r, &hs, err);
		if (r.type == NBD_CMD_WRITE)
			pos += MIN((size_t)r.length, size - pos);
	}
	return 0;
}
