#!/usr/bin/env bash
# Notifications reach real receivers (snmptrapd): v2c and v3 (SHA-256/AES authPriv), traps
# and informs, decoded with FERRY-MIB.
# 1. `ferryctl trap test` without ferryd: every receiver gets ferryTestNotification; the
#    informs are acknowledged; a v3 receiver with a wrong passphrase (on another snmptrapd:
#    net-snmp keeps one key per engine id and user) and a name that does not resolve are
#    reported as failed (exit 1).
# 2. ferryd: ferrydStarted reaches every receiver with sequence 1; `ferryctl trap test` goes
#    through the running ferryd (sequence 2). An inform receiver that is down at first gets
#    ferrydStarted once it comes up, and while it is down it is logged once, not per
#    attempt; the same for the unresolvable one. At SIGTERM, ferrydStopping arrives.
# 3. A secret file that cannot be read stops ferryd at start with exit 2 and a one-line
#    reason that names the file, never the secret.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/snmp.sh"
snmp_require
snmp_mibs

snmptrapd_start other	# another engine: a user's keys are per (engine id, user)
OTHER=udp:127.0.0.1:$TRAPD_PORT
snmptrapd_start main
MAIN=udp:127.0.0.1:$TRAPD_PORT
MAIN_LOG=$TRAPD_LOG
LATE_PORT=$(free_udp_port)

# ---- 1. ferryctl trap test, standalone ----
conf_snmp() {	# FILE: the [snmp] section
	printf '[snmp]\nengine_id = %s\ninform_timeout = 1s\n' "$SNMP_ENGINE_ID" >>"$1"
}
C1=$T/test.conf
printf '[appliance]\nstate_dir = %s\n[control]\nsocket = %s\n' "$T/state1" "$T/none.sock" >"$C1"
conf_snmp "$C1"
snmp_receiver "$C1" v2trap "$MAIN" v2c trap
snmp_receiver "$C1" v2inform "$MAIN" v2c inform
snmp_receiver "$C1" v3trap "$MAIN" v3 trap
snmp_receiver "$C1" v3inform "$MAIN" v3 inform
snmp_receiver "$C1" badpass "$OTHER" v3 inform
echo wrongpassphrase >"$T/wrong"
sed -i "$(grep -n 'auth_password_file' "$C1" | tail -n 1 | cut -d: -f1)s|=.*|= $T/wrong|" "$C1"
printf '[snmp-receiver nohost]\naddress = udp:nonexistent.invalid:162\nversion = v2c\ncommunity_file = %s\n' \
	"$T/snmp-secrets/community" >>"$C1"
rc=0
ferryctl trap test -c "$C1" >"$T/test1.out" 2>"$T/test1.err" || rc=$?
cat "$T/test1.out" >&2
[ $rc = 1 ] || fail "trap test exited $rc, expected 1 (two receivers fail)"
grep -q "^engine-id $SNMP_ENGINE_ID$" "$T/test1.out" || fail "the engine id is not reported"
for l in "v2trap sent" "v2inform acknowledged" "v3trap sent" "v3inform acknowledged" \
	"badpass failed " "nohost failed .*nonexistent.invalid"; do
	grep -q "^$l" "$T/test1.out" || fail "trap test: no line '$l'"
done
grep -q "$(cat "$T/snmp-secrets/auth")\|$(cat "$T/wrong")\|public" "$T/test1.out" "$T/test1.err" &&
	fail "a secret appears in ferryctl's output"
four_tests() { [ "$(grep -c 'FERRY-MIB::ferryTestNotification' "$MAIN_LOG")" -ge 4 ]; }
wait_for 10 four_tests ||
	fail "snmptrapd did not get the 4 test notifications"
for who in "TRAP2, SNMP v2c, community public" "INFORM, SNMP v2c, community public" \
	"TRAP2, SNMP v3, user trapuser" "INFORM, SNMP v3, user informuser"; do
	line=$(grep "^NOTIFICATION $who.*FERRY-MIB::ferryTestNotification" "$MAIN_LOG" | head -n 1)
	[ -n "$line" ] || fail "no test notification as $who"
	[ "$(notification_field "$line" ferryNotifySeverity)" = info ] || fail "severity: $line"
	[ "$(notification_field "$line" ferryNotifySequence)" = 1 ] || fail "sequence: $line"
	notification_field "$line" ferryNotifyText | grep -q 'trap test' || fail "text: $line"
done
grep -q 'Authentication failed' "$T/trapd-other/log" || fail "the wrong passphrase did not reach snmptrapd"
info "trap test standalone: 4 receivers reached, 2 failures reported"

# ---- 2. ferryd ----
write_config "$T/ferry.conf" 16M 1M vm0:"$T/vm0.raw":16M
conf_snmp "$T/ferry.conf"
snmp_receiver "$T/ferry.conf" v2trap "$MAIN" v2c trap
snmp_receiver "$T/ferry.conf" v3inform "$MAIN" v3 inform
snmp_receiver "$T/ferry.conf" late "udp:127.0.0.1:$LATE_PORT" v3 inform
printf '[snmp-receiver nohost]\naddress = udp:nonexistent.invalid:162\nversion = v2c\ncommunity_file = %s\n' \
	"$T/snmp-secrets/community" >>"$T/ferry.conf"
start_ferryd "$T/ferry.conf"
for who in "TRAP2, SNMP v2c" "INFORM, SNMP v3, user informuser"; do
	wait_for 20 grep -q "^NOTIFICATION $who.*FERRY-MIB::ferrydStarted" "$MAIN_LOG" ||
		fail "no ferrydStarted as $who"
	line=$(grep "^NOTIFICATION $who.*FERRY-MIB::ferrydStarted" "$MAIN_LOG" | head -n 1)
	[ "$(notification_field "$line" ferryNotifySequence)" = 1 ] || fail "sequence: $line"
done

late_state() {
	ferryctl status -c "$T/ferry.conf" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)["snmp"]
r = [x for x in s["receivers"] if x["name"] == "late"][0]
print(r["state"], r["waiting"])'
}
wait_for 30 sh -c "ferryctl status -c '$T/ferry.conf' --json | grep -q '\"name\":\"late\".*\"state\":\"not-acknowledging\"'" ||
	fail "the late receiver is not reported as not acknowledging: $(late_state)"

# the test through ferryd: its own sequence numbers; late fails (3 attempts), nohost too
rc=0
ferryctl trap test -c "$T/ferry.conf" >"$T/test2.out" 2>&1 || rc=$?
cat "$T/test2.out" >&2
[ $rc = 1 ] || fail "trap test through ferryd exited $rc, expected 1"
grep -q '^v3inform acknowledged' "$T/test2.out" && grep -q '^late failed' "$T/test2.out" &&
	grep -q '^nohost failed' "$T/test2.out" || fail "trap test through ferryd: wrong outcomes"
line=$(grep '^NOTIFICATION INFORM, SNMP v3.*ferryTestNotification' "$MAIN_LOG" | tail -n 1)
[ "$(notification_field "$line" ferryNotifySequence)" = 2 ] ||
	fail "the test did not go through ferryd (sequence $(notification_field "$line" ferryNotifySequence))"

# it was retried a few times by now; logged once
sleep 3
info "late receiver before it comes up: $(late_state)"
n=$(grep -c 'snmp receiver late ' "$T/ferryd.log")
[ "$n" = 1 ] || { grep 'snmp receiver' "$T/ferryd.log" >&2; fail "the down receiver was logged $n times"; }
n=$(grep -c 'snmp receiver nohost .*Unknown host' "$T/ferryd.log")
[ "$n" = 1 ] || fail "the unresolvable receiver was logged $n times"

snmptrapd_start late "$LATE_PORT"
line=$(wait_notification "$TRAPD_LOG" ferrydStarted 90)
[ "$(notification_field "$line" ferryNotifySequence)" = 1 ] || fail "late got: $line"
wait_for 10 grep -q 'snmp receiver late .*delivering again' "$T/ferryd.log" ||
	fail "the recovery is not logged"
info "the late receiver got ferrydStarted once it came up"

stop_ferryd
for log in "$MAIN_LOG" "$TRAPD_LOG"; do
	wait_for 10 grep -q 'FERRY-MIB::ferrydStopping' "$log" || fail "no ferrydStopping in $log"
done
grep -q 'snmp receiver nohost (.*): 1 notifications not delivered at stop\|notifications not delivered at stop' \
	"$T/ferryd.log" || fail "what was left for the unresolvable receiver is not logged at stop"

# ---- 3. a secret that cannot be read ----
sed -i "s|^community_file = .*|community_file = $T/missing|" "$T/ferry.conf"
rc=0
"$BIN/ferryd" -c "$T/ferry.conf" >"$T/bad.out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "ferryd with an unreadable secret exited $rc, expected 2"
grep -q "community_file $T/missing: No such file or directory" "$T/bad.out" ||
	fail "no clear reason: $(cat "$T/bad.out")"
pass
