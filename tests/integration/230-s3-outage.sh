#!/usr/bin/env bash
# S3 acceptance 4: the S3 server goes away (OUTAGE=seconds, 45 by default; OUTAGE=120 is the
# acceptance run's two minutes) under write load and comes back. ferryd ships to Ceph RGW
# with rpo = 2s and an 8 MiB log while fio writes 1 MB/s of 64 KiB random writes, and the
# store gives up a request after 10 s of retries (FERRY_S3_RETRY_MS, 30 s by default), so
# that the default outage outlasts it several times: during the outage points fail, the
# shipper keeps retrying (shipping "failing"), the log overflows (8 MiB at 1 MB/s: within
# about 10 s), no point is stored and no write fails; after radosgw is
# started again the shipper resyncs and catches up. Measured and printed: the catch-up time
# (restart until the newest consistent point is at most 3 RPOs old) and the newest point's
# age afterwards, under the same load (must stay within 4 RPOs for 10 s). Then: point
# numbers are dense and in order (no point lost), the points cut before the outage are all
# there, verify --read-data passes, and the final point restores equal to the primary.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
require fio python3
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
B=ferry-outage
rgw_mkbucket $B
rgw_keys "$T/keys"
OUTAGE=${OUTAGE:-45}
export FERRY_S3_RETRY_MS=${FERRY_S3_RETRY_MS:-10000}
RPO_MS=2000

write_config "$T/ferry.conf" 8M 1M vm0:"$T/vm0.raw":128M
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 2s/' "$T/ferry.conf"
s3_store_conf "$T/ferry.conf" $B/site "$RGW_ENDPOINT"
C=(-c "$T/ferry.conf")
ferryctl init "${C[@]}" >/dev/null || fail "init"
start_ferryd "$T/ferry.conf"
ferryctl point "${C[@]}" --domain dom --wait >/dev/null || fail "seed point"

status() { ferryctl status "${C[@]}" --json 2>/dev/null; }
field() {	# NAME: a field of the domain's status (the log's domain entry)
	status | python3 -c "import json, sys; print(json.load(sys.stdin)['log']['domains'][0]['$1'])"
}
age_ms() { status | grep -o '"current_rpo_ms":[-0-9]*' | head -n 1 | sed 's/.*://'; }

# fio is bounded by itself (runtime) and by timeout, so that a test shell killed from outside
# cannot leave it writing
(cd "$T" && exec timeout -s KILL 700 fio --name=load --ioengine=nbd --uri="$NBD_URI_BASE/vm0" \
	--rw=randwrite --bs=64k --iodepth=4 --rate=1m --size=128M --time_based --runtime=600 \
	--output="$T/fio.out") &
FIO=$!
_pids+=("$FIO")
n_logged() { grep -c '^ferryd: info: point dom ' "$T/ferryd.log"; }
wait_for 60 eval '[ "$(n_logged)" -ge 4 ]' || fail "fewer than 4 points in 60 s before the outage"
before=$(n_logged)
grep '^ferryd: info: point dom ' "$T/ferryd.log" | sed 's/^ferryd: info: point dom \([0-9.]*\).*/\1/' >"$T/before"
info "$before points before the outage; newest consistent point $(age_ms) ms old"
[ "$before" -ge 4 ] || fail "too few points before the outage"

# ---- the outage ----
rgw_gw_stop
t_stop=$SECONDS
info "radosgw stopped for $OUTAGE s"
overflowed=0 failing=0
while ((SECONDS - t_stop < OUTAGE)); do
	sleep 5
	[ "$(field state)" = overflow ] && overflowed=1
	[ "$(field shipping)" = failing ] && failing=1
	kill -0 $FIO 2>/dev/null || { cat "$T/fio.out" >&2; fail "fio stopped during the outage"; }
done
during=$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")
info "outage over: log overflowed: $overflowed, shipping reported failing: $failing," \
	"$((during - before)) points stored meanwhile, newest consistent point $(age_ms) ms old"
[ $overflowed = 1 ] || fail "the log did not overflow during the outage"
[ $failing = 1 ] || fail "shipping was never reported failing during the outage"
# a point being committed when the gateway went down may still have finished
[ $((during - before)) -le 1 ] || fail "$((during - before)) points stored while the server was down"
grep -q 'Connection refused\|connect' "$T/ferryd.log" || fail "no connection failure logged"

# ---- the server returns ----
rgw_gw_start
t_back=$SECONDS
caught=
while ((SECONDS - t_back < 120)); do
	a=$(age_ms)
	if [ -n "$a" ] && [ "$a" -ge 0 ] && [ "$a" -le $((3 * RPO_MS)) ] &&
		[ "$(field state)" = ok ]; then
		caught=$((SECONDS - t_back))
		break
	fi
	sleep 0.5
done
[ -n "$caught" ] || { tail -n 30 "$T/ferryd.log" >&2; fail "no catch-up within 120 s of the restart"; }
info "CATCH-UP: newest consistent point within 3 RPOs $caught s after radosgw restarted" \
	"(outage $OUTAGE s, $(grep -o 'resync of [0-9]* extents' "$T/ferryd.log" | tail -n 1))"
worst=0
for ((i = 0; i < 20; i++)); do
	a=$(age_ms)
	[ "${a:--1}" -gt $worst ] && worst=$a
	sleep 0.5
done
info "newest consistent point age over the next 10 s under load: worst $worst ms (rpo $RPO_MS ms)"
[ $worst -le $((4 * RPO_MS)) ] || fail "the RPO did not recover: worst age $worst ms"

kill -TERM $FIO; wait $FIO
grep -q 'err= 0' "$T/fio.out" || { cat "$T/fio.out" >&2; fail "fio reported errors"; }
grep -E 'WRITE:' "$T/fio.out" >&2
final=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "final point"
stop_ferryd

ferryctl points "${C[@]}" --domain dom --json >"$T/points.json" || fail "points"
python3 - "$T/points.json" "$final" "$T/before" <<'PY' || fail "points lost or out of order"
import json, sys
pts = json.load(open(sys.argv[1]))
ids = [p["id"] for p in pts]
seqs = [int(i.split(".")[1]) for i in ids]
assert all(i.split(".")[0] == "1" for i in ids), ids
assert seqs == list(range(1, len(seqs) + 1)), f"not dense: {ids}"
times = [p.get("time_ns", p.get("time", 0)) for p in pts]
assert times == sorted(times), "point times out of order"
assert ids[-1] == sys.argv[2], (ids[-1], sys.argv[2])
before = [l.strip() for l in open(sys.argv[3]) if l.strip()]
assert all(b in ids for b in before), "a point cut before the outage is missing"
assert pts[-1]["consistent"], "the final point is not consistent"
print(f"{len(ids)} points, 1.1 .. {ids[-1]}, dense and in order", file=sys.stderr)
PY
ferryctl verify "${C[@]}" --read-data >&2 || fail "verify --read-data"
ferryctl restore "${C[@]}" --domain dom --disk vm0 --format raw -o "$T/r.raw" >/dev/null ||
	fail "restore latest"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the latest point differs from the primary"
pass
