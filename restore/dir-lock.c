/* One owner per directory: an flock on a lock file in it, which holds the owner's pid so
 * that a second one can name it, and so that a take-over can ask it to stop. The lock
 * goes with the process (closing the fd, or dying, releases it): no stale lock to clean. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "restore/restore-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

static long holder_pid(int fd)
{
	char buf[32] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	return n > 0 ? strtol(buf, NULL, 10) : 0;
}

int dir_lock(const char *dir, const char *name, bool take_over, char *err, size_t errlen)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return err_set(err, errlen, -ENAMETOOLONG, "%s: path too long", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		long pid = holder_pid(fd);
		if (!take_over) {
			close(fd);
			return err_set(err, errlen, -EBUSY, "another rehydrate runs on %s "
				       "(pid %ld)", dir, pid);
		}
		if (pid > 0)
			kill((pid_t)pid, SIGTERM);	/* a follower finishes its point and exits */
		if (flock(fd, LOCK_EX) < 0) {	/* EINTR: the caller was told to stop */
			int rc = -errno;
			close(fd);
			return err_set(err, errlen, rc, "waiting for the rehydrate on %s "
				       "(pid %ld): %s", dir, pid, strerror(-rc));
		}
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int rc = -errno;
		close(fd);
		return err_set(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	return fd;
}
