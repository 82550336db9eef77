/* Unit tests for ferryd's monitor rules: the log usage alarm (rising through each threshold,
 * falling with hysteresis, notified once), the store failure classes, and the SNMP helpers
 * it relies on (inform retry delays, the derived engine id). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/snmp-notifier.h"
#include "common/snmp-target.h"
#include "datapath/monitor.h"
#include "common/banned.h"

static enum log_alarm step(enum log_alarm l, unsigned pm, bool ovf, size_t want_n,
			   const enum notify_type *want)
{
	enum notify_type out[4];
	size_t n = 99;
	enum log_alarm r = monitor_log_alarm(l, pm, ovf, out, &n);
	assert_int_equal(n, want_n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], want[i]);
	return r;
}

static void test_log_alarm(void **state)
{
	(void)state;
	enum log_alarm l = LOG_ALARM_NORMAL;
	l = step(l, 749, false, 0, NULL);
	assert_int_equal(l, LOG_ALARM_NORMAL);
	l = step(l, 750, false, 1, (enum notify_type[]){ NOTIFY_LOG_USAGE_75 });
	assert_int_equal(l, LOG_ALARM_75);
	l = step(l, 760, false, 0, NULL);		/* stays: no repeat */
	l = step(l, 720, false, 0, NULL);		/* inside the hysteresis */
	assert_int_equal(l, LOG_ALARM_75);
	l = step(l, 751, false, 0, NULL);		/* back up: already notified */
	l = step(l, 999, true, 2, (enum notify_type[]){ NOTIFY_LOG_USAGE_90, NOTIFY_LOG_FULL });
	assert_int_equal(l, LOG_ALARM_FULL);
	l = step(l, 100, true, 0, NULL);		/* overflow holds it at full */
	assert_int_equal(l, LOG_ALARM_FULL);
	l = step(l, 800, false, 0, NULL);		/* 80 %: quietly to the 75 band */
	assert_int_equal(l, LOG_ALARM_75);
	l = step(l, 950, false, 1, (enum notify_type[]){ NOTIFY_LOG_USAGE_90 });
	l = step(l, 701, false, 0, NULL);
	assert_int_equal(l, LOG_ALARM_75);
	l = step(l, 699, false, 1, (enum notify_type[]){ NOTIFY_LOG_USAGE_NORMAL });
	assert_int_equal(l, LOG_ALARM_NORMAL);
	l = step(l, 0, false, 0, NULL);
	/* straight from normal to full: every threshold, in order */
	l = step(l, 1000, false, 3, (enum notify_type[]){ NOTIFY_LOG_USAGE_75, NOTIFY_LOG_USAGE_90,
							 NOTIFY_LOG_FULL });
	l = step(l, 0, false, 1, (enum notify_type[]){ NOTIFY_LOG_USAGE_NORMAL });
	/* overflow with a nearly empty log (the ring emptied, the bitmap waits) */
	l = step(l, 10, true, 3, (enum notify_type[]){ NOTIFY_LOG_USAGE_75, NOTIFY_LOG_USAGE_90,
						      NOTIFY_LOG_FULL });
	l = step(l, 10, false, 1, (enum notify_type[]){ NOTIFY_LOG_USAGE_NORMAL });
}

static void test_store_class(void **state)
{
	(void)state;
	assert_int_equal(monitor_store_class(0), STORE_OK);
	assert_int_equal(monitor_store_class(-EACCES), STORE_CREDENTIALS);
	assert_int_equal(monitor_store_class(-EPERM), STORE_CREDENTIALS);
	assert_int_equal(monitor_store_class(-ECONNREFUSED), STORE_UNREACHABLE);
	assert_int_equal(monitor_store_class(-ETIMEDOUT), STORE_UNREACHABLE);
	assert_int_equal(monitor_store_class(-EHOSTUNREACH), STORE_UNREACHABLE);
	assert_int_equal(monitor_store_class(-ECONNRESET), STORE_UNREACHABLE);
	assert_int_equal(monitor_store_class(-EIO), STORE_FAILING);
	assert_int_equal(monitor_store_class(-ENOSPC), STORE_FAILING);
	assert_int_equal(monitor_store_class(-ENOENT), STORE_FAILING);
	assert_string_equal(monitor_store_health_name(STORE_CREDENTIALS), "credentials_refused");
	assert_string_equal(monitor_store_health_name(STORE_NONE), "none");
}

static void test_retry_delay(void **state)
{
	(void)state;
	assert_int_equal(snmp_retry_delay_ms(0), 0);
	assert_int_equal(snmp_retry_delay_ms(1), 1000);
	assert_int_equal(snmp_retry_delay_ms(2), 2000);
	assert_int_equal(snmp_retry_delay_ms(6), 32000);
	assert_int_equal(snmp_retry_delay_ms(7), 60000);
	assert_int_equal(snmp_retry_delay_ms(1000), 60000);
}

static void test_engine_id(void **state)
{
	(void)state;
	uint8_t id[SNMP_ENGINE_ID_MAX];
	int n = snmp_engine_id(NULL, "ferryd", "host", id);
	assert_int_equal(n, 5 + 11);
	static const uint8_t want[] = { 0x80, 0x00, 0x7e, 0xd9, 4, 'f', 'e', 'r', 'r', 'y', 'd',
					'@', 'h', 'o', 's', 't' };
	assert_memory_equal(id, want, sizeof want);
	char hex[2 * SNMP_ENGINE_ID_MAX + 3];
	snmp_engine_id_hex(id, (size_t)n, hex, sizeof hex);
	assert_string_equal(hex, "0x80007ed90466657272796440686f7374");
	/* a long host name is cut to the 32-byte maximum */
	n = snmp_engine_id(NULL, "ferry-agent", "a-very-long-host-name.example.com", id);
	assert_int_equal(n, SNMP_ENGINE_ID_MAX);
	assert_memory_equal(id + 5, "ferry-agent@a-very-long-host", 27);
	/* given in hex */
	n = snmp_engine_id("0x8000000001020304", "x", "y", id);
	assert_int_equal(n, 8);
	assert_memory_equal(id, "\x80\x00\x00\x00\x01\x02\x03\x04", 8);
	assert_int_equal(snmp_engine_id("0x80000000", "x", "y", id), -EINVAL);
	assert_int_equal(snmp_engine_id("8000000001020304", "x", "y", id), -EINVAL);
	assert_int_equal(snmp_engine_id("0x800000000102030g", "x", "y", id), -EINVAL);
	assert_int_equal(snmp_engine_id("0x800000000102030", "x", "y", id), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_alarm),
		cmocka_unit_test(test_store_class),
		cmocka_unit_test(test_retry_delay),
		cmocka_unit_test(test_engine_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
