/* A plan checked through and through: parsed, its point resolved, the domain's VM
 * descriptions read from the store, checked against them and against the site. One
 * implementation for ferry-agent (before an operation starts, and for the API's dry run)
 * and for `ferryctl plan validate` without an agent. */
#ifndef FERRY_AGENT_VALIDATE_H
#define FERRY_AGENT_VALIDATE_H

#include "agent/plan.h"
#include "agent/site.h"

struct plan_checked {
	struct plan plan;
	struct vm_set set;
	struct plan_view view;
	struct point_info point;	/* have_point: the point asked for (or the newest) */
	bool have_plan, have_set, have_view, have_point;
};

/* Check the plan text for mode (against the repository as the caller last refreshed it:
 * repo_refresh first to see the newest points' chunks). point: the point asked for (NULL: the newest consistent
 * one; it must exist for forced and test, and is used for the datastore's room). The VM
 * descriptions are those stored at the point's time for forced and test, else the newest.
 * cfg gives the default [hypervisor] (may be NULL). Every problem goes to pr; 0 when
 * there is none. Release c with plan_checked_release either way. */
int plan_validate(const char *file, const char *text, const struct ferry_config *cfg,
		  struct repo *r, enum plan_mode mode, const char *point,
		  struct plan_checked *c, struct problems *pr);
void plan_checked_release(struct plan_checked *c);

#endif
