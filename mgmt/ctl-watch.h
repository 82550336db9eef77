/* Showing the agent's operations in a terminal or a log (mgmt/ctl-watch.c). */
#ifndef FERRY_CTL_WATCH_H
#define FERRY_CTL_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "mgmt/agent-client.h"
#include "repo/repo.h"

struct watch_target {
	char domain[REPO_NAME_MAX + 1];
	uint32_t op;			/* 0: the domain's newest operation */
};

enum { WATCH_WAIT = 1 };

struct args;

/* Poll the operations until each is over (WATCH_WAIT: a continuous one once it holds a
 * point). On a terminal without WATCH_WAIT the domains are redrawn with progress bars;
 * otherwise each step prints a line when its state changes, and each operation a line
 * when it ends. With a->json: a "domain" object (the domain and its operations) as each
 * operation ends, then a "result" object {"ok", "failed"}; errors as error objects
 * (ctl_fail). 0 when all ended done, 1 when one failed or the agent could not be asked. */
int watch_ops(const struct args *a, struct agent_client *c, const struct watch_target *t,
	      size_t n, unsigned flags);
/* A domain's state and its newest operation's steps (live: progress bars). */
void watch_print_domain(FILE *f, json_t *dom, bool live);
/* A test failover's report: its steps, its test-stop's, the guests' serial logs. */
void watch_print_report(FILE *f, json_t *rep);
/* v (taken: released here; NULL is fine) as one line of --json output, with its "event"
 * member set (mgmt/ctl-json.h's convention). */
void watch_print_json(const char *event, json_t *v);

#endif
