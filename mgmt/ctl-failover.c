/* ferryctl failover and plan: thin clients of ferry-agent's API (docs/api.md), and the
 * agent-less dry run of a plan.
 *
 *   failover start     -a AGENT -p PLAN [-p PLAN...] --mode M [--point P] [--wait] [--json]
 *   failover complete  -a AGENT (-p PLAN | --domain D)... [--point P] [--wait] [--json]
 *   failover test-stop -a AGENT (-p PLAN | --domain D)... [--wait] [--json]
 *   failover status    -a AGENT (-p PLAN | --domain D)... [--watch] [--json]
 *   failover report    -a AGENT (-p PLAN | --domain D)... [--json]
 *   plan validate      -p PLAN [--mode M] [--json] (-a AGENT | -c FILE | --store URL --key-file P)
 *   plan set           -a AGENT -p PLAN [--json]      register it: the domain is RecoveryReady
 *
 * Options go through ferryctl's one parser (ctl-args.h): --help, unknown options, exit
 * codes and --json errors as every command has them. -a is the agent's unix socket or URL;
 * without it, -c FILE's [agent] socket. The plan files are read here and their text sent
 * to the agent (it may run elsewhere). With --json, stdout has one JSON object per line,
 * each with an "event", ending with one "result" (the API's answer, e.g. the domains and
 * their journals for status) or "error" object (an API error's problems included). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/plan.h"
#include "agent/validate.h"
#include "common/config.h"
#include "mgmt/agent-client.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-failover.h"
#include "mgmt/ctl-watch.h"
#include "common/banned.h"

#define AGENT_OPTS (OPT(AGENT) | OPT(CONF) | OPT(JSON))
#define TARGET_OPTS (AGENT_OPTS | OPT(PLAN) | OPT(DOMAIN))

#define U_START "failover start -a AGENT -p PLAN [-p PLAN...] " \
	"--mode planned|forced|test|continuous [--point ID|latest|TIME] [--wait] [--json]"
#define U_COMPLETE "failover complete -a AGENT (-p PLAN | --domain D)... [--point P] [--wait] " \
	"[--json]"
#define U_TEST_STOP "failover test-stop -a AGENT (-p PLAN | --domain D)... [--wait] [--json]"
#define U_STATUS "failover status -a AGENT (-p PLAN | --domain D)... [--watch] [--json]"
#define U_REPORT "failover report -a AGENT (-p PLAN | --domain D)... [--json]"
#define U_VALIDATE "plan validate -p PLAN [--mode M] [--json] " \
	"(-a AGENT | -c FILE | --store URL --key-file PATH)"
#define U_SET "plan set -a AGENT -p PLAN [--json]"
#define U_MORE "\n       ferryctl "

/* ---- errors ---- */

/* A failure and its problem lines: on stderr the message, then each problem on a line of
 * its own; with --json one error object with a "problems" array. Returns code. */
static int fail_problems(const struct args *a, int code, const char *msg, const json_t *problems)
{
	size_t n = json_array_size(problems);
	if (!a->json) {
		if (msg)
			fprintf(stderr, "ferryctl %s: %s\n", a->cmd, msg);
		for (size_t i = 0; i < n; i++) {
			const char *p = json_string_value(json_array_get(problems, i));
			if (p && (!msg || strcmp(msg, p)))
				fprintf(stderr, "%s\n", p);
		}
		return code;
	}
	json_t *o = json_pack("{ss ss sO sI}", "command", a->cmd, "error", msg ? msg :
			      n ? json_string_value(json_array_get(problems, 0)) : "?",
			      "problems", problems ? problems : json_array(), "exit",
			      (json_int_t)code);
	watch_print_json("error", o);
	return code;
}

static int fail_list(const struct args *a, int code, const struct problems *pr)
{
	json_t *v = json_array();
	for (size_t i = 0; i < pr->n; i++)
		json_array_append_new(v, json_string(pr->v[i]));
	int rc = fail_problems(a, code, NULL, v);
	json_decref(v);
	return rc;
}

/* An answer of the API that is not 2xx: its message and problems; 2 for a 400, else 1. */
static int api_error(const struct args *a, long status, json_t *resp)
{
	const char *msg = json_string_value(json_object_get(resp, "error"));
	json_t *pr = json_object_get(resp, "problems");
	if (json_array_size(pr) > 1)
		msg = NULL;	/* the problems say it, one per line */
	char buf[64];
	if (!msg && !json_array_size(pr)) {
		snprintf(buf, sizeof(buf), "the agent answered %ld", status);
		msg = buf;
	}
	return fail_problems(a, status == 400 ? 2 : 1, msg, pr);
}

/* ---- plans and the agent ---- */

/* The whole file (at most PLAN_MAX_TEXT bytes), NUL-terminated; NULL after the message. */
static char *read_plan(const struct args *a, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ctl_fail(a, 1, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(PLAN_MAX_TEXT + 2);
	size_t len = 0;
	ssize_t n = 0;
	while (buf && len <= PLAN_MAX_TEXT &&
	       (n = read(fd, buf + len, PLAN_MAX_TEXT + 1 - len)) > 0)
		len += (size_t)n;
	int e = errno;
	close(fd);
	if (!buf || n < 0 || len > PLAN_MAX_TEXT) {
		ctl_fail(a, 1, "%s: %s", path, !buf ? "out of memory" : n < 0 ? strerror(e) :
			 "too large for a plan");
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	if (strlen(buf) != len) {
		ctl_fail(a, 1, "%s: a NUL byte in a plan", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* The domain a plan file names (parsed here, only for its name). 0 or the exit code. */
static int plan_domain(const struct args *a, const char *path, char *out, size_t n)
{
	char *text = read_plan(a, path);
	if (!text)
		return 1;
	struct plan p;
	struct problems pr = { 0 };
	int rc = plan_parse(path, text, strlen(text), &p, &pr);
	if (rc == 0) {
		snprintf(out, n, "%s", p.domain);
		plan_release(&p);
	} else {
		rc = fail_list(a, 1, &pr);
	}
	problems_release(&pr);
	free(text);
	return rc;
}

/* -c FILE: ferry-agent's configuration, for its [agent] socket. */
static int load_conf(struct args *a)
{
	char err[512];
	if (!a->conf || a->have_cfg)
		return 0;
	if (config_load_any(a->conf, &a->cfg, err, sizeof(err)) < 0)
		return ctl_fail(a, 2, "%s", err);
	a->have_cfg = true;
	return 0;
}

static int open_agent(struct args *a, struct agent_client **c)
{
	int rc = load_conf(a);
	if (rc)
		return rc;
	const char *target = a->agent ? a->agent : a->have_cfg ? a->cfg.agent_socket : NULL;
	if (!target)
		return ctl_usage(a, "give -a AGENT (socket or URL) or -c FILE with an [agent] "
				 "section");
	char err[512];
	if (agent_client_open(target, c, err, sizeof(err)) < 0)
		return ctl_fail(a, 1, "%s", err);
	return 0;
}

/* One API call; 0 with *resp on a 2xx answer, else the exit code after saying why. */
static int call(const struct args *a, struct agent_client *c, const char *method,
		const char *path, json_t *body, json_t **resp)
{
	long status = 0;
	char err[512];
	int rc = agent_call(c, method, path, body, &status, resp, err, sizeof(err));
	json_decref(body);
	if (rc < 0)
		return ctl_fail(a, 1, "%s", err);
	if (status / 100 != 2) {
		rc = api_error(a, status, *resp);
		json_decref(*resp);
		*resp = NULL;
		return rc;
	}
	return 0;
}

/* The domains of the command: --domain names, then the plans' domains. */
static int domains(const struct args *a, char names[][REPO_NAME_MAX + 1], size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < a->domains.n; i++)
		snprintf(names[(*n)++], REPO_NAME_MAX + 1, "%s", a->domains.v[i]);
	for (size_t i = 0; i < a->plans.n; i++) {
		int rc = plan_domain(a, a->plans.v[i], names[(*n)++], REPO_NAME_MAX + 1);
		if (rc)
			return rc;
	}
	if (*n == 0)
		return ctl_usage(a, "give -p PLAN or --domain D");
	return 0;
}

/* Parse a subcommand's options and reach the agent. 0, or the exit code. */
static int begin(int argc, char **argv, struct args *a, uint64_t allowed, uint64_t required,
		 struct agent_client **c)
{
	a->repeat = OPT(PLAN) | OPT(DOMAIN);
	int rc = ctl_parse(argc, argv, allowed, required, a);
	return rc ? rc : open_agent(a, c);
}

/* ---- failover ---- */

static int fo_start(int argc, char **argv)
{
	struct args a = { .cmd = "failover start", .usage = U_START, .repeat = OPT(PLAN) };
	struct agent_client *c = NULL;
	json_t *plans = json_array(), *resp = NULL;
	enum plan_mode mode;
	int rc = ctl_parse(argc, argv, AGENT_OPTS | OPT(PLAN) | OPT(MODE) | OPT(POINT) |
			   OPT(WAIT), OPT(PLAN) | OPT(MODE), &a);
	if (rc == 0 && plan_mode_parse(a.mode, &mode) < 0) {
		char why[160];
		snprintf(why, sizeof(why), "bad --mode: '%.64s' (planned, forced, test or "
			 "continuous)", a.mode);
		rc = ctl_usage(&a, why);
	}
	for (size_t i = 0; rc == 0 && i < a.plans.n; i++) {
		char *t = read_plan(&a, a.plans.v[i]);
		if (!t)
			rc = 1;
		else
			json_array_append_new(plans, json_string(t));
		free(t);
	}
	if (rc || (rc = open_agent(&a, &c)))
		goto out;
	json_t *body = json_pack("{ssso}", "mode", a.mode, "plans", plans);
	plans = NULL;
	if (body && a.point)
		json_object_set_new(body, "point", json_string(a.point));
	if ((rc = call(&a, c, "POST", "/v1/failover", body, &resp)))
		goto out;
	json_t *ops = json_object_get(resp, "operations");
	struct watch_target t[CTL_LIST_MAX];
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(ops) && n < CTL_LIST_MAX; i++) {
		json_t *o = json_array_get(ops, i);
		snprintf(t[n].domain, sizeof(t[n].domain), "%s",
			 json_string_value(json_object_get(o, "domain")) ?: "?");
		t[n].op = (uint32_t)json_integer_value(json_object_get(o, "op"));
		if (!a.json)
			printf("%s failover of %s started (operation %u)\n", a.mode, t[n].domain,
			       t[n].op);
		n++;
	}
	if (a.wait)
		rc = watch_ops(&a, c, t, n, WATCH_WAIT);
	else if (a.json)
		watch_print_json("result", json_incref(resp));
out:
	json_decref(plans);
	json_decref(resp);
	agent_client_close(c);
	ctl_args_release(&a);
	return rc;
}

/* complete and test-stop: one request per domain, then (--wait) their operations */
static int followup(int argc, char **argv, bool complete)
{
	struct args a = { .cmd = complete ? "failover complete" : "failover test-stop",
			  .usage = complete ? U_COMPLETE : U_TEST_STOP };
	struct agent_client *c = NULL;
	char names[2 * CTL_LIST_MAX][REPO_NAME_MAX + 1];
	struct watch_target t[2 * CTL_LIST_MAX];
	json_t *started = json_array();
	size_t n = 0;
	int rc = begin(argc, argv, &a, TARGET_OPTS | OPT(WAIT) | (complete ? OPT(POINT) : 0), 0,
		       &c);
	if (rc || (rc = domains(&a, names, &n)))
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[256];
		json_t *body = json_object(), *resp;
		snprintf(path, sizeof(path), "/v1/domains/%s/%s", names[i],
			 complete ? "complete" : "test-stop");
		if (a.point)
			json_object_set_new(body, "point", json_string(a.point));
		if ((rc = call(&a, c, "POST", path, body, &resp)))
			break;
		snprintf(t[i].domain, sizeof(t[i].domain), "%.63s", names[i]);
		t[i].op = (uint32_t)json_integer_value(json_object_get(resp, "op"));
		if (!a.json)
			printf("%s of %s started (operation %u)\n",
			       complete ? "complete" : "test-stop", names[i], t[i].op);
		json_object_set_new(resp, "domain", json_string(names[i]));
		json_array_append_new(started, resp);
	}
	if (rc == 0 && a.wait)
		rc = watch_ops(&a, c, t, n, WATCH_WAIT);
	else if (rc == 0 && a.json)
		watch_print_json("result", json_pack("{sO}", "operations", started));
out:
	json_decref(started);
	agent_client_close(c);
	ctl_args_release(&a);
	return rc;
}

static int fo_complete(int argc, char **argv)
{
	return followup(argc, argv, true);
}

static int fo_test_stop(int argc, char **argv)
{
	return followup(argc, argv, false);
}

/* status and report: GET /v1/domains/NAME + suffix for each domain, each shown; with
 * --json one result holding every answer (under key) */
static int show(int argc, char **argv, bool report)
{
	struct args a = { .cmd = report ? "failover report" : "failover status",
			  .usage = report ? U_REPORT : U_STATUS };
	struct agent_client *c = NULL;
	char names[2 * CTL_LIST_MAX][REPO_NAME_MAX + 1];
	json_t *all = json_array();
	size_t n = 0;
	int rc = begin(argc, argv, &a, TARGET_OPTS | (report ? 0 : OPT(WATCH)), 0, &c);
	if (rc || (rc = domains(&a, names, &n)))
		goto out;
	if (a.watch) {
		struct watch_target t[2 * CTL_LIST_MAX];
		for (size_t i = 0; i < n; i++) {
			snprintf(t[i].domain, sizeof(t[i].domain), "%.63s", names[i]);
			t[i].op = 0;	/* the newest */
		}
		rc = watch_ops(&a, c, t, n, 0);
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[256];
		snprintf(path, sizeof(path), "/v1/domains/%s%s", names[i], report ? "/report" :
			 a.json ? "?operations=all" : "");
		json_t *resp;
		if ((rc = call(&a, c, "GET", path, NULL, &resp)))
			break;
		if (a.json)
			json_array_append(all, resp);
		else if (report)
			watch_print_report(stdout, resp);
		else
			watch_print_domain(stdout, resp, false);
		json_decref(resp);
	}
	if (rc == 0 && a.json)
		watch_print_json("result", json_pack("{sO}", report ? "reports" : "domains", all));
out:
	json_decref(all);
	agent_client_close(c);
	ctl_args_release(&a);
	return rc;
}

static int fo_status(int argc, char **argv)
{
	return show(argc, argv, false);
}

static int fo_report(int argc, char **argv)
{
	return show(argc, argv, true);
}

int ctl_failover_main(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "start", fo_start }, { "complete", fo_complete }, { "test-stop", fo_test_stop },
		{ "status", fo_status }, { "report", fo_report },
	};
	return ctl_dispatch("failover", U_START U_MORE U_COMPLETE U_MORE U_TEST_STOP U_MORE
			    U_STATUS U_MORE U_REPORT "\n  (-a AGENT: the agent's unix socket or "
			    "http://HOST:PORT; or -c FILE with an [agent] socket)", subs,
			    sizeof(subs) / sizeof(subs[0]), argc, argv);
}

/* ---- plan validate, plan set ---- */

static int print_problems(const struct args *a, const char *path, const struct plan_checked *pc,
			  int rc, const struct problems *pr)
{
	if (a->json) {
		json_t *p = json_array(), *boot = json_array();
		for (size_t i = 0; i < pr->n; i++)
			json_array_append_new(p, json_string(pr->v[i]));
		for (size_t i = 0; rc == 0 && pc->have_view && i < pc->view.n; i++) {
			const struct vm_desc *vm = pc->view.vms[pc->view.boot[i]].desc;
			json_array_append_new(boot, json_string(vm->name));
		}
		json_t *o = json_pack("{sssbsoso}", "plan", path, "ok", rc == 0, "problems", p,
				      "boot_order", boot);
		if (o && pc->have_plan)
			json_object_set_new(o, "domain", json_string(pc->plan.domain));
		watch_print_json("result", o);
	} else if (rc == 0) {
		printf("%s: plan of domain %s is valid; boot order:", path, pc->plan.domain);
		for (size_t i = 0; i < pc->view.n; i++)
			printf(" %s", pc->view.vms[pc->view.boot[i]].desc->name);
		printf("\n");
	} else {
		for (size_t i = 0; i < pr->n; i++)
			printf("%s\n", pr->v[i]);
	}
	return rc == 0 ? 0 : 1;
}

static int validate_local(struct args *a, const char *path, const char *text,
			  enum plan_mode mode)
{
	if (!a->store)
		return ctl_usage(a, "plan validate needs the store: -c FILE, --store URL "
				 "--key-file PATH, or -a AGENT");
	struct repo *r = NULL;
	struct problems pr = { 0 };
	struct plan_checked pc = { 0 };
	char err[512] = "";
	a->so.read_only = true;
	int rc = repo_open_opts(a->store, a->key, &a->so, &r, err, sizeof(err));
	if (rc < 0)
		problems_add(&pr, "store %s: %s", a->store, err[0] ? err : strerror(-rc));
	else
		rc = plan_validate(path, text, a->have_cfg ? &a->cfg : NULL, r, mode, NULL, &pc,
				   &pr);
	rc = print_problems(a, path, &pc, rc, &pr);
	plan_checked_release(&pc);
	problems_release(&pr);
	repo_close(r);
	return rc;
}

static int validate_remote(struct args *a, const char *path, const char *text)
{
	struct agent_client *c;
	int rc = open_agent(a, &c);
	if (rc)
		return rc;
	json_t *body = json_pack("{ss}", "plan", text), *resp = NULL;
	if (a->mode)
		json_object_set_new(body, "mode", json_string(a->mode));
	long status = 0;
	char err[512];
	rc = agent_call(c, "POST", "/v1/plans/validate", body, &status, &resp, err, sizeof(err));
	json_decref(body);
	agent_client_close(c);
	if (rc < 0)
		return ctl_fail(a, 1, "%s", err);
	json_t *pr = json_object_get(resp, "problems");
	if (status == 200 || (status == 422 && pr)) {
		rc = status == 200 ? 0 : 1;
		if (a->json) {
			json_object_set_new(resp, "plan", json_string(path));
			watch_print_json("result", resp);
			resp = NULL;
		} else {
			for (size_t i = 0; i < json_array_size(pr); i++)
				printf("%s\n", json_string_value(json_array_get(pr, i)) ?: "?");
			const char *e = json_string_value(json_object_get(resp, "error"));
			if (status == 422 && !json_array_size(pr))
				printf("%s\n", e ? e : "?");
			if (status == 200)
				printf("%s: valid\n", path);
		}
	} else {
		rc = api_error(a, status, resp);
	}
	json_decref(resp);
	return rc;
}

static int plan_validate_main(int argc, char **argv)
{
	struct args a = { .cmd = "plan validate", .usage = U_VALIDATE, .store_optional = true };
	enum plan_mode mode = PLAN_ANY;
	char *text = NULL;
	int rc = ctl_parse(argc, argv, AGENT_OPTS | OPT(PLAN) | OPT(MODE) | OPT(STORE) | OPT(KEY) |
			   OPT_S3, OPT(PLAN), &a);
	if (rc == 0 && a.mode && plan_mode_parse(a.mode, &mode) < 0)
		rc = ctl_usage(&a, "bad --mode (planned, forced, test or continuous)");
	if (rc == 0 && !(text = read_plan(&a, a.plan)))
		rc = 1;
	if (rc == 0)
		rc = a.agent ? validate_remote(&a, a.plan, text)
			     : validate_local(&a, a.plan, text, mode);
	free(text);
	ctl_args_release(&a);
	return rc;
}

/* plan set: register the plan with the agent (PUT /v1/domains/D/plan): RecoveryReady */
static int plan_set_main(int argc, char **argv)
{
	struct args a = { .cmd = "plan set", .usage = U_SET };
	struct agent_client *c = NULL;
	char dom[REPO_NAME_MAX + 1], url[256], *text = NULL;
	json_t *resp = NULL;
	int rc = ctl_parse(argc, argv, AGENT_OPTS | OPT(PLAN), OPT(PLAN), &a);
	if (rc == 0 && !(text = read_plan(&a, a.plan)))
		rc = 1;
	if (rc || (rc = plan_domain(&a, a.plan, dom, sizeof(dom))) ||
	    (rc = open_agent(&a, &c)))
		goto out;
	snprintf(url, sizeof(url), "/v1/domains/%s/plan", dom);
	if ((rc = call(&a, c, "PUT", url, json_pack("{ss}", "plan", text), &resp)))
		goto out;
	if (a.json)
		watch_print_json("result", json_incref(resp));
	else
		printf("plan of domain %s registered\n", dom);
out:
	json_decref(resp);
	free(text);
	agent_client_close(c);
	ctl_args_release(&a);
	return rc;
}

int ctl_plan_main(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "validate", plan_validate_main }, { "set", plan_set_main },
	};
	return ctl_dispatch("plan", U_VALIDATE U_MORE U_SET, subs, sizeof(subs) / sizeof(subs[0]),
			    argc, argv);
}
