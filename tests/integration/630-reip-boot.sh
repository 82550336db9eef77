#!/usr/bin/env bash
# Re-IP proven by booting: the project's test guest (tests/guest/) on disks configured for
# the protected site (10.1.0.1N/24, gateway 10.1.0.1, DNS 10.1.0.53), one per network
# configuration format (netplan, NetworkManager, systemd-networkd, ifupdown), each disk
# Re-IP'd with `10.1.*.* -> 10.2.*.*` by `ferryctl reip` (the netplan one as a
# monolithicSparse VMDK, edited in place), then booted under the private libvirt on the
# recovery network 10.2.0.0/24. Each guest reports the new address, gateway and DNS on its
# serial console from the file Re-IP edited, and answers with that line on TCP 7000 at
# its new address. After an ACPI shutdown its disk passes e2fsck -fn (qemu-img check for
# the VMDK).
# A crashed guest too: one booted with its disk kept read-write (ferry.rw) and powered off
# hard, so its ext4 is left needing recovery, as in any point of a running VM; Re-IP
# replays the kernel's journal, and the second boot comes up at the new address with the
# first boot's log line (written before the crash) still on its disk.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
require debugfs e2fsck mkfs.ext4 qemu-img timeout

guest_build
lv_start
lv_net_create dr-net 10.2.0.1/24

# ---- the crashed guest's first life, at its old address ----
CRASH_MAC=52:54:00:00:00:39
guest_disk "$T/crash.img" g-crash --ifupdown 10.1.0.19/24 --gw 10.1.0.1 --mac $CRASH_MAC \
	--size 32M >/dev/null
cmdline=$GUEST_CMDLINE
GUEST_CMDLINE="$cmdline ferry.rw"
guest_start g-crash "$T/crash1.serial" "$T/crash.img" --net dr-net $CRASH_MAC
GUEST_CMDLINE=$cmdline
first=$(guest_wait "$T/crash1.serial") || exit 1
[ "$(guest_field "$first" ip)" = 10.1.0.19/24 ] || fail "crash guest: $first"
lv_virsh destroy g-crash >/dev/null || fail "virsh destroy g-crash"
lv_virsh undefine g-crash >/dev/null || fail "virsh undefine g-crash"
dumpe2fs -h "$T/crash.img" 2>/dev/null | grep -q needs_recovery ||
	fail "the crashed guest's file system does not need recovery: the test proves nothing"
ferryctl reip --image "$T/crash.img" --rule '10.1.*.* -> 10.2.*.*' \
	--nic "prod-net $CRASH_MAC static 10.1.0.19/24 gw 10.1.0.1" >"$T/crash.reip" ||
	fail "reip crash: $(cat "$T/crash.reip")"
info "crash: $(cat "$T/crash.reip")"
dumpe2fs -h "$T/crash.img" 2>/dev/null | grep -q needs_recovery && fail "needs_recovery left set"
e2fsck -fn "$T/crash.img" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log" >&2; fail "crash: e2fsck -fn"; }
guest_start g-crash "$T/crash2.serial" "$T/crash.img" --net dr-net $CRASH_MAC

FORMATS=(netplan networkmanager networkd ifupdown)
i=0
for f in "${FORMATS[@]}"; do
	i=$((i + 1))
	mac=52:54:00:00:00:3$i
	guest_disk "$T/$f.img" "g-$f" --$f 10.1.0.1$i/24 --gw 10.1.0.1 --dns 10.1.0.53 --mac $mac \
		--size 32M >/dev/null
	disk=$T/$f.img fmt=raw
	if [ $f = netplan ]; then	# through a sparse VMDK, as a restore writes it
		qemu-img convert -f raw -O vmdk "$T/$f.img" "$T/$f.vmdk" || fail "qemu-img convert"
		disk=$T/$f.vmdk fmt=vmdk
	fi
	ferryctl reip --image "$disk" --format $fmt --rule '10.1.*.* -> 10.2.*.*' \
		--nic "prod-net $mac static 10.1.0.1$i/24 gw 10.1.0.1 dns 10.1.0.53" >"$T/$f.reip" ||
		fail "reip $f: $(cat "$T/$f.reip")"
	info "$f: $(cat "$T/$f.reip")"
	grep -q "10.1.0.1$i/24 -> 10.2.0.1$i/24" "$T/$f.reip" || fail "$f: $(cat "$T/$f.reip")"
	guest_start "g-$f" "$T/$f.serial" "$disk" --net dr-net $mac
done
declare -A line
for f in "${FORMATS[@]}"; do
	line[$f]=$(guest_wait "$T/$f.serial") || exit 1
	info "$f: ${line[$f]}"
done
second=$(guest_wait "$T/crash2.serial") || exit 1
info "crash: $second"
[ "$(guest_field "$second" ip)" = 10.2.0.19/24 ] && [ "$(guest_field "$second" gw)" = 10.2.0.1 ] &&
	[ "$(guest_field "$second" boot)" = 2 ] || fail "the crashed guest's second boot: $second"
i=0
for f in "${FORMATS[@]}"; do
	i=$((i + 1))
	l=${line[$f]}
	[ "$(guest_field "$l" ip)" = 10.2.0.1$i/24 ] || fail "$f: the guest came up with $l"
	[ "$(guest_field "$l" gw)" = 10.2.0.1 ] || fail "$f: gateway: $l"
	[ "$(guest_field "$l" dns)" = 10.2.0.53 ] || fail "$f: dns: $l"
	[[ $(guest_field "$l" cfg) == $f:/etc/* ]] || fail "$f: configured by $(guest_field "$l" cfg)"
	got=$(guest_tcp 10.2.0.1$i) || fail "$f: nothing on 10.2.0.1$i:$GUEST_PORT"
	[ "$got" = "$l" ] || fail "$f: TCP says '$got', the console '$l'"
done
for f in "${FORMATS[@]}" crash; do guest_shutdown "g-$f"; done
grep -qF "$first up=" <<<"$(guest_log "$T/crash.img")" ||
	fail "the first boot's line (written before the crash) is not on the disk: $(guest_log "$T/crash.img")"
for f in "${FORMATS[@]}"; do
	img=$T/$f.img
	if [ $f = netplan ]; then
		qemu-img check -q "$T/$f.vmdk" || fail "qemu-img check $f.vmdk"
		qemu-img convert -O raw "$T/$f.vmdk" "$img"
	fi
	grep -qF "${line[$f]} up=" <<<"$(guest_log "$img")" || fail "$f: the boot line is not on the disk"
	e2fsck -fn "$img" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log" >&2; fail "$f: e2fsck -fn"; }
done
pass
