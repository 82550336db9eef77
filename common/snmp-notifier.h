/* The process's SNMP notifier: one thread that takes events from the notify queue
 * (common/notify.h) and delivers each to every [snmp-receiver] of the configuration, as a
 * trap or an inform, with net-snmp (snmp-target.c). ferryd and ferry-agent start it after
 * loading their configuration; ferryctl starts one for `ferryctl trap test` when no ferryd
 * answers.
 *
 * Delivery, per receiver (docs/snmp.md):
 * - A backlog of at most [snmp] queue events, in order. When it is full the oldest waiting
 *   event is dropped and counted: after a long outage the newest state matters most.
 * - Traps go out as soon as the receiver's session is open. Informs go one at a time: each
 *   attempt waits inform_timeout for the acknowledgement, then the next attempt follows after
 *   a backoff (1 s, 2 s, 4 s ... 60 s), until inform_retry_for has passed since the event;
 *   then it is given up, counted as failed and logged. An inform to a receiver that is down
 *   at first is therefore delivered once it comes up.
 * - A receiver whose address does not resolve, whose session cannot be opened, that does not
 *   acknowledge, or that refuses (a report: wrong user, passphrase or engine id) is logged
 *   once per log_interval with the number of similar messages in between, not per event;
 *   its recovery is logged once.
 * - Nothing here ever blocks the event's producer: notify_event() only queues.
 *
 * Threads: the notifier's thread is the only one that calls net-snmp. The functions below
 * may be called from any thread; the statistics are under a mutex. */
#ifndef FERRY_SNMP_NOTIFIER_H
#define FERRY_SNMP_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ferry_config;
struct dbuf;

/* Read the receivers' secrets, set up net-snmp and start the thread. With no receiver
 * configured it starts nothing and returns 0 (notify_event() then does nothing). Return 0, or
 * -1 with a one-line reason in err (a secret file that cannot be read, a v3 passphrase shorter
 * than 8 characters, two v3 trap receivers with one user name and different passphrases).
 * app names the sender ("ferryd", "ferry-agent", "ferryctl"): it is part of the derived
 * engine id. cfg must stay valid until snmp_notifier_stop(). */
int snmp_notifier_start(const struct ferry_config *cfg, const char *app, char *err,
			size_t errlen);
/* Deliver what can still be delivered for up to drain_ms (queued events, informs in flight;
 * not receivers that are backing off), then stop the thread and free everything. What is
 * left is logged. Safe to call when not started. */
void snmp_notifier_stop(unsigned drain_ms);
bool snmp_notifier_running(void);

/* Send ferryTestNotification to every receiver now (informs: up to 3 attempts), then write
 * one line per receiver to fd and close it:
 *   "engine-id 0x..."                                   (first line)
 *   "NAME acknowledged|sent|failed DESCRIPTION[: REASON]"
 * Takes over fd on success. Return 0, -ENOTCONN (not running), or -EBUSY (a test is already
 * under way). */
int snmp_notifier_test(int fd);

/* Append `"snmp":{...}` (counters, receivers and their states) to a JSON object under
 * construction, or the human form for `ferryctl status`. Nothing when not running. */
void snmp_notifier_status_json(struct dbuf *b);
void snmp_notifier_status_text(struct dbuf *b);

/* Counters for FERRY-MIB's ferryNotify* scalars (all receivers, and the queue's drops). */
struct snmp_notifier_counts {
	uint64_t sent, acknowledged, dropped, failed;
};
void snmp_notifier_counts(struct snmp_notifier_counts *c);

/* The pause before inform attempt `attempt` + 1 after `attempt` failed ones (1 s doubling to
 * 60 s). Pure. */
uint64_t snmp_retry_delay_ms(unsigned attempt);

#endif
