#!/usr/bin/env bash
# 050 with large writes (64 KiB - 1 MiB extents on 64 KiB boundaries, QD8, FUA on some),
# whose whole pages go to the log with O_DIRECT and which go to the primary with O_DIRECT
# too (the test checks that ferryd opened it so): kill -9 under load, `log verify`, every
# acknowledged write in the primary and in the log.
export FERRY_ACK_SLOT_KIB=1024
SLOTS_PER_ROUND=250 DISK=2G LOGSIZE=2G QD=8 KILL_AFTER=150 REQUIRE_DIRECT=1 \
	exec bash "$(dirname "$0")/050-crash-kill9.sh"
