/* The domain state machine: every (state, action) pair, against the table in
 * docs/failover.md, plus the test round trips (a test returns to where it started) and
 * the names both ways. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/state.h"
#include "common/banned.h"

#define NO (-1)

static int step(enum dom_state s, enum dom_action a)
{
	struct dom_status cur = { .state = s, .ret = DOM_RECOVERY_READY, .failed = DA_FORCED };
	struct dom_status next;
	int rc = dom_transition(&cur, a, DA_FORCED, &next);
	if (rc == -EPERM)
		return NO;
	assert_int_equal(rc, 0);
	return (int)next.state;
}

/* Operator actions from the plain states (Error's rules depend on what failed: below). */
static void test_operator_actions(void **state)
{
	(void)state;
	static const struct {
		enum dom_state s;
		int want[DA_TEST_STOP + 1];
	} rows[] = {
		/*                       plan  planned forced test continuous complete test-stop */
		{ DOM_PROTECTED, { DOM_RECOVERY_READY, NO, NO, NO, NO, NO, NO } },
		{ DOM_RECOVERY_READY, { DOM_RECOVERY_READY, DOM_FAILING_OVER, DOM_FAILING_OVER,
					DOM_TESTING_FAILOVER, DOM_REHYDRATING, NO, NO } },
		{ DOM_REHYDRATING, { DOM_REHYDRATING, NO, NO, DOM_TESTING_FAILOVER, NO,
				     DOM_FAILING_OVER, NO } },
		{ DOM_FAILING_OVER, { NO, NO, NO, NO, NO, NO, NO } },
		{ DOM_FAILED_OVER, { NO, NO, NO, NO, NO, NO, NO } },
		{ DOM_TESTING_FAILOVER, { NO, NO, NO, NO, NO, NO, DOM_TESTING_FAILOVER } },
		{ DOM_FAILING_BACK, { NO, NO, NO, NO, NO, NO, NO } },
		{ DOM_READY_FOR_FAILBACK, { NO, NO, NO, NO, NO, NO, NO } },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (int a = DA_PLAN; a <= DA_TEST_STOP; a++) {
			int got = step(rows[i].s, (enum dom_action)a);
			if (got != rows[i].want[a])
				fail_msg("%s + %s: got %d, want %d", dom_state_name(rows[i].s),
					 dom_action_name((enum dom_action)a), got, rows[i].want[a]);
		}
}

static int from_error(enum dom_action failed, enum dom_action a)
{
	struct dom_status cur = { .state = DOM_ERROR, .ret = DOM_REHYDRATING, .failed = failed };
	struct dom_status next;
	int rc = dom_transition(&cur, a, a, &next);
	return rc == -EPERM ? NO : (int)next.state;
}

static void test_error_retry(void **state)
{
	(void)state;
	/* a failed failover is retried by starting it again (or another failover mode) */
	assert_int_equal(from_error(DA_FORCED, DA_FORCED), DOM_FAILING_OVER);
	assert_int_equal(from_error(DA_FORCED, DA_PLANNED), DOM_FAILING_OVER);
	assert_int_equal(from_error(DA_FORCED, DA_TEST), NO);
	assert_int_equal(from_error(DA_FORCED, DA_TEST_STOP), NO);
	assert_int_equal(from_error(DA_FORCED, DA_COMPLETE), NO);
	assert_int_equal(from_error(DA_FORCED, DA_PLAN), DOM_ERROR);
	/* a failed test must be cleaned up (or retried) before anything else */
	assert_int_equal(from_error(DA_TEST, DA_FORCED), NO);
	assert_int_equal(from_error(DA_TEST, DA_TEST), DOM_TESTING_FAILOVER);
	assert_int_equal(from_error(DA_TEST, DA_TEST_STOP), DOM_TESTING_FAILOVER);
	assert_int_equal(from_error(DA_TEST_STOP, DA_TEST_STOP), DOM_TESTING_FAILOVER);
	assert_int_equal(from_error(DA_TEST_STOP, DA_CONTINUOUS), NO);
	/* continuous: retry the rehydration, or complete */
	assert_int_equal(from_error(DA_CONTINUOUS, DA_CONTINUOUS), DOM_REHYDRATING);
	assert_int_equal(from_error(DA_CONTINUOUS, DA_COMPLETE), DOM_FAILING_OVER);
	assert_int_equal(from_error(DA_COMPLETE, DA_COMPLETE), DOM_FAILING_OVER);
	assert_int_equal(from_error(DA_COMPLETE, DA_CONTINUOUS), NO);
}

static void test_operation_ends(void **state)
{
	(void)state;
	struct dom_status s = { .state = DOM_FAILING_OVER }, n;
	for (int op = DA_PLANNED; op <= DA_COMPLETE; op++) {
		if (op == DA_TEST || op == DA_CONTINUOUS)
			continue;
		assert_int_equal(dom_transition(&s, DA_OP_DONE, (enum dom_action)op, &n), 0);
		assert_int_equal(n.state, DOM_FAILED_OVER);
	}
	/* the rehydration op ending (complete stopped it) changes nothing */
	assert_int_equal(dom_transition(&s, DA_OP_DONE, DA_CONTINUOUS, &n), 0);
	assert_int_equal(n.state, DOM_FAILING_OVER);
	/* any failure: Error naming the action */
	assert_int_equal(dom_transition(&s, DA_OP_FAILED, DA_COMPLETE, &n), 0);
	assert_int_equal(n.state, DOM_ERROR);
	assert_int_equal(n.failed, DA_COMPLETE);
}

/* RecoveryReady/Rehydrating -> test -> test done -> test-stop -> done: back where it was */
static void test_test_round_trip(void **state)
{
	(void)state;
	enum dom_state starts[] = { DOM_RECOVERY_READY, DOM_REHYDRATING };
	for (size_t i = 0; i < 2; i++) {
		struct dom_status s = { .state = starts[i] }, n;
		assert_int_equal(dom_transition(&s, DA_TEST, DA_TEST, &n), 0);
		assert_int_equal(n.state, DOM_TESTING_FAILOVER);
		assert_int_equal(n.ret, starts[i]);
		s = n;
		assert_int_equal(dom_transition(&s, DA_OP_DONE, DA_TEST, &n), 0);
		assert_int_equal(n.state, DOM_TESTING_FAILOVER);
		s = n;
		/* a failed stop is retried */
		assert_int_equal(dom_transition(&s, DA_TEST_STOP, DA_TEST_STOP, &n), 0);
		s = n;
		assert_int_equal(dom_transition(&s, DA_OP_FAILED, DA_TEST_STOP, &n), 0);
		assert_int_equal(n.state, DOM_ERROR);
		s = n;
		assert_int_equal(dom_transition(&s, DA_TEST_STOP, DA_TEST_STOP, &n), 0);
		assert_int_equal(n.state, DOM_TESTING_FAILOVER);
		s = n;
		assert_int_equal(dom_transition(&s, DA_OP_DONE, DA_TEST_STOP, &n), 0);
		assert_int_equal(n.state, starts[i]);
	}
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < DOM_STATE_COUNT; s++) {
		enum dom_state back;
		assert_int_equal(dom_state_parse(dom_state_name((enum dom_state)s), &back), 0);
		assert_int_equal(back, s);
	}
	for (int a = 0; a < DOM_ACTION_COUNT; a++) {
		enum dom_action back;
		assert_int_equal(dom_action_parse(dom_action_name((enum dom_action)a), &back), 0);
		assert_int_equal(back, a);
	}
	enum dom_state s;
	assert_int_equal(dom_state_parse("protected", &s), -EINVAL);
	assert_string_equal(dom_state_name((enum dom_state)99), "?");
	assert_string_equal(dom_state_name(DOM_TESTING_FAILOVER), "TestingFailover");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operator_actions),
		cmocka_unit_test(test_error_retry),
		cmocka_unit_test(test_operation_ends),
		cmocka_unit_test(test_test_round_trip),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
