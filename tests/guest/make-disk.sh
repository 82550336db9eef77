#!/usr/bin/env bash
# make-disk.sh IMAGE NAME [options]: a raw disk for the test guest (tests/guest/init): one
# ext4 file system over the whole disk (no partition table), built with mkfs.ext4 -d from a
# staged folder (no mount, no loop device), holding
#   /etc/hostname              NAME
#   /etc/ferry-guest/id        a random id (or --id), which the guest reports: which disk
#   the network configuration  in one format, for the guest's one NIC (eth0):
#     --ifupdown ADDR     /etc/network/interfaces (Debian's layout: it sources interfaces.d/)
#     --netplan ADDR      /etc/netplan/50-ferry-guest.yaml
#     --networkmanager ADDR  /etc/NetworkManager/system-connections/eth0.nmconnection
#     --networkd ADDR     /etc/systemd/network/10-eth0.network
#   ADDR is A.B.C.D/NN or dhcp (default: --ifupdown dhcp); --gw G and --dns A[,B...] add a
#   default route and name servers; --mac M makes the stanza name the NIC's MAC address
#   (a stanza for another MAC is one the guest does not use)
#   /var/log/                  where the guest appends ferry-guest.log
# More options: --size S (default 64M), --fill MiB of real files from /usr/share/doc under
# /data (default 0), --files DIR (a tree copied over the disk's root, e.g. a second
# format's files), --tail MiB (left outside the file system at the end of the disk, for
# tests that write there with qemu-io without touching the guest's files).
# Inode tables and the journal are initialised now, so the guest's kernel writes nothing
# in the background. Prints what the guest should report: name= ip= gw= dns= id=.
set -euo pipefail
die() { echo "make-disk: $*" >&2; exit 2; }
fail() { echo "make-disk: $*" >&2; exit 1; }
usage() { die "usage: make-disk.sh IMAGE NAME [--ifupdown|--netplan|--networkmanager|--networkd A/NN|dhcp] [--gw G] [--dns A,B] [--mac M] [--id ID] [--size S] [--fill MiB] [--files DIR] [--tail MiB]"; }
[ $# -ge 2 ] || usage
IMG=$1 NAME=$2
shift 2
FMT=ifupdown ADDR=dhcp GW=none DNS=none MAC='' ID='' SIZE=64M FILL=0 FILES='' TAIL=0
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--ifupdown | --netplan | --networkmanager | --networkd) FMT=${1#--} ADDR=$2 ;;
	--gw) GW=$2 ;;
	--dns) DNS=$2 ;;
	--mac) MAC=${2,,} ;;
	--id) ID=$2 ;;
	--size) SIZE=$2 ;;
	--fill) FILL=$2 ;;
	--files) FILES=$2 ;;
	--tail) TAIL=$2 ;;
	*) usage ;;
	esac
	shift 2
done
ip4='([0-9]{1,3}\.){3}[0-9]{1,3}'
[[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || die "bad host name '$NAME'"
[[ $ADDR = dhcp || $ADDR =~ ^$ip4/([0-9]|[12][0-9]|3[0-2])$ ]] || die "bad address '$ADDR' (A.B.C.D/NN or dhcp)"
[[ $GW = none || $GW =~ ^$ip4$ ]] || die "bad gateway '$GW'"
[[ $DNS = none || $DNS =~ ^$ip4(,$ip4)*$ ]] || die "bad name servers '$DNS'"
[[ -z $MAC || $MAC =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || die "bad MAC address '$MAC'"
[[ $FILL =~ ^[0-9]+$ && $TAIL =~ ^[0-9]+$ ]] || die "--fill and --tail take MiB"
[ -z "$FILES" ] || [ -d "$FILES" ] || die "--files $FILES is not a directory"
ID=${ID:-$(cat /proc/sys/kernel/random/uuid)}
[[ $ID =~ ^[A-Za-z0-9._-]+$ ]] || die "bad id '$ID'"
command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 not found (e2fsprogs)"

S=$(mktemp -d "${TMPDIR:-/tmp}/ferry-guest-disk.XXXXXX")
trap 'rm -rf "$S"' EXIT
mkdir -p "$S/etc/ferry-guest" "$S/var/log" "$S/data"
echo "$NAME" >"$S/etc/hostname"
echo "$ID" >"$S/etc/ferry-guest/id"
dnsl=${DNS//,/ }
case $FMT in
ifupdown)
	mkdir -p "$S/etc/network/interfaces.d"
	{
		printf 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eth0\n'
		if [ "$ADDR" = dhcp ]; then
			echo "iface eth0 inet dhcp"
		else
			printf 'iface eth0 inet static\n    address %s\n' "$ADDR"
			[ "$GW" = none ] || echo "    gateway $GW"
			[ "$DNS" = none ] || echo "    dns-nameservers $dnsl"
		fi
		[ -z "$MAC" ] || echo "    hwaddress ether $MAC"
	} >"$S/etc/network/interfaces" ;;
netplan)
	mkdir -p "$S/etc/netplan"
	{
		printf 'network:\n  version: 2\n  ethernets:\n    eth0:\n'
		[ -z "$MAC" ] || printf '      match:\n        macaddress: "%s"\n      set-name: eth0\n' "$MAC"
		if [ "$ADDR" = dhcp ]; then
			echo "      dhcp4: true"
		else
			printf '      addresses:\n        - %s\n' "$ADDR"
			[ "$GW" = none ] || printf '      routes:\n        - to: default\n          via: %s\n' "$GW"
			[ "$DNS" = none ] || printf '      nameservers:\n        addresses: [%s]\n' "${DNS//,/, }"
		fi
	} >"$S/etc/netplan/50-ferry-guest.yaml"
	chmod 600 "$S/etc/netplan/50-ferry-guest.yaml" ;;
networkmanager)
	d=$S/etc/NetworkManager/system-connections
	mkdir -p "$d"
	{
		printf '[connection]\nid=eth0\nuuid=%s\ntype=ethernet\ninterface-name=eth0\n\n' \
			"$(cat /proc/sys/kernel/random/uuid)"
		[ -z "$MAC" ] || printf '[ethernet]\nmac-address=%s\n\n' "${MAC^^}"
		if [ "$ADDR" = dhcp ]; then
			printf '[ipv4]\nmethod=auto\n'
		else
			printf '[ipv4]\nmethod=manual\naddress1=%s%s\n' "$ADDR" "$([ "$GW" = none ] || echo ",$GW")"
			[ "$DNS" = none ] || echo "dns=${DNS//,/;};"
		fi
		printf '\n[ipv6]\nmethod=ignore\n'
	} >"$d/eth0.nmconnection"
	chmod 600 "$d/eth0.nmconnection" ;;
networkd)
	mkdir -p "$S/etc/systemd/network"
	{
		printf '[Match]\nName=eth0\n'
		[ -z "$MAC" ] || echo "MACAddress=$MAC"
		printf '\n[Network]\n'
		if [ "$ADDR" = dhcp ]; then
			echo "DHCP=ipv4"
		else
			echo "Address=$ADDR"
			[ "$GW" = none ] || echo "Gateway=$GW"
			for d in $dnsl; do [ "$d" = none ] || echo "DNS=$d"; done
		fi
	} >"$S/etc/systemd/network/10-eth0.network" ;;
esac
[ -z "$FILES" ] || cp -a "$FILES/." "$S/"

# filler: whole files from /usr/share/doc, in name order, while they fit
if [ "$FILL" -gt 0 ]; then
	find /usr/share/doc -type f -readable -size -1M -printf '%s %P\n' 2>/dev/null | LC_ALL=C sort -k 2 |
		awk -v b=$((FILL << 20)) '$1 + t <= b { t += $1; print $2 }' |
		tar -C /usr/share/doc -cf - --no-recursion -T - | tar -C "$S/data" -xf -
fi

rm -f "$IMG"
truncate -s "$SIZE" "$IMG" || fail "cannot create $IMG of $SIZE"
bytes=$(stat -c %s "$IMG")
blocks=$(( (bytes - (TAIL << 20)) / 4096 ))
[ "$blocks" -ge 2048 ] || die "$SIZE leaves no room for a file system (--tail $TAIL)"
mkfs.ext4 -q -F -b 4096 -I 256 -L "${NAME:0:16}" -d "$S" \
	-E lazy_itable_init=0,lazy_journal_init=0 "$IMG" "$blocks" ||
	fail "mkfs.ext4 failed (is $SIZE enough for --fill $FILL?)"
echo "name=$NAME ip=$ADDR gw=$GW dns=$DNS id=$ID"
