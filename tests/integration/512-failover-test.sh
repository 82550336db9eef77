#!/usr/bin/env bash
# Test failover while ferryd keeps shipping: the copies run re-IP'd on the isolated test
# network the agent creates (the host reaches them there), points keep landing meanwhile,
# and after test-stop no copy, VM or network of the test remains; the journal and the
# serial logs stay as evidence (failover report).
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require qemu-io python3

lv_start
SITE_RPO=2s failover_site --no-dr-net	# the test network takes 10.2.0.1/24
more_points_than() { [ "$(points_count)" -gt "$1" ]; }
wait_for 30 more_points_than 0 || fail "no point"

agent_start
write_plan "$T/plan.conf"
before=$(points_count)
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode test --wait ||
	{ cat "$T/agent.log" >&2; fail "test failover"; }
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | tee "$T/status" >&2
grep -q "^domain $SITE_DOMAIN: TestingFailover .*returns to RecoveryReady" "$T/status" ||
	fail "not TestingFailover"
for n in $SITE_NAMES; do
	[ "$(lv_virsh domstate "dr-test-$n")" = running ] || fail "dr-test-$n is not running"
	[ "$(lv_virsh domstate "$n")" = running ] || fail "protected $n was disturbed"
done
lv_virsh net-info site-test | grep -q 'Active: *yes' || fail "no test network"
assert_boot_order 1
assert_answers 10.2.0
# replication goes on during the test: a write to the protected db lands in a new point
# (the guests' own writes may all have shipped before the test began)
during=$(points_count)
qemu-io -f raw -c "write -P 0x5a $SITE_TAIL_OFF 64k" "$NBD_URI_BASE/db" >/dev/null || fail "qemu-io"
wait_for 30 more_points_than "$during" || fail "no point landed during the test"
info "points: $before before the test, $(points_count) now"
ferryctl status -c "$SITE_CONF" | grep -q "shipping stopped" && fail "ferryd stopped shipping"

# a failover is refused while the test runs
rc=0; ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode forced 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "is TestingFailover: forced is not allowed" "$T/err" ||
	fail "forced during a test: $rc $(cat "$T/err")"

ferryctl failover test-stop -a "$AGENT_SOCK" -p "$T/plan.conf" --wait ||
	{ cat "$T/agent.log" >&2; fail "test-stop"; }
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | grep -q "^domain $SITE_DOMAIN: RecoveryReady" ||
	fail "not back to RecoveryReady"
# nothing of the test remains
lv_virsh list --all --name | grep -q '^dr-test-' && fail "a test VM remains: $(lv_virsh list --all)"
lv_virsh net-list --all --name | grep -qx site-test && fail "the test network remains"
[ ! -e "$T/dr/test" ] || fail "test copies remain: $(ls -la "$T/dr/test")"
for n in $SITE_NAMES; do
	[ "$(lv_virsh domstate "$n")" = running ] || fail "protected $n was disturbed"
done
# the evidence stays
ferryctl failover report -a "$AGENT_SOCK" -p "$T/plan.conf" | tee "$T/report" >&2
for n in $SITE_NAMES; do
	grep -q "  | FERRY-GUEST name=$n ip=10.2.0.${SITE_ADDR[$n]##*.}/24" "$T/report" ||
		fail "the report lacks $n's boot line"
done
grep -q "^test-stop:" "$T/report" && grep -q "done     test-remove-network" "$T/report" ||
	fail "the report lacks the test-stop"
pass
