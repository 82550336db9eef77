/* Unit tests for the NBD protocol layer (datapath/nbd-proto.h): every option path with
 * exact reply bytes, split-feeding equivalence, the request validation table, encoders
 * and errno mapping. Expected bytes are spelled out literally where it matters so the
 * tests do not share the encoder's mistakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "datapath/nbd-proto.h"
#include "common/banned.h"

#define MIB (1024u * 1024u)

static const struct nbd_export_info exports[] = {
	{ .name = "exp", .description = "test disk", .size = MIB },
	{ .name = "ro", .description = NULL, .size = 8192, .read_only = true,
	  .multi_conn = true },
};

/* ---- byte builders ---- */

struct bytes {
	uint8_t b[80000];
	size_t n;
};

static void add(struct bytes *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void add_u16(struct bytes *m, uint16_t v)
{
	uint8_t b[2];
	put_be16(b, v);
	add(m, b, 2);
}

static void add_u32(struct bytes *m, uint32_t v)
{
	uint8_t b[4];
	put_be32(b, v);
	add(m, b, 4);
}

static void add_u64(struct bytes *m, uint64_t v)
{
	uint8_t b[8];
	put_be64(b, v);
	add(m, b, 8);
}

static void add_opt(struct bytes *m, uint32_t opt, const void *data, uint32_t len)
{
	add_u64(m, NBD_IHAVEOPT);
	add_u32(m, opt);
	add_u32(m, len);
	if (len)
		add(m, data, len);
}

/* GO/INFO option: name + info requests. */
static void add_go(struct bytes *m, uint32_t opt, const char *name, const uint16_t *req,
		   uint16_t nreq)
{
	struct bytes d = { .n = 0 };
	add_u32(&d, (uint32_t)strlen(name));
	add(&d, name, strlen(name));
	add_u16(&d, nreq);
	for (uint16_t i = 0; i < nreq; i++)
		add_u16(&d, req[i]);
	add_opt(m, opt, d.b, (uint32_t)d.n);
}

/* An option reply as the server must produce it. */
static void add_rep(struct bytes *m, uint32_t opt, uint32_t type, const void *data,
		    uint32_t len)
{
	add_u64(m, NBD_REP_MAGIC);
	add_u32(m, opt);
	add_u32(m, type);
	add_u32(m, len);
	if (len)
		add(m, data, len);
}

static void add_rep_str(struct bytes *m, uint32_t opt, uint32_t type, const char *s)
{
	add_rep(m, opt, type, s, (uint32_t)strlen(s));
}

/* ---- driving the state machine ---- */

struct run {
	struct nbd_handshake hs;
	struct dbuf out;
	size_t consumed;
};

static void run_init(struct run *r)
{
	nbd_hs_init(&r->hs, exports, ARRAY_SIZE(exports));
	struct dbuf d = DBUF_INIT(1u << 20);
	r->out = d;
	r->consumed = 0;
}

/* Feed everything at once, then again while progress is made (feed stops only at state
 * changes or incomplete messages). */
static void feed_all(struct run *r, const uint8_t *in, size_t len)
{
	for (;;) {
		size_t n = nbd_hs_feed(&r->hs, in + r->consumed, len - r->consumed, &r->out);
		assert_true(n <= len - r->consumed);
		r->consumed += n;
		if (n == 0 || r->hs.state == NBD_HS_TRANSMISSION || r->hs.state == NBD_HS_CLOSE)
			break;
	}
}

/* Client flags 3 followed by the given options; returns the run. */
static void run_opts(struct run *r, uint32_t cflags, const struct bytes *opts)
{
	struct bytes m = { .n = 0 };
	add_u32(&m, cflags);
	add(&m, opts->b, opts->n);
	run_init(r);
	feed_all(r, m.b, m.n);
}

static void assert_out(const struct run *r, const struct bytes *want)
{
	if (r->out.len != want->n)
		fprintf(stderr, "output length %zu, expected %zu\n", r->out.len, want->n);
	assert_int_equal(r->out.len, want->n);
	assert_memory_equal(r->out.data ? r->out.data : (const uint8_t *)"", want->b, want->n);
}

static void expect_go_ok(struct bytes *w, uint32_t opt, const struct nbd_export_info *e,
			 uint16_t tflags)
{
	uint8_t b[14];
	put_be16(b, NBD_INFO_EXPORT);
	put_be64(b + 2, e->size);
	put_be16(b + 10, tflags);
	add_rep(w, opt, NBD_REP_INFO, b, 12);
	put_be16(b, NBD_INFO_BLOCK_SIZE);
	put_be32(b + 2, 1);
	put_be32(b + 6, 4096);
	put_be32(b + 10, 32 * MIB);
	add_rep(w, opt, NBD_REP_INFO, b, 14);
	add_rep(w, opt, NBD_REP_ACK, NULL, 0);
}

/* ---- handshake tests ---- */

static void test_greeting(void **st)
{
	(void)st;
	static const uint8_t want[18] = { 'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
					  'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', 0, 3 };
	uint8_t g[18];
	nbd_hs_greeting(g);
	assert_memory_equal(g, want, 18);
}

static void test_client_flags(void **st)
{
	(void)st;
	static const uint32_t good[] = { 0, 1, 2, 3 };
	static const uint32_t bad[] = { 4, 0x80000000u, 0xffffffffu, 0x100 };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct run r;
		uint8_t b[4];
		put_be32(b, good[i]);
		run_init(&r);
		assert_int_equal(nbd_hs_feed(&r.hs, b, 3, &r.out), 0);
		assert_int_equal(r.hs.state, NBD_HS_CLIENT_FLAGS);
		assert_int_equal(nbd_hs_feed(&r.hs, b, 4, &r.out), 4);
		assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
		assert_int_equal(r.hs.no_zeroes, (good[i] & 2) != 0);
		assert_int_equal(r.out.len, 0);
		dbuf_release(&r.out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct run r;
		uint8_t b[4];
		put_be32(b, bad[i]);
		run_init(&r);
		assert_int_equal(nbd_hs_feed(&r.hs, b, 4, &r.out), 4);
		assert_int_equal(r.hs.state, NBD_HS_CLOSE);
		assert_non_null(r.hs.close_reason);
		assert_int_equal(r.out.len, 0);
		dbuf_release(&r.out);
	}
}

static void test_go_literal(void **st)
{
	(void)st;
	static const uint8_t want[] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 7, 0, 0, 0, 3,
		0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x0c, 0x6d,
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 7, 0, 0, 0, 3,
		0, 0, 0, 14, 0, 3, 0, 0, 0, 1, 0, 0, 0x10, 0, 0x02, 0, 0, 0,
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 7, 0, 0, 0, 1,
		0, 0, 0, 0,
	};
	struct bytes o = { .n = 0 };
	struct run r;
	add_go(&o, NBD_OPT_GO, "exp", NULL, 0);
	run_opts(&r, 3, &o);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	assert_ptr_equal(r.hs.chosen, &exports[0]);
	assert_int_equal(r.hs.tflags, 0xc6d);
	assert_false(r.hs.structured);
	assert_int_equal(r.out.len, sizeof(want));
	assert_memory_equal(r.out.data, want, sizeof(want));
	dbuf_release(&r.out);
}

static void test_go_info_requests(void **st)
{
	(void)st;
	static const uint16_t req[] = { NBD_INFO_NAME, NBD_INFO_DESCRIPTION, 99,
					NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, NBD_INFO_EXPORT };
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;
	uint8_t b[64];

	add_go(&o, NBD_OPT_GO, "exp", req, ARRAY_SIZE(req));
	run_opts(&r, 3, &o);
	put_be16(b, NBD_INFO_EXPORT);
	put_be64(b + 2, MIB);
	put_be16(b + 10, 0xc6d);
	add_rep(&w, NBD_OPT_GO, NBD_REP_INFO, b, 12);
	put_be16(b, NBD_INFO_NAME);
	memcpy(b + 2, "exp", 3);
	add_rep(&w, NBD_OPT_GO, NBD_REP_INFO, b, 5);
	put_be16(b, NBD_INFO_DESCRIPTION);
	memcpy(b + 2, "test disk", 9);
	add_rep(&w, NBD_OPT_GO, NBD_REP_INFO, b, 11);
	put_be16(b, NBD_INFO_BLOCK_SIZE);
	put_be32(b + 2, 1);
	put_be32(b + 6, 4096);
	put_be32(b + 10, 32 * MIB);
	add_rep(&w, NBD_OPT_GO, NBD_REP_INFO, b, 14);
	add_rep(&w, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	dbuf_release(&r.out);

	/* no description configured: DESCRIPTION request is ignored */
	static const uint16_t req2[] = { NBD_INFO_DESCRIPTION };
	o.n = w.n = 0;
	add_go(&o, NBD_OPT_GO, "ro", req2, 1);
	run_opts(&r, 3, &o);
	expect_go_ok(&w, NBD_OPT_GO, &exports[1], 0xd6f);
	assert_out(&r, &w);
	assert_ptr_equal(r.hs.chosen, &exports[1]);
	assert_int_equal(r.hs.tflags, 0xd6f);
	dbuf_release(&r.out);
}

static void test_go_default_and_info(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;

	/* INFO stays in option haggling; then GO with an empty name picks exports[0] */
	add_go(&o, NBD_OPT_INFO, "ro", NULL, 0);
	add_go(&o, NBD_OPT_GO, "", NULL, 0);
	run_opts(&r, 3, &o);
	expect_go_ok(&w, NBD_OPT_INFO, &exports[1], 0xd6f);
	expect_go_ok(&w, NBD_OPT_GO, &exports[0], 0xc6d);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	assert_ptr_equal(r.hs.chosen, &exports[0]);
	assert_int_equal(r.consumed, 4 + o.n);
	dbuf_release(&r.out);

	/* INFO alone */
	o.n = w.n = 0;
	add_go(&o, NBD_OPT_INFO, "exp", NULL, 0);
	run_opts(&r, 3, &o);
	expect_go_ok(&w, NBD_OPT_INFO, &exports[0], 0xc6d);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	assert_null(r.hs.chosen);
	dbuf_release(&r.out);

	/* no exports at all: even the empty name is unknown */
	uint8_t cf[4] = { 0, 0, 0, 3 };
	o.n = w.n = 0;
	add(&o, cf, 4);
	add_go(&o, NBD_OPT_GO, "", NULL, 0);
	nbd_hs_init(&r.hs, exports, 0);
	struct dbuf d = DBUF_INIT(4096);
	r.out = d;
	r.consumed = 0;
	feed_all(&r, o.b, o.n);
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "unknown export");
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	dbuf_release(&r.out);
}

static void test_go_unknown_export(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;
	add_go(&o, NBD_OPT_GO, "nope", NULL, 0);
	add_go(&o, NBD_OPT_INFO, "ex", NULL, 0);
	add_go(&o, NBD_OPT_GO, "expx", NULL, 0);
	run_opts(&r, 3, &o);
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "unknown export");
	add_rep_str(&w, NBD_OPT_INFO, NBD_REP_ERR_UNKNOWN, "unknown export");
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "unknown export");
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	assert_int_equal(r.consumed, 4 + o.n);
	dbuf_release(&r.out);
}

static void test_go_malformed(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;
	uint8_t d[8192];

	memset(d, 'a', sizeof(d));
	add_opt(&o, NBD_OPT_GO, d, 0);				/* empty */
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_INVALID, "option too short");
	put_be32(d, 0);
	add_opt(&o, NBD_OPT_GO, d, 5);				/* no count */
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_INVALID, "option too short");
	put_be32(d, 10);
	put_be16(d + 4, 0);
	add_opt(&o, NBD_OPT_GO, d, 6);				/* name past end */
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_INVALID, "name length exceeds option");
	put_be32(d, 0xffffffffu);
	add_opt(&o, NBD_OPT_INFO, d, 6);			/* huge name length */
	add_rep_str(&w, NBD_OPT_INFO, NBD_REP_ERR_INVALID, "export name too long");
	put_be32(d, 4097);
	memset(d + 4, 'x', 4097);
	put_be16(d + 4 + 4097, 0);
	add_opt(&o, NBD_OPT_GO, d, 4 + 4097 + 2);		/* name > 4096 */
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_INVALID, "export name too long");
	put_be32(d, 3);
	memcpy(d + 4, "exp", 3);
	put_be16(d + 7, 2);
	put_be16(d + 9, NBD_INFO_NAME);
	add_opt(&o, NBD_OPT_GO, d, 11);				/* count says 2, has 1 */
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_INVALID, "bad info request count");
	put_be16(d + 7, 0);
	add_opt(&o, NBD_OPT_GO, d, 11);				/* trailing bytes */
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_INVALID, "bad info request count");
	put_be16(d + 7, 0x8000);
	add_opt(&o, NBD_OPT_GO, d, 11);				/* count overflow-ish */
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_INVALID, "bad info request count");
	/* a name of exactly 4096 bytes is legal (and unknown) */
	put_be32(d, 4096);
	memset(d + 4, 'x', 4096);
	put_be16(d + 4 + 4096, 0);
	add_opt(&o, NBD_OPT_GO, d, 4 + 4096 + 2);
	add_rep_str(&w, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "unknown export");

	run_opts(&r, 3, &o);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	assert_int_equal(r.consumed, 4 + o.n);
	dbuf_release(&r.out);
}

static void test_export_name(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;

	add_opt(&o, NBD_OPT_EXPORT_NAME, "exp", 3);
	add_opt(&o, NBD_OPT_LIST, NULL, 0);	/* must not be consumed */
	run_opts(&r, 1, &o);
	add_u64(&w, MIB);
	add_u16(&w, 0xc6d);
	for (int i = 0; i < 124; i++)
		add(&w, "", 1);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	assert_ptr_equal(r.hs.chosen, &exports[0]);
	assert_int_equal(r.hs.tflags, 0xc6d);
	assert_int_equal(r.consumed, 4 + 16 + 3);
	dbuf_release(&r.out);

	/* NO_ZEROES, structured negotiated before, empty name = default */
	o.n = w.n = 0;
	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_opt(&o, NBD_OPT_EXPORT_NAME, NULL, 0);
	run_opts(&r, 3, &o);
	add_rep(&w, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	add_u64(&w, MIB);
	add_u16(&w, 0xced);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	assert_int_equal(r.hs.tflags, 0xced);
	dbuf_release(&r.out);

	/* unknown name: close without a reply */
	o.n = 0;
	add_opt(&o, NBD_OPT_EXPORT_NAME, "nope", 4);
	run_opts(&r, 3, &o);
	assert_int_equal(r.out.len, 0);
	assert_int_equal(r.hs.state, NBD_HS_CLOSE);
	assert_non_null(r.hs.close_reason);
	assert_null(r.hs.chosen);
	dbuf_release(&r.out);

	/* name longer than 4096: close */
	static uint8_t big[4097];
	memset(big, 'e', sizeof(big));
	o.n = 0;
	add_opt(&o, NBD_OPT_EXPORT_NAME, big, sizeof(big));
	run_opts(&r, 3, &o);
	assert_int_equal(r.out.len, 0);
	assert_int_equal(r.hs.state, NBD_HS_CLOSE);
	dbuf_release(&r.out);
}

static void test_list(void **st)
{
	(void)st;
	static const uint8_t want[] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 3, 0, 0, 0, 2,
		0, 0, 0, 7, 0, 0, 0, 3, 'e', 'x', 'p',
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 3, 0, 0, 0, 2,
		0, 0, 0, 6, 0, 0, 0, 2, 'r', 'o',
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 3, 0, 0, 0, 1,
		0, 0, 0, 0,
	};
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;

	add_opt(&o, NBD_OPT_LIST, NULL, 0);
	add_opt(&o, NBD_OPT_LIST, "x", 1);
	run_opts(&r, 3, &o);
	add(&w, want, sizeof(want));
	add_rep_str(&w, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST takes no data");
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	dbuf_release(&r.out);
}

static void test_abort(void **st)
{
	(void)st;
	static const uint8_t want[] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 2, 0, 0, 0, 1,
		0, 0, 0, 0,
	};
	struct bytes o = { .n = 0 };
	struct run r;

	add_opt(&o, NBD_OPT_ABORT, NULL, 0);
	add_opt(&o, NBD_OPT_LIST, NULL, 0);
	run_opts(&r, 3, &o);
	assert_int_equal(r.out.len, sizeof(want));
	assert_memory_equal(r.out.data, want, sizeof(want));
	assert_int_equal(r.hs.state, NBD_HS_CLOSE);
	assert_non_null(r.hs.close_reason);
	assert_int_equal(r.consumed, 4 + 16);
	/* nothing more is consumed after CLOSE */
	assert_int_equal(nbd_hs_feed(&r.hs, o.b + 16, o.n - 16, &r.out), 0);
	dbuf_release(&r.out);
}

static void test_structured_reply(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;

	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, "z", 1);
	run_opts(&r, 3, &o);
	add_rep_str(&w, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
		    "STRUCTURED_REPLY takes no data");
	assert_out(&r, &w);
	assert_false(r.hs.structured);
	dbuf_release(&r.out);

	o.n = w.n = 0;
	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_go(&o, NBD_OPT_GO, "exp", NULL, 0);
	run_opts(&r, 3, &o);
	add_rep(&w, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	expect_go_ok(&w, NBD_OPT_GO, &exports[0], 0xced);
	assert_out(&r, &w);
	assert_true(r.hs.structured);
	assert_int_equal(r.hs.tflags, 0xced);
	dbuf_release(&r.out);
}

static void test_unsupported_options(void **st)
{
	(void)st;
	static const uint32_t unsup[] = { 0, 4, NBD_OPT_EXTENDED_HEADERS, 12, 99, 0xffffffffu };
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;

	add_opt(&o, NBD_OPT_STARTTLS, NULL, 0);
	add_rep_str(&w, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, "TLS is not enabled on this server");
	for (size_t i = 0; i < ARRAY_SIZE(unsup); i++) {
		add_opt(&o, unsup[i], "base:allocation", 15);
		add_rep_str(&w, unsup[i], NBD_REP_ERR_UNSUP, "unsupported option");
	}
	/* data of exactly the maximum length is read and skipped */
	static uint8_t maxdata[NBD_MAX_OPTION_LEN];
	add_opt(&o, 1234, maxdata, NBD_MAX_OPTION_LEN);
	add_rep_str(&w, 1234, NBD_REP_ERR_UNSUP, "unsupported option");
	run_opts(&r, 3, &o);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	assert_int_equal(r.consumed, 4 + o.n);
	dbuf_release(&r.out);
}

static void test_bad_option_header(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 };
	struct run r;

	/* wrong magic */
	add_u64(&o, NBD_IHAVEOPT ^ 1);
	add_u32(&o, NBD_OPT_GO);
	add_u32(&o, 0);
	run_opts(&r, 3, &o);
	assert_int_equal(r.hs.state, NBD_HS_CLOSE);
	assert_non_null(r.hs.close_reason);
	assert_int_equal(r.out.len, 0);
	dbuf_release(&r.out);

	/* over-long option: closes on the header alone, data never needed */
	o.n = 0;
	add_u64(&o, NBD_IHAVEOPT);
	add_u32(&o, NBD_OPT_GO);
	add_u32(&o, NBD_MAX_OPTION_LEN + 1);
	run_opts(&r, 3, &o);
	assert_int_equal(r.hs.state, NBD_HS_CLOSE);
	assert_int_equal(r.out.len, 0);
	assert_int_equal(r.consumed, 4 + 16);
	dbuf_release(&r.out);

	o.n = 0;
	add_u64(&o, NBD_IHAVEOPT);
	add_u32(&o, 99);
	add_u32(&o, 1u << 30);
	run_opts(&r, 3, &o);
	assert_int_equal(r.hs.state, NBD_HS_CLOSE);
	dbuf_release(&r.out);
}

static void test_incomplete(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 };
	struct run r;

	add_u32(&o, 3);
	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	size_t first = o.n;
	add_go(&o, NBD_OPT_GO, "exp", NULL, 0);
	run_init(&r);
	/* every prefix shorter than the full GO stops right after the first option */
	for (size_t cut = first; cut < o.n; cut++) {
		struct run p;
		run_init(&p);
		feed_all(&p, o.b, cut);
		assert_int_equal(p.consumed, cut < 4 ? 0 : first);
		assert_int_equal(p.hs.state, NBD_HS_OPTIONS);
		assert_int_equal(p.out.len, 20);
		dbuf_release(&p.out);
	}
	/* short client flags */
	assert_int_equal(nbd_hs_feed(&r.hs, o.b, 0, &r.out), 0);
	assert_int_equal(nbd_hs_feed(&r.hs, o.b, 2, &r.out), 0);
	assert_int_equal(r.hs.state, NBD_HS_CLIENT_FLAGS);
	dbuf_release(&r.out);
}

/* Feed one byte at a time as a caller with a pending buffer would. */
static void feed_bytewise(struct run *r, const uint8_t *in, size_t len)
{
	uint8_t pend[80000];
	size_t np = 0;

	run_init(r);
	for (size_t i = 0; i < len; i++) {
		if (r->hs.state == NBD_HS_TRANSMISSION || r->hs.state == NBD_HS_CLOSE)
			break;
		pend[np++] = in[i];
		size_t n = nbd_hs_feed(&r->hs, pend, np, &r->out);
		assert_true(n <= np);
		memmove(pend, pend + n, np - n);
		np -= n;
		r->consumed += n;
	}
}

static void check_split(const struct bytes *m)
{
	struct run a, b;

	run_init(&a);
	feed_all(&a, m->b, m->n);
	feed_bytewise(&b, m->b, m->n);
	assert_int_equal(a.hs.state, b.hs.state);
	assert_int_equal(a.hs.structured, b.hs.structured);
	assert_int_equal(a.hs.no_zeroes, b.hs.no_zeroes);
	assert_ptr_equal(a.hs.chosen, b.hs.chosen);
	assert_int_equal(a.hs.tflags, b.hs.tflags);
	assert_int_equal(a.consumed, b.consumed);
	assert_int_equal(a.out.len, b.out.len);
	if (a.out.len)
		assert_memory_equal(a.out.data, b.out.data, a.out.len);
	dbuf_release(&a.out);
	dbuf_release(&b.out);
}

static void test_split_feeding(void **st)
{
	(void)st;
	static const uint16_t bs[] = { NBD_INFO_BLOCK_SIZE };
	static const uint16_t nd[] = { NBD_INFO_NAME, NBD_INFO_DESCRIPTION };
	uint8_t meta[64];
	struct bytes m = { .n = 0 };

	/* qemu-like */
	add_u32(&m, 3);
	add_opt(&m, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	put_be32(meta, 3);
	memcpy(meta + 4, "exp", 3);
	put_be32(meta + 7, 1);
	put_be32(meta + 11, 15);
	memcpy(meta + 15, "base:allocation", 15);
	add_opt(&m, NBD_OPT_SET_META_CONTEXT, meta, 30);
	add_go(&m, NBD_OPT_GO, "exp", bs, 1);
	add(&m, "trailing", 8);
	check_split(&m);

	/* nbdinfo-like */
	m.n = 0;
	add_u32(&m, 3);
	add_opt(&m, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_opt(&m, NBD_OPT_LIST, NULL, 0);
	add_go(&m, NBD_OPT_INFO, "ro", nd, 2);
	add_opt(&m, NBD_OPT_LIST_META_CONTEXT, meta, 30);
	add_opt(&m, NBD_OPT_STARTTLS, NULL, 0);
	add_go(&m, NBD_OPT_GO, "nope", NULL, 0);
	add_go(&m, NBD_OPT_GO, "", nd, 2);
	check_split(&m);

	/* legacy, abort, bad magic, bad flags */
	m.n = 0;
	add_u32(&m, 1);
	add_opt(&m, NBD_OPT_EXPORT_NAME, "ro", 2);
	check_split(&m);
	m.n = 0;
	add_u32(&m, 3);
	add_opt(&m, NBD_OPT_LIST, NULL, 0);
	add_opt(&m, NBD_OPT_ABORT, NULL, 0);
	add_opt(&m, NBD_OPT_LIST, NULL, 0);
	check_split(&m);
	m.n = 0;
	add_u32(&m, 3);
	add_opt(&m, 77, "abc", 3);
	add_u64(&m, 0x1122334455667788ull);
	add_u64(&m, 0);
	check_split(&m);
	m.n = 0;
	add_u32(&m, 8);
	add_opt(&m, NBD_OPT_LIST, NULL, 0);
	check_split(&m);
}

static void test_output_cap(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 };
	struct nbd_handshake hs;
	struct dbuf out = DBUF_INIT(40);	/* too small for the GO replies */

	add_u32(&o, 3);
	add_go(&o, NBD_OPT_GO, "exp", NULL, 0);
	nbd_hs_init(&hs, exports, ARRAY_SIZE(exports));
	nbd_hs_feed(&hs, o.b, o.n, &out);
	assert_int_equal(hs.state, NBD_HS_CLOSE);
	assert_non_null(hs.close_reason);
	assert_null(hs.chosen);
	dbuf_release(&out);
}

/* ---- meta contexts ---- */

/* LIST_/SET_META_CONTEXT data: export name, then queries. */
static void add_meta(struct bytes *m, uint32_t opt, const char *name, const char *const *q,
		     size_t nq)
{
	struct bytes d = { .n = 0 };
	add_u32(&d, (uint32_t)strlen(name));
	add(&d, name, strlen(name));
	add_u32(&d, (uint32_t)nq);
	for (size_t i = 0; i < nq; i++) {
		add_u32(&d, (uint32_t)strlen(q[i]));
		add(&d, q[i], strlen(q[i]));
	}
	add_opt(m, opt, d.b, (uint32_t)d.n);
}

static void add_meta_alloc_rep(struct bytes *w, uint32_t opt)
{
	uint8_t b[4 + 15];
	put_be32(b, 1);
	memcpy(b + 4, "base:allocation", 15);
	add_rep(w, opt, NBD_REP_META_CONTEXT, b, sizeof b);
}

static void test_meta_list(void **st)
{
	(void)st;
	static const char *const base[] = { "base:" }, *const exact[] = { "base:allocation" },
		*const other[] = { "qemu:dirty-bitmap:x", "base:alloc" };
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;

	add_meta(&o, NBD_OPT_LIST_META_CONTEXT, "exp", NULL, 0);	/* no query: all */
	add_meta_alloc_rep(&w, NBD_OPT_LIST_META_CONTEXT);
	add_rep(&w, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ACK, NULL, 0);
	add_meta(&o, NBD_OPT_LIST_META_CONTEXT, "", base, 1);		/* the namespace */
	add_meta_alloc_rep(&w, NBD_OPT_LIST_META_CONTEXT);
	add_rep(&w, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ACK, NULL, 0);
	add_meta(&o, NBD_OPT_LIST_META_CONTEXT, "ro", exact, 1);
	add_meta_alloc_rep(&w, NBD_OPT_LIST_META_CONTEXT);
	add_rep(&w, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ACK, NULL, 0);
	add_meta(&o, NBD_OPT_LIST_META_CONTEXT, "exp", other, 2);	/* nothing known */
	add_rep(&w, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ACK, NULL, 0);
	add_meta(&o, NBD_OPT_LIST_META_CONTEXT, "nope", exact, 1);
	add_rep_str(&w, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_UNKNOWN, "unknown export");
	/* malformed: a query longer than the option, trailing bytes */
	uint8_t bad[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 'b' };
	add_opt(&o, NBD_OPT_LIST_META_CONTEXT, bad, sizeof bad);
	add_rep_str(&w, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_INVALID, "bad query length");
	uint8_t trail[] = { 0, 0, 0, 0, 0, 0, 0, 0, 'x' };
	add_opt(&o, NBD_OPT_LIST_META_CONTEXT, trail, sizeof trail);
	add_rep_str(&w, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_INVALID, "bad query count");
	run_opts(&r, 3, &o);
	assert_out(&r, &w);
	assert_false(r.hs.meta_alloc);
	dbuf_release(&r.out);
}

static void test_meta_set(void **st)
{
	(void)st;
	static const char *const exact[] = { "base:allocation", "base:" };
	struct bytes o = { .n = 0 }, w = { .n = 0 };
	struct run r;

	/* before structured replies: refused */
	add_meta(&o, NBD_OPT_SET_META_CONTEXT, "exp", exact, 1);
	add_rep_str(&w, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID,
		    "SET_META_CONTEXT needs structured replies first");
	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_rep(&w, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	/* "base:" alone selects nothing in SET; the exact name does */
	add_meta(&o, NBD_OPT_SET_META_CONTEXT, "exp", exact, 2);
	add_meta_alloc_rep(&w, NBD_OPT_SET_META_CONTEXT);
	add_rep(&w, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK, NULL, 0);
	add_go(&o, NBD_OPT_GO, "exp", NULL, 0);
	expect_go_ok(&w, NBD_OPT_GO, &exports[0], 0xced);
	run_opts(&r, 3, &o);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	assert_true(r.hs.meta_alloc);
	dbuf_release(&r.out);

	/* selected for one export, GO to another: not negotiated */
	o.n = w.n = 0;
	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_meta(&o, NBD_OPT_SET_META_CONTEXT, "exp", exact, 1);
	add_go(&o, NBD_OPT_GO, "ro", NULL, 0);
	run_opts(&r, 3, &o);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	assert_false(r.hs.meta_alloc);
	dbuf_release(&r.out);

	/* a later SET with no query clears the selection */
	o.n = 0;
	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_meta(&o, NBD_OPT_SET_META_CONTEXT, "exp", exact, 1);
	add_meta(&o, NBD_OPT_SET_META_CONTEXT, "exp", NULL, 0);
	add_go(&o, NBD_OPT_GO, "exp", NULL, 0);
	run_opts(&r, 3, &o);
	assert_false(r.hs.meta_alloc);
	dbuf_release(&r.out);
}

/* ---- STARTTLS ---- */

static void test_starttls(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 }, w = { .n = 0 }, m = { .n = 0 };
	struct run r;

	/* TLS on: ACK, then nothing is consumed until the TLS handshake is done */
	add_u32(&m, 3);
	add_opt(&m, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_opt(&m, NBD_OPT_STARTTLS, NULL, 0);
	size_t before_tls = m.n;
	add_go(&m, NBD_OPT_GO, "exp", NULL, 0);
	run_init(&r);
	r.hs.tls_mode = NBD_TLS_ON;
	feed_all(&r, m.b, m.n);
	add_rep(&w, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	add_rep(&w, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_STARTTLS);
	assert_int_equal(r.consumed, before_tls);
	assert_int_equal(nbd_hs_feed(&r.hs, m.b + r.consumed, m.n - r.consumed, &r.out), 0);
	/* TLS up: the structured replies negotiated in the clear are forgotten */
	nbd_hs_tls_done(&r.hs);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	assert_true(r.hs.tls);
	assert_false(r.hs.structured);
	feed_all(&r, m.b, m.n);
	assert_int_equal(r.hs.state, NBD_HS_TRANSMISSION);
	assert_int_equal(r.hs.tflags, 0xc6d);
	dbuf_release(&r.out);

	/* STARTTLS with data, and again once TLS is up */
	w.n = 0;
	run_init(&r);
	r.hs.tls_mode = NBD_TLS_REQUIRE;
	r.hs.tls = true;
	add_opt(&o, NBD_OPT_STARTTLS, "x", 1);
	add_rep_str(&w, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "STARTTLS takes no data");
	add_opt(&o, NBD_OPT_STARTTLS, NULL, 0);
	add_rep_str(&w, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS is already active");
	m.n = 0;
	add_u32(&m, 3);
	add(&m, o.b, o.n);
	feed_all(&r, m.b, m.n);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_OPTIONS);
	dbuf_release(&r.out);
}

static void test_tls_required(void **st)
{
	(void)st;
	struct bytes o = { .n = 0 }, w = { .n = 0 }, m = { .n = 0 };
	struct run r;
	static const char *const q[] = { "base:allocation" };

	add_go(&o, NBD_OPT_INFO, "exp", NULL, 0);
	add_go(&o, NBD_OPT_GO, "exp", NULL, 0);
	add_opt(&o, NBD_OPT_LIST, NULL, 0);
	add_opt(&o, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	add_meta(&o, NBD_OPT_LIST_META_CONTEXT, "exp", q, 1);
	add_opt(&o, 99, NULL, 0);
	static const uint32_t refused[] = { NBD_OPT_INFO, NBD_OPT_GO, NBD_OPT_LIST,
					    NBD_OPT_STRUCTURED_REPLY, NBD_OPT_LIST_META_CONTEXT,
					    99 };
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		add_rep_str(&w, refused[i], NBD_REP_ERR_TLS_REQD,
			    "this server requires TLS: send STARTTLS first");
	add_opt(&o, NBD_OPT_STARTTLS, NULL, 0);
	add_rep(&w, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
	add_u32(&m, 3);
	add(&m, o.b, o.n);
	run_init(&r);
	r.hs.tls_mode = NBD_TLS_REQUIRE;
	feed_all(&r, m.b, m.n);
	assert_out(&r, &w);
	assert_int_equal(r.hs.state, NBD_HS_STARTTLS);
	assert_false(r.hs.structured);
	dbuf_release(&r.out);

	/* EXPORT_NAME cannot carry an error: it closes; ABORT is always allowed */
	for (int i = 0; i < 2; i++) {
		m.n = 0;
		add_u32(&m, 3);
		add_opt(&m, i ? NBD_OPT_ABORT : NBD_OPT_EXPORT_NAME, "exp", i ? 0 : 3);
		run_init(&r);
		r.hs.tls_mode = NBD_TLS_REQUIRE;
		feed_all(&r, m.b, m.n);
		assert_int_equal(r.hs.state, NBD_HS_CLOSE);
		assert_null(r.hs.chosen);
		dbuf_release(&r.out);
	}
}

static void test_tflags(void **st)
{
	(void)st;
	struct nbd_export_info e = { .name = "e", .size = 1 };
	assert_int_equal(nbd_export_tflags(&e, false), 0x0c6d);
	assert_int_equal(nbd_export_tflags(&e, true), 0x0ced);
	e.read_only = true;
	assert_int_equal(nbd_export_tflags(&e, false), 0x0c6f);
	e.multi_conn = true;
	assert_int_equal(nbd_export_tflags(&e, true), 0x0def);
	e.read_only = false;
	assert_int_equal(nbd_export_tflags(&e, false), 0x0d6d);
}

/* ---- transmission ---- */

static void test_request_decode(void **st)
{
	(void)st;
	static const uint8_t hdr[28] = {
		0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x01,
		1, 2, 3, 4, 5, 6, 7, 8,
		0, 0, 0, 0, 0, 0, 0x10, 0,
		0, 0, 0x02, 0,
	};
	struct nbd_request req;
	assert_true(nbd_request_decode(hdr, &req));
	assert_int_equal(req.flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(req.type, NBD_CMD_WRITE);
	assert_int_equal(req.cookie, 0x0102030405060708ull);
	assert_int_equal(req.offset, 4096);
	assert_int_equal(req.length, 512);

	uint8_t bad[28];
	memcpy(bad, hdr, 28);
	bad[3] = 0x14;
	assert_false(nbd_request_decode(bad, &req));
	memcpy(bad, hdr, 28);
	put_be32(bad, NBD_SIMPLE_REPLY_MAGIC);
	assert_false(nbd_request_decode(bad, &req));
}

struct vcase {
	int line;
	bool ro, structured;
	uint16_t type, flags;
	uint64_t offset;
	uint32_t length;
	enum nbd_verdict verdict;
	uint32_t error;
};

#define SZ ((uint64_t)MIB)
#define V(ro, sr, type, flags, off, len, verdict, err) \
	{ __LINE__, ro, sr, type, flags, off, len, verdict, err }
#define OK NBD_REQ_OK
#define ERR NBD_REQ_ERROR
#define DISCO NBD_REQ_DISCONNECT
#define FUA NBD_CMD_FLAG_FUA
#define NOH NBD_CMD_FLAG_NO_HOLE
#define DF NBD_CMD_FLAG_DF

static const struct vcase vcases[] = {
	/* READ */
	V(0, 0, NBD_CMD_READ, 0, 0, 4096, OK, 0),
	V(0, 0, NBD_CMD_READ, FUA, 0, 4096, OK, 0),
	V(0, 0, NBD_CMD_READ, 0, 0, 0, OK, 0),
	V(0, 0, NBD_CMD_READ, 0, SZ, 0, OK, 0),
	V(0, 0, NBD_CMD_READ, 0, SZ - 512, 512, OK, 0),
	V(0, 0, NBD_CMD_READ, 0, SZ - 256, 512, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_READ, 0, SZ + 1, 0, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_READ, 0, UINT64_MAX - 10, 512, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_READ, DF, 0, 512, ERR, NBD_EINVAL),
	V(0, 1, NBD_CMD_READ, DF, 0, 512, OK, 0),
	V(0, 1, NBD_CMD_READ, DF | FUA, 0, 512, OK, 0),
	V(0, 0, NBD_CMD_READ, NOH, 0, 512, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_READ, NBD_CMD_FLAG_REQ_ONE, 0, 512, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_READ, 0x8000, 0, 512, ERR, NBD_EINVAL),
	V(1, 0, NBD_CMD_READ, 0, 0, 512, OK, 0),
	V(0, 0, NBD_CMD_READ, 0, 0, 32 * MIB + 1, ERR, NBD_EINVAL),
	V(0, 1, NBD_CMD_READ, 0, 0, 32 * MIB + 1, ERR, NBD_EINVAL),
	V(0, 1, NBD_CMD_READ, DF, 0, 32 * MIB + 1, ERR, NBD_EOVERFLOW),
	V(0, 1, NBD_CMD_READ, DF, 0, 64 * MIB, ERR, NBD_EOVERFLOW),
	/* WRITE */
	V(0, 0, NBD_CMD_WRITE, 0, 0, 4096, OK, 0),
	V(0, 0, NBD_CMD_WRITE, FUA, SZ - 4096, 4096, OK, 0),
	V(0, 0, NBD_CMD_WRITE, 0, 0, 0, OK, 0),
	V(0, 0, NBD_CMD_WRITE, 0, SZ - 256, 512, ERR, NBD_ENOSPC),
	V(0, 0, NBD_CMD_WRITE, 0, UINT64_MAX, 1, ERR, NBD_ENOSPC),
	V(0, 0, NBD_CMD_WRITE, NOH, 0, 512, ERR, NBD_EINVAL),
	V(0, 1, NBD_CMD_WRITE, DF, 0, 512, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_WRITE, NBD_CMD_FLAG_FAST_ZERO, 0, 512, ERR, NBD_EINVAL),
	V(1, 0, NBD_CMD_WRITE, 0, 0, 512, ERR, NBD_EPERM),
	V(1, 0, NBD_CMD_WRITE, FUA, SZ * 4, 512, ERR, NBD_EPERM),
	V(0, 0, NBD_CMD_WRITE, 0, 0, 32 * MIB, ERR, NBD_ENOSPC),
	V(0, 0, NBD_CMD_WRITE, 0, 0, 32 * MIB + 1, DISCO, NBD_EINVAL),
	V(1, 0, NBD_CMD_WRITE, 0x8000, 0, 0xffffffffu, DISCO, NBD_EINVAL),
	/* TRIM */
	V(0, 0, NBD_CMD_TRIM, 0, 0, (uint32_t)SZ, OK, 0),
	V(0, 0, NBD_CMD_TRIM, FUA, 4096, 4096, OK, 0),
	V(0, 0, NBD_CMD_TRIM, 0, SZ - 256, 512, ERR, NBD_ENOSPC),
	V(0, 0, NBD_CMD_TRIM, NOH, 0, 512, ERR, NBD_EINVAL),
	V(1, 0, NBD_CMD_TRIM, 0, 0, 512, ERR, NBD_EPERM),
	/* WRITE_ZEROES */
	V(0, 0, NBD_CMD_WRITE_ZEROES, 0, 0, (uint32_t)SZ, OK, 0),
	V(0, 0, NBD_CMD_WRITE_ZEROES, NOH | FUA, 0, 4096, OK, 0),
	V(0, 0, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 4096, OK, 0),
	V(0, 0, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO | NOH, 0, 4096, OK, 0),
	V(0, 1, NBD_CMD_WRITE_ZEROES, DF, 0, 4096, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_WRITE_ZEROES, 0, SZ, 1, ERR, NBD_ENOSPC),
	V(1, 0, NBD_CMD_WRITE_ZEROES, NOH, 0, 512, ERR, NBD_EPERM),
	/* FLUSH: offset/length ignored */
	V(0, 0, NBD_CMD_FLUSH, 0, 0, 0, OK, 0),
	V(0, 0, NBD_CMD_FLUSH, FUA, 0, 0, OK, 0),
	V(0, 0, NBD_CMD_FLUSH, 0, SZ * 10, 4096, OK, 0),
	V(1, 0, NBD_CMD_FLUSH, 0, 0, 0, OK, 0),
	V(0, 0, NBD_CMD_FLUSH, NOH, 0, 0, ERR, NBD_EINVAL),
	/* CACHE */
	V(0, 0, NBD_CMD_CACHE, 0, 0, 4096, OK, 0),
	V(1, 0, NBD_CMD_CACHE, 0, 0, 4096, OK, 0),
	V(0, 0, NBD_CMD_CACHE, 0, SZ - 1, 2, ERR, NBD_EINVAL),
	V(0, 0, NBD_CMD_CACHE, DF, 0, 2, ERR, NBD_EINVAL),
	/* DISC, whatever the fields */
	V(0, 0, NBD_CMD_DISC, 0, 0, 0, NBD_REQ_DISC, 0),
	V(0, 0, NBD_CMD_DISC, 0x8000, 5, 5, NBD_REQ_DISC, 0),
	/* BLOCK_STATUS without base:allocation negotiated (test_block_status_validate) */
	V(0, 1, NBD_CMD_BLOCK_STATUS, 0, 0, 4096, ERR, NBD_EINVAL),
	/* unknown commands */
	V(0, 0, 8, 0, 0, 0, ERR, NBD_EINVAL),
	V(0, 0, 42, 0, 0, 512, ERR, NBD_EINVAL),
	V(0, 0, 0xffff, 0, 0, 512, ERR, NBD_EINVAL),
};

static void test_validate_table(void **st)
{
	(void)st;
	for (size_t i = 0; i < ARRAY_SIZE(vcases); i++) {
		const struct vcase *c = &vcases[i];
		struct nbd_export_info e = { .name = "e", .size = SZ, .read_only = c->ro };
		struct nbd_handshake hs;
		nbd_hs_init(&hs, &e, 1);
		hs.state = NBD_HS_TRANSMISSION;
		hs.structured = c->structured;
		hs.chosen = &e;
		hs.tflags = nbd_export_tflags(&e, c->structured);
		struct nbd_request req = { .flags = c->flags, .type = c->type, .cookie = 7,
					   .offset = c->offset, .length = c->length };
		uint32_t err = 12345;
		enum nbd_verdict v = nbd_request_validate(&req, &hs, &err);
		if (v != c->verdict || err != c->error)
			fprintf(stderr, "case at line %d: verdict %d error %u\n", c->line, v,
				err);
		assert_int_equal(v, c->verdict);
		assert_int_equal(err, c->error);
	}
}

static void test_block_status_validate(void **st)
{
	(void)st;
	struct nbd_export_info e = { .name = "e", .size = SZ };
	struct nbd_handshake hs;
	nbd_hs_init(&hs, &e, 1);
	hs.state = NBD_HS_TRANSMISSION;
	hs.chosen = &e;
	hs.structured = true;
	hs.meta_alloc = true;
	struct nbd_request req = { .type = NBD_CMD_BLOCK_STATUS, .offset = 0, .length = 4096 };
	uint32_t err;
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_OK);
	req.flags = NBD_CMD_FLAG_REQ_ONE;
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_OK);
	req.flags = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_OK);
	req.flags = NBD_CMD_FLAG_DF;
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_ERROR);
	assert_int_equal(err, NBD_EINVAL);
	req.flags = 0;
	req.length = 0;
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_ERROR);
	req.length = 512;
	req.offset = SZ - 256;
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_ERROR);
	assert_int_equal(err, NBD_EINVAL);
	req.offset = 0;
	hs.structured = false;	/* cannot happen after SET, but must not pass */
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_ERROR);
	hs.structured = true;
	hs.meta_alloc = false;
	assert_int_equal(nbd_request_validate(&req, &hs, &err), NBD_REQ_ERROR);
	assert_int_equal(err, NBD_EINVAL);
}

/* ---- encoders ---- */

static void test_encoders(void **st)
{
	(void)st;
	uint8_t b[64];

	static const uint8_t simple[] = { 0x67, 0x44, 0x66, 0x98, 0, 0, 0, 28,
					  0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1 };
	assert_int_equal(nbd_reply_simple(b, NBD_ENOSPC, 0xdeadbeef00000001ull), 16);
	assert_memory_equal(b, simple, 16);

	static const uint8_t rd[] = { 0x66, 0x8e, 0x33, 0xef, 0, 1, 0, 1,
				      0, 0, 0, 0, 0, 0, 0, 9,
				      0, 0, 0x10, 0x08,
				      0, 0, 0, 1, 0, 0, 0x20, 0 };
	assert_int_equal(nbd_reply_read_chunk(b, 9, 0x100002000ull, 4096, true), 28);
	assert_memory_equal(b, rd, 28);
	assert_int_equal(nbd_reply_read_chunk(b, 9, 0x100002000ull, 4096, false), 28);
	assert_int_equal(b[5], 0);

	static const struct nbd_extent ext[] = { { 0x10000, 3 }, { 4096, 0 } };
	static const uint8_t bst[] = { 0x66, 0x8e, 0x33, 0xef, 0, 1, 0, 5,
				       0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 20,
				       0, 0, 0, 1,
				       0, 1, 0, 0, 0, 0, 0, 3,
				       0, 0, 0x10, 0, 0, 0, 0, 0 };
	assert_int_equal(nbd_reply_block_status(b, 4, 1, ext, 2), sizeof bst);
	assert_memory_equal(b, bst, sizeof bst);

	static const uint8_t none[] = { 0x66, 0x8e, 0x33, 0xef, 0, 1, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0 };
	assert_int_equal(nbd_reply_none_chunk(b, 3), 20);
	assert_memory_equal(b, none, 20);

	static const uint8_t er[] = { 0x66, 0x8e, 0x33, 0xef, 0, 1, 0x80, 0x01,
				      0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 9,
				      0, 0, 0, 5, 0, 3, 'b', 'a', 'd' };
	assert_int_equal(nbd_reply_error_chunk(b, 4, NBD_EIO, "bad"), sizeof(er));
	assert_memory_equal(b, er, sizeof(er));
	static const uint8_t er0[] = { 0x66, 0x8e, 0x33, 0xef, 0, 1, 0x80, 0x01,
				       0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 6,
				       0, 0, 0, 22, 0, 0 };
	assert_int_equal(nbd_reply_error_chunk(b, 4, NBD_EINVAL, NULL), sizeof(er0));
	assert_memory_equal(b, er0, sizeof(er0));
	assert_int_equal(nbd_reply_error_chunk(b, 4, NBD_EINVAL, ""), sizeof(er0));
	assert_memory_equal(b, er0, sizeof(er0));
}

static void test_errno_to_wire(void **st)
{
	(void)st;
	static const struct { int e; uint32_t w; } t[] = {
		{ 0, 0 },
		{ -EPERM, NBD_EPERM }, { -EROFS, NBD_EPERM },
		{ -ENOSPC, NBD_ENOSPC }, { -EDQUOT, NBD_ENOSPC }, { -EFBIG, NBD_ENOSPC },
		{ -ENOMEM, NBD_ENOMEM }, { -EINVAL, NBD_EINVAL },
		{ -EOVERFLOW, NBD_EOVERFLOW }, { -ENOTSUP, NBD_ENOTSUP },
		{ -EOPNOTSUPP, NBD_ENOTSUP }, { -ESHUTDOWN, NBD_ESHUTDOWN },
		{ -EIO, NBD_EIO }, { -EBADF, NBD_EIO }, { -ENOENT, NBD_EIO },
		{ -EAGAIN, NBD_EIO }, { -ENODEV, NBD_EIO }, { -1000, NBD_EIO },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		assert_int_equal(nbd_errno_to_wire(t[i].e), t[i].w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_client_flags),
		cmocka_unit_test(test_go_literal),
		cmocka_unit_test(test_go_info_requests),
		cmocka_unit_test(test_go_default_and_info),
		cmocka_unit_test(test_go_unknown_export),
		cmocka_unit_test(test_go_malformed),
		cmocka_unit_test(test_export_name),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_structured_reply),
		cmocka_unit_test(test_unsupported_options),
		cmocka_unit_test(test_bad_option_header),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_split_feeding),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_meta_list),
		cmocka_unit_test(test_meta_set),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_tls_required),
		cmocka_unit_test(test_tflags),
		cmocka_unit_test(test_block_status_validate),
		cmocka_unit_test(test_request_decode),
		cmocka_unit_test(test_validate_table),
		cmocka_unit_test(test_encoders),
		cmocka_unit_test(test_errno_to_wire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
