/* ferryctl status: one request line to ferryd's control socket, print the answer. */
#include "mgmt/ctl-status.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
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
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(cfg.control_socket) >= sizeof sa.sun_path) {
		fprintf(stderr, "ferryctl: control socket path too long\n");
		config_release(&cfg);
		return 2;
	}
	memcpy(sa.sun_path, cfg.control_socket, strlen(cfg.control_socket) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "ferryctl: cannot reach ferryd at %s: %s (is it running?)\n",
			cfg.control_socket, strerror(errno));
		if (fd >= 0)
			close(fd);
		config_release(&cfg);
		return 1;
	}
	config_release(&cfg);
	const char *req = json ? "status json\n" : "status\n";
	int rc = 0;
	if (write_full(fd, req, strlen(req)) < 0) {
		fprintf(stderr, "ferryctl: control socket: %s\n", strerror(errno));
		rc = 1;
	}
	char buf[8192];
	ssize_t n;
	bool any = false;
	while (!rc && (n = read(fd, buf, sizeof buf)) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		any = true;
	}
	close(fd);
	if (!rc && !any) {
		fprintf(stderr, "ferryctl: ferryd closed the control connection without answering\n");
		rc = 1;
	}
	return rc;
}
