/* ferryd's monitor: see monitor.h for what it watches and why edge-triggered.
 *
 * Thresholds: the log alarm rises at 75 %, 90 % and "full" (a domain in overflow, or a
 * ring with no byte left) and falls back to normal below 70 % with no domain in overflow.
 * Backpressure is "on" while ferryd delays write replies (the log above 75 % with [log]
 * backpressure set) and "off" after 5 s without. RPO: exceeded when the newest consistent
 * point is older than the domain's rpo_alarm; before the first point, the age counts from
 * ferryd's start; a domain whose shipping a planned failover stopped (ship-stop) is not
 * watched. */
#include "datapath/monitor.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "datapath/server.h"
#include "datapath/shipper.h"
#include "common/banned.h"

#define ALARM_HYSTERESIS_PERMILLE 50
#define BACKPRESSURE_OFF_TICKS 5
#define DISK_ERROR_INTERVAL_NS (60ull * 1000000000ull)

/* ---- pure rules ---- */

static const unsigned alarm_at[] = { 0, 750, 900, 1000 };	/* per mille, by level */

static enum log_alarm band(unsigned permille, bool overflow)
{
	if (overflow || permille >= alarm_at[LOG_ALARM_FULL])
		return LOG_ALARM_FULL;
	if (permille >= alarm_at[LOG_ALARM_90])
		return LOG_ALARM_90;
	if (permille >= alarm_at[LOG_ALARM_75])
		return LOG_ALARM_75;
	return LOG_ALARM_NORMAL;
}

enum log_alarm monitor_log_alarm(enum log_alarm level, unsigned permille, bool overflow,
				 enum notify_type out[4], size_t *n)
{
	static const enum notify_type rising[] = { NOTIFY_LOG_USAGE_NORMAL, NOTIFY_LOG_USAGE_75,
						   NOTIFY_LOG_USAGE_90, NOTIFY_LOG_FULL };
	enum log_alarm b = band(permille, overflow);
	*n = 0;
	if (b > level) {
		for (int l = (int)level + 1; l <= (int)b; l++)
			out[(*n)++] = rising[l];
		return b;
	}
	/* falling: lower the latch only past the hysteresis below its threshold */
	enum log_alarm l = level;
	while (l > LOG_ALARM_NORMAL && !overflow &&
	       permille + ALARM_HYSTERESIS_PERMILLE < alarm_at[l])
		l--;
	if (l < level && l == LOG_ALARM_NORMAL)
		out[(*n)++] = NOTIFY_LOG_USAGE_NORMAL;
	return l;
}

enum store_health monitor_store_class(int err)
{
	switch (-err) {
	case 0:
		return STORE_OK;
	case EACCES:
	case EPERM:
		return STORE_CREDENTIALS;
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETUNREACH:
	case ENETDOWN:
	case ETIMEDOUT:
	case ENOTCONN:
	case EPIPE:
		return STORE_UNREACHABLE;
	default:
		return STORE_FAILING;
	}
}

const char *monitor_store_health_name(enum store_health h)
{
	static const char *const names[] = { "ok", "unreachable", "credentials_refused",
					     "failing", "none" };
	return (unsigned)h < ARRAY_SIZE(names) ? names[h] : "?";
}

/* ---- state ---- */

struct mon_domain {
	const struct domain_cfg *cfg;
	bool rpo_exceeded;
	/* under m.mu */
	enum store_health store;
	unsigned failures;		/* points failed since the last stored one */
	uint64_t failing_since_ns;
};

struct mon_disk {
	uint64_t last_ns;		/* when the last notification went out (0: never) */
	unsigned pending;		/* errors since */
	int last_err;
	char what[16];
};

static struct {
	pthread_mutex_t mu;
	bool ready;
	struct server *srv;
	struct mon_domain *doms;
	size_t n_doms;
	struct mon_disk *disks;
	size_t n_disks;
	enum log_alarm log_level;
	bool backpressure;
	unsigned bp_quiet_ticks;
	uint64_t start_real_ns;
} m = { .mu = PTHREAD_MUTEX_INITIALIZER };

int monitor_init(struct server *srv)
{
	const struct ferry_config *cfg = srv->cfg;
	m.doms = calloc(cfg->n_domains, sizeof *m.doms);
	m.disks = calloc(srv->n_disks ? srv->n_disks : 1, sizeof *m.disks);
	if (!m.doms || !m.disks) {
		log_error("monitor: out of memory");
		monitor_free();
		return -1;
	}
	m.n_doms = cfg->n_domains;
	m.n_disks = srv->n_disks;
	for (size_t i = 0; i < m.n_doms; i++) {
		m.doms[i].cfg = &cfg->domains[i];
		m.doms[i].store = srv->shipper ? STORE_OK : STORE_NONE;
	}
	m.srv = srv;
	m.start_real_ns = now_real_ns();
	m.log_level = LOG_ALARM_NORMAL;
	pthread_mutex_lock(&m.mu);
	m.ready = true;
	pthread_mutex_unlock(&m.mu);
	return 0;
}

void monitor_free(void)
{
	pthread_mutex_lock(&m.mu);
	m.ready = false;
	free(m.doms);
	free(m.disks);
	m.doms = NULL;
	m.disks = NULL;
	m.n_doms = m.n_disks = 0;
	pthread_mutex_unlock(&m.mu);
}

static struct mon_domain *find_domain(const char *name)
{
	for (size_t i = 0; i < m.n_doms; i++)
		if (strcmp(m.doms[i].cfg->name, name) == 0)
			return &m.doms[i];
	return NULL;
}

/* ---- levels, once a second ---- */

static void tick_log(struct server *srv, const struct replog_stat *st)
{
	bool overflow = false;
	for (size_t i = 0; i < st->n_domains; i++)
		overflow |= st->domains[i].overflow;
	unsigned permille = st->data_size ? (unsigned)(1000 * st->used_bytes / st->data_size) : 0;
	enum notify_type ev[4];
	size_t n;
	m.log_level = monitor_log_alarm(m.log_level, permille, overflow, ev, &n);
	for (size_t i = 0; i < n; i++)
		notify_event(ev[i], NULL, "replication log %s is %u.%u %% full (%" PRIu64 " of %"
			     PRIu64 " bytes)%s", srv->cfg->log_path, permille / 10, permille % 10,
			     st->used_bytes, st->data_size,
			     overflow ? "; a domain is in overflow" : "");
}

static void tick_backpressure(struct server *srv, unsigned permille)
{
	if (server_backpressure_engaged(srv)) {
		m.bp_quiet_ticks = 0;
		if (!m.backpressure) {
			m.backpressure = true;
			notify_event(NOTIFY_BACKPRESSURE_ON, NULL, "guest writes are slowed down by "
				     "up to %u ms: the replication log is %u %% full",
				     srv->cfg->log_backpressure_ms, permille / 10);
		}
	} else if (m.backpressure && ++m.bp_quiet_ticks >= BACKPRESSURE_OFF_TICKS) {
		m.backpressure = false;
		notify_event(NOTIFY_BACKPRESSURE_OFF, NULL, "guest writes are no longer slowed "
			     "down: the replication log is %u %% full", permille / 10);
	}
}

static void tick_rpo(struct server *srv, struct mon_domain *d, uint64_t now)
{
	struct ship_state ss;
	if (!srv->shipper || shipper_domain_state(srv->shipper, d->cfg->name, &ss) < 0)
		return;
	if (ss.stopped)
		return;	/* a planned failover stopped it (ship-stop): its RPO grows on purpose */
	uint64_t since = ss.uptodate_ns ? ss.uptodate_ns : m.start_real_ns;
	uint64_t age_ms = now > since ? (now - since) / 1000000u : 0;
	bool over = age_ms > d->cfg->rpo_alarm_ms;
	if (over == d->rpo_exceeded)
		return;
	d->rpo_exceeded = over;
	if (over && ss.consistent_ns)
		notify_event(NOTIFY_RPO_EXCEEDED, d->cfg->name, "current RPO %" PRIu64 " s exceeds "
			     "the alarm threshold of %u s (rpo %u s); newest consistent point "
			     "%" PRIu32 ".%" PRIu64, age_ms / 1000, d->cfg->rpo_alarm_ms / 1000,
			     d->cfg->rpo_ms / 1000, ss.epoch, ss.consistent_seq);
	else if (over)
		notify_event(NOTIFY_RPO_EXCEEDED, d->cfg->name, "no consistent point yet, %" PRIu64
			     " s after ferryd started (alarm threshold %u s)", age_ms / 1000,
			     d->cfg->rpo_alarm_ms / 1000);
	else
		notify_event(NOTIFY_RPO_RECOVERED, d->cfg->name, "current RPO %" PRIu64 " s is "
			     "within the alarm threshold of %u s again; newest consistent point "
			     "%" PRIu32 ".%" PRIu64, age_ms / 1000, d->cfg->rpo_alarm_ms / 1000,
			     ss.epoch, ss.consistent_seq);
}

static void tick_disks(uint64_t now)
{
	for (size_t i = 0; i < m.n_disks; i++) {
		struct mon_disk *k = &m.disks[i];
		if (!k->pending || now - k->last_ns < DISK_ERROR_INTERVAL_NS)
			continue;
		const struct disk *d = &m.srv->disks[i];
		notify_event(NOTIFY_DISK_IO_ERROR, d->domain, "disk %s: %u more primary I/O errors "
			     "in the last minute (last: %s: %s)", d->name, k->pending, k->what,
			     strerror(-k->last_err));
		k->pending = 0;
		k->last_ns = now;
	}
}

void monitor_tick(struct server *srv)
{
	if (!m.ready)
		return;
	struct replog_stat *st = calloc(1, sizeof *st);
	if (st && replog_get_stat(srv->log, st) == 0) {
		tick_log(srv, st);
		tick_backpressure(srv, st->data_size ? (unsigned)(1000 * st->used_bytes /
								  st->data_size) : 0);
	}
	free(st);
	uint64_t now = now_real_ns();
	for (size_t i = 0; i < m.n_doms; i++)
		tick_rpo(srv, &m.doms[i], now);
	tick_disks(now_mono_ns());
}

/* ---- events ---- */

void monitor_point_result(const char *domain, int err)
{
	pthread_mutex_lock(&m.mu);
	struct mon_domain *d = m.ready ? find_domain(domain) : NULL;
	if (!d) {
		pthread_mutex_unlock(&m.mu);
		return;
	}
	enum store_health h = monitor_store_class(err), was = d->store;
	uint64_t now = now_mono_ns();
	unsigned failures = d->failures;
	uint64_t since = d->failing_since_ns;
	if (h == STORE_OK) {
		d->failures = 0;
	} else {
		if (!d->failures)
			d->failing_since_ns = now;
		d->failures++;
	}
	d->store = h;
	pthread_mutex_unlock(&m.mu);
	if (h == was)
		return;
	switch (h) {
	case STORE_OK:
		notify_event(NOTIFY_STORE_RECOVERED, domain, "recovery points are stored again "
			     "after %u failed attempts in %" PRIu64 " s", failures,
			     (now - since) / 1000000000u);
		break;
	case STORE_UNREACHABLE:
		notify_event(NOTIFY_STORE_UNREACHABLE, domain, "the object store does not answer "
			     "(%s); points are retried", strerror(-err));
		break;
	case STORE_CREDENTIALS:
		notify_event(NOTIFY_CREDENTIALS_REFUSED, domain, "the object store refused the "
			     "credentials (%s); points are retried", strerror(-err));
		break;
	default:
		notify_event(NOTIFY_POINT_FAILED, domain, "a recovery point failed (%s); points "
			     "are retried", strerror(-err));
		break;
	}
}

void monitor_disk_error(struct disk *d, const char *what, int err)
{
	if (!m.ready || !m.srv || d < m.srv->disks || d >= m.srv->disks + m.n_disks)
		return;
	struct mon_disk *k = &m.disks[d - m.srv->disks];
	uint64_t now = now_mono_ns();
	k->last_err = err;
	snprintf(k->what, sizeof k->what, "%s", what);
	if (k->last_ns && now - k->last_ns < DISK_ERROR_INTERVAL_NS) {
		k->pending++;		/* the next tick after the minute reports them */
		return;
	}
	k->last_ns = now;
	notify_event(NOTIFY_DISK_IO_ERROR, d->domain, "disk %s: primary %s failed: %s (path %s)",
		     d->name, what, strerror(-err), d->path);
}

enum store_health monitor_store_health(const char *domain)
{
	pthread_mutex_lock(&m.mu);
	struct mon_domain *d = m.ready ? find_domain(domain) : NULL;
	enum store_health h = d ? d->store : STORE_NONE;
	pthread_mutex_unlock(&m.mu);
	return h;
}
