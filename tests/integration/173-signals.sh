#!/usr/bin/env bash
# Signals never take ferryd away without a word: SIGHUP reopens the log file and reloads
# what can change while running (and keeps running on a broken file); SIGPIPE is ignored;
# a fatal signal logs one line and removes the sockets, and the next start recovers the
# log; SIGTERM still stops cleanly.
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io
write_config "$T/ferry.conf" 16M 1M vm0:"$T/vm0.raw":16M
start_ferryd_logfile() {	# like start_ferryd, with --log-file $T/ferryd.log
	: >"$T/stdout"
	"$BIN/ferryd" -c "$T/ferry.conf" --log-file "$T/ferryd.log" --exit-with-parent >"$T/stdout" 2>&1 &
	FERRYD_PID=$!
	_pids+=("$FERRYD_PID")
	wait_for 20 grep -q '^ferryd ready$' "$T/stdout" || { cat "$T/stdout" "$T/ferryd.log" >&2; fail "ferryd not ready"; }
}
alive() { kill -0 "$FERRYD_PID" 2>/dev/null && qemu-io -f raw -c "write -P 0x${1:-42} 0 4k" "$NBD_URI_BASE/vm0" >/dev/null; }

start_ferryd_logfile
# SIGHUP: the log file is reopened (logrotate moved it away) and the config reloaded
mv "$T/ferryd.log" "$T/ferryd.log.1"
sed -i 's/^\[log\]$/[log]\nbackpressure = 20ms/' "$T/ferry.conf"
kill -HUP "$FERRYD_PID"
wait_for 10 grep -q 'SIGHUP: reloaded .*backpressure 0 ms -> 20 ms' "$T/ferryd.log" ||
	{ cat "$T"/ferryd.log* >&2; fail "no reload line in the new log file after SIGHUP"; }
grep -q 'SIGHUP: reopening the log file' "$T/ferryd.log.1" || fail "the old log file does not say it was reopened"
grep -q 'SIGHUP: log file .* reopened' "$T/ferryd.log" || fail "the new log file does not say it was reopened"
alive 11 || fail "ferryd does not serve after SIGHUP"
ferryctl status -c "$T/ferry.conf" --json | grep -q '"backpressure_ms":20' || fail "backpressure not reloaded"
info "$(grep 'SIGHUP: reloaded' "$T/ferryd.log")"

# a broken file: the running configuration stays
echo "nonsense" >>"$T/ferry.conf"
kill -HUP "$FERRYD_PID"
wait_for 10 grep -q 'SIGHUP: .*keeping the running configuration' "$T/ferryd.log" || fail "no line for a broken config"
alive 12 || fail "ferryd does not serve after SIGHUP with a broken file"
sed -i '$d' "$T/ferry.conf"

# SIGPIPE is ignored
kill -PIPE "$FERRYD_PID"
alive 13 || fail "ferryd died of SIGPIPE"

# a fatal signal: one line, the sockets gone, recovered at the next start
kill -SEGV "$FERRYD_PID"
wait "$FERRYD_PID"; rc=$?
[ $rc -ge 128 ] || fail "ferryd exited $rc after SIGSEGV"
grep -q 'killed by signal SIGSEGV' "$T/ferryd.log" || fail "no line for SIGSEGV: $(tail -3 "$T/ferryd.log")"
[ -e "$T/ferryd.sock" ] && fail "the control socket was left behind"
start_ferryd_logfile
grep -q 'unclean shutdown' "$T/ferryd.log" || info "(nothing to re-apply)"
alive 14 || fail "ferryd does not serve after restarting"
kill -TERM "$FERRYD_PID"
wait "$FERRYD_PID" || fail "ferryd exited $? after SIGTERM"
grep -q 'stopped cleanly' "$T/ferryd.log" || fail "no clean stop line"
ferryctl log verify -c "$T/ferry.conf" >&2 || fail "log verify"
pass
