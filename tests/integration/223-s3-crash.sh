#!/usr/bin/env bash
# Pipeline acceptance 3 (as 140-pipeline-crash.sh) on an S3 store (Ceph RGW): kill -9 ferryd
# again and again under write load while it ships (rpo = 1s, plus `ferryctl point --wait`
# requests in a loop), restart it each time. The multipart threshold is 5 MiB, so kills
# also land in the middle of multipart uploads. Afterwards: a final point, a clean stop, then
# - `ferryctl verify --read-data` passes;
# - every point restores without error;
# - in every consistent point, each write acknowledged before a `ferryctl point` request
#   answered with that point or an earlier one is there; every other acknowledged write is
#   there whole or not at all; every non-zero block is one a writer wrote there;
# - the number of acknowledged writes a point holds never goes down from point to point;
# - the latest point restores equal to the primary.
# Multipart uploads a kill interrupted stay in the bucket (a lifecycle rule cleans them;
# docs/store.md): their number is printed, not checked.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
require python3
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
B=ferry-crash
rgw_mkbucket $B
rgw_keys "$T/keys"
export FERRY_S3_MULTIPART_THRESHOLD=$((5 << 20)) FERRY_S3_PART_SIZE=$((5 << 20))
ROUNDS=${ROUNDS:-4}
RATE=${RATE:-200}	# writes per second (4-64 KiB each) during a round
SLOTS=800		# 64 KiB slots written per round (4 s at RATE): the kill comes first
DISK=256M
REQUESTERS=${REQUESTERS:-2}

write_config "$T/ferry.conf" 512M 1M crash0:"$T/crash0.raw":$DISK
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s/' "$T/ferry.conf"
s3_store_conf "$T/ferry.conf" $B/site "$RGW_ENDPOINT"
C=(-c "$T/ferry.conf")
ferryctl init "${C[@]}" >/dev/null || fail "init"
: >"$T/acks"
: >"$T/requests"

# request points in a loop until $1 exists: "POINT_ID ACKS_BEFORE_THE_REQUEST" per answer
request_points() {
	local stop=$1 n id
	while [ ! -e "$stop" ]; do
		n=$(wc -l <"$T/acks")
		if id=$(ferryctl point "${C[@]}" --domain dom --wait --timeout 30 2>>"$T/requests.err"); then
			echo "$id $n" >>"$T/requests"
		else
			echo "$n" >>"$T/requests.failed"
			sleep 0.05
		fi
		sleep 0.$((RANDOM % 5 + 3))
	done
}

seeds=() under_load=0
for ((r = 0; r < ROUNDS; r++)); do
	start_ferryd "$T/ferry.conf" "$T/ferryd.$r.log"
	seeds+=($((1000 + r)))
	"$TBIN/nbd-ackwriter" write "$NBD_URI_BASE/crash0" $((1000 + r)) $((r * SLOTS)) $SLOTS \
		"$T/acks" 4 $RATE 2>"$T/writer.$r.err" &
	wpid=$!
	qpids=()
	for ((q = 0; q < REQUESTERS; q++)); do request_points "$T/stop.$r" & qpids+=($!); done
	sleep "$((RANDOM % 25 / 10)).$((RANDOM % 10))"
	sleep 0.4
	kill9_ferryd
	touch "$T/stop.$r"
	wait $wpid; wrc=$?
	wait "${qpids[@]}"
	[ $wrc -eq 0 ] || [ $wrc -eq 3 ] || { cat "$T/writer.$r.err" >&2; fail "writer failed ($wrc)"; }
	[ $wrc -eq 3 ] && under_load=$((under_load + 1))
	info "round $r: killed; $(wc -l <"$T/acks") writes acknowledged, $(wc -l <"$T/requests") points answered so far; writer exit $wrc"
done

start_ferryd "$T/ferry.conf" "$T/ferryd.final.log"
n=$(wc -l <"$T/acks")
final=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "final point"
echo "$final $n" >>"$T/requests"
stop_ferryd
info "$under_load of $ROUNDS kills hit ferryd under write load;" \
	"$(wc -l <"$T/requests.failed" 2>/dev/null || echo 0) point requests failed (ferryd killed or restarting);" \
	"$(s3_uploads_left $B) interrupted multipart uploads left in the bucket"
[ $under_load -ge $(( (ROUNDS + 1) / 2 )) ] || fail "too few kills happened under load to mean anything"
if grep -q 'enters overflow' "$T"/ferryd.*.log; then fail "the log overflowed (the test needs a lower RATE)"; fi

ferryctl verify "${C[@]}" --read-data >&2 || fail "verify --read-data"
ferryctl points "${C[@]}" --domain dom --json >"$T/points.json" || fail "points --json"
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
# restores are latency-bound: three at a time, then the checks in order
: >"$T/restore.fail"
while read -r id cons need; do
	while [ "$(jobs -rp | wc -l)" -ge 3 ]; do wait -n; done
	{ ferryctl restore "${C[@]}" --domain dom --disk crash0 --point "$id" --format raw \
		--allow-inconsistent -o "$T/r.$id.raw" >/dev/null 2>"$T/r.$id.err" || echo "$id" >>"$T/restore.fail"; } &
done <"$T/plan"
wait
[ -s "$T/restore.fail" ] && { cat "$T/r.$(head -n 1 "$T/restore.fail").err" >&2; fail "restore of point $(head -n 1 "$T/restore.fail")"; }
npoints=0 ncons=0 prev=0 last=
while read -r id cons need; do
	last=$id
	npoints=$((npoints + 1))
	[ "$cons" = 1 ] || { info "point $id: inconsistent, restored"; rm -f "$T/r.$id.raw"; continue; }
	ncons=$((ncons + 1))
	out=$("$TBIN/nbd-ackwriter" pcheck "$T/r.$id.raw" "$T/acks" "$need" "${seeds[@]}") ||
		fail "point $id (must hold the first $need acknowledged writes): see above"
	have=${out%% *}
	info "point $id: $have acknowledged writes present, $need required"
	[ "$have" -ge "$prev" ] || fail "point $id holds $have acknowledged writes, an earlier point $prev"
	prev=$have
	[ "$id" = "$final" ] || rm -f "$T/r.$id.raw"
done <"$T/plan"
[ "$last" = "$final" ] || fail "the newest point is $last, not the final point $final"
cmp "$T/crash0.raw" "$T/r.$final.raw" || fail "the final point differs from the primary"
info "$npoints points restored, $ncons consistent ones checked against $n acknowledged writes"
pass
