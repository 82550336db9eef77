/* ferryd's event loop: one thread, one epoll set holding the NBD listener, every
 * connection, the io engine's completion eventfd, a signalfd (SIGTERM/SIGINT/SIGHUP), a 1 s
 * timerfd (rate counters) and the control socket.
 *
 * Each iteration handles the ready fds, then runs the "post" phase until it makes no more
 * progress: replog_commit (group commit of every record appended in this iteration),
 * io_submit_pending (one system call for all queued I/O), io_reap (completions that are
 * already there — buffered writes often finish inside the submit call), and conn_flush_all
 * (one writev per connection for all replies). Batching falls out of this structure: the
 * busier the server, the more requests share one log write and one submit.
 *
 * Shutdown: stop accepting, stop reading requests, let in-flight requests finish and their
 * replies go out (30 s at most), then the caller flushes and closes the log cleanly. */
#include "datapath/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "datapath/monitor.h"
#include "common/banned.h"

#define SHUTDOWN_GRACE_NS (30ull * 1000000000ull)

static uint64_t ev_tag(enum ev_kind kind, void *ptr)
{
	/* pointers are at least 8-byte aligned: the kind lives in the low 3 bits */
	return (uint64_t)(uintptr_t)ptr | (uint64_t)kind;
}

int loop_add(struct server *srv, int fd, uint32_t events, enum ev_kind kind, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.u64 = ev_tag(kind, ptr) };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_error("epoll_ctl(ADD, %d): %m", fd);
		return -1;
	}
	return 0;
}

int loop_mod(struct server *srv, int fd, uint32_t events, enum ev_kind kind, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.u64 = ev_tag(kind, ptr) };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
		log_error("epoll_ctl(MOD, %d): %m", fd);
		return -1;
	}
	return 0;
}

void loop_del(struct server *srv, int fd)
{
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int listen_unix(struct server *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("listen: unix socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("listen: socket: %m");
		return -1;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0) {
		log_error("listen on unix:%s: %m", path);
		close(fd);
		return -1;
	}
	srv->unix_listen_path = strdup(path);
	return fd;
}

int listen_open(struct server *srv, const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return listen_unix(srv, spec + 5);

	const char *colon = strrchr(spec, ':');
	if (!colon) {
		log_error("listen: expected host:port, got %s", spec);
		return -1;
	}
	char host[256];
	size_t hl = (size_t)(colon - spec);
	if (hl >= sizeof host) {
		log_error("listen: host too long in %s", spec);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = 0;
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {	/* [::1]:10809 */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
	int r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
	if (r) {
		log_error("listen %s: %s", spec, gai_strerror(r));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("listen: socket: %m");
		freeaddrinfo(res);
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		log_error("listen on %s: %m", spec);
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void on_accept(struct server *srv)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept: %m");
			return;
		}
		char peer[64] = "unix";
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
			char h[INET6_ADDRSTRLEN] = "?";
			int port;
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &s4->sin_addr, h, sizeof h);
				port = ntohs(s4->sin_port);
			} else {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof h);
				port = ntohs(s6->sin6_port);
			}
			snprintf(peer, sizeof peer, "%s:%d", h, port);
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		}
		conn_new(srv, fd, peer);
	}
}

void server_background_thread(const char *what)
{
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), BACKGROUND_NICE) < 0)
		log_warn("%s thread: cannot lower its priority: %m", what);
}

static void on_timer(struct server *srv)
{
	uint64_t ticks;
	if (read(srv->timer_fd, &ticks, sizeof ticks) < 0) {
		/* spurious wakeup */
	}
	for (size_t i = 0; i < srv->n_disks; i++)
		disk_update_rates(&srv->disks[i]);
	if (++srv->ticks % 2 == 0)
		server_applied_checkpoint(srv);
	monitor_tick(srv);
}

static void begin_shutdown(struct server *srv, int sig)
{
	if (srv->stopping)
		return;
	log_info("received %s: stopping (finishing in-flight requests)", strsignal(sig));
	notify_event(NOTIFY_FERRYD_STOPPING, NULL, "ferryd received %s: stopping", strsignal(sig));
	srv->stopping = true;
	if (srv->listen_fd >= 0) {
		loop_del(srv, srv->listen_fd);
		close(srv->listen_fd);
		srv->listen_fd = -1;
	}
	conn_shutdown_all(srv);
}

static void on_signal(struct server *srv)
{
	struct signalfd_siginfo si;
	while (read(srv->signal_fd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGHUP)
			server_hangup(srv);
		else
			begin_shutdown(srv, (int)si.ssi_signo);
	}
}

/* Commit, submit, reap and reply until nothing moves. */
static int post_phase(struct server *srv)
{
	for (int i = 0; i < 16; i++) {
		replog_commit(srv->log);
		int r = io_submit_pending(srv->eng);
		if (r < 0) {
			log_error("io submit failed: %s", strerror(-r));
			return -1;
		}
		int done = io_reap(srv->eng, false);
		if (done < 0) {
			log_error("io reap failed: %s", strerror(-done));
			return -1;
		}
		bool had_output = srv->flush_list != NULL, had_input = srv->read_again != NULL;
		conn_read_again_all(srv);
		conn_flush_all(srv);
		if (done == 0 && !had_output && !had_input && srv->flush_list == NULL)
			break;
	}
	conn_reap_dead(srv);
	return 0;
}

static bool all_idle(struct server *srv)
{
	if (srv->delayed_head)
		return false;
	for (struct conn *c = srv->conns; c; c = c->next_all)
		if (c->phase != CONN_DEAD || c->inflight)
			return false;
	return io_busy(srv->eng) == 0;
}

int loop_run(struct server *srv)
{
	struct epoll_event evs[64];
	uint64_t stop_deadline = 0;

	for (;;) {
		if (srv->stopping) {
			if (!stop_deadline)
				stop_deadline = now_mono_ns() + SHUTDOWN_GRACE_NS;
			if (all_idle(srv))
				break;
			if (now_mono_ns() > stop_deadline) {
				log_warn("shutdown: clients did not finish in time; closing them");
				for (struct conn *c = srv->conns; c; c = c->next_all)
					conn_close(c, "shutdown timeout");
				while (io_busy(srv->eng)) {
					if (io_submit_pending(srv->eng) < 0 || io_reap(srv->eng, true) < 0)
						return -1;
				}
				conn_reap_dead(srv);
				break;
			}
		}
		/* held-back replies that are due go out now, also the last ones (then the timeout
		 * is -1 and nothing else would flush them before the next event) */
		bool held = srv->delayed_head != NULL;
		int timeout = server_release_delayed(srv);
		if (srv->stopping && (timeout < 0 || timeout > 100))
			timeout = 100;
		if (srv->read_again)
			timeout = 0;	/* decrypted input is waiting where epoll cannot see it */
		if ((held || timeout >= 0) && post_phase(srv) < 0)	/* replies just released */
			return -1;
		int n = epoll_wait(srv->epfd, evs, (int)ARRAY_SIZE(evs), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %m");
			return -1;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			enum ev_kind kind = (enum ev_kind)(tag & 7);
			void *ptr = (void *)(uintptr_t)(tag & ~(uint64_t)7);
			switch (kind) {
			case EV_LISTEN:
				if (!srv->stopping)
					on_accept(srv);
				break;
			case EV_CONN:
				conn_on_events(ptr, evs[i].events);
				break;
			case EV_ENGINE:
				if (io_reap(srv->eng, false) < 0) {
					log_error("io reap failed");
					return -1;
				}
				break;
			case EV_SIGNAL:
				on_signal(srv);
				break;
			case EV_TIMER:
				on_timer(srv);
				break;
			case EV_CONTROL:
				control_on_accept(srv);
				break;
			}
		}
		if (post_phase(srv) < 0)
			return -1;
	}
	/* final: everything queued is written */
	replog_commit(srv->log);
	while (io_busy(srv->eng)) {
		if (io_submit_pending(srv->eng) < 0 || io_reap(srv->eng, true) < 0)
			return -1;
		replog_commit(srv->log);
	}
	return 0;
}

int loop_setup_fds(struct server *srv)
{
	signals_remove_at_exit(srv->control_fd >= 0 ? srv->cfg->control_socket : NULL,
			       srv->unix_listen_path);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		log_error("epoll_create1: %m");
		return -1;
	}
	srv->signal_fd = signalfd(-1, &srv->signal_mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv->signal_fd < 0) {
		log_error("signalfd: %m");
		return -1;
	}
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (srv->timer_fd < 0) {
		log_error("timerfd_create: %m");
		return -1;
	}
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	timerfd_settime(srv->timer_fd, 0, &its, NULL);

	if (loop_add(srv, srv->signal_fd, EPOLLIN, EV_SIGNAL, srv) < 0 ||
	    loop_add(srv, srv->timer_fd, EPOLLIN, EV_TIMER, srv) < 0 ||
	    loop_add(srv, srv->eng->event_fd, EPOLLIN, EV_ENGINE, srv) < 0 ||
	    loop_add(srv, srv->listen_fd, EPOLLIN, EV_LISTEN, srv) < 0)
		return -1;
	if (srv->control_fd >= 0 && loop_add(srv, srv->control_fd, EPOLLIN, EV_CONTROL, srv) < 0)
		return -1;
	return 0;
}
