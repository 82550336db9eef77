/* Pinned numbers of the replication log's on-disk format (docs/replog-format.md). Every
 * integer is little-endian. A change to anything here needs a new REPLOG_VERSION and a
 * golden file of the old version in tests/golden/ that the new code still reads (version 1:
 * replog-v1.bin; version 2, which allows PAD records inside the ring: replog-v2.bin). */
#ifndef FERRY_REPLOG_FORMAT_H
#define FERRY_REPLOG_FORMAT_H

#define REPLOG_VERSION 2		/* written; version 1 logs are read (and upgraded on a
					 * read-write open: see docs/replog-format.md) */
#define REPLOG_VERSION_MIN 1
#define REPLOG_BLOCK 4096u		/* superblocks, metadata, bitmaps, ring size */
#define REPLOG_REC_ALIGN 512u		/* records and ring offsets in the data ring */
#define REPLOG_SB_MAGIC 0x474f4c5052524546ull	/* "FERRPLOG" */
#define REPLOG_META_MAGIC 0x4154454d52524546ull	/* "FERRMETA" */
#define REPLOG_REC_MAGIC 0x43455246u		/* "FREC" */
#define REPLOG_REC_HDR_SIZE 64u		/* payload follows the header directly */
#define REPLOG_NAME_MAX 63		/* domain and disk names */
#define REPLOG_MAX_DOMAINS 64
#define REPLOG_MAX_DISKS 256
#define REPLOG_MIN_GRAIN 65536u		/* dirty bitmap: smallest bytes per bit */

enum replog_rec_type {
	REPLOG_REC_WRITE = 1,	/* payload = data written */
	REPLOG_REC_ZERO = 2,	/* TRIM / WRITE_ZEROES: the extent reads as zeroes; no payload */
	REPLOG_REC_PAD = 3,	/* fills the end of the ring before wrapping; no payload */
};

enum replog_rec_flags {
	REPLOG_RF_FUA = 1,	/* the client asked for FUA */
	REPLOG_RF_TRIM = 2,	/* ZERO record that came from TRIM (may be a hole) */
};

#endif
