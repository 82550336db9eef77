/* `ferryctl reip`: Re-IP of a restored guest disk by hand, outside a failover (mgmt/
 * ctl-reip.c), with the library the agent uses (agent/reip.h):
 *
 *   ferryctl reip --image PATH [--format raw|vmdk] --rule 'FROM -> TO ...'...
 *                 (--nic 'NETWORK MAC static ADDR/PREFIX ...'... | -c FILE --vm NAME)
 *   ferryctl reip --cidata SEED.iso --rule ... (--nic ...| -c FILE --vm NAME)
 *
 * The first edits the guest's network configuration inside the image and prints what it
 * changed in which file; the second writes a NoCloud seed for a cloud-init guest. Exit 0,
 * 1 (the image or its configuration could not be read or edited), 2 (bad usage). */
#ifndef FERRY_CTL_REIP_H
#define FERRY_CTL_REIP_H

int ctl_reip_main(int argc, char **argv);

#endif
