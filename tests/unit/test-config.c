/* Unit tests for the configuration parser: a full valid file, defaults, every validation
 * error with its exact FILE:LINE prefix, the size and duration parsers, and config_load. */
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

#include "common/config.h"
#include "common/util.h"
#include "common/banned.h"

static const char good_conf[] =
	"# ferry configuration\n"
	"; another comment style\n"
	"\n"
	"[appliance]\n"
	"state_dir = /srv/ferry\n"
	"\n"
	"[nbd]\n"
	"listen = 0.0.0.0:10810   ; all interfaces\n"
	"engine = aio\n"
	"\n"
	"[log]\n"
	"path = /dev/vdb\n"
	"size = 16G\n"
	"metadata_size = 128M # comment\n"
	"backpressure = 20ms\n"
	"\n"
	"[control]\n"
	"socket = /run/ferry/ctl.sock\n"
	"\n"
	"[domain sales-db]\n"
	"disk = db-data:/dev/vdc\n"
	"disk = db-log : /var/lib/images/db log.img\n"
	"\n"
	"[domain web_1.prod]\n"
	"\tdisk=web1:/images/web1.raw\n";

static void test_good_config(void **state)
{
	(void)state;
	struct ferry_config cfg;
	char err[256] = "";
	int r = config_parse("ferry.conf", good_conf, sizeof(good_conf) - 1, &cfg, err, sizeof(err));
	if (r)
		print_message("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(cfg.file, "ferry.conf");
	assert_string_equal(cfg.state_dir, "/srv/ferry");
	assert_string_equal(cfg.nbd_listen, "0.0.0.0:10810");
	assert_int_equal(cfg.engine, ENGINE_AIO);
	assert_string_equal(cfg.log_path, "/dev/vdb");
	assert_true(cfg.log_size == 16ull << 30);
	assert_true(cfg.log_metadata_size == 128ull << 20);
	assert_int_equal(cfg.log_backpressure_ms, 20);
	assert_string_equal(cfg.control_socket, "/run/ferry/ctl.sock");
	assert_int_equal(cfg.n_domains, 2);
	assert_string_equal(cfg.domains[0].name, "sales-db");
	assert_int_equal(cfg.domains[0].line, 20);
	assert_int_equal(cfg.domains[0].n_disks, 2);
	assert_string_equal(cfg.domains[0].disks[0].name, "db-data");
	assert_string_equal(cfg.domains[0].disks[0].path, "/dev/vdc");
	assert_int_equal(cfg.domains[0].disks[0].line, 21);
	assert_string_equal(cfg.domains[0].disks[1].name, "db-log");
	assert_string_equal(cfg.domains[0].disks[1].path, "/var/lib/images/db log.img");
	assert_int_equal(cfg.domains[0].disks[1].line, 22);
	assert_string_equal(cfg.domains[1].name, "web_1.prod");
	assert_int_equal(cfg.domains[1].n_disks, 1);
	assert_string_equal(cfg.domains[1].disks[0].name, "web1");
	assert_string_equal(cfg.domains[1].disks[0].path, "/images/web1.raw");
	config_release(&cfg);
	assert_null(cfg.domains);
	assert_null(cfg.state_dir);
}

static void test_defaults(void **state)
{
	(void)state;
	static const char text[] = "[domain a]\ndisk = x:/dev/x\n";
	struct ferry_config cfg;
	char err[256];
	assert_int_equal(config_parse("d.conf", text, strlen(text), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.state_dir, "/var/lib/ferry");
	assert_string_equal(cfg.nbd_listen, "127.0.0.1:10809");
	assert_int_equal(cfg.engine, ENGINE_AUTO);
	assert_string_equal(cfg.log_path, "/var/lib/ferry/replog");
	assert_true(cfg.log_size == 8ull << 30);
	assert_true(cfg.log_metadata_size == 64ull << 20);
	assert_int_equal(cfg.log_backpressure_ms, 0);
	assert_string_equal(cfg.control_socket, "/run/ferry/ferryd.sock");
	config_release(&cfg);

	/* log path follows state_dir when not set */
	static const char t2[] = "[appliance]\nstate_dir = /data/f/\n[nbd]\nengine = uring\n"
				 "listen = unix:/run/ferry/nbd.sock\n[domain a]\ndisk = x:/dev/x\n";
	assert_int_equal(config_parse("d.conf", t2, strlen(t2), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.log_path, "/data/f/replog");
	assert_int_equal(cfg.engine, ENGINE_URING);
	assert_string_equal(cfg.nbd_listen, "unix:/run/ferry/nbd.sock");
	config_release(&cfg);

	static const char t3[] = "[appliance]\nstate_dir = /data\n[nbd]\nengine = auto\n"
				 "listen = [::1]:10809\n[domain a]\ndisk = x:/dev/x\n";
	assert_int_equal(config_parse("d.conf", t3, strlen(t3), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.log_path, "/data/replog");
	assert_int_equal(cfg.engine, ENGINE_AUTO);
	assert_string_equal(cfg.nbd_listen, "[::1]:10809");
	config_release(&cfg);
}

static void test_syntax_details(void **state)
{
	(void)state;
	/* CRLF, trailing spaces, '#' without whitespace before it stays in the value,
	 * a UTF-8 BOM, comment after a section header */
	static const char text[] = "\xEF\xBB\xBF[log]   ; the log\r\n"
				   "  path   =   /a#b/c   \r\n"
				   "size=1M\r\n"
				   "metadata_size = 64K\r\n"
				   "backpressure = 50ms\r\n"
				   "[domain d]\r\n"
				   "disk = n:/p;q\r\n";
	struct ferry_config cfg;
	char err[256] = "";
	int r = config_parse("s.conf", text, strlen(text), &cfg, err, sizeof(err));
	if (r)
		print_message("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(cfg.log_path, "/a#b/c");
	assert_true(cfg.log_size == 1u << 20);
	assert_true(cfg.log_metadata_size == 64u << 10);
	assert_int_equal(cfg.log_backpressure_ms, 50);
	assert_string_equal(cfg.domains[0].disks[0].path, "/p;q");
	config_release(&cfg);

	/* no trailing newline, maximum-length line and name */
	char *big = malloc(8192);
	assert_non_null(big);
	int n = snprintf(big, 8192, "[domain %s]\ndisk = e:/", "d123456789012345678901234567890123456789012345678901234567890ab");
	while (n < (int)strlen("[domain ]\n") + 63 + 4096)
		big[n++] = 'x';
	big[n] = '\0';
	r = config_parse("s.conf", big, (size_t)n, &cfg, err, sizeof(err));
	if (r)
		print_message("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_int_equal(strlen(cfg.domains[0].name), 63);
	assert_int_equal(strlen(cfg.domains[0].disks[0].path), 4096 - 9);
	config_release(&cfg);
	/* one byte more is too long */
	big[n++] = 'x';
	big[n] = '\0';
	assert_int_equal(config_parse("s.conf", big, (size_t)n, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "s.conf:2: line too long"));
	free(big);
}

/* Parse text, expect failure with err starting "t.conf:LINE: " and containing `what`. */
static void expect_error_n(const char *text, size_t len, unsigned line, const char *what)
{
	struct ferry_config cfg;
	char err[512] = "";
	char prefix[64];
	memset(&cfg, 0x5a, sizeof(cfg));	/* parse must not rely on the caller zeroing */
	int r = config_parse("t.conf", text, len, &cfg, err, sizeof(err));
	snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
	if (r != -1 || strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, what)) {
		print_error("input:\n%s\nexpected '%s...%s', got r=%d '%s'\n", text, prefix, what, r, err);
		if (r == 0)
			config_release(&cfg);
		fail();
	}
	/* released on failure */
	assert_null(cfg.domains);
	assert_null(cfg.file);
	assert_int_equal(cfg.n_domains, 0);
}

static void expect_error(const char *text, unsigned line, const char *what)
{
	expect_error_n(text, strlen(text), line, what);
}

#define DOM "[domain d]\ndisk = a:/dev/a\n"

static void test_errors_syntax(void **state)
{
	(void)state;
	expect_error("[appliance\n" DOM, 1, "bad section header");
	expect_error(DOM "\n[log]x\n", 4, "bad section header");
	expect_error(DOM "[]\n", 3, "empty section name");
	expect_error(DOM "[lo[g]\n", 3, "bad section header");
	expect_error("\n\n[store2]\n" DOM, 3, "unknown section [store2]");
	expect_error(DOM "[log]\nfoo = 1\n", 4, "unknown key 'foo' in [log]");
	expect_error(DOM "[log]\nsize = 1G\n\nsize = 2G\n", 6, "duplicate key 'size' in [log] (first set at line 4)");
	expect_error(DOM "[log]\nsize 1G\n", 4, "missing '='");
	expect_error(DOM "[log]\npath =   ; nothing\n", 4, "empty value for 'path'");
	expect_error(DOM "[log]\n= x\n", 4, "missing key");
	expect_error("size = 1G\n" DOM, 1, "outside of any section");
	expect_error(DOM "[log]\n[log]\n", 4, "duplicate section [log] (first at line 3)");
	expect_error(DOM "[nbd extra]\n", 3, "takes no name");
	static const char nul[] = "[domain d]\ndisk = a:/dev/a\0junk\n";
	expect_error_n(nul, sizeof(nul) - 1, 2, "NUL");
	/* line too long */
	char *big = malloc(5000);
	assert_non_null(big);
	int n = snprintf(big, 5000, DOM "[log]\npath = /");
	memset(big + n, 'p', 4200);
	memcpy(big + n + 4200, "\n", 2);
	expect_error(big, 4, "line too long");
	free(big);
}

static void test_errors_values(void **state)
{
	(void)state;
	expect_error(DOM "[log]\nsize = 12X\n", 4, "bad size '12X'");
	expect_error(DOM "[log]\nsize = 1.5G\n", 4, "bad size");
	expect_error(DOM "[log]\nsize = 99999999999999999999\n", 4, "bad size");
	expect_error(DOM "[log]\nsize = 1048577\n", 4, "multiple of 4096");
	expect_error(DOM "[log]\nsize = 512K\n", 4, "at least 1M");
	expect_error(DOM "[log]\nmetadata_size = 32K\n", 4, "at least 64K");
	expect_error(DOM "[log]\nmetadata_size = 65537\n", 4, "multiple of 4096");
	expect_error(DOM "[log]\nbackpressure = soon\n", 4, "bad duration 'soon'");
	expect_error(DOM "[log]\nbackpressure = 51ms\n", 4, "at most 50ms");
	expect_error(DOM "[log]\nbackpressure = 1\n", 4, "at most 50ms");
	expect_error(DOM "[nbd]\nengine = epoll\n", 4, "bad nbd.engine 'epoll'");
	expect_error(DOM "[nbd]\nlisten = localhost\n", 4, "bad nbd.listen");
	expect_error(DOM "[nbd]\nlisten = localhost:0\n", 4, "bad nbd.listen");
	expect_error(DOM "[nbd]\nlisten = localhost:65536\n", 4, "bad nbd.listen");
	expect_error(DOM "[nbd]\nlisten = :10809\n", 4, "bad nbd.listen");
	expect_error(DOM "[nbd]\nlisten = ::1:10809\n", 4, "bad nbd.listen");
	expect_error(DOM "[nbd]\nlisten = unix:relative.sock\n", 4, "bad nbd.listen");
	expect_error(DOM "[nbd]\nlisten = host:10x\n", 4, "bad nbd.listen");
	expect_error(DOM "[nbd]\ntls = yes\n", 4, "bad nbd.tls 'yes' (expected off, on or require)");
	expect_error(DOM "[nbd]\ntls = on\n", 3, "nbd.tls = on needs nbd.tls_cert_file");
	expect_error(DOM "\n[nbd]\ntls = require\n", 4, "nbd.tls = require needs");
	expect_error(DOM "[nbd]\ntls_cert_file = /c.pem\n", 3, "go together");
	expect_error(DOM "[nbd]\ntls_key_file = /k.pem\n", 3, "go together");
	expect_error(DOM "[nbd]\ntls = on\ntls_psk_file = /p\ntls_ca_file = /ca.pem\n", 3,
		     "tls_ca_file (client certificates) needs nbd.tls_cert_file");
}

static void test_tls_keys(void **state)
{
	(void)state;
	struct ferry_config c;
	char err[256];
	static const char on[] = DOM "[nbd]\ntls = on\ntls_psk_file = /etc/ferry/keys.psk\n";
	assert_int_equal(config_parse("t", on, sizeof on - 1, &c, err, sizeof err), 0);
	assert_int_equal(c.tls, TLS_ON);
	assert_string_equal(c.tls_psk_file, "/etc/ferry/keys.psk");
	assert_null(c.tls_cert_file);
	config_release(&c);
	static const char req[] = DOM "[nbd]\ntls = require\ntls_cert_file = /c.pem\n"
				  "tls_key_file = /k.pem\ntls_ca_file = /ca.pem\n";
	assert_int_equal(config_parse("t", req, sizeof req - 1, &c, err, sizeof err), 0);
	assert_int_equal(c.tls, TLS_REQUIRE);
	assert_string_equal(c.tls_cert_file, "/c.pem");
	assert_string_equal(c.tls_key_file, "/k.pem");
	assert_string_equal(c.tls_ca_file, "/ca.pem");
	config_release(&c);
	static const char off[] = DOM "[nbd]\ntls = off\n";
	assert_int_equal(config_parse("t", off, sizeof off - 1, &c, err, sizeof err), 0);
	assert_int_equal(c.tls, TLS_OFF);
	config_release(&c);
}

static void test_errors_domains(void **state)
{
	(void)state;
	expect_error("", 1, "no [domain] section");
	expect_error("# only a comment\n[log]\nsize = 1G\n", 1, "no [domain] section");
	expect_error(DOM "\n[domain d]\ndisk = b:/dev/b\n", 4, "duplicate domain 'd' (first defined at line 1)");
	expect_error(DOM "[domain e]\ndisk = c:/x\ndisk = a:/dev/other\n", 5,
		     "duplicate export name 'a' (first defined at line 2)");
	expect_error(DOM "disk = a:/dev/again\n", 3, "duplicate export name 'a'");
	expect_error("[domain d]\ndisk = /dev/sda\n", 2, "expected EXPORT:PATH");
	expect_error("[domain d]\ndisk = :/dev/sda\n", 2, "empty export name");
	expect_error("[domain d]\ndisk = sda:  \n", 2, "empty path");
	expect_error("[domain d]\ndisk = bad/name:/dev/sda\n", 2, "invalid export name 'bad/name'");
	expect_error("[domain d]\ndisk = ..:/dev/sda\n", 2, "invalid export name");
	expect_error("[domain d]\ndisk = "
		     "e1234567890123456789012345678901234567890123456789012345678901234:/x\n",
		     2, "invalid export name");
	expect_error("[domain bad!name]\ndisk = a:/x\n", 1, "invalid domain name 'bad!name'");
	expect_error("[domain two words]\ndisk = a:/x\n", 1, "invalid domain name");
	expect_error("[domain "
		     "d1234567890123456789012345678901234567890123456789012345678901234]\ndisk = a:/x\n",
		     1, "invalid domain name");
	expect_error("[domain]\ndisk = a:/x\n", 1, "needs a name");
	/* a domain without disks is reported at its header, whether another section or EOF follows */
	expect_error(DOM "\n[domain empty]\n\n[log]\nsize = 1G\n", 4, "domain 'empty' has no disks");
	expect_error(DOM "[domain empty]\n# nothing\n", 3, "domain 'empty' has no disks");
	expect_error(DOM "[domain d2]\nname = x\n", 4, "unknown key 'name' in [domain]");
}


/* ---- [vm NAME] ---- */

#define VMDOM "[domain prod]\ndisk = db-os:/d/1\ndisk = db-data:/d/2\ndisk = web-os:/d/3\n"

static void test_vms(void **state)
{
	(void)state;
	static const char text[] =
		"[vm db]\n"				/* before its domain: checked at the end */
		"domain = prod\n"
		"disks = db-os, db-data\n"
		"cpus = 2\n"
		"memory = 2G\n"
		"firmware = uefi\n"
		"nic = prod-net 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2,8.8.8.8\n"
		"nic = backup-net 52:54:00:AB:CD:EF dhcp\n"
		VMDOM
		"[vm web]\n"
		"domain = prod\n"
		"disks = web-os\n"
		"memory = 512M\n"
		"nic = prod-net 52:54:00:00:00:01\n";
	struct ferry_config cfg;
	char err[256] = "";
	int r = config_parse("t.conf", text, sizeof(text) - 1, &cfg, err, sizeof(err));
	if (r)
		print_message("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_int_equal(cfg.n_vms, 2);
	const struct vm_desc *db = &cfg.vms[0].desc, *web = &cfg.vms[1].desc;
	assert_string_equal(db->name, "db");
	assert_string_equal(db->domain, "prod");
	assert_int_equal(db->n_disks, 2);
	assert_string_equal(db->disks[0], "db-os");
	assert_string_equal(db->disks[1], "db-data");
	assert_int_equal(db->cpus, 2);
	assert_true(db->memory_mib == 2048);
	assert_int_equal(db->firmware, VM_FIRMWARE_UEFI);
	assert_int_equal(db->n_nics, 2);
	assert_int_equal(cfg.vms[0].nic_line[1], 8);
	assert_int_equal(db->nics[0].mode, VM_NIC_STATIC);
	assert_true(db->nics[0].addr == 0x0a01000b);
	assert_int_equal(db->nics[0].prefix, 24);
	assert_true(db->nics[0].gw == 0x0a010001);
	assert_int_equal(db->nics[0].n_dns, 2);
	assert_true(db->nics[0].dns[1] == 0x08080808);
	assert_int_equal(db->nics[1].mode, VM_NIC_DHCP);
	assert_int_equal(db->nics[1].mac[3], 0xab);
	/* defaults */
	assert_int_equal(web->cpus, 1);
	assert_int_equal(web->firmware, VM_FIRMWARE_BIOS);
	assert_true(web->memory_mib == 512);
	assert_int_equal(web->nics[0].mode, VM_NIC_DHCP);
	config_release(&cfg);
}

#define VM1 "[vm a]\ndomain = prod\ndisks = db-os\nmemory = 1G\n"

static void test_vm_errors(void **state)
{
	(void)state;
	expect_error(VMDOM "[vm]\n", 5, "[vm] needs a name");
	expect_error(VMDOM "[vm a b]\n", 5, "invalid vm name");
	expect_error(VMDOM VM1 "[vm a]\n", 9, "duplicate vm 'a' (first defined at line 5)");
	expect_error(VMDOM "[vm a]\ndisks = db-os\nmemory = 1G\n", 5, "vm 'a' has no domain");
	expect_error(VMDOM "[vm a]\ndomain = prod\nmemory = 1G\n", 5, "vm 'a' has no disks");
	expect_error(VMDOM "[vm a]\ndomain = prod\ndisks = db-os\n", 5, "no memory size");
	expect_error(VMDOM VM1 "memory = 2G\n", 9, "duplicate key 'memory' in [vm]");
	expect_error(VMDOM VM1 "color = red\n", 9, "unknown key 'color' in [vm]");
	expect_error(VMDOM VM1 "cpus = 0\n", 9, "bad vm.cpus '0'");
	expect_error(VMDOM VM1 "cpus = 4097\n", 9, "bad vm.cpus");
	expect_error(VMDOM VM1 "cpus = two\n", 9, "bad vm.cpus");
	expect_error(VMDOM "[vm a]\nmemory = 2048\n", 6, "needs a unit");
	expect_error(VMDOM "[vm a]\nmemory = 1536K\n", 6, "whole number of MiB");
	expect_error(VMDOM "[vm a]\nmemory = lots\n", 6, "bad size 'lots'");
	expect_error(VMDOM VM1 "firmware = efi\n", 9, "bad vm.firmware 'efi'");
	expect_error(VMDOM "[vm a]\ndisks = db-os, db-os\n", 6, "disk 'db-os' listed twice");
	expect_error(VMDOM "[vm a]\ndisks = , ,\n", 6, "at least one export");
	expect_error(VMDOM "[vm a]\ndisks = a/b\n", 6, "invalid export name 'a/b'");
	expect_error(VMDOM "[vm a]\ndomain = nope\ndisks = db-os\nmemory = 1G\n", 6,
		     "vm 'a': no [domain nope] in this file");
	expect_error(VMDOM "[vm a]\ndomain = prod\ndisks = db-os, other\nmemory = 1G\n", 7,
		     "vm 'a': disk 'other' is not an export of domain 'prod'");
	expect_error(VMDOM VM1 "[vm b]\ndomain = prod\ndisks = web-os db-os\nmemory = 1G\n", 11,
		     "disk 'db-os' already belongs to vm 'a' (line 7)");
	/* NICs */
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/24\n"
		     "[vm b]\ndomain = prod\ndisks = web-os\nmemory = 1G\n"
		     "nic = net 52:54:00:00:00:01\n", 14,
		     "duplicate MAC 52:54:00:00:00:01 (first used at line 9)");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/24\n"
		     "nic = net2 52:54:00:00:00:02 static 10.1.0.1/16\n", 10,
		     "duplicate address 10.1.0.1 (first used at line 9)");
	expect_error(VMDOM VM1 "nic = net\n", 9, "bad vm.nic 'net': expected NETWORK MAC");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00\n", 9, "bad MAC");
	expect_error(VMDOM VM1 "nic = net 01:54:00:00:00:01\n", 9, "multicast");
	expect_error(VMDOM VM1 "nic = n/et 52:54:00:00:00:01\n", 9, "invalid network name");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static\n", 9, "needs ADDR/PREFIX");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1\n", 9, "needs a prefix");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/33\n", 9, "bad prefix length");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.256/8\n", 9, "bad IPv4 address");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.01.0.1/8\n", 9, "bad IPv4 address");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/8 gw\n", 9, "'gw' needs a value");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/8 gw 1.2.3\n", 9, "bad gateway");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/8 gw 1.1.1.1 gw 1.1.1.1\n", 9,
		     "'gw' given twice");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/8 dns 1.1.1.1,\n", 9, "bad DNS server");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/8 dns 1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5\n",
		     9, "too many DNS servers");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 dhcp 10.1.0.1/8\n", 9, "expected static or dhcp");
	expect_error(VMDOM VM1 "nic = net 52:54:00:00:00:01 static 10.1.0.1/8 mtu 9000\n", 9, "unexpected 'mtu'");
	expect_error(VMDOM VM1 "nic = a 52:54:00:00:00:01\nnic = b 52:54:00:00:00:02\nnic = c 52:54:00:00:00:03\n"
		     "nic = d 52:54:00:00:00:04\nnic = e 52:54:00:00:00:05\nnic = f 52:54:00:00:00:06\n"
		     "nic = g 52:54:00:00:00:07\nnic = h 52:54:00:00:00:08\nnic = i 52:54:00:00:00:09\n",
		     17, "too many NICs");
}

static void test_nic_format(void **state)
{
	(void)state;
	static const char *canon[] = {
		"prod-net 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2,8.8.8.8",
		"n 52:54:00:12:34:56 static 192.168.0.1/32",
		"n 52:54:00:12:34:56 static 10.0.0.1/8 dns 1.1.1.1",
		"n 02:00:00:00:00:00 dhcp",
	};
	for (size_t i = 0; i < ARRAY_SIZE(canon); i++) {
		struct vm_nic nic;
		char out[200], err[128];
		assert_int_equal(vm_nic_parse(canon[i], &nic, err, sizeof(err)), 0);
		assert_int_equal(vm_nic_format(&nic, out, sizeof(out)), (int)strlen(canon[i]));
		assert_string_equal(out, canon[i]);
		assert_int_equal(vm_nic_format(&nic, out, 10), -ENOSPC);
	}
	/* other spellings become the canonical form */
	struct vm_nic nic;
	char out[200];
	assert_int_equal(vm_nic_parse("  n\t52:54:00:AA:bb:CC   dns 1.1.1.1 ", &nic, out, sizeof(out)), -EINVAL);
	assert_int_equal(vm_nic_parse("n 52:54:00:AA:bb:CC static 10.1.0.1/24 dns 1.1.1.1 gw 10.1.0.254",
				      &nic, out, sizeof(out)), 0);
	vm_nic_format(&nic, out, sizeof(out));
	assert_string_equal(out, "n 52:54:00:aa:bb:cc static 10.1.0.1/24 gw 10.1.0.254 dns 1.1.1.1");
	assert_int_equal(vm_nic_parse("n 52:54:00:aa:bb:cc", &nic, out, sizeof(out)), 0);
	assert_int_equal(nic.mode, VM_NIC_DHCP);
	uint32_t a;
	assert_int_equal(vm_ipv4_parse("0.0.0.0", 7, &a), 0);
	assert_int_equal(vm_ipv4_parse("255.255.255.255", 15, &a), 0);
	assert_true(a == UINT32_MAX);
	assert_int_equal(vm_ipv4_parse("1.2.3.4x", 7, &a), 0);	/* exactly n bytes */
	assert_true(a == 0x01020304);
	static const char *bad[] = { "1.2.3", "1.2.3.4.", "1..2.3", "a.b.c.d", "1.2.3.4 ", "-1.2.3.4",
				     "1.2.3.0004", "1.2.3.00", "256.1.1.1" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (vm_ipv4_parse(bad[i], strlen(bad[i]), &a) != -EINVAL)
			fail_msg("vm_ipv4_parse accepted '%s'", bad[i]);
}

static void test_parse_size(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(parse_size("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(parse_size("64K", &v), 0);
	assert_true(v == 65536);
	assert_int_equal(parse_size("64k", &v), 0);
	assert_true(v == 65536);
	assert_int_equal(parse_size("3M", &v), 0);
	assert_true(v == 3ull << 20);
	assert_int_equal(parse_size("8G", &v), 0);
	assert_true(v == 8ull << 30);
	assert_int_equal(parse_size("1T", &v), 0);
	assert_true(v == 1ull << 40);
	assert_int_equal(parse_size("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_size("16777215T", &v), 0);
	assert_true(v == 16777215ull << 40);

	v = 77;
	static const char *bad[] = { "", "K", "18446744073709551616", "16777216T", "17179869184G",
				     "-1", "+1", " 1", "1 ", "1 K", "1KB", "1KiB", "1E", "0x10", "1.5M" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (parse_size(bad[i], &v) != -1)
			fail_msg("parse_size accepted '%s'", bad[i]);
	}
	assert_true(v == 77);	/* untouched on failure */
}

static void test_parse_duration(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_duration_ms("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(parse_duration_ms("50ms", &v), 0);
	assert_true(v == 50);
	assert_int_equal(parse_duration_ms("15s", &v), 0);
	assert_true(v == 15000);
	assert_int_equal(parse_duration_ms("15", &v), 0);
	assert_true(v == 15000);
	assert_int_equal(parse_duration_ms("2m", &v), 0);
	assert_true(v == 120000);
	assert_int_equal(parse_duration_ms("1h", &v), 0);
	assert_true(v == 3600000);
	assert_int_equal(parse_duration_ms("18446744073709551615ms", &v), 0);
	assert_true(v == UINT64_MAX);
	static const char *bad[] = { "", "ms", "1d", "1 s", "-5s", "5S", "1.5s", "18446744073709552s",
				     "18446744073709551615s", "5000000000000000h", "1msx" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (parse_duration_ms(bad[i], &v) != -1)
			fail_msg("parse_duration_ms accepted '%s'", bad[i]);
	}
}

static void test_load(void **state)
{
	(void)state;
	struct ferry_config cfg;
	char err[512];
	assert_int_equal(config_load("/nonexistent/ferry.conf", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/ferry.conf: No such file or directory");

	char path[] = "/tmp/ferry-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, good_conf, sizeof(good_conf) - 1), 0);
	close(fd);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.file, path);
	assert_int_equal(cfg.n_domains, 2);
	assert_string_equal(cfg.domains[1].disks[0].name, "web1");
	config_release(&cfg);

	/* errors name the file it was loaded from */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, "[domain x]\n", 11), 0);
	close(fd);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
	char want[128];
	snprintf(want, sizeof(want), "%s:1: domain 'x' has no disks", path);
	assert_true(strncmp(err, want, strlen(want)) == 0);

	/* a recovery site's file: only [store]. ferryd's loader wants a domain, ferryctl's
	 * does not (and still checks everything else) */
	static const char store_only[] = "[store]\nurl = file:///srv/r\nkey_file = /k\n";
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, store_only, sizeof(store_only) - 1), 0);
	close(fd);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no [domain] section"));
	assert_int_equal(config_load_any(path, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_domains, 0);
	assert_string_equal(cfg.store_url, "file:///srv/r");
	config_release(&cfg);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, "[log]\nbogus = 1\n", 16), 0);
	close(fd);
	assert_int_equal(config_load_any(path, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown key 'bogus'"));
	unlink(path);
}

static void test_store_and_domain_shipping_keys(void **state)
{
	(void)state;
	const char *text = "[store]\nurl = file:///srv/store\nkey_file = /etc/ferry/k\n"
			   "[domain a]\ndisk = a0:/d/a0\nrpo = 5s\ncompression = zstd:3\n"
			   "keep = last:3\n[domain b]\ndisk = b0:/d/b0\n";
	struct ferry_config cfg;
	char err[256];
	assert_int_equal(config_parse("s.conf", text, strlen(text), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.store_url, "file:///srv/store");
	assert_string_equal(cfg.store_key_file, "/etc/ferry/k");
	assert_int_equal(cfg.domains[0].rpo_ms, 5000);
	assert_string_equal(cfg.domains[0].compression, "zstd:3");
	assert_string_equal(cfg.domains[0].keep, "last:3");
	assert_int_equal(cfg.domains[1].rpo_ms, DEFAULT_RPO_MS);	/* per-domain default */
	assert_null(cfg.domains[1].compression);
	config_release(&cfg);
	expect_error(DOM "rpo = 500ms\n", 3, "at least 1000ms");
	expect_error(DOM "rpo = 5s\nrpo = 6s\n", 4, "duplicate key 'rpo'");
	expect_error("[store]\nurl = a\nurl = b\n" DOM, 3, "duplicate key 'url'");
}

static void test_store_s3_keys(void **state)
{
	(void)state;
	const char *text = "[store]\nurl = s3://dr-bucket/site-a\nendpoint = http://127.0.0.1:7480\n"
			   "region = eu-west-3\naddressing = virtual\n"
			   "access_key_file = /etc/ferry/s3.access\n"
			   "secret_key_file = /etc/ferry/s3.secret\nca_file = /etc/ferry/ca.pem\n"
			   "parallel = 256\n" DOM;
	struct ferry_config cfg;
	char err[256] = "";
	int r = config_parse("s.conf", text, strlen(text), &cfg, err, sizeof(err));
	if (r)
		print_message("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(cfg.store_url, "s3://dr-bucket/site-a");
	assert_string_equal(cfg.store_endpoint, "http://127.0.0.1:7480");
	assert_string_equal(cfg.store_region, "eu-west-3");
	assert_string_equal(cfg.store_addressing, "virtual");
	assert_string_equal(cfg.store_access_key_file, "/etc/ferry/s3.access");
	assert_string_equal(cfg.store_secret_key_file, "/etc/ferry/s3.secret");
	assert_string_equal(cfg.store_ca_file, "/etc/ferry/ca.pem");
	assert_int_equal(cfg.store_parallel, 256);
	config_release(&cfg);

	/* the other addressing value and the lower bound of parallel */
	text = "[store]\naddressing = path\nparallel = 1\n" DOM;
	assert_int_equal(config_parse("s.conf", text, strlen(text), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.store_addressing, "path");
	assert_int_equal(cfg.store_parallel, 1);
	assert_null(cfg.store_url);
	config_release(&cfg);

	/* all unset: NULL/0, the backend's defaults */
	assert_int_equal(config_parse("s.conf", DOM, strlen(DOM), &cfg, err, sizeof(err)), 0);
	assert_null(cfg.store_url);
	assert_null(cfg.store_endpoint);
	assert_null(cfg.store_region);
	assert_null(cfg.store_addressing);
	assert_null(cfg.store_access_key_file);
	assert_null(cfg.store_secret_key_file);
	assert_null(cfg.store_ca_file);
	assert_int_equal(cfg.store_parallel, 0);
	config_release(&cfg);

	expect_error(DOM "[store]\naddressing = vhost\n", 4,
		     "bad store.addressing 'vhost' (expected path or virtual)");
	expect_error(DOM "[store]\naddressing = Path\n", 4, "bad store.addressing 'Path'");
	expect_error(DOM "[store]\nparallel = 0\n", 4,
		     "bad store.parallel '0' (expected a number from 1 to 256)");
	expect_error(DOM "[store]\nparallel = 257\n", 4, "bad store.parallel '257'");
	expect_error(DOM "[store]\nparallel = -1\n", 4, "bad store.parallel '-1'");
	expect_error(DOM "[store]\nparallel = 8k\n", 4, "bad store.parallel '8k'");
	expect_error(DOM "[store]\nparallel = 99999999999999999999\n", 4, "bad store.parallel");
	expect_error(DOM "[store]\nregion = a\nregion = b\n", 5, "duplicate key 'region'");
	expect_error(DOM "[store]\nsecret_key = x\n", 4, "unknown key 'secret_key' in [store]");
	expect_error(DOM "[domain e]\ndisk = e0:/d/e0\nrpo = 25h\n", 5, "domain.rpo must be at most");
}

static void test_agent_and_hypervisor(void **state)
{
	(void)state;
	const char *text = "[agent]\nstate_dir = /srv/agent\nsocket = /run/a.sock\n"
			   "listen = 127.0.0.1:8470\nparallel = 8\n"
			   "[hypervisor]\ndriver = libvirt\nuri = qemu:///session\nserial_dir = /x\n"
			   "[store]\nurl = file:///s\n";
	struct ferry_config cfg;
	char err[256] = "";
	int r = config_parse_any("s.conf", text, strlen(text), &cfg, err, sizeof(err));
	if (r)
		print_message("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(cfg.agent_state_dir, "/srv/agent");
	assert_string_equal(cfg.agent_socket, "/run/a.sock");
	assert_string_equal(cfg.agent_listen, "127.0.0.1:8470");
	assert_int_equal(cfg.agent_parallel, 8);
	assert_string_equal(cfg.hv_driver, "libvirt");
	assert_int_equal(cfg.n_hv_settings, 2);
	assert_string_equal(cfg.hv_settings[0].key, "uri");
	assert_string_equal(cfg.hv_settings[0].value, "qemu:///session");
	assert_string_equal(cfg.hv_settings[1].key, "serial_dir");
	assert_int_equal(cfg.hv_settings[1].line, 9);
	config_release(&cfg);

	/* defaults */
	assert_int_equal(config_parse("s.conf", DOM, strlen(DOM), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.agent_state_dir, "/var/lib/ferry-agent");
	assert_string_equal(cfg.agent_socket, "/run/ferry/agent.sock");
	assert_null(cfg.agent_listen);
	assert_int_equal(cfg.agent_parallel, 4);
	assert_null(cfg.hv_driver);
	assert_int_equal(cfg.n_hv_settings, 0);
	config_release(&cfg);

	expect_error(DOM "[agent]\nlisten = unix:/x\n", 4, "bad agent.listen 'unix:/x' (expected HOST:PORT)");
	expect_error(DOM "[agent]\nlisten = nocolon\n", 4, "bad agent.listen");
	expect_error(DOM "[agent]\nparallel = 0\n", 4, "bad agent.parallel '0'");
	expect_error(DOM "[agent]\nport = 1\n", 4, "unknown key 'port' in [agent]");
	expect_error(DOM "[hypervisor]\nuri = a\nuri = b\n", 5,
		     "duplicate key 'uri' in [hypervisor] (first set at line 4)");
	expect_error(DOM "[hypervisor]\ndriver = a\ndriver = b\n", 5, "duplicate key 'driver'");
	expect_error(DOM "[hypervisor]\nuri = a\n", 4, "[hypervisor] has settings but no driver");
}

/* config_load_any() on a temporary file holding text */
static int load_any_text(const char *text, struct ferry_config *cfg)
{
	char path[] = "/tmp/ferry-config-XXXXXX", err[256];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, text, strlen(text)), 0);
	close(fd);
	int r = config_load_any(path, cfg, err, sizeof err);
	if (r)
		print_message("unexpected error: %s\n", err);
	unlink(path);
	return r;
}

#define RCV_V2C "[snmp-receiver n]\naddress = 192.0.2.1\nversion = v2c\ncommunity_file = /c\n"

static void test_snmp_keys(void **state)
{
	(void)state;
	const char *text = DOM "rpo = 10s\nrpo_alarm = 1m\n"
			   "[snmp]\nengine_id = 0x80007ed904414243\nqueue = 64\n"
			   "inform_timeout = 500ms\ninform_retry_for = 10m\nlog_interval = 1m\n"
			   "agentx_socket = tcp:127.0.0.1:705\n"
			   "[snmp-receiver nms1]\naddress = udp:nms.example.com:1162\nversion = v3\n"
			   "type = inform\nuser = ferry\nauth_password_file = /a\n"
			   "priv_password_file = /p\n"
			   "[snmp-receiver nms2]\naddress = [2001:db8::1]:162\nversion = v2c\n"
			   "community_file = /c\n"
			   "[domain e]\ndisk = e0:/d/e0\nrpo = 2s\n";
	struct ferry_config cfg;
	char err[256] = "";
	int r = config_parse("s.conf", text, strlen(text), &cfg, err, sizeof(err));
	if (r)
		print_message("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(cfg.snmp_engine_id, "0x80007ed904414243");
	assert_int_equal(cfg.snmp_queue, 64);
	assert_int_equal(cfg.snmp_timeout_ms, 500);
	assert_int_equal(cfg.snmp_retry_for_ms, 600000);
	assert_int_equal(cfg.snmp_log_interval_ms, 60000);
	assert_string_equal(cfg.snmp_agentx_socket, "tcp:127.0.0.1:705");
	assert_int_equal(cfg.n_snmp_receivers, 2);
	const struct snmp_receiver_cfg *a = &cfg.snmp_receivers[0], *b = &cfg.snmp_receivers[1];
	assert_string_equal(a->name, "nms1");
	assert_string_equal(a->address, "udp:nms.example.com:1162");
	assert_int_equal(a->version, SNMP_RCV_V3);
	assert_int_equal(a->kind, SNMP_RCV_INFORM);
	assert_string_equal(a->user, "ferry");
	assert_string_equal(a->auth_password_file, "/a");
	assert_string_equal(a->priv_password_file, "/p");
	assert_null(a->community_file);
	assert_string_equal(b->address, "[2001:db8::1]:162");
	assert_int_equal(b->version, SNMP_RCV_V2C);
	assert_int_equal(b->kind, SNMP_RCV_TRAP);	/* the default */
	assert_string_equal(b->community_file, "/c");
	assert_int_equal(cfg.domains[0].rpo_alarm_ms, 60000);
	assert_int_equal(cfg.domains[1].rpo_alarm_ms, 4000);	/* default: 2 * rpo */
	config_release(&cfg);

	/* defaults, and a recovery site's file with receivers only */
	text = "[snmp-receiver n]\naddress = nms\nversion = v2c\ncommunity_file = /c\n";
	assert_int_equal(load_any_text(text, &cfg), 0);
	assert_null(cfg.snmp_engine_id);
	assert_int_equal(cfg.snmp_queue, DEFAULT_SNMP_QUEUE);
	assert_int_equal(cfg.snmp_timeout_ms, DEFAULT_SNMP_TIMEOUT_MS);
	assert_int_equal(cfg.snmp_retry_for_ms, DEFAULT_SNMP_RETRY_FOR_MS);
	assert_int_equal(cfg.snmp_log_interval_ms, DEFAULT_SNMP_LOG_INTERVAL_MS);
	assert_string_equal(cfg.snmp_agentx_socket, DEFAULT_SNMP_AGENTX_SOCKET);
	config_release(&cfg);
	assert_int_equal(config_parse("s.conf", DOM, strlen(DOM), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_snmp_receivers, 0);
	assert_int_equal(cfg.domains[0].rpo_alarm_ms, 2 * DEFAULT_RPO_MS);
	config_release(&cfg);

	expect_error(DOM "[snmp]\nengine_id = 80007ed904\n", 4, "bad snmp.engine_id '80007ed904'");
	expect_error(DOM "[snmp]\nengine_id = 0x80007ed9\n", 4, "5 to 32 bytes");
	expect_error(DOM "[snmp]\nengine_id = 0x80007ed9040\n", 4, "bad snmp.engine_id");
	expect_error(DOM "[snmp]\nengine_id = 0x80007ed904zz\n", 4, "bad snmp.engine_id");
	expect_error(DOM "[snmp]\nqueue = 0\n", 4, "bad snmp.queue '0'");
	expect_error(DOM "[snmp]\ninform_timeout = 50ms\n", 4, "at least 100ms");
	expect_error(DOM "[snmp]\nlog_interval = 0\n", 4, "snmp.log_interval must be at least");
	expect_error(DOM "[snmp-receiver]\n", 3, "needs a name");
	expect_error(DOM "[snmp-receiver a/b]\n", 3, "invalid receiver name 'a/b'");
	expect_error(DOM RCV_V2C RCV_V2C, 7, "duplicate receiver 'n' (first defined at line 3)");
	expect_error(DOM "[snmp-receiver n]\nversion = v2c\ncommunity_file = /c\n", 3,
		     "receiver 'n' has no address");
	expect_error(DOM "[snmp-receiver n]\naddress = nms\ncommunity_file = /c\n", 3,
		     "receiver 'n' has no version");
	expect_error(DOM "[snmp-receiver n]\naddress = nms\nversion = v1\n", 5,
		     "bad snmp-receiver.version 'v1' (expected v2c or v3)");
	expect_error(DOM "[snmp-receiver n]\naddress = nms\ntype = notification\n", 5,
		     "bad snmp-receiver.type 'notification' (expected trap or inform)");
	expect_error(DOM "[snmp-receiver n]\naddress = nms\nversion = v2c\n", 3,
		     "receiver 'n': v2c needs community_file");
	expect_error(DOM RCV_V2C "user = u\n", 3, "receiver 'n': user is for v3 only");
	expect_error(DOM "[snmp-receiver n]\naddress = nms\nversion = v3\nuser = u\n"
		     "auth_password_file = /a\n", 3, "receiver 'n': v3 needs priv_password_file");
	expect_error(DOM "[snmp-receiver n]\naddress = nms\nversion = v3\nuser = u\n"
		     "auth_password_file = /a\npriv_password_file = /p\ncommunity_file = /c\n", 3,
		     "community_file is for v2c only");
	static const char *bad_addr[] = { "nms:0", "nms:70000", "nms:", "udp:", "[::1", "[]:162",
					  "[::1]x", "a b", "udp:nms:x", "nms/x", "[g::1]:162" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_addr); i++) {
		char t[256];
		snprintf(t, sizeof t, DOM "[snmp-receiver n]\naddress = %s\n", bad_addr[i]);
		expect_error(t, 4, "bad snmp-receiver.address");
	}
	/* the receiver's checks run when its section ends, wherever that is */
	expect_error(DOM "[snmp-receiver n]\naddress = nms\n[log]\nsize = 1G\n", 3,
		     "has no version");
	expect_error("[domain d]\ndisk = a:/dev/a\nrpo = 10s\nrpo_alarm = 5s\n", 1,
		     "domain 'd': rpo_alarm (5000ms) must be at least its rpo (10000ms)");
}

static void test_small_err_buffer(void **state)
{
	(void)state;
	struct ferry_config cfg;
	char err[8];
	assert_int_equal(config_parse("t.conf", "[x]\n", 4, &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:");	/* truncated, still terminated */
	assert_int_equal(config_parse("t.conf", "[x]\n", 4, &cfg, NULL, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_config),
		cmocka_unit_test(test_snmp_keys),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_syntax_details),
		cmocka_unit_test(test_errors_syntax),
		cmocka_unit_test(test_errors_values),
		cmocka_unit_test(test_tls_keys),
		cmocka_unit_test(test_errors_domains),
		cmocka_unit_test(test_vms),
		cmocka_unit_test(test_vm_errors),
		cmocka_unit_test(test_nic_format),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_store_and_domain_shipping_keys),
		cmocka_unit_test(test_store_s3_keys),
		cmocka_unit_test(test_agent_and_hypervisor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
