# The recovery site of the failover tests (sourced after libvirt.sh, functions.sh and
# guests.sh): ferry-agent on the test's store and private libvirt, a recovery plan for the
# protected site of guests.sh (db, app, web; app waits for db, web for app), and readers of
# the agent's journal.
#
#   failover_site [--no-dr-net]         # a store ($T/store, $T/key), the protected site on
#                                       # it (SITE_VMS=1 site_start), and dr-net 10.2.0.1/24
#   agent_start [NAME]                  # ferry-agent NAME (default "agent"), ready; sets
#                                       # AGENT_SOCK, AGENT_DIR, AGENT_PID; the file
#                                       # AGENT_CONF_EXTRA, when set, is appended to its
#                                       # configuration (e.g. [snmp-receiver] sections)
#   agent_stop                          # SIGTERM, exit 0 expected
#   write_plan FILE [extra lines...]    # the site's plan: dr-net, Re-IP 10.1.0.* -> 10.2.0.*,
#                                       # the boot order, tcp checks; env: FORMAT, PREFIX,
#                                       # DATASTORE, REIP_RULE (none: no [reip]), CHECK (db's
#                                       # and app's),
#                                       # INTERVAL (continuous)
#   journal_step_time OP STEP start|end # a step's time (ns) from the journal
#   assert_boot_order OP                # power-on app after ready db, web after ready app
#   assert_answers PREFIX               # each VM's FERRY-GUEST line from PREFIX.{11,12,13}:7000
#   points_count                        # points of the site's domain in the store

AGENT_SOCK= AGENT_DIR= AGENT_PID=

failover_site() {
	ferryctl init --store "file://$T/store" --key-file "$T/key" >/dev/null || fail "ferryctl init"
	SITE_VMS=1 site_start "file://$T/store" "$T/key"
	[ "${1:-}" = --no-dr-net ] || lv_net_create dr-net 10.2.0.1/24
}

agent_start() {
	local name=${1:-agent}
	AGENT_DIR=$T/$name
	AGENT_SOCK=$T/$name.sock
	cat >"$T/$name.conf" <<EOF
[agent]
state_dir = $AGENT_DIR
socket = $AGENT_SOCK
[store]
url = file://$T/store
key_file = $T/key
[hypervisor]
$(guest_driver_settings)
EOF
	[ -z "${AGENT_CONF_EXTRA:-}" ] || cat "$AGENT_CONF_EXTRA" >>"$T/$name.conf"
	: >"$T/$name.log"
	"$BIN/ferry-agent" -c "$T/$name.conf" >>"$T/$name.log" 2>&1 &
	AGENT_PID=$!
	_pids+=("$AGENT_PID")
	wait_for 30 grep -q '^ferry-agent ready$' "$T/$name.log" ||
		{ cat "$T/$name.log" >&2; fail "ferry-agent $name not ready"; }
}

agent_stop() {
	kill -TERM "$AGENT_PID" 2>/dev/null
	local rc=0
	wait "$AGENT_PID" || rc=$?
	[ $rc = 0 ] || fail "ferry-agent exited $rc after SIGTERM"
}

# write_plan FILE [LINE...]: extra lines go at the end (more sections or [vm] keys)
write_plan() {
	local f=$1
	shift
	cat >"$f" <<EOF
[plan]
domain = $SITE_DOMAIN
datastore = $T/${DATASTORE:-dr}
format = ${FORMAT:-raw}
vm_prefix = ${PREFIX:-dr-}
test_network = site-test
test_address = 10.2.0.1/24
interval = ${INTERVAL:-5s}
[networks]
map = prod-net -> dr-net
$([ "${REIP_RULE:-}" = none ] || printf '[reip]\nrule = %s\n' "${REIP_RULE:-10.1.0.* -> 10.2.0.* gw 10.2.0.1 dns 10.2.0.53}")
[vm db]
check = ${CHECK:-tcp 7000}
timeout = 180s
[vm app]
after = db
check = ${CHECK:-tcp 7000}
timeout = 180s
[vm web]
after = app
check = serial ^FERRY-GUEST name=web
timeout = 180s
EOF
	local l
	for l in "$@"; do echo "$l" >>"$f"; done
}

# journal_step_time OP STEP start|end
journal_step_time() {
	python3 - "$AGENT_DIR/domains/$SITE_DOMAIN/journal" "$1" "$2" "$3" <<'PY'
import json, sys
path, op, name, which = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
steps, t = None, None
for line in open(path):
    r = json.loads(line)
    if r.get("t") == "op" and r["op"] == op:
        steps = [s["name"] for s in r["steps"]]
    if r.get("t") == "step" and r["op"] == op and steps and steps[r["step"]] == name:
        if which == "start" and r["state"] == "running" and t is None:
            t = r["time"]
        if which == "end" and r["state"] in ("done", "skipped", "failed"):
            t = r["time"]
if t is None:
    sys.exit(1)
print(t)
PY
}

# assert_boot_order OP: the journal shows app powered on after db was ready, web after app
assert_boot_order() {
	local op=$1 a b
	for pair in "db app" "app web"; do
		set -- $pair
		a=$(journal_step_time "$op" "ready $1" end) || fail "no end of ready $1"
		b=$(journal_step_time "$op" "power-on $2" start) || fail "no start of power-on $2"
		[ "$b" -ge "$a" ] || fail "power-on $2 started before $1 was ready"
	done
	info "boot order db -> app -> web in the journal"
}

# assert_answers PREFIX: each VM reports PREFIX.N/24 on its console (SERIAL_DIR) and answers
# on it
assert_answers() {
	local p=$1 n ip line
	for n in $SITE_NAMES; do
		ip=$p.${SITE_ADDR[$n]##*.}
		line=$(guest_tcp "$ip" 20) || fail "$n does not answer at $ip"
		[ "$(guest_field "$line" name)" = "$n" ] && [ "$(guest_field "$line" ip)" = "$ip/24" ] ||
			fail "$n at $ip answered: $line"
		info "$n answers at $ip: $line"
	done
}

points_count() {
	ferryctl points --store "file://$T/store" --key-file "$T/key" --domain "$SITE_DOMAIN" \
		--json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
