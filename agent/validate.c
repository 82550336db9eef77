/* A plan checked through and through (agent/validate.h). */
#include "agent/validate.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/banned.h"

int plan_validate(const char *file, const char *text, const struct ferry_config *cfg,
		  struct repo *r, enum plan_mode mode, const char *point,
		  struct plan_checked *c, struct problems *pr)
{
	memset(c, 0, sizeof(*c));
	size_t before = pr->n;
	if (plan_parse(file, text, strlen(text), &c->plan, pr) < 0)
		return -EINVAL;
	c->have_plan = true;
	char err[512];
	const char *spec = point ? point : "latest";
	if (repo_resolve_point(r, c->plan.domain, spec, &c->point, err, sizeof(err)) == 0)
		c->have_point = true;
	else if (mode == PLAN_FORCED || mode == PLAN_TEST || point)
		problems_add(pr, "point %s of domain %s: %s", spec, c->plan.domain, err);
	/* an id can name a seed or resync point, whose disks may be torn: a failover restores
	 * only crash-consistent points (restore_disk would refuse it at the first disk) */
	if (c->have_point && !(c->point.flags & POINT_CONSISTENT))
		problems_add(pr, "point %s of domain %s is not crash-consistent (a seed or resync "
			     "point); choose a consistent one (ferryctl points)", spec,
			     c->plan.domain);
	bool at_point = c->have_point && (mode == PLAN_FORCED || mode == PLAN_TEST);
	int rc = repo_vms_get(r, c->plan.domain, at_point ? c->point.time_ns : UINT64_MAX, &c->set,
			      err, sizeof(err));
	if (rc < 0) {
		if (rc == -ENOENT)
			problems_add(pr, "the store has no VM descriptions of domain %s (describe its "
				     "VMs with [vm NAME] sections in ferryd's configuration)",
				     c->plan.domain);
		else
			problems_add(pr, "VM descriptions of domain %s: %s", c->plan.domain, err);
		return -EINVAL;
	}
	c->have_set = true;
	/* the site is checked even when the plan does not fit the domain: every problem */
	c->have_view = plan_check_domain(&c->plan, &c->set, mode, &c->view, pr) == 0;
	plan_check_site(&c->plan, &c->set, cfg, r, c->have_point ? &c->point : NULL, mode, pr);
	return pr->n > before || pr->oom ? -EINVAL : 0;
}

void plan_checked_release(struct plan_checked *c)
{
	if (c->have_view)
		plan_view_release(&c->view);
	if (c->have_set)
		vm_set_release(&c->set);
	if (c->have_plan)
		plan_release(&c->plan);
	memset(c, 0, sizeof(*c));
}
