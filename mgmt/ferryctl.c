/* ferryctl: the operator CLI. Each subcommand lives in its own ctl-*.c file; this file only
 * dispatches. Exit 0 success, 1 failure, 2 bad usage or configuration (one-line reason).
 *
 * To add a subcommand: 1. write mgmt/ctl-NAME.c with `int ctl_NAME_main(int, char **)`
 * (argv[0] is the subcommand) that parses with ctl_parse (mgmt/ctl-args.h: --help,
 * errors and --json come with it) and returns its exit code or ctl_parse's; 2. declare
 * it in its header; 3. add a row to `commands`; 4. document it in docs/man/ferryctl.1. */
#include <stdio.h>
#include <string.h>

#include "mgmt/ctl.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-domains.h"
#include "mgmt/ctl-reip.h"
#include "mgmt/ctl-vm.h"
#include "mgmt/ctl-repo.h"
#include "mgmt/ctl-failover.h"
#include "mgmt/ctl-import.h"
#include "mgmt/ctl-rehydrate.h"
#include "mgmt/ctl-restore.h"
#include "mgmt/ctl-point.h"
#include "mgmt/ctl-status.h"
#include "mgmt/ctl-store.h"
#include "mgmt/ctl-trap.h"
#include "common/log.h"
#include "common/version.h"
#include "common/banned.h"

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "status", ctl_status_main, "ask the running ferryd: exports, log, domains, RPO" },
	{ "point", ctl_point_main, "cut a recovery point now and wait until it is durable" },
	{ "log", ctl_log_main, "inspect the replication log offline (stat|dump|verify|replay|dirty)" },
	{ "init", ctl_init_main, "create a repository in a store" },
	{ "domains", ctl_domains_main, "list a store's domains, their VMs, disks and newest point" },
	{ "vm", ctl_vm_main, "write a [vm] section from a libvirt domain (vm import)" },
	{ "reip", ctl_reip_main, "re-address a guest disk or a cloud-init seed offline" },
	{ "points", ctl_points_main, "list a domain's recovery points" },
	{ "restore", ctl_restore_main, "a disk at a point into a raw image, a VMDK or a device" },
	{ "import", ctl_import_main, "a protected disk's primary from a VMDK" },
	{ "rehydrate", ctl_rehydrate_main, "keep a domain's disks as VMDKs at the newest point" },
	{ "verify", ctl_verify_main, "check a repository (--read-data: every byte)" },
	{ "store", ctl_store_main, "check a store step by step; copy a repository into it" },
	{ "plan", ctl_plan_main, "check a recovery plan (validate) or register it with an agent (set)" },
	{ "failover", ctl_failover_main, "run and watch failovers through ferry-agent" },
	{ "trap", ctl_trap_main, "send a test notification to every SNMP receiver (trap test)" },
	{ "prune", ctl_prune_main, "expire points by retention and delete what they alone held" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ferryctl COMMAND [ARGS]   (ferryctl COMMAND --help: its options)\n"
		"       ferryctl --version\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "see ferryctl(1): man -l docs/man/ferryctl.1\n");
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
	if (!strcmp(argv[1], "--version")) {
		printf("ferryctl %s\n", FERRY_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		int rc = commands[i].main(argc - 1, argv + 1);
		return rc == CTL_HELP_SHOWN ? 0 : rc;
	}
	fprintf(stderr, "ferryctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
