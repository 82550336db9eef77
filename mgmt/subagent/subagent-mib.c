/* FERRY-MIB's status objects in net-snmp's agent library: four Counter32 scalar instances
 * backed by variables, and ferryDomainTable as a table_data_set whose rows are replaced at
 * every update (a handful of rows, once a second: simpler than diffing). Requests are
 * answered from these copies by the library; nothing here runs per request. */
#include "mgmt/subagent/subagent.h"

#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "common/banned.h"

enum { COL_NAME = 2, COL_STATE, COL_POINT, COL_RPO, COL_RPO_TARGET, COL_LOG_USAGE, COL_STORE };

static u_long counters[4];	/* sent, acknowledged, dropped, failed (Counter32) */
static netsnmp_table_data_set *table;

static int register_counters(void)
{
	static const char *const names[] = { "ferryNotifySent", "ferryNotifyAcknowledged",
					     "ferryNotifyDropped", "ferryNotifyFailed" };
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		oid o[] = { 1, 3, 6, 1, 4, 1, FERRY_PEN, 1, 2, i + 1, 0 };
		if (netsnmp_register_read_only_counter32_instance(names[i], o, OID_LENGTH(o),
								  &counters[i], NULL) !=
		    MIB_REGISTERED_OK) {
			log_error("cannot register %s", names[i]);
			return -1;
		}
	}
	return 0;
}

int subagent_mib_register(void)
{
	static const oid table_oid[] = { 1, 3, 6, 1, 4, 1, FERRY_PEN, 1, 2, 10 };
	if (register_counters() < 0)
		return -1;
	table = netsnmp_create_table_data_set("ferryDomainTable");
	if (!table)
		return -1;
	netsnmp_table_dataset_add_index(table, ASN_UNSIGNED);
	netsnmp_table_set_multi_add_default_row(table,
		COL_NAME, ASN_OCTET_STR, 0, NULL, 0,
		COL_STATE, ASN_INTEGER, 0, NULL, 0,
		COL_POINT, ASN_OCTET_STR, 0, NULL, 0,
		COL_RPO, ASN_INTEGER, 0, NULL, 0,
		COL_RPO_TARGET, ASN_UNSIGNED, 0, NULL, 0,
		COL_LOG_USAGE, ASN_GAUGE, 0, NULL, 0,
		COL_STORE, ASN_INTEGER, 0, NULL, 0,
		0);
	netsnmp_handler_registration *reg = netsnmp_create_handler_registration(
		"ferryDomainTable", NULL, table_oid, OID_LENGTH(table_oid), HANDLER_CAN_RONLY);
	if (!reg || netsnmp_register_table_data_set(reg, table, NULL) != SNMPERR_SUCCESS) {
		log_error("cannot register ferryDomainTable");
		return -1;
	}
	return 0;
}

static void clear_rows(void)
{
	netsnmp_table_row *row;
	while ((row = table->table->first_row))
		netsnmp_table_dataset_remove_and_delete_row(table, row);
}

static void add_row(unsigned idx, const struct ferryd_domain_status *d, unsigned log_pct)
{
	netsnmp_table_row *row = netsnmp_create_table_data_row();
	if (!row)
		return;
	u_long index = idx, target = d->rpo_target_s, usage = log_pct;
	long state = d->state, rpo = (long)d->rpo_s, store = d->store;
	netsnmp_table_row_add_index(row, ASN_UNSIGNED, &index, sizeof index);
	netsnmp_set_row_column(row, COL_NAME, ASN_OCTET_STR, d->name, strlen(d->name));
	netsnmp_set_row_column(row, COL_STATE, ASN_INTEGER, &state, sizeof state);
	netsnmp_set_row_column(row, COL_POINT, ASN_OCTET_STR, d->point, strlen(d->point));
	netsnmp_set_row_column(row, COL_RPO, ASN_INTEGER, &rpo, sizeof rpo);
	netsnmp_set_row_column(row, COL_RPO_TARGET, ASN_UNSIGNED, &target, sizeof target);
	netsnmp_set_row_column(row, COL_LOG_USAGE, ASN_GAUGE, &usage, sizeof usage);
	netsnmp_set_row_column(row, COL_STORE, ASN_INTEGER, &store, sizeof store);
	netsnmp_table_dataset_add_row(table, row);
}

void subagent_mib_update(const struct ferryd_status *st)
{
	clear_rows();
	if (!st)
		return;
	counters[0] = (u_long)(uint32_t)st->sent;	/* Counter32 wraps */
	counters[1] = (u_long)(uint32_t)st->acknowledged;
	counters[2] = (u_long)(uint32_t)st->dropped;
	counters[3] = (u_long)(uint32_t)st->failed;
	for (size_t i = 0; i < st->n_domains; i++)
		add_row((unsigned)i + 1, &st->domains[i], st->log_pct);
}
