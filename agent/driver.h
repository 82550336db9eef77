/* Hypervisor drivers: how ferry-agent defines, starts, stops and watches VMs and networks
 * at the recovery site (docs/design.md section 4). One table of functions, one implementation
 * per file:
 *
 *   driver-libvirt.c   libvirt's C API (qemu with TCG here; any libvirt hypervisor in the
 *                      field): disks as files or NBD sources, NICs on libvirt networks,
 *                      the serial console into a file
 *   driver-script.c    one operator command per action (docs/drivers.md: arguments,
 *                      environment, exit codes, JSON on stdout), for govc, qm, virsh, ...
 *
 * Every call is idempotent, because the agent redoes the step it was in after a crash:
 * starting a VM that already runs with the same definition is 0, stopping or removing a VM
 * or network that does not exist is 0. Errors are -errno with a one-line reason in err
 * (what the hypervisor said); nothing here logs. A driver object is used by one thread at
 * a time (the agent serialises calls per driver).
 *
 * What the agent did not create, it does not destroy: a driver that can tell (libvirt
 * marks what it defines) refuses to remove a VM or network it did not define (-EPERM),
 * and refuses to start over a VM of the same name that it did not define (-EEXIST).
 * stop and state work on any VM (a planned failover powers off the protected site's VMs).
 *
 * To add a driver: 1. write agent/driver-NAME.c with a `const struct driver_ops` whose
 * open() returns an object that starts with `struct driver`; 2. declare it below; 3. add
 * it to driver_find(); 4. document its settings in docs/drivers.md.
 *
 * Drivers and their settings: docs/drivers.md. */
#ifndef FERRY_DRIVER_H
#define FERRY_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum drv_power { DRV_ABSENT = 0, DRV_OFF = 1, DRV_RUNNING = 2, DRV_OTHER = 3 };

struct drv_disk {
	/* A file (raw or VMDK; the driver tells qemu the format) ... */
	const char *path;
	const char *format;		/* "raw" | "vmdk"; NULL: raw */
	/* ... or an NBD export (the recovery site's ferryd): path == NULL */
	const char *nbd_host;		/* or NULL with nbd_socket */
	unsigned nbd_port;
	const char *nbd_socket;
	const char *nbd_export;
};

struct drv_nic {
	const char *network;		/* the hypervisor's network name (already mapped) */
	uint8_t mac[6];
};

struct drv_vm {
	const char *name;		/* the hypervisor's VM name, unique on it */
	uint32_t cpus;
	uint64_t memory_mib;
	bool uefi;
	const struct drv_disk *disks;	/* boot disk first */
	size_t n_disks;
	const struct drv_nic *nics;
	size_t n_nics;
	const char *serial_log;		/* the serial console goes to this file (an absolute
					 * path; truncated at start), or NULL */
};

/* An isolated network: VMs on it reach each other, nothing else does. host_addr/prefix
 * (host order; 0: none) gives the hypervisor host an address on it, so that readiness
 * checks can reach the guests. */
struct drv_network {
	const char *name;
	uint32_t host_addr;
	uint8_t prefix;
};

struct drv_setting {
	const char *key, *value;	/* [hypervisor] keys other than `driver` */
};

/* Every driver's object starts with this, so the agent can call d->ops->start(d, ...). */
struct driver {
	const struct driver_ops *ops;
};

struct driver_ops {
	const char *name;		/* "libvirt", "script" */
	/* Settings are checked here (unknown key: -EINVAL naming it). Does not contact the
	 * hypervisor. */
	int (*open)(const struct drv_setting *s, size_t n, struct driver **out, char *err,
		    size_t errlen);
	void (*close)(struct driver *d);
	/* Can the hypervisor be reached and used? 0, or -errno with what it said. */
	int (*probe)(struct driver *d, char *err, size_t errlen);
	/* Does the network exist there, ready for VMs? 0, -ENOENT, -ENETDOWN (it exists but is
	 * not started), or -errno. */
	int (*network_exists)(struct driver *d, const char *name, char *err, size_t errlen);
	/* Create and start it; 0 when it already exists as asked, -EEXIST when a network
	 * of that name exists with another definition or is not the driver's. */
	int (*network_create_isolated)(struct driver *d, const struct drv_network *n, char *err,
				       size_t errlen);
	/* Stop and delete it; -EPERM when it is not the driver's. */
	int (*network_remove)(struct driver *d, const char *name, char *err, size_t errlen);
	/* Define and power on. A VM of that name that is defined but off is started again,
	 * redefined first if its definition differs; one that runs with another definition
	 * is -EEXIST. When a VM this call defined fails to power on, its definition is
	 * removed again. */
	int (*start)(struct driver *d, const struct drv_vm *vm, char *err, size_t errlen);
	/* Power off: graceful (ACPI power button) first; after timeout_s, hard if force, else
	 * -ETIMEDOUT. timeout_s 0 with force: hard at once. */
	int (*stop)(struct driver *d, const char *name, unsigned timeout_s, bool force, char *err,
		    size_t errlen);
	int (*state)(struct driver *d, const char *name, enum drv_power *st, char *err,
		     size_t errlen);
	/* Power off hard and undefine; the disks are left alone. -EPERM when it is not the
	 * driver's. */
	int (*remove)(struct driver *d, const char *name, char *err, size_t errlen);
};

extern const struct driver_ops driver_libvirt_ops;
extern const struct driver_ops driver_script_ops;

/* The driver called name, or NULL. */
const struct driver_ops *driver_find(const char *name);

#endif
