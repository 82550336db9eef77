/* Readiness checks (agent/check.h). */
#include "agent/check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define SERIAL_SCAN_MAX (8u << 20)	/* of a serial log, from its start */

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int check_tcp_once(uint32_t addr, uint16_t port, unsigned timeout_ms, char *out, size_t n)
{
	uint64_t deadline = now_mono_ns() + (uint64_t)timeout_ms * 1000000;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(out, n, "socket: %s", strerror(errno));
		return 0;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(addr) };
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS
		 ? -errno : 0;
	if (rc == 0 && (rc = wait_fd(fd, POLLOUT, deadline)) == 0) {
		int e = 0;
		socklen_t len = sizeof(e);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
		rc = -e;
	}
	char line[512];
	size_t got = 0;
	while (rc == 0 && got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
		if ((rc = wait_fd(fd, POLLIN, deadline)) < 0)
			break;
		ssize_t k = read(fd, line + got, sizeof(line) - 1 - got);
		if (k == 0)
			rc = -ECONNRESET;
		else if (k < 0 && errno != EAGAIN && errno != EINTR)
			rc = -errno;
		else if (k > 0)
			got += (size_t)k;
	}
	close(fd);
	line[got] = 0;
	line[strcspn(line, "\r\n")] = 0;
	if (rc < 0 && !(got && rc == -ETIMEDOUT)) {
		snprintf(out, n, "%s", rc == -ETIMEDOUT ? "connected, but no line came"
				       : rc == -ECONNRESET ? "closed without a line" : strerror(-rc));
		return 0;
	}
	snprintf(out, n, "%s", line);
	return 1;
}

int check_serial_once(const char *path, const regex_t *re, char *out, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	char *buf = malloc(SERIAL_SCAN_MAX + 1);
	ssize_t len = buf ? read(fd, buf, SERIAL_SCAN_MAX) : -1;
	int e = errno;
	close(fd);
	if (len < 0) {
		free(buf);
		return buf ? -e : -ENOMEM;
	}
	/* drop carriage returns and NULs: a console's line ends are CR LF */
	size_t w = 0;
	for (ssize_t i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != 0)
			buf[w++] = buf[i];
	buf[w] = 0;
	int found = 0;
	for (char *line = buf, *next; line && *line && !found; line = next) {
		next = strchr(line, '\n');
		if (!next)
			break;	/* a line still being written */
		*next++ = 0;
		if (regexec(re, line, 0, NULL, 0) == 0) {
			snprintf(out, n, "%s", line);
			found = 1;
		}
	}
	free(buf);
	return found;
}
