/* driver = script: each action runs the operator's command (docs/drivers.md), so any
 * hypervisor with a command line (govc, qm, virsh, ...) can be driven:
 *
 *   COMMAND ACTION ARGS...      stdin: the VM as JSON (start only)
 *                               environment: FERRY_DRIVER_ACTION, env.* settings, and for
 *                               start FERRY_VM_* (the VM again, for plain shell scripts)
 *                               exit code: enum script_exit; stdout: a JSON object or
 *                               nothing; stderr: its last line is the reason of a failure
 *                               when stdout names none
 *
 * The command must be idempotent as the driver contract is (agent/driver.h); the driver
 * maps "not found" answers of stop, remove and network-remove to success itself. Every
 * call has a deadline (`timeout`, and for stop at least its own timeout plus a minute);
 * at the deadline the command's whole process group is killed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/driver-script.h"
#include "agent/run.h"
#include "common/util.h"
#include "common/banned.h"

#define SCRIPT_MAX_ENV 64

struct script_driver {
	struct driver base;
	char *command;
	unsigned timeout_s;
	char *env[SCRIPT_MAX_ENV + 1];	/* "NAME=VALUE" from env.NAME settings */
	size_t n_env;
};

static struct script_driver *sd(struct driver *d)
{
	return (struct script_driver *)d;
}

/* ---- the pure half ----------------------------------------------------------------- */

static const char *const power_names[] = {
	[DRV_ABSENT] = "absent", [DRV_OFF] = "off", [DRV_RUNNING] = "running", [DRV_OTHER] = "other",
};

int script_reply_parse(const char *buf, size_t len, struct script_reply *r, char *err,
		       size_t errlen)
{
	r->state = -1;
	r->error[0] = '\0';
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	if (i == len)
		return 0;
	json_error_t je;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		snprintf(err, errlen, "stdout is not a JSON object%s%s", o ? "" : ": ",
			 o ? "" : je.text);
		json_decref(o);
		return -EBADMSG;
	}
	int rc = 0;
	json_t *st = json_object_get(o, "state"), *e = json_object_get(o, "error");
	if (st) {
		const char *s = json_string_value(st);
		for (int k = 0; s && k < (int)ARRAY_SIZE(power_names) && r->state < 0; k++)
			if (!strcmp(s, power_names[k]))
				r->state = k;
		if (r->state < 0) {
			snprintf(err, errlen, "\"state\" must be running, off, absent or other");
			rc = -EBADMSG;
		}
	}
	if (e && !rc) {
		const char *s = json_string_value(e);
		if (!s) {
			snprintf(err, errlen, "\"error\" must be a string");
			rc = -EBADMSG;
		} else {
			snprintf(r->error, sizeof(r->error), "%s", s);
			for (char *p = r->error; *p; p++)
				if ((unsigned char)*p < 0x20)
					*p = ' ';
		}
	}
	json_decref(o);
	return rc;
}

static void mac_text(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* A disk as one string: the file's path, or an NBD URI (nbd://HOST:PORT/EXPORT,
 * nbd+unix:///EXPORT?socket=PATH). Names are written as given (an export name with '/'
 * or '?' would need escaping; ferry's export names are [A-Za-z0-9._-]). */
static char *disk_text(const struct drv_disk *d)
{
	char *s = NULL;
	int n;
	const char *exp = d->nbd_export ? d->nbd_export : "";
	if (d->path)
		n = asprintf(&s, "%s", d->path);
	else if (d->nbd_socket)
		n = asprintf(&s, "nbd+unix:///%s?socket=%s", exp, d->nbd_socket);
	else
		n = asprintf(&s, "nbd://%s:%u/%s", d->nbd_host, d->nbd_port ? d->nbd_port : 10809,
			     exp);
	return n < 0 ? NULL : s;
}

static json_t *disk_json(const struct drv_disk *d)
{
	char *uri = disk_text(d);
	json_t *j = NULL;
	if (!uri)
		return NULL;
	if (d->path)
		j = json_pack("{s:s, s:s, s:s}", "kind", "file", "path", d->path, "format",
			      d->format ? d->format : "raw");
	else
		j = json_pack("{s:s, s:s, s:s?, s:i, s:s?, s:s, s:s}", "kind", "nbd",
			      "export", d->nbd_export ? d->nbd_export : "", "host", d->nbd_host,
			      "port", d->nbd_socket ? 0 : d->nbd_port ? (int)d->nbd_port : 10809,
			      "socket", d->nbd_socket, "format", "raw", "uri", uri);
	free(uri);
	return j;
}

char *script_vm_json(const struct drv_vm *vm)
{
	json_t *disks = json_array(), *nics = json_array();
	for (size_t i = 0; disks && i < vm->n_disks; i++)
		if (json_array_append_new(disks, disk_json(&vm->disks[i])))
			json_decref(disks), disks = NULL;
	for (size_t i = 0; nics && i < vm->n_nics; i++) {
		char mac[18];
		mac_text(vm->nics[i].mac, mac);
		if (json_array_append_new(nics, json_pack("{s:s, s:s}", "network",
							  vm->nics[i].network, "mac", mac)))
			json_decref(nics), nics = NULL;
	}
	json_t *o = disks && nics ?
		json_pack("{s:s, s:I, s:I, s:s, s:o, s:o, s:s?}", "name", vm->name,
			  "cpus", (json_int_t)vm->cpus, "memory_mib", (json_int_t)vm->memory_mib,
			  "firmware", vm->uefi ? "uefi" : "bios", "disks", disks, "nics", nics,
			  "serial_log", vm->serial_log) : NULL;
	if (!o) {
		json_decref(disks);
		json_decref(nics);
		return NULL;
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void script_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

char **script_vm_env(const struct drv_vm *vm)
{
	size_t max = 8 + 2 * vm->n_disks + 2 * vm->n_nics, n = 0;
	char **env = calloc(max + 1, sizeof(*env));
	bool ok = env != NULL;
#define PUT(...) (ok = ok && asprintf(&env[n++], __VA_ARGS__) >= 0)
	PUT("FERRY_VM_NAME=%s", vm->name);
	PUT("FERRY_VM_CPUS=%" PRIu32, vm->cpus);
	PUT("FERRY_VM_MEMORY_MIB=%" PRIu64, vm->memory_mib);
	PUT("FERRY_VM_FIRMWARE=%s", vm->uefi ? "uefi" : "bios");
	PUT("FERRY_VM_SERIAL_LOG=%s", vm->serial_log ? vm->serial_log : "");
	PUT("FERRY_VM_DISK_COUNT=%zu", vm->n_disks);
	for (size_t i = 0; ok && i < vm->n_disks; i++) {
		char *t = disk_text(&vm->disks[i]);
		ok = t != NULL;
		PUT("FERRY_VM_DISK%zu=%s", i, t);
		PUT("FERRY_VM_DISK%zu_FORMAT=%s", i, vm->disks[i].path && vm->disks[i].format ?
							      vm->disks[i].format : "raw");
		free(t);
	}
	PUT("FERRY_VM_NIC_COUNT=%zu", vm->n_nics);
	for (size_t i = 0; ok && i < vm->n_nics; i++) {
		char mac[18];
		mac_text(vm->nics[i].mac, mac);
		PUT("FERRY_VM_NIC%zu=%s,%s", i, vm->nics[i].network, mac);
	}
#undef PUT
	if (!ok) {
		script_env_free(env);
		return NULL;
	}
	return env;
}

/* ---- settings ---------------------------------------------------------------------- */

static bool env_name_ok(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int set_one(struct script_driver *d, const struct drv_setting *s, char *err,
		   size_t errlen)
{
	if (!strcmp(s->key, "command")) {
		if (d->command) {
			snprintf(err, errlen, "command given twice");
			return -EINVAL;
		}
		return (d->command = strdup(s->value)) ? 0 : -ENOMEM;
	}
	if (!strcmp(s->key, "timeout")) {
		char *end;
		unsigned long v = strtoul(s->value, &end, 10);
		if (*end || end == s->value || v < 1 || v > 86400) {
			snprintf(err, errlen, "bad timeout '%s' (seconds, 1 to 86400)", s->value);
			return -EINVAL;
		}
		d->timeout_s = (unsigned)v;
		return 0;
	}
	if (!strncmp(s->key, "env.", 4) && env_name_ok(s->key + 4)) {
		if (d->n_env == SCRIPT_MAX_ENV) {
			snprintf(err, errlen, "more than %d env. settings", SCRIPT_MAX_ENV);
			return -EINVAL;
		}
		return asprintf(&d->env[d->n_env++], "%s=%s", s->key + 4, s->value) < 0 ?
			       (d->n_env--, -ENOMEM) : 0;
	}
	snprintf(err, errlen, "unknown [hypervisor] key '%s' for driver script", s->key);
	return -EINVAL;
}

static void sc_close(struct driver *dd)
{
	struct script_driver *d = sd(dd);
	if (!d)
		return;
	free(d->command);
	for (size_t i = 0; i < d->n_env; i++)
		free(d->env[i]);
	free(d);
}

static int sc_open(const struct drv_setting *s, size_t n, struct driver **out, char *err,
		   size_t errlen)
{
	struct script_driver *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base.ops = &driver_script_ops;
	d->timeout_s = 900;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = set_one(d, &s[i], err, errlen);
	if (!rc && !d->command) {
		snprintf(err, errlen, "driver script needs command");
		rc = -EINVAL;
	}
	if (rc) {
		sc_close(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
}

/* ---- running ----------------------------------------------------------------------- */

/* Run `command action args...`; on success the parsed reply is in *rep. Returns the
 * command's exit code (>= 0), or -errno when it could not run, was killed, or printed a
 * reply that does not parse (err says which). */
static int call(struct script_driver *d, const char *action, const char *const *args,
		const char *input, char **vm_env, unsigned timeout_s, struct script_reply *rep,
		char *err, size_t errlen)
{
	const char *argv[8] = { d->command, action };
	size_t a = 2;
	for (; args && *args && a < ARRAY_SIZE(argv) - 1; args++)
		argv[a++] = *args;
	size_t n_vm = 0, e = 0;
	while (vm_env && vm_env[n_vm])
		n_vm++;
	const char **env = calloc(2 + d->n_env + n_vm, sizeof(*env));
	if (!env)
		return -ENOMEM;
	char act[64];
	snprintf(act, sizeof(act), "FERRY_DRIVER_ACTION=%s", action);
	env[e++] = act;
	for (size_t i = 0; i < d->n_env; i++)
		env[e++] = d->env[i];
	for (size_t i = 0; i < n_vm; i++)
		env[e++] = vm_env[i];
	struct run_result r;
	int rc = run_command(argv, env, input, input ? strlen(input) : 0, timeout_s,
			     SCRIPT_MAX_REPLY, &r);
	free(env);
	if (rc) {
		snprintf(err, errlen, "script %s: cannot run %s: %s", action, d->command,
			 strerror(-rc));
		return rc;
	}
	char why[200] = "";
	if (r.timed_out) {
		snprintf(err, errlen, "script %s: no answer within %u s (killed)", action, timeout_s);
		rc = -ETIMEDOUT;
	} else if (r.status < 0) {
		snprintf(err, errlen, "script %s: killed by signal %d", action, r.signal);
		rc = -EIO;
	} else if (r.out_truncated ||
		   script_reply_parse(r.out, r.out_len, rep, why, sizeof(why))) {
		snprintf(err, errlen, "script %s: %s", action,
			 r.out_truncated ? "stdout longer than 64 KiB" : why);
		rc = -EBADMSG;
	} else {
		rc = r.status;
		if (rc) {
			const char *reason = rep->error[0] ? rep->error :
					     r.err_line[0] ? r.err_line : "failed";
			snprintf(err, errlen, "script %s: %s (exit %d)", action, reason, rc);
		}
	}
	run_result_release(&r);
	return rc;
}

/* The errno for an exit code that is not 0, as the contract maps it (not found and
 * refusals are mapped by the callers that give them another meaning). */
static int exit_errno(int code)
{
	switch (code) {
	case SCRIPT_UNSUPPORTED:
		return -ENOTSUP;
	case SCRIPT_NOT_FOUND:
		return -ENOENT;
	case SCRIPT_TIMED_OUT:
		return -ETIMEDOUT;
	case SCRIPT_EXISTS:
		return -EEXIST;
	case SCRIPT_REFUSED:
		return -EPERM;
	case SCRIPT_NET_DOWN:
		return -ENETDOWN;
	default:
		return -EIO;
	}
}

/* an action whose only result is its exit code; not_found_ok: "not found" is success */
static int simple(struct driver *dd, const char *action, const char *const *args,
		  bool not_found_ok, char *err, size_t errlen)
{
	struct script_driver *d = sd(dd);
	struct script_reply rep;
	int rc = call(d, action, args, NULL, NULL, d->timeout_s, &rep, err, errlen);
	if (rc <= 0)
		return rc;
	return rc == SCRIPT_NOT_FOUND && not_found_ok ? 0 : exit_errno(rc);
}

static int sc_probe(struct driver *d, char *err, size_t errlen)
{
	return simple(d, "probe", NULL, false, err, errlen);
}

static int sc_network_exists(struct driver *d, const char *name, char *err, size_t errlen)
{
	return simple(d, "network-exists", (const char *[]){ name, NULL }, false, err, errlen);
}

static int sc_network_create_isolated(struct driver *d, const struct drv_network *n, char *err,
				      size_t errlen)
{
	char cidr[24] = "";
	if (n->host_addr)
		snprintf(cidr, sizeof(cidr), "%u.%u.%u.%u/%u", n->host_addr >> 24,
			 n->host_addr >> 16 & 255, n->host_addr >> 8 & 255, n->host_addr & 255,
			 n->prefix);
	return simple(d, "network-create", (const char *[]){ n->name, cidr[0] ? cidr : NULL, NULL },
		      false, err, errlen);
}

static int sc_network_remove(struct driver *d, const char *name, char *err, size_t errlen)
{
	return simple(d, "network-remove", (const char *[]){ name, NULL }, true, err, errlen);
}

static int sc_start(struct driver *dd, const struct drv_vm *vm, char *err, size_t errlen)
{
	struct script_driver *d = sd(dd);
	char *json = script_vm_json(vm);
	char **env = script_vm_env(vm);
	int rc = -ENOMEM;
	struct script_reply rep;
	if (json && env)
		rc = call(d, "start", (const char *[]){ vm->name, NULL }, json, env, d->timeout_s,
			  &rep, err, errlen);
	free(json);
	script_env_free(env);
	return rc <= 0 ? rc : exit_errno(rc);
}

static int sc_stop(struct driver *dd, const char *name, unsigned timeout_s, bool force,
		   char *err, size_t errlen)
{
	struct script_driver *d = sd(dd);
	char t[16];
	snprintf(t, sizeof(t), "%u", timeout_s);
	struct script_reply rep;
	int rc = call(d, "stop", (const char *[]){ name, t, force ? "force" : "graceful", NULL },
		      NULL, NULL, MAX(d->timeout_s, timeout_s + 60), &rep, err, errlen);
	if (rc <= 0)
		return rc;
	return rc == SCRIPT_NOT_FOUND ? 0 : exit_errno(rc);
}

static int sc_state(struct driver *dd, const char *name, enum drv_power *st, char *err,
		    size_t errlen)
{
	struct script_driver *d = sd(dd);
	struct script_reply rep;
	int rc = call(d, "state", (const char *[]){ name, NULL }, NULL, NULL, d->timeout_s, &rep,
		      err, errlen);
	if (rc == SCRIPT_NOT_FOUND) {
		*st = DRV_ABSENT;
		return 0;
	}
	if (rc)
		return rc < 0 ? rc : exit_errno(rc);
	if (rep.state < 0) {
		snprintf(err, errlen, "script state: stdout names no \"state\"");
		return -EBADMSG;
	}
	*st = (enum drv_power)rep.state;
	return 0;
}

static int sc_remove(struct driver *d, const char *name, char *err, size_t errlen)
{
	return simple(d, "remove", (const char *[]){ name, NULL }, true, err, errlen);
}

const struct driver_ops driver_script_ops = {
	.name = "script",
	.open = sc_open,
	.close = sc_close,
	.probe = sc_probe,
	.network_exists = sc_network_exists,
	.network_create_isolated = sc_network_create_isolated,
	.network_remove = sc_network_remove,
	.start = sc_start,
	.stop = sc_stop,
	.state = sc_state,
	.remove = sc_remove,
};
