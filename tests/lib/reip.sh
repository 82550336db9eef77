# Helpers for the Re-IP integration tests (sourced after functions.sh): guest root trees
# holding each kind of network configuration, and reading files back out of an ext image
# (or a partition of one) with debugfs, as an independent reader.
#
#   guest_tree DIR KIND      KIND: ifupdown | ifupdown-sourced | netplan | nm | networkd |
#                            netplan+ifupdown | cloud-init; the NIC is 52:54:00:12:34:56 at
#                            10.1.0.11/24, gateway 10.1.0.1, DNS 10.1.0.2
#   guest_cat IMG[?offset=N] PATH    the file's content (debugfs)
#   REIP_NIC, REIP_RULE      the NIC as described and the plan's rule

REIP_NIC='prod 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2'
REIP_RULE='10.1.*.* -> 10.2.*.*'

guest_tree() {
	local d=$1 kind=$2
	mkdir -p "$d/etc/network" "$d/etc/hostname.d" "$d/bin"
	echo guest >"$d/etc/hostname"
	case $kind in
	ifupdown | netplan+ifupdown)
		cat >"$d/etc/network/interfaces" <<'EOT'
# interfaces(5) file used by ifup(8) and ifdown(8)
auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet static
	address 10.1.0.11/24
	gateway 10.1.0.1
	dns-nameservers 10.1.0.2
EOT
		;;&
	ifupdown-sourced)
		mkdir -p "$d/etc/network/interfaces.d"
		printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' \
			>"$d/etc/network/interfaces"
		printf 'auto eth1\niface eth1 inet dhcp\n' >"$d/etc/network/interfaces.d/eth1"
		printf 'auto eth0\niface eth0 inet static\n  address 10.1.0.11\n  netmask 255.255.255.0\n  gateway 10.1.0.1\n' \
			>"$d/etc/network/interfaces.d/eth0"
		;;
	netplan | netplan+ifupdown | cloud-init)
		mkdir -p "$d/etc/netplan"
		cat >"$d/etc/netplan/50-cloud-init.yaml" <<'EOT'
network:
  version: 2
  ethernets:
    ens3:
      match:
        macaddress: "52:54:00:12:34:56"
      set-name: ens3
      addresses: [10.1.0.11/24]
      routes:
        - to: default
          via: 10.1.0.1
      nameservers:
        addresses: [10.1.0.2]
EOT
		chmod 600 "$d/etc/netplan/50-cloud-init.yaml"
		ln -s /nonexistent "$d/etc/netplan/99-gone.yaml"	# a dangling link: no stanza
		;;&
	cloud-init)
		mkdir -p "$d/etc/cloud"
		printf 'datasource_list: [NoCloud, None]\n' >"$d/etc/cloud/cloud.cfg"
		;;
	nm)
		mkdir -p "$d/etc/NetworkManager/system-connections"
		cat >"$d/etc/NetworkManager/system-connections/Wired.nmconnection" <<'EOT'
[connection]
id=Wired
type=ethernet

[ethernet]
mac-address=52:54:00:12:34:56

[ipv4]
address1=10.1.0.11/24,10.1.0.1
dns=10.1.0.2;
method=manual
EOT
		chmod 600 "$d/etc/NetworkManager/system-connections/Wired.nmconnection"
		;;
	networkd)
		mkdir -p "$d/etc/systemd/network"
		printf '[Match]\nName=*\n[Network]\nDHCP=yes\n' >"$d/etc/systemd/network/99-default.network"
		cat >"$d/etc/systemd/network/10-eth0.network" <<'EOT'
[Match]
MACAddress=52:54:00:12:34:56

[Network]
Address=10.1.0.11/24
Gateway=10.1.0.1
DNS=10.1.0.2
EOT
		;;
	esac
}

guest_cat() {
	debugfs -R "cat $2" "$1" 2>/dev/null
}
