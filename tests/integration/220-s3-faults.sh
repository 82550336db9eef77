#!/usr/bin/env bash
# S3 acceptance 3: ferryd ships through the fault-injecting proxy (tests/tools/s3-faultproxy.py)
# with 20% of the requests faulted: dropped before or after the body, 500, 503 SlowDown,
# stalled past the low-speed limit, truncated. The multipart threshold and part size are
# 5 MiB, so every pack of random data goes up in parallel parts under faults. A 64 MiB disk
# is seeded, then 20 incremental points are cut with qemu-io writes between them (some of
# them MiBs of random data: more multipart uploads). Afterwards, against RGW directly:
# `verify --read-data` passes, every point restores to the primary as it was when the point
# was cut (a copy was kept), no multipart upload is left in the bucket, and ferryd never
# ran out of retry time. SEED=N reproduces a run's fault sequence. What the checks need is not
# left to the seed: the proxy's first six faults are one of each kind, and it faults the
# first three part uploads it sees (--fault-parts 3), whatever its draws.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
require qemu-io python3
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
B=ferry-faults
rgw_mkbucket $B
rgw_keys "$T/keys"
SEED=${SEED:-$RANDOM}
POINTS=${POINTS:-20}
parts=3; [ "${RATE:-0.2}" = 0 ] && parts=0
faultproxy_start "$SEED" "${RATE:-0.2}" --stall 5 --fault-parts $parts
export FERRY_S3_RETRY_MS=120000 FERRY_S3_LOW_SPEED_TIME=2 FERRY_S3_LOW_SPEED_LIMIT=1024
export FERRY_S3_MULTIPART_THRESHOLD=$((5 << 20)) FERRY_S3_PART_SIZE=$((5 << 20))

# the primary: 16 MiB of random data (multipart packs), 4 MiB of text, holes
truncate -s 64M "$T/vm0.raw"
head -c 16M /dev/urandom | dd of="$T/vm0.raw" conv=notrunc status=none
python3 -c '
import random, sys
r = random.Random(7)
w = [b"ferry", b"seed", b"block", b"point", b"pack"]
sys.stdout.buffer.write(b" ".join(r.choice(w) for _ in range(1 << 20))[:4 << 20])' |
	dd of="$T/vm0.raw" bs=1M seek=32 conv=notrunc status=none
write_config "$T/ferry.conf" 256M 1M vm0:"$T/vm0.raw"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
cp "$T/ferry.conf" "$T/direct.conf"
s3_store_conf "$T/ferry.conf" $B/site "$PROXY_ENDPOINT"
s3_store_conf "$T/direct.conf" $B/site "$RGW_ENDPOINT"
ferryctl init -c "$T/ferry.conf" >/dev/null || fail "init through the proxy"
mkdir -p "$T/copies"
cp --sparse=always "$T/vm0.raw" "$T/copies/initial.raw"	# what the seed point holds
start_ferryd "$T/ferry.conf"

head -c 8M /dev/urandom >"$T/rand.bin"
ids=()
cut_point() {	# N: a point, then a copy of the primary as it is now
	local id
	id=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait --timeout 300) ||
		{ tail -n 20 "$T/ferryd.log" >&2; fail "point $1"; }
	cp --sparse=always "$T/vm0.raw" "$T/copies/$id.raw"
	ids+=("$id")
}
t0=$SECONDS
cut_point seed
info "seed point ${ids[0]} after $((SECONDS - t0)) s"
for ((i = 1; i <= POINTS; i++)); do
	ops=()
	for ((k = 0; k < 20; k++)); do
		len=$(( (RANDOM % 64 + 1) * 512 )); off=$(( (RANDOM * 32768 + RANDOM) % (64 * 1048576 - len) / 512 * 512 ))
		ops+=(-c "write -P $((RANDOM % 255 + 1)) $off $len")
	done
	# every 5th point: 6 MiB of random data (a multipart pack)
	((i % 5 == 0)) && ops+=(-c "write -s $T/rand.bin $(( (RANDOM % 56) << 20 )) 6M")
	qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/vm0" >"$T/qemu-io.out" 2>&1 || fail "qemu-io"
	grep -qi 'error\|fail' "$T/qemu-io.out" && { cat "$T/qemu-io.out" >&2; fail "a write failed"; }
	head -c 8M /dev/urandom >"$T/rand.bin"
	cut_point $i
done
info "$POINTS incremental points after $((SECONDS - t0)) s"
stop_ferryd
faultproxy_stop
grep '^summary' "$PROXY_LOG" >&2

# the faults really happened, of every kind, also to multipart requests
req=$(faultproxy_count requests) nf=$(faultproxy_count faults)
if [ "${RATE:-0.2}" != 0 ]; then	# RATE=0: the same run without faults, for comparison
[ "${req:-0}" -ge 150 ] || fail "only ${req:-0} requests went through the proxy"
[ $((nf * 100 / req)) -ge 12 ] || fail "only $nf of $req requests were faulted"
for k in drop-before drop-after 500 503 stall truncate; do
	[ "$(faultproxy_count "$k")" -ge 1 ] || fail "no '$k' fault was injected (seed $SEED)"
done
grep -q ' PUT .*partNumber=' "$PROXY_LOG" || fail "no multipart part went through the proxy"
np=$(grep -c '^[0-9.]* fault .*partNumber=' "$PROXY_LOG" || true)
nu=$(grep -c '^[0-9.]* fault .*uploads\|^[0-9.]* fault .*uploadId=' "$PROXY_LOG" || true)
info "$np faults hit part uploads, $nu other multipart requests"
[ "$np" -ge 1 ] || fail "no fault hit a part upload (seed $SEED)"
fi
grep -q 'gave up after' "$T/ferryd.log" && { grep 'gave up' "$T/ferryd.log" >&2; fail "a request ran out of retry time"; }
grep 'shipper: ' "$T/ferryd.log" >&2	# points that failed and were retried, if any

# everything checked against RGW directly
D=(-c "$T/direct.conf")
t0=$SECONDS
ferryctl verify "${D[@]}" --read-data >&2 || fail "verify --read-data"
ferryctl points "${D[@]}" --domain dom --json >"$T/points.json" || fail "points"
# the points cut, in order, after the seed's inconsistent point
python3 - "$T/points.json" "${ids[@]}" >"$T/seedpt" <<'PY' || fail "the repository's points are not the points cut"
import json, sys
pts = json.load(open(sys.argv[1]))
have = [p["id"] for p in pts]
want = sys.argv[2:]
assert have[-len(want):] == want, (have, want)
extra = pts[:-len(want)]
assert len(extra) <= 1 and all(not p["consistent"] for p in extra), (have, want)
print(" ".join(p["id"] for p in extra))
PY
for id in $(cat "$T/seedpt"); do ln -s initial.raw "$T/copies/$id.raw"; done
# restores are latency-bound (many ranged GETs): three at a time
restore_check() {	# ID
	local t1=$(date +%s%N)
	ferryctl restore "${D[@]}" --domain dom --disk vm0 --point "$1" --format raw \
		--allow-inconsistent -o "$T/r.$1.raw" >"$T/r.$1.out" 2>&1 || { cat "$T/r.$1.out" >&2; echo "restore of point $1 failed"; return 1; }
	cmp "$T/copies/$1.raw" "$T/r.$1.raw" >&2 || { echo "point $1 does not restore to the data written"; return 1; }
	info "restore $1: $(( ($(date +%s%N) - t1) / 1000000 )) ms, equal"
	rm -f "$T/r.$1.raw"
}
: >"$T/restore.fail"
for id in $(cat "$T/seedpt") "${ids[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge 3 ]; do wait -n; done
	restore_check "$id" >>"$T/restore.fail" &
done
wait
[ -s "$T/restore.fail" ] && { cat "$T/restore.fail" >&2; fail "$(head -n 1 "$T/restore.fail")"; }
info "verify and ${#ids[@]} points restored equal in $((SECONDS - t0)) s"
left=$(s3_uploads_left $B)
[ "$left" = 0 ] || { cat "$T/uploads.xml" >&2; fail "$left multipart uploads left behind (seed $SEED)"; }
pass
