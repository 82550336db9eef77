/* Unit tests for the replication log: everything runs against real files in a temporary
 * directory and the real io engine (io_uring, or libaio where it is unavailable). Crashes are
 * simulated by replog_close(log, false), which writes nothing, and by corrupting bytes of the
 * file directly. The golden files are read back exactly: tests/golden/replog-v1.bin (written
 * by the version 1 code, frozen) and replog-v2.bin (regenerated, once and deliberately, with
 * FERRY_REGEN_GOLDEN=1). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/util.h"
#include "common/ioengine.h"
#include "datapath/replog-internal.h"
#include "datapath/replog.h"
#include "common/banned.h"

#define K 1024ull
#define GOLDEN "tests/golden/replog-v1.bin"	/* frozen: written by the version 1 code */
#define GOLDEN_V2 "tests/golden/replog-v2.bin"

static struct io_engine *eng;
static char tmpdir[64];

/* ---- helpers ---- */

struct tapp {
	struct replog_append a;
	int res;
	int order;
	bool done;
};

static int done_counter;

static void tdone(struct replog_append *a, int res)
{
	struct tapp *t = a->opaque;
	assert_false(t->done);
	t->done = true;
	t->res = res;
	t->order = done_counter++;
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static void tpath(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static struct replog *open_at(const char *path, uint64_t data, uint64_t meta, bool create,
			      bool ro)
{
	struct replog_open_opts o = { data, meta, create, ro };
	struct replog *log = NULL;
	char err[512];
	int r = replog_open(path, &o, &log, err, sizeof err);
	if (r != 0)
		print_error("replog_open: %s\n", err);
	assert_int_equal(r, 0);
	if (!ro)
		replog_set_engine(log, eng);
	return log;
}

static struct replog *open_log(const char *name, uint64_t data, uint64_t meta, bool create,
			       bool ro)
{
	char p[128];
	tpath(p, sizeof p, name);
	return open_at(p, data, meta, create, ro);
}

static void app(struct replog *log, struct tapp *t, uint32_t disk, uint16_t type, uint64_t off,
		uint32_t len, const void *payload, bool fua)
{
	memset(t, 0, sizeof(*t));
	t->a.disk_id = disk;
	t->a.type = type;
	t->a.fua = fua;
	t->a.offset = off;
	t->a.length = len;
	t->a.payload = payload;
	t->a.done = tdone;
	t->a.opaque = t;
	replog_append(log, &t->a);
}

static bool all_done(struct tapp *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!t[i].done)
			return false;
	return true;
}

static void wait_done(struct tapp *t, size_t n)
{
	assert_int_equal(io_submit_pending(eng), 0);
	while (!all_done(t, n)) {
		assert_true(io_busy(eng) > 0);
		int r = io_reap(eng, true);
		assert_true(r >= 0 || r == -EINTR);
		assert_int_equal(io_submit_pending(eng), 0);
	}
}

static void commit_wait(struct replog *log, struct tapp *t, size_t n)
{
	replog_commit(log);
	wait_done(t, n);
}

static void file_rw(const char *name, uint64_t off, void *buf, size_t len, bool write)
{
	char p[128];
	tpath(p, sizeof p, name);
	int fd = open(p, write ? O_RDWR : O_RDONLY);
	assert_true(fd >= 0);
	if (write)
		assert_int_equal(pwrite_full(fd, buf, len, off), 0);
	else
		assert_int_equal(pread_full(fd, buf, len, off), 0);
	close(fd);
}

static void flip_byte(const char *name, uint64_t off)
{
	uint8_t b;
	file_rw(name, off, &b, 1, false);
	b ^= 0x5a;
	file_rw(name, off, &b, 1, true);
}

/* Expected record for checking cursors. */
struct exp {
	uint64_t seq;
	uint16_t type;
	uint32_t disk;
	uint64_t off;
	uint32_t len;
	uint64_t seed;		/* payload pattern */
};

static void expect_records(struct replog *log, uint64_t from, const struct exp *e, size_t n)
{
	struct replog_cursor *c;
	struct replog_record rec;
	const void *pl;
	uint8_t *buf = malloc(1 << 20);

	assert_int_equal(replog_cursor_open(log, from, &c), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
		assert_int_equal(rec.seq, e[i].seq);
		assert_int_equal(rec.type, e[i].type);
		assert_int_equal(rec.disk_id, e[i].disk);
		assert_int_equal(rec.offset, e[i].off);
		assert_int_equal(rec.length, e[i].len);
		assert_true(rec.time_ns > 0);
		if (e[i].type == REPLOG_REC_WRITE && e[i].len) {
			fill(buf, e[i].len, e[i].seed);
			assert_non_null(pl);
			assert_memory_equal(pl, buf, e[i].len);
		}
	}
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 0);
	replog_cursor_close(c);
	free(buf);
}

static void register_two(struct replog *log, uint32_t *d1, uint32_t *d2)
{
	uint32_t dom;
	assert_int_equal(replog_register_disk(log, "dom1", "disk1", 16 << 20, &dom, d1), 0);
	assert_int_equal(dom, 1);
	assert_int_equal(replog_register_disk(log, "dom2", "disk2", 1 << 20, &dom, d2), 0);
	assert_int_equal(dom, 2);
}

/* ---- tests ---- */

static void test_create_reopen(void **state)
{
	(void)state;
	struct replog_stat st1, st2;
	uint32_t dom, d1, d2, d3;
	struct replog *log = open_log("c.log", 256 * K, 128 * K, true, false);

	assert_int_equal(replog_register_disk(log, "web", "web0", 10 << 20, &dom, &d1), 0);
	assert_int_equal(replog_register_disk(log, "db", "db0", 100ull << 30, &dom, &d2), 0);
	assert_int_equal(replog_register_disk(log, "db", "db1", 1 << 20, &dom, &d3), 0);
	assert_int_equal(dom, 2);
	assert_int_equal(d1, 1);
	assert_int_equal(d2, 2);
	assert_int_equal(d3, 3);
	assert_int_equal(replog_register_disk(log, "web", "db0", 1 << 20, &dom, &d1), -EEXIST);
	assert_int_equal(replog_register_disk(log, "web", "", 1 << 20, &dom, &d1), -EINVAL);
	char longname[REPLOG_NAME_MAX + 2];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	assert_int_equal(replog_register_disk(log, "web", longname, 1, &dom, &d1), -ENAMETOOLONG);
	assert_int_equal(replog_get_stat(log, &st1), 0);
	assert_int_equal(st1.disks[1].grain, 1u << 18);	/* 100G at 64K would not fit */
	replog_close(log, true);

	log = open_log("c.log", 0, 0, false, false);
	assert_int_equal(replog_get_stat(log, &st2), 0);
	assert_memory_equal(st1.uuid, st2.uuid, 16);
	assert_int_equal(st2.meta_off, 8192);
	assert_int_equal(st2.meta_size, 128 * K);
	assert_int_equal(st2.data_off, 8192 + 128 * K);
	assert_int_equal(st2.data_size, 256 * K);
	assert_int_equal(st2.open_gen, st1.open_gen + 1);
	assert_int_equal(st2.n_disks, 3);
	assert_string_equal(st2.disks[2].name, "db1");
	assert_string_equal(st2.disks[2].domain, "db");
	assert_int_equal(st2.disks[1].grain, st1.disks[1].grain);
	assert_int_equal(replog_register_disk(log, "db", "db1", 1 << 20, &dom, &d3), 0);
	assert_int_equal(d3, 3);
	assert_int_equal(dom, 2);
	replog_close(log, true);

	/* a geometry that does not match is refused */
	struct replog_open_opts o = { 512 * K, 128 * K, false, false };
	struct replog *bad;
	char err[256], p[128];
	tpath(p, sizeof p, "c.log");
	assert_int_equal(replog_open(p, &o, &bad, err, sizeof err), -1);
	assert_non_null(strstr(err, "geometry"));
	/* readonly opens never write: the superblocks are unchanged */
	uint8_t before[8192], after[8192];
	file_rw("c.log", 0, before, sizeof before, false);
	log = open_log("c.log", 0, 0, false, true);
	assert_int_equal(replog_register_disk(log, "x", "y", 1, &dom, &d1), -EROFS);
	replog_close(log, true);
	file_rw("c.log", 0, after, sizeof after, false);
	assert_memory_equal(before, after, sizeof before);
}

static void test_append_cursor(void **state)
{
	(void)state;
	static const uint32_t lens[] = { 0, 1, 4032, 4033, 8128, 20000, 512, 65536 };
	struct tapp t[40];
	struct exp e[40];
	uint8_t *pay[40];
	uint32_t d1, d2;
	size_t n = 0;
	struct replog *log = open_log("a.log", 4 << 20, 128 * K, true, false);

	register_two(log, &d1, &d2);
	done_counter = 0;
	/* three batches committed back to back before reaping: done() must stay in call order */
	for (int batch = 0; batch < 3; batch++) {
		for (int i = 0; i < 10; i++, n++) {
			bool zero = i % 4 == 3;
			uint32_t len = zero ? (uint32_t)(n + 1) * 65536 : lens[n % 8];
			pay[n] = malloc(len ? len : 1);
			fill(pay[n], len, n + 1);
			e[n] = (struct exp){ n + 1, zero ? REPLOG_REC_ZERO : REPLOG_REC_WRITE,
					     i % 2 ? d2 : d1, n * 4096, len, n + 1 };
			app(log, &t[n], e[n].disk, e[n].type, e[n].off, len, pay[n], i == 5);
		}
		replog_commit(log);
	}
	wait_done(t, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(t[i].res, REPLOG_LOGGED);
		assert_int_equal(t[i].order, (int)i);
		/* dense except for the PADs around large records (65536 bytes) */
		assert_true(i == 0 || t[i].a.seq > t[i - 1].a.seq);
		e[i].seq = t[i].a.seq;
	}
	expect_records(log, 0, e, n);
	expect_records(log, e[16].seq, e + 16, n - 16);
	replog_close(log, true);

	log = open_log("a.log", 0, 0, false, true);
	struct replog_stat st;
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_true(st.clean);
	assert_int_equal(st.tail_seq, 1);
	assert_int_equal(st.head_seq, e[n - 1].seq + 1);	/* no PAD after the last record */
	assert_int_equal(st.records, e[n - 1].seq);
	expect_records(log, 0, e, n);
	uint64_t bad;
	char why[128];
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);

	/* reopen read-write: appends continue the sequence */
	log = open_log("a.log", 0, 0, false, false);
	app(log, &t[0], d1, REPLOG_REC_ZERO, 0, 4096, NULL, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_LOGGED);
	assert_int_equal(t[0].a.seq, e[n - 1].seq + 1);
	replog_close(log, true);
	for (size_t i = 0; i < n; i++)
		free(pay[i]);
}

/* Ship everything written so far and reclaim; return bytes freed. */
static int64_t ship_all(struct replog *log, uint32_t dom, uint64_t upto)
{
	assert_int_equal(replog_mark_shipped(log, dom, upto), 0);
	int64_t r = replog_reclaim(log);
	assert_true(r >= 0);
	return r;
}

static void test_wrap_reclaim(void **state)
{
	(void)state;
	uint8_t pay[12000];
	struct tapp t[1];
	struct exp e[64];
	uint32_t d1, d2;
	uint64_t pads = 0, prev_seq = 0;
	size_t n = 0;
	struct replog *log = open_log("w.log", 64 * K, 128 * K, true, false);

	register_two(log, &d1, &d2);
	for (int i = 0; i < 30; i++) {
		fill(pay, sizeof pay, (uint64_t)i + 100);
		app(log, &t[0], d1, REPLOG_REC_WRITE, (uint64_t)i * 65536, sizeof pay, pay, false);
		commit_wait(log, t, 1);
		assert_int_equal(t[0].res, REPLOG_LOGGED);
		if (t[0].a.seq != prev_seq + 1)
			pads++;	/* a PAD took the sequence number in between */
		prev_seq = t[0].a.seq;
		e[n++] = (struct exp){ t[0].a.seq, REPLOG_REC_WRITE, d1, (uint64_t)i * 65536,
				       sizeof pay, (uint64_t)i + 100 };
		if (i < 27) {	/* keep the last three unshipped */
			assert_true(ship_all(log, 1, t[0].a.seq) > 0);
			n = 0;
		}
	}
	assert_true(pads >= 3);
	struct replog_stat st;
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.used_bytes, st.head_off >= st.tail_off ? st.head_off - st.tail_off :
			 64 * K - st.tail_off + st.head_off);
	expect_records(log, 0, e, n);
	replog_close(log, false);	/* crash */

	log = open_log("w.log", 0, 0, false, true);
	expect_records(log, 0, e, n);
	uint64_t bad;
	char why[128];
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);

	/* a restarted writer continues the dense sequence past the wrap */
	log = open_log("w.log", 0, 0, false, false);
	assert_int_equal(ship_all(log, 1, prev_seq), 36 * K);
	for (int i = 0; i < 8; i++) {
		fill(pay, sizeof pay, 7);
		app(log, &t[0], d1, REPLOG_REC_WRITE, 0, sizeof pay, pay, true);
		commit_wait(log, t, 1);
		assert_int_equal(t[0].res, REPLOG_LOGGED);
		assert_true(t[0].a.seq > prev_seq);
		prev_seq = t[0].a.seq;
		ship_all(log, 1, prev_seq);
	}
	replog_close(log, true);
	log = open_log("w.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.tail_seq, prev_seq + 1);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);
}

/* Write six 8K records (seq 1..6 at ring offsets 0, 8K, ... 40K). */
static void write_six(struct replog *log, uint32_t disk, uint64_t seed)
{
	uint8_t pay[8000];
	struct tapp t[6];
	for (int i = 0; i < 6; i++) {
		fill(pay, sizeof pay, seed + (uint64_t)i);
		app(log, &t[i], disk, REPLOG_REC_WRITE, (uint64_t)i * 8192, sizeof pay, pay, false);
		commit_wait(log, t + i, 1);
		assert_int_equal(t[i].res, REPLOG_LOGGED);
	}
}

static void test_torn_tail(void **state)
{
	(void)state;
	uint32_t d1, d2;
	struct replog_stat st;
	struct replog *log = open_log("t.log", 1 << 20, 128 * K, true, false);
	register_two(log, &d1, &d2);
	write_six(log, d1, 10);
	replog_close(log, false);

	/* tear the payload end of the last record */
	uint8_t junk[3000];
	memset(junk, 0xee, sizeof junk);
	uint64_t data_off = 8192 + 128 * K;
	file_rw("t.log", data_off + 5 * 8192 + 5000, junk, sizeof junk, true);

	log = open_log("t.log", 0, 0, false, false);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.head_seq, 6);
	assert_int_equal(st.head_off, 5 * 8192);
	struct tapp t[1];
	app(log, &t[0], d2, REPLOG_REC_ZERO, 0, 4096, NULL, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].a.seq, 6);
	replog_close(log, false);

	log = open_log("t.log", 0, 0, false, true);
	struct exp e[6];
	for (int i = 0; i < 5; i++)
		e[i] = (struct exp){ (uint64_t)i + 1, REPLOG_REC_WRITE, d1, (uint64_t)i * 8192, 8000,
				     10 + (uint64_t)i };
	e[5] = (struct exp){ 6, REPLOG_REC_ZERO, d2, 0, 4096, 0 };
	expect_records(log, 0, e, 6);
	replog_close(log, false);
}

static void test_generation_rule(void **state)
{
	(void)state;
	uint32_t d1, d2;
	struct replog_stat st;
	uint64_t data_off = 8192 + 128 * K;
	struct replog *log = open_log("g.log", 1 << 20, 128 * K, true, false);
	register_two(log, &d1, &d2);
	write_six(log, d1, 10);
	replog_close(log, false);

	/* record 4 is torn: recovery stops at 4, while records 5 and 6 are intact behind it */
	flip_byte("g.log", data_off + 3 * 8192 + 200);
	log = open_log("g.log", 0, 0, false, false);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.head_seq, 4);
	/* the new session writes seq 4 and 5 over the old 4 and 5, then crashes */
	uint8_t pay[8000];
	struct tapp t[2];
	for (int i = 0; i < 2; i++) {
		fill(pay, sizeof pay, 50 + (uint64_t)i);
		app(log, &t[i], d1, REPLOG_REC_WRITE, 1 << 20, sizeof pay, pay, false);
		commit_wait(log, t + i, 1);
		assert_int_equal(t[i].a.seq, 4 + (uint64_t)i);
	}
	replog_close(log, false);

	/* the old record 6 sits exactly where seq 6 is expected, but is from the old session */
	uint8_t hdr[REPLOG_REC_HDR_SIZE];
	struct replog_record rec;
	char why[128];
	file_rw("g.log", data_off + 5 * 8192, hdr, sizeof hdr, false);
	assert_int_equal(rl_rec_decode(hdr, &rec, why, sizeof why), 0);
	assert_int_equal(rec.seq, 6);
	assert_int_equal(rec.gen, 1);	/* the new session's records carry gen 2 */

	log = open_log("g.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.head_seq, 6);
	assert_int_equal(st.head_off, 5 * 8192);
	struct exp e[5];
	for (int i = 0; i < 3; i++)
		e[i] = (struct exp){ (uint64_t)i + 1, REPLOG_REC_WRITE, d1, (uint64_t)i * 8192, 8000,
				     10 + (uint64_t)i };
	for (int i = 0; i < 2; i++)
		e[3 + i] = (struct exp){ 4 + (uint64_t)i, REPLOG_REC_WRITE, d1, 1 << 20, 8000,
					 50 + (uint64_t)i };
	expect_records(log, 0, e, 5);
	uint64_t bad;
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);
}

static void check_bits(const uint8_t *bits, uint64_t nbits, const uint64_t *set, size_t nset)
{
	for (uint64_t i = 0; i < nbits; i++) {
		bool want = false;
		for (size_t k = 0; k < nset; k++)
			want = want || set[k] == i;
		if (want != !!(bits[i / 8] & (1u << (i % 8))))
			fail_msg("bit %" PRIu64 " should be %d", i, want);
	}
}

static void test_overflow(void **state)
{
	(void)state;
	static const uint64_t want[] = { 3, 4, 5, 6, 16, 80 };
	uint8_t pay[8000];
	struct tapp t[8];
	uint32_t d1, d2, grain;
	struct replog_stat st;
	uint8_t *bits;
	uint64_t nbits;
	struct replog *log = open_log("o.log", 32 * K, 128 * K, true, false);

	register_two(log, &d1, &d2);
	fill(pay, sizeof pay, 1);
	for (int i = 0; i < 3; i++)
		app(log, &t[i], d1, REPLOG_REC_WRITE, (uint64_t)i * 8192, sizeof pay, pay, false);
	app(log, &t[3], d1, REPLOG_REC_WRITE, 5 << 20, sizeof pay, pay, false);	/* no room */
	app(log, &t[4], d1, REPLOG_REC_WRITE, 1 << 20, 4096, pay, true);
	app(log, &t[5], d1, REPLOG_REC_ZERO, 3 * 65536, 200 * 1024, NULL, false);
	app(log, &t[6], d2, REPLOG_REC_ZERO, 0, 4096, NULL, false);	/* other domain: fits */
	app(log, &t[7], d1, REPLOG_REC_ZERO, 1 << 20, 100, NULL, false);	/* bit already set */
	done_counter = 0;
	commit_wait(log, t, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(t[i].order, i);
	assert_int_equal(t[0].res, REPLOG_LOGGED);
	assert_int_equal(t[2].res, REPLOG_LOGGED);
	assert_int_equal(t[3].res, REPLOG_OVERFLOWED);
	assert_int_equal(t[4].res, REPLOG_OVERFLOWED);
	assert_int_equal(t[5].res, REPLOG_OVERFLOWED);
	assert_int_equal(t[6].res, REPLOG_LOGGED);
	assert_int_equal(t[6].a.seq, 4);
	assert_int_equal(t[7].res, REPLOG_OVERFLOWED);
	/* a bit-only batch with nothing new completes without I/O, still in order */
	app(log, &t[0], d1, REPLOG_REC_ZERO, 3 * 65536, 1, NULL, false);
	replog_commit(log);
	assert_true(t[0].done);
	assert_int_equal(t[0].res, REPLOG_OVERFLOWED);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_true(st.domains[0].overflow);
	assert_false(st.domains[1].overflow);
	assert_int_equal(st.disks[0].dirty_bits, 6);
	replog_close(log, false);	/* crash: the bitmap and flag must be on disk already */

	log = open_log("o.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_true(st.domains[0].overflow);
	assert_int_equal(st.disks[0].dirty_bits, 6);
	assert_int_equal(replog_dirty_take(log, d1, &bits, &nbits, &grain), 0);
	assert_int_equal(grain, 65536);
	assert_int_equal(nbits, 256);
	check_bits(bits, nbits, want, 6);
	free(bits);
	replog_close(log, false);

	/* still in overflow after a restart, even with room in the ring */
	log = open_log("o.log", 0, 0, false, false);
	assert_int_equal(ship_all(log, 1, 3), 24 * K);
	assert_int_equal(ship_all(log, 2, 4), 512);
	app(log, &t[0], d1, REPLOG_REC_ZERO, 0, 4096, NULL, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_OVERFLOWED);
	/* a read-only copy changes nothing */
	assert_int_equal(replog_dirty_take(log, d1, &bits, &nbits, &grain), 0);
	static const uint64_t want2[] = { 0, 3, 4, 5, 6, 16, 80 };
	check_bits(bits, nbits, want2, 7);
	free(bits);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_true(st.domains[0].overflow);
	assert_int_equal(st.disks[0].dirty_bits, 7);
	/* the resync ends the overflow, keeps the bits until it ends */
	struct replog_resync *rs;
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);
	assert_int_equal(rs->n_disks, 1);
	assert_int_equal(rs->disks[0].disk_id, d1);
	assert_int_equal(rs->disks[0].grain, 65536);
	assert_int_equal(rs->disks[0].nbits, 256);
	assert_int_equal(rs->set, 7);
	check_bits(rs->disks[0].bits, rs->disks[0].nbits, want2, 7);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_false(st.domains[0].overflow);
	assert_int_equal(st.disks[0].dirty_bits, 7);
	assert_int_equal(replog_dirty_end_resync(log, 1, rs), 0);
	replog_resync_free(rs);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_false(st.domains[0].overflow);
	assert_int_equal(st.disks[0].dirty_bits, 0);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 0);
	assert_null(rs);
	app(log, &t[0], d1, REPLOG_REC_WRITE, 0, sizeof pay, pay, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_LOGGED);
	assert_int_equal(t[0].a.seq, 6);	/* a PAD (seq 5) filled 24.5K..32K */
	replog_close(log, false);

	log = open_log("o.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_false(st.domains[0].overflow);
	assert_int_equal(st.disks[0].dirty_bits, 0);
	assert_int_equal(st.head_seq, 7);
	assert_int_equal(st.head_off, 8 * K);
	replog_close(log, false);
}

/* ---- resync handover ---- */

/* The newest valid metadata table of the log file (what a restart would load). */
static void read_table(const char *name, struct rl_meta *m)
{
	static uint8_t buf[2 * RL_TABLE_SIZE];
	struct rl_meta *b = malloc(sizeof(*b));
	char why[96];
	assert_non_null(b);
	file_rw(name, RL_META_OFF, buf, sizeof buf, false);
	int ra = rl_meta_decode(buf, 128 * K, m, why, sizeof why);
	int rb = rl_meta_decode(buf + RL_TABLE_SIZE, 128 * K, b, why, sizeof why);
	assert_true(ra == 0 || rb == 0);
	if (rb == 0 && (ra != 0 || b->gen > m->gen))
		*m = *b;
	free(b);
}

/* Fill the 32K ring with disk1 writes until dom1 overflows; then set bits 7 and 9. */
static void overflow_dom1(struct replog *log, uint32_t d1)
{
	static uint8_t pay[8000];
	struct tapp t[1];
	fill(pay, sizeof pay, 3);
	for (int i = 0; i < 8; i++) {
		app(log, &t[0], d1, REPLOG_REC_WRITE, (uint64_t)i * 8192, sizeof pay, pay, false);
		commit_wait(log, t, 1);
		if (t[0].res == REPLOG_OVERFLOWED)
			break;
		assert_int_equal(t[0].res, REPLOG_LOGGED);
	}
	assert_int_equal(t[0].res, REPLOG_OVERFLOWED);	/* bit 0 */
	app(log, &t[0], d1, REPLOG_REC_ZERO, 7 * 65536, 65536 + 1, NULL, false);	/* 7, 8 */
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_OVERFLOWED);
}

static uint64_t dirty_bits_of(struct replog *log, size_t disk)
{
	struct replog_stat st;
	assert_int_equal(replog_get_stat(log, &st), 0);
	return st.disks[disk].dirty_bits;
}

/* The table keeps both flags; an unknown flag bit makes the copy invalid. */
static void test_meta_resync_flag(void **state)
{
	(void)state;
	struct rl_meta *m = calloc(1, sizeof(*m)), *d = calloc(1, sizeof(*d));
	uint8_t *buf = calloc(1, RL_TABLE_SIZE);
	char why[96];
	assert_non_null(m);
	assert_non_null(d);
	assert_non_null(buf);
	m->gen = 3;
	m->bitmap_end = RL_BITMAP_START;
	m->n_domains = 2;
	snprintf(m->domains[0].name, sizeof m->domains[0].name, "a");
	m->domains[0].id = 1;
	m->domains[0].overflow = true;
	m->domains[0].resync = true;
	snprintf(m->domains[1].name, sizeof m->domains[1].name, "b");
	m->domains[1].id = 2;
	m->domains[1].resync = true;
	rl_meta_encode(m, buf);
	assert_int_equal(get_le32(buf + RL_MT_DOM_OFF + 68), 3);
	assert_int_equal(rl_meta_decode(buf, 128 * K, d, why, sizeof why), 0);
	assert_true(d->domains[0].overflow && d->domains[0].resync);
	assert_true(!d->domains[1].overflow && d->domains[1].resync);
	put_le32(buf + RL_MT_DOM_OFF + RL_MT_DOM_SIZE + 68, 4);
	put_le32(buf + RL_MT_O_CRC, 0);
	put_le32(buf + RL_MT_O_CRC, crc32c(0, buf, RL_TABLE_SIZE));
	assert_int_equal(rl_meta_decode(buf, 128 * K, d, why, sizeof why), -1);
	assert_string_equal(why, "bad domain entry 1");
	free(m);
	free(d);
	free(buf);
}

static void test_resync_crash(void **state)
{
	(void)state;
	static const uint64_t want[] = { 0, 7, 8 };
	struct replog_resync *rs;
	struct replog_stat st;
	struct rl_meta *m = malloc(sizeof(*m));
	uint32_t d1, d2;
	struct replog *log = open_log("rs.log", 32 * K, 128 * K, true, false);

	assert_non_null(m);
	register_two(log, &d1, &d2);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 0);	/* nothing to do */
	assert_null(rs);
	assert_int_equal(replog_dirty_begin_resync(log, 9, &rs), -ENOENT);
	overflow_dom1(log, d1);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);
	assert_int_equal(rs->set, 3);
	check_bits(rs->disks[0].bits, rs->disks[0].nbits, want, 3);
	read_table("rs.log", m);
	assert_false(m->domains[0].overflow);
	assert_true(m->domains[0].resync);
	assert_false(m->domains[1].resync);
	replog_resync_free(rs);
	replog_close(log, false);	/* crash before the resync point is durable */

	/* the bits and the pending state survived; a read-only open shows them */
	log = open_log("rs.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_false(st.domains[0].overflow);
	assert_int_equal(st.disks[0].dirty_bits, 3);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), -EROFS);
	replog_close(log, false);

	log = open_log("rs.log", 0, 0, false, false);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);	/* same bits again */
	check_bits(rs->disks[0].bits, rs->disks[0].nbits, want, 3);
	assert_int_equal(replog_dirty_end_resync(log, 2, rs), -EINVAL);	/* wrong domain */
	assert_int_equal(replog_dirty_end_resync(log, 1, rs), 0);
	replog_resync_free(rs);
	assert_int_equal(dirty_bits_of(log, 0), 0);
	replog_close(log, false);	/* crash right after the end: it is durable */

	log = open_log("rs.log", 0, 0, false, true);
	assert_int_equal(dirty_bits_of(log, 0), 0);
	replog_close(log, false);
	read_table("rs.log", m);
	assert_false(m->domains[0].overflow);
	assert_false(m->domains[0].resync);
	free(m);
}

static void test_resync_reoverflow(void **state)
{
	(void)state;
	static const uint64_t want2[] = { 0, 7, 8, 200 };
	uint8_t pay[8000];
	struct tapp t[1];
	struct replog_resync *rs, *rs2;
	struct replog_stat st;
	uint32_t d1, d2;
	struct replog *log = open_log("rx.log", 32 * K, 128 * K, true, false);

	register_two(log, &d1, &d2);
	overflow_dom1(log, d1);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);
	/* the ring is still full: the next write overflows again and sets bit 200 */
	fill(pay, sizeof pay, 5);
	app(log, &t[0], d1, REPLOG_REC_WRITE, 200 * 65536, sizeof pay, pay, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_OVERFLOWED);
	assert_int_equal(replog_dirty_end_resync(log, 1, rs), 1);	/* clears nothing */
	replog_resync_free(rs);
	assert_int_equal(dirty_bits_of(log, 0), 4);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_true(st.domains[0].overflow);

	/* next round: old and new bits; room in the ring now, so writes are logged */
	assert_int_equal(ship_all(log, 1, st.head_seq - 1) > 0, 1);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);
	check_bits(rs->disks[0].bits, rs->disks[0].nbits, want2, 4);
	app(log, &t[0], d1, REPLOG_REC_WRITE, 0, sizeof pay, pay, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_LOGGED);
	/* a second begin supersedes the first: ending the first clears nothing */
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs2), 1);
	assert_int_equal(replog_dirty_end_resync(log, 1, rs), 1);
	assert_int_equal(dirty_bits_of(log, 0), 4);
	assert_int_equal(replog_dirty_end_resync(log, 1, rs2), 0);
	assert_int_equal(dirty_bits_of(log, 0), 0);
	replog_resync_free(rs);
	replog_resync_free(rs2);
	replog_close(log, false);

	log = open_log("rx.log", 0, 0, false, true);
	assert_int_equal(dirty_bits_of(log, 0), 0);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_false(st.domains[0].overflow);
	replog_close(log, true);
}

static void test_verify(void **state)
{
	(void)state;
	uint32_t d1, d2;
	uint64_t bad, data_off = 8192 + 128 * K;
	char why[128];
	struct replog *log = open_log("v.log", 1 << 20, 128 * K, true, false);
	register_two(log, &d1, &d2);
	write_six(log, d1, 3);
	replog_close(log, true);

	log = open_log("v.log", 0, 0, false, true);
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);

	flip_byte("v.log", data_off + 2 * 8192 + 3000);	/* payload of record 3 */
	log = open_log("v.log", 0, 0, false, true);
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 1);
	assert_int_equal(bad, data_off + 2 * 8192);
	assert_string_equal(why, "crc mismatch");
	replog_close(log, false);

	flip_byte("v.log", data_off + 2 * 8192 + 3000);
	flip_byte("v.log", data_off + 1 * 8192);		/* magic of record 2 */
	log = open_log("v.log", 0, 0, false, true);
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 1);
	assert_int_equal(bad, data_off + 8192);
	assert_string_equal(why, "bad magic");
	replog_close(log, false);
}

/* Records are 512-byte aligned: a 4 KiB WRITE occupies 4608 bytes of ring, the next record
 * starts right after it, the padding is zeros, and recovery finds the same head. */
static void test_rec_align(void **state)
{
	(void)state;
	static const struct {
		uint16_t type;
		uint32_t len;
		uint64_t size;
	} r[] = {
		{ REPLOG_REC_WRITE, 4096, 4608 }, { REPLOG_REC_WRITE, 4096, 4608 },
		{ REPLOG_REC_ZERO, 65536, 512 }, { REPLOG_REC_WRITE, 100, 512 },
		{ REPLOG_REC_WRITE, 4032, 4096 }, { REPLOG_REC_WRITE, 4033, 4608 },
		{ REPLOG_REC_WRITE, 4096, 4608 },
	};
	enum { N = ARRAY_SIZE(r) };
	uint64_t data_off = 8192 + 128 * K, off = 0;
	uint8_t pay[4096], pad[512], zeros[512] = { 0 }, junk[32768];
	struct replog_cursor *c;
	struct replog_record rec;
	struct replog_stat st;
	const void *pl;
	struct tapp t[N];
	uint32_t d1, d2;
	struct replog *log = open_log("r.log", 1 << 20, 128 * K, true, false);

	register_two(log, &d1, &d2);
	memset(junk, 0xee, sizeof junk);	/* so padding that is not written shows */
	file_rw("r.log", data_off, junk, sizeof junk, true);
	fill(pay, sizeof pay, 5);
	for (size_t i = 0; i < N; i++)
		app(log, &t[i], d1, r[i].type, i * 8192, r[i].len, pay, false);
	commit_wait(log, t, N);
	assert_int_equal(replog_cursor_open(log, 0, &c), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(t[i].res, REPLOG_LOGGED);
		assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
		assert_int_equal(rec.rec_size, r[i].size);
		assert_int_equal(rec.log_off, off);
		assert_int_equal(rec.log_off % 512, 0);
		off += rec.rec_size;
	}
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 0);
	replog_cursor_close(c);
	assert_int_equal(off, 23552);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.head_off, off);
	assert_int_equal(st.used_bytes, off);
	replog_close(log, false);	/* crash: the scan must find the same head */

	/* a 4 KiB WRITE's padding is 448 zero bytes (4608 - 64 - 4096); the last record (a 4 KiB
	 * WRITE) ends at 23K; the rest of that 4 KiB page is zeroes (written so the next batch
	 * never has to read the page first), and nothing after the page was written */
	file_rw("r.log", data_off + 64 + 4096, pad, 448, false);
	assert_memory_equal(pad, zeros, 448);
	file_rw("r.log", data_off + off - 448, pad, 448, false);
	assert_memory_equal(pad, zeros, 448);
	for (uint64_t z = off; z < ROUND_UP(off, 4096); z += sizeof pad) {
		file_rw("r.log", data_off + z, pad, sizeof pad, false);
		assert_memory_equal(pad, zeros, sizeof pad);
	}
	file_rw("r.log", data_off + ROUND_UP(off, 4096), pad, sizeof pad, false);
	assert_memory_equal(pad, junk, sizeof pad);
	log = open_log("r.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.head_seq, N + 1);
	assert_int_equal(st.head_off, off);
	uint64_t bad;
	char why[128];
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);
}

static void test_decoders(void **state)
{
	(void)state;
	uint8_t blk[REPLOG_BLOCK];
	struct rl_sb sb = { .version = REPLOG_VERSION, .gen = 3, .meta_off = 8192, .meta_size = 65536,
			    .data_off = 8192 + 65536, .data_size = 8192, .open_gen = 2,
			    .tail_seq = 1, .head_seq = 1 }, out;
	char why[128];
	rl_sb_encode(&sb, blk);
	assert_int_equal(rl_sb_decode(blk, &out, why, sizeof why), 0);
	assert_int_equal(out.gen, 3);
	blk[100] ^= 1;
	assert_int_equal(rl_sb_decode(blk, &out, why, sizeof why), -1);
	assert_string_equal(why, "superblock crc mismatch");
	/* ring offsets are 512-aligned, not 4096-aligned */
	sb.tail_off = 512;
	sb.head_off = 7680;
	rl_sb_encode(&sb, blk);
	assert_int_equal(rl_sb_decode(blk, &out, why, sizeof why), 0);
	assert_int_equal(out.head_off, 7680);
	sb.head_off = 7936;
	rl_sb_encode(&sb, blk);
	assert_int_equal(rl_sb_decode(blk, &out, why, sizeof why), -1);
	assert_string_equal(why, "bad head/tail in superblock");

	uint8_t hdr[REPLOG_REC_HDR_SIZE];
	struct replog_record r = { .seq = 9, .type = REPLOG_REC_PAD, .length = 1536, .gen = 1 };
	rl_rec_encode(hdr, &r, NULL);
	assert_int_equal(rl_rec_decode(hdr, &r, why, sizeof why), 0);
	assert_true(rl_rec_crc_ok(hdr, NULL, 0));
	assert_int_equal(r.rec_size, 1536);
	put_le32(hdr + RL_REC_O_LENGTH, 100);	/* PAD length must be whole 512-byte units */
	assert_int_equal(rl_rec_decode(hdr, &r, why, sizeof why), -1);
	assert_string_equal(why, "bad PAD length 100");
	assert_int_equal(rl_rec_size(REPLOG_REC_WRITE, 4096), 4608);
	assert_int_equal(rl_rec_size(REPLOG_REC_WRITE, 448), 512);
	assert_int_equal(rl_rec_size(REPLOG_REC_WRITE, 449), 1024);
	assert_int_equal(rl_rec_size(REPLOG_REC_ZERO, 1 << 20), 512);
	put_le16(hdr + RL_REC_O_TYPE, 9);
	assert_int_equal(rl_rec_decode(hdr, &r, why, sizeof why), -1);
	assert_string_equal(why, "bad record type 9");
}

/* ---- golden file ---- */

static const struct exp golden_recs[] = {
	{ 7, REPLOG_REC_WRITE, 1, 12288, 20000, 7 },
	{ 8, REPLOG_REC_WRITE, 2, 131072, 40000, 8 },
	{ 10, REPLOG_REC_WRITE, 1, 40960, 30000, 10 },
	{ 11, REPLOG_REC_ZERO, 1, 262144, 65536, 0 },
};

/* Open a golden file read-only (it must be there: tests run from the source tree). */
static struct replog *open_golden(const char *path, struct replog_stat *st, uint32_t version)
{
	struct stat sbuf;
	if (stat(path, &sbuf) < 0)
		fail_msg("%s missing (run from the source tree)", path);
	struct replog *log = open_at(path, 128 * K, 96 * K, false, true);
	assert_int_equal(replog_get_stat(log, st), 0);
	assert_int_equal(st->version, version);
	assert_true(st->clean);
	return log;
}

/* A scratch copy of a golden file, to open read-write. */
static void copy_golden(const char *from, const char *name)
{
	char p[128];
	struct stat sbuf;
	tpath(p, sizeof p, name);
	assert_int_equal(stat(from, &sbuf), 0);
	uint8_t *all = malloc((size_t)sbuf.st_size);
	int in = open(from, O_RDONLY), out = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(all && in >= 0 && out >= 0);
	assert_int_equal(pread_full(in, all, (size_t)sbuf.st_size, 0), 0);
	assert_int_equal(pwrite_full(out, all, (size_t)sbuf.st_size, 0), 0);
	close(in);
	close(out);
	free(all);
}

static void test_golden(void **state)
{
	(void)state;
	struct replog_stat st;
	struct replog *log = open_golden(GOLDEN, &st, 1);
	assert_int_equal(st.meta_off, 8192);
	assert_int_equal(st.data_off, 8192 + 96 * K);
	assert_int_equal(st.tail_seq, 7);
	assert_int_equal(st.tail_off, 46592);	/* 512-aligned, not 4096-aligned */
	assert_int_equal(st.head_seq, 12);
	assert_int_equal(st.head_off, 30720);
	assert_int_equal(st.records, 5);
	assert_int_equal(st.used_bytes, 115200);
	assert_int_equal(st.n_domains, 2);
	assert_string_equal(st.domains[0].name, "alpha");
	assert_false(st.domains[0].overflow);
	assert_int_equal(st.domains[0].shipped_seq, 6);
	assert_string_equal(st.domains[1].name, "beta");
	assert_true(st.domains[1].overflow);
	assert_int_equal(st.n_disks, 2);
	assert_string_equal(st.disks[1].name, "gold-b");
	assert_int_equal(st.disks[1].grain, 65536);
	assert_int_equal(st.disks[1].dirty_bits, 4);
	expect_records(log, 0, golden_recs, ARRAY_SIZE(golden_recs));
	static const uint64_t golden_offs[] = { 46592, 67072, 0, 30208 };
	static const uint64_t golden_sizes[] = { 20480, 40448, 30208, 512 };
	struct replog_cursor *c;
	struct replog_record rec;
	const void *pl;
	assert_int_equal(replog_cursor_open(log, 0, &c), 0);
	for (size_t i = 0; i < ARRAY_SIZE(golden_offs); i++) {
		assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
		assert_int_equal(rec.log_off, golden_offs[i]);
		assert_int_equal(rec.rec_size, golden_sizes[i]);
	}
	replog_cursor_close(c);

	uint8_t *bits;
	uint64_t nbits;
	uint32_t grain;
	static const uint64_t want[] = { 3, 4, 16, 17 };
	assert_int_equal(replog_dirty_take(log, 2, &bits, &nbits, &grain), 0);
	assert_int_equal(nbits, 32);
	check_bits(bits, nbits, want, 4);
	free(bits);

	/* the PAD record at ring offset 105K, raw */
	uint8_t hdr[REPLOG_REC_HDR_SIZE];
	char why[128];
	int fd = open(GOLDEN, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread_full(fd, hdr, sizeof hdr, st.data_off + 105 * K), 0);
	close(fd);
	assert_int_equal(rl_rec_decode(hdr, &rec, why, sizeof why), 0);
	assert_int_equal(rec.type, REPLOG_REC_PAD);
	assert_int_equal(rec.seq, 9);
	assert_int_equal(rec.length, 23 * K);

	uint64_t bad;
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, true);
}

/* Large WRITE records go O_DIRECT for their whole pages (where the file system allows it,
 * as ext4 and tmpfs-less /tmp do here); small ones through the page cache. Mixed sizes over
 * several laps of the ring (so pages change between direct and buffered writes, and
 * buffered writes land in pages a direct write left uncached), read back exactly, after
 * a crash too. */
static void test_direct_records(void **state)
{
	(void)state;
	enum { N = 24 };
	struct tapp t[N];
	struct exp e[N];
	uint8_t *pay[N];
	uint32_t d1, d2;
	struct replog *log = open_log("dx.log", 4096 * K, 128 * K, true, false);
	struct replog_stat st;

	register_two(log, &d1, &d2);
	assert_int_equal(replog_get_stat(log, &st), 0);
	if (!st.direct)
		print_message("(no O_DIRECT on %s: records all go through the page cache)\n", tmpdir);
	uint64_t rng = 7, last = 0;
	for (int lap = 0; lap < 12; lap++) {
		for (int i = 0; i < N; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			/* a third large (64 KiB .. 320 KiB, not always a 512 multiple), the rest small */
			uint32_t len = (rng >> 33) % 3 == 0 ? 65536 + (uint32_t)((rng >> 20) % (256 * K))
							    : 512 * (1 + (uint32_t)((rng >> 40) % 16));
			pay[i] = replog_payload_alloc(len);
			fill(pay[i], len, (uint64_t)(lap * N + i));
			uint64_t off = ((rng >> 8) % 256) * 4096;
			app(log, &t[i], d1, REPLOG_REC_WRITE, off, len, pay[i], i % 7 == 3);
			e[i] = (struct exp){ 0, REPLOG_REC_WRITE, d1, off, len, (uint64_t)(lap * N + i) };
			if (i % 4 == 3)
				replog_commit(log);	/* several batches in flight */
		}
		commit_wait(log, t, N);
		for (int i = 0; i < N; i++) {
			assert_int_equal(t[i].res, REPLOG_LOGGED);
			e[i].seq = t[i].a.seq;
		}
		/* PAD records take sequence numbers in between: read from the first one */
		struct replog_cursor *c;
		struct replog_record rec;
		const void *pl;
		uint8_t *want = malloc(512 * K);
		assert_int_equal(replog_cursor_open(log, e[0].seq, &c), 0);
		for (int i = 0; i < N; i++) {
			assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
			assert_int_equal(rec.seq, e[i].seq);
			assert_int_equal(rec.length, e[i].len);
			fill(want, e[i].len, e[i].seed);
			assert_memory_equal(pl, want, e[i].len);
		}
		replog_cursor_close(c);
		free(want);
		for (int i = 0; i < N; i++)
			replog_payload_free(pay[i]);
		last = e[N - 1].seq;
		if (lap < 11)
			ship_all(log, 1, last);
	}
	uint64_t bad;
	char why[128];
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);	/* crash: the recovery scan finds every record */
	log = open_log("dx.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.head_seq, last + 1);
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);
}

/* replog_settle_wait: a cut waits for every record placed before it to settle. Records
 * 1..3 placed, only the first settled (a write still in flight below two others): the wait
 * times out; once another thread settles the rest, it returns 0 and a cursor reads all
 * three (the case of a point that left out a write acknowledged before it was cut). */
struct settler {
	struct replog *log;
	uint64_t seq;
	_Atomic bool go;
};

static void *settle_later(void *arg)
{
	struct settler *s = arg;
	while (!atomic_load(&s->go))
		sched_yield();
	replog_set_settled(s->log, s->seq);
	return NULL;
}

static void test_settle_wait(void **state)
{
	(void)state;
	static uint8_t pay[3][4096];
	struct tapp t[3];
	uint32_t d1, d2;
	struct replog *log = open_log("sw.log", 256 * K, 128 * K, true, false);
	struct replog_cursor *c;
	struct replog_record rec;
	const void *pl;

	register_two(log, &d1, &d2);
	assert_int_equal(replog_settle_wait(log, 0), 0);	/* nothing settled yet: no tracking */
	for (int i = 0; i < 3; i++) {
		fill(pay[i], sizeof pay[i], (uint64_t)i + 7);
		app(log, &t[i], d1, REPLOG_REC_WRITE, (uint64_t)i * 65536, sizeof pay[i], pay[i],
		    false);
	}
	commit_wait(log, t, 3);
	replog_set_settled(log, t[0].a.seq);
	assert_int_equal(replog_settle_wait(log, 20), -ETIMEDOUT);

	struct settler s = { .log = log, .seq = t[2].a.seq };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, settle_later, &s), 0);
	atomic_store(&s.go, true);
	assert_int_equal(replog_settle_wait(log, 600000), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(replog_cursor_open(log, 0, &c), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
		assert_int_equal(rec.seq, t[i].a.seq);
	}
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 0);
	replog_cursor_close(c);
	replog_close(log, true);
}

/* A primary write that failed after its record was logged: REPLOG_MARK_DIRTY sets the
 * extent's bits and "resync pending" (the next point re-reads it from the primary); the
 * settled point keeps cursors from reading a record before its primary write has ended;
 * a resync begun before the mark keeps every bit when it ends. */
static void test_mark_dirty_settled(void **state)
{
	(void)state;
	static uint8_t pay[3][4096];
	struct tapp t[4];
	uint32_t d1, d2;
	struct replog *log = open_log("md.log", 256 * K, 128 * K, true, false);
	struct replog_cursor *c;
	struct replog_record rec;
	const void *pl;

	register_two(log, &d1, &d2);
	for (int i = 0; i < 3; i++) {
		fill(pay[i], sizeof pay[i], (uint64_t)i);
		app(log, &t[i], d1, REPLOG_REC_WRITE, (uint64_t)i * 65536, sizeof pay[i], pay[i],
		    false);
	}
	commit_wait(log, t, 3);
	/* only the first record's primary write has ended: cursors stop after it */
	replog_set_settled(log, t[0].a.seq);
	assert_int_equal(replog_cursor_open(log, 0, &c), 0);
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
	assert_int_equal(rec.seq, t[0].a.seq);
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 0);

	/* a resync handed out before the failure (nothing dirty yet: none) */
	struct replog_resync *early = NULL;
	assert_int_equal(replog_dirty_begin_resync(log, 1, &early), 0);

	/* the second record's primary write failed: mark, then settle */
	app(log, &t[3], d1, REPLOG_MARK_DIRTY, 65536, 4096, NULL, false);
	assert_int_equal(t[3].a.seq, 0);
	commit_wait(log, &t[3], 1);
	assert_int_equal(t[3].res, REPLOG_MARKED);
	replog_set_settled(log, t[2].a.seq);
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
	assert_int_equal(rec.seq, t[1].a.seq);
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 1);
	assert_int_equal(replog_cursor_next(c, &rec, &pl), 0);
	replog_cursor_close(c);

	uint8_t *bits;
	uint64_t nbits;
	uint32_t grain;
	static const uint64_t want[] = { 1 };
	assert_int_equal(replog_dirty_take(log, d1, &bits, &nbits, &grain), 0);
	assert_int_equal(grain, 65536);
	check_bits(bits, nbits, want, 1);
	free(bits);

	/* the next point's resync gets the extent; a failure during it keeps the bits */
	struct replog_resync *rs = NULL;
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);
	assert_int_equal(rs->set, 1);
	app(log, &t[3], d1, REPLOG_MARK_DIRTY, 65536, 4096, NULL, false);
	commit_wait(log, &t[3], 1);
	assert_int_equal(replog_dirty_end_resync(log, 1, rs), 1);	/* superseded: kept */
	replog_resync_free(rs);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);
	assert_int_equal(replog_dirty_end_resync(log, 1, rs), 0);
	replog_resync_free(rs);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 0);	/* clean again */

	/* "resync pending" and the bits survive a crash */
	app(log, &t[3], d1, REPLOG_MARK_DIRTY, 3 * 65536, 4096, NULL, false);
	commit_wait(log, &t[3], 1);
	replog_close(log, false);
	log = open_log("md.log", 0, 0, false, false);
	assert_int_equal(replog_dirty_begin_resync(log, 1, &rs), 1);
	assert_int_equal(rs->set, 1);
	replog_resync_free(rs);
	replog_close(log, false);
}

/* ---- golden file, version 2: PADs inside the ring around large records ---- */

static const struct exp golden2_recs[] = {
	{ 1, REPLOG_REC_WRITE, 1, 0, 4096, 1 },
	{ 3, REPLOG_REC_WRITE, 2, 65536, 100000, 2 },	/* large: PADs 2 and 4 around it */
	{ 5, REPLOG_REC_ZERO, 1, 8192, 65536, 0 },
	{ 7, REPLOG_REC_WRITE, 1, 4096, 30000, 4 },	/* after the end-of-ring PAD 6 */
	{ 9, REPLOG_REC_WRITE, 2, 0, 65536, 5 },	/* large: PADs 8 and 10 */
};
/* every record and PAD: ring offset, size */
static const struct { uint64_t seq, off, size; uint16_t type; } golden2_layout[] = {
	{ 1, 0, 4608, REPLOG_REC_WRITE }, { 2, 4608, 3584, REPLOG_REC_PAD },
	{ 3, 8192, 100352, REPLOG_REC_WRITE }, { 4, 108544, 2048, REPLOG_REC_PAD },
	{ 5, 110592, 512, REPLOG_REC_ZERO }, { 6, 111104, 19968, REPLOG_REC_PAD },
	{ 7, 0, 30208, REPLOG_REC_WRITE }, { 8, 30208, 2560, REPLOG_REC_PAD },
	{ 9, 32768, 66048, REPLOG_REC_WRITE }, { 10, 98816, 3584, REPLOG_REC_PAD },
};

static void golden2_generate(const char *path)
{
	uint8_t *pay = replog_payload_alloc(100000);
	struct tapp t[1];
	uint32_t dom, da, db;
	char tmp[256];

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp);
	struct replog *log = open_at(tmp, 128 * K, 96 * K, true, false);
	assert_int_equal(replog_register_disk(log, "alpha", "gold-a", 1 << 20, &dom, &da), 0);
	assert_int_equal(replog_register_disk(log, "beta", "gold-b", 2 << 20, &dom, &db), 0);
	for (size_t i = 0; i < ARRAY_SIZE(golden2_recs); i++) {
		const struct exp *e = &golden2_recs[i];
		if (i == 3) {	/* ship and reclaim everything so far: room for the wrap */
			assert_int_equal(replog_mark_shipped(log, 1, 5), 0);
			assert_int_equal(replog_mark_shipped(log, 2, 5), 0);
			assert_int_equal(replog_reclaim(log), 111104);
		}
		fill(pay, e->len, e->seed);
		app(log, &t[0], e->disk, e->type, e->off, e->len, pay, false);
		commit_wait(log, t, 1);
		assert_int_equal(t[0].a.seq, e->seq);
	}
	replog_close(log, true);
	replog_payload_free(pay);
	assert_int_equal(rename(tmp, path), 0);
}

static void test_golden_v2(void **state)
{
	(void)state;
	const char *regen = getenv("FERRY_REGEN_GOLDEN");
	if (regen && !strcmp(regen, "1"))
		golden2_generate(GOLDEN_V2);
	struct replog_stat st;
	struct replog *log = open_golden(GOLDEN_V2, &st, 2);
	assert_int_equal(st.tail_seq, 6);
	assert_int_equal(st.tail_off, 111104);
	assert_int_equal(st.head_seq, 11);
	assert_int_equal(st.head_off, 102400);
	expect_records(log, 0, golden2_recs + 3, 2);

	/* every record and PAD where the format says, read raw (seqs 1-3 were overwritten
	 * after the wrap; 4 and 5 are reclaimed but still there) */
	int fd = open(GOLDEN_V2, O_RDONLY);
	assert_true(fd >= 0);
	for (size_t i = 3; i < ARRAY_SIZE(golden2_layout); i++) {
		uint8_t hdr[REPLOG_REC_HDR_SIZE];
		struct replog_record rec;
		char why[128];
		assert_int_equal(pread_full(fd, hdr, sizeof hdr, st.data_off + golden2_layout[i].off), 0);
		assert_int_equal(rl_rec_decode(hdr, &rec, why, sizeof why), 0);
		assert_int_equal(rec.version, 2);
		assert_int_equal(rec.seq, golden2_layout[i].seq);
		assert_int_equal(rec.type, golden2_layout[i].type);
		assert_int_equal(rec.rec_size, golden2_layout[i].size);
	}
	close(fd);
	uint64_t bad;
	char why[128];
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	replog_close(log, false);

	/* a copy opened read-write goes on appending after the head */
	copy_golden(GOLDEN_V2, "g2.log");
	log = open_log("g2.log", 0, 0, false, false);
	struct tapp t[1];
	app(log, &t[0], 1, REPLOG_REC_ZERO, 0, 4096, NULL, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_LOGGED);
	assert_int_equal(t[0].a.seq, 11);
	replog_close(log, false);
}

/* A version 1 log (the frozen golden file) is read, and upgraded to version 2 by a
 * read-write open: new records may then use PADs inside the ring. */
static void test_v1_upgrade(void **state)
{
	(void)state;
	copy_golden(GOLDEN, "up.log");
	struct replog *log = open_log("up.log", 0, 0, false, false);
	struct replog_stat st;
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.version, 2);
	assert_int_equal(st.head_seq, 12);
	assert_int_equal(replog_mark_shipped(log, 1, 9), 0);	/* room: free up to seq 10 */
	assert_int_equal(replog_mark_shipped(log, 2, 9), 0);
	assert_true(replog_reclaim(log) > 0);
	uint8_t *pay = replog_payload_alloc(65536);
	fill(pay, 65536, 77);
	struct tapp t[1];
	app(log, &t[0], 1, REPLOG_REC_WRITE, 0, 65536, pay, false);
	commit_wait(log, t, 1);
	assert_int_equal(t[0].res, REPLOG_LOGGED);
	assert_true(t[0].a.seq > 12);	/* an alignment PAD came first */
	replog_close(log, false);
	log = open_log("up.log", 0, 0, false, true);
	uint64_t bad;
	char why[128];
	assert_int_equal(replog_verify(log, &bad, why, sizeof why), 0);
	struct exp e[] = { { golden_recs[2].seq, REPLOG_REC_WRITE, 1, 40960, 30000, 10 },
			   { golden_recs[3].seq, REPLOG_REC_ZERO, 1, 262144, 65536, 0 },
			   { t[0].a.seq, REPLOG_REC_WRITE, 1, 0, 65536, 77 } };
	expect_records(log, golden_recs[2].seq, e, 3);
	replog_close(log, false);
	replog_payload_free(pay);
}

/* ---- a large payload moves onto a 4 KiB boundary for the primary's direct write ---- */

static void test_payload_realign(void **state)
{
	(void)state;
	size_t len = 1u << 20;
	uint8_t *pay = replog_payload_alloc(len);
	assert_non_null(pay);
	fill(pay, len, 31);
	uint8_t *copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, pay, len);
	uint8_t *al = replog_payload_realign(pay, len);
	assert_non_null(al);
	assert_int_equal((uintptr_t)al % 4096, 0);
	assert_true(al < pay && pay - al < 4096);
	assert_memory_equal(al, copy, len);
	replog_payload_free(pay);	/* the original pointer frees it */
	free(copy);

	uint8_t *small = replog_payload_alloc(REPLOG_PAYLOAD_LARGE - 1);
	assert_non_null(small);
	fill(small, REPLOG_PAYLOAD_LARGE - 1, 5);
	assert_null(replog_payload_realign(small, REPLOG_PAYLOAD_LARGE - 1));
	replog_payload_free(small);
	assert_null(replog_payload_realign(NULL, len));
}

/* ---- the event loop never waits for a reclaim's fdatasync ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool in_sync, release, timed_out;
} hold = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false };

/* sb_sync hook: sit "inside" the superblock fdatasync until released (10 s at most). */
static void hold_in_sync(struct replog *log)
{
	(void)log;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&hold.mu);
	hold.in_sync = true;
	pthread_cond_broadcast(&hold.cv);
	while (!hold.release && !hold.timed_out)
		if (pthread_cond_timedwait(&hold.cv, &hold.mu, &until) == ETIMEDOUT)
			hold.timed_out = true;
	pthread_mutex_unlock(&hold.mu);
}

static void *reclaim_thread(void *arg)
{
	return (void *)(intptr_t)replog_reclaim(arg);
}

/* With reclaim held inside its superblock fdatasync (sb_lock held), everything the event
 * loop calls still completes: appends and their commit, applied points, stat, usage. The
 * applied point set meanwhile reaches the superblock when reclaim lets go. */
static void test_reclaim_sync_never_blocks_loop(void **state)
{
	(void)state;
	uint8_t pay[4096];
	struct tapp t[16];
	uint32_t d1, d2;
	struct replog *log = open_log("rb.log", 256 * K, 128 * K, true, false);

	register_two(log, &d1, &d2);
	for (int i = 0; i < 8; i++) {
		fill(pay, sizeof pay, (uint64_t)i);
		app(log, &t[i], d1, REPLOG_REC_WRITE, (uint64_t)i * 4096, sizeof pay, pay, false);
	}
	commit_wait(log, t, 8);
	assert_int_equal(replog_set_applied(log, t[7].a.seq), 0);
	assert_int_equal(replog_mark_shipped(log, 1, t[7].a.seq), 0);

	rl_test_hooks.sb_sync = hold_in_sync;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reclaim_thread, log), 0);
	pthread_mutex_lock(&hold.mu);
	while (!hold.in_sync && !hold.timed_out)
		pthread_cond_wait(&hold.cv, &hold.mu);
	pthread_mutex_unlock(&hold.mu);

	/* the event loop's calls, while reclaim holds sb_lock in its fdatasync */
	uint64_t last = 0;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 4; i++) {
			fill(pay, sizeof pay, (uint64_t)(round * 4 + i));
			app(log, &t[i], d1, REPLOG_REC_WRITE, (uint64_t)(round * 4 + i) * 4096,
			    sizeof pay, pay, round == 3);
		}
		commit_wait(log, t, 4);
		for (int i = 0; i < 4; i++)
			assert_int_equal(t[i].res, REPLOG_LOGGED);
		last = t[3].a.seq;
		assert_int_equal(replog_set_applied(log, last), 0);
		struct replog_stat st;
		assert_int_equal(replog_get_stat(log, &st), 0);
		assert_true(replog_usage_permille(log) < 1000);
	}
	pthread_mutex_lock(&hold.mu);
	bool was_held = hold.in_sync && !hold.timed_out;
	hold.release = true;
	pthread_cond_broadcast(&hold.cv);
	pthread_mutex_unlock(&hold.mu);
	void *freed;
	pthread_join(th, &freed);
	rl_test_hooks.sb_sync = NULL;
	assert_true(was_held);	/* the calls above finished while reclaim was held */
	assert_true((intptr_t)freed > 0);

	/* the applied point set during the hold was written when reclaim let go */
	struct replog_stat st;
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.applied_seq, last);
	replog_close(log, false);
	log = open_log("rb.log", 0, 0, false, true);
	assert_int_equal(replog_get_stat(log, &st), 0);
	assert_int_equal(st.applied_seq, last);
	replog_close(log, false);
}

/* ---- main ---- */

static int setup_all(void **state)
{
	(void)state;
	char why[256];
	if (io_engine_create(ENGINE_AUTO, 256, &eng, why, sizeof why) < 0) {
		print_error("io engine: %s\n", why);
		return -1;
	}
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test-replog.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_all(void **state)
{
	(void)state;
	static const char *const names[] = { "c.log", "a.log", "w.log", "t.log", "g.log",
					     "o.log", "v.log", "r.log", "rs.log", "rx.log", "rb.log", "dx.log", "md.log", "g2.log", "up.log" };
	char p[128];
	io_engine_free(eng);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		tpath(p, sizeof p, names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_create_reopen),
		cmocka_unit_test(test_append_cursor),
		cmocka_unit_test(test_wrap_reclaim),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_generation_rule),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_meta_resync_flag),
		cmocka_unit_test(test_resync_crash),
		cmocka_unit_test(test_resync_reoverflow),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_rec_align),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_golden_v2),
		cmocka_unit_test(test_v1_upgrade),
		cmocka_unit_test(test_reclaim_sync_never_blocks_loop),
		cmocka_unit_test(test_direct_records),
		cmocka_unit_test(test_payload_realign),
		cmocka_unit_test(test_mark_dirty_settled),
		cmocka_unit_test(test_settle_wait),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
