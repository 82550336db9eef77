#!/usr/bin/env bash
# Pipeline acceptance 1: an ext4 image into ferryd with nbdcopy, a point, restore raw:
# identical. Then 100 random qemu-io writes, a point, restore equals the primary; the first
# point still restores to the original image. Encrypted repository on a file:// store.
. "$(dirname "$0")/../lib/functions.sh"
require nbdcopy qemu-io qemu-img mkfs.ext4 python3

mkdir -p "$T/tree" && make_tree "$T/tree" 24
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.img" 64M || fail "mkfs.ext4"
STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" || fail "init"
[ "$(stat -c %a "$T/store.key")" = 600 ] || fail "key file is not 0600"
write_config "$T/ferry.conf" 256M 1M vm0:"$T/vm0.raw":64M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
start_ferryd "$T/ferry.conf"

nbdcopy --flush "$T/fs.img" "$NBD_URI_BASE/vm0" || fail "nbdcopy"
p1=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 1"
info "point $p1"
ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain dom --disk vm0 \
	--point "$p1" --format raw -o "$T/r1.raw" || fail "restore $p1"
cmp "$T/fs.img" "$T/r1.raw" || fail "restore of $p1 differs from the image"

ops=(); for i in $(seq 1 100); do
	len=$(( (RANDOM % 32 + 1) * 512 )); off=$(( (RANDOM * 32768 + RANDOM) % (64 * 1048576 - len) / 512 * 512 ))
	ops+=(-c "write -P $((RANDOM % 255 + 1)) $off $len")
done
qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
p2=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 2"
# status reports the newest consistent point and the current RPO (its age)
ferryctl status -c "$T/ferry.conf" >"$T/status.txt" || fail "status"
grep -q "domain dom: protected, point $p2, current RPO [0-9.]* s" "$T/status.txt" ||
	fail "status does not show point $p2 and the current RPO: $(cat "$T/status.txt")"
ferryctl status -c "$T/ferry.conf" --json | grep -q "\"consistent_point\":\"$p2\"" ||
	fail "status --json does not name consistent point $p2"
info "point $p2"
ferryctl points --store "$STORE" --key-file "$T/store.key" --domain dom >&2 || fail "points"
ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain dom --disk vm0 \
	--format raw -o "$T/r2.raw" || fail "restore latest"
cmp "$T/vm0.raw" "$T/r2.raw" || fail "restore of the latest point differs from the primary"
rm -f "$T/r1.raw"
ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain dom --disk vm0 \
	--point "$p1" --format raw -o "$T/r1.raw" || fail "restore $p1 again"
cmp "$T/fs.img" "$T/r1.raw" || fail "the first point no longer restores to the image"
ferryctl verify --store "$STORE" --key-file "$T/store.key" --read-data || fail "verify"
stop_ferryd
pass
