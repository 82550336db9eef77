/* The option parser shared by ferryctl's repository commands (contract in ctl-args.h). */
#include "mgmt/ctl-args.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "repo/repo.h"
#include "common/banned.h"

int ctl_usage(const struct args *a, const char *why)
{
	fprintf(stderr, "ferryctl %s: %s\nusage: ferryctl %s\n", a->cmd, why, a->usage);
	return 2;
}

/* Returns 0, or the exit code (2) after printing the reason. */
int ctl_parse(int argc, char **argv, unsigned allowed, unsigned required, struct args *a)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "key-file", required_argument, NULL, OPT_KEY },
		{ "config", required_argument, NULL, OPT_CONF },
		{ "domain", required_argument, NULL, OPT_DOMAIN },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "point", required_argument, NULL, OPT_POINT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, OPT_OUT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "read-data", no_argument, NULL, OPT_READ_DATA },
		{ "encryption", required_argument, NULL, OPT_ENCRYPTION },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "complete", no_argument, NULL, OPT_COMPLETE },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "allow-inconsistent", no_argument, NULL, OPT_ALLOW_INCONSISTENT },
		{ 0 },
	};
	unsigned seen = 0;
	int ch;

	a->cmd = argv[0];
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:o:", opts, NULL)) != -1) {
		if (ch == 'c')
			ch = OPT_CONF;
		else if (ch == 'o')
			ch = OPT_OUT;
		if (ch == '?' || ch == ':' || !(ch & (int)allowed))
			return ctl_usage(a, "bad option");
		seen |= (unsigned)ch;
		switch (ch) {
		case OPT_STORE: a->store = optarg; break;
		case OPT_KEY: a->key = optarg; break;
		case OPT_CONF: a->conf = optarg; break;
		case OPT_DOMAIN: a->domain = optarg; break;
		case OPT_DISK: a->disk = optarg; break;
		case OPT_POINT: a->point = optarg; break;
		case OPT_FORMAT: a->format = optarg; break;
		case OPT_OUT: a->out = optarg; break;
		case OPT_JSON: a->json = true; break;
		case OPT_READ_DATA: a->read_data = true; break;
		case OPT_ENCRYPTION: a->encryption = optarg; break;
		case OPT_CHUNK: a->chunk = optarg; break;
		case OPT_KEEP: a->keep = optarg; break;
		case OPT_GRACE: a->grace = optarg; break;
		case OPT_WAIT: a->wait = true; break;
		case OPT_RESUME: a->resume = true; break;
		case OPT_DIR: a->dir = optarg; break;
		case OPT_FOLLOW: a->follow = true; break;
		case OPT_COMPLETE: a->complete = true; break;
		case OPT_INTERVAL: a->interval = optarg; break;
		case OPT_LEVEL: a->level = optarg; break;
		case OPT_FORCE: a->force = true; break;
		case OPT_ALLOW_INCONSISTENT: a->allow_inconsistent = true; break;
		}
	}
	if (optind != argc)
		return ctl_usage(a, "unexpected argument");
	if (a->conf) {
		char err[512];
		if (config_load_any(a->conf, &a->cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "ferryctl %s: %s\n", a->cmd, err);
			return 2;
		}
		a->have_cfg = true;
		repo_store_opts(&a->cfg, &a->so);
		if (!a->store)
			a->store = a->cfg.store_url;
		if (!a->key)
			a->key = a->cfg.store_key_file;
	}
	if (!a->store)
		return ctl_usage(a, "--store URL (or -c FILE with [store] url) is required");
	required &= ~(unsigned)(OPT_STORE | OPT_KEY);
	if ((seen & required) != required)
		return ctl_usage(a, "a required option is missing");
	return 0;
}

void ctl_args_release(struct args *a)
{
	if (a->have_cfg)
		config_release(&a->cfg);
}

/* Open the repository; prints the reason and returns the exit code on failure. */
int ctl_open_repo(struct args *a, bool read_only, struct repo **r)
{
	char err[512] = "";
	a->so.read_only = read_only;
	int rc = repo_open_opts(a->store, a->key, &a->so, r, err, sizeof(err));
	if (rc == 0)
		return 0;
	fprintf(stderr, "ferryctl %s: %s\n", a->cmd, err[0] ? err : strerror(-rc));
	return rc == -EINVAL ? 2 : 1;
}

int ctl_check_domain(const struct args *a, struct repo *r)
{
	char **names;
	size_t n;
	int rc = repo_list_domains(r, &names, &n);
	if (rc < 0) {
		fprintf(stderr, "ferryctl %s: listing the store's domains: %s\n", a->cmd,
			store_strerror(repo_store(r), rc));
		return 1;
	}
	bool found = false;
	for (size_t i = 0; i < n && !found; i++)
		found = !strcmp(names[i], a->domain);
	if (!found) {
		fprintf(stderr, "ferryctl %s: no domain '%s' in %s; ", a->cmd, a->domain, a->store);
		if (!n)
			fprintf(stderr, "the store has no domain yet\n");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s%s", i ? ", " : "its domains: ", names[i]);
		if (n)
			fputc('\n', stderr);
	}
	repo_names_free(names, n);
	return found ? 0 : 1;
}

void ctl_fmt_time(uint64_t ns, char *out, size_t n)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

