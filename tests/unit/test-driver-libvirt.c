/* Unit tests for the libvirt driver without a hypervisor: its settings, the domain and
 * network XML it writes (read back with libxml2: every element the driver promises, and
 * names with XML's special characters), the mark it reads back, driver_find, and the
 * driver's calls against libvirt's built-in fake hypervisor (test:///default): idempotent
 * start, stop, remove and network calls, and the operator's objects left alone.
 * The real daemon and guest: tests/integration/410-driver-libvirt.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "agent/driver-libvirt.h"
#include "common/util.h"
#include "common/banned.h"

static char err[1024];

/* a call that must succeed; its reason is printed if it does not */
#define OK(call)                                                        \
	do {                                                            \
		int _rc = (call);                                       \
		if (_rc)                                                \
			print_message("%s: %d: %s\n", #call, _rc, err); \
		assert_int_equal(_rc, 0);                               \
	} while (0)

/* settings from "k=v" strings */
static int settings(struct lv_settings *st, const char *const *kv)
{
	struct drv_setting s[16];
	char buf[16][256];
	size_t n = 0;
	for (; kv[n]; n++) {
		snprintf(buf[n], sizeof(buf[n]), "%s", kv[n]);
		char *eq = strchr(buf[n], '=');
		*eq = '\0';
		s[n] = (struct drv_setting){ buf[n], eq + 1 };
	}
	return lv_settings_parse(s, n, st, err, sizeof(err));
}

static void test_settings(void **state)
{
	(void)state;
	struct lv_settings st;
	assert_int_equal(settings(&st, (const char *[]){ NULL }), 0);
	assert_string_equal(st.uri, "qemu:///system");
	assert_string_equal(st.domain_type, "kvm");
	assert_string_equal(st.arch, "x86_64");
	assert_string_equal(st.graphics, "vnc");
	assert_string_equal(st.disk_bus, "virtio");
	assert_string_equal(st.nic_model, "virtio");
	assert_null(st.machine);
	assert_null(st.kernel);
	assert_string_equal(st.secure_boot, "auto");
	lv_settings_release(&st);

	assert_int_equal(settings(&st, (const char *[]){ "domain_type=qemu", "machine=q35",
		"kernel=/k/vmlinux", "initrd=/k/initrd.img", "cmdline=console=ttyS0 quiet",
		"graphics=none", "disk_bus=sata", "nic_model=e1000", "cpu_mode=host-model", NULL }), 0);
	assert_string_equal(st.cmdline, "console=ttyS0 quiet");
	assert_string_equal(st.disk_bus, "sata");
	lv_settings_release(&st);

	struct { const char *kv, *msg; } bad[] = {
		{ "colour=blue", "unknown [hypervisor] key 'colour' for driver libvirt" },
		{ "graphics=sdl", "bad value 'sdl' for graphics" },
		{ "disk_bus=floppy", "bad value 'floppy' for disk_bus" },
		{ "secure_boot=maybe", "bad value 'maybe' for secure_boot" },
		{ "domain_type=k v m", "bad value 'k v m' for domain_type" },
		{ "kernel=vmlinux", "kernel must be an absolute path, not 'vmlinux'" },
		{ "initrd=/k/initrd.img", "initrd and cmdline need kernel" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(settings(&st, (const char *[]){ bad[i].kv, NULL }), -EINVAL);
		assert_string_equal(err, bad[i].msg);
	}
	assert_int_equal(settings(&st, (const char *[]){ "uri=a", "uri=b", NULL }), -EINVAL);
	assert_string_equal(err, "uri given twice");
}

/* ---- XML --------------------------------------------------------------------------- */

static xmlDocPtr doc;

static void load(const char *xml)
{
	if (doc)
		xmlFreeDoc(doc);
	doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
}

/* the string value of an XPath expression ("" when it selects nothing) */
static const char *xp(const char *expr)
{
	static char out[4][512];
	static int k;
	xmlXPathContextPtr c = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(c, (const xmlChar *)"f", (const xmlChar *)LV_NS_URI);
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, c);
	assert_non_null(o);
	xmlChar *s = xmlXPathCastToString(o);
	k = (k + 1) % 4;
	snprintf(out[k], sizeof(out[k]), "%s", (const char *)s);
	xmlFree(s);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(c);
	return out[k];
}

static void test_domain_xml(void **state)
{
	(void)state;
	struct lv_settings st;
	assert_int_equal(settings(&st, (const char *[]){ "domain_type=qemu", "machine=q35",
		"kernel=/k/vmlinux", "initrd=/k/initrd.img", "cmdline=console=ttyS0",
		"graphics=none", NULL }), 0);
	struct drv_disk disks[] = {
		{ .path = "/d/db <1>&'\".vmdk", .format = "vmdk" },
		{ .nbd_host = "127.0.0.1", .nbd_port = 10809, .nbd_export = "db-data" },
		{ .nbd_socket = "/run/ferry/nbd.sock", .nbd_export = "db-log" },
		{ .path = "/d/plain.raw" },
	};
	struct drv_nic nics[] = { { "dr-net", { 0x52, 0x54, 0, 0xab, 0x0c, 0x11 } } };
	struct drv_vm vm = { .name = "db&<prod>", .cpus = 2, .memory_mib = 384, .disks = disks,
			     .n_disks = 4, .nics = nics, .n_nics = 1,
			     .serial_log = "/var/log/ferry/db.serial" };
	char *xml;
	char hash[LV_HASH_HEX + 1];
	memset(hash, 'a', LV_HASH_HEX);
	hash[LV_HASH_HEX] = '\0';
	assert_int_equal(lv_domain_xml(&st, &vm, hash, &xml, err, sizeof(err)), 0);
	load(xml);
	assert_string_equal(xp("string(/domain/@type)"), "qemu");
	assert_string_equal(xp("string(/domain/name)"), "db&<prod>");
	assert_string_equal(xp("string(/domain/memory)"), "384");
	assert_string_equal(xp("string(/domain/memory/@unit)"), "MiB");
	assert_string_equal(xp("string(/domain/vcpu)"), "2");
	assert_string_equal(xp("string(/domain/os/type/@machine)"), "q35");
	assert_string_equal(xp("string(/domain/os/kernel)"), "/k/vmlinux");
	assert_string_equal(xp("string(/domain/os/initrd)"), "/k/initrd.img");
	assert_string_equal(xp("string(/domain/os/cmdline)"), "console=ttyS0");
	assert_string_equal(xp("string(/domain/os/@firmware)"), "");
	assert_string_equal(xp("count(/domain/os/firmware)"), "0");
	assert_string_equal(xp("count(/domain/features/smm)"), "0");
	assert_string_equal(xp("count(/domain/features/acpi)"), "1");
	assert_string_equal(xp("string(/domain/on_poweroff)"), "destroy");
	assert_string_equal(xp("string(/domain/metadata/f:def/@hash)"), hash);
	assert_string_equal(xp("count(//disk)"), "4");
	assert_string_equal(xp("string(//disk[1]/source/@file)"), "/d/db <1>&'\".vmdk");
	assert_string_equal(xp("string(//disk[1]/driver/@type)"), "vmdk");
	assert_string_equal(xp("string(//disk[1]/target/@dev)"), "vda");
	assert_string_equal(xp("count(//disk/boot)"), "0");	/* direct kernel boot */
	assert_string_equal(xp("string(//disk[2]/@type)"), "network");
	assert_string_equal(xp("string(//disk[2]/source/@protocol)"), "nbd");
	assert_string_equal(xp("string(//disk[2]/source/@name)"), "db-data");
	assert_string_equal(xp("string(//disk[2]/source/host/@name)"), "127.0.0.1");
	assert_string_equal(xp("string(//disk[2]/source/host/@port)"), "10809");
	assert_string_equal(xp("string(//disk[2]/driver/@type)"), "raw");
	assert_string_equal(xp("string(//disk[2]/target/@dev)"), "vdb");
	assert_string_equal(xp("string(//disk[3]/source/host/@transport)"), "unix");
	assert_string_equal(xp("string(//disk[3]/source/host/@socket)"), "/run/ferry/nbd.sock");
	assert_string_equal(xp("string(//disk[4]/driver/@type)"), "raw");
	assert_string_equal(xp("string(//interface/@type)"), "network");
	assert_string_equal(xp("string(//interface/source/@network)"), "dr-net");
	assert_string_equal(xp("string(//interface/mac/@address)"), "52:54:00:ab:0c:11");
	assert_string_equal(xp("string(//interface/model/@type)"), "virtio");
	assert_string_equal(xp("string(//serial/@type)"), "file");
	assert_string_equal(xp("string(//serial/source/@path)"), "/var/log/ferry/db.serial");
	assert_string_equal(xp("string(//serial/source/@append)"), "off");
	assert_string_equal(xp("string(//console/source/@path)"), "/var/log/ferry/db.serial");
	assert_string_equal(xp("string(//console/target/@type)"), "serial");
	assert_string_equal(xp("count(//graphics)"), "0");
	char got[LV_HASH_HEX + 1];
	assert_int_equal(lv_xml_mark(xml, strlen(xml), got), 1);
	assert_string_equal(got, hash);
	free(xml);
	lv_settings_release(&st);

	/* a real VM: boots its first disk, UEFI, SCSI disks, e1000, VNC, a pty console */
	assert_int_equal(settings(&st, (const char *[]){ "disk_bus=scsi", "nic_model=e1000",
		"cpu_mode=host-passthrough", "secure_boot=yes", NULL }), 0);
	vm.uefi = true;
	vm.serial_log = NULL;
	vm.n_disks = 2;
	assert_int_equal(lv_domain_xml(&st, &vm, NULL, &xml, err, sizeof(err)), 0);
	load(xml);
	assert_string_equal(xp("string(/domain/@type)"), "kvm");
	assert_string_equal(xp("string(/domain/os/@firmware)"), "efi");
	assert_string_equal(xp("string(/domain/os/firmware/feature[@name='secure-boot']/@enabled)"),
			    "yes");
	assert_string_equal(xp("string(/domain/features/smm/@state)"), "on");
	assert_string_equal(xp("count(/domain/os/kernel)"), "0");
	assert_string_equal(xp("string(/domain/cpu/@mode)"), "host-passthrough");
	assert_string_equal(xp("string(//controller[@type='scsi']/@model)"), "virtio-scsi");
	assert_string_equal(xp("string(//disk[1]/target/@dev)"), "sda");
	assert_string_equal(xp("string(//disk[1]/target/@bus)"), "scsi");
	assert_string_equal(xp("string(//disk[1]/boot/@order)"), "1");
	assert_string_equal(xp("count(//disk/boot)"), "1");
	assert_string_equal(xp("string(//interface/model/@type)"), "e1000");
	assert_string_equal(xp("string(//serial/@type)"), "pty");
	assert_string_equal(xp("string(//graphics/@type)"), "vnc");
	assert_string_equal(xp("string(//graphics/@listen)"), "127.0.0.1");
	assert_string_equal(xp("count(/domain/metadata)"), "0");
	assert_int_equal(lv_xml_mark(xml, strlen(xml), got), 0);
	free(xml);
	lv_settings_release(&st);
}

static void test_bad_vms(void **state)
{
	(void)state;
	struct lv_settings st;
	assert_int_equal(settings(&st, (const char *[]){ NULL }), 0);
	struct drv_disk d = { .path = "/a" };
	struct drv_nic nic = { .network = "" };
	struct {
		struct drv_vm vm;
		struct drv_disk disk;
		const char *msg;
	} bad[] = {
		{ { .name = "a/b", .cpus = 1, .memory_mib = 1 }, d, "bad VM name 'a/b'" },
		{ { .name = "", .cpus = 1, .memory_mib = 1 }, d, "bad VM name ''" },
		{ { .name = "v", .cpus = 0, .memory_mib = 1 }, d, "VM v: bad size (0 CPUs, 1 MiB)" },
		{ { .name = "v", .cpus = 1, .memory_mib = 1, .n_disks = 1 }, { .path = "rel.raw" },
		  "VM v, disk 1: path must be absolute" },
		{ { .name = "v", .cpus = 1, .memory_mib = 1, .n_disks = 1 },
		  { .path = "/a", .nbd_host = "h" },
		  "VM v, disk 1: needs exactly one of a path, an NBD host or an NBD socket" },
		{ { .name = "v", .cpus = 1, .memory_mib = 1, .n_disks = 1 }, { .path = "/a",
		  .format = "qcow2" }, "VM v, disk 1: format must be raw or vmdk" },
		{ { .name = "v", .cpus = 1, .memory_mib = 1, .n_disks = 1 },
		  { .nbd_socket = "sock" }, "VM v, disk 1: NBD socket path must be absolute" },
		{ { .name = "v", .cpus = 1, .memory_mib = 1, .n_nics = 1 }, d,
		  "VM v, NIC 1: bad network name" },
		{ { .name = "v", .cpus = 1, .memory_mib = 1, .serial_log = "x.log" }, d,
		  "VM v: the serial log path must be absolute" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *xml = NULL;
		bad[i].vm.disks = &bad[i].disk;
		bad[i].vm.nics = &nic;
		assert_int_equal(lv_domain_xml(&st, &bad[i].vm, NULL, &xml, err, sizeof(err)), -EINVAL);
		assert_null(xml);
		assert_string_equal(err, bad[i].msg);
	}
	lv_settings_release(&st);
}

static void test_network_xml_and_mark(void **state)
{
	(void)state;
	struct drv_network n = { "drill & test", 0x0a020001, 24 };
	char *xml, hash[LV_HASH_HEX + 1], got[LV_HASH_HEX + 1];
	assert_int_equal(lv_network_xml(&n, NULL, &xml, err, sizeof(err)), 0);
	lv_hash(xml, hash);
	assert_int_equal(strlen(hash), LV_HASH_HEX);
	char again[LV_HASH_HEX + 1];
	lv_hash(xml, again);
	assert_string_equal(hash, again);
	free(xml);
	assert_int_equal(lv_network_xml(&n, hash, &xml, err, sizeof(err)), 0);
	load(xml);
	assert_string_equal(xp("string(/network/name)"), "drill & test");
	assert_string_equal(xp("count(/network/forward)"), "0");
	assert_string_equal(xp("string(/network/bridge/@stp)"), "off");
	assert_string_equal(xp("string(/network/ip/@address)"), "10.2.0.1");
	assert_string_equal(xp("string(/network/ip/@prefix)"), "24");
	assert_int_equal(lv_xml_mark(xml, strlen(xml), got), 1);
	assert_string_equal(got, hash);
	free(xml);
	n.host_addr = 0;
	assert_int_equal(lv_network_xml(&n, NULL, &xml, err, sizeof(err)), 0);
	load(xml);
	assert_string_equal(xp("count(/network/ip)"), "0");
	free(xml);
	struct drv_network bad = { "x", 0x0a020001, 0 };
	assert_int_equal(lv_network_xml(&bad, NULL, &xml, err, sizeof(err)), -EINVAL);

	/* marks: another namespace, a short hash, no metadata, not XML */
	const char *other = "<network><metadata><ferry:def xmlns:ferry='urn:other' hash='"
			    "0000000000000000000000000000000000000000000000000000000000000000'/>"
			    "</metadata></network>";
	assert_int_equal(lv_xml_mark(other, strlen(other), got), 0);
	const char *shorth = "<domain><metadata><x:def xmlns:x='urn:ferry:agent:1' hash='abc'/>"
			     "</metadata></domain>";
	assert_int_equal(lv_xml_mark(shorth, strlen(shorth), got), 0);
	const char *prefixed = "<domain><metadata><y:def xmlns:y='urn:ferry:agent:1' hash='"
			       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'/>"
			       "</metadata></domain>";
	assert_int_equal(lv_xml_mark(prefixed, strlen(prefixed), got), 1);
	assert_int_equal(lv_xml_mark("<domain/>", 9, got), 0);
	assert_int_equal(lv_xml_mark("<domain>", 8, got), -EBADMSG);
	assert_int_equal(lv_xml_mark("", 0, got), -EBADMSG);
}

/* ---- the driver on test:///default ------------------------------------------------- */

static struct driver *open_test(void)
{
	const struct driver_ops *ops = driver_find("libvirt");
	assert_ptr_equal(ops, &driver_libvirt_ops);
	struct drv_setting s[] = { { "uri", "test:///default" }, { "domain_type", "test" },
				   { "arch", "i686" }, { "graphics", "none" } };
	struct driver *d;
	assert_int_equal(ops->open(s, ARRAY_SIZE(s), &d, err, sizeof(err)), 0);
	assert_ptr_equal(d->ops, ops);
	return d;
}

static enum drv_power power(struct driver *d, const char *name)
{
	enum drv_power st;
	OK(d->ops->state(d, name, &st, err, sizeof(err)));
	return st;
}

static void test_find(void **state)
{
	(void)state;
	assert_ptr_equal(driver_find("script"), &driver_script_ops);
	assert_null(driver_find("vmware"));
	assert_null(driver_find(NULL));
	struct drv_setting s[] = { { "colour", "blue" } };
	struct driver *d = NULL;
	assert_int_equal(driver_libvirt_ops.open(s, 1, &d, err, sizeof(err)), -EINVAL);
	assert_null(d);
}

static void test_vm_calls(void **state)
{
	(void)state;
	struct driver *d = open_test();
	struct drv_disk disk = { .path = "/nonexistent/unit.raw" };
	struct drv_nic nic = { "default", { 0x52, 0x54, 0, 1, 2, 3 } };
	struct drv_vm vm = { .name = "unit-vm", .cpus = 1, .memory_mib = 64, .disks = &disk,
			     .n_disks = 1, .nics = &nic, .n_nics = 1 };
	assert_int_equal(power(d, "unit-vm"), DRV_ABSENT);
	OK(d->ops->start(d, &vm, err, sizeof(err)));
	assert_int_equal(power(d, "unit-vm"), DRV_RUNNING);
	OK(d->ops->start(d, &vm, err, sizeof(err)));	/* again: nothing */
	vm.memory_mib = 128;
	assert_int_equal(d->ops->start(d, &vm, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "VM unit-vm runs with another definition (stop it first)");
	OK(d->ops->stop(d, "unit-vm", 5, false, err, sizeof(err)));
	assert_int_equal(power(d, "unit-vm"), DRV_OFF);
	OK(d->ops->stop(d, "unit-vm", 5, false, err, sizeof(err)));
	/* off with another definition: redefined and started */
	OK(d->ops->start(d, &vm, err, sizeof(err)));
	assert_int_equal(power(d, "unit-vm"), DRV_RUNNING);
	OK(d->ops->stop(d, "unit-vm", 0, true, err, sizeof(err)));
	assert_int_equal(power(d, "unit-vm"), DRV_OFF);
	OK(d->ops->remove(d, "unit-vm", err, sizeof(err)));
	assert_int_equal(power(d, "unit-vm"), DRV_ABSENT);
	OK(d->ops->remove(d, "unit-vm", err, sizeof(err)));
	OK(d->ops->stop(d, "unit-vm", 5, true, err, sizeof(err)));

	/* "test" is the fake hypervisor's own running VM: the operator's */
	vm.name = "test";
	assert_int_equal(power(d, "test"), DRV_RUNNING);
	assert_int_equal(d->ops->start(d, &vm, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "a VM named test exists that ferry-agent did not define");
	assert_int_equal(d->ops->remove(d, "test", err, sizeof(err)), -EPERM);
	assert_string_equal(err, "VM test was not defined by ferry-agent: not removed");
	assert_int_equal(power(d, "test"), DRV_RUNNING);
	d->ops->close(d);
}

static void test_network_calls(void **state)
{
	(void)state;
	struct driver *d = open_test();
	struct drv_network n = { "unit-drill", 0x0a630001, 24 };
	OK(d->ops->network_exists(d, "default", err, sizeof(err)));
	assert_int_equal(d->ops->network_exists(d, "unit-drill", err, sizeof(err)), -ENOENT);
	OK(d->ops->network_create_isolated(d, &n, err, sizeof(err)));
	OK(d->ops->network_create_isolated(d, &n, err, sizeof(err)));
	OK(d->ops->network_exists(d, "unit-drill", err, sizeof(err)));
	n.prefix = 16;
	assert_int_equal(d->ops->network_create_isolated(d, &n, err, sizeof(err)), -EEXIST);
	assert_int_equal(d->ops->network_remove(d, "default", err, sizeof(err)), -EPERM);
	OK(d->ops->network_exists(d, "default", err, sizeof(err)));
	OK(d->ops->network_remove(d, "unit-drill", err, sizeof(err)));
	OK(d->ops->network_remove(d, "unit-drill", err, sizeof(err)));
	assert_int_equal(d->ops->network_exists(d, "unit-drill", err, sizeof(err)), -ENOENT);
	struct drv_network other = { "default", 0, 0 };
	assert_int_equal(d->ops->network_create_isolated(d, &other, err, sizeof(err)), -EEXIST);
	d->ops->close(d);
}

static void test_unreachable(void **state)
{
	(void)state;
	struct drv_setting s[] = { { "uri", "qemu:///system?socket=/nonexistent/ferry.sock" } };
	struct driver *d;
	assert_int_equal(driver_libvirt_ops.open(s, 1, &d, err, sizeof(err)), 0);
	assert_int_equal(d->ops->probe(d, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "/nonexistent/ferry.sock"));
	enum drv_power st;
	assert_int_equal(d->ops->state(d, "x", &st, err, sizeof(err)), -ECONNREFUSED);
	d->ops->close(d);
}

static int teardown(void **state)
{
	(void)state;
	if (doc)
		xmlFreeDoc(doc);
	doc = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_domain_xml),
		cmocka_unit_test(test_bad_vms),
		cmocka_unit_test(test_network_xml_and_mark),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_vm_calls),
		cmocka_unit_test(test_network_calls),
		cmocka_unit_test(test_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
