/* driver = libvirt: VMs and isolated networks through libvirt's C API (qemu with TCG in the
 * project's tests, any libvirt hypervisor in the field). The XML is written and read in
 * driver-libvirt-xml.c; this file only talks to libvirt.
 *
 * One connection per driver object, opened at the first call that needs it (open() never
 * contacts the hypervisor). A call that fails because the connection died (libvirtd was
 * restarted) reconnects and is tried once more: every call is idempotent, so that is safe.
 * libvirt's errors are per thread (virGetLastError) and never printed: the default error
 * function, which writes to stderr, is replaced once per process.
 *
 * Idempotence and ownership rest on the mark (driver-libvirt.h): an object with our mark
 * and the same hash is the one asked for; with our mark and another hash it is ours but
 * stale (redefined when it is not running); without the mark it is the operator's, and
 * is neither replaced nor removed. Domains are persistent (defined, then started), so a
 * VM that powered off stays visible as "off" until remove().
 *
 * Not handled: a libvirtd that accepts the connection and then hangs blocks the call (no
 * keepalive without an event loop thread). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "agent/driver-libvirt.h"
#include "common/util.h"
#include "common/banned.h"

struct lv_driver {
	struct driver base;
	struct lv_settings st;
	virConnectPtr conn;
};

static struct lv_driver *lv(struct driver *d)
{
	return (struct lv_driver *)d;
}

static void lv_silent(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;
static void lv_init_once(void)
{
	virInitialize();
	virSetErrorFunc(NULL, lv_silent);
	xmlInitParser();
}

/* The errno for libvirt's last error on this thread. */
static int lv_errno(void)
{
	virErrorPtr e = virGetLastError();
	switch (e ? e->code : VIR_ERR_INTERNAL_ERROR) {
	case VIR_ERR_NO_DOMAIN:
	case VIR_ERR_NO_NETWORK:
		return -ENOENT;
	case VIR_ERR_OPERATION_TIMEOUT:
		return -ETIMEDOUT;
	case VIR_ERR_AUTH_FAILED:
	case VIR_ERR_AUTH_CANCELLED:
	case VIR_ERR_ACCESS_DENIED:
		return -EACCES;
	case VIR_ERR_XML_ERROR:
	case VIR_ERR_XML_DETAIL:
	case VIR_ERR_CONFIG_UNSUPPORTED:
	case VIR_ERR_INVALID_ARG:
	case VIR_ERR_NO_SUPPORT:
		return -EINVAL;
	case VIR_ERR_NO_CONNECT:
		return -ECONNREFUSED;
	default:
		return -EIO;
	}
}

/* Fail with "WHAT: libvirt's message" in err; returns the errno. A dead connection turns
 * into -ENOTCONN, which the callers retry once after reconnecting. */
static int lv_fail(struct lv_driver *d, const char *what, char *err, size_t errlen)
{
	virErrorPtr e = virGetLastError();
	int rc = lv_errno();
	snprintf(err, errlen, "%s: %s", what, e && e->message ? e->message : "libvirt failed");
	/* (an API call resets the last error: the message is copied first) */
	if (d->conn && rc == -EIO && virConnectIsAlive(d->conn) == 0)
		rc = -ENOTCONN;
	virResetLastError();
	return rc;
}

static int lv_connect(struct lv_driver *d, char *err, size_t errlen)
{
	if (d->conn && virConnectIsAlive(d->conn) == 1)
		return 0;
	if (d->conn) {
		virConnectClose(d->conn);
		d->conn = NULL;
	}
	if (!(d->conn = virConnectOpen(d->st.uri))) {
		virErrorPtr e = virGetLastError();
		snprintf(err, errlen, "cannot connect to %s: %s", d->st.uri,
			 e && e->message ? e->message : "libvirt failed");
		virResetLastError();
		return -ECONNREFUSED;
	}
	return 0;
}

/* Run op(d, ...) on a live connection; once more after reconnecting if it died. */
#define LV_CALL(d, err, errlen, call)                                                   \
	({                                                                                \
		int _rc = -ENOTCONN;                                                      \
		for (int _try = 0; _try < 2 && _rc == -ENOTCONN; _try++) {                \
			_rc = lv_connect(d, err, errlen);                                 \
			if (!_rc)                                                         \
				_rc = (call);                                             \
		}                                                                         \
		_rc;                                                                      \
	})

static int lv_open(const struct drv_setting *s, size_t n, struct driver **out, char *err,
		   size_t errlen)
{
	pthread_once(&lv_once, lv_init_once);
	struct lv_driver *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	int rc = lv_settings_parse(s, n, &d->st, err, errlen);
	if (rc) {
		free(d);
		return rc;
	}
	d->base.ops = &driver_libvirt_ops;
	*out = &d->base;
	return 0;
}

static void lv_close(struct driver *dd)
{
	struct lv_driver *d = lv(dd);
	if (!d)
		return;
	if (d->conn)
		virConnectClose(d->conn);
	lv_settings_release(&d->st);
	free(d);
}

static int do_probe(struct lv_driver *d, char *err, size_t errlen)
{
	unsigned long ver;
	if (virConnectGetLibVersion(d->conn, &ver) < 0)
		return lv_fail(d, "probe", err, errlen);
	/* can it run the domains we would define? (kvm where KVM is missing is caught here) */
	char *caps = virConnectGetDomainCapabilities(d->conn, NULL, d->st.arch, d->st.machine,
						     d->st.domain_type, 0);
	if (!caps)
		return lv_fail(d, "probe", err, errlen);
	free(caps);
	return 0;
}

static int lv_probe(struct driver *d, char *err, size_t errlen)
{
	return LV_CALL(lv(d), err, errlen, do_probe(lv(d), err, errlen));
}

/* ---- the mark ---------------------------------------------------------------------- */

/* What an existing object is to us. */
enum lv_owner { LV_THEIRS, LV_OURS_SAME, LV_OURS_OTHER };

static int owner_of(char *xml, const char *hash, enum lv_owner *o, const char *what, char *err,
		    size_t errlen)
{
	char have[LV_HASH_HEX + 1];
	if (!xml) {
		snprintf(err, errlen, "%s: libvirt returned no XML", what);
		return -EIO;
	}
	int m = lv_xml_mark(xml, strlen(xml), have);
	free(xml);
	if (m < 0) {
		snprintf(err, errlen, "%s: libvirt's XML does not parse", what);
		return -EIO;
	}
	*o = !m ? LV_THEIRS : !strcmp(have, hash) ? LV_OURS_SAME : LV_OURS_OTHER;
	return 0;
}

/* What to do with an existing VM or network that a start or create asks for: nothing,
 * power it on, or replace its stale definition (ours, not running); -EEXIST when it is
 * the operator's or runs with another definition. */
enum lv_step { LV_STEP_NONE, LV_STEP_POWER_ON, LV_STEP_REPLACE };

static int reconcile(const char *noun, const char *name, enum lv_owner o, int active,
		     enum lv_step *step, char *err, size_t errlen)
{
	if (o == LV_THEIRS) {
		snprintf(err, errlen, "a %s named %s exists that ferry-agent did not define", noun,
			 name);
		return -EEXIST;
	}
	if (o == LV_OURS_OTHER && active) {
		snprintf(err, errlen, "%s %s runs with another definition (stop it first)", noun,
			 name);
		return -EEXIST;
	}
	*step = o == LV_OURS_OTHER ? LV_STEP_REPLACE : active ? LV_STEP_NONE : LV_STEP_POWER_ON;
	return 0;
}

/* ---- VMs --------------------------------------------------------------------------- */

static int dom_lookup(struct lv_driver *d, const char *name, virDomainPtr *dom, char *err,
		      size_t errlen)
{
	*dom = virDomainLookupByName(d->conn, name);
	if (*dom)
		return 0;
	char what[300];
	snprintf(what, sizeof(what), "VM %s", name);
	return lv_fail(d, what, err, errlen);
}

static int dom_owner(struct lv_driver *d, virDomainPtr dom, const char *name, const char *hash,
		     enum lv_owner *o, char *err, size_t errlen)
{
	char what[300];
	snprintf(what, sizeof(what), "VM %s", name);
	char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!xml)
		return lv_fail(d, what, err, errlen);
	return owner_of(xml, hash, o, what, err, errlen);
}

static int undefine(virDomainPtr dom, unsigned flags);

static int dom_active(struct lv_driver *d, virDomainPtr dom, char *err, size_t errlen)
{
	int a = virDomainIsActive(dom);
	return a < 0 ? lv_fail(d, "VM state", err, errlen) : a;
}

/* Define xml and power it on; undefine again if the power-on fails. */
static int define_and_start(struct lv_driver *d, const char *name, const char *xml, char *err,
			    size_t errlen)
{
	char what[300];
	snprintf(what, sizeof(what), "define VM %s", name);
	virDomainPtr dom = virDomainDefineXML(d->conn, xml);
	if (!dom)
		return lv_fail(d, what, err, errlen);
	int rc = 0;
	if (virDomainCreate(dom) < 0) {
		snprintf(what, sizeof(what), "start VM %s", name);
		rc = lv_fail(d, what, err, errlen);
		undefine(dom, VIR_DOMAIN_UNDEFINE_NVRAM);
		virResetLastError();
	}
	virDomainFree(dom);
	return rc;
}

/* start, given the XML (marked with hash) */
static int do_start(struct lv_driver *d, const char *name, const char *xml, const char *hash,
		    char *err, size_t errlen)
{
	virDomainPtr dom;
	int rc = dom_lookup(d, name, &dom, err, errlen);
	if (rc == -ENOENT)
		return define_and_start(d, name, xml, err, errlen);
	if (rc)
		return rc;
	enum lv_owner o;
	enum lv_step step = LV_STEP_NONE;
	rc = dom_owner(d, dom, name, hash, &o, err, errlen);
	int active = rc ? 0 : dom_active(d, dom, err, errlen);
	if (!rc)
		rc = active < 0 ? active : reconcile("VM", name, o, active, &step, err, errlen);
	if (!rc && step == LV_STEP_POWER_ON && virDomainCreate(dom) < 0)
		rc = lv_fail(d, "start VM", err, errlen);
	if (!rc && step == LV_STEP_REPLACE)
		rc = undefine(dom, VIR_DOMAIN_UNDEFINE_NVRAM) < 0 ?
			     lv_fail(d, "redefine VM", err, errlen) :
			     define_and_start(d, name, xml, err, errlen);
	virDomainFree(dom);
	return rc;
}

static int lv_start(struct driver *dd, const struct drv_vm *vm, char *err, size_t errlen)
{
	struct lv_driver *d = lv(dd);
	char *plain = NULL, *xml = NULL, hash[LV_HASH_HEX + 1];
	int rc = lv_domain_xml(&d->st, vm, NULL, &plain, err, errlen);
	if (!rc) {
		lv_hash(plain, hash);
		rc = lv_domain_xml(&d->st, vm, hash, &xml, err, errlen);
	}
	if (!rc)
		rc = LV_CALL(d, err, errlen, do_start(d, vm->name, xml, hash, err, errlen));
	free(plain);
	free(xml);
	return rc;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The ACPI power button; the hypervisor's own graceful method where it has no such
 * button (libvirt's drivers for other hypervisors may not). */
static int press(virDomainPtr dom)
{
	if (virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0)
		return 0;
	int rc = lv_errno();
	return rc == -EINVAL ? virDomainShutdown(dom) : -1;
}

/* Undefine with the flags (NVRAM, ...); without them where the hypervisor's driver
 * knows none. */
static int undefine(virDomainPtr dom, unsigned flags)
{
	if (virDomainUndefineFlags(dom, flags) == 0)
		return 0;
	return lv_errno() == -EINVAL ? virDomainUndefine(dom) : -1;
}

/* ACPI power button, pressed again every 5 s (a guest still booting ignores the first),
 * until the domain is off or timeout_s passed. 1 off, 0 still on, or -errno. */
static int press_until_off(struct lv_driver *d, virDomainPtr dom, unsigned timeout_s,
			   char *err, size_t errlen)
{
	uint64_t end = now_mono_ns() + (uint64_t)timeout_s * 1000000000u, next_press = 0;
	for (;;) {
		int a = dom_active(d, dom, err, errlen);
		if (a <= 0)
			return a < 0 ? a : 1;
		uint64_t now = now_mono_ns();
		if (now >= next_press) {
			if (press(dom) < 0) {
				/* it may have gone off meanwhile */
				int rc = lv_fail(d, "power button", err, errlen);
				a = dom_active(d, dom, err, errlen);
				return a < 0 ? a : a == 0 ? 1 : rc;
			}
			next_press = now + 5000000000u;
		}
		if (now >= end)
			return 0;
		sleep_ms(100);
	}
}

static int do_stop(struct lv_driver *d, const char *name, unsigned timeout_s, bool force,
		   char *err, size_t errlen)
{
	virDomainPtr dom;
	int rc = dom_lookup(d, name, &dom, err, errlen);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = timeout_s || !force ? press_until_off(d, dom, timeout_s, err, errlen) : 0;
	if (rc == 0 && force) {
		if (virDomainDestroy(dom) < 0) {
			rc = lv_fail(d, "power off VM", err, errlen);
			if (dom_active(d, dom, err, errlen) == 0)	/* it went off by itself */
				rc = 0;
		}
	} else if (rc == 0) {
		snprintf(err, errlen, "VM %s did not power off within %u s", name, timeout_s);
		rc = -ETIMEDOUT;
	}
	virDomainFree(dom);
	return rc < 0 ? rc : 0;
}

static int lv_stop(struct driver *d, const char *name, unsigned timeout_s, bool force, char *err,
		   size_t errlen)
{
	return LV_CALL(lv(d), err, errlen, do_stop(lv(d), name, timeout_s, force, err, errlen));
}

static int do_state(struct lv_driver *d, const char *name, enum drv_power *st, char *err,
		    size_t errlen)
{
	virDomainPtr dom;
	int rc = dom_lookup(d, name, &dom, err, errlen);
	if (rc == -ENOENT) {
		*st = DRV_ABSENT;
		return 0;
	}
	if (rc)
		return rc;
	int state, reason;
	if (virDomainGetState(dom, &state, &reason, 0) < 0) {
		rc = lv_fail(d, "VM state", err, errlen);
	} else {
		switch (state) {
		case VIR_DOMAIN_RUNNING:
		case VIR_DOMAIN_BLOCKED:
			*st = DRV_RUNNING;
			break;
		case VIR_DOMAIN_SHUTOFF:
		case VIR_DOMAIN_CRASHED:
			*st = DRV_OFF;
			break;
		default:	/* paused, shutting down, suspended */
			*st = DRV_OTHER;
		}
	}
	virDomainFree(dom);
	return rc;
}

static int lv_state(struct driver *d, const char *name, enum drv_power *st, char *err,
		    size_t errlen)
{
	return LV_CALL(lv(d), err, errlen, do_state(lv(d), name, st, err, errlen));
}

static int do_remove(struct lv_driver *d, const char *name, char *err, size_t errlen)
{
	virDomainPtr dom;
	int rc = dom_lookup(d, name, &dom, err, errlen);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	enum lv_owner o;
	rc = dom_owner(d, dom, name, "", &o, err, errlen);
	if (!rc && o == LV_THEIRS) {
		snprintf(err, errlen, "VM %s was not defined by ferry-agent: not removed", name);
		rc = -EPERM;
	}
	if (!rc && dom_active(d, dom, err, errlen) > 0 && virDomainDestroy(dom) < 0)
		rc = lv_fail(d, "power off VM", err, errlen);
	if (!rc && undefine(dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
					 VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0) {
		rc = lv_fail(d, "undefine VM", err, errlen);
		if (rc == -ENOENT)	/* a transient domain vanished with the power-off */
			rc = 0;
	}
	virDomainFree(dom);
	return rc;
}

static int lv_remove(struct driver *d, const char *name, char *err, size_t errlen)
{
	return LV_CALL(lv(d), err, errlen, do_remove(lv(d), name, err, errlen));
}

/* ---- networks ---------------------------------------------------------------------- */

static int net_lookup(struct lv_driver *d, const char *name, virNetworkPtr *net, char *err,
		      size_t errlen)
{
	*net = virNetworkLookupByName(d->conn, name);
	if (*net)
		return 0;
	char what[300];
	snprintf(what, sizeof(what), "network %s", name);
	return lv_fail(d, what, err, errlen);
}

static int net_owner(struct lv_driver *d, virNetworkPtr net, const char *name,
		     const char *hash, enum lv_owner *o, char *err, size_t errlen)
{
	char what[300];
	snprintf(what, sizeof(what), "network %s", name);
	char *xml = virNetworkGetXMLDesc(net, VIR_NETWORK_XML_INACTIVE);
	if (!xml && lv_errno() == -EINVAL)	/* a driver without inactive definitions */
		xml = virNetworkGetXMLDesc(net, 0);
	if (!xml)
		return lv_fail(d, what, err, errlen);
	return owner_of(xml, hash, o, what, err, errlen);
}

static int do_network_exists(struct lv_driver *d, const char *name, char *err, size_t errlen)
{
	virNetworkPtr net;
	int rc = net_lookup(d, name, &net, err, errlen);
	if (rc)
		return rc;
	int a = virNetworkIsActive(net);
	if (a < 0) {
		rc = lv_fail(d, "network state", err, errlen);
	} else if (!a) {
		snprintf(err, errlen, "network %s exists but is not started", name);
		rc = -ENETDOWN;
	}
	virNetworkFree(net);
	return rc;
}

static int lv_network_exists(struct driver *d, const char *name, char *err, size_t errlen)
{
	return LV_CALL(lv(d), err, errlen, do_network_exists(lv(d), name, err, errlen));
}

static int net_define_and_start(struct lv_driver *d, const char *name, const char *xml,
				char *err, size_t errlen)
{
	char what[300];
	snprintf(what, sizeof(what), "define network %s", name);
	virNetworkPtr net = virNetworkDefineXML(d->conn, xml);
	if (!net)
		return lv_fail(d, what, err, errlen);
	int rc = 0;
	if (virNetworkCreate(net) < 0) {
		snprintf(what, sizeof(what), "start network %s", name);
		rc = lv_fail(d, what, err, errlen);
		virNetworkUndefine(net);
		virResetLastError();
	}
	virNetworkFree(net);
	return rc;
}

static int do_network_create(struct lv_driver *d, const char *name, const char *xml,
			     const char *hash, char *err, size_t errlen)
{
	virNetworkPtr net;
	int rc = net_lookup(d, name, &net, err, errlen);
	if (rc == -ENOENT)
		return net_define_and_start(d, name, xml, err, errlen);
	if (rc)
		return rc;
	enum lv_owner o;
	enum lv_step step = LV_STEP_NONE;
	rc = net_owner(d, net, name, hash, &o, err, errlen);
	int active = rc ? 0 : virNetworkIsActive(net);
	if (!rc && active < 0)
		rc = lv_fail(d, "network state", err, errlen);
	if (!rc)
		rc = reconcile("network", name, o, active, &step, err, errlen);
	if (!rc && step == LV_STEP_POWER_ON && virNetworkCreate(net) < 0)
		rc = lv_fail(d, "start network", err, errlen);
	if (!rc && step == LV_STEP_REPLACE)
		rc = virNetworkUndefine(net) < 0 ? lv_fail(d, "redefine network", err, errlen) :
						   net_define_and_start(d, name, xml, err, errlen);
	virNetworkFree(net);
	return rc;
}

static int lv_network_create_isolated(struct driver *dd, const struct drv_network *n, char *err,
				      size_t errlen)
{
	struct lv_driver *d = lv(dd);
	char *plain = NULL, *xml = NULL, hash[LV_HASH_HEX + 1];
	int rc = lv_network_xml(n, NULL, &plain, err, errlen);
	if (!rc) {
		lv_hash(plain, hash);
		rc = lv_network_xml(n, hash, &xml, err, errlen);
	}
	if (!rc)
		rc = LV_CALL(d, err, errlen, do_network_create(d, n->name, xml, hash, err, errlen));
	free(plain);
	free(xml);
	return rc;
}

static int do_network_remove(struct lv_driver *d, const char *name, char *err, size_t errlen)
{
	virNetworkPtr net;
	int rc = net_lookup(d, name, &net, err, errlen);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	enum lv_owner o;
	rc = net_owner(d, net, name, "", &o, err, errlen);
	if (!rc && o == LV_THEIRS) {
		snprintf(err, errlen, "network %s was not created by ferry-agent: not removed", name);
		rc = -EPERM;
	}
	if (!rc && virNetworkIsActive(net) > 0 && virNetworkDestroy(net) < 0)
		rc = lv_fail(d, "stop network", err, errlen);
	if (!rc && virNetworkIsPersistent(net) > 0 && virNetworkUndefine(net) < 0)
		rc = lv_fail(d, "undefine network", err, errlen);
	virNetworkFree(net);
	return rc;
}

static int lv_network_remove(struct driver *d, const char *name, char *err, size_t errlen)
{
	return LV_CALL(lv(d), err, errlen, do_network_remove(lv(d), name, err, errlen));
}

const struct driver_ops driver_libvirt_ops = {
	.name = "libvirt",
	.open = lv_open,
	.close = lv_close,
	.probe = lv_probe,
	.network_exists = lv_network_exists,
	.network_create_isolated = lv_network_create_isolated,
	.network_remove = lv_network_remove,
	.start = lv_start,
	.stop = lv_stop,
	.state = lv_state,
	.remove = lv_remove,
};
