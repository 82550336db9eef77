/* One primary, one server: ferryd takes an OFD write lock on the whole of every primary it
 * serves (file or block device), so a second ferryd that names the same disk (its own log,
 * its own socket) is refused instead of serving it beside the first, each capturing only
 * its own clients' writes. Two disks of one configuration that are the same file (the same
 * path twice, a hard link, a symlink) are caught by comparing their identity, since a
 * process never conflicts with its own locks.
 *
 * OFD locks belong to the open file description, not the process: they survive the other
 * descriptors of the same file being closed (a POSIX record lock would be dropped by any
 * close of the file in the process) and go away with ferryd, even on kill -9. The kernel
 * does not say who holds a conflicting OFD lock (l_pid is -1), so the refusal names the
 * other ferryd by looking for processes that have the same file open (/proc/PID/fd), with
 * their command line. */
#include "datapath/server.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/banned.h"

static bool same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) || S_ISBLK(b->st_mode))
		return S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode) && a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* "pid N: CMDLINE" of process pid into out. */
static void describe_pid(const char *pid, char *out, size_t outlen)
{
	char path[300], cmd[256] = "";
	snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		cmd[n] = 0;
		for (ssize_t i = 0; i < n; i++)	/* arguments are NUL-separated */
			if (!cmd[i] || !isprint((unsigned char)cmd[i]))
				cmd[i] = ' ';
		while (n > 0 && cmd[n - 1] == ' ')
			cmd[--n] = 0;
	}
	snprintf(out, outlen, "pid %s: %s", pid, n > 0 ? cmd : "?");
}

/* Does process pid have a descriptor of the file st open? */
static bool pid_has_open(const char *pid, const struct stat *st)
{
	char dir[300], path[600];
	struct stat fst;
	snprintf(dir, sizeof dir, "/proc/%s/fd", pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		found = stat(path, &fst) == 0 && same_file(&fst, st);
	}
	closedir(d);
	return found;
}

/* Name the other holder of the primary st: a ferryd that has it open (preferred), else any
 * process that has it open, else "another process". */
static void find_holder(const struct stat *st, char *out, size_t outlen)
{
	char self[32], any[320] = "";
	snprintf(self, sizeof self, "%d", (int)getpid());
	snprintf(out, outlen, "another process");
	DIR *proc = opendir("/proc");
	if (!proc)
		return;
	struct dirent *e;
	while ((e = readdir(proc))) {
		if (!isdigit((unsigned char)e->d_name[0]) || !strcmp(e->d_name, self) ||
		    !pid_has_open(e->d_name, st))
			continue;
		char desc[320];
		describe_pid(e->d_name, desc, sizeof desc);
		if (strstr(desc, "ferryd")) {
			snprintf(out, outlen, "%s", desc);
			closedir(proc);
			return;
		}
		if (!any[0])
			snprintf(any, sizeof any, "%s", desc);
	}
	closedir(proc);
	if (any[0])
		snprintf(out, outlen, "%s", any);
}

int disk_lock(struct server *srv, struct disk *d)
{
	struct stat st;
	if (fstat(d->fd, &st) < 0) {
		log_error("disk %s: fstat %s: %m", d->name, d->path);
		return -1;
	}
	for (size_t i = 0; i < srv->n_disks; i++) {
		const struct disk *o = &srv->disks[i];
		struct stat ost;
		if (o != d && o->fd >= 0 && fstat(o->fd, &ost) == 0 && same_file(&ost, &st)) {
			log_error("%s: disk %s (domain %s, %s) and disk %s (domain %s, %s) are the same "
				  "primary: a disk can be protected only once", srv->cfg->file, d->name,
				  d->domain, d->path, o->name, o->domain, o->path);
			return -1;
		}
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	if (fcntl(d->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES) {
		log_error("disk %s: locking %s: %m", d->name, d->path);
		return -1;
	}
	char holder[320];
	find_holder(&st, holder, sizeof holder);
	log_error("disk %s (domain %s in %s): %s is already served by %s; a disk can be "
		  "protected by one ferryd only", d->name, d->domain, srv->cfg->file, d->path,
		  holder);
	return -1;
}
