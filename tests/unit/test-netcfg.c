/* Unit tests for the guest network configuration editors (agent/netcfg-*.c), on golden
 * before/after files in tests/golden/reip/: each case edits NAME.before for one NIC and
 * must give exactly NAME.after (every byte not edited kept), describe the change, and
 * find nothing more to do in its own output (SAME: Re-IP twice is harmless). Cases that
 * must not edit: another NIC's stanza (ABSENT), DHCP stanzas (-ENOTSUP). Also the shared
 * helpers: MAC spellings, splices, ifupdown's source lines. The .after files were made
 * with FERRY_REGEN_GOLDEN=netcfg and read line by line before they were committed. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/netcfg.h"
#include "common/util.h"
#include "common/banned.h"

#define DIR "tests/golden/reip/"
#define NIC "prod 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2,8.8.8.8"

struct gcase {
	const struct netcfg_format *f;
	const char *name;
	const char *nic;		/* the NIC as described; NULL: NIC */
	const char *rule;		/* the plan's rule */
	int result;
	const char *what;		/* expected description (EDITED), or part of the reason */
};

static const struct gcase cases[] = {
	{ &netcfg_ifupdown, "ifupdown-basic", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, dns 10.1.0.2 8.8.8.8 -> "
	  "10.2.0.2 8.8.8.8" },
	{ &netcfg_ifupdown, "ifupdown-netmask", NULL, "10.1.*.* -> 10.2.*.* prefix 16",
	  NETCFG_EDITED, "10.1.0.11 -> 10.2.0.11, netmask 255.255.255.0 -> 255.255.0.0, "
	  "10.1.0.12 -> 10.2.0.12, gateway 10.1.0.1 -> 10.2.0.1" },
	{ &netcfg_ifupdown, "ifupdown-hwaddress", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_EDITED,
	  "10.1.0.12/24 -> 10.2.0.11/24, dns 10.1.0.2 10.1.0.3 -> 10.2.0.2 10.2.0.3" },
	{ &netcfg_ifupdown, "ifupdown-add", "p 52:54:00:12:34:56 static 10.1.0.11/24",
	  "10.1.*.* -> 10.2.*.* gw 10.2.0.254 dns 10.2.0.53", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, gateway 10.2.0.254 added, dns 10.2.0.53 added" },
	{ &netcfg_ifupdown, "ifupdown-dhcp", NULL, "10.1.*.* -> 10.2.*.*", -ENOTSUP,
	  "iface eth0 has the NIC's MAC but method dhcp" },
	{ &netcfg_ifupdown, "ifupdown-absent", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_ABSENT, "" },
	{ &netcfg_netplan, "netplan-mac", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, 10.1.0.99/24 -> 10.2.0.99/24, gateway 10.1.0.1 -> "
	  "10.2.0.1, route via 10.1.0.254 -> 10.2.0.254, dns [10.1.0.2, 8.8.8.8] -> [10.2.0.2, "
	  "8.8.8.8]" },
	{ &netcfg_netplan, "netplan-gateway4", NULL, "10.1.*.* -> 10.2.*.* prefix 16",
	  NETCFG_EDITED, "10.1.0.11/24 -> 10.2.0.11/16, gateway 10.1.0.1 -> 10.2.0.1, dns "
	  "[10.1.0.2, 1.1.1.1] -> [10.2.0.2, 1.1.1.1]" },
	{ &netcfg_netplan, "netplan-add", "p 52:54:00:12:34:56 static 10.1.0.11/24",
	  "10.1.*.* -> 10.2.*.* gw 10.2.0.254 dns 10.2.0.53,10.2.0.54", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, gateway 10.2.0.254 added, dns [10.2.0.53, 10.2.0.54] "
	  "added" },
	{ &netcfg_netplan, "netplan-dhcp", NULL, "10.1.*.* -> 10.2.*.*", -ENOTSUP,
	  "id0 has the NIC's MAC but no static address" },
	{ &netcfg_netplan, "netplan-absent", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_ABSENT, "" },
	{ &netcfg_nm, "nm-mac", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, 10.1.0.99/24 -> "
	  "10.2.0.99/24, dns 10.1.0.2;8.8.8.8; -> 10.2.0.2;8.8.8.8;" },
	{ &netcfg_nm, "nm-legacy", NULL, "10.1.*.* -> 10.2.*.* prefix 16", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/16, gateway 10.1.0.1 -> 10.2.0.1, dns 10.1.0.2; -> "
	  "10.2.0.2;" },
	{ &netcfg_nm, "nm-add", "p 52:54:00:12:34:56 static 10.1.0.11/24",
	  "10.1.*.* -> 10.2.*.* gw 10.2.0.254 dns 10.2.0.53", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, gateway 10.2.0.254 added, dns 10.2.0.53; added" },
	{ &netcfg_nm, "nm-dhcp", NULL, "10.1.*.* -> 10.2.*.*", -ENOTSUP,
	  "no static [ipv4] address" },
	{ &netcfg_networkd, "networkd-mac", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, route via 10.1.0.254 -> "
	  "10.2.0.254, dns 10.1.0.2 8.8.8.8 -> 10.2.0.2 8.8.8.8" },
	{ &netcfg_networkd, "networkd-name", NULL,
	  "10.1.*.* -> 10.2.*.* dns 10.2.0.53,10.2.0.54,10.2.0.55", NETCFG_EDITED,
	  "10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, dns 10.1.0.2 10.1.0.3 -> "
	  "10.2.0.53 10.2.0.54 10.2.0.55" },
	{ &netcfg_networkd, "networkd-other", NULL, "10.1.*.* -> 10.2.*.*", NETCFG_ABSENT, "" },
	{ &netcfg_networkd, "networkd-dhcp", NULL, "10.1.*.* -> 10.2.*.*", -ENOTSUP,
	  "gives it no static Address=" },
};

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("%s: cannot open", path);
	char *buf = malloc(NETCFG_MAX_FILE);
	ssize_t n = read(fd, buf, NETCFG_MAX_FILE);
	close(fd);
	assert_true(n >= 0);
	*len = (size_t)n;
	return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, data, len, 0), 0);
	close(fd);
}

static void run_case(const struct gcase *c)
{
	char path[256], what[512] = "", err[160];
	struct vm_nic old, now;
	struct reip_rule r;
	size_t len, alen;
	if (vm_nic_parse(c->nic ? c->nic : NIC, &old, err, sizeof(err)) ||
	    reip_rule_parse(c->rule, &r, err, sizeof(err)))
		fail_msg("%s: %s", c->name, err);
	assert_int_equal(reip_map_nic(&r, 1, &old, &now), 1);
	struct netcfg_nic nic = { &old, &now, &r, 1 };
	snprintf(path, sizeof(path), DIR "%s.before", c->name);
	char *in = slurp(path, &len);
	struct dbuf out = DBUF_INIT(NETCFG_MAX_FILE);
	int rc = c->f->edit(in, len, &nic, &out, what, sizeof(what));
	if (rc != c->result || (c->result == NETCFG_EDITED ? strcmp(what, c->what) : !strstr(what, c->what)))
		fail_msg("%s: expected %d '%s', got %d '%s'", c->name, c->result, c->what, rc, what);
	if (rc == NETCFG_EDITED) {
		snprintf(path, sizeof(path), DIR "%s.after", c->name);
		const char *regen = getenv("FERRY_REGEN_GOLDEN");
		if (regen && !strcmp(regen, "netcfg"))
			spit(path, out.data, out.len);
		char *after = slurp(path, &alen);
		if (alen != out.len || memcmp(after, out.data, alen))
			fail_msg("%s: the output differs from %s:\n%.*s", c->name, path, (int)out.len,
				 (const char *)out.data);
		/* its own output: nothing more to do */
		struct dbuf again = DBUF_INIT(NETCFG_MAX_FILE);
		rc = c->f->edit(after, alen, &nic, &again, what, sizeof(what));
		if (rc != NETCFG_SAME)
			fail_msg("%s: applied twice gives %d '%s'", c->name, rc, what);
		assert_true(strstr(what, "already 10.2.0.11") != NULL);
		dbuf_release(&again);
		free(after);
	}
	dbuf_release(&out);
	free(in);
}

static void test_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
}

/* Without rules, only what the description names changes. */
static void test_no_rules(void **state)
{
	(void)state;
	struct vm_nic old, now;
	char err[160], what[256];
	assert_int_equal(vm_nic_parse(NIC, &old, err, sizeof(err)), 0);
	assert_int_equal(vm_nic_parse("prod 52:54:00:12:34:56 static 192.168.0.5/16 gw 192.168.0.1 "
				      "dns 192.168.0.2,8.8.8.8", &now, err, sizeof(err)), 0);
	struct netcfg_nic nic = { &old, &now, NULL, 0 };
	static const char in[] = "iface e inet static\n address 10.1.0.11/24\n gateway 10.1.0.1\n"
				 " gateway 10.1.0.254\n dns-nameservers 8.8.8.8 10.1.0.2 10.1.0.9\n";
	struct dbuf out = DBUF_INIT(1 << 16);
	assert_int_equal(netcfg_ifupdown.edit(in, sizeof(in) - 1, &nic, &out, what, sizeof(what)),
			 NETCFG_EDITED);
	dbuf_add(&out, "", 1);
	assert_string_equal((char *)out.data, "iface e inet static\n address 192.168.0.5/16\n "
			    "gateway 192.168.0.1\n gateway 10.1.0.254\n dns-nameservers 8.8.8.8 "
			    "192.168.0.2 10.1.0.9\n");
	dbuf_release(&out);
}

static void test_helpers(void **state)
{
	(void)state;
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const char *const same[] = { "52:54:00:12:34:56", "52-54-00-12-34-56",
					     "5254.0012.3456", "525400123456", "52:54:00:12:34:56" };
	for (size_t i = 0; i < ARRAY_SIZE(same); i++)
		assert_int_equal(netcfg_mac_eq(same[i], strlen(same[i]), mac), 1);
	assert_int_equal(netcfg_mac_eq("52:54:00:12:34:57", 17, mac), 0);
	assert_int_equal(netcfg_mac_eq("52:54:00:12:34", 14, mac), -1);
	assert_int_equal(netcfg_mac_eq("52:54:00:12:34:56:78", 20, mac), -1);
	assert_int_equal(netcfg_mac_eq("zz:54:00:12:34:56", 17, mac), -1);

	struct netcfg_splices sp = { 0 };
	struct dbuf out = DBUF_INIT(1024);
	netcfg_splice(&sp, 4, 2, "XY", 2);
	netcfg_splice(&sp, 0, 0, ">", 1);
	netcfg_splice(&sp, 10, 0, "<", 1);
	assert_int_equal(netcfg_splice_apply(&sp, "0123456789", 10, &out), 0);
	dbuf_add(&out, "", 1);
	assert_string_equal((char *)out.data, ">0123XY6789<");
	netcfg_splice(&sp, 5, 2, "Z", 1);	/* overlaps 4..6: an editor bug, refused */
	assert_int_equal(netcfg_splice_apply(&sp, "0123456789", 10, &out), -EINVAL);
	netcfg_splices_release(&sp);
	dbuf_release(&out);
}

static int collect(void *arg, bool dir, const char *path, size_t n)
{
	char *s = arg;
	size_t l = strlen(s);
	snprintf(s + l, 256 - l, "%s%.*s;", dir ? "dir:" : "", (int)n, path);
	return 0;
}

static void test_sources(void **state)
{
	(void)state;
	static const char in[] = "# source /nope\nsource /etc/network/interfaces.d/*\n"
				 "auto lo\n  source-directory interfaces.d\nsource-dir /x\nsource\n";
	char got[256] = "";
	assert_int_equal(netcfg_ifupdown_sources(in, sizeof(in) - 1, collect, got), 0);
	assert_string_equal(got, "/etc/network/interfaces.d/*;dir:interfaces.d;dir:/x;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_no_rules),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
