/* ferryctl rehydrate: continuous rehydration of a domain's disks into monolithicFlat VMDKs
 * at the newest consistent point (mgmt/ctl-rehydrate.c says how and why). Returns the
 * exit code: 0 ok, 1 failure, 2 bad usage. */
#ifndef FERRY_CTL_REHYDRATE_H
#define FERRY_CTL_REHYDRATE_H

int ctl_rehydrate_main(int argc, char **argv);

#endif
