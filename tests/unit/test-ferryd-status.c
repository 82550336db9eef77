/* Unit tests for the parser of ferryd's "status json": the fields ferry-subagent serves,
 * the states and store health it derives, defaults, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

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
		"{\"name\":\"capture\",\"state\":\"ok\",\"store\":\"none\"},"
		"{\"name\":\"moved\",\"state\":\"ok\",\"consistent_point\":\"1.9\","
		"\"consistent_time_ns\":9,\"rpo_ms\":15000,\"current_rpo_ms\":900000,"
		"\"shipping\":\"stopped\",\"store\":\"ok\"}]},"
		"\"snmp\":{\"sent\":14,\"acknowledged\":3,\"dropped\":1,\"failed\":2}}"), 0);
	assert_int_equal(st.log_pct, 76);
	assert_int_equal(st.sent, 14);
	assert_int_equal(st.acknowledged, 3);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.n_domains, 5);
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
	assert_int_equal(d[4].state, FS_NOT_SHIPPING);	/* failed over: shipping stopped */
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

/* ferry-agent's domains: a state beyond Protected wins over ferryd's row of the same name;
 * others are added, with their rehydration's point and RPO; junk entries are skipped */
static void test_agent_merge(void **state)
{
	(void)state;
	struct ferryd_status fs;
	char err[256];
	const char *fd = "{\"log\":{\"used_pct\":10,\"domains\":[{\"name\":\"a\",\"store\":\"ok\"},"
			 "{\"name\":\"b\",\"store\":\"ok\"}]}}";
	assert_int_equal(ferryd_status_parse(fd, strlen(fd), &fs, err, sizeof err), 0);
	json_t *ans = json_loads("{\"domains\":["
		"{\"domain\":\"a\",\"state\":\"Protected\"},"
		"{\"domain\":\"b\",\"state\":\"FailedOver\"},"
		"{\"domain\":\"c\",\"state\":\"Rehydrating\","
		" \"rehydration\":{\"point\":\"1.7\",\"rpo_s\":12.6}},"
		"{\"domain\":\"d\",\"state\":\"Error\"},"
		"{\"domain\":\"e\",\"state\":\"Sideways\"}, 7, {\"state\":\"Error\"}]}", 0, NULL);
	assert_non_null(ans);
	assert_int_equal(agent_status_merge(ans, &fs, err, sizeof err), 0);
	assert_int_equal(fs.n_domains, 4);
	assert_int_equal(fs.domains[0].state, FS_PROTECTED);	/* ferryd's row stays */
	assert_int_equal(fs.domains[1].state, FS_FAILED_OVER);
	assert_string_equal(fs.domains[2].name, "c");
	assert_int_equal(fs.domains[2].state, FS_REHYDRATING);
	assert_string_equal(fs.domains[2].point, "1.7");
	assert_int_equal(fs.domains[2].rpo_s, 12);
	assert_int_equal(fs.domains[2].store, FS_STORE_OK);
	assert_string_equal(fs.domains[3].name, "d");
	assert_int_equal(fs.domains[3].state, FS_ERROR);
	assert_int_equal(fs.domains[3].rpo_s, -1);
	assert_string_equal(fs.domains[3].point, "");
	json_decref(ans);
	ans = json_loads("{\"domains\":[{\"domain\":\"x\",\"state\":\"RecoveryReady\"}],"
			 "\"store_error\":\"down\"}", 0, NULL);
	memset(&fs, 0, sizeof fs);
	assert_int_equal(agent_status_merge(ans, &fs, err, sizeof err), 0);
	assert_int_equal(fs.n_domains, 1);
	assert_int_equal(fs.domains[0].state, FS_RECOVERY_READY);
	assert_int_equal(fs.domains[0].store, FS_STORE_FAILING);
	json_decref(ans);
	ans = json_loads("[1]", 0, NULL);
	assert_int_equal(agent_status_merge(ans, &fs, err, sizeof err), -1);
	assert_non_null(strstr(err, "domains"));
	json_decref(ans);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal_and_errors),
		cmocka_unit_test(test_agent_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
