/* The daemons' command line (contract in daemon-args.h). */
#include "common/daemon-args.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/version.h"
#include "common/banned.h"

static void usage(FILE *f, const struct daemon_args *a)
{
	fprintf(f, "usage: %s -c FILE%s [--exit-with-parent] [-v]\n"
		   "  -c, --config FILE      %s\n%s"
		   "      --exit-with-parent stop when the parent process dies (tests)\n"
		   "  -v, --verbose          debug logging\n"
		   "  -h, --help             this text\n"
		   "      --version          print the version\n", a->name,
		a->log_file_option ? " [--log-file PATH]" : "", a->config_help,
		a->log_file_option ? "      --log-file PATH    log to PATH (appended; reopened on SIGHUP)\n"
				     "                         instead of stderr\n" : "");
}

int daemon_args_parse(int argc, char **argv, struct daemon_args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "exit-with-parent", no_argument, NULL, 'P' },
		{ "log-file", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;
	a->conf = NULL;
	a->log_file = NULL;
	a->level = LOG_LVL_INFO;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->conf = optarg; break;
		case 'v': a->level = LOG_LVL_DEBUG; break;
		case 'L':
			if (!a->log_file_option) {
				fprintf(stderr, "%s: unrecognized option '--log-file'\n", a->name);
				usage(stderr, a);
				return 2;
			}
			a->log_file = optarg;
			break;
		case 'P':
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			/* the parent may have died before the prctl: then we were adopted */
			if (getppid() == 1)
				return 1;
			break;
		case 'h': usage(stdout, a); return 0;
		case 'V': printf("%s %s\n", a->name, FERRY_VERSION); return 0;
		default: usage(stderr, a); return 2;
		}
	}
	if (!a->conf || optind != argc) {
		usage(stderr, a);
		return 2;
	}
	return -1;
}
