#!/usr/bin/env bash
# NBD as complete as nbdkit and qemu-nbd, seen through real clients:
# - nbdinfo reports CACHE, FAST_ZERO and the base:allocation meta context;
# - nbdinfo --map and qemu-img map see the primary's holes and data as they are (block
#   status from SEEK_DATA/SEEK_HOLE), after writes, a TRIM and a WRITE_ZEROES;
# - nbdcopy out of ferryd skips the holes (the copy is sparse) and is exact;
# - a FAST_ZERO WRITE_ZEROES (qemu-io write -z -n) succeeds on a file, and on a block
#   device that would have to write zeroes it fails at once with ENOTSUP and changes
#   nothing (the log stays replayable to the primary); CACHE is answered.
. "$(dirname "$0")/../lib/functions.sh"
require nbdinfo nbdcopy qemu-io qemu-img python3
write_config "$T/ferry.conf" 128M 1M vm0:"$T/vm0.raw":64M
start_ferryd "$T/ferry.conf"
URI=$NBD_URI_BASE/vm0

nbdinfo "$URI" >"$T/info" || fail "nbdinfo"
for want in "can_cache: true" "can_fast_zero: true" "can_zero: true" "base:allocation"; do
	grep -q "$want" "$T/info" || { cat "$T/info" >&2; fail "nbdinfo does not report '$want'"; }
done

# data at [1M, 3M) and [8M, 8M+64k), a trimmed hole inside the first, zeroes that punch
qemu-io -f raw -c "write -P 0x11 1M 2M" -c "write -P 0x22 8M 64k" -c "discard 2M 512k" \
	-c "write -z -u 40M 1M" -c "write -z -n 48M 64k" -c "aio_flush" "$URI" >/dev/null ||
	fail "qemu-io writes (FAST_ZERO on a file must succeed)"
nbdinfo --map "$URI" >"$T/map" || fail "nbdinfo --map"
cat "$T/map" >&2
python3 - "$T/map" <<'PY' || fail "the map does not match the primary's data"
import sys
# nbdinfo --map: "OFFSET LENGTH TYPE DESCRIPTION"; type 0 data, 3 hole+zero
data = []
for line in open(sys.argv[1]):
    off, length, typ = (int(x) for x in line.split()[:3])
    if typ & 1 == 0:
        data.append((off, off + length))
M = 1 << 20
want = [(1 * M, 2 * M), (2 * M + 512 * 1024, 3 * M), (8 * M, 8 * M + 65536)]
def covered(a, b):
    return any(s <= a and b <= e for s, e in data)
assert all(covered(a, b) for a, b in want), ("data missing", data)
assert not covered(2 * M, 2 * M + 4096), ("the trimmed range is data", data)
assert not covered(20 * M, 20 * M + 4096), ("never written, reported as data", data)
assert sum(e - s for s, e in data) < 4 * M, ("too much data", data)
PY
qemu-img map --output=json -f raw "$URI" >"$T/qmap.json" || fail "qemu-img map"
python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
d = sum(e["length"] for e in m if e["data"])
assert 0 < d < 4 << 20, m' "$T/qmap.json" || fail "qemu-img map does not see the holes"

# nbdcopy skips holes: the copy is exact and sparse
truncate -s 64M "$T/copy.raw"
nbdcopy "$URI" "$T/copy.raw" || fail "nbdcopy"
cmp "$T/copy.raw" "$T/vm0.raw" || fail "nbdcopy copy differs from the primary"
used=$(du -k "$T/copy.raw" | cut -f1)
[ "$used" -lt 8192 ] || fail "the copy is not sparse (${used} KiB allocated)"

# CACHE is answered (qemu-io has no command for it: nbdinfo asked can_cache above; libnbd's
# nbdcopy uses it when it reads ahead), and the log replays to the primary
stop_ferryd
rm -f "$T/replay.raw"; truncate -s 64M "$T/replay.raw"
ferryctl log replay -c "$T/ferry.conf" --disk vm0 -o "$T/replay.raw" || fail "log replay"
cmp "$T/replay.raw" "$T/vm0.raw" || fail "log replay differs from the primary"

# FAST_ZERO on a block device: NO_HOLE zeroes may be slow there, so they are refused fast
[ "$(id -u)" = 0 ] || skip "(block device part needs root for losetup)"
truncate -s 32M "$T/lo.img"
dev=$(losetup -f --show "$T/lo.img" 2>/dev/null) || { info "no loop device: block device part skipped"; pass; }
cleanup_fn "losetup -d $dev"
write_config "$T/bdev.conf" 128M 1M bd0:"$dev"
start_ferryd "$T/bdev.conf" "$T/ferryd.bdev.log"
qemu-io -f raw -c "write -P 0x33 0 1M" "$NBD_URI_BASE/bd0" >/dev/null || fail "write to the block device"
qemu-io -f raw -c "write -z -n 0 64k" "$NBD_URI_BASE/bd0" >"$T/fz.out" 2>&1 &&
	fail "a FAST_ZERO that would write zeroes succeeded"
grep -q "Operation not supported" "$T/fz.out" || fail "FAST_ZERO not refused with ENOTSUP: $(cat "$T/fz.out")"
qemu-io -f raw -c "read -P 0x33 0 1M" "$NBD_URI_BASE/bd0" >/dev/null || fail "the refused FAST_ZERO changed the disk"
nbdinfo --map "$NBD_URI_BASE/bd0" | grep -q "data" || fail "a block device must map as data"
stop_ferryd
pass
