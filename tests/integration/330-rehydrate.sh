#!/usr/bin/env bash
# Recovery acceptance 3: continuous rehydration under load. fio writes to two disks of a
# domain through ferryd (rpo 1 s) while `ferryctl rehydrate --follow` keeps monolithicFlat
# VMDKs current; the rehydrator is killed with -9 at random moments and restarted. After
# every kill, each VMDK either claims no point or holds exactly the point it claims
# (compared with a restore of that point). Then `rehydrate --complete` stops the follower,
# catches up, and the VMDKs equal the restore of the point it reports; qemu-img check and
# qemu-img compare agree.
. "$(dirname "$0")/../lib/functions.sh"
require fio qemu-img

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"
write_config "$T/ferry.conf" 512M 1M vm0:"$T/vm0.raw":48M vm1:"$T/vm1.raw":24M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1s/' "$T/ferry.conf"
C=(-c "$T/ferry.conf")
start_ferryd "$T/ferry.conf"
mkdir -p "$T/ds"

FIO_PIDS=()
fio_load() {	# SECONDS
	local d
	for d in vm0 vm1; do
		fio --name="$d" --ioengine=nbd --uri="$NBD_URI_BASE/$d" --rw=randwrite \
			--bsrange=4k-256k --iodepth=4 --rate=6m --time_based --runtime="$1" \
			--randseed=$RANDOM >/dev/null 2>&1 &
		FIO_PIDS+=($!)
	done
}

# check_claims: every VMDK holds exactly the point it claims (or claims none)
check_claims() {
	local d held claimed=0
	for d in vm0 vm1; do
		[ -e "$T/ds/$d.vmdk" ] || continue
		held=$(sed -n 's/^ddb.ferry.point = "\(.*\)"$/\1/p' "$T/ds/$d.vmdk")
		[ -n "$held" ] || fail "$d.vmdk has no ddb.ferry.point"
		if [ "$held" = none ]; then
			info "$d.vmdk: mid-change ($(grep -E 'ferry.(from|to)' "$T/ds/$d.vmdk" | tr '\n' ' '))"
			MIDCHANGE=$((MIDCHANGE + 1))
			continue
		fi
		rm -f "$T/chk.raw"
		ferryctl restore "${C[@]}" --domain dom --disk "$d" --point "$held" -o "$T/chk.raw" \
			>/dev/null || fail "restore of point $held"
		qemu-img compare -q -f vmdk -F raw "$T/ds/$d.vmdk" "$T/chk.raw" ||
			fail "$d.vmdk claims point $held but does not hold it"
		claimed=$((claimed + 1))
	done
	CLAIMED=$((CLAIMED + claimed))
}

fio_load 40
MIDCHANGE=0 CLAIMED=0
sleep 2
for round in 1 2 3 4 5 6; do
	ferryctl rehydrate "${C[@]}" --domain dom --dir "$T/ds" --follow --interval 0.3 \
		>>"$T/follow.log" 2>&1 &
	pid=$!
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.5 + (r % 250) / 100 }')"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	check_claims
done
info "after 6 kills: $CLAIMED VMDKs held their claimed point, $MIDCHANGE were mid-change"
[ "$CLAIMED" -gt 0 ] || fail "no VMDK ever claimed a point"

# follow under load, then complete while the follower runs
ferryctl rehydrate "${C[@]}" --domain dom --dir "$T/ds" --follow --interval 0.3 \
	>>"$T/follow.log" 2>&1 &
follower=$!
wait_for 30 grep -q "at point" "$T/follow.log" || fail "the follower never reached a point"
sleep 3
wait "${FIO_PIDS[@]}"
last=$(ferryctl point "${C[@]}" --domain dom --wait) || fail "final point"
out=$(ferryctl rehydrate "${C[@]}" --domain dom --dir "$T/ds" --complete) ||
	fail "rehydrate --complete"
info "$out"
# the follower released its lock on the way out; this shell may not have reaped it yet
follower_gone() { ! kill -0 "$follower" 2>/dev/null; }
wait_for 30 follower_gone || fail "--complete did not stop the follower"
reached=$(sed -n 's/.*reached point \([0-9.]*\) in .*/\1/p' <<<"$out")
[ "$reached" = "$last" ] || fail "--complete reached $reached, the newest point is $last"
for d in vm0 vm1; do
	qemu-img check -q "$T/ds/$d.vmdk" || fail "qemu-img check $d.vmdk"
	grep -q "^ddb.ferry.point = \"$last\"$" "$T/ds/$d.vmdk" || fail "$d.vmdk does not claim $last"
	rm -f "$T/chk.raw"
	ferryctl restore "${C[@]}" --domain dom --disk "$d" --point "$last" -o "$T/chk.raw" \
		>/dev/null || fail "restore $d"
	qemu-img compare -q -f vmdk -F raw "$T/ds/$d.vmdk" "$T/chk.raw" ||
		fail "$d.vmdk differs from the restore of $last"
	cmp "$T/chk.raw" "$T/$d.raw" || fail "restore of $last differs from the primary $d"
done
# nothing more to do: a second --complete writes nothing
out=$(ferryctl rehydrate "${C[@]}" --domain dom --dir "$T/ds" --complete) || fail "again"
grep -q "reached point $last in .* (0 bytes written)" <<<"$out" || fail "second --complete: $out"
pass
