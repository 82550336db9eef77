/* Fuzz target for point manifest decoding (repo/manifest.c), the parser of the largest
 * untrusted metadata a restore reads. The first byte picks the chunk size the decoder
 * checks DATA extents against (0: unchecked, 4 KiB, 64 KiB); the rest is a manifest
 * plaintext (docs/repo-format.md "Point manifests"). A manifest that decodes must:
 *   - re-encode to exactly the same bytes (the format is canonical),
 *   - apply cleanly onto an empty map (map_apply), giving sorted, non-overlapping DATA
 *     extents within the disk,
 *   - agree with manifest_decode_info on the header.
 * Decoding must never crash nor allocate beyond a small multiple of the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t cs[] = { 0, 4096, 65536 };
	struct manifest m;
	struct point_info pi;

	if (size < 1)
		return 0;
	uint32_t chunk = cs[data[0] % 3];
	data++;
	size--;
	int rc = manifest_decode(data, size, chunk, &m);
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
