#!/usr/bin/env bash
# make bench-failover: what ferry-agent's orchestration costs (issue 13 section 9), in one
# run, on the private libvirt of the tests (tests/lib/libvirt.sh) and a file:// store.
#
# 1. RTO of a forced failover of three VMs (db, app waits for db, web for app), each with
#    a DATA_MB MiB (default 512) of incompressible data on a disk of DATA_MB + 512 MiB:
#    the operation's time from its start to the last VM ready, less the guests' own boot
#    (each VM's power-on to its readiness: they come one after another by the boot
#    order), against plain
#    `ferryctl restore` of the same three disks, one after another and three at once
#    (the agent restores up to [agent] parallel disks at once). Reported: each time, and
#    the overhead ratio (orchestration / restore; the target is <= 1.10 against the
#    parallel restores).
# 2. Continuous failover's `complete` on 2 GiB and 16 GiB disks (sparse: the same data,
#    the rest holes): the disks are rehydrated, 64 MiB of new data lands in one more point
#    (the follower is told to look only every hour, so complete has it to apply), and
#    complete is timed to the last VM ready, less the guests' boot; ROUNDS (3) rounds per
#    size, the median. Target: <= 2 s, and the two sizes within 20 % of each other.
# Every measurement is preceded by a sync; caches stay warm (part 1's first round warms
# them and is shown, not used; then ROUNDS rounds, the medians reported; in each round the
# restores and the failover run one right after the other). Run it alone (e.g. under a lock shared by all benchmarks) so no two
# benchmarks overlap; the load average is printed at the start and the end.
set -u
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require qemu-io python3
DATA_MB=${DATA_MB:-512}
ROUNDS=${ROUNDS:-3}

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# op_times OP: "total boot" of an operation (seconds): its start to its end, and the guests'
# boot: for each VM from its power-on step's start (the hypervisor starting it) to its
# ready step's end (the guest up and answering); the VMs boot one after another (the
# boot order), so these add up
op_times() {
	python3 - "$AGENT_DIR/domains/$SITE_DOMAIN/journal" "$1" <<'PY'
import json, sys
op, steps, start, end, on, ready = int(sys.argv[2]), None, None, None, {}, {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("op") != op:
        continue
    if r["t"] == "op":
        steps, start = [s["name"] for s in r["steps"]], r["time"]
    elif r["t"] == "step":
        kind, _, vm = steps[r["step"]].partition(" ")
        if kind == "power-on" and r["state"] == "running":
            on[vm] = r["time"]
        elif kind == "ready" and r["state"] == "done":
            ready[vm] = r["time"]
    elif r["t"] == "end":
        end = r["time"]
boot = sum(ready[vm] - on[vm] for vm in ready)
print(f"{(end - start) / 1e9:.2f} {boot / 1e9:.2f}")
PY
}

# make_site SIZE: ferryd with domain "site" of db, app, web on SIZE disks whose last
# DATA_MB MiB (outside the file system) are random, their [vm] sections; one point
make_site() {
	local size=$1 n disks=()
	[ -n "${FERRYD_PID:-}" ] && { kill "$FERRYD_PID"; wait "$FERRYD_PID" 2>/dev/null; }
	rm -rf "$T/store" "$T/key" "$T/replog" "$T/state" "$T"/site-*.raw
	ferryctl init --store "file://$T/store" --key-file "$T/key" >/dev/null || fail "init"
	for n in $SITE_NAMES; do
		guest_disk "$T/site-$n.raw" "$n" --ifupdown "${SITE_ADDR[$n]}/24" --gw 10.1.0.1 \
			--mac "${SITE_MAC[$n]}" --size "$size" --tail "$DATA_MB" >/dev/null
		dd if=/dev/urandom of="$T/site-$n.raw" bs=1M count="$DATA_MB" conv=notrunc status=none \
			seek=$(( $(stat -c %s "$T/site-$n.raw") / 1048576 - DATA_MB ))
		disks+=("$n:$T/site-$n.raw")
	done
	PORT=
	write_config "$T/site.conf" 256M 1M "${disks[@]}"
	sed -i 's/^\[domain dom\]$/[domain site]\nrpo = 1h/' "$T/site.conf"
	printf '[store]\nurl = file://%s/store\nkey_file = %s/key\n' "$T" "$T" >>"$T/site.conf"
	site_vm_sections >>"$T/site.conf"
	start_ferryd "$T/site.conf"
	ferryctl point -c "$T/site.conf" --domain site >/dev/null || fail "point"
	SITE_CONF=$T/site.conf
}

# fresh_agent: a new agent (new state, no VMs of an earlier round)
fresh_agent() {
	[ -n "$AGENT_PID" ] && agent_stop
	for n in $SITE_NAMES; do lv_virsh destroy "dr-$n" >/dev/null 2>&1; lv_virsh undefine "dr-$n" >/dev/null 2>&1; done
	rm -rf "$T/agent" "$T/dr"
	agent_start
}

echo "bench-failover: load average $(load) at the start; DATA_MB=$DATA_MB ROUNDS=$ROUNDS"
lv_start
lv_net_create dr-net 10.2.0.1/24
guest_build
SITE_DOMAIN=site

# ---- 1. forced failover against plain restores ----
make_site $((DATA_MB + 512))M
seq_t=() par_t=() fo_t=() orch_t=()
for ((round = 0; round <= ROUNDS; round++)); do
	rm -rf "$T/r" && mkdir -p "$T/r" && sync
	t0=$(now)
	for n in $SITE_NAMES; do
		ferryctl restore --store "file://$T/store" --key-file "$T/key" --domain site --disk $n \
			--format raw -o "$T/r/$n.img" >/dev/null || fail "restore $n"
	done
	t1=$(now)
	seq_t+=("$(secs "$t0" "$t1")")
	rm -rf "$T/r" && mkdir -p "$T/r" && sync
	t0=$(now)
	pids=()
	for n in $SITE_NAMES; do
		ferryctl restore --store "file://$T/store" --key-file "$T/key" --domain site --disk $n \
			--format raw -o "$T/r/$n.img" >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "parallel restore"; done
	t1=$(now)
	par_t+=("$(secs "$t0" "$t1")")
	rm -rf "$T/r"
	fresh_agent
	write_plan "$T/plan.conf"
	sync
	ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode forced --wait >/dev/null ||
		{ cat "$T/agent.log" >&2; fail "forced failover"; }
	read -r total boot < <(op_times 1)
	fo_t+=("$total")
	orch_t+=("$(python3 -c "print(f'{$total - $boot:.2f}')")")
	echo "  round $round: restore one by one ${seq_t[-1]} s, three at once ${par_t[-1]} s;" \
	     "forced failover $total s, of which the guests' boot $boot s"
done
o=$(median "${orch_t[@]:1}") s1=$(median "${seq_t[@]:1}") p1=$(median "${par_t[@]:1}")
echo "1. forced failover of 3 VMs (${DATA_MB} MiB of data each, file:// store), median of $ROUNDS:"
echo "   orchestration (failover less boot) $o s; plain ferryctl restore: $s1 s one by one," \
     "$p1 s three at once"
echo "   ratio failover/restore: $(ratio "$o" "$p1") against three at once (target <= 1.10)," \
     "$(ratio "$o" "$s1") against one by one"

# ---- 2. continuous complete, 2 GiB against 16 GiB ----
DATA_MB=64
declare -A med
for size in 2G 16G; do
	make_site "$size"
	c_t=()
	for ((round = 0; round < ROUNDS; round++)); do
		fresh_agent
		FORMAT=vmdk-flat INTERVAL=1h write_plan "$T/plan.conf"
		ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode continuous --wait \
			>/dev/null || { cat "$T/agent.log" >&2; fail "continuous"; }
		off=$(( $(stat -c %s "$T/site-db.raw") - (64 << 20) ))	# the tail: not the guest's files
		qemu-io -f raw -c "write -P $((round + 1)) $off 64M" "$NBD_URI_BASE/db" >/dev/null ||
			fail "qemu-io"
		ferryctl point -c "$SITE_CONF" --domain site >/dev/null || fail "point"
		sync
		ferryctl failover complete -a "$AGENT_SOCK" -p "$T/plan.conf" --wait >/dev/null ||
			{ cat "$T/agent.log" >&2; fail "complete"; }
		read -r total boot < <(op_times 2)
		c_t+=("$(python3 -c "print(f'{$total - $boot:.2f}')")")
		echo "  $size round $round: complete $total s, of which the guests' boot $boot s"
	done
	med[$size]=$(median "${c_t[@]}")
done
echo "2. continuous complete (less the guests' boot), median of $ROUNDS: 2 GiB ${med[2G]} s," \
     "16 GiB ${med[16G]} s; ratio 16G/2G $(ratio "${med[16G]}" "${med[2G]}") (targets: <= 2 s," \
     "within 20 %)"
echo "bench-failover: load average $(load) at the end"
