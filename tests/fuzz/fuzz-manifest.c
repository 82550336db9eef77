/* Fuzz target for point manifest decoding (repo/manifest.c) and map regions
 * (repo/map-codec.c), the parsers of the largest untrusted metadata a restore reads. The
 * first byte picks the chunk size the decoder checks DATA extents against (low bits: 0
 * unchecked, 4 KiB, 64 KiB; with 16384 chunks per region) and, with bit 7, that the rest
 * is a map region object (docs/repo-format.md section 16: decoded as region number of its
 * header for a 2^42-byte disk; it must re-encode to the same bytes) instead of a manifest
 * plaintext (docs/repo-format.md "Point manifests"). A manifest that decodes must:
 *   - re-encode to exactly the same bytes (the format is canonical),
 *   - apply cleanly onto an empty map (map_apply), giving sorted, non-overlapping DATA
 *     extents within the disk,
 *   - agree with manifest_decode_info on the header.
 * Decoding must never crash nor allocate beyond a small multiple of the input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_map(const struct manifest_disk *md)
{
	struct disk_extent *ext = NULL;
	size_t n = 0;
	if (map_apply(&ext, &n, md->ext, md->n, md->size) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (ext[i].kind != EXTENT_DATA || ext[i].offset + ext[i].length > md->size)
			abort();
		if (i && ext[i - 1].offset + ext[i - 1].length > ext[i].offset)
			abort();
	}
	free(ext);
}

static void fuzz_region(const uint8_t *data, size_t size, uint32_t chunk)
{
	struct disk_extent *e;
	size_t n;
	uint64_t rb = (chunk ? chunk : 4096) * (uint64_t)16384, index = size >= 16 ? get_le64(data + 8) : 0;
	if (region_decode(data, size, index, rb, 1ull << 42, chunk, &e, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (e[i].kind != EXTENT_DATA || e[i].offset < index * rb ||
		    e[i].offset + e[i].length > (index + 1) * rb || (i && e[i - 1].offset +
		    e[i - 1].length > e[i].offset))
			abort();
	struct dbuf b = DBUF_INIT(REPO_META_MAX);
	if (region_encode(index, e, n, &b) < 0 || b.len != size || memcmp(b.data, data, size))
		abort();
	dbuf_release(&b);
	free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t cs[] = { 0, 4096, 65536 };
	struct manifest m;
	struct point_info pi;

	if (size < 1)
		return 0;
	uint32_t chunk = cs[(data[0] & 0x7f) % 3];
	bool region = data[0] & 0x80;
	data++;
	size--;
	if (region) {
		fuzz_region(data, size, chunk);
		return 0;
	}
	int rc = manifest_decode(data, size, chunk, (uint64_t)chunk * 16384, &m);
	int ri = manifest_decode_info(data, size, &pi);
	if (rc != 0)
		return 0;
	if (ri != 0 || memcmp(&pi, &m.info, sizeof(pi)))
		abort();
	struct dbuf b = DBUF_INIT(REPO_META_MAX);
	if (manifest_encode(&m, &b) < 0 || b.len != size || memcmp(b.data, data, size))
		abort();
	dbuf_release(&b);
	for (size_t d = 0; d < m.ndisks; d++)
		check_map(&m.disks[d]);
	manifest_release(&m);
	return 0;
}
