/* Recovery plans: the parser (a full plan, defaults, every syntax and value problem with
 * its line, all problems reported at once) and plan_check_domain against VM descriptions
 * (boot order from `after` and groups, cycles named, unknown VMs and networks, unmapped
 * networks, Re-IP rules matching nothing, two VMs on one address, mode rules). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/plan.h"
#include "common/banned.h"

static const char good[] =
	"# the sales domain\n"
	"[plan]\n"
	"domain = sales\n"
	"datastore = /srv/dr/sales\n"
	"format = raw\n"
	"vm_prefix = dr-\n"
	"test_network = sales-test\n"
	"test_address = 10.2.0.1/24\n"
	"interval = 2s\n"
	"[networks]\n"
	"map = prod -> dr-prod\n"
	"map = backup -> dr-backup\n"
	"[boot]\n"
	"group = db\n"
	"group = app, cache\n"
	"[vm web]\n"
	"after = app\n"
	"check = tcp 80\n"
	"timeout = 90s\n"
	"delay = 5s\n"
	"on_timeout = continue\n"
	"[vm db]\n"
	"check = serial ^DB READY name=[a-z]+$\n"
	"reip = cidata\n"
	"[vm app]\n"
	"check = tcp 10.2.0.99:8080\n"
	"reip = none\n"
	"[hypervisor]\n"
	"driver = libvirt\n"
	"uri = qemu:///session\n"
	"[protected]\n"
	"control = /run/ferry/ferryd.sock\n"
	"driver = libvirt\n"
	"uri = qemu+ssh://site-a/system\n"
	"stop_timeout = 30s\n";

static void test_good(void **state)
{
	(void)state;
	struct plan p;
	struct problems pr = { 0 };
	int rc = plan_parse("good.plan", good, sizeof(good) - 1, &p, &pr);
	for (size_t i = 0; i < pr.n; i++)
		print_message("problem: %s\n", pr.v[i]);
	assert_int_equal(rc, 0);
	assert_string_equal(p.domain, "sales");
	assert_string_equal(p.datastore, "/srv/dr/sales");
	assert_string_equal(p.test_datastore, "/srv/dr/sales/test");
	assert_int_equal(p.format, RESTORE_RAW);
	assert_string_equal(p.vm_prefix, "dr-");
	assert_string_equal(p.test_network, "sales-test");
	assert_int_equal(p.test_host, 0x0a020001);
	assert_int_equal(p.test_prefix, 24);
	assert_int_equal(p.interval_ms, 2000);
	assert_int_equal(p.n_maps, 2);
	assert_string_equal(plan_map_network(&p, "backup"), "dr-backup");
	assert_null(plan_map_network(&p, "other"));
	assert_int_equal(p.n_groups, 2);
	assert_int_equal(p.groups[1].n, 2);
	assert_string_equal(p.groups[1].vms[1], "cache");
	assert_int_equal(p.n_vms, 3);
	const struct plan_vm *web = plan_vm_find(&p, "web");
	assert_non_null(web);
	assert_int_equal(web->n_after, 1);
	assert_string_equal(web->after[0], "app");
	assert_int_equal(web->check, CHECK_TCP);
	assert_int_equal(web->tcp_port, 80);
	assert_int_equal(web->tcp_addr, 0);
	assert_int_equal(web->timeout_ms, 90000);
	assert_int_equal(web->delay_ms, 5000);
	assert_true(web->on_timeout_continue);
	const struct plan_vm *db = plan_vm_find(&p, "db");
	assert_int_equal(db->check, CHECK_SERIAL);
	assert_string_equal(db->serial_re, "^DB READY name=[a-z]+$");
	assert_int_equal(db->reip, REIP_CIDATA);
	assert_int_equal(db->timeout_ms, PLAN_DEFAULT_TIMEOUT_MS);
	const struct plan_vm *app = plan_vm_find(&p, "app");
	assert_int_equal(app->tcp_addr, 0x0a020063);
	assert_int_equal(app->tcp_port, 8080);
	assert_int_equal(app->reip, REIP_NONE);
	assert_string_equal(p.hv.driver, "libvirt");
	assert_int_equal(p.hv.n, 1);
	assert_string_equal(p.hv.settings[0].key, "uri");
	assert_string_equal(p.prot_control, "/run/ferry/ferryd.sock");
	assert_string_equal(p.prot.settings[0].value, "qemu+ssh://site-a/system");
	assert_int_equal(p.prot_stop_timeout_ms, 30000);
	plan_release(&p);
	problems_release(&pr);
}

static void test_defaults(void **state)
{
	(void)state;
	const char *t = "[plan]\ndomain = d\ndatastore = /ds/\n";
	struct plan p;
	struct problems pr = { 0 };
	assert_int_equal(plan_parse("p", t, strlen(t), &p, &pr), 0);
	assert_int_equal(p.format, RESTORE_VMDK_FLAT);
	assert_string_equal(p.vm_prefix, "");
	assert_string_equal(p.test_datastore, "/ds/test");
	assert_null(p.test_network);
	assert_int_equal(p.interval_ms, PLAN_DEFAULT_INTERVAL_MS);
	assert_null(p.hv.driver);
	assert_null(p.prot_control);
	plan_release(&p);
}

/* Every problem is reported, each with its line, in one parse. */
static void test_all_problems(void **state)
{
	(void)state;
	const char *t =
		"[plan]\n"			/* 1 */
		"domain = bad name\n"		/* 2 */
		"datastore = relative/dir\n"	/* 3 */
		"format = qcow2\n"		/* 4 */
		"colour = blue\n"		/* 5 */
		"[networks]\n"			/* 6 */
		"map = a b\n"			/* 7 */
		"map = a -> b\n"		/* 8 */
		"map = a -> c\n"		/* 9 */
		"[vm x]\n"			/* 10 */
		"check = ping\n"		/* 11 */
		"check = tcp 99999\n"		/* 12 */
		"timeout = soon\n"		/* 13 */
		"on_timeout = retry\n"		/* 14 */
		"[vm x]\n"			/* 15 */
		"[plan]\n"			/* 16 */
		"[weird]\n"			/* 17 */
		"key = v\n"			/* 18 */
		"[boot]\n"			/* 19 */
		"group = a, b\n"		/* 20 */
		"group = b\n"			/* 21 */
		"no equals sign\n"		/* 22 */
		"[protected]\n"			/* 23 */
		"uri = x\n";			/* 24 */
	struct plan p;
	struct problems pr = { 0 };
	assert_int_equal(plan_parse("t.plan", t, strlen(t), &p, &pr), -1);
	static const char *const want[] = {
		"t.plan:2: domain: 'bad name' is not a domain name",
		"t.plan:3: datastore: 'relative/dir' is not an absolute path",
		"t.plan:4: format: 'qcow2' (expected raw, vmdk or vmdk-flat)",
		"t.plan:5: unknown key 'colour' in [plan]",
		"t.plan:7: map: 'a b' (expected SOURCE -> TARGET, two network names)",
		"t.plan:9: map: network 'a' is already mapped at line 8",
		"t.plan:11: check: 'ping' (expected power-on, tcp [ADDR:]PORT or serial REGEX)",
		"t.plan:12: duplicate key 'check' (first set at line 11)",
		"t.plan:13: bad duration 'soon' for timeout",
		"t.plan:14: on_timeout: 'retry' (expected stop or continue)",
		"t.plan:15: duplicate section [vm x] (first at line 10)",
		"t.plan:16: duplicate section [plan] (first at line 1)",
		"t.plan:17: unknown section [weird]",
		"t.plan:21: group: VM 'b' is already in a group (line 20)",
		"t.plan:22: missing '=' (expected KEY = VALUE)",
		"t.plan:1: [plan] domain is required",
		"t.plan:1: [plan] datastore is required",
		"t.plan:1: [protected] has driver settings but no driver",
	};
	for (size_t i = 0; i < pr.n; i++)
		print_message("got: %s\n", pr.v[i]);
	assert_int_equal(pr.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < pr.n; i++)
		if (strncmp(pr.v[i], want[i], strlen(want[i])))
			fail_msg("problem %zu: got '%s', want '%s'", i, pr.v[i], want[i]);
	problems_release(&pr);
}

/* ---- against a domain ---- */

static void nic(struct vm_desc *v, const char *net, uint8_t last, uint32_t addr)
{
	struct vm_nic *n = &v->nics[v->n_nics++];
	memset(n, 0, sizeof(*n));
	snprintf(n->network, sizeof(n->network), "%s", net);
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, last };
	memcpy(n->mac, mac, 6);
	if (addr) {
		n->mode = VM_NIC_STATIC;
		n->addr = addr;
		n->prefix = 24;
	}
}

static void vm(struct vm_set *s, const char *name, const char *disk, uint32_t addr)
{
	struct vm_desc *v = &s->vms[s->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->domain, sizeof(v->domain), "%s", s->domain);
	snprintf(v->disks[0], sizeof(v->disks[0]), "%s", disk);
	v->n_disks = 1;
	v->cpus = 1;
	v->memory_mib = 256;
	nic(v, "prod", (uint8_t)s->n, addr);
}

static void three(struct vm_set *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->domain, sizeof(s->domain), "dom");
	s->vms = calloc(8, sizeof(*s->vms));
	vm(s, "web", "web0", 0x0a01000d);
	vm(s, "app", "app0", 0x0a01000c);
	vm(s, "db", "db0", 0x0a01000b);
}

static int check_nets(const char *nets, const char *extra, struct vm_set *s, enum plan_mode mode,
		      struct plan_view *v, struct problems *pr)
{
	char text[4096];
	snprintf(text, sizeof(text), "[plan]\ndomain = dom\ndatastore = /ds\n"
		 "test_network = t\n[networks]\n%s%s", nets, extra);
	struct plan p;
	struct problems pp = { 0 };
	if (plan_parse("p", text, strlen(text), &p, &pp) < 0) {
		for (size_t i = 0; i < pp.n; i++)
			print_message("parse: %s\n", pp.v[i]);
		fail();
	}
	int rc = plan_check_domain(&p, s, mode, v, pr);
	for (size_t i = 0; i < pr->n; i++)
		print_message("problem: %s\n", pr->v[i]);
	plan_release(&p);
	return rc;
}

static int check(const char *extra, struct vm_set *s, enum plan_mode mode, struct plan_view *v,
		 struct problems *pr)
{
	return check_nets("map = prod -> dr\n", extra, s, mode, v, pr);
}

static bool has(const struct problems *pr, const char *s)
{
	for (size_t i = 0; i < pr->n; i++)
		if (strstr(pr->v[i], s))
			return true;
	return false;
}

static void test_boot_order(void **state)
{
	(void)state;
	struct vm_set s;
	three(&s);
	struct plan_view v;
	struct problems pr = { 0 };
	/* app waits for db, web for app: listed web, app, db, booted db, app, web */
	assert_int_equal(check("[vm app]\nafter = db\n[vm web]\nafter = app\n", &s, PLAN_FORCED, &v,
			       &pr), 0);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.vms[v.boot[0]].desc->name, "db");
	assert_string_equal(v.vms[v.boot[1]].desc->name, "app");
	assert_string_equal(v.vms[v.boot[2]].desc->name, "web");
	assert_int_equal(v.vms[1].n_deps, 1);
	assert_int_equal(v.vms[1].deps[0], 2);
	plan_view_release(&v);
	/* the same with groups */
	assert_int_equal(check("[boot]\ngroup = db\ngroup = app\ngroup = web\n", &s, PLAN_FORCED, &v,
			       &pr), 0);
	assert_string_equal(v.vms[v.boot[0]].desc->name, "db");
	assert_string_equal(v.vms[v.boot[2]].desc->name, "web");
	assert_int_equal(v.vms[0].n_deps, 1);	/* web waits for the group before: app */
	plan_view_release(&v);
	/* no order: the domain's own order */
	assert_int_equal(check("", &s, PLAN_FORCED, &v, &pr), 0);
	assert_string_equal(v.vms[v.boot[0]].desc->name, "web");
	plan_view_release(&v);
	vm_set_release(&s);
}

static void test_cycle(void **state)
{
	(void)state;
	struct vm_set s;
	three(&s);
	struct plan_view v;
	struct problems pr = { 0 };
	assert_int_equal(check("[vm app]\nafter = web\n[vm web]\nafter = db\n[vm db]\nafter = app\n",
			       &s, PLAN_FORCED, &v, &pr), -1);
	assert_int_equal(pr.n, 1);
	assert_true(has(&pr, "boot order has a cycle: web -> db -> app -> web"));
	problems_release(&pr);
	/* a VM waiting for a cycle is not itself reported */
	assert_int_equal(check("[vm app]\nafter = db\n[vm db]\nafter = app\n[vm web]\nafter = app\n",
			       &s, PLAN_FORCED, &v, &pr), -1);
	assert_int_equal(pr.n, 1);
	assert_true(has(&pr, "cycle: app -> db -> app"));
	problems_release(&pr);
	vm_set_release(&s);
}

static void test_names_and_networks(void **state)
{
	(void)state;
	struct vm_set s;
	three(&s);
	nic(&s.vms[0], "backup", 9, 0);		/* web has an unmapped second NIC */
	struct plan_view v;
	struct problems pr = { 0 };
	assert_int_equal(check("[vm ghost]\n[vm web]\nafter = phantom\n[boot]\ngroup = db, spook\n",
			       &s, PLAN_FORCED, &v, &pr), -1);
	assert_true(has(&pr, "[vm ghost] (line 7): domain dom has no VM 'ghost'"));
	assert_true(has(&pr, "[vm web] after: domain dom has no VM 'phantom'"));
	assert_true(has(&pr, "[boot] group (line 11): domain dom has no VM 'spook'"));
	assert_true(has(&pr, "network 'backup' (VM web) is not mapped"));
	problems_release(&pr);
	/* a map of a network nobody uses */
	s.vms[0].n_nics = 1;
	assert_int_equal(check_nets("map = prod -> dr\nmap = lab -> dr-lab\n", "", &s, PLAN_FORCED,
				    &v, &pr), -1);
	assert_int_equal(pr.n, 1);
	assert_true(has(&pr, "[networks] map (line 7): domain dom has no network 'lab'"));
	problems_release(&pr);
	/* unmapped networks do not matter to a test: every NIC joins the test network */
	assert_int_equal(check_nets("", "", &s, PLAN_TEST, &v, &pr), 0);
	plan_view_release(&v);
	assert_int_equal(check_nets("", "", &s, PLAN_FORCED, &v, &pr), -1);
	assert_true(has(&pr, "network 'prod' (VM web) is not mapped"));
	assert_int_equal(pr.n, 1);	/* once per network, not per NIC */
	problems_release(&pr);
	vm_set_release(&s);
}

static void test_modes(void **state)
{
	(void)state;
	struct vm_set s;
	three(&s);
	struct plan_view v;
	struct problems pr = { 0 };
	const char *t = "[plan]\ndomain = dom\ndatastore = /ds\nformat = raw\n[networks]\n"
			"map = prod -> dr\n";
	struct plan p;
	assert_int_equal(plan_parse("p", t, strlen(t), &p, &pr), 0);
	assert_int_equal(plan_check_domain(&p, &s, PLAN_CONTINUOUS, &v, &pr), -1);
	assert_true(has(&pr, "continuous failover needs format = vmdk-flat (the plan has raw)"));
	problems_release(&pr);
	assert_int_equal(plan_check_domain(&p, &s, PLAN_TEST, &v, &pr), -1);
	assert_true(has(&pr, "test failover needs [plan] test_network"));
	problems_release(&pr);
	assert_int_equal(plan_check_domain(&p, &s, PLAN_PLANNED, &v, &pr), -1);
	assert_true(has(&pr, "planned failover needs [protected] control"));
	problems_release(&pr);
	assert_int_equal(plan_check_domain(&p, &s, PLAN_FORCED, &v, &pr), 0);
	plan_view_release(&v);
	plan_release(&p);
	vm_set_release(&s);
}

static void test_checks(void **state)
{
	(void)state;
	struct vm_set s;
	three(&s);
	s.vms[1].nics[0].mode = VM_NIC_DHCP;
	struct plan_view v;
	struct problems pr = { 0 };
	assert_int_equal(check("[vm app]\ncheck = tcp 80\n[vm db]\ncheck = serial a(b\n", &s,
			       PLAN_FORCED, &v, &pr), -1);
	assert_true(has(&pr, "[vm app] check tcp 80: app has no static address"));
	assert_true(has(&pr, "[vm db] check serial: bad regular expression 'a(b'"));
	problems_release(&pr);
	vm_set_release(&s);
}

static void test_reip(void **state)
{
	(void)state;
	struct vm_set s;
	three(&s);
	struct plan_view v;
	struct problems pr = { 0 };
	assert_int_equal(check("[reip]\nrule = 10.1.0.* -> 10.2.0.*\nrule = 192.168.*.* -> 10.9.*.*\n",
			       &s, PLAN_FORCED, &v, &pr), -1);
	assert_int_equal(pr.n, 1);
	assert_true(has(&pr, "[reip] rule '192.168.*.* -> 10.9.*.*' (line 9) matches no NIC"));
	problems_release(&pr);
	/* two VMs onto one address */
	assert_int_equal(check("[reip]\nrule = 10.1.0.12 -> 10.2.0.5\nrule = 10.1.0.13 -> 10.2.0.5\n",
			       &s, PLAN_FORCED, &v, &pr), -1);
	assert_true(has(&pr, "VMs web and app would both have address 10.2.0.5"));
	problems_release(&pr);
	assert_int_equal(check("[reip]\nrule = 10.1.*.* -> 10.2.*.*\n", &s, PLAN_FORCED, &v, &pr), 0);
	assert_int_equal(v.vms[2].addr, 0x0a02000b);	/* db */
	assert_true(v.vms[2].nic_changed[0]);
	plan_view_release(&v);
	/* reip = none keeps the VM's address: it collides with nobody here */
	assert_int_equal(check("[reip]\nrule = 10.1.*.* -> 10.2.*.*\n[vm db]\nreip = none\n", &s,
			       PLAN_FORCED, &v, &pr), 0);
	assert_int_equal(v.vms[2].addr, 0x0a01000b);
	assert_false(v.vms[2].nic_changed[0]);
	plan_view_release(&v);
	/* every rule takes part: db's gateway goes through its address's rule, its DNS
	 * server through the rule that matches it, which is therefore not unused; a FROM/N
	 * rule only matches NICs of that prefix */
	s.vms[2].nics[0].gw = 0x0a010001;
	s.vms[2].nics[0].dns[0] = 0xc0a80035;	/* 192.168.0.53 */
	s.vms[2].nics[0].n_dns = 1;
	assert_int_equal(check("[reip]\nrule = 10.1.0.0/16 -> 10.7.0.0\n"
			       "rule = 10.1.*.* -> 10.2.*.*\nrule = 192.168.*.* -> 10.9.*.*\n", &s,
			       PLAN_FORCED, &v, &pr), -1);
	assert_int_equal(pr.n, 1);
	assert_true(has(&pr, "rule '10.1.0.0/16 -> 10.7.0.0' (line 8) matches no NIC"));
	problems_release(&pr);
	assert_int_equal(check("[reip]\nrule = 10.1.*.* -> 10.2.*.*\n"
			       "rule = 192.168.*.* -> 10.9.*.*\n", &s, PLAN_FORCED, &v, &pr), 0);
	assert_int_equal(v.vms[2].nics[0].addr, 0x0a02000b);
	assert_int_equal(v.vms[2].nics[0].gw, 0x0a020001);
	assert_int_equal(v.vms[2].nics[0].n_dns, 1);
	assert_int_equal(v.vms[2].nics[0].dns[0], 0x0a090035);
	plan_view_release(&v);
	vm_set_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_problems),
		cmocka_unit_test(test_boot_order),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_names_and_networks),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_reip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
