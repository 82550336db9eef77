/* Showing operations: `failover status` (once, or --watch: the steps with progress bars,
 * redrawn), `--wait` (a line per step as it changes, for logs and scripts) and `failover
 * report` (a test failover's journal and the guests' serial logs). Everything here reads
 * the API's JSON (docs/api.md); nothing talks to the agent but watch_ops' polling. */
#include "mgmt/ctl-watch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/ctl-args.h"
#include "common/util.h"
#include "common/banned.h"

#define POLL_MS 500
#define BAR 20

static const char *s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static uint64_t u(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));
	return v > 0 ? (uint64_t)v : 0;
}

static void print_step(FILE *f, json_t *st, bool live)
{
	const char *state = s(st, "state");
	uint64_t start = u(st, "start"), end = u(st, "end");
	uint64_t done = u(st, "bytes_done"), total = u(st, "bytes_total");
	char took[32] = "";
	if (start && end >= start)
		snprintf(took, sizeof(took), "%6.1fs", (double)(end - start) / 1e9);
	else if (start && !strcmp(state, "running"))
		snprintf(took, sizeof(took), "%6.1fs", (double)(now_real_ns() - start) / 1e9);
	fprintf(f, "  %-8s %-32s %8s", state, s(st, "name"), took);
	if (total && (!strcmp(state, "running") || live)) {
		char a[32], b[32], bar[BAR + 1];
		unsigned fill = (unsigned)(done >= total ? BAR : done * BAR / total);
		for (unsigned i = 0; i < BAR; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[BAR] = 0;
		fmt_bytes(done, a, sizeof(a));
		fmt_bytes(total, b, sizeof(b));
		fprintf(f, "  [%s] %3u%% %s/%s", bar, (unsigned)(done * 100 / total), a, b);
	}
	if (s(st, "detail")[0] && strcmp(state, "running"))
		fprintf(f, "  %s", s(st, "detail"));
	fprintf(f, "\n");
}

/* The newest operation of a domain JSON, or the one with id (0: the newest). */
static json_t *find_op(json_t *dom, uint32_t id)
{
	json_t *ops = json_object_get(dom, "operations");
	size_t n = json_array_size(ops);
	if (!id)
		return n ? json_array_get(ops, n - 1) : NULL;
	for (size_t i = 0; i < n; i++)
		if (u(json_array_get(ops, i), "id") == id)
			return json_array_get(ops, i);
	return NULL;
}

static void print_op(FILE *f, json_t *op, bool live)
{
	uint64_t start = u(op, "start"), end = u(op, "end");
	char t0[32];
	ctl_fmt_time(start, t0, sizeof(t0));
	fprintf(f, "operation %" PRIu64 ": %s", u(op, "id"), s(op, "action"));
	if (s(op, "point")[0])
		fprintf(f, " at point %s", s(op, "point"));
	if (s(op, "point_spec")[0] && strcmp(s(op, "point_spec"), s(op, "point")))
		fprintf(f, " (%s)", s(op, "point_spec"));
	fprintf(f, ", %s, started %s", s(op, "result"), t0);
	if (end)
		fprintf(f, ", took %.1f s", (double)(end - start) / 1e9);
	fprintf(f, "\n");
	if (s(op, "failed_step")[0])
		fprintf(f, "  failed at %s: %s\n", s(op, "failed_step"), s(op, "reason"));
	else if (s(op, "reason")[0])
		fprintf(f, "  reason: %s\n", s(op, "reason"));
	json_t *steps = json_object_get(op, "steps");
	json_t *current = NULL;
	for (size_t i = 0; i < json_array_size(steps); i++) {
		json_t *st = json_array_get(steps, i);
		print_step(f, st, live);
		if (!strcmp(s(st, "state"), "running") && !current)
			current = st;
	}
	if (current && s(current, "detail")[0])
		fprintf(f, "  current: %s: %s\n", s(current, "name"), s(current, "detail"));
}

void watch_print_domain(FILE *f, json_t *dom, bool live)
{
	char since[32] = "";
	if (u(dom, "since"))
		ctl_fmt_time(u(dom, "since"), since, sizeof(since));
	fprintf(f, "domain %s: %s%s%s", s(dom, "domain"), s(dom, "state"), since[0] ? " since " : "",
		since);
	if (s(dom, "return_state")[0])
		fprintf(f, " (returns to %s after test-stop)", s(dom, "return_state"));
	fprintf(f, "\n");
	json_t *e = json_object_get(dom, "error");
	if (e)
		fprintf(f, "error: %s failed at %s: %s\n", s(e, "action"), s(e, "step"), s(e, "reason"));
	json_t *rh = json_object_get(dom, "rehydration");
	if (rh) {
		json_t *rpo = json_object_get(rh, "rpo_s");
		if (rpo)
			fprintf(f, "rehydrated at point %s, RPO %.1f s\n", s(rh, "point"),
				json_real_value(rpo));
		else
			fprintf(f, "rehydration: first sync in progress\n");
	}
	json_t *op = find_op(dom, 0);
	if (op)
		print_op(f, op, live);
}

/* ---- --wait and --watch ---- */

struct seen {
	char (*states)[16];
	size_t n;
};

/* Print the steps whose state changed since the last look, one line each. */
static void print_changes(const char *domain, json_t *op, struct seen *sn)
{
	json_t *steps = json_object_get(op, "steps");
	size_t n = json_array_size(steps);
	if (sn->n < n) {
		char (*v)[16] = realloc(sn->states, n * sizeof(*v));
		if (!v)
			return;
		for (size_t i = sn->n; i < n; i++)
			v[i][0] = 0;
		sn->states = v;
		sn->n = n;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *st = json_array_get(steps, i);
		const char *state = s(st, "state");
		if (!strcmp(sn->states[i], state) || !strcmp(state, "pending"))
			continue;
		snprintf(sn->states[i], sizeof(sn->states[i]), "%s", state);
		char t[32];
		ctl_fmt_time(now_real_ns(), t, sizeof(t));
		printf("%s %s: %-8s %s%s%s\n", t, domain, state, s(st, "name"),
		       s(st, "detail")[0] && strcmp(state, "running") ? ": " : "",
		       strcmp(state, "running") ? s(st, "detail") : "");
	}
	fflush(stdout);
}

/* Is the operation over (for --wait: a continuous one once its first sync is done)? */
static bool over(json_t *op, bool wait)
{
	if (strcmp(s(op, "result"), "running"))
		return true;
	if (wait && !strcmp(s(op, "action"), "continuous")) {
		json_t *st = json_array_get(json_object_get(op, "steps"), 0);
		return json_object_get(json_object_get(st, "result"), "point") != NULL;
	}
	return false;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

int watch_ops(const struct args *a, struct agent_client *c, const struct watch_target *t,
	      size_t n, unsigned flags)
{
	bool wait = flags & WATCH_WAIT, json = a->json;
	bool redraw = !wait && !json && isatty(STDOUT_FILENO);
	struct seen *sn = calloc(n, sizeof(*sn));
	bool *done = calloc(n, sizeof(bool));
	int rc = sn && done ? 0 : 1, failed = 0;
	size_t left = n;
	while (rc == 0 && left) {
		if (redraw)
			printf("\033[H\033[J");
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (done[i] && !redraw)
				continue;
			char path[256], err[512];
			snprintf(path, sizeof(path), "/v1/domains/%s?operations=all", t[i].domain);
			json_t *dom = NULL;
			long status = 0;
			if (agent_call(c, "GET", path, NULL, &status, &dom, err, sizeof(err)) < 0 ||
			    status != 200) {
				rc = ctl_fail(a, 1, "%s", status ? s(dom, "error") : err);
				json_decref(dom);
				break;
			}
			json_t *op = find_op(dom, t[i].op);
			if (redraw)
				watch_print_domain(stdout, dom, true);
			else if (op && !json)
				print_changes(t[i].domain, op, &sn[i]);
			if (!done[i] && (!op || over(op, wait))) {
				done[i] = true;
				left--;
				if (op && strcmp(s(op, "result"), "done") && strcmp(s(op, "result"), "running"))
					failed++;
				json_t *rh = json_object_get(dom, "rehydration");
				if (json)
					watch_print_json("domain", json_incref(dom));
				else if (!redraw && op && !strcmp(s(op, "result"), "running") && rh)
					printf("%s: %s: disks at point %s, following the newest points\n",
					       t[i].domain, s(op, "action"), s(rh, "point"));
				else if (!redraw && op)
					printf("%s: %s %s%s%s%s%s\n", t[i].domain, s(op, "action"),
					       s(op, "result"), s(op, "failed_step")[0] ? " at " : "",
					       s(op, "failed_step"), s(op, "reason")[0] ? ": " : "",
					       s(op, "reason"));
			}
			json_decref(dom);
		}
		fflush(stdout);
		if (rc == 0 && left)
			sleep_ms(POLL_MS);
	}
	for (size_t i = 0; sn && i < n; i++)
		free(sn[i].states);
	free(sn);
	free(done);
	if (rc == 0 && json)
		watch_print_json("result", json_pack("{sbsi}", "ok", failed == 0, "failed", failed));
	return rc ? rc : failed ? 1 : 0;
}

void watch_print_json(const char *event, json_t *v)
{
	char *text = NULL;
	json_t *o = json_pack("{ss}", "event", event);	/* the event first, as jobj does */
	if (o && v && json_object_update(o, v) == 0)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text)
		printf("%s\n", text);
	fflush(stdout);
	free(text);
	json_decref(o);
	json_decref(v);
}

/* ---- report ---- */

void watch_print_report(FILE *f, json_t *rep)
{
	json_t *test = json_object_get(rep, "test"), *stop = json_object_get(rep, "test_stop");
	fprintf(f, "test failover of domain %s\n", s(rep, "domain"));
	print_op(f, test, false);
	if (json_is_object(stop)) {
		fprintf(f, "test-stop:\n");
		print_op(f, stop, false);
	} else {
		fprintf(f, "test-stop: not yet (the test copies still run)\n");
	}
	json_t *serial = json_object_get(rep, "serial");
	const char *vm;
	json_t *log;
	json_object_foreach(serial, vm, log) {
		fprintf(f, "serial console of %s:\n", vm);
		const char *text = json_string_value(log);
		for (const char *p = text; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(f, "  | %.*s\n", (int)len, p);
			p += len + (nl != NULL);
		}
	}
}
