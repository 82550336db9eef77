#!/usr/bin/env bash
# Acceptance 3: fio's nbd engine, random writes with --verify=crc32c at QD32 over two
# connections (one per job, on separate halves of the export). The log replays to the primary.
. "$(dirname "$0")/../lib/functions.sh"
require fio qemu-img

write_config "$T/ferry.conf" 512M 1M vd0:"$T/vd0.raw":128M
start_ferryd "$T/ferry.conf"
(cd "$T" && fio --name=verify --ioengine=nbd --uri="$NBD_URI_BASE/vd0" --rw=randwrite --bs=4k \
	--iodepth=32 --numjobs=2 --size=64M --offset_increment=64M --io_size=32M \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --group_reporting \
	--output="$T/fio.out") || { cat "$T/fio.out" >&2; fail "fio failed"; }
grep -E 'WRITE:|READ:' "$T/fio.out" >&2
grep -q 'err= 0' "$T/fio.out" || fail "fio reported errors"
stop_ferryd
log_replays_to_primary "$T/ferry.conf" vd0 "$T/vd0.raw"
pass
