#!/usr/bin/env bash
# make bench-pipeline: seeding throughput and stored size against restic and borg.
# vm-a, then vm-b (tests/lib/vm-images.sh, SIZE each; vm-b is vm-a with 5% of its 64 KiB
# blocks rewritten) go into
#   ferry   a file:// repository, encrypted, compression auto (the defaults): ferryd is
#           started with a domain holding vm-a and timed until `ferryctl point --wait`
#           returns (the seed and its catch-up point are durable); then restarted with a
#           second domain holding vm-b, timed the same way;
#   restic  `restic backup` of each file into a local repository (its default compression,
#           password from a file);
#   borg    `borg create --compression zstd,3` of each file into a repokey-encrypted
#           repository.
# ROUNDS (3) rounds, each with fresh repositories, the three tools in a rotated order
# (interleaved, so that a change of the machine's load meets every tool); every number is
# the median of the rounds. Prints wall time, MB/s of logical data (the images' apparent
# size, 1 MB = 10^6 bytes), stored bytes (du of the repository directory after each image,
# caches kept outside it) and the ratios the targets are about: the seed of vm-a (ferry's
# time and stored bytes against restic's: >= 3x as fast, <= 1.05x the bytes), and vm-b's
# increment. All tools read the images from the page cache (they were just written). Not
# part of the test suite. restic and borgbackup are installed with apt-get when missing.
# PEER=DIR adds a fourth tool, "peer": the ferryd and ferryctl of DIR/build/bin (another
# build of ferry, e.g. the main branch), run exactly as ferry, in the same rotation.
#   SIZE=2G ROUNDS=3 BENCH_DIR=/var/tmp/x PEER=/path/to/other/tree make bench-pipeline
set -eu
cd "$(dirname "$0")/../.."
SIZE=${SIZE:-2G}
ROUNDS=${ROUNDS:-3}
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
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1; elapsed "$t0" "$(now)"; }

echo "bench dir $W, images $SIZE, $(nproc) cores, $ROUNDS rounds; restic $(restic version | cut -d' ' -f2), $(borg --version)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
tests/lib/vm-images.sh "$W/img" "$SIZE" 5 >/dev/null
A=$W/img/vm-a.raw B=$W/img/vm-b.raw
LOGICAL_A=$(stat -c %s "$A") LOGICAL_B=$(stat -c %s "$B")

# ---- ferry ----
write_conf() {	# FILE DOMAIN:DISK:PATH...
	local f=$1 d name disk path; shift
	{
		printf '[appliance]\nstate_dir = %s\n[nbd]\nlisten = 127.0.0.1:%s\n' "$R/state" "$(port)"
		printf '[log]\npath = %s\nsize = 256M\nmetadata_size = 4M\n' "$R/replog"
		printf '[control]\nsocket = %s\n' "$R/ferryd.sock"
		printf '[store]\nurl = file://%s\nkey_file = %s\n' "$R/ferry" "$R/ferry.key"
		for d in "$@"; do
			IFS=: read -r name disk path <<<"$d"
			printf '[domain %s]\nrpo = 1h\ndisk = %s:%s\n' "$name" "$disk" "$path"
		done
	} >"$f"
}
ferry_seed() {	# CONFIG DOMAIN: prints the seconds from ferryd's start to the durable catch-up
	local t0 t1 log=$R/ferryd-$2.log	# a log per start: "ready" must be this one's
	: >"$log"	# exists before the wait below greps it (the shell opens it in the child)
	t0=$(now)
	"$FBIN/ferryd" -c "$1" >"$log" 2>&1 &
	FPID=$!
	for _ in $(seq 3000); do grep -q '^ferryd ready$' "$log" && break; sleep 0.01; done
	# (this runs in a command substitution: stop ferryd before giving up)
	grep -q '^ferryd ready$' "$log" && "$FBIN/ferryctl" point -c "$1" --domain "$2" --wait >/dev/null ||
		{ kill $FPID; wait $FPID; echo "seed of $2 failed: $(tail -n 3 "$log")" >&2; exit 1; }
	t1=$(now)
	kill -TERM $FPID && wait $FPID
	FPID=
	elapsed "$t0" "$t1"
}
run_ferry() {	# prints "time_a time_b stored_after_a stored_after_b"
	FBIN=${FBIN:-build/bin}
	R=$W/ferry-run; rm -rf "$R"; mkdir -p "$R/state"
	"$FBIN/ferryctl" init --store "file://$R/ferry" --key-file "$R/ferry.key" >/dev/null
	write_conf "$R/a.conf" vm-a:vma:"$A"
	write_conf "$R/ab.conf" vm-a:vma:"$A" vm-b:vmb:"$B"
	local ta tb sa
	ta=$(ferry_seed "$R/a.conf" vm-a) || exit 1
	sa=$(stored "$R/ferry")
	tb=$(ferry_seed "$R/ab.conf" vm-b) || exit 1
	echo "$ta $tb $sa $(stored "$R/ferry")"
	grep -h 'point vm-\|compression auto' "$R"/ferryd-*.log |
		sed 's/^ferryd: info: /    ferryd: /' >"$W/points-${LABEL:-ferry}.txt"
}
run_peer() {
	FBIN=$PEER/build/bin LABEL=peer run_ferry
}

# ---- restic ----
run_restic() {
	R=$W/restic-run; rm -rf "$R"; mkdir -p "$R"
	echo "bench-password" >"$R/pass"
	export RESTIC_PASSWORD_FILE=$R/pass RESTIC_CACHE_DIR=$R/cache
	restic init --repo "$R/repo" >/dev/null 2>&1
	local ta tb sa
	ta=$(timed restic backup --repo "$R/repo" "$A"); sa=$(stored "$R/repo")
	tb=$(timed restic backup --repo "$R/repo" "$B")
	echo "$ta $tb $sa $(stored "$R/repo")"
}

# ---- borg ----
run_borg() {
	R=$W/borg-run; rm -rf "$R"; mkdir -p "$R"
	export BORG_PASSPHRASE=bench-password BORG_BASE_DIR=$R/home BORG_CACHE_DIR=$R/cache
	export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
	export BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=YES
	borg init --encryption repokey "$R/repo" >/dev/null 2>&1
	local ta tb sa
	ta=$(timed borg create --compression zstd,3 "$R/repo::vm-a" "$A"); sa=$(stored "$R/repo")
	tb=$(timed borg create --compression zstd,3 "$R/repo::vm-b" "$B")
	echo "$ta $tb $sa $(stored "$R/repo")"
}

: >"$W/results"
tools=(ferry restic borg)
[ -n "${PEER:-}" ] && tools+=(peer)
nt=${#tools[@]}
for round in $(seq "$ROUNDS"); do
	for k in $(seq 0 $((nt - 1))); do
		t=${tools[$(( (k + round - 1) % nt ))]}
		run_$t >"$W/row"	# (not in a subshell: cleanup must see ferryd's pid)
		echo "$round $t $(cat "$W/row")" >>"$W/results"
		tail -n 1 "$W/results" | sed 's/^/  round /'
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for f in "$W"/points-*.txt; do echo "  $(basename "$f" .txt):"; cat "$f"; done

python3 - "$W/results" "$LOGICAL_A" "$LOGICAL_B" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[1], []).append([float(x) for x in f[2:6]])
la, lb = int(sys.argv[2]), int(sys.argv[3])
med = {t: [statistics.median(r[i] for r in v) for i in range(4)] for t, v in rows.items()}
print()
print(f"{'tool':8} {'vm-a s':>8} {'vm-b s':>8} {'MB/s':>8} {'vm-a MB':>9} {'vm-b +MB':>9} {'total MB':>9}   (medians of {len(rows['ferry'])} rounds)")
for t, (a, b, sa, sb) in med.items():
    print(f"{t:8} {a:8.2f} {b:8.2f} {(la + lb) / 1e6 / (a + b):8.1f} {sa / 1e6:9.1f} {(sb - sa) / 1e6:9.1f} {sb / 1e6:9.1f}")
f = med["ferry"]
for t in ("restic", "borg"):
    o = med[t]
    extra = " (targets: >= 3x, <= 1.05x)" if t == "restic" else ""
    print(f"seed of vm-a, ferry vs {t:6}: {o[0] / f[0]:.2f}x as fast, {f[2] / o[2]:.3f}x the bytes{extra}")
for t in ("restic", "borg"):
    o = med[t]
    print(f"both images, ferry vs {t:6}: {(o[0] + o[1]) / (f[0] + f[1]):.2f}x as fast, "
          f"{f[3] / o[3]:.3f}x the bytes; vm-b's increment {(f[3] - f[2]) / 1e6:.1f} MB "
          f"vs {(o[3] - o[2]) / 1e6:.1f} MB")
if "peer" in med:
    p = med["peer"]
    print(f"ferry vs peer (PEER): vm-a seed {p[0] / f[0]:.2f}x as fast, {f[2] / p[2]:.3f}x the bytes; "
          f"vm-b {p[1] / f[1]:.2f}x as fast, its increment {(f[3] - f[2]) / (p[3] - p[2]):.3f}x the bytes")
spread = [r[0] for r in rows["ferry"]]
print(f"ferry's vm-a seed over the rounds: {', '.join(f'{x:.2f}' for x in spread)} s; "
      f"restic's: {', '.join(f'{r[0]:.2f}' for r in rows['restic'])} s")
PY
