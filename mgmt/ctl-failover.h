/* ferryctl failover ... and ferryctl plan validate (mgmt/ctl-failover.c). */
#ifndef FERRY_CTL_FAILOVER_H
#define FERRY_CTL_FAILOVER_H

int ctl_failover_main(int argc, char **argv);
int ctl_plan_main(int argc, char **argv);

#endif
