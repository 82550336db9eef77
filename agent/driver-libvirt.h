/* The libvirt driver's private half: its settings and the XML it writes and reads.
 *
 *   driver-libvirt.c      the driver_ops: libvirt API calls, one connection, reconnecting
 *                         once when libvirtd went away
 *   driver-libvirt-xml.c  pure: settings, domain and network XML (libxml2's writer, so
 *                         every name and path is escaped), and the mark read back from
 *                         what libvirt returns
 *
 * The mark: every domain and network this driver defines carries
 *   <metadata><ferry:def xmlns:ferry="urn:ferry:agent:1" hash="SHA-256"/></metadata>
 * where hash covers the rest of the XML the driver generated. It tells the driver's own
 * objects from the operator's (which it never replaces or removes), and whether an
 * existing object has the definition a call asks for (idempotent start and create). */
#ifndef FERRY_DRIVER_LIBVIRT_H
#define FERRY_DRIVER_LIBVIRT_H

#include <stddef.h>

#include "agent/driver.h"

#define LV_NS_URI "urn:ferry:agent:1"
#define LV_HASH_HEX 64

/* [hypervisor] settings of driver = libvirt (docs/drivers.md). Strings are malloc'd;
 * NULL where unset and there is no default. */
struct lv_settings {
	char *uri;		/* "qemu:///system" */
	char *domain_type;	/* "kvm"; "qemu" for TCG */
	char *arch;		/* "x86_64" */
	char *machine;		/* NULL: libvirt's default for arch */
	char *kernel, *initrd, *cmdline;	/* direct kernel boot (kernel-in-initrd guests) */
	char *graphics;		/* "vnc" | "spice" | "none" */
	char *disk_bus;		/* "virtio" | "sata" | "scsi" | "ide" */
	char *nic_model;	/* "virtio" | "e1000" | "e1000e" | "rtl8139" | "vmxnet3" */
	char *cpu_mode;		/* NULL | "host-model" | "host-passthrough" | "maximum" */
	char *secure_boot;	/* UEFI VMs: "auto" (libvirt's choice) | "yes" | "no" */
};

/* 0, or -EINVAL (unknown key, bad value: named in err) or -ENOMEM. Defaults filled in. */
int lv_settings_parse(const struct drv_setting *s, size_t n, struct lv_settings *st, char *err,
		      size_t errlen);
void lv_settings_release(struct lv_settings *st);

/* The domain XML for vm, marked with hash (LV_HASH_HEX hex digits) unless hash is NULL.
 * 0 with a malloc'd string in *out, -EINVAL (a bad VM description, said in err) or
 * -ENOMEM. */
int lv_domain_xml(const struct lv_settings *st, const struct drv_vm *vm, const char *hash,
		  char **out, char *err, size_t errlen);
/* An isolated network's XML: a bridge and no <forward>; the host's address when the
 * network has one. Same returns. */
int lv_network_xml(const struct drv_network *n, const char *hash, char **out, char *err,
		   size_t errlen);
/* SHA-256 of xml as hex. */
void lv_hash(const char *xml, char out[LV_HASH_HEX + 1]);
/* The mark's hash in a domain's or network's XML as libvirt returns it: 1 with the hash
 * in out, 0 when there is no mark (not ours), -EBADMSG when xml does not parse. */
int lv_xml_mark(const char *xml, size_t len, char out[LV_HASH_HEX + 1]);

#endif
