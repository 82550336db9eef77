#!/usr/bin/env bash
# RPO benchmark (part of make bench-pipeline): fio writes 4 KiB random writes at a steady
# 20 MB/s for 60 s through ferryd with rpo = 5s into an encrypted file:// store; every half
# second the age of the newest durable consistent point is sampled (now - its cut time,
# `current_rpo_ms` of `ferryctl status --json`, which ferryd answers from memory: cheap
# enough not to steal the CPU being measured). Prints the worst and the mean age. Target: worst <= 10 s.
#   SECONDS_RUN=60 RATE=20m DISK=4G tests/bench/bench-rpo.sh
set -eu
cd "$(dirname "$0")/../.."
BIN=${FERRY_BIN:-build/bin}	# FERRY_BIN=DIR: another build's ferryd and ferryctl
command -v fio >/dev/null || { echo "fio missing: tools/install-deps.sh" >&2; exit 77; }
RUN=${SECONDS_RUN:-60}
RATE=${RATE:-20m}
DISK=${DISK:-4G}
W=$(mktemp -d /var/tmp/ferry-rpo.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
. tests/bench/bench-lib.sh
PORT=$(port)
truncate -s "$DISK" "$W/d.raw"
$BIN/ferryctl init --store "file://$W/store" --key-file "$W/k" >/dev/null
bench_ferryd_conf "$PORT" 8G rpo "d0:$W/d.raw" 5s
FERRYD=$BIN/ferryd bench_start_ferryd || exit 1
PID=$FPID
$BIN/ferryctl point -c "$W/ferry.conf" --domain rpo --wait >/dev/null	# seed + catch-up
fio --name=rpo --ioengine=nbd --uri="nbd://127.0.0.1:$PORT/d0" --rw=randwrite --bs=4k \
	--iodepth=8 --rate="$RATE" --size="$DISK" --time_based --runtime="$RUN" \
	--output="$W/fio.out" &
FIO=$!
: >"$W/ages"
sleep 1
while kill -0 $FIO 2>/dev/null; do	# (no python here: its start-up alone costs 0.5 s)
	$BIN/ferryctl status -c "$W/ferry.conf" --json |
		grep -o '"current_rpo_ms":[-0-9]*' | head -n 1 | sed 's/.*://' >>"$W/ages"
	sleep 0.5
done
wait $FIO
grep -E 'WRITE:' "$W/fio.out"
python3 - "$W/ages" <<'PY'
import sys
a = [float(x) / 1000 for x in open(sys.argv[1]) if x.strip()]
print(f"rpo = 5s, {len(a)} samples: newest durable point age worst {max(a):.1f} s, "
      f"mean {sum(a)/len(a):.1f} s (target: worst <= 10 s)")
PY
grep -c 'ferryd: info: point rpo' "$W/ferryd.log" | sed 's/^/points cut: /'
# what the points of small random writes cost in the store: every point after the seed
# and its catch-up, against the bytes fio wrote
python3 - "$W/ferryd.log" "$W/fio.out" <<'PY'
import re, sys
log, fio = open(sys.argv[1]).read(), open(sys.argv[2]).read()
pts = re.findall(r"point rpo 1\.(\d+)[^:]*: \d+ records, (\d+) logical bytes, (\d+) bytes stored", log)
pts = [(int(s), int(l), int(b)) for s, l, b in pts if int(s) > 2]
m = re.search(r"WRITE: bw=.*io=([0-9.]+)([KMG]i?B)", fio)
unit = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}
written = float(m.group(1)) * unit[m.group(2)] if m else 0
stored = sum(b for _, _, b in pts)
logical = sum(l for _, l, _ in pts)
if written:
    print(f"small random writes: {stored / 1e6:.1f} MB stored for {written / 1e6:.1f} MB written "
          f"({stored / (written / 1e6) / 1e3:.1f} KB stored per MB written, {len(pts)} points)")
if logical:	# the points do not end where fio does: per MB the points themselves covered
    print(f"per MB the points covered: {stored / (logical / 1e6) / 1e3:.1f} KB stored "
          f"({logical / 1e6:.1f} MB in {len(pts)} points)")
PY
grep -E 'info: (point rpo|domain rpo)' "$W/ferryd.log" | tail -n 12 | sed 's/^/  /'
