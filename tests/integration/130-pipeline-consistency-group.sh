#!/usr/bin/env bash
# Pipeline acceptance 2: a consistency group. One domain with two disks A and B; a client
# (nbd-depwriter) writes generation g to A, waits for the acknowledgement, then writes
# generation g to B, over and over, while points are cut every second (rpo = 1s) and on
# demand (`ferryctl point --wait`). Every consistent point is restored: each image must be
# exactly the state after some generation, and B's write must imply A's (gen B <= gen A,
# and A at most one generation ahead, since B's write g was acknowledged before A's g+1
# was issued).
. "$(dirname "$0")/../lib/functions.sh"
require python3
RUN=${RUN:-8}		# seconds of dependent writes
RATE=${RATE:-1000}	# generations per second (2 writes of 4-16 KiB each): the log must not
			# overflow, or the points are inconsistent until a resync
MIN_POINTS=5

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"
write_config "$T/ferry.conf" 256M 1M A:"$T/A.raw":64M B:"$T/B.raw":64M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s/' "$T/ferry.conf"
start_ferryd "$T/ferry.conf"

"$TBIN/nbd-depwriter" write "$NBD_URI_BASE/A" "$NBD_URI_BASE/B" "$RUN" "$T/gens" \
	"$RATE" >"$T/writer.out" 2>&1 &
wpid=$!
requested=0
while kill -0 $wpid 2>/dev/null; do
	sleep 0.$((RANDOM % 6 + 2))
	kill -0 $wpid 2>/dev/null || break
	p=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait --timeout 60) ||
		fail "ferryctl point during the load"
	requested=$((requested + 1))
done
wait $wpid || { cat "$T/writer.out" >&2; fail "nbd-depwriter failed"; }
info "writer: $(cat "$T/writer.out"); $requested points requested during the load"
# one more point after the load: it must hold the last generation of both disks
plast=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "final point"
stop_ferryd
! grep -q 'enters overflow' "$T/ferryd.log" || fail "the log overflowed (the test needs a lower RATE)"

ferryctl points --store "$STORE" --key-file "$T/store.key" --domain dom --json >"$T/points.json" ||
	fail "points --json"
mapfile -t ids < <(python3 -c 'import json,sys
for p in json.load(open(sys.argv[1])):
    if p["consistent"]: print(p["id"])' "$T/points.json")
info "${#ids[@]} consistent points"
[ ${#ids[@]} -ge $MIN_POINTS ] || fail "only ${#ids[@]} consistent points (want >= $MIN_POINTS)"
checked=0 split=0 nonempty=0
for id in "${ids[@]}"; do
	for d in A B; do
		rm -f "$T/r$d.raw"
		ferryctl restore --store "$STORE" --key-file "$T/store.key" --domain dom --disk $d \
			--point "$id" --format raw -o "$T/r$d.raw" >/dev/null || fail "restore $d at $id"
	done
	g=$("$TBIN/nbd-depwriter" check "$T/rA.raw" "$T/rB.raw") || fail "point $id: $g"
	info "point $id: $g"
	checked=$((checked + 1))
	[ "$g" != "A=0 B=0" ] && nonempty=$((nonempty + 1))
	read -r ga gb <<<"${g//[AB]=/}"
	[ "$ga" != "$gb" ] && split=$((split + 1))
	if [ "$id" = "$plast" ]; then
		[ "$ga $gb" = "$(cat "$T/gens")" ] ||
			fail "the final point $id holds A=$ga B=$gb, the writer ended at $(cat "$T/gens")"
		cmp "$T/A.raw" "$T/rA.raw" && cmp "$T/B.raw" "$T/rB.raw" ||
			fail "the final point differs from the primaries"
	fi
done
info "$checked consistent points checked, $nonempty with data, $split caught A one generation ahead of B"
[ $nonempty -ge $MIN_POINTS ] || fail "only $nonempty points hold any generation (want >= $MIN_POINTS)"
ferryctl verify --store "$STORE" --key-file "$T/store.key" >&2 || fail "verify"
pass
