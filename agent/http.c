/* The API over HTTP (agent/http.h) with libmicrohttpd: one daemon per listening socket
 * (the unix socket, and TCP when configured), a thread per connection (an operation's
 * start may take seconds of store and hypervisor checks; a status poll must not wait for
 * it). The agent creates, binds and listens on the sockets itself and hands them over
 * (MHD_OPTION_LISTEN_SOCKET), so a unix socket works exactly like TCP.
 *
 * All this file does is transport: collect the body (capped), gather the query
 * arguments, call api_handle, send the JSON it returns. */
#include "agent/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agent/api.h"
#include "common/dbuf.h"
#include "common/util.h"
#include "common/banned.h"

#define MAX_ARGS 16
#define CONN_LIMIT 64
#define CONN_TIMEOUT_S 120

struct http_server {
	struct agent *a;
	struct MHD_Daemon *d[2];
	char *unix_path;
};

struct conn {
	struct dbuf body;
	bool too_large;
};

struct args {
	struct api_arg v[MAX_ARGS];
	size_t n;
	bool too_many;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	(void)kind;
	struct args *a = cls;
	if (a->n == MAX_ARGS) {
		a->too_many = true;
		return MHD_NO;
	}
	a->v[a->n++] = (struct api_arg){ key, value };
	return MHD_YES;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text)
		text = strdup("{\"error\":\"out of memory\",\"status\":500}");
	if (!text)
		return MHD_NO;
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);	/* a newline: friendlier to curl and shells */
	if (line) {
		text = line;
		text[n++] = '\n';
		text[n] = 0;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	const char *allow = json_string_value(json_object_get(body, "allow"));
	if (status == 405 && allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct http_server *s = cls;
	struct conn *cn = *con_cls;
	if (!cn) {		/* headers only: set up the body */
		if (!(cn = calloc(1, sizeof(*cn))))
			return MHD_NO;
		cn->body = (struct dbuf)DBUF_INIT(API_MAX_BODY);
		*con_cls = cn;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!cn->too_large && dbuf_add(&cn->body, upload_data, *upload_size) < 0)
			cn->too_large = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (cn->too_large) {
		json_t *e = json_pack("{sssi}", "error", "request body too large", "status", 413);
		enum MHD_Result ret = send_json(c, 413, e);
		json_decref(e);
		return ret;
	}
	struct args args = { .n = 0 };
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
	struct api_resp resp = { 0 };
	if (args.too_many) {
		resp.status = 400;
		resp.body = json_pack("{sssi}", "error", "too many query arguments", "status", 400);
	} else {
		struct api_req q = {
			.method = method, .path = url, .args = args.v, .n_args = args.n,
			.body = (const char *)cn->body.data, .body_len = cn->body.len,
			.role = API_OPERATOR,	/* the unix socket is root's (0600); TLS and
						 * tokens will give roles over TCP */
		};
		api_handle(s->a, &q, &resp);
	}
	enum MHD_Result ret = send_json(c, resp.status, resp.body);
	api_resp_release(&resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct conn *cn = *con_cls;
	if (cn) {
		dbuf_release(&cn->body);
		free(cn);
	}
	*con_cls = NULL;
}

static int listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(path);	/* a socket left by a crash */
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

static int listen_tcp(const char *hostport, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		snprintf(err, errlen, "bad listen address '%s'", hostport);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	if (host[0] == '[') {	/* [v6] */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = 0;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai;
	int g = getaddrinfo(host, colon + 1, &hints, &ai);
	if (g) {
		snprintf(err, errlen, "listen %s: %s", hostport, gai_strerror(g));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		snprintf(err, errlen, "listen %s: %s", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	freeaddrinfo(ai);
	return rc < 0 ? rc : fd;
}

static struct MHD_Daemon *serve(struct http_server *s, int fd)
{
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				MHD_OPTION_END);
}

int http_start(struct agent *a, const char *unix_path, const char *tcp, struct http_server **out,
	       char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->a = a;
	const char *what[2] = { unix_path, tcp };
	for (int i = 0; i < 2; i++) {
		if (!what[i])
			continue;
		int fd = i == 0 ? listen_unix(what[i], err, errlen) : listen_tcp(what[i], err, errlen);
		if (fd < 0) {
			http_stop(s);
			return fd;
		}
		if (i == 0 && !(s->unix_path = strdup(unix_path))) {
			close(fd);
			http_stop(s);
			return -ENOMEM;
		}
		if (!(s->d[i] = serve(s, fd))) {
			snprintf(err, errlen, "%s: the HTTP server did not start", what[i]);
			close(fd);
			http_stop(s);
			return -EIO;
		}
	}
	*out = s;
	return 0;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < 2; i++)
		if (s->d[i])
			MHD_stop_daemon(s->d[i]);	/* closes the listening socket too */
	if (s->unix_path)
		unlink(s->unix_path);
	free(s->unix_path);
	free(s);
}
