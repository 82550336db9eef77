#!/usr/bin/env bash
# SIGINT during a restore (issue 12 item 12): the restore stops cleanly, says
# "interrupted; rerun with --resume to continue", keeps PATH.part and a checkpoint from
# the very first window on, and --resume completes it to the right bytes. So that the
# test does not depend on how fast the restore runs, ferryctl reads its configuration from
# a FIFO: it waits there, SIGINT is sent once it has taken the signal over (its blocked
# mask in /proc), and only then is the configuration written: the restore starts with the
# signal pending and stops at its first window.
. "$(dirname "$0")/../lib/functions.sh"
make_points 24M
S=(-c "$T/conf.fifo" --domain dom --disk vm0)
mkfifo "$T/conf.fifo"
export FERRY_RESTORE_WINDOW_KB=256

# with_sigint CMD... &: CMD as a background job (the job's pid is CMD's) with SIGINT at its
# default action, which a script's background job does not have
with_sigint() {
	exec python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

sigint_blocked() {	# PID: it is ferryctl (no longer the wrapper) and SIGINT (bit 1) is
			# in its main thread's blocked mask
	local m
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = ferryctl ] || return 1
	m=$(awk '/^SigBlk:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$m" ] && (( (0x$m >> 1) & 1 ))
}

for f in raw vmdk; do
	out=$T/out.$f
	# a background job of a script starts with SIGINT ignored: give ferryctl the default
	with_sigint ferryctl restore "${S[@]}" --format $f -o "$out" >/dev/null 2>"$T/err" &
	pid=$!
	_pids+=("$pid")		# killed at teardown if the test fails before it ends
	wait_for 20 sigint_blocked $pid || fail "ferryctl restore did not take over SIGINT"
	kill -INT $pid
	timeout 20 sh -c 'cat "$1" >"$2"' _ "$T/ferry.conf" "$T/conf.fifo" ||
		fail "ferryctl never read its configuration (did SIGINT kill it?)"
	rc=0; wait $pid || rc=$?
	[ $rc = 1 ] || fail "$f: exit $rc after SIGINT, expected 1 ($(cat "$T/err"))"
	grep -q "interrupted; rerun with --resume to continue (the partial output is kept in $out.part)" "$T/err" ||
		fail "$f: message: $(cat "$T/err")"
	[ -e "$out" ] && fail "$f: an interrupted restore left $out"
	[ -e "$out.part" ] && grep -q "^done [1-9]" "$out.part.resume" ||
		fail "$f: no partial output with a checkpoint ($(ls "$T"))"
	info "$f: $(cat "$T/err") ($(grep done "$out.part.resume"))"
	ferryctl restore -c "$T/ferry.conf" --domain dom --disk vm0 --format $f --resume \
		-o "$out" >/dev/null 2>"$T/err" || fail "$f --resume: $(cat "$T/err")"
	grep -q "resuming $out at offset [1-9]" "$T/err" || fail "$f did not resume: $(cat "$T/err")"
	if [ $f = raw ]; then cmp "$out" "$T/ref2.raw" || fail "the resumed raw restore differs"
	else qemu-img compare -q -f vmdk -F raw "$out" "$T/ref2.raw" || fail "the resumed $f differs"; fi
done
pass
