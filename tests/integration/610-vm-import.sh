#!/usr/bin/env bash
# ferryctl vm import: a [vm NAME] section from a libvirt domain, read through libvirt's own
# API. The hypervisor is libvirt's test driver (test:///NODE.xml: real libvirt code, a
# fake hypervisor), which is enough for reading a domain's XML; the qemu driver runs in
# the agent's acceptance tests. Checked: disks in boot order mapped to exports (NBD source,
# -c FILE path, --disk), cdrom skipped, vcpu current, memory, uefi, one nic per interface
# (dhcp unless --nic gives the address), the section parses in ferry.conf, and the errors.
. "$(dirname "$0")/../lib/functions.sh"

cat >"$T/node.xml" <<EOT
<node>
  <domain type='test'>
    <name>db</name>
    <memory unit='MiB'>2048</memory>
    <vcpu current='2'>4</vcpu>
    <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>
    <devices>
      <disk type='file' device='cdrom'><source file='$T/x.iso'/><target dev='sda' bus='sata'/></disk>
      <disk type='file' device='disk'><source file='$T/db-data.img'/><target dev='vdb' bus='virtio'/><boot order='2'/></disk>
      <disk type='network' device='disk'><source protocol='nbd' name='db-os'><host name='127.0.0.1' port='10809'/></source><target dev='vda' bus='virtio'/><boot order='1'/></disk>
      <disk type='file' device='disk'><source file='$T/scratch.img'/><target dev='vdc' bus='virtio'/></disk>
      <interface type='network'><mac address='52:54:00:12:34:56'/><source network='prod-net'/><model type='virtio'/></interface>
      <interface type='bridge'><mac address='52:54:00:12:34:57'/><source bridge='br-backup'/></interface>
    </devices>
  </domain>
</node>
EOT
URI=test://$T/node.xml
cat >"$T/base.conf" <<EOT
[store]
url = file://$T/store
key_file = $T/store.key
[domain prod]
disk = db-os:$T/db-os.img
disk = db-data:$T/db-data.img
disk = scratch:$T/scratch.img
EOT

ferryctl vm import --libvirt "$URI" db -c "$T/base.conf" --disk vdc=scratch \
	--nic '52:54:00:12:34:56=static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2' >"$T/vm.txt" ||
	fail "vm import"
cat >"$T/expected.txt" <<EOT
# disk vda: export db-os (its NBD source)
# disk vdb: export db-data ($T/db-data.img in $T/base.conf)
# disk vdc: export scratch (--disk)
# nic 52:54:00:12:34:56: network prod-net (its source network), address from --nic
# nic 52:54:00:12:34:57: network br-backup (its source bridge), dhcp: libvirt does not know the guest's address; add it with --nic MAC='static ADDR/PREFIX ...'
[vm db]
domain = prod
disks = db-os, db-data, scratch
cpus = 2
memory = 2G
firmware = uefi
nic = prod-net 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2
nic = br-backup 52:54:00:12:34:57 dhcp
EOT
diff -u "$T/expected.txt" "$T/vm.txt" || fail "unexpected section"

# -o writes a new file, never over an existing one
ferryctl vm import --libvirt "$URI" db -c "$T/base.conf" --disk vdc=scratch -o "$T/vm.conf" ||
	fail "vm import -o"
grep -q '^nic = prod-net 52:54:00:12:34:56 dhcp$' "$T/vm.conf" || fail "-o: $(cat "$T/vm.conf")"
rc=0; ferryctl vm import --libvirt "$URI" db -c "$T/base.conf" --disk vdc=scratch \
	-o "$T/vm.conf" 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "File exists (not overwritten" "$T/err" || fail "-o over a file: $rc $(cat "$T/err")"

# the section is a valid part of ferry.conf: ferryctl loads it (and every check runs)
ferryctl init --store "file://$T/store" --key-file "$T/store.key" >/dev/null || fail "init"
cat "$T/base.conf" "$T/vm.txt" >"$T/ferry.conf"
ferryctl domains -c "$T/ferry.conf" >"$T/out" 2>&1 || fail "the imported section does not load: $(cat "$T/out")"

# errors: a disk without an export (rc 1, naming the disk), a domain libvirt lacks, bad usage
rc=0; ferryctl vm import --libvirt "$URI" db --domain prod 2>"$T/err" >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "disk vdb ($T/db-data.img): no export name for it: give --disk vdb=EXPORT" "$T/err" ||
	fail "unmapped disk: $rc $(cat "$T/err")"
rc=0; ferryctl vm import --libvirt "$URI" nosuch --domain prod 2>"$T/err" >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "domain 'nosuch' on $URI:" "$T/err" || fail "unknown domain: $rc $(cat "$T/err")"
rc=0; ferryctl vm import --libvirt "test://$T/missing.xml" db 2>"$T/err" >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "cannot connect to test://$T/missing.xml" "$T/err" || fail "bad URI: $rc $(cat "$T/err")"
rc=0; ferryctl vm import db 2>"$T/err" >/dev/null || rc=$?
[ $rc = 2 ] || fail "missing --libvirt: $rc"
rc=0; ferryctl vm export 2>"$T/err" >/dev/null || rc=$?
[ $rc = 2 ] || fail "unknown action: $rc"
pass
