/* A libvirt domain's XML into a VM description (`ferryctl vm import`, issue 13 section 1),
 * so that nobody types MACs. Pure: the XML comes as a buffer (libvirt's
 * virDomainGetXMLDesc), parsed with libxml2 (no network, no external entities).
 *
 * What is taken:
 *   cpus      <vcpu current='N'>, else the <vcpu> count
 *   memory    <memory unit='U'> (libvirt's units; KiB by default), rounded up to MiB
 *   firmware  uefi when <os firmware='efi'> or a <loader type='pflash'>, else bios
 *   disks     <disk device='disk'|'lun'> (cdroms and floppies are skipped), in boot order:
 *             disks with <boot order='N'> by N, then the others in document order. Each
 *             is mapped to an export name, the first rule that applies:
 *               1. an override TARGET=EXPORT (target dev, e.g. vda=db-os);
 *               2. an NBD source (<source protocol='nbd' name='E'>): E, leading '/'
 *                  removed — the disk is already served by ferryd under that name;
 *               3. a file or block source: the export of opts->cfg whose disk path is the
 *                  same string;
 *             otherwise the import fails naming the disk and these three ways.
 *   nics      one per <interface>, in document order: the network is the source network
 *             (type network), bridge (bridge), device (direct), else the interface type
 *             ("user", "ethernet", ...); the MAC as libvirt has it. Addresses are unknown
 *             to libvirt: a NIC is dhcp unless opts->nic_ip has MAC=static ADDR/PREFIX
 *             [gw GW] [dns D,...].
 *   domain    opts->domain, else the [domain] of opts->cfg that owns every mapped export.
 */
#ifndef FERRY_VM_IMPORT_H
#define FERRY_VM_IMPORT_H

#include <stddef.h>

#include "common/config.h"
#include "common/dbuf.h"
#include "repo/vmdesc.h"

struct vm_import_opts {
	const char *name;			/* the [vm] name; NULL: the libvirt domain's */
	const char *domain;			/* the protection domain; NULL: from cfg */
	const struct ferry_config *cfg;		/* exports by path; may be NULL */
	const char *const *disk_map;		/* "TARGET=EXPORT" */
	size_t n_disk_map;
	const char *const *nic_ip;		/* "MAC=static ADDR/PREFIX [gw GW] [dns ...]" */
	size_t n_nic_ip;
};

/* Fill *out from the XML. notes (may be NULL) gets one "# ..." comment line per disk and
 * NIC saying where its values came from. 0, or -EINVAL (the XML is not a domain, or a
 * disk or NIC cannot be described: reason in err), -ENOMEM. */
int vm_import_xml(const char *xml, size_t len, const struct vm_import_opts *o,
		  struct vm_desc *out, struct dbuf *notes, char *err, size_t errlen);

/* The [vm NAME] section of v (domain, disks, cpus, memory, firmware, nic lines) as
 * ferry.conf takes it. 0 or -ENOMEM/-ENOBUFS. */
int vm_desc_format_section(const struct vm_desc *v, struct dbuf *out);

#endif
