/* Notifications: the events an operator must not miss (an RPO that slipped, a log that
 * overflowed, a store that went away, a failover step that failed), sent as SNMP traps or
 * informs with ferry's MIB (mgmt/FERRY-MIB.txt, docs/snmp.md).
 *
 * This header is the whole interface for the code where events happen: notify_event() is
 * transport-free, never blocks and never fails. It formats the event, numbers it and puts it
 * in a bounded queue; the process's notifier (common/snmp-notifier.h, one thread) takes it
 * from there. A full queue drops the new event and counts it (notify_queue_dropped, shown in
 * `ferryctl status` and the MIB's ferryNotifyDropped). Before notify_queue_init() and after
 * notify_queue_close() — a process without [snmp] receivers — notify_event() does nothing.
 *
 *   event site --notify_event()--> queue (mutex, eventfd) --notify_queue_pop()--> notifier
 *
 * The queue is process-global, like the logger: there is one notifier per process.
 *
 * To add a notification: 1. add a NOTIFICATION-TYPE to mgmt/FERRY-MIB.txt with a new arc
 * (never reuse one) and to one of its NOTIFICATION-GROUPs; 2. add the enum value below and
 * its row (MIB name, arc, severity) to the table in notify.c; 3. call notify_event() where
 * it happens; 4. list it in docs/snmp.md. tests/integration/700-snmp-mib.sh checks that the
 * table and the MIB agree. */
#ifndef FERRY_NOTIFY_H
#define FERRY_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* The enterprise arc: RFC 5612's documentation number, a PLACEHOLDER until ferry has its
 * own IANA Private Enterprise Number (change it together with FERRY-MIB's MODULE-IDENTITY).
 * Notification OIDs are 1.3.6.1.4.1.FERRY_PEN.0.ARC. */
#define FERRY_PEN 32473u

enum notify_severity {	/* FERRY-MIB::FerrySeverity */
	NOTIFY_CLEARED = 1,
	NOTIFY_INFO = 2,
	NOTIFY_WARNING = 3,
	NOTIFY_MINOR = 4,
	NOTIFY_MAJOR = 5,
	NOTIFY_CRITICAL = 6,
};

enum notify_type {
	/* the protected site's replication (ferryd) */
	NOTIFY_RPO_EXCEEDED,
	NOTIFY_RPO_RECOVERED,
	NOTIFY_LOG_USAGE_75,
	NOTIFY_LOG_USAGE_90,
	NOTIFY_LOG_FULL,
	NOTIFY_LOG_USAGE_NORMAL,
	NOTIFY_OVERFLOW_ENTERED,
	NOTIFY_RESYNC_STARTED,
	NOTIFY_RESYNC_DONE,
	NOTIFY_BACKPRESSURE_ON,
	NOTIFY_BACKPRESSURE_OFF,
	NOTIFY_STORE_UNREACHABLE,
	NOTIFY_STORE_RECOVERED,
	NOTIFY_CREDENTIALS_REFUSED,
	NOTIFY_FENCED,
	NOTIFY_POINT_FAILED,
	NOTIFY_DISK_IO_ERROR,
	/* the appliance and the domains' states */
	NOTIFY_DOMAIN_STATE_CHANGED,
	NOTIFY_FERRYD_STARTED,
	NOTIFY_FERRYD_STOPPING,
	NOTIFY_AGENT_STARTED,
	NOTIFY_AGENT_STOPPING,
	NOTIFY_TEST,
	/* operations (ferry-agent): NOTIFY_OP_FIRST + 4 * op + phase, see notify_op_type() */
	NOTIFY_OP_FIRST,
	NOTIFY_FAILOVER_STARTED = NOTIFY_OP_FIRST,
	NOTIFY_FAILOVER_STEP_DONE,
	NOTIFY_FAILOVER_STEP_FAILED,
	NOTIFY_FAILOVER_COMPLETED,
	NOTIFY_TEST_FAILOVER_STARTED,
	NOTIFY_TEST_FAILOVER_STEP_DONE,
	NOTIFY_TEST_FAILOVER_STEP_FAILED,
	NOTIFY_TEST_FAILOVER_COMPLETED,
	NOTIFY_FAILBACK_STARTED,
	NOTIFY_FAILBACK_STEP_DONE,
	NOTIFY_FAILBACK_STEP_FAILED,
	NOTIFY_FAILBACK_COMPLETED,
	NOTIFY_COMMIT_STARTED,
	NOTIFY_COMMIT_STEP_DONE,
	NOTIFY_COMMIT_STEP_FAILED,
	NOTIFY_COMMIT_COMPLETED,
	NOTIFY_UNDO_STARTED,
	NOTIFY_UNDO_STEP_DONE,
	NOTIFY_UNDO_STEP_FAILED,
	NOTIFY_UNDO_COMPLETED,
	NOTIFY_PERMANENT_FAILOVER_STARTED,
	NOTIFY_PERMANENT_FAILOVER_STEP_DONE,
	NOTIFY_PERMANENT_FAILOVER_STEP_FAILED,
	NOTIFY_PERMANENT_FAILOVER_COMPLETED,
	NOTIFY_N_TYPES
};

/* ferry-agent's operations and their phases (docs/design.md section 4). */
enum notify_op { NOTIFY_OP_FAILOVER, NOTIFY_OP_TEST_FAILOVER, NOTIFY_OP_FAILBACK,
		 NOTIFY_OP_COMMIT, NOTIFY_OP_UNDO, NOTIFY_OP_PERMANENT_FAILOVER };
enum notify_op_phase { NOTIFY_PHASE_STARTED, NOTIFY_PHASE_STEP_DONE, NOTIFY_PHASE_STEP_FAILED,
		       NOTIFY_PHASE_COMPLETED };

static inline enum notify_type notify_op_type(enum notify_op op, enum notify_op_phase phase)
{
	return (enum notify_type)(NOTIFY_OP_FIRST + 4 * (int)op + (int)phase);
}

struct notify_type_info {
	const char *name;		/* the NOTIFICATION-TYPE's name in FERRY-MIB */
	unsigned arc;			/* its last OID arc, under ferryNotifications */
	enum notify_severity severity;	/* what it is sent with */
};

/* The row of t, or NULL for a value out of range. */
const struct notify_type_info *notify_type_info(enum notify_type t);
/* The MIB's name of a severity ("critical"), "?" out of range. */
const char *notify_severity_name(enum notify_severity s);

#define NOTIFY_DOMAIN_MAX 63
#define NOTIFY_TEXT_MAX 255

/* One queued event, as the notifier receives it. */
struct notify_event {
	enum notify_type type;
	enum notify_severity severity;
	uint32_t seq;			/* ferryNotifySequence: 1, 2, ... per process */
	uint64_t time_ns;		/* CLOCK_REALTIME when it happened */
	char domain[NOTIFY_DOMAIN_MAX + 1];	/* "" for the appliance */
	char text[NOTIFY_TEXT_MAX + 1];
};

/* Queue an event of type t about domain (NULL or "" for the appliance as a whole); the text
 * is printf-formatted and cut to NOTIFY_TEXT_MAX bytes. Any thread; never blocks on I/O
 * (it takes the queue's mutex for a copy and writes an eventfd). Secrets never go here. */
void notify_event(enum notify_type t, const char *domain, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- the notifier's side ---- */

/* Create the queue with room for capacity events; from now on notify_event() queues.
 * Return 0 or -errno. Calling it again while open is -EBUSY. */
int notify_queue_init(unsigned capacity);
/* An eventfd that is readable while events are queued (the notifier polls it). -1 when the
 * queue is not open. */
int notify_queue_fd(void);
/* Take the oldest event. Return true with *ev filled, false when the queue is empty. */
bool notify_queue_pop(struct notify_event *ev);
/* Events dropped because the queue was full, since notify_queue_init(). */
uint64_t notify_queue_dropped(void);
/* Events waiting now. */
unsigned notify_queue_length(void);
/* Stop queueing (later events are ignored, not counted) and free the queue. */
void notify_queue_close(void);

#endif
