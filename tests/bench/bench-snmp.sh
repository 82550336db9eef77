#!/usr/bin/env bash
# make bench-snmp: does a receiver that never answers slow ferryd's writes? fio 4 KiB
# random writes (nbd engine, QD32) through ferryd, alternately without any SNMP receiver
# ("none") and with one dead SNMPv3 inform receiver ("dead": a loopback port nobody
# listens on, so every inform attempt and engine id discovery times out, 1 s each), while
# `ferryctl trap test` runs every 2 s, so the notifier is busy with the dead receiver (its
# backlog, and three test attempts per test) during the whole run. The log is sized to stay
# below full: the writes take the normal logging path, not overflow. Runs interleaved;
# prints IOPS per run and the ratio dead/none of the medians. Not in the test suite.
#   SECONDS_PER_RUN=6 REPEAT=5 LOG_SIZE=8G make bench-snmp
set -eu
cd "$(dirname "$0")/../.."
command -v fio >/dev/null || { echo "fio missing: tools/install-deps.sh" >&2; exit 77; }
RUNTIME=${SECONDS_PER_RUN:-6}
REPEAT=${REPEAT:-5}
LOGSIZE=${LOG_SIZE:-8G}	# stays below full (no overflow) at up to ~180k IOPS for 8 s
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bench-snmp.XXXXXX)}
mkdir -p "$W"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_'"$1"'); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fallocate -l 1G "$W/disk.img"
(umask 077; echo authpass123 >"$W/auth"; echo privpass123 >"$W/priv")
echo "bench dir $W, ${RUNTIME}s per run, $REPEAT rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

start_ferryd() {	# none|dead
	FP=$(port STREAM)
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
disk = exp:$W/disk.img
CONF
	if [ "$1" = dead ]; then
		cat >>"$W/ferry.conf" <<CONF
[snmp]
inform_timeout = 1s
[snmp-receiver dead]
address = udp:127.0.0.1:$(port DGRAM)
version = v3
type = inform
user = ferry
auth_password_file = $W/auth
priv_password_file = $W/priv
CONF
	fi
	build/bin/ferryd -c "$W/ferry.conf" >"$W/ferryd.log" 2>&1 &
	FPID=$!; PIDS+=($FPID)
	for _ in $(seq 600); do grep -q '^ferryd ready$' "$W/ferryd.log" && return 0; sleep 0.1; done
	cat "$W/ferryd.log"; exit 1
}

run() {	# none|dead -> IOPS
	start_ferryd "$1"
	( while :; do build/bin/ferryctl trap test -c "$W/ferry.conf" >/dev/null 2>&1; sleep 2; done ) &
	local tester=$!
	fio --name=bench --ioengine=nbd --uri="nbd://127.0.0.1:$FP/exp" --rw=randwrite --bs=4k \
		--iodepth=32 --size=1G --time_based --runtime="$RUNTIME" --ramp_time=2 \
		--output-format=json 2>/dev/null |
		python3 -c 'import json,sys; t=sys.stdin.read(); print(round(json.loads(t[t.index("{"):])["jobs"][0]["write"]["iops"]))'
	kill "$tester" 2>/dev/null; wait "$tester" 2>/dev/null || true
	build/bin/ferryctl status -c "$W/ferry.conf" --json >"$W/status.$1.json" 2>/dev/null || true
	kill -TERM "$FPID"; wait "$FPID" 2>/dev/null || true
}

declare -A R
for ((r = 0; r < REPEAT; r++)); do
	for t in none dead; do
		iops=$(run $t)
		R[$t]="${R[$t]:-} $iops"
		extra=""
		extra=$(python3 - "$W/status.$t.json" <<'PY' 2>/dev/null || true
import json, sys
s = json.load(open(sys.argv[1]))
line = "(log %.0f %%" % s["log"]["used_pct"]
if "snmp" in s:
    r = s["snmp"]["receivers"][0]
    line += ", receiver %s, %d notifications waiting" % (r["state"], r["waiting"])
print(line + ")")
PY
)
		printf '  round %d %-5s %9s IOPS %s\n' "$r" "$t" "$iops" "$extra"
	done
done
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
n=$(median "${R[none]}"); d=$(median "${R[dead]}")
echo "median IOPS: none $n, dead receiver $d, ratio dead/none $(echo "scale=3; $d / $n" | bc)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
