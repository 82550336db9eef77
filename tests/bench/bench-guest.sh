#!/usr/bin/env bash
# make bench-guest: what the real-guest tests cost here, and libvirt's share of it.
#   1. the test guest's build (tests/guest/build.sh) into a scratch folder: cold (the
#      packages downloaded with apt-get download), with the packages cached (the kernel
#      extracted again), with the kernel cached (only the initramfs packed), up to date;
#   2. the private libvirtd (tests/lib/libvirt.sh lv_start) until it answers and until it
#      knows QEMU's capabilities, with the tree's capability cache and with an empty one;
#   3. one guest, ROUNDS (3) times each, the median reported:
#        libvirt: agent/driver-libvirt.c start (define + power on) -> the serial line,
#                 then stop (ACPI until off), start again, hard stop, remove;
#        qemu:    the same kernel, initramfs and disk under qemu-system-x86_64 directly
#                 (-accel tcg, no libvirt) -> the serial line;
#      and the ratio libvirt / qemu of the time to the line: libvirt's overhead.
# Under TCG the guest's boot is CPU-bound: run it alone (no other benchmark at the same time) and read
# the load average it prints. Not part of the test suite.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
ROUNDS=${ROUNDS:-3}
now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. the build
out=$T/gbuild
t=$(now); lv_host_net bash "$TOP/tests/guest/build.sh" "$out" >/dev/null 2>&1 || fail "cold build"; cold=$(ms $t)
rm -rf "$out/kernel" "$out/.inputs"
t=$(now); lv_host_net bash "$TOP/tests/guest/build.sh" "$out" >/dev/null 2>&1 || fail "build"; debs=$(ms $t)
rm -f "$out/.inputs"
t=$(now); lv_host_net bash "$TOP/tests/guest/build.sh" "$out" >/dev/null 2>&1 || fail "build"; kern=$(ms $t)
t=$(now); lv_host_net bash "$TOP/tests/guest/build.sh" "$out" >/dev/null 2>&1 || fail "build"; noop=$(ms $t)
echo "guest build: cold $cold ms; packages cached $debs ms; kernel cached $kern ms; up to date $noop ms"
rm -rf "$out"

# 2. libvirtd: until it answers, and until it knows QEMU's capabilities (what the first
# domain start needs)
LV_CACHE=$TOP/build/libvirt-cache
t=$(now); lv_start; lvwarm=$(ms $t)
lv_virsh domcapabilities --virttype qemu >/dev/null || fail "domcapabilities"
lvwarmcaps=$(ms $t)
lv_stop
LV_CACHE=$T/empty-cache
t=$(now); lv_start; lvcold=$(ms $t)
lv_virsh domcapabilities --virttype qemu >/dev/null || fail "domcapabilities"
lvcoldcaps=$(ms $t)
echo "libvirtd answers / knows QEMU: warm capability cache $lvwarm / $lvwarmcaps ms," \
	"empty cache $lvcold / $lvcoldcaps ms"

# 3. one guest
guest_build
lv_net_create prod-net 10.1.0.1/24
guest_disk "$T/g.img" bench --ifupdown 10.1.0.11/24 --size 32M >/dev/null
SET=()
while IFS= read -r l; do
	k=${l%% = *}
	[ "$k" = driver ] || SET+=(-s "$k=${l#* = }")
done < <(guest_driver_settings)
drv() { "$TBIN/drvctl" -d libvirt "${SET[@]}" "$@"; }
start=() line=() stop=() hard=() qline=()
for ((r = 0; r < ROUNDS; r++)); do
	t=$(now)
	drv start bench --serial "$T/g.serial" --disk "$T/g.img" --nic prod-net,52:54:00:00:00:11 ||
		fail "start"
	start+=($(ms $t))
	guest_wait "$T/g.serial" >/dev/null || exit 1
	line+=($(ms $t))
	t=$(now); drv stop bench --timeout 60 || fail "stop"; stop+=($(ms $t))
	drv start bench --serial "$T/g.serial" --disk "$T/g.img" --nic prod-net,52:54:00:00:00:11 ||
		fail "start"
	guest_wait "$T/g.serial" >/dev/null || exit 1
	t=$(now); drv stop bench --timeout 0 --force || fail "hard stop"; hard+=($(ms $t))
	drv remove bench || fail "remove"

	: >"$T/q.serial"
	t=$(now)
	qemu-system-x86_64 -machine q35 -accel tcg -m 256 -nodefaults -display none -no-reboot \
		-kernel "$GUEST_DIR/vmlinux" -initrd "$GUEST_DIR/initrd.img" -append "$GUEST_CMDLINE" \
		-drive "file=$T/g.img,format=raw,if=virtio" -serial "file:$T/q.serial" &
	q=$!
	guest_wait "$T/q.serial" >/dev/null || exit 1
	qline+=($(ms $t))
	kill "$q"; wait "$q" 2>/dev/null
done
echo "domain start (define + power on): ${start[*]} ms, median $(median "${start[@]}") ms"
echo "start -> serial line, libvirt: ${line[*]} ms, median $(median "${line[@]}") ms"
echo "start -> serial line, qemu alone: ${qline[*]} ms, median $(median "${qline[@]}") ms"
echo "stop (ACPI until off): ${stop[*]} ms, median $(median "${stop[@]}") ms"
echo "hard stop: ${hard[*]} ms, median $(median "${hard[@]}") ms"
echo "libvirt / qemu, time to the serial line: $(echo "scale=2; $(median "${line[@]}") / $(median "${qline[@]}")" | bc)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
pass
