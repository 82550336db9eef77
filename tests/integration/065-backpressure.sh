#!/usr/bin/env bash
# [log] backpressure: once the ring is more than 75% full, write replies are held back (the
# data is already in the primary and the log); no write fails, and the overflow still comes
# when the ring is full. Without the option nothing is ever held back. (Counts, not timings.)
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io python3

run() {	# backpressure-setting expected-delays(yes|no)
	rm -f "$T/replog" "$T/bp.raw"
	BACKPRESSURE=$1 write_config "$T/ferry.conf" 2M 1M bp:"$T/bp.raw":64M
	start_ferryd "$T/ferry.conf" "$T/ferryd-$1.log"
	ops=(); for i in $(seq 0 47); do ops+=(-c "write -P $((i + 1)) $((i * 65536)) 64k"); done
	qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/bp" >"$T/q.out" 2>&1 || fail "qemu-io failed"
	grep -qi 'error\|fail' "$T/q.out" && fail "a write failed"
	ferryctl status -c "$T/ferry.conf" --json >"$T/st.json"
	stop_ferryd
	python3 - "$T/st.json" "$2" <<'PY' || fail "backpressure=$1: wrong delayed_acks"
import json, sys
s = json.load(open(sys.argv[1]))
print("backpressure_ms", s["backpressure_ms"], "delayed_acks", s["delayed_acks"],
      "log", s["log"]["domains"][0]["state"])
assert (s["delayed_acks"] > 0) == (sys.argv[2] == "yes"), s["delayed_acks"]
assert s["log"]["domains"][0]["state"] == "overflow"
PY
}
run 20ms yes
run 0 no
pass
