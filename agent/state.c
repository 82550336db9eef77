/* The domain state machine (agent/state.h): a pure function, table-free because each
 * action has its own short rule and the rules read better as code than as a matrix. */
#include "agent/state.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/banned.h"

static const char *const state_names[DOM_STATE_COUNT] = {
	[DOM_PROTECTED] = "Protected",
	[DOM_RECOVERY_READY] = "RecoveryReady",
	[DOM_REHYDRATING] = "Rehydrating",
	[DOM_FAILING_OVER] = "FailingOver",
	[DOM_FAILED_OVER] = "FailedOver",
	[DOM_TESTING_FAILOVER] = "TestingFailover",
	[DOM_ERROR] = "Error",
	[DOM_FAILING_BACK] = "FailingBack",
	[DOM_READY_FOR_FAILBACK] = "ReadyForFailback",
};

static const char *const action_names[DOM_ACTION_COUNT] = {
	[DA_PLAN] = "plan",
	[DA_PLANNED] = "planned",
	[DA_FORCED] = "forced",
	[DA_TEST] = "test",
	[DA_CONTINUOUS] = "continuous",
	[DA_COMPLETE] = "complete",
	[DA_TEST_STOP] = "test-stop",
	[DA_OP_DONE] = "done",
	[DA_OP_FAILED] = "failed",
};

const char *dom_state_name(enum dom_state s)
{
	return (unsigned)s < DOM_STATE_COUNT ? state_names[s] : "?";
}

int dom_state_parse(const char *s, enum dom_state *out)
{
	for (unsigned i = 0; i < DOM_STATE_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum dom_state)i;
			return 0;
		}
	return -EINVAL;
}

const char *dom_action_name(enum dom_action a)
{
	return (unsigned)a < DOM_ACTION_COUNT ? action_names[a] : "?";
}

int dom_action_parse(const char *s, enum dom_action *out)
{
	for (unsigned i = 0; i < DOM_ACTION_COUNT; i++)
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum dom_action)i;
			return 0;
		}
	return -EINVAL;
}

static bool failed_test(const struct dom_status *c)
{
	return c->state == DOM_ERROR && (c->failed == DA_TEST || c->failed == DA_TEST_STOP);
}

static int to(struct dom_status *next, enum dom_state s)
{
	next->state = s;
	return 0;
}

int dom_transition(const struct dom_status *cur, enum dom_action a, enum dom_action op,
		   struct dom_status *next)
{
	enum dom_state s = cur->state;
	*next = *cur;
	switch (a) {
	case DA_PLAN:
		if (s == DOM_PROTECTED || s == DOM_RECOVERY_READY)
			return to(next, DOM_RECOVERY_READY);
		if (s == DOM_REHYDRATING || s == DOM_ERROR)
			return 0;	/* a better plan for what comes next */
		break;
	case DA_PLANNED:
	case DA_FORCED:
		/* a failed failover is retried; a failed test is cleaned up first */
		if (s == DOM_RECOVERY_READY || (s == DOM_ERROR && !failed_test(cur)))
			return to(next, DOM_FAILING_OVER);
		break;
	case DA_TEST:
		if (s == DOM_RECOVERY_READY || s == DOM_REHYDRATING) {
			next->ret = s;
			return to(next, DOM_TESTING_FAILOVER);
		}
		if (s == DOM_ERROR && cur->failed == DA_TEST)
			return to(next, DOM_TESTING_FAILOVER);
		break;
	case DA_CONTINUOUS:
		if (s == DOM_RECOVERY_READY || (s == DOM_ERROR && cur->failed == DA_CONTINUOUS))
			return to(next, DOM_REHYDRATING);
		break;
	case DA_COMPLETE:
		if (s == DOM_REHYDRATING ||
		    (s == DOM_ERROR && (cur->failed == DA_COMPLETE || cur->failed == DA_CONTINUOUS)))
			return to(next, DOM_FAILING_OVER);
		break;
	case DA_TEST_STOP:
		if (s == DOM_TESTING_FAILOVER || failed_test(cur))
			return to(next, DOM_TESTING_FAILOVER);
		break;
	case DA_OP_DONE:
		if (s == DOM_FAILING_OVER &&
		    (op == DA_PLANNED || op == DA_FORCED || op == DA_COMPLETE))
			return to(next, DOM_FAILED_OVER);
		if (s == DOM_TESTING_FAILOVER && op == DA_TEST_STOP)
			return to(next, cur->ret);
		return 0;	/* e.g. a test's start finished: its copies run on */
	case DA_OP_FAILED:
		next->failed = op;
		return to(next, DOM_ERROR);
	}
	return -EPERM;
}
