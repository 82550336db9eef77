/* The client side of ferryd's control socket (the protocol: docs/man/ferryd.8, "CONTROL
 * SOCKET"): one request line per connection, the answer is everything the server writes
 * before it closes the connection. The one client of it: ferryctl status, point and trap
 * test, ferry-agent (a planned failover's final point and ship-stop, plan validate's
 * reachability check) and ferry-subagent (status json).
 *
 * Errors are -errno: -ENAMETOOLONG (the path does not fit a unix socket address; never
 * truncated), -ENOENT / -ECONNREFUSED (no ferryd there), -ETIMEDOUT (no complete answer
 * within the timeout), -EMSGSIZE (the answer is larger than max), -EPROTO (the server
 * closed without a word). */
#ifndef FERRY_CONTROL_CLIENT_H
#define FERRY_CONTROL_CLIENT_H

#include <stddef.h>

/* Send request (one line, no '\n' in it) to the socket at path and read the whole answer
 * into *answer (malloc'd, NUL-terminated, at most max bytes), waiting at most timeout_s
 * seconds for each send and receive. 0 or -errno. */
int control_request(const char *path, const char *request, unsigned timeout_s, size_t max,
		    char **answer);
/* A control_request() failure as words for a message after the socket's path, e.g.
 * "nothing listens there (is ferryd running?)". */
const char *control_strerror(int r);

#endif
