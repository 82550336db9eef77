/* Re-IP: a recovery plan's address rules, and applying them inside a guest's own disk
 * before its first boot at the recovery site (docs/design.md section 4; the rules in full:
 * docs/reip.md).
 *
 * Rules: `FROM -> TO [prefix N] [gw G] [dns D,...]`, e.g. `10.1.*.* -> 10.2.*.*`: `*` in
 * the target keeps that octet of the source address; FROM may end in /N to match only
 * NICs of prefix length N, TO in /N to set the new prefix (as `prefix N`). The first rule
 * that matches a NIC's static address wins. The gateway goes through the same rule unless
 * the rule gives one; each DNS server goes through the first rule that matches it (one no
 * rule matches is kept) unless the rule gives a list.
 *
 * In the guest (reip.c): the ext4 file system on the disk (the whole disk, or the first
 * partition of an MBR/GPT table that holds a Linux root with /etc) is read and written
 * with libext2fs, never mounted; a journal left by a crash is replayed first (the point
 * of a running VM always has one). For each NIC, the configuration the guest really uses
 * is the first of netplan, ifupdown, NetworkManager keyfiles, systemd-networkd that
 * configures it (matched by MAC where the file names one, else by the old address):
 * netplan renders the others at boot, and Debian's NetworkManager leaves interfaces that
 * ifupdown configures alone. Only that stanza is edited, the rest of the file is kept byte
 * for byte. For cloud-init guests a NoCloud `cidata` seed with a network-config (version
 * 2, MACs matched) is written instead. Every change is described in the detail line
 * ("netplan /etc/netplan/50-x.yaml: 52:54:00:12:34:56 10.1.0.11/24 -> 10.2.0.11/24, gateway
 * 10.1.0.1 -> 10.2.0.1"). A guest whose file system or configuration cannot be read is an
 * error with the reason, never a silent success. Applying the same change twice is
 * harmless: the second run finds the new address and says so. */
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
	uint8_t from_prefix;		/* FROM/N: match only NICs of this prefix; 0: any */
	uint8_t prefix;			/* 0: keep the NIC's prefix */
	uint32_t gw;			/* 0: map the NIC's gateway through the same rule */
	uint32_t dns[VM_MAX_DNS];	/* n_dns == 0: each through the rules */
	uint8_t n_dns;
};

/* Parse one rule (pure). 0, or -EINVAL with a reason in err. */
int reip_rule_parse(const char *text, struct reip_rule *r, char *err, size_t errlen);
/* The rule back in canonical form; the length, or -ENOSPC. */
int reip_rule_format(const struct reip_rule *r, char *out, size_t n);
/* The first rule whose pattern matches addr (and, with a /N on FROM, whose prefix is
 * prefix; 0 matches any), or NULL. */
const struct reip_rule *reip_find_rule(const struct reip_rule *rules, size_t n, uint32_t addr,
				       uint8_t prefix);
/* addr through r's target: the `*` octets kept, the others replaced. */
uint32_t reip_rule_apply(const struct reip_rule *r, uint32_t addr);
/* The NIC after the rules: 1 and *out when a rule matched its static address, 0 when none
 * did (or the NIC uses DHCP: *out = *in). Octets are numbered from the left (octet 0 of
 * 10.1.2.3 is 10). */
int reip_map_nic(const struct reip_rule *rules, size_t n, const struct vm_nic *in,
		 struct vm_nic *out);

/* How to reach the disk image's bytes. */
enum reip_image { REIP_IMAGE_RAW, REIP_IMAGE_VMDK };	/* raw file, block device or a
							 * monolithicFlat extent; or a
							 * monolithicSparse VMDK */

struct reip_nic_change {
	const struct vm_nic *old_nic;	/* as the protected site describes it */
	const struct vm_nic *new_nic;	/* after the rules */
	/* The plan's rules (optional): a gateway or DNS server found in the guest's file
	 * that the VM description does not give is mapped through them as reip_map_nic
	 * would. NULL: such values are left as they are. */
	const struct reip_rule *rules;
	size_t n_rules;
};

/* Edit the guest's network configuration on the image so each NIC gets new_nic's address.
 * image: a raw file or block device, or with REIP_IMAGE_VMDK a monolithicSparse VMDK
 * (edited in place) or a monolithicFlat descriptor (its extent is edited). NICs whose
 * old and new descriptions are equal (DHCP, no rule matched) are skipped; with none
 * left the image is not opened. 0 with a description of every change in detail ("; "
 * between files); -ENOENT no network configuration configures a NIC (err names the NIC
 * and where it looked); -ENOTSUP the NIC's stanza cannot take a static address (DHCP in
 * the guest), or the disk holds what Re-IP cannot edit (LVM, an external journal,
 * streamOptimized VMDK); -EUCLEAN/-EBADMSG no readable ext4 file system or a file that
 * does not parse; -errno otherwise; err says what and where. Apart from replaying the
 * guest's journal, nothing is written unless every NIC's stanza was found. */
int reip_apply_disk(const char *image, enum reip_image kind, const struct reip_nic_change *c,
		    size_t n, char *detail, size_t detaillen, char *err, size_t errlen);
/* Write a NoCloud seed image at path (created or replaced atomically): an ISO 9660 file
 * system (Joliet and Rock Ridge) labelled `cidata` with meta-data (only an instance-id:
 * "ferry-" and a hash of the VM's name and network config; no hostname, the guest keeps
 * its own), user-data ("#cloud-config" and nothing else) and network-config version 2 for
 * vm's NICs (vm is the VM after the rules: reip_map_nic of each NIC), each matched by
 * MAC. Attach it to the VM as an extra
 * raw disk (or a cdrom); cloud-init finds it by its label. The instance-id changes
 * exactly when the network config does, so cloud-init applies a new one at the first
 * boot and the same seed twice changes nothing. 0 or -errno with the reason in err. */
int reip_write_cidata(const char *path, const struct vm_desc *vm, char *err, size_t errlen);

#endif
