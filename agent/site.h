/* The recovery site as a plan sees it: the hypervisor driver it uses and the checks that
 * need the site itself (agent/plan.h has the pure ones). Shared by ferry-agent and
 * `ferryctl plan validate`, which runs them without an agent. */
#ifndef FERRY_AGENT_SITE_H
#define FERRY_AGENT_SITE_H

#include <pthread.h>

#include "agent/driver.h"
#include "agent/plan.h"
#include "common/config.h"

/* An opened driver with the lock that serialises its calls (driver.h: one thread at a
 * time). */
struct drv_handle {
	const struct driver_ops *ops;
	struct driver *d;
	pthread_mutex_t lock;
};

/* Open the driver a plan names (its own [hypervisor] section, else cfg's [hypervisor];
 * either may be absent: -ENOENT "no hypervisor driver configured"). Does not contact the
 * hypervisor. 0 or -errno with the reason in err. */
int drv_open(const struct ferry_config *cfg, const struct plan_driver *pd,
	     struct drv_handle *h, char *err, size_t errlen);
void drv_close(struct drv_handle *h);

/* Everything about the site (v: the domain's VMs): the driver answers (probe), every
 * target network exists
 * there, the datastore (the test datastore for PLAN_TEST) exists or can be created and
 * has room for the disks at point p (their data bytes, less what files already there
 * hold), and for a planned failover the protected site's ferryd answers. Each problem
 * one line in *pr; 0 when none. r and p may be NULL (then the room is not checked). */
int plan_check_site(const struct plan *p, const struct vm_set *v,
		    const struct ferry_config *cfg, struct repo *r, const struct point_info *pt,
		    enum plan_mode mode, struct problems *pr);

#endif
