/* ferry-agent's core (agent/agent.h): domains and their journals, the repository, and the
 * verbs of the API. The operations themselves run in op-run.c.
 *
 * A verb does its slow checks (store, hypervisor, datastore) without the agent's lock,
 * then takes it to write the journal records and start the runners: the journal applies
 * the state machine, so a state that changed meanwhile still refuses the action. */
#include "agent/agent-internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/validate.h"
#include "agent/vmjson.h"
#include "common/log.h"
#include "common/util.h"
#include "common/banned.h"

int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- the log is an observer too ---- */

static void log_state(void *arg, const char *domain, const struct dom_status *from,
		      const struct dom_status *to, const struct dom_record *rec)
{
	(void)arg;
	if (to->state == DOM_ERROR)
		log_error("domain %s: %s -> Error: %s%s%s", domain, dom_state_name(from->state),
			  rec->error_step ? rec->error_step : "", rec->error_step ? ": " : "",
			  rec->error_reason ? rec->error_reason : "");
	else
		log_info("domain %s: %s -> %s", domain, dom_state_name(from->state),
			 dom_state_name(to->state));
}

static void log_step(void *arg, const char *domain, const struct op *op, size_t i)
{
	(void)arg;
	const struct step *s = &op->steps[i];
	if (s->state == STEP_FAILED)
		log_error("domain %s op %u: %s failed: %s", domain, op->id, s->name,
			  s->detail ? s->detail : "");
	else
		log_info("domain %s op %u: %s %s%s%s", domain, op->id, s->name,
			 step_state_name(s->state), s->detail ? ": " : "", s->detail ? s->detail : "");
}

static void log_op(void *arg, const char *domain, const struct op *op)
{
	(void)arg;
	if (op->result == OP_RUNNING)
		log_info("domain %s op %u: %s started (%zu steps)", domain, op->id,
			 dom_action_name(op->action), op->n_steps);
	else
		log_info("domain %s op %u: %s %s%s%s%s%s", domain, op->id,
			 dom_action_name(op->action), op_result_name(op->result),
			 op->failed_step ? " at " : "", op->failed_step ? op->failed_step : "",
			 op->reason ? ": " : "", op->reason ? op->reason : "");
}

int agent_add_observer(struct agent *a, const struct agent_observer *o)
{
	pthread_mutex_lock(&a->lock);
	int rc = a->n_obs < AGENT_MAX_OBSERVERS ? 0 : -ENOSPC;
	if (rc == 0)
		a->obs[a->n_obs++] = *o;
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* ---- domains and their journals ---- */

int dom_write(struct agent *a, struct domain *d, json_t *rec, char *err, size_t errlen)
{
	struct dom_status before = d->rec.status;
	const char *t = rec ? json_string_value(json_object_get(rec, "t")) : NULL;
	char type[8];
	snprintf(type, sizeof(type), "%s", t ? t : "");
	uint32_t opid = (uint32_t)json_integer_value(json_object_get(rec, "op"));
	size_t idx = (size_t)json_integer_value(json_object_get(rec, "step"));
	int rc = journal_write(d->j, &d->rec, rec, err, errlen);
	if (rc < 0)
		return rc;
	if (a->kill_at && journal_lines(d->j) >= a->kill_at)
		raise(SIGKILL);	/* tests: a crash right after this record */
	struct op *op = dom_record_op(&d->rec, opid);
	for (size_t i = 0; i < a->n_obs; i++) {
		const struct agent_observer *o = &a->obs[i];
		if (memcmp(&before, &d->rec.status, sizeof(before)) && o->state)
			o->state(o->arg, d->name, &before, &d->rec.status, &d->rec);
		if (op && (!strcmp(type, "op") || !strcmp(type, "end")) && o->op)
			o->op(o->arg, d->name, op);
		if (op && !strcmp(type, "step") && idx < op->n_steps && o->step)
			o->step(o->arg, d->name, op, idx);
	}
	return 0;
}

static struct domain *find_domain(struct agent *a, const char *name)
{
	for (size_t i = 0; i < a->n_doms; i++)
		if (!strcmp(a->doms[i]->name, name))
			return a->doms[i];
	return NULL;
}

static void domain_free(struct domain *d)
{
	journal_close(d->j);
	dom_record_release(&d->rec);
	free(d->dir);
	free(d);
}

struct domain *agent_domain(struct agent *a, const char *name, bool create, char *err,
			    size_t errlen)
{
	struct domain *d = find_domain(a, name);
	if (d || !create)
		return d;
	d = calloc(1, sizeof(*d));
	size_t n = strlen(a->cfg->agent_state_dir) + strlen(name) + 64;
	char *jpath = malloc(n);
	struct domain **v = realloc(a->doms, (a->n_doms + 1) * sizeof(*v));
	if (v)
		a->doms = v;
	if (!d || !jpath || !v || !(d->dir = malloc(n))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->dir, n, "%s/domains/%s", a->cfg->agent_state_dir, name);
	snprintf(jpath, n, "%s/journal", d->dir);
	int rc = mkdir_p(d->dir, 0700);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", d->dir, strerror(-rc));
		goto fail;
	}
	char why[512];
	if (journal_open(jpath, name, &d->j, &d->rec, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", jpath, why);
		goto fail;
	}
	free(jpath);
	a->doms[a->n_doms++] = d;
	return d;
fail:
	free(jpath);
	if (d) {
		free(d->dir);
		free(d);
	}
	return NULL;
}

/* ---- store and hypervisor ---- */

void agent_repo_refresh(struct agent *a)
{
	pthread_mutex_lock(&a->repo_lock);
	if (a->repo)
		repo_refresh(a->repo);
	pthread_mutex_unlock(&a->repo_lock);
}

int agent_repo(struct agent *a, struct repo **out, char *err, size_t errlen)
{
	pthread_mutex_lock(&a->repo_lock);
	int rc = 0;
	if (!a->repo)
		rc = repo_open_cfg(a->cfg, &a->repo, err, errlen);
	*out = a->repo;
	pthread_mutex_unlock(&a->repo_lock);
	return rc;
}

/* ---- open and close ---- */

static int load_domains(struct agent *a, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/domains", a->cfg->agent_state_dir);
	int rc = mkdir_p(path, 0700);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	DIR *dir = opendir(path);
	if (!dir) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) > REPO_NAME_MAX)
			continue;
		if (!agent_domain(a, e->d_name, true, err, errlen)) {
			closedir(dir);
			return -EINVAL;
		}
	}
	closedir(dir);
	return 0;
}

/* Operations that had not ended when the agent stopped go on, except those a later one
 * supersedes (its runner ends them). */
static void resume(struct agent *a)
{
	for (size_t i = 0; i < a->n_doms; i++) {
		struct domain *d = a->doms[i];
		for (size_t k = 0; k < d->rec.n_ops; k++) {
			struct op *op = d->rec.ops[k];
			bool superseded = false;
			for (size_t l = k + 1; l < d->rec.n_ops; l++)
				superseded |= op_supersedes(d->rec.ops[l]->action, op->action);
			if (op->result != OP_RUNNING || superseded)
				continue;
			char err[512];
			log_info("domain %s: resuming %s (operation %u)", d->name,
				 dom_action_name(op->action), op->id);
			if (runner_start(a, d, op, err, sizeof(err)) < 0)
				log_error("domain %s: operation %u: %s", d->name, op->id, err);
		}
	}
}

int agent_open(const struct ferry_config *cfg, struct agent **out, char *err, size_t errlen)
{
	struct agent *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = cfg;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->repo_lock, NULL);
	const char *k = getenv("FERRY_AGENT_KILL_AT");
	a->kill_at = k ? strtoull(k, NULL, 10) : 0;
	/* the log and the SNMP notifications see every record, from the resumed operations'
	 * on: they are there before the journals are read */
	static const struct agent_observer logger = { log_state, log_step, log_op, NULL };
	agent_add_observer(a, &logger);
	agent_add_observer(a, &agent_notifier);
	pthread_mutex_lock(&a->lock);
	int rc = load_domains(a, err, errlen);
	if (rc == 0)
		resume(a);
	pthread_mutex_unlock(&a->lock);
	if (rc < 0) {
		agent_close(a);
		return rc;
	}
	*out = a;
	return 0;
}

void agent_close(struct agent *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	for (size_t i = 0; i < a->n_doms; i++)
		runners_stop_all(a, a->doms[i]);
	for (size_t i = 0; i < a->n_doms; i++)
		domain_free(a->doms[i]);
	free(a->doms);
	pthread_mutex_unlock(&a->lock);
	if (a->repo)
		repo_close(a->repo);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->repo_lock);
	free(a);
}

/* ---- verbs ---- */

static int check_plan(struct agent *a, const char *text, enum plan_mode mode, const char *point,
		      struct plan_checked *c, struct problems *pr)
{
	struct repo *r;
	char err[512];
	memset(c, 0, sizeof(*c));
	if (agent_repo(a, &r, err, sizeof(err)) < 0) {
		problems_add(pr, "store: %s", err);
		return -EINVAL;
	}
	agent_repo_refresh(a);
	return plan_validate("plan", text, a->cfg, r, mode, point, c, pr);
}

int agent_validate(struct agent *a, const char *plan, enum plan_mode mode, struct problems *pr)
{
	struct plan_checked c;
	int rc = check_plan(a, plan, mode, NULL, &c, pr);
	plan_checked_release(&c);
	return rc;
}

static int write_plan(struct agent *a, struct domain *d, const char *text, char *err,
		      size_t errlen)
{
	if (d->rec.plan && !strcmp(d->rec.plan, text) && d->rec.status.state != DOM_PROTECTED)
		return 0;	/* the same plan again */
	return dom_write(a, d, jrec_plan(text), err, errlen);
}

int agent_plan_set(struct agent *a, const char *plan, struct problems *pr, char *domain_out)
{
	struct plan_checked c;
	int rc = check_plan(a, plan, PLAN_ANY, NULL, &c, pr);
	if (rc == 0) {
		char err[512];
		snprintf(domain_out, REPO_NAME_MAX + 1, "%s", c.plan.domain);
		pthread_mutex_lock(&a->lock);
		struct domain *d = agent_domain(a, c.plan.domain, true, err, sizeof(err));
		rc = d ? write_plan(a, d, plan, err, sizeof(err)) : -EIO;
		pthread_mutex_unlock(&a->lock);
		if (rc < 0)
			problems_add(pr, "%s", err);
	}
	plan_checked_release(&c);
	return rc;
}

static enum plan_mode mode_of(enum dom_action act)
{
	return act == DA_PLANNED ? PLAN_PLANNED : act == DA_FORCED ? PLAN_FORCED
		: act == DA_TEST ? PLAN_TEST : PLAN_CONTINUOUS;
}

/* Would d (NULL: not known yet, Protected) accept the plan and then act? */
static int state_allows(struct domain *d, enum dom_action act, char *err, size_t errlen,
			const char *domain)
{
	struct dom_status s = d ? d->rec.status : (struct dom_status){ DOM_PROTECTED, 0, 0 };
	struct dom_status next;
	if (dom_transition(&s, DA_PLAN, DA_PLAN, &next) == 0)
		s = next;
	if (dom_transition(&s, act, act, &next) == 0)
		return 0;
	snprintf(err, errlen, "domain %s is %s: %s is not allowed", domain,
		 dom_state_name(d ? d->rec.status.state : DOM_PROTECTED), dom_action_name(act));
	return -EPERM;
}

/* Fill op for action act from a checked plan (id and steps). */
static int make_op(struct domain *d, enum dom_action act, const char *text, const char *spec,
		   const char *point, const struct vm_set *set, const struct plan *p,
		   const struct plan_view *v, struct op *op)
{
	memset(op, 0, sizeof(*op));
	op->id = (uint32_t)d->rec.n_ops + 1;
	op->action = act;
	op->point_spec = spec ? strdup(spec) : NULL;
	op->point = point ? strdup(point) : NULL;
	op->plan = strdup(text);
	op->vms = vm_set_json(set);
	int rc = !op->vms || !op->plan || (spec && !op->point_spec) || (point && !op->point)
		 ? -ENOMEM : op_build_steps(act, p, v, op);
	if (rc < 0) {
		free(op->point_spec);
		free(op->point);
		free(op->plan);
		json_decref(op->vms);
	}
	return rc;
}

static void op_temp_release(struct op *op)
{
	free(op->point_spec);
	free(op->point);
	free(op->plan);
	json_decref(op->vms);
	steps_free(op->steps, op->n_steps);
}

/* Journal the op and start its runner (lock held). */
static int begin(struct agent *a, struct domain *d, struct op *tmp, char *err, size_t errlen)
{
	int rc = dom_write(a, d, jrec_op(tmp), err, errlen);
	op_temp_release(tmp);
	if (rc < 0)
		return rc;
	return runner_start(a, d, d->rec.ops[d->rec.n_ops - 1], err, errlen);
}

static const char *point_id(const struct point_info *p, char *buf, size_t n)
{
	snprintf(buf, n, "%" PRIu32 ".%" PRIu64, p->epoch, p->seq);
	return buf;
}

/* Before anything slow: each plan names a domain (once), and each domain's state allows
 * the action. 0; -EINVAL (a plan that does not parse, two plans of one domain) or -EPERM
 * with the reasons in pr. */
static int refuse_by_state(struct agent *a, const struct start_req *q, struct problems *pr)
{
	char (*names)[REPO_NAME_MAX + 1] = calloc(q->n_plans, sizeof(*names));
	if (!names)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < q->n_plans; i++) {
		struct plan p;
		struct problems pp = { 0 };
		if (plan_parse("plan", q->plans[i], strlen(q->plans[i]), &p, &pp) < 0) {
			problems_release(&pp);
			continue;	/* its problems come with the full check */
		}
		snprintf(names[i], sizeof(names[i]), "%s", p.domain);
		plan_release(&p);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(names[k], names[i])) {
				problems_add(pr, "two plans for domain %s", names[i]);
				rc = rc ? rc : -EINVAL;
			}
		char err[512];
		pthread_mutex_lock(&a->lock);
		struct domain *d = agent_domain(a, names[i], false, err, sizeof(err));
		if (state_allows(d, q->action, err, sizeof(err), names[i]) < 0) {
			problems_add(pr, "%s", err);
			rc = -EPERM;
		}
		pthread_mutex_unlock(&a->lock);
	}
	free(names);
	return rc;
}

int agent_start(struct agent *a, const struct start_req *q, struct started *out,
		struct problems *pr)
{
	if (q->n_plans == 0 || q->n_plans > 64) {
		problems_add(pr, "give one to 64 plans");
		return -EINVAL;
	}
	enum plan_mode mode = mode_of(q->action);
	struct plan_checked *c = calloc(q->n_plans, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int rc = refuse_by_state(a, q, pr);
	const char *pspec = mode == PLAN_FORCED || mode == PLAN_TEST ? q->point : NULL;
	for (size_t i = 0; (rc == 0 || rc == -EINVAL) && i < q->n_plans; i++)	/* all problems */
		if (check_plan(a, q->plans[i], mode, pspec, &c[i], pr) < 0)
			rc = -EINVAL;
	char err[512];
	pthread_mutex_lock(&a->lock);
	/* again under the lock: a state may have changed during the checks */
	for (size_t i = 0; rc == 0 && i < q->n_plans; i++) {
		struct domain *d = agent_domain(a, c[i].plan.domain, false, err, sizeof(err));
		if (state_allows(d, q->action, err, sizeof(err), c[i].plan.domain) < 0) {
			problems_add(pr, "%s", err);
			rc = -EPERM;
		}
	}
	for (size_t i = 0; rc == 0 && i < q->n_plans; i++) {
		struct domain *d = agent_domain(a, c[i].plan.domain, true, err, sizeof(err));
		char pid[48];
		const char *pt = c[i].have_point && (mode == PLAN_FORCED || mode == PLAN_TEST)
				 ? point_id(&c[i].point, pid, sizeof(pid)) : NULL;
		struct op tmp;
		if (!d || write_plan(a, d, q->plans[i], err, sizeof(err)) < 0 ||
		    make_op(d, q->action, q->plans[i], q->point ? q->point : "latest", pt, &c[i].set,
			    &c[i].plan, &c[i].view, &tmp) < 0 ||
		    begin(a, d, &tmp, err, sizeof(err)) < 0) {
			problems_add(pr, "domain %s: %s", c[i].plan.domain, err);
			rc = -EIO;	/* the earlier domains have started: say which did not */
			continue;
		}
		snprintf(out[i].domain, sizeof(out[i].domain), "%s", d->name);
		out[i].op = d->rec.ops[d->rec.n_ops - 1]->id;
	}
	pthread_mutex_unlock(&a->lock);
	for (size_t i = 0; i < q->n_plans; i++)
		plan_checked_release(&c[i]);
	free(c);
	return rc;
}

/* The newest operation of d with action act (lock held), or NULL. */
static struct op *newest_op(struct domain *d, enum dom_action act)
{
	for (size_t k = d->rec.n_ops; k-- > 0;)
		if (d->rec.ops[k]->action == act)
			return d->rec.ops[k];
	return NULL;
}

/* An operation that follows an earlier one (complete after continuous, test-stop after
 * test): the same plan and VMs. */
static int follow_up(struct agent *a, const char *domain, enum dom_action act,
		     enum dom_action earlier, const char *point, uint32_t *id, char *err,
		     size_t errlen)
{
	pthread_mutex_lock(&a->lock);
	struct domain *d = agent_domain(a, domain, false, err, errlen);
	struct op *e = d ? newest_op(d, earlier) : NULL;
	struct dom_status next;
	int rc = 0;
	if (!d) {
		snprintf(err, errlen, "no domain %s at this agent", domain);
		rc = -ENOENT;
	} else if (dom_transition(&d->rec.status, act, act, &next) < 0 || !e) {
		snprintf(err, errlen, "domain %s is %s: %s is not allowed", domain,
			 dom_state_name(d->rec.status.state), dom_action_name(act));
		rc = -EPERM;
	}
	struct plan p;
	struct vm_set set;
	struct plan_view v;
	struct problems pr = { 0 };
	bool hp = false, hs = false, hv = false;
	if (rc == 0 && !(hp = plan_parse("plan", e->plan, strlen(e->plan), &p, &pr) == 0))
		rc = -EINVAL;
	if (rc == 0 && !(hs = vm_set_from_json(e->vms, domain, &set, err, errlen) == 0))
		rc = -EINVAL;
	if (rc == 0 && !(hv = plan_check_domain(&p, &set, mode_of(earlier), &v, &pr) == 0))
		rc = -EINVAL;
	if (rc == -EINVAL && pr.n)
		snprintf(err, errlen, "%s", pr.v[0]);
	struct op tmp;
	if (rc == 0 && (rc = make_op(d, act, e->plan, point, NULL, &set, &p, &v, &tmp)) == 0 &&
	    (rc = begin(a, d, &tmp, err, errlen)) == 0)
		*id = d->rec.ops[d->rec.n_ops - 1]->id;
	pthread_mutex_unlock(&a->lock);
	if (hv)
		plan_view_release(&v);
	if (hs)
		vm_set_release(&set);
	if (hp)
		plan_release(&p);
	problems_release(&pr);
	return rc;
}

int agent_complete(struct agent *a, const char *domain, const char *point, uint32_t *op,
		   char *err, size_t errlen)
{
	return follow_up(a, domain, DA_COMPLETE, DA_CONTINUOUS, point ? point : "latest", op, err,
			 errlen);
}

int agent_test_stop(struct agent *a, const char *domain, uint32_t *op, char *err,
		    size_t errlen)
{
	return follow_up(a, domain, DA_TEST_STOP, DA_TEST, NULL, op, err, errlen);
}
