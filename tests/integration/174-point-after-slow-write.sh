#!/usr/bin/env bash
# A point requested after a write was acknowledged holds that write, even while an older
# write is still on its way to the primary. Domain dom has two disks: vm0 is a file on a
# FUSE mount (nbdfuse) of an nbdkit eval plugin whose writes into the first MiB take 3 s,
# vm1 a plain file. A 1 MiB write at 0 on vm0 (the engine's workers run it) is still in
# flight when a 4 KiB write on vm1 is acknowledged; the point asked for then must hold the
# 4 KiB write (and the 1 MiB one, which the cut waits for). Before the cut waited for
# records to settle, the point was cut below the slow write and left the acknowledged one
# out. (Two disks: the kernel serializes writes to one FUSE file.)
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io nbdkit nbdfuse python3
[ "$(id -u)" = 0 ] || skip "needs root to mount a FUSE file system"
[ -c /dev/fuse ] || skip "no /dev/fuse"
nbdkit --dump-plugin eval >/dev/null 2>&1 || skip "nbdkit's eval plugin is missing"

# the slow disk: 32 MiB in $T/back.raw; writes that start in the first MiB sleep 3 s
truncate -s 32M "$T/back.raw"
cat >"$T/pwrite.sh" <<EOF
#!/bin/sh
# nbdkit eval pwrite: \$3 count, \$4 offset, the data on stdin
if [ "\$4" -lt 1048576 ]; then : >"$T/slow-write"; sleep 3; fi
exec dd of="$T/back.raw" bs=64k seek="\$4" count="\$3" oflag=seek_bytes \\
	iflag=count_bytes,fullblock conv=notrunc status=none
EOF
chmod +x "$T/pwrite.sh"
nbdkit -f -U "$T/nbdkit.sock" eval get_size='echo 33554432' \
	pread="dd if='$T/back.raw' bs=64k skip=\$4 count=\$3 iflag=skip_bytes,count_bytes,fullblock status=none" \
	pwrite="'$T/pwrite.sh' \"\$@\"" flush=true >"$T/nbdkit.log" 2>&1 &
_pids+=($!)
wait_for 20 test -S "$T/nbdkit.sock" || fail "nbdkit did not start: $(cat "$T/nbdkit.log")"
mkdir -p "$T/mnt"
nbdfuse "$T/mnt" "nbd+unix:///?socket=$T/nbdkit.sock" >"$T/nbdfuse.log" 2>&1 &
_pids+=($!)
cleanup_fn "umount -l '$T/mnt' 2>/dev/null"
wait_for 20 test -e "$T/mnt/nbd" || skip "nbdfuse cannot mount here: $(cat "$T/nbdfuse.log")"

write_config "$T/ferry.conf" 64M 1M vm0:"$T/mnt/nbd" vm1:"$T/vm1.raw":32M
store_config "$T/ferry.conf" 1h
start_ferryd "$T/ferry.conf"
URI=$NBD_URI_BASE/vm0
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "seed point"
# a first write: from then on the log knows which records have settled
qemu-io -f raw -c "write -P 0x33 8M 4k" "$NBD_URI_BASE/vm1" >/dev/null || fail "a first write"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "a consistent point"

# the slow 1 MiB write on vm0 in flight, then the quick 4 KiB one on vm1
qemu-io -f raw -c "write -P 0x11 0 1M" "$URI" >"$T/qio0.out" 2>&1 &
QIO=$!
wait_for 20 test -e "$T/slow-write" || fail "the slow write never reached the disk"
qemu-io -f raw -c "write -P 0x22 2M 4k" "$NBD_URI_BASE/vm1" >"$T/qio1.out" 2>&1 ||
	fail "the 4 KiB write on vm1: $(cat "$T/qio1.out")"
kill -0 $QIO 2>/dev/null || skip "the slow write was done before the quick one: the disk is not slow here"
p=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "the point asked for after the ack"
wait $QIO || fail "qemu-io on vm0: $(cat "$T/qio0.out")"
info "point $p asked for while the 1 MiB write was in flight"

ferryctl points --store "$STORE" --key-file "$KEY" --domain dom --json >"$T/points.json" || fail "points"
python3 - "$T/points.json" "$p" <<'PY' || fail "point $p is not consistent"
import json, sys
sys.exit(0 if [x for x in json.load(open(sys.argv[1])) if x["id"] == sys.argv[2]][0]["consistent"] else 1)
PY
for d in vm0 vm1; do
	ferryctl restore --store "$STORE" --key-file "$KEY" --domain dom --disk $d --point "$p" \
		--format raw -o "$T/r.$d.raw" >/dev/null || fail "restore of $p ($d)"
done
# holds(FILE OFFSET LENGTH BYTE): the file holds LENGTH bytes of BYTE at OFFSET
holds() {
	python3 -c 'import sys
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2])); n = int(sys.argv[3])
sys.exit(0 if f.read(n) == bytes([int(sys.argv[4], 0)]) * n else 1)' "$@"
}
holds "$T/r.vm1.raw" $((2 << 20)) 4096 0x22 ||
	fail "point $p lacks the 4 KiB write acknowledged before it was asked for"
holds "$T/r.vm0.raw" 0 $((1 << 20)) 0x11 ||
	fail "point $p lacks the 1 MiB write that was in flight (the cut waits for it)"
holds "$T/r.vm1.raw" $((8 << 20)) 4096 0x33 || fail "point $p lacks the first write"
stop_ferryd
pass
