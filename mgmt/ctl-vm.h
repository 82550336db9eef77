/* `ferryctl vm import --libvirt URI NAME [-c FILE] [--domain D] [--name VM]
 * [--disk TARGET=EXPORT]... [--nic MAC='static ADDR/PREFIX ...']... [-o FILE]`: write a
 * [vm NAME] section for ferry.conf from a libvirt domain (mgmt/ctl-vm.c; the mapping rules
 * in agent/vm-import.h). Exit 0, 1 (libvirt or write failure, a disk without an export),
 * 2 (bad usage or configuration). */
#ifndef FERRY_CTL_VM_H
#define FERRY_CTL_VM_H

int ctl_vm_main(int argc, char **argv);

#endif
