/* Unit tests for agent/vm-import.c: libvirt domain XML into a VM description — boot order
 * (per-device <boot order> first, then document order; cdroms skipped), memory units
 * rounded up to MiB, vcpu current, firmware (efi, pflash loader), disks mapped to exports
 * by --disk, NBD source and -c FILE path, NIC networks by interface type, --nic addresses;
 * every refusal names what is wrong; and the section it writes parses back in ferry.conf
 * to the same VM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/vm-import.h"
#include "common/config.h"
#include "common/util.h"
#include "common/banned.h"

static const char xml_db[] =
	"<domain type='kvm'>\n"
	"  <name>db</name>\n"
	"  <memory unit='KiB'>2097153</memory>\n"		/* rounds up to 2049 MiB */
	"  <vcpu placement='static' current='2'>4</vcpu>\n"
	"  <os><type arch='x86_64'>hvm</type><loader readonly='yes' type='pflash'>/x.fd</loader></os>\n"
	"  <devices>\n"
	"    <disk type='file' device='cdrom'><source file='/iso/x.iso'/><target dev='sda'/></disk>\n"
	"    <disk type='file' device='disk'><source file='/srv/scratch.img'/><target dev='vdc'/></disk>\n"
	"    <disk type='file' device='disk'><source file='/srv/db-data.img'/><target dev='vdb'/>"
	"<boot order='2'/></disk>\n"
	"    <disk type='network' device='disk'><source protocol='nbd' name='/db-os'>"
	"<host name='127.0.0.1' port='10809'/></source><target dev='vda'/><boot order='1'/></disk>\n"
	"    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='prod-net'/></interface>\n"
	"    <interface type='bridge'><mac address='52:54:00:12:34:57'/><source bridge='br0'/></interface>\n"
	"    <interface type='user'><mac address='52:54:00:12:34:58'/></interface>\n"
	"  </devices>\n"
	"</domain>\n";

static const char conf[] =
	"[domain prod]\n"
	"disk = db-os:/dev/vdb\n"
	"disk = db-data:/srv/db-data.img\n"
	"disk = scratch:/srv/scratch.img\n";

static int run(const char *xml, const struct vm_import_opts *o, struct vm_desc *v, char *err,
	       size_t errlen)
{
	struct dbuf notes = DBUF_INIT(1 << 16);
	int rc = vm_import_xml(xml, strlen(xml), o, v, &notes, err, errlen);
	dbuf_release(&notes);
	return rc;
}

static void test_import(void **state)
{
	(void)state;
	struct ferry_config cfg;
	char err[512] = "";
	assert_int_equal(config_parse("f.conf", conf, sizeof(conf) - 1, &cfg, err, sizeof(err)), 0);
	const char *nic_ip[] = { "52:54:00:12:34:56=static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2" };
	struct vm_import_opts o = { .cfg = &cfg, .nic_ip = nic_ip, .n_nic_ip = 1 };
	struct vm_desc v;
	struct dbuf notes = DBUF_INIT(1 << 16);
	int rc = vm_import_xml(xml_db, sizeof(xml_db) - 1, &o, &v, &notes, err, sizeof(err));
	if (rc)
		print_message("%s\n", err);
	assert_int_equal(rc, 0);
	assert_string_equal(v.name, "db");
	assert_string_equal(v.domain, "prod");		/* the [domain] that owns the disks */
	assert_int_equal(v.cpus, 2);
	assert_true(v.memory_mib == 2049);
	assert_int_equal(v.firmware, VM_FIRMWARE_UEFI);
	assert_int_equal(v.n_disks, 3);
	assert_string_equal(v.disks[0], "db-os");	/* boot order 1, NBD export */
	assert_string_equal(v.disks[1], "db-data");	/* boot order 2, by path */
	assert_string_equal(v.disks[2], "scratch");	/* no boot order: after */
	assert_int_equal(v.n_nics, 3);
	assert_string_equal(v.nics[0].network, "prod-net");
	assert_int_equal(v.nics[0].mode, VM_NIC_STATIC);
	assert_true(v.nics[0].addr == 0x0a01000b);
	assert_string_equal(v.nics[1].network, "br0");
	assert_int_equal(v.nics[1].mode, VM_NIC_DHCP);
	assert_string_equal(v.nics[2].network, "user");
	assert_int_equal(v.nics[2].mac[5], 0x58);
	dbuf_add(&notes, "", 1);
	assert_non_null(strstr((char *)notes.data, "# disk vda: export db-os (its NBD source)\n"));
	assert_non_null(strstr((char *)notes.data, "# disk vdb: export db-data (/srv/db-data.img in f.conf)\n"));
	assert_non_null(strstr((char *)notes.data, "# nic 52:54:00:12:34:57: network br0 (its source bridge), dhcp"));
	dbuf_release(&notes);

	/* the section parses back, next to its domain, into the same VM */
	struct dbuf b = DBUF_INIT(1 << 16);
	dbuf_add(&b, conf, sizeof(conf) - 1);
	assert_int_equal(vm_desc_format_section(&v, &b), 0);
	struct ferry_config back;
	rc = config_parse("g.conf", (const char *)b.data, b.len, &back, err, sizeof(err));
	if (rc)
		print_message("%s\n%.*s", err, (int)b.len, (const char *)b.data);
	assert_int_equal(rc, 0);
	assert_int_equal(back.n_vms, 1);
	assert_memory_equal(&back.vms[0].desc, &v, sizeof(v));
	config_release(&back);
	dbuf_release(&b);

	/* --disk overrides, --domain and --name win */
	const char *map[] = { "vdc=other", "vda=boot" };
	struct vm_import_opts o2 = { .name = "db2", .domain = "elsewhere", .disk_map = map,
				     .n_disk_map = 2 };
	assert_int_equal(run(xml_db, &o2, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "disk vdb (/srv/db-data.img): no export name for it: give "
			       "--disk vdb=EXPORT"));
	o2.cfg = &cfg;
	assert_int_equal(run(xml_db, &o2, &v, err, sizeof(err)), 0);
	assert_string_equal(v.name, "db2");
	assert_string_equal(v.domain, "elsewhere");
	assert_string_equal(v.disks[0], "boot");
	assert_string_equal(v.disks[2], "other");
	config_release(&cfg);
}

static void expect_refused(const char *xml, const struct vm_import_opts *o, const char *what)
{
	struct vm_desc v;
	char err[512] = "";
	int rc = run(xml, o, &v, err, sizeof(err));
	if (rc != -EINVAL || !strstr(err, what))
		fail_msg("expected '%s', got %d '%s'", what, rc, err);
}

#define DOM(inner) "<domain><name>vm1</name><memory>1048576</memory><vcpu>1</vcpu>" inner "</domain>"
#define NBD(name, dev) "<disk type='network' device='disk'><source protocol='nbd' name='" name \
	"'/><target dev='" dev "'/></disk>"

static void test_refusals(void **state)
{
	(void)state;
	struct vm_import_opts o = { .domain = "prod" };
	const char *nic_bad[] = { "52:54:00:00:00:09=static 10.1.0.1/24" };
	const char *nic_typo[] = { "52:54:00:00:00:01=static 10.1.0.1" };
	struct vm_import_opts on = { .domain = "prod", .nic_ip = nic_bad, .n_nic_ip = 1 };
	struct vm_import_opts ot = { .domain = "prod", .nic_ip = nic_typo, .n_nic_ip = 1 };
	struct vm_import_opts none = { 0 };
	expect_refused("<nodomain/>", &o, "not a libvirt domain XML");
	expect_refused("<domain><name", &o, "not a libvirt domain XML");
	expect_refused("", &o, "not a libvirt domain XML");
	expect_refused("<domain><name>a b</name></domain>", &o, "'a b' is not a valid name");
	expect_refused(DOM(""), &o, "the domain has no disk");
	expect_refused("<domain><name>x</name><memory>1</memory></domain>", &o, "<vcpu> is missing");
	expect_refused("<domain><name>x</name><vcpu>1</vcpu><memory unit='parsec'>1</memory></domain>",
		       &o, "<memory> is missing");
	expect_refused(DOM("<devices><disk type='file'><target dev='vda'/></disk></devices>"), &o,
		       "disk vda (no source): no export name");
	expect_refused(DOM("<devices>" NBD("a/b", "vda") "</devices>"), &o, "'a/b' is not a valid export");
	expect_refused(DOM("<devices>" NBD("x", "vda") NBD("x", "vdb") "</devices>"), &o,
		       "disks vda and vdb both map to export x");
	expect_refused(DOM("<devices>" NBD("x", "vda") "</devices>"), &none, "which protection domain?");
	expect_refused(DOM("<devices>" NBD("x", "vda") "<interface type='network'><source network='n'/>"
			   "</interface></devices>"), &o, "has no MAC address");
	expect_refused(DOM("<devices>" NBD("x", "vda") "<interface type='network'><mac address='53:54:00:00:00:01'/>"
			   "<source network='n'/></interface></devices>"), &o, "multicast");
	expect_refused(DOM("<devices>" NBD("x", "vda") "<interface type='bridge'><mac address='52:54:00:00:00:01'/>"
			   "<source bridge='br/0'/></interface></devices>"), &o, "invalid network name");
	expect_refused(DOM("<devices>" NBD("x", "vda") "<interface type='user'><mac address='52:54:00:00:00:01'/>"
			   "</interface><interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
			   "</devices>"), &o, "two interfaces have MAC 52:54:00:00:00:01");
	expect_refused(DOM("<devices>" NBD("x", "vda") "<interface type='user'><mac address='52:54:00:00:00:01'/>"
			   "</interface></devices>"), &on, "--nic 52:54:00:00:00:09: the domain has no interface");
	expect_refused(DOM("<devices>" NBD("x", "vda") "<interface type='user'><mac address='52:54:00:00:00:01'/>"
			   "</interface></devices>"), &ot, "needs a prefix length");
	/* no external entities, no network: the XML is data */
	expect_refused("<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><domain><name>&x;</name>"
		       "</domain>", &o, "is not a valid name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
