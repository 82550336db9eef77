#!/usr/bin/env bash
# Pipeline acceptance 5 and 6. Encryption: no 4 KiB block of the source appears in plain in
# any object of the store; a wrong key exits 1 with a clear message. Corruption: a flipped
# byte in a pack, a truncated manifest, a deleted pack: verify names each; restore of an
# affected disk fails loudly and leaves no output file.
. "$(dirname "$0")/../lib/functions.sh"
require python3 qemu-io

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/k" || fail "init"
write_config "$T/ferry.conf" 64M 1M d0:"$T/d0.raw":16M d1:"$T/d1.raw":16M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/k" >>"$T/ferry.conf"
# distinctive, compressible-but-not-trivial source blocks
python3 -c '
import random,sys
r=random.Random(5)
words=[b"alpha",b"bravo",b"charlie",b"delta",b"echo"]
sys.stdout.buffer.write(b" ".join(r.choice(words) for _ in range(2<<20))[:8<<20])' >"$T/src.bin"
dd if="$T/src.bin" of="$T/d0.raw" conv=notrunc status=none
head -c 4M /dev/urandom | dd of="$T/d1.raw" conv=notrunc status=none
start_ferryd "$T/ferry.conf"
qemu-io -f raw -c 'write -P 0x5a 9M 1M' "$NBD_URI_BASE/d1" >/dev/null || fail "qemu-io"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "point"
stop_ferryd

python3 - "$T/store" "$T/d0.raw" "$T/d1.raw" <<'PY' || fail "plaintext found in the store"
import os, sys
blocks = set()
for src in sys.argv[2:]:
    data = open(src, "rb").read()
    for i in range(0, len(data), 4096):
        b = data[i:i + 4096]
        if b.count(0) < 4096:
            blocks.add(b)
found = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        data = open(os.path.join(root, f), "rb").read()
        for i in range(0, max(0, len(data) - 4095), 512):
            if data[i:i + 4096] in blocks:
                found += 1
print(f"{len(blocks)} source blocks, {found} found in the store")
sys.exit(1 if found else 0)
PY

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/wrong.key"; echo >>"$T/wrong.key"; chmod 600 "$T/wrong.key"
rc=0; ferryctl points --store "$STORE" --key-file "$T/wrong.key" --domain dom >"$T/out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "wrong key: expected exit 1, got $rc"
grep -qi 'wrong key' "$T/out" || { cat "$T/out"; fail "wrong key: unclear message"; }

ferryctl verify --store "$STORE" --key-file "$T/k" --read-data || fail "verify of a sound store"
# damage: flip a byte in the middle of one pack, truncate the newest manifest, delete a pack
mapfile -t packs < <(find "$T/store/packs" -type f | sort)
[ ${#packs[@]} -ge 2 ] || info "only ${#packs[@]} pack(s)"
# a flipped byte in the data part of every pack: whatever pack the newest point reads from
for p in "${packs[@]}"; do
	python3 -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//3]^=0x40; open(p,'wb').write(b)" "$p"
done
p0=${packs[0]}
rc=0; ferryctl verify --store "$STORE" --key-file "$T/k" --read-data >"$T/v1" 2>&1 || rc=$?
cat "$T/v1" >&2
[ $rc -eq 1 ] || fail "verify did not fail on a flipped byte"
for p in "${packs[@]}"; do grep -q "${p#$T/store/}" "$T/v1" || fail "verify did not name the damaged pack ${p#$T/store/}"; done
rc=0; ferryctl restore --store "$STORE" --key-file "$T/k" --domain dom --disk d0 \
	--format raw -o "$T/out0.raw" 2>"$T/r.err" || rc=$?
rc1=0; ferryctl restore --store "$STORE" --key-file "$T/k" --domain dom --disk d1 \
	--format raw -o "$T/out1.raw" 2>>"$T/r.err" || rc1=$?
[ $rc -ne 0 ] || [ $rc1 -ne 0 ] || fail "no restore failed although every pack is damaged"
[ $rc -eq 0 ] || [ ! -e "$T/out0.raw" ] || fail "a failed restore left an output file"
[ $rc1 -eq 0 ] || [ ! -e "$T/out1.raw" ] || fail "a failed restore left an output file"
cat "$T/r.err" >&2
m=$(find "$T/store/domains" -type f | sort | tail -1)
truncate -s $(( $(stat -c %s "$m") / 2 )) "$m"
if [ ${#packs[@]} -ge 2 ]; then rm -f "${packs[1]}"; fi
rc=0; ferryctl verify --store "$STORE" --key-file "$T/k" >"$T/v2" 2>&1 || rc=$?
cat "$T/v2" >&2
[ $rc -eq 1 ] || fail "verify did not fail"
grep -q "${m#$T/store/}" "$T/v2" || fail "verify did not name the truncated manifest"
if [ ${#packs[@]} -ge 2 ]; then grep -q "${packs[1]#$T/store/}" "$T/v2" || fail "verify did not name the deleted pack"; fi
pass
