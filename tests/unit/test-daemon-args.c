/* Unit tests of the daemons' command line (common/daemon-args.h): -c is required, -v turns
 * on debug logging, --help and --version end with 0, --log-file only where asked for,
 * anything else with 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/daemon-args.h"
#include "common/util.h"
#include "common/banned.h"

static int parse(struct daemon_args *a, char **argv, int argc)
{
	*a = (struct daemon_args){ .name = "ferry-test", .config_help = "tests" };
	return daemon_args_parse(argc, argv, a);
}

static void test_args(void **state)
{
	(void)state;
	struct daemon_args a;
	char *ok[] = { "ferry-test", "-c", "/etc/f.conf", "-v" };
	assert_int_equal(parse(&a, ok, (int)ARRAY_SIZE(ok)), -1);
	assert_string_equal(a.conf, "/etc/f.conf");
	assert_int_equal(a.level, LOG_LVL_DEBUG);
	char *plain[] = { "ferry-test", "--config", "f.conf" };
	assert_int_equal(parse(&a, plain, (int)ARRAY_SIZE(plain)), -1);
	assert_int_equal(a.level, LOG_LVL_INFO);
	char *help[] = { "ferry-test", "--help" };
	assert_int_equal(parse(&a, help, (int)ARRAY_SIZE(help)), 0);
	char *version[] = { "ferry-test", "--version" };
	assert_int_equal(parse(&a, version, (int)ARRAY_SIZE(version)), 0);
	char *none[] = { "ferry-test" };
	assert_int_equal(parse(&a, none, (int)ARRAY_SIZE(none)), 2);
	char *bogus[] = { "ferry-test", "-c", "f", "--bogus" };
	assert_int_equal(parse(&a, bogus, (int)ARRAY_SIZE(bogus)), 2);
	char *stray[] = { "ferry-test", "-c", "f", "extra" };
	assert_int_equal(parse(&a, stray, (int)ARRAY_SIZE(stray)), 2);
}

/* --log-file only where the daemon takes it (ferryd), refused elsewhere */
static void test_log_file(void **state)
{
	(void)state;
	struct daemon_args a;
	char *lf[] = { "ferry-test", "-c", "f", "--log-file", "/var/log/f.log" };
	assert_int_equal(parse(&a, lf, (int)ARRAY_SIZE(lf)), 2);
	a = (struct daemon_args){ .name = "ferry-test", .config_help = "tests",
				  .log_file_option = true };
	assert_int_equal(daemon_args_parse((int)ARRAY_SIZE(lf), lf, &a), -1);
	assert_string_equal(a.log_file, "/var/log/f.log");
	char *none[] = { "ferry-test", "-c", "f" };
	assert_int_equal(daemon_args_parse((int)ARRAY_SIZE(none), none, &a), -1);
	assert_null(a.log_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_log_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
