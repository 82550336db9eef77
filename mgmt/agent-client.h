/* A client of ferry-agent's JSON API (docs/api.md) for ferryctl's failover commands:
 * libcurl (which talks HTTP over a unix socket as well) and jansson. */
#ifndef FERRY_AGENT_CLIENT_H
#define FERRY_AGENT_CLIENT_H

#include <stddef.h>

#include <jansson.h>

struct agent_client;

/* target: "http://HOST:PORT" (or https://), or the path of the agent's unix socket
 * ("unix:" prefix allowed). 0 or -errno with the reason in err. */
int agent_client_open(const char *target, struct agent_client **out, char *err, size_t errlen);
void agent_client_close(struct agent_client *c);
/* The longest one request may take, in seconds (default 600: a failover's requests can be
 * slow; a poller wants a few). */
void agent_client_set_timeout(struct agent_client *c, long seconds);

/* One request: method ("GET", "POST", "PUT"), path ("/v1/..."), body (NULL: none).
 * 0 with the HTTP status in *status and the parsed JSON answer in *resp (the caller's),
 * or -errno when the agent cannot be reached or answers something that is not JSON
 * (err says what). */
int agent_call(struct agent_client *c, const char *method, const char *path, const json_t *body,
	       long *status, json_t **resp, char *err, size_t errlen);

#endif
