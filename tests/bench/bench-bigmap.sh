#!/usr/bin/env bash
# make check-bigmap: a disk with as many chunks as a 1 TiB disk at 64 KiB, end to end.
# A repository with 256-byte chunks; a SIZE (4G) disk fully written (16 MiB of random data
# repeated, so the chunk index stays small while the map has SIZE / 256 extents: 16,777,216
# for 4 GiB, as many as 1 TiB of 64 KiB chunks). ferryd seeds it, then takes two points of
# small random writes; the full map of point 1 is split into 1024 region objects of 16384
# chunks (docs/repo-format.md section 16), where a format 1 manifest would need 720 MiB (past
# REPO_META_MAX). Then restore, verify --read-data and prune run on it. Prints the time
# and peak memory (VmHWM / max RSS) of each step, the manifests' sizes, and checks the
# restore byte for byte. ferryd's peak through the seed does not grow with SIZE (the point
# writer spills its extents: repo/map-spill.c): 224 MiB at 1, 2 and 4 GiB, mostly its pack
# buffers; it held every extent until the commit before (2231 MiB at 4 GiB). Not part of
# the test suite (it writes 2 x SIZE of disk).
#   SIZE=4G BENCH_DIR=/var/tmp/x make check-bigmap
set -eu
cd "$(dirname "$0")/../.."
SIZE=${SIZE:-4G}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bigmap.XXXXXX)}
mkdir -p "$W"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
for c in qemu-io python3; do command -v $c >/dev/null || { echo "$c missing" >&2; exit 77; }; done
CTL=build/bin/ferryctl
now() { date +%s.%N; }
el() { python3 -c "print(f'{$2 - $1:.1f}')"; }
# timed NAME CMD...: run, print "NAME: T s, peak M MiB"
timed() {
	local name=$1 t0; shift
	t0=$(now)
	/usr/bin/time -f %M -o "$W/rss" "$@" >"$W/$name.out" 2>&1 || { cat "$W/$name.out" >&2; exit 1; }
	echo "$name: $(el "$t0" "$(now)") s, peak $(( $(cat "$W/rss") / 1024 )) MiB"
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); disk $SIZE, 256-byte chunks"
head -c 16M /dev/urandom >"$W/blk"
truncate -s 0 "$W/disk.raw"
n=$(( $(numfmt --from=iec "$SIZE") / (16 << 20) ))
for _ in $(seq "$n"); do cat "$W/blk"; done >"$W/disk.raw"
rm -f "$W/blk"
$CTL init --store "file://$W/store" --key-file "$W/k" --chunk-size 256 >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/ferry.conf" <<EOF
[appliance]
state_dir = $W/state
[nbd]
listen = 127.0.0.1:$PORT
[log]
path = $W/replog
size = 256M
metadata_size = 4M
[control]
socket = $W/ferryd.sock
[store]
url = file://$W/store
key_file = $W/k
[domain big]
rpo = 24h
disk = big:$W/disk.raw
EOF
mkdir -p "$W/state"
t0=$(now)
build/bin/ferryd -c "$W/ferry.conf" >"$W/ferryd.log" 2>&1 &
PID=$!
for _ in $(seq 300); do grep -q '^ferryd ready$' "$W/ferryd.log" && break; sleep 0.1; done
$CTL point -c "$W/ferry.conf" --domain big --wait >/dev/null
hwm=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
echo "seed: $(el "$t0" "$(now)") s, ferryd peak $((hwm / 1024)) MiB" \
	"($(( (hwm << 10) / ($(stat -c %s "$W/disk.raw") >> 8) )) bytes per chunk)"
for i in 1 2; do
	args=()
	for _ in $(seq 200); do
		args+=(-c "write -P $((RANDOM % 255 + 1)) $(( (RANDOM * 32768 + RANDOM) % (($(stat -c %s "$W/disk.raw") >> 12) - 1) * 4096 )) 4096")
	done
	qemu-io -f raw "${args[@]}" "nbd://127.0.0.1:$PORT/big" >/dev/null
	$CTL point -c "$W/ferry.conf" --domain big --wait >/dev/null
done
echo "ferryd peak after the points: $(( $(awk '/VmHWM/ {print $2}' /proc/$PID/status) / 1024 )) MiB"
kill "$PID"; wait "$PID" || true; PID=
grep -E 'point big' "$W/ferryd.log" | sed 's/^ferryd: info: /  /'
echo "manifests: $(ls -l "$W/store/domains/big/epochs/1/points" | awk 'NR > 1 {printf "%s %s bytes; ", $9, $5}')"
timed restore $CTL restore -c "$W/ferry.conf" --domain big --disk big --format raw -o "$W/r.raw"
cmp "$W/disk.raw" "$W/r.raw" && echo "restore equals the primary"
rm -f "$W/r.raw"
timed verify $CTL verify -c "$W/ferry.conf" --read-data
timed prune $CTL prune -c "$W/ferry.conf" --domain big --keep last:1 --grace 0
tail -n 3 "$W/prune.out"
