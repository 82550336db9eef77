/* ferry-agent's SNMP notifications (docs/snmp.md "For ferry-agent"): an agent observer
 * (agent/agent.h) that turns what the journal records into notify_event() calls. The
 * observer runs under the agent's lock, and notify_event() only queues (common/notify.h),
 * so a slow or dead receiver never slows an operation; without [snmp] receivers the
 * events go nowhere.
 *
 *   an operation begins       ferry<Op>Started        "forced failover of D started ..."
 *   a step is done or skipped ferry<Op>StepDone       "step NAME done: DETAIL"
 *   a step fails              ferry<Op>StepFailed     "step NAME failed: REASON"
 *   an operation ends         ferry<Op>Completed      (done, or cancelled: superseded)
 *                             ferry<Op>StepFailed     (failed outside any step)
 *   a state change            ferryDomainStateChanged "FROM -> TO" (Error: step, reason)
 * <Op> is Failover for planned, forced, continuous and complete, TestFailover for test
 * and test-stop. A step that starts sends nothing (the MIB has no such notification). */
#include "agent/agent-internal.h"

#include <string.h>

#include "common/notify.h"
#include "common/banned.h"

static enum notify_op op_kind(enum dom_action a)
{
	return a == DA_TEST || a == DA_TEST_STOP ? NOTIFY_OP_TEST_FAILOVER : NOTIFY_OP_FAILOVER;
}

static void on_state(void *arg, const char *domain, const struct dom_status *from,
		     const struct dom_status *to, const struct dom_record *rec)
{
	(void)arg;
	if (from->state == to->state)
		return;
	if (to->state == DOM_ERROR)
		notify_event(NOTIFY_DOMAIN_STATE_CHANGED, domain, "%s -> Error: %s%s%s",
			     dom_state_name(from->state), rec->error_step ? rec->error_step : "",
			     rec->error_step ? ": " : "",
			     rec->error_reason ? rec->error_reason : "");
	else
		notify_event(NOTIFY_DOMAIN_STATE_CHANGED, domain, "%s -> %s",
			     dom_state_name(from->state), dom_state_name(to->state));
}

static void on_step(void *arg, const char *domain, const struct op *op, size_t i)
{
	(void)arg;
	const struct step *s = &op->steps[i];
	const char *d = s->detail ? s->detail : "";
	if (s->state == STEP_FAILED)
		notify_event(notify_op_type(op_kind(op->action), NOTIFY_PHASE_STEP_FAILED), domain,
			     "%s op %u: step %s failed: %s", dom_action_name(op->action), op->id,
			     s->name, d);
	else if (s->state == STEP_DONE || s->state == STEP_SKIPPED)
		notify_event(notify_op_type(op_kind(op->action), NOTIFY_PHASE_STEP_DONE), domain,
			     "%s op %u: step %s %s%s%s", dom_action_name(op->action), op->id,
			     s->name, step_state_name(s->state), d[0] ? ": " : "", d);
}

static void on_op(void *arg, const char *domain, const struct op *op)
{
	(void)arg;
	enum notify_op k = op_kind(op->action);
	const char *act = dom_action_name(op->action);
	if (op->result == OP_RUNNING)
		notify_event(notify_op_type(k, NOTIFY_PHASE_STARTED), domain,
			     "%s op %u of domain %s started: %zu steps, point %s", act, op->id,
			     domain, op->n_steps, op->point ? op->point : op->point_spec ?
			     op->point_spec : "latest");
	else if (op->result == OP_FAILED && !op->failed_step)
		notify_event(notify_op_type(k, NOTIFY_PHASE_STEP_FAILED), domain,
			     "%s op %u failed: %s", act, op->id, op->reason ? op->reason : "");
	else if (op->result == OP_DONE || op->result == OP_CANCELLED)
		notify_event(notify_op_type(k, NOTIFY_PHASE_COMPLETED), domain,
			     "%s op %u of domain %s %s%s%s", act, op->id, domain,
			     op->result == OP_DONE ? "completed" : "cancelled",
			     op->reason ? ": " : "", op->reason ? op->reason : "");
	/* OP_FAILED at a step: that step's StepFailed said it */
}

const struct agent_observer agent_notifier = { on_state, on_step, on_op, NULL };
