/* Control socket client: see ctl-control.h. */
#include "mgmt/ctl-control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

int ctl_control_open(const char *path, unsigned timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = (time_t)timeout_s };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int ctl_control_request(const char *path, unsigned timeout_s, const char *req)
{
	int fd = ctl_control_open(path, timeout_s);
	if (fd < 0) {
		fprintf(stderr, "ferryctl: cannot reach ferryd at %s: %s (is it running?)\n", path,
			strerror(-fd));
		return -1;
	}
	char line[512];
	int n = snprintf(line, sizeof line, "%s\n", req);
	int r = n < (int)sizeof line ? write_full(fd, line, (size_t)n) : -E2BIG;
	if (r < 0) {
		fprintf(stderr, "ferryctl: control socket %s: %s\n", path, strerror(-r));
		close(fd);
		return -1;
	}
	return fd;
}

long ctl_control_copy(int fd, FILE *out)
{
	char buf[8192];
	long total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		fwrite(buf, 1, (size_t)n, out);
		total += n;
	}
	close(fd);
	fflush(out);
	return n < 0 ? -1 : total;
}
