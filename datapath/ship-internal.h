/* Private interfaces of the shipper (datapath/shipper.h is the public contract).
 *
 *              log ring (one pass, in sequence order)
 *                   |
 *   scheduler (shipper.c) --pb_add--> stage of each attached domain
 *        | a domain is due (rpo, or `ferryctl point`): its stage becomes a job
 *        v
 *   worker thread of that domain (shipper.c) --ship_cut_point (ship-point.c)-->
 *        seed / records / resync --> repository writer --> commit --> mark shipped
 *
 * One worker per domain, so one domain's cut never waits for another's (a seed of a big
 * disk, a slow commit). The log is read once for all domains by the scheduler: each
 * record lands in its domain's stage, which is handed over whole when the domain is due.
 * A domain is "detached" when its records must be read again from the log by its worker
 * (at start, after a failed point, or when its stage grows past SHIP_MAX_POINT_BYTES): the
 * worker then reads from its shipped position with its own cursor (cut short at
 * SHIP_MAX_POINT_BYTES), and once a cut reaches the head it saw, the scheduler attaches
 * the domain again (reading the records it skipped meanwhile, if any).
 *
 * Locks: sh->mu guards every field marked "under mu" and the waiters; workers hold it only
 * to take a job and to report one; the scheduler never holds it while reading the log.
 * Stages and the scheduler's cursor belong to the scheduler thread alone. */
#ifndef FERRY_SHIP_INTERNAL_H
#define FERRY_SHIP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/point-builder.h"
#include "repo/compress-auto.h"
#include "repo/repo.h"

#define SHIP_MAX_POINT_BYTES (512ull << 20)
#define SHIP_RETRY_MS 5000u
#define SHIP_SETTLE_WAIT_MS 10000u	/* a cut waits this long for primary writes to end */
#define SHIP_MAX_WAITERS 16

struct server;
struct disk;

/* What a worker is asked to ship. */
struct ship_job {
	struct point_builder *pb;	/* the staged records; NULL: read the log itself */
	uint64_t upto;			/* pb: the log sequence the records cover up to */
	uint64_t records;		/* pb: how many records it holds */
	uint64_t cut_ns;		/* CLOCK_REALTIME taken before the head was read */
	bool requested;			/* asked for by `ferryctl point` */
	size_t covered;			/* waiters this cut answers */
};

struct ship_domain {
	const struct domain_cfg *cfg;
	uint32_t domain_id;
	struct disk **disks;		/* this domain's disks, in config order */
	size_t n_disks;
	/* scheduling, under mu */
	uint64_t next_cut_ns;
	bool requested;
	int waiters[SHIP_MAX_WAITERS];	/* reply fds of `ferryctl point` */
	size_t n_waiters;
	bool has_job, busy;		/* a job is waiting for the worker / being shipped */
	struct ship_job job;
	bool detached;			/* the worker reads the log itself (see above) */
	bool reattach;			/* a detached cut reached the head it saw: ... */
	uint64_t reattach_at;		/* ... this log sequence */
	struct shipper *sh;
	pthread_t thread;
	bool started;
	pthread_cond_t cv;		/* the worker waits here for a job */
	/* the scheduler's: records of this domain staged since the last hand-over */
	struct point_builder *stage;
	uint64_t stage_records;
	uint64_t skip_upto;		/* records up to here are in a point already */
	/* the worker's (and init's) */
	uint32_t epoch;
	uint64_t last_point;		/* newest point seq of the epoch (0: none) */
	uint64_t shipped;		/* log sequence shipped up to */
	enum compress_type ctype;
	int clevel;
	bool cauto;
	struct auto_codec ac;		/* cauto: the rule's state (repo/compress-auto.h) */
	bool catchup_pending;	/* the last point was a seed or a resync: cut the next one even
				 * if empty (it makes the domain consistent again) */
	bool resync_deferred;	/* a records-only point was shipped while in overflow */
	/* for status, under mu: cut times (CLOCK_REALTIME ns) of the newest point and of the
	 * newest consistent point (0: none), and whether the last attempt failed */
	uint64_t last_ns, consistent_ns, consistent_seq;
	uint64_t idle_ns;	/* a cut found nothing new while the newest point was consistent */
	bool failing;
	bool stopped;		/* under mu: shipper_stop_domain, no more points (until ferryd
				 * restarts) */
	int last_err;		/* the worker's: -errno of the last failed cut */
};

struct shipper {
	struct server *srv;
	struct repo *repo;
	pthread_t thread;		/* the scheduler */
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* the scheduler waits here */
	bool stop;
	struct ship_domain *doms;
	size_t n_doms;
	struct replog_cursor *cur;	/* the scheduler's */
	uint64_t pos;			/* the scheduler has read the log up to this sequence */
};

/* ---- shipper.c ---- */

/* Before a cut reads the log (after it has taken its time): wait until every record placed
 * so far has settled (replog_settle_wait), so each write acknowledged before the cut's time
 * is read. 0, or -ETIMEDOUT after SHIP_SETTLE_WAIT_MS (logged: a hung primary write). */
int ship_settle_wait(struct shipper *sh);

/* ---- ship-point.c ---- */

/* Cut one point of d from job (its records, or the log read from d->shipped when job->pb
 * is NULL). Return 0 (done or nothing to do), 1 (done, but more is waiting: cut again
 * now), or -1 (failed; logged). *what receives a line for waiting clients; *reached the
 * log sequence the point covers (for a detached domain: where it can attach again) and
 * *cut_short whether it stopped before the head it saw. Runs on d's worker thread. */
int ship_cut_point(struct shipper *sh, struct ship_domain *d, struct ship_job *job,
		   char *what, size_t whatlen, uint64_t *reached, bool *cut_short);
/* The index of disk_id among d's disks, or -1. */
int ship_disk_index(const struct ship_domain *d, uint32_t disk_id);
/* `compression` of d's config into its codec state (auto: the rule's start). 0 or -1. */
int ship_parse_compression(struct shipper *sh, struct ship_domain *d);

#endif
