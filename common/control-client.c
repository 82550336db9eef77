/* ferryd's control-socket client (contract in control-client.h). */
#include "common/control-client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/banned.h"

static int connect_to(const char *path, unsigned timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = timeout_s };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* the whole buffer, without SIGPIPE if the server went away (-EPIPE instead) */
static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		p += k, n -= (size_t)k;
	}
	return 0;
}

const char *control_strerror(int r)
{
	switch (r) {
	case -ENAMETOOLONG: return "socket path too long (at most 107 bytes)";
	case -ENOENT:
	case -ECONNREFUSED: return "nothing listens there (is ferryd running?)";
	case -ETIMEDOUT: return "no answer (timed out)";
	case -EPROTO: return "ferryd closed the connection without answering";
	case -EMSGSIZE: return "the answer is too large";
	default: return strerror(-r);
	}
}

int control_request(const char *path, const char *request, unsigned timeout_s, size_t max,
		    char **answer)
{
	*answer = NULL;
	if (strchr(request, '\n'))
		return -EINVAL;
	int fd = connect_to(path, timeout_s);
	if (fd < 0)
		return fd;
	size_t rn = strlen(request);
	char *buf = malloc(rn + 1 > max + 1 ? rn + 1 : max + 1);
	int r = buf ? 0 : -ENOMEM;
	if (r == 0) {
		memcpy(buf, request, rn);
		buf[rn] = '\n';
		r = send_all(fd, buf, rn + 1);
	}
	size_t got = 0;
	while (r == 0) {
		if (got == max) {
			r = -EMSGSIZE;
			break;
		}
		ssize_t k = read(fd, buf + got, max - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		else if (k == 0)
			break;
		else
			got += (size_t)k;
	}
	close(fd);
	if (r == 0 && got == 0)
		r = -EPROTO;
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*answer = buf;
	return 0;
}
