/* Replaying an ext3/4 journal (jbd2) before Re-IP reads or writes the file system
 * (contract in guest.h). A recovery point of a running VM is crash-consistent: its ext4
 * has needs_recovery set and the newest metadata, and possibly the newest content of the
 * very file Re-IP edits, only in the journal. The guest's kernel would replay it at the
 * next mount, overwriting whatever we changed in those blocks; so we replay it first, as
 * the kernel does, then mark the journal empty.
 *
 * The journal is the file of the superblock's journal inode; its blocks are read through
 * libext2fs's block map and the file system's blocks written straight to the disk. The
 * format (big-endian, Documentation/filesystems/ext4/journal.rst of the kernel):
 *   superblock (block 0): magic, type 3/4, block size, length, first log block, the
 *     sequence and block where the log starts (start 0: nothing to replay), features
 *   descriptor blocks: tags naming the file system block of each data block that
 *     follows (flags: escaped, same UUID, last tag); revoke blocks: blocks whose earlier
 *     copies must not be replayed; commit blocks: the transaction is complete
 * Three passes like the kernel's recovery: scan for the last transaction whose commit
 * block is there and whose blocks all verify (checksums v2/v3: descriptor and revoke
 * tails, commit block, each data block); collect revokes; replay. A transaction that does
 * not verify ends the log: it and anything after it are not replayed, as a torn write.
 * Not handled (-ENOTSUP): external journals, fast commits, unknown incompatible features. */
#include "agent/guest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "common/crc32c.h"
#include "common/util.h"
#include "common/banned.h"

#define JBD2_MAGIC 0xc03b3998u
enum { JB_DESCRIPTOR = 1, JB_COMMIT = 2, JB_SB_V1 = 3, JB_SB_V2 = 4, JB_REVOKE = 5 };
enum { JF_REVOKE = 0x1, JF_64BIT = 0x2, JF_ASYNC_COMMIT = 0x4, JF_CSUM_V2 = 0x8,
       JF_CSUM_V3 = 0x10, JF_FAST_COMMIT = 0x20 };
enum { TAG_ESCAPE = 1, TAG_SAME_UUID = 2, TAG_LAST = 8 };
#define SB_SEQUENCE 24
#define SB_START 28
#define SB_CHECKSUM 252
#define SB_LEN 1024

enum pass { SCAN, REVOKE, REPLAY };

struct revoke {
	uint64_t block;
	uint32_t seq;
};

struct jr {
	ext2_filsys fs;
	struct guest_disk *d;
	uint64_t off;			/* of the file system on the disk */
	uint32_t bs;
	ext2_ino_t ino;
	struct ext2_inode inode;
	uint32_t maxlen, first, start, seq0, end_seq;
	uint32_t incompat;
	bool csum, v3, b64;
	uint32_t seed;			/* checksum seed: crc32c of the journal's UUID */
	uint8_t *blk, *data;
	struct revoke *rv;
	size_t nrv, caprv;
	unsigned replayed;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int jfail(struct jr *j, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->err, j->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* the kernel's crc32c(seed, buf): no inversions (ours inverts on both sides) */
static uint32_t kcrc(uint32_t seed, const void *buf, size_t len)
{
	return ~crc32c(~seed, buf, len);
}

/* Read journal block b (logical, in the journal file) into buf. */
static int jread(struct jr *j, uint32_t b, void *buf)
{
	blk64_t p = 0;
	errcode_t e = ext2fs_bmap2(j->fs, j->ino, &j->inode, NULL, 0, b, NULL, &p);
	if (e || p == 0 || p >= ext2fs_blocks_count(j->fs->super))
		return jfail(j, -EBADMSG, "journal block %u is not mapped", b);
	return guest_disk_read(j->d, buf, j->bs, j->off + (uint64_t)p * j->bs);
}

static int jwrite(struct jr *j, uint32_t b, const void *buf)
{
	blk64_t p = 0;
	errcode_t e = ext2fs_bmap2(j->fs, j->ino, &j->inode, NULL, 0, b, NULL, &p);
	if (e || p == 0)
		return jfail(j, -EBADMSG, "journal block %u is not mapped", b);
	return guest_disk_write(j->d, buf, j->bs, j->off + (uint64_t)p * j->bs);
}

static uint32_t jnext(const struct jr *j, uint32_t b)
{
	return b + 1 >= j->maxlen ? j->first : b + 1;
}

/* ---- the superblock ---- */

static int read_sb(struct jr *j)
{
	uint8_t *s = j->blk;
	int rc = jread(j, 0, s);
	if (rc < 0)
		return rc;
	uint32_t type = get_be32(s + 4);
	if (get_be32(s) != JBD2_MAGIC || (type != JB_SB_V1 && type != JB_SB_V2))
		return jfail(j, -EBADMSG, "the journal has no valid superblock");
	if (get_be32(s + 12) != j->bs)
		return jfail(j, -EBADMSG, "the journal's block size %u is not the file system's",
			     get_be32(s + 12));
	j->maxlen = get_be32(s + 16);
	j->first = get_be32(s + 20);
	j->seq0 = get_be32(s + SB_SEQUENCE);
	j->start = get_be32(s + SB_START);
	j->incompat = type == JB_SB_V2 ? get_be32(s + 40) : 0;
	uint64_t fblocks = EXT2_I_SIZE(&j->inode) / j->bs;
	if (j->maxlen > fblocks || j->first == 0 || j->first >= j->maxlen ||
	    (j->start && (j->start < j->first || j->start >= j->maxlen)))
		return jfail(j, -EBADMSG, "the journal superblock is out of range");
	if (j->incompat & JF_FAST_COMMIT)
		return jfail(j, -ENOTSUP, "the guest's journal uses fast commits, which are not "
			     "replayed here");
	if (j->incompat & ~(uint32_t)(JF_REVOKE | JF_64BIT | JF_ASYNC_COMMIT | JF_CSUM_V2 |
				      JF_CSUM_V3))
		return jfail(j, -ENOTSUP, "the guest's journal has unknown features 0x%x",
			     j->incompat);
	j->csum = j->incompat & (JF_CSUM_V2 | JF_CSUM_V3);
	j->v3 = j->incompat & JF_CSUM_V3;
	j->b64 = j->incompat & JF_64BIT;
	j->seed = kcrc(~0u, s + 48, 16);
	return 0;
}

/* ---- checksums (v2/v3 only; without them the commit block is the proof) ---- */

/* a descriptor or revoke block: its last 4 bytes */
static bool tail_ok(const struct jr *j, uint8_t *b)
{
	if (!j->csum)
		return true;
	uint32_t want = get_be32(b + j->bs - 4);
	put_be32(b + j->bs - 4, 0);
	uint32_t got = kcrc(j->seed, b, j->bs);
	put_be32(b + j->bs - 4, want);
	return got == want;
}

static bool commit_ok(const struct jr *j, uint8_t *b)
{
	if (!j->csum)
		return true;
	uint32_t want = get_be32(b + 16);
	put_be32(b + 16, 0);
	uint32_t got = kcrc(j->seed, b, j->bs);
	put_be32(b + 16, want);
	return got == want;
}

static bool data_ok(const struct jr *j, const uint8_t *data, uint32_t seq, uint32_t tag_csum)
{
	uint8_t s[4];
	if (!j->csum)
		return true;
	put_be32(s, seq);
	uint32_t c = kcrc(kcrc(j->seed, s, 4), data, j->bs);
	return j->v3 ? c == tag_csum : (c & 0xffff) == tag_csum;
}

/* ---- tags ---- */

struct tag {
	uint64_t block;
	uint32_t flags, csum;
};

static size_t tag_bytes(const struct jr *j)
{
	if (j->v3)
		return 16;
	return (j->csum ? 14 : 12) - (j->b64 ? 0 : 4);
}

/* The tags of a descriptor block: up to max into t; their number, or -1 if malformed. */
static int read_tags(const struct jr *j, const uint8_t *b, struct tag *t, size_t max)
{
	size_t off = 12, limit = j->bs - (j->csum ? 4 : 0), tb = tag_bytes(j);
	int n = 0;
	while (off + tb <= limit && (size_t)n < max) {
		const uint8_t *p = b + off;
		t[n].flags = j->v3 ? get_be32(p + 4) : get_be16(p + 6);
		t[n].block = get_be32(p) | (j->b64 ? (uint64_t)get_be32(p + 8) << 32 : 0);
		t[n].csum = j->v3 ? get_be32(p + 12) : get_be16(p + 4);
		off += tb + (t[n].flags & TAG_SAME_UUID ? 0 : 16);
		if (t[n++].flags & TAG_LAST)
			return off <= limit ? n : -1;
	}
	return -1;
}

/* ---- the passes ---- */

static int add_revoke(struct jr *j, uint64_t block, uint32_t seq)
{
	if (j->nrv == j->caprv) {
		size_t cap = j->caprv ? j->caprv * 2 : 256;
		void *p = realloc(j->rv, cap * sizeof(*j->rv));
		if (!p)
			return -ENOMEM;
		j->rv = p;
		j->caprv = cap;
	}
	j->rv[j->nrv++] = (struct revoke){ block, seq };
	return 0;
}

static int revoke_block(struct jr *j, const uint8_t *b, uint32_t seq)
{
	uint32_t count = get_be32(b + 12), rs = j->b64 ? 8 : 4;
	if (count < 16 || count > j->bs - (j->csum ? 4 : 0))
		return -1;
	for (uint32_t o = 16; o + rs <= count; o += rs)
		if (add_revoke(j, j->b64 ? get_be64(b + o) : get_be32(b + o), seq) < 0)
			return -ENOMEM;
	return 0;
}

static bool revoked(const struct jr *j, uint64_t block, uint32_t seq)
{
	for (size_t i = 0; i < j->nrv; i++)
		if (j->rv[i].block == block && (int32_t)(j->rv[i].seq - seq) >= 0)
			return true;
	return false;
}

/* The data blocks after a descriptor at *b: check (SCAN) or write them (REPLAY). 1: the
 * transaction is good so far, 0: it ends the log, <0 error. */
static int data_blocks(struct jr *j, enum pass pass, uint32_t *b, uint32_t seq,
		       const struct tag *t, int n)
{
	for (int i = 0; i < n; i++) {
		*b = jnext(j, *b);
		if (pass == REVOKE)
			continue;
		int rc = jread(j, *b, j->data);
		if (rc < 0)
			return rc;
		if (pass == SCAN) {
			if (!data_ok(j, j->data, seq, t[i].csum))
				return 0;
			continue;
		}
		if (revoked(j, t[i].block, seq))
			continue;
		if (t[i].block >= ext2fs_blocks_count(j->fs->super))
			return jfail(j, -EBADMSG, "the journal names block %llu, past the end of the "
				     "file system", (unsigned long long)t[i].block);
		if (t[i].flags & TAG_ESCAPE)
			put_be32(j->data, JBD2_MAGIC);
		rc = guest_disk_write(j->d, j->data, j->bs, j->off + t[i].block * j->bs);
		if (rc < 0)
			return jfail(j, rc, "writing block %llu of the journal replay: %s",
				     (unsigned long long)t[i].block, strerror(-rc));
	}
	return 1;
}

static int walk(struct jr *j, enum pass pass)
{
	uint32_t b = j->start, seq = j->seq0;
	struct tag *t = malloc(j->bs / 8 * sizeof(*t));
	int rc = t ? 0 : -ENOMEM;
	for (uint64_t walked = 0; rc == 0 && walked <= j->maxlen; walked++) {
		if (pass != SCAN && seq == j->end_seq)
			break;
		if ((rc = jread(j, b, j->blk)) < 0)
			break;
		if (get_be32(j->blk) != JBD2_MAGIC || get_be32(j->blk + 8) != seq)
			break;			/* the end of the log */
		uint32_t type = get_be32(j->blk + 4);
		if (type == JB_DESCRIPTOR) {
			int n = tail_ok(j, j->blk) ? read_tags(j, j->blk, t, j->bs / 8) : -1;
			if (n < 0 || (rc = data_blocks(j, pass, &b, seq, t, n)) <= 0)
				break;
			rc = 0;
			walked += (uint64_t)n;
		} else if (type == JB_REVOKE) {
			if (!tail_ok(j, j->blk))
				break;
			if (pass == REVOKE && (rc = revoke_block(j, j->blk, seq)) != 0) {
				rc = rc == -1 ? jfail(j, -EBADMSG, "a corrupt revoke block") : rc;
				break;
			}
		} else if (type == JB_COMMIT) {
			if (!commit_ok(j, j->blk))
				break;
			seq++;
			if (pass == SCAN)
				j->end_seq = seq;
			if (pass == REPLAY)
				j->replayed++;
		} else {
			break;
		}
		b = jnext(j, b);
	}
	free(t);
	return rc;
}

/* The journal is empty now: start 0, the next sequence after the last replayed. */
static int mark_empty(struct jr *j)
{
	int rc = guest_disk_flush(j->d);	/* the replayed blocks first */
	if (rc == 0)
		rc = jread(j, 0, j->blk);
	if (rc < 0)
		return rc;
	put_be32(j->blk + SB_START, 0);
	put_be32(j->blk + SB_SEQUENCE, j->end_seq);
	if (j->csum) {
		put_be32(j->blk + SB_CHECKSUM, 0);
		put_be32(j->blk + SB_CHECKSUM, kcrc(~0u, j->blk, SB_LEN));
	}
	rc = jwrite(j, 0, j->blk);
	return rc ? rc : guest_disk_flush(j->d);
}

int guest_journal_replay(struct struct_ext2_filsys *fs, struct guest_disk *d, uint64_t fs_off,
			 unsigned *replayed, char *err, size_t errlen)
{
	struct jr j = { .fs = fs, .d = d, .off = fs_off, .bs = fs->blocksize,
			.ino = fs->super->s_journal_inum, .err = err, .errlen = errlen };
	int rc = 0;
	*replayed = 0;
	if (errlen)
		err[0] = '\0';
	if (!ext2fs_has_feature_journal(fs->super))
		return 0;
	if (!j.ino)
		return jfail(&j, -ENOTSUP, "the guest's file system has an external journal, "
			     "which cannot be replayed from its disk alone");
	if (ext2fs_read_inode(fs, j.ino, &j.inode))
		return jfail(&j, -EBADMSG, "cannot read the journal inode %u", j.ino);
	j.blk = malloc(j.bs);
	j.data = malloc(j.bs);
	if (!j.blk || !j.data)
		rc = -ENOMEM;
	if (rc == 0)
		rc = read_sb(&j);
	j.end_seq = j.seq0;
	if (rc == 0 && j.start) {
		rc = walk(&j, SCAN);
		if (rc == 0 && j.end_seq != j.seq0)
			rc = walk(&j, REVOKE);
		if (rc == 0 && j.end_seq != j.seq0)
			rc = walk(&j, REPLAY);
	}
	if (rc == 0 && j.start)
		rc = mark_empty(&j);
	if (rc < 0 && !err[0])
		jfail(&j, rc, "replaying the guest's journal: %s", strerror(-rc));
	*replayed = j.replayed;
	free(j.blk);
	free(j.data);
	free(j.rv);
	return rc;
}
