# Helpers for integration tests (sourced). Each test gets a scratch dir ($T), a teardown
# that always runs (kills what it started, removes $T unless KEEP=1), free TCP ports, and
# start_ferryd, which waits for the daemon's "ferryd ready" line.
#
#   . "$(dirname "$0")/../lib/functions.sh"
#   require qemu-io nbdcopy        # exits 77 naming what is missing
#   write_config $T/ferry.conf 64M 16M web0:$T/web0.raw   # log size, meta size, disks...
#   start_ferryd $T/ferry.conf     # sets FERRYD_PID, NBD_URI_BASE (nbd://127.0.0.1:PORT)
#   ...
#   pass                            # prints a summary line and exits 0

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# B=DIR: the binaries of another build directory (make O=DIR), as tests/run-tests.sh takes
BIN=$TOP/${B:-build}/bin
TBIN=$TOP/${B:-build}/tests
export PATH=$BIN:$PATH
T=$(mktemp -d "${TMPDIR:-/tmp}/ferry-test.XXXXXX")
_cleanup_fns=()
_pids=()

cleanup_fn() { _cleanup_fns+=("$*"); }
_teardown() {
	local rc=$?
	for ((i = ${#_cleanup_fns[@]} - 1; i >= 0; i--)); do eval "${_cleanup_fns[i]}" || true; done
	for p in "${_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "scratch kept in $T" >&2
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap _teardown EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
pass() { echo "1 passed, 0 failed"; exit 0; }
info() { echo "# $*" >&2; }

require() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "$c not installed (run tools/install-deps.sh)"; done
}

# A free TCP port on 127.0.0.1 (the kernel picks it; tiny race accepted for tests).
free_port() {
	python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# write_config FILE LOGSIZE METASIZE DISK...   (DISK = name:path[:size], created)
# Environment: ENGINE (auto|uring|aio), BACKPRESSURE (e.g. 50ms), PORT.
# Disks go into one domain "dom". Extra lines for sections can be appended by the caller.
write_config() {
	local f=$1 lsize=$2 msize=$3 engine=${ENGINE:-auto}; shift 3
	PORT=${PORT:-$(free_port)}
	{
		echo "[appliance]"; echo "state_dir = $T/state"
		echo "[nbd]"; echo "listen = 127.0.0.1:$PORT"; echo "engine = $engine"
		echo "[log]"; echo "path = $T/replog"; echo "size = $lsize"; echo "metadata_size = $msize"
		[ -n "${BACKPRESSURE:-}" ] && echo "backpressure = $BACKPRESSURE"
		echo "[control]"; echo "socket = $T/ferryd.sock"
		echo "[domain dom]"
		local d name path size
		for d in "$@"; do
			IFS=: read -r name path size <<<"$d"
			[ -e "$path" ] || truncate -s "${size:-64M}" "$path"
			echo "disk = $name:$path"
		done
	} >"$f"
	mkdir -p "$T/state"
	NBD_URI_BASE=nbd://127.0.0.1:$PORT
}

# store_config CONF [RPO]: init an encrypted file:// store at $T/store (key $T/store.key,
# sets STORE and KEY) and add it to CONF; with RPO, domain dom gets that rpo.
store_config() {
	STORE=file://$T/store KEY=$T/store.key
	ferryctl init --store "$STORE" --key-file "$KEY" >/dev/null || fail "ferryctl init"
	printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$KEY" >>"$1"
	[ -n "${2:-}" ] && sed -i "s/^\[domain dom\]\$/[domain dom]\nrpo = $2/" "$1"
	return 0
}

# newest_point_consistent CONF: ask for a point of domain dom and wait for it; true when
# the newest point of the store ($STORE, $KEY) is consistent ($T/points.json holds them all).
newest_point_consistent() {
	ferryctl point -c "$1" --domain dom --wait >/dev/null 2>&1 || return 1
	ferryctl points --store "$STORE" --key-file "$KEY" --domain dom --json >"$T/points.json" || return 1
	python3 -c 'import json, sys; p = json.load(open(sys.argv[1])); sys.exit(0 if p[-1]["consistent"] else 1)' "$T/points.json"
}

# start_ferryd CONFIG [LOGFILE]: start in the background, wait up to 20 s for the ready line.
start_ferryd() {
	local conf=$1 log=${2:-$T/ferryd.log}
	: >"$log"
	"$BIN/ferryd" -c "$conf" --exit-with-parent >"$log" 2>&1 &
	FERRYD_PID=$!
	_pids+=("$FERRYD_PID")
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q '^ferryd ready$' "$log" 2>/dev/null && return 0
		kill -0 "$FERRYD_PID" 2>/dev/null || { cat "$log" >&2; fail "ferryd exited before ready"; }
		sleep 0.1
	done
	cat "$log" >&2
	fail "ferryd not ready after 20 s"
}

# stop_ferryd: SIGTERM and wait; fails the test if the exit status is not 0.
stop_ferryd() {
	kill -TERM "$FERRYD_PID" 2>/dev/null || true
	local rc=0
	wait "$FERRYD_PID" || rc=$?
	[ $rc -eq 0 ] || fail "ferryd exited with $rc after SIGTERM"
}

# kill9_ferryd: the crash.
kill9_ferryd() {
	kill -9 "$FERRYD_PID" 2>/dev/null || true
	wait "$FERRYD_PID" 2>/dev/null || true
}

# wait_for TIMEOUT_S CMD...: run CMD until it succeeds (0), at most TIMEOUT_S x 10 times
# 0.1 s apart (1 after that: at least TIMEOUT_S seconds, more when CMD itself is slow on a
# loaded machine). The one way a test waits for something another process does (a log
# line, a file, a point): never sleep and then check once.
wait_for() {
	local t=$1 i; shift
	for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
	return 1
}

# quietly CMD...: CMD with its output thrown away (for wait_for on noisy commands).
quietly() { "$@" >/dev/null 2>&1; }

# ferryd_opened_direct PATH: true when ferryd (FERRYD_PID) holds PATH open with O_DIRECT
# (octal 040000 in /proc's fdinfo flags), e.g. the primary's twin for large aligned writes.
ferryd_opened_direct() {
	local f flags
	for f in /proc/"$FERRYD_PID"/fd/*; do
		[ "$(readlink "$f")" = "$1" ] || continue
		flags=$(awk '/^flags:/ { print $2 }' "/proc/$FERRYD_PID/fdinfo/${f##*/}")
		(( 8#$flags & 8#40000 )) && return 0
	done
	return 1
}

# log_replays_to_primary CONF DISK PRIMARY: with ferryd stopped, the log verifies, and
# replaying DISK's records onto an empty file as large as PRIMARY reproduces PRIMARY.
log_replays_to_primary() {
	local conf=$1 disk=$2 primary=$3
	ferryctl log verify -c "$conf" || fail "log verify"
	rm -f "$T/replay.raw"
	truncate -s "$(stat -c %s "$primary")" "$T/replay.raw"
	ferryctl log replay -c "$conf" --disk "$disk" -o "$T/replay.raw" || fail "log replay"
	cmp "$primary" "$T/replay.raw" || fail "log replay differs from primary"
}

# make_tree DIR MB: a deterministic directory tree of about MB MiB (text, binary, sparse-ish
# and empty files, nested directories, symlinks) to build filesystems from.
make_tree() {
	python3 - "$1" "$2" <<'PY'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
r = random.Random(42)
budget = mb << 20
words = [b"ferry", b"replication", b"block", b"disk", b"log", b"point", b"vmdk", b"store"]
i = 0
while budget > 0:
    d = os.path.join(root, f"d{r.randrange(20)}", f"s{r.randrange(8)}")
    os.makedirs(d, exist_ok=True)
    kind = r.random()
    size = min(budget, int(r.expovariate(1 / 60000)) + 1)
    p = os.path.join(d, f"f{i}")
    with open(p, "wb") as f:
        if kind < 0.5:
            f.write(b" ".join(r.choice(words) for _ in range(size // 6))[:size])
        elif kind < 0.9:
            f.write(r.randbytes(size))
        elif kind < 0.95:
            f.write(bytes(size))
    if kind > 0.98:
        os.symlink(f"f{i}", p + ".lnk")
    budget -= size
    i += 1
PY
}

# make_points SIZE: a repository with recovery points, for tests of the recovery side.
# A file:// store ($STORE, key file $KEY, config $T/ferry.conf) gets domain "dom" with one
# disk vm0 of SIZE (e.g. 24M) written through ferryd with qemu-io: random data with zero
# holes, point P1, then 40 small writes, point P2 (both consistent; the seed point 1.1
# before P1 is not). $T/ref1.raw and $T/ref2.raw are the primary at each. ferryd is
# stopped at the end. Needs qemu-io, nbdcopy and python3.
make_points() {
	local size=$1 bytes
	require qemu-io nbdcopy python3
	bytes=$(numfmt --from=iec "$size")
	STORE=file://$T/store
	KEY=$T/store.key
	ferryctl init --store "$STORE" --key-file "$KEY" >/dev/null || fail "init"
	write_config "$T/ferry.conf" 64M 1M vm0:"$T/vm0.raw":"$size"
	printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$KEY" >>"$T/ferry.conf"
	sed -i 's/^\[domain dom\]$/[domain dom]\nrpo = 1h/' "$T/ferry.conf"
	start_ferryd "$T/ferry.conf"
	python3 - "$T/img.raw" "$bytes" <<'PY' || fail "making the image"
import random, sys
out, size = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
with open(out, "wb") as f:
    f.truncate(size)
    for off in range(0, size, 1 << 20):
        if r.random() < 0.7:
            f.seek(off); f.write(r.randbytes(r.randrange(1, 1 << 20)))
PY
	nbdcopy --flush "$T/img.raw" "$NBD_URI_BASE/vm0" || fail "nbdcopy"
	P1=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 1"
	cp --sparse=always "$T/vm0.raw" "$T/ref1.raw"
	local ops=() i len off
	for i in $(seq 1 40); do
		len=$(( (RANDOM % 16 + 1) * 512 )); off=$(( (RANDOM * 32768 + RANDOM) % (bytes - len) / 512 * 512 ))
		ops+=(-c "write -P $((RANDOM % 255 + 1)) $off $len")
	done
	qemu-io -f raw "${ops[@]}" "$NBD_URI_BASE/vm0" >/dev/null || fail "qemu-io"
	P2=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 2"
	cp --sparse=always "$T/vm0.raw" "$T/ref2.raw"
	stop_ferryd
	info "points $P1 and $P2 of domain dom, disk vm0 ($size)"
}

# A file store's outage, for tests of what an unreachable store does (STORE_DIR: the root of a
# file:// store). Tests run as root, which ignores permissions, and the file store resolves
# every key from a directory fd of its root opened once, so moving the root away would not
# stop it. Instead every subdirectory of the root is moved aside and a regular file put at
# its name: every put then fails (openat O_DIRECTORY: ENOTDIR, mkdirat: EEXIST).
# file_store_outage_end puts them back (also at teardown, so a failed test leaves a store).
file_store_outage_begin() {	# STORE_DIR
	local root=$1 d n
	mkdir -p "$root.away"
	for d in "$root"/*/; do
		n=$(basename "$d")
		mv "$root/$n" "$root.away/$n" && : >"$root/$n" || fail "making the store unreachable"
	done
	cleanup_fn "file_store_outage_end '$root'"
}
file_store_outage_end() {	# STORE_DIR
	local root=$1 d n
	for d in "$root.away"/*/; do
		[ -d "$d" ] || continue
		n=$(basename "$d")
		rm -f "$root/$n" && mv "$d" "$root/$n"
	done
}
