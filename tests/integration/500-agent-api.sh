#!/usr/bin/env bash
# ferry-agent's API answers bad requests with a 4xx status and a JSON error, over its unix
# socket and TCP; ferryctl's failover commands exit 2 on bad usage and 1 on what the agent
# refuses; a bad configuration exits 2; a damaged journal stops the agent at start with its
# line (nothing is guessed, nothing is changed).
. "$(dirname "$0")/../lib/functions.sh"
require curl python3

ferryctl init --store "file://$T/store" --key-file "$T/key" >/dev/null || fail "init"
APORT=$(free_port)
cat >"$T/agent.conf" <<EOF
[agent]
state_dir = $T/agent
socket = $T/agent.sock
listen = 127.0.0.1:$APORT
[store]
url = file://$T/store
key_file = $T/key
EOF

start_agent() {	# CONFIG
	: >"$T/agent.log"
	"$BIN/ferry-agent" -c "$1" --exit-with-parent >"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	_pids+=("$AGENT_PID")
	wait_for 20 grep -q '^ferry-agent ready$' "$T/agent.log" ||
		{ cat "$T/agent.log" >&2; fail "ferry-agent not ready"; }
}

# req METHOD PATH [BODY]: sets CODE and BODY (over the unix socket)
req() {
	local out
	out=$(curl -s --path-as-is -w '\n%{http_code}' --unix-socket "$T/agent.sock" -X "$1" \
		${3+--data-binary "$3"} "http://agent$2") || fail "curl $1 $2"
	CODE=${out##*$'\n'}
	BODY=${out%$'\n'*}
}

# expect STATUS TEXT METHOD PATH [BODY]: a JSON error with that status, naming TEXT
expect() {
	local want=$1 text=$2
	shift 2
	req "$@"
	[ "$CODE" = "$want" ] || fail "$1 $2: status $CODE, want $want ($BODY)"
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["status"]==int(sys.argv[2]) and sys.argv[3] in d["error"], d' \
		"$BODY" "$want" "$text" || fail "$1 $2: bad error body: $BODY"
	info "$want $1 $2: $BODY"
}

start_agent "$T/agent.conf"
req GET /v1
[ "$CODE" = 200 ] && grep -q '"name":"ferry-agent"' <<<"$BODY" || fail "GET /v1: $CODE $BODY"
# the same over TCP
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APORT/v1/domains")" = 200 ] ||
	fail "TCP listener"

expect 404 "no such resource" GET /
expect 404 "no such resource" GET /v2/domains
expect 404 "no such resource" GET /v1/domains/dom/nothing
expect 404 "no domain dom at this agent or in its store" GET /v1/domains/dom
expect 400 "bad domain name" GET /v1/domains/..
expect 404 "no domain dom" POST /v1/domains/dom/test-stop '{}'
expect 404 "no domain dom" POST /v1/domains/dom/complete ''
expect 404 "no domain dom" GET /v1/domains/dom/operations/1
expect 400 "bad operation id" GET /v1/domains/dom/operations/x1
expect 405 "method not allowed" DELETE /v1/domains
expect 405 "method not allowed" GET /v1/failover
expect 400 "not JSON" POST /v1/failover '{"mode":'
expect 400 "must be a JSON object" POST /v1/failover '[1]'
expect 400 "'mode' is missing" POST /v1/failover '{"plans":["x"]}'
expect 400 "unknown member 'modes'" POST /v1/failover '{"modes":"forced","plans":["x"]}'
expect 400 "'plans' must be an array" POST /v1/failover '{"mode":"forced","plans":"x"}'
expect 400 "'plans' must be an array" POST /v1/failover '{"mode":"forced","plans":[]}'
expect 400 "plans[0] must be a string" POST /v1/failover '{"mode":"forced","plans":[7]}'
expect 400 "mode: 'sideways'" POST /v1/failover '{"mode":"sideways","plans":["x"]}'
expect 400 "takes no point" POST /v1/failover '{"mode":"planned","point":"1.2","plans":["x"]}'
expect 400 "'point' must be a string" POST /v1/failover '{"mode":"forced","point":3,"plans":["x"]}'
expect 400 "is not allowed" POST /v1/plans/validate '{"plan":"a\u0000b"}'
expect 400 "unknown member 'point'" POST /v1/domains/dom/test-stop '{"point":"1.1"}'
# a plan with problems: 422 listing each
expect 422 "the plan has problems" POST /v1/failover \
	'{"mode":"forced","plans":["[plan]\ncolour = red\n"]}'
grep -q "unknown key 'colour' in \[plan\]" <<<"$BODY" || fail "problems not listed: $BODY"
grep -q "domain is required" <<<"$BODY" || fail "problems not listed: $BODY"
# a plan for a domain the store does not have
expect 422 "" POST /v1/plans/validate \
	"{\"plan\":\"[plan]\\ndomain = ghost\\ndatastore = $T/ds\\n\"}"
grep -q "ghost" <<<"$BODY" || fail "the domain is not named: $BODY"
# too large: 413
python3 -c 'import sys; sys.stdout.write("{\"plan\":\"" + "x" * (5 << 20) + "\"}")' >"$T/big.json"
CODE=$(curl -s -o "$T/big.out" -w '%{http_code}' --unix-socket "$T/agent.sock" \
	--data-binary @"$T/big.json" http://agent/v1/plans/validate)
[ "$CODE" = 413 ] && grep -q '"status":413' "$T/big.out" || fail "large body: $CODE $(cat "$T/big.out")"

# ferryctl: bad usage 2, refusals 1, with one-line reasons
printf '[plan]\ndomain = ghost\ndatastore = %s/ds\n' "$T" >"$T/ghost.plan"
rc=0; ferryctl failover start -a "$T/agent.sock" -p "$T/ghost.plan" 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "start without --mode: exit $rc"
rc=0; ferryctl failover start -a "$T/agent.sock" -p "$T/ghost.plan" --mode sideways 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "mode: 'sideways'" "$T/err" || fail "bad mode: exit $rc $(cat "$T/err")"
rc=0; ferryctl failover start -a "$T/agent.sock" -p "$T/ghost.plan" --mode forced 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "ghost" "$T/err" || fail "unknown domain: exit $rc $(cat "$T/err")"
rc=0; ferryctl failover status -a "$T/agent.sock" --domain ghost 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "no domain ghost" "$T/err" || fail "status: exit $rc $(cat "$T/err")"
rc=0; ferryctl failover status -a "$T/nothing.sock" --domain ghost 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "cannot reach the agent" "$T/err" || fail "no agent: exit $rc $(cat "$T/err")"
rc=0; ferryctl failover status --domain ghost 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "status without -a: exit $rc"
rc=0; ferryctl failover bogus -a "$T/agent.sock" 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "unknown subcommand: exit $rc"
rc=0; ferryctl plan validate -p "$T/ghost.plan" 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "validate without a store: exit $rc"

# the agent stops on SIGTERM with 0 and removes its socket
kill -TERM "$AGENT_PID"
rc=0; wait "$AGENT_PID" || rc=$?
[ $rc = 0 ] || fail "SIGTERM: exit $rc"
[ ! -e "$T/agent.sock" ] || fail "socket left behind"

# a bad configuration: 2, naming the line
printf '[agent]\nlisten = nowhere\n' >"$T/bad.conf"
rc=0; "$BIN/ferry-agent" -c "$T/bad.conf" >"$T/out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "bad.conf:2: bad agent.listen" "$T/out" || fail "bad config: $rc $(cat "$T/out")"
printf '[agent]\nstate_dir = %s/x\n' "$T" >"$T/nostore.conf"
rc=0; "$BIN/ferry-agent" -c "$T/nostore.conf" >"$T/out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "no \[store\] url" "$T/out" || fail "no store: $rc $(cat "$T/out")"

# a damaged journal: the agent refuses to start, names the line, changes nothing
mkdir -p "$T/agent/domains/dom"
printf '{"journal":"ferry-agent","version":1,"domain":"dom"}\n{"t":"plan","time":1,"text":"p"}\n{"t":"op","time":2,"op":5,"action":"forced","steps":[]}\n' \
	>"$T/agent/domains/dom/journal"
cp "$T/agent/domains/dom/journal" "$T/journal.before"
rc=0; "$BIN/ferry-agent" -c "$T/agent.conf" >"$T/out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "journal: line 3: operation 5 out of order" "$T/out" ||
	fail "damaged journal: $rc $(cat "$T/out")"
cmp -s "$T/journal.before" "$T/agent/domains/dom/journal" || fail "the damaged journal was changed"
# a torn last line is only a crash: dropped, and the agent starts
printf '{"journal":"ferry-agent","version":1,"domain":"dom"}\n{"t":"plan","time":1,"text":"p"}\n{"t":"op","ti' \
	>"$T/agent/domains/dom/journal"
start_agent "$T/agent.conf"
req GET /v1/domains/dom
[ "$CODE" = 200 ] && grep -q '"state":"RecoveryReady"' <<<"$BODY" || fail "after a torn line: $CODE $BODY"
[ "$(wc -l <"$T/agent/domains/dom/journal")" = 2 ] || fail "torn line not cut"
pass
