#!/usr/bin/env bash
# ferry-agent's script driver for Proxmox VE with qm: a SKETCH of the contract in
# docs/drivers.md, not tested by the project (no Proxmox host in its tests). Adapt, then
# test every action by hand, including the idempotence the contract asks for.
# Runs on the Proxmox node (qm and pvesh are local commands).
#
#   [hypervisor]
#   driver = script
#   command = /etc/ferry/driver-qm.sh
#   env.QM_STORAGE = local-lvm      # where imported disks go
#   env.QM_NODE = pve1
#
# Proxmox names VMs by number: the VM's name is looked up in `qm list`, and a new VM
# gets the next free id (pvesh get /cluster/nextid). VMs it creates carry the tag
# ferry-agent; it never removes a VM without it. Disks: files are imported with
# `qm importdisk` (a copy; point the plan's datastore at storage Proxmox can import from);
# an NBD export is attached through QEMU's own NBD client with `qm set --args`.
set -u
die() { echo "$1" >&2; exit "${2:-1}"; }
vmid() { qm list | awk -v n="$1" '$2 == n { print $1; exit }'; }
ours() { qm config "$1" | grep -q '^tags:.*ferry-agent'; }

case ${1:-} in
probe) pvesh get /version >/dev/null ;;
start)
	name=$2 id=$(vmid "$2")
	if [ -n "$id" ]; then
		ours "$id" || die "a VM named $name exists that ferry did not define" 5
		qm status "$id" | grep -q running || qm start "$id" || exit 1
		exit 0
	fi
	id=$(pvesh get /cluster/nextid) || exit 1
	qm create "$id" --name "$name" --cores "$FERRY_VM_CPUS" --memory "$FERRY_VM_MEMORY_MIB" \
		--bios "$([ "$FERRY_VM_FIRMWARE" = uefi ] && echo ovmf || echo seabios)" \
		--tags ferry-agent --scsihw virtio-scsi-pci --serial0 socket || exit 1
	args=
	for ((i = 0; i < FERRY_VM_DISK_COUNT; i++)); do
		d=FERRY_VM_DISK$i f=FERRY_VM_DISK${i}_FORMAT
		case ${!d} in
		nbd*) args+=" -drive file=${!d},format=raw,if=virtio" ;;
		*) qm importdisk "$id" "${!d}" "$QM_STORAGE" --format raw >/dev/null || exit 1
		   qm set "$id" --scsi$i "$QM_STORAGE:vm-$id-disk-$i" >/dev/null || exit 1 ;;
		esac
	done
	[ -z "$args" ] || qm set "$id" --args "$args" >/dev/null || exit 1
	qm set "$id" --boot order=scsi0 >/dev/null 2>&1
	for ((i = 0; i < FERRY_VM_NIC_COUNT; i++)); do
		n=FERRY_VM_NIC$i
		qm set "$id" --net$i "virtio=${!n##*,},bridge=${!n%,*}" >/dev/null || exit 1
	done
	qm start "$id" || { qm destroy "$id" --purge >/dev/null 2>&1; exit 1; } ;;
stop)
	id=$(vmid "$2")
	[ -n "$id" ] || exit 3
	qm status "$id" | grep -q running || exit 0
	qm shutdown "$id" --timeout "$3" >/dev/null 2>&1 && exit 0
	[ "$4" = force ] || die "VM $2 did not power off within $3 s" 4
	qm stop "$id" || exit 1 ;;
state)
	id=$(vmid "$2")
	[ -n "$id" ] || { echo '{"state": "absent"}'; exit 0; }
	case $(qm status "$id" | awk '{ print $2 }') in
	running) echo '{"state": "running"}' ;;
	stopped) echo '{"state": "off"}' ;;
	*) echo '{"state": "other"}' ;;
	esac ;;
remove)
	id=$(vmid "$2")
	[ -n "$id" ] || exit 3
	ours "$id" || die "VM $2 was not defined by ferry: not removed" 6
	qm stop "$id" >/dev/null 2>&1
	qm destroy "$id" --purge || exit 1 ;;
network-exists)
	pvesh get "/nodes/$QM_NODE/network/$2" >/dev/null 2>&1 || die "no bridge $2" 3 ;;
network-create)
	# a Linux bridge without ports: isolated; optional host address for readiness checks
	pvesh get "/nodes/$QM_NODE/network/$2" >/dev/null 2>&1 && exit 0
	pvesh create "/nodes/$QM_NODE/network" --iface "$2" --type bridge --autostart 1 \
		${3:+--cidr "$3"} --comments ferry-agent || exit 1
	pvesh set "/nodes/$QM_NODE/network" || exit 1 ;;	# apply
network-remove)
	pvesh get "/nodes/$QM_NODE/network/$2" >/dev/null 2>&1 || exit 3
	pvesh get "/nodes/$QM_NODE/network/$2" | grep -q ferry-agent ||
		die "bridge $2 was not created by ferry: not removed" 6
	pvesh delete "/nodes/$QM_NODE/network/$2" && pvesh set "/nodes/$QM_NODE/network" || exit 1 ;;
*) die "unknown action '${1:-}'" 2 ;;
esac
