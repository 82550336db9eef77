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
 * flags. Exit codes: 0 success, 1 failure, 2 bad usage or configuration. */
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
	CO_COUNT
};
#define OPT(name) (1ull << CO_##name)
/* the S3 backend options a store command takes as flags */
#define OPT_S3 (OPT(ENDPOINT) | OPT(REGION) | OPT(ADDRESSING) | OPT(ACCESS_KEY_FILE) | \
		OPT(SECRET_KEY_FILE) | OPT(CA_FILE))

/* ctl_parse's return when --help was shown: the command returns it, ferryctl exits 0. */
#define CTL_HELP_SHOWN 0x100

struct args {
	const char *cmd, *usage;	/* set by the command (cmd: argv[0] if NULL) */
	const char *store, *key, *conf, *domain, *disk, *point, *format, *out, *encryption,
		*chunk, *keep, *grace, *dir, *interval, *level, *timeout, *vmdk, *from,
		*from_conf, *threads;
	const char *endpoint, *region, *addressing, *access_key_file, *secret_key_file,
		*ca_file;
	bool json, read_data, wait, resume, follow, complete, force, allow_inconsistent;
	struct ferry_config cfg;
	bool have_cfg;
	struct store_opts so;		/* the store's backend options: -c FILE's, then flags */
};

/* Parse argv (argv[0] = the command). Returns 0, CTL_HELP_SHOWN, or the exit code (2)
 * after printing the reason. */
int ctl_parse(int argc, char **argv, uint64_t allowed, uint64_t required, struct args *a);
void ctl_args_release(struct args *a);

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
