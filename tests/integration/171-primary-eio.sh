#!/usr/bin/env bash
# The EIO case of 170: the primary is a file on a small ext4 (loop-mounted image) that is
# shut down under ferryd (FS_IOC_SHUTDOWN, as a failing disk would take it down): the next
# write gets EIO. No point may then hold it; after the file system is repaired (unmount,
# mount) and ferryd restarted, the newest consistent point equals the primary byte for
# byte. (device-mapper's error target would do too, but this kernel has no device-mapper.)
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io qemu-img python3 mkfs.ext4
[ "$(id -u)" = 0 ] || skip "needs root to mount a file system image"
mkfs.ext4 -q -F "$T/fs.img" 96M || fail "mkfs.ext4"
mkdir -p "$T/mnt"
mount -o loop "$T/fs.img" "$T/mnt" || skip "cannot loop-mount a file system image here"
cleanup_fn "umount -l '$T/mnt'"
write_config "$T/ferry.conf" 64M 1M vm0:"$T/mnt/vm0.raw":32M
store_config "$T/ferry.conf" 1h
start_ferryd "$T/ferry.conf"
URI=$NBD_URI_BASE/vm0
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "seed point"
qemu-io -f raw -c "write -P 0x11 0 1M" "$URI" >/dev/null || fail "a write before the failure"

# the disk fails: the file system is shut down (after flushing what it holds)
python3 -c 'import fcntl, os, struct, sys
fcntl.ioctl(os.open(sys.argv[1], os.O_RDONLY), 0x8004587d, struct.pack("I", 0))' "$T/mnt" ||
	skip "FS_IOC_SHUTDOWN refused"
qemu-io -f raw -c "write -P 0x22 4M 2M" "$URI" >"$T/qio.out" 2>&1 && fail "a write onto a dead file system succeeded"
grep -q "Input/output error" "$T/qio.out" || fail "qemu-io did not see EIO: $(cat "$T/qio.out")"
info "the write failed as it should: $(grep -m1 'error' "$T/qio.out")"
# no point can be made now (the extent must be re-read from the primary, which fails)
ferryctl point -c "$T/ferry.conf" --domain dom --wait >"$T/point.out" 2>&1 &&
	fail "a point was stored while the primary could not be read: $(cat "$T/point.out")"
stop_ferryd

# repair: unmount, mount again (the journal is replayed), restart
umount "$T/mnt" || fail "umount"
mount -o loop "$T/fs.img" "$T/mnt" || fail "mounting again"
start_ferryd "$T/ferry.conf" "$T/ferryd.2.log"
qemu-io -f raw -c "write -P 0x33 8M 1M" "$URI" >/dev/null || fail "a write after the repair"
wait_for 60 newest_point_consistent "$T/ferry.conf" || { cat "$T/points.json" "$T/ferryd.2.log" >&2; fail "no consistent point in 60 s"; }
stop_ferryd
ferryctl restore --store "$STORE" --key-file "$KEY" --domain dom --disk vm0 --format raw \
	-o "$T/r.raw" || fail "restore"
qemu-img compare -f raw -F raw "$T/r.raw" "$T/mnt/vm0.raw" >&2 ||
	fail "the newest consistent point differs from the primary"
pass
