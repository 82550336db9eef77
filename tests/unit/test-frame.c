/* Unit tests for frames (repo/frame.c and the writer's side in point-writer.c,
 * point-pool.c): several chunks in one blob, the index addressing each inside its frame.
 * - pieces that follow each other on the disk share frames of at most REPO_FRAME_MAX; a
 *   piece elsewhere starts a new one; every chunk reads back, the disk restores (also
 *   through windows smaller than a frame), verify --read-data finds nothing;
 * - a chunk that appears twice in a point, in two frames, is stored once;
 * - a flipped byte inside a frame makes every chunk of that frame fail its check, and
 *   verify names the pack;
 * - a format 1 repository still gets frames of one chunk and version 1 index objects and
 *   pack indexes, which format 1 readers expect. */
#include <errno.h>
#include <fcntl.h>
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
#include "repo/restore-pipe.h"
#include "restore/restore.h"
#include "tests/unit/repo-fx.h"
#include "common/banned.h"

#define CS 4096u
#define NCH 600u		/* > 2 frames of REPO_FRAME_MAX / CS chunks */
#define SIZE ((uint64_t)(NCH + 64) * CS)


static struct repo *make_repo(struct fx *f, uint16_t format)
{
	struct repo_create_opts o = { .url = f->url, .key_file = f->key, .encrypted = true,
				      .chunk_size = CS, .format = format };
	struct repo *r;
	char err[256];
	assert_int_equal(repo_create(&o, err, sizeof(err)), 0);
	assert_int_equal(repo_open(f->url, f->key, &r, err, sizeof(err)), 0);
	assert_int_equal(repo_format(r), format);
	return r;
}

/* Compressible content that differs per chunk: text-like lines with the chunk number. */
static void chunk_content(uint8_t *p, uint32_t k)
{
	for (uint32_t i = 0; i < CS; i += 64)
		snprintf((char *)p + i, 65, "chunk %06u line %04u: the quick brown fox jumps...\n",
			 k, i / 64);
}

/* Point 1: chunks 0..NCH-1 back to back, except that chunk 500 repeats chunk 10's content
 * (in another frame), then one chunk far away (a frame of its own). */
static void write_point(struct repo *r, uint8_t *exp, struct point_info *out)
{
	struct point_info meta = { .epoch = 1, .seq = 1, .flags = POINT_CONSISTENT };
	struct repo_point_writer *w;
	char err[256];
	snprintf(meta.domain, sizeof(meta.domain), "dom");
	memset(exp, 0, SIZE);
	assert_int_equal(repo_point_begin(r, &meta, &w), 0);
	assert_int_equal(repo_point_disk(w, "d0", SIZE), 0);
	for (uint32_t k = 0; k < NCH; k++) {
		chunk_content(exp + (uint64_t)k * CS, k == 500 ? 10 : k);
		assert_int_equal(repo_point_data(w, (uint64_t)k * CS, exp + (uint64_t)k * CS, CS), 0);
	}
	uint64_t far = (uint64_t)(NCH + 32) * CS;
	chunk_content(exp + far, 99999);
	assert_int_equal(repo_point_data(w, far, exp + far, CS), 0);
	int rc = repo_point_commit(w, out, err, sizeof(err));
	if (rc)
		print_message("commit: %s\n", err);
	assert_int_equal(rc, 0);
}

static void no_report(void *arg, const char *key, const char *problem)
{
	(void)arg;
	print_message("unexpected problem: %s: %s\n", key, problem);
	fail();
}

static void count_report(void *arg, const char *key, const char *problem)
{
	(void)key;
	(void)problem;
	(*(int *)arg)++;
}

static void check_restore(struct fx *f, struct repo *r, const struct point_info *p,
			  const uint8_t *exp)
{
	char err[256];
	int rc = fx_restore_raw(r, p, "d0", f->out, err, sizeof(err));
	if (rc)
		print_message("restore: %s\n", err);
	assert_int_equal(rc, 0);
	uint8_t *buf = malloc(SIZE);
	int fd = open(f->out, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread_full(fd, buf, SIZE, 0), 0);
	close(fd);
	assert_memory_equal(buf, exp, SIZE);
	free(buf);
}

struct sink_ctx {
	uint8_t *img;
};

static int mem_sink(void *arg, uint64_t off, const void *buf, size_t len)
{
	memcpy(((struct sink_ctx *)arg)->img + off, buf, len);
	return 0;
}

static void test_frames(void **state)
{
	struct fx *f = *state;
	struct repo *r = make_repo(f, REPO_FORMAT_VERSION);
	uint8_t *exp = malloc(SIZE), *buf = malloc(CS);
	struct point_info p;
	write_point(r, exp, &p);

	struct disk_map *m;
	assert_int_equal(repo_disk_map(r, &p, "d0", &m, NULL, 0), 0);
	assert_int_equal(m->n, NCH + 1);
	struct chunk_loc first, loc, prev = { 0 };
	size_t frames = 0;
	assert_true(index_lookup(&r->index, m->ext[0].id, &first));
	for (size_t i = 0; i < m->n; i++) {
		assert_true(index_lookup(&r->index, m->ext[i].id, &loc));
		if (i == 0 || loc.off != prev.off || memcmp(loc.pack, prev.pack, PACK_ID_LEN))
			frames++;
		else if (i != 500)	/* a chunk stored in an earlier frame */
			assert_int_equal(loc.foff, prev.foff + CS);
		assert_true(loc.foff + loc.plain_len <= REPO_FRAME_MAX);
		assert_int_equal(repo_read_chunk(r, m->ext[i].id, buf, CS), 0);
		assert_memory_equal(buf, exp + m->ext[i].offset, CS);
		if (i != 500)
			prev = loc;
	}
	/* 599 unique adjacent chunks in frames of 256, the repeat, the far one alone */
	print_message("%zu frames for %zu extents\n", frames, m->n);
	assert_true(frames >= 4 && frames <= 6);
	struct chunk_loc l10, l500;
	assert_true(index_lookup(&r->index, m->ext[10].id, &l10));
	assert_true(index_lookup(&r->index, m->ext[500].id, &l500));
	assert_memory_equal(&l10, &l500, sizeof(l10));	/* stored once */
	assert_true(index_lookup(&r->index, m->ext[NCH].id, &loc));
	assert_int_equal(loc.foff, 0);

	check_restore(f, r, &p, exp);
	/* windows much smaller than a frame: each window takes the rest of its frame */
	struct sink_ctx sc = { calloc(1, SIZE) };
	struct restore_pipe_opts po = { .sink = mem_sink, .arg = &sc, .window_bytes = 3 * CS,
					.threads = 3 };
	char err[256];
	assert_int_equal(repo_restore_pipe(r, m, &po, err, sizeof(err)), 0);
	assert_memory_equal(sc.img, exp, SIZE);
	free(sc.img);
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	disk_map_free(m);
	repo_close(r);
	free(exp);
	free(buf);
}

static void test_frame_corrupt(void **state)
{
	struct fx *f = *state;
	struct repo *r = make_repo(f, REPO_FORMAT_VERSION);
	uint8_t *exp = malloc(SIZE), *buf = malloc(CS);
	struct point_info p;
	write_point(r, exp, &p);
	struct disk_map *m;
	assert_int_equal(repo_disk_map(r, &p, "d0", &m, NULL, 0), 0);
	struct chunk_loc loc;
	assert_true(index_lookup(&r->index, m->ext[1].id, &loc));
	char key[64], path[256];
	pack_key(loc.pack, key, sizeof(key));
	snprintf(path, sizeof(path), "%s/store/%s", f->dir, key);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	uint64_t at = loc.off + loc.blob_len / 2;
	assert_int_equal(pread_full(fd, &b, 1, at), 0);
	b ^= 0x40;
	assert_int_equal(pwrite_full(fd, &b, 1, at), 0);
	close(fd);
	/* every chunk of that frame fails; a chunk of another frame still reads */
	size_t bad = 0;
	for (size_t i = 0; i < NCH; i++) {
		struct chunk_loc l;
		assert_true(index_lookup(&r->index, m->ext[i].id, &l));
		int rc = repo_read_chunk(r, m->ext[i].id, buf, CS);
		if (l.off == loc.off && !memcmp(l.pack, loc.pack, PACK_ID_LEN)) {
			assert_int_equal(rc, -EBADMSG);
			bad++;
		} else {
			assert_int_equal(rc, 0);
		}
	}
	assert_true(bad > 1);
	char err[256];
	assert_int_equal(fx_restore_raw(r, &p, "d0", f->out, err, sizeof(err)), -EBADMSG);
	assert_int_equal(access(f->out, F_OK), -1);
	int problems = 0;
	assert_true(repo_verify(r, true, count_report, &problems) > 0);
	assert_true(problems > 0);
	disk_map_free(m);
	repo_close(r);
	free(exp);
	free(buf);
}

/* The version byte of the first object under prefix (a metadata blob), decoded. */
static int first_object_version(struct repo *r, const char *prefix, bool pack)
{
	struct objs o = { 0 };
	assert_int_equal(objs_list_sorted(repo_store(r), prefix, &o), 0);
	assert_true(o.n > 0);
	void *plain;
	size_t len;
	if (pack) {	/* the pack index blob, found through the trailer */
		struct pack_entry *e;
		size_t n;
		uint8_t t[PACK_TRAILER_LEN];
		uint32_t ioff, ilen;
		assert_int_equal(pack_read_index(r, o.v[0].key, o.v[0].size, &e, &n), 0);
		for (size_t i = 0; i < n; i++) {	/* frames of one */
			assert_int_equal(e[i].foff, 0);
			assert_true(i == 0 || e[i].off != e[i - 1].off);
		}
		free(e);
		assert_int_equal(store_get_range(repo_store(r), o.v[0].key,
						 o.v[0].size - PACK_TRAILER_LEN, PACK_TRAILER_LEN, t), 0);
		assert_int_equal(pack_trailer_decode(t, o.v[0].size, &ioff, &ilen), 0);
		uint8_t *blob = malloc(ilen);
		assert_int_equal(store_get_range(repo_store(r), o.v[0].key, ioff, ilen, blob), 0);
		assert_int_equal(repo_decode_meta(r, blob, ilen, &plain, &len), 0);
		free(blob);
	} else {
		assert_int_equal(repo_get_meta(r, o.v[0].key, &plain, &len), 0);
	}
	int v = ((uint8_t *)plain)[4];
	free(plain);
	objs_release(&o);
	return v;
}

static void test_format1_writes(void **state)
{
	struct fx *f = *state;
	struct repo *r = make_repo(f, 1);
	uint8_t *exp = malloc(SIZE);
	struct point_info p;
	write_point(r, exp, &p);
	assert_int_equal(first_object_version(r, "index/", false), 1);
	assert_int_equal(first_object_version(r, "packs/", true), 1);
	check_restore(f, r, &p, exp);
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	repo_close(r);
	/* and it reads back after a new open */
	char err[256];
	assert_int_equal(repo_open(f->url, f->key, &r, err, sizeof(err)), 0);
	check_restore(f, r, &p, exp);
	repo_close(r);
	free(exp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frames, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_frame_corrupt, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_format1_writes, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
