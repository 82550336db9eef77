/* ferry-subagent -c FILE: the AgentX subagent (see subagent.h). Connects to the master agent
 * at [snmp] agentx_socket (reconnecting every 5 s when it is away), reads ferryd's status
 * from [control] socket once a second, and ferry-agent's domains from [agent] socket every
 * 5 s (a recovery site's states: RecoveryReady, FailedOver, ...), and serves them. Runs in the foreground, logs to
 * stderr, prints "ferry-subagent ready" once registered; SIGTERM/SIGINT stop it.
 * Exit: 0 clean stop, 1 failure, 2 bad usage or configuration. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>

#include "common/config.h"
#include "common/control-client.h"
#include "common/dbuf.h"
#include "common/ferryd-status.h"
#include "common/daemon-args.h"
#include "common/log.h"
#include "common/snmp-target.h"
#include "mgmt/agent-client.h"
#include "mgmt/subagent/subagent.h"
#include "common/banned.h"

#define APP "ferry-subagent"

static volatile sig_atomic_t stopping;
static const struct ferry_config *cfg;
static bool ferryd_answered = true;	/* to log a change, not every second */

#define AGENT_POLL_S 5
static json_t *agent_domains;		/* ferry-agent's last answer, or NULL */
static bool agent_answered;
static unsigned agent_age = AGENT_POLL_S - 1;	/* asked at the first refresh */

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* ferry-agent's domains (GET /v1/domains), asked every AGENT_POLL_S refreshes only: its
 * answer lists the store's domains, which costs a LIST request of the store */
static void poll_agent(void)
{
	if (++agent_age < AGENT_POLL_S)
		return;
	agent_age = 0;
	struct agent_client *c;
	json_t *resp = NULL;
	long status = 0;
	char err[256];
	bool ok = agent_client_open(cfg->agent_socket, &c, err, sizeof err) == 0;
	if (ok) {
		agent_client_set_timeout(c, 2);
		ok = agent_call(c, "GET", "/v1/domains", NULL, &status, &resp, err, sizeof err) == 0 &&
		     status == 200;
		agent_client_close(c);
	}
	json_decref(agent_domains);
	agent_domains = ok ? resp : NULL;
	if (!ok)
		json_decref(resp);
	if (ok != agent_answered) {
		if (ok)
			log_info("ferry-agent answers at %s: serving its domains' states", cfg->agent_socket);
		else
			log_warn("ferry-agent does not answer at %s any more", cfg->agent_socket);
		agent_answered = ok;
	}
}

static void refresh(unsigned reg, void *arg)
{
	(void)reg, (void)arg;
	static struct ferryd_status st;
	char err[256], *ans = NULL;
	bool ok = control_request(cfg->control_socket, "status json", 2, 4u << 20, &ans) == 0 &&
		  ferryd_status_parse(ans, strlen(ans), &st, err, sizeof err) == 0;
	free(ans);
	if (ok != ferryd_answered) {
		if (ok)
			log_info("ferryd answers at %s", cfg->control_socket);
		else
			log_warn("ferryd does not answer at %s: serving no rows of it",
				 cfg->control_socket);
		ferryd_answered = ok;
	}
	if (!ok)
		memset(&st, 0, sizeof st);
	poll_agent();
	if (agent_domains && agent_status_merge(agent_domains, &st, err, sizeof err) < 0)
		log_debug("ferry-agent's domains: %s", err);
	subagent_mib_update(ok || agent_domains ? &st : NULL);
}

static int run(void)
{
	netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 1);
	netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET,
			      cfg->snmp_agentx_socket);
	netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL, 5);
	snmp_lib_setup();

	if (init_agent(APP) != 0) {
		log_error("cannot initialise the agent library");
		return 1;
	}
	if (subagent_mib_register() < 0)
		return 1;
	init_snmp(APP);
	refresh(0, NULL);
	snmp_alarm_register(1, SA_REPEAT, refresh, NULL);

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	log_info("serving FERRY-MIB through the master agent at %s", cfg->snmp_agentx_socket);
	printf(APP " ready\n");
	fflush(stdout);
	while (!stopping)
		agent_check_and_process(1);
	snmp_shutdown(APP);
	json_decref(agent_domains);
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon_args args = {
		.name = "ferry-subagent",
		.config_help = "ferryd's configuration: [control] socket, [snmp] agentx_socket",
	};
	int ex = daemon_args_parse(argc, argv, &args);
	if (ex >= 0)
		return ex;
	const char *conf = args.conf;
	log_setup(APP, args.level);
	static struct ferry_config config;
	char err[512];
	if (config_load_any(conf, &config, err, sizeof err) < 0) {
		fprintf(stderr, APP ": %s\n", err);
		return 2;
	}
	cfg = &config;
	int rc = run();
	config_release(&config);
	return rc;
}
