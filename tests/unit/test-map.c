/* Unit tests for split full maps (format 2: repo/map-codec.c, map-iter.c, map-writer.c;
 * docs/repo-format.md section 16).
 * - a disk of 40 small regions (16 chunks of 4 KiB each) written over 40 points, growing
 *   and shrinking: every point's map equals a model of the disk, the map read region by
 *   region equals the whole map, every point restores and verify --read-data is clean;
 *   a full point rewrites only the regions its chain touched (the others keep their
 *   objects), and a full point after a quiet chain writes no region at all;
 * - 16 TiB worth of chunks (268,435,456 extents of 64 KiB, 16384 regions of 1 GiB): every
 *   region encoded, decoded and checked, a delta applied to it, one region at a time; and
 *   a full point of that disk after a point that wrote in 3 regions: 3 regions stored,
 *   16384 references kept. Time and peak memory (getrusage) are printed: memory must stay
 *   bounded by a region, not grow with the disk. FERRY_MAP_TIB sets the size (16);
 * - spilled runs (repo/map-spill.c): random runs of DATA and ZERO extents (ZERO ones across
 *   regions), read back region by region, equal byte by byte a model where later runs win. */
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
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "repo/repo.h"
#include "restore/restore.h"
#include "tests/unit/repo-fx.h"
#include "common/banned.h"

#define CS 4096u
#define RCH 16u				/* chunks per region */
#define RB ((uint64_t)CS * RCH)		/* 64 KiB regions */
#define NREG 40u
#define MAXSIZE (RB * NREG)


static uint64_t rng = 1;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void no_report(void *arg, const char *key, const char *problem)
{
	(void)arg;
	print_message("unexpected problem: %s: %s\n", key, problem);
	fail();
}

/* The whole map at p, and the same read region by region, must agree; the bytes they
 * describe must equal exp. */
static void check_point(struct fx *f, struct repo *r, const struct point_info *p,
			const uint8_t *exp, uint64_t size)
{
	struct disk_map *m;
	struct map_iter *it;
	const struct disk_map *pc;
	char err[256] = "";
	int rc = repo_disk_map(r, p, "d0", &m, err, sizeof(err));
	if (rc)
		print_message("map: %s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(m->size, size);
	assert_int_equal(map_iter_open(r, p, "d0", &it, err, sizeof(err)), 0);
	assert_int_equal(map_iter_pieces(it), (size + RB - 1) / RB);
	size_t k = 0;
	uint64_t region = 0;
	while ((rc = map_iter_next(it, &pc, err, sizeof(err))) == 1) {
		for (size_t i = 0; i < pc->n; i++, k++) {
			assert_true(k < m->n);
			assert_memory_equal(&pc->ext[i], &m->ext[k], sizeof(pc->ext[i]));
			assert_true(pc->ext[i].offset >= region * RB);
			assert_true(pc->ext[i].offset + pc->ext[i].length <= (region + 1) * RB);
		}
		region++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(k, m->n);
	map_iter_free(it);
	disk_map_free(m);

	rc = fx_restore_raw(r, p, "d0", f->out, err, sizeof(err));
	if (rc)
		print_message("restore: %s\n", err);
	assert_int_equal(rc, 0);
	uint8_t *buf = malloc(size ? size : 1);
	int fd = open(f->out, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread_full(fd, buf, size, 0), 0);
	close(fd);
	assert_memory_equal(buf, exp, size);
	free(buf);
}

/* The region table of disk d0 in point p's manifest (a full point). */
static void table(struct repo *r, const struct point_info *p, struct region_ref **ref,
		  size_t *n)
{
	struct manifest m;
	assert_int_equal(manifest_load(r, p->domain, p->epoch, p->seq, &m, NULL, 0), 0);
	assert_true(m.info.flags & POINT_FULL);
	assert_int_equal(m.ndisks, 1);
	assert_true(m.disks[0].has_regions);
	*n = m.disks[0].nreg;
	*ref = malloc((*n + 1) * sizeof(**ref));
	memcpy(*ref, m.disks[0].reg, *n * sizeof(**ref));
	manifest_release(&m);
}

/* How many entries of b have the same object as a's entry for that region. */
static size_t kept(const struct region_ref *a, size_t na, const struct region_ref *b, size_t nb)
{
	size_t same = 0;
	for (size_t i = 0; i < nb; i++)
		for (size_t j = 0; j < na; j++)
			same += a[j].index == b[i].index && !memcmp(a[j].id, b[i].id, CHUNK_ID_LEN);
	return same;
}

static void test_regions(void **state)
{
	struct fx *f = *state;
	struct repo_create_opts o = { .url = f->url, .key_file = f->key, .encrypted = true,
				      .chunk_size = CS, .region_chunks = RCH };
	struct repo *r;
	char err[256];
	assert_int_equal(repo_create(&o, err, sizeof(err)), 0);
	assert_int_equal(repo_open(f->url, f->key, &r, err, sizeof(err)), 0);
	uint8_t *exp = calloc(1, MAXSIZE), buf[CS];
	uint64_t size = 30 * RB;
	struct point_info p[49];
	/* written regions per point: everything at 1 (every fifth region left empty); at 2..15
	 * only regions 2 and 3; at 16 nothing; at 17..31 a few random ones (and a shrink at
	 * 24, a growth at 28); at 32..48 nothing. Full points: 1, 16, 32, 48. */
	for (uint64_t seq = 1; seq <= 48; seq++) {
		struct point_info meta = { .epoch = 1, .seq = seq, .parent_seq = seq - 1,
					   .flags = POINT_CONSISTENT };
		struct repo_point_writer *w;
		snprintf(meta.domain, sizeof(meta.domain), "dom");
		if (seq == 24)
			size = 20 * RB + 1000;	/* shrinks, cutting region 20 */
		if (seq == 28)
			size = 36 * RB;		/* grows again */
		if (seq == 24 || seq == 28)
			memset(exp + MIN(size, 20 * RB + 1000), 0, MAXSIZE - MIN(size, 20 * RB + 1000));
		assert_int_equal(repo_point_begin(r, &meta, &w), 0);
		assert_int_equal(repo_point_disk(w, "d0", size), 0);
		unsigned writes = seq == 1 ? (unsigned)(size / CS) : seq < 16 ? 4 :
				  seq > 16 && seq < 32 ? 6 : 0;
		for (unsigned i = 0; i < writes; i++) {
			uint64_t off;
			if (seq == 1)
				off = (uint64_t)i * CS;
			else if (seq < 16)
				off = 2 * RB + rnd() % (2 * RB - 600);
			else
				off = rnd() % (size - 600);
			uint32_t len = seq == 1 ? CS : (uint32_t)(1 + rnd() % 512);
			len = (uint32_t)MIN((uint64_t)len, CS - off % CS);
			for (uint32_t b = 0; b < len; b++)
				buf[b] = (uint8_t)rnd();
			if (seq == 1 && (i / RCH) % 5 == 4)
				continue;	/* some regions hold nothing */
			assert_int_equal(repo_point_data(w, off, buf, len), 0);
			memcpy(exp + off, buf, len);
		}
		if (seq == 20) {	/* a zero range across three regions */
			assert_int_equal(repo_point_zero(w, 5 * RB + 100, 2 * RB), 0);
			memset(exp + 5 * RB + 100, 0, 2 * RB);
		}
		int rc = repo_point_commit(w, &p[seq], err, sizeof(err));
		if (rc)
			print_message("commit %llu: %s\n", (unsigned long long)seq, err);
		assert_int_equal(rc, 0);
		if (seq % 4 == 0 || seq == 1)
			check_point(f, r, &p[seq], exp, size);
	}
	struct region_ref *t1, *t16, *t32, *t48;
	size_t n1, n16, n32, n48;
	table(r, &p[1], &t1, &n1);
	table(r, &p[16], &t16, &n16);
	table(r, &p[32], &t32, &n32);
	table(r, &p[48], &t48, &n48);
	print_message("regions with data: point 1 %zu, 16 %zu (%zu kept from 1), 32 %zu (%zu kept "
		      "from 16), 48 %zu (%zu kept from 32, %llu bytes stored)\n", n1, n16,
		      kept(t1, n1, t16, n16), n32, kept(t16, n16, t32, n32), n48,
		      kept(t32, n32, t48, n48), (unsigned long long)p[48].stored_bytes);
	assert_int_equal(n1, 24);		/* 30 regions, every fifth empty */
	assert_int_equal(n16, n1);
	assert_int_equal(kept(t1, n1, t16, n16), n1 - 2);	/* 2..15 wrote regions 2, 3 */
	assert_true(kept(t16, n16, t32, n32) < n16);	/* random writes: some rewritten */
	assert_int_equal(kept(t32, n32, t48, n48), n32);	/* a quiet chain: all kept */
	assert_int_equal(n48, n32);
	assert_int_equal(p[48].stored_bytes, 0);	/* and nothing written for the map */
	assert_int_equal(repo_verify(r, true, no_report, NULL), 0);
	free(t1);
	free(t16);
	free(t32);
	free(t48);
	repo_close(r);
	free(exp);
}

/* ---- 16 TiB worth of chunks ---- */

static long peak_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void fake_id(uint8_t *id, uint64_t chunk)
{
	memset(id, 0, CHUNK_ID_LEN);
	put_le64(id, chunk * 0x9e3779b97f4a7c15ull);
	put_le64(id + 8, chunk);
}

struct null_sink {
	size_t stored;
	uint64_t bytes;
};

static int null_store(void *arg, const void *plain, size_t len, uint8_t id[CHUNK_ID_LEN])
{
	struct null_sink *ns = arg;
	(void)plain;
	ns->stored++;
	ns->bytes += len;
	memset(id, 0xab, CHUNK_ID_LEN);
	put_le64(id, ns->stored);
	return 0;
}

/* Under AddressSanitizer freed memory sits in its quarantine, so peak RSS says nothing about
 * what the map code keeps, and every access costs several times more: there the test runs on
 * 1 TiB and checks everything but the memory bound. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static void test_16tib(void **state)
{
	(void)state;
	const char *env = getenv("FERRY_MAP_TIB");
	uint64_t tib = env ? strtoull(env, NULL, 10) : UNDER_ASAN ? 1 : 16;
	const uint32_t cs = 64u << 10;
	const uint64_t rchunks = REPO_DEFAULT_REGION_CHUNKS, rb = rchunks * cs;
	const uint64_t size = tib << 40, nregions = size / rb;
	struct disk_extent *e = malloc(rchunks * sizeof(*e)), *d;
	struct dbuf b = DBUF_INIT(REPO_META_MAX);
	uint64_t t0 = now_mono_ns(), extents = 0, encoded = 0;
	long rss0 = peak_kib();

	/* every region of a fully used disk: encode, decode, apply a delta of 3 writes */
	for (uint64_t k = 0; k < nregions; k++) {
		for (uint64_t i = 0; i < rchunks; i++) {
			struct disk_extent *x = &e[i];
			x->offset = k * rb + i * cs;
			x->length = x->clen = cs;
			x->coff = 0;
			x->kind = EXTENT_DATA;
			fake_id(x->id, k * rchunks + i);
		}
		dbuf_reset(&b);
		assert_int_equal(region_encode(k, e, rchunks, &b), 0);
		size_t n;
		assert_int_equal(region_decode(b.data, b.len, k, rb, size, cs, &d, &n), 0);
		assert_int_equal(n, rchunks);
		assert_memory_equal(d[n - 1].id, e[n - 1].id, CHUNK_ID_LEN);
		struct disk_extent w[3] = { 0 };
		for (int j = 0; j < 3; j++) {
			w[j].offset = k * rb + (uint64_t)(j * 5000 + 17) * cs + 4096;
			w[j].length = w[j].clen = 4096;
			w[j].kind = EXTENT_DATA;
			fake_id(w[j].id, ~(k * 3 + (uint64_t)j));
		}
		assert_int_equal(map_apply(&d, &n, w, 3, size), 0);
		assert_int_equal(n, rchunks + 6);	/* each write splits a chunk in two */
		free(d);
		extents += rchunks;
		encoded += b.len;
	}
	double secs = (double)(now_mono_ns() - t0) / 1e9;
	print_message("%llu TiB fully used, 64 KiB chunks: %llu extents in %llu regions of "
		      "1 GiB, %.1f GB of region objects encoded, decoded and patched in %.1f s; "
		      "peak memory %ld MiB (%ld MiB before)\n", (unsigned long long)tib,
		      (unsigned long long)extents, (unsigned long long)nregions, encoded / 1e9,
		      secs, peak_kib() / 1024, rss0 / 1024);
	assert_int_equal(extents, size / cs);
	/* one region at a time: far below what the whole map would take (64 bytes an extent) */
	if (!UNDER_ASAN)
		assert_true(peak_kib() - rss0 < 64 * 1024);

	/* a full point of that disk after a point that wrote in 3 regions: only those are
	 * rebuilt (they were empty in the previous full point, so nothing is read), the other
	 * 16381 keep their objects */
	struct manifest man[2];
	memset(man, 0, sizeof(man));
	man[0].info.flags = POINT_FULL;
	man[0].ndisks = man[1].ndisks = 1;
	man[0].disks = calloc(1, sizeof(*man[0].disks));
	man[1].disks = calloc(1, sizeof(*man[1].disks));
	struct manifest_disk *fd = &man[0].disks[0], *dd = &man[1].disks[0];
	snprintf(fd->name, sizeof(fd->name), "d0");
	snprintf(dd->name, sizeof(dd->name), "d0");
	fd->size = dd->size = size;
	fd->has_regions = true;
	fd->reg = calloc(nregions, sizeof(*fd->reg));
	const uint64_t empty[3] = { nregions / 7, nregions / 3, nregions - 5 };
	for (uint64_t k = 0; k < nregions; k++)
		if (k != empty[0] && k != empty[1] && k != empty[2]) {
			struct region_ref *g = &fd->reg[fd->nreg++];
			g->index = k;
			fake_id(g->id, k);
			g->plain_len = 1000;
		}
	dd->ext = calloc(3, sizeof(*dd->ext));
	dd->n = 3;
	for (int j = 0; j < 3; j++) {
		dd->ext[j].offset = empty[j] * rb + 8192;
		dd->ext[j].length = dd->ext[j].clen = 4096;
		dd->ext[j].kind = EXTENT_DATA;
		fake_id(dd->ext[j].id, 12345 + (uint64_t)j);
	}
	struct chain c = { man, 2 };
	struct repo r = { .chunk_size = cs, .region_chunks = (uint32_t)rchunks, .format = 2 };
	struct null_sink ns = { 0 };
	struct region_sink sink = { null_store, &ns };
	struct region_ref *out;
	size_t nout;
	uint64_t got_size;
	t0 = now_mono_ns();
	assert_int_equal(map_full_regions(&r, &c, "d0", NULL, NULL, &sink, &out, &nout, &got_size,
					  NULL, 0), 0);
	print_message("full point after 3 writes: %zu regions stored (%llu bytes), %zu "
		      "references, %.3f s\n", ns.stored, (unsigned long long)ns.bytes, nout,
		      (double)(now_mono_ns() - t0) / 1e9);
	assert_int_equal(ns.stored, 3);
	assert_int_equal(nout, nregions);
	assert_int_equal(got_size, size);
	assert_int_equal(kept(fd->reg, fd->nreg, out, nout), nregions - 3);
	free(out);
	free(fd->reg);
	free(dd->ext);
	free(man[0].disks);
	free(man[1].disks);
	dbuf_release(&b);
	free(e);
}

/* ---- spilled runs ---- */

struct owner {		/* what shows at one byte of the model disk */
	uint8_t kind;	/* 0: nothing, else EXTENT_ZERO + 1 or EXTENT_DATA + 1 */
	uint32_t tag;	/* the extent's (fake) id */
	uint32_t cbyte;	/* DATA: the byte of its chunk */
};

static void test_spill(void **state)
{
	struct fx *f = *state;
	const uint64_t size = 4096, rb = 128, cs = 32;
	struct owner *model = calloc(size, sizeof(*model));
	struct disk_extent *run = malloc(size * sizeof(*run));
	struct spill_file sf = { .fd = -1 };
	struct spill_runs rs = { 0 };
	uint64_t lcg = 42;
	assert_int_equal(spill_open(&sf, f->dir), 0);
	for (uint32_t r = 0; r < 12; r++) {
		size_t n = 0;
		for (uint64_t pos = 0;;) {
			lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
			pos += (lcg >> 33) % 200;
			if (pos >= size)
				break;
			struct disk_extent *e = &run[n++];
			memset(e, 0, sizeof(*e));
			e->offset = pos;
			e->kind = (lcg >> 20) % 3 ? EXTENT_DATA : EXTENT_ZERO;
			uint64_t room = e->kind == EXTENT_DATA ? cs - pos % cs : 400;
			e->length = (uint32_t)MIN(1 + (lcg >> 40) % room, size - pos);
			e->coff = e->kind == EXTENT_DATA ? (uint32_t)((lcg >> 50) % 8) : 0;
			e->clen = e->kind == EXTENT_DATA ? e->coff + e->length : 0;
			fake_id(e->id, r * 100000 + n);
			for (uint64_t b = 0; b < e->length; b++)
				model[pos + b] = (struct owner){ (uint8_t)(e->kind + 1),
								 (uint32_t)(r * 100000 + n),
								 e->coff + (uint32_t)b };
			pos += e->length;
		}
		assert_int_equal(spill_write(&sf, &rs, run, n), 0);
	}
	uint64_t covered = 0;
	for (uint64_t k = 0; k < size / rb; k++) {
		struct disk_extent *e = NULL;
		size_t n = 0;
		uint64_t lo = k * rb, hi = lo + rb, at = lo;
		assert_int_equal(spill_region(&sf, &rs, lo, hi, &e, &n), 0);
		for (size_t i = 0; i < n; i++) {
			assert_true(e[i].offset >= at && e[i].length > 0);
			assert_true(e[i].offset + e[i].length <= hi);
			for (; at < e[i].offset; at++)
				assert_int_equal(model[at].kind, 0);
			for (uint32_t b = 0; b < e[i].length; b++, at++) {
				uint8_t want[CHUNK_ID_LEN];
				assert_int_equal(model[at].kind, e[i].kind + 1);
				fake_id(want, model[at].tag);
				assert_memory_equal(e[i].id, want, CHUNK_ID_LEN);
				if (e[i].kind == EXTENT_DATA)
					assert_int_equal(e[i].coff + b, model[at].cbyte);
			}
			covered += e[i].length;
		}
		for (; at < hi; at++)
			assert_int_equal(model[at].kind, 0);
		free(e);
	}
	uint64_t want = 0;
	for (uint64_t b = 0; b < size; b++)
		want += model[b].kind != 0;
	assert_int_equal(covered, want);
	spill_runs_release(&rs);
	spill_close(&sf);
	free(run);
	free(model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regions, fx_setup, fx_teardown),
		cmocka_unit_test(test_16tib),
		cmocka_unit_test_setup_teardown(test_spill, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
