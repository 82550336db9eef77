/* ferry-agent API client (mgmt/agent-client.h). */
#include "mgmt/agent-client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/dbuf.h"
#include "common/banned.h"

#define MAX_ANSWER (64u << 20)

struct agent_client {
	CURL *curl;
	char *base;		/* "http://HOST:PORT" or "http://ferry-agent" over the socket */
	char *socket;		/* or NULL */
	long timeout_s;
};

int agent_client_open(const char *target, struct agent_client **out, char *err, size_t errlen)
{
	struct agent_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	bool url = !strncmp(target, "http://", 7) || !strncmp(target, "https://", 8);
	if (!strncmp(target, "unix:", 5))
		target += 5;
	c->base = strdup(url ? target : "http://ferry-agent");
	c->socket = url ? NULL : strdup(target);
	c->curl = curl_easy_init();
	c->timeout_s = 600;
	if (!c->base || (!url && !c->socket) || !c->curl) {
		snprintf(err, errlen, "out of memory");
		agent_client_close(c);
		return -ENOMEM;
	}
	size_t n = strlen(c->base);
	if (n && c->base[n - 1] == '/')
		c->base[n - 1] = 0;
	*out = c;
	return 0;
}

void agent_client_set_timeout(struct agent_client *c, long seconds)
{
	c->timeout_s = seconds;
}

void agent_client_close(struct agent_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->base);
	free(c->socket);
	free(c);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	return dbuf_add(arg, p, size * n) == 0 ? size * n : 0;
}

int agent_call(struct agent_client *c, const char *method, const char *path, const json_t *body,
	       long *status, json_t **resp, char *err, size_t errlen)
{
	*resp = NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t un = strlen(c->base) + strlen(path) + 1;
	char *url = malloc(un);
	if ((body && !text) || !url) {
		free(text);
		free(url);
		return -ENOMEM;
	}
	snprintf(url, un, "%s%s", c->base, path);
	struct dbuf ans = DBUF_INIT(MAX_ANSWER);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = c->curl;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (c->socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	if (text) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout_s < 10 ? c->timeout_s : 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(h);
	int rc = 0;
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "cannot reach the agent at %s: %s", c->socket ? c->socket : c->base,
			 curl_easy_strerror(cc));
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
		json_error_t je;
		*resp = json_loadb(ans.data ? (const char *)ans.data : "", ans.len, 0, &je);
		if (!*resp) {
			snprintf(err, errlen, "the agent answered %ld with something that is not JSON",
				 *status);
			rc = -EPROTO;
		}
	}
	curl_slist_free_all(hdr);
	dbuf_release(&ans);
	free(url);
	free(text);
	return rc;
}
