/* Unit tests of the restore library (restore/restore.h) on a file:// repository written
 * with the point writer: every format restores to the disk's bytes (raw compared
 * directly, the VMDKs read back with image/'s reader); a restore stopped by its progress
 * callback keeps PATH.part and resumes to the same bytes; the rehydrator brings a
 * datastore from point to point, says which point it holds, and takes its directory's
 * lock. qemu-img's view of the same outputs is the integration tests' part
 * (310-restore-formats, 330-rehydrate). */
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
#include "image/vmdk.h"
#include "repo/repo.h"
#include "restore/restore.h"
#include "common/banned.h"

#define CS (64u << 10)
#define DISK (8u << 20)

struct fx {
	char dir[64], url[128], key[128];
	struct repo *r;
	struct point_info p[4];		/* 1.1, 1.2 and 1.4 consistent, 1.3 not */
	uint8_t *img[4];		/* the disk at each point */
};

static uint64_t rng_state;

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		p[i] = (uint8_t)(rng_state >> 24);
	}
}

static char *P(const struct fx *f, const char *name)
{
	static char buf[4][256];
	static unsigned i;
	char *b = buf[i++ % 4];
	snprintf(b, 256, "%s/%s", f->dir, name);
	return b;
}

/* One point: seq, flags, and what it writes over the previous image. */
static void write_point(struct fx *f, unsigned i, uint32_t flags)
{
	struct point_info meta = { .epoch = 1, .seq = i + 1, .parent_seq = i, .flags = flags,
				   .time_ns = (1700000000ull + i) * 1000000000ull };
	struct repo_point_writer *w;
	char err[256] = "";
	snprintf(meta.domain, sizeof(meta.domain), "dom");
	f->img[i] = malloc(DISK);
	if (i)
		memcpy(f->img[i], f->img[i - 1], DISK);
	else
		memset(f->img[i], 0, DISK);
	assert_int_equal(repo_point_begin(f->r, &meta, &w), 0);
	assert_int_equal(repo_point_disk(w, "d0", DISK), 0);
	uint8_t *b = malloc(CS);
	/* point 0: data in most chunks, a hole in the middle; later: a few chunks change,
	 * one range becomes zero, one partial chunk */
	for (uint64_t off = 0; off < DISK; off += CS) {
		if (i ? (off / CS) % 13 != i : off >= 3 * (DISK / 8) && off < 5 * (DISK / 8))
			continue;
		fill(b, CS, off + 1000 * i);
		assert_int_equal(repo_point_data(w, off, b, CS), 0);
		memcpy(f->img[i] + off, b, CS);
	}
	if (i) {
		assert_int_equal(repo_point_zero(w, CS * 7, 3 * CS), 0);
		memset(f->img[i] + CS * 7, 0, 3 * CS);
		fill(b, 1000, 77 + i);
		assert_int_equal(repo_point_data(w, DISK - CS + 100, b, 1000), 0);
		memcpy(f->img[i] + DISK - CS + 100, b, 1000);
	}
	free(b);
	int rc = repo_point_commit(w, &f->p[i], err, sizeof(err));
	if (rc)
		print_message("commit: %s\n", err);
	assert_int_equal(rc, 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-restore.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	struct repo_create_opts o = { .url = f->url, .key_file = f->key, .encrypted = true,
				      .chunk_size = CS };
	if (repo_create(&o, err, sizeof(err)) < 0 ||
	    repo_open(f->url, f->key, &f->r, err, sizeof(err)) < 0) {
		print_message("repo: %s\n", err);
		return -1;
	}
	write_point(f, 0, POINT_CONSISTENT);
	write_point(f, 1, POINT_CONSISTENT);
	write_point(f, 2, 0);
	write_point(f, 3, POINT_CONSISTENT);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	repo_close(f->r);
	for (unsigned i = 0; i < 4; i++)
		free(f->img[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static void req_init(struct restore_req *q, struct fx *f, unsigned i, const char *path,
		     enum restore_format fmt)
{
	*q = (struct restore_req){ .r = f->r, .p = &f->p[i], .domain = "dom", .disk = "d0",
				   .path = path, .fmt = fmt, .force = true };
}

static int do_restore(const struct restore_req *q, struct restore_result *res)
{
	char err[1024] = "";
	int rc = restore_disk(q, res, err, sizeof(err));
	if (rc && rc != -ECANCELED)
		print_message("restore_disk: %s\n", err);
	return rc;
}

/* path, of format fmt, reads back as image i. */
static void check_image(struct fx *f, const char *path, enum restore_format fmt, unsigned i)
{
	uint8_t *buf = malloc(DISK);
	if (fmt == RESTORE_RAW) {
		int fd = open(path, O_RDONLY);
		struct stat st;
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, DISK);
		assert_int_equal(pread_full(fd, buf, DISK, 0), 0);
		close(fd);
	} else {
		struct vmdk_reader *rd;
		char err[256];
		int rc = vmdk_open(path, &rd, err, sizeof(err));
		if (rc)
			print_message("vmdk_open %s: %s\n", path, err);
		assert_int_equal(rc, 0);
		assert_int_equal(vmdk_capacity(rd), DISK);
		assert_int_equal(vmdk_read(rd, 0, buf, DISK), 0);
		vmdk_close(rd);
	}
	assert_memory_equal(buf, f->img[i], DISK);
	free(buf);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* ---- tests ---- */

static void test_formats(void **state)
{
	struct fx *f = *state;
	assert_int_equal(restore_format_parse("vmdk-flat", &(enum restore_format){ 0 }), 0);
	assert_int_equal(restore_format_parse("qcow2", &(enum restore_format){ 0 }), -EINVAL);
	for (enum restore_format fmt = RESTORE_RAW; fmt <= RESTORE_VMDK_STREAM; fmt++) {
		enum restore_format back;
		assert_int_equal(restore_format_parse(restore_format_name(fmt), &back), 0);
		assert_int_equal(back, fmt);
		for (unsigned i = 0; i < 2; i++) {
			char name[64];
			struct restore_req q;
			struct restore_result res;
			snprintf(name, sizeof(name), "out-%u.%s", i, restore_format_name(fmt));
			const char *path = P(f, name);
			req_init(&q, f, i, path, fmt);
			assert_int_equal(do_restore(&q, &res), 0);
			assert_false(res.resumable);
			assert_int_equal(res.resumed_at, 0);
			assert_true(res.bytes_written > 0);
			check_image(f, path, fmt, i);
			char part[300];
			snprintf(part, sizeof(part), "%s.part", path);
			assert_false(exists(part));
			/* again: the output exists */
			q.force = false;
			assert_int_equal(restore_disk(&q, &res, part, sizeof(part)), -EEXIST);
			assert_non_null(strstr(part, "exists"));
		}
	}
	char *ext = restore_flat_extent_path("/a/b.vmdk");
	assert_string_equal(ext, "/a/b-flat.vmdk");
	free(ext);
}

struct stopper {
	unsigned calls, stop_at;
	uint64_t last_done, last_total;
};

static int stop_progress(void *arg, uint64_t done, uint64_t total)
{
	struct stopper *s = arg;
	assert_true(done <= total);
	assert_true(done >= s->last_done);
	s->last_done = done;
	s->last_total = total;
	return ++s->calls == s->stop_at;
}

/* Stopped by the progress callback after a few windows: -ECANCELED, nothing at PATH,
 * PATH.part kept; resumed: the same bytes as an uninterrupted restore. */
static void test_cancel_resume(void **state)
{
	struct fx *f = *state;
	setenv("FERRY_RESTORE_WINDOW_KB", "256", 1);
	setenv("FERRY_RESTORE_CKPT_MS", "0", 1);
	for (enum restore_format fmt = RESTORE_RAW; fmt <= RESTORE_VMDK_STREAM; fmt++) {
		char name[64];
		snprintf(name, sizeof(name), "cancel.%s", restore_format_name(fmt));
		const char *path = P(f, name);
		struct restore_req q;
		struct restore_result res;
		struct stopper s = { .stop_at = 5 };
		req_init(&q, f, 1, path, fmt);
		q.progress = stop_progress;
		q.progress_arg = &s;
		assert_int_equal(do_restore(&q, &res), -ECANCELED);
		assert_true(res.resumable);
		assert_true(exists(res.part_path));
		assert_false(exists(path));
		q.resume = true;
		s = (struct stopper){ 0 };
		assert_int_equal(do_restore(&q, &res), 0);
		assert_true(res.resumed_at > 0);
		assert_int_equal(s.last_done, s.last_total);
		check_image(f, path, fmt, 1);
		assert_false(exists(res.part_path));
	}
	unsetenv("FERRY_RESTORE_WINDOW_KB");
	unsetenv("FERRY_RESTORE_CKPT_MS");
}

/* A chunk that cannot be read fails the restore naming the disk and leaves nothing. */
static void test_missing_disk(void **state)
{
	struct fx *f = *state;
	struct restore_req q;
	struct restore_result res;
	char err[256];
	req_init(&q, f, 0, P(f, "nodisk.raw"), RESTORE_RAW);
	q.disk = "nosuch";
	assert_int_equal(restore_disk(&q, &res, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nosuch"));
	assert_false(exists(P(f, "nodisk.raw")));
	assert_false(exists(P(f, "nodisk.raw.part")));
}

/* The inconsistent point p[2] is refused naming the consistent points around it, and
 * restores with allow_inconsistent. */
static void test_inconsistent(void **state)
{
	struct fx *f = *state;
	struct restore_req q;
	struct restore_result res;
	char err[512];
	const char *path = P(f, "torn.raw");
	req_init(&q, f, 2, path, RESTORE_RAW);
	assert_int_equal(restore_disk(&q, &res, err, sizeof(err)), -EPERM);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "point 1.3 of domain dom is not consistent"));
	assert_non_null(strstr(err, "points are: 1.2 (before it) and 1.4 (after it)"));
	assert_false(exists(path));
	q.allow_inconsistent = true;
	assert_int_equal(do_restore(&q, &res), 0);
	check_image(f, path, RESTORE_RAW, 2);
}

static void notice_count(void *arg, const char *msg)
{
	(void)msg;
	(*(unsigned *)arg)++;
}

static void test_rehydrate(void **state)
{
	struct fx *f = *state;
	const char *ds = P(f, "ds");
	struct rehydrator *h, *h2;
	struct point_info reached;
	uint32_t e;
	uint64_t s;
	char err[512];
	unsigned notices = 0;
	assert_int_equal(mkdir(ds, 0755), 0);
	assert_int_equal(rehydrate_held_point(ds, "dom", &e, &s), -ENOENT);
	assert_int_equal(rehydrate_open(f->r, "dom", ds, &h, err, sizeof(err)), 0);
	rehydrate_set_notice(h, notice_count, &notices);
	/* a second rehydrator on the directory is refused, naming the holder */
	assert_int_equal(rehydrate_open(f->r, "dom", ds, &h2, err, sizeof(err)), -EBUSY);
	char pid[32];
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	assert_non_null(strstr(err, pid));

	for (unsigned i = 0; i < 2; i++) {
		int rc = rehydrate_sync(h, &f->p[i], &reached, NULL, NULL, err, sizeof(err));
		if (rc)
			print_message("rehydrate_sync: %s\n", err);
		assert_int_equal(rc, 0);
		assert_int_equal(reached.seq, f->p[i].seq);
		assert_true(rehydrate_written(h) > 0);
		check_image(f, P(f, "ds/d0.vmdk"), RESTORE_VMDK_FLAT, i);
		assert_int_equal(rehydrate_held_point(ds, "dom", &e, &s), 0);
		assert_int_equal(e, 1);
		assert_int_equal(s, f->p[i].seq);
		assert_int_equal(rehydrate_held_point(ds, "other", &e, &s), -ENOENT);
	}
	/* the newest consistent point is p[3]; then nothing more to write */
	assert_int_equal(rehydrate_sync(h, NULL, &reached, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(reached.seq, f->p[3].seq);
	assert_true(rehydrate_written(h) > 0);
	check_image(f, P(f, "ds/d0.vmdk"), RESTORE_VMDK_FLAT, 3);
	assert_int_equal(rehydrate_sync(h, NULL, &reached, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(rehydrate_written(h), 0);
	rehydrate_close(h);
	assert_int_equal(rehydrate_open(f->r, "dom", ds, &h, err, sizeof(err)), 0);
	rehydrate_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_cancel_resume),
		cmocka_unit_test(test_missing_disk),
		cmocka_unit_test(test_inconsistent),
		cmocka_unit_test(test_rehydrate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
