#!/usr/bin/env bash
# A point that is not crash-consistent (the seed point here; resync points alike) is not
# restored unless --allow-inconsistent (issue 12 item 8): exit 1, nothing written, and the
# message names the nearest consistent points. With the flag it restores, with a warning.
. "$(dirname "$0")/../lib/functions.sh"
make_points 8M
S=(--store "$STORE" --key-file "$KEY" --domain dom --disk vm0)
ferryctl points --store "$STORE" --key-file "$KEY" --domain dom >"$T/points"
grep -q '^1\.1 .* no ' "$T/points" || fail "point 1.1 is not the inconsistent seed: $(cat "$T/points")"
next=$(awk '$4 == "yes" { print $1; exit }' "$T/points")

rc=0; ferryctl restore "${S[@]}" --point 1.1 -o "$T/seed.raw" >/dev/null 2>"$T/err" || rc=$?
[ $rc = 1 ] || fail "restore of inconsistent point 1.1: exit $rc, expected 1"
grep -q "point 1.1 of domain dom is not consistent .* the nearest consistent point is: $next (after it); --allow-inconsistent restores it anyway" "$T/err" ||
	fail "message: $(cat "$T/err")"
[ -e "$T/seed.raw" ] || [ -e "$T/seed.raw.part" ] && fail "a refused restore wrote something"
info "$(cat "$T/err")"

# consistent points restore without the flag
ferryctl restore "${S[@]}" --point "$P2" -o "$T/p2.raw" >/dev/null || fail "restore of $P2"
cmp "$T/p2.raw" "$T/ref2.raw" || fail "$P2 differs"

ferryctl restore "${S[@]}" --point 1.1 --allow-inconsistent -o "$T/seed.raw" >/dev/null \
	2>"$T/err" || fail "restore --allow-inconsistent: $(cat "$T/err")"
grep -q "warning: point 1.1 is not consistent" "$T/err" || fail "no warning: $(cat "$T/err")"
[ -s "$T/seed.raw" ] || fail "no output"
pass
