/* The operation engine (agent/op.h): one runner thread per running operation, one thread
 * per running step.
 *
 * The runner only schedules: under the agent's lock it journals a step "running" and
 * hands it to a new thread, then waits on its condition variable until a step ends. A
 * step that was "running" in the journal when the agent died is simply run again: every
 * kind is idempotent (op.h). When a step fails the runner asks the others to stop, waits
 * for them, and ends the operation failed, naming the step; when all are done or skipped
 * it ends it done. When the agent stops (or a later operation supersedes this one) the
 * runner stops its steps and leaves the journal as it is: interrupted steps stay
 * "running", to be redone by whoever resumes. */
#include "agent/agent-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/site.h"
#include "agent/vmjson.h"
#include "common/log.h"
#include "common/util.h"
#include "common/banned.h"

struct runner {
	struct agent *a;
	struct domain *d;
	struct op *op;
	pthread_t thread;
	pthread_cond_t cond;
	bool cancel;		/* superseded: stop, journal nothing more */
	bool shutdown;		/* the agent stops: the same */
	bool stop_steps;	/* a step failed: the others stop */
	bool finished;		/* the thread has left its loop */
	bool claimed;		/* someone is joining it: only they may free it */
	size_t running, restores;
	bool *active;		/* per step: a thread runs it now */
	size_t failed;		/* the first failed step, or SIZE_MAX */
	char reason[512];
	struct plan plan;
	struct vm_set set;
	struct plan_view view;
	struct drv_handle drv;
	bool have_plan, have_set, have_view, have_drv;
	char *op_dir;
	struct runner *next;
};

static const struct {
	const char *kind;
	step_fn *fn;
} step_kinds[] = {
	{ SK_SOURCE_OFF, step_source_off },
	{ SK_FINAL_POINT, step_final_point },
	{ SK_STOP_SHIPPING, step_stop_shipping },
	{ SK_NETWORKS, step_networks },
	{ SK_TEST_NETWORK, step_test_network },
	{ SK_RESTORE, step_restore },
	{ SK_REHYDRATE, step_rehydrate },
	{ SK_REHYDRATE_FINAL, step_rehydrate_final },
	{ SK_REIP, step_reip },
	{ SK_POWER_ON, step_power_on },
	{ SK_READY, step_ready },
	{ SK_TEST_REMOVE, step_test_remove },
	{ SK_TEST_DELETE, step_test_delete },
	{ SK_TEST_NET_REMOVE, step_test_net_remove },
};

static step_fn *kind_fn(const char *kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(step_kinds); i++)
		if (!strcmp(step_kinds[i].kind, kind))
			return step_kinds[i].fn;
	return NULL;
}

static enum plan_mode mode_of(enum dom_action a)
{
	switch (a) {
	case DA_PLANNED: return PLAN_PLANNED;
	case DA_FORCED: return PLAN_FORCED;
	case DA_TEST: case DA_TEST_STOP: return PLAN_TEST;
	default: return PLAN_CONTINUOUS;
	}
}

/* ---- helpers for step functions ---- */

static bool flag(const bool *b)
{
	return __atomic_load_n(b, __ATOMIC_RELAXED);
}

static void set_flag(bool *b)
{
	__atomic_store_n(b, true, __ATOMIC_RELAXED);
}

bool step_cancelled(struct step_ctx *c)
{
	struct runner *r = c->run;
	return flag(&r->cancel) || flag(&r->shutdown) || flag(&r->stop_steps);
}

int step_sleep(struct step_ctx *c, uint32_t ms)
{
	uint64_t end = now_mono_ns() + (uint64_t)ms * 1000000;
	for (;;) {
		if (step_cancelled(c))
			return -ECANCELED;
		uint64_t now = now_mono_ns();
		if (now >= end)
			return 0;
		uint64_t left = MIN(end - now, 100000000ull);
		struct timespec ts = { 0, (long)left };
		nanosleep(&ts, NULL);
	}
}

void step_progress(struct step_ctx *c, uint64_t done, uint64_t total)
{
	pthread_mutex_lock(&c->a->lock);
	struct step *s = &c->op->steps[c->idx];
	s->bytes_done = done;
	s->bytes_total = total;
	pthread_mutex_unlock(&c->a->lock);
}

void step_live(struct step_ctx *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char *d = strdup(buf);
	if (!d)
		return;
	pthread_mutex_lock(&c->a->lock);
	struct step *s = &c->op->steps[c->idx];
	free(s->detail);
	s->detail = d;
	pthread_mutex_unlock(&c->a->lock);
}

json_t *step_result_of(struct step_ctx *c, const char *kind, const char *vm)
{
	json_t *res = NULL;
	pthread_mutex_lock(&c->a->lock);
	for (size_t i = 0; i < c->op->n_steps && !res; i++) {
		const struct step *s = &c->op->steps[i];
		if (!strcmp(s->kind, kind) && s->result && (!vm || (s->vm && !strcmp(s->vm, vm))))
			res = json_deep_copy(s->result);
	}
	pthread_mutex_unlock(&c->a->lock);
	return res;
}

void step_live_result(struct step_ctx *c, json_t *res)
{
	pthread_mutex_lock(&c->a->lock);
	struct step *s = &c->op->steps[c->idx];
	json_decref(s->result);
	s->result = res;
	pthread_mutex_unlock(&c->a->lock);
}

int step_point(struct step_ctx *c, struct point_info *p, char *err, size_t errlen)
{
	char spec[64] = "";
	pthread_mutex_lock(&c->a->lock);
	const char *pt = op_point(c->op);
	if (pt)
		snprintf(spec, sizeof(spec), "%s", pt);
	pthread_mutex_unlock(&c->a->lock);
	if (!spec[0]) {
		snprintf(err, errlen, "the operation's point is not known yet");
		return -ENOENT;
	}
	struct repo *r;
	int rc = agent_repo(c->a, &r, err, errlen);
	if (rc == 0)
		rc = repo_resolve_point(r, c->domain, spec, p, err, errlen);
	return rc;
}

/* ---- step threads ---- */

struct job {
	struct runner *r;
	struct step_ctx c;
};

static void job_free(struct job *j)
{
	json_decref(j->c.prev);
	json_decref(j->c.result);
	free(j);
}

/* The journal record of a step's end (lock held). */
static void step_end(struct runner *r, struct job *j, int rc, const char *why)
{
	struct step *s = &r->op->steps[j->c.idx];
	enum step_state st = rc < 0 ? STEP_FAILED : j->c.skipped ? STEP_SKIPPED : STEP_DONE;
	const char *detail = rc < 0 ? why : j->c.detail[0] ? j->c.detail : s->detail;
	char err[512];
	json_t *rec = jrec_step(r->op, j->c.idx, st, s->bytes_done, s->bytes_total, detail,
				rc < 0 ? NULL : j->c.result);
	if (dom_write(r->a, r->d, rec, err, sizeof(err)) < 0) {
		log_error("domain %s: journal: %s", r->d->name, err);
		rc = -EIO;
		why = err;
	}
	if (rc < 0 && r->failed == SIZE_MAX) {
		r->failed = j->c.idx;
		snprintf(r->reason, sizeof(r->reason), "%s", why);
		set_flag(&r->stop_steps);
	}
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct runner *r = j->r;
	char err[512] = "";
	step_fn *fn = kind_fn(j->c.st->kind);
	int rc = fn ? fn(&j->c, err, sizeof(err)) : -ENOSYS;
	if (!fn)
		snprintf(err, sizeof(err), "unknown step kind '%s'", j->c.st->kind);
	if (rc < 0 && !err[0])
		snprintf(err, sizeof(err), "%s", strerror(-rc));
	pthread_mutex_lock(&r->a->lock);
	if (rc == -ECANCELED && (flag(&r->cancel) || flag(&r->shutdown))) {
		/* left "running" in the journal: redone by whoever resumes */
	} else if (rc == -ECANCELED && flag(&r->stop_steps)) {
		char why[600];
		snprintf(why, sizeof(why), "stopped: %s failed", r->op->steps[r->failed].name);
		step_end(r, j, -ECANCELED, why);
	} else {
		step_end(r, j, rc, err);
	}
	r->active[j->c.idx] = false;
	r->running--;
	if (!strcmp(j->c.st->kind, SK_RESTORE))
		r->restores--;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->a->lock);
	job_free(j);
	return NULL;
}

static const struct plan_vm_view *view_vm(const struct runner *r, const char *name)
{
	for (size_t i = 0; name && i < r->view.n; i++)
		if (!strcmp(r->view.vms[i].desc->name, name))
			return &r->view.vms[i];
	return NULL;
}

/* Journal step i running and start its thread (lock held). */
static int launch(struct runner *r, size_t i)
{
	struct step *s = &r->op->steps[i];
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->r = r;
	struct step_ctx *c = &j->c;
	c->a = r->a;
	c->run = r;
	c->domain = r->d->name;
	c->op = r->op;
	c->idx = i;
	c->st = s;
	c->plan = &r->plan;
	c->set = &r->set;
	c->view = &r->view;
	c->vm = view_vm(r, s->vm);
	c->disk = s->disk;
	c->place = r->op->action == DA_TEST || r->op->action == DA_TEST_STOP ? PLACE_TEST
									    : PLACE_FAILOVER;
	c->drv = &r->drv;
	c->op_dir = r->op_dir;
	c->prev = s->result ? json_deep_copy(s->result) : NULL;
	/* a step the journal already says is running (the agent stopped during it) is run
	 * again without a new record: every restart then adds progress, never only a redo */
	char err[512];
	if (s->state != STEP_RUNNING) {
		json_t *rec = jrec_step(r->op, i, STEP_RUNNING, 0, s->bytes_total, NULL, NULL);
		if (dom_write(r->a, r->d, rec, err, sizeof(err)) < 0) {
			log_error("domain %s: journal: %s", r->d->name, err);
			job_free(j);
			return -EIO;
		}
	} else {
		log_info("domain %s op %u: %s again (it was running when the agent stopped)",
			 r->d->name, r->op->id, s->name);
	}
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &at, job_main, j);
	pthread_attr_destroy(&at);
	if (rc) {
		job_free(j);
		return -rc;
	}
	r->active[i] = true;
	r->running++;
	if (!strcmp(s->kind, SK_RESTORE))
		r->restores++;
	return 0;
}

static bool runnable(const struct runner *r, size_t i)
{
	const struct step *s = &r->op->steps[i];
	if (r->active[i] || (s->state != STEP_PENDING && s->state != STEP_RUNNING))
		return false;
	for (size_t k = 0; k < s->n_after; k++) {
		enum step_state st = r->op->steps[s->after[k]].state;
		if (st != STEP_DONE && st != STEP_SKIPPED)
			return false;
	}
	return !strcmp(s->kind, SK_RESTORE) ? r->restores < r->a->cfg->agent_parallel : true;
}

static bool all_finished(const struct runner *r)
{
	for (size_t i = 0; i < r->op->n_steps; i++)
		if (r->op->steps[i].state != STEP_DONE && r->op->steps[i].state != STEP_SKIPPED)
			return false;
	return true;
}

static void op_end(struct runner *r, enum op_result res, const char *step, const char *reason)
{
	char err[512];
	if (dom_write(r->a, r->d, jrec_end(r->op, res, step, reason), err, sizeof(err)) < 0)
		log_error("domain %s: journal: %s", r->d->name, err);
}

static void runner_free(struct runner *r);

static void unlink_runner(struct domain *d, struct runner *o)
{
	for (struct runner **pp = &d->runners; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			return;
		}
}

/* End the earlier operations this one supersedes (lock held; released while joining). */
static void supersede(struct runner *r)
{
	struct domain *d = r->d;
	for (size_t i = 0; i < d->rec.n_ops; i++) {
		struct op *e = d->rec.ops[i];
		if (e == r->op || e->result != OP_RUNNING || !op_supersedes(r->op->action, e->action))
			continue;
		for (struct runner **pp = &d->runners; *pp;) {
			struct runner *o = *pp;
			if (o->op != e) {
				pp = &o->next;
				continue;
			}
			if (o->claimed)
				break;
			o->claimed = true;
			set_flag(&o->cancel);
			pthread_cond_broadcast(&o->cond);
			pthread_mutex_unlock(&r->a->lock);
			pthread_join(o->thread, NULL);
			pthread_mutex_lock(&r->a->lock);
			unlink_runner(d, o);
			runner_free(o);
			break;
		}
		if (e->result == OP_RUNNING) {
			char why[128];
			snprintf(why, sizeof(why), "superseded by %s (operation %u)",
				 dom_action_name(r->op->action), r->op->id);
			char err[512];
			if (dom_write(r->a, d, jrec_end(e, OP_CANCELLED, NULL, why), err,
				      sizeof(err)) < 0)
				log_error("domain %s: journal: %s", d->name, err);
		}
	}
}

static void schedule(struct runner *r)
{
	for (;;) {
		bool stop = flag(&r->cancel) || flag(&r->shutdown);
		if (stop && r->running == 0)
			return;
		if (!stop && r->failed == SIZE_MAX) {
			for (size_t i = 0; i < r->op->n_steps; i++)
				if (r->op->steps[i].state == STEP_FAILED && !r->active[i]) {
					/* failed before a crash: the operation ends failed */
					r->failed = i;
					snprintf(r->reason, sizeof(r->reason), "%s",
						 r->op->steps[i].detail ? r->op->steps[i].detail : "failed");
				}
		}
		if (!stop && r->failed != SIZE_MAX && r->running == 0) {
			op_end(r, OP_FAILED, r->op->steps[r->failed].name, r->reason);
			return;
		}
		if (!stop && r->failed == SIZE_MAX && r->running == 0 && all_finished(r)) {
			op_end(r, OP_DONE, NULL, NULL);
			return;
		}
		if (!stop && r->failed == SIZE_MAX)
			for (size_t i = 0; i < r->op->n_steps; i++)
				if (runnable(r, i) && launch(r, i) < 0) {
					r->failed = i;
					snprintf(r->reason, sizeof(r->reason), "could not start it");
					set_flag(&r->stop_steps);
					break;
				}
		if (r->running == 0 && r->failed == SIZE_MAX && !stop && !all_finished(r)) {
			/* nothing runs and nothing can: a damaged journal's steps wait in a circle */
			op_end(r, OP_FAILED, NULL, "no step can run (the steps wait for each other)");
			return;
		}
		pthread_cond_wait(&r->cond, &r->a->lock);
	}
}

static void *runner_main(void *arg)
{
	struct runner *r = arg;
	pthread_mutex_lock(&r->a->lock);
	supersede(r);
	schedule(r);
	r->finished = true;
	pthread_mutex_unlock(&r->a->lock);
	return NULL;
}

static void runner_free(struct runner *r)
{
	if (r->have_drv)
		drv_close(&r->drv);
	if (r->have_view)
		plan_view_release(&r->view);
	if (r->have_set)
		vm_set_release(&r->set);
	if (r->have_plan)
		plan_release(&r->plan);
	pthread_cond_destroy(&r->cond);
	free(r->active);
	free(r->op_dir);
	free(r);
}

/* Join and free the runners of d whose thread has finished (lock held). */
static void reap(struct domain *d)
{
	for (struct runner **pp = &d->runners; *pp;) {
		struct runner *o = *pp;
		if (!o->finished || o->claimed) {
			pp = &o->next;
			continue;
		}
		pthread_join(o->thread, NULL);	/* it has left the lock: returns at once */
		*pp = o->next;
		runner_free(o);
	}
}

static int runner_context(struct agent *a, struct domain *d, struct runner *r, char *err,
			  size_t errlen)
{
	struct problems pr = { 0 };
	struct op *op = r->op;
	if (plan_parse("plan", op->plan ? op->plan : "", op->plan ? strlen(op->plan) : 0,
		       &r->plan, &pr) < 0) {
		snprintf(err, errlen, "the operation's plan: %s", pr.n ? pr.v[0] : "unreadable");
		problems_release(&pr);
		return -EINVAL;
	}
	r->have_plan = true;
	int rc = vm_set_from_json(op->vms, d->name, &r->set, err, errlen);
	if (rc < 0)
		return rc;
	r->have_set = true;
	if (plan_check_domain(&r->plan, &r->set, mode_of(op->action), &r->view, &pr) < 0) {
		snprintf(err, errlen, "the plan no longer fits the domain: %s",
			 pr.n ? pr.v[0] : "out of memory");
		problems_release(&pr);
		return -EINVAL;
	}
	r->have_view = true;
	if ((rc = drv_open(a->cfg, &r->plan.hv, &r->drv, err, errlen)) < 0)
		return rc;
	r->have_drv = true;
	size_t n = strlen(d->dir) + 32;
	if (!(r->op_dir = malloc(n)) || !(r->active = calloc(op->n_steps + 1, sizeof(bool))))
		return -ENOMEM;
	snprintf(r->op_dir, n, "%s/ops/%u", d->dir, op->id);
	return 0;
}

int runner_start(struct agent *a, struct domain *d, struct op *op, char *err, size_t errlen)
{
	reap(d);
	struct runner *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->a = a;
	r->d = d;
	r->op = op;
	r->failed = SIZE_MAX;
	pthread_cond_init(&r->cond, NULL);
	int rc = runner_context(a, d, r, err, errlen);
	if (rc == 0 && (rc = -pthread_create(&r->thread, NULL, runner_main, r)) < 0)
		snprintf(err, errlen, "cannot start a thread: %s", strerror(-rc));
	if (rc < 0) {
		char why[600];
		snprintf(why, sizeof(why), "cannot run: %s", err);
		op_end(r, OP_FAILED, NULL, why);
		runner_free(r);
		return rc;
	}
	r->next = d->runners;
	d->runners = r;
	return 0;
}

void runners_stop_all(struct agent *a, struct domain *d)
{
	for (struct runner *r = d->runners; r; r = r->next) {
		set_flag(&r->shutdown);
		pthread_cond_broadcast(&r->cond);
	}
	for (;;) {
		struct runner *r = d->runners;
		while (r && r->claimed)
			r = r->next;
		if (!r)
			break;		/* the claimed ones are freed by their claimers, joined here */
		r->claimed = true;
		pthread_mutex_unlock(&a->lock);
		pthread_join(r->thread, NULL);
		pthread_mutex_lock(&a->lock);
		unlink_runner(d, r);
		runner_free(r);
	}
}
