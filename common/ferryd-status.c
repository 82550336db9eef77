/* Parsing "status json" (see ferryd-status.h). The text comes from ferryd over a root-only
 * socket, but the parser still treats it as untrusted input: every field is type-checked,
 * strings are cut to their buffers, numbers clamped. */
#include "common/ferryd-status.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "common/banned.h"

static void copy_str(char *dst, size_t n, const json_t *v)
{
	snprintf(dst, n, "%s", json_is_string(v) ? json_string_value(v) : "");
}

static uint64_t get_u64(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int store_health(const char *s)
{
	static const struct { const char *name; int v; } map[] = {
		{ "ok", FS_STORE_OK }, { "unreachable", FS_STORE_UNREACHABLE },
		{ "credentials_refused", FS_STORE_CREDENTIALS }, { "failing", FS_STORE_FAILING },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(s, map[i].name) == 0)
			return map[i].v;
	return FS_STORE_NONE;
}

static void parse_domain(const json_t *d, struct ferryd_domain_status *o)
{
	memset(o, 0, sizeof *o);
	copy_str(o->name, sizeof o->name, json_object_get(d, "name"));
	const json_t *state = json_object_get(d, "state");
	bool overflow = json_is_string(state) && strcmp(json_string_value(state), "overflow") == 0;
	const json_t *store = json_object_get(d, "store");
	o->store = json_is_string(store) ? store_health(json_string_value(store)) : FS_STORE_NONE;
	const json_t *ship = json_object_get(d, "shipping");
	bool stopped = json_is_string(ship) && strcmp(json_string_value(ship), "stopped") == 0;
	o->state = overflow ? FS_OVERFLOW : o->store == FS_STORE_NONE || stopped ?
		   FS_NOT_SHIPPING : FS_PROTECTED;
	o->rpo_s = -1;
	if (get_u64(d, "consistent_time_ns"))
		copy_str(o->point, sizeof o->point, json_object_get(d, "consistent_point"));
	const json_t *rpo = json_object_get(d, "current_rpo_ms");
	if (json_is_integer(rpo) && json_integer_value(rpo) >= 0 && o->point[0])
		o->rpo_s = MIN(json_integer_value(rpo) / 1000, (json_int_t)INT32_MAX);
	o->rpo_target_s = (uint32_t)MIN(get_u64(d, "rpo_ms") / 1000, (uint64_t)UINT32_MAX);
}

int ferryd_status_parse(const char *text, size_t len, struct ferryd_status *out, char *err,
			size_t errlen)
{
	json_error_t je;
	memset(out, 0, sizeof *out);
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
		return -1;
	}
	int rc = -1;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	const json_t *log = json_object_get(root, "log");
	if (log && !json_is_object(log)) {
		snprintf(err, errlen, "\"log\" is not an object");
		goto out;
	}
	const json_t *pct = json_object_get(log, "used_pct");
	if (json_is_number(pct)) {
		double p = json_number_value(pct);
		out->log_pct = p <= 0 ? 0 : p >= 100 ? 100 : (unsigned)(p + 0.5);
	}
	const json_t *doms = json_object_get(log, "domains");
	if (doms && !json_is_array(doms)) {
		snprintf(err, errlen, "\"log.domains\" is not an array");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(doms) && out->n_domains < FERRYD_STATUS_MAX_DOMAINS;
	     i++) {
		const json_t *d = json_array_get(doms, i);
		if (!json_is_object(d)) {
			snprintf(err, errlen, "a domain is not an object");
			goto out;
		}
		parse_domain(d, &out->domains[out->n_domains++]);
	}
	const json_t *snmp = json_object_get(root, "snmp");
	if (json_is_object(snmp)) {
		out->sent = get_u64(snmp, "sent");
		out->acknowledged = get_u64(snmp, "acknowledged");
		out->dropped = get_u64(snmp, "dropped");
		out->failed = get_u64(snmp, "failed");
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- ferry-agent's domains ---- */

static int agent_state(const char *s)
{
	static const char *const names[] = {	/* agent/state.c's names, in FerryState order */
		[FS_PROTECTED] = "Protected", [FS_RECOVERY_READY] = "RecoveryReady",
		[FS_REHYDRATING] = "Rehydrating", [FS_FAILING_OVER] = "FailingOver",
		[FS_FAILED_OVER] = "FailedOver", [FS_TESTING_FAILOVER] = "TestingFailover",
		[FS_FAILING_BACK] = "FailingBack", [FS_READY_FOR_FAILBACK] = "ReadyForFailback",
		[FS_ERROR] = "Error",
	};
	for (size_t i = 0; s && i < ARRAY_SIZE(names); i++)
		if (names[i] && strcmp(s, names[i]) == 0)
			return (int)i;
	return 0;
}

int agent_status_merge(const json_t *answer, struct ferryd_status *st, char *err, size_t errlen)
{
	const json_t *doms = json_object_get(answer, "domains");
	if (!json_is_object(answer) || !json_is_array(doms)) {
		snprintf(err, errlen, "not the agent's domains (no \"domains\" array)");
		return -1;
	}
	bool store_ok = !json_object_get(answer, "store_error");
	for (size_t i = 0; i < json_array_size(doms); i++) {
		const json_t *d = json_array_get(doms, i);
		const char *name = json_string_value(json_object_get(d, "domain"));
		int state = agent_state(json_string_value(json_object_get(d, "state")));
		if (!json_is_object(d) || !name || !*name || strlen(name) >= sizeof st->domains[0].name ||
		    !state)
			continue;
		struct ferryd_domain_status *o = NULL;
		for (size_t k = 0; k < st->n_domains && !o; k++)
			if (strcmp(st->domains[k].name, name) == 0)
				o = &st->domains[k];
		if (o) {
			if (state != FS_PROTECTED)
				o->state = state;
			continue;
		}
		if (st->n_domains == FERRYD_STATUS_MAX_DOMAINS)
			break;
		o = &st->domains[st->n_domains++];
		memset(o, 0, sizeof *o);
		memcpy(o->name, name, strlen(name) + 1);
		o->state = state;
		o->store = store_ok ? FS_STORE_OK : FS_STORE_FAILING;
		o->rpo_s = -1;
		const json_t *rh = json_object_get(d, "rehydration");
		copy_str(o->point, sizeof o->point, json_object_get(rh, "point"));
		const json_t *rpo = json_object_get(rh, "rpo_s");
		if (o->point[0] && json_is_number(rpo) && json_number_value(rpo) >= 0)
			o->rpo_s = (int64_t)MIN(json_number_value(rpo), (double)INT32_MAX);
	}
	return 0;
}
