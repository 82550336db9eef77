/* The control socket: a unix stream socket (mode 0600) that answers one request line per
 * connection, for `ferryctl status`, `ferryctl point`, `ferryctl trap test` and
 * ferry-agent's planned failover. Requests: "status" (human text), "status json", "point
 * DOMAIN" (answered "ok E.S" by the shipper once the point is durable), "ship-stop DOMAIN"
 * (answered "ok": no more points of it) and "trap test" (answered by the SNMP notifier).
 *
 * The exchange is tiny, so it is done synchronously inside the event loop with a 1 s
 * timeout on the client socket: only root can connect, and the worst a stuck client costs
 * is one second of latency. */
#include "datapath/server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/snmp-notifier.h"
#include "common/util.h"
#include "datapath/monitor.h"
#include "datapath/shipper.h"
#include "common/banned.h"

static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	size_t n = (size_t)(slash - path);
	if (n >= sizeof dir)
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int control_open(struct server *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("control socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int r = mkdir_parent(path);
	if (r < 0) {
		log_error("control socket %s: cannot create its directory: %s", path, strerror(-r));
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("control socket: %m");
		return -1;
	}
	/* a live ferryd answering there means a second instance: refuse; a stale file: remove */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
		close(probe);
		close(fd);
		log_error("control socket %s: another ferryd is running", path);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	mode_t old = umask(0077);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		log_error("control socket %s: %m", path);
		close(fd);
		return -1;
	}
	srv->control_fd = fd;
	return 0;
}

void control_close(struct server *srv)
{
	if (srv->control_fd >= 0) {
		close(srv->control_fd);
		unlink(srv->cfg->control_socket);
	}
	srv->control_fd = -1;
}

static void status_json(struct server *srv, struct dbuf *b)
{
	struct replog_stat *st = calloc(1, sizeof *st);
	int have_log = st && replog_get_stat(srv->log, st) == 0;

	dbuf_printf(b, "{\"engine\":");
	json_add_str(b, srv->eng->ops->name);
	dbuf_printf(b, ",\"engine_reason\":");
	json_add_str(b, srv->engine_why);
	dbuf_printf(b, ",\"backpressure_ms\":%u,\"delayed_acks\":%llu",
		    srv->cfg->log_backpressure_ms, (unsigned long long)srv->delayed_acks);
	dbuf_printf(b, ",\"uptime_s\":%llu,\"connections\":%u,\"stopping\":%s,\"exports\":[",
		    (unsigned long long)((now_mono_ns() - srv->started_ns) / 1000000000u),
		    srv->n_conns, srv->stopping ? "true" : "false");
	for (size_t i = 0; i < srv->n_disks; i++) {
		const struct disk *d = &srv->disks[i];
		dbuf_printf(b, "%s{\"name\":", i ? "," : "");
		json_add_str(b, d->name);
		dbuf_printf(b, ",\"domain\":");
		json_add_str(b, d->domain);
		dbuf_printf(b, ",\"path\":");
		json_add_str(b, d->path);
		dbuf_printf(b,
			    ",\"size\":%llu,\"connections\":%u,\"reads\":%llu,\"writes\":%llu,"
			    "\"zeroes\":%llu,\"trims\":%llu,\"flushes\":%llu,\"bytes_read\":%llu,"
			    "\"bytes_written\":%llu,\"errors\":%llu,\"iops\":%llu,"
			    "\"read_bps\":%llu,\"write_bps\":%llu}",
			    (unsigned long long)d->size, d->connections,
			    (unsigned long long)d->st.reads, (unsigned long long)d->st.writes,
			    (unsigned long long)d->st.zeroes, (unsigned long long)d->st.trims,
			    (unsigned long long)d->st.flushes, (unsigned long long)d->st.bytes_read,
			    (unsigned long long)d->st.bytes_written, (unsigned long long)d->st.errors,
			    (unsigned long long)d->iops, (unsigned long long)d->read_bps,
			    (unsigned long long)d->write_bps);
	}
	dbuf_printf(b, "]");
	if (have_log) {
		dbuf_printf(b, ",\"log\":{\"path\":");
		json_add_str(b, srv->cfg->log_path);
		dbuf_printf(b,
			    ",\"data_size\":%llu,\"used_bytes\":%llu,\"used_pct\":%.1f,"
			    "\"tail_seq\":%llu,\"head_seq\":%llu,\"records\":%llu,\"domains\":[",
			    (unsigned long long)st->data_size, (unsigned long long)st->used_bytes,
			    st->data_size ? 100.0 * (double)st->used_bytes / (double)st->data_size : 0.0,
			    (unsigned long long)st->tail_seq, (unsigned long long)st->head_seq,
			    (unsigned long long)st->records);
		for (size_t i = 0; i < st->n_domains; i++) {
			dbuf_printf(b, "%s{\"name\":", i ? "," : "");
			json_add_str(b, st->domains[i].name);
			dbuf_printf(b, ",\"state\":\"%s\",\"shipped_seq\":%llu",
				    st->domains[i].overflow ? "overflow" : "ok",
				    (unsigned long long)st->domains[i].shipped_seq);
			struct ship_state ss;
			if (srv->shipper &&
			    shipper_domain_state(srv->shipper, st->domains[i].name, &ss) == 0) {
				uint64_t now = now_real_ns();
				dbuf_printf(b, ",\"point\":\"%u.%llu\",\"point_time_ns\":%llu,"
					    "\"consistent_point\":\"%u.%llu\","
					    "\"consistent_time_ns\":%llu,\"rpo_ms\":%u,"
					    "\"current_rpo_ms\":%lld,\"shipping\":\"%s\"",
					    ss.epoch, (unsigned long long)ss.last_seq,
					    (unsigned long long)ss.last_ns, ss.epoch,
					    (unsigned long long)ss.consistent_seq,
					    (unsigned long long)ss.consistent_ns, ss.rpo_ms,
					    ss.uptodate_ns ? (long long)(now - ss.uptodate_ns) / 1000000
							   : -1LL,
					    ss.stopped ? "stopped" : ss.failing ? "failing" : "ok");
			}
			dbuf_printf(b, ",\"store\":\"%s\"", monitor_store_health_name(
					    monitor_store_health(st->domains[i].name)));
			dbuf_printf(b, "}");
		}
		dbuf_printf(b, "]}");
	}
	if (snmp_notifier_running()) {
		dbuf_printf(b, ",");
		snmp_notifier_status_json(b);
	}
	dbuf_printf(b, "}\n");
	free(st);
}

static void status_text(struct server *srv, struct dbuf *b)
{
	struct replog_stat *st = calloc(1, sizeof *st);
	int have_log = st && replog_get_stat(srv->log, st) == 0;

	dbuf_printf(b, "ferryd: %s, up %llus, %u connection(s)\n",
		    srv->stopping ? "stopping" : "running",
		    (unsigned long long)((now_mono_ns() - srv->started_ns) / 1000000000u),
		    srv->n_conns);
	dbuf_printf(b, "engine: %s (%s)\n", srv->eng->ops->name, srv->engine_why);
	dbuf_printf(b, "%-16s %-12s %6s %8s %10s %10s %12s %12s %6s\n", "EXPORT", "DOMAIN",
		    "CONNS", "IOPS", "WR MB/s", "RD MB/s", "WRITES", "READS", "ERRORS");
	for (size_t i = 0; i < srv->n_disks; i++) {
		const struct disk *d = &srv->disks[i];
		dbuf_printf(b, "%-16s %-12s %6u %8llu %10.1f %10.1f %12llu %12llu %6llu\n",
			    d->name, d->domain, d->connections, (unsigned long long)d->iops,
			    (double)d->write_bps / 1e6, (double)d->read_bps / 1e6,
			    (unsigned long long)d->st.writes, (unsigned long long)d->st.reads,
			    (unsigned long long)d->st.errors);
	}
	if (have_log) {
		dbuf_printf(b, "log: %s: %llu of %llu bytes used (%.1f%%), seq %llu..%llu\n",
			    srv->cfg->log_path, (unsigned long long)st->used_bytes,
			    (unsigned long long)st->data_size,
			    st->data_size ? 100.0 * (double)st->used_bytes / (double)st->data_size : 0.0,
			    (unsigned long long)st->tail_seq, (unsigned long long)st->head_seq);
		for (size_t i = 0; i < st->n_domains; i++) {
			dbuf_printf(b, "domain %s: %s", st->domains[i].name,
				    st->domains[i].overflow ? "OVERFLOW (writes tracked in dirty bitmap)"
							    : "protected");
			struct ship_state ss;
			if (srv->shipper &&
			    shipper_domain_state(srv->shipper, st->domains[i].name, &ss) == 0) {
				if (ss.consistent_ns)
					dbuf_printf(b, ", point %u.%llu, current RPO %.1f s (target %.1f s)",
						    ss.epoch, (unsigned long long)ss.consistent_seq,
						    (double)(now_real_ns() - ss.uptodate_ns) / 1e9,
						    ss.rpo_ms / 1e3);
				else
					dbuf_printf(b, ", no consistent point yet");
				if (ss.failing)
					dbuf_printf(b, ", SHIPPING FAILING (%s; see the log)",
						    monitor_store_health_name(monitor_store_health(
							    st->domains[i].name)));
				if (ss.stopped)
					dbuf_printf(b, ", shipping stopped (failed over)");
			}
			dbuf_printf(b, "\n");
		}
	}
	snmp_notifier_status_text(b);
	free(st);
}

void control_on_accept(struct server *srv)
{
	for (;;) {
		int fd = accept4(srv->control_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct timeval tv = { .tv_sec = 1 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		char line[256];
		size_t got = 0;
		while (got < sizeof line - 1) {
			ssize_t n = read(fd, line + got, sizeof line - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			if (memchr(line, '\n', got))
				break;
		}
		line[got] = 0;
		line[strcspn(line, "\r\n")] = 0;
		struct dbuf b = DBUF_INIT(1u << 20);
		if (strncmp(line, "point ", 6) == 0) {
			/* the shipper answers once the point is durable, and closes the socket */
			int r = srv->shipper ? shipper_request(srv->shipper, line + 6, fd) : -ENOTSUP;
			if (r == 0) {
				dbuf_release(&b);
				continue;
			}
			dbuf_printf(&b, "error: %s\n", r == -ENOTSUP ? "no [store] configured: not shipping"
						     : r == -ENOENT ? "no such domain"
						     : r == -EPERM ? "shipping of the domain is stopped"
						     : strerror(-r));
		} else if (strncmp(line, "ship-stop ", 10) == 0) {
			int r = srv->shipper ? shipper_stop_domain(srv->shipper, line + 10) : -ENOTSUP;
			if (r == 0)
				log_info("control: shipping of domain %s stopped", line + 10);
			dbuf_printf(&b, "%s\n", r == 0 ? "ok" : r == -ENOTSUP
				    ? "error: no [store] configured: not shipping" : "error: no such domain");
		} else if (strcmp(line, "trap test") == 0) {
			/* the notifier answers once every receiver acknowledged or failed */
			int r = snmp_notifier_test(fd);
			if (r == 0) {
				dbuf_release(&b);
				continue;
			}
			dbuf_printf(&b, "error: %s\n", r == -ENOTCONN ? "no [snmp-receiver] configured"
						     : "a test is already under way");
		} else if (strcmp(line, "status json") == 0)
			status_json(srv, &b);
		else if (strcmp(line, "status") == 0)
			status_text(srv, &b);
		else
			dbuf_printf(&b, "error: unknown request\n");
		if (b.len && write_full(fd, b.data, b.len) < 0)
			log_debug("control: client went away");
		dbuf_release(&b);
		close(fd);
	}
}
