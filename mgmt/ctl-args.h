/* ferryctl's one option parser and its error and output conventions, shared by every
 * subcommand.
 *
 * Each command lists the options it accepts and those it requires (OPT(NAME) bits); the
 * parser knows every option's name, value and meaning once. For every command:
 * - --help (or -h) prints "usage: ferryctl USAGE" on stdout and the command exits 0;
 * - an unknown option, an option the command does not take, a missing value, a stray
 *   argument: "ferryctl CMD: unknown option '--x'" (naming the option) and the usage line,
 *   exit 2; a missing required option is named: "missing --domain D";
 * - with --json (for the commands that take it), everything on stdout is JSON, one object
 *   per line, and errors too: {"event":"error","command":"CMD","error":"...","exit":N}.
 * Repository commands (those that take --store) get the store URL and key file from
 * --store/--key-file or from -c FILE's [store] section, whose backend options (S3
 * endpoint, credentials files, ...) apply too, overridden by the same options given as
 * flags. An option may be given once, unless the command lists it in args.repeat (then
 * every value is in the option's list, e.g. a.plans for -p); a command that takes
 * arguments besides its options says how many in args.max_pos.
 * Exit codes: 0 success, 1 failure, 2 bad usage or configuration. */
#ifndef FERRY_CTL_ARGS_H
#define FERRY_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "repo/store.h"

struct repo;

enum ctl_opt {
	CO_STORE, CO_KEY, CO_CONF, CO_DOMAIN, CO_DISK, CO_POINT, CO_FORMAT, CO_OUT, CO_JSON,
	CO_READ_DATA, CO_ENCRYPTION, CO_CHUNK, CO_KEEP, CO_GRACE, CO_WAIT, CO_RESUME, CO_DIR,
	CO_FOLLOW, CO_COMPLETE, CO_INTERVAL, CO_LEVEL, CO_FORCE, CO_ALLOW_INCONSISTENT,
	CO_TIMEOUT, CO_VMDK, CO_ENDPOINT, CO_REGION, CO_ADDRESSING, CO_ACCESS_KEY_FILE,
	CO_SECRET_KEY_FILE, CO_CA_FILE, CO_FROM, CO_FROM_CONFIG, CO_THREADS,
	/* ferry-agent's clients, VM descriptions, Re-IP, SNMP */
	CO_AGENT, CO_PLAN, CO_MODE, CO_WATCH, CO_LIBVIRT, CO_NAME, CO_NIC, CO_RULE, CO_IMAGE,
	CO_CIDATA, CO_VM, CO_AS,
	CO_COUNT
};
#define OPT(name) (1ull << CO_##name)
/* the S3 backend options a store command takes as flags */
#define OPT_S3 (OPT(ENDPOINT) | OPT(REGION) | OPT(ADDRESSING) | OPT(ACCESS_KEY_FILE) | \
		OPT(SECRET_KEY_FILE) | OPT(CA_FILE))

/* ctl_parse's return when --help was shown: the command returns it, ferryctl exits 0. */
#define CTL_HELP_SHOWN 0x100

#define CTL_LIST_MAX 64		/* values of a repeatable option */
#define CTL_POS_MAX 4		/* arguments besides the options */

/* Every value of a repeatable option, in order. */
struct ctl_list {
	const char *v[CTL_LIST_MAX];
	size_t n;
};

struct args {
	const char *cmd, *usage;	/* set by the command (cmd: argv[0] if NULL) */
	uint64_t repeat;		/* set by the command: OPT() bits that may repeat */
	unsigned max_pos;		/* set by the command: arguments it takes (0..4) */
	bool store_optional;		/* set by the command: it can do without a store */
	const char *store, *key, *conf, *domain, *disk, *point, *format, *out, *encryption,
		*chunk, *keep, *grace, *dir, *interval, *level, *timeout, *vmdk, *from,
		*from_conf, *threads;
	const char *endpoint, *region, *addressing, *access_key_file, *secret_key_file,
		*ca_file;
	const char *agent, *plan, *mode, *libvirt, *name, *nic, *rule, *image, *cidata, *vm,
		*as;
	bool json, read_data, wait, resume, follow, complete, force, allow_inconsistent, watch;
	struct ctl_list plans, domains, disks, nics, rules;	/* repeatable options */
	const char *pos[CTL_POS_MAX];	/* the arguments, in order */
	size_t n_pos;
	struct ferry_config cfg;
	bool have_cfg;
	struct store_opts so;		/* the store's backend options: -c FILE's, then flags */
};

/* Parse argv (argv[0] = the command). Returns 0, CTL_HELP_SHOWN, or the exit code (2)
 * after printing the reason. */
int ctl_parse(int argc, char **argv, uint64_t allowed, uint64_t required, struct args *a);
void ctl_args_release(struct args *a);

/* A command made of subcommands (`ferryctl failover start ...`): argv[1] picks one of subs,
 * whose main gets argv + 1. --help or -h in its place prints usage (every subcommand's,
 * one per line after the first "usage: ferryctl"); a missing or unknown subcommand is a
 * usage error naming the choices. Returns the subcommand's result, CTL_HELP_SHOWN or 2. */
struct ctl_sub {
	const char *name;
	int (*main)(int argc, char **argv);
};
int ctl_dispatch(const char *cmd, const char *usage, const struct ctl_sub *subs, size_t n,
		 int argc, char **argv);

/* "ferryctl CMD: why" and the usage line (with --json: an error object); returns 2. */
int ctl_usage(const struct args *a, const char *why);
/* A failure of the command: "ferryctl CMD: reason" on stderr (with --json: an error object
 * on stdout); returns code. */
int ctl_fail(const struct args *a, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A control_request() failure r on ferryd's socket at path, as a message; returns the
 * exit code (2 for a path too long, else 1). */
int ctl_fail_control(const struct args *a, const char *path, int r);
/* A remark on stderr ("ferryctl CMD: msg"), or with --json a notice object on stdout. */
void ctl_notice(const struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open the repository (read_only: the command never writes to the store, and opening it
 * creates nothing either); prints the reason and returns the exit code on failure. */
int ctl_open_repo(struct args *a, bool read_only, struct repo **r);
/* a->domain is a domain of the repository (it has points or a VM set): 0; else prints
 * which domains the store has and returns the exit code (1). */
int ctl_check_domain(const struct args *a, struct repo *r);
/* YYYY-MM-DDTHH:MM:SSZ */
void ctl_fmt_time(uint64_t ns, char *out, size_t n);

#endif
