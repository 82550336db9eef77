/* Unit tests for the notification API: the type table matches the MIB's numbering rules,
 * the queue keeps order, numbers events densely, drops (and counts) when full, and does
 * nothing while closed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>

#include <cmocka.h>

#include "common/notify.h"
#include "common/util.h"
#include "common/banned.h"

static void test_table(void **state)
{
	(void)state;
	for (int a = 0; a < NOTIFY_N_TYPES; a++) {
		const struct notify_type_info *x = notify_type_info((enum notify_type)a);
		assert_non_null(x);
		assert_true(strncmp(x->name, "ferry", 5) == 0);
		assert_true(x->arc >= 1);
		assert_true(x->severity >= NOTIFY_CLEARED && x->severity <= NOTIFY_CRITICAL);
		for (int b = a + 1; b < NOTIFY_N_TYPES; b++) {
			const struct notify_type_info *y = notify_type_info((enum notify_type)b);
			assert_true(x->arc != y->arc);
			assert_true(strcmp(x->name, y->name) != 0);
		}
	}
	assert_null(notify_type_info(NOTIFY_N_TYPES));
	assert_null(notify_type_info((enum notify_type)-1));
	assert_string_equal(notify_type_info(NOTIFY_LOG_FULL)->name, "ferryLogFull");
	assert_int_equal(notify_type_info(NOTIFY_LOG_FULL)->arc, 5);
	/* operations: arc 10 * (3 + op) + 1 + phase, named after the operation */
	assert_int_equal(notify_op_type(NOTIFY_OP_FAILOVER, NOTIFY_PHASE_STARTED),
			 NOTIFY_FAILOVER_STARTED);
	assert_int_equal(notify_op_type(NOTIFY_OP_TEST_FAILOVER, NOTIFY_PHASE_STEP_FAILED),
			 NOTIFY_TEST_FAILOVER_STEP_FAILED);
	assert_int_equal(notify_op_type(NOTIFY_OP_PERMANENT_FAILOVER, NOTIFY_PHASE_COMPLETED),
			 NOTIFY_PERMANENT_FAILOVER_COMPLETED);
	for (int op = 0; op <= NOTIFY_OP_PERMANENT_FAILOVER; op++)
		for (int ph = 0; ph <= NOTIFY_PHASE_COMPLETED; ph++) {
			const struct notify_type_info *x = notify_type_info(
				notify_op_type((enum notify_op)op, (enum notify_op_phase)ph));
			assert_int_equal(x->arc, 10u * (3u + (unsigned)op) + 1u + (unsigned)ph);
		}
	assert_string_equal(notify_type_info(NOTIFY_UNDO_STEP_DONE)->name, "ferryUndoStepDone");
	assert_string_equal(notify_severity_name(NOTIFY_CRITICAL), "critical");
	assert_string_equal(notify_severity_name(0), "?");
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void test_queue(void **state)
{
	(void)state;
	struct notify_event ev;
	notify_event(NOTIFY_TEST, NULL, "before the queue exists");	/* ignored */
	assert_int_equal(notify_queue_fd(), -1);
	assert_false(notify_queue_pop(&ev));

	assert_int_equal(notify_queue_init(0), -EINVAL);
	assert_int_equal(notify_queue_init(3), 0);
	assert_int_equal(notify_queue_init(3), -EBUSY);
	int fd = notify_queue_fd();
	assert_true(fd >= 0);
	assert_false(readable(fd));
	notify_event(NOTIFY_OVERFLOW_ENTERED, "db", "log %s full", "/dev/vdb");
	assert_true(readable(fd));
	notify_event(NOTIFY_FERRYD_STARTED, NULL, "started");
	notify_event(NOTIFY_TEST, "", "%s", "third");
	notify_event(NOTIFY_TEST, "x", "dropped: the queue holds 3");
	assert_int_equal(notify_queue_length(), 3);
	assert_int_equal(notify_queue_dropped(), 1);

	assert_true(notify_queue_pop(&ev));
	assert_int_equal(ev.type, NOTIFY_OVERFLOW_ENTERED);
	assert_int_equal(ev.severity, NOTIFY_CRITICAL);
	assert_int_equal(ev.seq, 1);
	assert_string_equal(ev.domain, "db");
	assert_string_equal(ev.text, "log /dev/vdb full");
	assert_true(ev.time_ns > 0);
	assert_true(notify_queue_pop(&ev));
	assert_int_equal(ev.seq, 2);
	assert_string_equal(ev.domain, "");
	assert_true(readable(fd));
	assert_true(notify_queue_pop(&ev));
	assert_int_equal(ev.seq, 3);
	assert_false(readable(fd));	/* empty: the eventfd is reset */
	assert_false(notify_queue_pop(&ev));

	/* the dropped event kept its number: receivers see the gap */
	notify_event(NOTIFY_TEST, NULL, "fifth");
	assert_true(notify_queue_pop(&ev));
	assert_int_equal(ev.seq, 5);

	/* long texts and domains are cut, never overflow */
	char big[1000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	notify_event(NOTIFY_TEST, big, "%s", big);
	assert_true(notify_queue_pop(&ev));
	assert_int_equal(strlen(ev.domain), NOTIFY_DOMAIN_MAX);
	assert_int_equal(strlen(ev.text), NOTIFY_TEXT_MAX);
	notify_event((enum notify_type)NOTIFY_N_TYPES, NULL, "unknown type: ignored");
	assert_int_equal(notify_queue_length(), 0);

	notify_queue_close();
	notify_event(NOTIFY_TEST, NULL, "after close: ignored");
	assert_int_equal(notify_queue_fd(), -1);
	assert_false(notify_queue_pop(&ev));
	/* it can be opened again (ferryctl's standalone test after a failed start) */
	assert_int_equal(notify_queue_init(1), 0);
	notify_event(NOTIFY_TEST, NULL, "again");
	assert_true(notify_queue_pop(&ev));
	assert_int_equal(ev.seq, 1);
	notify_queue_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
