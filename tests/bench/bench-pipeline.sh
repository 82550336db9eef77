#!/usr/bin/env bash
# make bench-pipeline: seeding throughput and stored size against restic and borg.
# vm-a, then vm-b (tests/lib/vm-images.sh, SIZE each; vm-b is vm-a with 5% of its 64 KiB
# blocks rewritten) go into
#   ferry   a file:// repository, encrypted, compression auto: ferryd is started with a
#           domain holding vm-a and timed until `ferryctl point --wait` returns (the seed
#           and its catch-up point are durable); then restarted with a second domain
#           holding vm-b, timed the same way;
#   restic  `restic backup` of each file into a local repository (its default compression,
#           password from a file);
#   borg    `borg create --compression zstd,3` of each file into a repokey-encrypted
#           repository.
# Prints wall time, MB/s of logical data (the images' apparent size, 1 MB = 10^6 bytes),
# stored bytes (du of the repository directory, caches kept outside it) and ratios. All
# tools read the images from the page cache (they were just written). Not part of the test
# suite. restic and borgbackup are installed with apt-get when missing (as root).
#   SIZE=2G BENCH_DIR=/var/tmp/x make bench-pipeline
set -eu
cd "$(dirname "$0")/../.."
SIZE=${SIZE:-2G}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bench-pipeline.XXXXXX)}
mkdir -p "$W"
FPID=
cleanup() {
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "missing ${need[*]} (install them, or run as root)" >&2; exit 77; }
	echo "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
fi
for c in mkfs.ext4 python3 restic borg; do command -v $c >/dev/null || { echo "$c missing" >&2; exit 77; }; done

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stored() { du -sb "$1" | cut -f1; }

echo "bench dir $W, images $SIZE, $(nproc) cores; restic $(restic version | cut -d' ' -f2), $(borg --version)"
tests/lib/vm-images.sh "$W/img" "$SIZE" 5 >/dev/null
A=$W/img/vm-a.raw B=$W/img/vm-b.raw
LOGICAL=$(( $(stat -c %s "$A") + $(stat -c %s "$B") ))

# ---- ferry ----
build/bin/ferryctl init --store "file://$W/ferry" --key-file "$W/ferry.key" >/dev/null
write_conf() {	# FILE DOMAIN:DISK:PATH...
	local f=$1 d name disk path; shift
	{
		printf '[appliance]\nstate_dir = %s\n[nbd]\nlisten = 127.0.0.1:%s\n' "$W/state" "$(port)"
		printf '[log]\npath = %s\nsize = 256M\nmetadata_size = 4M\n' "$W/replog"
		printf '[control]\nsocket = %s\n' "$W/ferryd.sock"
		printf '[store]\nurl = file://%s\nkey_file = %s\n' "$W/ferry" "$W/ferry.key"
		for d in "$@"; do
			IFS=: read -r name disk path <<<"$d"
			printf '[domain %s]\nrpo = 1h\ncompression = auto\ndisk = %s:%s\n' "$name" "$disk" "$path"
		done
	} >"$f"
}
ferry_seed() {	# CONFIG DOMAIN: prints the seconds from ferryd's start to the durable catch-up
	local t0 t1
	t0=$(now)
	build/bin/ferryd -c "$1" >>"$W/ferryd.log" 2>&1 &
	FPID=$!
	for _ in $(seq 600); do grep -q '^ferryd ready$' "$W/ferryd.log" && break; sleep 0.01; done
	build/bin/ferryctl point -c "$1" --domain "$2" --wait >/dev/null
	t1=$(now)
	kill -TERM $FPID && wait $FPID
	FPID=
	: >>"$W/ferryd.log.all"; cat "$W/ferryd.log" >>"$W/ferryd.log.all"; : >"$W/ferryd.log"
	elapsed "$t0" "$t1"
}
mkdir -p "$W/state"
write_conf "$W/a.conf" vm-a:vma:"$A"
write_conf "$W/ab.conf" vm-a:vma:"$A" vm-b:vmb:"$B"
: >"$W/ferryd.log"
F_A=$(ferry_seed "$W/a.conf" vm-a)
F_B=$(ferry_seed "$W/ab.conf" vm-b)
F_S=$(stored "$W/ferry")
grep -h 'point vm-' "$W/ferryd.log.all" | sed 's/^ferryd: info: /  ferryd: /'

# ---- restic ----
echo "bench-password" >"$W/restic.pass"
export RESTIC_PASSWORD_FILE=$W/restic.pass RESTIC_CACHE_DIR=$W/restic-cache
restic init --repo "$W/restic" >/dev/null 2>&1
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1; elapsed "$t0" "$(now)"; }
R_A=$(timed restic backup --repo "$W/restic" "$A")
R_B=$(timed restic backup --repo "$W/restic" "$B")
R_S=$(stored "$W/restic")

# ---- borg ----
export BORG_PASSPHRASE=bench-password BORG_BASE_DIR=$W/borg-home BORG_CACHE_DIR=$W/borg-cache
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=YES
borg init --encryption repokey "$W/borg" >/dev/null 2>&1
G_A=$(timed borg create --compression zstd,3 "$W/borg::vm-a" "$A")
G_B=$(timed borg create --compression zstd,3 "$W/borg::vm-b" "$B")
G_S=$(stored "$W/borg")

python3 - "$LOGICAL" "$F_A" "$F_B" "$F_S" "$R_A" "$R_B" "$R_S" "$G_A" "$G_B" "$G_S" <<'PY'
import sys
v = sys.argv[1:]
logical = int(v[0])
rows = {}
for i, name in enumerate(("ferry", "restic", "borg")):
    a, b, s = float(v[1 + 3 * i]), float(v[2 + 3 * i]), int(v[3 + 3 * i])
    rows[name] = (a, b, a + b, logical / 1e6 / (a + b), s)
print()
print(f"{'tool':8} {'vm-a s':>8} {'vm-b s':>8} {'total s':>8} {'MB/s':>8} {'stored MB':>10}")
for n, (a, b, t, mbs, s) in rows.items():
    print(f"{n:8} {a:8.2f} {b:8.2f} {t:8.2f} {mbs:8.1f} {s / 1e6:10.1f}")
f = rows["ferry"]
for n in ("restic", "borg"):
    o = rows[n]
    print(f"ferry vs {n:6}: throughput {f[3] / o[3]:.2f}x (target >= 3x), "
          f"stored {f[4] / o[4]:.3f}x" + (" (target <= 1.05x)" if n == "restic" else ""))
PY
