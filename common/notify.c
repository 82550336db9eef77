/* The notification types and the process's bounded event queue (see notify.h).
 *
 * The queue is a ring of fixed-size events under one mutex, allocated once: a producer
 * copies its event in and, when the ring was empty, bumps an eventfd so the notifier's poll
 * wakes up. Nothing here allocates or does I/O beyond that one write, so the datapath's
 * event loop and the shipper can call notify_event() anywhere. The sequence number is
 * assigned under the mutex, so numbers follow the queue order; a dropped event keeps its
 * number, so a receiver sees the gap. */
#include "common/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define OP_ROWS(Name, base, s_start, s_fail) \
	{ "ferry" Name "Started", (base) + 1, s_start }, \
	{ "ferry" Name "StepDone", (base) + 2, NOTIFY_INFO }, \
	{ "ferry" Name "StepFailed", (base) + 3, s_fail }, \
	{ "ferry" Name "Completed", (base) + 4, NOTIFY_INFO }

/* In enum order. The arcs and names are FERRY-MIB's; the severities are what its
 * DESCRIPTIONs promise. */
static const struct notify_type_info types[NOTIFY_N_TYPES] = {
	{ "ferryRpoExceeded", 1, NOTIFY_MAJOR },
	{ "ferryRpoRecovered", 2, NOTIFY_CLEARED },
	{ "ferryLogUsage75", 3, NOTIFY_WARNING },
	{ "ferryLogUsage90", 4, NOTIFY_MAJOR },
	{ "ferryLogFull", 5, NOTIFY_CRITICAL },
	{ "ferryLogUsageNormal", 6, NOTIFY_CLEARED },
	{ "ferryOverflowEntered", 7, NOTIFY_CRITICAL },
	{ "ferryResyncStarted", 8, NOTIFY_WARNING },
	{ "ferryResyncDone", 9, NOTIFY_CLEARED },
	{ "ferryBackpressureOn", 10, NOTIFY_WARNING },
	{ "ferryBackpressureOff", 11, NOTIFY_CLEARED },
	{ "ferryStoreUnreachable", 12, NOTIFY_MAJOR },
	{ "ferryStoreRecovered", 13, NOTIFY_CLEARED },
	{ "ferryCredentialsRefused", 14, NOTIFY_CRITICAL },
	{ "ferryFenced", 15, NOTIFY_CRITICAL },
	{ "ferryPointFailed", 16, NOTIFY_MAJOR },
	{ "ferryDiskIoError", 17, NOTIFY_CRITICAL },
	{ "ferryDomainStateChanged", 20, NOTIFY_INFO },
	{ "ferrydStarted", 21, NOTIFY_INFO },
	{ "ferrydStopping", 22, NOTIFY_WARNING },
	{ "ferryAgentStarted", 23, NOTIFY_INFO },
	{ "ferryAgentStopping", 24, NOTIFY_WARNING },
	{ "ferryTestNotification", 25, NOTIFY_INFO },
	OP_ROWS("Failover", 30, NOTIFY_WARNING, NOTIFY_CRITICAL),
	OP_ROWS("TestFailover", 40, NOTIFY_INFO, NOTIFY_MAJOR),
	OP_ROWS("Failback", 50, NOTIFY_WARNING, NOTIFY_CRITICAL),
	OP_ROWS("Commit", 60, NOTIFY_WARNING, NOTIFY_CRITICAL),
	OP_ROWS("Undo", 70, NOTIFY_WARNING, NOTIFY_CRITICAL),
	OP_ROWS("PermanentFailover", 80, NOTIFY_WARNING, NOTIFY_CRITICAL),
};

const struct notify_type_info *notify_type_info(enum notify_type t)
{
	if ((int)t < 0 || t >= NOTIFY_N_TYPES)
		return NULL;
	return &types[t];
}

const char *notify_severity_name(enum notify_severity s)
{
	static const char *const names[] = { "?", "cleared", "info", "warning", "minor", "major",
					     "critical" };
	return (int)s >= 1 && (size_t)s < ARRAY_SIZE(names) ? names[s] : "?";
}

/* ---- the queue ---- */

static struct {
	pthread_mutex_t mu;
	struct notify_event *ring;	/* NULL: closed */
	unsigned cap, head, len;	/* head: oldest */
	uint32_t next_seq;
	uint64_t dropped;
	int efd;
} q = { .mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

int notify_queue_init(unsigned capacity)
{
	if (capacity == 0)
		return -EINVAL;
	struct notify_event *ring = calloc(capacity, sizeof *ring);
	if (!ring)
		return -ENOMEM;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		int e = -errno;
		free(ring);
		return e;
	}
	pthread_mutex_lock(&q.mu);
	if (q.ring) {
		pthread_mutex_unlock(&q.mu);
		close(efd);
		free(ring);
		return -EBUSY;
	}
	q.ring = ring;
	q.cap = capacity;
	q.head = q.len = 0;
	q.next_seq = 1;
	q.dropped = 0;
	q.efd = efd;
	pthread_mutex_unlock(&q.mu);
	return 0;
}

int notify_queue_fd(void)
{
	pthread_mutex_lock(&q.mu);
	int fd = q.ring ? q.efd : -1;
	pthread_mutex_unlock(&q.mu);
	return fd;
}

void notify_event(enum notify_type t, const char *domain, const char *fmt, ...)
{
	const struct notify_type_info *ti = notify_type_info(t);
	struct notify_event ev = { .type = t, .time_ns = now_real_ns() };
	va_list ap;

	if (!ti)
		return;
	ev.severity = ti->severity;
	snprintf(ev.domain, sizeof ev.domain, "%s", domain ? domain : "");
	va_start(ap, fmt);
	vsnprintf(ev.text, sizeof ev.text, fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&q.mu);
	if (!q.ring) {
		pthread_mutex_unlock(&q.mu);
		return;
	}
	ev.seq = q.next_seq++;
	bool wake = q.len == 0;
	if (q.len == q.cap) {
		q.dropped++;
		wake = false;
	} else {
		q.ring[(q.head + q.len) % q.cap] = ev;
		q.len++;
	}
	if (wake) {
		uint64_t one = 1;
		if (write(q.efd, &one, sizeof one) < 0) {
			/* the counter cannot overflow from a few wakeups; nothing to do */
		}
	}
	pthread_mutex_unlock(&q.mu);
}

bool notify_queue_pop(struct notify_event *ev)
{
	bool got = false;
	pthread_mutex_lock(&q.mu);
	if (q.ring && q.len) {
		*ev = q.ring[q.head];
		q.head = (q.head + 1) % q.cap;
		q.len--;
		got = true;
	}
	if (q.ring && q.len == 0) {
		uint64_t v;
		if (read(q.efd, &v, sizeof v) < 0) {
			/* EAGAIN: already reset */
		}
	}
	pthread_mutex_unlock(&q.mu);
	return got;
}

uint64_t notify_queue_dropped(void)
{
	pthread_mutex_lock(&q.mu);
	uint64_t d = q.dropped;
	pthread_mutex_unlock(&q.mu);
	return d;
}

unsigned notify_queue_length(void)
{
	pthread_mutex_lock(&q.mu);
	unsigned n = q.len;
	pthread_mutex_unlock(&q.mu);
	return n;
}

void notify_queue_close(void)
{
	pthread_mutex_lock(&q.mu);
	free(q.ring);
	q.ring = NULL;
	q.cap = q.head = q.len = 0;
	if (q.efd >= 0)
		close(q.efd);
	q.efd = -1;
	pthread_mutex_unlock(&q.mu);
}
