#!/usr/bin/env bash
# compression = auto when the store is the bottleneck: ferryd ships to Ceph RGW through the
# proxy with the link from ferryd limited to 1 MB/s (tests/tools/s3-faultproxy.py
# --bandwidth, no faults). Each point writes 6 MiB of new, compressible data; its packs take
# seconds to upload and microseconds of CPU to encode, so the rule (docs/config.md
# "compression = auto") must call every point upload-bound and raise the zstd level one step
# per point, past the headroom limit of 6 (which only a slow store may pass). The points
# then restore equal to the primary and verify --read-data passes.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
require qemu-io python3
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
rgw_mkbucket ferry-slow
rgw_keys "$T/keys"
faultproxy_start 1 0 --bandwidth 1000000

write_config "$T/ferry.conf" 256M 1M vm0:"$T/vm0.raw":64M
s3_store_conf "$T/ferry.conf" ferry-slow/site "$PROXY_ENDPOINT"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h\ncompression = auto/' "$T/ferry.conf"
ferryctl init -c "$T/ferry.conf" >/dev/null || fail "init"
start_ferryd "$T/ferry.conf"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "seed"

# text-like data, different at every point: compresses about 4:1
text() {	# FILE SEED: 6 MiB
	python3 - "$1" "$2" <<'PY'
import random, sys
r = random.Random(int(sys.argv[2]))
words = [bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(r.randrange(2, 9)))
         for _ in range(3000)]
out = bytearray()
while len(out) < 6 << 20:
    out += b" ".join(r.choice(words) for _ in range(12)) + b"\n"
open(sys.argv[1], "wb").write(out[:6 << 20])
PY
}
level() { sed -n 's/.*compression auto: upload-bound.*: zstd level \([0-9]*\) next/\1/p' "$T/ferryd.log" | tail -n 1; }
for i in $(seq 0 7); do
	text "$T/data" "$i"
	qemu-io -f raw -c "write -s $T/data $((i * 6291456)) 6291456" "$NBD_URI_BASE/vm0" \
		>/dev/null || fail "qemu-io"
	p=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point $i"
	info "point $p: zstd level $(level) next"
	[ "$(level)" = 9 ] && break
done
grep 'compression auto' "$T/ferryd.log" >&2
[ "$(grep -c 'compression auto: upload-bound' "$T/ferryd.log")" -ge 6 ] ||
	fail "the rule did not call the slow store the bottleneck at every point"
[ "$(level)" = 9 ] || fail "the level did not reach 9 over a 1 MB/s link (it is $(level))"
grep -q 'compression auto: CPU' "$T/ferryd.log" && fail "a point over the slow link was called CPU-bound"

ferryctl restore -c "$T/ferry.conf" --domain dom --disk vm0 --format raw -o "$T/r.raw" ||
	fail "restore"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the restore differs from the primary"
ferryctl verify -c "$T/ferry.conf" --read-data || fail "verify"
info "auto raised the level to 9 over a 1 MB/s link, one step per upload-bound point"
pass
