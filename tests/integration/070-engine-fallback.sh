#!/usr/bin/env bash
# The io engine: auto picks io_uring where it works; when io_uring cannot be set up (here
# simulated with FERRY_DISABLE_URING=1, as under a seccomp filter or
# kernel.io_uring_disabled) ferryd falls back to libaio and says why in one log line;
# `engine = aio` forces libaio. `ferryctl status` reports the engine.
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io

write_config "$T/ferry.conf" 16M 1M e0:"$T/e0.raw":16M
FERRY_DISABLE_URING=1 start_ferryd "$T/ferry.conf"
grep 'io engine' "$T/ferryd.log" >&2
grep -q 'io engine: libaio' "$T/ferryd.log" || fail "no libaio fallback"
grep -qi 'io_uring' "$T/ferryd.log" || fail "fallback reason does not mention io_uring"
qemu-io -f raw -c 'write -P 5 0 1M' -c 'read -P 5 0 1M' "$NBD_URI_BASE/e0" >/dev/null || fail "I/O on libaio"
ferryctl status -c "$T/ferry.conf" --json | grep -q '"engine":"libaio"' || fail "status does not report libaio"
stop_ferryd

if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 0 ]; then
	start_ferryd "$T/ferry.conf" "$T/ferryd2.log"
	grep -q 'io engine: io_uring' "$T/ferryd2.log" || fail "auto did not pick io_uring"
	ferryctl status -c "$T/ferry.conf" --json | grep -q '"engine":"io_uring"' || fail "status engine"
	stop_ferryd
fi
pass
