/* The shipper: turns the replication log into recovery points in the repository.
 *
 * Threads next to the event loop: a scheduler that reads the log once, in sequence order,
 * sorting each record into its domain's stage, and one worker per protection domain. Every
 * `rpo` (or at once when asked through the control socket) a domain is due: the scheduler
 * reads up to the head as it is then and hands the domain's stage (its records, coalesced
 * by point-builder.c) to the domain's worker, which gives the surviving pieces to the
 * repository writer (dedupe, compression, encryption, packs) and commits: packs, index,
 * manifest. Only after the manifest is durable does it mark the records shipped and
 * reclaim their log space. So one domain's slow cut (a seed, a slow store) never delays
 * another domain's points. A point that fails (store unreachable, full disk, ...) is
 * retried at the next cut with everything since the last good point, read again from the
 * log: nothing is skipped, points stay in order. ship-internal.h has the details.
 *
 * The event loop talks to it only through shipper_request() (thread-safe) and the replog's
 * own locking. */
#ifndef FERRY_SHIPPER_H
#define FERRY_SHIPPER_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct shipper;

/* Open the repository named by the [store] section and start the thread. Return 0, or -1
 * (logged). Does nothing (returns 0, *out = NULL) when no [store] url is configured. */
int shipper_start(struct server *srv, struct shipper **out);
/* Stop the thread after the point in progress (if any) is committed or abandoned. */
void shipper_stop(struct shipper *sh);
/* Ask for a point of `domain` now. If reply_fd >= 0 the shipper takes it over and, once the
 * point's manifest is durable, writes "ok EPOCH.SEQ\n" (or "error: reason\n") to it and
 * closes it. Return 0, or -ENOENT (no such domain) / -ESHUTDOWN. */
int shipper_request(struct shipper *sh, const char *domain, int reply_fd);

/* Stop shipping the domain (a planned failover, after its final point): no more points are
 * cut; a point being cut is finished; waiting requests are answered with an error, and
 * later ones refused (-EPERM). Lasts until ferryd restarts: the two-site timeline's
 * ownership records will make it permanent. Thread-safe. -ENOENT: no such domain. */
int shipper_stop_domain(struct shipper *sh, const char *domain);

/* What `ferryctl status` shows of a domain's replication. */
struct ship_state {
	uint32_t epoch;
	uint64_t last_seq, last_ns;		/* newest durable point and its cut time */
	uint64_t consistent_seq, consistent_ns;	/* newest consistent point (0: none yet) */
	uint64_t uptodate_ns;	/* every write before this time is in a consistent point: the
				 * newest consistent point's cut, or a later cut that found
				 * nothing new to ship (an idle domain loses nothing) */
	uint32_t rpo_ms;
	bool failing;				/* the last attempt to cut a point failed */
	bool stopped;				/* shipper_stop_domain */
};
/* Thread-safe. -ENOENT: no such domain. */
int shipper_domain_state(struct shipper *sh, const char *domain, struct ship_state *out);

#endif
