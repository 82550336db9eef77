/* `ferryctl domains --store URL --key-file P [--domain D] [--json]` (or -c FILE): the
 * protection domains in a repository, their VMs (as ferryd stored them), disks and sizes,
 * and the newest consistent point with its age (mgmt/ctl-domains.c). Exit 0, 1 (store or
 * repository failure, unknown --domain), 2 (bad usage). */
#ifndef FERRY_CTL_DOMAINS_H
#define FERRY_CTL_DOMAINS_H

int ctl_domains_main(int argc, char **argv);

#endif
