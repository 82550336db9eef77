/* compress-survey IMAGE [FRAME_MAX_KIB [LEVELS]]: the compression candidates for a seed, side by
 * side on one disk image, one core (make bench-compress; the numbers behind the choice of
 * frames in docs/repo-format.md "Frames").
 *
 * The image is cut into 64 KiB chunks as the shipper does; all-zero chunks are left out
 * (they become zero extents) and so are duplicates (dedupe stores a chunk once). Every
 * candidate then compresses the same unique chunks, one unit at a time, each unit paying
 * an encrypted blob's 56 bytes, with the 97% "worth it" rule of compress.c:
 *   chunk  each 64 KiB chunk alone (ferry up to format 1);
 *   frame  runs of chunks adjacent on the disk, up to FRAME_MAX_KIB (default 1024) per unit,
 *          at the zstd levels of LEVELS (a comma-separated list; default 1,2,3,4,5,6);
 *   dict   each chunk alone with a zstd dictionary trained on a sample of the image (one
 *          chunk in 16, at most 8 MiB): what a per-repository dictionary would give.
 * Time is this thread's CPU time for compression alone, and for decompression of every
 * unit; chunk ids (SHA-256 here) are timed once, since every candidate pays them.
 * Then the streamOptimized VMDK grain codecs: every unique 64 KiB grain deflated alone in
 * zlib form (what a grain must be), sector-padded, against zlib level 6 (qemu-img's), and
 * the writer's default mix (image/vmdk-stream.c), which picks a grain's codec by its index.
 *
 * Not a test: it prints numbers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <zdict.h>
#include <zlib.h>
#include <zstd.h>

#include "common/util.h"
#include "image/vmdk-internal.h"
#include "repo/blob.h"
#include "repo/compress.h"

#define CHUNK (64u << 10)
#define BLOB_OVH BLOB_OVERHEAD_ENC
#define DICT_SIZE (112u << 10)
#define SAMPLE_EVERY 16u
#define SAMPLE_MAX (8u << 20)

struct chunk {
	const uint8_t *p;
	uint64_t off;
	uint8_t id[32];
};

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(((const struct chunk *)a)->id, ((const struct chunk *)b)->id, 32);
}

static int cmp_off(const void *a, const void *b)
{
	uint64_t x = ((const struct chunk *)a)->off, y = ((const struct chunk *)b)->off;
	return x < y ? -1 : x > y;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

struct result {
	uint64_t stored, plain;
	double enc_s, dec_s;
	size_t units;
};

static uint8_t *dst, *back;
static size_t dst_cap;

/* One unit: compress with codec, account as a blob, decompress to check and time. */
static void unit(struct compress_ctx *cx, enum compress_type t, int level, const uint8_t *p,
		 size_t len, struct result *r)
{
	double t0 = cpu_s();
	ssize_t n = compress_buf(cx, t, level, p, len, dst, dst_cap);
	double t1 = cpu_s();
	if (n < 0) {
		fprintf(stderr, "compress: %s\n", strerror((int)-n));
		exit(1);
	}
	r->enc_s += t1 - t0;
	r->stored += (n ? (uint64_t)n : len) + BLOB_OVH;
	r->plain += len;
	r->units++;
	if (n) {
		t0 = cpu_s();
		if (decompress_buf(cx, t, dst, (size_t)n, back, len) < 0 || memcmp(back, p, len)) {
			fprintf(stderr, "round trip failed\n");
			exit(1);
		}
		r->dec_s += cpu_s() - t0;
	}
}

static void print_row(const char *name, const struct result *r, uint64_t base)
{
	printf("%-28s %10.1f %7.3f %8.2f %8.0f %8.0f\n", name, r->stored / 1e6,
	       (double)r->stored / (double)base, r->enc_s, r->plain / 1e6 / r->enc_s,
	       r->dec_s > 0 ? r->plain / 1e6 / r->dec_s : 0.0);
}

static void run_chunks(const struct chunk *c, size_t n, enum compress_type t, int level,
		       struct result *r)
{
	struct compress_ctx cx = COMPRESS_CTX_INIT;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		unit(&cx, t, level, c[i].p, CHUNK, r);
	compress_ctx_release(&cx);
}

/* Frames: runs of chunks adjacent on disk (c sorted by offset), at most fmax bytes. */
static void run_frames(const struct chunk *c, size_t n, size_t fmax, enum compress_type t,
		       int level, uint8_t *buf, struct result *r)
{
	struct compress_ctx cx = COMPRESS_CTX_INIT;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n;) {
		size_t len = 0, j = i;
		while (j < n && len + CHUNK <= fmax && (j == i || c[j].off == c[j - 1].off + CHUNK)) {
			memcpy(buf + len, c[j].p, CHUNK);
			len += CHUNK;
			j++;
		}
		unit(&cx, t, level, buf, len, r);
		i = j;
	}
	compress_ctx_release(&cx);
}

static void run_dict(const struct chunk *c, size_t n, int level, struct result *r,
		     double *train_s)
{
	size_t ns = 0;
	for (size_t i = 0; i < n && ns * CHUNK < SAMPLE_MAX; i += SAMPLE_EVERY)
		ns++;
	uint8_t *samples = malloc(ns * CHUNK), *dict = malloc(DICT_SIZE);
	size_t *sizes = malloc(ns * sizeof(*sizes));
	for (size_t i = 0, k = 0; k < ns; i += SAMPLE_EVERY, k++) {
		memcpy(samples + k * CHUNK, c[i].p, CHUNK);
		sizes[k] = CHUNK;
	}
	double t0 = cpu_s();
	size_t dl = ZDICT_trainFromBuffer(dict, DICT_SIZE, samples, sizes, (unsigned)ns);
	*train_s = cpu_s() - t0;
	if (ZDICT_isError(dl)) {
		fprintf(stderr, "dictionary: %s\n", ZDICT_getErrorName(dl));
		exit(1);
	}
	ZSTD_CDict *cd = ZSTD_createCDict(dict, dl, level);
	ZSTD_DDict *dd = ZSTD_createDDict(dict, dl);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		double a = cpu_s();
		size_t z = ZSTD_compress_usingCDict(cc, dst, compress_worth_limit(CHUNK), c[i].p,
						    CHUNK, cd);
		double b = cpu_s();
		bool ok = !ZSTD_isError(z);
		r->enc_s += b - a;
		r->stored += (ok ? z : CHUNK) + BLOB_OVH;
		r->plain += CHUNK;
		r->units++;
		if (ok) {
			a = cpu_s();
			size_t o = ZSTD_decompress_usingDDict(dc, back, CHUNK, dst, z, dd);
			r->dec_s += cpu_s() - a;
			if (o != CHUNK || memcmp(back, c[i].p, CHUNK)) {
				fprintf(stderr, "dictionary round trip failed\n");
				exit(1);
			}
		}
	}
	r->stored += dl;	/* the dictionary is stored once */
	ZSTD_freeCDict(cd);
	ZSTD_freeDDict(dd);
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	free(samples);
	free(sizes);
	free(dict);
}

/* ---- grains (vmdk-stream) ---- */

static uint64_t sector_pad(size_t z)
{
	return ROUND_UP(12 + z, 512u);	/* grain marker + data, to a sector */
}

struct grain_codec {
	const char *name;
	int kind;	/* 0 zlib, 1 igzip, 2 libdeflate, 3 vmdk-stream's default mix */
	int level;
};

static size_t grain_zlib(const uint8_t *p, int level)
{
	uLongf n = (uLongf)dst_cap;
	if (compress2(dst, &n, p, CHUNK, level) != Z_OK)
		exit(1);
	return n;
}

static size_t grain_igzip(const uint8_t *p, int level, uint8_t *lbuf)
{
	struct isal_zstream zs;
	isal_deflate_stateless_init(&zs);
	zs.next_in = (uint8_t *)(uintptr_t)p;
	zs.avail_in = CHUNK;
	zs.next_out = dst;
	zs.avail_out = (uint32_t)dst_cap;
	zs.level = (uint32_t)level;
	zs.level_buf = lbuf;
	zs.level_buf_size = ISAL_DEF_LVL3_DEFAULT;
	zs.gzip_flag = IGZIP_ZLIB;
	zs.end_of_stream = 1;
	if (isal_deflate_stateless(&zs) != COMP_OK)
		exit(1);
	return zs.total_out;
}

static void run_grains(const struct chunk *c, size_t n)
{
	static const struct grain_codec g[] = {
		{ "zlib-6 (qemu-img)", 0, 6 }, { "igzip-1", 1, 1 }, { "igzip-2", 1, 2 },
		{ "igzip-3", 1, 3 }, { "libdeflate-1", 2, 1 }, { "libdeflate-2", 2, 2 },
		{ "libdeflate-3", 2, 3 }, { "libdeflate-4", 2, 4 }, { "libdeflate-6", 2, 6 },
		{ "mix igzip-2, 1/4 libdeflate-2", 3, 0 },
	};
	uint8_t *lbuf = malloc(ISAL_DEF_LVL3_DEFAULT);
	uint64_t base = 0;
	printf("\nvmdk-stream grains: %zu unique 64 KiB grains, each deflated alone (zlib form), "
	       "sector-padded\n", n);
	printf("%-28s %10s %7s %8s %8s\n", "grain codec", "MB", "vs z-6", "cpu s", "MB/s");
	for (size_t k = 0; k < ARRAY_SIZE(g); k++) {
		struct libdeflate_compressor *ld = g[k].kind >= 2 ?
			libdeflate_alloc_compressor(g[k].kind == 3 ? VMDK_MIX_LD_LEVEL :
						    g[k].level) : NULL;
		uint64_t sum = 0;
		double t0 = cpu_s();
		for (size_t i = 0; i < n; i++) {
			size_t z;
			if (g[k].kind == 0)
				z = grain_zlib(c[i].p, g[k].level);
			else if (g[k].kind == 1)
				z = grain_igzip(c[i].p, g[k].level, lbuf);
			else if (g[k].kind == 3 && !vmdk_stream_strong_grain(c[i].off / CHUNK))
				z = grain_igzip(c[i].p, VMDK_MIX_IGZIP_LEVEL, lbuf);
			else if (!(z = libdeflate_zlib_compress(ld, c[i].p, CHUNK, dst, dst_cap)))
				exit(1);
			sum += sector_pad(z);
		}
		double s = cpu_s() - t0;
		if (k == 0)
			base = sum;
		printf("%-28s %10.1f %7.3f %8.2f %8.0f\n", g[k].name, sum / 1e6,
		       (double)sum / (double)base, s, n * (double)CHUNK / 1e6 / s);
		if (ld)
			libdeflate_free_compressor(ld);
	}
	free(lbuf);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: compress-survey IMAGE [FRAME_MAX_KIB [LEVELS]]\n");
		return 2;
	}
	size_t fmax = (argc > 2 ? strtoul(argv[2], NULL, 10) : 1024) << 10;
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	size_t size = (size_t)st.st_size / CHUNK * CHUNK, n = 0;
	uint8_t *img = malloc(size);
	if (!img || pread_full(fd, img, size, 0) < 0) {
		perror("read");
		return 1;
	}
	struct chunk *c = malloc(size / CHUNK * sizeof(*c));
	double t0 = cpu_s();
	for (size_t off = 0; off < size; off += CHUNK) {
		if (all_zero(img + off, CHUNK))
			continue;
		c[n].p = img + off;
		c[n].off = off;
		unsigned int l;
		EVP_Digest(img + off, CHUNK, c[n].id, &l, EVP_sha256(), NULL);
		n++;
	}
	double id_s = cpu_s() - t0;
	size_t nz = n;
	qsort(c, n, sizeof(*c), cmp_id);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || memcmp(c[i].id, c[u - 1].id, 32))
			c[u++] = c[i];
	n = u;
	qsort(c, n, sizeof(*c), cmp_off);
	dst_cap = 2 * fmax + 65536;
	dst = malloc(dst_cap);
	back = malloc(fmax);
	uint8_t *fbuf = malloc(fmax);

	printf("%s: %zu non-zero 64 KiB chunks, %zu unique (%.1f MB); SHA-256 ids %.2f s "
	       "(%.0f MB/s)\n", argv[1], nz, n, n * (double)CHUNK / 1e6, id_s,
	       nz * (double)CHUNK / 1e6 / id_s);
	printf("%-28s %10s %7s %8s %8s %8s\n", "candidate (one core)", "stored MB", "ratio",
	       "cpu s", "enc MB/s", "dec MB/s");
	struct result base, r;
	run_chunks(c, n, COMPRESS_IGZIP, 1, &base);
	print_row("chunk igzip-1 (format 1)", &base, base.stored);
	static const int zl[] = { 1, 3 };
	for (size_t k = 0; k < ARRAY_SIZE(zl); k++) {
		char name[64];
		run_chunks(c, n, COMPRESS_ZSTD, zl[k], &r);
		snprintf(name, sizeof(name), "chunk zstd-%d", zl[k]);
		print_row(name, &r, base.stored);
	}
	static const size_t fk[] = { 256, 512, 1024 };
	int fl[32], nfl = 0;
	for (char *s = argc > 3 ? argv[3] : (char[]){ "1,2,3,4,5,6" }; *s && nfl < 32;) {
		fl[nfl++] = (int)strtol(s, &s, 10);
		if (*s == ',')
			s++;
	}
	for (size_t a = 0; a < ARRAY_SIZE(fk); a++) {
		size_t fm = MIN(fk[a] << 10, fmax);
		for (int k = 0; k < nfl; k++) {
			char name[64];
			if (fk[a] != 1024 && fl[k] != 3)
				continue;	/* the size sweep at level 3 only */
			run_frames(c, n, fm, COMPRESS_ZSTD, fl[k], fbuf, &r);
			snprintf(name, sizeof(name), "frame %zuK zstd-%d", fm >> 10, fl[k]);
			print_row(name, &r, base.stored);
		}
	}
	run_frames(c, n, fmax, COMPRESS_IGZIP, 1, fbuf, &r);
	print_row("frame 1M igzip-1", &r, base.stored);
	for (size_t k = 0; k < ARRAY_SIZE(zl); k++) {
		char name[64];
		double train;
		run_dict(c, n, zl[k], &r, &train);
		snprintf(name, sizeof(name), "dict zstd-%d (+%.1fs train)", zl[k], train);
		print_row(name, &r, base.stored);
	}
	run_grains(c, n);
	return 0;
}
