#!/usr/bin/env bash
# make bench-compress: the compression candidates for a seed side by side on vm-a
# (tests/lib/vm-images.sh, SIZE), one core each (tests/tools/compress-survey.c says what
# each row is). IMAGE=path surveys another raw image instead. Not part of the test suite.
#   SIZE=2G make bench-compress
set -eu
cd "$(dirname "$0")/../.."
SIZE=${SIZE:-2G}
if [ -z "${IMAGE:-}" ]; then
	W=$(mktemp -d /var/tmp/ferry-bench-compress.XXXXXX)
	trap 'rm -rf "$W"' EXIT
	tests/lib/vm-images.sh "$W" "$SIZE" 0 >/dev/null
	IMAGE=$W/vm-a.raw
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
build/tests/compress-survey "$IMAGE" "${FRAME_MAX_KIB:-1024}" "${LEVELS:-1,2,3,4,5,6}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
