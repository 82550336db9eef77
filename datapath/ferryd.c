/* ferryd: the protected-site datapath daemon. Serves every configured disk as an NBD
 * export and captures each write into the replication log (see server.h for the request
 * flow). Runs in the foreground, logs to stderr (or --log-file), prints "ferryd ready" on
 * stdout once every export accepts connections, and on SIGTERM/SIGINT finishes in-flight
 * requests, flushes the disks and the log, and writes a clean superblock before exiting 0.
 * SIGHUP reopens the log file and reloads what can change while running; what every other
 * signal does is in signals.c.
 *
 * Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or configuration. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "common/config.h"
#include "common/daemon-args.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/snmp-notifier.h"
#include "common/util.h"
#include "datapath/monitor.h"
#include "datapath/server.h"
#include "datapath/shipper.h"
#include "datapath/tls.h"
#include "common/banned.h"

/* at stop, how long pending notifications (ferrydStopping above all) may still take */
#define SNMP_DRAIN_MS 3000

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int open_disks(struct server *srv)
{
	const struct ferry_config *cfg = srv->cfg;
	size_t n = 0;
	for (size_t i = 0; i < cfg->n_domains; i++)
		n += cfg->domains[i].n_disks;
	srv->disks = calloc(n, sizeof *srv->disks);
	srv->exports = calloc(n, sizeof *srv->exports);
	if (!srv->disks || !srv->exports) {
		log_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct domain_cfg *dom = &cfg->domains[i];
		for (size_t j = 0; j < dom->n_disks; j++) {
			struct disk *d = &srv->disks[srv->n_disks];
			if (disk_open(srv, d, &dom->disks[j], dom->name) < 0)
				return -1;
			srv->n_disks++;
			int r = replog_register_disk(srv->log, dom->name, d->name, d->size,
						     &d->domain_id, &d->disk_id);
			if (r < 0) {
				log_error("%s:%u: disk %s: cannot register in the replication log: %s",
					  cfg->file, dom->disks[j].line, d->name, strerror(-r));
				return -1;
			}
			struct nbd_export_info *e = &srv->exports[srv->n_disks - 1];
			e->name = d->name;
			e->description = dom->name;
			e->size = d->size;
			e->read_only = false;
			e->multi_conn = true;
			log_info("export %s: %s, %llu bytes, domain %s", d->name, d->path,
				 (unsigned long long)d->size, dom->name);
		}
	}
	return 0;
}

static int run(struct server *srv)
{
	const struct ferry_config *cfg = srv->cfg;
	char err[512];
	int r;

	if (cfg->state_dir && (r = mkdir_p(cfg->state_dir)) < 0)
		log_warn("state_dir %s: %s", cfg->state_dir, strerror(-r));

	r = io_engine_create(cfg->engine, IO_DEPTH, &srv->eng, srv->engine_why,
			     sizeof srv->engine_why);
	if (r < 0) {
		log_error("io engine: %s", srv->engine_why[0] ? srv->engine_why : strerror(-r));
		return -1;
	}
	log_info("io engine: %s (%s)", srv->eng->ops->name, srv->engine_why);

	struct replog_open_opts lo = {
		.data_size = cfg->log_size,
		.meta_size = cfg->log_metadata_size,
		.create = true,
	};
	if (replog_open(cfg->log_path, &lo, &srv->log, err, sizeof err) < 0) {
		log_error("replication log: %s", err);
		return -1;
	}
	replog_set_engine(srv->log, srv->eng);
	{
		struct replog_stat *st = calloc(1, sizeof *st);
		if (st && replog_get_stat(srv->log, st) == 0)
			log_info("replication log %s: %llu bytes ring, seq %llu..%llu, %llu bytes in use, "
				 "large writes %s", cfg->log_path, (unsigned long long)st->data_size,
				 (unsigned long long)st->tail_seq, (unsigned long long)st->head_seq,
				 (unsigned long long)st->used_bytes,
				 st->direct ? "O_DIRECT" : "through the page cache");
		free(st);
	}

	if (open_disks(srv) < 0)
		return -1;
	if (server_redo(srv) < 0)
		return -1;
	srv->redo_reqs = calloc(srv->n_disks, sizeof *srv->redo_reqs);
	if (!srv->redo_reqs)
		return -1;

	srv->listen_fd = listen_open(srv, cfg->nbd_listen);
	if (srv->listen_fd < 0)
		return -1;
	if (control_open(srv, cfg->control_socket) < 0)
		return -1;
	if (loop_setup_fds(srv) < 0)
		return -1;
	if (shipper_start(srv, &srv->shipper) < 0)
		return -1;
	if (monitor_init(srv) < 0)
		return -1;

	srv->started_ns = now_mono_ns();
	log_info("listening on %s, control socket %s", cfg->nbd_listen, cfg->control_socket);
	printf("ferryd ready\n");
	fflush(stdout);
	notify_event(NOTIFY_FERRYD_STARTED, NULL, "ferryd started: %zu disks in %zu domains",
		     srv->n_disks, cfg->n_domains);

	return loop_run(srv);
}

int main(int argc, char **argv)
{
	struct daemon_args args = {
		.name = "ferryd",
		.config_help = "configuration (INI), see docs/config.md and ferryd(8)",
		.log_file_option = true,
	};
	int ex = daemon_args_parse(argc, argv, &args);
	if (ex >= 0)
		return ex;
	const char *conf = args.conf;
	log_setup("ferryd", args.level);
	struct server srv = { .epfd = -1, .listen_fd = -1, .control_fd = -1, .signal_fd = -1,
			      .timer_fd = -1 };
	if (signals_setup(&srv.signal_mask) < 0)
		return 1;
	int r;
	if (args.log_file && (r = log_file_open(args.log_file)) < 0) {
		fprintf(stderr, "ferryd: --log-file %s: %s\n", args.log_file, strerror(-r));
		return 2;
	}
	/* request buffers up to 32 MiB (NBD_MAX_PAYLOAD) come from the heap and are reused,
	 * instead of a fresh mmap per large request: each one cost page faults and zeroing on
	 * the event loop (measured: 5% of its time under 1 MiB writes) */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);

	struct ferry_config cfg;
	char err[512];
	if (config_load(conf, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "ferryd: %s\n", err);
		return 2;
	}

	if (snmp_notifier_start(&cfg, "ferryd", err, sizeof err) < 0) {
		fprintf(stderr, "ferryd: %s\n", err);
		config_release(&cfg);
		return 2;
	}
	srv.cfg = &cfg;
	if (server_tls_setup(&srv, &cfg) < 0) {
		config_release(&cfg);
		return 2;
	}
	int rc = run(&srv);

	shipper_stop(srv.shipper);	/* after the loop: no new records, the point in progress ends */
	monitor_free();
	snmp_notifier_stop(SNMP_DRAIN_MS);

	bool synced = true;
	for (size_t i = 0; i < srv.n_disks; i++)
		if (disk_close(&srv.disks[i]) < 0)
			synced = false;
	if (srv.log) {
		if (rc == 0 && !synced)
			log_warn("a primary could not be synced: leaving the log unclean, the next "
				 "start re-applies its records");
		replog_close(srv.log, rc == 0 && synced);
	}
	control_close(&srv);
	if (srv.unix_listen_path) {
		unlink(srv.unix_listen_path);
		free(srv.unix_listen_path);
	}
	if (srv.listen_fd >= 0)
		close(srv.listen_fd);
	if (srv.eng)
		io_engine_free(srv.eng);
	free(srv.disks);
	free(srv.exports);
	free(srv.redo_reqs);
	tls_server_put(srv.tls);
	config_release(&cfg);
	if (rc == 0)
		log_info("stopped cleanly");
	return rc == 0 ? 0 : 1;
}
