/* ferryctl init / points / verify / prune: the offline repository commands (restore and
 * rehydrate: ctl-restore.c, ctl-rehydrate.c).
 *
 * One option parser (ctl-args.c) serves them all; each command lists the options it accepts
 * (anything else is a usage error, exit 2). The store URL and key file come from
 * --store/--key-file or from -c FILE's [store] section, whose backend options (S3 endpoint,
 * credentials files, ...) then apply too. Errors are one line on stderr,
 * "ferryctl CMD: reason"; a wrong key file prints exactly "ferryctl CMD: wrong key file for
 * this repository" and nothing else. Nothing here ever prints key material (the library
 * never puts it in error texts either). */
#include "mgmt/ctl-repo.h"
#include "mgmt/ctl-args.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/dbuf.h"
#include "common/json.h"
#include "common/util.h"
#include "mgmt/ctl-json.h"
#include "repo/repo.h"
#include "common/banned.h"

/* ---- init ---- */

int ctl_init_main(int argc, char **argv)
{
	struct args a = { .usage = "init --store URL --key-file PATH [--encryption none] "
			  "[--chunk-size N] | init -c FILE" };
	int rc = ctl_parse(argc, argv, OPT(STORE) | OPT(KEY) | OPT(CONF) | OPT(ENCRYPTION) |
			   OPT(CHUNK), 0, &a);
	if (rc)
		goto out;
	struct repo_create_opts o = { .url = a.store, .key_file = a.key, .encrypted = true };
	if (a.encryption) {
		if (!strcmp(a.encryption, "none"))
			o.encrypted = false;
		else if (strcmp(a.encryption, "aes-256-gcm")) {
			rc = ctl_usage(&a, "bad --encryption (expected none or aes-256-gcm)");
			goto out;
		}
	}
	if (o.encrypted && !a.key) {
		rc = ctl_usage(&a, "--key-file PATH is required (or --encryption none)");
		goto out;
	}
	if (a.chunk) {
		uint64_t v;
		if (parse_size(a.chunk, &v) < 0 || v > UINT32_MAX || v < 256 || v > (1u << 20) ||
		    (v & (v - 1))) {
			rc = ctl_usage(&a, "bad --chunk-size (a power of two from 256 to 1M)");
			goto out;
		}
		o.chunk_size = (uint32_t)v;
	}
	char err[512] = "";
	int r = repo_create_with_store(&o, &a.so, err, sizeof(err));
	if (r < 0) {
		rc = ctl_fail(&a, r == -EINVAL ? 2 : 1, "%s", err[0] ? err : strerror(-r));
		goto out;
	}
	uint32_t cs = o.chunk_size ? o.chunk_size : REPO_DEFAULT_CHUNK;
	printf("created repository %s (%s, chunk size %u %s)\n", a.store,
	       o.encrypted ? "encrypted" : "not encrypted", cs >= 1024 ? cs >> 10 : cs,
	       cs >= 1024 ? "KiB" : "bytes");
out:
	ctl_args_release(&a);
	return rc;
}

/* ---- points ---- */

static int print_points(const struct point_info *v, size_t n, bool json)
{
	char t[32];
	if (!json) {
		printf("%-14s %-20s %5s %-10s %14s %14s\n", "ID", "TIME", "EPOCH", "CONSISTENT",
		       "LOGICAL", "STORED");
		for (size_t i = 0; i < n; i++) {
			char id[48];
			snprintf(id, sizeof(id), "%" PRIu32 ".%" PRIu64, v[i].epoch, v[i].seq);
			ctl_fmt_time(v[i].time_ns, t, sizeof(t));
			printf("%-14s %-20s %5" PRIu32 " %-10s %14" PRIu64 " %14" PRIu64 "\n", id, t,
			       v[i].epoch, v[i].flags & POINT_CONSISTENT ? "yes" : "no",
			       v[i].logical_bytes, v[i].stored_bytes);
		}
		return 0;
	}
	struct dbuf b = DBUF_INIT(64u << 20);
	int r = dbuf_printf(&b, "[");
	for (size_t i = 0; i < n && r == 0; i++) {
		ctl_fmt_time(v[i].time_ns, t, sizeof(t));
		r = dbuf_printf(&b, "%s\n  {\"id\": \"%" PRIu32 ".%" PRIu64 "\", \"time\": \"%s\", "
				"\"epoch\": %" PRIu32 ", \"seq\": %" PRIu64 ", \"consistent\": %s, "
				"\"full\": %s, \"logical_bytes\": %" PRIu64 ", \"stored_bytes\": %"
				PRIu64 "}", i ? "," : "", v[i].epoch, v[i].seq, t, v[i].epoch,
				v[i].seq, v[i].flags & POINT_CONSISTENT ? "true" : "false",
				v[i].flags & POINT_FULL ? "true" : "false", v[i].logical_bytes,
				v[i].stored_bytes);
	}
	if (r == 0)
		r = dbuf_printf(&b, "%s]\n", n ? "\n" : "");
	if (r == 0)
		fwrite(b.data, 1, b.len, stdout);
	dbuf_release(&b);
	return r;
}

int ctl_points_main(int argc, char **argv)
{
	struct args a = { .usage = "points --store URL --key-file PATH --domain D [--json]" };
	struct repo *r = NULL;
	int rc = ctl_parse(argc, argv, OPT(STORE) | OPT(KEY) | OPT(CONF) | OPT(DOMAIN) | OPT(JSON),
		       OPT(DOMAIN), &a);
	if (rc || (rc = ctl_open_repo(&a, true, &r)) || (rc = ctl_check_domain(&a, r)))
		goto out;
	struct point_info *v;
	size_t n;
	int e = repo_list_points(r, a.domain, &v, &n);
	if (e < 0) {
		rc = ctl_fail(&a, e == -EINVAL ? 2 : 1, "domain '%s': %s", a.domain,
			      e == -EINVAL ? "bad domain name" : e == -EBADMSG ? "a manifest is corrupt "
			      "(run ferryctl verify)" : strerror(-e));
		goto out;
	}
	if (print_points(v, n, a.json) < 0)
		rc = ctl_fail(&a, 1, "out of memory");
	free(v);
out:
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}

/* ---- verify ---- */

/* One object and what is wrong with it: a line, or a "problem" JSON line. */
static void print_problem(void *arg, const char *key, const char *problem)
{
	const struct args *a = arg;
	if (!a->json) {
		printf("%s: %s\n", key, problem);
		return;
	}
	struct jobj j;
	jobj_begin(&j, "problem");
	jobj_str(&j, "key", key);
	jobj_str(&j, "problem", problem);
	jobj_print(&j);
}

int ctl_verify_main(int argc, char **argv)
{
	struct args a = { .usage = "verify --store URL --key-file PATH (or -c FILE) [--read-data] "
			  "[--json]" };
	struct repo *r = NULL;
	int rc = ctl_parse(argc, argv, OPT(STORE) | OPT(KEY) | OPT(CONF) | OPT(READ_DATA) |
			   OPT(JSON), 0, &a);
	if (rc || (rc = ctl_open_repo(&a, true, &r)))
		goto out;
	int n = repo_verify(r, a.read_data, print_problem, &a);
	fflush(stdout);
	if (n < 0) {
		rc = ctl_fail(&a, 1, "%s", strerror(-n));
	} else if (a.json) {
		struct jobj j;
		jobj_begin(&j, "result");
		jobj_str(&j, "store", a.store);
		jobj_bool(&j, "ok", n == 0);
		jobj_int(&j, "problems", n);
		jobj_bool(&j, "read_data", a.read_data);
		jobj_print(&j);
		rc = n ? 1 : 0;
	} else if (n > 0) {
		rc = ctl_fail(&a, 1, "%d problem%s", n, n == 1 ? "" : "s");
	} else {
		printf("repository %s: no problems found%s\n", a.store,
		       a.read_data ? " (all data read)" : "");
	}
out:
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}

/* ---- prune ---- */

/* Temporary files and multipart uploads of puts interrupted this long ago are swept: no
 * put of ferry's takes an hour, even a 64 MiB one over a slow link. */
#define SWEEP_AGE_S 3600ull

/* --grace: plain seconds ("60"), or a duration with a unit ("90s", "5m"). */
static int parse_grace(const char *s, uint64_t *ns)
{
	uint64_t v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9' && v < 100000000u; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (p != s && !*p) {
		*ns = v * 1000000000u;
		return 0;
	}
	if (parse_duration_ms(s, &v) < 0 || v > 100000000000u)
		return -EINVAL;
	*ns = v * 1000000u;
	return 0;
}

/* The domains to prune and their retention: every [domain] of -c FILE (or only --domain),
 * each with --keep, else its keep key, else the default; without -c, --domain and --keep. */
static int prune_policies(struct args *a, struct prune_policy **out, size_t *n)
{
	size_t cap = a->have_cfg ? a->cfg.n_domains + 1 : 1;
	struct prune_policy *p = calloc(cap, sizeof(*p));
	char why[160];
	*n = 0;
	if (!p)
		return ctl_fail(a, 1, "out of memory");
	*out = p;
	for (size_t i = 0; a->have_cfg && i < a->cfg.n_domains; i++) {
		const struct domain_cfg *d = &a->cfg.domains[i];
		if (a->domain && strcmp(a->domain, d->name))
			continue;
		p[*n].domain = d->name;
		const char *spec = a->keep ? a->keep : d->keep ? d->keep : DEFAULT_KEEP;
		if (prune_keep_parse(spec, &p[(*n)++].keep) < 0) {
			snprintf(why, sizeof(why), "domain %s: bad keep '%s' (expected "
				 "last:N,hourly:N,daily:N,weekly:N)", d->name, spec);
			return ctl_usage(a, why);
		}
	}
	if (*n)
		return 0;
	if (!a->domain)
		return ctl_usage(a, a->have_cfg ? "the configuration has no [domain]" :
			     "--domain D and --keep SPEC are required without -c FILE");
	if (!a->keep)
		return ctl_usage(a, "--keep SPEC is required for a domain not in the configuration");
	p[0].domain = a->domain;
	if (prune_keep_parse(a->keep, &p[0].keep) < 0)
		return ctl_usage(a, "bad --keep (expected last:N,hourly:N,daily:N,weekly:N)");
	*n = 1;
	return 0;
}

int ctl_prune_main(int argc, char **argv)
{
	struct args a = { .usage = "prune -c FILE [--domain D] [--keep SPEC] [--grace SECONDS] "
			  "[--wait] | prune --store URL --key-file PATH --domain D --keep SPEC "
			  "[--grace SECONDS] [--wait]" };
	struct repo *r = NULL;
	struct prune_policy *pol = NULL;
	struct prune_opts o = { .grace_ns = 60ull * 1000000000u, .sweep = true,
				.sweep_age_ns = SWEEP_AGE_S * 1000000000ull };
	struct prune_stats st;
	char err[512] = "";
	int rc = ctl_parse(argc, argv, OPT(STORE) | OPT(KEY) | OPT(CONF) | OPT(DOMAIN) | OPT(KEEP) |
		       OPT(GRACE) | OPT(WAIT), 0, &a);
	if (rc)
		goto out;
	if (a.grace && parse_grace(a.grace, &o.grace_ns) < 0) {
		rc = ctl_usage(&a, "bad --grace (seconds, or a duration such as 90s or 5m)");
		goto out;
	}
	if ((rc = prune_policies(&a, &pol, &o.n_policies)) || (rc = ctl_open_repo(&a, false, &r)))
		goto out;
	o.policies = pol;
	o.wait = a.wait;
	const char *age = getenv("FERRY_SWEEP_AGE_S");	/* tests */
	if (age && *age)
		o.sweep_age_ns = strtoull(age, NULL, 10) * 1000000000ull;
	int e = repo_prune(r, &o, &st, err, sizeof(err));
	if (e < 0) {
		rc = ctl_fail(&a, e == -EINVAL ? 2 : 1, "%s", err[0] ? err : strerror(-e));
		goto out;
	}
	printf("points: %zu kept, %zu deleted\n", st.points_kept, st.points_deleted);
	if (st.vm_sets_deleted)
		printf("vm sets: %zu deleted (no kept point needs them)\n", st.vm_sets_deleted);
	printf("packs: %zu condemned, %zu deleted (%" PRIu64 " bytes), %zu rescued\n",
	       st.packs_condemned, st.packs_deleted, st.bytes_deleted, st.packs_rescued);
	if (st.packs_pending)
		printf("packs: %zu condemned packs wait for the grace delay (%" PRIu64 " s); the "
		       "next prune run deletes them\n", st.packs_pending,
		       o.grace_ns / 1000000000u);
	printf("store: %zu packs, %" PRIu64 " bytes (before: %zu packs, %" PRIu64 " bytes)\n",
	       st.packs_after, st.bytes_after, st.packs_before, st.bytes_before);
	if (st.sweep_err)
		ctl_notice(&a, "warning: could not sweep leftovers of interrupted uploads: %s",
			   st.sweep_detail);
	else
		printf("leftovers: %" PRIu64 " removed (of uploads interrupted at least %" PRIu64
		       " s ago)\n", st.leftovers_removed, o.sweep_age_ns / 1000000000u);
out:
	free(pol);
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}
