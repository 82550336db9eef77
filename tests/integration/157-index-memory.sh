#!/usr/bin/env bash
# Memory stays small while the number of unique chunks grows: a 256 MiB disk of random data
# in a repository of 256-byte chunks is 1,048,576 unique chunks, as many as a 64 GiB disk of
# new data at 64 KiB. The chunk index (repo/index-table.c) takes 64-byte records and
# 8-byte slots, and past INDEX_RAM_RECS entries a table keeps its records in an unlinked
# scratch file (state_dir for ferryd): ferryd's seed holds three such tables (the point's
# chunks, the pool's claims, the repository's index at commit), about 16 bytes a chunk
# each in memory. ferryd's peak RSS (VmHWM) through the seed stays under FERRYD_MIB, and
# `ferryctl restore`, which loads the index of every chunk, under RESTORE_MIB (the table
# before took 160 to 480 bytes an entry: 1258 and 596 MiB here). The point's index went
# up as several delta objects (INDEX_DELTA_PER entries each), no scratch file is left
# behind, and the restore equals the disk.
. "$(dirname "$0")/../lib/functions.sh"
require python3
FERRYD_MIB=300
RESTORE_MIB=160
MIB=256

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/k" --chunk-size 256 >/dev/null || fail "init"
head -c ${MIB}M /dev/urandom >"$T/vm0.raw"
write_config "$T/ferry.conf" 64M 4M vm0:"$T/vm0.raw"
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/k" >>"$T/ferry.conf"
sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 24h/' "$T/ferry.conf"

start_ferryd "$T/ferry.conf"
ferryctl point -c "$T/ferry.conf" --domain dom --wait >/dev/null || fail "the seed"
hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' /proc/"$FERRYD_PID"/status)
info "ferryd's peak RSS through a seed of $((MIB << 12)) unique chunks: $hwm MiB (bound $FERRYD_MIB MiB)"
stop_ferryd
[ "$hwm" -le "$FERRYD_MIB" ] ||
	fail "ferryd's peak RSS was $hwm MiB seeding $((MIB << 12)) unique chunks (bound $FERRYD_MIB MiB)"
[ -z "$(ls -A "$T/state" | grep -v '^replog')" ] || fail "scratch files left in state_dir: $(ls "$T/state")"
n=$(find "$T/store/index" -type f | wc -l)
[ "$n" -ge 2 ] || fail "the seed's index went up as $n objects (expected several)"

# peak RSS of a child: getrusage(RUSAGE_CHILDREN) once it has exited
peak=$(python3 - ferryctl restore --store "$STORE" --key-file "$T/k" --domain dom --disk vm0 \
	--format raw -o "$T/r.raw" <<'PY'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024 if rc == 0 else -1)
PY
) || fail "restore"
[ "$peak" -ge 0 ] || fail "restore failed"
info "ferryctl restore's peak RSS: $peak MiB (bound $RESTORE_MIB MiB)"
cmp "$T/vm0.raw" "$T/r.raw" || fail "the restore differs from the disk"
[ "$peak" -le "$RESTORE_MIB" ] ||
	fail "ferryctl restore's peak RSS was $peak MiB for $((MIB << 12)) unique chunks (bound $RESTORE_MIB MiB)"
pass
