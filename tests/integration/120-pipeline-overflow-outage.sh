#!/usr/bin/env bash
# Pipeline acceptance 7: overflow and resync. A 4 MiB log and a store outage under write
# load: no write fails and the domain goes into overflow; when the store returns, the shipper
# ships the logged records, resyncs the dirty extents from the primary (an inconsistent
# point), then cuts the consistent catch-up point, which restores equal to the primary; the
# repository verifies with --read-data.
# The outage: file_store_outage_begin (tests/lib/functions.sh).
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io python3

STORE=file://$T/store
KEY=$T/store.key
ferryctl init --store "$STORE" --key-file "$KEY" >/dev/null || fail "init"
write_config "$T/ferry.conf" 4M 1M vm0:"$T/vm0.raw":64M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$KEY" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s/' "$T/ferry.conf"
start_ferryd "$T/ferry.conf"

points_json() { ferryctl points --store "$STORE" --key-file "$KEY" --domain dom --json; }

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

qemu_ops "$T/ops1" 1 12
run_ops "$T/ops1"
p1=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 1"
info "first point $p1"

# ---- the outage ----
n_points=$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")
file_store_outage_begin "$T/store"
qemu_ops "$T/ops2" 2 200	# about 38 MiB: nearly ten times the ring
run_ops "$T/ops2"
ferryctl status -c "$T/ferry.conf" --json >"$T/st.json" || fail "status"
python3 - "$T/st.json" <<'PY' || fail "the domain is not in overflow during the outage"
import json, sys
s = json.load(open(sys.argv[1]))
print("during the outage:", s["log"]["domains"][0])
assert s["log"]["domains"][0]["state"] == "overflow"
PY
# the shipper's next attempt (rpo 1 s, retried every few seconds) fails: wait for it
wait_for 30 grep -q 'committing point\|storing point\|starting point' "$T/ferryd.log" ||
	fail "no point failed during the outage: the outage is not simulated"
[ "$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")" = "$n_points" ] ||
	fail "a point was stored during the outage"

# ---- the store returns ----
file_store_outage_end "$T/store"
# done: the newest point is consistent and follows an inconsistent one (the resync)
resynced() {
	points_json >"$T/points.json" 2>/dev/null || return 1
	python3 - "$T/points.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
sys.exit(0 if len(p) >= 3 and p[-1]["consistent"] and not p[-2]["consistent"] else 1)
PY
}
wait_for 60 resynced || { cat "$T/ferryd.log" >&2; fail "no consistent point after the resync in 60 s"; }
grep -q 'domain dom: resync of [1-9][0-9]* extents' "$T/ferryd.log" ||
	fail "the shipper did not log a resync"
grep 'resync\|overflow' "$T/ferryd.log" >&2
cat "$T/points.json" >&2
ferryctl status -c "$T/ferry.conf" --json >"$T/st.json" || fail "status"
python3 - "$T/st.json" <<'PY' || fail "the domain is still in overflow after the resync"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["log"]["domains"][0]["state"] == "ok", s["log"]["domains"][0]
PY

# no writes since the outage ended: the latest consistent point is the primary
stop_ferryd
ferryctl restore --store "$STORE" --key-file "$KEY" --domain dom --disk vm0 --format raw \
	-o "$T/r.raw" || fail "restore latest"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the latest point differs from the primary"
ferryctl verify --store "$STORE" --key-file "$KEY" --read-data || fail "verify --read-data"
ferryctl log dirty -c "$T/ferry.conf" --disk vm0 --json >"$T/dirty.json" || fail "log dirty"
python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["extents"]; assert not e, e' \
	"$T/dirty.json" || fail "dirty bits left after the resync"
pass
