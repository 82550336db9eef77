/* NBD fixed-newstyle option haggling as a pure state machine (contract: nbd-proto.h).
 *
 * nbd_hs_feed only ever looks at complete messages: 4 client-flag bytes, then options of
 * 16 header bytes + data. An incomplete message consumes nothing, so the caller can feed
 * any split of the byte stream and get the same replies (the unit tests check this). The
 * option length is checked against NBD_MAX_OPTION_LEN as soon as the header is there, so
 * a client announcing a huge option is dropped before the caller buffers its data.
 *
 * Policy (ferryd serves a fixed set of exports, no TLS, no meta contexts):
 * GO/INFO answer INFO_EXPORT, NAME/DESCRIPTION when asked, BLOCK_SIZE always, then ACK;
 * EXPORT_NAME cannot report errors, so a bad name closes; LIST, ABORT, STRUCTURED_REPLY
 * as in the spec; STARTTLS -> ERR_POLICY; anything else -> ERR_UNSUP. Error replies carry
 * a short human-readable message (clients such as qemu print it). */
#include "datapath/nbd-proto.h"

#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define OPT_HDR_SIZE	16u
#define REP_HDR_SIZE	20u

void nbd_hs_init(struct nbd_handshake *hs, const struct nbd_export_info *exports, size_t n)
{
	memset(hs, 0, sizeof(*hs));
	hs->state = NBD_HS_CLIENT_FLAGS;
	hs->exports = exports;
	hs->n_exports = n;
}

void nbd_hs_greeting(uint8_t out[18])
{
	put_be64(out, NBD_MAGIC);
	put_be64(out + 8, NBD_IHAVEOPT);
	put_be16(out + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

uint16_t nbd_export_tflags(const struct nbd_export_info *e, bool structured)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		     NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;

	if (structured)
		f |= NBD_FLAG_SEND_DF;
	if (e->multi_conn)
		f |= NBD_FLAG_CAN_MULTI_CONN;
	if (e->read_only)
		f |= NBD_FLAG_READ_ONLY;
	return f;
}

static void hs_close(struct nbd_handshake *hs, const char *why)
{
	hs->state = NBD_HS_CLOSE;
	hs->close_reason = why;
}

/* Append to out; a full or failed buffer closes the connection. */
static void emit(struct nbd_handshake *hs, struct dbuf *out, const void *p, size_t n)
{
	if (hs->state == NBD_HS_CLOSE)
		return;
	if (dbuf_add(out, p, n) < 0)
		hs_close(hs, "out of memory for handshake replies");
}

/* Option reply header followed by len bytes of data (data may be NULL when len is 0). */
static void emit_reply(struct nbd_handshake *hs, struct dbuf *out, uint32_t opt,
		       uint32_t type, const void *data, uint32_t len)
{
	uint8_t h[REP_HDR_SIZE];

	put_be64(h, NBD_REP_MAGIC);
	put_be32(h + 8, opt);
	put_be32(h + 12, type);
	put_be32(h + 16, len);
	emit(hs, out, h, sizeof(h));
	if (len)
		emit(hs, out, data, len);
}

static void emit_error(struct nbd_handshake *hs, struct dbuf *out, uint32_t opt,
		       uint32_t type, const char *msg)
{
	emit_reply(hs, out, opt, type, msg, (uint32_t)strlen(msg));
}

/* Export by name; an empty name selects the first (default) export. */
static const struct nbd_export_info *find_export(const struct nbd_handshake *hs,
						 const uint8_t *name, size_t len)
{
	if (hs->n_exports == 0)
		return NULL;
	if (len == 0)
		return &hs->exports[0];
	for (size_t i = 0; i < hs->n_exports; i++) {
		const char *n = hs->exports[i].name;
		if (strlen(n) == len && memcmp(n, name, len) == 0)
			return &hs->exports[i];
	}
	return NULL;
}

/* REP_INFO carrying a u16 info type and a body. */
static void emit_info(struct nbd_handshake *hs, struct dbuf *out, uint32_t opt,
		      uint16_t info, const void *body, uint32_t len)
{
	uint8_t h[REP_HDR_SIZE + 2];

	put_be64(h, NBD_REP_MAGIC);
	put_be32(h + 8, opt);
	put_be32(h + 12, NBD_REP_INFO);
	put_be32(h + 16, 2 + len);
	put_be16(h + 20, info);
	emit(hs, out, h, sizeof(h));
	if (len)
		emit(hs, out, body, len);
}

/* GO and INFO: u32 namelen, name, u16 n, n x u16 info requests. */
static void opt_go_info(struct nbd_handshake *hs, uint32_t opt, const uint8_t *d,
			uint32_t len, struct dbuf *out)
{
	if (len < 6) {
		emit_error(hs, out, opt, NBD_REP_ERR_INVALID, "option too short");
		return;
	}
	uint32_t namelen = get_be32(d);
	if (namelen > NBD_MAX_NAME_LEN) {
		emit_error(hs, out, opt, NBD_REP_ERR_INVALID, "export name too long");
		return;
	}
	if (namelen > len - 6) {
		emit_error(hs, out, opt, NBD_REP_ERR_INVALID, "name length exceeds option");
		return;
	}
	const uint8_t *name = d + 4;
	uint16_t nreq = get_be16(d + 4 + namelen);
	if ((uint64_t)len != 4ull + namelen + 2 + 2ull * nreq) {
		emit_error(hs, out, opt, NBD_REP_ERR_INVALID, "bad info request count");
		return;
	}
	const uint8_t *reqs = d + 4 + namelen + 2;
	bool want_name = false, want_desc = false;
	for (uint16_t i = 0; i < nreq; i++) {
		uint16_t t = get_be16(reqs + 2 * i);
		if (t == NBD_INFO_NAME)
			want_name = true;
		else if (t == NBD_INFO_DESCRIPTION)
			want_desc = true;
	}

	const struct nbd_export_info *e = find_export(hs, name, namelen);
	if (!e) {
		emit_error(hs, out, opt, NBD_REP_ERR_UNKNOWN, "unknown export");
		return;
	}
	uint16_t tflags = nbd_export_tflags(e, hs->structured);
	uint8_t b[14];

	put_be64(b, e->size);
	put_be16(b + 8, tflags);
	emit_info(hs, out, opt, NBD_INFO_EXPORT, b, 10);
	if (want_name)
		emit_info(hs, out, opt, NBD_INFO_NAME, e->name, (uint32_t)strlen(e->name));
	if (want_desc && e->description)
		emit_info(hs, out, opt, NBD_INFO_DESCRIPTION, e->description,
			  (uint32_t)strlen(e->description));
	put_be32(b, NBD_MIN_BLOCK);
	put_be32(b + 4, NBD_PREF_BLOCK);
	put_be32(b + 8, NBD_MAX_PAYLOAD);
	emit_info(hs, out, opt, NBD_INFO_BLOCK_SIZE, b, 12);
	emit_reply(hs, out, opt, NBD_REP_ACK, NULL, 0);
	if (opt == NBD_OPT_GO && hs->state != NBD_HS_CLOSE) {
		hs->state = NBD_HS_TRANSMISSION;
		hs->chosen = e;
		hs->tflags = tflags;
	}
}

/* Legacy EXPORT_NAME: no option reply; errors can only close. */
static void opt_export_name(struct nbd_handshake *hs, const uint8_t *d, uint32_t len,
			    struct dbuf *out)
{
	if (len > NBD_MAX_NAME_LEN) {
		hs_close(hs, "EXPORT_NAME: name too long");
		return;
	}
	const struct nbd_export_info *e = find_export(hs, d, len);
	if (!e) {
		hs_close(hs, "EXPORT_NAME: unknown export");
		return;
	}
	uint16_t tflags = nbd_export_tflags(e, hs->structured);
	uint8_t b[10 + 124];

	memset(b, 0, sizeof(b));
	put_be64(b, e->size);
	put_be16(b + 8, tflags);
	emit(hs, out, b, hs->no_zeroes ? 10 : sizeof(b));
	if (hs->state != NBD_HS_CLOSE) {
		hs->state = NBD_HS_TRANSMISSION;
		hs->chosen = e;
		hs->tflags = tflags;
	}
}

static void opt_list(struct nbd_handshake *hs, uint32_t len, struct dbuf *out)
{
	if (len != 0) {
		emit_error(hs, out, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST takes no data");
		return;
	}
	for (size_t i = 0; i < hs->n_exports; i++) {
		const char *n = hs->exports[i].name;
		uint32_t nl = (uint32_t)strlen(n);
		uint8_t h[REP_HDR_SIZE + 4];

		put_be64(h, NBD_REP_MAGIC);
		put_be32(h + 8, NBD_OPT_LIST);
		put_be32(h + 12, NBD_REP_SERVER);
		put_be32(h + 16, 4 + nl);
		put_be32(h + 20, nl);
		emit(hs, out, h, sizeof(h));
		emit(hs, out, n, nl);
	}
	emit_reply(hs, out, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

static void do_option(struct nbd_handshake *hs, uint32_t opt, const uint8_t *d,
		      uint32_t len, struct dbuf *out)
{
	switch (opt) {
	case NBD_OPT_GO:
	case NBD_OPT_INFO:
		opt_go_info(hs, opt, d, len, out);
		break;
	case NBD_OPT_EXPORT_NAME:
		opt_export_name(hs, d, len, out);
		break;
	case NBD_OPT_LIST:
		opt_list(hs, len, out);
		break;
	case NBD_OPT_ABORT:
		emit_reply(hs, out, opt, NBD_REP_ACK, NULL, 0);
		hs_close(hs, "client sent ABORT");
		break;
	case NBD_OPT_STRUCTURED_REPLY:
		if (len != 0) {
			emit_error(hs, out, opt, NBD_REP_ERR_INVALID,
				   "STRUCTURED_REPLY takes no data");
			break;
		}
		emit_reply(hs, out, opt, NBD_REP_ACK, NULL, 0);
		hs->structured = true;
		break;
	case NBD_OPT_STARTTLS:
		emit_error(hs, out, opt, NBD_REP_ERR_POLICY, "TLS is not available");
		break;
	default:
		emit_error(hs, out, opt, NBD_REP_ERR_UNSUP, "unsupported option");
		break;
	}
}

size_t nbd_hs_feed(struct nbd_handshake *hs, const uint8_t *in, size_t len, struct dbuf *out)
{
	size_t used = 0;

	if (hs->state == NBD_HS_CLIENT_FLAGS) {
		if (len < 4)
			return 0;
		uint32_t cf = get_be32(in);
		used = 4;
		if (cf & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
			hs_close(hs, "unknown client flags");
			return used;
		}
		hs->no_zeroes = cf & NBD_FLAG_C_NO_ZEROES;
		hs->state = NBD_HS_OPTIONS;
	}
	while (hs->state == NBD_HS_OPTIONS && len - used >= OPT_HDR_SIZE) {
		const uint8_t *p = in + used;
		if (get_be64(p) != NBD_IHAVEOPT) {
			hs_close(hs, "bad option magic");
			return used + OPT_HDR_SIZE;
		}
		uint32_t opt = get_be32(p + 8);
		uint32_t olen = get_be32(p + 12);
		if (olen > NBD_MAX_OPTION_LEN) {
			hs_close(hs, "option data too long");
			return used + OPT_HDR_SIZE;
		}
		if (len - used - OPT_HDR_SIZE < olen)
			break;
		used += OPT_HDR_SIZE + olen;
		do_option(hs, opt, p + OPT_HDR_SIZE, olen, out);
	}
	return used;
}
