/* ferryctl: the operator CLI. Each subcommand lives in its own ctl-*.c file; this file only
 * dispatches. Exit 0 success, 1 failure, 2 bad usage or configuration (one-line reason).
 *
 * To add a subcommand: 1. write mgmt/ctl-NAME.c with `int ctl_NAME_main(int, char **)`
 * (argv[0] is the subcommand); 2. declare it in its header; 3. add a row to `commands`. */
#include <stdio.h>
#include <string.h>

#include "mgmt/ctl.h"
#include "mgmt/ctl-repo.h"
#include "mgmt/ctl-import.h"
#include "mgmt/ctl-rehydrate.h"
#include "mgmt/ctl-restore.h"
#include "mgmt/ctl-point.h"
#include "mgmt/ctl-status.h"
#include "mgmt/ctl-store.h"
#include "mgmt/ctl-trap.h"
#include "common/log.h"
#include "common/banned.h"

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "status", ctl_status_main, "status -c FILE [--json]        ask the running ferryd" },
	{ "point", ctl_point_main, "point -c FILE --domain D [--wait]  cut a recovery point now" },
	{ "log", ctl_log_main,
	  "log stat|dump|verify|replay|dirty -c FILE ...   inspect the replication log" },
	{ "init", ctl_init_main, "init --store URL --key-file PATH [--encryption none] [--chunk-size N]" },
	{ "points", ctl_points_main, "points --store URL --key-file PATH --domain D [--json]" },
	{ "restore", ctl_restore_main,
	  "restore --store URL --key-file PATH --domain D --disk X [--point P] [--format raw|vmdk|vmdk-flat|vmdk-stream [--level 1|2|3]] [--resume] -o PATH" },
	{ "import", ctl_import_main,
	  "import --vmdk IN.vmdk -o DISK.raw   a protected disk's primary from a VMDK" },
	{ "rehydrate", ctl_rehydrate_main,
	  "rehydrate --store URL --key-file PATH --domain D --dir DIR [--follow [--interval S]] [--complete]" },
	{ "verify", ctl_verify_main, "verify --store URL --key-file PATH [--read-data]" },
	{ "store", ctl_store_main,
	  "store check|copy -c FILE | --store URL [...]   check a store; copy a repository into it" },
	{ "trap", ctl_trap_main,
	  "trap test -c FILE | trap list   send a test notification to every SNMP receiver" },
	{ "prune", ctl_prune_main,
	  "prune -c FILE [--domain D] [--keep SPEC] [--grace SECONDS] [--wait]   expire points" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ferryctl COMMAND [ARGS]\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %s\n", commands[i].help);
}

int main(int argc, char **argv)
{
	log_setup("ferryctl", LOG_LVL_WARN);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "ferryctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
