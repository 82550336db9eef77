/* A client of ferryd's control socket (datapath/control.c): connect, send one request
 * line, read the whole answer until ferryd closes the connection. Shared by `ferryctl
 * status`, `ferryctl point` and ferry-agent's planned failover. */
#ifndef FERRY_CTLSOCK_H
#define FERRY_CTLSOCK_H

#include "common/dbuf.h"

/* Send `line` (a newline is added) to the unix socket at path and append the answer to
 * out (capped by out->max). timeout_s bounds each wait for ferryd. 0; -errno when the
 * socket cannot be reached (-ENAMETOOLONG, -ECONNREFUSED, -ENOENT...), -ETIMEDOUT, or
 * -ENODATA when ferryd closed without answering. */
int ctlsock_request(const char *path, const char *line, unsigned timeout_s, struct dbuf *out);

#endif
