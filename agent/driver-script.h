/* The script driver's pure half, for unit tests and the fuzz target: what an operator's
 * command prints, and what it is given. The contract is docs/drivers.md. */
#ifndef FERRY_DRIVER_SCRIPT_H
#define FERRY_DRIVER_SCRIPT_H

#include <stddef.h>

#include "agent/driver.h"

/* Exit codes of an operator's command (docs/drivers.md). */
enum script_exit {
	SCRIPT_OK = 0,
	SCRIPT_FAILED = 1,
	SCRIPT_UNSUPPORTED = 2,	/* action unknown to it, or bad arguments */
	SCRIPT_NOT_FOUND = 3,	/* no such VM or network */
	SCRIPT_TIMED_OUT = 4,	/* stop: still running after the timeout */
	SCRIPT_EXISTS = 5,	/* start, network-create: a conflicting one exists */
	SCRIPT_REFUSED = 6,	/* remove, network-remove: not ferry's, left alone */
	SCRIPT_NET_DOWN = 7,	/* network-exists: defined but not started */
};

#define SCRIPT_MAX_REPLY 65536

struct script_reply {
	int state;		/* enum drv_power, or -1: the reply names none */
	char error[256];	/* "error" (control characters replaced), or "" */
};

/* Parse what the command printed on stdout: nothing (only white space), or one JSON
 * object with optional "state" ("running" | "off" | "absent" | "other") and "error" (a
 * string); other members are ignored. 0, or -EBADMSG with the reason in err. Pure. */
int script_reply_parse(const char *buf, size_t len, struct script_reply *r, char *err,
		       size_t errlen);

/* The VM as the JSON object a `start` command reads on stdin (malloc'd), or NULL
 * without memory. */
char *script_vm_json(const struct drv_vm *vm);
/* The VM as FERRY_VM_* environment strings ("NAME=VALUE"), NULL-terminated, each and the
 * array malloc'd (script_env_free). NULL without memory. */
char **script_vm_env(const struct drv_vm *vm);
void script_env_free(char **env);

#endif
