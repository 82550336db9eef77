/* [vm NAME] sections: the VMs of a protection domain as the recovery site recreates them
 * (contract in config-vm.h; keys in docs/config.md; the stored form is repo/vmdesc.h).
 *
 * The values are checked as they come; whatever relates a VM to the rest of the file (its
 * domain, that domain's exports, MACs and addresses of the other VMs) is checked once the
 * file is read, because a [vm] may come before the [domain] it belongs to. */
#include "common/errmsg.h"
#include "common/config-vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define VM_MAX_CPUS 4096u

int config_vm_open(const struct ferry_config *cfg, struct vm_cfg *vm, const char *name,
		   unsigned line, char *why, size_t n)
{
	memset(vm, 0, sizeof(*vm));
	if (!name)
		return err_set(why, n, -1, "[vm] needs a name: [vm NAME]");
	if (!name_ok(name))
		return err_set(why, n, -1, "invalid vm name '%s' (1-%d characters from A-Z a-z 0-9 "
			       ". _ -, not '.' or '..')", name, VM_NAME_MAX);
	for (size_t i = 0; i < cfg->n_vms; i++)
		if (!strcmp(cfg->vms[i].desc.name, name))
			return err_set(why, n, -1, "duplicate vm '%s' (first defined at line %u)",
				       name, cfg->vms[i].line);
	memcpy(vm->desc.name, name, strlen(name) + 1);
	vm->desc.cpus = 1;
	vm->desc.firmware = VM_FIRMWARE_BIOS;
	vm->line = line;
	return 0;
}

/* disks = A, B C: names separated by commas and/or blanks, boot disk first */
static int set_disks(struct vm_cfg *vm, const char *val, char *why, size_t n)
{
	struct vm_desc *d = &vm->desc;
	d->n_disks = 0;
	for (const char *p = val;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, " \t,");
		if (!name_ok_n(p, len))
			return err_set(why, n, -1, "invalid export name '%.*s' in vm.disks",
				       (int)len, p);
		for (size_t i = 0; i < d->n_disks; i++)
			if (strlen(d->disks[i]) == len && !memcmp(d->disks[i], p, len))
				return err_set(why, n, -1, "disk '%.*s' listed twice", (int)len, p);
		if (d->n_disks == VM_MAX_DISKS)
			return err_set(why, n, -1, "too many disks (at most %d)", VM_MAX_DISKS);
		memcpy(d->disks[d->n_disks], p, len);
		d->disks[d->n_disks++][len] = '\0';
		p += len;
	}
	if (d->n_disks == 0)
		return err_set(why, n, -1, "vm.disks needs at least one export name");
	return 0;
}

static int set_memory(struct vm_cfg *vm, const char *val, char *why, size_t n)
{
	uint64_t v;
	size_t len = strlen(val);
	if (len && val[len - 1] >= '0' && val[len - 1] <= '9')
		return err_set(why, n, -1, "vm.memory '%s' needs a unit (e.g. 512M, 2G)", val);
	if (parse_size(val, &v) < 0)
		return err_set(why, n, -1, "bad size '%s' for vm.memory (expected e.g. 512M, 2G)",
			       val);
	if (v < (1u << 20) || v % (1u << 20))
		return err_set(why, n, -1,
			       "vm.memory must be a whole number of MiB, at least 1M "
			       "(got %s)",
			       val);
	vm->desc.memory_mib = v >> 20;
	return 0;
}

static int set_cpus(struct vm_cfg *vm, const char *val, char *why, size_t n)
{
	unsigned v = 0;
	const char *p = val;
	for (; *p >= '0' && *p <= '9' && v <= VM_MAX_CPUS; p++)
		v = v * 10 + (unsigned)(*p - '0');
	if (p == val || *p || v < 1 || v > VM_MAX_CPUS)
		return err_set(why, n, -1, "bad vm.cpus '%s' (expected a number from 1 to %u)", val,
			       VM_MAX_CPUS);
	vm->desc.cpus = v;
	return 0;
}

int config_vm_key(struct vm_cfg *vm, const char *key, const char *val, unsigned line,
		  char *why, size_t n)
{
	struct vm_desc *d = &vm->desc;
	if (!strcmp(key, "domain")) {
		if (!name_ok(val))
			return err_set(why, n, -1, "invalid domain name '%s' in vm.domain", val);
		memcpy(d->domain, val, strlen(val) + 1);
		vm->domain_line = line;
		return 0;
	}
	if (!strcmp(key, "disks")) {
		vm->disks_line = line;
		return set_disks(vm, val, why, n);
	}
	if (!strcmp(key, "cpus"))
		return set_cpus(vm, val, why, n);
	if (!strcmp(key, "memory"))
		return set_memory(vm, val, why, n);
	if (!strcmp(key, "firmware")) {
		if (strcmp(val, "bios") && strcmp(val, "uefi"))
			return err_set(why, n, -1, "bad vm.firmware '%s' (expected bios or uefi)",
				       val);
		d->firmware = strcmp(val, "uefi") ? VM_FIRMWARE_BIOS : VM_FIRMWARE_UEFI;
		return 0;
	}
	if (!strcmp(key, "nic")) {
		char reason[160];
		if (d->n_nics == VM_MAX_NICS)
			return err_set(why, n, -1, "too many NICs (at most %d)", VM_MAX_NICS);
		if (vm_nic_parse(val, &d->nics[d->n_nics], reason, sizeof(reason)) < 0)
			return err_set(why, n, -1, "bad vm.nic '%s': %s", val, reason);
		vm->nic_line[d->n_nics++] = line;
		return 0;
	}
	return err_set(why, n, -1, "unknown key '%s' in [vm]", key);
}

int config_vm_close(const struct vm_cfg *vm, unsigned *line, char *why, size_t n)
{
	*line = vm->line;
	if (!vm->desc.domain[0])
		return err_set(why, n, -1, "vm '%s' has no domain (add 'domain = NAME')",
			       vm->desc.name);
	if (!vm->desc.n_disks)
		return err_set(why, n, -1,
			       "vm '%s' has no disks (add 'disks = EXPORT, ...' in boot "
			       "order)",
			       vm->desc.name);
	if (!vm->desc.memory_mib)
		return err_set(why, n, -1, "vm '%s' has no memory size (add e.g. 'memory = 2G')",
			       vm->desc.name);
	return 0;
}

static const struct domain_cfg *find_domain(const struct ferry_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_domains; i++)
		if (!strcmp(cfg->domains[i].name, name))
			return &cfg->domains[i];
	return NULL;
}

static int check_disks(const struct ferry_config *cfg, size_t v, unsigned *line, char *why,
		       size_t n)
{
	const struct vm_cfg *vm = &cfg->vms[v];
	const struct domain_cfg *dom = find_domain(cfg, vm->desc.domain);
	*line = vm->domain_line;
	if (!dom)
		return err_set(why, n, -1, "vm '%s': no [domain %s] in this file", vm->desc.name,
			       vm->desc.domain);
	*line = vm->disks_line;
	for (size_t i = 0; i < vm->desc.n_disks; i++) {
		const char *disk = vm->desc.disks[i];
		bool found = false;
		for (size_t j = 0; j < dom->n_disks && !found; j++)
			found = !strcmp(dom->disks[j].name, disk);
		if (!found)
			return err_set(why, n, -1,
				       "vm '%s': disk '%s' is not an export of domain '%s'",
				       vm->desc.name, disk, dom->name);
		for (size_t o = 0; o < v; o++)
			for (size_t j = 0; j < cfg->vms[o].desc.n_disks; j++)
				if (!strcmp(cfg->vms[o].desc.disks[j], disk))
					return err_set(why, n, -1,
						       "disk '%s' already belongs to vm '%s' "
						       "(line %u)",
						       disk, cfg->vms[o].desc.name,
						       cfg->vms[o].disks_line);
	}
	return 0;
}

/* MACs and static addresses of NIC k of VM v against every NIC before it */
static int check_nic(const struct ferry_config *cfg, size_t v, size_t k, unsigned *line,
		     char *why, size_t n)
{
	const struct vm_nic *a = &cfg->vms[v].desc.nics[k];
	*line = cfg->vms[v].nic_line[k];
	for (size_t o = 0; o <= v; o++) {
		const struct vm_cfg *other = &cfg->vms[o];
		for (size_t j = 0; j < (o < v ? other->desc.n_nics : k); j++) {
			const struct vm_nic *b = &other->desc.nics[j];
			char s[18];
			if (!memcmp(a->mac, b->mac, 6)) {
				vm_mac_format(a->mac, s);
				return err_set(why, n, -1,
					       "duplicate MAC %s (first used at line %u)", s,
					       other->nic_line[j]);
			}
			if (a->mode == VM_NIC_STATIC && b->mode == VM_NIC_STATIC &&
			    a->addr == b->addr) {
				vm_ipv4_format(a->addr, s);
				return err_set(why, n, -1,
					       "duplicate address %s (first used at line %u)", s,
					       other->nic_line[j]);
			}
		}
	}
	return 0;
}

int config_vms_check(const struct ferry_config *cfg, unsigned *line, char *why, size_t n)
{
	for (size_t v = 0; v < cfg->n_vms; v++) {
		if (check_disks(cfg, v, line, why, n) < 0)
			return -1;
		for (size_t k = 0; k < cfg->vms[v].desc.n_nics; k++)
			if (check_nic(cfg, v, k, line, why, n) < 0)
				return -1;
	}
	return 0;
}
