#!/usr/bin/env bash
# Read-only commands create nothing (issue 12 item 10): points, restore, verify, rehydrate
# and store copy's source, given a file:// store that does not exist, fail naming it and
# leave no directory behind (they used to mkdir -p the store's root).
. "$(dirname "$0")/../lib/functions.sh"
echo "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" >"$T/key"
NO=$T/nothing/here
U=file://$NO
mkdir "$T/ds"
for cmd in "points --store $U --key-file $T/key --domain dom" \
	   "restore --store $U --key-file $T/key --domain dom --disk vm0 -o $T/out.raw" \
	   "verify --store $U --key-file $T/key" \
	   "rehydrate --store $U --key-file $T/key --domain dom --dir $T/ds" \
	   "store copy --from $U --store file://$T/dest"; do
	rc=0; ferryctl $cmd >/dev/null 2>"$T/err" || rc=$?
	[ $rc != 0 ] || fail "$cmd succeeded on a store that does not exist"
	grep -q "$U" "$T/err" || fail "$cmd: the message does not name the store: $(cat "$T/err")"
	[ -e "$T/nothing" ] && fail "$cmd created $(find "$T/nothing" | tr '\n' ' ')"
	info "$cmd: exit $rc: $(head -n 1 "$T/err")"
done
[ -e "$T/out.raw" ] && fail "restore wrote an output"
# a command that writes still makes the store (init)
ferryctl init --store "$U" --key-file "$T/k2" >/dev/null || fail "init"
[ -d "$NO" ] || fail "init did not create the store"
pass
