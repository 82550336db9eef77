/* Fuzz target for the NBD option haggling (datapath/nbd-handshake.c). The input is the
 * client's byte stream after the greeting: 4 client-flag bytes, then options. It is fed
 * twice, once whole and once in small pieces the way a socket would deliver it, and both
 * runs must end in the same state with the same reply bytes; and all of that under each
 * TLS policy (off, on, require), a STARTTLS that gets its ACK being followed by a
 * successful TLS handshake (nbd_hs_tls_done) and more options. State invariants from
 * nbd-proto.h are checked after each run; any violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "datapath/nbd-proto.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct nbd_export_info exports[] = {
	{ .name = "exp", .description = "fuzz disk", .size = 1u << 20 },
	{ .name = "ro", .size = 4096, .read_only = true, .multi_conn = true },
	{ .name = "a", .size = UINT64_MAX },
};

struct run {
	struct nbd_handshake hs;
	struct dbuf out;
	size_t consumed;
};

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant violated: %s\n", what);
		abort();
	}
}

static int done(struct run *r)
{
	if (r->hs.state == NBD_HS_STARTTLS) {
		check(r->hs.tls_mode != NBD_TLS_OFF && !r->hs.tls, "STARTTLS accepted wrongly");
		nbd_hs_tls_done(&r->hs);	/* the TLS handshake succeeded */
		check(r->hs.tls && !r->hs.structured && !r->hs.meta_alloc, "state kept over TLS");
	}
	return r->hs.state == NBD_HS_TRANSMISSION || r->hs.state == NBD_HS_CLOSE;
}

static void run_whole(struct run *r, const uint8_t *data, size_t size)
{
	while (!done(r)) {
		size_t n = nbd_hs_feed(&r->hs, data + r->consumed, size - r->consumed, &r->out);
		check(n <= size - r->consumed, "consumed more than given");
		r->consumed += n;
		if (n == 0)
			break;
	}
}

/* Deliver 1, 2, ... 13 bytes at a time into a pending buffer, as conn.c would. */
static void run_pieces(struct run *r, const uint8_t *data, size_t size, uint8_t *pend)
{
	size_t np = 0, pos = 0, step = 0;

	while (pos < size && !done(r)) {
		size_t k = MIN(step % 13 + 1, size - pos);
		step++;
		memcpy(pend + np, data + pos, k);
		np += k;
		pos += k;
		while (!done(r)) {
			size_t n = nbd_hs_feed(&r->hs, pend, np, &r->out);
			check(n <= np, "consumed more than pending");
			memmove(pend, pend + n, np - n);
			np -= n;
			r->consumed += n;
			if (n == 0)
				break;
		}
	}
}

static void check_state(const struct run *r)
{
	const struct nbd_handshake *hs = &r->hs;

	if (hs->state == NBD_HS_TRANSMISSION) {
		check(hs->chosen != NULL, "TRANSMISSION without export");
		check(hs->tflags == nbd_export_tflags(hs->chosen, hs->structured),
		      "tflags mismatch");
		check(!hs->meta_alloc || (hs->structured && hs->meta_export == hs->chosen),
		      "meta context for another export, or without structured replies");
		check(hs->tls_mode != NBD_TLS_REQUIRE || hs->tls, "transmission without TLS");
	} else {
		check(hs->chosen == NULL, "export chosen outside TRANSMISSION");
	}
	if (hs->state == NBD_HS_CLOSE)
		check(hs->close_reason != NULL, "CLOSE without reason");
}

static void one_mode(const uint8_t *data, size_t size, enum nbd_tls_mode mode, uint8_t *pend)
{
	struct run a, b;
	struct dbuf d = DBUF_INIT(1u << 20);

	nbd_hs_init(&a.hs, exports, ARRAY_SIZE(exports));
	nbd_hs_init(&b.hs, exports, ARRAY_SIZE(exports));
	a.hs.tls_mode = b.hs.tls_mode = mode;
	a.out = b.out = d;
	a.consumed = b.consumed = 0;
	run_whole(&a, data, size);
	run_pieces(&b, data, size, pend);
	check_state(&a);
	check_state(&b);
	check(a.hs.state == b.hs.state, "state differs when split");
	check(a.hs.structured == b.hs.structured, "structured differs when split");
	check(a.hs.tls == b.hs.tls, "tls differs when split");
	check(a.hs.meta_alloc == b.hs.meta_alloc, "meta context differs when split");
	check(a.hs.chosen == b.hs.chosen, "export differs when split");
	check(a.consumed == b.consumed, "consumed differs when split");
	check(a.out.len == b.out.len, "reply length differs when split");
	check(a.out.len == 0 || memcmp(a.out.data, b.out.data, a.out.len) == 0,
	      "reply bytes differ when split");
	dbuf_release(&a.out);
	dbuf_release(&b.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *pend = malloc(size ? size : 1);
	if (!pend)
		return 0;
	one_mode(data, size, NBD_TLS_OFF, pend);
	one_mode(data, size, NBD_TLS_ON, pend);
	one_mode(data, size, NBD_TLS_REQUIRE, pend);
	free(pend);
	return 0;
}
