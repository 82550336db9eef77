/* ferryd's server core: private header shared by loop.c, conn.c, disk-io.c, disk-lock.c,
 * redo.c, control.c and ferryd.c. Everything declared here runs on one thread, the event loop, so
 * there are no locks: the loop owns every connection, disk and request. The shipper
 * (shipper.c, its own thread) reads the replication log through struct replog, which has
 * its own locks; the event loop never waits on them for I/O (replog-internal.h).
 *
 * One NBD WRITE, as the code does it (write-ahead: log first, primary second):
 *
 *   conn.c      conn_read: 28-byte header -> nbd_request_decode/validate; the payload is
 *               read into op->buf (replog_payload_alloc), straight from the socket when
 *               large
 *   disk-io.c   op_dispatch -> overlap check: an op that overlaps a write-class op still
 *               active on the disk waits in the disk's FIFO (wait_queue_kick starts it
 *               later), so overlapping writes reach the log and the primary in one order
 *               -> op_start: replog_append (sequence number and ring place assigned now,
 *               or, in overflow, the extent's dirty bits set) and redo_track
 *   loop.c      post_phase, end of every loop iteration:
 *                 replog_commit      every record appended this iteration in one batch
 *                                    (group commit; large payloads' whole pages O_DIRECT)
 *                 io_submit_pending  all queued I/O to the kernel in one call (small
 *                                    buffered writes run inline, see common/ioengine.h)
 *                 io_reap            completions
 *                 conn_flush_all     one writev of queued replies per connection
 *   disk-io.c   log batch done (replog calls done() in sequence order) -> log_done:
 *               queue_primary (pwritev on the primary, RWF_DSYNC when FUA; 64 KiB and
 *               more 4 KiB-aligned with O_DIRECT from the realigned payload
 *               (replog_payload_realign), other large ones buffered on the engine's
 *               workers, smaller ones inline) -> primary_done (a large buffered write's
 *               writeback is started, primary_writeback) -> write_op_end:
 *               redo_untrack, replog_set_settled (the shipper may read the records
 *               before the oldest op still on the redo list; a point cut at time T first
 *               waits until every record placed by T has settled, replog_settle_wait, so
 *               a write acknowledged before T is never left out because an older one
 *               was still in flight), wake overlapping waiters,
 *               backpressure may hold the reply -> conn_reply (queued, sent by
 *               conn_flush_all)
 *
 * A failed log write fails the request with EIO before the primary is touched. A failed
 * primary write fails it with the primary's errno and marks its extent dirty in the log
 * (primary_write_failed, REPLOG_MARK_DIRTY) before it settles, so its record never ships
 * and the next point re-reads the extent from the primary. TRIM and WRITE_ZEROES log a
 * ZERO record the same way, then zero the primary with fallocate (disk_zero_range,
 * synchronous).
 *
 * READ: preadv via the engine, reply with the data (a structured OFFSET_DATA chunk when
 * negotiated); reads never wait for writes (NBD orders nothing between them). FLUSH:
 * fdatasync of the export's primary and of the log through the engine; both are
 * file-wide, so a FLUSH covers every write completed on any connection, which is what
 * makes NBD_FLAG_CAN_MULTI_CONN true. CACHE (readahead) and BLOCK_STATUS
 * (SEEK_DATA/SEEK_HOLE on the primary) are answered inline (disk-status.c). A FAST_ZERO
 * WRITE_ZEROES that could only be done by writing zeroes is refused before it is logged.
 *
 * TLS: after STARTTLS the connection's bytes go through tls.c (conn.c's transport);
 * nothing above it changes.
 *
 * Crash consistency (redo.c): every record below the oldest op still on the redo list is
 * in its primary; a 2 s checkpoint syncs the primaries and records that "applied" point in
 * the log's superblock (replog_set_applied), and ferryd's start-up re-applies the records
 * after it. */
#ifndef FERRY_SERVER_H
#define FERRY_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/config.h"
#include "common/dbuf.h"
#include "common/ioengine.h"
#include "datapath/nbd-proto.h"
#include "datapath/replog.h"

#define CONN_RBUF_SIZE (256u << 10)	/* staging buffer for socket reads */
#define CONN_MAX_INFLIGHT 128		/* requests per connection before we stop reading */
#define CONN_MAX_OUT_BYTES (64u << 20)	/* queued reply bytes before we stop reading */
#define IO_DEPTH 512

struct server;
struct conn;
struct shipper;

/* Counters for `ferryctl status`. */
struct io_stats {
	uint64_t reads, writes, zeroes, trims, flushes;
	uint64_t bytes_read, bytes_written;
	uint64_t errors;
};

/* ---- disk-io.c: a protected disk, served as one NBD export ---- */

struct disk {
	struct server *srv;
	const char *name;	/* export name (points into the config) */
	const char *path;
	const char *domain;
	int fd;
	int dfd;		/* O_DIRECT twin for large aligned writes, or -1 */
	bool use_direct;	/* dfd is open and the kernel has not refused it */
	bool is_blockdev;
	bool zero_slow;		/* fallocate cannot zero it: zeroing writes zeroes */
	uint64_t size;
	uint32_t domain_id, disk_id;	/* in the replication log's registry */
	unsigned connections;
	struct io_stats st, st_prev;	/* st_prev: snapshot a second ago, for rates */
	uint64_t iops, write_bps, read_bps;	/* rates over the last second */
	/* write-class ops whose primary I/O is in flight, and ops waiting behind them */
	struct nbd_op *active;
	struct nbd_op *wait_head, *wait_tail;
};

/* One queued piece of output: a reply (owned by its op) or handshake bytes (heap). */
struct out_item {
	struct out_item *next;
	struct iovec iov[2];	/* header, data */
	int iovcnt;
	struct nbd_op *op;	/* freed once sent (NULL for handshake bytes) */
	void *heap;		/* freed once sent */
};

/* One NBD request from receipt to reply. */
struct nbd_op {
	struct conn *conn;
	struct disk *disk;
	struct nbd_request req;
	uint8_t *buf;		/* WRITE payload / READ data (malloc'd, req.length bytes) */
	struct iovec iov;
	struct io_req io;	/* primary read/write/fdatasync */
	struct io_req io2;	/* FLUSH: the log's fdatasync */
	struct replog_append la;
	struct replog_append mark;	/* the primary write failed: its extent marked dirty */
	int parts;		/* completions still expected */
	int err;		/* first negative errno */
	struct nbd_op *next;	/* disk active list / wait queue */
	struct nbd_op *anext, *aprev;	/* server redo list (logged, primary pending) */
	bool tracked;		/* on the redo list */
	bool overflowed;	/* counted in srv->overflow_inflight */
	uint64_t flush_applied;	/* FLUSH: applied point when it started */
	/* reply */
	uint8_t rhdr[NBD_CHUNK_HDR_SIZE + 8];
	struct out_item out;
	uint64_t due_ns;	/* backpressure: reply not before this (CLOCK_MONOTONIC) */
};

int disk_open(struct server *srv, struct disk *d, const struct disk_cfg *cfg,
	      const char *domain);
/* disk-lock.c: refuse a primary that another disk of this configuration or another ferryd
 * serves (OFD write lock on the whole file or device, held until close). Return 0, or -1
 * (logged, naming both owners). */
int disk_lock(struct server *srv, struct disk *d);
/* Sync and close the primary. Return 0, or -1 (logged) if the sync failed: then the log
 * must not be closed clean, so the next start re-applies its records. */
int disk_close(struct disk *d);
/* Zero a range of the primary: a hole where allowed, allocated zeroes otherwise. Return 0
 * or -errno. */
int disk_zero_range(struct disk *d, uint64_t off, uint64_t len, bool may_punch, bool fast);
/* ---- disk-status.c: the requests that only ask about a disk ----
 * Could a WRITE_ZEROES with FAST_ZERO be done without writing zeroes? (A block device
 * only punches quickly; zeroing allocated blocks may write.) Decided before the request
 * is logged, so a refusal changes nothing. */
bool disk_zero_is_fast(const struct disk *d, bool may_punch);
/* NBD_CMD_BLOCK_STATUS for base:allocation: fill op->buf with the whole structured reply
 * (op->iov says where and how long). Holes and data from SEEK_HOLE/SEEK_DATA on a file; a
 * block device is all data. Return 0 or -errno. */
int disk_block_status(struct nbd_op *op);
/* NBD_CMD_CACHE: start reading the range into the page cache (POSIX_FADV_WILLNEED). */
void disk_cache(struct nbd_op *op);
/* Crash recovery at start-up: re-apply the log records from replog_redo_from() to the
 * primaries, sync them, record the new applied point. Return 0 or -1 (logged). */
int server_redo(struct server *srv);
/* Every ~2 s: sync the primaries and record the applied point (bounds the next redo). */
void server_applied_checkpoint(struct server *srv);
/* Start executing a decoded, validated request (payload already read). Takes ownership of
 * op; the reply is queued on op->conn when done. */
void op_dispatch(struct nbd_op *op);
void op_free(struct nbd_op *op);
/* Every record with a sequence number <= this is in its primary (page cache at least). */
uint64_t server_applied_seq(const struct server *srv);
/* Backpressure: reply to every held-back op that is due; return ms until the next one is
 * due, or -1 if none is waiting. */
int server_release_delayed(struct server *srv);
/* Whether write replies are being held back now (backpressure, see disk-io.c). */
bool server_backpressure_engaged(struct server *srv);
/* Roll the per-second rate counters (called from a 1 s timer). */
void disk_update_rates(struct disk *d);

/* ---- conn.c: one NBD client connection ---- */

enum conn_phase { CONN_HANDSHAKE, CONN_TRANSMISSION, CONN_DRAINING, CONN_DEAD };

struct conn {
	struct server *srv;
	struct conn *next_all, *prev_all;
	int fd;
	unsigned id;
	char peer[64];
	enum conn_phase phase;
	struct nbd_handshake hs;
	struct disk *disk;
	/* input */
	uint8_t *rbuf;
	size_t rpos, rlen;
	struct nbd_op *rd_op;	/* reading this WRITE's payload */
	size_t rd_got;
	uint64_t discard_left;	/* payload bytes of a refused WRITE still to skip */
	struct nbd_request discard_req;
	uint32_t discard_err;
	bool reading;		/* EPOLLIN registered */
	bool eof;		/* peer closed its side, or DISC received */
	/* output */
	struct out_item *out_head, *out_tail;
	size_t out_bytes;
	size_t out_off;		/* bytes of out_head already sent */
	bool writing;		/* EPOLLOUT registered */
	bool flush_listed;	/* on srv->flush_list */
	struct conn *next_flush;
	/* TLS (conn.c): after STARTTLS, reads and writes go through it */
	struct tls_conn *tls;
	bool tls_wait_read;	/* a TLS write waits for the socket to be readable */
	bool tls_read_blocked;	/* a TLS read waits for the socket to be writable */
	bool read_again;	/* on srv->read_again: decrypted input is waiting */
	struct conn *next_again;
	unsigned inflight;	/* ops dispatched, not yet replied */
};

/* Accept-side setup; fd is a connected, nonblocking socket. */
void conn_new(struct server *srv, int fd, const char *peer);
/* epoll events for this connection. */
void conn_on_events(struct conn *c, uint32_t events);
/* An op finished: queue its reply (frees op after sending). */
void conn_reply(struct conn *c, struct nbd_op *op);
/* Write queued output of every connection that has some (end of each loop iteration). */
void conn_flush_all(struct server *srv);
/* Read c again after this round of events (TLS input epoll cannot see), and do it for
 * every connection so listed (loop.c's post phase). */
void conn_read_later(struct conn *c);
void conn_read_again_all(struct server *srv);
/* Stop reading new requests on every connection (shutdown); close idle ones. */
void conn_shutdown_all(struct server *srv);
/* Close the socket now; the struct is freed later by conn_reap_dead(). */
void conn_close(struct conn *c, const char *why);
/* Free closed connections that nothing points at any more (end of each loop iteration). */
void conn_reap_dead(struct server *srv);

/* ---- control.c: the control socket (ferryctl status) ---- */

int control_open(struct server *srv, const char *path);
void control_on_accept(struct server *srv);
void control_close(struct server *srv);

/* ---- loop.c: the event loop ---- */

/* epoll tags: the low bits of event.data.u64 say what the fd is */
enum ev_kind { EV_LISTEN = 1, EV_CONN, EV_ENGINE, EV_SIGNAL, EV_TIMER, EV_CONTROL };

struct server {
	struct ferry_config *cfg;
	struct io_engine *eng;
	char engine_why[256];
	struct replog *log;
	struct disk *disks;
	size_t n_disks;
	struct nbd_export_info *exports;	/* parallel to disks */
	int epfd, listen_fd, control_fd, signal_fd, timer_fd;
	sigset_t signal_mask;		/* read through signal_fd (signals_setup) */
	char *unix_listen_path;		/* to unlink at exit */
	struct conn *conns;		/* all connections */
	unsigned n_conns, next_conn_id;
	struct conn *flush_list;	/* connections with output to write */
	struct conn *read_again;	/* connections to read again (conn_read_later) */
	struct tls_server *tls;		/* NULL: TLS off (tls.h) */
	enum nbd_tls_mode tls_mode;	/* what the handshake offers */
	bool stopping;
	uint64_t started_ns;
	/* redo point: see disk-io.c */
	struct nbd_op *redo_head, *redo_tail;
	uint64_t last_seq;		/* highest sequence appended */
	uint64_t redo_persisted;	/* last applied point written to the superblock */
	uint64_t redo_candidate;	/* point being made durable (primaries syncing) */
	int redo_syncs;			/* primary fdatasyncs in flight for it */
	struct io_req *redo_reqs;	/* one per disk */
	uint64_t ticks;			/* 1 s timer */
	struct shipper *shipper;	/* NULL without a [store] */
	/* per log domain id: overflowed writes whose primary I/O has not finished (the
	 * shipper's resync waits for zero before reading the primaries) */
	_Atomic unsigned overflow_inflight[REPLOG_MAX_DOMAINS + 1];
	/* backpressure: write replies held back while the log is nearly full, by due time */
	struct nbd_op *delayed_head;
	uint64_t delayed_acks;
};

/* Called first thing by threads beside the event loop (the shipper's scheduler and
 * workers; the threads they start inherit it): lower the calling thread's CPU priority by
 * BACKGROUND_NICE, so on a small appliance guest I/O wins the CPU and shipping uses what is
 * left. */
#define BACKGROUND_NICE 5
void server_background_thread(const char *what);
/* ---- signals.c: what ferryd does with each signal ---- */

/* First thing in main, before any thread: ignore SIGPIPE and SIGXFSZ, log one line for
 * every other fatal signal, and block SIGTERM, SIGINT and SIGHUP (returned in loop_mask)
 * for the event loop's signalfd. Return 0 or -1 (logged). */
int signals_setup(sigset_t *loop_mask);
/* Sockets a fatal signal removes on its way out (NULL: none). */
void signals_remove_at_exit(const char *control_socket, const char *unix_listen);
/* --log-file: send stderr (the log) to path, reopened on SIGHUP. Return 0 or -errno. */
int log_file_open(const char *path);
/* SIGHUP on the loop thread: reopen the log file, reload what can change while running,
 * log what was done. */
void server_hangup(struct server *srv);
/* Set srv->tls and srv->tls_mode from cfg's [nbd] TLS keys (at start-up, and on SIGHUP for
 * new connections). Return 0, or -1 (logged; srv unchanged). */
int server_tls_setup(struct server *srv, const struct ferry_config *cfg);

/* Register/modify/remove fd in epoll with a kind tag and a pointer. Return 0 or -1 (logged). */
int loop_add(struct server *srv, int fd, uint32_t events, enum ev_kind kind, void *ptr);
int loop_mod(struct server *srv, int fd, uint32_t events, enum ev_kind kind, void *ptr);
void loop_del(struct server *srv, int fd);
/* Open the listening socket ("host:port" or "unix:/path"). Return fd or -1 (logged). */
int listen_open(struct server *srv, const char *spec);
/* Create the signalfd (srv->signal_mask, blocked by signals_setup), epoll and the timer;
 * register the listener, engine, signal, timer and control fds (listen_fd, control_fd and
 * eng set before). */
int loop_setup_fds(struct server *srv);
/* Run until SIGTERM/SIGINT (SIGHUP: server_hangup), then drain. Return 0 on a clean stop, -1 on a fatal error. */
int loop_run(struct server *srv);

#endif
