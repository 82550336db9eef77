/* ferryd stores each protected domain's VM descriptions ([vm NAME] sections) in the
 * repository before shipping points, so that a recovery site finds them with the points
 * (repo/vmdesc.h; docs/repo-format.md section 14). */
#ifndef FERRY_SHIP_VMS_H
#define FERRY_SHIP_VMS_H

struct repo;
struct ferry_config;

/* For every [domain] of cfg: store the set of its [vm] sections unless the newest stored
 * set is the same. Logs what it stored. 0, or -1 (logged): ferryd then does not start,
 * since points cut now would lack their VM descriptions. */
int ship_store_vms(struct repo *r, const struct ferry_config *cfg);

#endif
