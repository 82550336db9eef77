#!/usr/bin/env bash
# Pipeline acceptance 1 (as 100-pipeline-e2e.sh) on an S3 store: Ceph RGW on 127.0.0.1, the
# repository at s3://bucket/prefix with the [store] endpoint and key files. An ext4 image
# into ferryd with nbdcopy, a point, restore raw: identical. Then 100 random qemu-io
# writes, a point, restore equals the primary; the first point still restores to the
# original image; verify --read-data passes.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
require nbdcopy qemu-io qemu-img mkfs.ext4 python3
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
rgw_mkbucket ferry-pipeline
rgw_keys "$T/keys"

mkdir -p "$T/tree" && make_tree "$T/tree" 24
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.img" 64M || fail "mkfs.ext4"
write_config "$T/ferry.conf" 256M 1M vm0:"$T/vm0.raw":64M
cat >>"$T/ferry.conf" <<EOT
[store]
url = s3://ferry-pipeline/site-a
key_file = $T/store.key
endpoint = $RGW_ENDPOINT
addressing = path
access_key_file = $T/keys/ak
secret_key_file = $T/keys/sk
EOT
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
C=(-c "$T/ferry.conf")
ferryctl store check "${C[@]}" >&2 || fail "store check"
ferryctl init "${C[@]}" || fail "init -c"
[ "$(stat -c %a "$T/store.key")" = 600 ] || fail "key file is not 0600"
start_ferryd "$T/ferry.conf"

nbdcopy --flush "$T/fs.img" "$NBD_URI_BASE/vm0" || fail "nbdcopy"
p1=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 1"
info "point $p1"
ferryctl restore "${C[@]}" --domain dom --disk vm0 --point "$p1" --format raw -o "$T/r1.raw" ||
	fail "restore $p1"
cmp "$T/fs.img" "$T/r1.raw" || fail "restore of $p1 differs from the image"

ops=(); for i in $(seq 1 100); do
	len=$(( (RANDOM % 32 + 1) * 512 )); off=$(( (RANDOM * 32768 + RANDOM) % (64 * 1048576 - len) / 512 * 512 ))
	ops+=(-c "write -P $((RANDOM % 255 + 1)) $off $len")
done
qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
p2=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "point 2"
info "point $p2"
ferryctl points "${C[@]}" --domain dom >&2 || fail "points"
ferryctl restore "${C[@]}" --domain dom --disk vm0 --format raw -o "$T/r2.raw" || fail "restore latest"
cmp "$T/vm0.raw" "$T/r2.raw" || fail "restore of the latest point differs from the primary"
rm -f "$T/r1.raw"
ferryctl restore "${C[@]}" --domain dom --disk vm0 --point "$p1" --format raw -o "$T/r1.raw" ||
	fail "restore $p1 again"
cmp "$T/fs.img" "$T/r1.raw" || fail "the first point no longer restores to the image"
ferryctl verify "${C[@]}" --read-data || fail "verify"
# the objects really are in the bucket, under the prefix
rgw_s3 -o "$T/list.xml" "$RGW_ENDPOINT/ferry-pipeline?list-type=2&prefix=site-a%2Fdomains%2F" ||
	fail "listing the bucket"
grep -q '<Key>site-a/domains/dom/epochs/' "$T/list.xml" || fail "no manifests under s3://ferry-pipeline/site-a/domains/"
stop_ferryd
pass
