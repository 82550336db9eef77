#!/usr/bin/env bash
# Retention and prune under load: ferryd ships 18 points that each rewrite the whole disk,
# then `ferryctl prune -c` (keep = last:2, grace 0) runs twice while ferryd keeps shipping
# a light random write load (rpo 1s). Afterwards: every remaining point restores, the
# latest one equals the primary, verify --read-data passes, and the store shrank.
. "$(dirname "$0")/../lib/functions.sh"
require nbdcopy qemu-io python3

STORE=file://$T/store
KEY=$T/store.key
ferryctl init --store "$STORE" --key-file "$KEY" || fail "init"
write_config "$T/ferry.conf" 256M 1M vm0:"$T/vm0.raw":4M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$KEY" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s\nkeep = last:2/' "$T/ferry.conf"
start_ferryd "$T/ferry.conf"

pack_bytes() { find "$T/store/packs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
pack_count() { find "$T/store/packs" -type f | wc -l; }
point_ids() {
	ferryctl points --store "$STORE" --key-file "$KEY" --domain dom --json |
		python3 -c 'import json, sys; print("\n".join(p["id"] for p in json.load(sys.stdin)))'
}

for i in $(seq 1 18); do
	head -c 4M /dev/urandom >"$T/rand.img"
	nbdcopy --flush "$T/rand.img" "$NBD_URI_BASE/vm0" || fail "nbdcopy $i"
	ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "point $i"
done
n_before=$(point_ids | wc -l)
bytes_before=$(pack_bytes)
packs_before=$(pack_count)
info "before prune: $n_before points, $packs_before packs, $bytes_before bytes"
[ "$n_before" -ge 18 ] || fail "expected at least 18 points, got $n_before"

# a light write load: 64 KiB at a random place every 50 ms, until told to stop
load() {
	while [ ! -e "$T/stop" ]; do
		qemu-io -f raw -c "write -P $((RANDOM % 255 + 1)) $(( RANDOM % 64 * 65536 )) 64k" \
			"$NBD_URI_BASE/vm0" >/dev/null || { echo "qemu-io failed" >"$T/load-failed"; return; }
		sleep 0.05
	done
}
load &
LOAD_PID=$!
cleanup_fn "touch '$T/stop'; wait $LOAD_PID 2>/dev/null || true"
sleep 2

ferryctl prune -c "$T/ferry.conf" --grace 0 >"$T/prune1.out" || { cat "$T/prune1.out" >&2; fail "prune 1"; }
cat "$T/prune1.out" >&2
grep -q '^points: [0-9]* kept, [1-9][0-9]* deleted$' "$T/prune1.out" || fail "prune 1 deleted no point"
sleep 2
ferryctl prune -c "$T/ferry.conf" --grace 0 >"$T/prune2.out" || { cat "$T/prune2.out" >&2; fail "prune 2"; }
cat "$T/prune2.out" >&2
grep -q '^packs: [0-9]* condemned, [1-9][0-9]* deleted' "$T/prune2.out" || fail "prune 2 deleted no pack"
sleep 2

touch "$T/stop"
wait "$LOAD_PID" || true
[ ! -e "$T/load-failed" ] || fail "the write load failed"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "final point"

# every point left restores; the latest is the primary
for id in $(point_ids); do
	rm -f "$T/r.raw"
	ferryctl restore --store "$STORE" --key-file "$KEY" --domain dom --disk vm0 \
		--point "$id" --format raw --allow-inconsistent -o "$T/r.raw" >/dev/null ||
		fail "restore of point $id"
done
rm -f "$T/r.raw"
ferryctl restore --store "$STORE" --key-file "$KEY" --domain dom --disk vm0 \
	--format raw -o "$T/r.raw" >/dev/null || fail "restore latest"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the latest point differs from the primary"
ferryctl verify --store "$STORE" --key-file "$KEY" --read-data || fail "verify after prune"

bytes_after=$(pack_bytes)
packs_after=$(pack_count)
info "after prune: $(point_ids | wc -l) points, $packs_after packs, $bytes_after bytes"
[ "$bytes_after" -lt "$bytes_before" ] || fail "the store did not shrink ($bytes_before -> $bytes_after bytes)"

# bad usage: exit 2
ferryctl prune -c "$T/ferry.conf" --grace soon >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --grace"
ferryctl prune --store "$STORE" --key-file "$KEY" --domain dom >/dev/null 2>&1
[ $? -eq 2 ] || fail "--keep missing"
ferryctl prune --store "$STORE" --key-file "$KEY" --domain dom --keep hourly >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --keep"
stop_ferryd
pass
