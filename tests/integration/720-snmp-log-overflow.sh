#!/usr/bin/env bash
# Notifications of a log overflow and its resync, driven by a small log (4 MiB) and an
# outage of the (file) store under write load, received by snmptrapd as v2c traps:
#   during the outage: ferryLogUsage75, ferryLogUsage90, ferryLogFull (in that order),
#   ferryOverflowEntered and ferryPointFailed for the domain, ferryBackpressureOn (with
#   [log] backpressure), ferryRpoExceeded (rpo 1s, rpo_alarm 3s);
#   after it: ferryStoreRecovered, ferryResyncStarted then ferryResyncDone, ferryRpoRecovered,
#   ferryLogUsageNormal, ferryBackpressureOff.
# Every notification carries the domain (or none for the log), the severity the MIB gives
# it, a text and a sequence number; the numbers have no gap (nothing was dropped).
# The outage is the one of 120-pipeline-overflow-outage (file_store_outage_begin: the store's
# directories are moved aside and files put at their names).
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/snmp.sh"
require qemu-io python3
snmp_require
snmp_mibs
snmptrapd_start main

STORE=file://$T/store
KEY=$T/store.key
ferryctl init --store "$STORE" --key-file "$KEY" >/dev/null || fail "init"
BACKPRESSURE=5ms write_config "$T/ferry.conf" 4M 1M vm0:"$T/vm0.raw":64M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$KEY" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s\nrpo_alarm = 3s/' "$T/ferry.conf"
printf '[snmp]\nlog_interval = 1h\n' >>"$T/ferry.conf"
snmp_receiver "$T/ferry.conf" nms "udp:127.0.0.1:$TRAPD_PORT" v2c trap
start_ferryd "$T/ferry.conf"
L=$TRAPD_LOG
wait_notification "$L" ferrydStarted >/dev/null
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "first point"

# writes: 64 KiB-aligned 256 KiB ones; N of them
run_writes() {	# SEED N
	python3 - "$1" "$2" >"$T/ops" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1]))
for i in range(int(sys.argv[2])):
    print(f"write -P {r.randrange(1, 256)} {r.randrange(0, (64 << 20) // 65536 - 4) * 65536} 262144")
PY
	local args=() op
	while read -r op; do args+=(-c "$op"); done <"$T/ops"
	qemu-io -f raw "${args[@]}" "$NBD_URI_BASE/vm0" >"$T/qemu-io.out" 2>&1 || fail "qemu-io failed"
	grep -qi 'error\|fail' "$T/qemu-io.out" && { cat "$T/qemu-io.out" >&2; fail "a write failed"; }
	return 0
}

# ---- the outage ----
file_store_outage_begin "$T/store"
run_writes 1 150	# 37.5 MiB: about nine times the ring
for n in ferryLogUsage75 ferryLogUsage90 ferryLogFull ferryOverflowEntered ferryPointFailed \
	ferryBackpressureOn ferryRpoExceeded; do
	wait_notification "$L" $n 20 >/dev/null
done
notification_order "$L" ferryLogUsage75 ferryLogUsage90 ferryLogFull
line=$(wait_notification "$L" ferryOverflowEntered)
[ "$(notification_field "$line" ferryNotifyDomain)" = dom ] || fail "overflow: $line"
[ "$(notification_field "$line" ferryNotifySeverity)" = critical ] || fail "overflow: $line"
line=$(wait_notification "$L" ferryLogFull)
[ -z "$(notification_field "$line" ferryNotifyDomain)" ] || fail "log full names a domain: $line"
notification_field "$line" ferryNotifyText | grep -q 'full' || fail "log full text: $line"
line=$(wait_notification "$L" ferryRpoExceeded)
[ "$(notification_field "$line" ferryNotifySeverity)" = major ] || fail "rpo: $line"
notification_field "$line" ferryNotifyText | grep -q 'exceeds the alarm threshold of 3 s' ||
	fail "rpo text: $line"
grep -q 'FERRY-MIB::ferryRpoRecovered\|FERRY-MIB::ferryStoreRecovered\|FERRY-MIB::ferryResync' "$L" &&
	fail "a recovery was notified during the outage"
info "during the outage: $(grep -c '^NOTIFICATION' "$L") notifications"

# ---- the store returns ----
file_store_outage_end "$T/store"
for n in ferryStoreRecovered ferryResyncStarted ferryResyncDone ferryRpoRecovered \
	ferryLogUsageNormal ferryBackpressureOff; do
	wait_notification "$L" $n 90 >/dev/null
done
notification_order "$L" ferryOverflowEntered ferryResyncStarted ferryResyncDone ferryRpoRecovered
notification_order "$L" ferryLogFull ferryResyncStarted ferryLogUsageNormal
notification_order "$L" ferryPointFailed ferryStoreRecovered
line=$(wait_notification "$L" ferryStoreRecovered)
[ "$(notification_field "$line" ferryNotifySeverity)" = cleared ] || fail "recovered: $line"
[ "$(notification_field "$line" ferryNotifyDomain)" = dom ] || fail "recovered: $line"

# one of each transition only: the levels are edge-triggered
for n in ferryLogFull ferryOverflowEntered ferryRpoExceeded ferryPointFailed ferryBackpressureOn; do
	c=$(grep -c "FERRY-MIB::$n[[:space:]]" "$L")
	[ "$c" = 1 ] || fail "$n was sent $c times"
done

# sequence numbers 1..N without a gap
grep '^NOTIFICATION' "$L" | tr '\t' '\n' | grep '^FERRY-MIB::ferryNotifySequence.0' |
	sed 's/.*: //' >"$T/seq"
python3 - "$T/seq" <<'PY' || fail "sequence numbers have gaps or repeat"
import sys
s = [int(x) for x in open(sys.argv[1])]
print("sequence numbers:", s)
assert s == list(range(1, len(s) + 1)), s
PY
ferryctl status -c "$T/ferry.conf" --json >"$T/st.json" || fail "status"
python3 - "$T/st.json" <<'PY' || fail "status: wrong snmp counters"
import json, sys
s = json.load(open(sys.argv[1]))
print(s["snmp"])
assert s["snmp"]["dropped"] == 0 and s["snmp"]["failed"] == 0 and s["snmp"]["sent"] >= 14
assert s["log"]["domains"][0]["store"] == "ok"
PY
stop_ferryd
pass
