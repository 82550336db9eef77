/* ferry-agent's core: the domains it knows, their journals, and the verbs of the API
 * (docs/api.md). Transport-free: agent/api.c turns HTTP requests into these calls, and a
 * later web UI or TLS listener calls the same ones.
 *
 *   agent_open      read every journal under state_dir/domains/, resume the operations
 *                   that had not ended (a crash or a kill -9 left them running)
 *   agent_validate  a plan against the store's VM descriptions and the site (dry run)
 *   agent_plan_set  register a plan (Protected -> RecoveryReady)
 *   agent_start     planned | forced | test | continuous, for one or several plans at once
 *   agent_complete  continuous: apply what is pending, Re-IP, start
 *   agent_test_stop remove the test's VMs, copies and network
 *   agent_*_json    what the API shows
 *
 * Errors: -errno with a one-line reason. -EPERM: the action is not allowed in the
 * domain's state (the reason names the state); -EINVAL with problems: the plan is wrong
 * (every problem listed); -ENOENT: no such domain.
 *
 * Observers (SNMP, later the web UI's live view) are told of every state change and of
 * every step that starts, ends or fails; they are called with the agent's lock held, so
 * they must be quick and must not call back into the agent. */
#ifndef FERRY_AGENT_AGENT_H
#define FERRY_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/journal.h"
#include "agent/plan.h"
#include "common/config.h"

struct agent;

struct agent_observer {
	/* The domain's state changed (from -> to). */
	void (*state)(void *arg, const char *domain, const struct dom_status *from,
		      const struct dom_status *to, const struct dom_record *rec);
	/* A step started (STEP_RUNNING), ended (DONE/SKIPPED) or failed (FAILED). */
	void (*step)(void *arg, const char *domain, const struct op *op, size_t step);
	/* An operation began (result OP_RUNNING) or ended. */
	void (*op)(void *arg, const char *domain, const struct op *op);
	void *arg;
};

/* cfg is borrowed and must outlive the agent. Creates state_dir if needed. */
int agent_open(const struct ferry_config *cfg, struct agent **out, char *err, size_t errlen);
/* Stop the operation threads where they are (their journals say where: the next start
 * resumes them) and free everything. */
void agent_close(struct agent *a);
/* At most 8 observers. -ENOSPC beyond. */
int agent_add_observer(struct agent *a, const struct agent_observer *o);

struct start_req {
	enum dom_action action;		/* DA_PLANNED, DA_FORCED, DA_TEST, DA_CONTINUOUS */
	const char *point;		/* "latest", "EPOCH.SEQ", a time; NULL: latest */
	const char *const *plans;	/* plan texts */
	size_t n_plans;
};

struct started {
	char domain[REPO_NAME_MAX + 1];
	uint32_t op;
};

/* Dry run: 0 when the plan has no problem (for mode, or all modes with PLAN_ANY); -EINVAL
 * with every problem in *pr. */
int agent_validate(struct agent *a, const char *plan, enum plan_mode mode, struct problems *pr);
/* Register a plan: -EINVAL with problems, -EPERM in a state that does not take one. */
int agent_plan_set(struct agent *a, const char *plan, struct problems *pr, char *domain_out);
/* Start one operation per plan, all or none: every plan is checked (problems of all
 * plans in *pr, each prefixed with the domain) and every domain's state must allow the
 * action before any starts. out[n_plans] gets each domain and operation id. */
int agent_start(struct agent *a, const struct start_req *q, struct started *out,
		struct problems *pr);
int agent_complete(struct agent *a, const char *domain, const char *point, uint32_t *op,
		   char *err, size_t errlen);
int agent_test_stop(struct agent *a, const char *domain, uint32_t *op, char *err,
		    size_t errlen);

/* ---- views (new JSON values, NULL when out of memory) ---- */

json_t *agent_info_json(struct agent *a);
/* Every domain: those with a journal and those the store has. */
json_t *agent_domains_json(struct agent *a);
/* One domain with its operations (all, or only the newest with latest_only); a domain
 * only the store has is Protected. -ENOENT: neither has it. */
int agent_domain_json(struct agent *a, const char *domain, bool latest_only, json_t **out);
/* The newest test failover (and its test-stop): operations and the guests' serial logs. */
int agent_report_json(struct agent *a, const char *domain, json_t **out, char *err,
		      size_t errlen);
/* One operation. -ESRCH: no such domain; -ENOENT: no such operation. */
int agent_op_json(struct agent *a, const char *domain, uint32_t id, json_t **out);

/* JSON of an operation as the API shows it (journal form plus live bytes). */
json_t *op_json(const struct op *op);

#endif
