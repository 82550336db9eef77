/* Unit tests for the parser of ferryd's "status json": the fields ferry-subagent serves,
 * the states and store health it derives, defaults, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/ferryd-status.h"
#include "common/banned.h"

static struct ferryd_status st;

static int parse(const char *s)
{
	char err[256] = "";
	int r = ferryd_status_parse(s, strlen(s), &st, err, sizeof err);
	if (r < 0)
		print_message("error: %s\n", err);
	return r;
}

static void test_full(void **state)
{
	(void)state;
	assert_int_equal(parse(
		"{\"exports\":[],\"log\":{\"used_pct\":75.6,\"domains\":["
		"{\"name\":\"dom\",\"state\":\"overflow\",\"consistent_point\":\"1.3\","
		"\"consistent_time_ns\":17,\"rpo_ms\":1000,\"current_rpo_ms\":37999,"
		"\"store\":\"failing\"},"
		"{\"name\":\"web\",\"state\":\"ok\",\"consistent_point\":\"1.0\","
		"\"consistent_time_ns\":0,\"rpo_ms\":15000,\"current_rpo_ms\":-1,"
		"\"store\":\"credentials_refused\"},"
		"{\"name\":\"idle\",\"state\":\"ok\",\"consistent_point\":\"2.7\","
		"\"consistent_time_ns\":9,\"rpo_ms\":15000,\"current_rpo_ms\":0,\"store\":\"ok\"},"
		"{\"name\":\"capture\",\"state\":\"ok\",\"store\":\"none\"}]},"
		"\"snmp\":{\"sent\":14,\"acknowledged\":3,\"dropped\":1,\"failed\":2}}"), 0);
	assert_int_equal(st.log_pct, 76);
	assert_int_equal(st.sent, 14);
	assert_int_equal(st.acknowledged, 3);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.n_domains, 4);
	const struct ferryd_domain_status *d = st.domains;
	assert_string_equal(d[0].name, "dom");
	assert_int_equal(d[0].state, FS_OVERFLOW);
	assert_string_equal(d[0].point, "1.3");
	assert_int_equal(d[0].rpo_s, 37);
	assert_int_equal(d[0].rpo_target_s, 1);
	assert_int_equal(d[0].store, FS_STORE_FAILING);
	assert_int_equal(d[1].state, FS_PROTECTED);
	assert_string_equal(d[1].point, "");		/* no consistent point yet */
	assert_int_equal(d[1].rpo_s, -1);
	assert_int_equal(d[1].store, FS_STORE_CREDENTIALS);
	assert_int_equal(d[2].rpo_s, 0);
	assert_string_equal(d[2].point, "2.7");
	assert_int_equal(d[2].store, FS_STORE_OK);
	assert_int_equal(d[3].state, FS_NOT_SHIPPING);
	assert_int_equal(d[3].store, FS_STORE_NONE);
	assert_int_equal(d[3].rpo_s, -1);
}

static void test_minimal_and_errors(void **state)
{
	(void)state;
	assert_int_equal(parse("{}"), 0);		/* no log, no notifier */
	assert_int_equal(st.n_domains, 0);
	assert_int_equal(st.sent, 0);
	assert_int_equal(parse("{\"log\":{\"used_pct\":250,\"domains\":[]}}"), 0);
	assert_int_equal(st.log_pct, 100);
	assert_int_equal(parse("{\"log\":{\"used_pct\":-3}}"), 0);
	assert_int_equal(st.log_pct, 0);
	char err[128];
	static const char *bad[] = { "", "[]", "{", "{\"log\":3}", "{\"log\":{\"domains\":{}}}",
				     "{\"log\":{\"domains\":[7]}}", "{\"a\":1,\"a\":2}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		assert_int_equal(ferryd_status_parse(bad[i], strlen(bad[i]), &st, err, sizeof err), -1);
		assert_true(err[0] != 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
