#!/usr/bin/env bash
# Large writes take the O_DIRECT path to the primary (datapath/disk-io.c, queue_primary) and
# stay coherent with buffered I/O of the same range: fio's nbd engine writes 1 MiB blocks
# (direct), then 4 KiB random writes over them (buffered), then 1 MiB blocks again over pages
# the reads and small writes left cached, then 68 KiB writes 512 bytes past 4 KiB boundaries (too
# unaligned for O_DIRECT: buffered), each pass verified by reading back through ferryd. The
# log replays to the primary. Where the file system takes direct I/O, a 1 MiB write pass
# must leave the primary's range out of the page cache, which shows that the direct path ran.
. "$(dirname "$0")/../lib/functions.sh"
require fio fincore

write_config "$T/ferry.conf" 512M 1M vd0:"$T/vd0.raw":64M
start_ferryd "$T/ferry.conf"
run_fio() {	# name rw bs extra...
	local name=$1 rw=$2 bs=$3; shift 3
	(cd "$T" && fio --name="$name" --ioengine=nbd --uri="$NBD_URI_BASE/vd0" --rw="$rw" \
		--bs="$bs" --iodepth=8 --size=32M "$@" --output="$T/$name.out") ||
		{ cat "$T/$name.out" >&2; fail "fio $name failed"; }
	grep -q 'err= 0' "$T/$name.out" || { cat "$T/$name.out" >&2; fail "fio $name reported errors"; }
}

# the direct descriptor is open where the file system supports it
direct=0
ferryd_opened_direct "$T/vd0.raw" && direct=1
info "primary opened O_DIRECT too: $direct"

run_fio seq1 write 1M --offset=16M
if [ $direct = 1 ]; then
	res=$(fincore -b -n -o RES "$T/vd0.raw" | tr -d ' ')
	info "primary bytes in the page cache after 16 MiB of 1 MiB writes: $res"
	[ "$res" -lt $((4 << 20)) ] || fail "1 MiB writes went through the page cache ($res bytes cached)"
fi
run_fio seq1v write 1M --offset=16M --verify=crc32c --verify_fatal=1 --do_verify=1
run_fio rand4k randwrite 4k --offset=16M --io_size=8M --verify=crc32c --verify_fatal=1 --do_verify=1
run_fio seq2 write 1M --offset=16M --verify=crc32c --verify_fatal=1 --do_verify=1
run_fio odd write 68k --offset=$(((16 << 20) + 512)) --verify=crc32c --verify_fatal=1 \
	--do_verify=1
run_fio seq3 write 1M --offset=0 --verify=crc32c --verify_fatal=1 --do_verify=1
stop_ferryd
log_replays_to_primary "$T/ferry.conf" vd0 "$T/vd0.raw"
pass
