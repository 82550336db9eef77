/* Unit tests for Re-IP rules (agent/reip-rule.c): the syntax (every form, canonical
 * output, every refusal), matching (octets, `*`, FROM/N, first rule wins), and mapping a
 * NIC (address, prefix, gateway through the same rule or the rule's own, DNS through the
 * rules or the rule's list; DHCP and unmatched NICs unchanged). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/reip.h"
#include "common/util.h"
#include "common/banned.h"

static struct reip_rule rule(const char *text)
{
	struct reip_rule r;
	char err[160];
	if (reip_rule_parse(text, &r, err, sizeof(err)))
		fail_msg("'%s': %s", text, err);
	return r;
}

static uint32_t ip(const char *s)
{
	uint32_t a;
	assert_int_equal(vm_ipv4_parse(s, strlen(s), &a), 0);
	return a;
}

static void test_parse_format(void **state)
{
	(void)state;
	static const char *const canon[] = {
		"10.1.*.* -> 10.2.*.*",
		"10.1.0.* -> 192.168.5.* prefix 16 gw 192.168.0.1 dns 192.168.0.2,1.1.1.1",
		"10.1.*.*/16 -> 10.2.*.*",
		"*.*.*.* -> 172.16.*.*",
		"10.1.0.11 -> 10.2.0.99 prefix 24",
		"10.*.3.* -> *.*.*.7",
	};
	for (size_t i = 0; i < ARRAY_SIZE(canon); i++) {
		struct reip_rule r = rule(canon[i]);
		char out[200];
		assert_int_equal(reip_rule_format(&r, out, sizeof(out)), (int)strlen(canon[i]));
		assert_string_equal(out, canon[i]);
		assert_int_equal(reip_rule_format(&r, out, 8), -ENOSPC);
	}
	/* other spellings */
	struct reip_rule r = rule("  10.1.*.*\t->  10.2.*.*/20   dns 8.8.8.8 gw 10.2.0.1 ");
	char out[200];
	reip_rule_format(&r, out, sizeof(out));
	assert_string_equal(out, "10.1.*.* -> 10.2.*.* prefix 20 gw 10.2.0.1 dns 8.8.8.8");
	assert_int_equal(r.from_any, 0xc);	/* octets 2 and 3 */
	assert_int_equal(r.to_keep, 0xc);
	assert_int_equal(r.from[0], 10);
	assert_int_equal(r.to[1], 2);

	static const struct { const char *text, *why; } bad[] = {
		{ "", "expected FROM -> TO" },
		{ "10.1.*.*", "expected FROM -> TO" },
		{ "10.1.*.* => 10.2.*.*", "expected FROM -> TO" },
		{ "10.1.* -> 10.2.*.*", "bad pattern '10.1.*'" },
		{ "10.1.*.*.* -> 10.2.*.*", "bad pattern" },
		{ "10.01.*.* -> 10.2.*.*", "bad pattern" },
		{ "10.1.**.* -> 10.2.*.*", "bad pattern" },
		{ "10.1.*.*/33 -> 10.2.*.*", "bad pattern" },
		{ "10.1.*.*/0 -> 10.2.*.*", "bad pattern" },
		{ "10.1.*.* -> 10.256.*.*", "bad target '10.256.*.*'" },
		{ "10.1.*.* -> 0.0.0.0", "target 0.0.0.0" },
		{ "10.1.*.* -> 10.2.*.* prefix", "'prefix' needs a value" },
		{ "10.1.*.* -> 10.2.*.* prefix 0", "bad prefix '0'" },
		{ "10.1.*.* -> 10.2.*.*/24 prefix 24", "'prefix' given twice" },
		{ "10.1.*.* -> 10.2.*.* gw 10.2.0", "bad gateway" },
		{ "10.1.*.* -> 10.2.*.* gw 0.0.0.0", "bad gateway" },
		{ "10.1.*.* -> 10.2.*.* gw 1.1.1.1 gw 1.1.1.1", "'gw' given twice" },
		{ "10.1.*.* -> 10.2.*.* dns 1.1.1.1,", "bad DNS server ''" },
		{ "10.1.*.* -> 10.2.*.* dns 1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", "too many DNS" },
		{ "10.1.*.* -> 10.2.*.* mtu 1500", "unexpected 'mtu'" },
		{ "a -> b c d e f g h i j k l m n", "expected FROM -> TO" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char err[200] = "";
		struct reip_rule x;
		if (reip_rule_parse(bad[i].text, &x, err, sizeof(err)) != -EINVAL || !strstr(err, bad[i].why))
			fail_msg("'%s': expected '%s', got '%s'", bad[i].text, bad[i].why, err);
	}
}

static void test_match_apply(void **state)
{
	(void)state;
	struct reip_rule rs[] = { rule("10.1.0.11 -> 10.9.9.9"), rule("10.1.*.*/16 -> 10.3.*.*"),
				  rule("10.1.*.* -> 10.2.*.*"), rule("*.*.*.* -> 172.16.*.*") };
	assert_ptr_equal(reip_find_rule(rs, 4, ip("10.1.0.11"), 24), &rs[0]);	/* first wins */
	assert_ptr_equal(reip_find_rule(rs, 4, ip("10.1.0.12"), 16), &rs[1]);
	assert_ptr_equal(reip_find_rule(rs, 4, ip("10.1.0.12"), 24), &rs[2]);	/* /16 only */
	assert_ptr_equal(reip_find_rule(rs, 4, ip("10.5.0.12"), 24), &rs[3]);
	assert_null(reip_find_rule(rs, 3, ip("10.5.0.12"), 24));
	assert_true(reip_rule_apply(&rs[2], ip("10.1.7.200")) == ip("10.2.7.200"));
	assert_true(reip_rule_apply(&rs[3], ip("10.5.7.200")) == ip("172.16.7.200"));
	struct reip_rule k = rule("10.*.3.* -> *.*.*.7");
	assert_true(reip_rule_apply(&k, ip("10.20.3.4")) == ip("10.20.3.7"));
}

static struct vm_nic nic(const char *text)
{
	struct vm_nic n;
	char err[160];
	if (vm_nic_parse(text, &n, err, sizeof(err)))
		fail_msg("%s: %s", text, err);
	return n;
}

static void expect_map(const struct reip_rule *rs, size_t n, const char *in, int matched,
		       const char *want)
{
	struct vm_nic a = nic(in), b;
	char out[200];
	assert_int_equal(reip_map_nic(rs, n, &a, &b), matched);
	vm_nic_format(&b, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_map_nic(void **state)
{
	(void)state;
	struct reip_rule rs[] = { rule("10.1.*.* -> 10.2.*.*"),
				  rule("192.168.1.* -> 192.168.9.* prefix 16 gw 192.168.0.254 dns 9.9.9.9") };
	expect_map(rs, 2, "n 52:54:00:00:00:01 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2,8.8.8.8", 1,
		   "n 52:54:00:00:00:01 static 10.2.0.11/24 gw 10.2.0.1 dns 10.2.0.2,8.8.8.8");
	expect_map(rs, 2, "n 52:54:00:00:00:01 static 192.168.1.5/24 gw 192.168.1.1 dns 10.1.0.2", 1,
		   "n 52:54:00:00:00:01 static 192.168.9.5/16 gw 192.168.0.254 dns 9.9.9.9");
	/* the gateway through the same rule even when outside its pattern */
	expect_map(rs, 2, "n 52:54:00:00:00:01 static 10.1.0.11/24 gw 172.20.0.1", 1,
		   "n 52:54:00:00:00:01 static 10.2.0.11/24 gw 10.2.0.1");
	expect_map(rs, 2, "n 52:54:00:00:00:01 static 10.1.0.11/24", 1,
		   "n 52:54:00:00:00:01 static 10.2.0.11/24");
	expect_map(rs, 2, "n 52:54:00:00:00:01 static 172.20.0.11/24 gw 10.1.0.1", 0,
		   "n 52:54:00:00:00:01 static 172.20.0.11/24 gw 10.1.0.1");
	expect_map(rs, 2, "n 52:54:00:00:00:01 dhcp", 0, "n 52:54:00:00:00:01 dhcp");
	expect_map(rs, 0, "n 52:54:00:00:00:01 static 10.1.0.11/24", 0,
		   "n 52:54:00:00:00:01 static 10.1.0.11/24");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_match_apply),
		cmocka_unit_test(test_map_nic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
