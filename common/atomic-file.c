/* Atomic small files (contract in atomic-file.h). The temporary name is fixed (PATH.tmp),
 * not random: one writer per path is the callers' rule (each holds the lock or the only
 * handle of what the file describes), and a fixed name means a crash's leftover is
 * overwritten by the next write instead of piling up. */
#include "common/atomic-file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

int fsync_parent_dir(const char *path)
{
	CLEANUP_FREE char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int rename_durable(const char *from, const char *to)
{
	if (rename(from, to) < 0)
		return -errno;
	return fsync_parent_dir(to);
}

int atomic_file_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	size_t pn = strlen(path);
	CLEANUP_FREE char *tmp = malloc(pn + sizeof(".tmp"));
	if (!tmp)
		return -ENOMEM;
	memcpy(tmp, path, pn);
	memcpy(tmp + pn, ".tmp", sizeof(".tmp"));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = write_full(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_parent_dir(path);
}
