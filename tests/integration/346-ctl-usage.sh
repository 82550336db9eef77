#!/usr/bin/env bash
# ferryctl's command line (issue 12 items 5 and 6, issue 11's one option parser): every
# subcommand knows --help and -h (its usage on stdout, exit 0, at once: `import --help` used
# to spin forever); an unknown option exits 2 naming the option; a missing required option
# is named; a stray argument is named; so is an unknown subcommand.
. "$(dirname "$0")/../lib/functions.sh"
require timeout

CMDS=(status point "log stat" "log dump" "log verify" "log replay" "log dirty" log init points
      restore import rehydrate verify "store check" "store copy" store prune domains
      "vm import" vm reip "plan validate" "plan set" plan "failover start" "failover complete"
      "failover test-stop" "failover status" "failover report" failover "trap test"
      "trap list" trap)
# the commands made of subcommands: their subcommands are checked for unknown options
DISPATCH=" log store vm plan failover trap "
for c in "${CMDS[@]}"; do
	for h in --help -h; do
		rc=0; timeout 10 ferryctl $c $h >"$T/out" 2>"$T/err" || rc=$?
		[ $rc = 124 ] && fail "ferryctl $c $h did not return in 10 s"
		[ $rc = 0 ] || fail "ferryctl $c $h: exit $rc ($(cat "$T/err"))"
		grep -q "^usage: ferryctl $c" "$T/out" || fail "ferryctl $c $h: stdout: $(cat "$T/out")"
		[ -s "$T/err" ] && fail "ferryctl $c $h wrote on stderr: $(cat "$T/err")"
	done
	[[ "$DISPATCH" == *" $c "* ]] && continue
	rc=0; timeout 10 ferryctl $c --no-such-option >"$T/out" 2>"$T/err" || rc=$?
	[ $rc = 2 ] || fail "ferryctl $c --no-such-option: exit $rc, expected 2"
	grep -q "^ferryctl $c: unknown option '--no-such-option'" "$T/err" ||
		fail "ferryctl $c --no-such-option: $(cat "$T/err")"
	grep -q "^usage: ferryctl $c" "$T/err" || fail "ferryctl $c: no usage line after the error"
done
info "$(head -n 1 "$T/err")"
# an option of another command is unknown here; a short one too
rc=0; ferryctl points --store file:///nonexistent --domain d --resume 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "unknown option '--resume' for points" "$T/err" || fail "points --resume: $(cat "$T/err")"
rc=0; ferryctl status -x 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "unknown option '-x'" "$T/err" || fail "status -x: $(cat "$T/err")"
# missing required options are named; so is a missing value and a stray argument
rc=0; ferryctl restore --store file:///nonexistent --domain d 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "missing --disk NAME, --output PATH" "$T/err" || fail "missing: $(cat "$T/err")"
info "$(head -n 1 "$T/err")"
rc=0; ferryctl import --vmdk 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "option --vmdk needs a value" "$T/err" || fail "no value: $(cat "$T/err")"
rc=0; ferryctl point -c x --domain d extra 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "unexpected argument 'extra'" "$T/err" || fail "stray argument: $(cat "$T/err")"
rc=0; ferryctl nosuchcommand 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "unknown command 'nosuchcommand'" "$T/err" || fail "unknown command: $(cat "$T/err")"
# every command ferryctl lists is in CMDS (a new one gets its checks here)
for c in $(ferryctl --help | awk '/^  [a-z]/ { print $1 }'); do
	printf '%s\n' "${CMDS[@]}" | grep -qx "$c" || fail "ferryctl $c is not checked here (CMDS)"
done
# a subcommand's unknown option is named with the subcommand; a repeated option that may not
# repeat is refused; a missing subcommand names the choices
rc=0; ferryctl failover start --bogus 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "^ferryctl failover start: unknown option '--bogus'" "$T/err" ||
	fail "failover start --bogus: $(cat "$T/err")"
rc=0; ferryctl failover status -a x --domain d --json --bogus >"$T/out" 2>"$T/err" || rc=$?
[ $rc = 2 ] && [ ! -s "$T/err" ] && grep -q '"event":"error".*unknown option' "$T/out" ||
	fail "failover status --json --bogus: $(cat "$T/out" "$T/err")"
rc=0; ferryctl restore --store file:///x --domain d --disk a --disk b -o y 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "option --disk given twice" "$T/err" || fail "--disk twice: $(cat "$T/err")"
rc=0; ferryctl failover 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "missing subcommand (expected 'start', 'complete'" "$T/err" ||
	fail "failover without a subcommand: $(cat "$T/err")"
# an unknown subcommand is named
for c in $DISPATCH; do
	rc=0; ferryctl $c no-such-sub 2>"$T/err" || rc=$?
	[ $rc = 2 ] && grep -q "^ferryctl $c: unknown subcommand 'no-such-sub'" "$T/err" ||
		fail "ferryctl $c no-such-sub: exit $rc, $(cat "$T/err")"
done
ferryctl --help | grep -q "^  restore " || fail "ferryctl --help does not list restore"
pass
