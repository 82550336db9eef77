/* ferry-agent: the recovery site's management agent (docs/design.md sections 4 and 6).
 * Runs in the foreground, logs to stderr, prints "ferry-agent ready" on stdout once its API
 * answers. SIGTERM/SIGINT stop it; running operations stay in their journals and go on
 * at the next start.
 *
 *   ferry-agent -c FILE [--exit-with-parent] [-v]
 *
 * Reads [agent], [store], [hypervisor] and [snmp] of FILE (docs/config.md): its SNMP
 * notifications (agent/notify-observer.c) go to the [snmp-receiver]s. Exit 2 on a bad
 * configuration, 1 when it cannot start. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "common/config.h"
#include "common/daemon-args.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/snmp-notifier.h"
#include "common/banned.h"

/* at stop, how long pending notifications (ferryAgentStopping above all) may still take */
#define SNMP_DRAIN_MS 3000

int main(int argc, char **argv)
{
	struct daemon_args args = {
		.name = "ferry-agent",
		.config_help = "[agent], [store], [hypervisor], [snmp] (docs/config.md)",
	};
	int ex = daemon_args_parse(argc, argv, &args);
	if (ex >= 0)
		return ex;
	const char *conf = args.conf;
	log_setup("ferry-agent", args.level);
	struct ferry_config cfg;
	char err[1024];
	if (config_load_any(conf, &cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 2;
	}
	if (!cfg.store_url) {
		log_error("%s: no [store] url (the repository the agent recovers from)", conf);
		config_release(&cfg);
		return 2;
	}
	/* the signals are taken by sigwait below; every thread inherits the mask */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* SNMP first (its thread inherits the signal mask): the operations agent_open resumes
	 * are notified too (agent/notify-observer.c) */
	if (snmp_notifier_start(&cfg, "ferry-agent", err, sizeof(err)) < 0) {
		log_error("%s", err);
		config_release(&cfg);
		return 2;
	}
	struct agent *a = NULL;
	struct http_server *h = NULL;
	int rc = agent_open(&cfg, &a, err, sizeof(err));
	if (rc == 0)
		rc = http_start(a, cfg.agent_socket, cfg.agent_listen, &h, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		agent_close(a);
		snmp_notifier_stop(0);
		config_release(&cfg);
		return 1;
	}
	log_info("API on %s%s%s", cfg.agent_socket, cfg.agent_listen ? " and " : "",
		 cfg.agent_listen ? cfg.agent_listen : "");
	printf("ferry-agent ready\n");
	fflush(stdout);
	notify_event(NOTIFY_AGENT_STARTED, NULL, "ferry-agent started: API on %s%s%s",
		     cfg.agent_socket, cfg.agent_listen ? " and " : "",
		     cfg.agent_listen ? cfg.agent_listen : "");
	int sig = 0;
	sigwait(&set, &sig);
	log_info("%s: stopping", strsignal(sig));
	notify_event(NOTIFY_AGENT_STOPPING, NULL, "ferry-agent stopping (%s)", strsignal(sig));
	http_stop(h);
	agent_close(a);
	snmp_notifier_stop(SNMP_DRAIN_MS);
	config_release(&cfg);
	return 0;
}
