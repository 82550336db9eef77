#!/usr/bin/env bash
# Guest write latency while ferryd ships (part of make bench-datapath): fio 4 KiB random
# writes at QD1 through ferryd (64 MiB log, rpo 1s into an encrypted file:// store, so the
# shipper cuts, uploads and reclaims all the time) against nbdkit's file plugin, the two
# runs back to back (order alternating between rounds), under three loads on the same
# machine:
#   quiet   nothing else
#   cpu     one busy loop per core
#   fsync   fio writing 4 KiB random writes with an fsync after each, to another file on
#           the same file system
# Prints the p50/p99/p99.9/p99.99 completion latency of every run and, per load, the
# median over rounds of ferryd's and nbdkit's p99.9 and their ratio (target: <= 3).
# FERRYD_BASE=PATH adds another ferryd binary (e.g. a build of main) as "base", run in the
# same rotation, and its p99.9 beside ferryd's.
# Not part of the test suite (no timed assertions).
#   SECONDS_PER_RUN=20 REPEAT=3 RATE_IOPS=0 LOADS="quiet cpu fsync" FERRYD=build/bin/ferryd \
#       tests/bench/bench-latency.sh
set -eu
cd "$(dirname "$0")/../.."
for c in fio nbdkit python3; do command -v $c >/dev/null || { echo "$c missing: tools/install-deps.sh" >&2; exit 77; }; done
RUNTIME=${SECONDS_PER_RUN:-20}
REPEAT=${REPEAT:-3}
RATE=${RATE_IOPS:-0}
LOADS=${LOADS:-quiet cpu fsync}
DISK=1G
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-lat.XXXXXX)}
mkdir -p "$W"
PIDS=()
LOADPIDS=()
stop_load() { for p in "${LOADPIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; LOADPIDS=(); }
cleanup() { stop_load; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${BENCH_DIR:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
. tests/bench/bench-lib.sh

start_load() {
	case $1 in
	quiet) ;;
	cpu)
		for _ in $(seq "$(nproc)"); do sh -c 'while :; do :; done' & LOADPIDS+=($!); done ;;
	fsync)
		fio --name=fsynchog --filename="$W/fsynchog.img" --size=256M --rw=randwrite --bs=4k \
			--ioengine=psync --fsync=1 --time_based --runtime=100000 >/dev/null 2>&1 &
		LOADPIDS+=($!) ;;
	esac
}

start_ferryd() {	# [binary]
	FP=$(port)
	rm -rf "$W/replog" "$W/store" "$W/state" "$W/k"
	truncate -s "$DISK" "$W/ferry.img"
	build/bin/ferryctl init --store "file://$W/store" --key-file "$W/k" >/dev/null
	bench_ferryd_conf "$FP" 64M lat "exp:$W/ferry.img" 1s
	FERRYD=${1:-${FERRYD:-build/bin/ferryd}} bench_start_ferryd || exit 1
	PIDS+=($FPID)
	build/bin/ferryctl point -c "$W/ferry.conf" --domain lat --wait >/dev/null	# the seed
}

# run_fio URI -> "iops p50 p99 p99.9 p99.99" (microseconds)
run_fio() {
	local rate=()
	[ "$RATE" != 0 ] && rate=(--rate_iops="$RATE")
	fio --name=lat --ioengine=nbd --uri="$1" --rw=randwrite --bs=4k --iodepth=1 --size="$DISK" \
		"${rate[@]}" --time_based --runtime="$RUNTIME" --ramp_time=2 \
		--percentile_list=50:99:99.9:99.99 --output-format=json 2>/dev/null |
		python3 -c '
import json, sys
t = sys.stdin.read(); j = json.loads(t[t.index("{"):])["jobs"][0]["write"]
p = j["clat_ns"]["percentile"]
print(round(j["iops"]), *(round(p[k] / 1000, 1) for k in ("50.000000", "99.000000", "99.900000", "99.990000")))'
}

measure() {	# target load round
	local t=$1 uri
	case $t in
	ferryd) start_ferryd; uri=nbd://127.0.0.1:$FP/exp ;;
	base) start_ferryd "$FERRYD_BASE"; uri=nbd://127.0.0.1:$FP/exp ;;
	nbdkit)
		rm -f "$W/nbdkit.img"; truncate -s "$DISK" "$W/nbdkit.img"
		P=$(port); nbdkit -f -p "$P" -i 127.0.0.1 file "$W/nbdkit.img" & NP=$!; PIDS+=($NP)
		waitport "$P"; uri=nbd://127.0.0.1:$P ;;
	esac
	read -r iops p50 p99 p999 p9999 < <(run_fio "$uri")
	local extra=
	if [ "$t" != nbdkit ]; then
		extra="$(grep -c '^.*point lat ' "$W/ferryd.log" || true) points"
		grep -q 'enters overflow' "$W/ferryd.log" && extra="$extra, OVERFLOW"
		kill -TERM "$FPID"; wait "$FPID" || true
	else
		kill "$NP"; wait "$NP" 2>/dev/null || true
	fi
	printf '  round %d %-6s %-7s %7s IOPS  p50 %7s  p99 %7s  p99.9 %7s  p99.99 %7s us  %s\n' \
		"$3" "$2" "$t" "$iops" "$p50" "$p99" "$p999" "$p9999" "$extra"
	echo "$2 $t $p999" >>"$W/results"
}

: >"$W/results"
echo "latency: fio 4k randwrite QD1, ${RUNTIME}s per run, $REPEAT rounds, rate ${RATE:-0} IOPS (0: unlimited), $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < REPEAT; r++)); do
	for load in $LOADS; do
		start_load "$load"
		sleep 1
		if ((r % 2 == 0)); then order="ferryd nbdkit${FERRYD_BASE:+ base}"
		else order="${FERRYD_BASE:+base }nbdkit ferryd"; fi
		for t in $order; do measure "$t" "$load" "$r"; done
		stop_load
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "p99.9 completion latency, median over $REPEAT rounds (us); ratio = ferryd / nbdkit (target <= 3)"
python3 - "$W/results" $LOADS <<'PY'
import sys, statistics
res = {}
for line in open(sys.argv[1]):
    load, t, v = line.split()
    res.setdefault((load, t), []).append(float(v))
base = any(t == "base" for (_, t) in res)
print(f"{'load':8} {'ferryd':>9} {'nbdkit':>9} {'ratio':>7}" + (f" {'base':>9} {'b/nbdkit':>8}" if base else ""))
for load in sys.argv[2:]:
    f = statistics.median(res[(load, "ferryd")]); n = statistics.median(res[(load, "nbdkit")])
    line = f"{load:8} {f:9.1f} {n:9.1f} {f / n:7.2f}"
    if base:
        b = statistics.median(res[(load, "base")])
        line += f" {b:9.1f} {b / n:8.2f}"
    print(line)
PY
