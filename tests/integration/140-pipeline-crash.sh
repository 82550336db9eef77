#!/usr/bin/env bash
# Pipeline acceptance 3: kill -9 ferryd again and again under write load while it ships
# (rpo = 1s, plus `ferryctl point --wait` requests in a loop), restart it each time. Half
# of the kills come at a random moment, the other half the moment an upload is under way
# (a temporary object in the store). Afterwards: a final point, a clean stop, then
# - `ferryctl verify --read-data` passes;
# - every point restores without error;
# - in every consistent point, each write acknowledged before a `ferryctl point` request
#   that was answered with that point or an earlier one is there (the writer records each
#   acknowledgement the moment it arrives; the count is taken before the request); every
#   other acknowledged write is there whole or not at all; and every non-zero block is one
#   a writer wrote there (no torn or stray data, even from writes in flight at a kill);
# - the number of acknowledged writes a point holds never goes down from point to point;
# - the latest point restores equal to the primary.
. "$(dirname "$0")/../lib/functions.sh"
require python3
ROUNDS=${ROUNDS:-6}
RATE=${RATE:-200}	# writes per second (4-64 KiB each) during a round
SLOTS=800		# 64 KiB slots written per round (4 s at RATE): the kill comes first
DISK=512M
REQUESTERS=${REQUESTERS:-2}	# concurrent `ferryctl point` loops: requests also arrive mid-cut

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"
write_config "$T/ferry.conf" 512M 1M crash0:"$T/crash0.raw":$DISK
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s/' "$T/ferry.conf"
: >"$T/acks"
: >"$T/requests"

# request points in a loop until $1 exists: "POINT_ID ACKS_BEFORE_THE_REQUEST" per answer
request_points() {
	local stop=$1 n id
	while [ ! -e "$stop" ]; do
		n=$(wc -l <"$T/acks")
		if id=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait --timeout 30 2>>"$T/requests.err"); then
			echo "$id $n" >>"$T/requests"
		else
			echo "$n" >>"$T/requests.failed"
			sleep 0.05
		fi
		sleep 0.$((RANDOM % 5 + 3))
	done
}

# a pack upload under way: a temporary pack in the store (polled without forking, for 5 s)
upload_seen() {
	local end=$((SECONDS + 5))
	while ((SECONDS < end)); do
		compgen -G "$T/store/packs/*/.tmp.*" >/dev/null && return 0
	done
	return 1
}

seeds=() under_load=0 mid_upload=0 left=0
for ((r = 0; r < ROUNDS; r++)); do
	start_ferryd "$T/ferry.conf" "$T/ferryd.$r.log"
	seeds+=($((1000 + r)))
	"$TBIN/nbd-ackwriter" write "$NBD_URI_BASE/crash0" $((1000 + r)) $((r * SLOTS)) $SLOTS \
		"$T/acks" 4 $RATE 2>"$T/writer.$r.err" &
	wpid=$!
	qpids=()
	for ((q = 0; q < REQUESTERS; q++)); do request_points "$T/stop.$r" & qpids+=($!); done
	if ((r % 2 == 0)); then
		sleep "$((RANDOM % 25 / 10)).$((RANDOM % 10))"
		sleep 0.4
		how="at a random moment"
	else
		sleep 0.$((RANDOM % 10))
		sleep 0.5
		upload_seen && how="during a pack upload" || how="at a random moment (no upload seen)"
	fi
	kill9_ferryd
	touch "$T/stop.$r"
	wait $wpid; wrc=$?
	wait "${qpids[@]}"
	[ $wrc -eq 0 ] || [ $wrc -eq 3 ] || { cat "$T/writer.$r.err" >&2; fail "writer failed ($wrc)"; }
	[ $wrc -eq 3 ] && under_load=$((under_load + 1))
	before=$left
	left=$(find "$T/store" -name '.tmp.*' | wc -l)
	[ "$left" -gt "$before" ] && mid_upload=$((mid_upload + 1))
	info "round $r: killed $how; $(wc -l <"$T/acks") writes acknowledged, $(wc -l <"$T/requests") points answered so far; writer exit $wrc; $((left - before)) partial uploads left in the store"
done

# recovery, then a final point with everything, then a clean stop
start_ferryd "$T/ferry.conf" "$T/ferryd.final.log"
n=$(wc -l <"$T/acks")
final=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "final point"
echo "$final $n" >>"$T/requests"
stop_ferryd
info "$under_load of $ROUNDS kills hit ferryd under write load, $mid_upload left a partial upload;" \
	"$(wc -l <"$T/requests.failed" 2>/dev/null || echo 0) point requests failed (ferryd killed or restarting)"
[ $under_load -ge $(( (ROUNDS + 1) / 2 )) ] || fail "too few kills happened under load to mean anything"
if grep -q 'enters overflow' "$T"/ferryd.*.log; then fail "the log overflowed (the test needs a lower RATE)"; fi

ferryctl verify --store "$STORE" --key-file "$T/store.key" --read-data >&2 || fail "verify --read-data"

ferryctl points --store "$STORE" --key-file "$T/store.key" --domain dom --json >"$T/points.json" ||
	fail "points --json"
# every point with the number of acknowledged writes it must hold: the largest count taken
# before a request answered with this point or an earlier one (points of epoch 1 only)
python3 - "$T/points.json" "$T/requests" >"$T/plan" <<'PY' || fail "bad points or requests"
import json, sys
pts = json.load(open(sys.argv[1]))
req = {}
for line in open(sys.argv[2]):
    pid, n = line.split()
    req[pid] = max(req.get(pid, 0), int(n))
assert all(p["epoch"] == 1 for p in pts), "unexpected epoch"
ids = [p["id"] for p in pts]
missing = [pid for pid in req if pid not in ids]
assert not missing, f"answered points not in the repository: {missing}"
need = 0
for p in pts:
    need = max(need, req.get(p["id"], 0))
    print(p["id"], 1 if p["consistent"] else 0, need)
PY
npoints=0 ncons=0 prev=0 last=
while read -r id cons need; do
	last=$id
	rm -f "$T/r.raw"
	ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain dom --disk crash0 \
		--point "$id" --format raw --allow-inconsistent -o "$T/r.raw" >/dev/null ||
		fail "restore of point $id"
	npoints=$((npoints + 1))
	[ "$cons" = 1 ] || { info "point $id: inconsistent, restored"; continue; }
	ncons=$((ncons + 1))
	out=$("$TBIN/nbd-ackwriter" pcheck "$T/r.raw" "$T/acks" "$need" "${seeds[@]}") ||
		fail "point $id (must hold the first $need acknowledged writes): see above"
	have=${out%% *}
	info "point $id: $have acknowledged writes present, $need required"
	[ "$have" -ge "$prev" ] || fail "point $id holds $have acknowledged writes, an earlier point $prev"
	prev=$have
done <"$T/plan"
[ "$last" = "$final" ] || fail "the newest point is $last, not the final point $final"
cmp "$T/crash0.raw" "$T/r.raw" || fail "the final point differs from the primary"
rm -f "$T/r.raw"
ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain dom --disk crash0 \
	--point latest --format raw -o "$T/r.raw" >/dev/null || fail "restore latest"
cmp "$T/crash0.raw" "$T/r.raw" || fail "the latest point differs from the primary"
info "$npoints points restored, $ncons consistent ones checked against $n acknowledged writes"
pass
