/* One NBD client connection, as a nonblocking state machine driven by the event loop.
 *
 * Input goes through a 256 KiB staging buffer, so one recv() usually carries many small
 * requests; a WRITE payload larger than what is buffered is read straight into the
 * request's own buffer. Replies are queued (each op carries its own queue item, so queuing
 * never allocates) and written with one writev() per connection at the end of a loop
 * iteration. A connection stops reading when it has CONN_MAX_INFLIGHT requests in flight or
 * too many reply bytes queued, and resumes when the backlog drains: a client that sends
 * without reading cannot make the server buffer without bound.
 *
 * A connection that dies with requests in flight stays allocated (phase CONN_DEAD) until
 * the last of them completes, because completions point at it.
 *
 * TLS (STARTTLS): once the STARTTLS reply has gone out, the connection runs the TLS
 * handshake on its socket (conn_tls_step, driven by the same epoll events), then reads and
 * writes through tls.c instead of recv/sendmsg; everything above that is unchanged.
 * Decrypted bytes OpenSSL holds are invisible to epoll, so a connection that stops reading
 * with some of them left goes on the server's read_again list, served after the loop's
 * events. */
#include "datapath/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "datapath/tls.h"
#include "common/banned.h"

static void conn_read(struct conn *c);
static void conn_write(struct conn *c);

static void conn_update_events(struct conn *c)
{
	uint32_t ev = 0;
	if (c->phase == CONN_DEAD)
		return;
	if (c->reading || c->tls_wait_read)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (c->writing)
		ev |= EPOLLOUT;
	loop_mod(c->srv, c->fd, ev, EV_CONN, c);
}

/* ---- transport: the socket, or TLS over it ---- */

static ssize_t conn_recv(struct conn *c, void *buf, size_t len)
{
	return c->tls ? tls_conn_recv(c->tls, buf, len) : recv(c->fd, buf, len, 0);
}

static ssize_t conn_sendv(struct conn *c, struct iovec *iov, int n)
{
	if (c->tls)
		return tls_conn_sendv(c->tls, iov, n);
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
}

/* Wait for the socket the way the last TLS EAGAIN asked (writable, or readable). */
static void conn_tls_wait(struct conn *c)
{
	bool w = tls_conn_wants_write(c->tls);
	if (c->writing != w || c->tls_wait_read == w) {
		c->writing = w;
		c->tls_wait_read = !w;
		conn_update_events(c);
	}
}

/* After STARTTLS was acknowledged: once the reply is out, run the TLS handshake; when it
 * is done, option haggling goes on inside TLS. */
static void conn_tls_step(struct conn *c)
{
	char why[256];
	if (c->out_head)
		return;		/* the STARTTLS reply first, in the clear */
	if (!c->tls) {
		if (c->rpos != c->rlen) {
			conn_close(c, "client sent data after STARTTLS before the TLS handshake");
			return;
		}
		if (!c->srv->tls || !(c->tls = tls_conn_new(c->srv->tls, c->fd))) {
			conn_close(c, "cannot start TLS");
			return;
		}
	}
	int r = tls_conn_handshake(c->tls, why, sizeof why);
	if (r < 0) {
		conn_close(c, why);
		return;
	}
	if (r == 0) {
		conn_tls_wait(c);
		return;
	}
	nbd_hs_tls_done(&c->hs);
	c->tls_wait_read = false;
	c->writing = false;
	conn_update_events(c);
	log_info("conn %u (%s): TLS %s", c->id, c->peer, tls_conn_describe(c->tls, why, sizeof why));
	conn_read(c);
}

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	if (c->prev_all)
		c->prev_all->next_all = c->next_all;
	else
		srv->conns = c->next_all;
	if (c->next_all)
		c->next_all->prev_all = c->prev_all;
	srv->n_conns--;
	free(c->rbuf);
	free(c);
}

static void flush_list_add(struct conn *c)
{
	if (c->flush_listed || c->phase == CONN_DEAD)
		return;
	c->flush_listed = true;
	c->next_flush = c->srv->flush_list;
	c->srv->flush_list = c;
}

static void out_push(struct conn *c, struct out_item *it)
{
	it->next = NULL;
	if (c->out_tail)
		c->out_tail->next = it;
	else
		c->out_head = it;
	c->out_tail = it;
	for (int i = 0; i < it->iovcnt; i++)
		c->out_bytes += it->iov[i].iov_len;
	flush_list_add(c);
}

/* Queue a copy of handshake bytes. */
static int out_push_bytes(struct conn *c, const void *p, size_t n)
{
	struct out_item *it = calloc(1, sizeof *it + n);
	if (!it)
		return -ENOMEM;
	it->heap = it;
	memcpy(it + 1, p, n);
	it->iov[0].iov_base = it + 1;
	it->iov[0].iov_len = n;
	it->iovcnt = 1;
	out_push(c, it);
	return 0;
}

static void out_item_release(struct out_item *it)
{
	if (it->op)
		op_free(it->op);
	else
		free(it->heap);
}

void conn_new(struct server *srv, int fd, const char *peer)
{
	struct conn *c = calloc(1, sizeof *c);
	uint8_t greeting[18];

	if (!c || !(c->rbuf = malloc(CONN_RBUF_SIZE))) {
		log_error("connection from %s: out of memory", peer);
		free(c);
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->id = ++srv->next_conn_id;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	c->phase = CONN_HANDSHAKE;
	nbd_hs_init(&c->hs, srv->exports, srv->n_disks);
	c->hs.tls_mode = srv->tls_mode;
	c->next_all = srv->conns;
	if (srv->conns)
		srv->conns->prev_all = c;
	srv->conns = c;
	srv->n_conns++;
	c->reading = true;
	if (loop_add(srv, fd, EPOLLIN | EPOLLRDHUP, EV_CONN, c) < 0) {
		close(fd);
		c->fd = -1;
		c->phase = CONN_DEAD;
		return;
	}
	log_debug("conn %u: connected from %s", c->id, c->peer);
	nbd_hs_greeting(greeting);
	if (out_push_bytes(c, greeting, sizeof greeting) < 0)
		conn_close(c, "out of memory");
}

void conn_close(struct conn *c, const char *why)
{
	if (c->phase == CONN_DEAD)
		return;
	if (why)
		log_info("conn %u (%s%s%s): closed: %s", c->id, c->peer, c->disk ? ", export " : "",
			 c->disk ? c->disk->name : "", why);
	loop_del(c->srv, c->fd);
	tls_conn_free(c->tls);
	c->tls = NULL;
	close(c->fd);
	c->fd = -1;
	if (c->disk)
		c->disk->connections--;
	c->phase = CONN_DEAD;
	while (c->out_head) {
		struct out_item *it = c->out_head;
		c->out_head = it->next;
		out_item_release(it);
	}
	c->out_tail = NULL;
	if (c->rd_op) {
		op_free(c->rd_op);
		c->rd_op = NULL;
	}
	/* freed by conn_reap_dead() at the end of the loop iteration, once no request and no
	 * pending epoll event can point at it any more */
}

void conn_reap_dead(struct server *srv)
{
	struct conn *c = srv->conns, *next;
	for (; c; c = next) {
		next = c->next_all;
		if (c->phase == CONN_DEAD && c->inflight == 0 && !c->flush_listed)
			conn_free(c);
	}
}

/* Close once nothing is left to do, after DISC, EOF or a protocol error. */
static void conn_maybe_finish(struct conn *c)
{
	if (c->phase != CONN_DEAD && c->eof && c->inflight == 0 && !c->out_head && !c->rd_op)
		conn_close(c, c->hs.close_reason ? c->hs.close_reason : "client disconnected");
}

/* ---- replies ---- */

void conn_reply(struct conn *c, struct nbd_op *op)
{
	struct out_item *it = &op->out;
	bool structured = c->hs.structured;
	uint64_t cookie = op->req.cookie;

	c->inflight--;
	if (c->phase == CONN_DEAD) {
		op_free(op);
		return;
	}
	memset(it, 0, sizeof *it);
	it->op = op;
	it->iov[0].iov_base = op->rhdr;
	it->iovcnt = 1;
	if (op->err) {
		uint32_t e = nbd_errno_to_wire(op->err);
		if (structured && (op->req.type == NBD_CMD_READ ||
				   op->req.type == NBD_CMD_BLOCK_STATUS))
			it->iov[0].iov_len = nbd_reply_error_chunk(op->rhdr, cookie, e, NULL);
		else
			it->iov[0].iov_len = nbd_reply_simple(op->rhdr, e, cookie);
	} else if (op->req.type == NBD_CMD_READ) {
		if (structured && op->req.length == 0) {
			it->iov[0].iov_len = nbd_reply_none_chunk(op->rhdr, cookie);
		} else {
			it->iov[0].iov_len = structured
				? nbd_reply_read_chunk(op->rhdr, cookie, op->req.offset, op->req.length, true)
				: nbd_reply_simple(op->rhdr, 0, cookie);
			it->iov[1].iov_base = op->buf;
			it->iov[1].iov_len = op->req.length;
			it->iovcnt = op->req.length ? 2 : 1;
		}
	} else if (op->req.type == NBD_CMD_BLOCK_STATUS) {
		it->iov[0] = op->iov;	/* the whole chunk, built by disk_block_status */
	} else {
		it->iov[0].iov_len = nbd_reply_simple(op->rhdr, 0, cookie);
	}
	out_push(c, it);
}

/* Reply to a request that never reached the disk (refused by validation). */
static void reply_error_now(struct conn *c, const struct nbd_request *req, uint32_t wire_err)
{
	struct nbd_op *op = calloc(1, sizeof *op);
	if (!op) {
		conn_close(c, "out of memory");
		return;
	}
	op->conn = c;
	op->disk = c->disk;
	op->req = *req;
	op->err = -EINVAL;
	/* map back through errno space so conn_reply's encoder is the only one */
	switch (wire_err) {
	case NBD_EPERM: op->err = -EPERM; break;
	case NBD_ENOSPC: op->err = -ENOSPC; break;
	case NBD_EOVERFLOW: op->err = -EOVERFLOW; break;
	case NBD_ENOMEM: op->err = -ENOMEM; break;
	case NBD_ENOTSUP: op->err = -ENOTSUP; break;
	case NBD_ESHUTDOWN: op->err = -ESHUTDOWN; break;
	case NBD_EIO: op->err = -EIO; break;
	default: op->err = -EINVAL; break;
	}
	c->inflight++;
	conn_reply(c, op);
}

/* ---- input ---- */

static bool conn_throttled(const struct conn *c)
{
	return c->inflight >= CONN_MAX_INFLIGHT || c->out_bytes >= CONN_MAX_OUT_BYTES;
}

static void start_op(struct conn *c, struct nbd_op *op)
{
	c->inflight++;
	op_dispatch(op);
}

/* One request header: decide what to do with it. Returns false to stop processing. */
static bool handle_request_header(struct conn *c, const uint8_t *hdr)
{
	struct nbd_request req;
	uint32_t err = 0;

	if (!nbd_request_decode(hdr, &req)) {
		c->hs.close_reason = "bad request magic";
		conn_close(c, "bad request magic");
		return false;
	}
	switch (nbd_request_validate(&req, &c->hs, &err)) {
	case NBD_REQ_OK:
		break;
	case NBD_REQ_ERROR:
		if (req.type == NBD_CMD_WRITE && req.length) {
			c->discard_left = req.length;
			c->discard_req = req;
			c->discard_err = err;
		} else {
			reply_error_now(c, &req, err);
		}
		return true;
	case NBD_REQ_DISCONNECT:
		if (err)
			reply_error_now(c, &req, err);
		c->eof = true;
		c->hs.close_reason = "unrecoverable request (payload over the maximum)";
		return false;
	case NBD_REQ_DISC:
		c->eof = true;
		c->hs.close_reason = "client sent NBD_CMD_DISC";
		return false;
	}

	struct nbd_op *op = calloc(1, sizeof *op);
	if (!op) {
		conn_close(c, "out of memory");
		return false;
	}
	op->conn = c;
	op->disk = c->disk;
	op->req = req;
	if ((req.type == NBD_CMD_READ || req.type == NBD_CMD_WRITE) && req.length) {
		op->buf = replog_payload_alloc(req.length);
		if (!op->buf) {
			free(op);
			if (req.type == NBD_CMD_WRITE) {
				c->discard_left = req.length;
				c->discard_req = req;
				c->discard_err = NBD_ENOMEM;
			} else {
				reply_error_now(c, &req, NBD_ENOMEM);
			}
			return true;
		}
	}
	if (req.type == NBD_CMD_WRITE && req.length) {
		c->rd_op = op;
		c->rd_got = 0;
		return true;
	}
	start_op(c, op);
	return true;
}

static void enter_transmission(struct conn *c)
{
	size_t idx = (size_t)(c->hs.chosen - c->srv->exports);
	c->disk = &c->srv->disks[idx];
	c->disk->connections++;
	c->phase = CONN_TRANSMISSION;
	log_info("conn %u (%s): export %s, %s replies", c->id, c->peer, c->disk->name,
		 c->hs.structured ? "structured" : "simple");
}

/* Consume what is buffered. Returns false when the connection must not read further. */
static bool process_input(struct conn *c)
{
	while (c->phase != CONN_DEAD && !c->eof) {
		size_t avail = c->rlen - c->rpos;
		const uint8_t *p = c->rbuf + c->rpos;

		if (c->phase == CONN_HANDSHAKE) {
			struct dbuf out = DBUF_INIT(1u << 20);
			size_t used = nbd_hs_feed(&c->hs, p, avail, &out);
			c->rpos += used;
			if (out.len && out_push_bytes(c, out.data, out.len) < 0) {
				dbuf_release(&out);
				conn_close(c, "out of memory");
				return false;
			}
			dbuf_release(&out);
			if (c->hs.state == NBD_HS_TRANSMISSION) {
				enter_transmission(c);
				continue;
			}
			if (c->hs.state == NBD_HS_CLOSE) {
				c->eof = true;
				return false;
			}
			if (c->hs.state == NBD_HS_STARTTLS)
				return false;	/* the TLS handshake comes next (conn_tls_step) */
			return true;	/* need more bytes */
		}

		if (c->discard_left) {
			size_t n = (size_t)MIN((uint64_t)avail, c->discard_left);
			c->rpos += n;
			c->discard_left -= n;
			if (c->discard_left)
				return true;
			reply_error_now(c, &c->discard_req, c->discard_err);
			continue;
		}
		if (c->rd_op) {
			struct nbd_op *op = c->rd_op;
			size_t n = MIN(avail, op->req.length - c->rd_got);
			memcpy(op->buf + c->rd_got, p, n);
			c->rpos += n;
			c->rd_got += n;
			if (c->rd_got < op->req.length)
				return true;
			c->rd_op = NULL;
			start_op(c, op);
			continue;
		}
		if (conn_throttled(c))
			return false;
		if (avail < NBD_REQUEST_SIZE)
			return true;
		c->rpos += NBD_REQUEST_SIZE;
		if (!handle_request_header(c, p))
			return false;
	}
	return false;
}

static void conn_set_reading(struct conn *c, bool on)
{
	if (c->reading == on || c->phase == CONN_DEAD)
		return;
	c->reading = on;
	conn_update_events(c);
}

static void conn_read(struct conn *c)
{
	if (c->hs.state == NBD_HS_STARTTLS) {
		conn_tls_step(c);
		return;
	}
	/* At most 16 receives per call so one busy client cannot starve the others; epoll is
	 * level-triggered, so what is left in the socket brings us back. Whatever was received
	 * is always processed before returning. */
	for (int rounds = 0;; rounds++) {
		if (!process_input(c))
			break;
		if (c->phase == CONN_DEAD)
			return;
		if (rounds == 16) {
			if (c->tls && tls_conn_pending(c->tls))
				conn_read_later(c);
			return;
		}
		/* need more bytes */
		ssize_t n;
		if (c->rd_op && c->rpos == c->rlen &&
		    c->rd_op->req.length - c->rd_got >= CONN_RBUF_SIZE / 2) {
			n = conn_recv(c, c->rd_op->buf + c->rd_got, c->rd_op->req.length - c->rd_got);
			if (n > 0) {
				c->rd_got += (size_t)n;
				continue;
			}
		} else {
			if (c->rpos == c->rlen) {
				c->rpos = c->rlen = 0;
			} else if (c->rpos > 0) {
				memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
				c->rlen -= c->rpos;
				c->rpos = 0;
			}
			n = conn_recv(c, c->rbuf + c->rlen, CONN_RBUF_SIZE - c->rlen);
			if (n > 0) {
				c->rlen += (size_t)n;
				continue;
			}
		}
		if (n == 0) {
			c->eof = true;
			if (c->phase == CONN_HANDSHAKE || c->rd_op || c->discard_left)
				c->hs.close_reason = "client closed the connection mid-message";
			break;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (c->tls && tls_conn_wants_write(c->tls)) {
				c->tls_read_blocked = true;
				conn_tls_wait(c);
			}
			return;
		}
		if (errno == EINTR)
			continue;
		c->hs.close_reason = "receive error";
		conn_close(c, strerror(errno));
		return;
	}
	if (c->phase == CONN_DEAD)
		return;
	if (c->eof) {
		if (c->rd_op) {
			op_free(c->rd_op);
			c->rd_op = NULL;
		}
		conn_set_reading(c, false);
		conn_maybe_finish(c);
	} else if (conn_throttled(c)) {
		conn_set_reading(c, false);
	}
}

/* ---- output ---- */

static void conn_write(struct conn *c)
{
	while (c->out_head && c->phase != CONN_DEAD) {
		struct iovec iov[64];
		int n = 0;
		size_t skip = c->out_off;
		for (struct out_item *it = c->out_head; it && n < (int)ARRAY_SIZE(iov) - 1; it = it->next) {
			for (int i = 0; i < it->iovcnt; i++) {
				struct iovec v = it->iov[i];
				if (skip >= v.iov_len) {
					skip -= v.iov_len;
					continue;
				}
				v.iov_base = (char *)v.iov_base + skip;
				v.iov_len -= skip;
				skip = 0;
				iov[n++] = v;
			}
		}
		ssize_t w = conn_sendv(c, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (c->tls && errno == EAGAIN) {
				conn_tls_wait(c);
				return;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!c->writing) {
					c->writing = true;
					conn_update_events(c);
				}
				return;
			}
			conn_close(c, errno == EPIPE || errno == ECONNRESET ? "client went away"
									     : strerror(errno));
			return;
		}
		size_t done = (size_t)w + c->out_off;
		c->out_bytes -= (size_t)w;
		while (c->out_head) {
			struct out_item *it = c->out_head;
			size_t len = 0;
			for (int i = 0; i < it->iovcnt; i++)
				len += it->iov[i].iov_len;
			if (done < len)
				break;
			done -= len;
			c->out_head = it->next;
			if (!c->out_head)
				c->out_tail = NULL;
			out_item_release(it);
		}
		c->out_off = done;
	}
	if (c->phase == CONN_DEAD)
		return;
	if (c->writing || c->tls_wait_read) {
		c->writing = c->tls_wait_read = false;
		conn_update_events(c);
	}
	if (c->hs.state == NBD_HS_STARTTLS) {
		conn_tls_step(c);	/* the STARTTLS reply is out */
		return;
	}
	if (c->tls_read_blocked) {	/* a TLS read waited for the socket to be writable */
		c->tls_read_blocked = false;
		conn_read_later(c);
	}
	if (c->eof) {
		conn_maybe_finish(c);
		return;
	}
	/* the backlog drained: resume reading, starting with what is already buffered */
	if (!c->reading && !conn_throttled(c) && !c->srv->stopping) {
		conn_set_reading(c, true);
		conn_read(c);
	}
}

void conn_read_later(struct conn *c)
{
	if (c->read_again || c->phase == CONN_DEAD)
		return;
	c->read_again = true;
	c->next_again = c->srv->read_again;
	c->srv->read_again = c;
}

void conn_read_again_all(struct server *srv)
{
	struct conn *list = srv->read_again;
	srv->read_again = NULL;
	while (list) {
		struct conn *c = list;
		list = c->next_again;
		c->read_again = false;
		if (c->phase != CONN_DEAD && c->reading)
			conn_read(c);
	}
}

void conn_flush_all(struct server *srv)
{
	struct conn *list = srv->flush_list;
	srv->flush_list = NULL;
	while (list) {
		struct conn *c = list;
		list = c->next_flush;
		c->flush_listed = false;
		if (c->phase == CONN_DEAD)
			continue;
		if (!c->writing)
			conn_write(c);
	}
}

void conn_on_events(struct conn *c, uint32_t events)
{
	if (c->phase == CONN_DEAD)
		return;
	if (events & EPOLLERR) {
		conn_close(c, "socket error");
		return;
	}
	if (events & EPOLLOUT || (c->tls_wait_read && events & (EPOLLIN | EPOLLHUP)))
		conn_write(c);
	if (c->phase != CONN_DEAD && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) && c->reading)
		conn_read(c);
	else if (c->phase != CONN_DEAD && (events & EPOLLHUP) && !c->reading) {
		c->eof = true;
		conn_maybe_finish(c);
	}
}

void conn_shutdown_all(struct server *srv)
{
	struct conn *c = srv->conns, *next;
	for (; c; c = next) {
		next = c->next_all;
		if (c->phase == CONN_DEAD)
			continue;
		conn_set_reading(c, false);
		c->eof = true;
		if (c->phase == CONN_HANDSHAKE) {
			conn_close(c, "server shutting down");
			continue;
		}
		c->hs.close_reason = "server shutting down";
		if (c->rd_op) {
			op_free(c->rd_op);
			c->rd_op = NULL;
		}
		conn_maybe_finish(c);
	}
}
