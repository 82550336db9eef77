#!/usr/bin/env bash
# Polling: snmpwalk of the system's snmpd (here: snmpd in the foreground with a private
# configuration and AgentX socket) reads FERRY-MIB's status that ferry-subagent serves from
# ferryd: one row per domain with its name, state, newest consistent point, current RPO and
# target, the log's usage and the store's health, and the notifier's counters. The values
# follow ferryd (a point cut, the counters after a test notification); ferry-agent's states
# are served too (a plan registered makes the domain recoveryReady); the table empties
# when ferryd and the agent stop and fills again when ferryd returns, and the subagent
# reconnects to a restarted snmpd.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/snmp.sh"
require qemu-io python3
snmp_require
snmp_mibs
snmptrapd_start nms

STORE=file://$T/store
KEY=$T/store.key
ferryctl init --store "$STORE" --key-file "$KEY" >/dev/null || fail "init"
write_config "$T/ferry.conf" 16M 1M vm0:"$T/vm0.raw":16M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$KEY" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
printf '[domain capture]\ndisk = cap0:%s\n' "$T/cap0.raw" >>"$T/ferry.conf"
truncate -s 16M "$T/cap0.raw"
printf '[snmp]\nagentx_socket = %s\n' "$T/agentx.sock" >>"$T/ferry.conf"
# the VM of domain dom (for a recovery plan), and where ferry-agent answers
printf '[vm v0]\ndomain = dom\ndisks = vm0\nmemory = 256M\nnic = prod-net 52:54:00:00:07:40 dhcp\n' \
	>>"$T/ferry.conf"
printf '[agent]\nsocket = %s\n' "$T/agent.sock" >>"$T/ferry.conf"
snmp_receiver "$T/ferry.conf" nms "udp:127.0.0.1:$TRAPD_PORT" v2c inform

SNMPD_PORT=$(free_udp_port)
snmpd_start() {
	mkdir -p "$T/snmpd"
	cat >"$T/snmpd/conf" <<-EOF
	agentAddress udp:127.0.0.1:$SNMPD_PORT
	master agentx
	agentXSocket $T/agentx.sock
	rocommunity public 127.0.0.1
	EOF
	SNMP_PERSISTENT_DIR=$T/snmpd snmpd -f -C -c "$T/snmpd/conf" -Lf "$T/snmpd/log" \
		-M "$SNMP_MIBDIRS" -m SNMPv2-MIB >"$T/snmpd/out" 2>&1 &
	SNMPD_PID=$!
	_pids+=("$SNMPD_PID")
	wait_for 20 test -S "$T/agentx.sock" || fail "snmpd did not start: $(tail -n 3 "$T/snmpd/log")"
}
snmpd_start
start_ferryd "$T/ferry.conf"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "seed point"
"$BIN/ferry-subagent" -c "$T/ferry.conf" --exit-with-parent -v >"$T/subagent.log" 2>&1 &
SUB=$!
_pids+=("$SUB")
wait_for 10 grep -q '^ferry-subagent ready$' "$T/subagent.log" || fail "ferry-subagent not ready"

Q=(-v2c -c public -M "$SNMP_MIBDIRS" -m FERRY-MIB -Oq -OU -t 2 -r 1 "udp:127.0.0.1:$SNMPD_PORT")
walk() { snmpwalk "${Q[@]}" FERRY-MIB::ferryStatus 2>&1; }
get() { snmpget "${Q[@]}" -Ov "$@" 2>&1; }
has_rows() { walk >"$T/walk" && grep -q '^FERRY-MIB::ferryDomainName.2 ' "$T/walk"; }
wait_for 30 has_rows || { cat "$T/walk" "$T/subagent.log" >&2; fail "snmpwalk does not show the table"; }
cat "$T/walk" >&2

p=$(ferryctl points --store "$STORE" --key-file "$KEY" --domain dom --json |
	python3 -c 'import json, sys; print([p for p in json.load(sys.stdin) if p["consistent"]][-1]["id"])')
expect() {	# OBJECT.INDEX VALUE
	local v
	v=$(get "FERRY-MIB::$1")
	[ "$v" = "$2" ] || fail "$1 is '$v', expected '$2'"
}
expect ferryDomainName.1 dom
expect ferryDomainState.1 protected
expect ferryDomainNewestPoint.1 "$p"
expect ferryDomainRpoTarget.1 3600
expect ferryDomainStoreHealth.1 ok
expect ferryDomainName.2 capture
expect ferryDomainState.2 protected	# a domain of a ferryd with a store
rpo=$(get FERRY-MIB::ferryDomainRpo.1 | tr -dc '0-9-')
[ "$rpo" -ge 0 ] && [ "$rpo" -le 60 ] || fail "ferryDomainRpo.1 is $rpo"
expect ferryDomainLogUsage.1 0
ferryctl status -c "$T/ferry.conf" --json | grep -q '"used_pct":0.0' || fail "status disagrees on the log usage"

# the values follow ferryd: writes fill the log, a point and a test notification
qemu-io -f raw -c 'write -P 7 0 4M' "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
usage_seen() { [ "$(get FERRY-MIB::ferryDomainLogUsage.1 | tr -dc 0-9)" -ge 25 ]; }
wait_for 10 usage_seen || fail "ferryDomainLogUsage does not follow: $(get FERRY-MIB::ferryDomainLogUsage.1)"
p2=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point"
point_seen() { [ "$(get FERRY-MIB::ferryDomainNewestPoint.1)" = "$p2" ]; }
wait_for 10 point_seen || fail "the newest point is not $p2: $(get FERRY-MIB::ferryDomainNewestPoint.1)"
sent0=$(get FERRY-MIB::ferryNotifySent.0 | tr -dc 0-9)
ferryctl trap test -c "$T/ferry.conf" >/dev/null || fail "trap test"
acked() { [ "$(get FERRY-MIB::ferryNotifyAcknowledged.0 | tr -dc 0-9)" -ge 2 ]; }
wait_for 10 acked || fail "ferryNotifyAcknowledged: $(get FERRY-MIB::ferryNotifyAcknowledged.0)"
[ "$(get FERRY-MIB::ferryNotifySent.0 | tr -dc 0-9)" -gt "$sent0" ] || fail "ferryNotifySent did not grow"
expect ferryNotifyDropped.0 0
expect ferryNotifyFailed.0 0

# ferry-agent's states: dom's plan registered, its row says recoveryReady
cat >"$T/drv.sh" <<'EOF'
#!/bin/sh
# a hypervisor that has every network and runs nothing: enough for a plan to be valid
exit 0
EOF
chmod +x "$T/drv.sh"
cat >"$T/agent.conf" <<EOF
[agent]
state_dir = $T/agent
socket = $T/agent.sock
[store]
url = $STORE
key_file = $KEY
[hypervisor]
driver = script
command = $T/drv.sh
EOF
"$BIN/ferry-agent" -c "$T/agent.conf" --exit-with-parent >"$T/agent.log" 2>&1 &
AGENT=$!
_pids+=("$AGENT")
wait_for 20 grep -q '^ferry-agent ready$' "$T/agent.log" || fail "ferry-agent not ready: $(cat "$T/agent.log")"
printf '[plan]\ndomain = dom\ndatastore = %s/dr\n[networks]\nmap = prod-net -> dr-net\n' "$T" \
	>"$T/dom.plan"
ferryctl plan set -a "$T/agent.sock" -p "$T/dom.plan" >/dev/null || fail "plan set"
ready() { [ "$(get FERRY-MIB::ferryDomainState.1)" = recoveryReady ]; }
wait_for 20 ready || fail "ferryDomainState.1 is $(get FERRY-MIB::ferryDomainState.1), not recoveryReady"
expect ferryDomainName.1 dom
expect ferryDomainNewestPoint.1 "$p2"	# ferryd's columns stay
expect ferryDomainState.2 protected	# the agent has no plan for capture
grep -q 'ferry-agent answers at' "$T/subagent.log" || fail "the subagent did not log the agent"
info "ferryDomainState.1 follows ferry-agent: recoveryReady"
kill -TERM "$AGENT"
wait "$AGENT" || fail "ferry-agent exited with $? on SIGTERM"

# ferryd away: no rows; back: rows again
stop_ferryd
no_rows() { walk >"$T/walk" && ! grep -q 'ferryDomainName' "$T/walk"; }
wait_for 20 no_rows || fail "rows are still served without ferryd and the agent"
grep -q 'ferryd does not answer' "$T/subagent.log" || fail "the subagent did not log ferryd's absence"
start_ferryd "$T/ferry.conf"
wait_for 10 has_rows || fail "rows do not come back with ferryd"

# snmpd restarted: the subagent reconnects (AgentX ping every 5 s)
kill -TERM "$SNMPD_PID"
wait "$SNMPD_PID" 2>/dev/null
snmpd_start
wait_for 30 has_rows || fail "the subagent did not reconnect to the restarted snmpd"
kill -TERM "$SUB"
wait "$SUB" || fail "ferry-subagent exited with $? on SIGTERM"
grep -q 'stopped' "$T/subagent.log" || fail "no clean stop"
stop_ferryd
pass
