#!/usr/bin/env bash
# Planned failover, two sites with a hypervisor each: the agent powers the protected
# site's VMs off first (web, app, db: reverse boot order, through the libvirt driver on the
# protected site's daemon; each guest logs a FERRY-GUEST-STOP line on its disk as it goes
# down), asks ferryd for a final point, stops shipping, and fails over at that point on
# the recovery site's daemon: the recovered disks hold the guests' last writes, the VMs
# run re-IP'd in boot order, and ferryd ships no more.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require python3 debugfs

lv_start prot
lv_start dr
lv_use prot
ferryctl init --store "file://$T/store" --key-file "$T/key" >/dev/null || fail "init"
SITE_VMS=1 site_start "file://$T/store" "$T/key"
PROT_URI=$LV_URI
ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN" >/dev/null || fail "point"

lv_use dr
lv_net_create dr-net 10.2.0.1/24
agent_start
write_plan "$T/plan.conf" '[protected]' "control = $T/ferryd.sock" 'driver = libvirt' \
	"uri = $PROT_URI" 'stop_timeout = 60s'
ferryctl plan validate -p "$T/plan.conf" -c "$T/agent.conf" --mode planned || fail "validate"
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode planned --wait ||
	{ cat "$T/agent.log" >&2; fail "planned failover"; }
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | tee "$T/status" >&2
grep -q "^domain $SITE_DOMAIN: FailedOver" "$T/status" || fail "not FailedOver"

# the source VMs went down first, in reverse boot order, then the final point was cut
fp=$(journal_step_time 1 final-point start) || fail "no final-point step"
prev=0
for n in web app db; do
	s=$(journal_step_time 1 "source-power-off $n" start) || fail "no source-power-off $n"
	e=$(journal_step_time 1 "source-power-off $n" end)
	[ "$s" -ge "$prev" ] || fail "source-power-off $n began before the one before it ended"
	[ "$e" -le "$fp" ] || fail "the final point was asked before $n was off"
	prev=$e
	[ "$(virsh -q -c "$PROT_URI" domstate "$n")" != running ] || fail "protected $n still runs"
done
grep -q "source-power-off db .*powered off at the protected site" "$T/status" ||
	fail "db was not powered off by the agent"

# the final point holds the guests' last writes: each recovered disk's log ends (before
# its new boot line) with the protected guest's FERRY-GUEST-STOP line
for n in $SITE_NAMES; do
	stop=$(guest_log "${SITE_DISK[$n]}" | grep '^FERRY-GUEST-STOP ' | tail -n 1) ||
		fail "protected $n logged no STOP line"
	guest_log "$T/dr/$n.img" | grep -qxF "$stop" || fail "the final point lacks $n's last write ($stop)"
	info "$n's last write is in the final point: $stop"
done

# ferryd ships no more
ferryctl status -c "$SITE_CONF" | grep -q "shipping stopped" || fail "ferryd still ships"
rc=0; ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN" 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "stopped" "$T/err" || fail "a point after the failover: $rc $(cat "$T/err")"

assert_boot_order 1
assert_answers 10.2.0
pass
