#!/usr/bin/env bash
# Acceptance 4: kill -9 ferryd at random moments under a random-write load (QD32, FUA on
# some writes), restart it each time; `log verify` passes and every write the client saw
# acknowledged is in the primary and in the log (replayed onto an empty file).
# 051 runs it with the libaio engine, 052 with large writes (see there).
. "$(dirname "$0")/../lib/functions.sh"
require python3
ROUNDS=${ROUNDS:-5}
SLOTS_PER_ROUND=${SLOTS_PER_ROUND:-3000}
DISK=${DISK:-1G}
QD=${QD:-32}
KILL_AFTER=${KILL_AFTER:-2000}	# kill within this many acknowledgements

write_config "$T/ferry.conf" "${LOGSIZE:-1G}" 1M crash0:"$T/crash0.raw":$DISK
: >"$T/acks"
killed_mid_load=0
for ((r = 0; r < ROUNDS; r++)); do
	start_ferryd "$T/ferry.conf" "$T/ferryd.$r.log"
	if [ -n "${REQUIRE_DIRECT:-}" ] && ! grep -q 'large writes O_DIRECT' "$T/ferryd.$r.log"; then
		skip "the log's file system takes no O_DIRECT writes: nothing to test here"
	fi
	if [ -n "${REQUIRE_DIRECT:-}" ] && ! ferryd_opened_direct "$T/crash0.raw"; then
		fail "the log takes O_DIRECT writes but the primary was not opened with O_DIRECT"
	fi
	"$TBIN/nbd-ackwriter" write "$NBD_URI_BASE/crash0" $((1000 + r)) $((r * SLOTS_PER_ROUND)) \
		$SLOTS_PER_ROUND "$T/acks" "$QD" 2>"$T/writer.$r.err" &
	wpid=$!
	# kill at a random point of the load: after a random number of acknowledgements
	target=$(( $(wc -l <"$T/acks") + RANDOM % KILL_AFTER + 50 ))
	while [ "$(wc -l <"$T/acks")" -lt $target ] && kill -0 $wpid 2>/dev/null; do sleep 0.005; done
	kill9_ferryd
	wait $wpid; wrc=$?
	[ $wrc -eq 0 ] || [ $wrc -eq 3 ] || { cat "$T/writer.$r.err" >&2; fail "writer failed ($wrc)"; }
	[ $wrc -eq 3 ] && killed_mid_load=$((killed_mid_load + 1))
	info "round $r: $(wc -l <"$T/acks") writes acknowledged so far (writer exit $wrc)"
	ferryctl log verify -c "$T/ferry.conf" >&2 || fail "log verify after kill -9 (round $r)"
	"$TBIN/nbd-ackwriter" check "$T/crash0.raw" "$T/acks" >&2 || fail "primary lost an acknowledged write (round $r)"
	rm -f "$T/replay.raw"; truncate -s $DISK "$T/replay.raw"
	ferryctl log replay -c "$T/ferry.conf" --disk crash0 -o "$T/replay.raw" || fail "log replay (round $r)"
	"$TBIN/nbd-ackwriter" check "$T/replay.raw" "$T/acks" >&2 || fail "log lost an acknowledged write (round $r)"
done
# after the last crash: restart (recovery), stop cleanly, everything still there
start_ferryd "$T/ferry.conf" "$T/ferryd.final.log"
stop_ferryd
ferryctl log verify -c "$T/ferry.conf" >&2 || fail "log verify after clean stop"
ferryctl log stat -c "$T/ferry.conf" >&2
rm -f "$T/replay.raw"; truncate -s $DISK "$T/replay.raw"
ferryctl log replay -c "$T/ferry.conf" --disk crash0 -o "$T/replay.raw" || fail "final replay"
cmp "$T/crash0.raw" "$T/replay.raw" || fail "final log replay differs from primary"
grep -h "re-applied" "$T"/ferryd.*.log >&2 || true
if [ -n "${REQUIRE_DIRECT:-}" ] && grep -h "direct write refused" "$T"/ferryd.*.log >&2; then
	fail "the primary's direct writes fell back to the page cache: the direct path went untested"
fi
info "$killed_mid_load of $ROUNDS kills hit ferryd under load"
[ $killed_mid_load -ge $(( (ROUNDS + 1) / 2 )) ] || fail "too few kills happened under load to mean anything"
pass
