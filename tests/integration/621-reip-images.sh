#!/usr/bin/env bash
# Re-IP through every kind of disk image the recovery site produces: a raw file, a block
# device (loop), an MBR disk whose root is a logical partition after a /boot partition
# without /etc, a GPT disk, monolithicSparse VMDKs written by ferry and by qemu-img
# (edited in place: qemu-img check passes and the content is right), a monolithicFlat VMDK
# (its extent edited). A crash-consistent guest (a journal transaction that the guest's
# kernel would replay, made with debugfs's journal writer) is replayed first: the
# description's address is only in the journal. streamOptimized and LVM are refused with
# the reason, leaving the image as it was. Every result: debugfs reads the new file,
# e2fsck -fn passes.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/reip.sh"
require mkfs.ext4 debugfs e2fsck sfdisk qemu-img
VMDK_TOOL=$TBIN/vmdk-tool
[ -x "$VMDK_TOOL" ] || fail "build the tests first ($VMDK_TOOL missing)"
P1=$((1024 * 1024)) P5=$((12288 * 512)) PG=$((6144 * 512))

guest_tree "$T/root" netplan
mkfs.ext4 -q -F -d "$T/root" "$T/fs.img" 32M || fail mkfs
mkfs.ext4 -q -F "$T/boot.img" 4M || fail mkfs

reip() {	# IMG FORMAT [NIC]
	ferryctl reip --image "$1" --format "$2" --rule "$REIP_RULE" --nic "${3:-$REIP_NIC}" \
		>"$T/out" 2>"$T/err"
}

check() {	# RAW-IMAGE OFFSET: the edited netplan file and a clean file system there
	local img="$1?offset=$2"
	guest_cat "$img" /etc/netplan/50-cloud-init.yaml | grep -q 'addresses: \[10.2.0.11/24\]' ||
		fail "$1 at $2: the file is not edited: $(guest_cat "$img" /etc/netplan/50-cloud-init.yaml)"
	e2fsck -fn "$img" >"$T/fsck" 2>&1 || fail "e2fsck -fn $img: $(cat "$T/fsck")"
}

# an MBR disk: 1 = /boot (ext4, no /etc), 2 = extended holding logical 5 = the root
mbr_disk() {	# OUT ROOT-FS
	truncate -s 48M "$1"
	printf 'label: dos\nstart=2048, size=8192, type=83\nstart=10240, size=86016, type=5\nstart=12288, size=65536, type=83\n' |
		sfdisk -q "$1" || fail "sfdisk"
	dd if="$T/boot.img" of="$1" bs=512 seek=2048 conv=notrunc status=none
	dd if="$2" of="$1" bs=512 seek=12288 conv=notrunc status=none
}

# ---- raw, MBR ----
mbr_disk "$T/mbr.raw" "$T/fs.img"
reip "$T/mbr.raw" raw || fail "mbr: $(cat "$T/err")"
grep -q "^ext file system on MBR partition 5; netplan /etc/netplan/50-cloud-init.yaml: 52:54:00:12:34:56 10.1.0.11/24 -> 10.2.0.11/24" "$T/out" ||
	fail "mbr detail: $(cat "$T/out")"
check "$T/mbr.raw" $P5
e2fsck -fn "$T/mbr.raw?offset=$P1" >/dev/null 2>&1 || fail "/boot damaged"

# ---- raw, GPT ----
truncate -s 48M "$T/gpt.raw"
printf 'label: gpt\nstart=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=6144, size=65536, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' |
	sfdisk -q "$T/gpt.raw" || fail sfdisk
dd if="$T/fs.img" of="$T/gpt.raw" bs=512 seek=6144 conv=notrunc status=none
reip "$T/gpt.raw" raw || fail "gpt: $(cat "$T/err")"
grep -q "^ext file system on GPT partition 2;" "$T/out" || fail "gpt detail: $(cat "$T/out")"
check "$T/gpt.raw" $PG

# ---- a block device ----
if loop=$(losetup -f --show "$T/fs.img" 2>/dev/null); then
	cleanup_fn "losetup -d $loop 2>/dev/null"
	cp "$T/fs.img" "$T/fs.orig"
	reip "$loop" raw || fail "block device: $(cat "$T/err")"
	sync
	losetup -d "$loop"
	check "$T/fs.img" 0
	cp "$T/fs.orig" "$T/fs.img"
else
	info "losetup not available here: block device case not run"
fi

# ---- monolithicSparse by ferry's writer, and by qemu-img ----
mbr_disk "$T/m2.raw" "$T/fs.img"
"$VMDK_TOOL" write sparse "$T/m2.raw" "$T/ferry.vmdk" || fail "vmdk-tool write sparse"
qemu-img convert -f raw -O vmdk "$T/m2.raw" "$T/qemu.vmdk" || fail "qemu-img convert"
for v in ferry qemu; do
	reip "$T/$v.vmdk" vmdk || fail "$v sparse: $(cat "$T/err")"
	qemu-img check -q "$T/$v.vmdk" || fail "qemu-img check $v.vmdk"
	qemu-img convert -O raw "$T/$v.vmdk" "$T/$v.back" || fail "qemu-img convert $v"
	check "$T/$v.back" $P5
	# everything outside the root partition is what it was
	cmp -n $P5 "$T/$v.back" "$T/m2.raw" || fail "$v: bytes before the root partition changed"
	rm -f "$T/$v.back"
done

# ---- monolithicFlat (ferry's writer): its extent is the disk ----
"$VMDK_TOOL" write flat "$T/m2.raw" "$T/flat.vmdk" || fail "vmdk-tool write flat"
reip "$T/flat.vmdk" vmdk || fail "flat: $(cat "$T/err")"
qemu-img check -q "$T/flat.vmdk" 2>/dev/null; rc=$?
[ $rc = 0 ] || [ $rc = 63 ] || fail "qemu-img check flat.vmdk: $rc"	# 63: no check for flat
check "$T/flat-flat.vmdk" $P5

# ---- a crash-consistent guest: the address only in the journal, in a sparse VMDK ----
cp "$T/fs.img" "$T/crash.img"
blk=$(debugfs -R "stat /etc/netplan/50-cloud-init.yaml" "$T/crash.img" 2>/dev/null | grep -A1 EXTENTS | tail -1 | sed 's/.*://')
sed 's/10\.1\.0\.11/10.1.0.12/' "$T/root/etc/netplan/50-cloud-init.yaml" >"$T/newblk"
truncate -s 4096 "$T/newblk"
printf 'jo -c\njw -b %s %s\njc\n' "$blk" "$T/newblk" | debugfs -w -f - "$T/crash.img" >/dev/null 2>&1
dumpe2fs -h "$T/crash.img" 2>/dev/null | grep -q needs_recovery || fail "debugfs made no journal"
mbr_disk "$T/crash.raw" "$T/crash.img"
"$VMDK_TOOL" write sparse "$T/crash.raw" "$T/crash.vmdk" || fail "vmdk-tool"
reip "$T/crash.vmdk" vmdk "${REIP_NIC/10.1.0.11/10.1.0.12}" || fail "crash: $(cat "$T/err")"
grep -qF "ext file system on MBR partition 5 (journal replayed: 1 transactions); netplan /etc/netplan/50-cloud-init.yaml: 52:54:00:12:34:56 10.1.0.12/24 -> 10.2.0.12/24" "$T/out" ||
	fail "crash detail: $(cat "$T/out")"
qemu-img check -q "$T/crash.vmdk" || fail "qemu-img check crash.vmdk"
qemu-img convert -O raw "$T/crash.vmdk" "$T/crash.back"
guest_cat "$T/crash.back?offset=$P5" /etc/netplan/50-cloud-init.yaml | grep -q 'addresses: \[10.2.0.12/24\]' ||
	fail "crash: not edited"
e2fsck -fn "$T/crash.back?offset=$P5" >"$T/fsck" 2>&1 || fail "crash: e2fsck: $(cat "$T/fsck")"
dumpe2fs -h "$T/crash.back?offset=$P5" 2>/dev/null | grep -q needs_recovery && fail "crash: needs_recovery left"

# ---- refused: streamOptimized, LVM; the images stay as they were ----
"$VMDK_TOOL" write stream "$T/m2.raw" "$T/stream.vmdk" || fail "vmdk-tool write stream"
cp "$T/stream.vmdk" "$T/stream.orig"
reip "$T/stream.vmdk" vmdk && fail "streamOptimized accepted"
grep -q "compressed (streamOptimized) VMDK cannot be written in place" "$T/err" || fail "stream: $(cat "$T/err")"
cmp -s "$T/stream.vmdk" "$T/stream.orig" || fail "stream image changed"
truncate -s 8M "$T/lvm.raw"
printf 'label: dos\nstart=2048, size=8192, type=8e\n' | sfdisk -q "$T/lvm.raw"
reip "$T/lvm.raw" raw && fail "LVM accepted"
grep -qF "no Linux root file system (ext2/3/4 with /etc) on the raw disk: MBR partition 1 is LVM (not read)" "$T/err" ||
	fail "lvm: $(cat "$T/err")"
reip "$T/nonexistent.raw" raw && fail "a missing image"
grep -qF "$T/nonexistent.raw: No such file or directory" "$T/err" || fail "missing: $(cat "$T/err")"
pass
