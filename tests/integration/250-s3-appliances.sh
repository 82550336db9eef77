#!/usr/bin/env bash
# Scale out: four ferryd processes (four appliances, each with its own replication log,
# state and NBD port) ship into one repository on Ceph RGW at once, while `ferryctl prune`
# runs again and again from a fifth place. Appliance 1 protects a VM image (an ext4 file
# system of real files); appliance 2 protects a clone of it (the same bytes), which must
# dedupe against appliance 1's chunks: its seed stores almost nothing. Appliances 3 and 4
# protect disks of their own; appliance 4 rewrites its small disk with new random data at
# every point (the others write byte patterns, which dedupe across domains), so that its
# old points die with all their packs. Then every disk takes random writes (qemu-io over NBD, each
# appliance at once) for several points. At the end: every domain's latest point restores
# equal to its primary, and verify --read-data finds nothing wrong.
# Size: IMAGE_MB (48) per image, ROUNDS (8) rounds of writes (two points each, so that
# prune has points and packs to delete past the full map at point 16); `make
# check-appliances` runs it bigger (IMAGE_MB=512 ROUNDS=24) and prints its timings.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
. "$(dirname "$0")/../lib/s3-faults.sh"
require qemu-io mkfs.ext4 python3
IMAGE_MB=${IMAGE_MB:-48}
ROUNDS=${ROUNDS:-8}	# two points each: past the full map at point 16, so prune can delete
rgw_require
rgw_start
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
rgw_mkbucket ferry-scale
rgw_keys "$T/keys"
t_start=$SECONDS

# the VM image and its clone
mkdir -p "$T/tree" && make_tree "$T/tree" $((IMAGE_MB / 2))
mkfs.ext4 -q -F -d "$T/tree" "$T/vm.img" "${IMAGE_MB}M" || fail "mkfs.ext4"
cp "$T/vm.img" "$T/a1.raw"
cp "$T/vm.img" "$T/a2.raw"
CHURN_MB=4
truncate -s "${IMAGE_MB}M" "$T/a3.raw"
truncate -s "${CHURN_MB}M" "$T/a4.raw"

# appliance N: its own log, state, port, socket; domain dN with disk aN
appliance_conf() {	# N
	local n=$1 port; port=$(free_port)
	mkdir -p "$T/app$n/state"
	cat >"$T/app$n.conf" <<-EOF
	[appliance]
	state_dir = $T/app$n/state
	[nbd]
	listen = 127.0.0.1:$port
	[log]
	path = $T/app$n/replog
	size = 128M
	metadata_size = 1M
	[control]
	socket = $T/app$n/ferryd.sock
	[domain d$n]
	rpo = 2s
	disk = a$n:$T/a$n.raw
	EOF
	s3_store_conf "$T/app$n.conf" ferry-scale/repo "$RGW_ENDPOINT"
	echo "$port" >"$T/app$n.port"
}
for n in 1 2 3 4; do appliance_conf $n; done
# the prune host: the store and the four domains with their retention, so that one prune run
# (one repository open) serves them all
for n in 1 2 3 4; do printf '[domain d%s]\nkeep = last:3\ndisk = a%s:%s\n' $n $n "$T/a$n.raw"; done >"$T/prune.conf"
s3_store_conf "$T/prune.conf" ferry-scale/repo "$RGW_ENDPOINT"
ferryctl init -c "$T/app1.conf" >/dev/null || fail "init"

start_app() {	# N
	start_ferryd "$T/app$1.conf" "$T/app$1.log"
	echo "$FERRYD_PID" >"$T/app$1.pid"
}
point() {	# N: cut a point of dN and print it
	ferryctl point -c "$T/app$1.conf" --domain "d$1" --wait || fail "point of d$1"
}
points_json() { ferryctl points -c "$T/prune.conf" --domain "d$1" --json; }

# appliance 1 first: the clone can dedupe only against chunks already in the repository
start_app 1
point 1 >/dev/null
for n in 2 3 4; do start_app $n; done
for n in 2 3 4; do point $n >/dev/null; done
info "four appliances up, seeds done ($((SECONDS - t_start)) s)"

# the clone stored (almost) nothing: its seed's stored bytes against the original's
python3 - <(points_json 1) <(points_json 2) <<'PY' || fail "the clone did not dedupe against appliance 1's VM"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sa, sb = a[0]["stored_bytes"], b[0]["stored_bytes"]
print(f"# seed of the VM: {sa} bytes stored; seed of its clone on appliance 2: {sb} bytes", file=sys.stderr)
sys.exit(0 if sa > 0 and sb * 20 < sa else 1)
PY

# prune, again and again, while the appliances write and ship
prune_loop() {
	local i=0
	while [ ! -e "$T/stop-prune" ]; do
		ferryctl prune -c "$T/prune.conf" --grace 0 >>"$T/prune.log" 2>&1 ||
			echo "prune failed" >>"$T/prune.fail"
		i=$((i + 1))
		echo "$i" >"$T/prune.runs"
	done
}
prune_loop &
PRUNE_PID=$!
_pids+=("$PRUNE_PID")

writes() {	# N SEED: twice: random writes of 4 KiB to 256 KiB on aN through NBD, a point
	local n=$1 seed=$2 port half; port=$(cat "$T/app$n.port")
	for half in 1 2; do
		python3 - "$seed$half" "$(($(stat -c %s "$T/a$n.raw") >> 20))" >"$T/ops$n" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1])); size = int(sys.argv[2]) << 20
for _ in range(20):
    ln = r.choice([4096, 65536, 262144]); off = r.randrange(0, (size - ln) // 4096) * 4096
    print(f"write -P {r.randrange(1, 256)} {off} {ln}")
PY
		local args=() op
		if [ "$n" = 4 ]; then	# appliance 4 rewrites its whole disk: its old packs die
			head -c "${CHURN_MB}M" /dev/urandom >"$T/churn"
			args+=(-c "write -s $T/churn 0 ${CHURN_MB}M")
		else
			while read -r op; do args+=(-c "$op"); done <"$T/ops$n"
		fi
		qemu-io -f raw "${args[@]}" "nbd://127.0.0.1:$port/a$n" >/dev/null ||
			echo "qemu-io a$n" >>"$T/write.fail"
		ferryctl point -c "$T/app$n.conf" --domain "d$n" --wait >/dev/null ||
			echo "point d$n" >>"$T/write.fail"
	done
}
for round in $(seq 1 "$ROUNDS"); do
	wpids=()
	for n in 1 2 3 4; do writes $n $((round * 10 + n)) & wpids+=($!); done
	wait "${wpids[@]}"
	[ -e "$T/write.fail" ] && fail "round $round: $(cat "$T/write.fail")"
done
wait_for 120 test -s "$T/prune.runs" || fail "prune never finished a run"
touch "$T/stop-prune"
wait "$PRUNE_PID" || true
[ -e "$T/prune.fail" ] && { tail -n 5 "$T/prune.log" >&2; fail "a prune run failed"; }
info "$ROUNDS rounds of writes on four appliances, $(cat "$T/prune.runs") prune runs meanwhile ($((SECONDS - t_start)) s)"
# one more run with nothing in flight carries out what is still condemned (phase 2 is
# repository-wide; --wait runs it again right after this run's own condemnations)
ferryctl prune -c "$T/prune.conf" --grace 0 --wait >>"$T/prune.log" 2>&1 ||
	fail "the last prune run"
info "the last prune run done ($((SECONDS - t_start)) s)"
python3 - "$T/prune.log" <<'PY' || fail "prune deleted no point or no pack while the appliances wrote"
import re, sys
t = open(sys.argv[1]).read()
pts = sum(int(x) for x in re.findall(r"(\d+) deleted\n", t))
packs = sum(int(x) for x in re.findall(r"(\d+) deleted \(", t))
print(f"# prune deleted {pts} points and {packs} packs over the run", file=sys.stderr)
sys.exit(0 if pts > 0 and packs > 0 else 1)
PY

ferryctl verify -c "$T/prune.conf" --read-data || fail "verify --read-data"
info "verify --read-data clean ($((SECONDS - t_start)) s)"
# the restores at once (each is bound by the store's latency, not by this machine)
rpids=()
for n in 1 2 3 4; do
	ferryctl restore -c "$T/prune.conf" --domain "d$n" --disk "a$n" --format raw \
		-o "$T/r$n.raw" >/dev/null 2>"$T/r$n.err" &
	rpids+=($!)
done
for n in 1 2 3 4; do
	wait "${rpids[n - 1]}" || { cat "$T/r$n.err" >&2; fail "restore of d$n"; }
	cmp "$T/a$n.raw" "$T/r$n.raw" || fail "d$n restores different from its primary"
	rm -f "$T/r$n.raw"
done
info "every domain restores equal to its primary; verify --read-data clean ($((SECONDS - t_start)) s)"
pass
