/* The SNMP notifier: delivery policy (see snmp-notifier.h); net-snmp itself is behind
 * snmp-target.h.
 *
 * One thread runs a poll loop over the notify queue's eventfd, a wake eventfd (stop, test
 * requests) and each open receiver session's socket. Each turn it moves queued events into
 * every receiver's backlog, "pumps" each receiver (open its session when due, send traps,
 * start the next inform attempt), reads answers and expires timeouts. Callbacks from
 * net-snmp only record the outcome; a session that must be reopened (a refusal: its engine
 * id or keys may be stale) is closed after the call that ran the callback returns, never
 * inside it.
 *
 * Per receiver there is at most one inform of the backlog in flight (ordered delivery, and a
 * dead receiver costs one attempt at a time), plus at most one test notification, which
 * bypasses the backlog so that `ferryctl trap test` answers at once even when the backlog is
 * backing off.
 *
 * Lock: n.mu guards what other threads read or write (statistics, states, test waiters).
 * The backlogs and sessions belong to the thread alone. */
#include "common/snmp-notifier.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/config.h"
#include "common/dbuf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/secret.h"
#include "common/snmp-target.h"
#include "common/util.h"
#include "common/banned.h"

#define MS 1000000ull
#define TEST_ATTEMPTS 3
#define TEST_WAITERS 8
#define TEST_UNASSIGNED_NS (10000 * MS)	/* a waiter whose event never came (queue full) */
#define OPEN_RETRY_MAX_MS 60000u

enum rcv_state {
	RCV_OK,			/* delivering (or nothing sent yet) */
	RCV_UNREACHABLE,	/* the session cannot be opened (address, socket) */
	RCV_NO_ACK,		/* informs time out */
	RCV_REFUSED,		/* a report, or the send failed */
};
static const char *const state_names[] = { "ok", "unreachable", "not-acknowledging", "refused" };

enum test_state { TEST_NONE, TEST_PENDING, TEST_SENT, TEST_ACKED, TEST_FAILED };
enum { TAG_BACKLOG, TAG_TEST };	/* snmp_target_send's tags */

struct delivery {
	struct notify_event ev;
	uint64_t queued_ns, next_ns;	/* monotonic */
	unsigned attempts;
};

struct receiver {
	char name[64];
	char desc[160];			/* "v3 inform to udp:host:162" */
	bool inform;
	struct snmp_target *t;
	bool reopen;			/* close the session after the current read/timeout */
	uint64_t open_next_ns;
	unsigned open_failures;
	/* the backlog: a ring of cap deliveries, oldest at head */
	struct delivery *ring;
	unsigned cap, head, len;
	bool inflight;			/* ring[head] is an inform in flight (tag TAG_BACKLOG) */
	/* the test notification */
	enum test_state test;
	struct notify_event test_ev;
	unsigned test_attempts;
	bool test_inflight;		/* tag TAG_TEST */
	char test_detail[192];
	/* under n.mu */
	enum rcv_state state;
	char detail[192];
	unsigned waiting;		/* len, for status */
	uint64_t sent, acked, dropped, failed;
	/* rate-limited logging of failures */
	uint64_t log_next_ns;
	unsigned log_suppressed;
};

struct waiter {
	int fd;
	uint64_t since_ns;
	bool assigned;
};

static struct {
	pthread_mutex_t mu;
	bool running, stopping;
	pthread_t thread;
	int wake_fd;
	const struct ferry_config *cfg;
	char app[32];
	uint8_t engine_id[SNMP_ENGINE_ID_MAX];
	size_t engine_id_len;
	struct receiver *rcv;
	size_t n_rcv;
	uint64_t start_ns, drain_deadline_ns;
	uint64_t queue_dropped_logged, drop_log_next_ns;
	struct waiter waiters[TEST_WAITERS];
	size_t n_waiters;
} n = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1 };

uint64_t snmp_retry_delay_ms(unsigned attempt)
{
	if (attempt == 0)
		return 0;
	if (attempt > 7)
		return 60000;
	return MIN(1000ull << (attempt - 1), 60000ull);
}

static void wake(void)
{
	uint64_t one = 1;
	if (n.wake_fd >= 0 && write(n.wake_fd, &one, sizeof one) < 0) {
		/* the counter is far from overflowing; nothing to do */
	}
}

/* ---- state and logging ---- */

/* A log line about r at most once per log_interval (at once when `now_too`), saying how
 * many were held back in between. */
static void rcv_log(struct receiver *r, uint64_t now, bool now_too, const char *msg)
{
	if (now_too || now >= r->log_next_ns) {
		if (r->log_suppressed)
			log_warn("snmp receiver %s (%s): %s (%u similar messages in the last %u s)",
				 r->name, r->desc, msg, r->log_suppressed,
				 n.cfg->snmp_log_interval_ms / 1000);
		else
			log_warn("snmp receiver %s (%s): %s", r->name, r->desc, msg);
		r->log_next_ns = now + (uint64_t)n.cfg->snmp_log_interval_ms * MS;
		r->log_suppressed = 0;
	} else {
		r->log_suppressed++;
	}
}

/* Record a failure: the state and reason (for status), and a rate-limited log line. */
__attribute__((format(printf, 4, 5)))
static void rcv_fail(struct receiver *r, uint64_t now, enum rcv_state st, const char *fmt, ...)
{
	char msg[192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&n.mu);
	bool changed = r->state != st;
	r->state = st;
	snprintf(r->detail, sizeof r->detail, "%s", msg);
	pthread_mutex_unlock(&n.mu);
	rcv_log(r, now, changed, msg);
}

static void rcv_ok(struct receiver *r)
{
	pthread_mutex_lock(&n.mu);
	bool was = r->state != RCV_OK;
	r->state = RCV_OK;
	r->detail[0] = 0;
	pthread_mutex_unlock(&n.mu);
	if (was) {
		log_info("snmp receiver %s (%s): delivering again", r->name, r->desc);
		r->log_next_ns = 0;
		r->log_suppressed = 0;
	}
}

static void count(uint64_t *field)
{
	pthread_mutex_lock(&n.mu);
	(*field)++;
	pthread_mutex_unlock(&n.mu);
}

/* ---- the backlog ---- */

static struct delivery *ring_at(struct receiver *r, unsigned i)
{
	return &r->ring[(r->head + i) % r->cap];
}

static void set_waiting(struct receiver *r)
{
	pthread_mutex_lock(&n.mu);
	r->waiting = r->len;
	pthread_mutex_unlock(&n.mu);
}

static void ring_pop(struct receiver *r)
{
	r->head = (r->head + 1) % r->cap;
	r->len--;
	set_waiting(r);
}

static void backlog_add(struct receiver *r, const struct notify_event *ev, uint64_t now)
{
	if (r->len == r->cap) {
		/* drop the oldest waiting event; an inform in flight stays where it is */
		unsigned victim = r->inflight ? 1 : 0;
		if (victim == 1)
			*ring_at(r, 1) = *ring_at(r, 0);
		ring_pop(r);
		count(&r->dropped);
		rcv_log(r, now, false, "backlog full: dropped the oldest waiting notification");
	}
	struct delivery *d = ring_at(r, r->len++);
	d->ev = *ev;
	d->queued_ns = now;
	d->next_ns = now;
	d->attempts = 0;
	set_waiting(r);
}

/* Give up the events that waited longer than inform_retry_for (not the one in flight). */
static void backlog_expire(struct receiver *r, uint64_t now)
{
	uint64_t limit = (uint64_t)n.cfg->snmp_retry_for_ms * MS;
	while (r->len && !r->inflight && now - ring_at(r, 0)->queued_ns > limit &&
	       (ring_at(r, 0)->attempts > 0 || !snmp_target_is_open(r->t))) {
		const struct delivery *d = ring_at(r, 0);
		const struct notify_type_info *ti = notify_type_info(d->ev.type);
		log_error("snmp receiver %s (%s): gave up %s #%u after %u attempts in %u s: %s",
			  r->name, r->desc, ti ? ti->name : "?", d->ev.seq, d->attempts,
			  (unsigned)((now - d->queued_ns) / 1000000000u), r->detail);
		count(&r->failed);
		ring_pop(r);
	}
}

/* ---- sending ---- */

static uint32_t uptime_cs(uint64_t now)
{
	return (uint32_t)((now - n.start_ns) / 10000000u);
}

static bool ensure_open(struct receiver *r, uint64_t now)
{
	char err[256];
	if (snmp_target_is_open(r->t))
		return true;
	if (now < r->open_next_ns && r->test != TEST_PENDING)
		return false;
	if (snmp_target_open(r->t, err, sizeof err) == 0) {
		r->open_failures = 0;
		return true;
	}
	r->open_failures++;
	r->open_next_ns = now + MIN(1000ull << MIN(r->open_failures - 1, 6u),
				    (uint64_t)OPEN_RETRY_MAX_MS) * MS;
	rcv_fail(r, now, RCV_UNREACHABLE, "cannot open a session: %.160s", err);
	if (r->test == TEST_PENDING) {
		r->test = TEST_FAILED;
		snprintf(r->test_detail, sizeof r->test_detail, "cannot open a session: %.160s", err);
	}
	return false;
}

static void pump_test(struct receiver *r, uint64_t now)
{
	char err[192];
	if (r->test != TEST_PENDING || r->test_inflight)
		return;
	if (r->test_attempts >= TEST_ATTEMPTS) {
		r->test = TEST_FAILED;
		return;
	}
	r->test_attempts++;
	if (snmp_target_send(r->t, &r->test_ev, uptime_cs(now), TAG_TEST, err, sizeof err) == 0) {
		count(&r->sent);
		if (r->inform) {
			r->test_inflight = true;
		} else {
			r->test = TEST_SENT;
		}
		return;
	}
	if (r->test_attempts >= TEST_ATTEMPTS || !r->inform) {
		r->test = TEST_FAILED;
		snprintf(r->test_detail, sizeof r->test_detail, "%.160s (%u attempts)", err,
			 r->test_attempts);
	}
}

static void pump_traps(struct receiver *r, uint64_t now)
{
	char err[192];
	while (r->len && now >= ring_at(r, 0)->next_ns) {
		struct delivery *d = ring_at(r, 0);
		d->attempts++;
		if (snmp_target_send(r->t, &d->ev, uptime_cs(now), TAG_BACKLOG, err, sizeof err) < 0) {
			d->next_ns = now + snmp_retry_delay_ms(d->attempts) * MS;
			rcv_fail(r, now, RCV_REFUSED, "trap not sent: %s", err);
			return;
		}
		count(&r->sent);
		ring_pop(r);
		rcv_ok(r);
	}
}

static void pump_inform(struct receiver *r, uint64_t now)
{
	char err[192];
	if (r->inflight || !r->len || now < ring_at(r, 0)->next_ns)
		return;
	struct delivery *d = ring_at(r, 0);
	d->attempts++;
	if (snmp_target_send(r->t, &d->ev, uptime_cs(now), TAG_BACKLOG, err, sizeof err) < 0) {
		d->next_ns = now + snmp_retry_delay_ms(d->attempts) * MS;
		rcv_fail(r, now, RCV_NO_ACK, "inform not sent: %s", err);
		return;
	}
	if (d->attempts == 1)
		count(&r->sent);
	r->inflight = true;
}

static void pump(struct receiver *r, uint64_t now)
{
	backlog_expire(r, now);
	if (!ensure_open(r, now))
		return;
	pump_test(r, now);
	if (r->inform)
		pump_inform(r, now);
	else
		pump_traps(r, now);
}

/* An inform's outcome (from net-snmp, inside snmp_target_read/_timeouts). */
static void on_done(void *arg, int tag, enum snmp_outcome o, const char *detail)
{
	struct receiver *r = arg;
	uint64_t now = now_mono_ns();
	if (o == SNMP_REFUSED)
		r->reopen = true;	/* its engine id or keys may have changed: probe again */
	if (tag == TAG_TEST) {
		if (!r->test_inflight)
			return;		/* a second callback for the same answer */
		r->test_inflight = false;
		if (o == SNMP_ACKED) {
			r->test = TEST_ACKED;
		} else if (o == SNMP_REFUSED || r->test_attempts >= TEST_ATTEMPTS) {
			r->test = TEST_FAILED;
			snprintf(r->test_detail, sizeof r->test_detail, "%.160s (%u attempts)", detail,
				 r->test_attempts);
		}
		if (o == SNMP_ACKED)
			count(&r->acked);
		return;
	}
	if (!r->inflight)
		return;		/* a second callback for the same answer */
	r->inflight = false;
	struct delivery *d = ring_at(r, 0);
	if (o == SNMP_ACKED) {
		count(&r->acked);
		ring_pop(r);
		rcv_ok(r);
		return;
	}
	d->next_ns = now + snmp_retry_delay_ms(d->attempts) * MS;
	rcv_fail(r, now, o == SNMP_REFUSED ? RCV_REFUSED : RCV_NO_ACK, "%s", detail);
}

/* ---- test requests ---- */

static void test_begin(const struct notify_event *ev)
{
	pthread_mutex_lock(&n.mu);
	for (size_t i = 0; i < n.n_waiters; i++)
		n.waiters[i].assigned = true;
	pthread_mutex_unlock(&n.mu);
	for (size_t i = 0; i < n.n_rcv; i++) {
		struct receiver *r = &n.rcv[i];
		r->test = TEST_PENDING;
		r->test_ev = *ev;
		r->test_attempts = 0;
		r->test_inflight = false;
		r->test_detail[0] = 0;
	}
}

static void write_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void write_line(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof line - 1)
		len = (int)sizeof line - 1;
	if (write_full(fd, line, (size_t)len) < 0)
		log_debug("snmp: a `ferryctl trap test` client went away");
}

static void test_reply(int fd)
{
	char hex[2 * SNMP_ENGINE_ID_MAX + 3];
	snmp_engine_id_hex(n.engine_id, n.engine_id_len, hex, sizeof hex);
	write_line(fd, "engine-id %s\n", hex);
	for (size_t i = 0; i < n.n_rcv; i++) {
		const struct receiver *r = &n.rcv[i];
		switch (r->test) {
		case TEST_ACKED:
			write_line(fd, "%s acknowledged %s\n", r->name, r->desc);
			break;
		case TEST_SENT:
			write_line(fd, "%s sent %s (traps are not acknowledged)\n", r->name, r->desc);
			break;
		default:
			write_line(fd, "%s failed %s: %s\n", r->name, r->desc,
				   r->test_detail[0] ? r->test_detail : "not sent");
			break;
		}
	}
}

/* Answer the waiters once every receiver's test is decided; time out orphans. */
static void test_finish(uint64_t now)
{
	bool any_test = false, pending = false;
	for (size_t i = 0; i < n.n_rcv; i++) {
		any_test |= n.rcv[i].test != TEST_NONE;
		pending |= n.rcv[i].test == TEST_PENDING;
	}
	pthread_mutex_lock(&n.mu);
	size_t keep = 0;
	for (size_t i = 0; i < n.n_waiters; i++) {
		struct waiter *w = &n.waiters[i];
		if (w->assigned && any_test && !pending) {
			test_reply(w->fd);
			close(w->fd);
		} else if (!w->assigned && now > w->since_ns + TEST_UNASSIGNED_NS) {
			write_line(w->fd, "error: the test notification was dropped (queue full)\n");
			close(w->fd);
		} else {
			n.waiters[keep++] = *w;
		}
	}
	n.n_waiters = keep;
	pthread_mutex_unlock(&n.mu);
	if (any_test && !pending)
		for (size_t i = 0; i < n.n_rcv; i++)
			n.rcv[i].test = TEST_NONE;
}

int snmp_notifier_test(int fd)
{
	int rc = 0;
	pthread_mutex_lock(&n.mu);
	if (!n.running || n.stopping)
		rc = -ENOTCONN;
	else if (n.n_waiters == TEST_WAITERS)
		rc = -EBUSY;
	else
		n.waiters[n.n_waiters++] = (struct waiter){ .fd = fd, .since_ns = now_mono_ns() };
	pthread_mutex_unlock(&n.mu);
	if (rc == 0)
		notify_event(NOTIFY_TEST, NULL, "test notification requested with ferryctl trap test");
	return rc;
}

/* ---- the thread ---- */

static void take_events(uint64_t now)
{
	struct notify_event ev;
	while (notify_queue_pop(&ev)) {
		if (ev.type == NOTIFY_TEST) {
			test_begin(&ev);
			continue;
		}
		for (size_t i = 0; i < n.n_rcv; i++)
			backlog_add(&n.rcv[i], &ev, now);
	}
	uint64_t dropped = notify_queue_dropped();
	if (dropped != n.queue_dropped_logged && now >= n.drop_log_next_ns) {
		log_warn("snmp: %llu notifications dropped because the queue was full (%u)",
			 (unsigned long long)(dropped - n.queue_dropped_logged), n.cfg->snmp_queue);
		n.queue_dropped_logged = dropped;
		n.drop_log_next_ns = now + (uint64_t)n.cfg->snmp_log_interval_ms * MS;
	}
}

/* When the loop must run again at the latest (ms), given what waits. */
static int next_timeout_ms(uint64_t now)
{
	uint64_t due = now + 1000 * MS;
	for (size_t i = 0; i < n.n_rcv; i++) {
		const struct receiver *r = &n.rcv[i];
		if (r->inflight || r->test_inflight)
			due = MIN(due, now + 20 * MS);	/* net-snmp's timeouts */
		if (!snmp_target_is_open(r->t) && (r->len || r->test == TEST_PENDING))
			due = MIN(due, r->open_next_ns);
		else if (r->len && !r->inflight)
			due = MIN(due, r->ring[r->head].next_ns);
	}
	return due <= now ? 0 : (int)((due - now + MS - 1) / MS);
}

/* Stopping: is anything left that can be delivered now (not backing off)? */
static bool deliverable(uint64_t now)
{
	if (notify_queue_length())
		return true;
	for (size_t i = 0; i < n.n_rcv; i++) {
		const struct receiver *r = &n.rcv[i];
		if (r->inflight || r->test_inflight)
			return true;
		if (r->len && snmp_target_is_open(r->t) && r->ring[r->head].next_ns <= now)
			return true;
	}
	return false;
}

static void *notifier_main(void *arg)
{
	(void)arg;
	int qfd = notify_queue_fd();
	struct pollfd *pfd = calloc(n.n_rcv + 2, sizeof *pfd);
	if (!pfd) {
		log_error("snmp: out of memory: notifications are not sent");
		return NULL;
	}
	for (;;) {
		uint64_t now = now_mono_ns();
		pthread_mutex_lock(&n.mu);
		bool stopping = n.stopping;
		pthread_mutex_unlock(&n.mu);
		take_events(now);
		for (size_t i = 0; i < n.n_rcv; i++)
			pump(&n.rcv[i], now);
		test_finish(now);
		if (stopping && (!deliverable(now) || now >= n.drain_deadline_ns))
			break;

		pfd[0] = (struct pollfd){ .fd = qfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = n.wake_fd, .events = POLLIN };
		for (size_t i = 0; i < n.n_rcv; i++)
			pfd[2 + i] = (struct pollfd){ .fd = snmp_target_fd(n.rcv[i].t), .events = POLLIN };
		int timeout = next_timeout_ms(now);
		if (stopping)
			timeout = MIN(timeout, 20);
		if (poll(pfd, n.n_rcv + 2, timeout) < 0 && errno != EINTR) {
			log_error("snmp: poll: %m");
			break;
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t v;
			if (read(n.wake_fd, &v, sizeof v) < 0) {
				/* already reset */
			}
		}
		for (size_t i = 0; i < n.n_rcv; i++) {
			struct receiver *r = &n.rcv[i];
			if (pfd[2 + i].fd >= 0 && (pfd[2 + i].revents & (POLLIN | POLLERR)))
				snmp_target_read(r->t);
			snmp_target_timeouts(r->t);
			if (r->reopen) {
				/* what was still in flight is lost with the session: retry it */
				snmp_target_close(r->t);
				r->reopen = false;
				if (r->inflight)
					ring_at(r, 0)->next_ns = now_mono_ns() +
						snmp_retry_delay_ms(ring_at(r, 0)->attempts) * MS;
				r->inflight = false;
				r->test_inflight = false;
			}
		}
	}
	for (size_t i = 0; i < n.n_rcv; i++) {
		struct receiver *r = &n.rcv[i];
		if (r->len)
			log_warn("snmp receiver %s (%s): %u notifications not delivered at stop%s%s",
				 r->name, r->desc, r->len, r->detail[0] ? ": " : "", r->detail);
		snmp_target_close(r->t);
	}
	free(pfd);
	return NULL;
}

/* ---- start and stop ---- */

static int read_secret_for(const struct snmp_receiver_cfg *rc, const char *key, const char *path,
			   char **out, char *err, size_t errlen)
{
	int r = secret_read(path, true, out);
	if (r < 0)
		snprintf(err, errlen, "snmp receiver %s: %s %s: %s", rc->name, key, path,
			 r == -EINVAL ? "expected one line" : strerror(-r));
	return r;
}

struct rcv_secrets {
	char *community, *auth, *priv;
};

static void secrets_free(struct rcv_secrets *s)
{
	secret_free(s->community);
	secret_free(s->auth);
	secret_free(s->priv);
	memset(s, 0, sizeof *s);
}

static int load_secrets(const struct snmp_receiver_cfg *rc, struct rcv_secrets *s, char *err,
			size_t errlen)
{
	memset(s, 0, sizeof *s);
	if (rc->version == SNMP_RCV_V2C)
		return read_secret_for(rc, "community_file", rc->community_file, &s->community, err,
				       errlen);
	if (read_secret_for(rc, "auth_password_file", rc->auth_password_file, &s->auth, err,
			    errlen) < 0 ||
	    read_secret_for(rc, "priv_password_file", rc->priv_password_file, &s->priv, err,
			    errlen) < 0) {
		secrets_free(s);
		return -1;
	}
	return 0;
}

/* v3 trap users live under our one engine id: one user name, one set of passphrases. */
static int check_trap_users(const struct ferry_config *cfg, const struct rcv_secrets *sec,
			    char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_snmp_receivers; i++) {
		const struct snmp_receiver_cfg *a = &cfg->snmp_receivers[i];
		if (a->version != SNMP_RCV_V3 || a->kind != SNMP_RCV_TRAP)
			continue;
		for (size_t j = i + 1; j < cfg->n_snmp_receivers; j++) {
			const struct snmp_receiver_cfg *b = &cfg->snmp_receivers[j];
			if (b->version != SNMP_RCV_V3 || b->kind != SNMP_RCV_TRAP ||
			    strcmp(a->user, b->user))
				continue;
			if (strcmp(sec[i].auth, sec[j].auth) || strcmp(sec[i].priv, sec[j].priv)) {
				snprintf(err, errlen, "snmp receivers %s and %s: v3 traps of one user "
					 "(%s) need the same passphrases", a->name, b->name, a->user);
				return -1;
			}
		}
	}
	return 0;
}

static int setup_receiver(struct receiver *r, const struct snmp_receiver_cfg *rc,
			  const struct rcv_secrets *sec, char *err, size_t errlen)
{
	char why[256];
	snprintf(r->name, sizeof r->name, "%s", rc->name);
	r->inform = rc->kind == SNMP_RCV_INFORM;
	snprintf(r->desc, sizeof r->desc, "%s %s to %s", rc->version == SNMP_RCV_V3 ? "v3" : "v2c",
		 r->inform ? "inform" : "trap", rc->address);
	r->cap = n.cfg->snmp_queue;
	r->ring = calloc(r->cap, sizeof *r->ring);
	if (!r->ring) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	struct snmp_target_cfg tc = {
		.peer = rc->address,
		.v3 = rc->version == SNMP_RCV_V3,
		.inform = r->inform,
		.community = sec->community,
		.user = rc->user,
		.auth_pass = sec->auth,
		.priv_pass = sec->priv,
		.timeout_ms = n.cfg->snmp_timeout_ms,
		.engine_id = n.engine_id,
		.engine_id_len = n.engine_id_len,
	};
	if (snmp_target_new(&tc, on_done, r, &r->t, why, sizeof why) < 0) {
		snprintf(err, errlen, "snmp receiver %s: %s", rc->name, why);
		return -1;
	}
	return 0;
}

static void free_receivers(void)
{
	for (size_t i = 0; i < n.n_rcv; i++) {
		snmp_target_free(n.rcv[i].t);
		free(n.rcv[i].ring);
	}
	free(n.rcv);
	n.rcv = NULL;
	n.n_rcv = 0;
}

static int setup_receivers(const struct ferry_config *cfg, char *err, size_t errlen)
{
	size_t nr = cfg->n_snmp_receivers;
	struct rcv_secrets *sec = calloc(nr, sizeof *sec);
	n.rcv = calloc(nr, sizeof *n.rcv);
	int rc = -1;
	if (!sec || !n.rcv) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n.n_rcv = nr;
	size_t loaded = 0;
	for (; loaded < nr; loaded++)
		if (load_secrets(&cfg->snmp_receivers[loaded], &sec[loaded], err, errlen) < 0)
			goto out;
	if (check_trap_users(cfg, sec, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < nr; i++)
		if (setup_receiver(&n.rcv[i], &cfg->snmp_receivers[i], &sec[i], err, errlen) < 0)
			goto out;
	rc = 0;
out:
	for (size_t i = 0; sec && i < nr; i++)
		secrets_free(&sec[i]);
	free(sec);
	if (rc < 0)
		free_receivers();
	return rc;
}

int snmp_notifier_start(const struct ferry_config *cfg, const char *app, char *err,
			size_t errlen)
{
	char host[256] = "", why[256];
	if (!cfg->n_snmp_receivers)
		return 0;
	if (n.running) {
		snprintf(err, errlen, "the SNMP notifier is already running");
		return -1;
	}
	n.cfg = cfg;
	snprintf(n.app, sizeof n.app, "%s", app);
	gethostname(host, sizeof host - 1);
	int len = snmp_engine_id(cfg->snmp_engine_id, app, host, n.engine_id);
	if (len < 0) {
		snprintf(err, errlen, "bad snmp.engine_id '%s'", cfg->snmp_engine_id);
		return -1;
	}
	n.engine_id_len = (size_t)len;
	if (snmp_lib_init(app, n.engine_id, n.engine_id_len, why, sizeof why) < 0) {
		snprintf(err, errlen, "snmp: %s", why);
		return -1;
	}
	if (setup_receivers(cfg, err, errlen) < 0) {
		snmp_lib_shutdown(app);
		return -1;
	}
	int r = notify_queue_init(cfg->snmp_queue);
	n.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r < 0 || n.wake_fd < 0) {
		snprintf(err, errlen, "snmp: cannot create the queue: %s",
			 strerror(r < 0 ? -r : errno));
		goto fail;
	}
	n.start_ns = now_mono_ns();
	n.stopping = false;
	n.queue_dropped_logged = 0;
	n.drop_log_next_ns = 0;
	/* the thread takes no signal: the daemon's main thread handles them (signalfd) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&n.thread, NULL, notifier_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "snmp: pthread_create: %s", strerror(r));
		goto fail;
	}
	pthread_mutex_lock(&n.mu);
	n.running = true;
	pthread_mutex_unlock(&n.mu);
	char hex[2 * SNMP_ENGINE_ID_MAX + 3];
	snmp_engine_id_hex(n.engine_id, n.engine_id_len, hex, sizeof hex);
	log_info("snmp: %zu receiver(s), engine id %s", n.n_rcv, hex);
	return 0;
fail:
	notify_queue_close();
	if (n.wake_fd >= 0)
		close(n.wake_fd);
	n.wake_fd = -1;
	free_receivers();
	snmp_lib_shutdown(app);
	return -1;
}

void snmp_notifier_stop(unsigned drain_ms)
{
	pthread_mutex_lock(&n.mu);
	if (!n.running) {
		pthread_mutex_unlock(&n.mu);
		return;
	}
	n.stopping = true;
	n.drain_deadline_ns = now_mono_ns() + (uint64_t)drain_ms * MS;
	pthread_mutex_unlock(&n.mu);
	wake();
	pthread_join(n.thread, NULL);
	notify_queue_close();
	pthread_mutex_lock(&n.mu);
	n.running = false;
	for (size_t i = 0; i < n.n_waiters; i++) {
		write_line(n.waiters[i].fd, "error: %s is stopping\n", n.app);
		close(n.waiters[i].fd);
	}
	n.n_waiters = 0;
	pthread_mutex_unlock(&n.mu);
	free_receivers();
	close(n.wake_fd);
	n.wake_fd = -1;
	snmp_lib_shutdown(n.app);
}

bool snmp_notifier_running(void)
{
	pthread_mutex_lock(&n.mu);
	bool r = n.running && !n.stopping;
	pthread_mutex_unlock(&n.mu);
	return r;
}

/* ---- status ---- */

/* Under n.mu, while running. */
static void counts_locked(struct snmp_notifier_counts *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < n.n_rcv; i++) {
		c->sent += n.rcv[i].sent;
		c->acknowledged += n.rcv[i].acked;
		c->dropped += n.rcv[i].dropped;
		c->failed += n.rcv[i].failed;
	}
	c->dropped += notify_queue_dropped();
}

void snmp_notifier_counts(struct snmp_notifier_counts *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_lock(&n.mu);
	if (n.running)
		counts_locked(c);
	pthread_mutex_unlock(&n.mu);
}

/* Take n.mu and the counters if running; else return false (not locked). */
static bool lock_running(struct snmp_notifier_counts *c)
{
	pthread_mutex_lock(&n.mu);
	if (!n.running) {
		pthread_mutex_unlock(&n.mu);
		return false;
	}
	counts_locked(c);
	return true;
}

void snmp_notifier_status_json(struct dbuf *b)
{
	struct snmp_notifier_counts c;
	if (!lock_running(&c))
		return;
	dbuf_printf(b, "\"snmp\":{\"sent\":%llu,\"acknowledged\":%llu,\"dropped\":%llu,"
		    "\"failed\":%llu,\"queued\":%u,\"receivers\":[",
		    (unsigned long long)c.sent, (unsigned long long)c.acknowledged,
		    (unsigned long long)c.dropped, (unsigned long long)c.failed,
		    notify_queue_length());
	for (size_t i = 0; i < n.n_rcv; i++) {
		const struct receiver *r = &n.rcv[i];
		dbuf_printf(b, "%s{\"name\":", i ? "," : "");
		json_add_str(b, r->name);
		dbuf_printf(b, ",\"target\":");
		json_add_str(b, r->desc);
		dbuf_printf(b, ",\"state\":\"%s\",\"detail\":", state_names[r->state]);
		json_add_str(b, r->detail);
		dbuf_printf(b, ",\"waiting\":%u,\"sent\":%llu,\"acknowledged\":%llu,"
			    "\"dropped\":%llu,\"failed\":%llu}", r->waiting,
			    (unsigned long long)r->sent, (unsigned long long)r->acked,
			    (unsigned long long)r->dropped, (unsigned long long)r->failed);
	}
	pthread_mutex_unlock(&n.mu);
	dbuf_printf(b, "]}");
}

void snmp_notifier_status_text(struct dbuf *b)
{
	struct snmp_notifier_counts c;
	if (!lock_running(&c))
		return;
	dbuf_printf(b, "snmp: %llu sent, %llu acknowledged, %llu dropped, %llu failed\n",
		    (unsigned long long)c.sent, (unsigned long long)c.acknowledged,
		    (unsigned long long)c.dropped, (unsigned long long)c.failed);
	for (size_t i = 0; i < n.n_rcv; i++) {
		const struct receiver *r = &n.rcv[i];
		dbuf_printf(b, "  receiver %s (%s): %s%s%s, %u waiting\n", r->name, r->desc,
			    state_names[r->state], r->detail[0] ? ": " : "", r->detail, r->waiting);
	}
	pthread_mutex_unlock(&n.mu);
}
