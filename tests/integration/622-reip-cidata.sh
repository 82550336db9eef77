#!/usr/bin/env bash
# Re-IP for cloud-init guests: `ferryctl reip --cidata` writes a NoCloud seed, an ISO 9660
# file system labelled cidata (blkid) holding meta-data (an instance-id only), user-data
# and network-config version 2 with the NICs after the rules, each matched by MAC. The
# files are read back with isoinfo (Rock Ridge names); the network config is rendered by
# netplan's own generator when installed. The same VM and rules give the same
# instance-id; other addresses give another.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/reip.sh"
require isoinfo blkid

seed() {	# OUT [NIC...]
	local out=$1; shift
	local args=()
	for n in "$@"; do args+=(--nic "$n"); done
	ferryctl reip --cidata "$out" --rule "$REIP_RULE" "${args[@]}" >"$T/out" 2>"$T/err"
}
DHCP='backup 52:54:00:12:34:57 dhcp'
seed "$T/seed.iso" "$REIP_NIC" "$DHCP" || fail "seed: $(cat "$T/err")"
grep -qx "wrote $T/seed.iso: NoCloud seed for vm, 2 NICs" "$T/out" || fail "$(cat "$T/out")"
[ "$(blkid -o value -s LABEL "$T/seed.iso")" = cidata ] || fail "label: $(blkid "$T/seed.iso")"
[ "$(blkid -o value -s TYPE "$T/seed.iso")" = iso9660 ] || fail "type: $(blkid "$T/seed.iso")"
isoinfo -R -f -i "$T/seed.iso" | sort >"$T/ls"
printf '/meta-data\n/network-config\n/user-data\n' | cmp -s - "$T/ls" || fail "files: $(cat "$T/ls")"
isoinfo -R -i "$T/seed.iso" -x /user-data | grep -qx '#cloud-config' || fail "user-data"
isoinfo -R -i "$T/seed.iso" -x /meta-data >"$T/meta"
grep -Eqx 'instance-id: ferry-[0-9a-f]{16}' "$T/meta" && [ "$(wc -l <"$T/meta")" = 1 ] ||
	fail "meta-data: $(cat "$T/meta")"
isoinfo -R -i "$T/seed.iso" -x /network-config >"$T/net"
cat >"$T/want" <<'EOT'
# written by ferry-agent (Re-IP) for VM vm
version: 2
ethernets:
  nic0:
    match:
      macaddress: "52:54:00:12:34:56"
    dhcp4: false
    addresses:
      - 10.2.0.11/24
    gateway4: 10.2.0.1
    nameservers:
      addresses: [10.2.0.2]
  nic1:
    match:
      macaddress: "52:54:00:12:34:57"
    dhcp4: true
EOT
diff -u "$T/want" "$T/net" || fail "network-config"
if command -v netplan >/dev/null; then
	mkdir -p "$T/np/etc/netplan"
	{ echo 'network:'; sed 's/^/  /' "$T/net"; } >"$T/np/etc/netplan/50-cloud-init.yaml"
	chmod 600 "$T/np/etc/netplan/50-cloud-init.yaml"
	netplan generate --root-dir "$T/np" >"$T/q" 2>&1 || fail "netplan generate: $(cat "$T/q")"
	cat "$T/np"/run/systemd/network/*.network >"$T/q"
	for l in PermanentMACAddress=52:54:00:12:34:56 Address=10.2.0.11/24 Gateway=10.2.0.1 \
		DNS=10.2.0.2 PermanentMACAddress=52:54:00:12:34:57 DHCP=ipv4; do
		grep -qx "$l" "$T/q" || fail "netplan generate gives no $l: $(cat "$T/q")"
	done
fi
# the instance-id follows the network config
seed "$T/again.iso" "$REIP_NIC" "$DHCP" || fail "again"
isoinfo -R -i "$T/again.iso" -x /meta-data | cmp -s - "$T/meta" || fail "same input, other instance-id"
seed "$T/other.iso" "${REIP_NIC/10.1.0.11/10.1.0.99}" "$DHCP" || fail "other"
isoinfo -R -i "$T/other.iso" -x /meta-data | cmp -s - "$T/meta" && fail "other addresses, same instance-id"
# a seed over an existing file replaces it; a directory that does not exist is an error
seed "$T/seed.iso" "$REIP_NIC" || fail "replace"
isoinfo -R -i "$T/seed.iso" -x /network-config | grep -q nic1 && fail "not replaced"
seed "$T/no/such/dir/seed.iso" "$REIP_NIC" && fail "a seed in a missing directory"
grep -q "$T/no/such/dir/seed.iso: No such file or directory" "$T/err" || fail "$(cat "$T/err")"
pass
