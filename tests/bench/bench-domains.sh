#!/usr/bin/env bash
# make bench-domains: one ferryd, DOMAINS (32) protection domains of one disk each, every
# disk under 4 KiB random writes (fio, RATE each, default 256k: 8 MB/s in all) for RUN (60)
# seconds at rpo = 5s, into an encrypted file:// repository. BURST_AT (20) seconds in,
# once every domain has consistent points, vm-a (tests/lib/vm-images.sh: 2 GiB, about
# 1.2 GB of real data) is copied onto d00's disk with nbdcopy: d00's next points carry
# a gigabyte and take seconds to cut, so a shipper that made the other domains wait for
# d00's cuts would show it in their RPO. Every half second the age of each domain's newest
# durable consistent point is sampled (`current_rpo_ms` of `ferryctl status --json`,
# answered from memory); the worst age of each domain from its first consistent point on
# is reported, and d00's points. Target: every domain <= 2 x rpo (10 s). Not part of the
# test suite. BURST_AT=none: no burst, only the 4 KiB random writes.
#   DOMAINS=32 RATE=256k RUN=60 BURST_AT=20 BENCH_DIR=/var/tmp/x FERRY_BIN=DIR make bench-domains
set -eu
cd "$(dirname "$0")/../.."
BIN=${FERRY_BIN:-build/bin}	# FERRY_BIN=DIR: another build's ferryd and ferryctl
for c in fio nbdcopy; do command -v $c >/dev/null || { echo "$c missing: tools/install-deps.sh" >&2; exit 77; }; done
N=${DOMAINS:-32}
RATE=${RATE:-256k}
RUN=${RUN:-60}
BURST_AT=${BURST_AT:-20}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bench-domains.XXXXXX)}
mkdir -p "$W"
PID= FIO= BURST=
cleanup() {
	[ -n "$BURST" ] && kill "$BURST" 2>/dev/null
	[ -n "$FIO" ] && kill "$FIO" 2>/dev/null
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	wait 2>/dev/null
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
tests/lib/vm-images.sh "$W/img" 2G 0 >/dev/null
$BIN/ferryctl init --store "file://$W/store" --key-file "$W/k" >/dev/null
{
	printf '[appliance]\nstate_dir = %s\n[nbd]\nlisten = 127.0.0.1:%s\n' "$W/state" "$PORT"
	printf '[log]\npath = %s\nsize = 4G\nmetadata_size = 16M\n' "$W/replog"
	printf '[control]\nsocket = %s\n' "$W/ferryd.sock"
	printf '[store]\nurl = file://%s\nkey_file = %s\n' "$W/store" "$W/k"
	for i in $(seq 0 $((N - 1))); do
		d=$(printf 'd%02d' "$i")
		truncate -s "$([ "$i" = 0 ] && echo 2G || echo 1G)" "$W/$d.raw"
		printf '[domain %s]\nrpo = 5s\ndisk = %s:%s\n' "$d" "$d" "$W/$d.raw"
	done
} >"$W/ferry.conf"
{
	printf '[global]\nioengine=nbd\nrw=randwrite\nbs=4k\niodepth=4\nrate=%s\n' "$RATE"
	printf 'time_based\nruntime=%s\nsize=1G\n' "$RUN"
	for i in $(seq 0 $((N - 1))); do
		d=$(printf 'd%02d' "$i")
		printf '[%s]\nuri=nbd://127.0.0.1:%s/%s\n' "$d" "$PORT" "$d"
	done
} >"$W/fio.job"
mkdir -p "$W/state"
$BIN/ferryd -c "$W/ferry.conf" >"$W/ferryd.log" 2>&1 &
PID=$!
for _ in $(seq 300); do grep -q '^ferryd ready$' "$W/ferryd.log" && break; sleep 0.1; done
fio --output="$W/fio.out" "$W/fio.job" &
FIO=$!
if [ "$BURST_AT" != none ]; then
	{ sleep "$BURST_AT"; echo "burst: $(date +%s.%N)"; nbdcopy "$W/img/vm-a.raw" "nbd://127.0.0.1:$PORT/d00";
	  echo "burst copied: $(date +%s.%N)"; } >"$W/burst" 2>&1 &
	BURST=$!
fi
: >"$W/samples"
while kill -0 $FIO 2>/dev/null; do
	{ echo @@; $BIN/ferryctl status -c "$W/ferry.conf" --json; } >>"$W/samples" 2>/dev/null || true
	sleep 0.5
done
wait $FIO || true
FIO=
if [ -n "$BURST" ]; then
	wait $BURST || { echo "nbdcopy onto d00 failed: $(cat "$W/burst")" >&2; exit 1; }
	BURST=
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E 'WRITE:' "$W/fio.out" | head -n 1
python3 - "$W/samples" "$N" <<'PY'
import json, sys
worst, samples = {}, 0
for chunk in open(sys.argv[1]).read().split("@@\n"):
    try:
        s = json.loads(chunk)
    except ValueError:
        continue
    samples += 1
    for d in s.get("log", {}).get("domains", []):
        a = d.get("current_rpo_ms", -1)
        if a >= 0:
            worst[d["name"]] = max(worst.get(d["name"], 0), a / 1000)
n = int(sys.argv[2])
print(f"{samples} samples of {n} domains at rpo = 5s; worst age of the newest consistent point:")
names = sorted(worst)
for k in range(0, len(names), 8):
    print("  " + "  ".join(f"{m} {worst[m]:5.1f}s" for m in names[k:k + 8]))
missing = n - len(names)
top = max(worst.values()) if worst else float("inf")
others = max((v for k, v in worst.items() if k != "d00"), default=float("inf"))
print(f"worst of all domains {top:.1f} s (target <= 10 s: {'met' if top <= 10 and not missing else 'NOT met'})"
      + (f"; {missing} domains never had a consistent point" if missing else ""))
print(f"worst of the domains beside d00 (which takes the burst): {others:.1f} s")
PY
grep -c 'ferryd: info: point ' "$W/ferryd.log" | sed 's/^/points cut: /'
[ "$BURST_AT" = none ] && exit 0
python3 - "$W/burst" <<'PY'
import sys
t = dict(l.split(": ") for l in open(sys.argv[1]).read().split("\n") if ": " in l)
print(f"the burst: vm-a copied onto d00 in {float(t['burst copied']) - float(t['burst']):.1f} s")
PY
echo "d00's points with more than 100 MB:"
grep -E 'point d00 .* [0-9]{9,} logical bytes' "$W/ferryd.log" | sed 's/^ferryd: info: /  /'
