/* store-conform: the store contract (repo/store.h) checked against a live store of any
 * backend, for the S3 integration tests (tests/unit/test-store.c does the same for the file
 * backend in-process). Prints each check; exit 0 all passed, 1 a check failed, 2 usage.
 *
 *   store-conform --store URL [--endpoint E] [--region R] [--addressing A]
 *                 [--access-key-file F --secret-key-file F] [--keys N]
 *
 * Checks: N small objects put from 8 threads, listed back in ascending order with sizes
 * (N > 1000 crosses an S3 listing page); prefix lists; early stop; a 3 MiB object read whole
 * and by ranges, a range past the end is -EINVAL; head; a second put is -EEXIST and leaves
 * the content; 8 racing puts of one key have one winner; missing keys are -ENOENT for get,
 * range, head, del; bad keys are -EINVAL; an empty object; a 20 MiB object put in parts
 * (S3 multipart: threshold 8 MiB, parts 5 MiB, set here unless the environment sets them),
 * read back whole and by ranges across parts, -EEXIST for a second put, and 4 racing
 * multipart puts of one key leaving one writer's bytes; everything deleted at the end. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/store.h"
#include "common/banned.h"

#define NTHREADS 8
#define BIG (3u << 20)

static int failures;

#define CHECK(cond, ...)							\
	do {									\
		if (cond) {							\
			printf("ok   ");					\
		} else {							\
			printf("FAIL ");					\
			failures++;						\
		}								\
		printf(__VA_ARGS__);						\
		printf("\n");							\
		fflush(stdout);							\
	} while (0)

static struct store *st;
static unsigned nkeys = 1100;

static void key_of(unsigned i, char *k, size_t n)
{
	snprintf(k, n, "conform/many/k%05u", i);
}

struct job {
	unsigned first, step;
	int bad;
	int op;		/* 0 put, 1 del */
};

static void *worker(void *arg)
{
	struct job *j = arg;
	char k[64];
	for (unsigned i = j->first; i < nkeys; i += j->step) {
		key_of(i, k, sizeof k);
		int r = j->op ? store_del(st, k) : store_put(st, k, k, strlen(k));
		if (r) {
			fprintf(stderr, "%s %s: %s\n", j->op ? "del" : "put", k, store_strerror(st, r));
			j->bad++;
		}
	}
	return NULL;
}

static int run_parallel(int op)
{
	pthread_t t[NTHREADS];
	struct job j[NTHREADS];
	int bad = 0;
	for (unsigned i = 0; i < NTHREADS; i++) {
		j[i] = (struct job){ i, NTHREADS, 0, op };
		pthread_create(&t[i], NULL, worker, &j[i]);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		bad += j[i].bad;
	}
	return bad;
}

struct lst {
	unsigned n, stop_at;
	bool ordered, sizes;
	char last[STORE_KEY_MAX + 1];
};

static int list_cb(void *arg, const char *key, uint64_t size)
{
	struct lst *l = arg;
	if (l->n && strcmp(l->last, key) >= 0)
		l->ordered = false;
	if (size != strlen(key))
		l->sizes = false;
	snprintf(l->last, sizeof l->last, "%s", key);
	l->n++;
	return l->stop_at && l->n == l->stop_at ? 42 : 0;
}

static int count(const char *prefix, struct lst *l)
{
	*l = (struct lst){ .ordered = true, .sizes = true, .stop_at = l->stop_at };
	return store_list(st, prefix, list_cb, l);
}

struct race {
	int rc;
	unsigned char fill;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	unsigned char buf[4096];
	memset(buf, r->fill, sizeof buf);
	r->rc = store_put(st, "conform/race", buf, sizeof buf);
	return NULL;
}

static void check_many(void)
{
	struct lst l = { 0 };
	int r = run_parallel(0);
	CHECK(r == 0, "put %u objects from %d threads (%d failed)", nkeys, NTHREADS, r);
	r = count("conform/many/", &l);
	CHECK(r == 0 && l.n == nkeys, "list conform/many/: %u keys (want %u), rc %d", l.n, nkeys, r);
	CHECK(l.ordered, "list order is ascending");
	CHECK(l.sizes, "list sizes are right");
	r = count("conform/many/k0001", &l);
	CHECK(r == 0 && l.n == 10, "prefix conform/many/k0001: %u keys (want 10)", l.n);
	r = count("conform/many/k", &l);
	CHECK(r == 0 && l.n == nkeys, "prefix conform/many/k: %u keys", l.n);
	r = count("conform/nothing", &l);
	CHECK(r == 0 && l.n == 0, "prefix with no keys: %u", l.n);
	l.stop_at = 1005;
	r = count("conform/", &l);
	CHECK(r == 42 && l.n == 1005, "list stops when the callback says so: rc %d after %u", r, l.n);
}

static void check_big(void)
{
	unsigned char *big = malloc(BIG), *back = malloc(BIG);
	void *got = NULL;
	size_t len = 0;
	uint64_t size = 0;
	if (!big || !back)
		exit(2);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	int r = store_put(st, "conform/big", big, BIG);
	CHECK(r == 0, "put 3 MiB: %s", r ? store_strerror(st, r) : "0");
	r = store_get(st, "conform/big", &got, &len);
	CHECK(r == 0 && len == BIG && !memcmp(got, big, BIG), "get 3 MiB back");
	free(got);
	r = store_head(st, "conform/big", &size);
	CHECK(r == 0 && size == BIG, "head size %llu", (unsigned long long)size);
	static const struct { uint64_t off; size_t len; } rg[] = {
		{ 0, 1 }, { 1, 4095 }, { 65536, 65536 }, { BIG - 10, 10 }, { 0, BIG }, { 12345, 0 },
	};
	for (size_t i = 0; i < sizeof rg / sizeof rg[0]; i++) {
		r = store_get_range(st, "conform/big", rg[i].off, rg[i].len, back);
		CHECK(r == 0 && !memcmp(back, big + rg[i].off, rg[i].len), "range %llu+%zu",
		      (unsigned long long)rg[i].off, rg[i].len);
	}
	r = store_get_range(st, "conform/big", BIG - 10, 11, back);
	CHECK(r == -EINVAL, "range ending past the end: %d (want -EINVAL)", r);
	r = store_get_range(st, "conform/big", BIG + 100, 10, back);
	CHECK(r == -EINVAL, "range starting past the end: %d (want -EINVAL)", r);
	r = store_put(st, "conform/big", "x", 1);
	CHECK(r == -EEXIST, "second put: %d (want -EEXIST)", r);
	r = store_head(st, "conform/big", &size);
	CHECK(r == 0 && size == BIG, "content unchanged after the refused put");
	r = store_del(st, "conform/big");
	CHECK(r == 0, "delete: %d", r);
	r = store_head(st, "conform/big", &size);
	CHECK(r == -ENOENT, "head after delete: %d (want -ENOENT)", r);
	free(big);
	free(back);
}

/* Multipart upload (S3: the threshold is lowered to 8 MiB and parts to 5 MiB below). */
#define HUGE (20u << 20)
#define MP_RACERS 4

struct mp_race {
	const unsigned char *data;
	int rc;
};

static void *mp_racer(void *arg)
{
	struct mp_race *m = arg;
	m->rc = store_put(st, "conform/huge-race", m->data, HUGE);
	return NULL;
}

static void check_multipart(void)
{
	unsigned char *huge = malloc(HUGE), *other = malloc(HUGE), *back = malloc(1u << 20);
	void *got = NULL;
	size_t len = 0;
	uint64_t size = 0;
	if (!huge || !other || !back)
		exit(2);
	for (size_t i = 0; i < HUGE; i++) {
		huge[i] = (unsigned char)(i * 2654435761u >> 11);
		other[i] = (unsigned char)(huge[i] ^ 0x5a);
	}
	int r = store_put(st, "conform/huge", huge, HUGE);
	CHECK(r == 0, "put 20 MiB (multipart): %s", r ? store_strerror(st, r) : "0");
	r = store_get(st, "conform/huge", &got, &len);
	CHECK(r == 0 && len == HUGE && !memcmp(got, huge, HUGE), "get 20 MiB back: %d, %zu bytes",
	      r, len);
	free(got);
	r = store_head(st, "conform/huge", &size);
	CHECK(r == 0 && size == HUGE, "head size %llu", (unsigned long long)size);
	static const uint64_t offs[] = { (5u << 20) - 100, (10u << 20) - 1, HUGE - (1u << 20) };
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		r = store_get_range(st, "conform/huge", offs[i], 1u << 20, back);
		CHECK(r == 0 && !memcmp(back, huge + offs[i], 1u << 20),
		      "range %llu+1MiB across parts", (unsigned long long)offs[i]);
	}
	r = store_put(st, "conform/huge", other, HUGE);
	CHECK(r == -EEXIST, "second multipart put: %d (want -EEXIST)", r);
	r = store_put(st, "conform/huge", "x", 1);
	CHECK(r == -EEXIST, "small put over the multipart object: %d (want -EEXIST)", r);
	r = store_get_range(st, "conform/huge", 0, 1u << 20, back);
	CHECK(r == 0 && !memcmp(back, huge, 1u << 20), "content unchanged after refused puts");
	CHECK(store_del(st, "conform/huge") == 0, "delete the multipart object");

	pthread_t t[MP_RACERS];
	struct mp_race mr[MP_RACERS];
	for (unsigned i = 0; i < MP_RACERS; i++) {
		mr[i] = (struct mp_race){ i & 1 ? other : huge, -1 };
		pthread_create(&t[i], NULL, mp_racer, &mr[i]);
	}
	int won = 0, lost = 0;
	for (unsigned i = 0; i < MP_RACERS; i++) {
		pthread_join(t[i], NULL);
		won += mr[i].rc == 0;
		lost += mr[i].rc == -EEXIST;
	}
	/* Servers that ignore If-None-Match at completion (Ceph RGW 16) let several win: the
	 * last completion stands. Either way the object is one writer's bytes, whole. */
	CHECK(won >= 1 && won + lost == MP_RACERS, "%d racing multipart puts: %d won, %d -EEXIST%s",
	      MP_RACERS, won, lost, won == 1 ? "" : " (the server does not honour If-None-Match "
	      "at completion)");
	got = NULL;
	r = store_get(st, "conform/huge-race", &got, &len);
	CHECK(r == 0 && len == HUGE && (!memcmp(got, huge, HUGE) || !memcmp(got, other, HUGE)),
	      "the raced object is one writer's bytes");
	free(got);
	CHECK(store_del(st, "conform/huge-race") == 0, "delete the raced multipart object");
	free(huge);
	free(other);
	free(back);
}

static void check_errors(void)
{
	void *got = NULL;
	size_t len;
	uint64_t size;
	char buf[4];
	CHECK(store_get(st, "conform/missing", &got, &len) == -ENOENT, "get missing: -ENOENT");
	CHECK(store_get_range(st, "conform/missing", 0, 4, buf) == -ENOENT, "range missing: -ENOENT");
	CHECK(store_head(st, "conform/missing", &size) == -ENOENT, "head missing: -ENOENT");
	CHECK(store_del(st, "conform/missing") == -ENOENT, "del missing: -ENOENT");
	static const char *const bad[] = { "", "/a", "a//b", "a/", "a/../b", ".", "a b", "a?b" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(store_put(st, bad[i], "x", 1) == -EINVAL && store_head(st, bad[i], &size) ==
		      -EINVAL, "bad key '%s': -EINVAL", bad[i]);
	CHECK(store_list(st, "/a", list_cb, &(struct lst){ 0 }) == -EINVAL, "bad prefix: -EINVAL");

	int r = store_put(st, "conform/empty", "", 0);
	got = NULL;
	len = 99;
	CHECK(r == 0 && store_get(st, "conform/empty", &got, &len) == 0 && len == 0,
	      "empty object");
	free(got);
	CHECK(store_del(st, "conform/empty") == 0, "delete the empty object");

	pthread_t t[NTHREADS];
	struct race rc[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++) {
		rc[i] = (struct race){ -1, (unsigned char)(i + 1) };
		pthread_create(&t[i], NULL, racer, &rc[i]);
	}
	int won = 0, lost = 0;
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		won += rc[i].rc == 0;
		lost += rc[i].rc == -EEXIST;
	}
	CHECK(won == 1 && lost == NTHREADS - 1, "%d racing puts: %d won, %d -EEXIST", NTHREADS,
	      won, lost);
	CHECK(store_del(st, "conform/race") == 0, "delete the raced object");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "addressing", required_argument, NULL, 'a' },
		{ "access-key-file", required_argument, NULL, 'A' },
		{ "secret-key-file", required_argument, NULL, 'S' },
		{ "keys", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct store_opts so = { 0 };
	const char *url = NULL;
	char err[512];
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': url = optarg; break;
		case 'e': so.endpoint = optarg; break;
		case 'r': so.region = optarg; break;
		case 'a': so.addressing = optarg; break;
		case 'A': so.access_key_file = optarg; break;
		case 'S': so.secret_key_file = optarg; break;
		case 'n': nkeys = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!url || nkeys < 1010) {
		fprintf(stderr, "usage: store-conform --store URL [options] [--keys N>=1010]\n");
		return 2;
	}
	/* small multipart parameters for the S3 backend, unless the caller chose */
	setenv("FERRY_S3_MULTIPART_THRESHOLD", "8388608", 0);
	setenv("FERRY_S3_PART_SIZE", "5242880", 0);
	if (store_open_opts(url, &so, &st, err, sizeof err) < 0) {
		fprintf(stderr, "store-conform: %s\n", err);
		return 1;
	}
	check_errors();
	check_big();
	check_multipart();
	check_many();
	int r = run_parallel(1);
	CHECK(r == 0, "delete the %u objects (%d failed)", nkeys, r);
	struct lst l = { 0 };
	r = count("conform/", &l);
	CHECK(r == 0 && l.n == 0, "nothing left under conform/: %u", l.n);
	store_close(st);
	printf("%d failures\n", failures);
	return failures ? 1 : 0;
}
