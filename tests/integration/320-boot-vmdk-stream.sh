#!/usr/bin/env bash
# Restore acceptance 2 (issue 5): restored VMDKs boot. A 1 MiB disk whose boot sector
# (assembled here, tests/lib/bootsector.sh) reads sector 1536 and prints the text there to
# the serial port is written through ferryd with nbdcopy: point 1. The marker sector is
# overwritten over NBD with qemu-io: point 2. Each point is restored as vmdk-stream, must
# pass `qemu-img check` and equal the raw disk of its point, and booted by
# qemu-system-x86_64 (TCG, no display, serial on stdout) must print exactly its own marker.
# qemu-system-x86 is installed with apt-get when missing and we are root; else skip.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/bootsector.sh"
require nbdcopy qemu-io qemu-img python3 as ld timeout

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		skip "qemu-system-x86_64 not installed and cannot install it here (needs root and apt-get: qemu-system-x86)"
	fi
	info "installing qemu-system-x86"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends qemu-system-x86 >"$T/apt.log" 2>&1; then
		apt-get update -q >>"$T/apt.log" 2>&1
		apt-get install -y -q --no-install-recommends qemu-system-x86 >>"$T/apt.log" 2>&1 ||
			skip "cannot install qemu-system-x86: $(tail -n 1 "$T/apt.log")"
	fi
	command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86 did not provide qemu-system-x86_64"
fi

LBA=1536
SIZE=$((1 << 20))
M1="ferry-boot-point-one-$RANDOM$RANDOM"
M2="ferry-boot-point-two-$RANDOM$RANDOM"
make_boot_disk "$T/boot1.raw" $SIZE $LBA "$M1" || fail "building the boot disk"
cp "$T/boot1.raw" "$T/boot2.raw"
marker_sector "$T/m2.sec" "$M2" || fail "marker sector"
dd if="$T/m2.sec" of="$T/boot2.raw" bs=512 seek=$LBA conv=notrunc status=none

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"
write_config "$T/ferry.conf" 64M 1M boot0:"$T/boot0.raw":1M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
start_ferryd "$T/ferry.conf"

nbdcopy --flush "$T/boot1.raw" "$NBD_URI_BASE/boot0" || fail "nbdcopy"
p1=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 1"
qemu-io -f raw -c "write -q -s $T/m2.sec $((LBA * 512)) 512" -c flush "$NBD_URI_BASE/boot0" ||
	fail "qemu-io write of the second marker"
p2=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 2"
[ "$p1" != "$p2" ] || fail "the second point has the same name as the first ($p1)"
cmp "$T/boot2.raw" "$T/boot0.raw" || fail "the primary disk is not the expected second image"
info "points $p1 and $p2"
stop_ferryd

# boot FILE: run the VM until its serial output has a complete "[...]" line (or 60 s) and
# print that output; the emulator is killed as soon as the line is there.
boot() {
	local out=$T/serial.$RANDOM qpid i
	: >"$out"
	timeout 60 qemu-system-x86_64 -machine pc,accel=tcg -m 32 -display none -monitor none \
		-serial stdio -no-reboot -nic none -drive file="$1",format=vmdk,if=ide \
		</dev/null >"$out" 2>"$out.err" &
	qpid=$!
	_pids+=("$qpid")
	for ((i = 0; i < 600; i++)); do
		grep -q '\]' "$out" && break
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
	grep -v 'terminating on signal' "$out.err" | head -c 300 >&2
	tr -d '\r' <"$out"
}

for n in 1 2; do
	p=p$n; p=${!p}; m=M$n; m=${!m}; o=M$((3 - n)); o=${!o}
	v=$T/boot-$n.vmdk
	t0=$(date +%s.%N)
	ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain dom --disk boot0 \
		--point "$p" --format vmdk-stream -o "$v" >&2 || fail "restore $p as vmdk-stream"
	qemu-img check "$v" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; fail "qemu-img check $v"; }
	qemu-img info --output=json "$v" | grep -q '"create-type": "streamOptimized"' ||
		fail "$v is not streamOptimized"
	qemu-img compare -f raw -F vmdk "$T/boot$n.raw" "$v" >/dev/null ||
		fail "restore of $p differs from the disk at that point"
	t1=$(date +%s.%N)
	got=$(boot "$v")
	t2=$(date +%s.%N)
	info "point $p: restored+checked in $(echo "$t1 - $t0" | bc) s, booted in $(echo "$t2 - $t1" | bc) s: $got"
	[ "$got" = "[$m]" ] || fail "point $p booted and printed '$got', expected '[$m]'"
	case $got in *"$o"*) fail "point $p printed the other point's marker" ;; esac
done
pass
