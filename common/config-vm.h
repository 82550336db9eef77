/* The [vm NAME] sections of ferry.conf (common/config-vm.c): the parser in config.c hands
 * each key of a [vm] section here and calls the checks when the section and the file
 * end. Every function returns 0, or -1 with a reason (no FILE:LINE prefix) in why; where
 * the line of the error is not the current one, *line is set to it. */
#ifndef FERRY_CONFIG_VM_H
#define FERRY_CONFIG_VM_H

#include <stddef.h>

#include "common/config.h"

/* A new [vm NAME] section (cfg->vms already holds the earlier ones). */
int config_vm_open(const struct ferry_config *cfg, struct vm_cfg *vm, const char *name,
		   unsigned line, char *why, size_t n);
/* key = val at line: domain, disks, cpus, memory, firmware, nic. */
int config_vm_key(struct vm_cfg *vm, const char *key, const char *val, unsigned line,
		  char *why, size_t n);
/* The section is complete: required keys are there. */
int config_vm_close(const struct vm_cfg *vm, unsigned *line, char *why, size_t n);
/* The whole file is read: each VM's domain exists and has its disks; no disk belongs to
 * two VMs; MACs and static addresses are unique. */
int config_vms_check(const struct ferry_config *cfg, unsigned *line, char *why, size_t n);

#endif
