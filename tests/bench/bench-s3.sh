#!/usr/bin/env bash
# make bench-s3: seeding vm-a (tests/lib/vm-images.sh, SIZE) into a local Ceph RGW vs into a
# file:// store, and `rclone copy` of the same pack files to the same RGW, in one run.
#   ferry file://  ferryd with one domain holding vm-a, encrypted file:// repository,
#                  compression auto; timed from ferryd's start until `ferryctl point --wait`
#                  returns (seed and catch-up point durable)
#   ferry s3://    the same into s3://bench/ferry on RGW (tests/lib/ceph-rgw.sh: one OSD on
#                  memstore, radosgw on 127.0.0.1), [store] parallel = PARALLEL (8)
#   rclone         `rclone copy` of the file:// repository's packs/ to s3://bench/rclone
#                  (rclone's defaults: 4 transfers, single PUTs below 200 MiB)
# Prints wall time, MB/s (1 MB = 10^6 bytes) of logical data for the seeds and of stored
# bytes for the uploads, and the ratios against the targets: ferry's S3 seed >= 0.8x its
# file:// seed; ferry's upload rate >= rclone's. Ferry's upload rate is counted as its stored
# bytes over the whole seed time (reading, chunking, compressing and encrypting included), a
# lower bound of its rate on the wire. Everything runs on this machine: RGW competes with
# ferry for the same cores. rclone is installed with apt-get when missing (as root).
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

# rclone: the packs the file:// seed wrote (same sizes and count as ferry's own uploads)
PACKS=$T/ferry-file/packs
P_N=$(find "$PACKS" -type f | wc -l)
P_S=$(du -sb --apparent-size "$PACKS" | cut -f1)
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph RCLONE_CONFIG_RGW_ENDPOINT=$RGW_ENDPOINT
export RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$RGW_AK RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$RGW_SK
export RCLONE_CONFIG_RGW_REGION=us-east-1 RCLONE_CONFIG=/dev/null
sync; cat $(find "$PACKS" -type f) >/dev/null
t0=$(now)
env -u AWS_CA_BUNDLE rclone copy --s3-no-check-bucket "$PACKS" rgw:bench/rclone/packs >"$T/rclone.log" 2>&1 ||
	{ cat "$T/rclone.log" >&2; fail "rclone copy"; }
R_T=$(elapsed "$t0" "$(now)")
R_N=$(env -u AWS_CA_BUNDLE rclone lsf -R --files-only rgw:bench/rclone/packs 2>/dev/null | wc -l)
[ "$R_N" = "$P_N" ] || fail "rclone copied $R_N of $P_N packs"

python3 - "$LOGICAL" "$F_T" "$F_S" "$S_T" "$S_S" "$R_T" "$P_S" "$P_N" "$PARALLEL" "${S_U:-0}" <<'PY'
import sys
logical, ft, fs, st, ss, rt, ps, pn, par, su = sys.argv[1:]
su = float(su) / 1000
logical, ft, fs, st, ss, rt, ps = int(logical), float(ft), int(fs), float(st), int(ss), float(rt), int(ps)
print()
print(f"{'run':26} {'time s':>8} {'logical MB/s':>13} {'stored MB':>10} {'upload MB/s':>12}")
print(f"{'ferry seed file://':26} {ft:8.2f} {logical / 1e6 / ft:13.1f} {fs / 1e6:10.1f} {'':>12}")
print(f"{'ferry seed s3:// (RGW)':26} {st:8.2f} {logical / 1e6 / st:13.1f} {ss / 1e6:10.1f} {ss / 1e6 / st:12.1f}")
print(f"{'rclone copy of ' + pn + ' packs':26} {rt:8.2f} {'':>13} {ps / 1e6:10.1f} {ps / 1e6 / rt:12.1f}")
print()
print(f"ferry s3 seed vs file:// seed: {ft / st:.2f}x (target >= 0.8x), parallel = {par}")
print(f"ferry upload rate vs rclone:   {(ss / st) / (ps / rt):.2f}x (target >= 1x), counting "
      f"ferry's whole seed time (reading and encoding included)")
if su > 0:
    print(f"                               {(ss / su) / (ps / rt):.2f}x counting only the {su:.2f} s "
          f"the seed spent in pack puts ({ss / 1e6 / su:.1f} MB/s, summed over concurrent pack uploads)")
PY
pass >/dev/null
