#!/usr/bin/env bash
# An unknown domain is an error that lists the domains the store has (issue 12 item 9):
# points, restore and rehydrate exit 1 naming them, instead of an empty table.
. "$(dirname "$0")/../lib/functions.sh"
make_points 4M
S=(--store "$STORE" --key-file "$KEY")
for cmd in "points --domain NOSUCH" "restore --domain NOSUCH --disk vm0 -o $T/x.raw" \
	   "rehydrate --domain NOSUCH --dir $T"; do
	rc=0; ferryctl $cmd "${S[@]}" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc = 1 ] || fail "$cmd: exit $rc, expected 1 (stdout: $(cat "$T/out"))"
	grep -q "no domain 'NOSUCH' in $STORE; its domains: dom$" "$T/err" ||
		fail "$cmd: message: $(cat "$T/err")"
	[ -s "$T/out" ] && fail "$cmd printed on stdout: $(cat "$T/out")"
done
info "$(cat "$T/err")"
# an empty store says so
ferryctl init --store "file://$T/empty" --key-file "$T/k2" >/dev/null || fail "init"
rc=0; ferryctl points --store "file://$T/empty" --key-file "$T/k2" --domain dom 2>"$T/err" || rc=$?
[ $rc = 1 ] || fail "points in an empty store: exit $rc"
grep -q "the store has no domain yet" "$T/err" || fail "message: $(cat "$T/err")"
# the known domain still works
ferryctl points "${S[@]}" --domain dom | grep -q "^$P2 " || fail "points --domain dom"
pass
