/* Steps on VMs through the hypervisor drivers: power-on and ready at the recovery site,
 * source-power-off at the protected site (planned failover), test-remove after a test.
 * Every driver call is idempotent (agent/driver.h), so a redo after a crash repeats it. */
#include "agent/agent-internal.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/check.h"
#include "common/util.h"
#include "common/banned.h"

#define CHECK_ATTEMPT_MS 3000
#define CHECK_PAUSE_MS 200

static char *serial_path(struct step_ctx *c, const char *vm)
{
	size_t n = strlen(c->op_dir) + strlen(vm) + 16;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/serial/%s.log", c->op_dir, vm);
	return p;
}

/* The VM as the driver sees it: name, disks at the recovery site, mapped NICs. */
struct vm_def {
	struct drv_vm vm;
	struct drv_disk disks[VM_MAX_DISKS + 1];
	struct drv_nic nics[VM_MAX_NICS];
	char name[VM_NAME_MAX + 1];
	char *paths[VM_MAX_DISKS + 1];
	char *serial;
};

static void vm_def_release(struct vm_def *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(d->paths); i++)
		free(d->paths[i]);
	free(d->serial);
}

static int vm_def(struct step_ctx *c, struct vm_def *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	const struct vm_desc *v = c->vm->desc;
	op_vm_name(c->plan, c->place, v->name, d->name);
	const char *fmt = c->plan->format == RESTORE_RAW ? "raw" : "vmdk";
	for (size_t i = 0; i < v->n_disks; i++) {
		if (!(d->paths[i] = op_disk_path(c->plan, c->place, v->disks[i])))
			return -ENOMEM;
		d->disks[i] = (struct drv_disk){ .path = d->paths[i], .format = fmt };
	}
	size_t nd = v->n_disks;
	json_t *reip = step_result_of(c, SK_REIP, v->name);
	const char *seed = json_string_value(json_object_get(reip, "cidata"));
	if (seed) {
		d->paths[nd] = strdup(seed);
		d->disks[nd] = (struct drv_disk){ .path = d->paths[nd], .format = "raw" };
		nd++;
	}
	json_decref(reip);
	if (seed && !d->paths[nd - 1])
		return -ENOMEM;
	for (size_t k = 0; k < v->n_nics; k++) {
		const char *net = c->place == PLACE_TEST ? c->plan->test_network
				  : plan_map_network(c->plan, v->nics[k].network);
		if (!net) {
			snprintf(err, errlen, "network '%s' is not mapped", v->nics[k].network);
			return -EINVAL;
		}
		d->nics[k].network = net;
		memcpy(d->nics[k].mac, v->nics[k].mac, 6);
	}
	if (!(d->serial = serial_path(c, v->name)))
		return -ENOMEM;
	d->vm = (struct drv_vm){
		.name = d->name, .cpus = v->cpus ? v->cpus : 1,
		.memory_mib = v->memory_mib ? v->memory_mib : 256,
		.uefi = v->firmware == VM_FIRMWARE_UEFI, .disks = d->disks, .n_disks = nd,
		.nics = d->nics, .n_nics = v->n_nics, .serial_log = d->serial,
	};
	return 0;
}

int step_power_on(struct step_ctx *c, char *err, size_t errlen)
{
	const struct plan_vm *pv = c->vm->pv;
	int rc;
	if (pv && pv->delay_ms) {
		step_live(c, "waiting %u ms (delay) before power-on", pv->delay_ms);
		if ((rc = step_sleep(c, pv->delay_ms)) < 0)
			return rc;
	}
	struct vm_def d;
	if ((rc = vm_def(c, &d, err, errlen)) < 0) {
		vm_def_release(&d);
		return rc;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/serial", c->op_dir);
	if ((rc = mkdir_p(dir, 0755)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		vm_def_release(&d);
		return rc;
	}
	pthread_mutex_lock(&c->drv->lock);
	rc = c->drv->ops->start(c->drv->d, &d.vm, err, errlen);
	pthread_mutex_unlock(&c->drv->lock);
	if (rc == 0) {
		size_t off = (size_t)snprintf(c->detail, sizeof(c->detail), "%s powered on", d.name);
		for (size_t k = 0; k < d.vm.n_nics && off < sizeof(c->detail); k++) {
			char mac[18];
			vm_mac_format(d.nics[k].mac, mac);
			off += (size_t)snprintf(c->detail + off, sizeof(c->detail) - off, "%s %s on %s",
						k ? "," : ";", mac, d.nics[k].network);
		}
	}
	vm_def_release(&d);
	return rc;
}

/* One readiness attempt: 1 ready (what proved it in msg), 0 not yet, -errno. */
static int ready_once(struct step_ctx *c, const char *name, const regex_t *re, char *msg,
		      size_t n, char *err, size_t errlen)
{
	const struct plan_vm *pv = c->vm->pv;
	enum plan_check kind = pv ? pv->check : CHECK_POWER_ON;
	if (kind == CHECK_TCP) {
		uint32_t addr = pv->tcp_addr ? pv->tcp_addr : c->vm->addr;
		return check_tcp_once(addr, pv->tcp_port, CHECK_ATTEMPT_MS, msg, n);
	}
	if (kind == CHECK_SERIAL) {
		char *path = serial_path(c, c->vm->desc->name);
		int rc = path ? check_serial_once(path, re, msg, n) : -ENOMEM;
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", path ? path : "serial log", strerror(-rc));
		free(path);
		return rc;
	}
	enum drv_power st = DRV_ABSENT;
	pthread_mutex_lock(&c->drv->lock);
	int rc = c->drv->ops->state(c->drv->d, name, &st, err, errlen);
	pthread_mutex_unlock(&c->drv->lock);
	if (rc < 0)
		return rc;
	snprintf(msg, n, "%s", st == DRV_RUNNING ? "running" : "not running");
	return st == DRV_RUNNING;
}

static const char *check_text(const struct plan_vm *pv, char *buf, size_t n)
{
	if (!pv || pv->check == CHECK_POWER_ON)
		return "power-on";
	if (pv->check == CHECK_SERIAL)
		snprintf(buf, n, "serial /%s/", pv->serial_re);
	else
		snprintf(buf, n, "tcp port %u", pv->tcp_port);
	return buf;
}

int step_ready(struct step_ctx *c, char *err, size_t errlen)
{
	const struct plan_vm *pv = c->vm->pv;
	uint32_t timeout = pv ? pv->timeout_ms : PLAN_DEFAULT_TIMEOUT_MS;
	char name[VM_NAME_MAX + 1], what[300], msg[512] = "", addr[16];
	op_vm_name(c->plan, c->place, c->vm->desc->name, name);
	check_text(pv, what, sizeof(what));
	regex_t re;
	bool have_re = pv && pv->check == CHECK_SERIAL;
	if (have_re && regcomp(&re, pv->serial_re, REG_EXTENDED | REG_NOSUB)) {
		snprintf(err, errlen, "bad regular expression '%s'", pv->serial_re);
		return -EINVAL;
	}
	vm_ipv4_format(pv && pv->tcp_addr ? pv->tcp_addr : c->vm->addr, addr);
	uint64_t t0 = now_mono_ns(), end = t0 + (uint64_t)timeout * 1000000;
	int rc = 0;
	step_live(c, "waiting for %s (%s)", name, what);
	while ((rc = ready_once(c, name, have_re ? &re : NULL, msg, sizeof(msg), err, errlen)) == 0 &&
	       now_mono_ns() < end) {
		step_live(c, "waiting for %s (%s): %s", name, what, msg);
		if ((rc = step_sleep(c, CHECK_PAUSE_MS)) < 0)
			break;
	}
	if (have_re)
		regfree(&re);
	double took = (double)(now_mono_ns() - t0) / 1e9;
	if (rc > 0) {
		snprintf(c->detail, sizeof(c->detail), "%s ready after %.1f s (%s%s%s): %s", name,
			 took, what, pv && pv->check == CHECK_TCP ? " at " : "",
			 pv && pv->check == CHECK_TCP ? addr : "", msg);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (pv && pv->on_timeout_continue) {
		snprintf(c->detail, sizeof(c->detail), "%s NOT ready after %.0f s (%s: %s); going on "
			 "(on_timeout = continue)", name, took, what, msg);
		return 0;
	}
	snprintf(err, errlen, "%s not ready after %.0f s (%s: %s)", name, took, what, msg);
	return -ETIMEDOUT;
}

int step_source_off(struct step_ctx *c, char *err, size_t errlen)
{
	struct drv_handle h;
	const char *name = c->vm->desc->name;
	char why[512];
	if (!c->plan->prot.driver) {
		c->skipped = true;
		snprintf(c->detail, sizeof(c->detail), "no [protected] driver in the plan: %s is "
			 "assumed off (power it off at the protected site)", name);
		return 0;
	}
	int rc = drv_open(NULL, &c->plan->prot, &h, err, errlen);
	if (rc < 0)
		return rc;
	if (h.ops->probe(h.d, why, sizeof(why)) < 0) {
		drv_close(&h);
		c->skipped = true;
		snprintf(c->detail, sizeof(c->detail), "protected site's hypervisor unreachable "
			 "(%.300s): %s not powered off by the agent", why, name);
		return 0;
	}
	uint32_t t = c->plan->prot_stop_timeout_ms;
	step_live(c, "shutting %s down (up to %u s, then hard)", name, t / 1000);
	uint64_t t0 = now_mono_ns();
	rc = h.ops->stop(h.d, name, (t + 999) / 1000, true, err, errlen);
	drv_close(&h);
	if (rc == 0)
		snprintf(c->detail, sizeof(c->detail), "%s powered off at the protected site in %.1f s",
			 name, (double)(now_mono_ns() - t0) / 1e9);
	return rc;
}

int step_test_remove(struct step_ctx *c, char *err, size_t errlen)
{
	char name[VM_NAME_MAX + 1];
	op_vm_name(c->plan, PLACE_TEST, c->vm->desc->name, name);
	pthread_mutex_lock(&c->drv->lock);
	int rc = c->drv->ops->remove(c->drv->d, name, err, errlen);
	pthread_mutex_unlock(&c->drv->lock);
	if (rc == 0)
		snprintf(c->detail, sizeof(c->detail), "%s powered off and removed", name);
	return rc;
}
