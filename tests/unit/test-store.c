/* Unit tests for the store layer and the file backend: every test opens a fresh
 * file:///<tmpdir>/N store and checks real outcomes on disk: round trips, no overwrite,
 * key validation on every call, list order and prefix filtering, leftover temporaries,
 * racing puts from 8 threads, and store_open's errors. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "repo/store.h"
#include "common/banned.h"

static char top[256];		/* the per-run temporary directory */

struct fixture {
	struct store *st;
	char root[300];
	char url[320];
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(top, sizeof(top), "%s/test-store.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(top) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
	static int n;
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/s%d", top, n++);
	snprintf(f->url, sizeof(f->url), "file://%s", f->root);
	if (store_open(f->url, &f->st, err, sizeof(err))) {
		print_message("store_open %s: %s\n", f->url, err);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->st);
	free(f);
	return 0;
}

static void put_str(struct store *st, const char *key, const char *s)
{
	assert_int_equal(store_put(st, key, s, strlen(s)), 0);
}

static void assert_content(struct store *st, const char *key, const char *want)
{
	void *data = NULL;
	size_t len = 0;
	assert_int_equal(store_get(st, key, &data, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(data, want, len);
	free(data);
}

/* ---- list collection ---- */

struct listing {
	char keys[64][STORE_KEY_MAX + 1];
	uint64_t sizes[64];
	int n;
	int stop_after;	/* return 7 once this many were seen (0: never) */
};

static int collect(void *arg, const char *key, uint64_t size)
{
	struct listing *l = arg;
	if (l->n >= 64)
		return -1;
	snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
	l->sizes[l->n++] = size;
	return l->stop_after && l->n >= l->stop_after ? 7 : 0;
}

static void assert_listing(struct store *st, const char *prefix, const char *const *want, int n)
{
	struct listing *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	assert_int_equal(store_list(st, prefix, collect, l), 0);
	if (l->n != n) {
		for (int i = 0; i < l->n; i++)
			print_message("listed %s\n", l->keys[i]);
	}
	assert_int_equal(l->n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(l->keys[i], want[i]);
	free(l);
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	uint8_t blob[10000];
	void *data;
	size_t len;
	uint64_t size;
	char buf[16];

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 3);
	assert_string_equal(st->url, f->url);
	assert_int_equal(store_put(st, "packs/ab/pack-1", blob, sizeof(blob)), 0);
	assert_int_equal(store_head(st, "packs/ab/pack-1", &size), 0);
	assert_int_equal(size, sizeof(blob));

	assert_int_equal(store_get(st, "packs/ab/pack-1", &data, &len), 0);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(data, blob, len);
	free(data);

	assert_int_equal(store_get_range(st, "packs/ab/pack-1", 9990, 10, buf), 0);
	assert_memory_equal(buf, blob + 9990, 10);
	assert_int_equal(store_get_range(st, "packs/ab/pack-1", 0, 16, buf), 0);
	assert_memory_equal(buf, blob, 16);

	/* empty object */
	assert_int_equal(store_put(st, "config", "", 0), 0);
	assert_int_equal(store_head(st, "config", &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(store_get(st, "config", &data, &len), 0);
	assert_int_equal(len, 0);
	free(data);

	/* on disk where docs/store.md says, no temporaries left behind */
	char path[512];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/packs/ab/pack-1", f->root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, sizeof(blob));
	snprintf(path, sizeof(path), "%s/packs/ab", f->root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	static const char *const all[] = { "config", "packs/ab/pack-1" };
	assert_listing(st, "", all, 2);

	assert_int_equal(store_del(st, "packs/ab/pack-1"), 0);
	assert_int_equal(store_head(st, "packs/ab/pack-1", &size), -ENOENT);
	assert_int_equal(store_get(st, "packs/ab/pack-1", &data, &len), -ENOENT);
	assert_int_equal(store_del(st, "packs/ab/pack-1"), -ENOENT);
	assert_listing(st, "", all, 1);
	/* a deleted key can be written again */
	assert_int_equal(store_put(st, "packs/ab/pack-1", blob, 5), 0);
	assert_int_equal(store_head(st, "packs/ab/pack-1", &size), 0);
	assert_int_equal(size, 5);
}

/* Large page-aligned objects (packs) go O_DIRECT but for their tail; sizes around the
 * alignment and the direct-write threshold read back exactly. */
static void test_large_aligned(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = { (1u << 20) - 1, 1u << 20, (3u << 20) + 123,
					(2u << 20) + 4096 };
	uint8_t *blob = NULL;
	assert_int_equal(posix_memalign((void **)&blob, 4096, 4u << 20), 0);
	assert_non_null(blob);
	for (size_t i = 0; i < (4u << 20); i++)
		blob[i] = (uint8_t)((i * 2654435761u) >> 13);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char key[32];
		void *data;
		size_t len;
		snprintf(key, sizeof(key), "packs/cd/big-%zu", k);
		assert_int_equal(store_put(f->st, key, blob + (k == 3 ? 1 : 0), sizes[k]), 0);
		assert_int_equal(store_get(f->st, key, &data, &len), 0);
		assert_int_equal(len, sizes[k]);
		assert_memory_equal(data, blob + (k == 3 ? 1 : 0), len);
		free(data);
	}
	free(blob);
}

static void test_no_overwrite(void **state)
{
	struct fixture *f = *state;

	put_str(f->st, "domains/web/owner", "site-a");
	assert_int_equal(store_put(f->st, "domains/web/owner", "site-b!", 7), -EEXIST);
	assert_int_equal(store_put(f->st, "domains/web/owner", "", 0), -EEXIST);
	assert_content(f->st, "domains/web/owner", "site-a");

	/* a file can't also be a directory, and the reverse */
	assert_int_equal(store_put(f->st, "domains/web/owner/x", "1", 1), -ENOTDIR);
	assert_int_equal(store_put(f->st, "domains/web", "1", 1), -EISDIR);
	assert_content(f->st, "domains/web/owner", "site-a");

	static const char *const one[] = { "domains/web/owner" };
	assert_listing(f->st, "", one, 1);
}

static void test_bad_keys(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	char long_key[STORE_KEY_MAX + 2];
	char max_key[STORE_KEY_MAX + 1];
	void *data = NULL;
	size_t len;
	uint64_t size;
	char buf[4];

	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	/* 1024 bytes of components of 200 bytes (each under NAME_MAX) is the longest valid key */
	memset(max_key, 'm', sizeof(max_key) - 1);
	max_key[sizeof(max_key) - 1] = '\0';
	for (int i = 200; i < STORE_KEY_MAX; i += 201)
		max_key[i] = '/';
	assert_int_equal(strlen(max_key), STORE_KEY_MAX);

	const char *bad[] = {
		"", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a", "a/..", "a b",
		"a\\b", "a:b", "a\tb", "caf\xc3\xa9", "a*", "a~", "a\nb", long_key,
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *k = bad[i];
		assert_int_equal(store_key_check(k), -EINVAL);
		assert_int_equal(store_put(st, k, "x", 1), -EINVAL);
		assert_int_equal(store_get(st, k, &data, &len), -EINVAL);
		assert_null(data);
		assert_int_equal(store_get_range(st, k, 0, 1, buf), -EINVAL);
		assert_int_equal(store_head(st, k, &size), -EINVAL);
		assert_int_equal(store_del(st, k), -EINVAL);
	}
	assert_int_equal(store_key_check(NULL), -EINVAL);

	const char *good[] = { "a", "A-Z_0.9", "...", "..a", "a.", "x/y/z", ".hidden", max_key };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(store_key_check(good[i]), 0);
		assert_int_equal(store_put(st, good[i], "ok", 2), 0);
		assert_content(st, good[i], "ok");
	}

	/* the file backend reserves ".tmp." components for its temporaries */
	assert_int_equal(store_key_check(".tmp.1"), 0);
	assert_int_equal(store_put(st, ".tmp.1", "x", 1), -EINVAL);
	assert_int_equal(store_put(st, "a1/.tmp.x/b", "x", 1), -EINVAL);
	assert_int_equal(store_head(st, "x/.tmp.1", &size), -EINVAL);
	assert_int_equal(store_put(st, "x/.tmp", "x", 1), 0);	/* not the prefix itself */

	/* bad prefixes */
	struct listing l = { .n = 0 };
	const char *badp[] = { "/", "/a", "a//", "../", "a/./", "a b", "x/y/../" };
	for (size_t i = 0; i < ARRAY_SIZE(badp); i++)
		assert_int_equal(store_list(st, badp[i], collect, &l), -EINVAL);
	assert_int_equal(store_list(st, long_key, collect, &l), -EINVAL);
	assert_int_equal(l.n, 0);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	/* put in scrambled order; byte order puts '-' < '.' < '/' < '0' < 'A' < '_' < 'a' */
	const char *keys[] = {
		"packs/b/2", "packsx", "packs/ab/1", "config", "a0", "packs/aa", "a/c", "index/1",
		"a.b", "packs/a", "Z", "a-b", "a_b", "packs/ab/0/deep",
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		put_str(st, keys[i], keys[i]);

	static const char *const all[] = {
		"Z", "a-b", "a.b", "a/c", "a0", "a_b", "config", "index/1", "packs/a", "packs/aa",
		"packs/ab/0/deep", "packs/ab/1", "packs/b/2", "packsx",
	};
	assert_listing(st, "", all, ARRAY_SIZE(all));

	static const char *const packs_dir[] = {
		"packs/a", "packs/aa", "packs/ab/0/deep", "packs/ab/1", "packs/b/2",
	};
	assert_listing(st, "packs/", packs_dir, ARRAY_SIZE(packs_dir));
	static const char *const packs_a[] = {
		"packs/a", "packs/aa", "packs/ab/0/deep", "packs/ab/1",
	};
	assert_listing(st, "packs/a", packs_a, ARRAY_SIZE(packs_a));
	static const char *const packs[] = {
		"packs/a", "packs/aa", "packs/ab/0/deep", "packs/ab/1", "packs/b/2", "packsx",
	};
	assert_listing(st, "packs", packs, ARRAY_SIZE(packs));
	static const char *const a[] = { "a-b", "a.b", "a/c", "a0", "a_b" };
	assert_listing(st, "a", a, ARRAY_SIZE(a));
	static const char *const ab1[] = { "packs/ab/1" };
	assert_listing(st, "packs/ab/1", ab1, 1);
	assert_listing(st, "packs/ab/1/", NULL, 0);	/* a file is not a directory */
	assert_listing(st, "nothing/", NULL, 0);
	assert_listing(st, "nothing/at/all", NULL, 0);
	assert_listing(st, "packs/c", NULL, 0);

	/* sizes are reported */
	struct listing *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	assert_int_equal(store_list(st, "index/", collect, l), 0);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->sizes[0], strlen("index/1"));

	/* stopping early returns the callback's value */
	memset(l, 0, sizeof(*l));
	l->stop_after = 2;
	assert_int_equal(store_list(st, "", collect, l), 7);
	assert_int_equal(l->n, 2);
	assert_string_equal(l->keys[0], "Z");
	assert_string_equal(l->keys[1], "a-b");
	free(l);

	/* foreign names that can't be keys are not objects */
	char path[512];
	snprintf(path, sizeof(path), "%s/packs/not a key", f->root);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_listing(st, "packs/", packs_dir, ARRAY_SIZE(packs_dir));
}

static void test_missing(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	void *data = (void *)1;
	size_t len = 1;
	uint64_t size;
	char buf[4];

	assert_int_equal(store_get(st, "nope", &data, &len), -ENOENT);
	assert_null(data);
	assert_int_equal(len, 0);
	assert_int_equal(store_head(st, "nope", &size), -ENOENT);
	assert_int_equal(store_get_range(st, "nope", 0, 1, buf), -ENOENT);
	assert_int_equal(store_del(st, "nope"), -ENOENT);
	assert_int_equal(store_del(st, "no/such/dir"), -ENOENT);

	put_str(st, "dir/obj", "x");
	/* a directory is not an object; nor is anything "under" an object */
	assert_int_equal(store_get(st, "dir", &data, &len), -ENOENT);
	assert_int_equal(store_head(st, "dir", &size), -ENOENT);
	assert_int_equal(store_get_range(st, "dir", 0, 0, buf), -ENOENT);
	assert_int_equal(store_del(st, "dir"), -ENOENT);
	assert_int_equal(store_get(st, "dir/obj/x", &data, &len), -ENOENT);
	assert_int_equal(store_head(st, "dir/obj/x", &size), -ENOENT);
	assert_int_equal(store_del(st, "dir/obj/x"), -ENOENT);
	assert_content(st, "dir/obj", "x");
}

static void test_get_range(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	char buf[16];

	put_str(st, "obj", "0123456789");
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(store_get_range(st, "obj", 3, 4, buf), 0);
	assert_memory_equal(buf, "3456", 4);
	assert_int_equal(buf[4], 'z');
	assert_int_equal(store_get_range(st, "obj", 0, 10, buf), 0);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(store_get_range(st, "obj", 10, 0, buf), 0);
	assert_int_equal(store_get_range(st, "obj", 9, 2, buf), -EINVAL);
	assert_int_equal(store_get_range(st, "obj", 0, 11, buf), -EINVAL);
	assert_int_equal(store_get_range(st, "obj", 11, 0, buf), -EINVAL);
	assert_int_equal(store_get_range(st, "obj", UINT64_MAX, 1, buf), -EINVAL);
	assert_int_equal(store_get_range(st, "obj", 1, SIZE_MAX, buf), -EINVAL);
}

/* In a thread of its own so that its temp-name counter starts at 0: leftovers with the very
 * names the next puts would pick must be stepped over. */
static void *tmp_thread(void *arg)
{
	struct fixture *f = arg;
	char path[512];
	intptr_t bad = 0;

	snprintf(path, sizeof(path), "%s/dir", f->root);
	if (mkdir(path, 0700))
		return (void *)1;
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/dir/.tmp.%ld.%ld.%d", f->root, (long)getpid(),
			 (long)gettid(), i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, "stale", 5) != 5)
			bad = 1;
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/dir/.tmp.obj", f->root);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		bad = 1;
	close(fd);
	if (store_put(f->st, "dir/obj", "fresh", 5))
		bad = 1;
	return (void *)bad;
}

static void test_tmp_leftover(void **state)
{
	struct fixture *f = *state;
	pthread_t t;
	void *ret;
	uint64_t size;

	assert_int_equal(pthread_create(&t, NULL, tmp_thread, f), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_content(f->st, "dir/obj", "fresh");
	static const char *const one[] = { "dir/obj" };
	assert_listing(f->st, "", one, 1);
	assert_listing(f->st, "dir/", one, 1);
	assert_listing(f->st, "dir/.", NULL, 0);
	assert_int_equal(store_head(f->st, "dir/.tmp.obj", &size), -EINVAL);

	/* the leftovers are still there: only prune removes them */
	char path[512], young[512], obj[512];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/dir/.tmp.obj", f->root);
	assert_int_equal(stat(path, &sb), 0);

	/* sweep: only temporary files old enough go; objects never, however old */
	uint64_t n;
	const uint64_t hour = 3600ull * 1000000000u;
	assert_int_equal(store_sweep(f->st, hour, &n), 0);
	assert_int_equal(n, 0);
	snprintf(young, sizeof(young), "%s/.tmp.1.2.3", f->root);
	snprintf(obj, sizeof(obj), "%s/dir/obj", f->root);
	int fd = open(young, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	struct timespec old[2] = { { time(NULL) - 7200, 0 }, { time(NULL) - 7200, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, obj, old, 0), 0);
	assert_int_equal(store_sweep(f->st, hour, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(stat(young, &sb), 0);
	assert_content(f->st, "dir/obj", "fresh");
	assert_int_equal(store_sweep(f->st, 0, &n), 0);
	assert_int_equal(n, 6);		/* the young one and tmp_thread's five */
	assert_int_equal(stat(young, &sb), -1);
	assert_listing(f->st, "", one, 1);
}

/* ---- concurrency ---- */

#define NTHREADS 8
#define NDISTINCT 40
#define NSAME 25

struct race {
	struct store *st;
	pthread_barrier_t barrier;
	int ok[NSAME];		/* puts that returned 0, per identical key */
	int eexist[NSAME];	/* puts that returned -EEXIST */
	int winner[NSAME];
	int other_err;
};

struct race_arg {
	struct race *r;
	int id;
};

static void *race_thread(void *p)
{
	struct race_arg *a = p;
	struct race *r = a->r;
	char key[64], val[64];

	pthread_barrier_wait(&r->barrier);
	for (int i = 0; i < NDISTINCT || i < NSAME; i++) {
		if (i < NSAME) {
			/* identical keys, in directories every thread creates at once */
			snprintf(key, sizeof(key), "same/%02d/k", i);
			snprintf(val, sizeof(val), "from thread %d", a->id);
			int ret = store_put(r->st, key, val, strlen(val));
			if (ret == 0) {
				__atomic_fetch_add(&r->ok[i], 1, __ATOMIC_SEQ_CST);
				__atomic_store_n(&r->winner[i], a->id, __ATOMIC_SEQ_CST);
			} else if (ret == -EEXIST) {
				__atomic_fetch_add(&r->eexist[i], 1, __ATOMIC_SEQ_CST);
			} else {
				__atomic_fetch_add(&r->other_err, 1, __ATOMIC_SEQ_CST);
			}
		}
		if (i < NDISTINCT) {
			snprintf(key, sizeof(key), "packs/%02d/t%d-%d", i % 5, a->id, i);
			if (store_put(r->st, key, key, strlen(key)))
				__atomic_fetch_add(&r->other_err, 1, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

static int count_cb(void *arg, const char *key, uint64_t size)
{
	(void)key, (void)size;
	(*(int *)arg)++;
	return 0;
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct race *r = calloc(1, sizeof(*r));
	struct race_arg args[NTHREADS];
	pthread_t t[NTHREADS];
	char key[64], val[64];

	assert_non_null(r);
	r->st = f->st;
	assert_int_equal(pthread_barrier_init(&r->barrier, NULL, NTHREADS), 0);
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct race_arg){ r, i };
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&r->barrier);

	assert_int_equal(r->other_err, 0);
	for (int i = 0; i < NSAME; i++) {
		assert_int_equal(r->ok[i], 1);
		assert_int_equal(r->eexist[i], NTHREADS - 1);
		snprintf(key, sizeof(key), "same/%02d/k", i);
		snprintf(val, sizeof(val), "from thread %d", r->winner[i]);
		assert_content(f->st, key, val);
	}
	for (int id = 0; id < NTHREADS; id++) {
		for (int i = 0; i < NDISTINCT; i++) {
			snprintf(key, sizeof(key), "packs/%02d/t%d-%d", i % 5, id, i);
			assert_content(f->st, key, key);
		}
	}
	int n = 0;
	assert_int_equal(store_list(f->st, "", count_cb, &n), 0);
	assert_int_equal(n, NSAME + NTHREADS * NDISTINCT);
	free(r);
}

/* ---- store_open ---- */

static void expect_open_error(const char *url, const char *reason)
{
	struct store *st = (struct store *)1;
	char err[256] = "";

	assert_int_equal(store_open(url, &st, err, sizeof(err)), -1);
	assert_null(st);
	if (!strstr(err, reason))
		print_message("store_open(%s): '%s' lacks '%s'\n", url, err, reason);
	assert_non_null(strstr(err, reason));
}

static void test_open(void **state)
{
	(void)state;
	char url[600], path[512];
	struct store *st = NULL;
	char err[256] = "";
	struct stat sb;

	expect_open_error("", "empty store URL");
	expect_open_error("/abs/dir", "has no scheme");
	expect_open_error("relative/dir", "has no scheme");
	expect_open_error("://x", "has no scheme");
	expect_open_error("file://relative/dir", "absolute");
	expect_open_error("file://", "absolute");
	expect_open_error("ftp://host/x", "unknown store URL scheme 'ftp'");
	expect_open_error("s3://", "is not a bucket name");
	expect_open_error("S3://bucket/prefix", "unknown store URL scheme");

	/* a path through a regular file */
	snprintf(path, sizeof(path), "%s/plainfile", top);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(url, sizeof(url), "file://%s/sub", path);
	expect_open_error(url, "Not a directory");
	snprintf(url, sizeof(url), "file://%s", path);
	expect_open_error(url, "Not a directory");

	/* mkdir -p, mode 0700, and reopening an existing store sees its objects */
	snprintf(url, sizeof(url), "file://%s/deep/er/store/", top);
	assert_int_equal(store_open(url, &st, err, sizeof(err)), 0);
	assert_non_null(st);
	assert_ptr_equal(st->ops, &store_file_ops);
	assert_string_equal(st->ops->scheme, "file");
	put_str(st, "config", "v1");
	store_close(st);
	snprintf(path, sizeof(path), "%s/deep/er", top);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(store_open(url, &st, err, sizeof(err)), 0);
	assert_content(st, "config", "v1");
	store_close(st);
	store_close(NULL);

	/* err may be omitted */
	assert_int_equal(store_open("nope", &st, NULL, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_large_aligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_leftover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test(test_open),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
