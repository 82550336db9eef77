/* Fuzz target for the replication log's decoders. The first byte picks what the rest is:
 *   0  a record header (+ payload): decode, CRC check, and encode/decode round trip
 *   1  a superblock block: decode, and round trip when valid
 *   2  a metadata table copy: decode, and round trip when valid
 *   3  a whole log file: replog_open read-only (superblocks, metadata, bitmaps, recovery
 *      scan), then stat, verify, a cursor over every record and every disk's dirty bitmap
 * Short inputs are zero-padded to the structure's size. A decoder that accepts something it
 * cannot re-encode to the same decoded value aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "datapath/replog-internal.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_record(const uint8_t *data, size_t size)
{
	uint8_t hdr[REPLOG_REC_HDR_SIZE] = { 0 }, again[REPLOG_REC_HDR_SIZE];
	struct replog_record rec, rec2;
	char why[128];

	memcpy(hdr, data, MIN(size, sizeof hdr));
	if (rl_rec_decode(hdr, &rec, why, sizeof why) < 0) {
		if (!why[0])
			abort();
		return;
	}
	const uint8_t *pl = data + MIN(size, sizeof hdr);
	size_t avail = size - MIN(size, sizeof hdr);
	uint32_t paylen = rec.type == REPLOG_REC_WRITE ? rec.length : 0;
	if (paylen > avail)
		return;
	bool ok = rl_rec_crc_ok(hdr, pl, paylen);
	rl_rec_encode(again, &rec, pl);
	if (rl_rec_decode(again, &rec2, why, sizeof why) < 0 || memcmp(&rec, &rec2, sizeof rec) ||
	    !rl_rec_crc_ok(again, pl, paylen))
		abort();
	if (ok && memcmp(hdr, again, sizeof hdr))
		abort();	/* a valid header is exactly what the encoder writes */
}

static void fuzz_sb(const uint8_t *data, size_t size)
{
	uint8_t *blk = calloc(1, REPLOG_BLOCK), *again = malloc(REPLOG_BLOCK);
	struct rl_sb sb, sb2;
	char why[128];

	memcpy(blk, data, MIN(size, (size_t)REPLOG_BLOCK));
	if (rl_sb_decode(blk, &sb, why, sizeof why) == 0) {
		rl_sb_encode(&sb, again);
		if (rl_sb_decode(again, &sb2, why, sizeof why) < 0 || memcmp(&sb, &sb2, sizeof sb))
			abort();
	}
	free(blk);
	free(again);
}

static void fuzz_meta(const uint8_t *data, size_t size)
{
	uint8_t *buf = calloc(1, RL_TABLE_SIZE), *again = malloc(RL_TABLE_SIZE);
	struct rl_meta *m = malloc(sizeof(*m)), *m2 = malloc(sizeof(*m2));
	char why[128];

	memcpy(buf, data, MIN(size, (size_t)RL_TABLE_SIZE));
	if (rl_meta_decode(buf, 1 << 20, m, why, sizeof why) == 0) {
		rl_meta_encode(m, again);
		if (rl_meta_decode(again, 1 << 20, m2, why, sizeof why) < 0 ||
		    memcmp(m, m2, sizeof(*m)))
			abort();
	}
	free(buf);
	free(again);
	free(m);
	free(m2);
}

static void fuzz_log(const uint8_t *data, size_t size)
{
	struct replog_open_opts o = { 0, 0, false, true };
	struct replog *log;
	struct replog_stat *st;
	char path[64], err[256];

	int fd = memfd_create("replog-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (pwrite_full(fd, data, size, 0) < 0) {
		close(fd);
		return;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (replog_open(path, &o, &log, err, sizeof err) == 0) {
		st = malloc(sizeof(*st));
		replog_get_stat(log, st);
		uint64_t bad;
		char why[128];
		replog_verify(log, &bad, why, sizeof why);
		struct replog_cursor *c;
		if (replog_cursor_open(log, 0, &c) == 0) {
			struct replog_record rec;
			const void *pl;
			while (replog_cursor_next(c, &rec, &pl) == 1)
				if (rec.type == REPLOG_REC_WRITE && rec.length && !pl)
					abort();
			replog_cursor_close(c);
		}
		for (size_t i = 0; i < st->n_disks; i++) {
			uint8_t *bits;
			uint64_t nbits;
			uint32_t grain;
			if (replog_dirty_take(log, st->disks[i].disk_id, &bits, &nbits, &grain) == 0)
				free(bits);
		}
		free(st);
		replog_close(log, true);
	} else if (!err[0]) {
		abort();
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		log_setup("fuzz", LOG_LVL_ERROR);
		quiet = true;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_record(data + 1, size - 1);
		break;
	case 1:
		fuzz_sb(data + 1, size - 1);
		break;
	case 2:
		fuzz_meta(data + 1, size - 1);
		break;
	default:
		fuzz_log(data + 1, size - 1);
		break;
	}
	return 0;
}
