#!/usr/bin/env bash
# The whole suite: cmocka unit tests, fuzz corpus replay, shell integration tests.
# Each binary/script is one test: exit 0 passes, 77 is skipped (it says why), anything else
# fails. Ends with "N passed, N failed, N skipped" and exits non-zero on any failure.
# TESTS="pattern" runs only the integration scripts whose name matches; INTEGRATION=0 runs
# only the unit tests and fuzz replays. B=DIR takes the binaries from another build
# directory (make O=DIR), e.g. the sanitizer build of .ci/run.
# Integration tests run in two lanes at once (LANES=1: one test at a time). The suite mostly
# waits (daemons, timers, guests under TCG), so a second lane takes what the first leaves
# idle. The side lane has the small tests that share nothing with any other (their own
# scratch directory from mktemp, free ports, the file store; no guest, no libvirt, no Ceph
# RGW, no bound on a rate or an age); every other test, and any test not listed in
# side_lane, runs in the main lane, one after the other, in order. Unit tests and fuzz
# replays run first, one at a time.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
logdir=$B/test-logs
results=$logdir/results
# sanitizer builds: any UBSan report fails the test that triggered it
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$logdir"
: >"$results"

run_one() {	# name, command...
	local name=$1; shift
	local log=$logdir/${name//\//_}.log t0=$SECONDS rc
	"$@" >"$log" 2>&1; rc=$?
	# one write per result, so that the two lanes' lines do not mix
	if [ $rc -eq 0 ]; then
		echo "PASS $name" >>"$results"; printf 'PASS %-50s %3ss\n' "$name" $((SECONDS - t0))
	elif [ $rc -eq 77 ]; then
		echo "SKIP $name" >>"$results"
		printf 'SKIP %-50s (%s)\n' "$name" "$(tail -n 1 "$log")"
	else
		echo "FAIL $name" >>"$results"
		printf 'FAIL %-50s (exit %d) — last lines of %s:\n%s\n' "$name" $rc "$log" \
			"$(tail -n 25 "$log" | sed 's/^/    /')"
	fi
}

side_lane() {	# NAME: a small test that may run beside the main lane's (see the top)
	case $1 in
	0[0-5]?-* | 06[01]-* | 0[7-9]?-* | 1??-*) return 0 ;;	# datapath, file-store pipeline
	300-* | 310-* | 330-* | 34?-*) return 0 ;;		# restore and ferryctl on files
	500-* | 600-* | 610-* | 62?-*) return 0 ;;		# agent API, VM descriptions, re-IP
	700-* | 710-* | 720-* | 740-* | 750-*) return 0 ;;	# SNMP with a file store
	esac
	return 1
}

if [ -z "${TESTS:-}" ]; then
	for t in $B/tests/test-*; do
		[ -x "$t" ] || continue
		run_one "unit/$(basename "$t")" "$t"
	done
	for t in $B/tests/fuzz-*-replay; do
		[ -x "$t" ] || continue
		n=$(basename "$t" -replay); n=${n#fuzz-}
		run_one "fuzz/$n" "$t" tests/fuzz/corpus/$n
	done
fi
main=(); side=()
for t in tests/integration/*.sh; do
	[ -f "$t" ] && [ "${INTEGRATION:-1}" != 0 ] || continue
	if [ -n "${TESTS:-}" ] && [[ "$t" != *$TESTS* ]]; then continue; fi
	if [ "${LANES:-2}" != 1 ] && side_lane "$(basename "$t")"; then side+=("$t"); else main+=("$t"); fi
done
run_lane() {	# SCRIPT...
	local t
	for t in "$@"; do run_one "integration/$(basename "$t" .sh)" bash "$t"; done
}
side_pid=
if [ ${#side[@]} -gt 0 ]; then
	run_lane "${side[@]}" &
	side_pid=$!
fi
[ ${#main[@]} -gt 0 ] && run_lane "${main[@]}"
[ -n "$side_pid" ] && wait "$side_pid"

pass=$(grep -c '^PASS ' "$results"); fail=$(grep -c '^FAIL ' "$results")
skip=$(grep -c '^SKIP ' "$results")
echo
[ "$fail" -gt 0 ] && echo "failed: $(sed -n 's/^FAIL //p' "$results" | paste -sd ' ')"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
