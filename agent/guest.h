/* A guest's own disk, seen from the recovery appliance without booting or mounting it
 * (Re-IP, reip.c): the disk's bytes, where its Linux file systems are, and files of an
 * ext2/3/4 file system read and written with libext2fs.
 *
 *   guest-disk.c     the bytes: a raw file or block device, a monolithicFlat VMDK's extent,
 *                    or a monolithicSparse VMDK edited in place (image/vmdk-inplace.c)
 *   guest-part.c     where file systems may be: the whole disk, MBR primary and logical
 *                    partitions, GPT partitions of the Linux types
 *   guest-fs.c       libext2fs through an io_manager over the disk at the partition's
 *                    offset: read, list and rewrite files; never a mount
 *   guest-journal.c  replays the ext3/4 journal a crash left (every point of a running VM
 *                    has one) before anything is read, as the guest's kernel would
 *
 * Errors are -errno with a one-line reason in err (what, which file or partition); nothing
 * here logs. One thread per disk. */
#ifndef FERRY_GUEST_H
#define FERRY_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/reip.h"

/* ---- guest-disk.c ---- */

struct guest_disk;

/* Open image read-write: REIP_IMAGE_RAW a file or block device; REIP_IMAGE_VMDK a
 * monolithicSparse VMDK or a descriptor of a monolithicFlat one. */
int guest_disk_open(const char *image, enum reip_image kind, struct guest_disk **out,
		    char *err, size_t errlen);
uint64_t guest_disk_size(const struct guest_disk *d);
/* "raw", "monolithicSparse VMDK", "monolithicFlat VMDK" */
const char *guest_disk_kind(const struct guest_disk *d);
/* Exactly len bytes at off (inside the disk, else -EINVAL). 0 or -errno. */
int guest_disk_read(struct guest_disk *d, void *buf, size_t len, uint64_t off);
int guest_disk_write(struct guest_disk *d, const void *buf, size_t len, uint64_t off);
int guest_disk_flush(struct guest_disk *d);
/* Flush and close; the first error. NULL is fine. */
int guest_disk_close(struct guest_disk *d);

/* ---- guest-part.c ---- */

#define GUEST_MAX_PARTS 32

struct guest_part {
	uint64_t offset, size;	/* bytes */
	char name[32];		/* "the whole disk", "MBR partition 1", "GPT partition 2" */
};

/* The places that may hold a Linux file system, in disk order (the whole disk first when
 * it has an ext superblock itself). notes gets what was seen and skipped (LVM, other
 * types), for an error message when nothing fits. 0 (possibly *n == 0) or -errno. */
int guest_parts(struct guest_disk *d, struct guest_part *out, size_t *n, char *notes,
		size_t noteslen);

/* ---- guest-fs.c ---- */

struct guest_fs;

/* Open the ext2/3/4 file system at p read-write, replaying its journal first if the
 * guest crashed (*replayed: the number of transactions). -EUCLEAN: no ext file system
 * there; -ENOTSUP: features libext2fs does not write, an external journal; -EBADMSG: a
 * corrupt superblock or journal. */
int guest_fs_open(struct guest_disk *d, const struct guest_part *p, struct guest_fs **out,
		  unsigned *replayed, char *err, size_t errlen);
/* A regular file's content (symlinks followed inside the guest; at most max bytes, else
 * -EFBIG): *data malloc'd. -ENOENT, -EISDIR, -errno. */
int guest_fs_read(struct guest_fs *fs, const char *path, size_t max, char **data, size_t *len,
		  char *err, size_t errlen);
/* Replace the content of an existing regular file (symlinks followed), keeping its inode,
 * owner and mode; mtime and ctime become now. */
int guest_fs_write(struct guest_fs *fs, const char *path, const void *data, size_t len,
		   char *err, size_t errlen);
/* The names in directory dir (not . or ..), sorted; -ENOENT when there is no such
 * directory. *names malloc'd (each name too). */
int guest_fs_list(struct guest_fs *fs, const char *dir, char ***names, size_t *n);
/* Is path (symlinks followed) a directory / anything? */
bool guest_fs_is_dir(struct guest_fs *fs, const char *path);
bool guest_fs_exists(struct guest_fs *fs, const char *path);
/* Write everything out and close. The first error (with its reason in err), or 0. */
int guest_fs_close(struct guest_fs *fs, char *err, size_t errlen);

/* ---- guest-journal.c (used by guest_fs_open) ---- */

struct struct_ext2_filsys;
/* Replay the journal of fs (opened read-only) if it needs recovery, writing through d at
 * the file system's offset fs_off: the committed transactions whose blocks all verify,
 * revoked blocks left out, then the journal marked empty. *replayed: transactions
 * replayed. The caller reopens fs afterwards (its in-memory metadata is stale) and clears
 * the needs_recovery flag. -ENOTSUP: an external journal, fast commits or unknown journal
 * features; -EBADMSG: a corrupt journal superblock. */
int guest_journal_replay(struct struct_ext2_filsys *fs, struct guest_disk *d, uint64_t fs_off,
			 unsigned *replayed, char *err, size_t errlen);

#endif
