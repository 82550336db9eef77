/* ferry-agent's insides, shared by agent.c (domains, verbs), agent-views.c (JSON),
 * op-run.c (the engine) and the step-*.c files (one step kind each).
 *
 *   API thread ──agent_start──> journal op record ──runner_start──> runner thread
 *                                                                   │ for each runnable step:
 *                                                                   │   journal "running"
 *                                                                   └─> step thread: kind fn
 *                                                                         journal done/failed
 *
 * Locking: one mutex per agent (a->lock) guards the domain list, every dom_record and
 * journal, and the runners' scheduling state; the runners' condition variable uses it.
 * Step functions run WITHOUT it and reach shared state only through the step_ctx helpers.
 * The driver of an operation has its own mutex (drivers are single-threaded, driver.h).
 * The repository handle is shared (repo.h: concurrent readers are fine); a->repo_lock
 * guards only opening it. Lock order: a->lock, then a driver's lock, never the reverse. */
#ifndef FERRY_AGENT_INTERNAL_H
#define FERRY_AGENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/agent.h"
#include "agent/driver.h"
#include "agent/op.h"
#include "agent/site.h"

#define AGENT_MAX_OBSERVERS 8

struct runner;

struct domain {
	char name[REPO_NAME_MAX + 1];
	char *dir;			/* state_dir/domains/NAME */
	struct journal *j;
	struct dom_record rec;
	struct runner *runners;		/* operations running now */
};

struct agent {
	const struct ferry_config *cfg;
	pthread_mutex_t lock;
	struct domain **doms;
	size_t n_doms;
	struct agent_observer obs[AGENT_MAX_OBSERVERS];
	size_t n_obs;
	bool stopping;
	uint64_t kill_at;		/* tests: SIGKILL once a journal has this many lines */
	pthread_mutex_t repo_lock;
	struct repo *repo;
};

/* agent.c */
/* The domain, creating its directory and journal when create; NULL (err says why). */
struct domain *agent_domain(struct agent *a, const char *name, bool create, char *err,
			    size_t errlen);
/* The observer that sends the SNMP notifications (agent/notify-observer.c). */
extern const struct agent_observer agent_notifier;

/* Journal a record for d (lock held); tells the observers. Takes rec. */
int dom_write(struct agent *a, struct domain *d, json_t *rec, char *err, size_t errlen);
/* The repository, opened on first use. */
int agent_repo(struct agent *a, struct repo **out, char *err, size_t errlen);
/* Pick up what the store gained (new points' chunks); one refresh at a time. */
void agent_repo_refresh(struct agent *a);
/* op-run.c */
/* Start (or resume) running operation op of d (lock held). */
int runner_start(struct agent *a, struct domain *d, struct op *op, char *err, size_t errlen);
/* Stop every runner of d where it is (lock held; releases it while joining). */
void runners_stop_all(struct agent *a, struct domain *d);

/* ---- what a step function gets ---- */

struct step_ctx {
	struct agent *a;
	struct runner *run;
	const char *domain;
	const struct op *op;		/* immutable fields only (kind, vm, disk, plan) */
	size_t idx;
	const struct step *st;
	const struct plan *plan;
	const struct vm_set *set;
	const struct plan_view *view;
	const struct plan_vm_view *vm;	/* the step's VM, or NULL */
	const char *disk;		/* the step's disk, or NULL */
	enum op_place place;		/* test copies or the failover's disks */
	struct drv_handle *drv;		/* the recovery site's driver */
	const char *op_dir;		/* state_dir/domains/D/ops/ID (serial logs) */
	json_t *prev;			/* the step's result from a run before a crash, or NULL */
	/* outputs */
	char detail[512];		/* the closing detail line */
	json_t *result;			/* set to keep something for a redo / later steps */
	bool skipped;			/* the step had nothing to do */
};

typedef int step_fn(struct step_ctx *c, char *err, size_t errlen);

/* helpers for step functions (op-run.c) */
bool step_cancelled(struct step_ctx *c);
/* Sleep ms, in short slices; -ECANCELED when the operation is being stopped. */
int step_sleep(struct step_ctx *c, uint32_t ms);
/* The live progress: bytes and a detail line (shown by status; journaled at the end). */
void step_progress(struct step_ctx *c, uint64_t done, uint64_t total);
void step_live(struct step_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The operation's point, resolved in the repository. -ENOENT while unknown. */
int step_point(struct step_ctx *c, struct point_info *p, char *err, size_t errlen);
/* The result of the operation's first step of kind (for vm, when not NULL), or NULL
 * (lock taken inside; the returned value is a new reference). */
json_t *step_result_of(struct step_ctx *c, const char *kind, const char *vm);
/* Replace the step's result as shown live (a long-running step's state between records;
 * takes res). */
void step_live_result(struct step_ctx *c, json_t *res);
/* DIR/VM-cidata.img: a VM's cloud-init seed (step-disk.c), malloc'd. */
char *step_cidata_path(const struct plan *p, enum op_place where, const char *vm);
/* mkdir -p (0700 for the agent's own directories). */
int mkdir_p(const char *path, mode_t mode);

/* The step kinds (step-*.c) */
step_fn step_restore, step_reip, step_power_on, step_ready, step_source_off,
	step_final_point, step_stop_shipping, step_networks, step_test_network,
	step_rehydrate, step_rehydrate_final, step_test_remove, step_test_delete,
	step_test_net_remove;

#endif
