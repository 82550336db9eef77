#!/usr/bin/env bash
# make bench-s3: seeding vm-a (tests/lib/vm-images.sh, SIZE) into a local Ceph RGW vs into a
# file:// store, and `rclone copy` of the same pack files to the same RGW, in one run.
#   ferry file://  ferryd with one domain holding vm-a, encrypted file:// repository,
#                  compression auto; timed from ferryd's start until `ferryctl point --wait`
#                  returns (seed and catch-up point durable)
#   ferry s3://    the same into s3://bench/ferry on RGW (tests/lib/ceph-rgw.sh: one OSD on
#                  memstore, radosgw on 127.0.0.1), [store] parallel = PARALLEL (8)
#   ferry copy     `ferryctl store copy` of the file:// repository to s3://bench/copyN
#                  (4 threads, its default, as rclone's 4 transfers)
#   rclone         `rclone copy` of the same repository directory to s3://bench/rcloneN
#                  (rclone's defaults: 4 transfers, single PUTs below 200 MiB)
# Prints wall time, MB/s (1 MB = 10^6 bytes) of logical data for the seeds and of stored
# bytes for the uploads, and the ratios against the targets: ferry's S3 seed >= 0.8x its
# file:// seed; ferry's upload rate >= rclone's. The upload rates compare like with like:
# the same objects from the same directory to the same server, alternating, best of two.
# The seed's own upload rate (stored bytes over the whole seed, encoding included) is
# printed too, as a lower bound. Everything runs on this machine: RGW competes with ferry
# for the same cores; the server's CPU time for one upload is printed so that the floor it
# sets can be seen. rclone is installed with apt-get when missing (as root).
#   SIZE=2G PARALLEL=8 make bench-s3
set -u
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
cd "$TOP"
SIZE=${SIZE:-2G}
PARALLEL=${PARALLEL:-8}
if ! command -v rclone >/dev/null; then
	[ "$(id -u)" = 0 ] || skip "rclone missing (install it, or run as root)"
	echo "installing rclone"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null; } ||
		skip "cannot install rclone"
fi
require mkfs.ext4 python3 rclone
rgw_require
RGW_MEMSTORE_BYTES=$((8 << 30)) rgw_start
rgw_mkbucket bench
rgw_keys "$T/keys"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

echo "images $SIZE, $(nproc) cores; $(rclone version | head -n 1); $(radosgw --version | cut -d' ' -f1-3)"
tests/lib/vm-images.sh "$T/img" "$SIZE" 5 >/dev/null || fail "vm-images.sh"
A=$T/img/vm-a.raw
LOGICAL=$(stat -c %s "$A")

write_conf() {	# FILE NAME STORE-LINES...
	local f=$1 n=$2; shift 2
	{
		printf '[appliance]\nstate_dir = %s\n[nbd]\nlisten = 127.0.0.1:%s\n' "$T/state-$n" "$(free_port)"
		printf '[log]\npath = %s\nsize = 256M\nmetadata_size = 4M\n' "$T/replog-$n"
		printf '[control]\nsocket = %s\n' "$T/ferryd-$n.sock"
		printf '[store]\n'; printf '%s\n' "$@"
		printf '[domain vm-a]\nrpo = 1h\ncompression = auto\ndisk = vma:%s\n' "$A"
	} >"$f"
	mkdir -p "$T/state-$n"
}
seed() {	# CONFIG LOG: prints the seconds from ferryd's start to the durable catch-up
	local t0 t1
	sync; echo 1 >/proc/sys/vm/drop_caches 2>/dev/null; cat "$A" >/dev/null	# same cache state
	t0=$(now)
	"$BIN/ferryd" -c "$1" >"$2" 2>&1 &
	FERRYD_PID=$!
	_pids+=("$FERRYD_PID")
	for _ in $(seq 600); do grep -q '^ferryd ready$' "$2" && break; sleep 0.01; done
	"$BIN/ferryctl" point -c "$1" --domain vm-a --wait >/dev/null || { cat "$2" >&2; fail "seed"; }
	t1=$(now)
	stop_ferryd
	elapsed "$t0" "$t1"
}

write_conf "$T/file.conf" file "url = file://$T/ferry-file" "key_file = $T/file.key"
write_conf "$T/s3.conf" s3 "url = s3://bench/ferry" "key_file = $T/s3.key" \
	"endpoint = $RGW_ENDPOINT" "access_key_file = $T/keys/ak" "secret_key_file = $T/keys/sk" \
	"parallel = $PARALLEL"
ferryctl init -c "$T/file.conf" >/dev/null || fail "init file"
ferryctl init -c "$T/s3.conf" >/dev/null || fail "init s3"

F_T=$(seed "$T/file.conf" "$T/ferryd-file.log")
S_T=$(seed "$T/s3.conf" "$T/ferryd-s3.log")
grep -h 'point vm-a\|compression auto' "$T/ferryd-file.log" "$T/ferryd-s3.log" | sed 's/^ferryd: info: /  /'
stored() { grep -o '[0-9]* bytes stored' "$1" | awk '{ s += $1 } END { print s + 0 }'; }
F_S=$(stored "$T/ferryd-file.log")
S_S=$(stored "$T/ferryd-s3.log")
# the time the seed spent in pack puts: the shipper's first compression-auto line after it
S_U=$(sed -n 's/.*compression auto: .*upload \([0-9]*\) ms.*/\1/p' "$T/ferryd-s3.log" | head -n 1)

# the same repository directory, by ferry and by rclone (alternating, twice each)
REPO=$T/ferry-file
P_N=$(find "$REPO" -type f | wc -l)
P_S=$(du -sb --apparent-size "$REPO" | cut -f1)
write_conf "$T/copy.conf" copy "url = s3://bench/copy" "key_file = $T/file.key" \
	"endpoint = $RGW_ENDPOINT" "access_key_file = $T/keys/ak" "secret_key_file = $T/keys/sk" \
	"parallel = $PARALLEL"
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph RCLONE_CONFIG_RGW_ENDPOINT=$RGW_ENDPOINT
export RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$RGW_AK RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$RGW_SK
export RCLONE_CONFIG_RGW_REGION=us-east-1 RCLONE_CONFIG=/dev/null
server_ticks() { local p s=0; for p in $(pgrep -f "radosgw|ceph-osd|ceph-mon"); do
	s=$((s + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $s; }
C_T=() R_T=()
for i in 1 2; do
	sync; cat $(find "$REPO" -type f) >/dev/null
	sed -i "s|^url = s3://bench/copy.*|url = s3://bench/copy$i|" "$T/copy.conf"
	t0=$(now)
	ferryctl store copy --from "file://$REPO" -c "$T/copy.conf" >"$T/copy$i.log" 2>&1 ||
		{ cat "$T/copy$i.log" >&2; fail "ferryctl store copy"; }
	C_T+=("$(elapsed "$t0" "$(now)")")
	grep -q "^copied $P_N objects" "$T/copy$i.log" || fail "ferry copied: $(cat "$T/copy$i.log")"
	sync; cat $(find "$REPO" -type f) >/dev/null
	k0=$(server_ticks); t0=$(now)
	env -u AWS_CA_BUNDLE rclone copy --s3-no-check-bucket "$REPO" "rgw:bench/rclone$i" >"$T/rclone.log" 2>&1 ||
		{ cat "$T/rclone.log" >&2; fail "rclone copy"; }
	R_T+=("$(elapsed "$t0" "$(now)")")
	K=$(( $(server_ticks) - k0 ))
	R_N=$(env -u AWS_CA_BUNDLE rclone lsf -R --files-only "rgw:bench/rclone$i" 2>/dev/null | wc -l)
	[ "$R_N" = "$P_N" ] || fail "rclone copied $R_N of $P_N objects"
done

python3 - "$LOGICAL" "$F_T" "$F_S" "$S_T" "$S_S" "$P_S" "$P_N" "$PARALLEL" "$K" "${C_T[*]}" "${R_T[*]}" <<'PY'
import sys
logical, ft, fs, st, ss, ps, pn, par, k, ct, rt = sys.argv[1:]
logical, ft, fs, st, ss, ps = int(logical), float(ft), int(fs), float(st), int(ss), int(ps)
ct = [float(x) for x in ct.split()]
rt = [float(x) for x in rt.split()]
c, r = min(ct), min(rt)
print()
print(f"{'run':34} {'time s':>8} {'logical MB/s':>13} {'stored MB':>10} {'upload MB/s':>12}")
print(f"{'ferry seed file://':34} {ft:8.2f} {logical / 1e6 / ft:13.1f} {fs / 1e6:10.1f} {'':>12}")
print(f"{'ferry seed s3:// (RGW)':34} {st:8.2f} {logical / 1e6 / st:13.1f} {ss / 1e6:10.1f} {ss / 1e6 / st:12.1f}")
for a, b in zip(ct, rt):
    print(f"{'ferryctl store copy, ' + pn + ' objects':34} {a:8.2f} {'':>13} {ps / 1e6:10.1f} {ps / 1e6 / a:12.1f}")
    print(f"{'rclone copy, same objects':34} {b:8.2f} {'':>13} {ps / 1e6:10.1f} {ps / 1e6 / b:12.1f}")
print()
print(f"ferry s3 seed vs file:// seed: {ft / st:.2f}x (target >= 0.8x), parallel = {par}")
print(f"ferry upload rate vs rclone:   {r / c:.2f}x (target >= 1x; best of two runs each, "
      f"same objects, same server)")
print(f"  the seed's own upload rate (stored bytes over the whole seed, encoding included): "
      f"{(ss / st) / (ps / r):.2f}x rclone's")
print(f"  server CPU while rclone stored {ps / 1e6:.0f} MB: {int(k) / 100:.2f} s (radosgw, ceph-osd, "
      f"ceph-mon): on 2 cores that alone is >= {int(k) / 200:.2f} s of any upload of it to this server")
PY
pass >/dev/null
