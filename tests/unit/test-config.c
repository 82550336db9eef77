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
		cmocka_unit_test(test_errors_domains),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_store_and_domain_shipping_keys),
		cmocka_unit_test(test_store_s3_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
