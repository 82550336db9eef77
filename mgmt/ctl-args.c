/* ferryctl's option parser (contract in ctl-args.h). One table names every option once:
 * its long name, its short one, whether it takes a value (and how the usage calls it),
 * and the field of struct args it fills. */
#include "mgmt/ctl-args.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/control-client.h"
#include "common/util.h"
#include "mgmt/ctl-json.h"
#include "repo/repo.h"
#include "common/banned.h"

#define OPT_HELP_VAL 0x7f00	/* getopt value of --help (not an option bit) */

struct optdef {
	const char *name;
	char short_name;	/* 0: none */
	const char *value;	/* the value's name in messages; NULL: a flag */
	size_t field;		/* offsetof(struct args, ...): const char * or bool */
	size_t list;		/* offsetof(struct args, ...) of its struct ctl_list; 0: none */
};

#define VAL(f) offsetof(struct args, f)
static const struct optdef defs[CO_COUNT] = {
	[CO_STORE] = { "store", 0, "URL", VAL(store), 0 },
	[CO_KEY] = { "key-file", 0, "PATH", VAL(key), 0 },
	[CO_CONF] = { "config", 'c', "FILE", VAL(conf), 0 },
	[CO_DOMAIN] = { "domain", 0, "D", VAL(domain), VAL(domains) },
	[CO_DISK] = { "disk", 0, "NAME", VAL(disk), VAL(disks) },
	[CO_POINT] = { "point", 0, "P", VAL(point), 0 },
	[CO_FORMAT] = { "format", 0, "F", VAL(format), 0 },
	[CO_OUT] = { "output", 'o', "PATH", VAL(out), 0 },
	[CO_JSON] = { "json", 0, NULL, VAL(json), 0 },
	[CO_READ_DATA] = { "read-data", 0, NULL, VAL(read_data), 0 },
	[CO_ENCRYPTION] = { "encryption", 0, "E", VAL(encryption), 0 },
	[CO_CHUNK] = { "chunk-size", 0, "N", VAL(chunk), 0 },
	[CO_KEEP] = { "keep", 0, "SPEC", VAL(keep), 0 },
	[CO_GRACE] = { "grace", 0, "SECONDS", VAL(grace), 0 },
	[CO_WAIT] = { "wait", 0, NULL, VAL(wait), 0 },
	[CO_RESUME] = { "resume", 0, NULL, VAL(resume), 0 },
	[CO_DIR] = { "dir", 0, "DIR", VAL(dir), 0 },
	[CO_FOLLOW] = { "follow", 0, NULL, VAL(follow), 0 },
	[CO_COMPLETE] = { "complete", 0, NULL, VAL(complete), 0 },
	[CO_INTERVAL] = { "interval", 0, "SECONDS", VAL(interval), 0 },
	[CO_LEVEL] = { "level", 0, "N", VAL(level), 0 },
	[CO_FORCE] = { "force", 0, NULL, VAL(force), 0 },
	[CO_ALLOW_INCONSISTENT] = { "allow-inconsistent", 0, NULL, VAL(allow_inconsistent), 0 },
	[CO_TIMEOUT] = { "timeout", 0, "SECONDS", VAL(timeout), 0 },
	[CO_VMDK] = { "vmdk", 0, "IN.vmdk", VAL(vmdk), 0 },
	[CO_ENDPOINT] = { "endpoint", 0, "URL", VAL(endpoint), 0 },
	[CO_REGION] = { "region", 0, "R", VAL(region), 0 },
	[CO_ADDRESSING] = { "addressing", 0, "path|virtual", VAL(addressing), 0 },
	[CO_ACCESS_KEY_FILE] = { "access-key-file", 0, "FILE", VAL(access_key_file), 0 },
	[CO_SECRET_KEY_FILE] = { "secret-key-file", 0, "FILE", VAL(secret_key_file), 0 },
	[CO_CA_FILE] = { "ca-file", 0, "FILE", VAL(ca_file), 0 },
	[CO_FROM] = { "from", 0, "URL", VAL(from), 0 },
	[CO_FROM_CONFIG] = { "from-config", 0, "FILE", VAL(from_conf), 0 },
	[CO_THREADS] = { "threads", 0, "N", VAL(threads), 0 },
	[CO_AGENT] = { "agent", 'a', "AGENT", VAL(agent), 0 },
	[CO_PLAN] = { "plan", 'p', "PLAN", VAL(plan), VAL(plans) },
	[CO_MODE] = { "mode", 0, "M", VAL(mode), 0 },
	[CO_WATCH] = { "watch", 0, NULL, VAL(watch), 0 },
	[CO_LIBVIRT] = { "libvirt", 0, "URI", VAL(libvirt), 0 },
	[CO_NAME] = { "name", 0, "VM", VAL(name), 0 },
	[CO_NIC] = { "nic", 0, "NIC", VAL(nic), VAL(nics) },
	[CO_RULE] = { "rule", 0, "RULE", VAL(rule), VAL(rules) },
	[CO_IMAGE] = { "image", 0, "PATH", VAL(image), 0 },
	[CO_CIDATA] = { "cidata", 0, "SEED.iso", VAL(cidata), 0 },
	[CO_VM] = { "vm", 0, "NAME", VAL(vm), 0 },
	[CO_AS] = { "as", 0, "PROGRAM", VAL(as), 0 },
};
_Static_assert(CO_COUNT <= 64, "option bits fit a uint64_t");
#undef VAL

/* ---- errors and remarks ---- */

static void vreport(const struct args *a, const char *event, int code, const char *fmt,
		    va_list ap) __attribute__((format(printf, 4, 0)));

static void vreport(const struct args *a, const char *event, int code, const char *fmt,
		    va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (a->json) {
		struct jobj j;
		jobj_begin(&j, event);
		jobj_str(&j, "command", a->cmd);
		jobj_str(&j, code ? "error" : "message", msg);
		if (code)
			jobj_int(&j, "exit", code);
		jobj_print(&j);
	} else {
		fprintf(stderr, "ferryctl %s: %s\n", a->cmd, msg);
	}
}

int ctl_fail(const struct args *a, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(a, "error", code, fmt, ap);
	va_end(ap);
	return code;
}

int ctl_fail_control(const struct args *a, const char *path, int r)
{
	return ctl_fail(a, r == -ENAMETOOLONG ? 2 : 1, "control socket %s: %s", path,
			control_strerror(r));
}

void ctl_notice(const struct args *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(a, "notice", 0, fmt, ap);
	va_end(ap);
}

int ctl_usage(const struct args *a, const char *why)
{
	if (a->json)
		return ctl_fail(a, 2, "%s (usage: ferryctl %s)", why, a->usage);
	fprintf(stderr, "ferryctl %s: %s\nusage: ferryctl %s\n", a->cmd, why, a->usage);
	return 2;
}

/* ---- parsing ---- */

static int find_long(const char *arg)
{
	size_t n = strcspn(arg, "=");
	for (int i = 0; i < CO_COUNT; i++)
		if (strlen(defs[i].name) == n && !strncmp(defs[i].name, arg, n))
			return i;
	return -1;
}

/* --json is known before anything can go wrong, so that every error is JSON too. */
static void prescan_json(int argc, char **argv, uint64_t allowed, struct args *a)
{
	for (int i = 1; i < argc && (allowed & OPT(JSON)); i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--json"))
			a->json = true;
	}
}

/* The option getopt stopped at (argv[optind - 1] or optopt), for messages. */
static void bad_option_name(char **argv, char *out, size_t n)
{
	const char *arg = argv[optind - 1];
	if (optopt && (arg[0] != '-' || arg[1] != '-'))
		snprintf(out, n, "-%c", optopt);
	else
		snprintf(out, n, "%.*s", (int)strcspn(arg, "="), arg);
}

static int missing(const struct args *a, uint64_t need)
{
	char why[512] = "missing";
	size_t len = strlen(why);
	for (int i = 0; i < CO_COUNT; i++)
		if (need & (1ull << i))
			len += (size_t)snprintf(why + len, len < sizeof(why) ? sizeof(why) - len : 0,
						"%s --%s%s%s", len > 7 ? "," : "", defs[i].name,
						defs[i].value ? " " : "",
						defs[i].value ? defs[i].value : "");
	return ctl_usage(a, why);
}

/* Repository and store commands: the store (and key file, backend options) from -c FILE's
 * [store] section where the flags do not give them. */
static int store_from_config(struct args *a)
{
	if (a->conf) {
		char err[512];
		if (config_load_any(a->conf, &a->cfg, err, sizeof(err)) < 0)
			return ctl_fail(a, 2, "%s", err);
		a->have_cfg = true;
		repo_store_opts(&a->cfg, &a->so);
		if (!a->store)
			a->store = a->cfg.store_url;
		if (!a->key)
			a->key = a->cfg.store_key_file;
	}
	if (a->endpoint)
		a->so.endpoint = a->endpoint;
	if (a->region)
		a->so.region = a->region;
	if (a->addressing)
		a->so.addressing = a->addressing;
	if (a->access_key_file || a->secret_key_file) {
		a->so.access_key_file = a->access_key_file;
		a->so.secret_key_file = a->secret_key_file;
	}
	if (a->ca_file)
		a->so.ca_file = a->ca_file;
	if (!a->store && !a->store_optional)
		return ctl_usage(a, "missing --store URL (or -c FILE with a [store] url)");
	return 0;
}

int ctl_parse(int argc, char **argv, uint64_t allowed, uint64_t required, struct args *a)
{
	struct option opts[CO_COUNT + 2];
	char shorts[3 * CO_COUNT + 4] = ":h";
	size_t ns = 2, no = 0;
	uint64_t seen = 0;
	int ch;

	if (!a->cmd)
		a->cmd = argv[0];
	prescan_json(argc, argv, allowed, a);
	for (int i = 0; i < CO_COUNT; i++) {
		opts[no++] = (struct option){ defs[i].name, defs[i].value ? required_argument :
					      no_argument, NULL, 1 + i };
		if (defs[i].short_name && (allowed & (1ull << i))) {
			shorts[ns++] = defs[i].short_name;
			if (defs[i].value)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';
	opts[no++] = (struct option){ "help", no_argument, NULL, OPT_HELP_VAL };
	opts[no] = (struct option){ 0 };

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		char name[64], why[160];
		if (ch == 'h' || ch == OPT_HELP_VAL) {
			printf("usage: ferryctl %s\n", a->usage);
			return CTL_HELP_SHOWN;
		}
		if (ch == '?' || ch == ':') {
			bad_option_name(argv, name, sizeof(name));
			snprintf(why, sizeof(why), ch == ':' ? "option %s needs a value" :
				 find_long(name + 2) >= 0 && name[1] == '-' ?
				 "option %s needs no value" : "unknown option '%s'", name);
			return ctl_usage(a, why);
		}
		int i = -1;
		for (int k = 0; k < CO_COUNT && i < 0; k++)
			if (ch == 1 + k || (defs[k].short_name && ch == defs[k].short_name))
				i = k;
		if (i < 0 || !(allowed & (1ull << i))) {
			snprintf(why, sizeof(why), "unknown option '--%s' for %s",
				 i < 0 ? "?" : defs[i].name, a->cmd);
			return ctl_usage(a, why);
		}
		if ((seen & (1ull << i)) && !(a->repeat & (1ull << i))) {
			snprintf(why, sizeof(why), "option --%s given twice", defs[i].name);
			return ctl_usage(a, why);
		}
		seen |= 1ull << i;
		char *field = (char *)a + defs[i].field;
		if (defs[i].value)
			*(const char **)(void *)field = optarg;
		else
			*(bool *)(void *)field = true;
		if (defs[i].list) {
			struct ctl_list *l = (struct ctl_list *)(void *)((char *)a + defs[i].list);
			if (l->n == CTL_LIST_MAX) {
				snprintf(why, sizeof(why), "option --%s given more than %d times",
					 defs[i].name, CTL_LIST_MAX);
				return ctl_usage(a, why);
			}
			l->v[l->n++] = optarg;
		}
	}
	for (; optind < argc; optind++) {
		char why[160];
		if (a->n_pos == a->max_pos || a->n_pos == CTL_POS_MAX) {
			snprintf(why, sizeof(why), "unexpected argument '%s'", argv[optind]);
			return ctl_usage(a, why);
		}
		a->pos[a->n_pos++] = argv[optind];
	}
	if (allowed & OPT(STORE)) {
		int rc = store_from_config(a);
		if (rc)
			return rc;
		required &= ~(OPT(STORE) | OPT(KEY) | OPT(CONF));
	}
	if ((seen & required) != required)
		return missing(a, required & ~seen);
	return 0;
}

int ctl_dispatch(const char *cmd, const char *usage, const struct ctl_sub *subs, size_t n,
		 int argc, char **argv)
{
	struct args a = { .cmd = cmd, .usage = usage };
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: ferryctl %s\n", usage);
		return CTL_HELP_SHOWN;
	}
	for (size_t i = 0; argc >= 2 && i < n; i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].main(argc - 1, argv + 1);
	char why[256];
	size_t len = argc < 2 ? (size_t)snprintf(why, sizeof(why), "missing subcommand (expected ") :
		(size_t)snprintf(why, sizeof(why), "unknown subcommand '%.64s' (expected ", argv[1]);
	for (size_t i = 0; i < n && len < sizeof(why); i++)
		len += (size_t)snprintf(why + len, sizeof(why) - len, "%s'%s'", i ? ", " : "",
					subs[i].name);
	if (len < sizeof(why))
		snprintf(why + len, sizeof(why) - len, ")");
	return ctl_usage(&a, why);
}

void ctl_args_release(struct args *a)
{
	if (a->have_cfg)
		config_release(&a->cfg);
	a->have_cfg = false;
}

/* ---- the repository ---- */

int ctl_open_repo(struct args *a, bool read_only, struct repo **r)
{
	char err[512] = "";
	a->so.read_only = read_only;
	int rc = repo_open_opts(a->store, a->key, &a->so, r, err, sizeof(err));
	if (rc == 0)
		return 0;
	return ctl_fail(a, rc == -EINVAL ? 2 : 1, "%s", err[0] ? err : strerror(-rc));
}

int ctl_check_domain(const struct args *a, struct repo *r)
{
	char **names, list[1024] = "";
	size_t n, len = 0;
	int rc = repo_list_domains(r, &names, &n);
	if (rc < 0)
		return ctl_fail(a, 1, "listing the store's domains: %s",
				store_strerror(repo_store(r), rc));
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		found |= !strcmp(names[i], a->domain);
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						i ? ", " : "", names[i]);
	}
	repo_names_free(names, n);
	if (found)
		return 0;
	if (!n)
		return ctl_fail(a, 1, "no domain '%s' in %s; the store has no domain yet",
				a->domain, a->store);
	return ctl_fail(a, 1, "no domain '%s' in %s; its domains: %s", a->domain, a->store,
			list);
}

void ctl_fmt_time(uint64_t ns, char *out, size_t n)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
