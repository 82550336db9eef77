#!/usr/bin/env bash
# The whole suite: cmocka unit tests, fuzz corpus replay, shell integration tests.
# Each binary/script is one test: exit 0 passes, 77 is skipped (it says why), anything else
# fails. Ends with "N passed, N failed, N skipped" and exits non-zero on any failure.
# TESTS="pattern" runs only the integration scripts whose name matches; INTEGRATION=0 runs
# only the unit tests and fuzz replays. B=DIR takes the binaries from another build
# directory (make O=DIR), e.g. the sanitizer build of .ci/run.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
pass=0; fail=0; skip=0; failed=()
logdir=$B/test-logs
# sanitizer builds: any UBSan report fails the test that triggered it
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$logdir"

run_one() {	# name, command...
	local name=$1; shift
	local log=$logdir/${name//\//_}.log t0=$SECONDS rc
	"$@" >"$log" 2>&1; rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); printf 'PASS %-50s %3ss\n' "$name" $((SECONDS - t0))
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1)); printf 'SKIP %-50s (%s)\n' "$name" "$(tail -n 1 "$log")"
	else
		fail=$((fail + 1)); failed+=("$name")
		printf 'FAIL %-50s (exit %d) — last lines of %s:\n' "$name" $rc "$log"
		tail -n 25 "$log" | sed 's/^/    /'
	fi
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
for t in tests/integration/*.sh; do
	[ -f "$t" ] && [ "${INTEGRATION:-1}" != 0 ] || continue
	if [ -n "${TESTS:-}" ] && [[ "$t" != *$TESTS* ]]; then continue; fi
	run_one "integration/$(basename "$t" .sh)" bash "$t"
done

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
