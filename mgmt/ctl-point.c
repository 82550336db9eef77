/* ferryctl point: ask ferryd (control socket "point DOMAIN") and wait for its answer, which
 * comes once the point's manifest is durable in the store. */
#include "mgmt/ctl-point.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
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
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", cfg.control_socket);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "ferryctl: cannot reach ferryd at %s: %s (is it running?)\n",
			cfg.control_socket, strerror(errno));
		if (fd >= 0)
			close(fd);
		config_release(&cfg);
		return 1;
	}
	config_release(&cfg);
	struct timeval tv = { .tv_sec = timeout };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char req[256], line[256];
	int n = snprintf(req, sizeof req, "point %s\n", domain);
	if (n >= (int)sizeof req || write_full(fd, req, (size_t)n) < 0) {
		fprintf(stderr, "ferryctl: control socket: request failed\n");
		close(fd);
		return 1;
	}
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
