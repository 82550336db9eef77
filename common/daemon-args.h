/* The command line of ferry's daemons (ferryd, ferry-agent, ferry-subagent): one parser so
 * that all three take the same options and answer --help and --version alike.
 *
 *   NAME -c FILE [--log-file PATH] [--exit-with-parent] [-v]
 *   -c, --config FILE       the configuration (required)
 *       --log-file PATH     only where the daemon asks for it (log_file_option): where
 *                           to log instead of stderr; the daemon opens it
 *       --exit-with-parent  stop (SIGTERM) when the parent process dies; tests use it so
 *                           that a failed test leaves no daemon behind
 *   -v, --verbose           debug logging
 *   -h, --help              the usage on stdout, exit 0
 *       --version           "NAME VERSION" on stdout, exit 0
 * Anything else: the usage on stderr, exit 2. */
#ifndef FERRY_DAEMON_ARGS_H
#define FERRY_DAEMON_ARGS_H

#include <stdbool.h>

#include "common/log.h"

struct daemon_args {
	const char *name;	/* in: the program's name */
	const char *config_help;	/* in: what the configuration is for, one line */
	bool log_file_option;	/* in: accept --log-file PATH */
	const char *conf;	/* out: -c FILE */
	const char *log_file;	/* out: --log-file PATH, or NULL */
	enum log_level level;	/* out: LOG_LVL_INFO, or LOG_LVL_DEBUG with -v */
};

/* Parse argv. -1: go on; otherwise the exit code (0 after --help or --version, 1 when
 * --exit-with-parent finds the parent already gone, 2 bad usage), with its output done. */
int daemon_args_parse(int argc, char **argv, struct daemon_args *a);

#endif
