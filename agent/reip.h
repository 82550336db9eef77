/* Re-IP: a recovery plan's address rules, and applying them inside a guest's own disk
 * before its first boot at the recovery site (DESIGN.md section 5).
 *
 * Rules: `10.1.*.* -> 10.2.*.* [prefix N] [gw G] [dns D,...]`: `*` in the target keeps that
 * octet of the source address; the first rule that matches a NIC's static address wins.
 *
 * In the guest: the ext4 file system on the disk (the whole disk, or the partition an
 * MBR/GPT table points at) is read and written with libext2fs, never mounted. The agent
 * finds which network configuration the guest really uses (netplan, then
 * NetworkManager keyfiles, systemd-networkd, ifupdown, in the order the guest's own tools
 * give them precedence) and edits the stanza of each NIC (matched by MAC where the file
 * names one, else by the old address). For cloud-init guests a NoCloud `cidata` seed with
 * a network-config (version 2) is written instead. Every change is described in the
 * detail line ("netplan /etc/netplan/50-x.yaml: 10.1.0.11/24 -> 10.2.0.11/24 gw ...").
 * A guest whose file system or configuration cannot be read is an error with the reason,
 * never a silent success.
 *
 * CONTRACT DRAFT (session 10): ferry-agent's Re-IP step is written against this. */
#ifndef FERRY_REIP_H
#define FERRY_REIP_H

#include <stddef.h>
#include <stdint.h>

#include "repo/vmdesc.h"

struct reip_rule {
	uint8_t from[4];		/* pattern octets */
	uint8_t from_any;		/* bit i: octet i is `*` */
	uint8_t to[4];
	uint8_t to_keep;		/* bit i: octet i is `*` (kept from the source) */
	uint8_t prefix;			/* 0: keep the NIC's prefix */
	uint32_t gw;			/* 0: map the NIC's gateway through the same rule */
	uint32_t dns[VM_MAX_DNS];	/* n_dns == 0: keep */
	uint8_t n_dns;
};

/* Parse one rule (pure). 0, or -EINVAL with a reason in err. */
int reip_rule_parse(const char *text, struct reip_rule *r, char *err, size_t errlen);
/* The NIC after the rules: 1 and *out when a rule matched its static address, 0 when none
 * did (or the NIC uses DHCP: *out = *in). */
int reip_map_nic(const struct reip_rule *rules, size_t n, const struct vm_nic *in,
		 struct vm_nic *out);

/* How to reach the disk image's bytes. */
enum reip_image { REIP_IMAGE_RAW, REIP_IMAGE_VMDK };	/* raw file, block device or a
							 * monolithicFlat extent; or a
							 * monolithicSparse VMDK */

struct reip_nic_change {
	const struct vm_nic *old_nic;	/* as the protected site describes it */
	const struct vm_nic *new_nic;	/* after the rules */
};

/* Edit the guest's network configuration on the image so each NIC gets new_nic's address.
 * 0 with a description of every change in detail; -ENOENT no network configuration found
 * for a NIC; -EUCLEAN/-EBADMSG no readable ext4 file system; -errno otherwise; err says
 * what and where. */
int reip_apply_disk(const char *image, enum reip_image kind, const struct reip_nic_change *c,
		    size_t n, char *detail, size_t detaillen, char *err, size_t errlen);
/* Write a NoCloud seed image (a FAT file system labelled `cidata` with meta-data,
 * user-data and network-config version 2 for vm's NICs, MACs matched) at path. */
int reip_write_cidata(const char *path, const struct vm_desc *vm, char *err, size_t errlen);

#endif
