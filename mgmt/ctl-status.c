/* ferryctl status: one request line to ferryd's control socket, print the answer. */
#include "mgmt/ctl-status.h"

#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>

#include "common/config.h"
#include "mgmt/ctl-control.h"
#include "common/banned.h"

int ctl_status_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	const char *conf = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'j': json = true; break;
		default:
			fprintf(stderr, "usage: ferryctl status -c FILE [--json]\n");
			return 2;
		}
	}
	if (!conf || optind != argc) {
		fprintf(stderr, "usage: ferryctl status -c FILE [--json]\n");
		return 2;
	}
	struct ferry_config cfg;
	char err[512];
	if (config_load(conf, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "ferryctl: %s\n", err);
		return 2;
	}
	int fd = ctl_control_request(cfg.control_socket, 5, json ? "status json" : "status");
	config_release(&cfg);
	if (fd < 0)
		return 1;
	long got = ctl_control_copy(fd, stdout);
	if (got <= 0) {
		fprintf(stderr, "ferryctl: ferryd closed the control connection without answering\n");
		return 1;
	}
	return 0;
}
