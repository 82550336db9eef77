#!/usr/bin/env bash
# ferry-agent's script driver, with virsh: an example of the contract in docs/drivers.md
# (tested by tests/integration/420-driver-script.sh against a real libvirtd).
#
#   [hypervisor]
#   driver = script
#   command = /usr/share/doc/ferry/examples/driver-virsh.sh
#   env.LIBVIRT_DEFAULT_URI = qemu:///system     # virsh reads it itself
#   env.VIRSH_DOMAIN_TYPE = kvm                  # qemu for TCG
#   env.VIRSH_KERNEL = /path/vmlinux             # optional: direct kernel boot, for guests
#   env.VIRSH_INITRD = /path/initrd.img          #   whose system is an initramfs;
#   env.VIRSH_CMDLINE = console=ttyS0            #   real VMs boot from their first disk
#   env.VIRSH_GRAPHICS = vnc                     # vnc (default) or none
#
# What it defines carries <metadata><fs:script xmlns:fs="urn:ferry:agent:script:1"
# def="..."/></metadata>: def is a digest of the definition (start: is it the same VM?)
# and the mark keeps it from touching VMs and networks it did not define (exit 5 and 6).
# The native driver (driver = libvirt) does the same through libvirt's C API and needs no
# script; this one shows how little a script needs to do.
set -u
NS=urn:ferry:agent:script:1
die() { echo "$1" >&2; exit "${2:-1}"; }	# REASON [CODE]
v() { virsh -q "$@"; }

# XML-escape a value for an attribute or text
esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e "s/'/\&apos;/g" -e 's/"/\&quot;/g' <<<"$1"; }
# the def of a domain or network ("" when it has no mark: not ours)
mark_of() { v "$1" "$2" 2>/dev/null | sed -n "s/.*xmlns:fs=\"$NS\" def=\"\([^\"]*\)\".*/\1/p"; }
metadata() { echo "<metadata><fs:script xmlns:fs=\"$NS\" def=\"$1\"/></metadata>"; }

disk_xml() {	# INDEX URI FORMAT
	local dev=vd$(printf "\\x$(printf %x $((97 + $1)))") uri=$2 fmt=$3 host port exp sock
	case $uri in
	nbd+unix://*)
		exp=${uri#nbd+unix:///}; sock=${exp#*\?socket=}; exp=${exp%%\?*}
		echo "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
		echo "<source protocol='nbd' name='$(esc "$exp")'><host transport='unix' socket='$(esc "$sock")'/></source>" ;;
	nbd://*)
		host=${uri#nbd://}; exp=${host#*/}; host=${host%%/*}; port=${host##*:}; host=${host%:*}
		echo "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
		echo "<source protocol='nbd' name='$(esc "$exp")'><host name='$(esc "$host")' port='$port'/></source>" ;;
	*)
		echo "<disk type='file' device='disk'><driver name='qemu' type='$fmt'/>"
		echo "<source file='$(esc "$uri")'/>" ;;
	esac
	echo "<target dev='$dev' bus='virtio'/>"
	[ "$1" != 0 ] || [ -n "${VIRSH_KERNEL:-}" ] || echo "<boot order='1'/>"
	echo "</disk>"
}

domain_xml() {	# DEF: the domain from FERRY_VM_*
	local i n=${FERRY_VM_NIC_COUNT:-0} d log=${FERRY_VM_SERIAL_LOG:-}
	echo "<domain type='${VIRSH_DOMAIN_TYPE:-kvm}'><name>$(esc "$FERRY_VM_NAME")</name>"
	[ -z "$1" ] || metadata "$1"
	echo "<memory unit='MiB'>$FERRY_VM_MEMORY_MIB</memory><vcpu>$FERRY_VM_CPUS</vcpu>"
	echo "<os$([ "$FERRY_VM_FIRMWARE" = uefi ] && echo " firmware='efi'")><type arch='x86_64'>hvm</type>"
	if [ -n "${VIRSH_KERNEL:-}" ]; then
		echo "<kernel>$(esc "$VIRSH_KERNEL")</kernel>"
		[ -z "${VIRSH_INITRD:-}" ] || echo "<initrd>$(esc "$VIRSH_INITRD")</initrd>"
		[ -z "${VIRSH_CMDLINE:-}" ] || echo "<cmdline>$(esc "$VIRSH_CMDLINE")</cmdline>"
	fi
	echo "</os><features><acpi/><apic/></features>"
	echo "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash><devices>"
	for ((i = 0; i < FERRY_VM_DISK_COUNT; i++)); do
		d=FERRY_VM_DISK$i f=FERRY_VM_DISK${i}_FORMAT
		disk_xml $i "${!d}" "${!f}"
	done
	for ((i = 0; i < n; i++)); do
		d=FERRY_VM_NIC$i
		echo "<interface type='network'><source network='$(esc "${!d%,*}")'/><mac address='${!d##*,}'/><model type='virtio'/></interface>"
	done
	if [ -n "$log" ]; then
		echo "<serial type='file'><source path='$(esc "$log")' append='off'/><target port='0'/></serial>"
		echo "<console type='file'><source path='$(esc "$log")' append='off'/><target type='serial' port='0'/></console>"
	else
		echo "<serial type='pty'/><console type='pty'/>"
	fi
	[ "${VIRSH_GRAPHICS:-vnc}" = none ] || echo "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"
	echo "</devices></domain>"
}

exists() { v "$1" "$2" >/dev/null 2>&1; }	# dominfo|net-info NAME
running() { [ "$(v domstate "$1" 2>/dev/null)" = running ]; }

define_start() {	# NAME XMLFILE
	v define "$2" >/dev/null || exit 1
	v start "$1" >/dev/null 2>"$2.err" || {
		v undefine --nvram "$1" >/dev/null 2>&1 || v undefine "$1" >/dev/null 2>&1
		die "$(grep -v '^$' "$2.err" | tail -n 1)"
	}
}

do_start() {
	local name=$1 tmp def have
	[ "$name" = "${FERRY_VM_NAME:-}" ] || die "start $name: FERRY_VM_NAME is '${FERRY_VM_NAME:-}'" 2
	tmp=$(mktemp) || exit 1
	trap 'rm -f "$tmp" "$tmp.err"' EXIT
	def=$(domain_xml "" | sha256sum | cut -c1-64)
	domain_xml "$def" >"$tmp"
	if ! exists dominfo "$name"; then
		define_start "$name" "$tmp"
		return
	fi
	have=$(mark_of dumpxml "$name")
	[ -n "$have" ] || die "a VM named $name exists that ferry did not define" 5
	if [ "$have" = "$def" ]; then
		running "$name" || v start "$name" >/dev/null || exit 1
	elif running "$name"; then
		die "VM $name runs with another definition (stop it first)" 5
	else
		v undefine --nvram "$name" >/dev/null 2>&1 || v undefine "$name" >/dev/null || exit 1
		define_start "$name" "$tmp"
	fi
}

do_stop() {
	local name=$1 timeout=${2:-60} mode=${3:-graceful} end
	exists dominfo "$name" || die "no VM $name" 3
	running "$name" || return 0
	end=$((SECONDS + timeout))
	v shutdown --mode acpi "$name" >/dev/null 2>&1 || v shutdown "$name" >/dev/null 2>&1
	while running "$name" && [ $SECONDS -lt $end ]; do sleep 0.2; done
	running "$name" || return 0
	[ "$mode" = force ] || die "VM $name did not power off within $timeout s" 4
	v destroy "$name" >/dev/null 2>&1 || ! running "$name" || exit 1
}

do_state() {
	exists dominfo "$1" || { echo '{"state": "absent"}'; return; }
	case $(v domstate "$1") in
	running | idle) echo '{"state": "running"}' ;;
	"shut off" | crashed) echo '{"state": "off"}' ;;
	*) echo '{"state": "other"}' ;;
	esac
}

do_remove() {
	exists dominfo "$1" || die "no VM $1" 3
	[ -n "$(mark_of dumpxml "$1")" ] || die "VM $1 was not defined by ferry: not removed" 6
	! running "$1" || v destroy "$1" >/dev/null || exit 1
	v undefine --nvram "$1" >/dev/null 2>&1 || v undefine "$1" >/dev/null || exit 1
}

net_xml() {	# NAME CIDR DEF
	echo "<network><name>$(esc "$1")</name>"
	[ -z "$3" ] || metadata "$3"
	echo "<bridge stp='off'/>"
	[ -z "$2" ] || echo "<ip address='${2%/*}' prefix='${2#*/}'/>"
	echo "</network>"
}

do_network_exists() {
	exists net-info "$1" || die "no network $1" 3
	v net-info "$1" | grep -q '^Active: *yes' || die "network $1 exists but is not started" 7
}

do_network_create() {
	local name=$1 cidr=${2:-} def have tmp
	def=$(net_xml "$name" "$cidr" "" | sha256sum | cut -c1-64)
	if exists net-info "$name"; then
		have=$(mark_of net-dumpxml "$name")
		[ -n "$have" ] || die "a network named $name exists that ferry did not create" 5
		[ "$have" = "$def" ] || die "network $name exists with another definition" 5
		v net-info "$name" | grep -q '^Active: *yes' || v net-start "$name" >/dev/null || exit 1
		return 0
	fi
	tmp=$(mktemp) || exit 1
	net_xml "$name" "$cidr" "$def" >"$tmp"
	v net-define "$tmp" >/dev/null || { rm -f "$tmp"; exit 1; }
	rm -f "$tmp"
	v net-start "$name" >/dev/null || { v net-undefine "$name" >/dev/null 2>&1; exit 1; }
}

do_network_remove() {
	exists net-info "$1" || die "no network $1" 3
	[ -n "$(mark_of net-dumpxml "$1")" ] || die "network $1 was not created by ferry: not removed" 6
	v net-destroy "$1" >/dev/null 2>&1
	v net-undefine "$1" >/dev/null 2>&1
	! exists net-info "$1" || die "cannot remove network $1"
}

action=${1:-}
shift || true
case $action in
probe) v version >/dev/null ;;
start) [ $# -eq 1 ] || exit 2; do_start "$1" ;;
stop) [ $# -eq 3 ] || exit 2; do_stop "$@" ;;
state) [ $# -eq 1 ] || exit 2; do_state "$1" ;;
remove) [ $# -eq 1 ] || exit 2; do_remove "$1" ;;
network-exists) [ $# -eq 1 ] || exit 2; do_network_exists "$1" ;;
network-create) [ $# -ge 1 ] || exit 2; do_network_create "$@" ;;
network-remove) [ $# -eq 1 ] || exit 2; do_network_remove "$1" ;;
*) die "unknown action '$action'" 2 ;;
esac
