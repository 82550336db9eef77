/* ferryctl restore (restore/restore.h does the work; docs/restore.md the operator's view).
 *
 * Without --json: progress on stderr, a line redrawn every half second on a terminal
 * (nothing otherwise); remarks and errors on stderr; the result line on stdout. With
 * --json, stdout carries JSON lines only (mgmt/ctl-json.h): "progress" every half second
 * and a final one, "notice" for remarks, then one "result" or "error" object.
 *
 * SIGINT and SIGTERM stop the restore cleanly: they are blocked in every thread (the
 * restore's fetchers inherit the mask, so no system call of theirs is interrupted) and
 * taken by one thread with sigwait, which sets a flag; the progress callback returns it at
 * the next window, the library checkpoints and stops, and the user is told how to go on.
 * A second signal kills at once (what is checkpointed stays resumable). */
#include "mgmt/ctl-restore.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "image/vmdk.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-json.h"
#include "restore/restore.h"
#include "common/banned.h"

#define PROGRESS_EVERY_NS 500000000ull

static sigset_t stop_signals;
static volatile sig_atomic_t interrupted;

static void *signal_thread(void *arg)
{
	int sig;
	(void)arg;
	if (sigwait(&stop_signals, &sig) != 0)
		return NULL;
	interrupted = sig;
	if (sigwait(&stop_signals, &sig) != 0)
		return NULL;
	signal(sig, SIG_DFL);		/* the second one: its default action, now */
	pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
	raise(sig);
	return NULL;
}

/* Block SIGINT and SIGTERM here (before any other thread exists) and take them on a
 * thread of their own. A signal the caller set to be ignored (SIGINT of a background job
 * started by a shell script, nohup) stays ignored. */
static void catch_stop_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM };
	pthread_t t;
	sigemptyset(&stop_signals);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaddset(&stop_signals, sigs[i]);
	}
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	if (pthread_create(&t, NULL, signal_thread, NULL) == 0)
		pthread_detach(t);
}

enum progress_mode { PROGRESS_NONE, PROGRESS_TTY, PROGRESS_JSON };

struct progress {
	enum progress_mode mode;
	const struct args *a;
	const char *disk;
	uint64_t t0, last, first_done;
	uint64_t done, total;		/* as last reported */
	bool started, drawn;
};

static void progress_show(struct progress *pg, uint64_t done, uint64_t total, bool final)
{
	uint64_t now = now_mono_ns();
	if (!pg->started) {	/* the rate counts this run's bytes only */
		pg->started = true;
		pg->first_done = done;
	}
	if (pg->mode == PROGRESS_NONE || (!final && now - pg->last < PROGRESS_EVERY_NS))
		return;
	pg->last = now;
	double secs = (double)(now - pg->t0) / 1e9;
	double rate = secs > 0 ? (double)(done - pg->first_done) / secs : 0;
	double eta = rate > 0 ? (double)(total - done) / rate : -1;
	if (pg->mode == PROGRESS_JSON) {
		struct jobj j;
		jobj_begin(&j, "progress");
		jobj_str(&j, "disk", pg->disk);
		jobj_u64(&j, "done_bytes", done);
		jobj_u64(&j, "total_bytes", total);
		jobj_num(&j, "rate_bps", rate, 0);
		jobj_num(&j, "eta_s", eta < 0 ? 0 : eta, 1);
		jobj_bool(&j, "final", final);
		jobj_print(&j);
		return;
	}
	char a[32], b[32];
	fmt_bytes(done, a, sizeof(a));
	fmt_bytes(total, b, sizeof(b));
	fprintf(stderr, "\rrestoring %s: %s of %s (%.0f%%), %.1f MB/s, ETA %.0f s   ", pg->disk,
		a, b, total ? 100.0 * (double)done / (double)total : 100.0, rate / 1e6,
		eta < 0 ? 0 : eta);
	pg->drawn = true;
	if (final)
		fputc('\n', stderr);
}

static int on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *pg = arg;
	pg->done = done;
	pg->total = total;
	progress_show(pg, done, total, false);
	return interrupted != 0;
}

static void end_line(struct progress *pg)
{
	if (pg->drawn)
		fputc('\n', stderr);
	pg->drawn = false;
}

static void on_notice(void *arg, const char *msg)
{
	struct progress *pg = arg;
	end_line(pg);
	ctl_notice(pg->a, "%s", msg);
}

static void print_result(const struct args *a, const struct point_info *p,
			 enum restore_format fmt, const struct restore_result *res)
{
	char t[32], id[48];
	ctl_fmt_time(p->time_ns, t, sizeof(t));
	snprintf(id, sizeof(id), "%" PRIu32 ".%" PRIu64, p->epoch, p->seq);
	if (res->block_device && res->device_size > res->disk_size)
		ctl_notice(a, "note: %s is %" PRIu64 " bytes, the disk %" PRIu64 ": the last %" PRIu64
			   " bytes of the device were left as they were", a->out,
			   res->device_size, res->disk_size, res->device_size - res->disk_size);
	if (!a->json) {
		printf("restored disk %s of domain %s at point %s (%s) to %s (%s%s)\n", a->disk,
		       a->domain, id, t, a->out, restore_format_name(fmt),
		       res->block_device ? ", block device" : "");
		return;
	}
	struct jobj j;
	jobj_begin(&j, "result");
	jobj_str(&j, "domain", a->domain);
	jobj_str(&j, "disk", a->disk);
	jobj_str(&j, "point", id);
	jobj_str(&j, "time", t);
	jobj_bool(&j, "consistent", p->flags & POINT_CONSISTENT);
	jobj_str(&j, "output", a->out);
	jobj_str(&j, "format", restore_format_name(fmt));
	jobj_u64(&j, "disk_bytes", res->disk_size);
	jobj_u64(&j, "bytes_written", res->bytes_written);
	jobj_u64(&j, "resumed_at", res->resumed_at);
	jobj_bool(&j, "block_device", res->block_device);
	if (res->block_device)
		jobj_u64(&j, "device_bytes", res->device_size);
	jobj_print(&j);
}

/* The exit code after a failed restore_disk, with what the user can do next. */
static int report_failure(const struct args *a, int e, const char *err,
			  const struct restore_result *res)
{
	if (e == -ECANCELED && interrupted) {
		if (res->resumable)
			return ctl_fail(a, 1, "interrupted; rerun with --resume to continue (the "
					"partial output is kept in %s)", res->part_path);
		if (res->block_device)
			return ctl_fail(a, 1, "interrupted; %s holds a partial image: run the "
					"restore again", a->out);
		return ctl_fail(a, 1, "interrupted before anything was written");
	}
	if (res->resumable)
		return ctl_fail(a, 1, "%s; the partial output is kept in %s: run again with "
				"--resume to continue", err[0] ? err : strerror(-e), res->part_path);
	return ctl_fail(a, e == -EINVAL ? 2 : 1, "%s", err[0] ? err : strerror(-e));
}

int ctl_restore_main(int argc, char **argv)
{
	struct args a = { .usage = "restore --store URL --key-file PATH (or -c FILE) --domain D "
			  "--disk X [--point latest|EPOCH.SEQ|SEQ|YYYY-MM-DDTHH:MM:SSZ] "
			  "[--format raw|vmdk|vmdk-flat|vmdk-stream [--level 1|2|3]] [--resume] [--force] "
			  "[--allow-inconsistent] [--json] -o PATH|DEVICE" };
	struct repo *r = NULL;
	char err[1024] = "";
	enum restore_format fmt = RESTORE_RAW;
	catch_stop_signals();
	int rc = ctl_parse(argc, argv, OPT(STORE) | OPT(KEY) | OPT(CONF) | OPT(DOMAIN) | OPT(DISK) |
			   OPT(POINT) | OPT(FORMAT) | OPT(OUT) | OPT(RESUME) | OPT(JSON) | OPT(LEVEL) |
			   OPT(FORCE) | OPT(ALLOW_INCONSISTENT),
			   OPT(DOMAIN) | OPT(DISK) | OPT(OUT), &a);
	if (rc)
		goto out;
	if (a.format && restore_format_parse(a.format, &fmt) < 0) {
		rc = ctl_usage(&a, "bad --format (raw, vmdk, vmdk-flat or vmdk-stream)");
		goto out;
	}
	int level = 0;
	if (a.level && (fmt != RESTORE_VMDK_STREAM || strlen(a.level) != 1 || a.level[0] < '1' ||
			a.level[0] > '3')) {
		rc = ctl_usage(&a, "--level is 1, 2 or 3, for --format vmdk-stream");
		goto out;
	}
	if (a.level)
		level = a.level[0] - '0';
	if ((rc = ctl_open_repo(&a, true, &r)) || (rc = ctl_check_domain(&a, r)))
		goto out;
	struct point_info p;
	struct progress pg = { .a = &a, .disk = a.disk, .t0 = now_mono_ns(),
			       .mode = a.json ? PROGRESS_JSON : isatty(2) ? PROGRESS_TTY :
									    PROGRESS_NONE };
	struct restore_result res = { 0 };
	int e = repo_resolve_point(r, a.domain, a.point ? a.point : "latest", &p, err, sizeof(err));
	if (e == 0) {
		char id[48];
		snprintf(id, sizeof(id), "%" PRIu32 ".%" PRIu64, p.epoch, p.seq);
		struct vmdk_kv kv[] = { { "ddb.ferry.domain", a.domain },
					{ "ddb.ferry.disk", a.disk }, { "ddb.ferry.point", id } };
		struct restore_req q = {
			.r = r, .p = &p, .domain = a.domain, .disk = a.disk, .path = a.out,
			.fmt = fmt, .resume = a.resume, .force = a.force,
			.allow_inconsistent = a.allow_inconsistent, .extra = kv,
			.n_extra = ARRAY_SIZE(kv), .level = level, .progress = on_progress,
			.progress_arg = &pg, .notice = on_notice,
		};
		if (!(p.flags & POINT_CONSISTENT) && a.allow_inconsistent)
			ctl_notice(&a, "warning: point %s is not consistent: the image may be torn",
				   id);
		e = restore_disk(&q, &res, err, sizeof(err));
	}
	if (e < 0) {
		end_line(&pg);
		rc = report_failure(&a, e, err, &res);
		goto out;
	}
	progress_show(&pg, pg.done, pg.total, true);
	print_result(&a, &p, fmt, &res);
out:
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}
