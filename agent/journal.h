/* The orchestration journal: one append-only, fsynced file per domain in the agent's
 * state_dir, from which the domain's state, registered plan and every operation (with its
 * steps) are rebuilt after a restart (format: docs/journal-format.md).
 *
 * A record is one line of JSON. The in-memory form (struct dom_record below) is changed
 * ONLY by applying records, the same function whether the record was just written or is
 * being replayed at start, so what a restarted agent rebuilds is exactly what the running
 * one had (minus bytes-done counters, which are kept in memory between records).
 *
 *   journal_write:  check the record against the state -> append the line -> fdatasync ->
 *                   apply it to the in-memory record
 *   journal_replay: apply each complete line in order (pure; fuzzed); a last line without
 *                   its newline is a torn write and is dropped (journal_open truncates it).
 *
 * The domain's state is never written as such: plan, op and end records each carry an
 * action (DA_PLAN, the operation's, DA_OP_DONE/DA_OP_FAILED) and applying them runs the
 * pure transition of agent/state.h. So the state is exactly what the operations say, a
 * refused action is refused by the same code that replays, and a crash between "the
 * operation began" and "the state changed" cannot happen.
 *
 * Not thread-safe: the agent serialises writers with its domain lock. */
#ifndef FERRY_AGENT_JOURNAL_H
#define FERRY_AGENT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/state.h"
#include "repo/repo.h"

#define JOURNAL_VERSION 1
#define JOURNAL_MAX_LINE (1u << 20)

/* Pinned names (written in the journal). */
enum step_state { STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED, STEP_SKIPPED };
enum op_result { OP_RUNNING, OP_DONE, OP_FAILED, OP_CANCELLED };

struct step {
	char *name;			/* "restore db/db-root", shown to people */
	char *kind;			/* "restore", "reip", ... (agent/op.h) */
	char *vm, *disk;		/* or NULL */
	size_t *after;			/* steps (indices) that must be done or skipped first */
	size_t n_after;
	enum step_state state;
	uint64_t start_ns, end_ns;	/* CLOCK_REALTIME; 0: not yet */
	uint64_t bytes_done, bytes_total;
	char *detail;			/* one line, or NULL */
	json_t *result;			/* what a later step or a redo needs (a JSON object), or NULL */
};

struct op {
	uint32_t id;			/* per domain, from 1 */
	enum dom_action action;		/* DA_PLANNED ... DA_TEST_STOP */
	char *point_spec;		/* as asked ("latest", "1.42", a time), or NULL */
	char *point;			/* resolved "EPOCH.SEQ" (NULL: a step decides it) */
	char *plan;			/* the plan's text as the operation started */
	json_t *vms;			/* the VM descriptions it works on (agent/vmjson.h) */
	uint64_t start_ns, end_ns;
	enum op_result result;
	char *reason;			/* OP_FAILED / OP_CANCELLED: why */
	char *failed_step;		/* OP_FAILED: the step that failed (NULL: none) */
	struct step *steps;
	size_t n_steps;
};

struct dom_record {
	char domain[REPO_NAME_MAX + 1];
	unsigned version;		/* of the journal's header; 0: none read yet */
	struct dom_status status;
	uint64_t state_ns;		/* when the state last changed */
	char *error_step, *error_reason;	/* DOM_ERROR */
	char *plan;			/* the registered plan's text, or NULL */
	struct op **ops;		/* in id order; an op never moves once applied */
	size_t n_ops;
};

void dom_record_release(struct dom_record *r);
/* Free n steps' members and the array (a step list being built, or an op's). */
void steps_free(struct step *s, size_t n);
/* The operation with this id, or NULL. */
struct op *dom_record_op(struct dom_record *r, uint32_t id);

const char *step_state_name(enum step_state s);
const char *op_result_name(enum op_result r);

/* ---- records (each builder returns a new JSON object, or NULL when out of memory) ---- */

json_t *jrec_plan(const char *text);
/* A new operation with its steps (the struct op's id, action, point_spec, point, plan, vms
 * and steps' name, kind, vm, disk, after; the steps start pending). */
json_t *jrec_op(const struct op *op);
/* A step's new state, with its bytes, detail and result as they are now. */
json_t *jrec_step(const struct op *op, size_t i, enum step_state st, uint64_t bytes_done,
		  uint64_t bytes_total, const char *detail, const json_t *result);
/* The end of an operation; OP_FAILED names the failed step (or NULL). */
json_t *jrec_end(const struct op *op, enum op_result res, const char *step, const char *reason);

/* Apply one record (pure). 0; -EPERM when the record's action is not allowed in the
 * domain's state ("domain D is S: ACTION is not allowed" in err); -EINVAL with the reason
 * in err; the record is then not applied at all. The record's `time` sets the times. */
int journal_apply(struct dom_record *r, const json_t *rec, char *err, size_t errlen);

/* Replay a whole journal text into *r (pure). 0; -EINVAL with "line N: reason" in err on a
 * record that does not apply (r then holds what was before it); *used is the length of
 * the complete lines (a torn last line is not counted). */
int journal_replay(const char *text, size_t len, struct dom_record *r, size_t *used,
		   char *err, size_t errlen);

/* ---- the file ---- */

struct journal;

/* Open (creating it with its header line when absent) the journal at path for domain,
 * replay it into *r, drop a torn last line. -errno / -EINVAL with the reason in err. */
int journal_open(const char *path, const char *domain, struct journal **out,
		 struct dom_record *r, char *err, size_t errlen);
/* Check rec against *r, append it, fdatasync, apply it. Takes ownership of rec. 0 or
 * -errno with the reason in err (nothing applied then). */
int journal_write(struct journal *j, struct dom_record *r, json_t *rec, char *err,
		  size_t errlen);
void journal_close(struct journal *j);
/* Lines in the file (for the crash tests' FERRY_AGENT_KILL_AT). */
uint64_t journal_lines(const struct journal *j);

#endif
