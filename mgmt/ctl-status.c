/* ferryctl status: one request line to ferryd's control socket, print the answer. */
#include "mgmt/ctl-status.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/ctlsock.h"
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
	struct dbuf ans = DBUF_INIT(16u << 20);
	int rc = ctlsock_request(cfg.control_socket, json ? "status json" : "status", 5, &ans);
	if (rc == -ENODATA)
		fprintf(stderr, "ferryctl: ferryd closed the control connection without answering\n");
	else if (rc == -ETIMEDOUT)
		fprintf(stderr, "ferryctl: control socket: no answer from ferryd\n");
	else if (rc < 0)
		fprintf(stderr, "ferryctl: cannot reach ferryd at %s: %s (is it running?)\n",
			cfg.control_socket, strerror(-rc));
	else
		fwrite(ans.data, 1, ans.len, stdout);
	config_release(&cfg);
	dbuf_release(&ans);
	return rc < 0 ? 1 : 0;
}
