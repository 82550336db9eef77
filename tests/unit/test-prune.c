/* Unit tests for retention and prune (repo/prune.c, the index marks of repo/index.c and
 * the writer's re-check in repo/point-writer.c), on temporary file:// stores:
 * - the retention spec parser and the pure selection (last, hourly, daily, weekly buckets,
 *   the newest and newest consistent points, delta chains kept back to a full point);
 * - condemn/rescue objects encode and decode, and malformed ones are rejected;
 * - prune of 20 points (full at 1 and 16) with keep last:2: points 1..15 go, the packs only
 *   they used are condemned by the first run and deleted by the second, the kept points
 *   restore exactly and verify --read-data passes;
 * - a crash after every single store mutation of both runs: the repository verifies and
 *   the kept points restore, and further runs finish the job;
 * - a writer that deduped against a chunk of a pack condemned while it wrote stores the
 *   chunk again; a writer whose manifest went up just before the condemnation makes the
 *   next run rescue the pack instead of deleting it. Its point restores either way. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "repo/repo.h"
#include "restore/restore.h"
#include "common/banned.h"

#define CS 4096u
#define SLOTS 16u
#define DISK (SLOTS * CS)
#define NPTS 20u
#define T0 (1700000000ull * 1000000000ull)
#define HOUR (3600ull * 1000000000ull)

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = (uint8_t)(s >> 24);
	}
}

/* ---- selection ---- */

static void test_parse(void **state)
{
	(void)state;
	struct prune_keep k;
	assert_int_equal(prune_keep_parse("last:48,hourly:24,daily:7,weekly:4", &k), 0);
	assert_int_equal(k.last, 48);
	assert_int_equal(k.hourly, 24);
	assert_int_equal(k.daily, 7);
	assert_int_equal(k.weekly, 4);
	assert_int_equal(prune_keep_parse("weekly:3,last:1", &k), 0);
	assert_int_equal(k.last, 1);
	assert_int_equal(k.weekly, 3);
	assert_int_equal(k.daily, 0);
	assert_int_equal(prune_keep_parse("daily:0", &k), 0);
	static const char *const bad[] = {
		"", "last", "last:", "last:x", "last:1,", "last:1,last:2", "monthly:1", "last:1 ",
		" last:1", "last:2000000", "last:-1", ",last:1", "LAST:1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(prune_keep_parse(bad[i], &k), -EINVAL);
}

static struct point_info pt(uint32_t epoch, uint64_t seq, uint64_t t, uint32_t flags)
{
	struct point_info p = { .epoch = epoch, .seq = seq, .parent_seq = seq - 1,
				.time_ns = t, .flags = flags };
	return p;
}

static void test_select_chain(void **state)
{
	(void)state;
	struct point_info v[NPTS];
	uint32_t why[NPTS];
	struct prune_keep k = { .last = 2 };
	for (unsigned i = 0; i < NPTS; i++) {
		unsigned seq = i + 1;
		v[i] = pt(1, seq, T0 + seq * HOUR, POINT_CONSISTENT |
			  (seq == 1 || seq % 16 == 0 ? POINT_FULL : 0));
	}
	prune_select(v, NPTS, &k, why);
	for (unsigned i = 0; i < 15; i++)
		assert_int_equal(why[i], 0);
	assert_int_equal(why[15], PRUNE_DEPENDENCY);	/* 16: the full point of the chain */
	assert_int_equal(why[16], PRUNE_DEPENDENCY);
	assert_int_equal(why[17], PRUNE_DEPENDENCY);
	assert_int_equal(why[18], PRUNE_LAST | PRUNE_DEPENDENCY);
	assert_int_equal(why[19], PRUNE_LAST | PRUNE_NEWEST | PRUNE_CONSISTENT);

	/* the newest points are not consistent: the newest consistent one stays, with its
	 * chain (point 3 is a delta of 2, a delta of full 1) */
	for (unsigned i = 3; i < 6; i++)
		v[i].flags &= ~(uint32_t)POINT_CONSISTENT;
	k.last = 1;
	prune_select(v, 6, &k, why);
	assert_int_equal(why[5], PRUNE_LAST | PRUNE_NEWEST);
	assert_int_equal(why[4], PRUNE_DEPENDENCY);
	assert_int_equal(why[3], PRUNE_DEPENDENCY);
	assert_int_equal(why[2], PRUNE_CONSISTENT | PRUNE_DEPENDENCY);
	assert_int_equal(why[1], PRUNE_DEPENDENCY);
	assert_int_equal(why[0], PRUNE_DEPENDENCY);

	prune_select(v, 0, &k, why);	/* nothing to do, nothing touched */
}

static void test_select_buckets(void **state)
{
	(void)state;
	struct point_info v[8];
	uint32_t why[8];
	/* every 20 minutes from 10:00 to 12:20: hours 10 (3 points), 11 (3), 12 (2) */
	for (unsigned i = 0; i < 8; i++)
		v[i] = pt(1, i + 1, T0 + 10 * HOUR + i * HOUR / 3, POINT_FULL);
	struct prune_keep k = { .hourly = 2 };
	prune_select(v, 8, &k, why);
	uint32_t want[8] = { 0 };
	want[7] = PRUNE_HOURLY | PRUNE_NEWEST;	/* 12:20, the newest of hour 12 */
	want[5] = PRUNE_HOURLY;			/* 11:40, the newest of hour 11 */
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(why[i], want[i]);

	/* days and ISO weeks: 2023-12-30 Sat, 12-31 Sun 10:00 and 23:00, 2024-01-01 Mon,
	 * 01-02 Tue (2024-01-01 is day 19723 since the epoch, a Monday) */
	uint64_t day = 24 * HOUR, d0 = 19721ull * day;	/* Saturday 2023-12-30 */
	struct point_info w[5] = {
		pt(1, 1, d0 + 12 * HOUR, POINT_FULL), pt(1, 2, d0 + day + 10 * HOUR, POINT_FULL),
		pt(1, 3, d0 + day + 23 * HOUR, POINT_FULL), pt(1, 4, d0 + 2 * day, POINT_FULL),
		pt(1, 5, d0 + 3 * day + HOUR, POINT_FULL),
	};
	struct prune_keep kw = { .weekly = 2 };
	prune_select(w, 5, &kw, why);
	assert_int_equal(why[0], 0);
	assert_int_equal(why[1], 0);
	assert_int_equal(why[2], PRUNE_WEEKLY);	/* Sunday 23:00 ends its week */
	assert_int_equal(why[3], 0);
	assert_int_equal(why[4], PRUNE_WEEKLY | PRUNE_NEWEST);
	struct prune_keep kd = { .daily = 3 };
	prune_select(w, 5, &kd, why);
	assert_int_equal(why[0], 0);
	assert_int_equal(why[1], 0);
	assert_int_equal(why[2], PRUNE_DAILY);
	assert_int_equal(why[3], PRUNE_DAILY);
	assert_int_equal(why[4], PRUNE_DAILY | PRUNE_NEWEST);
	struct prune_keep kx = { .daily = 1, .weekly = 1, .last = 1 };
	prune_select(w, 5, &kx, why);
	assert_int_equal(why[4], PRUNE_LAST | PRUNE_DAILY | PRUNE_WEEKLY | PRUNE_NEWEST);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(why[i], 0);
}

static void test_select_epochs(void **state)
{
	(void)state;
	struct point_info v[5] = {
		pt(1, 1, T0, POINT_FULL | POINT_CONSISTENT), pt(1, 2, T0 + 1, POINT_CONSISTENT),
		pt(1, 3, T0 + 2, POINT_CONSISTENT), pt(2, 1, T0 + 3, POINT_FULL | POINT_CONSISTENT),
		pt(2, 2, T0 + 4, POINT_CONSISTENT),
	};
	uint32_t why[5];
	struct prune_keep k = { .last = 1 };
	prune_select(v, 5, &k, why);
	assert_int_equal(why[0], 0);
	assert_int_equal(why[1], 0);
	assert_int_equal(why[2], 0);
	assert_int_equal(why[3], PRUNE_DEPENDENCY);
	assert_int_equal(why[4], PRUNE_LAST | PRUNE_NEWEST | PRUNE_CONSISTENT);
	k.last = 3;	/* 1.3 is kept: its chain 1.2, 1.1 too */
	prune_select(v, 5, &k, why);
	for (unsigned i = 0; i < 5; i++)
		assert_true(why[i] != 0);
}

/* ---- index marks ---- */

struct marks_seen {
	unsigned condemn, rescue;
	uint64_t time;
	uint8_t pack[PACK_ID_LEN], obj[INDEX_ID_LEN];
};

static int seen_condemn(void *arg, const uint8_t *pack, uint64_t t)
{
	struct marks_seen *s = arg;
	s->condemn++;
	s->time = t;
	memcpy(s->pack, pack, PACK_ID_LEN);
	return 0;
}

static int seen_rescue(void *arg, const uint8_t *pack, const uint8_t *obj, uint64_t t)
{
	struct marks_seen *s = arg;
	s->rescue++;
	s->time = t;
	memcpy(s->pack, pack, PACK_ID_LEN);
	memcpy(s->obj, obj, INDEX_ID_LEN);
	return 0;
}

static int seen_add(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	(void)arg;
	(void)id;
	(void)loc;
	return 0;
}

static void test_marks(void **state)
{
	(void)state;
	struct pack_mark m = { .time_ns = 123456789 };
	memset(m.pack, 0xab, PACK_ID_LEN);
	memset(m.obj, 0xcd, INDEX_ID_LEN);
	for (int kind = INDEX_KIND_CONDEMN; kind <= INDEX_KIND_RESCUE; kind++) {
		struct dbuf b = DBUF_INIT(1 << 20);
		struct marks_seen s = { 0 };
		struct index_visitor v = { seen_add, seen_condemn, seen_rescue, &s };
		assert_int_equal(index_marks_encode(kind, &m, 1, &b), 0);
		assert_int_equal(b.len, INDEX_DELTA_HDR + INDEX_DELTA_ENTRY);
		assert_int_equal(index_object_decode(b.data, b.len, &v), 0);
		assert_int_equal(s.condemn, kind == INDEX_KIND_CONDEMN);
		assert_int_equal(s.rescue, kind == INDEX_KIND_RESCUE);
		assert_int_equal(s.time, m.time_ns);
		assert_memory_equal(s.pack, m.pack, PACK_ID_LEN);
		if (kind == INDEX_KIND_RESCUE)
			assert_memory_equal(s.obj, m.obj, INDEX_ID_LEN);
		/* an add-only reader (the format before prune) refuses marks */
		assert_int_equal(index_delta_decode(b.data, b.len, seen_add, NULL), -EPROTO);
		uint8_t *p = b.data;
		p[INDEX_DELTA_HDR + 20] ^= 1;	/* chunk id field must be zero past the obj */
		assert_int_equal(index_object_decode(b.data, b.len, &v), -EBADMSG);
		p[INDEX_DELTA_HDR + 20] ^= 1;
		p[INDEX_DELTA_HDR + 57] = 1;	/* no lengths */
		assert_int_equal(index_object_decode(b.data, b.len, &v), -EBADMSG);
		p[INDEX_DELTA_HDR + 57] = 0;
		p[5] = 4;			/* unknown kind */
		assert_int_equal(index_object_decode(b.data, b.len, &v), -EPROTO);
		p[5] = (uint8_t)kind;
		assert_int_equal(index_object_decode(b.data, b.len - 1, &v), -EBADMSG);
		dbuf_release(&b);
	}
	struct dbuf b = DBUF_INIT(1 << 20);
	assert_int_equal(index_marks_encode(INDEX_KIND_ADD, &m, 1, &b), -EINVAL);
	dbuf_release(&b);
}

/* ---- fixture: a repository of NPTS points ---- */

struct fx {
	char dir[64];
	char url[128];
	char key[128];
	char out[128];
	uint8_t *exp[NPTS + 2];	/* content at each point (1-based) */
	struct point_info info[NPTS + 2];
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-prune.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.raw", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sh("rm -rf '%s'", f->dir);
	for (unsigned i = 0; i < ARRAY_SIZE(f->exp); i++)
		free(f->exp[i]);
	free(f);
	return 0;
}

static struct repo *open_repo(struct fx *f)
{
	struct repo *r;
	char err[256];
	int rc = repo_open(f->url, f->key, &r, err, sizeof(err));
	if (rc)
		print_message("repo_open: %s\n", err);
	assert_int_equal(rc, 0);
	return r;
}

static struct repo_point_writer *begin(struct repo *r, uint64_t seq)
{
	struct point_info meta = { .epoch = 1, .seq = seq, .parent_seq = seq - 1,
				   .flags = POINT_CONSISTENT, .time_ns = T0 + seq * HOUR };
	struct repo_point_writer *w;
	snprintf(meta.domain, sizeof(meta.domain), "dom");
	assert_int_equal(repo_point_begin(r, &meta, &w), 0);
	assert_int_equal(repo_point_disk(w, "vm0", DISK), 0);
	return w;
}

static void write_slot(struct fx *f, struct repo_point_writer *w, uint64_t seq, unsigned slot,
		       uint64_t seed)
{
	uint8_t b[CS];
	fill(b, CS, seed);
	assert_int_equal(repo_point_data(w, (uint64_t)slot * CS, b, CS), 0);
	memcpy(f->exp[seq] + (size_t)slot * CS, b, CS);
}

static void commit(struct fx *f, struct repo_point_writer *w, uint64_t seq)
{
	char err[256] = "";
	int rc = repo_point_commit(w, &f->info[seq], err, sizeof(err));
	if (rc)
		print_message("commit: %s\n", err);
	assert_int_equal(rc, 0);
}

/* Points 1..NPTS; point s writes slots 4s..4s+3 (mod 16) with fresh data, so every 4
 * points rewrite the whole disk. Full maps at 1 and 16: keep last:2 keeps 16..20, and
 * 16's full map still names chunks of 13, 14 and 15: the packs of 1..12 die. */
static struct repo *build(struct fx *f)
{
	struct repo_create_opts o = { .url = f->url, .key_file = f->key, .encrypted = true,
					.chunk_size = CS };
	char err[256];
	assert_int_equal(repo_create(&o, err, sizeof(err)), 0);
	struct repo *r = open_repo(f);
	for (uint64_t s = 1; s <= NPTS; s++) {
		f->exp[s] = calloc(1, DISK);
		if (s > 1)
			memcpy(f->exp[s], f->exp[s - 1], DISK);
		struct repo_point_writer *w = begin(r, s);
		for (unsigned j = 0; j < 4; j++)
			write_slot(f, w, s, (unsigned)(s * 4 + j) % SLOTS, s * 100 + j);
		commit(f, w, s);
	}
	return r;
}

static unsigned count_files(struct fx *f, const char *sub)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "find '%s/store/%s' -type f 2>/dev/null | wc -l", f->dir, sub);
	FILE *p = popen(cmd, "r");
	unsigned n = 0;
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%u", &n), 1);
	pclose(p);
	return n;
}

static void report(void *arg, const char *key, const char *problem)
{
	(void)arg;
	print_message("verify: %s: %s\n", key, problem);
}

static void check_verify(struct fx *f)
{
	struct repo *r = open_repo(f);
	assert_int_equal(repo_verify(r, true, report, NULL), 0);
	repo_close(r);
}

/* The disk at point p into path as a raw image, through the restore library. */
static int restore_raw(struct repo *r, const struct point_info *p, const char *disk,
		       const char *path, char *err, size_t errlen)
{
	struct restore_req q = { .r = r, .p = p, .domain = p->domain, .disk = disk,
				 .path = path, .fmt = RESTORE_RAW, .force = true };
	struct restore_result res;
	return restore_disk(&q, &res, err, errlen);
}

static void check_restore(struct fx *f, uint64_t seq, const uint8_t *exp)
{
	struct repo *r = open_repo(f);
	struct point_info p;
	char err[256], spec[32];
	snprintf(spec, sizeof(spec), "1.%llu", (unsigned long long)seq);
	assert_int_equal(repo_resolve_point(r, "dom", spec, &p, err, sizeof(err)), 0);
	int rc = restore_raw(r, &p, "vm0", f->out, err, sizeof(err));
	if (rc)
		print_message("restore %s: %s\n", spec, err);
	assert_int_equal(rc, 0);
	uint8_t *buf = malloc(DISK);
	int fd = open(f->out, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread_full(fd, buf, DISK, 0), 0);
	close(fd);
	assert_memory_equal(buf, exp, DISK);
	free(buf);
	repo_close(r);
}

static void check_kept(struct fx *f)
{
	for (uint64_t s = 16; s <= NPTS; s++)
		check_restore(f, s, f->exp[s]);
}

static const struct prune_policy policy = { "dom", { .last = 2 } };

static int prune_run(struct fx *f, struct prune_stats *st,
		     int (*hook)(void *, enum prune_step, const char *), void *arg)
{
	struct repo *r = open_repo(f);
	struct prune_opts o = { &policy, 1, 0, false, hook, arg, false, 0 };
	char err[256] = "";
	int rc = repo_prune(r, &o, st, err, sizeof(err));
	if (rc && rc != -ECANCELED)
		print_message("prune: %s\n", err);
	repo_close(r);
	return rc;
}

static void test_prune(void **state)
{
	struct fx *f = *state;
	struct prune_stats st;
	repo_close(build(f));
	assert_int_equal(count_files(f, "packs"), NPTS);
	check_verify(f);

	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.points_deleted, 15);
	assert_int_equal(st.points_kept, 5);
	assert_int_equal(st.packs_condemned, 12);
	assert_int_equal(st.packs_deleted, 0);
	assert_int_equal(st.packs_pending, 12);
	assert_int_equal(count_files(f, "domains"), 5);
	check_verify(f);	/* condemned packs still there: not a problem */
	check_kept(f);

	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.points_deleted, 0);
	assert_int_equal(st.packs_deleted, 12);
	assert_int_equal(st.packs_rescued, 0);
	assert_int_equal(st.packs_condemned, 0);
	assert_int_equal(st.packs_pending, 0);
	assert_int_equal(st.packs_after, NPTS - 12);
	assert_true(st.bytes_after < st.bytes_before);
	assert_int_equal(count_files(f, "packs"), NPTS - 12);
	check_verify(f);
	check_kept(f);

	/* a third run has nothing left to do */
	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.points_deleted + st.packs_condemned + st.packs_deleted, 0);

	/* a long grace delay: condemned, not deleted, by a run that does not wait */
	struct repo *r = open_repo(f);
	struct prune_policy p1 = { "dom", { .last = 1 } };
	struct prune_opts o = { &p1, 1, 3600ull * 1000000000u, false, NULL, NULL, false, 0 };
	char err[256];
	assert_int_equal(repo_prune(r, &o, &st, err, sizeof(err)), 0);
	repo_close(r);
	assert_int_equal(st.points_deleted, 0);	/* 17..20 are 16's chain */
	r = open_repo(f);
	assert_int_equal(repo_prune(r, &o, &st, err, sizeof(err)), 0);
	repo_close(r);
	assert_int_equal(st.packs_deleted, 0);
}

/* ---- crash at every step ---- */

struct crash {
	unsigned at, n;
};

static int crash_hook(void *arg, enum prune_step s, const char *key)
{
	struct crash *c = arg;
	(void)s;
	(void)key;
	return c->n++ == c->at;
}

static void test_crash(void **state)
{
	struct fx *f = *state;
	struct prune_stats st;
	repo_close(build(f));
	sh("cp -a '%s/store' '%s/pristine'", f->dir, f->dir);
	unsigned total = 0;
	for (unsigned at = 0;; at++) {
		sh("rm -rf '%s/store' && cp -a '%s/pristine' '%s/store'", f->dir, f->dir, f->dir);
		struct crash c = { at, 0 };
		int rc = prune_run(f, &st, crash_hook, &c);
		if (rc == 0)
			rc = prune_run(f, &st, crash_hook, &c);
		if (rc == 0) {
			total = c.n;
			break;
		}
		assert_int_equal(rc, -ECANCELED);
		check_verify(f);	/* as if killed right there */
		check_kept(f);
		assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
		assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
		check_verify(f);
		check_kept(f);
		assert_int_equal(count_files(f, "domains"), 5);
		/* a crash between the condemnation and the deletes: the second run carries it
		 * out; before the condemnation: the first run condemns again */
		if (count_files(f, "packs") != NPTS - 12)
			assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
		assert_int_equal(count_files(f, "packs"), NPTS - 12);
	}
	/* 15 manifests, one condemn object, 12 packs */
	assert_int_equal(total, 15 + 1 + 12);
	check_verify(f);
	check_kept(f);
}

/* ---- a writer racing prune ---- */

/* Point 21 writes slot 0 with point 1's first chunk (seed 100): it dedupes against a
 * chunk of a pack that prune is about to condemn. */
static struct repo_point_writer *racing_writer(struct fx *f, struct repo *r)
{
	f->exp[NPTS + 1] = malloc(DISK);
	memcpy(f->exp[NPTS + 1], f->exp[NPTS], DISK);
	struct repo_point_writer *w = begin(r, NPTS + 1);
	write_slot(f, w, NPTS + 1, 0, 100);
	return w;
}

static void test_writer_stores_again(void **state)
{
	struct fx *f = *state;
	struct prune_stats st;
	struct repo *r = build(f);
	struct repo_point_writer *w = racing_writer(f, r);

	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);	/* condemns point 1's pack */
	assert_int_equal(st.packs_condemned, 12);
	commit(f, w, NPTS + 1);	/* sees the condemnation: stores the chunk again */
	assert_true(f->info[NPTS + 1].stored_bytes > 0);
	repo_close(r);

	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.packs_deleted, 12);
	assert_int_equal(st.packs_rescued, 0);
	check_verify(f);
	check_kept(f);
	check_restore(f, NPTS + 1, f->exp[NPTS + 1]);
}

/* Two writers of two domains on one repository handle (what ferryd's shipper threads do)
 * both dedupe against point 1's chunk; prune condemns its pack; the first commit's refresh
 * reads the condemnation, so the second writer's own refresh finds nothing new: it must
 * still store the chunk again (from the handle's record of dropped locations). */
static void test_two_writers_one_handle(void **state)
{
	struct fx *f = *state;
	struct prune_stats st;
	struct repo *r = build(f);
	struct repo_point_writer *a = racing_writer(f, r);
	struct point_info meta = { .epoch = 1, .seq = 1, .flags = POINT_CONSISTENT,
				   .time_ns = T0 };
	struct repo_point_writer *b;
	snprintf(meta.domain, sizeof(meta.domain), "other");
	assert_int_equal(repo_point_begin(r, &meta, &b), 0);
	assert_int_equal(repo_point_disk(b, "vm0", DISK), 0);
	uint8_t *exp_b = calloc(1, DISK), chunk[CS];
	fill(chunk, CS, 100);
	assert_int_equal(repo_point_data(b, 0, chunk, CS), 0);
	memcpy(exp_b, chunk, CS);
	/* small pieces that do not follow each other: a frame each, enough to fill the encode
	 * pool, so the first frame (the deduped chunk) is retired before prune runs */
	for (unsigned k = 0; k < 12; k++) {
		uint8_t piece[512];
		fill(piece, sizeof(piece), 700 + k);
		uint64_t off = CS + (uint64_t)k * 1024;
		assert_int_equal(repo_point_data(b, off, piece, sizeof(piece)), 0);
		memcpy(exp_b + off, piece, sizeof(piece));
	}

	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);	/* condemns point 1's pack */
	assert_int_equal(st.packs_condemned, 12);
	commit(f, a, NPTS + 1);
	struct point_info pb;
	char err[256] = "";
	assert_int_equal(repo_point_commit(b, &pb, err, sizeof(err)), 0);
	repo_close(r);

	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.packs_deleted, 12);
	check_verify(f);
	check_restore(f, NPTS + 1, f->exp[NPTS + 1]);
	r = open_repo(f);
	struct disk_map *m;
	/* the chunk still reads after its first pack was deleted: stored again */
	assert_int_equal(repo_disk_map(r, &pb, "vm0", &m, NULL, 0), 0);
	assert_int_equal(m->n, 13);
	assert_int_equal(repo_read_chunk(r, m->ext[0].id, chunk, CS), 0);
	assert_memory_equal(chunk, exp_b, CS);
	disk_map_free(m);
	repo_close(r);
	free(exp_b);
}

struct race {
	struct fx *f;
	struct repo_point_writer *w;
};

/* The writer's manifest goes up after prune read the manifests, before its condemnation:
 * the writer's re-check cannot see it. */
static int commit_before_condemn(void *arg, enum prune_step s, const char *key)
{
	struct race *rc = arg;
	(void)key;
	if (s == PRUNE_STEP_CONDEMN && rc->w) {
		commit(rc->f, rc->w, NPTS + 1);
		rc->w = NULL;
	}
	return 0;
}

static void test_rescue(void **state)
{
	struct fx *f = *state;
	struct prune_stats st;
	struct repo *r = build(f);
	struct race race = { f, racing_writer(f, r) };

	assert_int_equal(prune_run(f, &st, commit_before_condemn, &race), 0);
	assert_null(race.w);
	assert_int_equal(f->info[NPTS + 1].stored_bytes, 0);	/* deduped */
	assert_int_equal(st.packs_condemned, 12);
	repo_close(r);

	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.packs_rescued, 1);
	assert_int_equal(st.packs_deleted, 11);
	check_verify(f);
	check_kept(f);
	check_restore(f, NPTS + 1, f->exp[NPTS + 1]);

	/* the rescued pack is live now: nothing more to condemn */
	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.packs_condemned + st.packs_deleted, 0);
	assert_int_equal(count_files(f, "packs"), NPTS - 11);
	check_verify(f);
	check_restore(f, NPTS + 1, f->exp[NPTS + 1]);
}

/* A full point of another domain (its first) is committed after prune read the index and
 * before its walk over the manifests: the walk meets a map region the index does not
 * have yet, reads the index again and goes on; the new point's pack is no candidate. */
struct late_full {
	struct fx *f;
	struct repo *r;
	bool done;
	struct point_info info;
};

static int commit_full_point(void *arg, enum prune_step s, const char *key)
{
	struct late_full *lf = arg;
	(void)key;
	if (s != PRUNE_STEP_DELETE_POINT || lf->done)
		return 0;
	struct point_info meta = { .epoch = 1, .seq = 1, .flags = POINT_CONSISTENT,
				   .time_ns = T0 };
	struct repo_point_writer *w;
	uint8_t chunk[CS];
	char err[256] = "";
	snprintf(meta.domain, sizeof(meta.domain), "late");
	assert_int_equal(repo_point_begin(lf->r, &meta, &w), 0);
	assert_int_equal(repo_point_disk(w, "vm0", DISK), 0);
	fill(chunk, CS, 4242);
	assert_int_equal(repo_point_data(w, CS, chunk, CS), 0);
	assert_int_equal(repo_point_commit(w, &lf->info, err, sizeof(err)), 0);
	lf->done = true;
	return 0;
}

static void test_full_point_during_walk(void **state)
{
	struct fx *f = *state;
	struct prune_stats st;
	struct late_full lf = { .f = f, .r = build(f) };

	assert_int_equal(prune_run(f, &st, commit_full_point, &lf), 0);
	assert_true(lf.done);
	assert_int_equal(st.packs_condemned, 12);
	repo_close(lf.r);
	assert_int_equal(prune_run(f, &st, NULL, NULL), 0);
	assert_int_equal(st.packs_deleted, 12);
	assert_int_equal(st.packs_rescued, 0);
	check_verify(f);
	check_kept(f);

	/* the late point's map region and chunk survived */
	struct repo *r = open_repo(f);
	struct disk_map *m;
	uint8_t chunk[CS], exp[CS];
	assert_int_equal(repo_disk_map(r, &lf.info, "vm0", &m, NULL, 0), 0);
	assert_int_equal(m->n, 1);
	assert_int_equal(repo_read_chunk(r, m->ext[0].id, chunk, CS), 0);
	fill(exp, CS, 4242);
	assert_memory_equal(chunk, exp, CS);
	disk_map_free(m);
	repo_close(r);
}

/* verify on a handle opened before a point was shipped (by another writer) and its pack
 * listed: the new point, a full one with a map region, is not taken for damage. */
static void test_verify_while_shipping(void **state)
{
	struct fx *f = *state;
	struct late_full lf = { .f = f, .r = build(f) };
	struct repo *v = open_repo(f);
	assert_int_equal(commit_full_point(&lf, PRUNE_STEP_DELETE_POINT, NULL), 0);
	assert_int_equal(repo_verify(v, true, report, NULL), 0);
	repo_close(v);
	repo_close(lf.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_select_chain),
		cmocka_unit_test(test_select_buckets),
		cmocka_unit_test(test_select_epochs),
		cmocka_unit_test(test_marks),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_stores_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers_one_handle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rescue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_point_during_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_while_shipping, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
