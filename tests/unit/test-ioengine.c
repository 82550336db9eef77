/* Unit tests for the I/O engine layer: every behaviour is run against both real engines
 * (io_uring and libaio, on a temporary file), plus a mock engine that produces short
 * transfers and refusals on demand to drive the generic layer's continuation logic.
 * If io_uring cannot be set up on this machine, its cases are skipped with a message. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/ioengine.h"
#include "common/banned.h"

#define BLK 4096

struct fixture {
	enum engine_choice choice;
	struct io_engine *eng;
	int fd;
	char path[64];
};

static int setup_engine(void **state, enum engine_choice choice, unsigned depth)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->choice = choice;
	char why[256];
	int r = io_engine_create(choice, depth, &f->eng, why, sizeof(why));
	if (r < 0 && choice == ENGINE_URING) {
		print_message("io_uring unavailable here (%s): skipping io_uring cases\n", why);
		free(f);
		*state = NULL;
		return 0;
	}
	assert_int_equal(r, 0);
	assert_non_null(f->eng);
	assert_true(f->eng->ops == (choice == ENGINE_URING ? &io_engine_uring_ops : &io_engine_aio_ops));
	const char *tmp = getenv("TMPDIR");
	snprintf(f->path, sizeof(f->path), "%s/ferry-ioengine-XXXXXX", tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int setup_uring(void **state) { return setup_engine(state, ENGINE_URING, 64); }
static int setup_aio(void **state) { return setup_engine(state, ENGINE_AIO, 64); }

static int teardown_engine(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	io_engine_free(f->eng);
	close(f->fd);
	unlink(f->path);
	free(f);
	return 0;
}

#define FIXTURE_OR_SKIP(f)                       \
	struct fixture *f = *state;              \
	do {                                     \
		if (!f)                          \
			skip();                  \
	} while (0)

/* ---- helpers ---- */

struct counter {
	unsigned ncalls;
	unsigned nok;
	int last_res;
	int first_err;
	size_t expect;
	unsigned max_inflight;
	struct io_engine *eng;
};

static void count_done(struct io_req *req, int res)
{
	struct counter *c = req->opaque;
	c->ncalls++;
	c->last_res = res;
	if (res >= 0 && (size_t)res == c->expect)
		c->nok++;
	else if (!c->first_err)
		c->first_err = res ? res : -999;
}

static void run_until_idle(struct io_engine *eng, struct counter *c)
{
	while (io_busy(eng)) {
		assert_int_equal(io_submit_pending(eng), 0);
		if (c && eng->inflight > c->max_inflight)
			c->max_inflight = eng->inflight;
		assert_true(eng->inflight <= eng->depth);
		int r = io_reap(eng, true);
		assert_true(r >= 0);
	}
}

static uint8_t pattern(unsigned req, size_t i)
{
	return (uint8_t)(req * 131u + i * 7u + (i >> 9));
}

/* ---- tests run on both engines ---- */

#define NREQ 512

static void test_many_writes_then_reads(void **state)
{
	FIXTURE_OR_SKIP(f);
	uint8_t *wbuf = malloc((size_t)NREQ * BLK), *rbuf = calloc(NREQ, BLK);
	struct io_req *reqs = calloc(NREQ, sizeof(*reqs));
	struct iovec *iovs = calloc(NREQ, sizeof(*iovs));
	assert_non_null(wbuf);
	assert_non_null(rbuf);
	assert_non_null(reqs);
	assert_non_null(iovs);

	struct counter c = { .expect = BLK, .eng = f->eng };
	for (unsigned i = 0; i < NREQ; i++) {
		for (size_t j = 0; j < BLK; j++)
			wbuf[(size_t)i * BLK + j] = pattern(i, j);
		/* scatter the offsets so completion order says nothing */
		unsigned slot = (i * 37u) % NREQ;
		iovs[i] = (struct iovec){ wbuf + (size_t)i * BLK, BLK };
		reqs[i] = (struct io_req){ .op = IO_OP_WRITE, .fd = f->fd, .iov = &iovs[i], .iovcnt = 1,
					   .offset = (uint64_t)slot * BLK, .done = count_done, .opaque = &c };
		io_queue(f->eng, &reqs[i]);
	}
	assert_int_equal(io_busy(f->eng), NREQ);
	run_until_idle(f->eng, &c);
	assert_int_equal(c.ncalls, NREQ);
	assert_int_equal(c.nok, NREQ);
	assert_int_equal(c.first_err, 0);
	assert_true(c.max_inflight <= 64);
	assert_true(c.max_inflight > 1);	/* really batched */

	struct counter rc = { .expect = BLK, .eng = f->eng };
	for (unsigned i = 0; i < NREQ; i++) {
		unsigned slot = (i * 37u) % NREQ;
		iovs[i] = (struct iovec){ rbuf + (size_t)i * BLK, BLK };
		reqs[i] = (struct io_req){ .op = IO_OP_READ, .fd = f->fd, .iov = &iovs[i], .iovcnt = 1,
					   .offset = (uint64_t)slot * BLK, .done = count_done, .opaque = &rc };
		io_queue(f->eng, &reqs[i]);
	}
	run_until_idle(f->eng, &rc);
	assert_int_equal(rc.nok, NREQ);
	assert_memory_equal(wbuf, rbuf, (size_t)NREQ * BLK);

	/* and the file itself, read without the engine */
	struct stat st;
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)NREQ * BLK);
	uint8_t blk[BLK];
	assert_int_equal(pread_full(f->fd, blk, BLK, (uint64_t)((5 * 37) % NREQ) * BLK), 0);
	assert_memory_equal(blk, wbuf + 5 * BLK, BLK);

	free(wbuf);
	free(rbuf);
	free(reqs);
	free(iovs);
}

static void test_fdatasync(void **state)
{
	FIXTURE_OR_SKIP(f);
	uint8_t buf[BLK];
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(pwrite_full(f->fd, buf, sizeof(buf), 0), 0);
	struct io_req req = { .op = IO_OP_FDATASYNC, .fd = f->fd };
	assert_int_equal(io_run_sync(f->eng, &req), 0);
	assert_int_equal(io_busy(f->eng), 0);

	/* on a bad descriptor it reports the error instead */
	struct io_req bad = { .op = IO_OP_FDATASYNC, .fd = 1000000 };
	assert_int_equal(io_run_sync(f->eng, &bad), -EBADF);
}

static void test_dsync_write(void **state)
{
	FIXTURE_OR_SKIP(f);
	uint8_t buf[BLK], back[BLK];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(99, i);
	struct iovec iov = { buf, sizeof(buf) };
	struct io_req req = { .op = IO_OP_WRITE, .fd = f->fd, .iov = &iov, .iovcnt = 1,
			      .offset = 3 * BLK, .rw_flags = RWF_DSYNC };
	assert_int_equal(io_run_sync(f->eng, &req), BLK);
	assert_int_equal(pread_full(f->fd, back, sizeof(back), 3 * BLK), 0);
	assert_memory_equal(buf, back, sizeof(buf));
}

/* A writeback hint completes with 0 through io_reap on both engines (libaio has no such
 * operation: it is skipped), the data stays as written, and a bad request still fails. */
static void test_writeback(void **state)
{
	FIXTURE_OR_SKIP(f);
	enum { LEN = 256 * 1024 };
	uint8_t *buf = malloc(LEN), *back = malloc(LEN);
	assert_non_null(buf);
	assert_non_null(back);
	for (size_t i = 0; i < LEN; i++)
		buf[i] = pattern(7, i);
	assert_int_equal(pwrite_full(f->fd, buf, LEN, BLK), 0);

	struct counter c = { .expect = 0 };
	struct io_req req = { .op = IO_OP_WRITEBACK, .fd = f->fd, .offset = BLK, .length = LEN,
			      .done = count_done, .opaque = &c };
	io_queue(f->eng, &req);
	assert_int_equal(c.ncalls, 0);		/* never completed inside io_queue */
	run_until_idle(f->eng, &c);
	assert_int_equal(c.ncalls, 1);
	assert_int_equal(c.nok, 1);
	assert_int_equal(pread_full(f->fd, back, LEN, BLK), 0);
	assert_memory_equal(buf, back, LEN);

	struct io_req bad_fd = { .op = IO_OP_WRITEBACK, .fd = -1, .length = BLK };
	assert_int_equal(io_run_sync(f->eng, &bad_fd), -EBADF);
	struct io_req too_long = { .op = IO_OP_WRITEBACK, .fd = f->fd, .length = 1ull << 33 };
	assert_int_equal(io_run_sync(f->eng, &too_long), -EINVAL);
	free(buf);
	free(back);
}

static void test_read_past_eof(void **state)
{
	FIXTURE_OR_SKIP(f);
	uint8_t buf[2 * BLK];
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(pwrite_full(f->fd, buf, BLK, 0), 0);

	/* entirely past EOF */
	struct iovec iov = { buf, BLK };
	struct io_req req = { .op = IO_OP_READ, .fd = f->fd, .iov = &iov, .iovcnt = 1, .offset = 1 << 20 };
	assert_int_equal(io_run_sync(f->eng, &req), -EIO);

	/* straddling EOF: a short read, then EOF on the remainder */
	iov = (struct iovec){ buf, sizeof(buf) };
	req = (struct io_req){ .op = IO_OP_READ, .fd = f->fd, .iov = &iov, .iovcnt = 1, .offset = 0 };
	assert_int_equal(io_run_sync(f->eng, &req), -EIO);

	/* exactly up to EOF is fine */
	iov = (struct iovec){ buf, BLK };
	req = (struct io_req){ .op = IO_OP_READ, .fd = f->fd, .iov = &iov, .iovcnt = 1, .offset = 0 };
	assert_int_equal(io_run_sync(f->eng, &req), BLK);
}

static void test_writev_readv_multi(void **state)
{
	FIXTURE_OR_SKIP(f);
	static uint8_t a[100], b[5000], c3[3];
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = pattern(7, i);
	memcpy(c3, "xyz", 3);
	struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c3, sizeof(c3) } };
	struct io_req req = { .op = IO_OP_WRITE, .fd = f->fd, .iov = iov, .iovcnt = 3, .offset = 10 };
	assert_int_equal(io_run_sync(f->eng, &req), 5103);

	uint8_t whole[5103];
	assert_int_equal(pread_full(f->fd, whole, sizeof(whole), 10), 0);
	assert_memory_equal(whole, a, sizeof(a));
	assert_memory_equal(whole + 100, b, sizeof(b));
	assert_memory_equal(whole + 5100, "xyz", 3);

	/* read it back split differently */
	uint8_t r1[4000], r2[1103];
	struct iovec riov[2] = { { r1, sizeof(r1) }, { r2, sizeof(r2) } };
	req = (struct io_req){ .op = IO_OP_READ, .fd = f->fd, .iov = riov, .iovcnt = 2, .offset = 10 };
	assert_int_equal(io_run_sync(f->eng, &req), 5103);
	assert_memory_equal(r1, whole, sizeof(r1));
	assert_memory_equal(r2, whole + 4000, sizeof(r2));
}

static void test_eventfd_readable(void **state)
{
	FIXTURE_OR_SKIP(f);
	assert_true(f->eng->event_fd >= 0);
	struct pollfd pfd = { .fd = f->eng->event_fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 0);	/* nothing yet */

	uint8_t buf[BLK];
	memset(buf, 0x42, sizeof(buf));
	struct iovec iov = { buf, sizeof(buf) };
	struct counter c = { .expect = BLK };
	struct io_req req = { .op = IO_OP_WRITE, .fd = f->fd, .iov = &iov, .iovcnt = 1,
			      .done = count_done, .opaque = &c };
	io_queue(f->eng, &req);
	assert_int_equal(c.ncalls, 0);
	assert_int_equal(io_submit_pending(f->eng), 0);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(pfd.revents & POLLIN);

	int n = io_reap(f->eng, false);
	assert_int_equal(n, 1);
	assert_int_equal(c.nok, 1);
	/* drained: not readable any more */
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(io_busy(f->eng), 0);
}

/* done() queues the next request: a chain of dependent writes driven by callbacks */
struct chain {
	struct io_engine *eng;
	struct io_req req;
	struct iovec iov;
	uint8_t buf[512];
	unsigned left, done;
	int err;
};

static void chain_done(struct io_req *req, int res)
{
	struct chain *ch = req->opaque;
	if (res != (int)sizeof(ch->buf))
		ch->err = res ? res : -999;
	ch->done++;
	if (--ch->left == 0)
		return;
	memset(ch->buf, (int)ch->left, sizeof(ch->buf));
	ch->iov = (struct iovec){ ch->buf, sizeof(ch->buf) };
	req->iov = &ch->iov;
	req->iovcnt = 1;
	req->offset = (uint64_t)ch->left * sizeof(ch->buf);
	io_queue(ch->eng, req);
	io_submit_pending(ch->eng);	/* re-entrant submit from a callback */
}

static void test_callback_requeues(void **state)
{
	FIXTURE_OR_SKIP(f);
	struct chain *ch = calloc(1, sizeof(*ch));
	assert_non_null(ch);
	ch->eng = f->eng;
	ch->left = 20;
	memset(ch->buf, 20, sizeof(ch->buf));
	ch->iov = (struct iovec){ ch->buf, sizeof(ch->buf) };
	ch->req = (struct io_req){ .op = IO_OP_WRITE, .fd = f->fd, .iov = &ch->iov, .iovcnt = 1,
				   .offset = 20 * sizeof(ch->buf), .done = chain_done, .opaque = ch };
	io_queue(f->eng, &ch->req);
	run_until_idle(f->eng, NULL);
	assert_int_equal(ch->done, 20);
	assert_int_equal(ch->err, 0);
	uint8_t back[512];
	for (unsigned i = 1; i <= 20; i++) {
		assert_int_equal(pread_full(f->fd, back, sizeof(back), (uint64_t)i * sizeof(back)), 0);
		assert_int_equal(back[0], i);
		assert_int_equal(back[511], i);
	}
	free(ch);
}

static void test_bad_request_refused(void **state)
{
	FIXTURE_OR_SKIP(f);
	uint8_t buf[16];
	struct iovec iov = { buf, sizeof(buf) };
	struct io_req req = { .op = IO_OP_WRITE, .fd = -1, .iov = &iov, .iovcnt = 1 };
	assert_int_equal(io_run_sync(f->eng, &req), -EBADF);
	struct io_req big = { .op = IO_OP_READ, .fd = f->fd, .iov = &iov, .iovcnt = 100000 };
	assert_int_equal(io_run_sync(f->eng, &big), -EINVAL);
	assert_int_equal(io_busy(f->eng), 0);
}

/* ---- engine choice ---- */

static void test_auto_fallback_env(void **state)
{
	(void)state;
	char why[256];
	struct io_engine *eng = NULL;
	assert_int_equal(setenv("FERRY_DISABLE_URING", "1", 1), 0);

	assert_int_equal(io_engine_create(ENGINE_AUTO, 32, &eng, why, sizeof(why)), 0);
	assert_non_null(eng);
	assert_ptr_equal(eng->ops, &io_engine_aio_ops);
	assert_non_null(strstr(why, "libaio"));
	assert_non_null(strstr(why, "io_uring unavailable"));
	assert_non_null(strstr(why, strerror(EPERM)));
	assert_non_null(strstr(why, "FERRY_DISABLE_URING"));
	/* and it works */
	uint8_t buf[8] = "fallback";
	char path[] = "/tmp/ferry-ioengine-fb-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	struct iovec iov = { buf, sizeof(buf) };
	struct io_req req = { .op = IO_OP_WRITE, .fd = fd, .iov = &iov, .iovcnt = 1 };
	assert_int_equal(io_run_sync(eng, &req), 8);
	close(fd);
	unlink(path);
	io_engine_free(eng);

	/* forcing io_uring under the same condition is an error, not a silent fallback */
	eng = NULL;
	assert_int_equal(io_engine_create(ENGINE_URING, 32, &eng, why, sizeof(why)), -EPERM);
	assert_null(eng);
	assert_non_null(strstr(why, "io_uring"));

	/* the switch reads as every FERRY_DISABLE_* does (env_flag): any value but "0" */
	assert_int_equal(setenv("FERRY_DISABLE_URING", "yes", 1), 0);
	assert_int_equal(io_engine_create(ENGINE_URING, 32, &eng, why, sizeof(why)), -EPERM);
	assert_int_equal(setenv("FERRY_DISABLE_URING", "0", 1), 0);
	assert_int_equal(io_engine_create(ENGINE_AUTO, 32, &eng, why, sizeof(why)), 0);
	assert_null(strstr(why, "FERRY_DISABLE_URING"));
	io_engine_free(eng);

	assert_int_equal(unsetenv("FERRY_DISABLE_URING"), 0);
}

static void test_choice_strings(void **state)
{
	(void)state;
	char why[256];
	struct io_engine *eng = NULL;
	unsetenv("FERRY_DISABLE_URING");
	assert_int_equal(io_engine_create(ENGINE_AIO, 16, &eng, why, sizeof(why)), 0);
	assert_string_equal(why, "libaio (forced by config)");
	assert_ptr_equal(eng->ops, &io_engine_aio_ops);
	io_engine_free(eng);

	assert_int_equal(io_engine_create(ENGINE_AUTO, 16, &eng, why, sizeof(why)), 0);
	if (eng->ops == &io_engine_uring_ops)
		assert_string_equal(why, "io_uring");
	else
		assert_non_null(strstr(why, "using libaio"));
	io_engine_free(eng);

	eng = NULL;
	assert_int_equal(io_engine_create(ENGINE_AUTO, 0, &eng, why, sizeof(why)), -EINVAL);
	assert_null(eng);
}

/* ---- generic layer on a mock engine: short transfers and refusals ---- */

struct mock {
	struct io_req *held[8];
	unsigned nheld;
	size_t max_chunk;	/* each kernel op moves at most this much */
	int refuse_fd;		/* submit refuses requests on this fd with -EINVAL */
	unsigned submits;
};
static struct mock mock;

static int mock_setup(struct io_engine *eng, unsigned depth)
{
	(void)depth;
	eng->event_fd = -1;
	return 0;
}
static void mock_teardown(struct io_engine *eng) { (void)eng; }

static int mock_submit(struct io_engine *eng, struct io_req **reqs, unsigned n)
{
	(void)eng;
	mock.submits++;
	unsigned i;
	for (i = 0; i < n && mock.nheld < ARRAY_SIZE(mock.held); i++) {
		if (reqs[i]->fd == mock.refuse_fd)
			return i ? (int)i : -EINVAL;
		mock.held[mock.nheld++] = reqs[i];
	}
	return (int)i;
}

static int mock_reap(struct io_engine *eng, bool wait)
{
	(void)wait;
	struct io_req *batch[8];
	unsigned n = mock.nheld;
	memcpy(batch, mock.held, n * sizeof(*batch));
	mock.nheld = 0;
	for (unsigned i = 0; i < n; i++) {
		struct io_req *req = batch[i];
		struct iovec tmp[16];
		int cnt = 0;
		size_t room = mock.max_chunk;
		for (int k = 0; k < req->iovcnt && room && cnt < 16; k++) {
			size_t l = MIN(room, req->iov[k].iov_len);
			tmp[cnt++] = (struct iovec){ req->iov[k].iov_base, l };
			room -= l;
		}
		ssize_t r = req->op == IO_OP_WRITE ? pwritev(req->fd, tmp, cnt, (off_t)req->offset)
						   : preadv(req->fd, tmp, cnt, (off_t)req->offset);
		io_engine_complete(eng, req, r < 0 ? -errno : (int)r);
	}
	return (int)n;
}

static const struct io_engine_ops mock_ops = {
	.name = "mock", .setup = mock_setup, .teardown = mock_teardown,
	.submit = mock_submit, .reap = mock_reap,
};

static void test_short_io_continuation(void **state)
{
	(void)state;
	char path[] = "/tmp/ferry-ioengine-mock-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	struct io_engine eng = { .ops = &mock_ops, .event_fd = -1, .depth = 4 };
	memset(&mock, 0, sizeof(mock));
	mock.refuse_fd = -2;
	mock.max_chunk = 77;	/* forces many partial transfers, crossing iovec boundaries */

	static uint8_t p1[50], p2[300], p3[1];
	for (size_t i = 0; i < sizeof(p1); i++)
		p1[i] = (uint8_t)(i + 1);
	for (size_t i = 0; i < sizeof(p2); i++)
		p2[i] = pattern(3, i);
	p3[0] = 0xee;
	struct iovec iov[3] = { { p1, sizeof(p1) }, { p2, sizeof(p2) }, { p3, 1 } };
	struct counter c = { .expect = 351 };
	struct io_req req = { .op = IO_OP_WRITE, .fd = fd, .iov = iov, .iovcnt = 3, .offset = 1000,
			      .done = count_done, .opaque = &c };
	io_queue(&eng, &req);
	run_until_idle(&eng, &c);
	assert_int_equal(c.ncalls, 1);
	assert_int_equal(c.last_res, 351);
	assert_ptr_equal(req.iov, iov);	/* same array, shifted in place */
	assert_true(mock.submits >= 5);	/* 351 / 77 -> 5 kernel ops */

	uint8_t back[351];
	assert_int_equal(pread_full(fd, back, sizeof(back), 1000), 0);
	assert_memory_equal(back, p1, sizeof(p1));
	assert_memory_equal(back + 50, p2, sizeof(p2));
	assert_int_equal(back[350], 0xee);

	/* short reads, then EOF in the middle: -EIO */
	uint8_t r1[200], r2[2000];
	struct iovec riov[2] = { { r1, sizeof(r1) }, { r2, sizeof(r2) } };
	struct counter rc = { .expect = 2200 };
	req = (struct io_req){ .op = IO_OP_READ, .fd = fd, .iov = riov, .iovcnt = 2, .offset = 1000,
			       .done = count_done, .opaque = &rc };
	io_queue(&eng, &req);
	run_until_idle(&eng, &rc);
	assert_int_equal(rc.ncalls, 1);
	assert_int_equal(rc.last_res, -EIO);
	/* what was read before EOF landed in the right places */
	assert_memory_equal(r1, back, 200);
	assert_memory_equal(r2, back + 200, 151);

	/* a refused request completes with the error; its neighbours still run */
	uint8_t x[10] = { 0 };
	struct iovec xi = { x, sizeof(x) };
	struct counter ok = { .expect = 10 }, bad = { .expect = 10 };
	struct io_req a = { .op = IO_OP_WRITE, .fd = fd, .iov = &xi, .iovcnt = 1, .done = count_done, .opaque = &ok };
	struct io_req b = { .op = IO_OP_WRITE, .fd = 12345, .iov = &xi, .iovcnt = 1, .done = count_done, .opaque = &bad };
	struct io_req d = { .op = IO_OP_WRITE, .fd = fd, .iov = &xi, .iovcnt = 1, .done = count_done, .opaque = &ok };
	mock.refuse_fd = 12345;
	io_queue(&eng, &a);
	io_queue(&eng, &b);
	io_queue(&eng, &d);
	run_until_idle(&eng, NULL);
	assert_int_equal(ok.nok, 2);
	assert_int_equal(bad.ncalls, 1);
	assert_int_equal(bad.last_res, -EINVAL);
	assert_int_equal(io_busy(&eng), 0);

	close(fd);
	unlink(path);
}

#define BOTH(fn)                                                   \
	{ "uring: " #fn, fn, setup_uring, teardown_engine, NULL }, \
	{ "aio: " #fn, fn, setup_aio, teardown_engine, NULL }

int main(void)
{
	unsetenv("FERRY_DISABLE_URING");
	const struct CMUnitTest tests[] = {
		BOTH(test_many_writes_then_reads),
		BOTH(test_fdatasync),
		BOTH(test_dsync_write),
		BOTH(test_writeback),
		BOTH(test_read_past_eof),
		BOTH(test_writev_readv_multi),
		BOTH(test_eventfd_readable),
		BOTH(test_callback_requeues),
		BOTH(test_bad_request_refused),
		cmocka_unit_test(test_auto_fallback_env),
		cmocka_unit_test(test_choice_strings),
		cmocka_unit_test(test_short_io_continuation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
