/* Unit tests for the repository library, on a temporary file:// store:
 * - create/open, encrypted and not; an existing repository; a wrong key file;
 * - two points of a disk written with data pieces, zero extents and overlapping calls (the
 *   later call wins), a delta, a shrink: the map at each point is checked extent by extent,
 *   and restore_raw of each equals a buffer built by applying the same calls here;
 * - dedupe (the same data again stores nothing new) and full maps at points 1, 16, 32;
 * - a writer that spills its extents to a scratch file every few calls writes the same
 *   maps as one that holds them all (random overlapping pieces, zero extents across map
 *   regions, two disks, a resize), as full points, and leaves no scratch file behind;
 * - corruption: a flipped byte in a pack (read_chunk and restore fail with -EBADMSG, no
 *   output left, verify names the pack), a truncated manifest, a deleted pack;
 * - no 4 KiB block of plaintext in any object of an encrypted repository (and, as a
 *   control that the scan works, it is found in an unencrypted one);
 * - the golden repository tests/golden/repo-v1 (2 points, the fixed test key) reads back
 *   (regenerated, once and deliberately, with FERRY_REGEN_GOLDEN=1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "repo/repo.h"
#include "restore/restore.h"
#include "common/banned.h"

#define CS 4096u

static uint64_t rng_state;

static uint8_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)(rng_state >> 24);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++)
		p[i] = rnd();
}

/* ---- fixture: a temporary directory with a store and a key file ---- */

struct fx {
	char dir[64];
	char url[128];
	char key[128];
	char out[128];
};

static void rm_rf(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-repo.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.raw", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rm_rf(f->dir);
	free(f);
	return 0;
}

static struct repo *make_repo(struct fx *f, bool encrypted)
{
	struct repo_create_opts o = { .url = f->url, .key_file = f->key, .encrypted = encrypted,
					.chunk_size = CS };
	struct repo *r;
	char err[256];
	int rc = repo_create(&o, err, sizeof(err));
	if (rc)
		print_message("repo_create: %s\n", err);
	assert_int_equal(rc, 0);
	rc = repo_open(f->url, encrypted ? f->key : NULL, &r, err, sizeof(err));
	if (rc)
		print_message("repo_open: %s\n", err);
	assert_int_equal(rc, 0);
	return r;
}

/* ---- a model disk: every call is applied to exp[] as well ---- */

struct model {
	struct repo_point_writer *w;
	uint8_t *exp;
	uint64_t size;
};

static void m_data(struct model *m, uint64_t off, uint32_t len, uint64_t seed)
{
	uint8_t *b = malloc(len);
	fill(b, len, seed);
	assert_int_equal(repo_point_data(m->w, off, b, len), 0);
	memcpy(m->exp + off, b, len);
	free(b);
}

static void m_zero(struct model *m, uint64_t off, uint64_t len)
{
	assert_int_equal(repo_point_zero(m->w, off, len), 0);
	memset(m->exp + off, 0, (size_t)MIN(len, m->size - off));
}

static struct repo_point_writer *begin(struct repo *r, const char *dom, uint32_t epoch,
				       uint64_t seq)
{
	struct point_info meta = { .epoch = epoch, .seq = seq, .parent_seq = seq - 1,
				   .flags = POINT_CONSISTENT, .time_ns = 1700000000ull * 1000000000ull +
				   seq * 1000000000ull };
	struct repo_point_writer *w;
	snprintf(meta.domain, sizeof(meta.domain), "%s", dom);
	assert_int_equal(repo_point_begin(r, &meta, &w), 0);
	return w;
}

static void commit(struct repo_point_writer *w, struct point_info *out)
{
	char err[256] = "";
	int rc = repo_point_commit(w, out, err, sizeof(err));
	if (rc)
		print_message("commit: %s\n", err);
	assert_int_equal(rc, 0);
}

struct xe {
	uint64_t off;
	uint32_t len;
};

static void check_map(struct repo *r, const struct point_info *p, const char *disk,
		      uint64_t size, const struct xe *want, size_t n, const uint8_t *exp)
{
	struct disk_map *m;
	char err[256];
	int rc = repo_disk_map(r, p, disk, &m, err, sizeof(err));
	if (rc)
		print_message("map: %s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(m->size, size);
	for (size_t i = 0; i < m->n; i++)
		print_message("  %s @%llu: [%llu +%u] kind %u\n", disk, (unsigned long long)p->seq,
			      (unsigned long long)m->ext[i].offset, m->ext[i].length,
			      m->ext[i].kind);
	assert_int_equal(m->n, n);
	uint8_t *buf = malloc(CS);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m->ext[i].offset, want[i].off);
		assert_int_equal(m->ext[i].length, want[i].len);
		assert_int_equal(m->ext[i].kind, EXTENT_DATA);
		assert_true(m->ext[i].coff + m->ext[i].length <= m->ext[i].clen);
		assert_int_equal(repo_read_chunk(r, m->ext[i].id, buf, m->ext[i].clen), 0);
		assert_memory_equal(buf + m->ext[i].coff, exp + m->ext[i].offset, m->ext[i].length);
	}
	free(buf);
	disk_map_free(m);
}

/* The disk at point p into path as a raw image, through the restore library. */
static int restore_raw(struct repo *r, const struct point_info *p, const char *disk,
		       const char *path, char *err, size_t errlen)
{
	struct restore_req q = { .r = r, .p = p, .domain = p->domain, .disk = disk,
				 .path = path, .fmt = RESTORE_RAW, .force = true };
	struct restore_result res;
	return restore_disk(&q, &res, err, errlen);
}

static void check_restore(struct fx *f, struct repo *r, const struct point_info *p,
			  const char *disk, const uint8_t *exp, uint64_t size)
{
	char err[256];
	int rc = restore_raw(r, p, disk, f->out, err, sizeof(err));
	if (rc)
		print_message("restore: %s\n", err);
	assert_int_equal(rc, 0);
	int fd = open(f->out, O_RDONLY);
	assert_true(fd >= 0);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_size, size);
	uint8_t *buf = malloc(size);
	assert_int_equal(pread_full(fd, buf, size, 0), 0);
	close(fd);
	assert_memory_equal(buf, exp, size);
	free(buf);
}

/* ---- tests ---- */

static void no_report(void *arg, const char *key, const char *problem)
{
	(void)arg;
	print_message("unexpected problem: %s: %s\n", key, problem);
	fail();
}


static void test_create_open(void **state)
{
	struct fx *f = *state;
	struct repo_create_opts o = { .url = f->url, .key_file = f->key, .encrypted = true,
					.chunk_size = 0 };
	char err[256], url2[160];
	struct repo *r;

	assert_int_equal(repo_create(&o, err, sizeof(err)), 0);
	assert_int_equal(repo_create(&o, err, sizeof(err)), -EEXIST);
	assert_int_equal(repo_open(f->url, f->key, &r, err, sizeof(err)), 0);
	assert_true(repo_encrypted(r));
	assert_int_equal(repo_chunk_size(r), REPO_DEFAULT_CHUNK);
	assert_non_null(repo_store(r));
	repo_close(r);

	/* another key file: rejected, and nothing opened */
	char key2[160];
	snprintf(key2, sizeof(key2), "%s/key2", f->dir);
	snprintf(url2, sizeof(url2), "file://%s/store2", f->dir);
	struct repo_create_opts o2 = { .url = url2, .key_file = key2, .encrypted = true,
					.chunk_size = 0 };
	assert_int_equal(repo_create(&o2, err, sizeof(err)), 0);
	r = (struct repo *)1;
	assert_int_equal(repo_open(f->url, key2, &r, err, sizeof(err)), -EKEYREJECTED);
	assert_null(r);
	assert_string_equal(err, "wrong key file for this repository");
	assert_int_equal(repo_open(f->url, NULL, &r, err, sizeof(err)), -EKEYREJECTED);

	/* unencrypted, 4 KiB chunks, no key needed */
	snprintf(url2, sizeof(url2), "file://%s/store3", f->dir);
	struct repo_create_opts o3 = { .url = url2, .key_file = NULL, .encrypted = false,
					.chunk_size = CS };
	assert_int_equal(repo_create(&o3, err, sizeof(err)), 0);
	assert_int_equal(repo_open(url2, NULL, &r, err, sizeof(err)), 0);
	assert_false(repo_encrypted(r));
	assert_int_equal(repo_chunk_size(r), CS);
	repo_close(r);

	/* bad chunk sizes, no repository */
	struct repo_create_opts o4 = { .url = url2, .key_file = NULL, .encrypted = false,
					.chunk_size = 3000 };
	assert_int_equal(repo_create(&o4, err, sizeof(err)), -EINVAL);
	snprintf(url2, sizeof(url2), "file://%s/none", f->dir);
	assert_int_equal(repo_open(url2, NULL, &r, err, sizeof(err)), -ENOENT);
}

#define D0 40000u	/* slots of 4 KiB: 0..8 whole, 9 = [36864, 40000) */

static void write_two_points(struct repo *r, uint8_t *exp1, uint8_t *exp2, uint8_t *exp2b,
			     struct point_info *p1, struct point_info *p2)
{
	struct model m = { begin(r, "dom", 1, 1), exp1, D0 };
	memset(exp1, 0, D0);
	assert_int_equal(repo_point_disk(m.w, "d0", D0), 0);
	m_data(&m, 0, CS, 1);				/* slot 0 whole */
	m_data(&m, 8192 + 100, 500, 2);			/* a piece inside slot 2 */
	m_zero(&m, 12288, 8192 + 10);			/* zeros over nothing */
	m_data(&m, 24576, CS, 3);			/* slot 6, then overwritten ... */
	m_data(&m, 24576 + 50, 100, 4);			/* ... in part: later wins */
	m_data(&m, 36864, D0 - 36864, 5);		/* the short last slot */
	m_data(&m, 4096 + 10, 10, 6);			/* written, then ... */
	m_zero(&m, 4096, 4096);				/* ... zeroed entirely */
	assert_int_equal(repo_point_data(m.w, 36864, exp1, CS), -EINVAL);	/* past the end */
	assert_int_equal(repo_point_data(m.w, 4000, exp1, 200), -EINVAL);	/* crosses */
	commit(m.w, p1);
	assert_true(p1->flags & POINT_FULL);
	assert_true(p1->flags & POINT_CONSISTENT);
	assert_int_equal(p1->seq, 1);
	assert_true(p1->stored_bytes > 0);

	memcpy(exp2, exp1, D0);
	m = (struct model){ begin(r, "dom", 1, 2), exp2, D0 };
	assert_int_equal(repo_point_disk(m.w, "d0", D0), 0);
	m_data(&m, 100, 100, 7);			/* part of slot 0 */
	m_zero(&m, 24576, CS);				/* all of slot 6 */
	m_data(&m, 32768, CS, 8);			/* a new slot */
	m_data(&m, 8192, 100, 9);			/* next to the piece of point 1 */
	assert_int_equal(repo_point_disk(m.w, "d1", 8192), 0);
	m = (struct model){ m.w, exp2b, 8192 };
	memset(exp2b, 0, 8192);
	m_data(&m, 0, CS, 1);				/* same as d0's slot 0 of point 1 */
	commit(m.w, p2);
	assert_false(p2->flags & POINT_FULL);
	assert_int_equal(p2->parent_seq, 1);
}

static void test_points_and_maps(void **state)
{
	struct fx *f = *state;
	struct repo *r = make_repo(f, true);
	uint8_t *exp1 = malloc(D0), *exp2 = malloc(D0), *exp2b = malloc(8192), *exp3 = malloc(D0);
	struct point_info p1, p2, p3;
	char err[256];

	write_two_points(r, exp1, exp2, exp2b, &p1, &p2);
	/* slot 6: piece 3 shows around piece 4 (a PART extent on each side) */
	static const struct xe want1[] = { { 0, CS }, { 8292, 500 }, { 24576, 50 },
					   { 24626, 100 }, { 24726, CS - 150 },
					   { 36864, D0 - 36864 } };
	check_map(r, &p1, "d0", D0, want1, ARRAY_SIZE(want1), exp1);
	/* slot 0: point 1's chunk is split around the 100 new bytes, nothing is rebuilt */
	static const struct xe want2[] = { { 0, 100 }, { 100, 100 }, { 200, CS - 200 },
					   { 8192, 100 }, { 8292, 500 },
					   { 32768, CS }, { 36864, D0 - 36864 } };
	check_map(r, &p2, "d0", D0, want2, ARRAY_SIZE(want2), exp2);
	static const struct xe want2b[] = { { 0, CS } };
	check_map(r, &p2, "d1", 8192, want2b, 1, exp2b);
	check_restore(f, r, &p1, "d0", exp1, D0);
	check_restore(f, r, &p2, "d0", exp2, D0);
	check_restore(f, r, &p2, "d1", exp2b, 8192);

	/* d1 did not exist at point 1 */
	struct disk_map *dm;
	assert_int_equal(repo_disk_map(r, &p1, "d1", &dm, err, sizeof(err)), -ENOENT);
	char **names;
	size_t nn;
	assert_int_equal(repo_point_disks(r, &p2, &names, &nn), 0);
	assert_int_equal(nn, 2);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);

	/* point 3: d0 shrinks into its last extent (cut), d1 untouched */
	struct repo_point_writer *w = begin(r, "dom", 1, 3);
	assert_int_equal(repo_point_disk(w, "d0", 38000), 0);
	commit(w, &p3);
	memcpy(exp3, exp2, 38000);
	static const struct xe want3[] = { { 0, 100 }, { 100, 100 }, { 200, CS - 200 },
					   { 8192, 100 }, { 8292, 500 },
					   { 32768, CS }, { 36864, 38000 - 36864 } };
	check_map(r, &p3, "d0", 38000, want3, ARRAY_SIZE(want3), exp3);
	check_map(r, &p3, "d1", 8192, want2b, 1, exp2b);
	check_restore(f, r, &p3, "d0", exp3, 38000);

	/* listing and resolving */
	struct point_info *v, q;
	size_t n;
	assert_int_equal(repo_list_points(r, "dom", &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].seq, 1);
	assert_int_equal(v[2].seq, 3);
	assert_int_equal(v[1].logical_bytes, 100 + CS + CS + 100 + CS);
	free(v);
	assert_int_equal(repo_resolve_point(r, "dom", "latest", &q, err, sizeof(err)), 0);
	assert_int_equal(q.seq, 3);
	assert_int_equal(repo_resolve_point(r, "dom", "1.2", &q, err, sizeof(err)), 0);
	assert_int_equal(q.seq, 2);
	assert_int_equal(repo_resolve_point(r, "dom", "1", &q, err, sizeof(err)), 0);
	assert_int_equal(q.seq, 1);
	/* point 2 was cut at 1700000002 s: 2023-11-14T22:13:22Z */
	assert_int_equal(repo_resolve_point(r, "dom", "2023-11-14T22:13:22Z", &q, err,
					    sizeof(err)), 0);
	assert_int_equal(q.seq, 2);
	assert_int_equal(repo_resolve_point(r, "dom", "2001-01-01T00:00:00", &q, err,
					    sizeof(err)), -ENOENT);
	assert_int_equal(repo_resolve_point(r, "dom", "9.9", &q, err, sizeof(err)), -ENOENT);
	assert_int_equal(repo_resolve_point(r, "dom", "bogus", &q, err, sizeof(err)), -EINVAL);

	/* a point that is not the next one is refused */
	struct point_info bad = { .domain = "dom", .epoch = 1, .seq = 3, .parent_seq = 2 };
	assert_int_equal(repo_point_begin(r, &bad, &w), -EEXIST);

	/* reopened: the index is loaded from the index objects */
	repo_close(r);
	assert_int_equal(repo_open(f->url, f->key, &r, err, sizeof(err)), 0);
	check_restore(f, r, &p2, "d0", exp2, D0);
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	repo_close(r);
	free(exp1);
	free(exp2);
	free(exp2b);
	free(exp3);
}

static void test_dedupe_and_full_maps(void **state)
{
	struct fx *f = *state;
	struct repo *r = make_repo(f, false);
	const uint64_t size = 64 * CS;
	uint8_t *exp = calloc(1, size), *exp17 = malloc(size);
	struct point_info p;

	for (uint64_t seq = 1; seq <= 33; seq++) {
		struct model m = { begin(r, "dd", 1, seq), exp, size };
		assert_int_equal(repo_point_disk(m.w, "disk", size), 0);
		if (seq == 1)
			for (uint32_t i = 0; i < 32; i++)
				m_data(&m, i * CS, CS, 100 + i);
		else if (seq == 2)	/* the same data again, moved */
			for (uint32_t i = 0; i < 32; i++)
				m_data(&m, (32 + i) * CS, CS, 100 + i);
		else
			m_data(&m, (seq % 64) * CS, 16, 1000 + seq);
		commit(m.w, &p);
		if (seq == 17)
			memcpy(exp17, exp, size);
		bool full = seq == 1 || seq % REPO_FULL_MAP_EVERY == 0;
		assert_int_equal(!!(p.flags & POINT_FULL), full);
		if (seq == 1)
			assert_true(p.stored_bytes >= 32 * CS);
		if (seq == 2) {
			assert_int_equal(p.stored_bytes, 0);
			assert_int_equal(p.logical_bytes, 32 * CS);
		}
	}
	check_restore(f, r, &p, "disk", exp, size);
	struct point_info *v;
	size_t n;
	assert_int_equal(repo_list_points(r, "dd", &v, &n), 0);
	assert_int_equal(n, 33);
	check_restore(f, r, &v[16], "disk", exp17, size);
	free(v);
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	repo_close(r);
	free(exp);
	free(exp17);
}

/* ---- spilled runs: the same points as a writer that holds every extent ---- */

static uint64_t op_rng = 88172645463325252ull;

static uint64_t op_rand(uint64_t n)
{
	op_rng ^= op_rng << 13;
	op_rng ^= op_rng >> 7;
	op_rng ^= op_rng << 17;
	return op_rng % n;
}

struct twin {
	struct repo_point_writer *w[2];	/* [0] spills every few calls, [1] never */
	uint8_t *exp[2];		/* per disk */
	uint64_t size[2];
};

static const char *const twin_disk[2] = { "d0", "d1" };

static void twin_select(struct twin *t, int d)
{
	for (int k = 0; k < 2; k++)
		assert_int_equal(repo_point_disk(t->w[k], twin_disk[d], t->size[d]), 0);
}

static void twin_data(struct twin *t, int d, uint64_t off, uint32_t len, uint64_t seed)
{
	uint8_t *b = malloc(len);
	fill(b, len, seed);
	twin_select(t, d);
	for (int k = 0; k < 2; k++)
		assert_int_equal(repo_point_data(t->w[k], off, b, len), 0);
	memcpy(t->exp[d] + off, b, len);
	free(b);
}

static void twin_zero(struct twin *t, int d, uint64_t off, uint64_t len)
{
	twin_select(t, d);
	for (int k = 0; k < 2; k++)
		assert_int_equal(repo_point_zero(t->w[k], off, len), 0);
	if (off < t->size[d])
		memset(t->exp[d] + off, 0, (size_t)MIN(len, t->size[d] - off));
}

/* A random piece within one chunk, or a zero extent of up to three map regions. */
static void twin_random_op(struct twin *t, uint64_t seed, uint64_t region)
{
	int d = (int)op_rand(2);
	if (op_rand(5) == 0) {
		uint64_t off = op_rand(t->size[d]);
		twin_zero(t, d, off, 1 + op_rand(3 * region));
		return;
	}
	uint64_t c = op_rand((t->size[d] + CS - 1) / CS), o = op_rand(CS);
	uint64_t end = MIN(c * CS + CS, t->size[d]);
	if (c * CS + o >= end)
		o = 0;
	twin_data(t, d, c * CS + o, (uint32_t)(1 + op_rand(end - c * CS - o)), seed);
}

static void twin_compare(struct repo *r, const struct point_info *p, int d)
{
	struct disk_map *m[2];
	for (int k = 0; k < 2; k++)
		assert_int_equal(repo_disk_map(r, &p[k], twin_disk[d], &m[k], NULL, 0), 0);
	assert_int_equal(m[0]->size, m[1]->size);
	assert_int_equal(m[0]->n, m[1]->n);
	for (size_t i = 0; i < m[0]->n; i++) {
		const struct disk_extent *a = &m[0]->ext[i], *b = &m[1]->ext[i];
		assert_int_equal(a->offset, b->offset);
		assert_int_equal(a->length, b->length);
		assert_int_equal(a->kind, b->kind);
		assert_int_equal(a->coff, b->coff);
		assert_int_equal(a->clen, b->clen);
		assert_memory_equal(a->id, b->id, CHUNK_ID_LEN);
	}
	disk_map_free(m[0]);
	disk_map_free(m[1]);
}

static size_t count_entries(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(dh);
	while ((de = readdir(dh)))
		n += de->d_name[0] != '.';
	closedir(dh);
	return n;
}

static void test_spill_runs(void **state)
{
	struct fx *f = *state;
	struct repo_create_opts o = { .url = f->url, .chunk_size = CS, .region_chunks = 16 };
	const uint64_t region = 16 * CS;
	char scratch[128], err[256];
	struct repo *r;
	struct twin t = { .size = { 40 * region, 300 << 10 } };
	struct point_info p[2];
	assert_int_equal(repo_create(&o, err, sizeof(err)), 0);
	assert_int_equal(repo_open(f->url, NULL, &r, err, sizeof(err)), 0);
	snprintf(scratch, sizeof(scratch), "%s/scratch", f->dir);
	assert_int_equal(mkdir(scratch, 0700), 0);
	assert_int_equal(repo_set_scratch_dir(r, scratch), 0);
	for (int d = 0; d < 2; d++)
		t.exp[d] = calloc(1, t.size[d]);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		const char *dom[2] = { "sa", "sb" };
		for (int k = 0; k < 2; k++)
			t.w[k] = begin(r, dom[k], 1, seq);
		point_writer_spill_at(t.w[0], 7);
		if (seq == 1)	/* a seed: d0 in order, then records on top */
			for (uint64_t c = 0; c < t.size[0] / CS; c++) {
				if (c % 9 == 4)
					twin_zero(&t, 0, c * CS, CS);
				else
					twin_data(&t, 0, c * CS, CS, 5000 + c);
			}
		if (seq == 2) {	/* d1 shrinks for a while: its final size is what counts */
			twin_select(&t, 1);
			for (int k = 0; k < 2; k++)
				assert_int_equal(repo_point_disk(t.w[k], "d1", 100 << 10), 0);
			twin_select(&t, 1);
		}
		for (uint64_t i = 0; i < (seq == 3 ? 3u : 400u); i++)
			twin_random_op(&t, seq * 100000 + i, region);
		if (seq == 3) {	/* d1 shrinks for good */
			t.size[1] = 200 << 10;
			twin_select(&t, 1);
		}
		for (int k = 0; k < 2; k++)
			commit(t.w[k], &p[k]);
		print_message("point %llu: spilled %s, held %s; logical %llu bytes\n",
			      (unsigned long long)seq, p[0].flags & POINT_FULL ? "full" : "delta",
			      p[1].flags & POINT_FULL ? "full" : "delta",
			      (unsigned long long)p[0].logical_bytes);
		/* a writer that spilled writes a full point (its maps region by region); a
		 * small point (3 calls) does not spill */
		assert_int_equal(!!(p[0].flags & POINT_FULL), seq < 3);
		assert_int_equal(!!(p[1].flags & POINT_FULL), seq == 1);
		assert_int_equal(p[0].logical_bytes, p[1].logical_bytes);
		for (int d = 0; d < 2; d++) {
			twin_compare(r, p, d);
			check_restore(f, r, &p[0], twin_disk[d], t.exp[d], t.size[d]);
		}
	}
	assert_int_equal(count_entries(scratch), 0);	/* the scratch file was never named */
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	repo_close(r);
	free(t.exp[0]);
	free(t.exp[1]);
}

/* ---- corruption ---- */

static int find_file(const char *dir, const char *under, char *out, size_t outlen)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "find '%s/%s' -type f ! -name '.tmp.*' | sort | head -n 1", dir,
		 under);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(out, (int)outlen, p)) {
		if (p)
			pclose(p);
		return -1;
	}
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

struct reports {
	char keys[16][256];
	int n;
};

static void collect_report(void *arg, const char *key, const char *problem)
{
	struct reports *rp = arg;
	print_message("verify: %s: %s\n", key, problem);
	if (rp->n < 16)
		snprintf(rp->keys[rp->n++], sizeof(rp->keys[0]), "%s", key);
}

static bool reported(const struct reports *rp, const char *key)
{
	for (int i = 0; i < rp->n; i++)
		if (!strcmp(rp->keys[i], key))
			return true;
	return false;
}

static void test_corruption(void **state)
{
	struct fx *f = *state;
	struct repo *r = make_repo(f, true);
	uint8_t *e1 = malloc(D0), *e2 = malloc(D0), *e2b = malloc(8192);
	struct point_info p1, p2;
	char path[512], err[256], store[256], key[512];

	write_two_points(r, e1, e2, e2b, &p1, &p2);
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	snprintf(store, sizeof(store), "%s/store", f->dir);

	/* a flipped byte inside the first blob of every pack */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "find '%s/packs' -type f | sort", store);
	FILE *fp = popen(cmd, "r");
	assert_non_null(fp);
	int npacks = 0;
	while (fgets(path, sizeof(path), fp)) {
		path[strcspn(path, "\n")] = '\0';
		int fd = open(path, O_RDWR);
		uint8_t b;
		assert_int_equal(pread_full(fd, &b, 1, 60), 0);
		b ^= 0x40;
		assert_int_equal(pwrite_full(fd, &b, 1, 60), 0);
		close(fd);
		if (npacks++ == 0)
			snprintf(key, sizeof(key), "%s", path + strlen(store) + 1);
	}
	pclose(fp);
	assert_true(npacks >= 2);
	assert_int_equal(find_file(store, "packs", path, sizeof(path)), 0);

	struct disk_map *m;
	assert_int_equal(repo_disk_map(r, &p1, "d0", &m, err, sizeof(err)), 0);
	uint8_t buf[CS];
	int bad = 0;
	for (size_t i = 0; i < m->n; i++)
		bad += repo_read_chunk(r, m->ext[i].id, buf, m->ext[i].length) == -EBADMSG;
	disk_map_free(m);
	assert_true(bad >= 1);
	assert_int_equal(restore_raw(r, &p1, "d0", f->out, err, sizeof(err)), -EBADMSG);
	print_message("restore: %s\n", err);
	assert_int_equal(access(f->out, F_OK), -1);	/* no partial output */

	struct reports rp = { .n = 0 };
	int nrep = repo_verify(r, true, collect_report, &rp);
	assert_int_equal(nrep, rp.n);
	assert_true(reported(&rp, key));
	rp.n = 0;
	assert_int_equal(repo_verify(r, false, collect_report, &rp), 0);	/* structure fine */

	/* a truncated manifest */
	char mpath[512];
	snprintf(mpath, sizeof(mpath), "%s/domains/dom/epochs/1/points/%016d", store, 2);
	assert_int_equal(truncate(mpath, 40), 0);
	rp.n = 0;
	assert_true(repo_verify(r, false, collect_report, &rp) >= 1);
	assert_true(reported(&rp, "domains/dom/epochs/1/points/0000000000000002"));
	assert_int_equal(repo_disk_map(r, &p2, "d0", &m, err, sizeof(err)), -EBADMSG);
	print_message("map: %s\n", err);

	/* deleted packs (all of them: point 1 then surely lost chunks) */
	snprintf(cmd, sizeof(cmd), "find '%s/packs' -type f -delete", store);
	assert_int_equal(system(cmd), 0);
	rp.n = 0;
	assert_true(repo_verify(r, false, collect_report, &rp) >= 2);
	assert_true(reported(&rp, key));
	assert_true(reported(&rp, "domains/dom/epochs/1/points/0000000000000001"));
	assert_int_equal(restore_raw(r, &p1, "d0", f->out, err, sizeof(err)), -ENOENT);
	repo_close(r);
	free(e1);
	free(e2);
	free(e2b);
}

/* ---- no plaintext in an encrypted repository ---- */

static size_t scan_store(const char *store, const uint8_t *data, size_t len)
{
	char cmd[512], path[1024];
	size_t hits = 0;
	snprintf(cmd, sizeof(cmd), "find '%s' -type f", store);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(path, sizeof(path), p)) {
		path[strcspn(path, "\n")] = '\0';
		int fd = open(path, O_RDONLY);
		struct stat sb;
		assert_int_equal(fstat(fd, &sb), 0);
		uint8_t *buf = malloc((size_t)sb.st_size + 1);
		assert_int_equal(pread_full(fd, buf, (size_t)sb.st_size, 0), 0);
		close(fd);
		for (size_t off = 0; off + 4096 <= len; off += 4096)
			hits += memmem(buf, (size_t)sb.st_size, data + off, 4096) != NULL;
		free(buf);
	}
	pclose(p);
	return hits;
}

static void test_no_plaintext(void **state)
{
	struct fx *f = *state;
	char store[256], url[256];
	const size_t size = 16 * CS;
	uint8_t *exp = calloc(1, size);
	struct point_info p;

	for (int enc = 1; enc >= 0; enc--) {
		struct repo *r = make_repo(f, enc);
		struct model m = { begin(r, "pt", 1, 1), exp, size };
		assert_int_equal(repo_point_disk(m.w, "disk", size), 0);
		for (uint32_t i = 0; i < 16; i++)	/* random: stored uncompressed */
			m_data(&m, i * CS, CS, 500 + i);
		commit(m.w, &p);
		repo_close(r);
		snprintf(store, sizeof(store), "%s/store", f->dir);
		size_t hits = scan_store(store, exp, size);
		if (enc)
			assert_int_equal(hits, 0);
		else
			assert_int_equal(hits, 16);	/* the scan does find plaintext */
		rm_rf(store);
		(void)url;
	}
	free(exp);
}

/* ---- golden repository ---- */

static const char golden_key[] =
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
#define G_SIZE (10 * CS + 1000)

/* Both points' content: point 1 writes slots 0-3 and the short last slot, zeroes slot 5;
 * point 2 overwrites part of slot 1 and adds slot 7. */
static void golden_points(struct repo *r, uint8_t *e1, uint8_t *e2)
{
	struct point_info p;
	memset(e1, 0, G_SIZE);
	struct model m = { begin(r, "golden", 1, 1), e1, G_SIZE };
	assert_int_equal(repo_point_disk(m.w, "disk0", G_SIZE), 0);
	for (uint32_t i = 0; i < 4; i++)
		m_data(&m, i * CS, CS, 70 + i);
	m_data(&m, 10 * CS, 1000, 80);
	m_zero(&m, 5 * CS, CS);
	commit(m.w, &p);
	memcpy(e2, e1, G_SIZE);
	m = (struct model){ begin(r, "golden", 1, 2), e2, G_SIZE };
	assert_int_equal(repo_point_disk(m.w, "disk0", G_SIZE), 0);
	m_data(&m, CS + 1000, 500, 90);
	m_data(&m, 7 * CS, CS, 91);
	commit(m.w, &p);
}

/* Does any extent of the disk's map at p show only part of its chunk? */
static bool has_part_extent(struct repo *r, const struct point_info *p, const char *disk)
{
	struct disk_map *m;
	bool part = false;
	assert_int_equal(repo_disk_map(r, p, disk, &m, NULL, 0), 0);
	for (size_t i = 0; i < m->n; i++)
		part |= m->ext[i].coff != 0 || m->ext[i].clen != m->ext[i].length;
	disk_map_free(m);
	return part;
}

/* tests/golden/repo-vN: N = the manifest format version its points were written with
 * (version 1 rebuilt partly written chunks; version 2 writes PART extents). Every later
 * version must read them all. FERRY_REGEN_GOLDEN=vN rewrites only that one, deliberately. */
static void golden_check(struct fx *f, const char *name, bool want_part)
{
	uint8_t *e1 = malloc(G_SIZE), *e2 = malloc(G_SIZE);
	char url[PATH_MAX + 64], cwd[PATH_MAX], err[256];
	struct repo *r;

	int fd = open(f->key, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, golden_key, sizeof(golden_key) - 1), 0);
	close(fd);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(url, sizeof(url), "file://%s/tests/golden/%s", cwd, name);
	const char *regen = getenv("FERRY_REGEN_GOLDEN");
	bool v3 = !strcmp(name, "repo-v3");	/* format 2: frames, split full maps */
	if (regen && !strcmp(regen, name + strlen("repo-"))) {
		struct repo_create_opts o = { .url = url, .key_file = f->key, .encrypted = true,
					.chunk_size = CS, .region_chunks = v3 ? 16 : 0,
					.format = v3 ? 2 : 1 };
		assert_int_equal(repo_create(&o, err, sizeof(err)), 0);
		assert_int_equal(repo_open(url, f->key, &r, err, sizeof(err)), 0);
		golden_points(r, e1, e2);
		repo_close(r);
	}
	/* the expected content, computed again without writing (a scratch repository) */
	struct repo *scratch = make_repo(f, false);
	golden_points(scratch, e1, e2);
	repo_close(scratch);

	int rc = repo_open(url, f->key, &r, err, sizeof(err));
	if (rc)
		print_message("golden: %s\n", err);
	assert_int_equal(rc, 0);
	assert_true(repo_encrypted(r));
	assert_int_equal(repo_chunk_size(r), CS);
	struct point_info *v;
	size_t n;
	assert_int_equal(repo_list_points(r, "golden", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_true(v[0].flags & POINT_FULL);
	assert_false(v[1].flags & POINT_FULL);
	check_restore(f, r, &v[0], "disk0", e1, G_SIZE);
	check_restore(f, r, &v[1], "disk0", e2, G_SIZE);
	assert_int_equal(has_part_extent(r, &v[1], "disk0"), want_part);
	assert_int_equal(repo_format(r), v3 ? 2 : 1);
	if (v3) {	/* point 1's map is split (one region), slots 0-3 share one frame */
		struct manifest m;
		struct chunk_loc a, b;
		struct disk_map *dm;
		assert_int_equal(manifest_load(r, "golden", 1, 1, &m, NULL, 0), 0);
		assert_true(m.disks[0].has_regions);
		assert_int_equal(m.disks[0].nreg, 1);
		manifest_release(&m);
		assert_int_equal(repo_disk_map(r, &v[0], "disk0", &dm, NULL, 0), 0);
		assert_true(index_lookup(&r->index, dm->ext[0].id, &a));
		assert_true(index_lookup(&r->index, dm->ext[3].id, &b));
		assert_true(a.off == b.off && b.foff == 3 * CS);
		disk_map_free(dm);
	}
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	free(v);
	repo_close(r);
	free(e1);
	free(e2);
	unlink(f->key);
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/store", f->dir);
	rm_rf(dir);	/* the scratch repository */
}

static void test_golden(void **state)
{
	golden_check(*state, "repo-v1", false);
	golden_check(*state, "repo-v2", true);
	golden_check(*state, "repo-v3", true);
}

/* ---- the config object: formats 1 and 2 ---- */

static void test_config_versions(void **state)
{
	(void)state;
	struct repo_config c = { .version = 2, .chunk_size = 256, .region_chunks = 16 }, d;
	uint8_t buf[REPO_CONFIG_LEN_ENC];
	size_t n = repo_config_encode(&c, buf);
	assert_int_equal(repo_config_decode(buf, n, &d), 0);
	assert_int_equal(d.version, 2);
	assert_int_equal(d.chunk_size, 256);
	assert_int_equal(d.region_chunks, 16);
	/* format 1: chunks from 4 KiB, the region field reserved */
	c = (struct repo_config){ .version = 1, .chunk_size = 4096 };
	n = repo_config_encode(&c, buf);
	assert_int_equal(repo_config_decode(buf, n, &d), 0);
	assert_int_equal(d.region_chunks, 0);
	c.chunk_size = 256;
	n = repo_config_encode(&c, buf);
	assert_int_equal(repo_config_decode(buf, n, &d), -EBADMSG);
	/* format 2: a region size not a power of two, or out of range: corrupt */
	static const uint32_t bad[] = { 0, 8, 24, 1u << 25 };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		c = (struct repo_config){ .version = 2, .chunk_size = 65536, .region_chunks = bad[i] };
		n = repo_config_encode(&c, buf);
		assert_int_equal(repo_config_decode(buf, n, &d), -EBADMSG);
	}
	/* a newer format: unsupported */
	c = (struct repo_config){ .version = 3, .chunk_size = 65536, .region_chunks = 16 };
	n = repo_config_encode(&c, buf);
	assert_int_equal(repo_config_decode(buf, n, &d), -EPROTO);
}

/* ---- the hand-made fuzz seeds, built from docs/repo-format.md, decode as the spec says ---- */

static void *read_seed(const char *dir, const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/fuzz/corpus/%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	void *buf = malloc((size_t)sb.st_size + 1);
	assert_int_equal(pread_full(fd, buf, (size_t)sb.st_size, 0), 0);
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

static int count_entry(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	(void)id;
	(void)loc;
	(*(size_t *)arg)++;
	return 0;
}

static void test_spec_seeds(void **state)
{
	(void)state;
	static const struct { const char *name; uint32_t cs; int rc; } man[] = {
		{ "delta-4k", 4096, 0 }, { "full-64k", 65536, 0 }, { "first-no-disks", 0, 0 },
		{ "truncated", 4096, -EBADMSG }, { "bad-magic", 4096, -EBADMSG },
		{ "version-2", 4096, 0 }, { "version-3", 4096, 0 }, { "version-4", 4096, -EPROTO },
		{ "huge-count", 0, -EBADMSG }, { "part-v2", 4096, 0 },
		{ "part-in-v1", 4096, -EBADMSG }, { "part-whole", 4096, -EBADMSG },
		{ "part-past-chunk", 4096, -EBADMSG }, { "part-crosses-chunk", 4096, -EBADMSG },
		{ "overlap", 4096, -EBADMSG }, { "crosses-chunk", 4096, -EBADMSG },
		{ "zero-in-full", 4096, -EBADMSG }, { "bad-name", 4096, -EBADMSG },
		{ "trailing-byte", 4096, -EBADMSG }, { "duplicate-disk", 4096, -EBADMSG },
		{ "past-size", 4096, -EBADMSG }, { "unknown-flag", 4096, -EPROTO },
	};
	for (size_t i = 0; i < ARRAY_SIZE(man); i++) {
		size_t len;
		uint8_t *b = read_seed("manifest", man[i].name, &len);
		struct manifest m;
		int rc = manifest_decode(b + 1, len - 1, man[i].cs, 0, &m);
		if (rc != man[i].rc)
			print_message("seed %s: %d\n", man[i].name, rc);
		assert_int_equal(rc, man[i].rc);
		if (rc == 0)
			manifest_release(&m);
		free(b);
	}
	/* version 3 full maps: region tables, checked against 1 GiB regions of 64 KiB chunks */
	static const struct { const char *name; int rc; } v3[] = {
		{ "full-v3-regions", 0 }, { "full-v3-regions-unsorted", -EBADMSG },
		{ "full-v3-region-past-disk", -EBADMSG }, { "full-v3-region-too-small", -EBADMSG },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v3); i++) {
		size_t len;
		uint8_t *b = read_seed("manifest", v3[i].name, &len);
		struct manifest m;
		int rc = manifest_decode(b + 1, len - 1, 65536, 1ull << 30, &m);
		if (rc != v3[i].rc)
			print_message("seed %s: %d\n", v3[i].name, rc);
		assert_int_equal(rc, v3[i].rc);
		if (rc == 0) {
			assert_true(m.disks[0].has_regions);
			assert_int_equal(m.disks[0].nreg, 2);
			assert_int_equal(m.disks[0].reg[1].index, 7);
			manifest_release(&m);
		}
		free(b);
	}
	static const struct { const char *name; int rc; } reg[] = {
		{ "region-valid", 0 }, { "region-outside", -EBADMSG },
		{ "region-zero-extent", -EBADMSG }, { "region-version-2", -EPROTO },
	};
	for (size_t i = 0; i < ARRAY_SIZE(reg); i++) {
		size_t len, n;
		struct disk_extent *e;
		uint8_t *b = read_seed("manifest", reg[i].name, &len);
		int rc = region_decode(b + 1, len - 1, 3, 1ull << 30, 1ull << 40, 65536, &e, &n);
		assert_int_equal(rc, reg[i].rc);
		if (rc == 0) {
			assert_int_equal(n, 2);
			assert_int_equal(e[1].offset, (3ull << 30) + 65536);
			free(e);
		}
		free(b);
	}
	size_t len;
	uint8_t *b = read_seed("manifest", "delta-4k", &len);
	struct manifest m;
	assert_int_equal(manifest_decode(b + 1, len - 1, 4096, 0, &m), 0);
	assert_string_equal(m.info.domain, "web");
	assert_int_equal(m.ndisks, 1);
	assert_int_equal(m.disks[0].n, 3);
	assert_int_equal(m.disks[0].ext[2].offset, 12388);
	assert_int_equal(m.disks[0].ext[1].kind, EXTENT_ZERO);
	manifest_release(&m);
	free(b);

	struct pack_entry *e;
	size_t n;
	b = read_seed("pack-index", "pix-valid", &len);
	assert_int_equal(pack_index_decode(b + 1, len - 1, &e, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[1].off, 100);
	assert_int_equal(e[1].blob_len, 4140);
	free(e);
	free(b);
	static const struct { const char *name; int rc; } pix[] = {
		{ "pix-empty", 0 }, { "pix-gap", -EBADMSG }, { "pix-count-mismatch", -EBADMSG },
		{ "pix-version-3", -EPROTO }, { "pix-huge-plain", -EBADMSG },
		{ "pix-v2-frame", 0 }, { "pix-v2-overlap", -EBADMSG },
		{ "pix-v2-frame-too-big", -EBADMSG },
	};
	for (size_t i = 0; i < ARRAY_SIZE(pix); i++) {
		b = read_seed("pack-index", pix[i].name, &len);
		int rc = pack_index_decode(b + 1, len - 1, &e, &n);
		assert_int_equal(rc, pix[i].rc);
		if (rc == 0)
			free(e);
		free(b);
	}
	b = read_seed("pack-index", "pix-v2-frame", &len);
	assert_int_equal(pack_index_decode(b + 1, len - 1, &e, &n), 0);
	assert_int_equal(n, 3);	/* two chunks of one frame, then a frame of one */
	assert_int_equal(e[1].off, 0);
	assert_int_equal(e[1].foff, 4096);
	assert_int_equal(e[2].off, 200);
	free(e);
	free(b);
	static const struct { const char *name; int rc; } idx[] = {
		{ "idx-valid", 0 }, { "idx-past-1g", -EBADMSG }, { "idx-tombstone", -EPROTO },
		{ "idx-truncated", -EBADMSG }, { "idx-count-huge", -EBADMSG },
		{ "idx-v2-frame", 0 }, { "idx-v2-frame-too-big", -EBADMSG },
	};
	for (size_t i = 0; i < ARRAY_SIZE(idx); i++) {
		b = read_seed("pack-index", idx[i].name, &len);
		size_t cnt = 0;
		assert_int_equal(index_delta_decode(b + 1, len - 1, count_entry, &cnt), idx[i].rc);
		assert_int_equal(cnt, idx[i].rc == 0 ? 2 : 0);
		free(b);
	}
	static const struct { const char *name; int rc; } trl[] = {
		{ "trailer-valid", 0 }, { "trailer-bad-crc", -EBADMSG },
		{ "trailer-wrong-size", -EBADMSG }, { "trailer-overflow", -EBADMSG },
	};
	for (size_t i = 0; i < ARRAY_SIZE(trl); i++) {
		uint32_t off, l;
		b = read_seed("pack-index", trl[i].name, &len);
		assert_int_equal(len, 1 + 8 + PACK_TRAILER_LEN);
		assert_int_equal(pack_trailer_decode(b + 9, get_le64(b + 1), &off, &l), trl[i].rc);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_points_and_maps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe_and_full_maps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spill_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_plaintext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_golden, setup, teardown),
		cmocka_unit_test(test_spec_seeds),
		cmocka_unit_test(test_config_versions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
