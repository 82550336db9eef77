/* NBD transmission phase as pure functions (contract: nbd-proto.h): request decoding,
 * validation against the negotiated export, reply encoding, errno mapping.
 *
 * Validation order matters only for WRITE: an oversized payload cannot be skipped
 * cheaply, so it is checked first and disconnects; every other WRITE error still lets
 * the caller read and discard the payload, keeping the stream in sync. Bounds errors
 * follow the protocol's server guidance (NBD doc/proto.md): write class (WRITE, TRIM,
 * WRITE_ZEROES) -> ENOSPC, READ/CACHE/BLOCK_STATUS -> EINVAL. FLUSH and DISC ignore offset
 * and length, as common servers do. BLOCK_STATUS is an unknown command unless
 * base:allocation was negotiated (which needs structured replies). */
#include "datapath/nbd-proto.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

bool nbd_request_decode(const uint8_t hdr[NBD_REQUEST_SIZE], struct nbd_request *req)
{
	if (get_be32(hdr) != NBD_REQUEST_MAGIC)
		return false;
	req->flags = get_be16(hdr + 4);
	req->type = get_be16(hdr + 6);
	req->cookie = get_be64(hdr + 8);
	req->offset = get_be64(hdr + 16);
	req->length = get_be32(hdr + 24);
	return true;
}

static bool in_bounds(const struct nbd_request *req, uint64_t size)
{
	return req->offset <= size && req->length <= size - req->offset;
}

static enum nbd_verdict fail(uint32_t *error, uint32_t e)
{
	*error = e;
	return NBD_REQ_ERROR;
}

enum nbd_verdict nbd_request_validate(const struct nbd_request *req,
				      const struct nbd_handshake *hs, uint32_t *error)
{
	const struct nbd_export_info *e = hs->chosen;
	uint16_t allowed = NBD_CMD_FLAG_FUA;
	bool write_class = false;

	*error = 0;
	switch (req->type) {
	case NBD_CMD_DISC:
		return NBD_REQ_DISC;
	case NBD_CMD_WRITE:
		if (req->length > NBD_MAX_PAYLOAD) {
			*error = NBD_EINVAL;
			return NBD_REQ_DISCONNECT;
		}
		write_class = true;
		break;
	case NBD_CMD_READ:
		if (hs->structured)
			allowed |= NBD_CMD_FLAG_DF;
		break;
	case NBD_CMD_WRITE_ZEROES:
		allowed |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
		write_class = true;
		break;
	case NBD_CMD_BLOCK_STATUS:
		if (!hs->structured || !hs->meta_alloc)
			return fail(error, NBD_EINVAL);
		if (req->length == 0)
			return fail(error, NBD_EINVAL);
		allowed |= NBD_CMD_FLAG_REQ_ONE;
		break;
	case NBD_CMD_TRIM:
		write_class = true;
		break;
	case NBD_CMD_FLUSH:
	case NBD_CMD_CACHE:
		break;
	default:
		return fail(error, NBD_EINVAL);
	}
	if (req->flags & ~allowed)
		return fail(error, NBD_EINVAL);
	if (req->type == NBD_CMD_FLUSH)
		return NBD_REQ_OK;
	if (!e)
		return fail(error, NBD_EINVAL);
	if (write_class && e->read_only)
		return fail(error, NBD_EPERM);
	if (req->type == NBD_CMD_READ && req->length > NBD_MAX_PAYLOAD)
		return fail(error, req->flags & NBD_CMD_FLAG_DF ? NBD_EOVERFLOW : NBD_EINVAL);
	if (!in_bounds(req, e->size))
		return fail(error, write_class ? NBD_ENOSPC : NBD_EINVAL);
	return NBD_REQ_OK;
}

static void chunk_hdr(uint8_t *out, uint16_t flags, uint16_t type, uint64_t cookie,
		      uint32_t len)
{
	put_be32(out, NBD_STRUCTURED_REPLY_MAGIC);
	put_be16(out + 4, flags);
	put_be16(out + 6, type);
	put_be64(out + 8, cookie);
	put_be32(out + 16, len);
}

size_t nbd_reply_simple(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint32_t error, uint64_t cookie)
{
	put_be32(out, NBD_SIMPLE_REPLY_MAGIC);
	put_be32(out + 4, error);
	put_be64(out + 8, cookie);
	return NBD_SIMPLE_REPLY_SIZE;
}

size_t nbd_reply_read_chunk(uint8_t out[NBD_CHUNK_HDR_SIZE + 8], uint64_t cookie,
			    uint64_t offset, uint32_t len, bool done)
{
	chunk_hdr(out, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA, cookie,
		  len + 8);
	put_be64(out + NBD_CHUNK_HDR_SIZE, offset);
	return NBD_CHUNK_HDR_SIZE + 8;
}

size_t nbd_reply_error_chunk(uint8_t *out, uint64_t cookie, uint32_t error, const char *msg)
{
	size_t ml = msg ? strlen(msg) : 0;

	if (ml > NBD_MAX_NAME_LEN)	/* protocol strings are at most 4096 bytes */
		ml = NBD_MAX_NAME_LEN;
	chunk_hdr(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, (uint32_t)(6 + ml));
	put_be32(out + NBD_CHUNK_HDR_SIZE, error);
	put_be16(out + NBD_CHUNK_HDR_SIZE + 4, (uint16_t)ml);
	if (ml)
		memcpy(out + NBD_CHUNK_HDR_SIZE + 6, msg, ml);
	return NBD_CHUNK_HDR_SIZE + 6 + ml;
}

size_t nbd_reply_none_chunk(uint8_t out[NBD_CHUNK_HDR_SIZE], uint64_t cookie)
{
	chunk_hdr(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0);
	return NBD_CHUNK_HDR_SIZE;
}

size_t nbd_reply_block_status(uint8_t *out, uint64_t cookie, uint32_t id,
			      const struct nbd_extent *ext, size_t n)
{
	chunk_hdr(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, cookie,
		  (uint32_t)(4 + 8 * n));
	put_be32(out + NBD_CHUNK_HDR_SIZE, id);
	for (size_t i = 0; i < n; i++) {
		put_be32(out + NBD_CHUNK_HDR_SIZE + 4 + 8 * i, ext[i].length);
		put_be32(out + NBD_CHUNK_HDR_SIZE + 8 + 8 * i, ext[i].flags);
	}
	return NBD_CHUNK_HDR_SIZE + 4 + 8 * n;
}

uint32_t nbd_errno_to_wire(int neg_errno)
{
	switch (neg_errno) {
	case 0:
		return 0;
	case -EPERM:
	case -EROFS:
		return NBD_EPERM;
	case -ENOSPC:
	case -EDQUOT:
	case -EFBIG:
		return NBD_ENOSPC;
	case -ENOMEM:
		return NBD_ENOMEM;
	case -EINVAL:
		return NBD_EINVAL;
	case -EOVERFLOW:
		return NBD_EOVERFLOW;
	case -ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
	case -EOPNOTSUPP:
#endif
		return NBD_ENOTSUP;
	case -ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}
