#!/usr/bin/env bash
# ferryctl status over the control socket; SIGTERM finishes in-flight requests, flushes and
# writes a clean superblock, exit 0; log stat/dump show what was captured.
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io

write_config "$T/ferry.conf" 32M 1M s0:"$T/s0.raw":32M s1:"$T/s1.raw":32M
start_ferryd "$T/ferry.conf"
qemu-io -f raw -c 'write -P 1 0 1M' -c 'write -z 1M 1M' -c 'discard 2M 64k' "$NBD_URI_BASE/s0" >/dev/null || fail "qemu-io"
ferryctl status -c "$T/ferry.conf" >"$T/st.txt" || fail "status"
cat "$T/st.txt" >&2
grep -q '^s0 ' "$T/st.txt" && grep -q '^s1 ' "$T/st.txt" || fail "status lacks exports"
grep -q 'engine:' "$T/st.txt" || fail "status lacks engine"
ferryctl status -c "$T/ferry.conf" --json | python3 -c '
import json,sys; s=json.load(sys.stdin)
e={x["name"]:x for x in s["exports"]}
assert e["s0"]["writes"]>=1 and e["s0"]["bytes_written"]>=1<<20, e["s0"]
assert e["s0"]["zeroes"]>=1 and e["s0"]["trims"]>=1, e["s0"]
assert s["log"]["used_bytes"]>=1<<20, s["log"]
' || fail "status json content"
# SIGTERM while a large write is in flight: it completes (or is never acknowledged)
qemu-io -f raw -c 'write -P 7 4M 16M' "$NBD_URI_BASE/s1" >"$T/q.out" 2>&1 &
q=$!
sleep 0.3
stop_ferryd
wait $q; qrc=$?
ferryctl log stat -c "$T/ferry.conf" >"$T/stat.txt" || fail "log stat"
cat "$T/stat.txt" >&2
grep -qi 'clean.*yes\|clean: *1\|clean: *true' "$T/stat.txt" || fail "log not marked clean after SIGTERM"
ferryctl log verify -c "$T/ferry.conf" || fail "log verify"
ferryctl log dump -c "$T/ferry.conf" >"$T/dump.txt" || fail "log dump"
[ "$(wc -l <"$T/dump.txt")" -ge 3 ] || fail "dump too short"
if [ $qrc -eq 0 ]; then
	qemu-io -f raw -r -c 'read -P 7 4M 16M' "$T/s1.raw" >/dev/null || fail "acknowledged write lost at shutdown"
fi
ferryctl status -c "$T/ferry.conf" >/dev/null 2>&1 && fail "status should fail when ferryd is down"
pass
