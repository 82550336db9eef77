/* VM descriptions: what a recovery site needs to know about each VM of a protection domain
 * besides its disks — CPUs, memory, firmware, disks in boot order, and one NIC per source
 * network with its MAC and IP configuration (docs/design.md section 4).
 *
 * The protected site declares them in ferry.conf (`[vm NAME]` sections, parsed in
 * common/config-vm.c with vm_nic_parse below); ferryd stores each domain's set in the
 * repository when it starts (datapath/ship-vms.c), versioned and encrypted like every
 * metadata object, at domains/<d>/vms/<time:020> (bytes: docs/repo-format.md section 14,
 * golden file tests/golden/vmset-v1.bin), so a recovery site needs nothing but the store
 * and the key. A set is written again only when it changed; readers pick the newest set
 * written at or before the point they recover (point_info.time_ns). Prune keeps the sets
 * kept points need; verify checks them. Functions taking err/errlen describe failures
 * there (object key, what is wrong). */
#ifndef FERRY_VMDESC_H
#define FERRY_VMDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

#define VM_NAME_MAX REPO_NAME_MAX
#define VM_MAX_DISKS 16
#define VM_MAX_NICS 8
#define VM_MAX_DNS 4

/* Pinned numbers (stored in the repository). */
enum vm_firmware { VM_FIRMWARE_BIOS = 0, VM_FIRMWARE_UEFI = 1 };
enum vm_nic_mode { VM_NIC_DHCP = 0, VM_NIC_STATIC = 1 };

/* IPv4 addresses are in host byte order; 0 means "none". */
struct vm_nic {
	char network[VM_NAME_MAX + 1];	/* the source (protected-site) network */
	uint8_t mac[6];
	uint8_t mode;			/* enum vm_nic_mode */
	uint32_t addr;			/* VM_NIC_STATIC */
	uint8_t prefix;			/* VM_NIC_STATIC: 1..32 */
	uint32_t gw;
	uint32_t dns[VM_MAX_DNS];
	uint8_t n_dns;
};

struct vm_desc {
	char name[VM_NAME_MAX + 1];
	char domain[REPO_NAME_MAX + 1];
	char disks[VM_MAX_DISKS][REPO_NAME_MAX + 1];	/* export names, boot disk first */
	size_t n_disks;
	uint32_t cpus;
	uint64_t memory_mib;
	uint8_t firmware;		/* enum vm_firmware */
	struct vm_nic nics[VM_MAX_NICS];
	size_t n_nics;
};

/* One domain's VMs as stored at one time. */
struct vm_set {
	char domain[REPO_NAME_MAX + 1];
	uint64_t time_ns;		/* CLOCK_REALTIME when this set was stored */
	struct vm_desc *vms;		/* malloc'd */
	size_t n;
};

/* `NETWORK MAC [static ADDR/PREFIX [gw GW] [dns D[,D...]] | dhcp]` (pure; no DHCP/static
 * word means dhcp). 0, or -EINVAL with a reason in err. */
int vm_nic_parse(const char *text, struct vm_nic *nic, char *err, size_t errlen);
/* The same syntax back, canonical; the length, or -ENOSPC. */
int vm_nic_format(const struct vm_nic *nic, char *out, size_t n);
/* "aa:bb:cc:dd:ee:ff" (lower case) into out[18]. */
void vm_mac_format(const uint8_t mac[6], char out[18]);
/* Dotted quad of a host-order address into out[16]. */
void vm_ipv4_format(uint32_t addr, char out[16]);
/* Exactly n bytes of "aa:bb:cc:dd:ee:ff" (either case). 0 or -EINVAL. */
int vm_mac_parse(const char *s, size_t n, uint8_t mac[6]);
/* Exactly n bytes of a dotted quad, each octet 0..255 without leading zeros, into a
 * host-order address. 0 or -EINVAL. */
int vm_ipv4_parse(const char *s, size_t n, uint32_t *out);
/* Exactly n bytes of a prefix length 1..32 (no leading zero). 0 or -EINVAL. */
int vm_prefix_parse(const char *s, size_t n, uint8_t *out);
/* Exactly n bytes of "A[,B...]": addresses (not 0.0.0.0) appended to out, from index
 * *count up to max. 0; -EINVAL (the offending item at *bad, *badlen bytes); -E2BIG when
 * they do not fit. */
int vm_ipv4_list_parse(const char *s, size_t n, uint32_t *out, size_t max, size_t *count,
		       const char **bad, size_t *badlen);

/* Store s as domain s->domain's newest VM set unless the newest stored set is equal (then
 * 0 and nothing is written; no stored set counts as equal to an empty s). 1 when written.
 * s->time_ns 0 means now (the newest set's time + 1 ns if the clock went back); another
 * time must be later than the newest stored set's (-EINVAL: tests). -EINVAL also for a
 * description that breaks the format's rules (names, unique VM names and MACs, ...). */
int repo_vms_put(struct repo *r, const struct vm_set *s, char *err, size_t errlen);
/* The newest set stored at or before time_ns (UINT64_MAX: the newest; a point's time_ns:
 * the set that point was cut under). -ENOENT: none. -EBADMSG: that set is corrupt. */
int repo_vms_get(struct repo *r, const char *domain, uint64_t time_ns, struct vm_set *out,
		 char *err, size_t errlen);
void vm_set_release(struct vm_set *s);

#endif
