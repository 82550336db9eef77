#!/usr/bin/env bash
# ferryctl store copy: a repository seeded into a file:// store is carried to S3 (Ceph RGW)
# - the copy verifies (--read-data) and every point restores from S3 to the data written;
# - a rerun copies nothing; after a new point it copies only the new objects;
# - kill -9 of copies at random moments never leaves a destination that looks like a
#   repository (has its config) but lacks an object; a rerun completes it;
# - prune sweeps a multipart upload left under the prefix (only once old enough; one
#   outside the prefix stays);
# - a destination holding another repository is refused, nothing copied.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
require nbdcopy qemu-io mkfs.ext4 python3
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
rgw_mkbucket ferry-copy
rgw_keys "$T/keys"

mkdir -p "$T/tree" && make_tree "$T/tree" 40
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.img" 96M || fail "mkfs.ext4"
write_config "$T/ferry.conf" 256M 1M vm0:"$T/vm0.raw":96M
printf '[store]\nurl = file://%s\nkey_file = %s\n' "$T/store" "$T/store.key" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
s3conf() {	# FILE PREFIX
	printf '[store]\nurl = s3://ferry-copy/%s\nkey_file = %s\nendpoint = %s\naccess_key_file = %s\nsecret_key_file = %s\n' \
		"$2" "$T/store.key" "$RGW_ENDPOINT" "$T/keys/ak" "$T/keys/sk" >"$1"
}
s3conf "$T/s3.conf" site-a
C=(-c "$T/ferry.conf"); S=(-c "$T/s3.conf")
ferryctl init "${C[@]}" >/dev/null || fail "init"
start_ferryd "$T/ferry.conf"
nbdcopy --flush "$T/fs.img" "$NBD_URI_BASE/vm0" || fail "nbdcopy"
p1=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 1"
cp --sparse=always "$T/vm0.raw" "$T/ref1.raw"
ops=(); for i in $(seq 1 100); do
	len=$(( (RANDOM % 32 + 1) * 512 )); off=$(( (RANDOM * 32768 + RANDOM) % (96 * 1048576 - len) / 512 * 512 ))
	ops+=(-c "write -P $((RANDOM % 255 + 1)) $off $len")
done
qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
p2=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 2"
cp --sparse=always "$T/vm0.raw" "$T/ref2.raw"
n_objects=$(find "$T/store" -type f ! -name '.*' | wc -l)

ferryctl store copy --from "file://$T/store" "${S[@]}" >"$T/copy1.out" || fail "store copy"
info "$(cat "$T/copy1.out")"
grep -q "^copied $n_objects objects" "$T/copy1.out" || fail "expected $n_objects objects copied"
ferryctl verify "${S[@]}" --read-data >/dev/null || fail "verify --read-data of the copy"
for p in "$p1" "$p2"; do
	ref=$T/ref1.raw; [ "$p" = "$p2" ] && ref=$T/ref2.raw
	ferryctl restore "${S[@]}" --domain dom --disk vm0 --point "$p" -o "$T/r-$p.raw" >/dev/null ||
		fail "restore $p from the copy"
	cmp "$T/r-$p.raw" "$ref" || fail "point $p restored from the copy differs"
done

ferryctl store copy --from "file://$T/store" "${S[@]}" >"$T/copy2.out" || fail "second copy"
grep -q "^copied 0 objects, 0 bytes .*; $n_objects objects" "$T/copy2.out" || fail "rerun: $(cat "$T/copy2.out")"
qemu-io -f raw -c "write -P 7 1M 3M" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
p3=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 3"
n_new=$(( $(find "$T/store" -type f ! -name '.*' | wc -l) - n_objects ))
ferryctl store copy --from-config "$T/ferry.conf" "${S[@]}" >"$T/copy3.out" || fail "third copy"
grep -q "^copied $n_new objects" "$T/copy3.out" || fail "expected $n_new new objects: $(cat "$T/copy3.out")"
ferryctl restore "${S[@]}" --domain dom --disk vm0 -o "$T/r3.raw" >/dev/null || fail "restore $p3"
cmp "$T/r3.raw" "$T/vm0.raw" || fail "point $p3 restored from the copy differs"
stop_ferryd

# kill -9 mid-copy: the destination is a repository only once it is whole
for i in 1 2 3 4 5; do
	s3conf "$T/k$i.conf" "killed-$i"
	ferryctl store copy --from "file://$T/store" --threads 2 -c "$T/k$i.conf" >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 6))"
	kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	if ferryctl points -c "$T/k$i.conf" --domain dom >/dev/null 2>&1; then
		ferryctl verify -c "$T/k$i.conf" --read-data >/dev/null ||
			fail "killed copy $i has a config but does not verify"
		state="complete"
	else
		state="not yet a repository"
	fi
	ferryctl store copy --from "file://$T/store" -c "$T/k$i.conf" >"$T/k$i.out" || fail "rerun of killed copy $i"
	ferryctl verify -c "$T/k$i.conf" --read-data >/dev/null || fail "rerun of killed copy $i does not verify"
	info "killed copy $i: $state; rerun: $(cut -d';' -f1 "$T/k$i.out")"
done

# prune sweeps multipart uploads left under the repository's prefix, once old enough
rgw_s3 -X POST -o "$T/mp1.xml" "$RGW_ENDPOINT/ferry-copy/site-a/packs/zz/leftover?uploads=" || fail "create upload 1"
rgw_s3 -X POST -o "$T/mp2.xml" "$RGW_ENDPOINT/ferry-copy/elsewhere/leftover?uploads=" || fail "create upload 2"
grep -q "<UploadId>" "$T/mp1.xml" || fail "no upload id: $(cat "$T/mp1.xml")"
ferryctl prune "${S[@]}" --domain dom --keep last:100 >"$T/prune1.out" || fail "prune"
grep -q "^leftovers: 0 removed" "$T/prune1.out" || fail "a fresh upload was swept: $(cat "$T/prune1.out")"
FERRY_SWEEP_AGE_S=0 ferryctl prune "${S[@]}" --domain dom --keep last:100 >"$T/prune2.out" || fail "prune, sweep age 0"
grep -q "^leftovers: 1 removed" "$T/prune2.out" || fail "sweep: $(cat "$T/prune2.out")"
rgw_s3 -o "$T/uploads.xml" "$RGW_ENDPOINT/ferry-copy?uploads=" || fail "listing uploads"
grep -q "<Key>site-a/packs/zz/leftover</Key>" "$T/uploads.xml" && fail "the upload under the prefix is still there"
grep -q "<Key>elsewhere/leftover</Key>" "$T/uploads.xml" || fail "an upload outside the prefix was swept"
ferryctl verify "${S[@]}" --read-data >/dev/null || fail "verify after the sweep"
info "sweep: $(grep leftovers "$T/prune2.out")"

# another repository at the destination
s3conf "$T/other.conf" other
ferryctl init -c "$T/other.conf" >/dev/null 2>&1 || fail "init other"
before=$(rgw_s3 "$RGW_ENDPOINT/ferry-copy?list-type=2&prefix=other%2F" | grep -o '<Key>' | wc -l)
if ferryctl store copy --from "file://$T/store" -c "$T/other.conf" >/dev/null 2>"$T/other.err"; then
	fail "copy into another repository succeeded"
fi
grep -q "another repository" "$T/other.err" || fail "message: $(cat "$T/other.err")"
after=$(rgw_s3 "$RGW_ENDPOINT/ferry-copy?list-type=2&prefix=other%2F" | grep -o '<Key>' | wc -l)
[ "$before" = "$after" ] || fail "the refused copy wrote objects ($before -> $after)"
pass
