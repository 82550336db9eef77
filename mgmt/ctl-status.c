/* ferryctl status: one request line to ferryd's control socket, print the answer. With
 * --json the answer is ferryd's own JSON document (one line). */
#include "mgmt/ctl-status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/control-client.h"
#include "mgmt/ctl-args.h"
#include "common/banned.h"

#define STATUS_TIMEOUT_S 5
#define STATUS_MAX (4u << 20)

int ctl_status_main(int argc, char **argv)
{
	struct args a = { .usage = "status -c FILE [--json]" };
	int rc = ctl_parse(argc, argv, OPT(CONF) | OPT(JSON), OPT(CONF), &a);
	if (rc)
		return rc;
	struct ferry_config cfg;
	char err[512], *answer;
	if (config_load(a.conf, &cfg, err, sizeof err) < 0)
		return ctl_fail(&a, 2, "%s", err);
	int r = control_request(cfg.control_socket, a.json ? "status json" : "status",
				STATUS_TIMEOUT_S, STATUS_MAX, &answer);
	if (r < 0)
		rc = ctl_fail_control(&a, cfg.control_socket, r);
	config_release(&cfg);
	if (r < 0)
		return rc;
	fputs(answer, stdout);
	free(answer);
	return fflush(stdout) ? 1 : 0;
}
