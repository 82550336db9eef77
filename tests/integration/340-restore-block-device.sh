#!/usr/bin/env bash
# Restoring onto a block device (issue 12 item 1): the device is written in place (no
# .part, no rename: the device node stays a device), every byte of the disk lands on it
# (compared with cmp against the point's raw restore, after filling the device with
# garbage first: holes must be zeroed), a larger device is fine and says so, a smaller one
# is an error that writes nothing, and character devices, FIFOs and directories are
# refused with a clear error and exit 2, as are other formats than raw and --resume.
# (Before the fix, a restore replaced the device node by a regular file: the teardown makes
# the loop nodes again, and the character device is the test's own node.)
. "$(dirname "$0")/../lib/functions.sh"
require losetup cmp
losetup -f >/dev/null 2>&1 || skip "no free loop device (losetup -f fails here)"

make_points 24M
S=(--store "$STORE" --key-file "$KEY" --domain dom --disk vm0)
SIZE=$(stat -c %s "$T/ref2.raw")
ferryctl restore "${S[@]}" -o "$T/r2.raw" >/dev/null || fail "raw restore"
cmp "$T/r2.raw" "$T/ref2.raw" || fail "the raw restore differs from the primary"

LOOPS=() NODES=()
# detach the loop devices; a node that a broken restore replaced by a file is made again
detach() {
	local i d
	for i in "${!LOOPS[@]}"; do
		d=${LOOPS[i]}
		[ -b "$d" ] || { rm -f "$d"; mknod "$d" b ${NODES[i]}; chgrp disk "$d"; chmod 660 "$d"; }
		losetup -d "$d" 2>/dev/null
	done
}
cleanup_fn detach
# loop DEVSIZE: dev= a loop device over a new file of DEVSIZE bytes full of garbage
loop() {
	local f=$T/lo${#LOOPS[@]}.img
	head -c "$1" /dev/urandom >"$f"
	dev=$(losetup -f --show "$f") || fail "losetup"
	LOOPS+=("$dev")
	NODES+=("$((0x$(stat -c %t "$dev"))) $((0x$(stat -c %T "$dev")))")
}

# the same size
loop "$SIZE"
ferryctl restore "${S[@]}" -o "$dev" >"$T/out" 2>"$T/err" || fail "restore onto $dev: $(cat "$T/err")"
[ -b "$dev" ] || fail "$dev is no longer a block device"
grep -q "to $dev (raw, block device)" "$T/out" || fail "result line: $(cat "$T/out")"
cmp "$dev" "$T/r2.raw" || fail "$dev differs from the raw restore"
ls "$(dirname "$dev")" | grep -q "$(basename "$dev")\.part" && fail "a .part file under /dev"
info "same size: $(cat "$T/out")"

# larger: fine, said, and the bytes past the disk are left alone
loop $((SIZE + 1048576))
tail -c 1048576 "$T/lo1.img" >"$T/tail.before"
ferryctl restore "${S[@]}" --point "$P1" -o "$dev" >"$T/out" 2>"$T/err" ||
	fail "restore onto a larger $dev: $(cat "$T/err")"
grep -q "note: $dev is $((SIZE + 1048576)) bytes, the disk $SIZE" "$T/err" ||
	fail "no note about the larger device: $(cat "$T/err")"
ferryctl restore "${S[@]}" --point "$P1" -o "$T/r1.raw" >/dev/null || fail "raw restore of $P1"
cmp -n "$SIZE" "$dev" "$T/r1.raw" || fail "$dev differs from the raw restore of $P1"
cmp <(tail -c 1048576 "$dev") "$T/tail.before" || fail "the bytes past the disk changed"
info "larger: $(cat "$T/err")"

# smaller: an error, nothing written
loop $((SIZE - 1048576))
sum=$(md5sum <"$dev")
rc=0; ferryctl restore "${S[@]}" -o "$dev" >/dev/null 2>"$T/err" || rc=$?
[ $rc = 1 ] || fail "restore onto a smaller device: exit $rc, expected 1"
grep -q "$dev is $((SIZE - 1048576)) bytes, smaller than disk vm0 ($SIZE bytes)" "$T/err" ||
	fail "message: $(cat "$T/err")"
[ "$(md5sum <"$dev")" = "$sum" ] || fail "the smaller device was written"
info "smaller: $(cat "$T/err")"

# not a regular file nor a block device; a device with another format, or --resume. The
# character device is a node of our own (/dev/null's numbers): a restore that mistook it
# for a file would replace only that node, never the system's /dev/null.
mknod "$T/chardev" c 1 3 || fail "mknod"
mkfifo "$T/fifo"
mkdir "$T/dir"
for t in "$T/chardev" "$T/fifo" "$T/dir"; do
	rc=0; ferryctl restore "${S[@]}" -o "$t" >/dev/null 2>"$T/err" || rc=$?
	[ $rc = 2 ] || fail "restore onto $t: exit $rc, expected 2"
	grep -q "$t is a .*: restore writes a regular file or a block device" "$T/err" ||
		fail "message for $t: $(cat "$T/err")"
	info "$(cat "$T/err")"
done
[ -c "$T/chardev" ] || fail "the character device is no longer one"
dev=${LOOPS[0]}
for bad in "--format vmdk" "--resume"; do
	rc=0; ferryctl restore "${S[@]}" $bad -o "$dev" >/dev/null 2>"$T/err" || rc=$?
	[ $rc = 2 ] || fail "restore $bad onto $dev: exit $rc, expected 2"
	info "$(cat "$T/err")"
done
cmp "$dev" "$T/r2.raw" || fail "a refused restore changed $dev"
pass
