#!/usr/bin/env bash
# make bench-datapath, part 1 (throughput): fio's nbd engine against ferryd (capturing every
# write into its replication log), nbdkit's file plugin and qemu-nbd --aio=io_uring, plus
# fio's io_uring engine on a plain file; same file size on the same disk, runs interleaved.
# One more reference, "direct": fio writing the same stream with O_DIRECT into a fresh file
# as large as the log: the rate at which this disk takes new data. ferryd must put every
# byte into new log space (and the primary), while the peers overwrite a file that stays in
# the page cache; for large writes "direct" is the ceiling ferryd is measured against
# (goal: ferryd >= 0.5 x direct for 1 MiB writes, since it writes every byte twice).
# Prints IOPS, MB/s and completion latency per run, then averages with ratios against
# nbdkit and against direct.
# FERRYD_BASE=PATH adds another ferryd binary (e.g. a build of main) as column "base",
# interleaved with the others, for before/after figures from one run; ferryd and base
# swap places every round (the first run of a round is often the slowest), so use an even
# REPEAT. Every file is written through once before the first round, and every run starts
# after a sync, ferryd's and base's with their shared primary out of the page cache.
# Not part of the test suite (no timed assertions). Part 2 is bench-latency.sh.
#   SECONDS_PER_RUN=20 REPEAT=2 FILE_SIZE=2G LOG_SIZE=40G FERRYD=build/bin/ferryd \
#       FERRYD_BASE= make bench-datapath
set -eu
cd "$(dirname "$0")/../.."
for c in fio nbdkit qemu-nbd; do command -v $c >/dev/null || { echo "$c missing: tools/install-deps.sh" >&2; exit 77; }; done
RUNTIME=${SECONDS_PER_RUN:-20}
REPEAT=${REPEAT:-2}
FSIZE=${FILE_SIZE:-2G}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bench.XXXXXX)}
mkdir -p "$W"
# the log and the direct file (never both at once) must fit beside the other files: at
# most 40G, and at most a third of the free space (the disk is shared)
avail=$(df --output=avail -B1 "$W" | tail -1)
LOGSIZE=${LOG_SIZE:-$(( (avail / 3 < 40 << 30 ? avail / 3 : 40 << 30) >> 30 ))G}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
. tests/bench/bench-lib.sh

# every file written through once, so that no target (whichever runs first) pays for
# converting unwritten extents
for f in ferry nbdkit qemu plain; do rm -f "$W/$f.img"; head -c "$FSIZE" /dev/zero >"$W/$f.img"; done
sync
echo "bench dir $W, files $FSIZE, log $LOGSIZE, ${RUNTIME}s per run, $REPEAT rounds, $(nproc) cores, free $((avail >> 30)) GiB"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

start_ferryd() {	# [binary]
	FP=$(port)
	rm -f "$W/replog"
	bench_ferryd_conf "$FP" "$LOGSIZE" bench "exp:$W/ferry.img"
	FERRYD=${1:-${FERRYD:-build/bin/ferryd}} bench_start_ferryd || exit 1
	PIDS+=($FPID)
}
# direct right after ferryd: the ratio between them is the one that matters, and the
# shared disk's rate drifts. ferryd and base share a primary and swap places every round.
TARGETS="ferryd direct${FERRYD_BASE:+ base} nbdkit qemu-nbd plain"
order() {	# round -> the targets in that round's order
	if [ -n "${FERRYD_BASE:-}" ] && (( $1 % 2 )); then echo "base direct ferryd nbdkit qemu-nbd plain"
	else echo "$TARGETS"; fi
}

run_fio() {	# name uri-or-file engine rw bs qd -> prints "iops bw_bytes clat_p50_us clat_p99_us"
	local uri=$2 engine=$3 rw=$4 bs=$5 qd=$6 target
	if [ "$engine" = nbd ]; then target=(--ioengine=nbd --uri="$uri"); else target=(--ioengine=io_uring --filename="$uri"); fi
	local size=$FSIZE
	[ "$1" = direct ] && { size=$LOGSIZE; target+=(--direct=1); }
	fio --name="$1" "${target[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" --size="$size" \
		--time_based --runtime="$RUNTIME" --ramp_time=2 --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; t=sys.stdin.read(); j=json.loads(t[t.index("{"):])["jobs"][0]["write"]; p=j["clat_ns"]["percentile"]; print(round(j["iops"]), j["bw_bytes"], round(p["50.000000"]/1000), round(p["99.000000"]/1000))'
}

declare -A IOPS BW P99
add() { IOPS[$1]=$(( ${IOPS[$1]:-0} + $2 )); BW[$1]=$(( ${BW[$1]:-0} + $3 )); P99[$1]=$(( ${P99[$1]:-0} + $4 )); }

for ((r = 0; r < REPEAT; r++)); do
	for wl in "randwrite 4k 32" "write 1M 8"; do
		set -- $wl; rw=$1 bs=$2 qd=$3
		for t in $(order "$r"); do
			# each run starts with no writeback left from the one before, and ferryd and
			# base with none of the primary in the page cache (the other may have left it)
			sync
			case $t in ferryd|base) dd if="$W/ferry.img" iflag=nocache count=0 status=none ;; esac
			case $t in
			ferryd) start_ferryd; uri=nbd://127.0.0.1:$FP/exp; eng=nbd ;;
			base) start_ferryd "$FERRYD_BASE"; uri=nbd://127.0.0.1:$FP/exp; eng=nbd ;;
			nbdkit) P=$(port); nbdkit -f -p "$P" -i 127.0.0.1 file "$W/nbdkit.img" & NP=$!; PIDS+=($NP); waitport "$P"; uri=nbd://127.0.0.1:$P; eng=nbd ;;
			qemu-nbd) P=$(port); qemu-nbd -t -f raw --aio=io_uring --cache=writeback -x exp -b 127.0.0.1 -p "$P" "$W/qemu.img" & NP=$!; PIDS+=($NP); waitport "$P"; uri=nbd://127.0.0.1:$P/exp; eng=nbd ;;
			plain) uri=$W/plain.img; eng=io_uring ;;
			direct) rm -f "$W/direct.img"; fallocate -l "$LOGSIZE" "$W/direct.img"; uri=$W/direct.img; eng=io_uring ;;
			esac
			read -r iops bw p50 p99 < <(run_fio "$t" "$uri" "$eng" "$rw" "$bs" "$qd")
			printf '  round %d %-10s %-9s %4s QD%-3s %9s IOPS %8.1f MB/s  clat p50 %6s p99 %7s us\n' \
				"$r" "$t" "$rw" "$bs" "$qd" "$iops" "$(echo "$bw / 1000000" | bc -l)" "$p50" "$p99"
			add "$t/$rw" "$iops" "$bw" "$p99"
			case $t in
			ferryd|base)
				build/bin/ferryctl status -c "$W/ferry.conf" | grep -i 'log:\|OVERFLOW' | sed 's/^/      /'
				kill -TERM $FPID; wait $FPID || true
				rm -f "$W/replog" ;;
			nbdkit|qemu-nbd) kill $NP; wait $NP 2>/dev/null || true ;;
			direct) rm -f "$W/direct.img" ;;
			esac
		done
	done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "averages over $REPEAT rounds (MB/s, 1 MB = 10^6 bytes); ratios: ferryd / nbdkit, ferryd / direct${FERRYD_BASE:+, ferryd / base}"
printf '%-10s' workload; for t in $TARGETS; do printf ' %9s' "$t"; done
printf ' %8s %8s' f/nbdkit f/direct; [ -n "${FERRYD_BASE:-}" ] && printf ' %8s' f/base; echo
for rw in randwrite write; do
	printf '%-10s' "$rw"
	for t in $TARGETS; do printf ' %9.1f' "$(echo "${BW[$t/$rw]} / $REPEAT / 1000000" | bc -l)"; done
	printf ' %8.2f %8.2f' "$(echo "${BW[ferryd/$rw]} / ${BW[nbdkit/$rw]}" | bc -l)" "$(echo "${BW[ferryd/$rw]} / ${BW[direct/$rw]}" | bc -l)"
	[ -n "${FERRYD_BASE:-}" ] && printf ' %8.2f' "$(echo "${BW[ferryd/$rw]} / ${BW[base/$rw]}" | bc -l)"
	echo
done
printf '%-10s' workload; for t in $TARGETS; do printf ' %9s' "$t"; done; echo '  (IOPS)'
for rw in randwrite write; do
	printf '%-10s' "$rw"
	for t in $TARGETS; do printf ' %9d' $(( IOPS[$t/$rw] / REPEAT )); done
	echo
done
printf '%-10s' workload; for t in $TARGETS; do printf ' %9s' "$t"; done; echo '  (mean p99 completion latency, us)'
for rw in randwrite write; do
	printf '%-10s' "$rw"
	for t in $TARGETS; do printf ' %9d' $(( P99[$t/$rw] / REPEAT )); done
	echo
done
