#!/usr/bin/env bash
# Two VM disk images made from one template, for the dedupe test and the pipeline benchmark:
#   vm-a.raw  an ext4 file system of SIZE bytes holding real files of this machine (the
#             shared libraries of /usr/lib/x86_64-linux-gnu, or of VM_IMAGES_SRC): ELF
#             code, text, and zero-filled free space. When the whole directory does not fit
#             in about 55% of SIZE, the files that do, taken in name order.
#   vm-b.raw  a copy of vm-a in which PCT percent of the 64 KiB blocks (counted over the
#             whole image) were overwritten, at 64 KiB-aligned places in the first 70% of
#             the image (where mkfs puts the files), with bytes of other real files (docs
#             and headers): a second VM cloned from the same template that then diverged.
# Usage: vm-images.sh OUTDIR [SIZE=2G] [PCT=5]
# Repeatable for a given machine image: the same files in the same order, a fixed file
# system UUID and hash seed, the same overwritten blocks (a fixed pseudo-random sequence);
# only time stamps inside the file system differ between runs.
# Needs mkfs.ext4 (e2fsprogs) with -d, coreutils, tar, python3.
set -euo pipefail
out=${1:?usage: vm-images.sh OUTDIR [SIZE=2G] [PCT=5]}
size=${2:-2G}
pct=${3:-5}
src=${VM_IMAGES_SRC:-/usr/lib/x86_64-linux-gnu}
mkdir -p "$out"
a=$out/vm-a.raw b=$out/vm-b.raw
rm -f "$a" "$b"
truncate -s "$size" "$a"
bytes=$(stat -c %s "$a")
work=$(mktemp -d "$out/.vm-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# the template's files: all of $src if it fits, else, in name order, each file that still
# fits (hard links count once: tar and mkfs keep them as links)
budget=$((bytes * 55 / 100))
find "$src" -mindepth 1 \( -type f -o -type l \) -printf '%i\t%s\t%P\n' |
	LC_ALL=C sort -t $'\t' -k3 >"$work/all"
total=$(awk -F'\t' '!seen[$1]++ { s += $2 } END { print s + 0 }' "$work/all")
if [ "$total" -le "$budget" ]; then
	tree=$src
else
	awk -F'\t' -v b="$budget" '
		$1 in seen { if (seen[$1]) print $3; next }
		{ seen[$1] = (s + $2 <= b); if (seen[$1]) { s += $2; print $3 } }' "$work/all" >"$work/list"
	mkdir "$work/tree"
	tar -C "$src" -cf - --no-recursion -T "$work/list" 2>/dev/null | tar -C "$work/tree" -xf -
	tree=$work/tree
fi
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,hash_seed=5eed0000-0000-4000-8000-000000000002 \
	-U 5eed0000-0000-4000-8000-000000000001 -d "$tree" "$a"
cp --sparse=always "$a" "$b"

# the data that diverges: other real files, read in a fixed order
find /usr/share/doc /usr/include -type f -size +8k 2>/dev/null | LC_ALL=C sort | head -n 4000 |
	xargs -d '\n' cat >"$work/pool" 2>/dev/null || true
python3 - "$b" "$work/pool" "$pct" <<'PY'
import os, sys
path, pool, pct = sys.argv[1], sys.argv[2], int(sys.argv[3])
B = 65536
blocks = os.path.getsize(path) // B
pool_blocks = os.path.getsize(pool) // B
if pool_blocks == 0:
    sys.exit("vm-images: no source data for vm-b")
x = 12345
with open(path, "r+b") as out, open(pool, "rb") as src:
    for _ in range(blocks * pct // 100):
        x = (x * 1103515245 + 12345) % 2**31          # a fixed LCG: same blocks every run
        dst = x % (blocks * 7 // 10)
        src.seek((x // 7) % pool_blocks * B)
        out.seek(dst * B)
        out.write(src.read(B))
PY
ls -ls "$a" "$b"
