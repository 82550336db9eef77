#!/usr/bin/env bash
# Recovery acceptance 1 and 4, and restore's --resume and progress:
# - a disk shaped like vm-a (ext4 with files, random data, zero holes; size not a multiple
#   of the 64 KiB chunk) goes into ferryd; point 1; 200 random qemu-io writes (partial
#   chunks included), point 2. Each point restores in every format (raw, vmdk, vmdk-flat,
#   vmdk-stream): qemu-img check clean, qemu-img compare identical to the primary as it
#   was at that point, the create type and ddb.ferry.point right.
# - --json prints progress lines; a restore killed with -9 after a checkpoint leaves no
#   file at PATH, and --resume continues from the checkpoint to an identical result, in
#   every format.
# - a corrupt chunk (flipped byte in a pack) and a missing pack: every format fails naming
#   the disk and the offset, and leaves nothing at PATH (nor a .part).
. "$(dirname "$0")/../lib/functions.sh"
require nbdcopy qemu-io qemu-img mkfs.ext4 python3

SIZE=$((160 * 1048576 + 3 * 512))
mkdir -p "$T/tree" && make_tree "$T/tree" 40
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.img" 96M || fail "mkfs.ext4"
python3 - "$T/img.raw" "$T/fs.img" "$SIZE" <<'PY' || fail "building the image"
import os, random, sys
out, fs, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = random.Random(5)
with open(out, "wb") as f:
    f.truncate(size)
    f.write(open(fs, "rb").read())
    f.seek(112 << 20); f.write(r.randbytes(24 << 20))          # incompressible data
    f.seek(140 << 20); f.write(b"ferry text " * (1 << 20))      # compressible data
    f.seek(size - 1000); f.write(r.randbytes(1000))             # the short last chunk
PY
STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"
write_config "$T/ferry.conf" 512M 1M vm0:"$T/vm0.raw":$SIZE
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
C=(-c "$T/ferry.conf")
start_ferryd "$T/ferry.conf"

nbdcopy --flush "$T/img.raw" "$NBD_URI_BASE/vm0" || fail "nbdcopy"
p1=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 1"
cp --sparse=always "$T/vm0.raw" "$T/ref1.raw"
ops=(); for i in $(seq 1 200); do
	len=$(( (RANDOM % 64 + 1) * 512 )); off=$(( (RANDOM * 32768 + RANDOM) % (SIZE - len) / 512 * 512 ))
	if [ $((i % 10)) = 0 ]; then ops+=(-c "write -z $off $len"); else ops+=(-c "write -P $((RANDOM % 255 + 1)) $off $len"); fi
done
qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
p2=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 2"
cp --sparse=always "$T/vm0.raw" "$T/ref2.raw"
info "points $p1 and $p2"

declare -A ctype=([vmdk]=monolithicSparse [vmdk-flat]=monolithicFlat [vmdk-stream]=streamOptimized)
for p in "$p1" "$p2"; do
	ref=$T/ref1.raw; [ "$p" = "$p2" ] && ref=$T/ref2.raw
	for f in raw vmdk vmdk-flat vmdk-stream; do
		out=$T/out-$p-$f.vmdk
		ferryctl restore "${C[@]}" --domain dom --disk vm0 --point "$p" --format "$f" \
			-o "$out" >/dev/null || fail "restore $p as $f"
		if [ "$f" = raw ]; then
			cmp "$out" "$ref" || fail "raw restore of $p differs"
			continue
		fi
		qemu-img check -q "$out" || fail "qemu-img check: $f of $p"
		qemu-img compare -q -f vmdk -F raw "$out" "$ref" || fail "$f of $p differs"
		qemu-img info "$out" | grep -q "create type: ${ctype[$f]}" ||
			fail "$f of $p: create type is not ${ctype[$f]}"
		head -c 20000 "$out" | grep -aq "ddb.ferry.point = \"$p\"" ||
			fail "$f of $p: the descriptor does not name the point"
	done
	info "point $p: all four formats identical to the primary"
done
sz=$(stat -c %s "$T/out-$p2-vmdk-stream.vmdk")
info "vmdk-stream of $p2: $sz bytes for $(du -B1 "$T/ref2.raw" | cut -f1) bytes used"
# The default is within 1.1x of qemu-img's own streamOptimized output of the same disk
# (issue 15's bound); --level 1|2|3: ISA-L alone at that level (1 also takes stored igzip
# grains as they are), 3 smaller than 1; each valid
for l in 1 3; do
	ferryctl restore "${C[@]}" --domain dom --disk vm0 --format vmdk-stream --level $l \
		-o "$T/l$l.vmdk" >/dev/null || fail "restore --level $l"
	qemu-img check -q "$T/l$l.vmdk" || fail "qemu-img check: --level $l"
	qemu-img compare -q -f vmdk -F raw "$T/l$l.vmdk" "$T/ref2.raw" || fail "--level $l differs"
done
sz1=$(stat -c %s "$T/l1.vmdk") sz3=$(stat -c %s "$T/l3.vmdk")
[ "$sz3" -lt "$sz1" ] || fail "--level 3 is not smaller than --level 1 ($sz3 >= $sz1 bytes)"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/ref2.raw" "$T/q.vmdk" ||
	fail "qemu-img convert"
szq=$(stat -c %s "$T/q.vmdk")
[ $((sz * 10)) -le $((szq * 11)) ] ||
	fail "the default is over 1.1x qemu-img's size ($sz bytes, qemu-img $szq)"
info "vmdk-stream: default $sz, --level 3 $sz3, --level 1 $sz1, qemu-img $szq bytes"
rm -f "$T/q.vmdk"
for bad in "--format vmdk-stream --level 4" "--format raw --level 2"; do
	ferryctl restore "${C[@]}" --domain dom --disk vm0 $bad -o "$T/bad.vmdk" 2>/dev/null
	[ $? = 2 ] || fail "restore $bad: expected a usage error"
done

# progress as JSON lines (on stdout, before the result object)
ferryctl restore "${C[@]}" --domain dom --disk vm0 --format vmdk-stream --json \
	-o "$T/p.vmdk" >"$T/progress.json" || fail "restore --json"
grep -q '"event":"progress".*"total_bytes":[1-9][0-9]*.*"final":true' "$T/progress.json" ||
	fail "no final progress line: $(tail -n 2 "$T/progress.json")"

# kill -9 after a checkpoint, then --resume
export FERRY_RESTORE_WINDOW_KB=1024 FERRY_RESTORE_CKPT_MS=0
for f in raw vmdk-flat vmdk vmdk-stream; do
	out=$T/resume-$f.vmdk; ext=$out; [ $f = vmdk-flat ] && ext=$T/resume-$f-flat.vmdk
	ferryctl restore "${C[@]}" --domain dom --disk vm0 --format $f -o "$out" >/dev/null 2>&1 &
	pid=$!
	# past the first checkpoint, so that the killed run has written beyond one
	wait_for 30 grep -qs "done [0-9]\{7,\}" "$ext.part.resume" || fail "no checkpoint appeared"
	kill -9 $pid; wait $pid 2>/dev/null
	[ -e "$out" ] && fail "a killed $f restore left $out"
	info "killed at checkpoint: $(grep done "$ext.part.resume")"
	ferryctl restore "${C[@]}" --domain dom --disk vm0 --format $f --resume -o "$out" \
		>/dev/null 2>"$T/resume.err" || fail "restore --resume ($f): $(cat "$T/resume.err")"
	grep -q "resuming .* at offset [1-9]" "$T/resume.err" || fail "$f did not resume: $(cat "$T/resume.err")"
	if [ $f = raw ]; then cmp "$out" "$T/ref2.raw" || fail "resumed raw restore differs"
	else
		qemu-img check -q "$out" || fail "qemu-img check: resumed $f"
		qemu-img compare -q -f vmdk -F raw "$out" "$T/ref2.raw" || fail "resumed $f differs"
	fi
	[ -e "$ext.part" ] || [ -e "$ext.part.resume" ] && fail "$f: leftovers after resume"
done
unset FERRY_RESTORE_WINDOW_KB FERRY_RESTORE_CKPT_MS

# corruption: flip a byte in the middle of the largest pack, then delete a pack
stop_ferryd
pack=$(find "$T/store/packs" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
python3 - "$pack" <<'PY'
import os, sys
p = sys.argv[1]; n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(n // 3); b = f.read(1); f.seek(n // 3); f.write(bytes([b[0] ^ 0x55]))
PY
for f in raw vmdk vmdk-flat vmdk-stream; do
	out=$T/bad-$f.vmdk
	if ferryctl restore "${C[@]}" --domain dom --disk vm0 --point "$p1" --format $f -o "$out" \
		>/dev/null 2>"$T/bad.err"; then fail "$f restore of a corrupt chunk succeeded"; fi
	grep -q "disk vm0, offset [0-9]*: .*corrupt" "$T/bad.err" || fail "$f: message: $(cat "$T/bad.err")"
	ls "$T" | grep -q "^bad-$f" && fail "$f left partial output: $(ls "$T" | grep "^bad-")"
done
info "corrupt chunk: $(cat "$T/bad.err")"
rm -f "$pack"
if ferryctl restore "${C[@]}" --domain dom --disk vm0 --point "$p1" -o "$T/gone.raw" \
	>/dev/null 2>"$T/gone.err"; then fail "restore with a missing pack succeeded"; fi
grep -q "disk vm0, offset [0-9]*: reading packs/" "$T/gone.err" || fail "missing pack: $(cat "$T/gone.err")"
[ -e "$T/gone.raw" ] || [ -e "$T/gone.raw.part" ] && fail "partial output after a missing pack"
info "missing pack: $(cat "$T/gone.err")"
pass
