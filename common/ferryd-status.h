/* ferryd's status as the control socket's "status json" gives it (datapath/control.c),
 * parsed into what ferry-subagent serves as FERRY-MIB's status: per domain its state, newest
 * consistent point, current RPO and target, the log's usage and the store's health, and the
 * notifier's counters. ferry-agent's domains (its API's GET /v1/domains) are merged in:
 * their states are FerryState's recovery-site values. Pure (jansson), fuzzed
 * (tests/fuzz/fuzz-ferryd-status.c). */
#ifndef FERRY_FERRYD_STATUS_H
#define FERRY_FERRYD_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FERRYD_STATUS_MAX_DOMAINS 64

/* FERRY-MIB's FerryState and FerryStoreHealth values */
enum { FS_PROTECTED = 1, FS_OVERFLOW = 2, FS_NOT_SHIPPING = 3, FS_RECOVERY_READY = 4,
       FS_REHYDRATING = 5, FS_FAILING_OVER = 6, FS_FAILED_OVER = 7, FS_TESTING_FAILOVER = 8,
       FS_FAILING_BACK = 9, FS_READY_FOR_FAILBACK = 10, FS_ERROR = 11 };
enum { FS_STORE_OK = 1, FS_STORE_UNREACHABLE = 2, FS_STORE_CREDENTIALS = 3, FS_STORE_FAILING = 4,
       FS_STORE_NONE = 5 };

struct ferryd_domain_status {
	char name[64];
	int state;			/* FS_* */
	char point[48];			/* newest consistent point "EPOCH.SEQ", "" if none */
	int64_t rpo_s;			/* current RPO in seconds, -1 if no consistent point */
	uint32_t rpo_target_s;		/* the domain's rpo */
	int store;			/* FS_STORE_* */
};

struct ferryd_status {
	unsigned log_pct;		/* replication log usage, 0..100 */
	uint64_t sent, acknowledged, dropped, failed;	/* the notifier's, 0 without one */
	size_t n_domains;
	struct ferryd_domain_status domains[FERRYD_STATUS_MAX_DOMAINS];
};

/* Parse len bytes of text. Return 0, or -1 with a reason in err (not JSON, not an object,
 * a field of the wrong type). Unknown fields are ignored; missing optional ones keep their
 * defaults (no store: FS_NOT_SHIPPING and FS_STORE_NONE). Domains past the maximum are
 * ignored. */
int ferryd_status_parse(const char *text, size_t len, struct ferryd_status *out, char *err,
			size_t errlen);

/* Merge ferry-agent's answer to GET /v1/domains ({"domains": [{"domain", "state",
 * "rehydration": {"point", "rpo_s"}}, ...], "store_error"}) into st: a domain st already
 * has (ferryd's, on a host that runs both) takes the agent's state unless that is
 * Protected; another one is added (its point and RPO from its rehydration, or none; no
 * RPO target; the store ok unless the agent could not list it). Entries that are not
 * objects with a known state are skipped. 0, or -1 with a reason (not an object, no
 * "domains" array). */
struct json_t;
int agent_status_merge(const struct json_t *answer, struct ferryd_status *st, char *err,
		       size_t errlen);

#endif
