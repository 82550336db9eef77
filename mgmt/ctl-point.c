/* ferryctl point: ask ferryd (control socket "point DOMAIN") and wait for its answer, which
 * comes once the point's manifest is durable in the store. */
#include "mgmt/ctl-point.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "mgmt/ctl-control.h"
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
	char req[256], line[256];
	snprintf(req, sizeof req, "point %s", domain);
	int fd = ctl_control_request(cfg.control_socket, (unsigned)timeout, req);
	config_release(&cfg);
	if (fd < 0)
		return 1;
	size_t got = 0;
	ssize_t k;
	while (got < sizeof line - 1 && (k = read(fd, line + got, sizeof line - 1 - got)) > 0)
		got += (size_t)k;
	close(fd);
	line[got] = 0;
	line[strcspn(line, "\n")] = 0;
	if (strncmp(line, "ok ", 3) == 0) {
		printf("%s\n", line + 3);
		return 0;
	}
	fprintf(stderr, "ferryctl: %s\n", got ? line : "no answer from ferryd (timed out?)");
	return 1;
}
