/* The batch writer (common/batch-write.h): random writes of every alignment (aligned runs
 * that go O_DIRECT, unaligned heads and tails, neighbours that merge, neighbours in memory
 * that are not neighbours on disk), handed in window by window with bw_submit and finished
 * with bw_flush, leave the file byte for byte equal to a model, through io_uring, libaio
 * (FERRY_DISABLE_URING) and pwrite (no engine at all), with and without a direct
 * descriptor. Buffers are reused only as the
 * contract allows (BW_BATCHES submits later). A direct descriptor that cannot write
 * (EBADF) makes the flush fail: errors are reported, never lost. The file lives under
 * /var/tmp, not /tmp, which may be a tmpfs without O_DIRECT. */
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
#include <unistd.h>

#include <cmocka.h>

#include "common/batch-write.h"
#include "common/util.h"
#include "common/banned.h"

#define FILE_SIZE (8u << 20)
#define WIN (256u << 10)	/* one window's buffer */
#define NBUF (BW_BATCHES + 1)	/* window buffers in rotation */

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/var/tmp/ferry-bw-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

enum eng { URING, AIO, PWRITE };
static const char *const eng_name[] = { "io_uring", "libaio", "pwrite" };

static void use_engine(enum eng e)
{
	setenv("FERRY_DISABLE_URING", e == URING ? "0" : "1", 1);
	setenv("FERRY_DISABLE_AIO", e == PWRITE ? "1" : "0", 1);
}

/* Windows of random writes; returns how many writes were direct-eligible (aligned). */
static unsigned run(enum eng e, bool direct, unsigned seed)
{
	use_engine(e);
	srand(seed);
	uint8_t *model = calloc(1, FILE_SIZE), *got = malloc(FILE_SIZE), *buf[NBUF];
	assert_non_null(model);
	assert_non_null(got);
	for (unsigned i = 0; i < NBUF; i++)
		assert_int_equal(posix_memalign((void **)&buf[i], 4096, WIN), 0);
	int fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, FILE_SIZE), 0);
	struct batch_writer *w;
	assert_int_equal(bw_open(fd, 16, &w), 0);
	assert_string_equal(bw_engine(w), eng_name[e]);
	if (direct)
		bw_use_direct(w, path);
	unsigned aligned = 0;
	/* each window writes a distinct region of the file (a restore writes each byte once) */
	for (unsigned win = 0; win < FILE_SIZE / WIN; win++) {
		uint8_t *b = buf[win % NBUF];
		uint64_t base = (uint64_t)win * WIN, pos = base;
		size_t used = 0;
		while (pos < base + WIN) {
			size_t len = 1 + (size_t)rand() % (48u << 10);
			if (rand() % 2)	/* an aligned run */
				len = ROUND_UP(len, 4096);
			if (rand() % 3 == 0)	/* a hole */
				pos += (uint64_t)(rand() % 8192);
			/* memory: back to back (merges), or skipped ahead to an aligned slot */
			if (rand() % 2)
				used = ROUND_UP(used, 4096);
			if (pos >= base + WIN || used >= WIN)
				break;
			len = MIN(len, (size_t)(base + WIN - pos));
			len = MIN(len, WIN - used);
			for (size_t i = 0; i < len; i++)
				b[used + i] = (uint8_t)rand();
			memcpy(model + pos, b + used, len);
			aligned += pos % 4096 == 0 && len % 4096 == 0 && used % 4096 == 0;
			assert_int_equal(bw_write(w, b + used, len, pos), 0);
			pos += len;
			used += len;
		}
		assert_int_equal(win % 7 == 6 ? bw_flush(w) : bw_submit(w), 0);
	}
	assert_int_equal(bw_flush(w), 0);
	bw_close(w);
	assert_int_equal(pread(fd, got, FILE_SIZE, 0), (ssize_t)FILE_SIZE);
	assert_memory_equal(got, model, FILE_SIZE);
	close(fd);
	for (unsigned i = 0; i < NBUF; i++)
		free(buf[i]);
	free(model);
	free(got);
	return aligned;
}

static void test_uring_direct(void **state)
{
	(void)state;
	assert_true(run(URING, true, 1) > 0);
	run(URING, true, 2);
}

static void test_uring_buffered(void **state)
{
	(void)state;
	run(URING, false, 3);
}

static void test_aio_direct(void **state)
{
	(void)state;
	assert_true(run(AIO, true, 5) > 0);
	run(AIO, false, 6);
}

static void test_pwrite_direct(void **state)
{
	(void)state;
	run(PWRITE, true, 4);
}

static void test_direct_error_is_reported(void **state)
{
	(void)state;
	for (enum eng e = URING; e <= PWRITE; e++) {
		use_engine(e);
		int fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
		int bad = open(path, O_RDONLY | O_CLOEXEC);	/* writes fail with EBADF */
		assert_true(fd >= 0 && bad >= 0);
		uint8_t *b = NULL;
		assert_int_equal(posix_memalign((void **)&b, 4096, 65536), 0);
		assert_non_null(b);
		memset(b, 0x5a, 65536);
		struct batch_writer *w;
		assert_int_equal(bw_open(fd, 4, &w), 0);
		bw_set_direct(w, bad);
		assert_int_equal(bw_write(w, b, 65536, 0), 0);
		int rc = bw_submit(w);
		if (rc == 0)
			rc = bw_flush(w);
		assert_int_equal(rc, -EBADF);
		bw_close(w);	/* closes bad */
		close(fd);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uring_direct),
		cmocka_unit_test(test_uring_buffered),
		cmocka_unit_test(test_aio_direct),
		cmocka_unit_test(test_pwrite_direct),
		cmocka_unit_test(test_direct_error_is_reported),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
