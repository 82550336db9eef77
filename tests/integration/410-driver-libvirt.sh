#!/usr/bin/env bash
# The libvirt driver (agent/driver-libvirt.c) against the real private libvirtd, booting
# the real test guest, through drvctl (each call as ferry-agent makes it):
#  - probe; probe of an unreachable daemon and of a domain type it cannot run: clear errors;
#  - isolated networks: create (idempotent; the host's address on the bridge, no
#    forwarding), exists, another definition refused, remove (idempotent), and the
#    operator's network is never removed;
#  - five VMs at once, each with its serial console in a file: a raw file disk, a VMDK,
#    an NBD export of a running ferryd over TCP, an NBD export over a unix socket
#    (nbdkit), and a UEFI VM (OVMF, secure boot off); each reports its disk's config and
#    answers on its address; removing the UEFI VM removes its NVRAM file;
#  - start again while running: nothing changes (same QEMU); with another definition:
#    refused; stop (ACPI: the guest logs its STOP line on its disk), state, stop again;
#    start of a VM that is off boots it again; stop --force --timeout 0 is a hard stop;
#    remove, twice; an operator's VM is neither replaced nor removed;
#  - error paths: a missing network and a missing NBD server fail with libvirt's reason
#    and leave nothing defined.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
require debugfs e2fsck qemu-img nbdkit timeout
[ -d /usr/share/OVMF ] || skip "ovmf not installed (run tools/install-deps.sh)"
DRV=$TBIN/drvctl
[ -x "$DRV" ] || fail "build/tests/drvctl missing (make tests)"

guest_build
lv_start
lv_net_create prod-net 10.1.0.1/24
SET=()
while IFS= read -r l; do
	k=${l%% = *}
	[ "$k" = driver ] || SET+=(-s "$k=${l#* = }")
done < <(guest_driver_settings)
drv() { "$DRV" -d libvirt "${SET[@]}" "$@"; }
# UEFI: OVMF boots the compressed kernel (its EFI stub), not the PVH vmlinux
drv_uefi() {
	"$DRV" -d libvirt -s "uri=$LV_URI" -s domain_type=qemu -s machine=q35 -s graphics=none \
		-s secure_boot=no -s "kernel=$GUEST_DIR/vmlinuz" -s "initrd=$GUEST_DIR/initrd.img" \
		-s "cmdline=$GUEST_CMDLINE" "$@"
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# --- probe and settings ----------------------------------------------------------------
drv probe || fail "probe"
expect_err ECONNREFUSED "$T/nowhere" "$DRV" -d libvirt -s "uri=qemu:///system?socket=$T/nowhere" probe
expect_err EINVAL "warp" "$DRV" -d libvirt -s "uri=$LV_URI" -s domain_type=warp probe
out=$("$DRV" -d libvirt -s colour=blue probe 2>&1) && fail "an unknown key was accepted"
grep -q "unknown \[hypervisor\] key 'colour'" <<<"$out" || fail "unknown key: $out"

# --- isolated networks -----------------------------------------------------------------
drv net-exists prod-net || fail "prod-net not found"
expect_err ENOENT "no-such-net" drv net-exists no-such-net
drv net-create drill-net 10.9.0.1/24 || fail "net-create"
drv net-create drill-net 10.9.0.1/24 || fail "net-create again"
drv net-exists drill-net || fail "drill-net not found"
lv_virsh net-dumpxml drill-net >"$T/drill.xml"
grep -q '<forward' "$T/drill.xml" && fail "the isolated network forwards: $(cat "$T/drill.xml")"
br=$(sed -n "s/.*<bridge name='\([^']*\)'.*/\1/p" "$T/drill.xml")
ip -br addr show dev "$br" | grep -q '10\.9\.0\.1/24' || fail "the host has no 10.9.0.1 on $br"
expect_err EEXIST "another definition" drv net-create drill-net 10.9.1.1/24
expect_err EPERM "not created by ferry-agent" drv net-remove prod-net
lv_virsh net-list --name | grep -qx prod-net || fail "prod-net is gone"
drv net-create drill-bare || fail "net-create without a host address"
drv net-remove drill-bare || fail "net-remove drill-bare"
drv net-remove drill-net || fail "net-remove"
drv net-remove drill-net || fail "net-remove again"
expect_err ENOENT "drill-net" drv net-exists drill-net
ip link show "$br" >/dev/null 2>&1 && fail "bridge $br is still there"

# --- four VMs --------------------------------------------------------------------------
want_a=$(guest_disk "$T/a.img" vm-a --netplan 10.1.0.21/24 --gw 10.1.0.1 --size 32M)
guest_disk "$T/b.raw" vm-b --ifupdown 10.1.0.22/24 --gw 10.1.0.1 --size 32M >/dev/null
qemu-img convert -f raw -O vmdk "$T/b.raw" "$T/b.vmdk" || fail "qemu-img convert"
guest_disk "$T/c.img" vm-c --networkd 10.1.0.23/24 --size 32M >/dev/null
guest_disk "$T/d.img" vm-d --networkmanager 10.1.0.24/24 --size 32M >/dev/null
guest_disk "$T/e.img" vm-e --netplan 10.1.0.25/24 --size 32M >/dev/null
write_config "$T/ferry.conf" 64M 1M vmc:"$T/c.img"
start_ferryd "$T/ferry.conf"
nbdkit -f -U "$T/nbdkit.sock" -P "$T/nbdkit.pid" file "$T/d.img" >"$T/nbdkit.log" 2>&1 &
_pids+=($!)
wait_for 10 test -S "$T/nbdkit.sock" || fail "nbdkit did not start"

t0=$(date +%s%N)
drv start vm-a --serial "$T/a.serial" --disk "$T/a.img" --nic prod-net,52:54:00:00:01:21 ||
	fail "start vm-a"
info "start (define + power on): $(ms $t0) ms"
drv start vm-b --serial "$T/b.serial" --disk "$T/b.vmdk:vmdk" --nic prod-net,52:54:00:00:01:22 ||
	fail "start vm-b"
drv start vm-c --serial "$T/c.serial" --disk "$NBD_URI_BASE/vmc" --nic prod-net,52:54:00:00:01:23 ||
	fail "start vm-c"
drv start vm-d --serial "$T/d.serial" --disk "nbd+unix:///d?socket=$T/nbdkit.sock" \
	--nic prod-net,52:54:00:00:01:24 || fail "start vm-d"
drv_uefi start vm-e --uefi --serial "$T/e.serial" --disk "$T/e.img" --nic prod-net,52:54:00:00:01:25 ||
	fail "start vm-e"
lv_virsh dumpxml vm-e | grep -q '<loader .*OVMF' || fail "vm-e does not boot OVMF"
declare -A line
for v in a b c d e; do
	line[$v]=$(guest_wait "$T/$v.serial") || exit 1
	info "vm-$v after $(ms $t0) ms: ${line[$v]}"
done
[ "$(guest_field "${line[a]}" id)" = "$(guest_field "$want_a" id)" ] || fail "vm-a booted another disk"
for v in a b c d e; do
	n=$(( $(printf %d "'$v") - 76 ))	# a -> 21 ... e -> 25
	[ "$(guest_field "${line[$v]}" ip)" = "10.1.0.$n/24" ] || fail "vm-$v: ${line[$v]}"
	[ "$(guest_tcp 10.1.0.$n)" = "${line[$v]}" ] || fail "vm-$v does not answer on 10.1.0.$n"
done
[ "$(drv state vm-a)" = running ] || fail "state of vm-a: $(drv state vm-a)"
[ "$(drv state vm-zz)" = absent ] || fail "state of a missing VM"

# idempotent start; another definition refused
id=$(lv_virsh domid vm-a)
drv start vm-a --serial "$T/a.serial" --disk "$T/a.img" --nic prod-net,52:54:00:00:01:21 ||
	fail "start again"
[ "$(lv_virsh domid vm-a)" = "$id" ] || fail "start again restarted vm-a"
grep -q '^FERRY-GUEST ' "$T/a.serial" || fail "start again truncated the serial log"
expect_err EEXIST "another definition" drv start vm-a --serial "$T/a.serial" --disk "$T/a.img" \
	--nic prod-net,52:54:00:00:01:99

# stop (ACPI), stop again, start of an off VM boots it, hard stop
t0=$(date +%s%N)
drv stop vm-a --timeout 60 || fail "stop vm-a"
info "stop (ACPI until off): $(ms $t0) ms"
[ "$(drv state vm-a)" = off ] || fail "state after stop: $(drv state vm-a)"
drv stop vm-a || fail "stop again"
guest_log "$T/a.img" | grep -q '^FERRY-GUEST-STOP name=vm-a' || fail "vm-a logged no STOP line"
drv start vm-a --serial "$T/a.serial" --disk "$T/a.img" --nic prod-net,52:54:00:00:01:21 ||
	fail "start of the stopped vm-a"
l=$(guest_wait "$T/a.serial") || exit 1
[ "$(guest_field "$l" boot)" = 2 ] || fail "vm-a's second boot says: $l"
t0=$(date +%s%N)
drv stop vm-a --timeout 0 --force || fail "hard stop"
info "hard stop: $(ms $t0) ms"
[ "$(drv state vm-a)" = off ] || fail "state after the hard stop"
for v in b c d e; do drv stop vm-$v --timeout 60 || fail "stop vm-$v"; done
guest_log "$T/c.img" | grep -q '^FERRY-GUEST-STOP name=vm-c' ||
	fail "vm-c's last write did not reach ferryd's disk"
e2fsck -fn "$T/c.img" >/dev/null 2>&1 || fail "e2fsck of ferryd's disk"
for v in a b c d e; do
	drv remove vm-$v || fail "remove vm-$v"
	drv remove vm-$v || fail "remove vm-$v again"
done
[ -z "$(ls "$LV_DIR/lib/qemu/nvram/")" ] || fail "NVRAM left: $(ls "$LV_DIR/lib/qemu/nvram/")"
[ -z "$(lv_virsh list --all --name)" ] || fail "VMs left: $(lv_virsh list --all --name)"

# the operator's VM
guest_start theirs "$T/theirs.serial" "$T/b.raw"
expect_err EPERM "not defined by ferry-agent" drv remove theirs
expect_err EEXIST "did not define" drv start theirs --disk "$T/a.img"
drv stop theirs --timeout 0 --force || fail "a hard stop of the operator's VM"
lv_virsh list --all --name | grep -qx theirs || fail "the operator's VM is gone"

# --- error paths -----------------------------------------------------------------------
expect_err ENOENT "no-such-net" drv start vm-x --disk "$T/a.img" --nic no-such-net,52:54:00:00:01:29
port=$(free_port)
expect_err EIO "Connection refused" drv start vm-y --disk "nbd://127.0.0.1:$port/x"
lv_virsh list --all --name | grep -q '^vm-' && fail "a failed start left a VM: $(lv_virsh list --all --name)"
pass
