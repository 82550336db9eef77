/* What ferryd does with signals.
 *
 *   SIGTERM, SIGINT  stop cleanly (loop.c: finish in-flight requests, clean log)
 *   SIGHUP           reopen the log file (--log-file) and reload what can change while
 *                    running; log what was done. A closed SSH session or a service
 *                    manager's reload must never stop the datapath.
 *   SIGPIPE, SIGXFSZ ignored: a peer gone away or a file size limit is an error return
 *                    (EPIPE, EFBIG) at the call, handled there
 *   any other signal that would end the process (SIGSEGV, SIGBUS, SIGABRT, SIGQUIT,
 *   SIGUSR1, ...): one log line naming it, the sockets removed, then the default action
 *                    (a core dump where that is the default). The replication log is left
 *                    unclean and recovered at the next start, as after a crash.
 *   SIGKILL          cannot be caught: no line; recovered the same way.
 *
 * TERM, INT and HUP are blocked in every thread (ferryd blocks them before starting any)
 * and read from a signalfd by the event loop, so their work runs on the loop thread like
 * everything else. The fatal handler only makes async-signal-safe calls. */
#include "datapath/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "datapath/tls.h"
#include "common/banned.h"

/* paths the fatal handler removes: copied at setup, never changed after */
static char fatal_unlink[2][108];
static const char *log_file_path;

static const int fatal_signals[] = {
	SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGUSR1, SIGSEGV, SIGUSR2,
	SIGALRM, SIGSTKFLT, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS, SIGXCPU,
};

static void append(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s && *n < cap)
		buf[(*n)++] = *s++;
}

static void on_fatal(int sig)
{
	char line[200];
	size_t n = 0;
	const char *abbrev = sigabbrev_np(sig);
	append(line, &n, sizeof line - 1, "ferryd: error: killed by signal SIG");
	append(line, &n, sizeof line - 1, abbrev ? abbrev : "?");
	append(line, &n, sizeof line - 1, "; the replication log is recovered at the next start\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report */
	}
	for (size_t i = 0; i < ARRAY_SIZE(fatal_unlink); i++)
		if (fatal_unlink[i][0])
			unlink(fatal_unlink[i]);
	signal(sig, SIG_DFL);	/* SA_RESETHAND did it already; be explicit */
	raise(sig);
}

static void keep_path(size_t slot, const char *path)
{
	if (path && strlen(path) < sizeof fatal_unlink[slot])
		memcpy(fatal_unlink[slot], path, strlen(path) + 1);
}

void signals_remove_at_exit(const char *control_socket, const char *unix_listen)
{
	keep_path(0, control_socket);
	keep_path(1, unix_listen);
}

int signals_setup(sigset_t *loop_mask)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++)
		sigaction(fatal_signals[i], &sa, NULL);

	sigemptyset(loop_mask);
	sigaddset(loop_mask, SIGTERM);
	sigaddset(loop_mask, SIGINT);
	sigaddset(loop_mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, loop_mask, NULL) < 0) {
		log_error("sigprocmask: %m");
		return -1;
	}
	return 0;
}

int log_file_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int r = dup2(fd, STDERR_FILENO) < 0 ? -errno : 0;
	close(fd);
	if (!r)
		log_file_path = path;
	return r;
}

int server_tls_setup(struct server *srv, const struct ferry_config *cfg)
{
	struct tls_server *t = NULL;
	char err[512], what[64];
	if (cfg->tls != TLS_OFF && tls_server_new(cfg, &t, err, sizeof err) < 0) {
		log_error("%s", err);
		return -1;
	}
	tls_server_put(srv->tls);	/* connections keep theirs (reference counted) */
	srv->tls = t;
	srv->tls_mode = cfg->tls == TLS_REQUIRE ? NBD_TLS_REQUIRE :
			cfg->tls == TLS_ON ? NBD_TLS_ON : NBD_TLS_OFF;
	if (t)
		log_info("NBD TLS %s: %s", cfg->tls == TLS_REQUIRE ? "required" : "offered",
			 tls_server_describe(t, what, sizeof what));
	return 0;
}

/* Reload what can change while running: the [log] backpressure (read per request) and
 * the [nbd] TLS setting and credentials (new connections use them). Everything else
 * (exports, domains, the log's geometry, the store, addresses) is fixed for the life of
 * the process. */
static void reload_config(struct server *srv)
{
	struct ferry_config nc;
	char err[512];
	if (config_load(srv->cfg->file, &nc, err, sizeof err) < 0) {
		log_error("SIGHUP: %s; keeping the running configuration", err);
		return;
	}
	char done[256] = "";
	uint32_t old_bp = srv->cfg->log_backpressure_ms;
	if (nc.log_backpressure_ms != old_bp) {
		srv->cfg->log_backpressure_ms = nc.log_backpressure_ms;
		snprintf(done, sizeof done, "; [log] backpressure %u ms -> %u ms", old_bp,
			 nc.log_backpressure_ms);
	}
	if (nc.tls != TLS_OFF || srv->tls) {
		if (server_tls_setup(srv, &nc) < 0)
			log_error("SIGHUP: keeping the running TLS setup");
		else
			snprintf(done + strlen(done), sizeof done - strlen(done),
				 "; [nbd] TLS %s", nc.tls == TLS_OFF ? "off" : "credentials reloaded");
	}
	config_release(&nc);
	log_info("SIGHUP: reloaded %s%s%s", srv->cfg->file, done[0] ? done : " (nothing changed "
		 "that can change while running)", "; other settings take effect at the next start");
}

void server_hangup(struct server *srv)
{
	if (log_file_path) {
		log_info("SIGHUP: reopening the log file %s", log_file_path);
		int r = log_file_open(log_file_path);
		if (r < 0)
			log_error("SIGHUP: cannot reopen %s: %s; logging on to the old file",
				  log_file_path, strerror(-r));
		else
			log_info("SIGHUP: log file %s reopened", log_file_path);
	}
	reload_config(srv);
}
