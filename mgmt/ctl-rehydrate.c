/* ferryctl rehydrate: keep one monolithicFlat VMDK per disk of a domain at the newest
 * consistent point, so that failover boots at once (continuous failover, near-zero RTO).
 * The rehydrator is the restore library's (restore/restore.h, restore/rehydrate.c says
 * how and why); this command parses, loops and prints.
 *
 *   rehydrate (--store URL --key-file PATH | -c FILE) --domain D --dir DATASTORE
 *             [--follow [--interval SECONDS]] [--complete]
 *
 * Without --follow: bring every disk to the newest consistent point once. --follow: go on,
 * polling every --interval (default 5 s), until SIGTERM/SIGINT (a point being applied is
 * finished first). --complete: stop a follower running on DIR (SIGTERM, then wait for its
 * lock), apply what remains, print the point reached and the time taken. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-rehydrate.h"
#include "restore/restore.h"
#include "common/banned.h"

#define DEFAULT_INTERVAL_S 5.0

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_notice(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "ferryctl rehydrate: %s\n", msg);
}

static void sleep_interruptible(double secs)
{
	uint64_t end = now_mono_ns() + (uint64_t)(secs * 1e9);
	while (!stop_requested && now_mono_ns() < end) {
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
}

/* Sync until done (once, or until told to stop with --follow). */
static int run(struct rehydrator *h, const struct args *a, double interval, uint64_t t0)
{
	char err[1024], last[48] = "";
	for (;;) {
		struct point_info p;
		uint64_t t1 = now_mono_ns();
		int e = rehydrate_sync(h, NULL, &p, NULL, NULL, err, sizeof(err));
		if (e < 0) {
			fprintf(stderr, "ferryctl rehydrate: %s\n", err[0] ? err : strerror(-e));
			if (!a->follow)
				return 1;
		} else {
			char id[48];
			snprintf(id, sizeof(id), "%" PRIu32 ".%" PRIu64, p.epoch, p.seq);
			if (a->complete)
				printf("rehydrate %s: reached point %s in %.3f s (%" PRIu64
				       " bytes written)\n", a->domain, id,
				       (double)(now_mono_ns() - t0) / 1e9, rehydrate_written(h));
			else if (strcmp(id, last))
				printf("rehydrate %s: at point %s (%" PRIu64 " bytes written in %.3f s)\n",
				       a->domain, id, rehydrate_written(h),
				       (double)(now_mono_ns() - t1) / 1e9);
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", id);
		}
		if (!a->follow || stop_requested)
			return 0;
		sleep_interruptible(interval);
		if (stop_requested)
			return 0;
	}
}

int ctl_rehydrate_main(int argc, char **argv)
{
	struct args a = { .usage = "rehydrate --store URL --key-file PATH (or -c FILE) --domain D "
			  "--dir DATASTORE [--follow [--interval SECONDS]] [--complete]" };
	struct repo *r = NULL;
	struct rehydrator *h = NULL;
	char err[1024] = "";
	uint64_t t0 = now_mono_ns();
	int rc = ctl_parse(argc, argv, OPT(STORE) | OPT(KEY) | OPT(CONF) | OPT(DOMAIN) | OPT(DIR) |
			   OPT(FOLLOW) | OPT(INTERVAL) | OPT(COMPLETE), OPT(DOMAIN) | OPT(DIR), &a);
	if (rc)
		goto out;
	double interval = DEFAULT_INTERVAL_S;
	if (a.interval) {
		char *end;
		interval = strtod(a.interval, &end);
		if (*end || !(interval > 0 && interval <= 86400)) {
			rc = ctl_usage(&a, "bad --interval (seconds, > 0)");
			goto out;
		}
	}
	if (a.follow && a.complete) {
		rc = ctl_usage(&a, "--follow and --complete exclude each other");
		goto out;
	}
	struct stat sb;
	if (stat(a.dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "ferryctl rehydrate: %s: not a directory\n", a.dir);
		rc = 2;
		goto out;
	}
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* a follower may start before the domain's first point; a single sync may not */
	if ((rc = ctl_open_repo(&a, true, &r)) || (!a.follow && (rc = ctl_check_domain(&a, r))))
		goto out;
	int e = a.complete ? rehydrate_take_over(r, a.domain, a.dir, &h, err, sizeof(err)) :
			     rehydrate_open(r, a.domain, a.dir, &h, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "ferryctl rehydrate: %s\n", err[0] ? err : strerror(-e));
		rc = 1;
		goto out;
	}
	rehydrate_set_notice(h, on_notice, NULL);
	rc = run(h, &a, interval, t0);
out:
	rehydrate_close(h);
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}
