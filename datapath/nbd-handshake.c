/* NBD fixed-newstyle option haggling as a pure state machine (contract: nbd-proto.h).
 *
 * nbd_hs_feed only ever looks at complete messages: 4 client-flag bytes, then options of
 * 16 header bytes + data. An incomplete message consumes nothing, so the caller can feed
 * any split of the byte stream and get the same replies (the unit tests check this). The
 * option length is checked against NBD_MAX_OPTION_LEN as soon as the header is there, so
 * a client announcing a huge option is dropped before the caller buffers its data.
 *
 * Policy (ferryd serves a fixed set of exports):
 * GO/INFO answer INFO_EXPORT, NAME/DESCRIPTION when asked, BLOCK_SIZE always, then ACK;
 * EXPORT_NAME cannot report errors, so a bad name closes; LIST, ABORT, STRUCTURED_REPLY
 * as in the spec; LIST_META_CONTEXT and SET_META_CONTEXT know one context,
 * base:allocation (SET needs structured replies first, and the selection holds only for
 * the export it named); STARTTLS -> ERR_POLICY when TLS is off, else ACK and the caller
 * runs the TLS handshake (NBD_HS_STARTTLS), after which everything is negotiated afresh;
 * with TLS required, every option but STARTTLS and ABORT gets ERR_TLS_REQD before it
 * (EXPORT_NAME, which cannot carry an error, closes); anything else -> ERR_UNSUP. Error
 * replies carry a short human-readable message (clients such as qemu print it). */
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
		     NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_CACHE |
		     NBD_FLAG_SEND_FAST_ZERO;

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

/* The export is chosen; a meta context selected for another export does not hold. */
static void enter_transmission(struct nbd_handshake *hs, const struct nbd_export_info *e,
			       uint16_t tflags)
{
	hs->state = NBD_HS_TRANSMISSION;
	hs->chosen = e;
	hs->tflags = tflags;
	if (hs->meta_export != e)
		hs->meta_alloc = false;
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
	if (opt == NBD_OPT_GO && hs->state != NBD_HS_CLOSE)
		enter_transmission(hs, e, tflags);
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
	if (hs->state != NBD_HS_CLOSE)
		enter_transmission(hs, e, tflags);
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

/* REP_META_CONTEXT for base:allocation. */
static void emit_meta_alloc(struct nbd_handshake *hs, struct dbuf *out, uint32_t opt)
{
	uint8_t b[4 + sizeof NBD_META_BASE_ALLOCATION - 1];
	put_be32(b, NBD_META_ID_ALLOCATION);
	memcpy(b + 4, NBD_META_BASE_ALLOCATION, sizeof NBD_META_BASE_ALLOCATION - 1);
	emit_reply(hs, out, opt, NBD_REP_META_CONTEXT, b, sizeof b);
}

static bool query_is(const uint8_t *q, uint32_t qlen, const char *s)
{
	return qlen == strlen(s) && memcmp(q, s, qlen) == 0;
}

/* LIST_META_CONTEXT and SET_META_CONTEXT: u32 namelen, name, u32 n, n x (u32 len, query).
 * The only context is base:allocation: LIST with no query, "base:" or "base:allocation"
 * names it; SET selects it with "base:allocation" (other queries select nothing). */
static void opt_meta_context(struct nbd_handshake *hs, uint32_t opt, const uint8_t *d,
			     uint32_t len, struct dbuf *out)
{
	bool set = opt == NBD_OPT_SET_META_CONTEXT;
	if (set && !hs->structured) {
		emit_error(hs, out, opt, NBD_REP_ERR_INVALID,
			   "SET_META_CONTEXT needs structured replies first");
		return;
	}
	if (len < 8 || get_be32(d) > NBD_MAX_NAME_LEN || get_be32(d) > len - 8) {
		emit_error(hs, out, opt, NBD_REP_ERR_INVALID, "bad export name length");
		return;
	}
	uint32_t namelen = get_be32(d);
	const uint8_t *name = d + 4, *p = d + 8 + namelen, *end = d + len;
	uint32_t nq = get_be32(d + 4 + namelen);
	bool alloc = false, all = nq == 0 && !set;
	for (uint32_t i = 0; i < nq; i++) {
		if (end - p < 4 || get_be32(p) > (uint64_t)(end - p - 4)) {
			emit_error(hs, out, opt, NBD_REP_ERR_INVALID, "bad query length");
			return;
		}
		uint32_t qlen = get_be32(p);
		const uint8_t *q = p + 4;
		if (query_is(q, qlen, NBD_META_BASE_ALLOCATION) ||
		    (!set && query_is(q, qlen, "base:")))
			alloc = true;
		p += 4 + qlen;
	}
	if (p != end) {
		emit_error(hs, out, opt, NBD_REP_ERR_INVALID, "bad query count");
		return;
	}
	const struct nbd_export_info *e = find_export(hs, name, namelen);
	if (!e) {
		emit_error(hs, out, opt, NBD_REP_ERR_UNKNOWN, "unknown export");
		return;
	}
	if (alloc || all)
		emit_meta_alloc(hs, out, opt);
	emit_reply(hs, out, opt, NBD_REP_ACK, NULL, 0);
	if (set) {
		hs->meta_alloc = alloc;
		hs->meta_export = e;
	}
}

static void opt_starttls(struct nbd_handshake *hs, uint32_t len, struct dbuf *out)
{
	if (len != 0)
		emit_error(hs, out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "STARTTLS takes no data");
	else if (hs->tls)
		emit_error(hs, out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS is already active");
	else if (hs->tls_mode == NBD_TLS_OFF)
		emit_error(hs, out, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY,
			   "TLS is not enabled on this server");
	else {
		emit_reply(hs, out, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
		if (hs->state != NBD_HS_CLOSE)
			hs->state = NBD_HS_STARTTLS;
	}
}

void nbd_hs_tls_done(struct nbd_handshake *hs)
{
	hs->state = NBD_HS_OPTIONS;
	hs->tls = true;
	hs->structured = false;
	hs->meta_alloc = false;
	hs->meta_export = NULL;
}

static void do_option(struct nbd_handshake *hs, uint32_t opt, const uint8_t *d,
		      uint32_t len, struct dbuf *out)
{
	if (hs->tls_mode == NBD_TLS_REQUIRE && !hs->tls && opt != NBD_OPT_STARTTLS &&
	    opt != NBD_OPT_ABORT) {
		if (opt == NBD_OPT_EXPORT_NAME)
			hs_close(hs, "EXPORT_NAME without TLS, which this server requires");
		else
			emit_error(hs, out, opt, NBD_REP_ERR_TLS_REQD,
				   "this server requires TLS: send STARTTLS first");
		return;
	}
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
		opt_starttls(hs, len, out);
		break;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		opt_meta_context(hs, opt, d, len, out);
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
