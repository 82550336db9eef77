#!/usr/bin/env bash
# Re-IP of each kind of guest network configuration on a real ext4 image (mkfs.ext4 -d),
# through `ferryctl reip` (the library ferry-agent uses): ifupdown (also a stanza in a
# sourced interfaces.d file), netplan, NetworkManager keyfiles, systemd-networkd; netplan
# wins over ifupdown when both configure the NIC (the other is reported and left); a
# cloud-init guest gets a note. Each result is read back with debugfs, checked with
# e2fsck -fn, and where the guest's own tool runs here, parsed by it (ifquery, netplan
# generate). A second run changes nothing; a guest without a stanza for the NIC, or with
# DHCP on it, fails with the reason and an image identical to before.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/reip.sh"
require mkfs.ext4 debugfs e2fsck

reip() {	# IMG [more ferryctl args]: the detail line in $T/out, errors in $T/err
	local img=$1; shift
	ferryctl reip --image "$img" --rule "$REIP_RULE" --nic "$REIP_NIC" "$@" >"$T/out" 2>"$T/err"
}

build() {	# KIND: $T/KIND.img
	rm -rf "$T/root-$1"
	guest_tree "$T/root-$1" "$1"
	mkfs.ext4 -q -F -d "$T/root-$1" "$T/$1.img" 32M || fail "mkfs.ext4 $1"
}

check_fs() {
	e2fsck -fn "$1" >"$T/fsck" 2>&1 || fail "e2fsck -fn $1: $(cat "$T/fsck")"
}

# ---- ifupdown ----
build ifupdown
reip "$T/ifupdown.img" || fail "ifupdown: $(cat "$T/err")"
grep -qF "ext file system on the whole disk; ifupdown /etc/network/interfaces: 52:54:00:12:34:56 10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, dns 10.1.0.2 -> 10.2.0.2" "$T/out" ||
	fail "ifupdown detail: $(cat "$T/out")"
guest_cat "$T/ifupdown.img" /etc/network/interfaces >"$T/if.txt"
sed -e 's/10\.1\.0\./10.2.0./' "$T/root-ifupdown/etc/network/interfaces" | diff -u - "$T/if.txt" ||
	fail "ifupdown: unexpected file"
check_fs "$T/ifupdown.img"
if command -v ifquery >/dev/null; then
	ifquery -i "$T/if.txt" eth0 >"$T/q" 2>&1 || fail "ifquery: $(cat "$T/q")"
	grep -qx "address: 10.2.0.11" "$T/q" && grep -qx "netmask: 255.255.255.0" "$T/q" &&
		grep -qx "gateway: 10.2.0.1" "$T/q" &&
		grep -qx "dns-nameservers: 10.2.0.2" "$T/q" || fail "ifquery reads: $(cat "$T/q")"
fi
reip "$T/ifupdown.img" || fail "second run: $(cat "$T/err")"
grep -qF "ifupdown /etc/network/interfaces: 52:54:00:12:34:56 eth0 already 10.2.0.11/24" "$T/out" ||
	fail "second run detail: $(cat "$T/out")"
guest_cat "$T/ifupdown.img" /etc/network/interfaces | cmp -s - "$T/if.txt" || fail "the second run changed the file"

# ---- ifupdown, the stanza in a sourced file (address + netmask) ----
build ifupdown-sourced
reip "$T/ifupdown-sourced.img" || fail "sourced: $(cat "$T/err")"
grep -qF "ifupdown /etc/network/interfaces.d/eth0: 52:54:00:12:34:56 10.1.0.11 -> 10.2.0.11, gateway 10.1.0.1 -> 10.2.0.1" "$T/out" ||
	fail "sourced detail: $(cat "$T/out")"
guest_cat "$T/ifupdown-sourced.img" /etc/network/interfaces.d/eth0 >"$T/eth0"
printf 'auto eth0\niface eth0 inet static\n  address 10.2.0.11\n  netmask 255.255.255.0\n  gateway 10.2.0.1\n' |
	cmp -s - "$T/eth0" || fail "sourced file: $(cat "$T/eth0")"
guest_cat "$T/ifupdown-sourced.img" /etc/network/interfaces | cmp -s - "$T/root-ifupdown-sourced/etc/network/interfaces" ||
	fail "the including file changed"
check_fs "$T/ifupdown-sourced.img"

# ---- netplan ----
build netplan
reip "$T/netplan.img" || fail "netplan: $(cat "$T/err")"
grep -qF "netplan /etc/netplan/50-cloud-init.yaml: 52:54:00:12:34:56 10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, dns [10.1.0.2] -> [10.2.0.2]" "$T/out" ||
	fail "netplan detail: $(cat "$T/out")"
guest_cat "$T/netplan.img" /etc/netplan/50-cloud-init.yaml >"$T/np.yaml"
sed -e 's/10\.1\.0\./10.2.0./' "$T/root-netplan/etc/netplan/50-cloud-init.yaml" | diff -u - "$T/np.yaml" ||
	fail "netplan: unexpected file"
check_fs "$T/netplan.img"
if command -v netplan >/dev/null; then
	mkdir -p "$T/np/etc/netplan" && install -m 600 "$T/np.yaml" "$T/np/etc/netplan/50-cloud-init.yaml"
	netplan generate --root-dir "$T/np" >"$T/q" 2>&1 || fail "netplan generate: $(cat "$T/q")"
	cat "$T/np"/run/systemd/network/*.network >"$T/q"
	for l in PermanentMACAddress=52:54:00:12:34:56 Address=10.2.0.11/24 Gateway=10.2.0.1 DNS=10.2.0.2; do
		grep -qx "$l" "$T/q" || fail "netplan generate gives no $l: $(cat "$T/q")"
	done
fi

# ---- NetworkManager ----
build nm
reip "$T/nm.img" || fail "nm: $(cat "$T/err")"
grep -qF "networkmanager /etc/NetworkManager/system-connections/Wired.nmconnection: 52:54:00:12:34:56 10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, dns 10.1.0.2; -> 10.2.0.2;" "$T/out" ||
	fail "nm detail: $(cat "$T/out")"
guest_cat "$T/nm.img" /etc/NetworkManager/system-connections/Wired.nmconnection >"$T/nm.txt"
sed -e 's/10\.1\.0\./10.2.0./g' "$T/root-nm/etc/NetworkManager/system-connections/Wired.nmconnection" |
	diff -u - "$T/nm.txt" || fail "nm: unexpected file"
[ "$(debugfs -R 'stat /etc/NetworkManager/system-connections/Wired.nmconnection' "$T/nm.img" 2>/dev/null |
	sed -n 's/.*Mode: *\([0-7]*\).*/\1/p')" = 0600 ] || fail "nm: the keyfile's mode changed"
check_fs "$T/nm.img"

# ---- systemd-networkd: the MAC's file, not the catch-all DHCP one ----
build networkd
reip "$T/networkd.img" || fail "networkd: $(cat "$T/err")"
grep -qF "networkd /etc/systemd/network/10-eth0.network: 52:54:00:12:34:56 10.1.0.11/24 -> 10.2.0.11/24, gateway 10.1.0.1 -> 10.2.0.1, dns 10.1.0.2 -> 10.2.0.2" "$T/out" ||
	fail "networkd detail: $(cat "$T/out")"
guest_cat "$T/networkd.img" /etc/systemd/network/10-eth0.network | grep -qx 'Address=10.2.0.11/24' ||
	fail "networkd: file not edited"
guest_cat "$T/networkd.img" /etc/systemd/network/99-default.network |
	cmp -s - "$T/root-networkd/etc/systemd/network/99-default.network" || fail "networkd: the DHCP file changed"
check_fs "$T/networkd.img"

# ---- netplan and ifupdown both: netplan is what the guest uses ----
build netplan+ifupdown
reip "$T/netplan+ifupdown.img" || fail "both: $(cat "$T/err")"
grep -qF "netplan /etc/netplan/50-cloud-init.yaml: 52:54:00:12:34:56 10.1.0.11/24 -> 10.2.0.11/24" "$T/out" &&
	grep -qF "(also in ifupdown /etc/network/interfaces, not used by the guest: left as is)" "$T/out" ||
	fail "both: $(cat "$T/out")"
guest_cat "$T/netplan+ifupdown.img" /etc/network/interfaces | cmp -s - "$T/root-netplan+ifupdown/etc/network/interfaces" ||
	fail "both: interfaces was edited"

# ---- cloud-init: edited, with a note ----
build cloud-init
reip "$T/cloud-init.img" || fail "cloud-init: $(cat "$T/err")"
grep -qF "note: cloud-init is enabled in the guest" "$T/out" || fail "cloud-init note: $(cat "$T/out")"

# ---- refusals leave the image as it was ----
rm -rf "$T/root-none" && guest_tree "$T/root-none" none
printf 'iface eth9 inet static\n  address 192.168.9.9/24\n' >"$T/root-none/etc/network/interfaces"
mkfs.ext4 -q -F -d "$T/root-none" "$T/none.img" 32M && cp "$T/none.img" "$T/none.orig"
reip "$T/none.img" && fail "a guest without the NIC's stanza succeeded: $(cat "$T/out")"
grep -qF "no network configuration of the guest configures NIC 52:54:00:12:34:56 (10.1.0.11/24): looked in 1 files" "$T/err" ||
	fail "none: $(cat "$T/err")"
cmp -s "$T/none.img" "$T/none.orig" || fail "a failed Re-IP changed the image"
printf 'allow-hotplug eth0\niface eth0 inet dhcp\n  hwaddress ether 52:54:00:12:34:56\n' >"$T/root-none/etc/network/interfaces"
mkfs.ext4 -q -F -d "$T/root-none" "$T/dhcp.img" 32M && cp "$T/dhcp.img" "$T/dhcp.orig"
reip "$T/dhcp.img" && fail "a DHCP guest succeeded"
grep -qF "ifupdown /etc/network/interfaces: iface eth0 has the NIC's MAC but method dhcp, no static address (NIC 52:54:00:12:34:56 (10.1.0.11/24))" "$T/err" ||
	fail "dhcp: $(cat "$T/err")"
cmp -s "$T/dhcp.img" "$T/dhcp.orig" || fail "a failed Re-IP changed the image"
# a DHCP NIC in the description, or no rule matching it: nothing to do, the image untouched
ferryctl reip --image "$T/none.img" --rule '192.168.*.* -> 10.9.*.*' --nic "$REIP_NIC" >"$T/out" ||
	fail "no matching rule"
grep -qx "no NIC with a static address to move: nothing changed" "$T/out" || fail "$(cat "$T/out")"
pass
