#!/usr/bin/env bash
# Pipeline acceptance 7 (as 120-pipeline-overflow-outage.sh) on an S3 store: Ceph RGW behind
# the fault proxy (tests/tools/s3-faultproxy.py) without faults. The outage: the proxy goes
# "down" (its port refuses connections, open ones are dropped) under write load with a
# 4 MiB log: no write fails and the domain goes into overflow; no point is stored. When the
# proxy listens again, the shipper ships the logged records, resyncs the dirty extents from
# the primary (an inconsistent point), then cuts the consistent catch-up point, which
# restores equal to the primary; the repository verifies with --read-data, and no dirty
# bit is left.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
require qemu-io python3
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
B=ferry-overflow
rgw_mkbucket $B
rgw_keys "$T/keys"
faultproxy_start 1 0
export FERRY_S3_RETRY_MS=3000	# fail a point within seconds during the outage

write_config "$T/ferry.conf" 4M 1M vm0:"$T/vm0.raw":64M
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s/' "$T/ferry.conf"
s3_store_conf "$T/ferry.conf" $B/site "$PROXY_ENDPOINT"
C=(-c "$T/ferry.conf")
ferryctl init "${C[@]}" >/dev/null || fail "init"
start_ferryd "$T/ferry.conf"

# qemu_ops FILE SEED N: N writes (64 KiB-aligned 256 KiB ones, unaligned small ones, zeroes)
qemu_ops() {
	python3 - "$@" <<'PY'
import random, sys
out, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
ops = []
for i in range(n):
    k = r.random()
    if k < 0.7:
        ln, off = 262144, r.randrange(0, (64 << 20) // 65536 - 4) * 65536
        ops.append(f"write -P {r.randrange(1, 256)} {off} {ln}")
    elif k < 0.9:
        ln = r.randrange(1, 17) * 512
        off = r.randrange(0, ((64 << 20) - ln) // 512) * 512
        ops.append(f"write -P {r.randrange(1, 256)} {off} {ln}")
    else:
        ops.append(f"write -z {r.randrange(0, 1000) * 65536} 131072")
open(out, "w").write("\n".join(ops) + "\n")
PY
}
run_ops() {	# FILE
	local args=() op
	while read -r op; do args+=(-c "$op"); done <"$1"
	qemu-io -f raw "${args[@]}" "$NBD_URI_BASE/vm0" >"$T/qemu-io.out" 2>&1 || fail "qemu-io failed"
	if grep -qi 'error\|fail' "$T/qemu-io.out"; then
		cat "$T/qemu-io.out" >&2
		fail "a write failed"
	fi
}
points_json() { ferryctl points "${C[@]}" --domain dom --json; }

qemu_ops "$T/ops1" 1 12
run_ops "$T/ops1"
p1=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 1"
info "first point $p1"

# ---- the outage ----
n_points=$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")
faultproxy_mode down
qemu_ops "$T/ops2" 2 200	# about 38 MiB: nearly ten times the ring
run_ops "$T/ops2"
ferryctl status "${C[@]}" --json >"$T/st.json" || fail "status"
python3 - "$T/st.json" <<'PY' || fail "the domain is not in overflow during the outage"
import json, sys
s = json.load(open(sys.argv[1]))
print("during the outage:", s["log"]["domains"][0])
assert s["log"]["domains"][0]["state"] == "overflow"
PY
wait_for 20 grep -q 'shipper: domain dom: .*Connection refused' "$T/ferryd.log" ||
	fail "no point failed with a refused connection: the outage is not simulated"
[ "$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")" -le $((n_points + 1)) ] ||
	fail "points were stored during the outage"
n_points=$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")
sleep 2
[ "$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")" = "$n_points" ] ||
	fail "a point was stored during the outage"

# ---- the store returns ----
t_back=$SECONDS
faultproxy_mode pass
resynced() {
	points_json >"$T/points.json" 2>/dev/null || return 1
	python3 - "$T/points.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
sys.exit(0 if len(p) >= 3 and p[-1]["consistent"] and not p[-2]["consistent"] else 1)
PY
}
wait_for 60 resynced || { cat "$T/ferryd.log" >&2; fail "no consistent point after the resync in 60 s"; }
info "resynced and consistent $((SECONDS - t_back)) s after the store returned"
grep -q 'domain dom: resync of [1-9][0-9]* extents' "$T/ferryd.log" ||
	fail "the shipper did not log a resync"
grep 'resync\|overflow' "$T/ferryd.log" >&2
ferryctl status "${C[@]}" --json >"$T/st.json" || fail "status"
python3 - "$T/st.json" <<'PY' || fail "the domain is still in overflow after the resync"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["log"]["domains"][0]["state"] == "ok", s["log"]["domains"][0]
PY

# no writes since the outage ended: the latest consistent point is the primary
stop_ferryd
ferryctl restore "${C[@]}" --domain dom --disk vm0 --format raw -o "$T/r.raw" || fail "restore latest"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the latest point differs from the primary"
ferryctl verify "${C[@]}" --read-data || fail "verify --read-data"
ferryctl log dirty "${C[@]}" --disk vm0 --json >"$T/dirty.json" || fail "log dirty"
python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["extents"]; assert not e, e' \
	"$T/dirty.json" || fail "dirty bits left after the resync"
pass
