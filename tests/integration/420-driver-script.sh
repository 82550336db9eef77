#!/usr/bin/env bash
# The script driver (agent/driver-script.c) with the shipped virsh example
# (docs/examples/driver-virsh.sh) as the operator's command, on the real private libvirtd
# with the real test guest, through drvctl:
#  - probe; isolated networks (create twice, exists, remove twice, the operator's refused);
#  - two VMs, one on a file disk, one on an NBD export of a running ferryd: each boots,
#    reports its disk's config on the serial console and answers on its address;
#  - start again (no change), state, stop (ACPI: the STOP line on the disk), stop again,
#    hard stop, remove twice; the operator's VM is neither replaced nor removed;
#  - a missing network: the start fails with virsh's reason and leaves nothing defined;
#  - a probe of an unreachable daemon fails with virsh's reason.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
require debugfs e2fsck timeout
DRV=$TBIN/drvctl
[ -x "$DRV" ] || fail "build/tests/drvctl missing (make tests)"

guest_build
lv_start
lv_net_create prod-net 10.1.0.1/24
SET=(-s "command=$TOP/docs/examples/driver-virsh.sh" -s "env.LIBVIRT_DEFAULT_URI=$LV_URI"
	-s env.VIRSH_DOMAIN_TYPE=qemu -s "env.VIRSH_KERNEL=$GUEST_DIR/vmlinux"
	-s "env.VIRSH_INITRD=$GUEST_DIR/initrd.img" -s "env.VIRSH_CMDLINE=$GUEST_CMDLINE"
	-s env.VIRSH_GRAPHICS=none -s timeout=120)
drv() { "$DRV" -d script "${SET[@]}" "$@"; }

drv probe || fail "probe"
expect_err EIO "$T/nowhere" "$DRV" -d script -s "command=$TOP/docs/examples/driver-virsh.sh" \
	-s "env.LIBVIRT_DEFAULT_URI=qemu:///system?socket=$T/nowhere" probe

# networks
drv net-create drill-net 10.9.0.1/24 || fail "net-create"
drv net-create drill-net 10.9.0.1/24 || fail "net-create again"
drv net-exists drill-net || fail "net-exists"
lv_virsh net-dumpxml drill-net | grep -q '<forward' && fail "the drill network forwards"
expect_err EEXIST "another definition" drv net-create drill-net 10.9.1.1/24
expect_err ENOENT "no network no-such-net" drv net-exists no-such-net
expect_err EPERM "not created by ferry" drv net-remove prod-net
drv net-remove drill-net || fail "net-remove"
drv net-remove drill-net || fail "net-remove again"
lv_virsh net-list --all --name | grep -qx drill-net && fail "drill-net is still defined"

# two VMs
guest_disk "$T/a.img" sa --ifupdown 10.1.0.31/24 --gw 10.1.0.1 --size 32M >/dev/null
guest_disk "$T/b.img" sb --netplan 10.1.0.32/24 --gw 10.1.0.1 --size 32M >/dev/null
write_config "$T/ferry.conf" 64M 1M sb:"$T/b.img"
start_ferryd "$T/ferry.conf"
drv start sa --serial "$T/a.serial" --disk "$T/a.img" --nic prod-net,52:54:00:00:02:31 ||
	fail "start sa"
drv start sb --serial "$T/b.serial" --disk "$NBD_URI_BASE/sb" --nic prod-net,52:54:00:00:02:32 ||
	fail "start sb"
la=$(guest_wait "$T/a.serial") || exit 1
lb=$(guest_wait "$T/b.serial") || exit 1
info "$la"
info "$lb"
[ "$(guest_tcp 10.1.0.31)" = "$la" ] || fail "sa does not answer on 10.1.0.31"
[ "$(guest_tcp 10.1.0.32)" = "$lb" ] || fail "sb does not answer on 10.1.0.32"
[ "$(drv state sa)" = running ] || fail "state sa: $(drv state sa)"
[ "$(drv state nobody)" = absent ] || fail "state of a missing VM"
id=$(lv_virsh domid sa)
drv start sa --serial "$T/a.serial" --disk "$T/a.img" --nic prod-net,52:54:00:00:02:31 ||
	fail "start sa again"
[ "$(lv_virsh domid sa)" = "$id" ] || fail "start again restarted sa"
expect_err EEXIST "another definition" drv start sa --disk "$T/a.img"
drv stop sa --timeout 60 || fail "stop sa"
[ "$(drv state sa)" = off ] || fail "state after stop"
drv stop sa || fail "stop again"
guest_log "$T/a.img" | grep -q '^FERRY-GUEST-STOP name=sa' || fail "sa logged no STOP line"
drv stop sb --timeout 0 --force || fail "hard stop of sb"
[ "$(drv state sb)" = off ] || fail "state after the hard stop"
for v in sa sb; do
	drv remove $v || fail "remove $v"
	drv remove $v || fail "remove $v again"
done
[ -z "$(lv_virsh list --all --name)" ] || fail "VMs left: $(lv_virsh list --all --name)"

# the operator's VM; a missing network
guest_start theirs "$T/theirs.serial" "$T/a.img"
expect_err EPERM "not defined by ferry" drv remove theirs
expect_err EEXIST "did not define" drv start theirs --disk "$T/a.img"
lv_virsh destroy theirs >/dev/null
expect_err EIO "no-such-net" drv start sc --disk "$T/a.img" --nic no-such-net,52:54:00:00:02:33
lv_virsh list --all --name | grep -qx sc && fail "the failed start left sc defined"
pass
