/* ferry-agent's JSON API (docs/api.md), free of any transport: a request struct in, a
 * response struct out. agent/http.c serves it with libmicrohttpd on a unix socket and
 * TCP; TLS, tokens and the web wizard come later on the same handlers (the transport
 * fills in the caller's role).
 *
 * Bad requests get a 4xx status and a JSON body {"error": "...", ...}; a refused action
 * also names the domain's state ({"state": "FailedOver"}); a bad plan lists every
 * problem ({"problems": [...]}). */
#ifndef FERRY_AGENT_API_H
#define FERRY_AGENT_API_H

#include <stddef.h>

#include <jansson.h>

struct agent;

#define API_MAX_BODY (4u << 20)

enum api_role {
	API_VIEWER = 0,		/* may read */
	API_OPERATOR = 1,	/* may also start, complete and stop operations */
};

struct api_arg {
	const char *key, *value;
};

struct api_req {
	const char *method;		/* "GET", "POST", "PUT", ... */
	const char *path;		/* "/v1/domains/dom", without the query */
	const struct api_arg *args;	/* query arguments */
	size_t n_args;
	const char *body;		/* may be NULL when body_len is 0 */
	size_t body_len;
	enum api_role role;
};

struct api_resp {
	unsigned status;		/* HTTP status */
	json_t *body;			/* owned by the response; never NULL after api_handle */
};

/* ---- request bodies (pure: fuzzed) ---- */

/* A parsed body: the members a request takes, pointing into root (keep it until done). */
struct api_body {
	json_t *root;
	const char *plan;		/* validate, plan */
	const char *mode;		/* validate (optional), failover */
	const char *point;		/* failover, complete (optional) */
	const char **plans;		/* failover */
	size_t n_plans;
};

enum api_body_kind { BODY_VALIDATE, BODY_PLAN, BODY_FAILOVER, BODY_COMPLETE, BODY_TEST_STOP };

/* Parse a request body of kind k: a JSON object with exactly the members the request
 * takes, of the right types (an empty body is {} for complete and test-stop). 0, or the
 * HTTP status of the error (400, 413) with the reason in err. */
unsigned api_body_parse(enum api_body_kind k, const char *body, size_t len, struct api_body *b,
			char *err, size_t errlen);
void api_body_release(struct api_body *b);

/* Answer one request. Never fails: errors are responses. */
void api_handle(struct agent *a, const struct api_req *q, struct api_resp *r);
void api_resp_release(struct api_resp *r);

#endif
