/* Unit tests for image/vmdk-inplace.c (an existing monolithicSparse VMDK read and written
 * in place): on images made by ferry's own writer (grains left out where the disk is
 * zero, two 32 MiB spans, a short last grain) and by qemu-img: reads match the source;
 * writes into stored grains, into grains never stored, across grain boundaries and into
 * the last short grain read back through the independent reader (vmdk_open) and, with
 * qemu-img installed, pass `qemu-img check` and `qemu-img compare`; the new grains'
 * tables are not on disk before a flush (a crash leaves the old content); the header is
 * marked unclean while written and clean after close; streamOptimized is refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "image/vmdk.h"
#include "tests/unit/unit-sh.h"
#include "common/banned.h"

#define MiB (1024ull * 1024)
#define GRAIN VMDK_GRAIN_SIZE
#define CAP (33 * MiB + 4096)	/* two GT spans, a short last grain */

static char dir[64], pathbuf[256];

static const char *P(const char *name)
{
	snprintf(pathbuf, sizeof(pathbuf), "%s/%s", dir, name);
	return pathbuf;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-vmdk-rw.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return sh("rm -rf '%s'", dir) == 0 ? 0 : -1;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131 + seed * 7) >> 3) | 1;
}

/* the disk: data in grains 0..3, 100, the last grain of the first span and the short last
 * grain; zeroes elsewhere (never stored) */
static uint8_t *make_disk(void)
{
	uint8_t *d = calloc(1, CAP);
	fill(d, 4 * GRAIN, 1);
	fill(d + 100 * GRAIN, GRAIN, 2);
	fill(d + 32 * MiB - GRAIN, GRAIN, 3);
	fill(d + CAP - 4096, 4096, 4);
	return d;
}

static void write_sparse(const char *path, const uint8_t *d)
{
	struct vmdk_meta m = { .capacity = CAP };
	struct vmdk_writer *w;
	char err[256];
	assert_int_equal(vmdk_writer_open(path, VMDK_SPARSE, &m, &w, err, sizeof(err)), 0);
	for (uint64_t off = 0; off < CAP; off += GRAIN) {
		size_t n = (size_t)MIN(GRAIN, CAP - off);
		bool zero = true;
		for (size_t i = 0; i < n && zero; i++)
			zero = !d[off + i];
		if (!zero)
			assert_int_equal(vmdk_writer_write(w, off, d + off, n), 0);
	}
	assert_int_equal(vmdk_writer_finish(w, err, sizeof(err)), 0);
}

static void check_with_reader(const char *path, const uint8_t *want)
{
	struct vmdk_reader *r;
	char err[256];
	uint8_t *got = malloc(CAP);
	assert_int_equal(vmdk_open(path, &r, err, sizeof(err)), 0);
	assert_true(vmdk_capacity(r) == CAP);
	assert_int_equal(vmdk_read(r, 0, got, CAP), 0);
	vmdk_close(r);
	assert_memory_equal(got, want, CAP);
	free(got);
}

static void write_both(struct vmdk_rw *v, uint8_t *want, uint64_t off, size_t n, uint32_t seed)
{
	uint8_t *b = malloc(n);
	fill(b, n, seed);
	assert_int_equal(vmdk_rw_write(v, off, b, n), 0);
	memcpy(want + off, b, n);
	free(b);
}

static uint8_t header_unclean(const char *path)
{
	uint8_t h[512];
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread_full(fd, h, sizeof(h), 0), 0);
	close(fd);
	return h[72];
}

static void edit_and_check(const char *path, uint8_t *want)
{
	struct vmdk_rw *v;
	char err[256];
	uint8_t *got = malloc(CAP);
	assert_int_equal(vmdk_rw_open(path, &v, err, sizeof(err)), 0);
	assert_true(vmdk_rw_capacity(v) == CAP);
	assert_int_equal(vmdk_rw_read(v, 0, got, CAP), 0);
	assert_memory_equal(got, want, CAP);
	assert_int_equal(header_unclean(path), 0);
	write_both(v, want, 100, 5000, 11);			/* a stored grain, in place */
	assert_int_equal(header_unclean(path), 1);
	uint8_t *before = malloc(CAP);
	memcpy(before, want, CAP);
	write_both(v, want, 10 * GRAIN + 7, 20, 12);		/* a grain never stored */
	/* not flushed yet: the table on disk does not point at the new grain, so a crash
	 * now leaves the grain as it was */
	check_with_reader(path, before);
	free(before);
	write_both(v, want, 4 * GRAIN - 10, 30, 13);		/* stored | not stored */
	write_both(v, want, 33 * MiB + 1000, 3000, 14);	/* the short last grain */
	write_both(v, want, 32 * MiB + 5, 5, 15);		/* the second span */
	assert_int_equal(vmdk_rw_read(v, 0, got, CAP), 0);
	assert_memory_equal(got, want, CAP);
	assert_int_equal(vmdk_rw_write(v, CAP - 10, got, 11), -EINVAL);
	assert_int_equal(vmdk_rw_read(v, CAP, got, 1), -EINVAL);
	assert_int_equal(vmdk_rw_close(v), 0);
	assert_int_equal(header_unclean(path), 0);
	check_with_reader(path, want);
	free(got);
}

static void qemu_checks(const char *path, const uint8_t *want)
{
	if (sh("command -v qemu-img >/dev/null"))
		return;
	int fd = open(P("want.raw"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, want, CAP, 0), 0);
	close(fd);
	assert_int_equal(sh("qemu-img check -q '%s'", path), 0);
	assert_int_equal(sh("qemu-img compare -q -f vmdk -F raw '%s' '%s'", path, P("want.raw")), 0);
}

static void test_ferry_sparse(void **state)
{
	(void)state;
	uint8_t *want = make_disk();
	char path[256];
	snprintf(path, sizeof(path), "%s", P("f.vmdk"));
	write_sparse(path, want);
	edit_and_check(path, want);
	qemu_checks(path, want);
	free(want);
}

static void test_qemu_sparse(void **state)
{
	(void)state;
	if (sh("command -v qemu-img >/dev/null"))
		skip();
	uint8_t *want = make_disk();
	char path[256];
	int fd = open(P("src.raw"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, want, CAP, 0), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s", P("q.vmdk"));
	assert_int_equal(sh("qemu-img convert -f raw -O vmdk '%s' '%s'", P("src.raw"), path), 0);
	snprintf(path, sizeof(path), "%s/q.vmdk", dir);
	edit_and_check(path, want);
	qemu_checks(path, want);
	free(want);
}

static void test_refusals(void **state)
{
	(void)state;
	uint8_t *d = make_disk();
	struct vmdk_meta m = { .capacity = CAP };
	struct vmdk_writer *w;
	struct vmdk_rw *v;
	char err[256];
	assert_int_equal(vmdk_writer_open(P("s.vmdk"), VMDK_STREAM, &m, &w, err, sizeof(err)), 0);
	assert_int_equal(vmdk_writer_write(w, 0, d, 4 * GRAIN), 0);
	assert_int_equal(vmdk_writer_finish(w, err, sizeof(err)), 0);
	assert_int_equal(vmdk_rw_open(P("s.vmdk"), &v, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "streamOptimized"));
	int fd = open(P("junk"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(pwrite_full(fd, d, 4096, 0), 0);
	close(fd);
	assert_int_equal(vmdk_rw_open(P("junk"), &v, err, sizeof(err)), -EBADMSG);
	assert_int_equal(vmdk_rw_open(P("missing"), &v, err, sizeof(err)), -ENOENT);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ferry_sparse),
		cmocka_unit_test(test_qemu_sparse),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
