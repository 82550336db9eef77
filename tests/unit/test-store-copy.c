/* Unit tests for repo/store-copy.c on real file stores: a copy carries every object byte
 * for byte, in the repository's order (every pack before any index, every index before
 * any manifest, config last; seen by a spy on the destination's put), a rerun copies only
 * what is new, a destination holding another repository or a different object under one
 * key is refused, a source without config is not a repository, an object pruned between
 * listing and reading is counted and skipped, and a failed put stops the copy with the key
 * named, after which a rerun completes it. */
#include <errno.h>
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
#include "repo/store-copy.h"
#include "common/banned.h"

static char top[256];
static unsigned run;

struct fixture {
	struct store *src, *dst;
};

/* ---- the spy: records the destination's puts, can fail one key, or prune one key of
 * the source just before it is read ---- */
static pthread_mutex_t spy_mu = PTHREAD_MUTEX_INITIALIZER;
static char put_log[512][96];
static unsigned n_puts;
static const char *fail_put_key, *vanish_key;
static struct store_ops dst_ops, src_ops;

static int spy_put(struct store *st, const char *key, const void *data, size_t len)
{
	if (fail_put_key && !strcmp(key, fail_put_key))
		return -EIO;
	int rc = store_file_ops.put(st, key, data, len);
	pthread_mutex_lock(&spy_mu);
	if (rc == 0 && n_puts < ARRAY_SIZE(put_log))
		snprintf(put_log[n_puts++], sizeof put_log[0], "%s", key);
	pthread_mutex_unlock(&spy_mu);
	return rc;
}

static int spy_get(struct store *st, const char *key, void **data, size_t *len)
{
	if (vanish_key && !strcmp(key, vanish_key))
		store_file_ops.del(st, key);
	return store_file_ops.get(st, key, data, len);
}

static int spy_get_range(struct store *st, const char *key, uint64_t off, size_t len,
			 void *buf)
{
	if (vanish_key && !strcmp(key, vanish_key))
		store_file_ops.del(st, key);
	return store_file_ops.get_range(st, key, off, len, buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(top, sizeof(top), "%s/test-store-copy.XXXXXX", t && *t ? t : "/tmp");
	dst_ops = store_file_ops;
	dst_ops.put = spy_put;
	src_ops = store_file_ops;
	src_ops.get = spy_get;
	src_ops.get_range = spy_get_range;
	return mkdtemp(top) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct store *open_at(const char *name, const struct store_ops *spy)
{
	char url[400], err[256];
	struct store *st;
	snprintf(url, sizeof url, "file://%s/%u-%s", top, run, name);
	if (store_open(url, &st, err, sizeof err) < 0)
		fail_msg("%s", err);
	st->ops = spy;
	return st;
}

static int setup(void **state)
{
	static struct fixture f;
	run++;
	n_puts = 0;
	fail_put_key = vanish_key = NULL;
	f.src = open_at("src", &src_ops);
	f.dst = open_at("dst", &dst_ops);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->src);
	store_close(f->dst);
	return 0;
}

static void put_obj(struct store *st, const char *key, size_t len, unsigned seed)
{
	uint8_t *b = malloc(len ? len : 1);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
	assert_int_equal(store_file_ops.put(st, key, b, len), 0);
	free(b);
}

/* A small repository: config, 40 packs (one of 3 MiB), 6 index deltas, 4 manifests and
 * an unknown key. Returns the number of objects. */
static unsigned make_repo(struct store *st, unsigned first_pack)
{
	char key[128];
	unsigned n = 0;
	if (first_pack == 0) {
		put_obj(st, "config", 160, 1);
		put_obj(st, "domains/vm/owner", 20, 2);
		n += 2;
	}
	for (unsigned i = first_pack; i < first_pack + 40; i++, n++) {
		snprintf(key, sizeof key, "packs/%02x/%032x", i & 0xff, i * 2654435761u);
		put_obj(st, key, i == 7 ? 3u << 20 : 1000 + i * 997, i);
	}
	for (unsigned i = first_pack; i < first_pack + 6; i++, n++) {
		snprintf(key, sizeof key, "index/%032x", i + 1);
		put_obj(st, key, 300 + i, 100 + i);
	}
	for (unsigned i = first_pack; i < first_pack + 4; i++, n++) {
		snprintf(key, sizeof key, "domains/vm/epochs/1/points/%016u", i + 1);
		put_obj(st, key, 500 + i, 200 + i);
	}
	return n;
}

struct cmp_ctx {
	struct store *src, *dst;
	unsigned n;
};

static int same_object(void *arg, const char *key, uint64_t size)
{
	struct cmp_ctx *c = arg;
	void *a, *b;
	size_t al, bl;
	assert_int_equal(store_file_ops.get(c->src, key, &a, &al), 0);
	if (store_file_ops.get(c->dst, key, &b, &bl) < 0)
		fail_msg("%s missing", key);
	assert_int_equal(al, size);
	assert_int_equal(bl, al);
	assert_memory_equal(a, b, al);
	free(a);
	free(b);
	c->n++;
	return 0;
}

/* every object of src is in dst with the same bytes; returns how many */
static unsigned check_same(struct store *src, struct store *dst)
{
	struct cmp_ctx c = { src, dst, 0 };
	assert_int_equal(store_list(src, "", same_object, &c), 0);
	return c.n;
}

static int rank(const char *key)
{
	if (!strncmp(key, "packs/", 6))
		return 0;
	if (!strncmp(key, "index/", 6))
		return 1;
	return strcmp(key, "config") ? 2 : 3;
}

static void test_copy_in_order(void **state)
{
	struct fixture *f = *state;
	struct store_copy_stats s;
	char err[256];
	unsigned n = make_repo(f->src, 0);

	assert_int_equal(store_copy(f->src, f->dst, 4, &s, err, sizeof err), 0);
	assert_int_equal(s.objects, n);
	assert_int_equal(s.present, 0);
	assert_int_equal(check_same(f->src, f->dst), n);
	assert_int_equal(n_puts, n);
	for (unsigned i = 1; i < n_puts; i++)
		if (rank(put_log[i]) < rank(put_log[i - 1]))
			fail_msg("%s put after %s", put_log[i], put_log[i - 1]);
	assert_string_equal(put_log[n_puts - 1], "config");
}

static void test_rerun_copies_only_new(void **state)
{
	struct fixture *f = *state;
	struct store_copy_stats s;
	char err[256];
	unsigned n = make_repo(f->src, 0);

	assert_int_equal(store_copy(f->src, f->dst, 3, &s, err, sizeof err), 0);
	n_puts = 0;
	assert_int_equal(store_copy(f->src, f->dst, 3, &s, err, sizeof err), 0);
	assert_int_equal(s.objects, 0);
	assert_int_equal(s.present, n);
	assert_int_equal(n_puts, 0);
	unsigned more = make_repo(f->src, 40);
	assert_int_equal(store_copy(f->src, f->dst, 3, &s, err, sizeof err), 0);
	assert_int_equal(s.objects, more);
	assert_int_equal(s.present, n);
	assert_int_equal(check_same(f->src, f->dst), n + more);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	struct store_copy_stats s;
	char err[256];

	/* the source is not a repository */
	put_obj(f->src, "packs/00/0000000000000000000000000000000a", 10, 1);
	assert_int_equal(store_copy(f->src, f->dst, 2, &s, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "not a ferry repository"));

	/* the destination holds another repository: nothing copied */
	make_repo(f->src, 0);
	put_obj(f->dst, "config", 160, 9);
	assert_int_equal(store_copy(f->src, f->dst, 2, &s, err, sizeof err), -EEXIST);
	assert_non_null(strstr(err, "another repository"));
	assert_int_equal(s.objects, 0);
	assert_int_equal(n_puts, 0);

	/* the same repository but one key with another object */
	assert_int_equal(store_file_ops.del(f->dst, "config"), 0);
	put_obj(f->dst, "index/00000000000000000000000000000003", 7, 1);
	assert_int_equal(store_copy(f->src, f->dst, 2, &s, err, sizeof err), -EEXIST);
	assert_non_null(strstr(err, "index/00000000000000000000000000000003"));
	assert_int_not_equal(store_file_ops.head(f->dst, "config", &(uint64_t){ 0 }), 0);
}

static void test_vanished_and_failure(void **state)
{
	struct fixture *f = *state;
	struct store_copy_stats s;
	char err[256];
	unsigned n = make_repo(f->src, 0);

	/* a put fails: stopped, the key named, no config at the destination */
	fail_put_key = "index/00000000000000000000000000000002";
	assert_int_equal(store_copy(f->src, f->dst, 2, &s, err, sizeof err), -EIO);
	assert_non_null(strstr(err, fail_put_key));
	assert_int_not_equal(store_file_ops.head(f->dst, "config", &(uint64_t){ 0 }), 0);
	fail_put_key = NULL;

	/* a point pruned from the source between listing and reading: skipped, counted */
	vanish_key = "domains/vm/epochs/1/points/0000000000000003";
	assert_int_equal(store_copy(f->src, f->dst, 2, &s, err, sizeof err), 0);
	assert_int_equal(s.vanished, 1);
	assert_int_equal(s.objects + s.present, n - 1);
	assert_int_equal(check_same(f->src, f->dst), n - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rerun_copies_only_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_and_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
