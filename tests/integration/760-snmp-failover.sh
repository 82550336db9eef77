#!/usr/bin/env bash
# ferry-agent's notifications reach a real receiver (snmptrapd, a v2c inform receiver) and
# decode with FERRY-MIB (issue 14 section 3): ferryAgentStarted; a test failover's
# ferryTestFailoverStarted, one ferryTestFailoverStepDone per step of the operation (each
# naming its step), ferryTestFailoverCompleted, in that order, and the domain's
# ferryDomainStateChanged (RecoveryReady -> TestingFailover and back after test-stop); a
# test failover whose readiness check must time out (on_timeout stop) sends
# ferryTestFailoverStepFailed naming the step and the reason (severity major) and the
# change to Error; ferryAgentStopping at SIGTERM.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
. "$(dirname "$0")/../lib/snmp.sh"
require python3
snmp_require
snmp_mibs
snmptrapd_start main
LOG=$TRAPD_LOG

lv_start
failover_site --no-dr-net	# the test network takes 10.2.0.1/24
ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN" >/dev/null || fail "point"

AGENT_CONF_EXTRA=$T/snmp.conf
printf '[snmp]\ninform_timeout = 1s\n' >"$AGENT_CONF_EXTRA"
snmp_receiver "$AGENT_CONF_EXTRA" nms "udp:127.0.0.1:$TRAPD_PORT" v2c inform
agent_start
line=$(wait_notification "$LOG" ferryAgentStarted)
info "received: $(notification_field "$line" ferryNotifyText)"

# count NAME: how many NAME notifications arrived
count() { grep -c "snmpTrapOID.0 = OID: FERRY-MIB::$1[[:space:]]" "$LOG" || true; }
# texts NAME: the ferryNotifyText of each NAME notification, one per line
texts() {
	grep "snmpTrapOID.0 = OID: FERRY-MIB::$1[[:space:]]" "$LOG" | while IFS= read -r l; do
		notification_field "$l" ferryNotifyText
	done
}
# steps OP: the names of the operation's steps, from the agent's journal (status --json)
steps() {
	ferryctl failover status -a "$AGENT_SOCK" --domain "$SITE_DOMAIN" --json |
		python3 -c 'import json, sys
d = json.load(sys.stdin)["domains"][0]
op = next(o for o in d["operations"] if o["id"] == int(sys.argv[1]))
print("\n".join(s["name"] for s in op["steps"]))' "$1"
}
# step_notified OP NAME STATE: a StepDone/StepFailed text of operation OP names step NAME
step_notified() {
	texts "$2" | grep -qF "op $1: step $3 "
}
at_least() { [ "$(count "$1")" -ge "$2" ]; }

# ---- a test failover: started, every step, completed ----
write_plan "$T/plan.conf"
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode test --wait >/dev/null ||
	{ cat "$T/agent.log" >&2; fail "test failover"; }
line=$(wait_notification "$LOG" ferryTestFailoverCompleted)
[ "$(notification_field "$line" ferryNotifyDomain)" = "$SITE_DOMAIN" ] ||
	fail "Completed names another domain: $line"
info "received: $(notification_field "$line" ferryNotifyText)"
mapfile -t STEPS < <(steps 1)
[ ${#STEPS[@]} -ge 10 ] || fail "operation 1 has only ${#STEPS[@]} steps"
wait_for 30 at_least ferryTestFailoverStepDone ${#STEPS[@]} ||
	fail "$(count ferryTestFailoverStepDone) StepDone notifications for ${#STEPS[@]} steps"
for s in "${STEPS[@]}"; do
	step_notified 1 ferryTestFailoverStepDone "$s" || fail "no StepDone for step '$s'"
done
info "one ferryTestFailoverStepDone for each of the ${#STEPS[@]} steps"
notification_order "$LOG" ferryAgentStarted ferryTestFailoverStarted \
	ferryTestFailoverStepDone ferryTestFailoverCompleted
line=$(wait_notification "$LOG" ferryTestFailoverStarted)
[ "$(notification_field "$line" ferryNotifySeverity)" = info ] || fail "Started: $line"
texts ferryTestFailoverStarted | grep -q "^test op 1 of domain $SITE_DOMAIN started: ${#STEPS[@]} steps" ||
	fail "Started text: $(texts ferryTestFailoverStarted)"
texts ferryDomainStateChanged | grep -qx "RecoveryReady -> TestingFailover" ||
	fail "no state change to TestingFailover: $(texts ferryDomainStateChanged)"
[ "$(count ferryTestFailoverStepFailed)" = 0 ] || fail "a step failed: $(texts ferryTestFailoverStepFailed)"

ferryctl failover test-stop -a "$AGENT_SOCK" -p "$T/plan.conf" --wait >/dev/null ||
	{ cat "$T/agent.log" >&2; fail "test-stop"; }
back() { texts ferryDomainStateChanged | grep -qx "TestingFailover -> RecoveryReady"; }
wait_for 30 back || fail "no state change back to RecoveryReady: $(texts ferryDomainStateChanged)"
wait_for 30 at_least ferryTestFailoverCompleted 2 || fail "test-stop not completed"
texts ferryTestFailoverCompleted | grep -q "^test-stop op 2 of domain $SITE_DOMAIN completed" ||
	fail "test-stop's Completed: $(texts ferryTestFailoverCompleted)"

# ---- a readiness check that times out (on_timeout stop): the step fails ----
CHECK="tcp 7999" write_plan "$T/bad.plan"
sed -i '/^\[vm db\]$/,/^\[vm app\]$/ s/^timeout = .*/timeout = 5s/' "$T/bad.plan"
rc=0; ferryctl failover start -a "$AGENT_SOCK" -p "$T/bad.plan" --mode test --wait >/dev/null 2>&1 ||
	rc=$?
[ $rc = 1 ] || fail "the failing test failover exited $rc"
line=$(wait_notification "$LOG" ferryTestFailoverStepFailed)
text=$(notification_field "$line" ferryNotifyText)
info "received: $text"
[[ "$text" == "test op 3: step ready db failed: "* ]] || fail "StepFailed text: $text"
[ "$(notification_field "$line" ferryNotifySeverity)" = major ] || fail "StepFailed severity: $line"
[ "$(notification_field "$line" ferryNotifyDomain)" = "$SITE_DOMAIN" ] || fail "StepFailed domain: $line"
err() { texts ferryDomainStateChanged | grep -q "^TestingFailover -> Error: ready db: "; }
wait_for 30 err || fail "no state change to Error: $(texts ferryDomainStateChanged)"
ferryctl failover test-stop -a "$AGENT_SOCK" -p "$T/bad.plan" --wait >/dev/null ||
	{ cat "$T/agent.log" >&2; fail "test-stop after the failed test"; }

# ---- stopping ----
agent_stop
wait_notification "$LOG" ferryAgentStopping >/dev/null
# every notification numbered, without a gap or a repeat
grep '^NOTIFICATION' "$LOG" | tr '\t' '\n' | grep '^FERRY-MIB::ferryNotifySequence.0' |
	sed 's/.*: //' >"$T/seq"
python3 - "$T/seq" <<'PY' || fail "sequence numbers have gaps or repeat"
import sys
s = [int(x) for x in open(sys.argv[1])]
assert s and s == list(range(1, len(s) + 1)), s
PY
info "$(wc -l <"$T/seq") notifications, numbered 1..$(wc -l <"$T/seq") without a gap"
pass
