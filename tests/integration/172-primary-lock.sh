#!/usr/bin/env bash
# One primary is served once: two domains naming the same disk (by two paths) are refused,
# and a second ferryd (its own log, socket and port) that names a disk the first one serves
# is refused with both owners named, while the first goes on serving.
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io
truncate -s 16M "$T/shared.raw"
ln -s "$T/shared.raw" "$T/alias.raw"

# the same disk twice in one configuration
write_config "$T/twice.conf" 16M 1M a0:"$T/shared.raw"
printf '[domain other]\ndisk = b0:%s\n' "$T/alias.raw" >>"$T/twice.conf"
timeout 20 ferryd -c "$T/twice.conf" >"$T/twice.log" 2>&1 && fail "ferryd served one disk in two domains"
grep -q "disk b0 (domain other, $T/alias.raw) and disk a0 (domain dom, $T/shared.raw) are the same primary" "$T/twice.log" ||
	{ cat "$T/twice.log" >&2; fail "the refusal does not name both disks"; }
info "$(grep 'same primary' "$T/twice.log")"

# a second ferryd for a disk the first serves
write_config "$T/one.conf" 16M 1M vm0:"$T/shared.raw"
start_ferryd "$T/one.conf" "$T/one.log"
first=$FERRYD_PID
mkdir -p "$T/two"
sed -e "s|$T/replog|$T/two/replog|; s|$T/ferryd.sock|$T/two/ferryd.sock|; s|^listen = .*|listen = 127.0.0.1:$(free_port)|; s|^disk = vm0:|disk = other0:|" \
	"$T/one.conf" >"$T/two.conf"
timeout 20 ferryd -c "$T/two.conf" >"$T/two.log" 2>&1 && fail "a second ferryd served a disk the first one serves"
grep -q "disk other0 (domain dom in $T/two.conf): $T/shared.raw is already served by pid $first: .*ferryd -c $T/one.conf" "$T/two.log" ||
	{ cat "$T/two.log" >&2; fail "the refusal does not name the first ferryd"; }
info "$(grep 'already served' "$T/two.log")"
qemu-io -f raw -c "write -P 0x5a 0 64k" "$NBD_URI_BASE/vm0" >/dev/null || fail "the first ferryd stopped serving"
stop_ferryd
# with the first one gone, the second may serve it
start_ferryd "$T/two.conf" "$T/two.2.log"
stop_ferryd
pass
