/* ferry-subagent: an AgentX subagent (net-snmp's agent library) that serves FERRY-MIB's
 * status (the notifier's counters and ferryDomainTable) to the system's snmpd, from ferryd's
 * control socket and ferry-agent's API (its domains' states). A separate process, so that ferryd links only libnetsnmp, and a stuck or
 * restarted snmpd can never touch the datapath. */
#ifndef FERRY_SUBAGENT_H
#define FERRY_SUBAGENT_H

#include <stdbool.h>

#include "common/ferryd-status.h"

/* Register the scalars and the table with the agent library (after init_agent, before
 * init_snmp). Return 0 or -1 (logged). */
int subagent_mib_register(void);
/* Serve st from now on; NULL (neither ferryd nor ferry-agent answering): no rows, counters
 * unchanged. */
void subagent_mib_update(const struct ferryd_status *st);

#endif
