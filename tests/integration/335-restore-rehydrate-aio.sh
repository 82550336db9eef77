#!/usr/bin/env bash
# Where io_uring is disabled (FERRY_DISABLE_URING=1, as kernel.io_uring_disabled or a
# container's seccomp profile would), everything that writes through the I/O engine uses
# libaio: ferryd, restores to raw and vmdk-flat (and the other formats still work), and a
# rehydrate (first run and a catch-up).
# strace shows the libaio context being set up and io_uring never; the results equal the
# primary (compared as raw with cmp: ferryd holds a lock on the primary while it serves it,
# which qemu-img compare respects).
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io qemu-img strace python3
export FERRY_DISABLE_URING=1
write_config "$T/ferry.conf" 64M 1M vm0:"$T/vm0.raw":24M
store_config "$T/ferry.conf" 1h
start_ferryd "$T/ferry.conf"
grep -q 'io engine: libaio' "$T/ferryd.log" || fail "ferryd does not use libaio: $(grep 'io engine' "$T/ferryd.log")"
C=(--store "$STORE" --key-file "$KEY")
ops=(); for i in $(seq 1 60); do
	len=$(( (RANDOM % 64 + 1) * 4096 )); off=$(( (RANDOM * 32768 + RANDOM) % (24 * 1048576 - len) / 512 * 512 ))
	ops+=(-c "write -P $((RANDOM % 255 + 1)) $off $len")
done
qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
p1=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 1"
wait_for 60 newest_point_consistent "$T/ferry.conf" || fail "no consistent point"

same_as_primary() {	# IMAGE (raw or vmdk)
	rm -f "$T/cmp.raw"
	qemu-img convert -O raw "$1" "$T/cmp.raw" && cmp "$T/cmp.raw" "$T/vm0.raw"
}
# strace -f FILE CMD...: run CMD, then the trace must show libaio set up and no io_uring
aio_only() {
	local tr=$1; shift
	# (LeakSanitizer cannot run under ptrace: off for the traced command in sanitizer builds)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -e trace=io_setup,io_uring_setup -o "$tr" "$@" || return 1
	grep -q 'io_setup(.*= 0$' "$tr" || { echo "no io_setup in $tr" >&2; return 1; }
	! grep -q 'io_uring_setup(.*= [0-9]' "$tr" || { echo "io_uring was set up" >&2; return 1; }
}
for fmt in raw vmdk-flat vmdk vmdk-stream; do
	run=(ferryctl restore "${C[@]}" --domain dom --disk vm0 --format "$fmt" -o "$T/r.$fmt")
	case $fmt in	# the formats written through the batch writer (the others stream)
	raw|vmdk-flat) aio_only "$T/restore-$fmt.trace" "${run[@]}" >/dev/null ;;
	*) "${run[@]}" >/dev/null ;;
	esac || fail "restore $fmt"
	same_as_primary "$T/r.$fmt" || fail "restore $fmt differs from the primary"
done
mkdir -p "$T/ds"
aio_only "$T/rehydrate1.trace" ferryctl rehydrate "${C[@]}" --domain dom --dir "$T/ds" --complete \
	>/dev/null || fail "rehydrate through libaio"
same_as_primary "$T/ds/vm0.vmdk" || fail "the rehydrated disk differs from the primary"
# more writes, a new point, the rehydrated disk catches up
qemu-io -f raw -c "write -P 0x77 1M 3M" -c "write -z 8M 1M" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io 2"
wait_for 60 newest_point_consistent "$T/ferry.conf" || fail "no consistent point 2"
aio_only "$T/rehydrate2.trace" ferryctl rehydrate "${C[@]}" --domain dom --dir "$T/ds" --complete \
	>/dev/null || fail "rehydrate catch-up through libaio"
qemu-img check -q "$T/ds/vm0.vmdk" || fail "qemu-img check"
same_as_primary "$T/ds/vm0.vmdk" || fail "the caught-up disk differs from the primary"
stop_ferryd
pass
