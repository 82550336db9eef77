/* Unit tests for the script driver (agent/driver-script.c): its settings, the reply
 * parser, what a command is given (arguments, stdin JSON, FERRY_VM_* and env.*
 * settings), and how exit codes, replies, stderr and deadlines become the driver's
 * answers, with small shell scripts as the operator's command. The real thing (the virsh
 * example script on the private libvirtd): tests/integration/420-driver-script.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/driver-script.h"
#include "common/util.h"
#include "common/banned.h"

static char err[1024];
static char dir[] = "/tmp/ferry-test-script.XXXXXX";
static char cmd[256], record[256];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/hv", dir);
	snprintf(record, sizeof(record), "%s/record", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char c[300];
	snprintf(c, sizeof(c), "rm -rf %s", dir);
	return system(c) == 0 ? 0 : -1;
}

/* the operator's command: BODY runs after it recorded its arguments, environment and
 * stdin into $record */
static void script(const char *body)
{
	FILE *f = fopen(cmd, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n{ echo \"args: $*\"; env | grep -E '^(FERRY_|SITE_)' | sort; "
		   "[ \"$1\" != start ] || { echo stdin:; cat; echo; }; } >%s\n%s\n", record, body);
	fclose(f);
	assert_int_equal(chmod(cmd, 0755), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct driver *open_script(const char *timeout)
{
	struct drv_setting s[] = { { "command", cmd }, { "env.SITE_URI", "qemu:///x y" },
				   { "timeout", timeout } };
	struct driver *d;
	assert_int_equal(driver_script_ops.open(s, ARRAY_SIZE(s), &d, err, sizeof(err)), 0);
	return d;
}

static void test_settings(void **state)
{
	(void)state;
	struct { struct drv_setting s; const char *msg; } bad[] = {
		{ { "colour", "x" }, "unknown [hypervisor] key 'colour' for driver script" },
		{ { "timeout", "0" }, "bad timeout '0' (seconds, 1 to 86400)" },
		{ { "timeout", "10s" }, "bad timeout '10s' (seconds, 1 to 86400)" },
		{ { "env.9X", "1" }, "unknown [hypervisor] key 'env.9X' for driver script" },
		{ { "env.", "1" }, "unknown [hypervisor] key 'env.' for driver script" },
	};
	struct driver *d = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct drv_setting s[] = { { "command", "/bin/true" }, bad[i].s };
		assert_int_equal(driver_script_ops.open(s, 2, &d, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].msg);
	}
	assert_int_equal(driver_script_ops.open(NULL, 0, &d, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "driver script needs command");
	assert_null(d);
}

static void test_reply_parse(void **state)
{
	(void)state;
	struct script_reply r;
	assert_int_equal(script_reply_parse("", 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.state, -1);
	assert_string_equal(r.error, "");
	assert_int_equal(script_reply_parse(" \n\t", 3, &r, err, sizeof(err)), 0);
	const char *ok = "{\"state\": \"running\", \"error\": \"no\\nway\", \"extra\": [1]}\n";
	assert_int_equal(script_reply_parse(ok, strlen(ok), &r, err, sizeof(err)), 0);
	assert_int_equal(r.state, DRV_RUNNING);
	assert_string_equal(r.error, "no way");
	const char *states[] = { "absent", "off", "running", "other" };
	for (int i = 0; i < 4; i++) {
		char b[64];
		snprintf(b, sizeof(b), "{\"state\":\"%s\"}", states[i]);
		assert_int_equal(script_reply_parse(b, strlen(b), &r, err, sizeof(err)), 0);
		assert_int_equal(r.state, i);
	}
	const char *bad[] = { "running", "[1]", "{\"state\":\"paused\"}", "{\"state\":1}",
			      "{\"error\":{}}", "{\"state\":\"off\"", "{\"a\":1,\"a\":2}", "{} {}" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(script_reply_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)),
				 -EBADMSG);
}

static struct drv_disk disks[] = {
	{ .path = "/d/db.vmdk", .format = "vmdk" },
	{ .nbd_host = "10.0.0.5", .nbd_port = 10810, .nbd_export = "db-data" },
	{ .nbd_socket = "/run/ferry/nbd.sock", .nbd_export = "db-log" },
};
static struct drv_nic nics[] = { { "dr-net", { 0x52, 0x54, 0, 0, 0, 0x11 } } };
static struct drv_vm vm = { .name = "db", .cpus = 2, .memory_mib = 512, .uefi = true,
			    .disks = disks, .n_disks = 3, .nics = nics, .n_nics = 1,
			    .serial_log = "/var/log/db.serial" };

static void test_vm_json_and_env(void **state)
{
	(void)state;
	char *s = script_vm_json(&vm);
	assert_non_null(s);
	json_error_t je;
	json_t *o = json_loads(s, 0, &je);
	assert_non_null(o);
	json_t *d1 = json_array_get(json_object_get(o, "disks"), 1);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "db");
	assert_int_equal(json_integer_value(json_object_get(o, "cpus")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "memory_mib")), 512);
	assert_string_equal(json_string_value(json_object_get(o, "firmware")), "uefi");
	assert_string_equal(json_string_value(json_object_get(o, "serial_log")), "/var/log/db.serial");
	assert_string_equal(json_string_value(json_object_get(d1, "uri")), "nbd://10.0.0.5:10810/db-data");
	assert_int_equal(json_integer_value(json_object_get(d1, "port")), 10810);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(o, "disks"), 0), "format")), "vmdk");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(o, "nics"), 0), "mac")), "52:54:00:00:00:11");
	json_decref(o);
	free(s);

	char **env = script_vm_env(&vm);
	assert_non_null(env);
	const char *want[] = {
		"FERRY_VM_NAME=db", "FERRY_VM_CPUS=2", "FERRY_VM_MEMORY_MIB=512",
		"FERRY_VM_FIRMWARE=uefi", "FERRY_VM_SERIAL_LOG=/var/log/db.serial",
		"FERRY_VM_DISK_COUNT=3", "FERRY_VM_DISK0=/d/db.vmdk", "FERRY_VM_DISK0_FORMAT=vmdk",
		"FERRY_VM_DISK1=nbd://10.0.0.5:10810/db-data", "FERRY_VM_DISK1_FORMAT=raw",
		"FERRY_VM_DISK2=nbd+unix:///db-log?socket=/run/ferry/nbd.sock",
		"FERRY_VM_DISK2_FORMAT=raw", "FERRY_VM_NIC_COUNT=1",
		"FERRY_VM_NIC0=dr-net,52:54:00:00:00:11",
	};
	size_t n = 0;
	for (; env[n]; n++)
		assert_string_equal(env[n], want[n]);
	assert_int_equal(n, ARRAY_SIZE(want));
	script_env_free(env);
}

static void test_calls(void **state)
{
	(void)state;
	script("case $1 in\n"
	       "probe) exit 0 ;;\n"
	       "start) echo '{\"ok\": true}' ;;\n"
	       "state) [ \"$2\" = gone ] && exit 3; echo '{\"state\": \"running\"}' ;;\n"
	       "stop) [ \"$3\" = 7 ] && [ \"$4\" = force ] || exit 1 ;;\n"
	       "remove) exit 3 ;;\n"
	       "network-exists) [ \"$2\" = down ] && exit 7; exit 3 ;;\n"
	       "network-create) [ \"$3\" = 10.2.0.1/24 ] || exit 2 ;;\n"
	       "network-remove) exit 6 ;;\n"
	       "esac");
	struct driver *d = open_script("30");
	assert_int_equal(d->ops->probe(d, err, sizeof(err)), 0);
	assert_int_equal(d->ops->start(d, &vm, err, sizeof(err)), 0);
	char *rec = slurp(record);
	assert_non_null(strstr(rec, "args: start db\n"));
	assert_non_null(strstr(rec, "FERRY_DRIVER_ACTION=start\n"));
	assert_non_null(strstr(rec, "FERRY_VM_NIC0=dr-net,52:54:00:00:00:11\n"));
	assert_non_null(strstr(rec, "SITE_URI=qemu:///x y\n"));
	assert_non_null(strstr(rec, "stdin:\n{\"name\":\"db\","));
	enum drv_power st;
	assert_int_equal(d->ops->state(d, "db", &st, err, sizeof(err)), 0);
	assert_int_equal(st, DRV_RUNNING);
	assert_int_equal(d->ops->state(d, "gone", &st, err, sizeof(err)), 0);
	assert_int_equal(st, DRV_ABSENT);
	assert_null(strstr(slurp(record), "FERRY_VM_"));
	assert_int_equal(d->ops->stop(d, "db", 7, true, err, sizeof(err)), 0);
	assert_int_equal(d->ops->stop(d, "db", 8, false, err, sizeof(err)), -EIO);
	assert_string_equal(err, "script stop: failed (exit 1)");
	assert_int_equal(d->ops->remove(d, "db", err, sizeof(err)), 0);	/* not found */
	assert_int_equal(d->ops->network_exists(d, "x", err, sizeof(err)), -ENOENT);
	assert_int_equal(d->ops->network_exists(d, "down", err, sizeof(err)), -ENETDOWN);
	struct drv_network n = { "drill", 0x0a020001, 24 };
	assert_int_equal(d->ops->network_create_isolated(d, &n, err, sizeof(err)), 0);
	n.host_addr = 0;
	assert_int_equal(d->ops->network_create_isolated(d, &n, err, sizeof(err)), -ENOTSUP);
	assert_int_equal(d->ops->network_remove(d, "prod", err, sizeof(err)), -EPERM);
	d->ops->close(d);
}

static void test_failures(void **state)
{
	(void)state;
	struct driver *d;
	enum drv_power st;
	/* the reason: "error" first, else the last line of stderr */
	script("[ \"$1\" = start ] && { echo '{\"error\": \"no datastore\"}'; exit 1; }\n"
	       "[ \"$1\" = remove ] && { echo first >&2; echo 'VM is locked' >&2; exit 1; }\n"
	       "[ \"$1\" = state ] && { echo 'not json'; exit 0; }\n"
	       "[ \"$1\" = stop ] && exit 4\n"
	       "[ \"$1\" = probe ] && { echo '{}'; exit 0; }\n"
	       "exit 5");
	d = open_script("30");
	assert_int_equal(d->ops->start(d, &vm, err, sizeof(err)), -EIO);
	assert_string_equal(err, "script start: no datastore (exit 1)");
	assert_int_equal(d->ops->remove(d, "db", err, sizeof(err)), -EIO);
	assert_string_equal(err, "script remove: VM is locked (exit 1)");
	assert_int_equal(d->ops->state(d, "db", &st, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "script state: stdout is not a JSON object"));
	assert_int_equal(d->ops->stop(d, "db", 1, false, err, sizeof(err)), -ETIMEDOUT);
	assert_int_equal(d->ops->probe(d, err, sizeof(err)), 0);
	assert_int_equal(d->ops->network_create_isolated(d, &(struct drv_network){ "n", 0, 0 },
							 err, sizeof(err)), -EEXIST);
	d->ops->close(d);

	/* a state reply without a state; a command that hangs; a missing command */
	script("[ \"$1\" = state ] && exit 0\nsleep 30 & wait");
	d = open_script("1");
	assert_int_equal(d->ops->state(d, "db", &st, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "script state: stdout names no \"state\"");
	assert_int_equal(d->ops->probe(d, err, sizeof(err)), -ETIMEDOUT);
	assert_string_equal(err, "script probe: no answer within 1 s (killed)");
	d->ops->close(d);
	assert_int_equal(unlink(cmd), 0);
	d = open_script("5");
	assert_int_equal(d->ops->probe(d, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot run"));
	d->ops->close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test(test_vm_json_and_env),
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_failures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
