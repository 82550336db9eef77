/* The local-directory store backend (file:///abs/dir): one regular file per object, at
 * <root>/<key>, with the key's '/' as directory separators.
 *
 * Why it works this way:
 * - Never overwrite, always durable: put() writes a temporary file in the key's directory,
 *   fsyncs it, then renameat2(RENAME_NOREPLACE)s it onto the key (link()+unlink() where the
 *   filesystem lacks RENAME_NOREPLACE) and fsyncs the directory. The rename/link is the
 *   single atomic step that makes the object exist, so a reader sees all of it or nothing,
 *   and two racing puts of one key cannot both win.
 * - Temporary names are ".tmp.<pid>.<tid>.<n>"; the backend reserves every key component
 *   starting with ".tmp." (-EINVAL) so that list() can skip them and a crash's leftover can
 *   never pass for an object. A leftover only costs space; a same-named leftover from a
 *   recycled pid is stepped over (O_EXCL, next n).
 * - Every call resolves paths relative to one directory fd opened at open(); there is no
 *   other state, so all calls are thread-safe with no locks.
 * - open() creates the root directory if it is missing (mkdir -p), unless the caller only
 *   reads (store_opts.read_only): a read-only command never leaves a directory behind.
 * - Missing parent directories are created by put() (mode 0700), each followed by an fsync
 *   of its parent. Known gap: a put that finds a directory that another put has just
 *   created may finish before that creator's fsync of the parent (see docs/store.md).
 * - A key's path can't be both an object and a directory ("a" and "a/b"): the second put
 *   fails (-ENOTDIR or -EISDIR). Repository layouts never do that; S3 would allow it.
 * - Large objects handed in page-aligned memory (packs) are written O_DIRECT, all but an
 *   unaligned tail: they are not read back soon, and the kernel's copy into the page cache
 *   cost 19% of a seed's CPU on the 2-core test machine. Falls back to buffered writes
 *   where the file system refuses direct I/O. FERRY_DISABLE_DIRECT=1 turns it off.
 * - A crash mid-put leaves its temporary file; sweep() (run by prune) removes those old
 *   enough that no put can still be writing them.
 * Ignored: percent-encoding in the URL (the path is taken literally), quotas, and removal
 * of directories left empty by del(). */
#include "repo/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/array.h"
#include "common/util.h"
#include "common/banned.h"

#define TMP_PREFIX ".tmp."
#define TMP_PREFIX_LEN (sizeof(TMP_PREFIX) - 1)
#define TMP_TRIES 1000

struct file_store {
	int dirfd;	/* the root directory, O_RDONLY|O_DIRECTORY */
};

static int root_fd(const struct store *st)
{
	return ((const struct file_store *)st->priv)->dirfd;
}

static int is_tmp_name(const char *name, size_t n)
{
	return n >= TMP_PREFIX_LEN && !memcmp(name, TMP_PREFIX, TMP_PREFIX_LEN);
}

/* store_key_check plus this backend's reserved ".tmp." components. */
static int file_key_check(const char *key)
{
	int r = store_key_check(key);
	if (r)
		return r;
	for (const char *c = key; c; c = strchr(c, '/')) {
		if (*c == '/')
			c++;
		if (is_tmp_name(c, strcspn(c, "/")))
			return -EINVAL;
	}
	return 0;
}

static int fsync_dir_at(int at, const char *path)
{
	int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) ? -errno : 0;
	close(fd);
	return r;
}

/* ---- open / close ---- */

/* mkdir -p of an absolute path, mode 0700, fsyncing the parent of each directory made. */
static int mkdir_p(const char *path)
{
	size_t len = strlen(path);
	CLEANUP_FREE char *p = strdup(path);
	struct stat sb;

	if (!p)
		return -ENOMEM;
	for (size_t i = 1; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (p[i - 1] == '/')
			continue;	/* "//" or a trailing '/' */
		char c = p[i];
		p[i] = '\0';
		if (stat(p, &sb) && errno == ENOENT) {
			if (mkdir(p, 0700) && errno != EEXIST)
				return -errno;
			char *slash = strrchr(p, '/');
			int r;
			if (slash == p) {
				r = fsync_dir_at(AT_FDCWD, "/");
			} else {
				*slash = '\0';
				r = fsync_dir_at(AT_FDCWD, p);
				*slash = '/';
			}
			if (r)
				return r;
		}
		p[i] = c;
	}
	return 0;
}

static int file_open(struct store *st, const char *location)
{
	struct file_store *fs;
	int r;

	if (!location || location[0] != '/')
		return -EINVAL;
	r = st->opts->read_only ? 0 : mkdir_p(location);
	if (r)
		return r;
	fs = malloc(sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->dirfd = open(location, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0) {
		r = -errno;
		free(fs);
		return r;
	}
	st->priv = fs;
	return 0;
}

static void file_close(struct store *st)
{
	struct file_store *fs = st->priv;

	if (!fs)
		return;
	close(fs->dirfd);
	free(fs);
	st->priv = NULL;
}

/* ---- put ---- */

/* Open the directory holding key (its part before the last '/'), creating missing
 * directories when create is set. *base gets the key's last component. Returns an fd. */
static int open_parent(struct store *st, const char *key, int create, const char **base)
{
	char path[STORE_KEY_MAX + 1];
	const char *slash = strrchr(key, '/');
	int fd, r;

	fd = fcntl(root_fd(st), F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*base = slash ? slash + 1 : key;
	if (!slash)
		return fd;
	memcpy(path, key, (size_t)(slash - key));
	path[slash - key] = '\0';

	for (char *comp = path, *next; comp; comp = next) {
		next = strchr(comp, '/');
		if (next)
			*next++ = '\0';
		int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0700) && errno != EEXIST) {
				r = -errno;
				goto err;
			}
			/* made it (or lost a race to another put): its entry must be durable
			 * before anything inside it counts as written */
			if (fsync(fd)) {
				r = -errno;
				goto err;
			}
			sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (sub < 0) {
			r = -errno;
			goto err;
		}
		close(fd);
		fd = sub;
	}
	return fd;
err:
	close(fd);
	return r;
}

/* Create a fresh temporary file in dfd; its name goes to name. Returns an fd. */
static int create_tmp(int dfd, char *name, size_t namelen)
{
	static _Thread_local unsigned int counter;

	for (int i = 0; i < TMP_TRIES; i++) {
		snprintf(name, namelen, TMP_PREFIX "%ld.%ld.%u", (long)getpid(), (long)gettid(),
			 counter++);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Make tmp appear as base, never replacing an existing entry. */
static int publish(int dfd, const char *tmp, const char *base)
{
	if (!renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -errno;
	/* no RENAME_NOREPLACE here: link() fails with EEXIST just as well */
	if (linkat(dfd, tmp, dfd, base, 0))
		return -errno;
	unlinkat(dfd, tmp, 0);
	return 0;
}

#define DIRECT_ALIGN 4096u
#define DIRECT_MIN (1u << 20)	/* smaller objects: not worth a second open */

/* Write data[0..len) to the new, empty temporary file fd (name tmp in dfd): the aligned
 * head O_DIRECT when data is page-aligned and large, everything else buffered. */
static int write_object(int dfd, const char *tmp, int fd, const uint8_t *data, size_t len)
{
	size_t head = len / DIRECT_ALIGN * DIRECT_ALIGN;
	if (len < DIRECT_MIN || (uintptr_t)data % DIRECT_ALIGN || env_flag("FERRY_DISABLE_DIRECT"))
		return pwrite_full(fd, data, len, 0);
	int dio = openat(dfd, tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (dio < 0)
		return pwrite_full(fd, data, len, 0);
	size_t done = 0;
	while (done < head) {
		ssize_t n = pwrite(dio, data + done, head - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (size_t)n % DIRECT_ALIGN)
			break;	/* refused or short: the rest goes buffered */
		done += (size_t)n;
	}
	close(dio);
	return pwrite_full(fd, data + done, len - done, done);
}

static int file_put(struct store *st, const char *key, const void *data, size_t len)
{
	char tmp[64];
	const char *base;
	int dfd, fd, r;
	struct stat sb;

	if (file_key_check(key) || (!data && len))
		return -EINVAL;
	dfd = open_parent(st, key, 1, &base);
	if (dfd < 0)
		return dfd;
	fd = create_tmp(dfd, tmp, sizeof(tmp));
	if (fd < 0) {
		close(dfd);
		return fd;
	}
	r = write_object(dfd, tmp, fd, data, len);
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (!r)
		r = publish(dfd, tmp, base);
	if (r) {
		unlinkat(dfd, tmp, 0);
		if (r == -EEXIST && !fstatat(dfd, base, &sb, 0) && S_ISDIR(sb.st_mode))
			r = -EISDIR;
	} else if (fsync(dfd)) {
		r = -errno;
	}
	close(dfd);
	return r;
}

/* ---- get / get_range / head ---- */

/* Open an object for reading; fills *sb. Not-a-file and missing parents read as -ENOENT. */
static int open_object(struct store *st, const char *key, struct stat *sb)
{
	int fd, r;

	if (file_key_check(key))
		return -EINVAL;
	fd = openat(root_fd(st), key, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (fstat(fd, sb)) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(sb->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

static int file_get(struct store *st, const char *key, void **data, size_t *len)
{
	struct stat sb;
	void *buf;
	int fd, r;

	*data = NULL;
	*len = 0;
	fd = open_object(st, key, &sb);
	if (fd < 0)
		return fd;
	if ((uint64_t)sb.st_size > SIZE_MAX - 1) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	r = pread_full(fd, buf, (size_t)sb.st_size, 0);
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	*data = buf;
	*len = (size_t)sb.st_size;
	return 0;
}

static int file_get_range(struct store *st, const char *key, uint64_t off, size_t len, void *buf)
{
	struct stat sb;
	int fd, r;

	if (!buf && len)
		return -EINVAL;
	fd = open_object(st, key, &sb);
	if (fd < 0)
		return fd;
	if (off > (uint64_t)sb.st_size || len > (uint64_t)sb.st_size - off)
		r = -EINVAL;
	else
		r = pread_full(fd, buf, len, off);
	close(fd);
	return r;
}

static int file_head(struct store *st, const char *key, uint64_t *size)
{
	struct stat sb;

	if (file_key_check(key))
		return -EINVAL;
	if (fstatat(root_fd(st), key, &sb, 0))
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (!S_ISREG(sb.st_mode))
		return -ENOENT;
	*size = (uint64_t)sb.st_size;
	return 0;
}

/* ---- list ---- */

struct list_entry {
	char *key;
	uint64_t size;
};

struct walk {
	const char *prefix;
	size_t plen;
	struct list_entry *v;
	size_t n, cap;
	char path[STORE_KEY_MAX + 2];	/* the directory being walked, "" or "a/b/" */
};

/* A prefix is the start of some well-formed key: key characters and single '/'
 * separators, and no complete component "." or "..". */
static int prefix_check(const char *prefix, size_t plen)
{
	size_t start = 0;

	if (plen > STORE_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < plen; i++) {
		char c = prefix[i];
		if (c != '/') {
			if (!strchr("._-", c) && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
						   (c >= '0' && c <= '9')))
				return -EINVAL;
			continue;
		}
		size_t n = i - start;
		if (n == 0 || (prefix[start] == '.' && (n == 1 || (n == 2 && prefix[start + 1] == '.'))))
			return -EINVAL;
		start = i + 1;
	}
	return 0;
}

static int add_entry(struct walk *w, const char *key, uint64_t size)
{
	struct list_entry e = { .key = strdup(key), .size = size };
	if (!e.key || ARRAY_PUSH(w->v, w->n, w->cap, e) < 0) {
		free(e.key);
		return -ENOMEM;
	}
	return 0;
}

/* Does a path of len bytes agree with the prefix over their common length? */
static int prefix_agrees(const struct walk *w, const char *p, size_t len)
{
	return !memcmp(p, w->prefix, MIN(len, w->plen));
}

/* Walk w->path (of pathlen bytes): objects go to w->v, subdirectories are read after the
 * directory is closed so that only one directory fd is open at any depth. */
static int walk_dir(struct store *st, struct walk *w, size_t pathlen)
{
	char **subdirs = NULL;
	size_t nsub = 0, capsub = 0;
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd, r = 0;

	fd = openat(root_fd(st), pathlen ? w->path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		size_t n = strlen(name);

		/* only names that could be a key component; never temporaries */
		if (pathlen + n + 1 > STORE_KEY_MAX || is_tmp_name(name, n) || prefix_check(name, n) ||
		    !strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		/* prune on "name/": whatever this entry is, it can only match if that agrees */
		memcpy(w->path + pathlen, name, n);
		w->path[pathlen + n] = '/';
		if (!prefix_agrees(w, w->path, pathlen + n + 1))
			continue;
		w->path[pathlen + n] = '\0';
		if (fstatat(dirfd(d), name, &sb, 0)) {
			if (errno == ENOENT)
				continue;	/* deleted while we looked */
			r = -errno;
			break;
		}
		if (S_ISREG(sb.st_mode)) {
			if (pathlen + n >= w->plen && prefix_agrees(w, w->path, pathlen + n) &&
			    (r = add_entry(w, w->path, (uint64_t)sb.st_size)))
				break;
		} else if (S_ISDIR(sb.st_mode) && pathlen + n + 2 <= STORE_KEY_MAX) {
			char *sub = strdup(name);
			if (!sub || ARRAY_PUSH(subdirs, nsub, capsub, sub) < 0) {
				free(sub);
				r = -ENOMEM;
				break;
			}
		}
	}
	if (!r && errno)
		r = -errno;
	closedir(d);

	for (size_t i = 0; i < nsub; i++) {
		size_t n = strlen(subdirs[i]);
		if (!r) {
			memcpy(w->path + pathlen, subdirs[i], n);
			w->path[pathlen + n] = '/';
			w->path[pathlen + n + 1] = '\0';
			r = walk_dir(st, w, pathlen + n + 1);
		}
		free(subdirs[i]);
	}
	free(subdirs);
	w->path[pathlen] = '\0';
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct list_entry *)a)->key, ((const struct list_entry *)b)->key);
}

static int file_list(struct store *st, const char *prefix, store_list_fn *fn, void *arg)
{
	struct walk w = { .prefix = prefix };
	const char *slash;
	size_t start;
	int r;

	if (!prefix || !fn)
		return -EINVAL;
	w.plen = strlen(prefix);
	if (prefix_check(prefix, w.plen))
		return -EINVAL;
	/* start at the prefix's directory part: "packs/a" walks "packs/" */
	slash = strrchr(prefix, '/');
	start = slash ? (size_t)(slash - prefix) + 1 : 0;
	memcpy(w.path, prefix, start);
	w.path[start] = '\0';

	r = walk_dir(st, &w, start);
	if (!r) {
		if (w.n)
			qsort(w.v, w.n, sizeof(*w.v), cmp_entry);
		for (size_t i = 0; i < w.n && !r; i++)
			r = fn(arg, w.v[i].key, w.v[i].size);
	}
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i].key);
	free(w.v);
	return r;
}

/* ---- del ---- */

static int file_del(struct store *st, const char *key)
{
	const char *base;
	int dfd, r = 0;

	if (file_key_check(key))
		return -EINVAL;
	dfd = open_parent(st, key, 0, &base);
	if (dfd < 0)
		return dfd == -ENOTDIR ? -ENOENT : dfd;
	if (unlinkat(dfd, base, 0))
		r = errno == EISDIR ? -ENOENT : -errno;
	else if (fsync(dfd))	/* so a prune's deletions keep their order across a crash */
		r = -errno;
	close(dfd);
	return r;
}

/* ---- sweep: temporary files of puts that never finished ---- */

static int sweep_dir(int dfd, const struct timespec *now, uint64_t min_age_ns,
		     uint64_t *removed, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int r = 0;
	if (!d) {
		close(dfd);
		return -errno;
	}
	while (r == 0 && (e = readdir(d))) {
		struct stat sb;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode) && depth < 32) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				r = sweep_dir(sub, now, min_age_ns, removed, depth + 1);
			continue;
		}
		int64_t age = ((int64_t)now->tv_sec - sb.st_mtim.tv_sec) * 1000000000 +
			      (now->tv_nsec - sb.st_mtim.tv_nsec);
		if (!S_ISREG(sb.st_mode) || !is_tmp_name(e->d_name, strlen(e->d_name)) ||
		    age < 0 || (uint64_t)age < min_age_ns)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			(*removed)++;
		else if (errno != ENOENT)
			r = -errno;
	}
	closedir(d);
	return r;
}

static int file_sweep(struct store *st, uint64_t min_age_ns, uint64_t *removed)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int fd = openat(root_fd(st), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : sweep_dir(fd, &now, min_age_ns, removed, 0);
}

const struct store_ops store_file_ops = {
	.scheme = "file",
	.open = file_open,
	.close = file_close,
	.put = file_put,
	.get = file_get,
	.get_range = file_get_range,
	.head = file_head,
	.list = file_list,
	.del = file_del,
	.sweep = file_sweep,
};
