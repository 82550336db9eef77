#!/usr/bin/env bash
# ferry-agent's script driver for VMware vSphere with govc: a SKETCH of the contract in
# docs/drivers.md, not tested by the project (there is no vCenter in its tests). Adapt,
# then test every action by hand, including the idempotence the contract asks for.
#
#   [hypervisor]
#   driver = script
#   command = /etc/ferry/driver-govc.sh
#   env.GOVC_URL = https://vcenter.dr.example/sdk
#   env.GOVC_USERNAME = ferry@vsphere.local
#   env.GOVC_PASSWORD_FILE = /etc/ferry/govc.password   # read below; never in the config
#   env.GOVC_DATASTORE = dr-datastore
#   env.GOVC_HOST = esx1.dr.example                      # for isolated port groups
#   env.GOVC_VSWITCH = vSwitchDrill                      # a vSwitch without uplinks
#
# Limits: ESXi cannot attach NBD exports, so disks must be VMDK files on the datastore
# (plan format vmdk, datastore path mounted where ferry-agent restores); an NBD disk is
# refused with exit 2. VMs it creates carry the annotation "ferry-agent"; it never
# removes a VM or port group without it.
set -u
die() { echo "$1" >&2; exit "${2:-1}"; }
[ -z "${GOVC_PASSWORD_FILE:-}" ] || export GOVC_PASSWORD=$(cat "$GOVC_PASSWORD_FILE")
MARK=ferry-agent

exists() { govc vm.info "$1" 2>/dev/null | grep -q '^Name:'; }
ours() { govc vm.info -json "$1" | grep -q "\"Annotation\": *\"$MARK\""; }
power() { govc vm.info -json "$1" | sed -n 's/.*"PowerState": *"\([a-zA-Z]*\)".*/\1/p' | head -n 1; }

case ${1:-} in
probe) govc about >/dev/null ;;
start)
	name=$2
	if exists "$name"; then
		ours "$name" || die "a VM named $name exists that ferry did not define" 5
		[ "$(power "$name")" = poweredOn ] || govc vm.power -on "$name" >/dev/null || exit 1
		exit 0
	fi
	for ((i = 0; i < FERRY_VM_DISK_COUNT; i++)); do
		d=FERRY_VM_DISK$i
		case ${!d} in nbd*) die "ESXi cannot attach NBD disks (${!d})" 2 ;; esac
	done
	net=FERRY_VM_NIC0
	govc vm.create -on=false -c "$FERRY_VM_CPUS" -m "$FERRY_VM_MEMORY_MIB" \
		-firmware "$([ "$FERRY_VM_FIRMWARE" = uefi ] && echo efi || echo bios)" \
		-net "${!net%,*}" -net.address "${!net##*,}" -disk.controller pvscsi \
		-annotation "$MARK" "$name" || exit 1
	for ((i = 0; i < FERRY_VM_DISK_COUNT; i++)); do
		d=FERRY_VM_DISK$i	# a datastore path: [dr-datastore] restore/db.vmdk
		govc vm.disk.attach -vm "$name" -disk "${!d}" || exit 1
	done
	for ((i = 1; i < FERRY_VM_NIC_COUNT; i++)); do
		n=FERRY_VM_NIC$i
		govc vm.network.add -vm "$name" -net "${!n%,*}" -net.address "${!n##*,}" || exit 1
	done
	govc vm.power -on "$name" >/dev/null || exit 1 ;;
stop)
	name=$2 timeout=$3 mode=$4
	exists "$name" || exit 3
	[ "$(power "$name")" = poweredOn ] || exit 0
	govc vm.power -s "$name" >/dev/null 2>&1	# guest OS shutdown (VMware Tools)
	end=$((SECONDS + timeout))
	while [ "$(power "$name")" = poweredOn ] && [ $SECONDS -lt $end ]; do sleep 2; done
	[ "$(power "$name")" = poweredOn ] || exit 0
	[ "$mode" = force ] || die "VM $name did not power off within $timeout s" 4
	govc vm.power -off -force "$name" >/dev/null || exit 1 ;;
state)
	exists "$2" || { echo '{"state": "absent"}'; exit 0; }
	case $(power "$2") in
	poweredOn) echo '{"state": "running"}' ;;
	poweredOff) echo '{"state": "off"}' ;;
	*) echo '{"state": "other"}' ;;
	esac ;;
remove)
	exists "$2" || exit 3
	ours "$2" || die "VM $2 was not defined by ferry: not removed" 6
	govc vm.power -off -force "$2" >/dev/null 2>&1
	govc vm.unregister "$2" || exit 1 ;;	# unregister, not destroy: the VMDKs stay
network-exists)
	govc ls "network/$2" | grep -q . || die "no network $2" 3 ;;
network-create)
	# an isolated port group on a vSwitch without uplinks; no host address on it. Its
	# name is its mark: this sketch creates and removes only port groups named ferry-*
	case $2 in ferry-*) ;; *) die "name the test network ferry-... (got $2)" 2 ;; esac
	govc ls "network/$2" | grep -q . && exit 0
	govc host.portgroup.add -host "$GOVC_HOST" -vswitch "$GOVC_VSWITCH" "$2" || exit 1 ;;
network-remove)
	govc ls "network/$2" | grep -q . || exit 3
	case $2 in ferry-*) ;; *) die "port group $2 was not created by ferry: not removed" 6 ;; esac
	govc host.portgroup.remove -host "$GOVC_HOST" "$2" || exit 1 ;;
*) die "unknown action '${1:-}'" 2 ;;
esac
