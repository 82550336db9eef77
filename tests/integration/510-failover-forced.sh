#!/usr/bin/env bash
# Forced failover of the protected site (db, app, web on ferryd under libvirt; app waits
# for db, web for app) from the latest point: all three run at the recovery site, started
# in boot order (the journal's times show it), each reports its re-IP'd address and
# answers on it. Then a second agent fails over to a point chosen by time, and its disks
# hold that point's data, not the newer one.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require qemu-io python3

lv_start
failover_site
OFF=$SITE_TAIL_OFF

# point 1 holds 0x11 at the end of db's disk, point 2 holds 0x22 there
qemu-io -f raw -c "write -P 0x11 $OFF 1M" "$NBD_URI_BASE/db" >/dev/null || fail "qemu-io"
P1=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN") || fail "point 1"
T1=$(ferryctl points --store "file://$T/store" --key-file "$T/key" --domain "$SITE_DOMAIN" --json |
	python3 -c "import json,sys; print([p['time'] for p in json.load(sys.stdin) if p['id']=='$P1'][0])")
sleep 1.2	# points are chosen by the second
qemu-io -f raw -c "write -P 0x22 $OFF 1M" "$NBD_URI_BASE/db" >/dev/null || fail "qemu-io"
P2=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN") || fail "point 2"
info "point $P1 at $T1, then point $P2"

# ---- forced failover from the latest point ----
agent_start
write_plan "$T/plan.conf"
ferryctl plan validate -p "$T/plan.conf" -c "$T/agent.conf" --mode forced || fail "validate"
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode forced --wait ||
	{ cat "$T/agent.log" >&2; fail "forced failover"; }
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | tee "$T/status" >&2
grep -q "^domain $SITE_DOMAIN: FailedOver" "$T/status" || fail "not FailedOver"
grep -q "forced at point $P2 (latest)" "$T/status" || fail "not at the latest point $P2"
assert_boot_order 1
assert_answers 10.2.0
for n in $SITE_NAMES; do
	line=$(tr -d '\r' <"$AGENT_DIR/domains/$SITE_DOMAIN/ops/1/serial/$n.log" | grep -m1 '^FERRY-GUEST ') ||
		fail "no boot line from dr-$n"
	[ "$(guest_field "$line" ip)" = "10.2.0.${SITE_ADDR[$n]##*.}/24" ] || fail "dr-$n booted with $line"
	[ "$(guest_field "$line" gw)" = 10.2.0.1 ] || fail "dr-$n gateway: $line"
	[ "$(lv_virsh domstate "dr-$n")" = running ] || fail "dr-$n is not running"
done
# the restored disk holds point 2's data
qemu-io -f raw -r -c "read -P 0x22 $OFF 1M" "$T/dr/db.img" | grep -q 'read 1048576' ||
	fail "db's disk is not at point $P2"
# a second forced failover is refused, naming the state
rc=0; ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode forced 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "domain $SITE_DOMAIN is FailedOver: forced is not allowed" "$T/err" ||
	fail "second failover: exit $rc: $(cat "$T/err")"
ferryctl failover status -a "$AGENT_SOCK" --domain "$SITE_DOMAIN" --json >"$T/journal.json" ||
	fail "status --json"
python3 -c "import json; d=json.load(open('$T/journal.json')); assert d['event']=='result' and d['domains'][0]['operations'][0]['steps'][0]['name']=='networks'" ||
	fail "status --json is not the journal"
agent_stop

# ---- another recovery site: a point chosen by time ----
# (its VMs get 10.3.0.x on dr-net, beside the first site's: they are checked on the console)
agent_start agent-time
DATASTORE=dr-time PREFIX=pt- REIP_RULE='10.1.0.* -> 10.3.0.*' CHECK='serial ^FERRY-GUEST ' \
	write_plan "$T/plan-time.conf"
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan-time.conf" --mode forced --point "$T1" --wait ||
	{ cat "$T/agent-time.log" >&2; fail "forced failover to $T1"; }
ferryctl failover status -a "$AGENT_SOCK" --domain "$SITE_DOMAIN" | grep -q "at point $P1 ($T1)" ||
	fail "the time $T1 did not resolve to $P1"
qemu-io -f raw -r -c "read -P 0x11 $OFF 1M" "$T/dr-time/db.img" | grep -q 'read 1048576' ||
	fail "db's disk is not at point $P1"
pass
