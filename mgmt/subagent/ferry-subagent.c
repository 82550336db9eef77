/* ferry-subagent -c FILE: the AgentX subagent (see subagent.h). Connects to the master agent
 * at [snmp] agentx_socket (reconnecting every 5 s when it is away), reads ferryd's status
 * from [control] socket once a second, and serves it. Runs in the foreground, logs to
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
#include "mgmt/subagent/subagent.h"
#include "common/banned.h"

#define APP "ferry-subagent"

static volatile sig_atomic_t stopping;
static const struct ferry_config *cfg;
static bool ferryd_answered = true;	/* to log a change, not every second */

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
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
			log_warn("ferryd does not answer at %s: serving no rows", cfg->control_socket);
		ferryd_answered = ok;
	}
	subagent_mib_update(ok ? &st : NULL);
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
