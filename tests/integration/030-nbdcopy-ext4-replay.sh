#!/usr/bin/env bash
# Acceptance 2: nbdcopy an ext4 image (mkfs.ext4 -d) into an export: the primary equals the
# image, and replaying the log from the start onto a zero file reproduces the primary.
. "$(dirname "$0")/../lib/functions.sh"
require nbdcopy mkfs.ext4 qemu-img

mkdir -p "$T/tree"
make_tree "$T/tree" 48
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.img" 96M || fail "mkfs.ext4"
write_config "$T/ferry.conf" 256M 1M fs0:"$T/fs0.raw":96M
start_ferryd "$T/ferry.conf"
nbdcopy --flush "$T/fs.img" "$NBD_URI_BASE/fs0" || fail "nbdcopy"
qemu-img compare -f raw -F raw "$T/fs.img" "$NBD_URI_BASE/fs0" || fail "export differs from image"
ferryctl status -c "$T/ferry.conf" | tee "$T/status" >&2
grep -q '^fs0 ' "$T/status" || fail "status does not list the export"
stop_ferryd
qemu-img compare -f raw -F raw "$T/fs.img" "$T/fs0.raw" || fail "primary differs from image"
ferryctl log verify -c "$T/ferry.conf" || fail "log verify"
truncate -s 96M "$T/replay.raw"
ferryctl log replay -c "$T/ferry.conf" --disk fs0 -o "$T/replay.raw" || fail "log replay"
cmp "$T/fs0.raw" "$T/replay.raw" || fail "log replay differs from primary"
e2fsck -fn "$T/replay.raw" >/dev/null 2>&1 || fail "replayed filesystem does not check clean"
pass
