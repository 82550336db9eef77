/* Entry points of ferryctl subcommands implemented in mgmt/ctl-*.c. Each takes the argument
 * vector with argv[0] == the subcommand name and returns the process exit code: 0 success,
 * 1 failure, 2 bad usage or configuration (after printing a one-line reason to stderr). */
#ifndef FERRY_CTL_H
#define FERRY_CTL_H

/* `ferryctl log stat|dump|verify|replay|dirty -c FILE ...`: offline inspection of the
 * replication log named by the configuration's [log] path. Opens it read-only and never
 * writes to it, so it is safe while ferryd runs (it then sees the log as of its open). */
int ctl_log_main(int argc, char **argv);

#endif
