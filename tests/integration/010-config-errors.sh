#!/usr/bin/env bash
# ferryd refuses a bad configuration with exit 2 and "FILE:LINE: reason", before touching
# any disk or log; a good configuration with an unopenable disk exits 1.
. "$(dirname "$0")/../lib/functions.sh"

check_bad() {	# expected-line config-text
	local want=$1 text=$2 rc=0
	printf '%s\n' "$text" >"$T/bad.conf"
	"$BIN/ferryd" -c "$T/bad.conf" >"$T/out" 2>&1 || rc=$?
	[ $rc -eq 2 ] || { cat "$T/out" >&2; fail "expected exit 2, got $rc for: $text"; }
	grep -q "^ferryd: $T/bad.conf:$want: " "$T/out" || { cat "$T/out" >&2; fail "expected $T/bad.conf:$want: in the error"; }
	info "ok: $(cat "$T/out")"
}
check_bad 2 $'[nbd]\nlisten 127.0.0.1:1'
check_bad 3 $'[nbd]\nengine = aio\nengine = turbo'
check_bad 1 $'[bogus]\n'
check_bad 2 $'[log]\nsize = 12Q'
check_bad 4 $'[domain a]\ndisk = x:/tmp/x\n[domain b]\ndisk = x:/tmp/y'
[ ! -e "$T/state" ] || fail "a bad config created state"

rc=0
printf '[appliance]\nstate_dir = %s/state\n[log]\npath = %s/log\nsize = 1M\nmetadata_size = 64K\n[control]\nsocket = %s/s\n[domain d]\ndisk = d0:%s/missing.raw\n' "$T" "$T" "$T" "$T" >"$T/good.conf"
"$BIN/ferryd" -c "$T/good.conf" >"$T/out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "missing disk: expected exit 1, got $rc"
grep -q 'missing.raw' "$T/out" || fail "missing disk not named"
pass
