#!/usr/bin/env bash
# A point bigger than the shipper stages in memory (SHIP_MAX_POINT_BYTES, 512 MiB): 700 MiB
# are written through NBD while no point is due, then a point is asked for. The scheduler's
# one pass over the log stages the domain's records until 512 MiB, then detaches the
# domain once (one log line, the stage dropped: it never grows past the limit) and the
# domain's worker reads the log itself, in cuts of at most 512 MiB. Then the domain is
# attached again: a later small write goes through the scheduler's stage as usual. Every
# point restores equal to the primary at its time.
. "$(dirname "$0")/../lib/functions.sh"
require nbdcopy qemu-io python3

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/k" >/dev/null || fail "init"
write_config "$T/ferry.conf" 1200M 4M vm0:"$T/vm0.raw":768M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/k" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
start_ferryd "$T/ferry.conf"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "the seed"

# 700 MiB of one random MiB repeated (the store dedupes it; the log holds all of it)
python3 - "$T/big.raw" <<'PY'
import os, sys
block = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for i in range(700):
        f.write(block[:8] + i.to_bytes(8, "little") + block[16:])
PY
nbdcopy --flush "$T/big.raw" "$NBD_URI_BASE/vm0" || fail "nbdcopy"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "the big point"
n=$(grep -c 'more than 512 MiB waiting: its worker reads the log itself' "$T/ferryd.log")
[ "$n" = 1 ] || fail "the domain was detached $n times (logged), expected once"
# the worker's cuts stop at 512 MiB, and `ferryctl point` is answered by the cut that
# reaches the head: the big write took two points
[ "$(grep -c '^ferryd: info: point dom ' "$T/ferryd.log")" -ge 3 ] ||
	fail "the big write did not take two cuts: $(grep 'point dom ' "$T/ferryd.log")"
ferryctl restore --store "$STORE" --key-file "$T/k" --domain dom --disk vm0 --format raw \
	-o "$T/r1.raw" >/dev/null || fail "restore after the big point"
cmp "$T/vm0.raw" "$T/r1.raw" || fail "the restore differs from the primary"
rm -f "$T/r1.raw" "$T/big.raw"

# attached again: a small write is staged by the scheduler and shipped
qemu-io -f raw -c "write -P 7 12345k 64k" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "the small point"
[ "$(grep -c 'more than 512 MiB waiting' "$T/ferryd.log")" = 1 ] ||
	fail "a small point detached the domain again"
ferryctl restore --store "$STORE" --key-file "$T/k" --domain dom --disk vm0 --format raw \
	-o "$T/r2.raw" >/dev/null || fail "restore after the small point"
cmp "$T/vm0.raw" "$T/r2.raw" || fail "the restore after the small write differs"
stop_ferryd
pass
