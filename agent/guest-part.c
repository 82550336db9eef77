/* Where a guest disk's Linux file systems may be (contract in guest.h): the whole disk
 * when it carries an ext superblock itself, else the partitions of its MBR (primary ones
 * of type 0x83 and the logical ones of an extended partition, following the EBR chain) or
 * of its GPT (Linux filesystem data and the x86-64 root type of the Discoverable
 * Partitions Specification). 512-byte sectors; every number read is checked against the
 * disk size, and the chains and tables are bounded. LVM and other types are noted, not
 * followed. */
#include "agent/guest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define SECTOR 512u
#define EXT_MAGIC 0xEF53u
#define MAX_EBR 64
#define GPT_MAX_TABLE (1u << 20)

/* GPT type GUIDs as stored (the first three fields little-endian) */
static const uint8_t GUID_LINUX[16] = { 0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
					0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4 };
static const uint8_t GUID_ROOT_X86_64[16] = { 0xe3, 0xbc, 0x68, 0x4f, 0xcd, 0xe8, 0xb1, 0x4d,
					      0x96, 0xe7, 0xfb, 0xca, 0xf9, 0x84, 0xb7, 0x09 };
static const uint8_t GUID_LVM[16] = { 0x79, 0xd3, 0xd6, 0xe6, 0x07, 0xf5, 0xc2, 0x44,
				      0xa2, 0x3c, 0x23, 0x8f, 0x2a, 0x3d, 0xf9, 0x28 };

struct scan {
	struct guest_disk *d;
	uint64_t size;
	struct guest_part *out;
	size_t *n;
	char *notes;
	size_t noteslen;
};

__attribute__((format(printf, 2, 3)))
static void note(struct scan *s, const char *fmt, ...)
{
	size_t l = strnlen(s->notes, s->noteslen);
	if (l + 3 >= s->noteslen)
		return;
	if (l) {
		memcpy(s->notes + l, "; ", 3);
		l += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->notes + l, s->noteslen - l, fmt, ap);
	va_end(ap);
}

/* table: "MBR" or "GPT" */
static void add(struct scan *s, uint64_t lba, uint64_t sectors, const char *table, unsigned i)
{
	if (*s->n == GUEST_MAX_PARTS)
		return;
	if (lba == 0 || lba > s->size / SECTOR || sectors > s->size / SECTOR - lba) {
		note(s, "%s partition %u lies outside the disk", table, i);
		return;
	}
	struct guest_part *p = &s->out[(*s->n)++];
	p->offset = lba * SECTOR;
	p->size = sectors * SECTOR;
	snprintf(p->name, sizeof(p->name), "%s partition %u", table, i);
}

static bool has_ext_magic(struct scan *s, uint64_t off)
{
	uint8_t m[2];
	return off + 1080 <= s->size && guest_disk_read(s->d, m, 2, off + 1080) == 0 &&
	       get_le16(m) == EXT_MAGIC;
}

static int scan_gpt(struct scan *s)
{
	uint8_t h[SECTOR];
	int rc = guest_disk_read(s->d, h, SECTOR, SECTOR);
	if (rc < 0)
		return rc;
	if (memcmp(h, "EFI PART", 8)) {
		note(s, "a protective MBR without a GPT header");
		return 0;
	}
	uint64_t lba = get_le64(h + 72);
	uint32_t count = get_le32(h + 80), esize = get_le32(h + 84);
	if (esize < 128 || esize > 4096 || (uint64_t)count * esize > GPT_MAX_TABLE ||
	    lba > s->size / SECTOR || (uint64_t)count * esize > s->size - lba * SECTOR) {
		note(s, "a GPT whose partition table is out of range");
		return 0;
	}
	uint8_t e[4096];
	for (uint32_t i = 0; i < count; i++) {
		if ((rc = guest_disk_read(s->d, e, esize, lba * SECTOR + (uint64_t)i * esize)) < 0)
			return rc;
		uint64_t first = get_le64(e + 32), last = get_le64(e + 40);
		if (!memcmp(e, GUID_LINUX, 16) || !memcmp(e, GUID_ROOT_X86_64, 16)) {
			if (last >= first)
				add(s, first, last - first + 1, "GPT", i + 1);
		} else if (!memcmp(e, GUID_LVM, 16)) {
			note(s, "GPT partition %u is LVM (not read)", i + 1);
		}
	}
	return 0;
}

/* The logical partitions of an extended partition starting at lba ext. */
static int scan_ebr(struct scan *s, uint64_t ext, unsigned *num)
{
	uint64_t at = ext;
	uint8_t b[SECTOR];
	for (int k = 0; k < MAX_EBR; k++) {
		if (at > s->size / SECTOR - 1)
			return 0;
		int rc = guest_disk_read(s->d, b, SECTOR, at * SECTOR);
		if (rc < 0)
			return rc;
		if (b[510] != 0x55 || b[511] != 0xaa)
			return 0;
		const uint8_t *p = b + 446;
		if (p[4] == 0x83)
			add(s, at + get_le32(p + 8), get_le32(p + 12), "MBR", *num);
		else if (p[4] == 0x8e)
			note(s, "MBR partition %u is LVM (not read)", *num);
		(*num)++;
		uint8_t t = p[16 + 4];
		uint64_t next = get_le32(p + 16 + 8);
		if ((t != 0x05 && t != 0x0f && t != 0x85) || next == 0)
			return 0;
		at = ext + next;
	}
	note(s, "an extended partition chain longer than %d (cut)", MAX_EBR);
	return 0;
}

int guest_parts(struct guest_disk *d, struct guest_part *out, size_t *n, char *notes,
		size_t noteslen)
{
	struct scan s = { d, guest_disk_size(d), out, n, notes, noteslen };
	uint8_t mbr[SECTOR];
	*n = 0;
	if (noteslen)
		notes[0] = '\0';
	if (has_ext_magic(&s, 0)) {
		struct guest_part *p = &out[(*n)++];
		p->offset = 0;
		p->size = s.size;
		snprintf(p->name, sizeof(p->name), "the whole disk");
		return 0;
	}
	if (s.size < SECTOR)
		return 0;
	int rc = guest_disk_read(d, mbr, SECTOR, 0);
	if (rc < 0)
		return rc;
	if (mbr[510] != 0x55 || mbr[511] != 0xaa) {
		note(&s, "no ext file system on the whole disk and no partition table");
		return 0;
	}
	unsigned logical = 5;
	for (unsigned i = 0; i < 4 && rc == 0; i++) {
		const uint8_t *p = mbr + 446 + 16 * i;
		uint64_t lba = get_le32(p + 8), len = get_le32(p + 12);
		switch (p[4]) {
		case 0xee:
			return scan_gpt(&s);
		case 0x83:
			add(&s, lba, len, "MBR", i + 1);
			break;
		case 0x05: case 0x0f: case 0x85:
			rc = scan_ebr(&s, lba, &logical);
			break;
		case 0x8e:
			note(&s, "MBR partition %u is LVM (not read)", i + 1);
			break;
		case 0x00:
			break;
		default:
			note(&s, "MBR partition %u has type 0x%02x (not Linux)", i + 1, p[4]);
		}
	}
	return rc;
}
