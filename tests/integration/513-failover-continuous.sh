#!/usr/bin/env bash
# Continuous failover: the agent keeps the site's disks rehydrated (vmdk-flat) while
# points land (state Rehydrating, the point held and its RPO shown); a test failover runs
# beside it and returns to Rehydrating; `failover complete` applies what is pending and
# starts the VMs re-IP'd in boot order, on disks at the newest point. (How long complete
# takes on big disks is measured by make bench-failover, not here.)
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require qemu-io python3

lv_start
failover_site
P=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN") || fail "point"

agent_start
FORMAT=vmdk-flat INTERVAL=500ms write_plan "$T/plan.conf"
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode continuous --wait ||
	{ cat "$T/agent.log" >&2; fail "continuous failover"; }
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | tee "$T/status" >&2
grep -q "^domain $SITE_DOMAIN: Rehydrating" "$T/status" || fail "not Rehydrating"
grep -q "^rehydrated at point $P, RPO [0-9.]* s" "$T/status" || fail "no point or RPO shown"
[ -f "$T/dr/db.vmdk" ] && [ -f "$T/dr/db-flat.vmdk" ] || fail "no flat VMDK in the datastore"

# new data lands at the site; the rehydrated disks follow
qemu-io -f raw -c "write -P 0x33 $SITE_TAIL_OFF 1M" "$NBD_URI_BASE/db" >/dev/null || fail "qemu-io"
P2=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN") || fail "point 2"
wait_for 60 bash -c "ferryctl failover status -a '$AGENT_SOCK' -p '$T/plan.conf' | grep -q '^rehydrated at point $P2,'" ||
	fail "the disks did not follow to $P2"
info "rehydrated to $P2"

# a test failover beside the rehydration, and back
lv_net_remove dr-net	# the test network takes 10.2.0.1/24 on the host
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode test --wait || fail "test"
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | grep -q 'TestingFailover .*returns to Rehydrating' ||
	fail "the test does not return to Rehydrating"
ferryctl failover test-stop -a "$AGENT_SOCK" -p "$T/plan.conf" --wait || fail "test-stop"
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | grep -q "^domain $SITE_DOMAIN: Rehydrating" ||
	fail "not Rehydrating after the test"
lv_net_create dr-net 10.2.0.1/24

# more data, one more point, and complete: the pending point is applied, the VMs start
qemu-io -f raw -c "write -P 0x44 $SITE_TAIL_OFF 1M" "$NBD_URI_BASE/db" >/dev/null || fail "qemu-io"
P3=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN") || fail "point 3"
for n in $SITE_NAMES; do lv_virsh destroy "$n" >/dev/null; done	# the site is lost
ferryctl failover complete -a "$AGENT_SOCK" -p "$T/plan.conf" --wait ||
	{ cat "$T/agent.log" >&2; fail "complete"; }
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | tee "$T/status" >&2
grep -q "^domain $SITE_DOMAIN: FailedOver" "$T/status" || fail "not FailedOver"
grep -q "complete at point $P3 (latest)" "$T/status" || fail "complete not at $P3"
op=$(python3 -c "import json; print(json.load(open('/dev/stdin'))['domains'][0]['operations'][-1]['id'])" \
	< <(ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" --json))
assert_boot_order "$op"
assert_answers 10.2.0
qemu-io -f raw -r -c "read -P 0x44 $SITE_TAIL_OFF 1M" "$T/dr/db-flat.vmdk" | grep -q 'read 1048576' ||
	fail "db's disk is not at point $P3"
pass
