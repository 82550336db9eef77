#!/usr/bin/env bash
# --json is JSON to the end (issue 12 item 11): with --json, restore, verify, point, store
# check, points and status print only JSON on stdout, one object per line, each with an
# "event", ending with one "result" or "error" object (errors included, usage errors too),
# and nothing on stderr.
. "$(dirname "$0")/../lib/functions.sh"
make_points 8M
S=(--store "$STORE" --key-file "$KEY")

# json_lines FILE LAST_EVENT [KEY=VALUE...]: every line is a JSON object with an event,
# the last one is LAST_EVENT and has the given keys and values
json_lines() {
	python3 - "$@" <<'PY'
import json, sys
path, last, want = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = open(path).read().splitlines()
assert lines, "no output"
objs = []
for l in lines:
    o = json.loads(l)
    assert isinstance(o, dict) and "event" in o, l
    objs.append(o)
assert all(o["event"] not in ("result", "error") for o in objs[:-1]), "result/error not last"
assert objs[-1]["event"] == last, objs[-1]
for kv in want:
    k, v = kv.split("=", 1)
    assert str(objs[-1].get(k)).lower() == v.lower(), (k, objs[-1].get(k), v)
PY
}
# run EXPECTED_EXIT LAST_EVENT [KEY=VALUE...] -- ferryctl ARGS...
run() {
	local want=$1 last=$2; shift 2
	local kv=()
	while [ "$1" != -- ]; do kv+=("$1"); shift; done
	shift
	local rc=0
	ferryctl "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc = "$want" ] || fail "ferryctl $*: exit $rc, expected $want ($(cat "$T/out" "$T/err"))"
	[ -s "$T/err" ] && fail "ferryctl $*: stderr: $(cat "$T/err")"
	json_lines "$T/out" "$last" "${kv[@]}" || fail "ferryctl $*: not JSON lines: $(cat "$T/out")"
	info "ferryctl $1 ...: $(tail -n 1 "$T/out")"
}

run 0 result point="$P2" format=vmdk-stream -- restore "${S[@]}" --domain dom --disk vm0 \
	--format vmdk-stream --json -o "$T/a.vmdk"
grep -q '"event":"progress".*"final":true' "$T/out" || fail "no final progress line"
run 1 error exit=1 -- restore "${S[@]}" --domain dom --disk vm0 --json -o "$T/a.vmdk"
run 1 error exit=1 -- restore "${S[@]}" --domain dom --disk vm0 --point 9.9 --json -o "$T/b.raw"
run 2 error exit=2 -- restore "${S[@]}" --domain dom --disk vm0 --json --bogus -o "$T/b.raw"
run 1 error exit=1 -- restore "${S[@]}" --domain nosuch --disk vm0 --json -o "$T/b.raw"
run 2 error exit=2 -- restore --store "file://$T/nothing" --key-file "$KEY" --domain dom \
	--disk vm0 --json -o "$T/b.raw"
run 1 error exit=1 -- points "${S[@]}" --domain nosuch --json
run 0 result ok=true problems=0 -- verify "${S[@]}" --read-data --json
run 0 result ok=true -- store check --store "$STORE" --json
grep -q '"event":"step","step":"no overwrite","ok":true' "$T/out" || fail "no step lines"
run 1 error exit=1 -- status -c "$T/ferry.conf" --json
run 1 error exit=1 -- point -c "$T/ferry.conf" --domain dom --json

start_ferryd "$T/ferry.conf"
run 0 result domain=dom -- point -c "$T/ferry.conf" --domain dom --json
run 1 error exit=1 -- point -c "$T/ferry.conf" --domain nosuch --json
ferryctl status -c "$T/ferry.conf" --json >"$T/st" || fail "status --json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/st" || fail "status --json: not JSON"
stop_ferryd

# a damaged pack: problem lines, then a failed result
pack=$(find "$T/store/packs" -type f | head -n 1)
printf 'XXXX' | dd of="$pack" bs=1 seek=100 conv=notrunc 2>/dev/null
run 1 result ok=false -- verify "${S[@]}" --read-data --json
grep -q '"event":"problem","key":"packs/' "$T/out" || fail "no problem line"
pass
