/* Fuzz target for the pack and chunk index parsers (repo/pack.c, repo/index.c). The first
 * byte picks what the rest is:
 *   0  a pack index plaintext ("Pack index"): if it decodes, it re-encodes to the same
 *      bytes and its entries are back to back from offset 0;
 *   1  an index delta plaintext ("Index deltas"): if it decodes, every entry is within
 *      1 GiB and the entries are all delivered (or none: a bad entry anywhere rejects it);
 *   2  a pack trailer: 8 bytes of pack size (le64) then the 16-byte trailer; if it
 *      decodes, the index lies exactly before the trailer.
 * Nothing may crash; counts never drive allocations beyond the input's size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
	size_t n;
};

static int count_entry(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	(void)id;
	if (loc->off + loc->blob_len > PACK_MAX_SIZE || loc->blob_len == 0)
		abort();
	((struct count *)arg)->n++;
	return 0;
}

static void pack_index(const uint8_t *data, size_t size)
{
	struct pack_entry *e;
	size_t n;
	if (pack_index_decode(data, size, &e, &n) < 0)
		return;
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && e[i].off == e[i - 1].off)
			continue;	/* the next chunk of the same frame */
		if (e[i].off != off)
			abort();
		off += e[i].blob_len;
	}
	struct dbuf b = DBUF_INIT(PACK_MAX_SIZE);
	if (pack_index_encode(e, n, ((const uint8_t *)data)[4], &b) < 0 || b.len != size ||
	    memcmp(b.data, data, size))
		abort();
	dbuf_release(&b);
	free(e);
}

static void index_delta(const uint8_t *data, size_t size)
{
	struct count c = { 0 };
	if (index_delta_decode(data, size, count_entry, &c) == 0 &&
	    c.n != (size - INDEX_DELTA_HDR) / INDEX_DELTA_ENTRY)
		abort();
}

static void trailer(const uint8_t *data, size_t size)
{
	uint32_t off, len;
	if (size < 8 + PACK_TRAILER_LEN)
		return;
	uint64_t psize = get_le64(data);
	if (pack_trailer_decode(data + 8, psize, &off, &len) == 0 &&
	    (uint64_t)off + len + PACK_TRAILER_LEN != psize)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: pack_index(data + 1, size - 1); break;
	case 1: index_delta(data + 1, size - 1); break;
	case 2: trailer(data + 1, size - 1); break;
	}
	return 0;
}
