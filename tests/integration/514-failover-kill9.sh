#!/usr/bin/env bash
# kill -9 of the agent at every step boundary of a forced failover, then a restart: the
# same end state as without a crash. FERRY_AGENT_KILL_AT=N makes the agent SIGKILL itself
# right after the N-th line of the domain's journal is durable; the test restarts it with
# N one past the journal's length, again and again, so the failover is killed after every
# record it writes (each start, each end of each step), and each restart resumes it.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require python3

lv_start
failover_site
P=$(ferryctl point -c "$SITE_CONF" --domain "$SITE_DOMAIN") || fail "point"
for n in $SITE_NAMES; do lv_virsh destroy "$n" >/dev/null; done	# the site is lost

agent_start	# for its configuration; it is restarted below under the crash switch
agent_stop
write_plan "$T/plan.conf"
J=$AGENT_DIR/domains/$SITE_DOMAIN/journal
lines() { [ -f "$J" ] && wc -l <"$J" || echo 0; }

# run_killed N: the agent with FERRY_AGENT_KILL_AT=N; sets APID once it runs
run_killed() {
	rm -f "$AGENT_SOCK"
	FERRY_AGENT_KILL_AT=$1 "$BIN/ferry-agent" -c "$T/agent.conf" >>"$T/agent.log" 2>&1 &
	APID=$!
	wait_for 30 bash -c "test -S '$AGENT_SOCK' || ! kill -0 $APID 2>/dev/null" ||
		fail "the agent neither started nor died"
}

# the journal gets its header, the plan, then the operation (line 3): killed right there
run_killed 3
ferryctl failover start -a "$AGENT_SOCK" -p "$T/plan.conf" --mode forced >/dev/null 2>&1
rc=0; wait "$APID" || rc=$?
[ $rc = 137 ] || fail "the agent was not killed at line 3 (exit $rc)"
kills=1
while :; do
	n=$(lines)
	ended=0; grep -q '"t":"end"' "$J" && ended=1
	run_killed $((n + 1))
	# the operation had ended before this start: nothing more to write, the agent lives on.
	# (An end this run writes is line n + 1, and the agent kills itself right after it:
	# seeing that end while the agent still runs is no sign that it will go on running.)
	[ $ended = 1 ] && break
	wait_for 300 bash -c "! kill -0 $APID 2>/dev/null" || fail "no progress from line $n"
	rc=0; wait "$APID" || rc=$?
	[ $rc = 137 ] || { tail -n 20 "$T/agent.log" >&2; fail "the agent exited $rc after line $n"; }
	[ "$(lines)" -gt "$n" ] || fail "a restart after line $n added nothing to the journal"
	kills=$((kills + 1))
done
kill -0 "$APID" 2>/dev/null || fail "the agent died after the operation had ended"
_pids+=("$APID")
info "killed $kills times: after every journal line from 3 to $n"

# the same end state as an undisturbed failover (410): FailedOver at the latest point, the
# three VMs run re-IP'd, started in boot order, each answering at its new address
ferryctl failover status -a "$AGENT_SOCK" -p "$T/plan.conf" | tee "$T/status" >&2
grep -q "^domain $SITE_DOMAIN: FailedOver" "$T/status" || fail "not FailedOver"
grep -q "forced at point $P (latest), done" "$T/status" || fail "not done at $P"
[ "$(grep -c '^  done ' "$T/status")" = 13 ] || fail "not every step is done"
assert_boot_order 1
assert_answers 10.2.0
for n in $SITE_NAMES; do
	[ "$(lv_virsh domstate "dr-$n")" = running ] || fail "dr-$n is not running"
done
[ "$(lv_virsh list --name | grep -c '^dr-')" = 3 ] || fail "not exactly three recovered VMs"
pass
