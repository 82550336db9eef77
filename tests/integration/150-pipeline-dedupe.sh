#!/usr/bin/env bash
# Pipeline acceptance 4: dedupe across domains. vm-a and vm-b are two 512 MiB VM images
# from one template (tests/lib/vm-images.sh: vm-b = vm-a with 5% of its 64 KiB blocks
# overwritten). vm-a is seeded into ferryd (a disk with existing content is seeded at the
# first point of its domain); then ferryd is restarted with a second domain holding vm-b,
# whose first point seeds it. What vm-b's points stored must be under 10% of vm-b's used
# bytes, defined as its non-zero 4 KiB blocks x 4096 (what a guest wrote; holes and zero
# blocks are free in the repository). Both disks restore identical to their images.
. "$(dirname "$0")/../lib/functions.sh"
require mkfs.ext4 python3 tar
SIZE=${SIZE:-512M}

"$TOP/tests/lib/vm-images.sh" "$T/img" "$SIZE" 5 >&2 || fail "vm-images.sh"
A=$T/img/vm-a.raw B=$T/img/vm-b.raw
STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"

write_config "$T/ferry-a.conf" 64M 1M vma:"$A"
sed -i 's/^\[domain dom\]$/[domain vm-a]\nrpo = 1h/' "$T/ferry-a.conf"
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/ferry-a.conf"
{ cat "$T/ferry-a.conf"; printf '[domain vm-b]\nrpo = 1h\ndisk = vmb:%s\n' "$B"; } >"$T/ferry-ab.conf"

start_ferryd "$T/ferry-a.conf" "$T/ferryd.a.log"
pa=$(ferryctl point -c "$T/ferry-a.conf" --domain vm-a --wait) || fail "point of vm-a"
stop_ferryd
start_ferryd "$T/ferry-ab.conf" "$T/ferryd.ab.log"
pb=$(ferryctl point -c "$T/ferry-ab.conf" --domain vm-b --wait) || fail "point of vm-b"
stop_ferryd
info "vm-a caught up at $pa, vm-b at $pb"
grep -h 'seeding\|point vm-' "$T"/ferryd.*.log >&2

for d in vm-a vm-b; do
	ferryctl points --store "$STORE" --key-file "$T/store.key" --domain $d --json >"$T/$d.json" ||
		fail "points of $d"
done
python3 - "$T/vm-a.json" "$T/vm-b.json" "$A" "$B" <<'PY' || fail "vm-b stored too much (see above)"
import json, sys

def used(path):	# non-zero 4 KiB blocks x 4096
    zero, n = bytes(4096), 0
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            n += sum(b[i:i + 4096] != zero for i in range(0, len(b), 4096))
    return n * 4096

def stored(path):
    pts = json.load(open(path))
    assert pts[0]["consistent"] is False and any(p["consistent"] for p in pts), \
        f"{path}: expected a seed point followed by a consistent one"
    return sum(p["stored_bytes"] for p in pts), len(pts)

M = 1 << 20
for name, js, img in (("vm-a", sys.argv[1], sys.argv[3]), ("vm-b", sys.argv[2], sys.argv[4])):
    s, n = stored(js)
    u = used(img)
    print(f"# {name}: used {u / M:.1f} MiB, stored {s / M:.1f} MiB by its {n} points "
          f"({100 * s / u:.1f}% of used)", file=sys.stderr)
sys.exit(0 if s < u / 10 else 1)
PY
for d in a b; do
	ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain vm-$d --disk vm$d \
		--format raw -o "$T/r-$d.raw" >/dev/null || fail "restore vm-$d"
done
cmp "$A" "$T/r-a.raw" || fail "vm-a restores different"
cmp "$B" "$T/r-b.raw" || fail "vm-b restores different"
ferryctl verify --store "$STORE" --key-file "$T/store.key" >&2 || fail "verify"
pass
