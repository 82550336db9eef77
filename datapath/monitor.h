/* ferryd's monitor: turns the datapath's states into notifications (common/notify.h) and
 * keeps what `ferryctl status` and the SNMP status table show of the store's health.
 *
 * Two kinds of input:
 * - Levels, sampled once a second on the event loop's timer (monitor_tick): the log's usage
 *   (75 %, 90 %, full, back to normal), backpressure on/off, and each domain's RPO (the age
 *   of its newest consistent point against its rpo_alarm). Each is edge-triggered with
 *   hysteresis, so a value hovering at a threshold sends one notification, not a stream.
 * - Events, reported where they happen: a point's result (the shipper, once per cut:
 *   monitor_point_result classifies failures into store unreachable / credentials refused /
 *   point failed and sends one notification per change, then "store recovered" at the first
 *   success) and a primary disk's I/O error (monitor_disk_error: at most one notification a
 *   minute per disk, counting the errors in between).
 * Overflow entered and resync started/done are sent directly at their sites with
 * notify_event().
 *
 * The transition rules are pure functions (below) so unit tests drive them without a
 * server. Threads: monitor_tick and monitor_disk_error run on the event loop;
 * monitor_point_result on the shipper's workers (one per domain); monitor_store_health
 * anywhere (a mutex guards the per-domain store state). */
#ifndef FERRY_MONITOR_H
#define FERRY_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/notify.h"

struct server;
struct disk;

/* ---- pure rules ---- */

/* The log usage alarm: a latch that rises through the thresholds and falls with 5 points of
 * hysteresis; only the fall to NORMAL is notified (ferryLogUsageNormal). */
enum log_alarm { LOG_ALARM_NORMAL, LOG_ALARM_75, LOG_ALARM_90, LOG_ALARM_FULL };
/* From level, with usage (per mille) and whether a domain is in overflow now: the new level,
 * and in out[0..*n) the notifications to send, in order (each threshold crossed upwards, or
 * the return to normal). */
enum log_alarm monitor_log_alarm(enum log_alarm level, unsigned permille, bool overflow,
				 enum notify_type out[4], size_t *n);

/* What a point's result says about the store. */
enum store_health { STORE_OK, STORE_UNREACHABLE, STORE_CREDENTIALS, STORE_FAILING,
		    STORE_NONE };
/* err: 0 for a stored point, else the -errno it failed with. */
enum store_health monitor_store_class(int err);
/* "ok", "unreachable", "credentials_refused", "failing", "none" */
const char *monitor_store_health_name(enum store_health h);

/* ---- ferryd ---- */

/* Set up the per-domain and per-disk state for srv's configuration. Return 0 or -1 (logged). */
int monitor_init(struct server *srv);
void monitor_free(void);
/* Once a second, on the event loop. */
void monitor_tick(struct server *srv);
/* The shipper finished a cut of domain: err 0 (stored or nothing to do) or -errno. */
void monitor_point_result(const char *domain, int err);
/* A primary read/write/flush of d failed with err (-errno). */
void monitor_disk_error(struct disk *d, const char *what, int err);
/* The store's health as the last point of domain found it (STORE_NONE: no store or no such
 * domain). */
enum store_health monitor_store_health(const char *domain);

#endif
