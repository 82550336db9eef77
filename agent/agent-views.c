/* What the API shows (agent/agent.h agent_*_json): domains, operations, reports. Built
 * under the agent's lock from the in-memory records (the journal's view plus the live
 * bytes and details of running steps). */
#include "agent/agent-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define SERIAL_MAX (256u << 10)		/* of each guest's serial log in a report */

static bool put(json_t *o, const char *k, json_t *v)
{
	return v && json_object_set_new(o, k, v) == 0;
}

static bool put_str(json_t *o, const char *k, const char *v)
{
	return !v || put(o, k, json_string(v));
}

static bool put_ns(json_t *o, const char *k, uint64_t ns)
{
	return !ns || put(o, k, json_integer((json_int_t)ns));
}

static json_t *fail_null(json_t *o)
{
	json_decref(o);
	return NULL;
}

static json_t *step_json(const struct step *s)
{
	json_t *o = json_object(), *after = json_array();
	bool ok = o && after && put_str(o, "name", s->name) && put_str(o, "kind", s->kind) &&
		  put_str(o, "vm", s->vm) && put_str(o, "disk", s->disk) &&
		  put_str(o, "state", step_state_name(s->state)) && put_ns(o, "start", s->start_ns) &&
		  put_ns(o, "end", s->end_ns) &&
		  put(o, "bytes_done", json_integer((json_int_t)s->bytes_done)) &&
		  put(o, "bytes_total", json_integer((json_int_t)s->bytes_total)) &&
		  put_str(o, "detail", s->detail);
	for (size_t i = 0; ok && i < s->n_after; i++)
		ok = json_array_append_new(after, json_integer((json_int_t)s->after[i])) == 0;
	ok = ok && put(o, "after", after);
	if (!ok) {
		json_decref(after);
		return fail_null(o);
	}
	if (s->result && json_object_set_new(o, "result", json_deep_copy(s->result)) < 0)
		return fail_null(o);
	return o;
}

json_t *op_json(const struct op *op)
{
	json_t *o = json_object(), *steps = json_array();
	bool ok = o && steps && put(o, "id", json_integer(op->id)) &&
		  put_str(o, "action", dom_action_name(op->action)) &&
		  put_str(o, "point_spec", op->point_spec) && put_str(o, "point", op_point(op)) &&
		  put_ns(o, "start", op->start_ns) && put_ns(o, "end", op->end_ns) &&
		  put_str(o, "result", op_result_name(op->result)) &&
		  put_str(o, "failed_step", op->failed_step) && put_str(o, "reason", op->reason);
	for (size_t i = 0; ok && i < op->n_steps; i++)
		ok = json_array_append_new(steps, step_json(&op->steps[i])) == 0;
	if (!ok || !put(o, "steps", steps)) {
		json_decref(steps);
		return fail_null(o);
	}
	return o;
}

/* The continuous operation's rehydration as it is now: the point held and its age. */
static json_t *rehydration_json(const struct domain *d)
{
	for (size_t k = d->rec.n_ops; k-- > 0;) {
		const struct op *op = d->rec.ops[k];
		if (op->action != DA_CONTINUOUS || op->result != OP_RUNNING || !op->n_steps)
			continue;
		const json_t *res = op->steps[0].result;
		json_t *o = json_object();
		const char *pt = json_string_value(json_object_get(res, "point"));
		json_int_t t = json_integer_value(json_object_get(res, "point_time"));
		if (!o || !put_str(o, "point", pt) ||
		    (t > 0 && (!put(o, "point_time", json_integer(t)) ||
			       !put(o, "rpo_s", json_real((double)(now_real_ns() - (uint64_t)t) / 1e9)))))
			return fail_null(o);
		return o;
	}
	return NULL;
}

static json_t *domain_json(const struct domain *d, bool latest_only)
{
	const struct dom_record *r = &d->rec;
	json_t *o = json_object(), *ops = json_array();
	bool ok = o && ops && put_str(o, "domain", d->name) &&
		  put_str(o, "state", dom_state_name(r->status.state)) &&
		  put_ns(o, "since", r->state_ns) && put(o, "plan", json_boolean(r->plan != NULL));
	if (ok && r->status.state == DOM_TESTING_FAILOVER)
		ok = put_str(o, "return_state", dom_state_name(r->status.ret));
	if (ok && r->status.state == DOM_ERROR) {
		json_t *e = json_object();
		ok = e && put_str(e, "action", dom_action_name(r->status.failed)) &&
		     put_str(e, "step", r->error_step) && put_str(e, "reason", r->error_reason) &&
		     put(o, "error", e);
		if (!ok)
			json_decref(e);
	}
	json_t *rh = ok ? rehydration_json(d) : NULL;
	if (rh && !put(o, "rehydration", rh))
		ok = false;
	for (size_t k = latest_only && r->n_ops ? r->n_ops - 1 : 0; ok && k < r->n_ops; k++)
		ok = json_array_append_new(ops, op_json(r->ops[k])) == 0;
	if (!ok || !put(o, "operations", ops)) {
		json_decref(ops);
		return fail_null(o);
	}
	return o;
}

json_t *agent_info_json(struct agent *a)
{
	json_t *o = json_object();
	if (!o || !put_str(o, "name", "ferry-agent") || !put(o, "api", json_integer(1)) ||
	    !put_str(o, "state_dir", a->cfg->agent_state_dir) ||
	    !put_str(o, "store", a->cfg->store_url) || !put_str(o, "hypervisor", a->cfg->hv_driver))
		return fail_null(o);
	return o;
}

json_t *agent_domains_json(struct agent *a)
{
	json_t *o = json_object(), *list = json_array();
	if (!o || !list) {
		json_decref(list);
		return fail_null(o);
	}
	/* the store's domains first (outside the lock: it may be slow) */
	char **names = NULL, err[512];
	size_t n = 0;
	struct repo *r;
	int rc = agent_repo(a, &r, err, sizeof(err));
	if (rc == 0 && (rc = repo_list_domains(r, &names, &n)) < 0)
		snprintf(err, sizeof(err), "listing the store's domains: %s", strerror(-rc));
	if (rc < 0 && !put_str(o, "store_error", err))
		goto oom;
	pthread_mutex_lock(&a->lock);
	bool ok = true;
	for (size_t i = 0; ok && i < a->n_doms; i++) {
		json_t *d = domain_json(a->doms[i], true);
		ok = d && json_array_append_new(list, d) == 0;
	}
	for (size_t i = 0; ok && i < n; i++) {
		bool known = false;
		for (size_t k = 0; k < a->n_doms && !known; k++)
			known = !strcmp(a->doms[k]->name, names[i]);
		json_t *d = json_object();
		ok = known || (d && put_str(d, "domain", names[i]) &&
			       put_str(d, "state", dom_state_name(DOM_PROTECTED)) &&
			       put(d, "plan", json_false()) && json_array_append(list, d) == 0);
		json_decref(d);
	}
	pthread_mutex_unlock(&a->lock);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!ok || !put(o, "domains", list))
		goto oom;
	return o;
oom:
	json_decref(list);
	return fail_null(o);
}

/* A domain the store has but this agent has no journal of: Protected. */
static int store_domain_json(struct agent *a, const char *domain, json_t **out)
{
	char **names = NULL, err[512];
	size_t n = 0;
	struct repo *r;
	bool found = false;
	if (agent_repo(a, &r, err, sizeof(err)) == 0 && repo_list_domains(r, &names, &n) == 0)
		for (size_t i = 0; i < n; i++)
			found |= !strcmp(names[i], domain);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!found)
		return -ENOENT;
	*out = json_pack("{sssssbs[]}", "domain", domain, "state", dom_state_name(DOM_PROTECTED),
			 "plan", 0, "operations");
	return *out ? 0 : -ENOMEM;
}

int agent_domain_json(struct agent *a, const char *domain, bool latest_only, json_t **out)
{
	pthread_mutex_lock(&a->lock);
	struct domain *d = agent_domain(a, domain, false, NULL, 0);
	*out = d ? domain_json(d, latest_only) : NULL;
	pthread_mutex_unlock(&a->lock);
	if (!d)
		return store_domain_json(a, domain, out);
	return *out ? 0 : -ENOMEM;
}

int agent_op_json(struct agent *a, const char *domain, uint32_t id, json_t **out)
{
	pthread_mutex_lock(&a->lock);
	struct domain *d = agent_domain(a, domain, false, NULL, 0);
	struct op *op = d ? dom_record_op(&d->rec, id) : NULL;
	*out = op ? op_json(op) : NULL;
	pthread_mutex_unlock(&a->lock);
	return !d ? -ESRCH : !op ? -ENOENT : *out ? 0 : -ENOMEM;
}

/* A file's first SERIAL_MAX bytes as a JSON string (invalid UTF-8 replaced), or NULL. */
static json_t *file_text(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(SERIAL_MAX);
	ssize_t n = buf ? read(fd, buf, SERIAL_MAX) : -1;
	close(fd);
	json_t *s = NULL;
	if (n >= 0) {
		size_t w = 0;	/* printable ASCII and line ends; a console's CR dropped */
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			bool ok = (buf[i] >= 32 && (unsigned char)buf[i] <= 126) || buf[i] == '\n' ||
				  buf[i] == '\t';
			buf[w++] = ok ? buf[i] : '?';
		}
		s = json_stringn(buf, w);
	}
	free(buf);
	return s;
}

static int log_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return n > 4 && !strcmp(e->d_name + n - 4, ".log");
}

/* Every VM's serial log of the directory, by VM name. */
static json_t *serial_logs(const char *dir)
{
	json_t *o = json_object();
	struct dirent **v = NULL;
	int n = o ? scandir(dir, &v, log_file, alphasort) : 0;
	for (int i = 0; i < n; i++) {
		char path[8192], vm[256];
		snprintf(path, sizeof(path), "%s/%s", dir, v[i]->d_name);
		snprintf(vm, sizeof(vm), "%.*s", (int)(strlen(v[i]->d_name) - 4), v[i]->d_name);
		json_t *t = file_text(path);
		if (t)
			json_object_set_new(o, vm, t);
		free(v[i]);
	}
	free(v);
	return o;
}

int agent_report_json(struct agent *a, const char *domain, json_t **out, char *err,
		      size_t errlen)
{
	*out = NULL;
	pthread_mutex_lock(&a->lock);
	struct domain *d = agent_domain(a, domain, false, NULL, 0);
	const struct op *test = NULL, *stop = NULL;
	for (size_t k = d ? d->rec.n_ops : 0; k-- > 0 && !test;) {
		const struct op *op = d->rec.ops[k];
		if (op->action == DA_TEST)
			test = op;
		else if (op->action == DA_TEST_STOP && !stop)
			stop = op;
	}
	if (stop && test && stop->id < test->id)
		stop = NULL;
	int rc = 0;
	if (!d || !test) {
		snprintf(err, errlen, d ? "domain %s has had no test failover"
					: "no domain %s at this agent", domain);
		rc = -ENOENT;
	}
	json_t *o = rc == 0 ? json_object() : NULL;
	char dir[4096];
	if (rc == 0) {
		snprintf(dir, sizeof(dir), "%s/ops/%u/serial", d->dir, test->id);
		json_t *ts = test ? op_json(test) : NULL, *ss = stop ? op_json(stop) : json_null();
		if (!o || !put_str(o, "domain", domain) || !put(o, "test", ts) ||
		    !put(o, "test_stop", ss))
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&a->lock);
	if (rc == 0 && !put(o, "serial", serial_logs(dir)))
		rc = -ENOMEM;
	if (rc < 0) {
		json_decref(o);
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		return rc;
	}
	*out = o;
	return 0;
}
