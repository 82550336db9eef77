/* The NBD protocol (fixed newstyle), as pure functions over byte buffers: no sockets, no
 * I/O, so the handshake and request decoding can be unit-tested and fuzzed directly.
 * nbd-handshake.c: option haggling; nbd-request.c: request decoding/validation and reply
 * encoding. Wire numbers follow the NBD protocol (doc/proto.md of NetworkBlockDevice/nbd);
 * all integers are big-endian.
 *
 * Server flow (ferryd's conn.c):
 *   send greeting (nbd_hs_greeting) -> feed client bytes to nbd_hs_feed, send what it
 *   appends to out, until state is NBD_HS_TRANSMISSION (export chosen) or NBD_HS_CLOSE;
 *   NBD_HS_STARTTLS means: send out, run the TLS handshake on the socket, then call
 *   nbd_hs_tls_done and go on feeding (decrypted bytes) ->
 *   then per request: 28-byte header -> nbd_request_decode -> nbd_request_validate ->
 *   payload (WRITE) -> do it -> reply (simple, or structured chunks for READ if negotiated;
 *   BLOCK_STATUS always structured). */
#ifndef FERRY_NBD_PROTO_H
#define FERRY_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dbuf.h"

#define NBD_MAGIC		0x4e42444d41474943ull	/* "NBDMAGIC" */
#define NBD_IHAVEOPT		0x49484156454f5054ull
#define NBD_REP_MAGIC		0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC	0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC	0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu

#define NBD_MAX_PAYLOAD		(32u << 20)	/* advertised max block */
#define NBD_PREF_BLOCK		4096u
#define NBD_MIN_BLOCK		1u
#define NBD_MAX_OPTION_LEN	(64u << 10)	/* longer option data: disconnect */
#define NBD_MAX_NAME_LEN	4096u
#define NBD_REQUEST_SIZE	28u
#define NBD_SIMPLE_REPLY_SIZE	16u
#define NBD_CHUNK_HDR_SIZE	20u

/* handshake flags */
#define NBD_FLAG_FIXED_NEWSTYLE	(1u << 0)
#define NBD_FLAG_NO_ZEROES	(1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES	NBD_FLAG_NO_ZEROES

/* options */
#define NBD_OPT_EXPORT_NAME	1
#define NBD_OPT_ABORT		2
#define NBD_OPT_LIST		3
#define NBD_OPT_STARTTLS	5
#define NBD_OPT_INFO		6
#define NBD_OPT_GO		7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT 10
#define NBD_OPT_EXTENDED_HEADERS 11

/* option reply types */
#define NBD_REP_ACK		1u
#define NBD_REP_SERVER		2u
#define NBD_REP_INFO		3u
#define NBD_REP_META_CONTEXT	4u
#define NBD_REP_ERR_UNSUP	0x80000001u
#define NBD_REP_ERR_POLICY	0x80000002u
#define NBD_REP_ERR_INVALID	0x80000003u
#define NBD_REP_ERR_PLATFORM	0x80000004u
#define NBD_REP_ERR_TLS_REQD	0x80000005u
#define NBD_REP_ERR_UNKNOWN	0x80000006u
#define NBD_REP_ERR_SHUTDOWN	0x80000007u
#define NBD_REP_ERR_BLOCK_SIZE_REQD 0x80000008u
#define NBD_REP_ERR_TOO_BIG	0x80000009u

/* info types */
#define NBD_INFO_EXPORT		0
#define NBD_INFO_NAME		1
#define NBD_INFO_DESCRIPTION	2
#define NBD_INFO_BLOCK_SIZE	3

/* transmission flags */
#define NBD_FLAG_HAS_FLAGS	(1u << 0)
#define NBD_FLAG_READ_ONLY	(1u << 1)
#define NBD_FLAG_SEND_FLUSH	(1u << 2)
#define NBD_FLAG_SEND_FUA	(1u << 3)
#define NBD_FLAG_ROTATIONAL	(1u << 4)
#define NBD_FLAG_SEND_TRIM	(1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF	(1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN	(1u << 8)
#define NBD_FLAG_SEND_CACHE	(1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO	(1u << 11)

/* commands */
#define NBD_CMD_READ		0
#define NBD_CMD_WRITE		1
#define NBD_CMD_DISC		2
#define NBD_CMD_FLUSH		3
#define NBD_CMD_TRIM		4
#define NBD_CMD_CACHE		5
#define NBD_CMD_WRITE_ZEROES	6
#define NBD_CMD_BLOCK_STATUS	7

/* command flags */
#define NBD_CMD_FLAG_FUA	(1u << 0)
#define NBD_CMD_FLAG_NO_HOLE	(1u << 1)
#define NBD_CMD_FLAG_DF		(1u << 2)
#define NBD_CMD_FLAG_REQ_ONE	(1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO	(1u << 4)

/* structured reply chunk types and flags */
#define NBD_REPLY_FLAG_DONE	(1u << 0)
#define NBD_REPLY_TYPE_NONE	0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_OFFSET_HOLE 2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR	0x8001u

/* meta contexts: ferryd offers base:allocation, always with this context id */
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_META_ID_ALLOCATION	1u
#define NBD_STATE_HOLE		(1u << 0)	/* base:allocation: not allocated */
#define NBD_STATE_ZERO		(1u << 1)	/* base:allocation: reads as zeroes */

/* error values on the wire (never send a host errno) */
#define NBD_EPERM	1u
#define NBD_EIO		5u
#define NBD_ENOMEM	12u
#define NBD_EINVAL	22u
#define NBD_ENOSPC	28u
#define NBD_EOVERFLOW	75u
#define NBD_ENOTSUP	95u
#define NBD_ESHUTDOWN	108u

/* What the server offers. The array outlives every handshake that points at it. */
struct nbd_export_info {
	const char *name;
	const char *description;	/* may be NULL */
	uint64_t size;
	bool read_only;
	bool multi_conn;		/* FLUSH on one connection covers all of them */
};

/* TLS policy (the [nbd] tls setting): off (STARTTLS refused), on (offered), require
 * (every option but STARTTLS and ABORT refused before TLS). */
enum nbd_tls_mode { NBD_TLS_OFF, NBD_TLS_ON, NBD_TLS_REQUIRE };

enum nbd_hs_state {
	NBD_HS_CLIENT_FLAGS,	/* waiting for the client's 4 flag bytes */
	NBD_HS_OPTIONS,		/* option haggling */
	NBD_HS_STARTTLS,	/* STARTTLS acknowledged: send out, then the TLS handshake, then
				 * nbd_hs_tls_done (feeding consumes nothing meanwhile) */
	NBD_HS_TRANSMISSION,	/* export chosen (GO or EXPORT_NAME): send out, then serve */
	NBD_HS_CLOSE,		/* send out (if anything), then close the connection */
};

struct nbd_handshake {
	enum nbd_hs_state state;
	enum nbd_tls_mode tls_mode;	/* set by the caller after nbd_hs_init (default off) */
	bool tls;		/* the TLS handshake is done: options go through TLS now */
	bool no_zeroes;		/* client set C_NO_ZEROES */
	bool structured;	/* STRUCTURED_REPLY negotiated */
	/* SET_META_CONTEXT selected base:allocation for meta_export (void if GO names another) */
	bool meta_alloc;
	const struct nbd_export_info *meta_export;
	const struct nbd_export_info *exports;
	size_t n_exports;
	const struct nbd_export_info *chosen;	/* set in NBD_HS_TRANSMISSION */
	uint16_t tflags;	/* transmission flags sent for chosen */
	const char *close_reason;	/* static string, set with NBD_HS_CLOSE */
};

void nbd_hs_init(struct nbd_handshake *hs, const struct nbd_export_info *exports, size_t n);
/* The 18-byte server greeting. */
void nbd_hs_greeting(uint8_t out[18]);
/* Consume complete client messages from in[0..len) and append the server's answers to out.
 * Stops after a message that changes state to TRANSMISSION or CLOSE, or when the next
 * message is incomplete. Returns the bytes consumed (the caller keeps the rest and calls
 * again with more). Never reads past len; malformed input leads to NBD_HS_CLOSE with a
 * reason, never to a crash. */
size_t nbd_hs_feed(struct nbd_handshake *hs, const uint8_t *in, size_t len, struct dbuf *out);
/* The TLS handshake after STARTTLS succeeded: back to option haggling, inside TLS, with
 * everything negotiated before forgotten (as the protocol requires). */
void nbd_hs_tls_done(struct nbd_handshake *hs);
/* Transmission flags for an export given what was negotiated. */
uint16_t nbd_export_tflags(const struct nbd_export_info *e, bool structured);

struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* Decode a 28-byte request header. Return false on a bad magic (the caller disconnects). */
bool nbd_request_decode(const uint8_t hdr[NBD_REQUEST_SIZE], struct nbd_request *req);

enum nbd_verdict {
	NBD_REQ_OK,		/* do it (WRITE: read length payload bytes first) */
	NBD_REQ_ERROR,		/* reply *error; for WRITE read and discard the payload first */
	NBD_REQ_DISCONNECT,	/* reply *error if it is not 0, then close (payload unskippable) */
	NBD_REQ_DISC,		/* NBD_CMD_DISC: finish in-flight requests, close, no reply */
};
/* Check a request against the negotiated export: command known and advertised, flags
 * known, offset+length inside the export (write class -> ENOSPC, read, CACHE and
 * BLOCK_STATUS -> EINVAL), payload length within NBD_MAX_PAYLOAD (WRITE over it ->
 * DISCONNECT with EINVAL; READ -> EOVERFLOW when DF else EINVAL), read-only export (EPERM).
 * BLOCK_STATUS needs base:allocation negotiated and a length > 0. */
enum nbd_verdict nbd_request_validate(const struct nbd_request *req,
				      const struct nbd_handshake *hs, uint32_t *error);

/* Encoders; each returns the bytes written to out. */
size_t nbd_reply_simple(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint32_t error, uint64_t cookie);
/* Structured OFFSET_DATA chunk header (20 + 8 bytes) for `len` data bytes that follow. */
size_t nbd_reply_read_chunk(uint8_t out[NBD_CHUNK_HDR_SIZE + 8], uint64_t cookie,
			    uint64_t offset, uint32_t len, bool done);
/* Structured ERROR chunk with DONE; msg may be NULL. out must hold 26 + strlen(msg). */
size_t nbd_reply_error_chunk(uint8_t *out, uint64_t cookie, uint32_t error, const char *msg);
/* Structured NONE chunk with DONE (20 bytes). */
size_t nbd_reply_none_chunk(uint8_t out[NBD_CHUNK_HDR_SIZE], uint64_t cookie);

/* One base:allocation extent: length bytes with NBD_STATE_* flags. */
struct nbd_extent {
	uint32_t length;
	uint32_t flags;
};
/* Structured BLOCK_STATUS chunk with DONE for context id: header, id, n descriptors. out
 * must hold NBD_CHUNK_HDR_SIZE + 4 + 8 * n bytes. */
size_t nbd_reply_block_status(uint8_t *out, uint64_t cookie, uint32_t id,
			      const struct nbd_extent *ext, size_t n);

/* Map a negative errno from the I/O path to an NBD error. */
uint32_t nbd_errno_to_wire(int neg_errno);

#endif
