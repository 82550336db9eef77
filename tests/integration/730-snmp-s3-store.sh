#!/usr/bin/env bash
# Store health notifications against Ceph RGW, received by snmptrapd as v3 informs:
# - radosgw stopped under writes: ferryStoreUnreachable (the connection is refused); status
#   says "unreachable"; radosgw back: ferryStoreRecovered;
# - the S3 user suspended (radosgw-admin user suspend: every request gets 403):
#   ferryCredentialsRefused; status says "credentials_refused"; the user enabled again:
#   ferryStoreRecovered.
# Each is sent once per change, however many points fail meanwhile.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
. "$(dirname "$0")/../lib/snmp.sh"
require qemu-io python3
snmp_require
snmp_mibs
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export FERRY_S3_RETRY_MS=2000	# a point fails within seconds while the gateway is down
B=ferry-snmp
rgw_mkbucket $B
rgw_keys "$T/keys"
snmptrapd_start nms
L=$TRAPD_LOG

write_config "$T/ferry.conf" 16M 1M vm0:"$T/vm0.raw":32M
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s/' "$T/ferry.conf"
s3_store_conf "$T/ferry.conf" $B/site "$RGW_ENDPOINT"
printf '[snmp]\ninform_timeout = 1s\n' >>"$T/ferry.conf"
snmp_receiver "$T/ferry.conf" nms "udp:127.0.0.1:$TRAPD_PORT" v3 inform
C=(-c "$T/ferry.conf")
ferryctl init "${C[@]}" >/dev/null || fail "init"
start_ferryd "$T/ferry.conf"
ferryctl point "${C[@]}" --domain dom --wait >/dev/null || fail "seed point"
wait_notification "$L" ferrydStarted >/dev/null

writes() {	# SEED: a few writes, so that the next points have something to store
	qemu-io -f raw -c "write -P $1 $((($1 % 16) * 1048576)) 65536" "$NBD_URI_BASE/vm0" \
		>/dev/null || fail "qemu-io"
}
store_health() {
	ferryctl status "${C[@]}" --json | python3 -c \
		'import json, sys; print(json.load(sys.stdin)["log"]["domains"][0]["store"])'
}
count() { grep -c "FERRY-MIB::$1[[:space:]]" "$L"; }

# ---- unreachable ----
rgw_gw_stop
writes 1
line=$(wait_notification "$L" ferryStoreUnreachable 60)
[ "$(notification_field "$line" ferryNotifyDomain)" = dom ] || fail "unreachable: $line"
[ "$(notification_field "$line" ferryNotifySeverity)" = major ] || fail "unreachable: $line"
notification_field "$line" ferryNotifyText | grep -qi 'connection refused' || fail "text: $line"
[ "$(store_health)" = unreachable ] || fail "status: store $(store_health)"
writes 2
sleep 4		# more failed points: still one notification
[ "$(count ferryStoreUnreachable)" = 1 ] || fail "ferryStoreUnreachable sent $(count ferryStoreUnreachable) times"
rgw_gw_start
line=$(wait_notification "$L" ferryStoreRecovered 90)
[ "$(notification_field "$line" ferryNotifySeverity)" = cleared ] || fail "recovered: $line"
store_ok() { [ "$(store_health)" = ok ]; }
wait_for 20 store_ok || fail "status: store $(store_health) after recovery"
info "unreachable and recovered"

# ---- credentials refused ----
ADMIN=(radosgw-admin -c "$RGW_DIR/ceph.conf")
"${ADMIN[@]}" user suspend --uid=ferry >/dev/null 2>&1 || fail "radosgw-admin user suspend"
cleanup_fn '"${ADMIN[@]}" user enable --uid=ferry >/dev/null 2>&1'
writes 3
line=$(wait_notification "$L" ferryCredentialsRefused 90)
[ "$(notification_field "$line" ferryNotifySeverity)" = critical ] || fail "refused: $line"
notification_field "$line" ferryNotifyText | grep -qi 'credentials' || fail "text: $line"
[ "$(store_health)" = credentials_refused ] || fail "status: store $(store_health)"
grep -q 'Permission denied' "$T/ferryd.log" || fail "ferryd did not log the refusal"
"${ADMIN[@]}" user enable --uid=ferry >/dev/null 2>&1 || fail "radosgw-admin user enable"
recovered_twice() { [ "$(count ferryStoreRecovered)" = 2 ]; }
wait_for 90 recovered_twice || fail "no second ferryStoreRecovered"
[ "$(count ferryCredentialsRefused)" = 1 ] || fail "ferryCredentialsRefused sent $(count ferryCredentialsRefused) times"
notification_order "$L" ferryStoreUnreachable ferryStoreRecovered ferryCredentialsRefused
info "credentials refused and recovered"

# every inform acknowledged, nothing dropped
ferryctl status "${C[@]}" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)["snmp"]
print(s)
assert s["sent"] == s["acknowledged"] and s["dropped"] == 0 and s["failed"] == 0' ||
	fail "not every inform was acknowledged"
stop_ferryd
pass
