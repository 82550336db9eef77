/* Files of a guest's ext2/3/4 file system, read and rewritten with libext2fs, never
 * mounted (contract in guest.h).
 *
 * libext2fs does its I/O through an io_manager; ours maps its block reads and writes to
 * the guest disk (raw, flat or sparse VMDK) at the partition's offset, bounded by the
 * partition. libext2fs opens a channel by name only, so the disk is handed to the
 * manager's open() through a thread-local pointer set just around ext2fs_open2(), which
 * calls open() on the same thread.
 *
 * Opening: read-only first; if the guest crashed with a journal to replay, it is replayed
 * (guest-journal.c) and the file system opened again, so no stale metadata from before the
 * replay is ever written back; then read-write with its bitmaps, and needs_recovery
 * cleared. libext2fs keeps checksums, counts and bitmaps right, so `e2fsck -fn` passes
 * after our writes. */
#include "agent/guest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ext2fs/ext2fs.h>

#include "common/util.h"
#include "common/banned.h"

#define MAX_DIR_NAMES 4096

struct gio {
	struct guest_disk *d;
	uint64_t off, size;	/* the file system's place on the disk */
	struct struct_io_stats stats;
};

struct guest_fs {
	ext2_filsys fs;
	struct gio io;
	char part[32];
};

static __thread struct gio *gio_opening;	/* see the note at the top */

/* ---- the io_manager ---- */

static errcode_t gio_open(const char *name, int flags, io_channel *channel);

static errcode_t gio_close(io_channel c)
{
	if (--c->refcount > 0)
		return 0;
	free(c->name);
	free(c);
	return 0;
}

static errcode_t gio_set_blksize(io_channel c, int blksize)
{
	c->block_size = blksize;
	return 0;
}

static errcode_t gio_code(int rc)
{
	return rc == -EINVAL ? EXT2_ET_LLSEEK_FAILED : rc < 0 ? (errcode_t)-rc : 0;
}

static errcode_t gio_rw(io_channel c, unsigned long long block, int count, void *data,
			bool write)
{
	struct gio *g = c->private_data;
	uint64_t len = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * c->block_size;
	uint64_t off = block * (uint64_t)c->block_size;
	if (off > g->size || len > g->size - off)
		return write ? EXT2_ET_SHORT_WRITE : EXT2_ET_SHORT_READ;
	int rc = write ? guest_disk_write(g->d, data, len, g->off + off) :
			 guest_disk_read(g->d, data, len, g->off + off);
	if (rc == 0) {
		if (write)
			g->stats.bytes_written += len;
		else
			g->stats.bytes_read += len;
	}
	return gio_code(rc);
}

static errcode_t gio_read64(io_channel c, unsigned long long block, int count, void *data)
{
	return gio_rw(c, block, count, data, false);
}

static errcode_t gio_write64(io_channel c, unsigned long long block, int count,
			     const void *data)
{
	return gio_rw(c, block, count, (void *)(uintptr_t)data, true);
}

static errcode_t gio_read(io_channel c, unsigned long block, int count, void *data)
{
	return gio_read64(c, block, count, data);
}

static errcode_t gio_write(io_channel c, unsigned long block, int count, const void *data)
{
	return gio_write64(c, block, count, data);
}

static errcode_t gio_write_byte(io_channel c, unsigned long offset, int size, const void *data)
{
	struct gio *g = c->private_data;
	if (size < 0 || offset > g->size || (uint64_t)size > g->size - offset)
		return EXT2_ET_SHORT_WRITE;
	return gio_code(guest_disk_write(g->d, data, (size_t)size, g->off + offset));
}

static errcode_t gio_flush(io_channel c)
{
	struct gio *g = c->private_data;
	return gio_code(guest_disk_flush(g->d));
}

static errcode_t gio_set_option(io_channel c, const char *option, const char *arg)
{
	(void)c;
	(void)option;
	(void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t gio_get_stats(io_channel c, io_stats *stats)
{
	struct gio *g = c->private_data;
	g->stats.num_fields = 2;
	*stats = &g->stats;
	return 0;
}

static struct struct_io_manager gio_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "ferry guest disk",
	.open = gio_open,
	.close = gio_close,
	.set_blksize = gio_set_blksize,
	.read_blk = gio_read,
	.write_blk = gio_write,
	.flush = gio_flush,
	.write_byte = gio_write_byte,
	.set_option = gio_set_option,
	.get_stats = gio_get_stats,
	.read_blk64 = gio_read64,
	.write_blk64 = gio_write64,
};

static errcode_t gio_open(const char *name, int flags, io_channel *channel)
{
	(void)flags;
	if (!gio_opening)
		return EXT2_ET_BAD_DEVICE_NAME;
	io_channel c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(name))) {
		free(c);
		return EXT2_ET_NO_MEMORY;
	}
	c->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	c->manager = &gio_manager;
	c->block_size = 1024;
	c->refcount = 1;
	c->private_data = gio_opening;
	*channel = c;
	return 0;
}

/* ---- opening ---- */

/* err = the formatted text and libext2fs's words for code; the -errno for code */
__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, errcode_t code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, " (%s)", error_message(code));
	if (code == EXT2_ET_BAD_MAGIC || code == EXT2_ET_SB_CSUM_INVALID ||
	    code == EXT2_ET_CORRUPT_SUPERBLOCK)
		return code == EXT2_ET_BAD_MAGIC ? -EUCLEAN : -EBADMSG;
	if (code == EXT2_ET_UNSUPP_FEATURE || code == EXT2_ET_RO_UNSUPP_FEATURE)
		return -ENOTSUP;
	if (code == EXT2_ET_NO_MEMORY)
		return -ENOMEM;
	return code > 0 && code < 4096 ? -(int)code : -EIO;
}

static errcode_t open_fs(struct guest_fs *g, int flags)
{
	gio_opening = &g->io;
	errcode_t e = ext2fs_open2(g->part, NULL, flags | EXT2_FLAG_64BITS, 0, 0, &gio_manager,
				   &g->fs);
	gio_opening = NULL;
	return e;
}

int guest_fs_open(struct guest_disk *d, const struct guest_part *p, struct guest_fs **out,
		  unsigned *replayed, char *err, size_t errlen)
{
	struct guest_fs *g = calloc(1, sizeof(*g));
	errcode_t e;
	int rc = 0;
	*out = NULL;
	*replayed = 0;
	if (!g)
		return -ENOMEM;
	g->io = (struct gio){ .d = d, .off = p->offset, .size = p->size };
	snprintf(g->part, sizeof(g->part), "%s", p->name);
	if ((e = open_fs(g, 0))) {
		rc = fail(err, errlen, e, "%s: no readable ext2/3/4 file system", p->name);
		goto out;
	}
	bool recover = ext2fs_has_feature_journal_needs_recovery(g->fs->super);
	if (recover)
		rc = guest_journal_replay(g->fs, d, p->offset, replayed, err, errlen);
	ext2fs_close_free(&g->fs);		/* read-only: writes nothing */
	if (rc == 0 && (e = open_fs(g, EXT2_FLAG_RW)))
		rc = fail(err, errlen, e, "%s: cannot open the file system for writing",
			  p->name);
	if (rc == 0 && (e = ext2fs_read_bitmaps(g->fs)))
		rc = fail(err, errlen, e, "%s: cannot read the block and inode bitmaps",
			  p->name);
	if (rc == 0 && recover) {
		ext2fs_clear_feature_journal_needs_recovery(g->fs->super);
		ext2fs_mark_super_dirty(g->fs);
	}
out:
	if (rc < 0) {
		if (g->fs)
			ext2fs_close_free(&g->fs);
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

int guest_fs_close(struct guest_fs *g, char *err, size_t errlen)
{
	if (!g)
		return 0;
	errcode_t e = ext2fs_close_free(&g->fs);
	int rc = e ? fail(err, errlen, e, "%s: writing the file system out failed", g->part)
		   : 0;
	free(g);
	return rc;
}

/* ---- files ---- */

static errcode_t lookup(struct guest_fs *g, const char *path, ext2_ino_t *ino,
			struct ext2_inode *inode)
{
	errcode_t e = ext2fs_namei_follow(g->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
	if (e == 0)
		e = ext2fs_read_inode(g->fs, *ino, inode);
	return e;
}

static int lookup_file(struct guest_fs *g, const char *path, ext2_ino_t *ino,
		       struct ext2_inode *inode, char *err, size_t errlen)
{
	errcode_t e = lookup(g, path, ino, inode);
	if (e == EXT2_ET_FILE_NOT_FOUND || e == EXT2_ET_NO_DIRECTORY) {
		snprintf(err, errlen, "%s: no such file", path);
		return -ENOENT;
	}
	if (e)
		return fail(err, errlen, e, "%s", path);
	if (!LINUX_S_ISREG(inode->i_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return LINUX_S_ISDIR(inode->i_mode) ? -EISDIR : -EINVAL;
	}
	return 0;
}

int guest_fs_read(struct guest_fs *g, const char *path, size_t max, char **data, size_t *len,
		  char *err, size_t errlen)
{
	ext2_ino_t ino;
	struct ext2_inode inode;
	ext2_file_t f = NULL;
	__u64 size;
	unsigned got = 0;
	*data = NULL;
	*len = 0;
	int rc = lookup_file(g, path, &ino, &inode, err, errlen);
	if (rc < 0)
		return rc;
	size = EXT2_I_SIZE(&inode);
	if (size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		return -EFBIG;
	}
	char *buf = malloc(size + 1);
	errcode_t e = buf ? ext2fs_file_open(g->fs, ino, 0, &f) : EXT2_ET_NO_MEMORY;
	if (e == 0)
		e = ext2fs_file_read(f, buf, (unsigned)size, &got);
	if (f)
		ext2fs_file_close(f);
	if (e == 0 && got != size)
		e = EXT2_ET_SHORT_READ;
	if (e) {
		free(buf);
		return fail(err, errlen, e, "%s: cannot read it", path);
	}
	buf[size] = '\0';
	*data = buf;
	*len = (size_t)size;
	return 0;
}

int guest_fs_write(struct guest_fs *g, const char *path, const void *data, size_t len,
		   char *err, size_t errlen)
{
	ext2_ino_t ino;
	struct ext2_inode inode;
	ext2_file_t f = NULL;
	unsigned done = 0;
	int rc = lookup_file(g, path, &ino, &inode, err, errlen);
	if (rc < 0)
		return rc;
	if (len > UINT32_MAX) {
		snprintf(err, errlen, "%s: too large", path);
		return -EFBIG;
	}
	errcode_t e = ext2fs_file_open(g->fs, ino, EXT2_FILE_WRITE, &f);
	if (e == 0)
		e = ext2fs_file_write(f, data, (unsigned)len, &done);
	if (e == 0 && done != len)
		e = EXT2_ET_SHORT_WRITE;
	if (e == 0)
		e = ext2fs_file_set_size2(f, len);
	if (f) {
		errcode_t c = ext2fs_file_close(f);
		e = e ? e : c;
	}
	if (e == 0 && (e = ext2fs_read_inode(g->fs, ino, &inode)) == 0) {
		inode.i_mtime = inode.i_ctime = (__u32)time(NULL);
		e = ext2fs_write_inode(g->fs, ino, &inode);
	}
	if (e)
		return fail(err, errlen, e, "%s: cannot write it", path);
	return 0;
}

bool guest_fs_exists(struct guest_fs *g, const char *path)
{
	ext2_ino_t ino;
	struct ext2_inode inode;
	return lookup(g, path, &ino, &inode) == 0;
}

bool guest_fs_is_dir(struct guest_fs *g, const char *path)
{
	ext2_ino_t ino;
	struct ext2_inode inode;
	return lookup(g, path, &ino, &inode) == 0 && LINUX_S_ISDIR(inode.i_mode);
}

struct names {
	char **v;
	size_t n;
	int err;
};

static int add_name(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
		    int blocksize, char *buf, void *priv)
{
	struct names *nm = priv;
	int l = ext2fs_dirent_name_len(de);
	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	if ((l == 1 && de->name[0] == '.') || (l == 2 && !memcmp(de->name, "..", 2)))
		return 0;
	if (nm->n == MAX_DIR_NAMES) {
		nm->err = -E2BIG;
		return DIRENT_ABORT;
	}
	if (!(nm->v[nm->n] = strndup(de->name, (size_t)l))) {
		nm->err = -ENOMEM;
		return DIRENT_ABORT;
	}
	nm->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int guest_fs_list(struct guest_fs *g, const char *dir, char ***names, size_t *n)
{
	ext2_ino_t ino;
	struct ext2_inode inode;
	struct names nm = { calloc(MAX_DIR_NAMES, sizeof(char *)), 0, 0 };
	*names = NULL;
	*n = 0;
	if (!nm.v)
		return -ENOMEM;
	errcode_t e = lookup(g, dir, &ino, &inode);
	if (e == 0 && !LINUX_S_ISDIR(inode.i_mode))
		e = EXT2_ET_NO_DIRECTORY;
	if (e == 0)
		e = ext2fs_dir_iterate2(g->fs, ino, 0, NULL, add_name, &nm);
	int rc = nm.err ? nm.err : e == EXT2_ET_FILE_NOT_FOUND || e == EXT2_ET_NO_DIRECTORY ?
		 -ENOENT : e ? -EIO : 0;
	if (rc < 0) {
		for (size_t i = 0; i < nm.n; i++)
			free(nm.v[i]);
		free(nm.v);
		return rc;
	}
	qsort(nm.v, nm.n, sizeof(*nm.v), cmp_name);
	*names = nm.v;
	*n = nm.n;
	return 0;
}
