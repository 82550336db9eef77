#!/usr/bin/env bash
# A write that fails on the primary must not reach the replica. The primary lives on a
# tmpfs of 8 MiB: a 16 MiB write gets ENOSPC part of the way (the primary holds its first
# part, the log its whole record). After the file system grows again, the newest consistent
# point equals the primary byte for byte.
# (EIO, a file system shut down under the primary: 171-primary-eio.sh.)
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io python3
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
mkdir -p "$T/small"
mount -t tmpfs -o size=8M ferry-test "$T/small" || skip "cannot mount a tmpfs here"
cleanup_fn "umount -l '$T/small'"
write_config "$T/ferry.conf" 64M 1M vm0:"$T/small/vm0.raw":64M
store_config "$T/ferry.conf" 1h
start_ferryd "$T/ferry.conf"
URI=$NBD_URI_BASE/vm0
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "seed point"

qemu-io -f raw -c "write -P 0x11 0 4M" "$URI" >/dev/null || fail "a write that fits failed"
qemu-io -f raw -c "write -P 0x22 4M 16M" "$URI" >"$T/qio.out" 2>&1 && fail "a 16 MiB write onto 4 MiB of free space succeeded"
grep -q "No space left on device" "$T/qio.out" || fail "qemu-io did not see ENOSPC: $(cat "$T/qio.out")"
info "the write failed as it should: $(grep -m1 'No space' "$T/qio.out")"
# a point right after the failure must not claim consistency with the failed data in it
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "point after the failure"

mount -o remount,size=128M "$T/small" || fail "growing the tmpfs"
qemu-io -f raw -c "write -P 0x33 32M 1M" "$URI" >/dev/null || fail "a write after the disk has room failed"

wait_for 60 newest_point_consistent "$T/ferry.conf" || { cat "$T/points.json" >&2; fail "no consistent point in 60 s"; }
ferryctl restore --store "$STORE" --key-file "$KEY" --domain dom --disk vm0 --format raw \
	-o "$T/r.raw" || fail "restore"
cmp "$T/r.raw" "$T/small/vm0.raw" >&2 ||
	fail "the newest consistent point differs from the primary"
# no consistent point holds data the primary never had: [4M, 20M) (written only by the
# failed write) is in each as it was before (zeroes) or as it is in the primary now
stop_ferryd
python3 -c 'import json, sys
for p in json.load(open(sys.argv[1])):
    if p["consistent"]: print(p["id"])' "$T/points.json" >"$T/consistent"
dd if="$T/small/vm0.raw" of="$T/want" bs=1M skip=4 count=16 status=none
while read -r id; do
	rm -f "$T/p.raw"
	ferryctl restore --store "$STORE" --key-file "$KEY" --domain dom --disk vm0 --point "$id" \
		--format raw -o "$T/p.raw" >/dev/null || fail "restore $id"
	dd if="$T/p.raw" of="$T/got" bs=1M skip=4 count=16 status=none
	cmp -s "$T/want" "$T/got" || cmp -s -n 16M /dev/zero "$T/got" ||
		fail "consistent point $id holds data of the failed write the primary does not have"
done <"$T/consistent"
info "$(wc -l <"$T/consistent") consistent points checked"
pass
