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
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/config.h"
#include "common/util.h"
#include "repo/repo.h"
#include "repo/store-copy.h"
#include "repo/store-s3.h"
#include "common/banned.h"

#define CHECK_LEN (256u << 10)

static int usage(const char *why)
{
	fprintf(stderr, "ferryctl store: %s\nusage: ferryctl store check STORE\n"
		"       ferryctl store copy (--from URL | --from-config FILE) [--threads N] STORE\n"
		"STORE: -c FILE | --store URL [--endpoint E] [--region R] "
		"[--addressing path|virtual] [--access-key-file F --secret-key-file F] "
		"[--ca-file F]\n", why);
	return 2;
}

static void step(const char *name, bool ok, double ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void step(const char *name, bool ok, double ms, const char *fmt, ...)
{
	char what[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
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
		fprintf(stderr, "ferryctl store: out of memory or randomness\n");
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

/* The store an operator names: -c FILE's [store] (and its backend options), --store URL,
 * or both (the URL wins); backend options given as flags win over the file's. */
struct store_args {
	const char *conf, *url, *from, *from_conf;
	struct store_opts so;
	unsigned threads;
};

/* 0, -EINVAL (the configuration: unreadable, no url) or -EIO (the store does not open),
 * with the reason in err. */
static int open_named(const char *conf, const char *url, const struct store_opts *flags,
		      struct store **st, char *err, size_t errlen)
{
	struct ferry_config cfg;
	struct store_opts so = flags ? *flags : (struct store_opts){ 0 };
	bool have_cfg = false;
	int rc = -EINVAL;

	*st = NULL;
	if (conf) {
		if (config_load_any(conf, &cfg, err, errlen) < 0)
			return -EINVAL;
		have_cfg = true;
		struct store_opts fo;
		repo_store_opts(&cfg, &fo);	/* options on the command line win */
		if (!so.endpoint) so.endpoint = fo.endpoint;
		if (!so.region) so.region = fo.region;
		if (!so.addressing) so.addressing = fo.addressing;
		if (!so.access_key_file && !so.secret_key_file) {
			so.access_key_file = fo.access_key_file;
			so.secret_key_file = fo.secret_key_file;
		}
		if (!so.ca_file) so.ca_file = fo.ca_file;
		so.parallel = fo.parallel;
		if (!url)
			url = cfg.store_url;
	}
	if (!url)
		snprintf(err, errlen, "%s has no [store] url", conf);
	else
		rc = store_open_opts(url, &so, st, err, errlen) < 0 ? -EIO : 0;
	if (have_cfg)
		config_release(&cfg);
	return rc;
}

static int parse(int argc, char **argv, bool copy, struct store_args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "store", required_argument, NULL, 's' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "addressing", required_argument, NULL, 'a' },
		{ "access-key-file", required_argument, NULL, 'A' },
		{ "secret-key-file", required_argument, NULL, 'S' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "from-config", required_argument, NULL, 'F' },
		{ "threads", required_argument, NULL, 't' },
		{ 0 },
	};
	int c;
	char *end;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->conf = optarg; break;
		case 's': a->url = optarg; break;
		case 'e': a->so.endpoint = optarg; break;
		case 'r': a->so.region = optarg; break;
		case 'a': a->so.addressing = optarg; break;
		case 'A': a->so.access_key_file = optarg; break;
		case 'S': a->so.secret_key_file = optarg; break;
		case 'C': a->so.ca_file = optarg; break;
		case 'f': a->from = optarg; break;
		case 'F': a->from_conf = optarg; break;
		case 't':
			a->threads = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !a->threads || a->threads > 64)
				return usage("bad --threads (1 to 64)");
			break;
		default: return usage("bad option");
		}
		if (!copy && (c == 'f' || c == 'F' || c == 't'))
			return usage("--from, --from-config and --threads are for 'copy'");
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (!a->conf && !a->url)
		return usage("-c FILE or --store URL is required");
	if (copy && !a->from == !a->from_conf)
		return usage("copy needs --from URL or --from-config FILE");
	return 0;
}

static int store_check(int argc, char **argv)
{
	struct store_args a = { 0 };
	struct store *st = NULL;
	char err[768];
	int rc = parse(argc, argv, false, &a);
	if (rc)
		return rc;
	printf("store check %s\n", a.url ? a.url : a.conf);
	uint64_t t0 = now_mono_ns();
	if ((rc = open_named(a.conf, a.url, &a.so, &st, err, sizeof err)) == -EINVAL) {
		fprintf(stderr, "ferryctl store: %s\n", err);
		return 2;
	}
	if (rc < 0) {
		step("open", false, since_ms(t0), "%s", err);
		printf("store check: FAILED\n");
		return 1;
	}
	step("open", true, since_ms(t0), "%s%s", store_is_s3(st) ? "endpoint " : "local directory",
	     store_is_s3(st) ? store_s3_endpoint(st) : "");
	rc = 1;
	if ((!store_is_s3(st) || s3_steps(st) == 0) && round_trip(st) == 0) {
		printf("store check: all steps passed\n");
		rc = 0;
	} else {
		printf("store check: FAILED\n");
	}
	store_close(st);
	return rc;
}

static int store_copy_main(int argc, char **argv)
{
	struct store_args a = { 0 };
	struct store *src = NULL, *dst = NULL;
	struct store_copy_stats s;
	char err[1024];
	int rc = parse(argc, argv, true, &a);
	if (rc)
		return rc;
	static const struct store_opts source = { .read_only = true };	/* creates nothing */
	if (open_named(a.from_conf, a.from, &source, &src, err, sizeof err) < 0 ||
	    open_named(a.conf, a.url, &a.so, &dst, err, sizeof err) < 0) {
		fprintf(stderr, "ferryctl store copy: %s\n", err);
		rc = 2;
		goto out;
	}
	uint64_t t0 = now_mono_ns();
	rc = store_copy(src, dst, a.threads, &s, err, sizeof err);
	double secs = (double)(now_mono_ns() - t0) / 1e9;
	printf("copied %" PRIu64 " objects, %" PRIu64 " bytes in %.2f s (%.1f MB/s); %" PRIu64
	       " objects (%" PRIu64 " bytes) already there", s.objects, s.bytes, secs,
	       secs > 0 ? (double)s.bytes / 1e6 / secs : 0.0, s.present, s.present_bytes);
	if (s.vanished)
		printf("; %" PRIu64 " gone from the source while copying", s.vanished);
	printf("\n");
	if (rc < 0) {
		fprintf(stderr, "ferryctl store copy: %s\n", err);
		rc = 1;
	}
out:
	store_close(src);
	store_close(dst);
	return rc;
}

int ctl_store_main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return store_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "copy"))
		return store_copy_main(argc - 1, argv + 1);
	return usage("expected 'check' or 'copy'");
}
