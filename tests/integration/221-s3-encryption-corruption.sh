#!/usr/bin/env bash
# Pipeline acceptance 5 and 6 (as 110-pipeline-encryption-corruption.sh) on an S3 store (Ceph
# RGW). Encryption: no 4 KiB block of the source appears in plain in any object of the
# bucket (every object fetched with a signed GET); a wrong key exits 1 with a clear message.
# Corruption, done behind ferry's back with plain signed PUTs and DELETEs: a flipped byte in
# every pack, then a truncated manifest and a deleted pack: verify names each; restore of an
# affected disk fails loudly and leaves no output file.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
require python3 qemu-io
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
B=ferry-enc
rgw_mkbucket $B
rgw_keys "$T/keys"

write_config "$T/ferry.conf" 64M 1M d0:"$T/d0.raw":16M d1:"$T/d1.raw":16M
s3_store_conf "$T/ferry.conf" $B/site "$RGW_ENDPOINT"
C=(-c "$T/ferry.conf")
ferryctl init "${C[@]}" >/dev/null || fail "init"
python3 -c '
import random,sys
r=random.Random(5)
words=[b"alpha",b"bravo",b"charlie",b"delta",b"echo"]
sys.stdout.buffer.write(b" ".join(r.choice(words) for _ in range(2<<20))[:8<<20])' >"$T/src.bin"
dd if="$T/src.bin" of="$T/d0.raw" conv=notrunc status=none
head -c 4M /dev/urandom | dd of="$T/d1.raw" conv=notrunc status=none
start_ferryd "$T/ferry.conf"
qemu-io -f raw -c 'write -P 0x5a 9M 1M' "$NBD_URI_BASE/d1" >/dev/null || fail "qemu-io"
ferryctl point "${C[@]}" --domain dom --wait >/dev/null || fail "point"
stop_ferryd

# every object of the bucket, fetched as it is stored: $T/objs/<name>
s3_keys() {	# every object name under site/ (one page: fewer than 1000 here)
	rgw_s3 -o "$T/list.xml" "$RGW_ENDPOINT/$B?list-type=2&prefix=site%2F" || fail "listing"
	grep -o '<Key>[^<]*</Key>' "$T/list.xml" | sed 's/<Key>\(.*\)<\/Key>/\1/'
}
mapfile -t keys < <(s3_keys)
[ ${#keys[@]} -ge 3 ] || fail "only ${#keys[@]} objects in the bucket"
for k in "${keys[@]}"; do
	mkdir -p "$(dirname "$T/objs/$k")"
	rgw_s3 -f -o "$T/objs/$k" "$RGW_ENDPOINT/$B/$k" || fail "GET $k"
done
python3 - "$T/objs" "$T/d0.raw" "$T/d1.raw" <<'PY' || fail "plaintext found in the store"
import os, sys
blocks = set()
for src in sys.argv[2:]:
    data = open(src, "rb").read()
    for i in range(0, len(data), 4096):
        b = data[i:i + 4096]
        if b.count(0) < 4096:
            blocks.add(b)
found = n = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        n += 1
        data = open(os.path.join(root, f), "rb").read()
        for i in range(0, max(0, len(data) - 4095), 512):
            if data[i:i + 4096] in blocks:
                found += 1
print(f"{len(blocks)} source blocks, {n} objects, {found} found in the store")
sys.exit(1 if found else 0)
PY

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/wrong.key"; echo >>"$T/wrong.key"; chmod 600 "$T/wrong.key"
sed "s|^key_file = .*|key_file = $T/wrong.key|" "$T/ferry.conf" >"$T/wrong.conf"
rc=0; ferryctl points -c "$T/wrong.conf" --domain dom >"$T/out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "wrong key: expected exit 1, got $rc"
grep -qi 'wrong key' "$T/out" || { cat "$T/out"; fail "wrong key: unclear message"; }

ferryctl verify "${C[@]}" --read-data || fail "verify of a sound store"
s3_put() {	# NAME FILE: overwrite an object behind ferry's back
	local code
	code=$(rgw_s3 -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$2" "$RGW_ENDPOINT/$B/$1")
	[ "$code" = 200 ] || fail "PUT $1: HTTP $code"
}
mapfile -t packs < <(printf '%s\n' "${keys[@]}" | grep '^site/packs/' | sort)
[ ${#packs[@]} -ge 2 ] || info "only ${#packs[@]} pack(s)"
for p in "${packs[@]}"; do
	python3 -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//3]^=0x40; open(p,'wb').write(b)" "$T/objs/$p"
	s3_put "$p" "$T/objs/$p"
done
rc=0; ferryctl verify "${C[@]}" --read-data >"$T/v1" 2>&1 || rc=$?
cat "$T/v1" >&2
[ $rc -eq 1 ] || fail "verify did not fail on a flipped byte"
for p in "${packs[@]}"; do grep -q "${p#site/}" "$T/v1" || fail "verify did not name the damaged pack ${p#site/}"; done
rc=0; ferryctl restore "${C[@]}" --domain dom --disk d0 --format raw -o "$T/out0.raw" 2>"$T/r.err" || rc=$?
rc1=0; ferryctl restore "${C[@]}" --domain dom --disk d1 --format raw -o "$T/out1.raw" 2>>"$T/r.err" || rc1=$?
[ $rc -ne 0 ] || [ $rc1 -ne 0 ] || fail "no restore failed although every pack is damaged"
[ $rc -eq 0 ] || [ ! -e "$T/out0.raw" ] || fail "a failed restore left an output file"
[ $rc1 -eq 0 ] || [ ! -e "$T/out1.raw" ] || fail "a failed restore left an output file"
cat "$T/r.err" >&2
m=$(printf '%s\n' "${keys[@]}" | grep '^site/domains/' | sort | tail -n 1)
head -c $(( $(stat -c %s "$T/objs/$m") / 2 )) "$T/objs/$m" >"$T/half"
s3_put "$m" "$T/half"
if [ ${#packs[@]} -ge 2 ]; then
	code=$(rgw_s3 -o /dev/null -w '%{http_code}' -X DELETE "$RGW_ENDPOINT/$B/${packs[1]}")
	[ "$code" = 204 ] || fail "DELETE ${packs[1]}: HTTP $code"
fi
rc=0; ferryctl verify "${C[@]}" >"$T/v2" 2>&1 || rc=$?
cat "$T/v2" >&2
[ $rc -eq 1 ] || fail "verify did not fail"
grep -q "${m#site/}" "$T/v2" || fail "verify did not name the truncated manifest"
if [ ${#packs[@]} -ge 2 ]; then grep -q "${packs[1]#site/}" "$T/v2" || fail "verify did not name the deleted pack"; fi
pass
