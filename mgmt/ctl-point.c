/* ferryctl point: ask ferryd (control socket "point DOMAIN") and wait for its answer, which
 * comes once the point's manifest is durable in the store: "ok EPOCH.SEQ" or
 * "error: reason". */
#include "mgmt/ctl-point.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/control-client.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-json.h"
#include "common/banned.h"

#define ANSWER_MAX 4096u

int ctl_point_main(int argc, char **argv)
{
	/* --wait is accepted and always in effect: a point id is only printed once durable */
	struct args a = { .usage = "point -c FILE --domain D [--wait] [--timeout SECONDS] "
			  "[--json]" };
	int rc = ctl_parse(argc, argv, OPT(CONF) | OPT(DOMAIN) | OPT(WAIT) | OPT(TIMEOUT) |
			   OPT(JSON), OPT(CONF) | OPT(DOMAIN), &a);
	if (rc)
		return rc;
	long timeout = 600;
	char *end = NULL;
	if (a.timeout)
		timeout = strtol(a.timeout, &end, 10);
	if ((end && *end) || timeout <= 0 || timeout > 86400)
		return ctl_usage(&a, "bad --timeout (seconds, 1 to 86400)");
	if (strchr(a.domain, '\n'))
		return ctl_usage(&a, "bad --domain");
	struct ferry_config cfg;
	char err[512], req[300], *answer;
	if (config_load(a.conf, &cfg, err, sizeof err) < 0)
		return ctl_fail(&a, 2, "%s", err);
	if ((size_t)snprintf(req, sizeof req, "point %s", a.domain) >= sizeof req) {
		config_release(&cfg);
		return ctl_usage(&a, "bad --domain (too long)");
	}
	int r = control_request(cfg.control_socket, req, (unsigned)timeout, ANSWER_MAX, &answer);
	if (r < 0) {
		rc = r == -ETIMEDOUT ? ctl_fail(&a, 1, "no answer from ferryd within %ld s", timeout)
				     : ctl_fail_control(&a, cfg.control_socket, r);
		config_release(&cfg);
		return rc;
	}
	config_release(&cfg);
	answer[strcspn(answer, "\n")] = '\0';
	if (strncmp(answer, "ok ", 3) == 0 && a.json) {
		struct jobj j;
		jobj_begin(&j, "result");
		jobj_str(&j, "domain", a.domain);
		jobj_str(&j, "point", answer + 3);
		rc = jobj_print(&j) ? 1 : 0;
	} else if (strncmp(answer, "ok ", 3) == 0) {
		printf("%s\n", answer + 3);
		rc = 0;
	} else {
		rc = ctl_fail(&a, 1, "%s", strncmp(answer, "error: ", 7) ? answer : answer + 7);
	}
	free(answer);
	return rc;
}
