/* ferryd control-socket client (common/ctlsock.h). */
#include "common/ctlsock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

int ctlsock_request(const char *path, const char *line, unsigned timeout_s, struct dbuf *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = timeout_s };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int rc = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		rc = -errno;
	if (rc == 0 && (rc = write_full(fd, line, strlen(line))) == 0)
		rc = write_full(fd, "\n", 1);
	size_t before = out->len;
	while (rc == 0) {
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		else if (n == 0)
			break;
		else
			rc = dbuf_add(out, buf, (size_t)n);
	}
	close(fd);
	if (rc == 0 && out->len == before)
		rc = -ENODATA;
	return rc;
}
