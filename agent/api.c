/* The API's routes and handlers (agent/api.h, docs/api.md). Each handler reads what it
 * needs from the request (path parts, JSON body) and calls one agent verb; the mapping of
 * the verbs' errors to statuses is in one place (verb_error). */
#include "agent/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/util.h"
#include "common/banned.h"

#define MAX_PARTS 6

static void respond(struct api_resp *r, unsigned status, json_t *body)
{
	r->status = status;
	r->body = body ? body : json_pack("{ss}", "error", "out of memory");
	if (!body)
		r->status = 500;
}

__attribute__((format(printf, 3, 4)))
static void error(struct api_resp *r, unsigned status, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	respond(r, status, json_pack("{sssi}", "error", buf, "status", (int)status));
}

static json_t *problems_json(const struct problems *pr)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < pr->n; i++)
		if (json_array_append_new(a, json_string(pr->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* A verb's failure as a response: -EPERM 409 with the state, -EINVAL 422 with the
 * problems, -ENOENT 404, anything else 500. */
static void verb_error(struct api_resp *r, int rc, const struct problems *pr, const char *err)
{
	const char *msg = err && err[0] ? err : pr && pr->n ? pr->v[0] : strerror(-rc);
	if (rc == -EINVAL && pr && pr->n) {
		json_t *o = json_pack("{sssiso}", "error", pr->n == 1 ? pr->v[0]
				      : "the plan has problems", "status", 422, "problems",
				      problems_json(pr));
		respond(r, 422, o);
		return;
	}
	unsigned status = rc == -EPERM ? 409 : rc == -ENOENT ? 404 : rc == -EINVAL ? 422 : 500;
	json_t *o = json_pack("{sssi}", "error", msg, "status", (int)status);
	/* "domain D is STATE: ..." names the state: repeat it as a field */
	const char *is = rc == -EPERM ? strstr(msg, " is ") : NULL;
	if (o && is) {
		char state[32];
		if (sscanf(is + 4, "%31[A-Za-z]", state) == 1)
			json_object_set_new(o, "state", json_string(state));
	}
	if (o && pr && pr->n > 1)
		json_object_set_new(o, "problems", problems_json(pr));
	respond(r, status, o);
}

/* ---- request helpers ---- */

struct route {
	const char *parts[MAX_PARTS];
	size_t n;
	char buf[512];
};

static int split(const char *path, struct route *rt)
{
	if (strlen(path) >= sizeof(rt->buf) || path[0] != '/')
		return -1;
	snprintf(rt->buf, sizeof(rt->buf), "%s", path + 1);
	rt->n = 0;
	for (char *save = NULL, *t = strtok_r(rt->buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (rt->n == MAX_PARTS)
			return -1;
		rt->parts[rt->n++] = t;
	}
	return 0;
}

static const char *arg(const struct api_req *q, const char *key)
{
	for (size_t i = 0; i < q->n_args; i++)
		if (!strcmp(q->args[i].key, key))
			return q->args[i].value ? q->args[i].value : "";
	return NULL;
}

static bool operator(const struct api_req *q, struct api_resp *r)
{
	if (q->role >= API_OPERATOR)
		return true;
	error(r, 403, "this needs the operator role");
	return false;
}

/* ---- handlers ---- */

static void get_domain(struct agent *a, const struct api_req *q, const char *dom,
		       struct api_resp *r)
{
	const char *ops = arg(q, "operations");
	if (ops && strcmp(ops, "all") && strcmp(ops, "latest")) {
		error(r, 400, "operations= takes all or latest");
		return;
	}
	json_t *o;
	int rc = agent_domain_json(a, dom, !ops || strcmp(ops, "all"), &o);
	if (rc == -ENOENT)
		error(r, 404, "no domain %s at this agent or in its store", dom);
	else if (rc < 0)
		verb_error(r, rc, NULL, NULL);
	else
		respond(r, 200, o);
}

static void get_op(struct agent *a, const char *dom, const char *id, struct api_resp *r)
{
	char *end;
	unsigned long n = strtoul(id, &end, 10);
	if (!*id || *end || n == 0 || n > UINT32_MAX) {
		error(r, 400, "bad operation id '%.32s'", id);
		return;
	}
	json_t *o;
	int rc = agent_op_json(a, dom, (uint32_t)n, &o);
	if (rc == -ESRCH)
		error(r, 404, "no domain %s at this agent", dom);
	else if (rc == -ENOENT)
		error(r, 404, "domain %s has no operation %lu", dom, n);
	else if (rc < 0)
		verb_error(r, rc, NULL, NULL);
	else
		respond(r, 200, o);
}

static void get_report(struct agent *a, const char *dom, struct api_resp *r)
{
	json_t *o;
	char err[512];
	int rc = agent_report_json(a, dom, &o, err, sizeof(err));
	if (rc < 0)
		verb_error(r, rc, NULL, err);
	else
		respond(r, 200, o);
}

/* Parse the body of kind k; NULL after an error response. */
static bool body(const struct api_req *q, enum api_body_kind k, struct api_body *b,
		 struct api_resp *r)
{
	char err[512];
	unsigned st = api_body_parse(k, q->body, q->body_len, b, err, sizeof(err));
	if (st) {
		error(r, st, "%s", err);
		api_body_release(b);
		return false;
	}
	return true;
}

static void post_validate(struct agent *a, const struct api_req *q, struct api_resp *r)
{
	struct api_body b;
	enum plan_mode m = PLAN_ANY;
	if (!body(q, BODY_VALIDATE, &b, r))
		return;
	if (b.mode && plan_mode_parse(b.mode, &m) < 0) {
		error(r, 400, "mode: '%.32s' (expected planned, forced, test or continuous)", b.mode);
	} else {
		struct problems pr = { 0 };
		int rc = agent_validate(a, b.plan, m, &pr);
		if (rc < 0)
			verb_error(r, rc, &pr, NULL);
		else
			respond(r, 200, json_pack("{sbso}", "ok", 1, "problems", json_array()));
		problems_release(&pr);
	}
	api_body_release(&b);
}

static void put_plan(struct agent *a, const struct api_req *q, const char *dom,
		     struct api_resp *r)
{
	struct api_body b;
	if (!operator(q, r) || !body(q, BODY_PLAN, &b, r))
		return;
	struct problems pr = { 0 };
	char got[REPO_NAME_MAX + 1] = "";
	int rc = agent_plan_set(a, b.plan, &pr, got);
	if (rc < 0)
		verb_error(r, rc, &pr, NULL);
	else if (strcmp(got, dom))
		error(r, 400, "the plan is for domain %s, not %s", got, dom);
	else
		respond(r, 200, json_pack("{ss}", "domain", got));
	problems_release(&pr);
	api_body_release(&b);
}

static void post_failover(struct agent *a, const struct api_req *q, struct api_resp *r)
{
	struct api_body b;
	enum plan_mode m;
	if (!operator(q, r) || !body(q, BODY_FAILOVER, &b, r))
		return;
	if (plan_mode_parse(b.mode, &m) < 0) {
		error(r, 400, "mode: '%.32s' (expected planned, forced, test or continuous)", b.mode);
	} else if (b.point && (m == PLAN_PLANNED || m == PLAN_CONTINUOUS)) {
		error(r, 400, "a %s failover takes no point (%s)", b.mode, m == PLAN_PLANNED
		      ? "it cuts a final one" : "it follows the newest; give one to complete");
	} else {
		static const enum dom_action acts[] = { [PLAN_PLANNED] = DA_PLANNED,
			[PLAN_FORCED] = DA_FORCED, [PLAN_TEST] = DA_TEST,
			[PLAN_CONTINUOUS] = DA_CONTINUOUS };
		struct start_req sq = { .action = acts[m], .point = b.point, .plans = b.plans,
					.n_plans = b.n_plans };
		struct started *st = calloc(b.n_plans, sizeof(*st));
		struct problems pr = { 0 };
		int rc = st ? agent_start(a, &sq, st, &pr) : -ENOMEM;
		if (rc < 0) {
			verb_error(r, rc, &pr, NULL);
		} else {
			json_t *ops = json_array();
			for (size_t i = 0; ops && i < b.n_plans; i++)
				json_array_append_new(ops, json_pack("{sssi}", "domain", st[i].domain,
								     "op", (int)st[i].op));
			respond(r, 202, json_pack("{so}", "operations", ops));
		}
		problems_release(&pr);
		free(st);
	}
	api_body_release(&b);
}

static void post_followup(struct agent *a, const struct api_req *q, const char *dom,
			  bool complete, struct api_resp *r)
{
	struct api_body b;
	if (!operator(q, r) || !body(q, complete ? BODY_COMPLETE : BODY_TEST_STOP, &b, r))
		return;
	uint32_t id = 0;
	char err[512] = "";
	int rc = complete ? agent_complete(a, dom, b.point, &id, err, sizeof(err))
			  : agent_test_stop(a, dom, &id, err, sizeof(err));
	if (rc < 0)
		verb_error(r, rc, NULL, err);
	else
		respond(r, 202, json_pack("{sssi}", "domain", dom, "op", (int)id));
	api_body_release(&b);
}

static bool method(const struct api_req *q, const char *want, struct api_resp *r)
{
	if (!strcmp(q->method, want))
		return true;
	respond(r, 405, json_pack("{sssiss}", "error", "method not allowed", "status", 405,
				  "allow", want));
	return false;
}

/* /v1/domains/D[/...] */
static void route_domain(struct agent *a, const struct api_req *q, const struct route *rt,
			 struct api_resp *r)
{
	const char *dom = rt->parts[2];
	if (!name_ok(dom)) {
		error(r, 400, "bad domain name");
		return;
	}
	if (rt->n == 3) {
		if (method(q, "GET", r))
			get_domain(a, q, dom, r);
	} else if (rt->n == 4 && !strcmp(rt->parts[3], "plan")) {
		if (method(q, "PUT", r))
			put_plan(a, q, dom, r);
	} else if (rt->n == 4 && !strcmp(rt->parts[3], "report")) {
		if (method(q, "GET", r))
			get_report(a, dom, r);
	} else if (rt->n == 4 && !strcmp(rt->parts[3], "complete")) {
		if (method(q, "POST", r))
			post_followup(a, q, dom, true, r);
	} else if (rt->n == 4 && !strcmp(rt->parts[3], "test-stop")) {
		if (method(q, "POST", r))
			post_followup(a, q, dom, false, r);
	} else if (rt->n == 5 && !strcmp(rt->parts[3], "operations")) {
		if (method(q, "GET", r))
			get_op(a, dom, rt->parts[4], r);
	} else {
		error(r, 404, "no such resource");
	}
}

void api_handle(struct agent *a, const struct api_req *q, struct api_resp *r)
{
	struct route rt;
	r->body = NULL;
	if (split(q->path, &rt) < 0 || rt.n == 0 || strcmp(rt.parts[0], "v1")) {
		error(r, 404, "no such resource (the API is under /v1)");
		return;
	}
	if (rt.n == 1) {
		if (method(q, "GET", r))
			respond(r, 200, agent_info_json(a));
	} else if (rt.n == 2 && !strcmp(rt.parts[1], "domains")) {
		if (method(q, "GET", r))
			respond(r, 200, agent_domains_json(a));
	} else if (rt.n >= 3 && !strcmp(rt.parts[1], "domains")) {
		route_domain(a, q, &rt, r);
	} else if (rt.n == 3 && !strcmp(rt.parts[1], "plans") && !strcmp(rt.parts[2], "validate")) {
		if (method(q, "POST", r))
			post_validate(a, q, r);
	} else if (rt.n == 2 && !strcmp(rt.parts[1], "failover")) {
		if (method(q, "POST", r))
			post_failover(a, q, r);
	} else {
		error(r, 404, "no such resource");
	}
}

void api_resp_release(struct api_resp *r)
{
	json_decref(r->body);
	r->body = NULL;
}
