/* The client side of ferryd's control socket (datapath/control.c): one request line per
 * connection, the answer until ferryd closes it. Shared by ferryctl status, point and trap. */
#ifndef FERRY_CTL_CONTROL_H
#define FERRY_CTL_CONTROL_H

#include <stdio.h>

/* Connect to the socket at path; reads and writes time out after timeout_s seconds. Return
 * the fd, or -errno (-ENOENT or -ECONNREFUSED: no ferryd there). */
int ctl_control_open(const char *path, unsigned timeout_s);
/* Connect, send `req` (a line without its newline) and return the fd to read the answer
 * from; or print "ferryctl: cannot reach ferryd at PATH: reason (is it running?)" and
 * return -1. */
int ctl_control_request(const char *path, unsigned timeout_s, const char *req);
/* Copy the answer on fd to out until ferryd closes the connection; close fd. Return the
 * number of bytes copied, or -1 on a read error (timeout). */
long ctl_control_copy(int fd, FILE *out);

#endif
