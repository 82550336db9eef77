/* ferryctl failover and plan: thin clients of ferry-agent's API (docs/api.md), and the
 * agent-less dry run of a plan.
 *
 *   failover start     -a AGENT -p PLAN [-p PLAN...] --mode M [--point P] [--wait] [--json]
 *   failover complete  -a AGENT (-p PLAN | --domain D) [--point P] [--wait] [--json]
 *   failover test-stop -a AGENT (-p PLAN | --domain D) [--wait] [--json]
 *   failover status    -a AGENT (-p PLAN | --domain D) [--watch] [--json]
 *   failover report    -a AGENT (-p PLAN | --domain D) [--json]
 *   plan validate      -p PLAN [--mode M] [--json] (-a AGENT | -c FILE | --store URL --key-file P)
 *   plan set           -a AGENT -p PLAN [--json]      register it: the domain is RecoveryReady
 *
 * -a is the agent's unix socket or URL; without it, -c FILE's [agent] socket. The plan
 * files are read here and their text sent to the agent (it may run elsewhere). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/plan.h"
#include "agent/validate.h"
#include "common/config.h"
#include "mgmt/agent-client.h"
#include "mgmt/ctl-failover.h"
#include "mgmt/ctl-watch.h"
#include "common/banned.h"

#define MAX_PLANS 64

struct fo_args {
	const char *cmd, *sub, *agent, *conf, *mode, *point, *store, *key;
	const char *plans[MAX_PLANS];
	size_t n_plans;
	const char *domains[MAX_PLANS];
	size_t n_domains;
	bool wait, watch, json;
	struct ferry_config cfg;
	bool have_cfg;
};

static int usage(const char *why)
{
	fprintf(stderr, "ferryctl: %s\n"
		"usage: ferryctl failover start -a AGENT -p PLAN [-p PLAN...] --mode planned|forced|test|continuous [--point ID|latest|TIME] [--wait] [--json]\n"
		"       ferryctl failover complete|test-stop|status|report -a AGENT (-p PLAN | --domain D) [--point P] [--wait] [--watch] [--json]\n"
		"       ferryctl plan validate -p PLAN [--mode M] [--json] (-a AGENT | -c FILE | --store URL --key-file P)\n"
		"       ferryctl plan set -a AGENT -p PLAN [--json]\n"
		"       (-a AGENT: the agent's unix socket or http://HOST:PORT; or -c FILE with [agent])\n",
		why);
	return 2;
}

static int parse(int argc, char **argv, struct fo_args *a)
{
	enum { O_MODE = 256, O_POINT, O_WAIT, O_WATCH, O_JSON, O_DOMAIN, O_STORE, O_KEY };
	static const struct option opts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "config", required_argument, NULL, 'c' },
		{ "plan", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, O_MODE },
		{ "point", required_argument, NULL, O_POINT },
		{ "wait", no_argument, NULL, O_WAIT },
		{ "watch", no_argument, NULL, O_WATCH },
		{ "json", no_argument, NULL, O_JSON },
		{ "domain", required_argument, NULL, O_DOMAIN },
		{ "store", required_argument, NULL, O_STORE },
		{ "key-file", required_argument, NULL, O_KEY },
		{ 0 },
	};
	memset(a, 0, sizeof(*a));
	a->cmd = argv[0];
	if (argc < 2)
		return usage("which subcommand?");
	a->sub = argv[1];
	optind = 2;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "a:c:p:", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': a->agent = optarg; break;
		case 'c': a->conf = optarg; break;
		case 'p':
			if (a->n_plans == MAX_PLANS)
				return usage("too many plans");
			a->plans[a->n_plans++] = optarg;
			break;
		case O_DOMAIN:
			if (a->n_domains == MAX_PLANS)
				return usage("too many domains");
			a->domains[a->n_domains++] = optarg;
			break;
		case O_MODE: a->mode = optarg; break;
		case O_POINT: a->point = optarg; break;
		case O_WAIT: a->wait = true; break;
		case O_WATCH: a->watch = true; break;
		case O_JSON: a->json = true; break;
		case O_STORE: a->store = optarg; break;
		case O_KEY: a->key = optarg; break;
		default: return usage("bad option");
		}
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (a->conf) {
		char err[512];
		if (config_load_any(a->conf, &a->cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "ferryctl: %s\n", err);
			return 2;
		}
		a->have_cfg = true;
	}
	return 0;
}

static void release(struct fo_args *a)
{
	if (a->have_cfg)
		config_release(&a->cfg);
}

/* The whole file (at most PLAN_MAX_TEXT bytes), NUL-terminated; NULL with a message. */
static char *read_plan(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ferryctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(PLAN_MAX_TEXT + 2);
	size_t len = 0;
	ssize_t n = 0;
	while (buf && len <= PLAN_MAX_TEXT &&
	       (n = read(fd, buf + len, PLAN_MAX_TEXT + 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (!buf || n < 0 || len > PLAN_MAX_TEXT) {
		fprintf(stderr, "ferryctl: %s: %s\n", path, !buf ? "out of memory" : n < 0
			? strerror(errno) : "too large for a plan");
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	if (strlen(buf) != len) {
		fprintf(stderr, "ferryctl: %s: a NUL byte in a plan\n", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* The domain a plan file names (parsed here, only for its name). */
static int plan_domain(const char *path, char *out, size_t n)
{
	char *text = read_plan(path);
	if (!text)
		return -1;
	struct plan p;
	struct problems pr = { 0 };
	int rc = plan_parse(path, text, strlen(text), &p, &pr);
	if (rc == 0) {
		snprintf(out, n, "%s", p.domain);
		plan_release(&p);
	} else {
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "ferryctl: %s\n", pr.v[i]);
	}
	problems_release(&pr);
	free(text);
	return rc;
}

static int open_agent(struct fo_args *a, struct agent_client **c)
{
	const char *target = a->agent ? a->agent : a->have_cfg ? a->cfg.agent_socket : NULL;
	if (!target)
		return usage("give -a AGENT (socket or URL) or -c FILE with an [agent] section");
	char err[512];
	if (agent_client_open(target, c, err, sizeof(err)) < 0) {
		fprintf(stderr, "ferryctl: %s\n", err);
		return 1;
	}
	return 0;
}

/* Print an API error answer: its message and every problem, one per line. */
static void print_api_error(long status, json_t *resp)
{
	const char *msg = json_string_value(json_object_get(resp, "error"));
	json_t *pr = json_object_get(resp, "problems");
	if (json_array_size(pr) > 1 || (json_array_size(pr) == 1 && !msg))
		msg = NULL;
	if (msg)
		fprintf(stderr, "ferryctl: %s\n", msg);
	for (size_t i = 0; i < json_array_size(pr); i++)
		if (!msg || strcmp(msg, json_string_value(json_array_get(pr, i)) ?: ""))
			fprintf(stderr, "%s\n", json_string_value(json_array_get(pr, i)) ?: "?");
	if (!msg && !json_array_size(pr))
		fprintf(stderr, "ferryctl: the agent answered %ld\n", status);
}

/* One API call; 0 with *resp on a 2xx answer, else the exit code after printing why. */
static int call(struct agent_client *c, const char *method, const char *path, json_t *body,
		json_t **resp)
{
	long status = 0;
	char err[512];
	int rc = agent_call(c, method, path, body, &status, resp, err, sizeof(err));
	json_decref(body);
	if (rc < 0) {
		fprintf(stderr, "ferryctl: %s\n", err);
		return 1;
	}
	if (status / 100 != 2) {
		print_api_error(status, *resp);
		json_decref(*resp);
		*resp = NULL;
		return status == 400 ? 2 : 1;
	}
	return 0;
}

/* The domains of the command: --domain names and the plans' domains. */
static int domains(struct fo_args *a, char names[][REPO_NAME_MAX + 1], size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < a->n_domains; i++)
		snprintf(names[(*n)++], REPO_NAME_MAX + 1, "%s", a->domains[i]);
	for (size_t i = 0; i < a->n_plans; i++)
		if (plan_domain(a->plans[i], names[(*n)++], REPO_NAME_MAX + 1) < 0)
			return 1;
	if (*n == 0)
		return usage("give -p PLAN or --domain D");
	return 0;
}

static void print_json(json_t *v)
{
	watch_print_json(v);
}

/* ---- subcommands ---- */

static int cmd_start(struct fo_args *a, struct agent_client *c)
{
	if (!a->mode || a->n_plans == 0 || a->n_domains || a->watch)
		return usage("failover start needs --mode and -p PLAN (no --domain, no --watch)");
	json_t *plans = json_array(), *resp;
	for (size_t i = 0; i < a->n_plans; i++) {
		char *t = read_plan(a->plans[i]);
		if (!t) {
			json_decref(plans);
			return 1;
		}
		json_array_append_new(plans, json_string(t));
		free(t);
	}
	json_t *body = json_pack("{ssso}", "mode", a->mode, "plans", plans);
	if (body && a->point)
		json_object_set_new(body, "point", json_string(a->point));
	int rc = call(c, "POST", "/v1/failover", body, &resp);
	if (rc)
		return rc;
	json_t *ops = json_object_get(resp, "operations");
	struct watch_target t[MAX_PLANS];
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(ops) && n < MAX_PLANS; i++) {
		json_t *o = json_array_get(ops, i);
		snprintf(t[n].domain, sizeof(t[n].domain), "%s",
			 json_string_value(json_object_get(o, "domain")) ?: "?");
		t[n].op = (uint32_t)json_integer_value(json_object_get(o, "op"));
		if (!a->json)
			printf("%s failover of %s started (operation %u)\n", a->mode, t[n].domain,
			       t[n].op);
		n++;
	}
	if (a->json && !a->wait)
		print_json(resp);
	json_decref(resp);
	return a->wait ? watch_ops(c, t, n, WATCH_WAIT | (a->json ? WATCH_JSON : 0)) : 0;
}

static int cmd_followup(struct fo_args *a, struct agent_client *c, bool complete)
{
	char names[MAX_PLANS][REPO_NAME_MAX + 1];
	size_t n;
	int rc = domains(a, names, &n);
	if (rc)
		return rc;
	if (a->mode || a->watch || (a->point && !complete))
		return usage(complete ? "complete takes --point, --wait, --json"
				      : "test-stop takes --wait, --json");
	struct watch_target t[MAX_PLANS];
	for (size_t i = 0; i < n; i++) {
		char path[256];
		snprintf(path, sizeof(path), "/v1/domains/%s/%s", names[i],
			 complete ? "complete" : "test-stop");
		json_t *body = json_object(), *resp;
		if (a->point)
			json_object_set_new(body, "point", json_string(a->point));
		if ((rc = call(c, "POST", path, body, &resp)))
			return rc;
		snprintf(t[i].domain, sizeof(t[i].domain), "%.63s", names[i]);
		t[i].op = (uint32_t)json_integer_value(json_object_get(resp, "op"));
		if (!a->json)
			printf("%s of %s started (operation %u)\n", complete ? "complete" : "test-stop",
			       names[i], t[i].op);
		else if (!a->wait)
			print_json(resp);
		json_decref(resp);
	}
	return a->wait ? watch_ops(c, t, n, WATCH_WAIT | (a->json ? WATCH_JSON : 0)) : 0;
}

static void print_domain(json_t *v)
{
	watch_print_domain(stdout, v, false);
}

static void print_report(json_t *v)
{
	watch_print_report(stdout, v);
}

/* GET /v1/domains/NAME + suffix for each domain; show each answer. */
static int get_each(struct fo_args *a, struct agent_client *c, char names[][REPO_NAME_MAX + 1],
		    size_t n, const char *suffix, void (*show)(json_t *))
{
	for (size_t i = 0; i < n; i++) {
		char path[256];
		snprintf(path, sizeof(path), "/v1/domains/%s%s", names[i], suffix);
		json_t *resp;
		int rc = call(c, "GET", path, NULL, &resp);
		if (rc)
			return rc;
		(a->json ? print_json : show)(resp);
		json_decref(resp);
	}
	return 0;
}

static int cmd_status(struct fo_args *a, struct agent_client *c)
{
	char names[MAX_PLANS][REPO_NAME_MAX + 1];
	size_t n;
	int rc = domains(a, names, &n);
	if (rc)
		return rc;
	if (a->mode || a->point || a->wait)
		return usage("status takes --watch and --json");
	if (!a->watch)
		return get_each(a, c, names, n, a->json ? "?operations=all" : "", print_domain);
	struct watch_target t[MAX_PLANS];
	for (size_t i = 0; i < n; i++) {
		snprintf(t[i].domain, sizeof(t[i].domain), "%.63s", names[i]);
		t[i].op = 0;	/* the newest */
	}
	return watch_ops(c, t, n, a->json ? WATCH_JSON : 0);
}

static int cmd_report(struct fo_args *a, struct agent_client *c)
{
	char names[MAX_PLANS][REPO_NAME_MAX + 1];
	size_t n;
	int rc = domains(a, names, &n);
	if (rc)
		return rc;
	if (a->mode || a->point || a->wait || a->watch)
		return usage("report takes --json");
	return get_each(a, c, names, n, "/report", print_report);
}

int ctl_failover_main(int argc, char **argv)
{
	struct fo_args a;
	int rc = parse(argc, argv, &a);
	if (rc)
		return rc;
	struct agent_client *c = NULL;
	static const char *const subs[] = { "start", "complete", "test-stop", "status", "report" };
	bool known = false;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known |= !strcmp(a.sub, subs[i]);
	if (!known)
		rc = usage("unknown failover subcommand");
	else if (a.store || a.key)
		rc = usage("--store and --key-file are for plan validate");
	else
		rc = open_agent(&a, &c);
	if (rc == 0) {
		if (!strcmp(a.sub, "start"))
			rc = cmd_start(&a, c);
		else if (!strcmp(a.sub, "complete"))
			rc = cmd_followup(&a, c, true);
		else if (!strcmp(a.sub, "test-stop"))
			rc = cmd_followup(&a, c, false);
		else if (!strcmp(a.sub, "status"))
			rc = cmd_status(&a, c);
		else
			rc = cmd_report(&a, c);
	}
	agent_client_close(c);
	release(&a);
	return rc;
}

/* ---- plan validate ---- */

static int print_problems(const char *path, const struct plan_checked *pc, int rc,
			  const struct problems *pr, bool json)
{
	if (json) {
		json_t *p = json_array(), *boot = json_array();
		for (size_t i = 0; i < pr->n; i++)
			json_array_append_new(p, json_string(pr->v[i]));
		for (size_t i = 0; rc == 0 && pc->have_view && i < pc->view.n; i++)
			json_array_append_new(boot, json_string(pc->view.vms[pc->view.boot[i]].desc->name));
		json_t *o = json_pack("{sssbsoso}", "plan", path, "ok", rc == 0, "problems", p,
				      "boot_order", boot);
		if (o && pc->have_plan)
			json_object_set_new(o, "domain", json_string(pc->plan.domain));
		print_json(o);
		json_decref(o);
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

static int validate_local(struct fo_args *a, const char *path, const char *text,
			  enum plan_mode mode)
{
	const char *url = a->store ? a->store : a->have_cfg ? a->cfg.store_url : NULL;
	const char *key = a->key ? a->key : a->have_cfg ? a->cfg.store_key_file : NULL;
	if (!url)
		return usage("plan validate needs the store: -c FILE, --store URL --key-file P, or "
			     "-a AGENT");
	struct store_opts so, *sop = NULL;
	if (a->have_cfg) {
		repo_store_opts(&a->cfg, &so);
		sop = &so;
	}
	struct repo *r = NULL;
	struct problems pr = { 0 };
	struct plan_checked pc = { 0 };
	char err[512] = "";
	int rc = repo_open_opts(url, key, sop, &r, err, sizeof(err));
	if (rc < 0)
		problems_add(&pr, "store %s: %s", url, err[0] ? err : strerror(-rc));
	else
		rc = plan_validate(path, text, a->have_cfg ? &a->cfg : NULL, r, mode, NULL, &pc, &pr);
	rc = print_problems(path, &pc, rc, &pr, a->json);
	plan_checked_release(&pc);
	problems_release(&pr);
	if (r)
		repo_close(r);
	return rc;
}

static int validate_remote(struct fo_args *a, const char *path, const char *text)
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
	if (rc < 0) {
		fprintf(stderr, "ferryctl: %s\n", err);
		return 1;
	}
	json_t *pr = json_object_get(resp, "problems");
	if (status == 200 || (status == 422 && pr)) {
		struct problems p = { 0 };
		for (size_t i = 0; i < json_array_size(pr); i++)
			problems_add(&p, "%s", json_string_value(json_array_get(pr, i)) ?: "?");
		if (status == 422 && !p.n)
			problems_add(&p, "%s", json_string_value(json_object_get(resp, "error")) ?: "?");
		if (a->json) {
			json_object_set_new(resp, "plan", json_string(path));
			print_json(resp);
			rc = status == 200 ? 0 : 1;
		} else {
			for (size_t i = 0; i < p.n; i++)
				printf("%s\n", p.v[i]);
			if (status == 200)
				printf("%s: valid\n", path);
			rc = status == 200 ? 0 : 1;
		}
		problems_release(&p);
	} else {
		print_api_error(status, resp);
		rc = status == 400 ? 2 : 1;
	}
	json_decref(resp);
	return rc;
}

/* plan set: register the plan with the agent (PUT /v1/domains/D/plan): RecoveryReady */
static int plan_set(struct fo_args *a, const char *path, const char *text)
{
	char dom[REPO_NAME_MAX + 1], url[256];
	struct agent_client *c;
	if (plan_domain(path, dom, sizeof(dom)) < 0)
		return 1;
	int rc = open_agent(a, &c);
	if (rc)
		return rc;
	snprintf(url, sizeof(url), "/v1/domains/%s/plan", dom);
	json_t *resp;
	rc = call(c, "PUT", url, json_pack("{ss}", "plan", text), &resp);
	agent_client_close(c);
	if (rc)
		return rc;
	if (a->json)
		print_json(resp);
	else
		printf("plan of domain %s registered\n", dom);
	json_decref(resp);
	return 0;
}

int ctl_plan_main(int argc, char **argv)
{
	struct fo_args a;
	int rc = parse(argc, argv, &a);
	if (rc)
		return rc;
	enum plan_mode mode = PLAN_ANY;
	bool set = !strcmp(a.sub, "set");
	if (strcmp(a.sub, "validate") && !set)
		rc = usage("unknown plan subcommand (plan validate, plan set)");
	else if (set && (a.n_plans != 1 || !a.agent || a.mode || a.n_domains || a.point || a.wait ||
			 a.watch))
		rc = usage("plan set takes -a AGENT and one -p PLAN");
	else if (a.n_plans != 1 || a.n_domains || a.point || a.wait || a.watch)
		rc = usage("plan validate takes one -p PLAN, --mode, --json and where to look");
	else if (a.mode && plan_mode_parse(a.mode, &mode) < 0)
		rc = usage("--mode planned|forced|test|continuous");
	char *text = rc ? NULL : read_plan(a.plans[0]);
	if (!rc && !text)
		rc = 1;
	if (!rc)
		rc = set ? plan_set(&a, a.plans[0], text)
		     : a.agent ? validate_remote(&a, a.plans[0], text)
			       : validate_local(&a, a.plans[0], text, mode);
	free(text);
	release(&a);
	return rc;
}
