/* nbd-badclient: a raw-socket NBD client that misbehaves on purpose, to check that a
 * server (ferryd, or a reference server) rejects bad input the way the protocol wants
 * and survives it.
 *
 *   nbd-badclient HOST PORT EXPORT CASE   run one case: exit 0 if the server behaved
 *   nbd-badclient HOST PORT EXPORT all    run every case, print "ok CASE" / "FAIL CASE: why"
 *   nbd-badclient --list                  print the case names
 *
 * It speaks the wire protocol itself (no libnbd) because libnbd refuses to send most of
 * these messages. Every case opens a fresh connection with 5 s socket timeouts, so a
 * server that hangs fails the case instead of hanging the test. Where the spec leaves
 * the server a choice (EINVAL vs EOVERFLOW, ERR_UNSUP vs ERR_POLICY, accepting a request
 * bigger than the default maximum), every legal answer is accepted; which one the server
 * chose is printed on stderr as "note CASE: ...". The export must be writable and at
 * least 1 MiB; only its last 16 KiB are written (a well-behaved client may use the rest
 * concurrently), except by a server that accepts a 64 MiB WRITE at offset 0. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "datapath/nbd-proto.h"
#include "common/banned.h"

#define TIMEOUT_S	5
#define MIB		(1024u * 1024u)
#define MAX_REP_DATA	(64u << 10)

static const char *g_host, *g_port, *g_export;
static const char *g_case;
static char g_why[512];
static uint8_t g_scratch[1u << 20];

__attribute__((format(printf, 1, 2)))
static int failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_why, sizeof(g_why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Which legal choice the server made, on stderr (stdout stays "ok"/"FAIL" lines). */
__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "note %s: ", g_case);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- socket helpers: each returns 0 or -1 with g_why set ---- */

static int dial(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	int one = 1, fd = -1, rc;

	rc = getaddrinfo(g_host, g_port, &hints, &res);
	if (rc != 0) {
		failf("resolve %s:%s: %s", g_host, g_port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		failf("connect %s:%s: %s", g_host, g_port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, const void *p, size_t n, const char *what)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return failf("%s: send timed out (server not reading)", what);
		if (r < 0)
			return failf("%s: send: %s", what, strerror(errno));
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int recv_all(int fd, void *p, size_t n, const char *what)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return failf("%s: timed out waiting for the server", what);
		if (r < 0)
			return failf("%s: recv: %s", what, strerror(errno));
		if (r == 0)
			return failf("%s: server closed the connection", what);
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The server must close the connection (EOF or reset) within the timeout. With
 * allow_data, bytes before the close (an error reply, say) are ignored. */
static int expect_close(int fd, bool allow_data, const char *what)
{
	size_t total = 0;

	for (;;) {
		ssize_t r = recv(fd, g_scratch, sizeof(g_scratch), 0);
		if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return failf("%s: server did not close the connection", what);
		if (r < 0)
			return failf("%s: recv: %s", what, strerror(errno));
		if (!allow_data)
			return failf("%s: server sent %zd unexpected bytes", what, r);
		total += (size_t)r;
		if (total > (64u << 20))
			return failf("%s: server keeps sending data", what);
	}
}

/* 0: readable (data or EOF), 1: nothing within ms. */
static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : 1;
}

/* ---- handshake ---- */

struct conn {
	int fd;
	uint64_t size;
	uint16_t tflags;
	uint32_t max_block;	/* 0 if the server did not say */
	bool structured;
};

struct optrep {
	uint32_t opt, type, len;
	uint8_t data[MAX_REP_DATA];
};

static struct optrep g_rep;

static const char *rep_name(uint32_t t)
{
	switch (t) {
	case NBD_REP_ACK: return "ACK";
	case NBD_REP_SERVER: return "SERVER";
	case NBD_REP_INFO: return "INFO";
	case NBD_REP_ERR_UNSUP: return "ERR_UNSUP";
	case NBD_REP_ERR_POLICY: return "ERR_POLICY";
	case NBD_REP_ERR_INVALID: return "ERR_INVALID";
	case NBD_REP_ERR_PLATFORM: return "ERR_PLATFORM";
	case NBD_REP_ERR_TLS_REQD: return "ERR_TLS_REQD";
	case NBD_REP_ERR_UNKNOWN: return "ERR_UNKNOWN";
	case NBD_REP_ERR_SHUTDOWN: return "ERR_SHUTDOWN";
	case NBD_REP_ERR_BLOCK_SIZE_REQD: return "ERR_BLOCK_SIZE_REQD";
	case NBD_REP_ERR_TOO_BIG: return "ERR_TOO_BIG";
	default: return "?";
	}
}

/* Read the greeting, check it, send the client flags. */
static int hs_begin(int fd, uint32_t cflags)
{
	uint8_t g[18], f[4];

	if (recv_all(fd, g, sizeof(g), "greeting") < 0)
		return -1;
	if (get_be64(g) != NBD_MAGIC || get_be64(g + 8) != NBD_IHAVEOPT)
		return failf("greeting: bad magic (not a fixed-newstyle server?)");
	if (!(get_be16(g + 16) & NBD_FLAG_FIXED_NEWSTYLE))
		return failf("greeting: FIXED_NEWSTYLE not offered (flags 0x%x)",
			     get_be16(g + 16));
	put_be32(f, cflags);
	return send_all(fd, f, sizeof(f), "client flags");
}

static int send_opt(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];

	put_be64(h, NBD_IHAVEOPT);
	put_be32(h + 8, opt);
	put_be32(h + 12, len);
	if (send_all(fd, h, sizeof(h), "option header") < 0)
		return -1;
	return len ? send_all(fd, data, len, "option data") : 0;
}

/* GO/INFO data: name + info requests. */
static int send_go(int fd, uint32_t opt, const char *name, const uint16_t *req, uint16_t n)
{
	size_t nl = strlen(name);
	uint8_t d[4 + 4096 + 2 + 16];

	if (nl > 4096 || n > 8)
		return failf("internal: name or request list too long");
	put_be32(d, (uint32_t)nl);
	memcpy(d + 4, name, nl);
	put_be16(d + 4 + nl, n);
	for (uint16_t i = 0; i < n; i++)
		put_be16(d + 6 + nl + 2 * i, req[i]);
	return send_opt(fd, opt, d, (uint32_t)(6 + nl + 2u * n));
}

static int read_rep(int fd, uint32_t want_opt)
{
	uint8_t h[20];

	if (recv_all(fd, h, sizeof(h), "option reply") < 0)
		return -1;
	if (get_be64(h) != NBD_REP_MAGIC)
		return failf("option reply: bad magic 0x%016llx",
			     (unsigned long long)get_be64(h));
	g_rep.opt = get_be32(h + 8);
	g_rep.type = get_be32(h + 12);
	g_rep.len = get_be32(h + 16);
	if (g_rep.opt != want_opt)
		return failf("option reply: echoes option %u, sent %u", g_rep.opt, want_opt);
	if (g_rep.len > MAX_REP_DATA)
		return failf("option reply: implausible length %u", g_rep.len);
	return recv_all(fd, g_rep.data, g_rep.len, "option reply data");
}

/* Expect one reply of the given type to want_opt. */
static int expect_rep(int fd, uint32_t want_opt, uint32_t type)
{
	if (read_rep(fd, want_opt) < 0)
		return -1;
	if (g_rep.type != type)
		return failf("option %u: got reply %s (0x%x), expected %s", want_opt,
			     rep_name(g_rep.type), g_rep.type, rep_name(type));
	return 0;
}

static bool is_pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

/* Replies to GO/INFO up to the ACK: records export size, flags, block sizes. */
static int read_go_replies(struct conn *c, uint32_t opt)
{
	bool have_export = false;

	for (;;) {
		if (read_rep(c->fd, opt) < 0)
			return -1;
		if (g_rep.type == NBD_REP_ACK)
			break;
		if (g_rep.type != NBD_REP_INFO)
			return failf("%s: got reply %s (0x%x)", opt == NBD_OPT_GO ? "GO" : "INFO",
				     rep_name(g_rep.type), g_rep.type);
		if (g_rep.len < 2)
			return failf("NBD_REP_INFO shorter than its type");
		uint16_t it = get_be16(g_rep.data);
		if (it == NBD_INFO_EXPORT) {
			if (g_rep.len != 12)
				return failf("INFO_EXPORT length %u, expected 12", g_rep.len);
			c->size = get_be64(g_rep.data + 2);
			c->tflags = get_be16(g_rep.data + 10);
			have_export = true;
		} else if (it == NBD_INFO_BLOCK_SIZE) {
			if (g_rep.len != 14)
				return failf("INFO_BLOCK_SIZE length %u, expected 14", g_rep.len);
			uint32_t mn = get_be32(g_rep.data + 2), pref = get_be32(g_rep.data + 6);
			uint32_t mx = get_be32(g_rep.data + 10);
			if (!is_pow2(mn) || mn > 65536 || !is_pow2(pref) || pref < MAX(mn, 512u) ||
			    mx < pref)
				return failf("bad block sizes min %u preferred %u max %u", mn,
					     pref, mx);
			c->max_block = mx;
		}
	}
	if (!have_export)
		return failf("ACK without NBD_INFO_EXPORT");
	if (!(c->tflags & NBD_FLAG_HAS_FLAGS))
		return failf("transmission flags 0x%x lack HAS_FLAGS", c->tflags);
	if (c->size < MIB)
		return failf("export is %llu bytes; the tests need at least 1 MiB",
			     (unsigned long long)c->size);
	return 0;
}

/* Open a connection and send the client flags: option haggling starts. */
static int open_raw(struct conn *c, uint32_t cflags)
{
	memset(c, 0, sizeof(*c));
	c->fd = dial();
	if (c->fd < 0)
		return -1;
	return hs_begin(c->fd, cflags);
}

/* Open a connection and GO into transmission, optionally with structured replies. */
static int open_go(struct conn *c, bool structured)
{
	static const uint16_t req[] = { NBD_INFO_BLOCK_SIZE };

	if (open_raw(c, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES) < 0)
		return -1;
	if (structured) {
		if (send_opt(c->fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0) < 0 ||
		    expect_rep(c->fd, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK) < 0)
			return -1;
		c->structured = true;
	}
	if (send_go(c->fd, NBD_OPT_GO, g_export, req, 1) < 0)
		return -1;
	return read_go_replies(c, NBD_OPT_GO);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* ---- transmission ---- */

static int send_req(int fd, uint16_t flags, uint16_t type, uint64_t cookie, uint64_t off,
		    uint32_t len)
{
	uint8_t h[NBD_REQUEST_SIZE];

	put_be32(h, NBD_REQUEST_MAGIC);
	put_be16(h + 4, flags);
	put_be16(h + 6, type);
	put_be64(h + 8, cookie);
	put_be64(h + 16, off);
	put_be32(h + 24, len);
	return send_all(fd, h, sizeof(h), "request");
}

/* A simple reply for cookie; its error goes to *err. */
static int read_simple(int fd, uint64_t cookie, uint32_t *err)
{
	uint8_t h[NBD_SIMPLE_REPLY_SIZE];

	if (recv_all(fd, h, sizeof(h), "reply") < 0)
		return -1;
	if (get_be32(h) != NBD_SIMPLE_REPLY_MAGIC)
		return failf("reply: bad magic 0x%08x (expected a simple reply)", get_be32(h));
	if (get_be64(h + 8) != cookie)
		return failf("reply: cookie %llu, expected %llu",
			     (unsigned long long)get_be64(h + 8), (unsigned long long)cookie);
	*err = get_be32(h + 4);
	return 0;
}

/* Any reply without data (simple, or structured NONE/ERROR chunks up to DONE). */
static int read_reply(const struct conn *c, uint64_t cookie, uint32_t *err)
{
	uint8_t h[NBD_CHUNK_HDR_SIZE];

	if (!c->structured)
		return read_simple(c->fd, cookie, err);
	*err = 0;
	for (;;) {
		if (recv_all(c->fd, h, 4, "reply") < 0)
			return -1;
		if (get_be32(h) == NBD_SIMPLE_REPLY_MAGIC) {
			if (recv_all(c->fd, h + 4, 12, "reply") < 0)
				return -1;
			if (get_be64(h + 8) != cookie)
				return failf("reply: wrong cookie");
			*err = get_be32(h + 4);
			return 0;
		}
		if (get_be32(h) != NBD_STRUCTURED_REPLY_MAGIC)
			return failf("reply: bad magic 0x%08x", get_be32(h));
		if (recv_all(c->fd, h + 4, NBD_CHUNK_HDR_SIZE - 4, "chunk") < 0)
			return -1;
		uint16_t fl = get_be16(h + 4), type = get_be16(h + 6);
		uint32_t len = get_be32(h + 16);
		if (get_be64(h + 8) != cookie)
			return failf("chunk: wrong cookie");
		if (len > sizeof(g_scratch))
			return failf("chunk: implausible length %u", len);
		if (recv_all(c->fd, g_scratch, len, "chunk payload") < 0)
			return -1;
		if (type & 0x8000) {
			if (len < 6)
				return failf("error chunk too short");
			*err = get_be32(g_scratch);
		} else if (type != NBD_REPLY_TYPE_NONE) {
			return failf("unexpected chunk type %u for a command without data", type);
		}
		if (fl & NBD_REPLY_FLAG_DONE)
			return 0;
	}
}

/* READ with simple replies; on success the data lands in buf. */
static int simple_read(const struct conn *c, uint64_t cookie, uint64_t off, uint32_t len,
		       void *buf)
{
	uint32_t err;

	if (send_req(c->fd, 0, NBD_CMD_READ, cookie, off, len) < 0 ||
	    read_simple(c->fd, cookie, &err) < 0)
		return -1;
	if (err)
		return failf("READ %u@%llu failed with error %u", len, (unsigned long long)off,
			     err);
	return recv_all(c->fd, buf, len, "READ data");
}

/* The connection still serves requests: READ 512 bytes at 0 succeeds. */
static int still_works(const struct conn *c, const char *after)
{
	if (simple_read(c, 0x600d, 0, 512, g_scratch) < 0) {
		char why[sizeof(g_why)];
		memcpy(why, g_why, sizeof(why));
		return failf("connection unusable after %s: %s", after, why);
	}
	return 0;
}

/* A fresh connection negotiates and reads: the server survived. */
static int fresh_works(const char *after)
{
	struct conn c;
	int r = open_go(&c, false);

	if (r == 0)
		r = simple_read(&c, 0xf2e5, 0, 512, g_scratch);
	conn_close(&c);
	if (r < 0) {
		char why[sizeof(g_why)];
		memcpy(why, g_why, sizeof(why));
		return failf("server unusable after %s: %s", after, why);
	}
	return 0;
}

/* One request that must be refused with one of the allowed errors, then the connection
 * must still work. */
static int expect_error(struct conn *c, uint16_t flags, uint16_t type, uint64_t off,
			uint32_t len, const void *payload, uint32_t e1, uint32_t e2)
{
	uint32_t err;

	if (send_req(c->fd, flags, type, 0xbad, off, len) < 0)
		return -1;
	if (payload && send_all(c->fd, payload, len, "payload") < 0)
		return -1;
	if (read_simple(c->fd, 0xbad, &err) < 0)
		return -1;
	if (err != e1 && err != e2) {
		if (e1 == e2)
			return failf("error %u, expected %u", err, e1);
		return failf("error %u, expected %u or %u", err, e1, e2);
	}
	if (e1 != e2)
		note("error %u", err);
	return still_works(c, "the refused request");
}

/* ---- the cases ---- */

static int case_bad_magic_option(struct conn *c)
{
	uint8_t h[16];

	put_be64(h, 0x1122334455667788ull);
	put_be32(h + 8, NBD_OPT_GO);
	put_be32(h + 12, 0);
	if (open_raw(c, 3) < 0 || send_all(c->fd, h, sizeof(h), "option") < 0)
		return -1;
	return expect_close(c->fd, true, "after a bad option magic");
}

static int case_bad_client_flags(struct conn *c)
{
	if (open_raw(c, 0x80000003u) < 0)
		return -1;
	return expect_close(c->fd, true, "after unknown client flags");
}

static int case_unknown_option(struct conn *c)
{
	if (open_raw(c, 3) < 0 || send_opt(c->fd, 99, "junk", 4) < 0 ||
	    expect_rep(c->fd, 99, NBD_REP_ERR_UNSUP) < 0)
		return -1;
	if (send_go(c->fd, NBD_OPT_GO, g_export, NULL, 0) < 0 ||
	    read_go_replies(c, NBD_OPT_GO) < 0)
		return -1;
	return still_works(c, "GO");
}

static int case_option_too_long(struct conn *c)
{
	uint8_t h[16 + 64];

	memset(h, 0, sizeof(h));
	put_be64(h, NBD_IHAVEOPT);
	put_be32(h + 8, NBD_OPT_GO);
	put_be32(h + 12, 1u << 30);
	if (open_raw(c, 3) < 0 || send_all(c->fd, h, sizeof(h), "option") < 0)
		return -1;
	return expect_close(c->fd, true, "after an option of 1 GiB");
}

static int case_truncated_option(struct conn *c)
{
	uint8_t h[16 + 50];

	memset(h, 'x', sizeof(h));
	put_be64(h, NBD_IHAVEOPT);
	put_be32(h + 8, NBD_OPT_GO);
	put_be32(h + 12, 100);
	if (open_raw(c, 3) < 0 || send_all(c->fd, h, sizeof(h), "option") < 0)
		return -1;
	conn_close(c);
	return fresh_works("a truncated option");
}

static int case_starttls(struct conn *c)
{
	if (open_raw(c, 3) < 0 || send_opt(c->fd, NBD_OPT_STARTTLS, NULL, 0) < 0 ||
	    read_rep(c->fd, NBD_OPT_STARTTLS) < 0)
		return -1;
	if (g_rep.type != NBD_REP_ERR_UNSUP && g_rep.type != NBD_REP_ERR_POLICY)
		return failf("STARTTLS: got %s (0x%x), expected ERR_UNSUP or ERR_POLICY",
			     rep_name(g_rep.type), g_rep.type);
	note("%s", rep_name(g_rep.type));
	if (send_go(c->fd, NBD_OPT_GO, g_export, NULL, 0) < 0)
		return -1;
	return read_go_replies(c, NBD_OPT_GO);
}

static int case_export_name_unknown(struct conn *c)
{
	if (open_raw(c, 3) < 0 ||
	    send_go(c->fd, NBD_OPT_GO, "no-such-export-ferry-badclient", NULL, 0) < 0 ||
	    expect_rep(c->fd, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN) < 0)
		return -1;
	if (send_go(c->fd, NBD_OPT_GO, g_export, NULL, 0) < 0)
		return -1;
	return read_go_replies(c, NBD_OPT_GO);
}

static int case_list(struct conn *c)
{
	bool found = false;
	size_t el = strlen(g_export);

	if (open_raw(c, 3) < 0 || send_opt(c->fd, NBD_OPT_LIST, NULL, 0) < 0)
		return -1;
	for (;;) {
		if (read_rep(c->fd, NBD_OPT_LIST) < 0)
			return -1;
		if (g_rep.type == NBD_REP_ACK)
			break;
		if (g_rep.type != NBD_REP_SERVER)
			return failf("LIST: got %s (0x%x)", rep_name(g_rep.type), g_rep.type);
		if (g_rep.len < 4 || get_be32(g_rep.data) > g_rep.len - 4)
			return failf("LIST: malformed REP_SERVER (length %u)", g_rep.len);
		uint32_t nl = get_be32(g_rep.data);
		if (nl == el && memcmp(g_rep.data + 4, g_export, el) == 0)
			found = true;
	}
	if (!found)
		return failf("LIST does not include export \"%s\"", g_export);
	return 0;
}

static int case_info(struct conn *c)
{
	static const uint16_t req[] = { NBD_INFO_BLOCK_SIZE };

	if (open_raw(c, 3) < 0 || send_go(c->fd, NBD_OPT_INFO, g_export, req, 1) < 0 ||
	    read_go_replies(c, NBD_OPT_INFO) < 0)
		return -1;
	/* INFO must leave the server in option haggling: GO still works */
	if (send_go(c->fd, NBD_OPT_GO, g_export, NULL, 0) < 0 ||
	    read_go_replies(c, NBD_OPT_GO) < 0)
		return -1;
	return still_works(c, "INFO then GO");
}

static int case_export_name_legacy(struct conn *c)
{
	uint8_t b[10 + 124];

	if (open_raw(c, NBD_FLAG_C_FIXED_NEWSTYLE) < 0 ||
	    send_opt(c->fd, NBD_OPT_EXPORT_NAME, g_export, (uint32_t)strlen(g_export)) < 0 ||
	    recv_all(c->fd, b, sizeof(b), "EXPORT_NAME reply") < 0)
		return -1;
	c->size = get_be64(b);
	c->tflags = get_be16(b + 8);
	if (!(c->tflags & NBD_FLAG_HAS_FLAGS))
		return failf("EXPORT_NAME: flags 0x%x lack HAS_FLAGS", c->tflags);
	if (c->size < MIB)
		return failf("EXPORT_NAME: size %llu", (unsigned long long)c->size);
	for (size_t i = 10; i < sizeof(b); i++)
		if (b[i])
			return failf("EXPORT_NAME: byte %zu of the 124 zero bytes is 0x%02x",
				     i - 10, b[i]);
	return still_works(c, "EXPORT_NAME");
}

static int case_abort(struct conn *c)
{
	if (open_raw(c, 3) < 0 || send_opt(c->fd, NBD_OPT_ABORT, NULL, 0) < 0 ||
	    expect_rep(c->fd, NBD_OPT_ABORT, NBD_REP_ACK) < 0)
		return -1;
	return expect_close(c->fd, false, "after ABORT");
}

static int case_bad_request_magic(struct conn *c)
{
	uint8_t h[NBD_REQUEST_SIZE];

	if (open_go(c, false) < 0)
		return -1;
	memset(h, 0, sizeof(h));
	put_be32(h, 0x12345678u);
	put_be32(h + 24, 512);
	if (send_all(c->fd, h, sizeof(h), "request") < 0)
		return -1;
	return expect_close(c->fd, true, "after a bad request magic");
}

static int case_unknown_command(struct conn *c)
{
	if (open_go(c, false) < 0)
		return -1;
	return expect_error(c, 0, 42, 0, 0, NULL, NBD_EINVAL, NBD_EINVAL);
}

static int case_unknown_flag(struct conn *c)
{
	if (open_go(c, false) < 0)
		return -1;
	return expect_error(c, 0x8000, NBD_CMD_READ, 0, 512, NULL, NBD_EINVAL, NBD_EINVAL);
}

static int case_read_beyond_end(struct conn *c)
{
	if (open_go(c, false) < 0)
		return -1;
	return expect_error(c, 0, NBD_CMD_READ, c->size - 256, 512, NULL, NBD_EINVAL,
			    NBD_EINVAL);
}

static int case_write_beyond_end(struct conn *c)
{
	uint8_t p[512];

	memset(p, 0xee, sizeof(p));
	if (open_go(c, false) < 0)
		return -1;
	return expect_error(c, 0, NBD_CMD_WRITE, c->size - 256, 512, p, NBD_ENOSPC,
			    NBD_ENOSPC);
}

static int case_read_too_big(struct conn *c)
{
	const uint32_t len = 64u << 20;
	uint32_t err;

	if (open_go(c, false) < 0)
		return -1;
	if (send_req(c->fd, 0, NBD_CMD_READ, 0xb16, 0, len) < 0 ||
	    read_simple(c->fd, 0xb16, &err) < 0)
		return -1;
	if (err == 0) {
		/* legal only for a server whose maximum is not smaller (and a big export) */
		if (c->max_block && c->max_block < len)
			return failf("accepted a READ above its advertised maximum %u",
				     c->max_block);
		for (uint32_t got = 0; got < len; got += sizeof(g_scratch))
			if (recv_all(c->fd, g_scratch, sizeof(g_scratch), "64 MiB READ data") < 0)
				return -1;
		note("server accepted the 64 MiB READ (it advertised no smaller maximum)");
	} else if (err != NBD_EINVAL && err != NBD_EOVERFLOW) {
		return failf("error %u, expected %u or %u", err, NBD_EINVAL, NBD_EOVERFLOW);
	} else {
		note("error %u", err);
	}
	return still_works(c, "the oversized READ");
}

/* Header of a 64 MiB WRITE without its payload: the server may refuse and close, or
 * refuse/accept and wait for the payload (then we send it); it must never wait silently
 * when it advertised a smaller maximum. */
static int case_write_too_big(struct conn *c)
{
	const uint32_t len = 64u << 20;
	uint32_t err;
	bool replied = false;

	if (open_go(c, false) < 0)
		return -1;
	if (send_req(c->fd, 0, NBD_CMD_WRITE, 0xb17, 0, len) < 0)
		return -1;
	if (wait_readable(c->fd, TIMEOUT_S * 1000) == 0) {
		ssize_t r = recv(c->fd, g_scratch, 1, MSG_PEEK);
		if (r <= 0) {
			note("server closed without a reply");
			goto survived;
		}
		if (read_simple(c->fd, 0xb17, &err) < 0)
			return -1;
		if (err == 0)
			return failf("WRITE succeeded before its payload was sent");
		replied = true;
		if (wait_readable(c->fd, TIMEOUT_S * 1000) == 0) {
			if (expect_close(c->fd, false, "after refusing the oversized WRITE") < 0)
				return -1;
			note("server replied error %u and closed", err);
			goto survived;
		}
	} else if (c->max_block && c->max_block < len) {
		return failf("no reply and no close: server waits for a payload above its "
			     "advertised maximum %u", c->max_block);
	}
	/* the server wants the payload: send it, then the connection must work */
	memset(g_scratch, 0, sizeof(g_scratch));
	for (uint32_t sent = 0; sent < len; sent += sizeof(g_scratch))
		if (send_all(c->fd, g_scratch, sizeof(g_scratch), "64 MiB payload") < 0)
			return -1;
	if (!replied) {
		if (read_simple(c->fd, 0xb17, &err) < 0)
			return -1;
		if (err != 0 && err != NBD_EINVAL && err != NBD_ENOSPC && err != NBD_EOVERFLOW)
			return failf("oversized WRITE: unexpected error %u", err);
	}
	note("server waited for the 64 MiB payload and replied error %u", err);
	if (still_works(c, "the oversized WRITE") < 0)
		return -1;
survived:
	conn_close(c);
	return fresh_works("an oversized WRITE");
}

static int case_trim_beyond_end(struct conn *c)
{
	if (open_go(c, false) < 0)
		return -1;
	if (!(c->tflags & NBD_FLAG_SEND_TRIM))
		return failf("server does not advertise SEND_TRIM");
	/* the brief asks ENOSPC; proto.md says EINVAL for TRIM past the end */
	return expect_error(c, 0, NBD_CMD_TRIM, c->size - 256, 512, NULL, NBD_ENOSPC,
			    NBD_EINVAL);
}

static int case_zero_beyond_end(struct conn *c)
{
	if (open_go(c, false) < 0)
		return -1;
	if (!(c->tflags & NBD_FLAG_SEND_WRITE_ZEROES))
		return failf("server does not advertise SEND_WRITE_ZEROES");
	return expect_error(c, 0, NBD_CMD_WRITE_ZEROES, c->size - 256, 512, NULL, NBD_ENOSPC,
			    NBD_ENOSPC);
}

static int case_truncated_header(struct conn *c)
{
	uint8_t h[NBD_REQUEST_SIZE];

	if (open_go(c, false) < 0)
		return -1;
	memset(h, 0, sizeof(h));
	put_be32(h, NBD_REQUEST_MAGIC);
	put_be16(h + 6, NBD_CMD_READ);
	if (send_all(c->fd, h, 10, "partial header") < 0)
		return -1;
	conn_close(c);
	return fresh_works("a truncated request header");
}

static int case_truncated_write_payload(struct conn *c)
{
	if (open_go(c, false) < 0)
		return -1;
	memset(g_scratch, 0x5a, 100u << 10);
	if (send_req(c->fd, 0, NBD_CMD_WRITE, 0x77, c->size - MIB, MIB) < 0 ||
	    send_all(c->fd, g_scratch, 100u << 10, "partial payload") < 0)
		return -1;
	conn_close(c);
	return fresh_works("a truncated WRITE payload");
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static uint32_t pattern_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
}

static int write_cmd(const struct conn *c, uint16_t flags, uint64_t off, const void *p,
		     uint32_t len)
{
	uint32_t err;

	if (send_req(c->fd, flags, NBD_CMD_WRITE, 0x1001, off, len) < 0 ||
	    send_all(c->fd, p, len, "WRITE payload") < 0 || read_reply(c, 0x1001, &err) < 0)
		return -1;
	return err ? failf("WRITE failed with error %u", err) : 0;
}

static int case_write_read_roundtrip(struct conn *c)
{
	uint8_t w[4096], r[4096];
	uint32_t err;

	fill_pattern(w, sizeof(w), pattern_seed());
	if (open_go(c, false) < 0)
		return -1;
	if (!(c->tflags & NBD_FLAG_SEND_FUA) || !(c->tflags & NBD_FLAG_SEND_FLUSH))
		return failf("server does not advertise SEND_FUA and SEND_FLUSH (0x%x)",
			     c->tflags);
	if (c->tflags & NBD_FLAG_READ_ONLY)
		return failf("export is read-only");
	uint64_t off = c->size - 16384;
	if (write_cmd(c, NBD_CMD_FLAG_FUA, off, w, sizeof(w)) < 0)
		return -1;
	if (send_req(c->fd, 0, NBD_CMD_FLUSH, 0x1002, 0, 0) < 0 ||
	    read_simple(c->fd, 0x1002, &err) < 0)
		return -1;
	if (err)
		return failf("FLUSH failed with error %u", err);
	if (simple_read(c, 0x1003, off, sizeof(r), r) < 0)
		return -1;
	if (memcmp(w, r, sizeof(r)) != 0)
		return failf("data read back differs from data written");
	return 0;
}

/* READ under structured replies: chunks must cover the range exactly once, end with
 * DONE, and carry the data written just before. */
static int case_structured_read(struct conn *c)
{
	enum { LEN = 4096 };
	uint8_t w[LEN], r[LEN], seen[LEN];
	uint64_t base;
	uint8_t h[NBD_CHUNK_HDR_SIZE];
	unsigned data_chunks = 0;

	fill_pattern(w, sizeof(w), pattern_seed());
	memset(r, 0, sizeof(r));
	memset(seen, 0, sizeof(seen));
	if (open_go(c, true) < 0)
		return -1;
	base = c->size - 8192;
	if (write_cmd(c, 0, base, w, LEN) < 0)
		return -1;
	if (send_req(c->fd, 0, NBD_CMD_READ, 0x2001, base, LEN) < 0)
		return -1;
	for (;;) {
		if (recv_all(c->fd, h, sizeof(h), "chunk") < 0)
			return -1;
		if (get_be32(h) != NBD_STRUCTURED_REPLY_MAGIC)
			return failf("READ reply magic 0x%08x, expected a structured chunk",
				     get_be32(h));
		uint16_t fl = get_be16(h + 4), type = get_be16(h + 6);
		uint32_t len = get_be32(h + 16);
		if (get_be64(h + 8) != 0x2001)
			return failf("chunk: wrong cookie");
		if (len > sizeof(g_scratch))
			return failf("chunk: implausible length %u", len);
		if (recv_all(c->fd, g_scratch, len, "chunk payload") < 0)
			return -1;
		uint64_t off;
		uint32_t n;
		if (type == NBD_REPLY_TYPE_OFFSET_DATA) {
			if (len < 8)
				return failf("OFFSET_DATA chunk of %u bytes", len);
			off = get_be64(g_scratch);
			n = len - 8;
			data_chunks++;
		} else if (type == NBD_REPLY_TYPE_OFFSET_HOLE) {
			if (len != 12)
				return failf("OFFSET_HOLE chunk of %u bytes", len);
			off = get_be64(g_scratch);
			n = get_be32(g_scratch + 8);
		} else if (type == NBD_REPLY_TYPE_NONE) {
			if (len != 0 || !(fl & NBD_REPLY_FLAG_DONE))
				return failf("bad NONE chunk");
			n = 0;
			off = base;
		} else if (type & 0x8000) {
			return failf("READ failed: error chunk type 0x%x, error %u", type,
				     len >= 4 ? get_be32(g_scratch) : 0);
		} else {
			return failf("unexpected chunk type %u", type);
		}
		if (off < base || off > base + LEN || n > base + LEN - off)
			return failf("chunk %u@%llu outside the request", n,
				     (unsigned long long)off);
		for (uint32_t i = 0; i < n; i++) {
			if (seen[off - base + i]++)
				return failf("chunks overlap at offset %llu",
					     (unsigned long long)(off + i));
			r[off - base + i] = type == NBD_REPLY_TYPE_OFFSET_DATA ?
					   g_scratch[8 + i] : 0;
		}
		if (fl & NBD_REPLY_FLAG_DONE)
			break;
	}
	for (size_t i = 0; i < LEN; i++)
		if (!seen[i])
			return failf("chunks do not cover offset %llu",
				     (unsigned long long)(base + i));
	if (!data_chunks)
		return failf("no OFFSET_DATA chunk");
	if (memcmp(r, w, LEN) != 0)
		return failf("structured READ data differs from data written");
	return 0;
}

static int case_disc(struct conn *c)
{
	if (open_go(c, false) < 0)
		return -1;
	if (send_req(c->fd, 0, NBD_CMD_DISC, 0xd15c, 0, 0) < 0)
		return -1;
	return expect_close(c->fd, false, "after DISC");
}

/* ---- driver ---- */

static const struct {
	const char *name;
	int (*fn)(struct conn *c);
} cases[] = {
	{ "bad-magic-option", case_bad_magic_option },
	{ "bad-client-flags", case_bad_client_flags },
	{ "unknown-option", case_unknown_option },
	{ "option-too-long", case_option_too_long },
	{ "truncated-option", case_truncated_option },
	{ "starttls", case_starttls },
	{ "export-name-unknown", case_export_name_unknown },
	{ "list", case_list },
	{ "info", case_info },
	{ "export-name-legacy", case_export_name_legacy },
	{ "abort", case_abort },
	{ "bad-request-magic", case_bad_request_magic },
	{ "unknown-command", case_unknown_command },
	{ "unknown-flag", case_unknown_flag },
	{ "read-beyond-end", case_read_beyond_end },
	{ "write-beyond-end", case_write_beyond_end },
	{ "read-too-big", case_read_too_big },
	{ "write-too-big", case_write_too_big },
	{ "trim-beyond-end", case_trim_beyond_end },
	{ "zero-beyond-end", case_zero_beyond_end },
	{ "truncated-header", case_truncated_header },
	{ "truncated-write-payload", case_truncated_write_payload },
	{ "write-read-roundtrip", case_write_read_roundtrip },
	{ "structured-read", case_structured_read },
	{ "disc", case_disc },
};

/* Each case opens its own connection(s) with open_raw or open_go. */
static int run_case(size_t i)
{
	struct conn c = { .fd = -1 };
	int r;

	g_why[0] = '\0';
	g_case = cases[i].name;
	r = cases[i].fn(&c);
	conn_close(&c);
	if (r < 0)
		printf("FAIL %s: %s\n", cases[i].name, g_why[0] ? g_why : "(no reason)");
	else
		printf("ok %s\n", cases[i].name);
	fflush(stdout);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: nbd-badclient HOST PORT EXPORT CASE|all\n"
		   "       nbd-badclient --list\n");
}

int main(int argc, char **argv)
{
	int failed = 0;
	bool all;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc != 5) {
		usage(stderr);
		return 2;
	}
	g_host = argv[1];
	g_port = argv[2];
	g_export = argv[3];
	all = strcmp(argv[4], "all") == 0;
	if (strlen(g_export) > 4096) {
		fprintf(stderr, "nbd-badclient: export name too long\n");
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!all && strcmp(argv[4], cases[i].name) != 0)
			continue;
		if (run_case(i) < 0)
			failed++;
		if (!all)
			return failed ? 1 : 0;
	}
	if (!all) {
		fprintf(stderr, "nbd-badclient: unknown case '%s' (try --list)\n", argv[4]);
		return 2;
	}
	return failed ? 1 : 0;
}
