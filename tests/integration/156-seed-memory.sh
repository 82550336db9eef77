#!/usr/bin/env bash
# ferryd's memory while seeding is bounded whatever the disk's size: a 512 MiB disk in a
# repository of 256-byte chunks is 2,097,152 chunks, as many as 128 GiB at 64 KiB. The
# point writer spills its extents to an unlinked scratch file in state_dir and builds the
# map region by region (repo/map-spill.c), so ferryd's peak RSS (VmHWM) stays under
# BOUND_MIB; holding every extent until the commit (about 128 bytes a chunk) needed over
# 300 MiB here. The seed restores equal to the disk. Then, from scratch, a seed is killed
# (-9) once it has spilled: no point is visible, no scratch file is left, and the next
# seed completes.
. "$(dirname "$0")/../lib/functions.sh"
require python3
BOUND_MIB=160

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/k" --chunk-size 256 >/dev/null || fail "init"
# 512 MiB: one random MiB repeated with its number in it (the chunk index stays small,
# the map is one extent per chunk)
python3 - "$T/vm0.raw" <<'PY'
import os, sys
block = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for i in range(512):
        f.write(i.to_bytes(8, "little") + block[8:])
PY
write_config "$T/ferry.conf" 64M 4M vm0:"$T/vm0.raw"
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/k" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 24h/' "$T/ferry.conf"

seed() {
	ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "the seed"
}
# the scratch file: open by ferryd, in state_dir, never named ("#inode (deleted)")
scratch_open() {
	local fd
	for fd in /proc/"$FERRYD_PID"/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in "$T/state/"*"(deleted)") return 0 ;; esac
	done
	return 1
}

start_ferryd "$T/ferry.conf"
seed
hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' /proc/"$FERRYD_PID"/status)
info "ferryd's peak RSS through the seed: $hwm MiB (bound $BOUND_MIB MiB)"
grep 'point dom 1\.1' "$T/ferryd.log" >&2
[ "$hwm" -le "$BOUND_MIB" ] ||
	fail "ferryd's peak RSS was $hwm MiB seeding 2 M chunks (bound $BOUND_MIB MiB)"
stop_ferryd
ferryctl restore --store "$STORE" --key-file "$T/k" --domain dom --disk vm0 --format raw \
	-o "$T/r.raw" >/dev/null || fail "restore"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the restore differs from the disk"
rm -f "$T/r.raw"

# again from scratch, killed (-9) once the seed has spilled
rm -rf "$T/store" "$T/state" "$T/replog" && mkdir "$T/state"
ferryctl init --store "$STORE" --key-file "$T/k" --chunk-size 256 >/dev/null || fail "init"
start_ferryd "$T/ferry.conf"
ferryctl point -c "$T/ferry.conf" --domain dom >/dev/null 2>&1 &
asker=$!
wait_for 60 scratch_open || fail "the seed never spilled its map to state_dir"
kill9_ferryd
wait "$asker" 2>/dev/null || true
n=$(find "$T/store" -path '*/points/*' -type f | wc -l)
[ "$n" = 0 ] || fail "a seed killed mid-way left $n manifests"
[ -z "$(find "$T/state" -name 'ferry-spill*')" ] || fail "a scratch file was left in state_dir"
start_ferryd "$T/ferry.conf"
seed
stop_ferryd
ferryctl restore --store "$STORE" --key-file "$T/k" --domain dom --disk vm0 --format raw \
	-o "$T/r.raw" >/dev/null || fail "restore after the crash"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the restore after the crash differs from the disk"
pass
