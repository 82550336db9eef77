#!/usr/bin/env bash
# make bench-datapath: fio's nbd engine against ferryd (capturing every write into its
# replication log), nbdkit's file plugin and qemu-nbd --aio=io_uring, plus fio's io_uring
# engine on a plain file; same file size on the same disk, runs interleaved. Prints IOPS,
# MB/s and ratios against nbdkit. Not part of the test suite (no timed assertions).
# One more reference, "newdata": fio writing the same stream into a fresh file as large as
# the log. ferryd must put every byte into new log space, while the peers overwrite a file
# that stays in the page cache; "newdata" is what this disk sustains for such writes, the
# ceiling for ferryd once the log exceeds the dirty-page budget.
#   SECONDS_PER_RUN=20 REPEAT=2 FILE_SIZE=2G LOG_SIZE=40G make bench-datapath
set -eu
cd "$(dirname "$0")/../.."
for c in fio nbdkit qemu-nbd; do command -v $c >/dev/null || { echo "$c missing: tools/install-deps.sh" >&2; exit 77; }; done
RUNTIME=${SECONDS_PER_RUN:-20}
REPEAT=${REPEAT:-2}
FSIZE=${FILE_SIZE:-2G}
LOGSIZE=${LOG_SIZE:-40G}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bench.XXXXXX)}
mkdir -p "$W"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

for f in ferry nbdkit qemu plain; do rm -f "$W/$f.img"; fallocate -l "$FSIZE" "$W/$f.img"; done
avail=$(df --output=avail -B1 "$W" | tail -1)
echo "bench dir $W, files $FSIZE, log $LOGSIZE, ${RUNTIME}s per run, $REPEAT rounds, $(nproc) cores, free $((avail >> 30)) GiB"

start_ferryd() {
	FP=$(port)
	rm -f "$W/replog"
	cat >"$W/ferry.conf" <<CONF
[appliance]
state_dir = $W/state
[nbd]
listen = 127.0.0.1:$FP
[log]
path = $W/replog
size = $LOGSIZE
metadata_size = 4M
[control]
socket = $W/ferryd.sock
[domain bench]
disk = exp:$W/ferry.img
CONF
	build/bin/ferryd -c "$W/ferry.conf" >"$W/ferryd.log" 2>&1 &
	FPID=$!; PIDS+=($FPID)
	for _ in $(seq 600); do grep -q '^ferryd ready$' "$W/ferryd.log" && return 0; sleep 0.1; done
	cat "$W/ferryd.log"; exit 1
}

run_fio() {	# name uri-or-file engine rw bs qd -> prints "iops bw_bytes"
	local uri=$2 engine=$3 rw=$4 bs=$5 qd=$6 target
	if [ "$engine" = nbd ]; then target=(--ioengine=nbd --uri="$uri"); else target=(--ioengine=io_uring --filename="$uri"); fi
	local size=$FSIZE
	[ "$1" = newdata ] && size=$LOGSIZE
	fio --name="$1" "${target[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" --size="$size" \
		--time_based --runtime="$RUNTIME" --ramp_time=2 --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; t=sys.stdin.read(); j=json.loads(t[t.index("{"):])["jobs"][0]["write"]; print(round(j["iops"]), j["bw_bytes"])'
}

declare -A IOPS BW
add() { IOPS[$1]=$(( ${IOPS[$1]:-0} + $2 )); BW[$1]=$(( ${BW[$1]:-0} + $3 )); }

for ((r = 0; r < REPEAT; r++)); do
	for wl in "randwrite 4k 32" "write 1M 8"; do
		set -- $wl; rw=$1 bs=$2 qd=$3
		for t in ferryd nbdkit qemu-nbd plain newdata; do
			case $t in
			ferryd) start_ferryd; uri=nbd://127.0.0.1:$FP/exp; eng=nbd ;;
			nbdkit) P=$(port); nbdkit -f -p "$P" -i 127.0.0.1 file "$W/nbdkit.img" & NP=$!; PIDS+=($NP); waitport "$P"; uri=nbd://127.0.0.1:$P; eng=nbd ;;
			qemu-nbd) P=$(port); qemu-nbd -t -f raw --aio=io_uring --cache=writeback -x exp -b 127.0.0.1 -p "$P" "$W/qemu.img" & NP=$!; PIDS+=($NP); waitport "$P"; uri=nbd://127.0.0.1:$P/exp; eng=nbd ;;
			plain) uri=$W/plain.img; eng=io_uring ;;
			newdata) rm -f "$W/newdata.img"; fallocate -l "$LOGSIZE" "$W/newdata.img"; uri=$W/newdata.img; eng=io_uring ;;
			esac
			read -r iops bw < <(run_fio "$t" "$uri" "$eng" "$rw" "$bs" "$qd")
			printf '  round %d %-10s %-9s %4s QD%-3s %9s IOPS %8.1f MB/s\n' "$r" "$t" "$rw" "$bs" "$qd" "$iops" "$(echo "$bw / 1000000" | bc -l)"
			add "$t/$rw" "$iops" "$bw"
			case $t in
			ferryd)
				build/bin/ferryctl status -c "$W/ferry.conf" | grep -i 'log:\|OVERFLOW' | sed 's/^/      /'
				kill -TERM $FPID; wait $FPID || true ;;
			nbdkit|qemu-nbd) kill $NP; wait $NP 2>/dev/null || true ;;
			newdata) rm -f "$W/newdata.img" ;;
			esac
		done
	done
done

echo
echo "averages over $REPEAT rounds; ratio = target / nbdkit"
printf '%-10s %-10s %10s %10s %8s\n' target workload IOPS MB/s ratio
for rw in randwrite write; do
	for t in ferryd nbdkit qemu-nbd plain newdata; do
		k=$t/$rw
		printf '%-10s %-10s %10d %10.1f %8.2f\n' "$t" "$rw" $(( IOPS[$k] / REPEAT )) \
			"$(echo "${BW[$k]} / $REPEAT / 1000000" | bc -l)" "$(echo "${IOPS[$k]} / ${IOPS[nbdkit/$rw]}" | bc -l)"
	done
done
