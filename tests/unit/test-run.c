/* Unit tests for run_command (agent/run.c): stdout, stdin, the end of stderr, exit codes
 * and signals, the environment, the output cap, a missing command, the deadline, which
 * must kill the command's children too, and a caller without stdin/stdout/stderr. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/run.h"
#include "common/util.h"
#include "common/banned.h"

static int sh(const char *script, const char *input, unsigned timeout_s, size_t max_out,
	      const char *const *env, struct run_result *r)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	return run_command(argv, env, input, input ? strlen(input) : 0, timeout_s, max_out, r);
}

static void test_output_and_status(void **state)
{
	(void)state;
	struct run_result r;
	assert_int_equal(sh("echo out; echo first >&2; printf 'last\\r\\n\\n' >&2; exit 3", NULL,
			    10, 1024, NULL, &r), 0);
	assert_int_equal(r.status, 3);
	assert_false(r.timed_out);
	assert_string_equal(r.out, "out\n");
	assert_int_equal(r.out_len, 4);
	assert_string_equal(r.err_line, "last");
	run_result_release(&r);

	assert_int_equal(sh("kill -TERM $$", NULL, 10, 1024, NULL, &r), 0);
	assert_int_equal(r.status, -1);
	assert_int_equal(r.signal, SIGTERM);
	run_result_release(&r);
}

static void test_stdin_and_env(void **state)
{
	(void)state;
	/* more than a socket buffer of input, read back whole */
	size_t n = 1 << 20;
	char *in = malloc(n + 1);
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	in[n] = '\0';
	struct run_result r;
	assert_int_equal(sh("cat", in, 10, 2 << 20, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, n);
	assert_memory_equal(r.out, in, n);
	run_result_release(&r);
	/* a command that does not read its input: no SIGPIPE, no hang */
	assert_int_equal(sh("exit 0", in, 10, 16, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_release(&r);
	free(in);

	setenv("FERRY_TEST_RUN", "old", 1);
	const char *env[] = { "FERRY_TEST_RUN=new", "FERRY_TEST_X=1", NULL };
	assert_int_equal(sh("echo $FERRY_TEST_RUN$FERRY_TEST_X; env | grep -c '^FERRY_TEST_RUN='",
			    NULL, 10, 64, env, &r), 0);
	assert_string_equal(r.out, "new1\n1\n");
	run_result_release(&r);
}

static void test_cap_and_missing(void **state)
{
	(void)state;
	struct run_result r;
	assert_int_equal(sh("head -c 100000 /dev/zero", NULL, 10, 1000, NULL, &r), 0);
	assert_true(r.out_truncated);
	assert_true(r.out_len <= 1000);
	assert_int_equal(r.status, 0);
	run_result_release(&r);

	const char *argv[] = { "/nonexistent/ferry-command", NULL };
	assert_int_equal(run_command(argv, NULL, NULL, 0, 5, 64, &r), -ENOENT);
}

static void test_deadline_kills_the_group(void **state)
{
	(void)state;
	char pidfile[] = "/tmp/ferry-test-run.XXXXXX";
	int fd = mkstemp(pidfile);
	assert_true(fd >= 0);
	close(fd);
	char script[256];
	/* a child that keeps stdout open, and a parent that waits for it */
	snprintf(script, sizeof(script), "sleep 60 & echo $! >%s; echo started; wait", pidfile);
	struct run_result r;
	assert_int_equal(sh(script, NULL, 1, 64, NULL, &r), 0);
	assert_true(r.timed_out);
	assert_int_equal(r.status, -1);
	assert_string_equal(r.out, "started\n");
	run_result_release(&r);
	FILE *f = fopen(pidfile, "r");
	assert_non_null(f);
	int pid = 0;
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	unlink(pidfile);
	/* the sleep was killed with its group (a zombie until init reaps it: poll a while) */
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		char path[64], st = 0;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		FILE *s = fopen(path, "r");
		gone = !s || (fscanf(s, "%*d %*s %c", &st) == 1 && st == 'Z');
		if (s)
			fclose(s);
		if (!gone)
			usleep(10000);
	}
	assert_true(gone);
}

/* a daemon without stdin, stdout and stderr: the command still gets its input and its
 * output gets back */
static void test_without_stdio(void **state)
{
	(void)state;
	int saved[3];
	for (int i = 0; i < 3; i++)
		saved[i] = dup(i);
	for (int i = 0; i < 3; i++)
		close(i);
	struct run_result r;
	int rc = sh("cat; echo err >&2", "in", 10, 64, NULL, &r);
	for (int i = 0; i < 3; i++) {
		dup2(saved[i], i);
		close(saved[i]);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "in");
	assert_string_equal(r.err_line, "err");
	run_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_and_status),
		cmocka_unit_test(test_stdin_and_env),
		cmocka_unit_test(test_cap_and_missing),
		cmocka_unit_test(test_deadline_kills_the_group),
		cmocka_unit_test(test_without_stdio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
