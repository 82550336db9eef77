#!/usr/bin/env bash
# --version for every program, and their man pages (issue 12 item 6): each prints "NAME
# VERSION" and exits 0; ferryd(8), ferryctl(1), ferry-agent(8) and ferry-subagent(8) format
# with `man -l` without a single warning, and together document every ferryctl command and
# every FERRY_* environment variable the code reads.
. "$(dirname "$0")/../lib/functions.sh"
require man
for b in ferryd ferryctl ferry-agent ferry-subagent; do
	out=$("$b" --version) || fail "$b --version: exit $?"
	[[ "$out" =~ ^$b\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$b --version printed '$out'"
	info "$out"
done
for b in ferryd ferry-agent ferry-subagent; do
	"$BIN/$b" --help | grep -q -- "--version" || fail "$b --help does not mention --version"
done
ferryctl --help | grep -q -- "--version" || fail "ferryctl --help does not mention --version"
MANS=("$TOP/docs/man/ferryd.8" "$TOP/docs/man/ferryctl.1" "$TOP/docs/man/ferry-agent.8"
      "$TOP/docs/man/ferry-subagent.8")
for m in "${MANS[@]}"; do
	[ -f "$m" ] || fail "$m is missing"
	MANWIDTH=80 man --warnings -l "$m" >"$T/man.txt" 2>"$T/man.err" || fail "man -l $m: exit $?"
	[ -s "$T/man.err" ] && fail "man -l $m warns: $(cat "$T/man.err")"
	grep -q "EXIT STATUS" "$T/man.txt" || fail "$m has no EXIT STATUS section"
	grep -q "$(ferryd --version | cut -d' ' -f2)" "$m" || fail "$m does not name the version"
done
MANWIDTH=200 man -l "$TOP/docs/man/ferryctl.1" 2>/dev/null >"$T/ctl.txt"
for c in $(ferryctl --help | awk '/^  [a-z]/ { print $1 }'); do
	grep -q "^ *$c " "$T/ctl.txt" || fail "ferryctl.1 does not document '$c'"
done
# every FERRY_* variable the code reads is in a man page
vars=$(grep -rhoE 'getenv\("FERRY_[A-Z0-9_]+"\)|env_flag\("FERRY_[A-Z0-9_]+"\)' \
	"$TOP"/common "$TOP"/datapath "$TOP"/repo "$TOP"/image "$TOP"/restore "$TOP"/mgmt \
	"$TOP"/agent 2>/dev/null | grep -oE 'FERRY_[A-Z0-9_]+' | sort -u)
for v in $vars; do
	grep -q "$v" "${MANS[@]}" ||
		fail "$v is read by the code but documented in no man page"
done
info "documented: $(echo $vars)"
pass
