/* net-snmp glue for the notifier (snmp-notifier.c): the only file besides the AgentX
 * subagent that includes net-snmp's headers. It knows how to set up the library once per
 * process, how to open a session to one receiver (v2c community, or v3 USM authPriv with
 * HMAC-192-SHA-256 and AES-128), how to build a notification PDU with FERRY-MIB's varbinds,
 * and how to send it as a trap or an asynchronous inform. It decides nothing about retries,
 * queues or logging: snmp-notifier.c does.
 *
 * net-snmp is not thread-safe (Debian builds it without --enable-reentrant): every call
 * below must come from one thread at a time, the notifier's.
 *
 * Engine id and boots (SNMPv3): for a trap the sender is the authoritative engine, so the
 * receiver must know the sender's engine id (snmptrapd's `createUser -e ID ...`), and each
 * trap carries engineBoots/engineTime, which must never go backwards for that id. ferry uses
 * a stable engine id ([snmp] engine_id, or one derived from the PEN, the program and the
 * host name) and engineBoots = seconds since 2020-01-01 UTC at start (increases at every
 * start as long as the clock does; no state file to lose), engineTime = seconds since. For
 * an inform the receiver is authoritative: net-snmp discovers its engine id with a probe the
 * first time (synchronously, one inform_timeout at most). */
#ifndef FERRY_SNMP_TARGET_H
#define FERRY_SNMP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/notify.h"

#define SNMP_ENGINE_ID_MAX 32

/* The engine id: from hex ("0x8000..." as [snmp] engine_id takes it) when hex is non-NULL,
 * else 0x80 | FERRY_PEN, format 4 (text), "APP@HOST" cut to fit 32 bytes. Return the length
 * (5..32), or -EINVAL for bad hex. Pure. */
int snmp_engine_id(const char *hex, const char *app, const char *host,
		   uint8_t id[SNMP_ENGINE_ID_MAX]);
/* "0x..." of id into buf (at least 2 * SNMP_ENGINE_ID_MAX + 3 bytes). */
void snmp_engine_id_hex(const uint8_t *id, size_t len, char *buf, size_t buflen);

/* net-snmp's settings for any ferry process, before init_snmp(): no configuration files,
 * no persistent state, no MIB loading, its log lines into ferry's log (warnings and worse as
 * warnings, the rest as debug). ferry-subagent uses it alone. */
void snmp_lib_setup(void);
/* snmp_lib_setup(), init_snmp(app), then our engine id, boots and time. Return 0 or -1
 * with a reason in err. */
int snmp_lib_init(const char *app, const uint8_t *engine_id, size_t engine_id_len,
		  char *err, size_t errlen);
void snmp_lib_shutdown(const char *app);

enum snmp_outcome {
	SNMP_ACKED,		/* the receiver acknowledged the inform */
	SNMP_TIMED_OUT,		/* no answer within the timeout (or the engine id probe failed) */
	SNMP_REFUSED,		/* the receiver answered with a report (wrong user, password,
				 * engine id, time window), or the send failed at once */
};

struct snmp_target;
/* Informs in flight are told apart by a tag (0 .. SNMP_TAGS - 1) that the caller gives to
 * snmp_target_send: a report does not always carry the request id of the inform it answers
 * (a receiver that cannot decrypt it does not know it), so net-snmp's per-request data is
 * what identifies it. One inform per tag at a time. */
#define SNMP_TAGS 2
/* An inform's fate, called from snmp_target_read or _timeouts (possibly twice for one
 * report: ignore what is not in flight). detail is a short reason for SNMP_TIMED_OUT and
 * SNMP_REFUSED, else "". */
typedef void snmp_target_done_fn(void *arg, int tag, enum snmp_outcome o, const char *detail);

struct snmp_target_cfg {
	const char *peer;		/* net-snmp address: [udp:]HOST[:PORT] */
	bool v3, inform;
	const char *community;		/* v2c */
	const char *user;		/* v3 */
	const char *auth_pass, *priv_pass;	/* v3, at least 8 characters each */
	unsigned timeout_ms;		/* inform: wait this long for the answer (no retries) */
	const uint8_t *engine_id;	/* v3 traps: ours */
	size_t engine_id_len;
};

/* Prepare a target: copies what it needs (v3 passphrases become keys at once; the caller
 * may wipe its copies). No network. Return 0 or -1 with a reason in err. */
int snmp_target_new(const struct snmp_target_cfg *c, snmp_target_done_fn *done, void *arg,
		    struct snmp_target **out, char *err, size_t errlen);
void snmp_target_free(struct snmp_target *t);
/* Open the net-snmp session (resolves the address, opens the socket). Return 0, or -1 with
 * the library's reason in err (e.g. an unknown host). */
int snmp_target_open(struct snmp_target *t, char *err, size_t errlen);
/* Close the session; outstanding informs are forgotten (no callback). */
void snmp_target_close(struct snmp_target *t);
bool snmp_target_is_open(const struct snmp_target *t);
/* Send ev. A trap is handed to the socket: return 0. An inform is sent asynchronously under
 * tag: return 0, and done() follows. Return -1 with a reason in err when it could not be
 * sent (then no done() follows). uptime_cs: sysUpTime.0 in hundredths of a second. */
int snmp_target_send(struct snmp_target *t, const struct notify_event *ev, uint32_t uptime_cs,
		     int tag, char *err, size_t errlen);
/* The session's socket (poll it for reading), or -1. */
int snmp_target_fd(const struct snmp_target *t);
/* The socket is readable: process what arrived (acknowledgements, reports). */
void snmp_target_read(struct snmp_target *t);
/* Expire informs whose timeout passed (done() with SNMP_TIMED_OUT). */
void snmp_target_timeouts(struct snmp_target *t);

#endif
