#!/usr/bin/env bash
# The protected site of the failover tests (tests/lib/guests.sh site_start) is real: three
# guests (db, app, web) under the private libvirt, their disks on ferryd over NBD, one
# domain. Their own writes are captured and shipped:
#  1. after the guests booted (each wrote its boot line to its disk), qemu-io writes a
#     pattern into each disk's tail (outside the file system) over NBD while they run;
#     a point is cut; each disk restored from the store holds the guest's boot line
#     (debugfs), the pattern, and a file system that passes e2fsck -fn;
#  2. a second libvirtd, the recovery site's, boots the restored db disk as a VM also
#     named db on its own network dr-net: the guest is the protected db's disk (same id,
#     its second boot) and, not re-addressed, answers at 10.1.0.11's config only, not on
#     dr-net's 10.2.0.11;
#  3. the protected guests are powered off with the ACPI button (each writes a STOP line,
#     then unmounts); a second point holds those last writes.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
require debugfs e2fsck qemu-io timeout

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"
lv_start prot
site_start "$STORE" "$T/store.key"
for n in $SITE_NAMES; do
	info "$n: ${SITE_LINE[$n]}"
	[ "$(guest_tcp "${SITE_ADDR[$n]}")" = "${SITE_LINE[$n]}" ] ||
		fail "$n does not answer on ${SITE_ADDR[$n]}"
done
[ "$(guest_field "${SITE_LINE[db]}" cfg)" = netplan:/etc/netplan/50-ferry-guest.yaml ] ||
	fail "db is not configured by netplan: ${SITE_LINE[db]}"

# more writes, from outside the guests, while they run
i=0
for n in $SITE_NAMES; do
	i=$((i + 1))
	qemu-io -f raw -c "write -P $((0x40 + i)) $SITE_TAIL_OFF 1M" "$NBD_URI_BASE/$n" >/dev/null ||
		fail "qemu-io write to $n"
done

# check_point POINT WHAT: every disk restored at POINT passes e2fsck, holds the pattern
# and the lines WHAT (boot, or boot+stop) of its guest
check_point() {
	local p=$1 what=$2 n i=0 log
	for n in $SITE_NAMES; do
		i=$((i + 1))
		rm -f "$T/r-$n.raw"
		ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain "$SITE_DOMAIN" \
			--disk "$n" --point "$p" --format raw -o "$T/r-$n.raw" >/dev/null ||
			fail "restore $n at $p"
		e2fsck -fn "$T/r-$n.raw" >"$T/fsck.log" 2>&1 ||
			{ cat "$T/fsck.log" >&2; fail "e2fsck of $n at $p"; }
		log=$(guest_log "$T/r-$n.raw")
		grep -qF "${SITE_LINE[$n]} up=" <<<"$log" ||
			fail "$n at $p: no boot line in the restored log: $log"
		if [ "$what" = stop ]; then
			grep -q "^FERRY-GUEST-STOP name=$n " <<<"$log" || fail "$n at $p: no STOP line: $log"
		else
			grep -q "^FERRY-GUEST-STOP" <<<"$log" && fail "$n at $p: a STOP line already"
		fi
		qemu-io -f raw -c "read -P $((0x40 + i)) $SITE_TAIL_OFF 1M" "$T/r-$n.raw" >/dev/null ||
			fail "$n at $p: the qemu-io pattern is not in the restored disk"
	done
	info "point $p: $what lines, patterns and clean file systems in all three disks"
}
p1=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN" --wait) || fail "point 1"
check_point "$p1" boot

# the recovery site: another hypervisor, where the restored db runs as db too
lv_start dr
lv_net_create dr-net 10.2.0.1/24
cp --sparse=always "$T/r-db.raw" "$T/dr-db.raw"
guest_start db "$T/dr-db.serial" "$T/dr-db.raw" --net dr-net "${SITE_MAC[db]}"
l=$(guest_wait "$T/dr-db.serial") || exit 1
info "recovery site: $l"
[ "$(guest_field "$l" id)" = "$(guest_field "${SITE_LINE[db]}" id)" ] || fail "dr db booted another disk"
[ "$(guest_field "$l" boot)" = 2 ] || fail "dr db: not the disk's second boot: $l"
[ "$(guest_field "$l" ip)" = 10.1.0.11/24 ] || fail "dr db: $l"
! guest_tcp 10.2.0.11 5 >/dev/null || fail "something answers at 10.2.0.11 without a Re-IP"
[ "$(lv_virsh domstate db)" = running ] || fail "dr db is not running"
lv_stop dr
lv_use prot
[ "$(lv_virsh domstate db)" = running ] || fail "the protected db is not running"

for n in $SITE_NAMES; do lv_virsh shutdown "$n" >/dev/null || fail "shutdown $n"; done
for n in $SITE_NAMES; do
	wait_for 60 _guest_is_off "$n" || fail "$n did not power off"
	grep -q '^FERRY-GUEST-STOP' "${SITE_SERIAL[$n]}" || fail "$n printed no STOP line"
done
p2=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN" --wait) || fail "point 2"
check_point "$p2" stop
stop_ferryd
pass
