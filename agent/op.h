/* Operations: the step lists of the failover modes (docs/failover.md) and the engine that
 * runs them.
 *
 * An operation is a DAG of steps, written whole into the journal when it begins (agent/
 * journal.h): each step names the steps it waits for. The engine (op-run.c) starts every
 * step whose predecessors are done or skipped, in list order (the list is in boot order,
 * so the first boot group's disks are restored first), at most `parallel` restores at a
 * time, each step on its own thread. A step is a function of one kind (step-*.c), looked
 * up in a table; every kind is idempotent or records in its result what a redo needs,
 * because after a crash the steps that were running are simply run again.
 *
 *   planned     source-power-off VM (reverse boot order) -> final-point -> stop-shipping
 *               -> restore VM/DISK -> reip VM -> power-on VM -> ready VM   (+ networks)
 *   forced      networks; restore VM/DISK -> reip VM -> power-on VM -> ready VM
 *   test        test-network; restore (copies) -> reip -> power-on (test network) -> ready
 *   continuous  rehydrate (runs until complete)
 *   complete    rehydrate-final, networks -> reip VM -> power-on VM -> ready VM
 *   test-stop   test-remove VM -> test-delete-disks, test-remove-network
 * A VM's power-on also waits for the ready step of every VM it waits for.
 *
 * To add a step kind: 1. write its function in a step-*.c file; 2. add a row to
 * step_kinds (op-run.c); 3. add it to the builder below and to docs/failover.md. */
#ifndef FERRY_AGENT_OP_H
#define FERRY_AGENT_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/journal.h"
#include "agent/plan.h"

/* Step kinds (pinned: written in the journal). */
#define SK_SOURCE_OFF "source-power-off"
#define SK_FINAL_POINT "final-point"
#define SK_STOP_SHIPPING "stop-shipping"
#define SK_NETWORKS "networks"
#define SK_TEST_NETWORK "test-network"
#define SK_RESTORE "restore"
#define SK_REHYDRATE "rehydrate"
#define SK_REHYDRATE_FINAL "rehydrate-final"
#define SK_REIP "reip"
#define SK_POWER_ON "power-on"
#define SK_READY "ready"
#define SK_TEST_REMOVE "test-remove"
#define SK_TEST_DELETE "test-delete-disks"
#define SK_TEST_NET_REMOVE "test-remove-network"

/* Build the steps of an operation of action a (DA_PLANNED ... DA_TEST_STOP) for the plan
 * and its view of the domain (pure). Fills op->steps / n_steps; -ENOMEM. */
int op_build_steps(enum dom_action a, const struct plan *p, const struct plan_view *v,
		   struct op *op);

/* The point the operation works at: op->point, or the result of its final-point or
 * rehydrate-final step once done; NULL while unknown. */
const char *op_point(const struct op *op);

/* Which operation supersedes which: a complete ends the rehydration it completes, a
 * test-stop the test it stops. */
bool op_supersedes(enum dom_action later, enum dom_action earlier);

/* Where the operation's files go. */
enum op_place { PLACE_FAILOVER, PLACE_TEST };
/* DIR/DISK.img (raw) or DIR/DISK.vmdk, malloc'd. */
char *op_disk_path(const struct plan *p, enum op_place where, const char *disk);
/* The name a recovered VM gets at the recovery site: vm_prefix + name, with "test-" before
 * the name in a test (out of VM_NAME_MAX + 1 bytes). */
void op_vm_name(const struct plan *p, enum op_place where, const char *vm, char *out);

#endif
