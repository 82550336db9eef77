#!/usr/bin/env bash
# A protected disk's primary I/O error reaches the receiver as ferryDiskIoError (critical,
# the disk's domain, the disk and the error in the text), at most once a minute per disk:
# the primary is a sparse file on a 2 MiB tmpfs, so writes past 2 MiB of data fail with
# ENOSPC. The guest sees the errors; ferryd keeps serving.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/snmp.sh"
require qemu-io
snmp_require
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
snmp_mibs
snmptrapd_start nms

mkdir -p "$T/small"
mount -t tmpfs -o size=2M tmpfs "$T/small" || skip "cannot mount a tmpfs here"
cleanup_fn "umount '$T/small'"
truncate -s 16M "$T/small/vm0.raw"
write_config "$T/ferry.conf" 16M 1M vm0:"$T/small/vm0.raw"
snmp_receiver "$T/ferry.conf" nms "udp:127.0.0.1:$TRAPD_PORT" v2c trap
start_ferryd "$T/ferry.conf"

qemu-io -f raw -c 'write -P 1 0 4M' "$NBD_URI_BASE/vm0" >"$T/q1.out" 2>&1
grep -qi 'error\|fail' "$T/q1.out" || { cat "$T/q1.out" >&2; fail "the write past the tmpfs did not fail"; }
line=$(wait_notification "$TRAPD_LOG" ferryDiskIoError 20)
[ "$(notification_field "$line" ferryNotifyDomain)" = dom ] || fail "domain: $line"
[ "$(notification_field "$line" ferryNotifySeverity)" = critical ] || fail "severity: $line"
notification_field "$line" ferryNotifyText | grep -q 'disk vm0: primary write failed: No space left on device' ||
	fail "text: $line"

# more errors within the minute: still one notification, and ferryd still serves
qemu-io -f raw -c 'write -P 2 8M 1M' "$NBD_URI_BASE/vm0" >/dev/null 2>&1
qemu-io -f raw -c 'read -P 1 0 64k' "$NBD_URI_BASE/vm0" >/dev/null || fail "ferryd stopped serving"
sleep 2
[ "$(grep -c 'FERRY-MIB::ferryDiskIoError' "$TRAPD_LOG")" = 1 ] || fail "more than one ferryDiskIoError"
stop_ferryd
pass
