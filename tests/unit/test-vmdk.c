/* Unit tests for image/: descriptor parse/generate (qemu's canonical text, limits, bad
 * lines, uuids), header encode/decode, round trips of all three writers through the reader
 * (patterned data with zero grains and holes, a capacity that is no grain multiple and
 * spans several 32 MiB GTs, writes that are unaligned, span grains or are tiny, a 0-length
 * disk, a partial last grain), the on-disk structure of streamOptimized output (footer,
 * EOS, every record's LBA), zero grains never stored, write-order rules, abort and failure
 * leaving no file, checkpoints and resume after a simulated kill (later writes dropped), in-place flat updates, determinism across thread counts, qemu-img's own
 * files of every subformat (when qemu-img is installed; and qemu-img check/compare of ours),
 * and corrupt headers, footers, tables and grains read as -EBADMSG, never a crash. */
#include <dirent.h>
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
#include "image/vmdk.h"
#include "repo/compress.h"
#include "tests/unit/unit-sh.h"
#include "common/banned.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define GRAIN VMDK_GRAIN_SIZE

static char dir[64];
static char pathbuf[256];

static const char *P(const char *name)
{
	snprintf(pathbuf, sizeof pathbuf, "%s/%s", dir, name);
	return pathbuf;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test-vmdk.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf '%s'", dir);
	return 0;
}

static int count_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool have_qemu_img(void)
{
	return sh("command -v qemu-img >/dev/null 2>&1") == 0;
}

/* ---- patterned disk contents ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Per 16 KiB piece: random bytes, text, a single byte, or zeroes; some whole grains and a
 * whole 32 MiB span of zeroes. */
static uint8_t *make_disk(uint64_t cap, uint64_t seed)
{
	uint8_t *d = calloc(1, cap ? cap : 1);
	assert_non_null(d);
	rng_state = seed | 1;
	for (uint64_t off = 0; off < cap; off += 16 * KiB) {
		size_t n = (size_t)MIN(16 * KiB, cap - off);
		uint64_t kind = rng() % 8;
		if (off >= 32 * MiB && off < 64 * MiB)
			continue;	/* an empty GT span */
		if (kind < 2) {
			for (size_t i = 0; i < n; i++)
				d[off + i] = (uint8_t)(rng() >> 24);
		} else if (kind < 4) {
			static const char t[] = "ferry writes vmdk grains; ";
			for (size_t i = 0; i < n; i++)
				d[off + i] = (uint8_t)t[(off + i) % (sizeof t - 1)];
		} else if (kind == 4) {
			d[off + rng() % n] = 0x5a;
		}
	}
	return d;
}

/* Write d to the writer in ascending pieces of varying size (tiny, unaligned, spanning
 * grains, multi-grain), skipping some all-zero pieces as a restore does. */
static void write_range(struct vmdk_writer *w, const uint8_t *d, uint64_t off, uint64_t end,
			uint64_t seed)
{
	static const size_t sizes[] = { 512, 4096, 1000, 65536, 3 * 65536 + 512, 17, 200000,
					65536 - 512, 1 };
	rng_state = seed | 1;
	while (off < end) {
		size_t n = sizes[rng() % ARRAY_SIZE(sizes)];
		n = (size_t)MIN((uint64_t)n, end - off);
		if (!(mem_is_zero(d + off, n) && rng() % 2))
			assert_int_equal(vmdk_writer_write(w, off, d + off, n), 0);
		off += n;
	}
}

static void write_disk(struct vmdk_writer *w, const uint8_t *d, uint64_t cap, uint64_t seed)
{
	write_range(w, d, 0, cap, seed);
}

static void check_read(const char *path, const uint8_t *d, uint64_t cap)
{
	struct vmdk_reader *r;
	char err[256];
	int rc = vmdk_open(path, &r, err, sizeof err);
	if (rc < 0)
		fail_msg("open %s: %s", path, err);
	assert_int_equal(vmdk_capacity(r), cap);

	/* whole disk in 1 MiB reads, then odd pieces */
	uint8_t *buf = malloc(MiB);
	assert_non_null(buf);
	for (uint64_t off = 0; off < cap; off += MiB) {
		size_t n = (size_t)MIN(MiB, cap - off);
		assert_int_equal(vmdk_read(r, off, buf, n), 0);
		if (memcmp(buf, d + off, n))
			fail_msg("%s differs in [%llu, +%zu)", path, (unsigned long long)off, n);
	}
	rng_state = 77;
	for (int i = 0; i < 200 && cap; i++) {
		uint64_t off = rng() % cap, n = rng() % (3 * GRAIN) + 1;
		n = MIN(n, cap - off);
		assert_int_equal(vmdk_read(r, off, buf, n), 0);
		assert_memory_equal(buf, d + off, n);
	}
	assert_int_equal(vmdk_read(r, cap, buf, 1), -EINVAL);
	assert_int_equal(vmdk_read(r, cap, buf, 0), 0);

	/* next_data: every non-zero byte lies in a data range */
	uint64_t off = 0, dofs, dlen, covered = 0;
	while ((rc = vmdk_next_data(r, off, &dofs, &dlen)) == 1) {
		assert_true(dofs >= off && dlen > 0 && dofs + dlen <= cap);
		assert_true(mem_is_zero(d + off, dofs - off));
		covered += dlen;
		off = dofs + dlen;
	}
	assert_int_equal(rc, 0);
	assert_true(mem_is_zero(d + off, cap - off));
	(void)covered;
	free(buf);
	vmdk_close(r);
}

static uint64_t nonzero_grains(const uint8_t *d, uint64_t cap)
{
	uint64_t n = 0;
	for (uint64_t off = 0; off < cap; off += GRAIN)
		n += !mem_is_zero(d + off, (size_t)MIN((uint64_t)GRAIN, cap - off));
	return n;
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	*len = (size_t)file_size(path);
	uint8_t *b = malloc(*len ? *len : 1);
	assert_non_null(b);
	assert_int_equal(pread_full(fd, b, *len, 0), 0);
	close(fd);
	return b;
}

static void write_image(const char *path, enum vmdk_format f, const uint8_t *d, uint64_t cap,
			unsigned threads)
{
	static const struct vmdk_kv extra[] = { { "ddb.ferry.point", "3.17" } };
	struct vmdk_meta m = { .capacity = cap, .extra = extra, .n_extra = 1,
			       .threads = threads, .uuid = { 0x60, 0, 0xc2, 0x9a, 1, 2, 3, 4,
							     5, 6, 7, 8, 9, 10, 11, 12 } };
	struct vmdk_writer *w;
	char err[256];
	if (vmdk_writer_open(path, f, &m, &w, err, sizeof err) < 0)
		fail_msg("writer_open: %s", err);
	write_disk(w, d, cap, cap ^ 0x1234);
	if (vmdk_writer_finish(w, err, sizeof err) < 0)
		fail_msg("finish: %s", err);
}

/* ---- descriptor ---- */

static const char qemu_desc[] =
	"# Disk DescriptorFile\nversion=1\nCID=62e9d4fc\nparentCID=ffffffff\n"
	"createType=\"monolithicSparse\"\n\n# Extent description\n"
	"RW 2097152 SPARSE \"a.vmdk\"\n\n# The Disk Data Base\n#DDB\n\n"
	"ddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"2080\"\n"
	"ddb.geometry.heads = \"16\"\nddb.geometry.sectors = \"63\"\n"
	"ddb.adapterType = \"ide\"\nddb.toolsVersion = \"2147483647\"\n";

static void test_desc_canonical(void **state)
{
	struct vmdk_desc d;
	char err[128], out[4096];
	(void)state;

	assert_int_equal(vmdk_desc_parse(qemu_desc, sizeof qemu_desc, &d, err, sizeof err), 0);
	assert_int_equal(d.version, 1);
	assert_int_equal(d.cid, 0x62e9d4fc);
	assert_int_equal(d.parent_cid, 0xffffffff);
	assert_string_equal(d.create_type, "monolithicSparse");
	assert_int_equal(d.n_extents, 1);
	assert_int_equal(d.extents[0].type, VMDK_EXT_SPARSE);
	assert_int_equal(d.extents[0].sectors, 2097152);
	assert_string_equal(d.extents[0].file, "a.vmdk");
	assert_int_equal(d.n_ddb, 6);
	assert_string_equal(vmdk_desc_get(&d, "ddb.adaptertype"), "ide");
	assert_null(vmdk_desc_get(&d, "ddb.uuid"));
	/* regenerating qemu's own text gives it back byte for byte */
	ssize_t n = vmdk_desc_format(&d, out, sizeof out);
	assert_int_equal(n, (ssize_t)strlen(qemu_desc));
	assert_memory_equal(out, qemu_desc, (size_t)n);
	assert_int_equal(vmdk_desc_format(&d, out, (size_t)n), -E2BIG);

	assert_int_equal(vmdk_desc_set(&d, "ddb.ferry.point", "3.17"), 0);
	assert_int_equal(vmdk_desc_set(&d, "ddb.adapterType", "lsilogic"), 0);
	assert_int_equal(vmdk_desc_set(&d, "ddb.bad", "a\"b"), -EINVAL);
	assert_int_equal(vmdk_desc_set(&d, "ddb.bad", "a\nb"), -EINVAL);
	assert_int_equal(vmdk_desc_set(&d, "nodb", "x"), -EINVAL);
	assert_int_equal(vmdk_desc_set(&d, "ddb.a b", "x"), -EINVAL);
	assert_int_equal(d.n_ddb, 7);
	n = vmdk_desc_format(&d, out, sizeof out);
	assert_true(n > 0);
	assert_non_null(strstr(out, "ddb.adapterType = \"lsilogic\"\nddb.toolsVersion"));
	assert_non_null(strstr(out, "ddb.ferry.point = \"3.17\"\n"));
	vmdk_desc_release(&d);
}

static void test_desc_lenient_and_bad(void **state)
{
	struct vmdk_desc d;
	char err[128];
	(void)state;

	static const char lenient[] =
		"# c\r\nVERSION = 1\r\ncid=abc\r\ncreatetype = monolithicFlat\r\n"
		"rw 100 flat \"x y-flat.vmdk\" 5\r\nRDONLY 8 ZERO\r\nencoding=\"UTF-8\"\r\n"
		"DDB.Foo = bar\r\n\0garbage after NUL";
	assert_int_equal(vmdk_desc_parse(lenient, sizeof lenient, &d, err, sizeof err), 0);
	assert_int_equal(d.cid, 0xabc);
	assert_int_equal(d.n_extents, 2);
	assert_int_equal(d.extents[0].type, VMDK_EXT_FLAT);
	assert_int_equal(d.extents[0].offset, 5);
	assert_string_equal(d.extents[0].file, "x y-flat.vmdk");
	assert_int_equal(d.extents[1].type, VMDK_EXT_ZERO);
	assert_int_equal(d.extents[1].access, VMDK_RDONLY);
	assert_null(d.extents[1].file);
	assert_string_equal(vmdk_desc_get(&d, "ddb.foo"), "bar");
	vmdk_desc_release(&d);

	static const char *const bad[] = {
		"CID=1\ncreateType=\"x\"\n",				/* no version */
		"version=1\ncreateType=\"x\"\n",			/* no CID */
		"version=1\nCID=1\n",					/* no createType */
		"version=4\nCID=1\ncreateType=\"x\"\n",
		"version=1\nCID=123456789\ncreateType=\"x\"\n",
		"version=1\nCID=1\ncreateType=\"x\"\nRW abc SPARSE \"f\"\n",
		"version=1\nCID=1\ncreateType=\"x\"\nRW 1 BOGUS \"f\"\n",
		"version=1\nCID=1\ncreateType=\"x\"\nRW 1 FLAT f\n",
		"version=1\nCID=1\ncreateType=\"x\"\nRW 1 FLAT \"f\n",
		"version=1\nCID=1\ncreateType=\"x\"\nRW 1 FLAT\n",
		"version=1\nCID=1\ncreateType=\"x\"\nRW 1 FLAT \"f\" 0 junk\n",
		"version=1\nCID=1\ncreateType=\"x y\"\n",
		"version=1\nCID=1\ncreateType=\"x\"\njust some words\n",
		"version=1\nCID=1\ncreateType=\"x\"\nRW 99999999999999999999 FLAT \"f\"\n",
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		if (vmdk_desc_parse(bad[i], strlen(bad[i]), &d, err, sizeof err) != -EBADMSG)
			fail_msg("bad descriptor %u accepted", i);
		assert_true(err[0] != '\0');
		assert_int_equal(d.n_extents, 0);
	}

	/* limits: too long, too many ddb entries */
	size_t big = VMDK_DESC_MAX + 10;
	char *t = malloc(big);
	assert_non_null(t);
	memset(t, '#', big);
	assert_int_equal(vmdk_desc_parse(t, big, &d, err, sizeof err), -EBADMSG);
	size_t n = (size_t)snprintf(t, big, "version=1\nCID=1\ncreateType=\"x\"\n");
	for (unsigned i = 0; i <= VMDK_DESC_MAX_DDB && n + 32 < big; i++)
		n += (size_t)snprintf(t + n, big - n, "ddb.k%u=v\n", i);
	assert_int_equal(vmdk_desc_parse(t, n, &d, err, sizeof err), -EBADMSG);
	free(t);
}

static void test_uuid(void **state)
{
	uint8_t u[16], v[16];
	char s[48];
	(void)state;

	for (unsigned i = 0; i < 16; i++)
		u[i] = (uint8_t)(0x60 + i * 17);
	vmdk_uuid_format(u, s);
	assert_string_equal(s, "60 71 82 93 a4 b5 c6 d7-e8 f9 0a 1b 2c 3d 4e 5f");
	assert_int_equal(vmdk_uuid_parse(s, v), 0);
	assert_memory_equal(u, v, 16);
	assert_int_equal(vmdk_uuid_parse("60 00 C2 9a 01 02 03 04 05 06 07 08 09 0a 0b 0c", v), 0);
	assert_int_equal(v[2], 0xc2);
	assert_int_equal(vmdk_uuid_parse("60 00 C2", v), -EINVAL);
	assert_int_equal(vmdk_uuid_parse("60 00 C2 9a 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d", v),
			 -EINVAL);
	assert_int_equal(vmdk_uuid_parse("zz 00 C2 9a 01 02 03 04 05 06 07 08 09 0a 0b 0c", v),
			 -EINVAL);
}

static void test_header(void **state)
{
	struct vmdk_header h = { .version = 1, .flags = 3, .capacity = 2097152, .grain_size = 128,
				 .desc_offset = 1, .desc_size = 20, .num_gtes = 512,
				 .rgd_offset = 21, .gd_offset = 150, .overhead = 384 }, g;
	uint8_t b[512];
	char err[128];
	(void)state;

	vmdk_header_encode(&h, b);
	assert_memory_equal(b, "KDMV", 4);
	assert_memory_equal(b + 73, "\n \r\n", 4);
	assert_int_equal(vmdk_header_decode(b, &g, err, sizeof err), 0);
	assert_true(g.version == h.version && g.flags == h.flags && g.capacity == h.capacity &&
		    g.grain_size == h.grain_size && g.desc_offset == h.desc_offset &&
		    g.desc_size == h.desc_size && g.num_gtes == h.num_gtes &&
		    g.rgd_offset == h.rgd_offset && g.gd_offset == h.gd_offset &&
		    g.overhead == h.overhead && g.unclean == 0 && g.compress == 0);

	static const struct { unsigned off; uint8_t val; } bad[] = {
		{ 0, 'X' }, { 4, 4 }, { 4, 0 }, { 10, 0x04 } /* incompatible flag bit 18 */,
		{ 20, 3 } /* grain 3 */, { 21, 0x10 } /* grain 4096+128 */, { 20, 0 },
		{ 45, 4 } /* 1536 GTEs */, { 44, 0 }, { 75, 'x' } /* newline bytes */,
		{ 77, 2 } /* compression */, { 19, 0x80 } /* capacity 2^63 */,
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t c[512];
		memcpy(c, b, 512);
		c[bad[i].off] = bad[i].val;
		if (bad[i].off == 44)
			c[45] = 0;
		if (vmdk_header_decode(c, &g, err, sizeof err) != -EBADMSG)
			fail_msg("corrupt header %u accepted", i);
	}
}

/* ---- round trips ---- */

static void roundtrip(enum vmdk_format f, const char *name, uint64_t cap)
{
	uint8_t *d = make_disk(cap, cap + f);
	write_image(P(name), f, d, cap, 0);
	check_read(P(name), d, cap);
	if (f == VMDK_SPARSE) {	/* zero grains are not stored: file = overHead + grains */
		uint64_t ngt = (cap / 512 + 65535) / 65536, gds = (ngt * 4 + 511) / 512;
		uint64_t oh = ROUND_UP(21 + 2 * (gds + 4 * ngt), 128) * 512;
		assert_int_equal(file_size(P(name)), oh + nonzero_grains(d, cap) * GRAIN);
	}
	free(d);
}

static void test_roundtrip_sparse(void **state)
{
	(void)state;
	roundtrip(VMDK_SPARSE, "s.vmdk", 70 * MiB + 3 * 512);
	roundtrip(VMDK_SPARSE, "s1.vmdk", GRAIN + 512);	/* partial last grain */
	roundtrip(VMDK_SPARSE, "s0.vmdk", 0);
}

static void test_roundtrip_flat(void **state)
{
	(void)state;
	roundtrip(VMDK_FLAT, "f.vmdk", 70 * MiB + 3 * 512);
	assert_int_equal(file_size(P("f-flat.vmdk")), 70 * MiB + 3 * 512);
	roundtrip(VMDK_FLAT, "f0.vmdk", 0);
	roundtrip(VMDK_FLAT, "noext", 4096);	/* extent "noext-flat.vmdk" */
	assert_int_equal(file_size(P("noext-flat.vmdk")), 4096);
}

static void test_roundtrip_stream(void **state)
{
	(void)state;
	roundtrip(VMDK_STREAM, "t.vmdk", 70 * MiB + 3 * 512);
	roundtrip(VMDK_STREAM, "t1.vmdk", GRAIN + 512);
	roundtrip(VMDK_STREAM, "t0.vmdk", 0);
}

/* The streaming layout, checked from the bytes (docs/vmdk.md, "streamOptimized"). */
static void test_stream_structure(void **state)
{
	uint64_t cap = 40 * MiB + 512;
	uint8_t *d = make_disk(cap, 5);
	size_t len;
	char err[128];
	struct vmdk_header h, ft;
	(void)state;

	write_image(P("st.vmdk"), VMDK_STREAM, d, cap, 2);
	uint8_t *b = slurp(P("st.vmdk"), &len);
	assert_int_equal(len % 512, 0);
	assert_int_equal(vmdk_header_decode(b, &h, err, sizeof err), 0);
	assert_int_equal(h.version, 3);
	assert_int_equal(h.flags, 0x30001);
	assert_int_equal(h.compress, 1);
	assert_true(h.gd_offset == VMDK_GD_AT_END);
	assert_int_equal(h.overhead, 21);
	assert_int_equal(h.capacity, cap / 512);
	assert_non_null(strstr((const char *)b + 512, "createType=\"streamOptimized\""));
	/* footer marker, footer, EOS */
	const uint8_t *fm = b + len - 1536, *eos = b + len - 512;
	assert_int_equal(get_le64(fm), 1);
	assert_int_equal(get_le32(fm + 12), VMDK_MARKER_FOOTER);
	assert_true(mem_is_zero(eos, 512));
	assert_int_equal(vmdk_header_decode(b + len - 1024, &ft, err, sizeof err), 0);
	assert_true(ft.gd_offset < len / 512);
	const uint8_t *gdm = b + (ft.gd_offset - 1) * 512;
	assert_int_equal(get_le32(gdm + 12), VMDK_MARKER_GD);
	uint64_t ngt = (cap + VMDK_GT_SPAN - 1) / VMDK_GT_SPAN;
	assert_int_equal(get_le64(gdm), (ngt * 4 + 511) / 512);
	uint64_t records = 0;
	for (uint64_t i = 0; i < ngt; i++) {
		uint32_t gt = get_le32(b + ft.gd_offset * 512 + 4 * i);
		if (!gt)
			continue;
		assert_int_equal(get_le32(b + (gt - 1) * 512 + 12), VMDK_MARKER_GT);
		assert_int_equal(get_le64(b + (gt - 1) * 512), 4);
		for (uint64_t j = 0; j < 512; j++) {
			uint32_t gte = get_le32(b + (uint64_t)gt * 512 + 4 * j);
			uint64_t g = i * 512 + j;
			bool zero = g * GRAIN >= cap ||
				    mem_is_zero(d + g * GRAIN, (size_t)MIN((uint64_t)GRAIN,
									    cap - g * GRAIN));
			assert_int_equal(gte != 0, !zero);
			if (!gte)
				continue;
			assert_int_equal(get_le64(b + (uint64_t)gte * 512), g * 128);
			uint32_t sz = get_le32(b + (uint64_t)gte * 512 + 8);
			assert_true(sz > 0 && sz < 2 * GRAIN);
			assert_int_equal(b[(uint64_t)gte * 512 + 12], 0x78);	/* zlib header */
			records++;
		}
	}
	assert_int_equal(records, nonzero_grains(d, cap));
	/* the span 32..40 MiB has data, 0..32 has; the writer's GD has both */
	free(b);
	free(d);
}

/* Compression output does not depend on the number of threads: identical after the
 * header and descriptor (only CID differs). */
/* Whole grains handed in zlib form (as a restore from igzip chunks does) are stored as is,
 * mixed with grains compressed by the writer and with partial writes; formats other than
 * STREAM, and grains that are not whole, fall back to ordinary writes. */
static void zgrain_image(const char *path, enum vmdk_format f, const uint8_t *d, uint64_t cap)
{
	struct vmdk_meta m = { .capacity = cap };
	struct vmdk_writer *w;
	struct compress_ctx cz = { 0 };
	uint8_t *z = malloc(GRAIN);
	char err[256];
	assert_non_null(z);
	if (vmdk_writer_open(path, f, &m, &w, err, sizeof err) < 0)
		fail_msg("writer_open: %s", err);
	rng_state = 99;
	for (uint64_t off = 0; off < cap;) {
		size_t n = (size_t)MIN((uint64_t)GRAIN, cap - off);
		uint64_t how = rng() % 4;
		if (how == 0) {		/* a partial grain, then the rest */
			size_t half = n / 2 + 1;
			assert_int_equal(vmdk_writer_write(w, off, d + off, MIN(half, n)), 0);
			if (half < n)
				assert_int_equal(vmdk_writer_write(w, off + half, d + off + half,
								   n - half), 0);
		} else if (how == 1) {
			assert_int_equal(vmdk_writer_write(w, off, d + off, n), 0);
		} else {
			ssize_t zl = compress_buf(&cz, COMPRESS_IGZIP, 1, d + off, n, z, GRAIN);
			assert_true(zl >= 0);
			if (zl == 0)	/* does not compress: as a restore, hand in plain data */
				assert_int_equal(vmdk_writer_write(w, off, d + off, n), 0);
			else
				assert_int_equal(vmdk_writer_write_zgrain(w, off, d + off, n, z,
									  (size_t)zl), 0);
		}
		off += n;
	}
	/* out of order is refused, as for vmdk_writer_write */
	if (f != VMDK_FLAT && cap >= GRAIN)
		assert_int_equal(vmdk_writer_write_zgrain(w, 0, d, GRAIN, z, 10), -EINVAL);
	if (vmdk_writer_finish(w, err, sizeof err) < 0)
		fail_msg("finish: %s", err);
	compress_ctx_release(&cz);
	free(z);
}

static void test_stream_zgrain(void **state)
{
	(void)state;
	static const uint64_t caps[] = { 70 * MiB + 3 * 512, GRAIN + 512, 3 * GRAIN };
	for (unsigned i = 0; i < ARRAY_SIZE(caps); i++) {
		uint8_t *d = make_disk(caps[i], caps[i] + 5);
		zgrain_image(P("z.vmdk"), VMDK_STREAM, d, caps[i]);
		check_read(P("z.vmdk"), d, caps[i]);
		zgrain_image(P("zs.vmdk"), VMDK_SPARSE, d, caps[i]);
		check_read(P("zs.vmdk"), d, caps[i]);
		free(d);
	}
}

/* A writer checkpointed at `at`, then fed other data (d2) up to `crash` and dropped as a
 * kill -9 would leave it; resumed at the checkpoint and finished with d, the image reads
 * as d: nothing written after a checkpoint survives a resume. */
static void crash_and_resume(enum vmdk_format f, const uint8_t *d, const uint8_t *d2,
			     uint64_t cap, uint64_t at, uint64_t crash)
{
	struct vmdk_meta m = { .capacity = cap, .threads = 2 };
	struct vmdk_writer *w;
	struct vmdk_ckpt c;
	char err[256];
	if (vmdk_writer_open(P("r.vmdk"), f, &m, &w, err, sizeof err) < 0)
		fail_msg("writer_open: %s", err);
	write_range(w, d, 0, at, at + 1);
	assert_int_equal(vmdk_writer_checkpoint(w, &c), 0);
	assert_true(c.off <= at && at - c.off < GRAIN && (c.off % GRAIN == 0 || c.off == cap));
	write_range(w, d2, at, crash, crash);
	vmdk_writer_suspend(w);
	assert_int_equal(access(P("r.vmdk.part"), F_OK), 0);
	assert_int_not_equal(access(P("r.vmdk"), F_OK), 0);

	if (vmdk_writer_resume(P("r.vmdk"), f, &m, &c, &w, err, sizeof err) < 0)
		fail_msg("resume at %llu: %s", (unsigned long long)c.off, err);
	write_range(w, d, c.off, cap, cap);
	if (vmdk_writer_finish(w, err, sizeof err) < 0)
		fail_msg("finish: %s", err);
	check_read(P("r.vmdk"), d, cap);
	if (have_qemu_img())
		assert_int_equal(sh("qemu-img check -q '%s'", P("r.vmdk")), 0);
	assert_int_equal(unlink(P("r.vmdk")), 0);
}

static void test_resume(void **state)
{
	(void)state;
	uint64_t cap = 100 * MiB + 3 * 512;
	uint8_t *d = make_disk(cap, 21), *d2 = make_disk(cap, 22);
	const uint64_t at[] = { 0, 20 * MiB + 1000, 33 * MiB, 70 * MiB + 512, cap };
	for (unsigned f = 0; f < 2; f++) {
		enum vmdk_format fmt = f ? VMDK_STREAM : VMDK_SPARSE;
		for (unsigned i = 0; i < ARRAY_SIZE(at); i++)
			crash_and_resume(fmt, d, d2, cap, at[i], MIN(cap, at[i] + 40 * MiB));
		crash_and_resume(fmt, d, d2, cap, 10 * MiB, 10 * MiB);	/* nothing after */

		/* a checkpoint that does not fit the file, or another format's file */
		struct vmdk_meta m = { .capacity = cap };
		struct vmdk_writer *w;
		struct vmdk_ckpt c;
		char err[256];
		assert_int_equal(vmdk_writer_open(P("b.vmdk"), fmt, &m, &w, err, sizeof err), 0);
		write_range(w, d, 0, 5 * MiB, 1);
		assert_int_equal(vmdk_writer_checkpoint(w, &c), 0);
		vmdk_writer_suspend(w);
		struct vmdk_ckpt bad = { c.off, c.next + 1 };
		assert_int_equal(vmdk_writer_resume(P("b.vmdk"), fmt, &m, &bad, &w, err,
						    sizeof err), -EBADMSG);
		bad = (struct vmdk_ckpt){ c.off, c.next - VMDK_GRAIN_SECTORS };
		assert_int_equal(vmdk_writer_resume(P("b.vmdk"), fmt, &m, &bad, &w, err,
						    sizeof err), -EBADMSG);
		assert_int_equal(vmdk_writer_resume(P("b.vmdk"), f ? VMDK_SPARSE : VMDK_STREAM,
						    &m, &c, &w, err, sizeof err), -EBADMSG);
		m.capacity += GRAIN;
		assert_int_equal(vmdk_writer_resume(P("b.vmdk"), fmt, &m, &c, &w, err,
						    sizeof err), -EBADMSG);
		assert_int_equal(vmdk_writer_resume(P("b.vmdk"), VMDK_FLAT, &m, &c, &w, err,
						    sizeof err), -EINVAL);
		assert_int_equal(unlink(P("b.vmdk.part")), 0);
	}
	free(d);
	free(d2);
}

static void test_stream_threads(void **state)
{
	uint64_t cap = 20 * MiB;
	uint8_t *d = make_disk(cap, 9);
	size_t l1, l2;
	(void)state;

	write_image(P("t1.vmdk"), VMDK_STREAM, d, cap, 1);
	write_image(P("t3.vmdk"), VMDK_STREAM, d, cap, 3);
	uint8_t *a = slurp(P("t1.vmdk"), &l1), *b = slurp(P("t3.vmdk"), &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(a, b, 512);
	assert_memory_equal(a + 21 * 512, b + 21 * 512, l1 - 21 * 512 - 1024);
	free(a);
	free(b);
	free(d);
}

static void test_order_rules(void **state)
{
	static const enum vmdk_format fmts[] = { VMDK_SPARSE, VMDK_STREAM, VMDK_FLAT };
	struct vmdk_meta m = { .capacity = 4 * MiB };
	uint8_t buf[8192];
	char err[128];
	(void)state;

	memset(buf, 0xab, sizeof buf);
	for (unsigned i = 0; i < ARRAY_SIZE(fmts); i++) {
		struct vmdk_writer *w;
		assert_int_equal(vmdk_writer_open(P("o.vmdk"), fmts[i], &m, &w, err, sizeof err),
				 0);
		assert_int_equal(vmdk_writer_write(w, MiB, buf, 4096), 0);
		assert_int_equal(vmdk_writer_write(w, 4 * MiB - 100, buf, 101), -EINVAL);
		assert_int_equal(vmdk_writer_write(w, UINT64_MAX - 10, buf, 100), -EINVAL);
		int back = vmdk_writer_write(w, MiB, buf, 512);
		int overlap = vmdk_writer_write(w, MiB + 4000, buf, 512);
		if (fmts[i] == VMDK_FLAT) {
			assert_int_equal(back, 0);
			assert_int_equal(overlap, 0);
			assert_true(vmdk_writer_flat_fd(w) >= 0);
		} else {
			assert_int_equal(back, -EINVAL);
			assert_int_equal(overlap, -EINVAL);
			assert_int_equal(vmdk_writer_flat_fd(w), -EINVAL);
			/* the writer is not failed by a misordered write */
			assert_int_equal(vmdk_writer_write(w, MiB + 4096, buf, 512), 0);
		}
		assert_int_equal(vmdk_writer_finish(w, err, sizeof err), 0);
	}
	/* bad arguments */
	struct vmdk_writer *w;
	struct vmdk_meta bad = { .capacity = 1000 };
	assert_int_equal(vmdk_writer_open(P("x.vmdk"), VMDK_SPARSE, &bad, &w, err, sizeof err),
			 -EINVAL);
	bad = (struct vmdk_meta){ .capacity = MiB, .adapter_type = "scsi" };
	assert_int_equal(vmdk_writer_open(P("x.vmdk"), VMDK_SPARSE, &bad, &w, err, sizeof err),
			 -EINVAL);
	bad = (struct vmdk_meta){ .capacity = 4096ull * 1024 * MiB };	/* 4 TiB */
	assert_int_equal(vmdk_writer_open(P("x.vmdk"), VMDK_SPARSE, &bad, &w, err, sizeof err),
			 -EFBIG);
	bad.capacity = 2 * VMDK_STREAM_MAX;
	assert_int_equal(vmdk_writer_open(P("x.vmdk"), VMDK_STREAM, &bad, &w, err, sizeof err),
			 -EFBIG);
	static const struct vmdk_kv k1[] = { { "ddb.x", "has \"quotes\"" } };
	bad = (struct vmdk_meta){ .capacity = MiB, .extra = k1, .n_extra = 1 };
	assert_int_equal(vmdk_writer_open(P("x.vmdk"), VMDK_STREAM, &bad, &w, err, sizeof err),
			 -EINVAL);
	/* a descriptor larger than 20 sectors */
	static char longval[4000];
	memset(longval, 'v', sizeof longval - 1);
	struct vmdk_kv k3[3] = { { "ddb.a", longval }, { "ddb.b", longval }, { "ddb.c", longval } };
	bad = (struct vmdk_meta){ .capacity = MiB, .extra = k3, .n_extra = 3 };
	assert_int_equal(vmdk_writer_open(P("x.vmdk"), VMDK_SPARSE, &bad, &w, err, sizeof err),
			 -E2BIG);
	assert_int_equal(vmdk_writer_open(P("x.vmdk"), VMDK_FLAT, &bad, &w, err, sizeof err), 0);
	vmdk_writer_abort(w);
	assert_int_equal(access(P("x.vmdk"), F_OK), -1);
	sh("rm -f '%s'/o*", dir);
}

/* FLAT in any order, zero overwrites punched: the extent stays sparse. */
static void test_flat_any_order(void **state)
{
	uint64_t cap = 8 * MiB;
	uint8_t *d = calloc(1, cap), *z = calloc(1, 2 * MiB);
	struct vmdk_meta m = { .capacity = cap };
	struct vmdk_writer *w;
	char err[128];
	(void)state;

	assert_non_null(d);
	assert_non_null(z);
	memset(d + 5 * MiB, 0x11, MiB);
	memset(d + 100, 0x22, 300);
	assert_int_equal(vmdk_writer_open(P("any.vmdk"), VMDK_FLAT, &m, &w, err, sizeof err), 0);
	memset(z, 0x33, MiB);
	assert_int_equal(vmdk_writer_write(w, 2 * MiB, z, MiB), 0);	/* later zeroed */
	assert_int_equal(vmdk_writer_write(w, 5 * MiB, d + 5 * MiB, MiB), 0);
	assert_int_equal(vmdk_writer_write(w, 0, d, 4096), 0);
	memset(z, 0, MiB);
	assert_int_equal(vmdk_writer_write(w, 2 * MiB - 512, z, MiB + 1024), 0);
	assert_int_equal(vmdk_writer_finish(w, err, sizeof err), 0);
	check_read(P("any.vmdk"), d, cap);
	struct stat st;
	assert_int_equal(stat(P("any-flat.vmdk"), &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 2 * MiB);	/* the zeroed MiB was punched */
	free(d);
	free(z);
}

static void test_abort_leaves_nothing(void **state)
{
	static const enum vmdk_format fmts[] = { VMDK_SPARSE, VMDK_FLAT, VMDK_STREAM };
	struct vmdk_meta m = { .capacity = 64 * MiB };
	uint8_t *buf = malloc(MiB);
	char err[128];
	(void)state;

	assert_non_null(buf);
	memset(buf, 0x42, MiB);
	sh("rm -rf '%s'/*", dir);
	for (unsigned i = 0; i < ARRAY_SIZE(fmts); i++) {
		struct vmdk_writer *w;
		assert_int_equal(vmdk_writer_open(P("a.vmdk"), fmts[i], &m, &w, err, sizeof err),
				 0);
		for (uint64_t off = 0; off < 40 * MiB; off += MiB)
			assert_int_equal(vmdk_writer_write(w, off, buf, MiB), 0);
		assert_true(count_files() > 0);			/* the .part files */
		assert_int_equal(access(P("a.vmdk"), F_OK), -1);	/* nothing published */
		vmdk_writer_abort(w);
		assert_int_equal(count_files(), 0);
	}
	/* an existing image stays until a successful finish replaces it */
	uint8_t *d = make_disk(MiB, 3);
	write_image(P("a.vmdk"), VMDK_SPARSE, d, MiB, 0);
	uint64_t before = file_size(P("a.vmdk"));
	struct vmdk_writer *w;
	assert_int_equal(vmdk_writer_open(P("a.vmdk"), VMDK_STREAM, &m, &w, err, sizeof err), 0);
	assert_int_equal(vmdk_writer_write(w, 0, buf, MiB), 0);
	vmdk_writer_abort(w);
	assert_int_equal(file_size(P("a.vmdk")), before);
	check_read(P("a.vmdk"), d, MiB);
	assert_int_equal(count_files(), 1);
	/* a failed finish (the directory is gone) leaves nothing either */
	assert_int_equal(vmdk_writer_open(P("b.vmdk"), VMDK_SPARSE, &m, &w, err, sizeof err), 0);
	assert_int_equal(vmdk_writer_write(w, 0, buf, MiB), 0);
	assert_int_equal(chmod(dir, 0500), 0);
	int rc = vmdk_writer_finish(w, err, sizeof err);
	assert_int_equal(chmod(dir, 0700), 0);
	if (geteuid() != 0)	/* root renames anyway */
		assert_true(rc < 0);
	sh("rm -rf '%s'/*", dir);
	free(d);
	free(buf);
}

static void test_flat_in_place(void **state)
{
	uint64_t cap = 3 * MiB;
	uint8_t *d = make_disk(cap, 11);
	struct vmdk_flat f;
	char err[128];
	(void)state;

	write_image(P("ip.vmdk"), VMDK_FLAT, d, cap, 0);
	assert_int_equal(vmdk_flat_open(P("ip.vmdk"), &f, err, sizeof err), 0);
	assert_int_equal(f.capacity, cap);
	assert_string_equal(vmdk_desc_get(&f.desc, "ddb.ferry.point"), "3.17");
	uint32_t cid = f.desc.cid;
	memset(d + MiB + 100, 0x77, 70000);
	assert_int_equal(vmdk_flat_pwrite(f.fd, d + MiB + 100, 70000, MiB + 100), 0);
	memset(d + 2 * MiB, 0, GRAIN);
	assert_int_equal(vmdk_flat_pwrite(f.fd, d + 2 * MiB, GRAIN, 2 * MiB), 0);
	assert_int_equal(fdatasync(f.fd), 0);
	vmdk_flat_close(&f);
	vmdk_flat_close(&f);	/* twice is fine */

	static const struct vmdk_kv kv[] = { { "ddb.ferry.point", "3.18" },
					     { "ddb.ferry.domain", "dom" } };
	assert_int_equal(vmdk_flat_update_desc(P("ip.vmdk"), kv, 2, err, sizeof err), 0);
	assert_int_equal(access(P("ip.vmdk.part"), F_OK), -1);
	assert_int_equal(vmdk_flat_open(P("ip.vmdk"), &f, err, sizeof err), 0);
	assert_string_equal(vmdk_desc_get(&f.desc, "ddb.ferry.point"), "3.18");
	assert_string_equal(vmdk_desc_get(&f.desc, "ddb.ferry.domain"), "dom");
	assert_non_null(vmdk_desc_get(&f.desc, "ddb.uuid"));
	assert_true(f.desc.cid != cid);
	vmdk_flat_close(&f);
	check_read(P("ip.vmdk"), d, cap);
	static const struct vmdk_kv badkv[] = { { "ddb.x", "a\\b" } };
	assert_int_equal(vmdk_flat_update_desc(P("ip.vmdk"), badkv, 1, err, sizeof err), -EINVAL);

	/* not a flat disk */
	write_image(P("sp.vmdk"), VMDK_SPARSE, d, cap, 0);
	assert_int_equal(vmdk_flat_open(P("sp.vmdk"), &f, err, sizeof err), -EBADMSG);
	/* an extent shorter than the descriptor says */
	assert_int_equal(truncate(P("ip-flat.vmdk"), (off_t)MiB), 0);
	assert_int_equal(vmdk_flat_open(P("ip.vmdk"), &f, err, sizeof err), -EBADMSG);
	free(d);
}

/* qemu-img's files of every subformat read back; qemu-img accepts ours. */
static void test_qemu_interop(void **state)
{
	static const char *const subs[] = { "monolithicSparse", "monolithicFlat",
					    "streamOptimized", "twoGbMaxExtentSparse",
					    "twoGbMaxExtentFlat" };
	uint64_t cap = 40 * MiB + 512;
	uint8_t *d = make_disk(cap, 21);
	(void)state;

	if (!have_qemu_img()) {
		print_message("qemu-img not installed: interop part skipped\n");
		free(d);
		return;
	}
	int fd = open(P("src.raw"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, d, cap, 0), 0);
	close(fd);
	for (unsigned i = 0; i < ARRAY_SIZE(subs); i++) {
		char name[64];
		snprintf(name, sizeof name, "q-%s.vmdk", subs[i]);
		assert_int_equal(sh("qemu-img convert -f raw -O vmdk -o subformat=%s '%s/src.raw' "
				    "'%s/%s'", subs[i], dir, dir, name), 0);
		check_read(P(name), d, cap);
	}
	assert_int_equal(sh("qemu-img create -q -f vmdk '%s/empty.vmdk' 100M", dir), 0);
	uint8_t *z = calloc(1, 100 * MiB);
	assert_non_null(z);
	check_read(P("empty.vmdk"), z, 100 * MiB);
	free(z);

	static const enum vmdk_format fmts[] = { VMDK_SPARSE, VMDK_FLAT, VMDK_STREAM };
	static const char *const types[] = { "monolithicSparse", "monolithicFlat",
					     "streamOptimized" };
	for (unsigned i = 0; i < ARRAY_SIZE(fmts); i++) {
		write_image(P("ours.vmdk"), fmts[i], d, cap, 0);
		assert_int_equal(sh("qemu-img check -q '%s/ours.vmdk'", dir), 0);
		assert_int_equal(sh("qemu-img compare -q -f raw -F vmdk '%s/src.raw' "
				    "'%s/ours.vmdk'", dir, dir), 0);
		assert_int_equal(sh("qemu-img info '%s/ours.vmdk' | grep -q 'create type: %s$'",
				    dir, types[i]), 0);
	}
	free(d);
}

/* ---- corrupt input ---- */

static int open_mem_rc(const uint8_t *b, size_t len)
{
	struct vmdk_reader *r = NULL;
	char err[200] = "";
	int rc = vmdk_open_mem(b, len, &r, err, sizeof err);
	if (rc < 0)
		assert_true(err[0] != '\0');
	vmdk_close(r);
	return rc;
}

/* Read the whole disk; the first error. */
static int read_all_rc(const uint8_t *b, size_t len)
{
	struct vmdk_reader *r;
	char err[200];
	int rc = vmdk_open_mem(b, len, &r, err, sizeof err);
	if (rc < 0)
		return rc;
	uint8_t *buf = malloc(MiB);
	assert_non_null(buf);
	for (uint64_t off = 0; rc == 0 && off < vmdk_capacity(r); off += MiB)
		rc = vmdk_read(r, off, buf, (size_t)MIN(MiB, vmdk_capacity(r) - off));
	uint64_t o = 0, dofs, dlen;
	while (rc == 0 && (rc = vmdk_next_data(r, o, &dofs, &dlen)) == 1)
		o = dofs + dlen, rc = 0;
	free(buf);
	vmdk_close(r);
	return rc;
}

static void test_corrupt(void **state)
{
	uint64_t cap = 3 * MiB;
	uint8_t *d = make_disk(cap, 31);
	size_t sl, tl;
	(void)state;

	write_image(P("cs.vmdk"), VMDK_SPARSE, d, cap, 0);
	write_image(P("ct.vmdk"), VMDK_STREAM, d, cap, 0);
	uint8_t *s = slurp(P("cs.vmdk"), &sl), *t = slurp(P("ct.vmdk"), &tl);
	uint8_t *c = malloc(MAX(sl, tl));
	assert_non_null(c);
	assert_int_equal(read_all_rc(s, sl), 0);
	assert_int_equal(read_all_rc(t, tl), 0);

	/* header fields of the sparse file */
	static const struct { unsigned off; uint64_t val; unsigned size; } hb[] = {
		{ 0, 0, 4 }, { 4, 9, 4 }, { 20, 100, 8 }, { 44, 4096, 4 },
		{ 56, 1ull << 40, 8 },			/* GD past EOF */
		{ 12, 1ull << 53, 8 },			/* capacity: GD larger than the file */
		{ 64, 1ull << 40, 8 },			/* overHead past EOF */
		{ 28, 1ull << 40, 8 },			/* descriptor past EOF */
		{ 77, 7, 2 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(hb); i++) {
		memcpy(c, s, sl);
		if (hb[i].size == 8)
			put_le64(c + hb[i].off, hb[i].val);
		else if (hb[i].size == 4)
			put_le32(c + hb[i].off, (uint32_t)hb[i].val);
		else
			put_le16(c + hb[i].off, (uint16_t)hb[i].val);
		if (open_mem_rc(c, sl) != -EBADMSG)
			fail_msg("sparse header corruption %u accepted", i);
	}
	/* truncated files */
	assert_int_equal(open_mem_rc(s, 100), -EBADMSG);
	assert_int_equal(open_mem_rc(s, 0), -EBADMSG);
	assert_int_equal(open_mem_rc(t, 30 * 512), -EBADMSG);	/* no footer */
	/* a GT entry pointing past the end of the file */
	struct vmdk_header h;
	char err[128];
	assert_int_equal(vmdk_header_decode(s, &h, err, sizeof err), 0);
	memcpy(c, s, sl);
	uint32_t gt = get_le32(c + h.gd_offset * 512);
	put_le32(c + (uint64_t)gt * 512, 0x7fffffff);
	assert_int_equal(read_all_rc(c, sl), -EBADMSG);
	/* a GD entry pointing past the end */
	memcpy(c, s, sl);
	put_le32(c + h.gd_offset * 512, 0x7ffffff0);
	assert_int_equal(read_all_rc(c, sl), -EBADMSG);

	/* stream: footer marker, EOS, footer header, a record's LBA, size and bytes */
	static const unsigned tb[] = { 1536 - 12, 512 - 12, 1024 - 0, 1024 - 4 };
	for (unsigned i = 0; i < ARRAY_SIZE(tb); i++) {
		memcpy(c, t, tl);
		c[tl - tb[i]] ^= 0x5;
		if (open_mem_rc(c, tl) != -EBADMSG)
			fail_msg("stream footer corruption %u accepted", i);
	}
	struct vmdk_header ft;
	assert_int_equal(vmdk_header_decode(t + tl - 1024, &ft, err, sizeof err), 0);
	uint32_t tgt = get_le32(t + ft.gd_offset * 512);
	uint32_t gte = 0;
	for (unsigned j = 0; j < 512 && !gte; j++)
		gte = get_le32(t + (uint64_t)tgt * 512 + 4 * j);
	assert_true(gte > 0);
	memcpy(c, t, tl);
	c[(uint64_t)gte * 512] ^= 1;			/* LBA */
	assert_int_equal(read_all_rc(c, tl), -EBADMSG);
	memcpy(c, t, tl);
	put_le32(c + (uint64_t)gte * 512 + 8, 0xffffffff);	/* size */
	assert_int_equal(read_all_rc(c, tl), -EBADMSG);
	memcpy(c, t, tl);
	put_le32(c + (uint64_t)gte * 512 + 8, 3);	/* a truncated stream */
	assert_int_equal(read_all_rc(c, tl), -EBADMSG);
	memcpy(c, t, tl);
	c[(uint64_t)gte * 512 + 20] ^= 0xff;		/* compressed bytes */
	assert_int_equal(read_all_rc(c, tl), -EBADMSG);

	/* not a VMDK at all; a descriptor file with a missing extent; a delta */
	int fd = open(P("junk.vmdk"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write_full(fd, "hello\n", 6), 0);
	close(fd);
	struct vmdk_reader *r;
	assert_int_equal(vmdk_open(P("junk.vmdk"), &r, err, sizeof err), -EBADMSG);
	fd = open(P("missing.vmdk"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	static const char md[] = "version=1\nCID=1\nparentCID=ffffffff\n"
				 "createType=\"monolithicFlat\"\nRW 8 FLAT \"nope-flat.vmdk\" 0\n";
	assert_int_equal(write_full(fd, md, sizeof md - 1), 0);
	close(fd);
	assert_int_equal(vmdk_open(P("missing.vmdk"), &r, err, sizeof err), -ENOENT);
	fd = open(P("delta.vmdk"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	static const char dd[] = "version=1\nCID=1\nparentCID=12345678\n"
				 "createType=\"monolithicFlat\"\nRW 8 ZERO\n";
	assert_int_equal(write_full(fd, dd, sizeof dd - 1), 0);
	close(fd);
	assert_int_equal(vmdk_open(P("delta.vmdk"), &r, err, sizeof err), -ENOTSUP);
	free(c);
	free(s);
	free(t);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_desc_canonical),
		cmocka_unit_test(test_desc_lenient_and_bad),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_roundtrip_sparse),
		cmocka_unit_test(test_stream_zgrain),
		cmocka_unit_test(test_roundtrip_flat),
		cmocka_unit_test(test_roundtrip_stream),
		cmocka_unit_test(test_stream_structure),
		cmocka_unit_test(test_stream_threads),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_order_rules),
		cmocka_unit_test(test_flat_any_order),
		cmocka_unit_test(test_abort_leaves_nothing),
		cmocka_unit_test(test_flat_in_place),
		cmocka_unit_test(test_qemu_interop),
		cmocka_unit_test(test_corrupt),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
