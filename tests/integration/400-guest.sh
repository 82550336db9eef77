#!/usr/bin/env bash
# The test guest (tests/guest/), built from Debian packages and booted for real:
#  1. the build: from scratch (or from the cached .debs) and then a no-op when nothing changed;
#  2. the guest's network-config parser (tests/guest/netcfg, run by the guest's own busybox
#     on the host) over a table of cases: each format, DHCP, the precedence between formats,
#     MAC selection, ifupdown's source lines, YAML list forms; and garbage, which must
#     still give one well-formed answer;
#  3. five guests booted at once under the private libvirt, one per format (netplan,
#     NetworkManager, networkd, ifupdown static, ifupdown DHCP on a --dhcp network): each
#     reports on its serial console what its disk says, answers with the same line on TCP
#     7000 at that address and nowhere else, and after an ACPI shutdown its disk holds the
#     boot line and the STOP line, and passes e2fsck -fn.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
require debugfs e2fsck mkfs.ext4 timeout

t0=$(date +%s%N)
guest_build
t1=$(date +%s%N)
guest_build
t2=$(date +%s%N)
grep -q 'up to date' "$T/guest-build.log" || fail "a second build did work again: $(cat "$T/guest-build.log")"
info "guest build $(( (t1 - t0) / 1000000 )) ms, again $(( (t2 - t1) / 1000000 )) ms"

# --- 2. the parser -------------------------------------------------------------------
BB=$GUEST_DIR/busybox
MAC=52:54:00:aa:00:01
ncase=0
# check NAME EXPECTED: run netcfg on the tree $T/c/NAME with $MAC
check() {
	local got
	got=$("$BB" sh "$TOP/tests/guest/netcfg" "$T/c/$1" "$MAC") || fail "netcfg $1 exited $?"
	[ "$got" = "$2" ] || fail "netcfg case $1: got '$got', want '$2'"
	ncase=$((ncase + 1))
}
# put NAME PATH: stdin becomes the file PATH of case NAME
put() { mkdir -p "$(dirname "$T/c/$1$2")"; cat >"$T/c/$1$2"; }

mkdir -p "$T/c/empty"
check empty "none - none none none"

put np1 /etc/netplan/01-net.yaml <<'EOF'
# a comment
network:
  version: 2
  renderer: networkd
  ethernets:
    ens3:
      addresses: [ "10.1.0.5/24", "2001:db8::5/64" ]   # flow list
      gateway4: 10.1.0.1
      nameservers:
        search: [example.com]
        addresses:
          - 10.1.0.53
          - 10.1.0.54
EOF
check np1 "netplan /etc/netplan/01-net.yaml 10.1.0.5/24 10.1.0.1 10.1.0.53,10.1.0.54"

put np2 /etc/netplan/50-a.yaml <<'EOF'
network:
  ethernets:
    other:
      match:
        macaddress: "52:54:00:aa:00:99"
      addresses:
      - 10.9.0.9/16
    mine:
      match: {name: "e*"}
      dhcp4: false
      addresses:
      - "2001:db8::7/64"
      - 10.1.2.7/23
      routes:
      - to: 10.8.0.0/16
        via: 10.1.2.254
      - to: 0.0.0.0/0
        via: 10.1.2.1
EOF
check np2 "netplan /etc/netplan/50-a.yaml 10.1.2.7/23 10.1.2.1 none"

put np3 /etc/netplan/50-a.yaml <<'EOF'
network:
  ethernets:
    first:
      dhcp4: true
    second:
      match:
        macaddress: 52:54:00:AA:00:01
      addresses: [10.3.0.3/24]
EOF
put np3 /etc/network/interfaces <<'EOF'
iface eth0 inet static
  address 10.7.7.7/24
EOF
check np3 "netplan /etc/netplan/50-a.yaml 10.3.0.3/24 none none"
mkdir -p "$T/c/np4/etc/netplan"
cp "$T/c/np3/etc/netplan/50-a.yaml" "$T/c/np4/etc/netplan/"
sed -i 's/52:54:00:AA:00:01/52:54:00:AA:00:02/' "$T/c/np4/etc/netplan/50-a.yaml"
check np4 "netplan /etc/netplan/50-a.yaml dhcp none none"

put nm1 /etc/NetworkManager/system-connections/wifi.nmconnection <<'EOF'
[connection]
id=home
type=wifi
[ipv4]
method=manual
address1=192.168.1.5/24,192.168.1.1
EOF
put nm1 /etc/NetworkManager/system-connections/wired.nmconnection <<'EOF'
[connection]
id=Wired connection 1
type=ethernet
interface-name=enp1s0

[ethernet]
mac-address=52:54:00:AA:00:01

[ipv4]
method=manual
addresses=10.4.0.4/22;
gateway=10.4.0.1
dns=10.4.0.53;10.4.0.54;

[ipv6]
method=auto
EOF
put nm1 /etc/systemd/network/10-x.network <<'EOF'
[Network]
Address=10.7.7.7/24
EOF
check nm1 "networkmanager /etc/NetworkManager/system-connections/wired.nmconnection 10.4.0.4/22 10.4.0.1 10.4.0.53,10.4.0.54"

put nm2 /etc/NetworkManager/system-connections/a.nmconnection <<'EOF'
[connection]
type=ethernet
[ipv4]
method=auto
EOF
check nm2 "networkmanager /etc/NetworkManager/system-connections/a.nmconnection dhcp none none"

put nd1 /etc/systemd/network/05-other.network <<'EOF'
[Match]
MACAddress=52:54:00:aa:00:77 52:54:00:aa:00:78

[Network]
Address=10.9.9.9/24
EOF
put nd1 /etc/systemd/network/10-mine.network <<'EOF'
# networkd, with the address in its own section and the gateway as a route
[Match]
Name=en*

[Network]
DNS=10.5.0.53

[Address]
Address=10.5.0.5

[Route]
Destination=10.6.0.0/16
Gateway=10.5.0.254

[Route]
Gateway=10.5.0.1
EOF
check nd1 "networkd /etc/systemd/network/10-mine.network 10.5.0.5/32 10.5.0.1 10.5.0.53"

put nd2 /etc/systemd/network/20-dhcp.network <<'EOF'
[Match]
MACAddress=52:54:00:aa:00:01
[Network]
DHCP=yes
EOF
check nd2 "networkd /etc/systemd/network/20-dhcp.network dhcp none none"

put if1 /etc/network/interfaces <<'EOF'
# Debian's layout
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
EOF
put if1 /etc/network/interfaces.d/ens3 <<'EOF'
allow-hotplug ens3
iface ens3 inet static
	address 10.6.0.6
	netmask 255.255.248.0
	gateway 10.6.0.1
	dns-nameservers 10.6.0.53 10.6.0.54
iface ens3 inet6 auto
EOF
check if1 "ifupdown /etc/network/interfaces.d/ens3 10.6.0.6/21 10.6.0.1 10.6.0.53,10.6.0.54"

put if2 /etc/network/interfaces <<'EOF'
auto eth1
iface eth1 inet static
    address 10.8.0.8/24
    hwaddress ether 52:54:00:aa:00:02

source-directory interfaces.d
EOF
put if2 /etc/network/interfaces.d/mine <<'EOF'
iface eth0 inet static
    address 10.7.0.7
    hwaddress 52:54:00:aa:00:01
EOF
put if2 /etc/network/interfaces.d/skip.bak <<'EOF'
iface eth0 inet static
    address 10.99.0.1/8
EOF
check if2 "ifupdown /etc/network/interfaces.d/mine 10.7.0.7/24 none none"

put if3 /etc/network/interfaces <<'EOF'
iface eth0 inet manual
iface eth0 inet dhcp
EOF
check if3 "ifupdown /etc/network/interfaces dhcp none none"

# precedence, per NIC, as Re-IP's (docs/reip.md): netplan > ifupdown > NetworkManager >
# networkd, the first format with a stanza for the NIC deciding
put pr1 /etc/netplan/50-other.yaml <<'EOF'
network:
  ethernets:
    other:
      match:
        macaddress: 52:54:00:aa:00:99
      addresses: [10.9.0.9/24]
EOF
put pr1 /etc/network/interfaces <<'EOF'
iface eth0 inet static
  address 10.1.1.1/24
EOF
check pr1 "ifupdown /etc/network/interfaces 10.1.1.1/24 none none"
put pr2 /etc/network/interfaces <<'EOF'
iface eth0 inet static
  address 10.2.2.2/24
EOF
put pr2 /etc/NetworkManager/system-connections/eth0.nmconnection <<'EOF'
[connection]
type=ethernet
[ipv4]
method=manual
address1=10.2.2.3/24
EOF
check pr2 "ifupdown /etc/network/interfaces 10.2.2.2/24 none none"
put pr3 /etc/NetworkManager/system-connections/other.nmconnection <<'EOF'
[connection]
type=ethernet
[ethernet]
mac-address=52:54:00:aa:00:99
[ipv4]
method=manual
address1=10.9.9.9/24
EOF
put pr3 /etc/systemd/network/10-eth.network <<'EOF'
[Network]
Address=10.3.3.3/24
EOF
put pr3 /etc/network/interfaces <<'EOF'
auto lo
iface lo inet loopback
EOF
check pr3 "networkd /etc/systemd/network/10-eth.network 10.3.3.3/24 none none"
# netplan's directories: /run hides /etc's file of the same name (its eth0 is another
# MAC's), /lib's other files count
put pr4 /etc/netplan/50-net.yaml <<'EOF'
network:
  ethernets:
    eth0:
      addresses: [10.4.4.4/24]
EOF
put pr4 /run/netplan/50-net.yaml <<'EOF'
network:
  ethernets:
    eth0:
      match:
        macaddress: 52:54:00:aa:00:99
      addresses: [10.9.9.9/24]
EOF
put pr4 /lib/netplan/60-lib.yaml <<'EOF'
network:
  ethernets:
    lib0:
      addresses: [10.4.4.5/24]
EOF
check pr4 "netplan /lib/netplan/60-lib.yaml 10.4.4.5/24 none none"

# garbage: every format's file full of random bytes still gives five fields
for f in /etc/netplan/x.yaml /etc/NetworkManager/system-connections/x.nmconnection \
	/etc/systemd/network/x.network /etc/network/interfaces; do
	for seed in 1 2 3; do
		n=g$ncase$seed
		mkdir -p "$(dirname "$T/c/$n$f")"
		head -c 4096 /dev/urandom | tr -d '\0' >"$T/c/$n$f"
		# lines that look like keys, with junk values
		printf 'addresses: [\nAddress=10.1\naddress1=/24,\niface x inet static\n  address 300.1.1.1/99\n' >>"$T/c/$n$f"
		got=$(timeout 10 "$BB" sh "$TOP/tests/guest/netcfg" "$T/c/$n" "$MAC") || fail "netcfg on garbage ($f) exited $?"
		[ "$(wc -w <<<"$got")" = 5 ] || fail "netcfg on garbage ($f): '$got'"
	done
done
info "$ncase parser cases and 12 garbage files"

# --- 3. five real boots ----------------------------------------------------------------
lv_start
lv_net_create prod-net 10.1.0.1/24
lv_net_create lab-net 10.3.0.1/24 --dhcp
declare -A want
i=0
for f in netplan networkmanager networkd ifupdown; do
	i=$((i + 1))
	want[$f]=$(guest_disk "$T/$f.img" "g-$f" --$f 10.1.0.1$i/24 --gw 10.1.0.1 --dns 10.1.0.53 \
		--mac 52:54:00:00:00:1$i --size 32M)
done
want[dhcp]=$(guest_disk "$T/dhcp.img" g-dhcp --ifupdown dhcp --size 32M)
t0=$(date +%s%N)
i=0
for f in netplan networkmanager networkd ifupdown; do
	i=$((i + 1))
	guest_start "g-$f" "$T/$f.serial" "$T/$f.img" --net prod-net 52:54:00:00:00:1$i
done
guest_start g-dhcp "$T/dhcp.serial" "$T/dhcp.img" --net lab-net 52:54:00:00:00:20
declare -A line
for f in netplan networkmanager networkd ifupdown dhcp; do
	line[$f]=$(guest_wait "$T/$f.serial") || exit 1
	info "$(( ($(date +%s%N) - t0) / 1000000 )) ms: ${line[$f]}"
done
for f in netplan networkmanager networkd ifupdown dhcp; do
	l=${line[$f]}
	for k in name ip gw dns id; do
		[ "$(guest_field "$l" $k)" = "$(guest_field "${want[$f]}" $k)" ] ||
			fail "$f: $k is '$(guest_field "$l" $k)', the disk says '$(guest_field "${want[$f]}" $k)'"
	done
	[ "$(guest_field "$l" boot)" = 1 ] || fail "$f: not the disk's first boot: $l"
	[[ $(guest_field "$l" cfg) == $f:/etc/* || ($f = dhcp && $(guest_field "$l" cfg) == ifupdown:/etc/*) ]] ||
		fail "$f: configured by $(guest_field "$l" cfg)"
done
lease=$(guest_field "${line[dhcp]}" lease)
[[ $lease =~ ^10\.3\.0\.(1[2-9][0-9]|2[0-5][0-9])/24$ ]] || fail "the DHCP guest's lease is '$lease'"

i=0
for f in netplan networkmanager networkd ifupdown; do
	i=$((i + 1))
	got=$(guest_tcp 10.1.0.1$i) || fail "$f: nothing on 10.1.0.1$i:$GUEST_PORT"
	[ "$got" = "${line[$f]}" ] || fail "$f: TCP says '$got', the console '${line[$f]}'"
done
got=$(guest_tcp "${lease%/*}") || fail "dhcp: nothing on ${lease%/*}:$GUEST_PORT"
# nothing answers where no disk said to be (this address is on the bridge's subnet)
! guest_tcp 10.1.0.99 5 >/dev/null || fail "something answered on 10.1.0.99"

for f in netplan networkmanager networkd ifupdown dhcp; do guest_shutdown "g-$f"; done
for f in netplan networkmanager networkd ifupdown dhcp; do
	log=$(guest_log "$T/$f.img")
	grep -qF "${line[$f]} up=" <<<"$log" || fail "$f: the boot line is not on the disk: $log"
	grep -q "^FERRY-GUEST-STOP name=g-$f " <<<"$log" || fail "$f: no STOP line on the disk: $log"
	e2fsck -fn "$T/$f.img" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log" >&2; fail "$f: e2fsck -fn"; }
done
pass
