/* The option parser shared by ferryctl's repository commands (ctl-repo.c, ctl-restore.c,
 * ctl-rehydrate.c): each command lists the options it accepts and requires (anything else
 * is a usage error, exit 2). The store URL and key file come from --store/--key-file or
 * from -c FILE's [store] section, whose backend options (S3 endpoint, credentials files,
 * ...) then apply too. */
#ifndef FERRY_CTL_ARGS_H
#define FERRY_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "repo/store.h"

struct repo;

enum {
	OPT_STORE = 1 << 0, OPT_KEY = 1 << 1, OPT_CONF = 1 << 2, OPT_DOMAIN = 1 << 3,
	OPT_DISK = 1 << 4, OPT_POINT = 1 << 5, OPT_FORMAT = 1 << 6, OPT_OUT = 1 << 7,
	OPT_JSON = 1 << 8, OPT_READ_DATA = 1 << 9, OPT_ENCRYPTION = 1 << 10, OPT_CHUNK = 1 << 11,
	OPT_KEEP = 1 << 12, OPT_GRACE = 1 << 13, OPT_WAIT = 1 << 14, OPT_RESUME = 1 << 15,
	OPT_DIR = 1 << 16, OPT_FOLLOW = 1 << 17, OPT_COMPLETE = 1 << 18, OPT_INTERVAL = 1 << 19,
	OPT_LEVEL = 1 << 20, OPT_FORCE = 1 << 21, OPT_ALLOW_INCONSISTENT = 1 << 22,
};

struct args {
	const char *cmd, *usage;
	const char *store, *key, *conf, *domain, *disk, *point, *format, *out, *encryption,
		*chunk, *keep, *grace, *dir, *interval, *level;
	bool json, read_data, wait, resume, follow, complete, force, allow_inconsistent;
	struct ferry_config cfg;
	bool have_cfg;
	struct store_opts so;		/* -c FILE's [store] backend options (or defaults) */
};

/* Print "ferryctl CMD: why" and the usage line; returns 2. */
int ctl_usage(const struct args *a, const char *why);
/* Parse argv (argv[0] = the command). Returns 0, or the exit code (2) after printing the
 * reason. */
int ctl_parse(int argc, char **argv, unsigned allowed, unsigned required, struct args *a);
void ctl_args_release(struct args *a);
/* Open the repository (read_only: the command never writes to the store, and opening it
 * creates nothing either); prints the reason and returns the exit code on failure. */
int ctl_open_repo(struct args *a, bool read_only, struct repo **r);
/* a->domain is a domain of the repository (it has points): 0; else prints which domains
 * the store has and returns the exit code (1). */
int ctl_check_domain(const struct args *a, struct repo *r);
/* YYYY-MM-DDTHH:MM:SSZ */
void ctl_fmt_time(uint64_t ns, char *out, size_t n);

#endif
