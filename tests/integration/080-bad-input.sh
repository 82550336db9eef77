#!/usr/bin/env bash
# Acceptance 7: a raw-socket client sends bad magic, unknown options and commands, lengths
# over the maximum, offsets beyond the end, truncated headers: each gets the right NBD error
# or a clean disconnect, never a crash or a hang; another client's connection keeps working
# throughout.
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io

write_config "$T/ferry.conf" 64M 1M exp:"$T/exp.raw":16M
start_ferryd "$T/ferry.conf"
# a well-behaved client, busy during the whole test on one long connection
ops=(); for i in $(seq 1 400); do ops+=(-c "write -P $((i % 200 + 1)) $(( (i % 64) * 65536 )) 64k" -c "read -P $((i % 200 + 1)) $(( (i % 64) * 65536 )) 64k"); done
qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/exp" >"$T/good.out" 2>&1 &
good=$!
timeout 120 "$TBIN/nbd-badclient" 127.0.0.1 "$PORT" exp all | tee "$T/bad.out" >&2 || fail "bad-input cases failed"
wait $good || fail "the well-behaved client failed"
grep -q 'Pattern verification failed\|error' "$T/good.out" && fail "the well-behaved client saw errors"
kill -0 "$FERRYD_PID" || fail "ferryd died"
stop_ferryd
ferryctl log verify -c "$T/ferry.conf" || fail "log verify"
pass
