/* The agent's API over HTTP/1.1 (libmicrohttpd): a unix socket (mode 0600) and, when
 * configured, a TCP address. Requests go to api_handle (agent/api.h). */
#ifndef FERRY_AGENT_HTTP_H
#define FERRY_AGENT_HTTP_H

#include <stddef.h>

struct agent;
struct http_server;

/* Listen on unix_path (replacing a stale socket file) and on tcp ("host:port"; NULL:
 * none). 0, or -errno with the reason in err. */
int http_start(struct agent *a, const char *unix_path, const char *tcp, struct http_server **out,
	       char *err, size_t errlen);
/* Stop answering, wait for the requests in flight, remove the socket file. */
void http_stop(struct http_server *s);

#endif
