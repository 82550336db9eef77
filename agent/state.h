/* Per-domain states of the recovery site and the one pure function that moves between them
 * (docs/design.md section 4; docs/failover.md "States").
 *
 *   Protected ──plan──> RecoveryReady ──start planned|forced──> FailingOver ──done──> FailedOver
 *                            │  │                                   ▲
 *                            │  └─start continuous──> Rehydrating ──complete──┘
 *                            └──start test──> TestingFailover ──test-stop done──> (back)
 *   any operation that fails ──> Error (failed step and reason); from Error an operation
 *   may be started again (it resumes what is left) or a test cleaned up.
 *
 * A test failover remembers the state it started from (RecoveryReady or Rehydrating:
 * continuous rehydration goes on during a test) and returns to it after test-stop.
 *
 * The numbers are pinned: they are written in the journal (docs/journal-format.md) and
 * shown by the API and, later, in SNMP traps. FailingBack and ReadyForFailback are
 * reserved for the two-site timeline (failback, undo, permanent failover). */
#ifndef FERRY_AGENT_STATE_H
#define FERRY_AGENT_STATE_H

#include <stddef.h>

enum dom_state {
	DOM_PROTECTED = 0,		/* in the store; no plan yet */
	DOM_RECOVERY_READY = 1,		/* a valid plan is registered */
	DOM_REHYDRATING = 2,		/* continuous failover: disks kept at the newest point */
	DOM_FAILING_OVER = 3,		/* planned, forced or complete running */
	DOM_FAILED_OVER = 4,		/* the domain's VMs run at the recovery site */
	DOM_TESTING_FAILOVER = 5,	/* test copies running (or being started / stopped) */
	DOM_ERROR = 6,			/* an operation failed: see the failed step */
	DOM_FAILING_BACK = 7,		/* reserved (failback) */
	DOM_READY_FOR_FAILBACK = 8,	/* reserved (failback) */
};
#define DOM_STATE_COUNT 9

/* What an operator (or an operation's end) asks of a domain. */
enum dom_action {
	DA_PLAN,		/* register a valid plan */
	DA_PLANNED,		/* failover start --mode planned */
	DA_FORCED,		/* failover start --mode forced */
	DA_TEST,		/* failover start --mode test */
	DA_CONTINUOUS,		/* failover start --mode continuous */
	DA_COMPLETE,		/* failover complete (continuous) */
	DA_TEST_STOP,		/* failover test-stop */
	DA_OP_DONE,		/* the running operation finished (internal) */
	DA_OP_FAILED,		/* the running operation failed (internal) */
};
#define DOM_ACTION_COUNT 9

/* What a domain is: its state, and for a test (or an Error during one) the state the
 * test started from and returns to. */
struct dom_status {
	enum dom_state state;
	enum dom_state ret;		/* TestingFailover, or Error of a test: where to go back */
	enum dom_action failed;		/* Error: the action whose operation failed */
};

/* The pure transition: 0 and *next, or -EPERM when a is not allowed in cur->state (the
 * caller refuses the request naming cur->state). DA_OP_DONE / DA_OP_FAILED carry the
 * action whose operation ended in `op`. */
int dom_transition(const struct dom_status *cur, enum dom_action a, enum dom_action op,
		   struct dom_status *next);

/* "Protected", "RecoveryReady", ...; "?" for a value out of range. */
const char *dom_state_name(enum dom_state s);
/* The reverse: 0, or -EINVAL. */
int dom_state_parse(const char *s, enum dom_state *out);
/* "plan", "planned", "forced", "test", "continuous", "complete", "test-stop", ... */
const char *dom_action_name(enum dom_action a);
int dom_action_parse(const char *s, enum dom_action *out);

#endif
