/* Unit tests of the atomic small-file helper (common/atomic-file.h): a new file, a
 * replacement (never a mix of old and new), the mode, no temporary left behind, and a
 * failure (the directory is not writable as a file) that leaves the old content. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/atomic-file.h"
#include "common/util.h"
#include "common/banned.h"

static void read_back(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t k = read(fd, buf, n - 1);
	assert_true(k >= 0);
	buf[k] = '\0';
	close(fd);
}

static void test_write_replace(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-atomic.XXXXXX", path[64], tmp[80], buf[64];
	struct stat st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_equal(atomic_file_write(path, "first\n", 6, 0600), 0);
	read_back(path, buf, sizeof buf);
	assert_string_equal(buf, "first\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(atomic_file_write(path, "2\n", 2, 0600), 0);
	read_back(path, buf, sizeof buf);
	assert_string_equal(buf, "2\n");
	assert_int_equal(access(tmp, F_OK), -1);
	/* a directory where the temporary would go: the write fails, the old file stays */
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_true(atomic_file_write(path, "third\n", 6, 0600) < 0);
	read_back(path, buf, sizeof buf);
	assert_string_equal(buf, "2\n");
	assert_int_equal(rmdir(tmp), 0);
	/* rename_durable and fsync_parent_dir */
	assert_int_equal(rename_durable(path, tmp), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(fsync_parent_dir(tmp), 0);
	assert_int_equal(unlink(tmp), 0);
	assert_int_equal(fsync_parent_dir("/nonexistent/dir/file"), -ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_replace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
