/* ferryctl store check and store copy (the copy itself: repo/store-copy.c).
 *
 * store check: the steps an operator needs to see when a store does not work,
 * in the order they depend on each other, stopping at the first failure (a later step
 * could only fail for the same reason). The network steps are S3 probes (store-s3.h); the
 * round trip goes through the generic store API, so it works for file:// stores too and
 * checks exactly what the repository relies on: a put is readable whole and by range, a
 * second put of the key is refused (-EEXIST: If-None-Match honoured), delete works. The
 * scratch object is ferry-check/<pid>-<random>, deleted again at the end. */
#include "mgmt/ctl-store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/config.h"
#include "common/util.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-json.h"
#include "repo/repo.h"
#include "repo/store-copy.h"
#include "repo/store-s3.h"
#include "common/banned.h"

#define CHECK_LEN (256u << 10)

#define USAGE "store check|copy ... (ferryctl store check --help, ferryctl store copy --help)"

static bool json_steps;	/* store check --json: each step a JSON line */

static void step(const char *name, bool ok, double ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void step(const char *name, bool ok, double ms, const char *fmt, ...)
{
	char what[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (json_steps) {
		struct jobj j;
		jobj_begin(&j, "step");
		jobj_str(&j, "step", name);
		jobj_bool(&j, "ok", ok);
		if (ms >= 0)
			jobj_num(&j, "ms", ms, 1);
		jobj_str(&j, "detail", what);
		jobj_print(&j);
		return;
	}
	if (ms >= 0)
		printf("  %-16s %-4s %9.1f ms  %s\n", name, ok ? "ok" : "FAIL", ms, what);
	else
		printf("  %-16s %-4s %12s  %s\n", name, ok ? "ok" : "FAIL", "", what);
	fflush(stdout);
}

static double since_ms(uint64_t t0)
{
	return (double)(now_mono_ns() - t0) / 1e6;
}

static int s3_steps(struct store *st)
{
	struct store_s3_probe p;
	int r = store_s3_probe_connect(st, &p);
	step("reachability", r == 0, p.connect_ms, "%s", p.detail);
	if (r < 0)
		return -1;
	if (store_s3_tls(st))
		step("tls", true, p.tls_ms, "handshake done, certificate verified");
	else
		step("tls", true, -1, "not used (http endpoint)");

	r = store_s3_probe_list(st, &p);
	if (r == 0 || r == -ENXIO) {
		step("authentication", true, p.total_ms, "signed request accepted");
	} else {
		step("authentication", false, p.total_ms, "%s", p.detail);
		return -1;
	}
	step("bucket", r == 0, -1, "%s", p.detail);
	return r == 0 ? 0 : -1;
}

static int round_trip(struct store *st)
{
	unsigned char rnd[8];
	char key[64];
	uint64_t t0, size;
	int r;

	CLEANUP_FREE unsigned char *data = malloc(CHECK_LEN);
	CLEANUP_FREE unsigned char *back = malloc(CHECK_LEN);
	if (!data || !back || RAND_bytes(data, CHECK_LEN) != 1 || RAND_bytes(rnd, sizeof rnd) != 1) {
		step("put", false, -1, "out of memory or randomness");
		return -1;
	}
	int n = snprintf(key, sizeof key, "ferry-check/%d-", (int)getpid());
	for (size_t i = 0; i < sizeof rnd; i++)
		n += snprintf(key + n, sizeof key - (size_t)n, "%02x", rnd[i]);

	t0 = now_mono_ns();
	r = store_put(st, key, data, CHECK_LEN);
	step("put", r == 0, since_ms(t0), "%s (%u KiB)%s%s", key, CHECK_LEN >> 10, r ? ": " : "",
	     r ? store_strerror(st, r) : "");
	if (r)
		return -1;

	void *got = NULL;
	size_t len = 0;
	t0 = now_mono_ns();
	r = store_get(st, key, &got, &len);
	bool same = r == 0 && len == CHECK_LEN && !memcmp(got, data, CHECK_LEN);
	free(got);
	step("get", same, since_ms(t0), "%s", r ? store_strerror(st, r) :
	     same ? "same bytes back" : "different bytes back");
	if (!same)
		goto del;

	t0 = now_mono_ns();
	r = store_get_range(st, key, 4097, 1000, back);
	same = r == 0 && !memcmp(back, data + 4097, 1000);
	step("range get", same, since_ms(t0), "%s", r ? store_strerror(st, r) :
	     same ? "bytes 4097..5096 match" : "different bytes back");
	if (!same)
		goto del;

	t0 = now_mono_ns();
	r = store_head(st, key, &size);
	same = r == 0 && size == CHECK_LEN;
	step("head", same, since_ms(t0), "%s", r ? store_strerror(st, r) :
	     same ? "size matches" : "wrong size");
	if (!same)
		goto del;

	t0 = now_mono_ns();
	r = store_put(st, key, data, 1);
	same = r == -EEXIST;
	step("no overwrite", same, since_ms(t0), "%s", same ? "second put refused (exists)" :
	     r == 0 ? "second put REPLACED the object (conditional writes not honoured)" :
	     store_strerror(st, r));
del:
	t0 = now_mono_ns();
	r = store_del(st, key);
	step("delete", r == 0, since_ms(t0), "%s", r ? store_strerror(st, r) : "removed");
	if (r || !same)
		return -1;
	t0 = now_mono_ns();
	r = store_head(st, key, &size);
	step("gone", r == -ENOENT, since_ms(t0), "%s", r == -ENOENT ? "no longer there" :
	     r == 0 ? "still there after delete" : store_strerror(st, r));
	return r == -ENOENT ? 0 : -1;
}

/* The source of a copy: --from URL or --from-config FILE's [store] (with its backend
 * options), opened read-only (nothing is created there). 0, or the exit code after
 * printing the reason. */
static int open_source(const struct args *a, struct store **st)
{
	struct ferry_config cfg;
	struct store_opts so = { .read_only = true };
	char err[768];
	const char *url = a->from;
	bool have_cfg = false;
	int rc = 0;
	if (a->from_conf) {
		if (config_load_any(a->from_conf, &cfg, err, sizeof err) < 0)
			return ctl_fail(a, 2, "%s", err);
		have_cfg = true;
		repo_store_opts(&cfg, &so);
		so.read_only = true;
		url = cfg.store_url;
		if (!url)
			rc = ctl_fail(a, 2, "%s has no [store] url", a->from_conf);
	}
	if (rc == 0 && store_open_opts(url, &so, st, err, sizeof err) < 0)
		rc = ctl_fail(a, 2, "%s", err);
	if (have_cfg)
		config_release(&cfg);
	return rc;
}

#define STORE_OPTS (OPT(CONF) | OPT(STORE) | OPT_S3)

static int store_check(int argc, char **argv)
{
	struct args a = { .cmd = "store check", .usage = "store check (-c FILE | --store URL) "
			  "[--endpoint URL] [--region R] [--addressing path|virtual] "
			  "[--access-key-file FILE --secret-key-file FILE] [--ca-file FILE] [--json]" };
	struct store *st = NULL;
	char err[768];
	int rc = ctl_parse(argc, argv, STORE_OPTS | OPT(JSON), 0, &a);
	if (rc)
		goto out;
	json_steps = a.json;
	if (!a.json)
		printf("store check %s\n", a.store);
	uint64_t t0 = now_mono_ns();
	bool ok = false;
	if (store_open_opts(a.store, &a.so, &st, err, sizeof err) < 0) {
		step("open", false, since_ms(t0), "%s", err);
	} else {
		step("open", true, since_ms(t0), "%s%s", store_is_s3(st) ? "endpoint " :
		     "local directory", store_is_s3(st) ? store_s3_endpoint(st) : "");
		ok = (!store_is_s3(st) || s3_steps(st) == 0) && round_trip(st) == 0;
	}
	rc = ok ? 0 : 1;
	if (a.json) {
		struct jobj j;
		jobj_begin(&j, "result");
		jobj_str(&j, "store", a.store);
		jobj_bool(&j, "ok", ok);
		jobj_print(&j);
	} else {
		printf("store check: %s\n", ok ? "all steps passed" : "FAILED");
	}
out:
	store_close(st);
	ctl_args_release(&a);
	return rc;
}

static int store_copy_main(int argc, char **argv)
{
	struct args a = { .cmd = "store copy", .usage = "store copy (--from URL | --from-config "
			  "FILE) [--threads N] (-c FILE | --store URL) [--endpoint URL] [--region R] "
			  "[--addressing path|virtual] [--access-key-file FILE --secret-key-file FILE] "
			  "[--ca-file FILE]" };
	struct store *src = NULL, *dst = NULL;
	struct store_copy_stats s;
	char err[1024];
	unsigned threads = 0;
	int rc = ctl_parse(argc, argv, STORE_OPTS | OPT(FROM) | OPT(FROM_CONFIG) | OPT(THREADS), 0,
			   &a);
	if (rc)
		goto out;
	if (!a.from == !a.from_conf) {
		rc = ctl_usage(&a, "copy needs --from URL or --from-config FILE");
		goto out;
	}
	if (a.threads) {
		char *end;
		unsigned long t = strtoul(a.threads, &end, 10);
		if (*end || !t || t > 64) {
			rc = ctl_usage(&a, "bad --threads (1 to 64)");
			goto out;
		}
		threads = (unsigned)t;
	}
	if ((rc = open_source(&a, &src)))
		goto out;
	if (store_open_opts(a.store, &a.so, &dst, err, sizeof err) < 0) {
		rc = ctl_fail(&a, 2, "%s", err);
		goto out;
	}
	uint64_t t0 = now_mono_ns();
	rc = store_copy(src, dst, threads, &s, err, sizeof err);
	double secs = (double)(now_mono_ns() - t0) / 1e9;
	printf("copied %" PRIu64 " objects, %" PRIu64 " bytes in %.2f s (%.1f MB/s); %" PRIu64
	       " objects (%" PRIu64 " bytes) already there", s.objects, s.bytes, secs,
	       secs > 0 ? (double)s.bytes / 1e6 / secs : 0.0, s.present, s.present_bytes);
	if (s.vanished)
		printf("; %" PRIu64 " gone from the source while copying", s.vanished);
	printf("\n");
	if (rc < 0)
		rc = ctl_fail(&a, 1, "%s", err);
out:
	store_close(src);
	store_close(dst);
	ctl_args_release(&a);
	return rc;
}

int ctl_store_main(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "check", store_check }, { "copy", store_copy_main },
	};
	return ctl_dispatch("store", USAGE, subs, 2, argc, argv);
}
