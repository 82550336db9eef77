/* ferryctl point: ask ferryd (control socket "point DOMAIN") and wait for its answer, which
 * comes once the point's manifest is durable in the store. */
#include "mgmt/ctl-point.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/ctlsock.h"
#include "common/banned.h"

static int usage(void)
{
	fprintf(stderr, "usage: ferryctl point -c FILE --domain D [--wait] [--timeout SECONDS]\n");
	return 2;
}

int ctl_point_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "domain", required_argument, NULL, 'd' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 },
	};
	const char *conf = NULL, *domain = NULL;
	long timeout = 600;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': domain = optarg; break;
		case 'w': break;	/* always waits: a point id is only printed once durable */
		case 't': timeout = atol(optarg); break;
		default: return usage();
		}
	}
	if (!conf || !domain || optind != argc || timeout <= 0 || strchr(domain, '\n'))
		return usage();
	struct ferry_config cfg;
	char err[512];
	if (config_load(conf, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "ferryctl: %s\n", err);
		return 2;
	}
	char req[256];
	snprintf(req, sizeof(req), "point %s", domain);
	struct dbuf ans = DBUF_INIT(4096);
	int rc = ctlsock_request(cfg.control_socket, req, (unsigned)timeout, &ans);
	if (rc == -ETIMEDOUT || rc == -ENODATA) {
		fprintf(stderr, "ferryctl: no answer from ferryd (timed out?)\n");
	} else if (rc < 0) {
		fprintf(stderr, "ferryctl: cannot reach ferryd at %s: %s (is it running?)\n",
			cfg.control_socket, strerror(-rc));
	}
	config_release(&cfg);
	if (rc < 0) {
		dbuf_release(&ans);
		return 1;
	}
	char line[256];
	snprintf(line, sizeof(line), "%.*s", (int)ans.len, (const char *)ans.data);
	dbuf_release(&ans);
	line[strcspn(line, "\n")] = 0;
	if (strncmp(line, "ok ", 3) == 0) {
		printf("%s\n", line + 3);
		return 0;
	}
	fprintf(stderr, "ferryctl: %s\n", line);
	return 1;
}
