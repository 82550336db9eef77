#!/usr/bin/env bash
# VMDK formats (image/): a raw disk (an ext4 filesystem, zero holes, random and text data,
# a size that is no multiple of 64 KiB) written by tests/tools/vmdk-tool as
# monolithicSparse, monolithicFlat and streamOptimized. Each must pass `qemu-img check`,
# be identical to the raw for `qemu-img compare`, have the right createType for
# `qemu-img info`, and read back equal through our reader. The sparse file must equal
# qemu-img's own conversion byte for byte outside the descriptor. Then our reader reads
# what qemu-img writes in every subformat, and a flat descriptor is updated in place.
. "$(dirname "$0")/../lib/functions.sh"
require qemu-img mkfs.ext4 python3
TOOL=$TBIN/vmdk-tool
[ -x "$TOOL" ] || fail "$TOOL not built (make tests)"

mkdir -p "$T/tree" && make_tree "$T/tree" 16
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.img" 40M || fail "mkfs.ext4"
python3 - "$T/fs.img" "$T/disk.raw" <<'PY' || fail "building the raw disk"
import random, sys
r = random.Random(7)
MiB = 1 << 20
size = 90 * MiB + 3 * 512                       # not a multiple of 64 KiB
with open(sys.argv[2], "wb") as f:
    f.write(open(sys.argv[1], "rb").read())     # 0..40 MiB: ext4
    f.seek(52 * MiB); f.write(r.randbytes(9 * MiB + 4096))      # after a 12 MiB hole
    f.seek(66 * MiB + 512); f.write(b"ferry vmdk test " * (MiB // 16))
    f.seek(80 * MiB); f.write(bytes(MiB))                      # explicit zeroes
    f.seek(size - 1024); f.write(b"\xee" * 1024)               # the partial last grain
    f.truncate(size)
PY

check_vmdk() {	# file createType
	qemu-img check "$1" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; fail "qemu-img check $1"; }
	qemu-img compare -f raw -F vmdk "$T/disk.raw" "$1" >/dev/null || fail "qemu-img compare $1"
	qemu-img info --output=json "$1" | grep -q "\"create-type\": \"$2\"" ||
		fail "$1: createType is not $2"
	rm -f "$T/back.raw"
	"$TOOL" read "$1" "$T/back.raw" || fail "reading $1"
	cmp "$T/disk.raw" "$T/back.raw" || fail "$1 reads back different"
}

for spec in sparse:monolithicSparse:65536 flat:monolithicFlat:1000000 stream:streamOptimized:4096 \
	    stream:streamOptimized:1048576; do
	IFS=: read -r fmt type chunk <<<"$spec"
	out=$T/$fmt-$chunk.vmdk
	"$TOOL" write "$fmt" "$T/disk.raw" "$out" --chunk "$chunk" --ddb ddb.ferry.point=3.17 ||
		fail "vmdk-tool write $fmt"
	[ ! -e "$out.part" ] || fail "$out.part left behind"
	check_vmdk "$out" "$type"
	"$TOOL" info "$out" | grep -q '^ddb.ferry.point = 3.17$' || fail "$out: ddb.ferry.point missing"
	info "$fmt (chunk $chunk): $(du -k "$out" | cut -f1) KiB used, $(stat -c %s "$out") bytes"
done

# streamOptimized: footer marker at EOF-1536, EOS at EOF-512, file a whole number of sectors
s=$T/stream-4096.vmdk; sz=$(stat -c %s "$s")
[ $((sz % 512)) -eq 0 ] || fail "stream size $sz is not a multiple of 512"
[ "$(tail -c 512 "$s" | tr -d '\0' | wc -c)" -eq 0 ] || fail "no EOS sector at the end"
[ "$(od -An -tu4 -j $((sz - 1536 + 12)) -N4 "$s" | tr -d ' ')" = 3 ] || fail "no footer marker"
cmp -s "$T/stream-4096.vmdk" "$T/stream-1048576.vmdk" -i 10752:10752 ||
	fail "stream output depends on how the writes were cut"

# monolithicSparse: qemu-img's layout exactly; only the descriptor (sectors 1..20) differs
qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse,adapter_type=lsilogic \
	"$T/disk.raw" "$T/q-sparse.vmdk" || fail "qemu-img convert"
[ "$(stat -c %s "$T/q-sparse.vmdk")" = "$(stat -c %s "$T/sparse-65536.vmdk")" ] ||
	fail "sparse file size differs from qemu-img's"
n=$(cmp -l "$T/q-sparse.vmdk" "$T/sparse-65536.vmdk" | awk '$1 <= 512 || $1 > 10752' | wc -l)
[ "$n" -eq 0 ] || fail "sparse layout differs from qemu-img's in $n bytes outside the descriptor"

# qemu-img's files of every subformat read back equal
for sub in monolithicSparse monolithicFlat streamOptimized twoGbMaxExtentSparse twoGbMaxExtentFlat; do
	qemu-img convert -f raw -O vmdk -o subformat=$sub "$T/disk.raw" "$T/q-$sub.vmdk" ||
		fail "qemu-img convert $sub"
	rm -f "$T/back.raw"
	"$TOOL" read "$T/q-$sub.vmdk" "$T/back.raw" || fail "reading qemu-img's $sub"
	cmp "$T/disk.raw" "$T/back.raw" || fail "qemu-img's $sub reads back different"
done

# ferryctl import: a protected disk's primary from a VMDK (qemu-img's, every layout)
for sub in streamOptimized monolithicSparse monolithicFlat; do
	ferryctl import --vmdk "$T/q-$sub.vmdk" -o "$T/imp-$sub.raw" >/dev/null || fail "import $sub"
	cmp "$T/disk.raw" "$T/imp-$sub.raw" || fail "imported $sub differs"
done
ferryctl import --vmdk "$T/q-streamOptimized.vmdk" -o "$T/imp-streamOptimized.raw" 2>/dev/null &&
	fail "import overwrote an existing primary"
echo "hello" >"$T/junk2.vmdk"
ferryctl import --vmdk "$T/junk2.vmdk" -o "$T/imp-junk.raw" 2>/dev/null && fail "import of junk"
[ -e "$T/imp-junk.raw" ] || [ -e "$T/imp-junk.raw.part" ] && fail "a failed import left a file"

# monolithicFlat updated in place: new ddb value, new CID, still qemu-clean
f=$T/flat-1000000.vmdk
cid1=$("$TOOL" info "$f" | awk '/^CID/ {print $2}')
"$TOOL" set-ddb "$f" ddb.ferry.point=3.18 ddb.ferry.domain=web || fail "set-ddb"
"$TOOL" info "$f" | grep -q '^ddb.ferry.point = 3.18$' || fail "ddb.ferry.point not updated"
cid2=$("$TOOL" info "$f" | awk '/^CID/ {print $2}')
[ "$cid1" != "$cid2" ] || fail "CID unchanged after the update"
check_vmdk "$f" monolithicFlat

# bad input: not a VMDK, a truncated stream
echo "hello" >"$T/junk.vmdk"
"$TOOL" read "$T/junk.vmdk" "$T/x.raw" 2>/dev/null && fail "junk accepted"
head -c $((sz - 1024)) "$s" >"$T/trunc.vmdk"
"$TOOL" read "$T/trunc.vmdk" "$T/x.raw" 2>/dev/null && fail "a truncated stream accepted"
pass
