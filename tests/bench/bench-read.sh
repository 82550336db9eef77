#!/usr/bin/env bash
# make bench-read: the reading side of one build against another (PEER=DIR: its
# build/bin), on vm-a (tests/lib/vm-images.sh, SIZE): each build seeds vm-a into its own
# file:// repository (encrypted, the defaults), then, REPS (3) times in alternation,
#   restore --format raw, restore --format vmdk-stream (the build's default), and
#   verify --read-data
# are timed for both (a sync before each; outputs removed in between), and in every
# round qemu-img convert to streamOptimized of the raw image, the export's reference.
# Prints medians, ratios (this build against the peer: 1.00 is as fast) and, per round and
# as medians, each build's export size and speed against that round's qemu-img. Not part
# of the test suite.
#   PEER=/path/to/other/tree SIZE=2G REPS=3 make bench-read
set -eu
cd "$(dirname "$0")/../.."
: "${PEER:?PEER=DIR: a tree with another build of ferry (DIR/build/bin)}"
SIZE=${SIZE:-2G}
REPS=${REPS:-3}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bench-read.XXXXXX)}
mkdir -p "$W"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
command -v qemu-img >/dev/null || { echo "qemu-img missing" >&2; exit 77; }
now() { date +%s.%N; }
el() { python3 -c "print(f'{$2 - $1:.3f}')"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); vm-a $SIZE; this build $(git rev-parse --short HEAD), peer $PEER"
tests/lib/vm-images.sh "$W/img" "$SIZE" 0 >/dev/null
A=$W/img/vm-a.raw
rm -f "$W/img/vm-b.raw"
seed() {	# NAME BIN
	local d=$W/$1 port
	mkdir -p "$d/state"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"$2/ferryctl" init --store "file://$d/store" --key-file "$d/k" >/dev/null
	printf '[appliance]\nstate_dir = %s\n[nbd]\nlisten = 127.0.0.1:%s\n[log]\npath = %s\nsize = 256M\nmetadata_size = 4M\n[control]\nsocket = %s\n[store]\nurl = file://%s\nkey_file = %s\n[domain vm-a]\nrpo = 1h\ndisk = vma:%s\n' \
		"$d/state" "$port" "$d/replog" "$d/s.sock" "$d/store" "$d/k" "$A" >"$d/c.conf"
	"$2/ferryd" -c "$d/c.conf" >"$d/log" 2>&1 &
	PID=$!
	for _ in $(seq 600); do grep -q '^ferryd ready$' "$d/log" && break; sleep 0.01; done
	"$2/ferryctl" point -c "$d/c.conf" --domain vm-a --wait >/dev/null
	kill "$PID"; wait "$PID" || true; PID=
	echo "$1: seeded, $(du -sb "$d/store" | cut -f1) bytes stored"
}
seed self build/bin
seed peer "$PEER/build/bin"
: >"$W/times"
run() {	# NAME BIN WHAT
	local d=$W/$1 c="$2/ferryctl" t0 t1
	rm -f "$W/out.raw" "$W/out.vmdk"; sync
	t0=$(now)
	case $3 in
	raw) "$c" restore -c "$d/c.conf" --domain vm-a --disk vma --format raw -o "$W/out.raw" >/dev/null ;;
	stream) "$c" restore -c "$d/c.conf" --domain vm-a --disk vma --format vmdk-stream -o "$W/out.vmdk" >/dev/null ;;
	verify) "$c" verify -c "$d/c.conf" --read-data >/dev/null ;;
	qemu) qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$A" "$W/out.vmdk" ;;
	esac
	t1=$(now)
	local sz=0
	[ "$3" = stream ] || [ "$3" = qemu ] && sz=$(stat -c %s "$W/out.vmdk")
	[ "$3" = raw ] && { cmp "$A" "$W/out.raw" || { echo "$1: raw restore differs" >&2; exit 1; }; }
	echo "$1 $3 $(el "$t0" "$t1") $sz" >>"$W/times"
}
for r in $(seq "$REPS"); do
	for what in raw stream verify; do
		if [ $((r % 2)) = 1 ]; then run self build/bin $what; run peer "$PEER/build/bin" $what
		else run peer "$PEER/build/bin" $what; run self build/bin $what; fi
	done
	run qemu "" qemu
	echo "round $r done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
rm -f "$W/out.raw" "$W/out.vmdk"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$W/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    who, what, s, sz = line.split()
    t.setdefault((who, what), []).append((float(s), int(sz)))
med = {k: statistics.median(x[0] for x in v) for k, v in t.items()}
print(f"{'':20} {'this build s':>13} {'peer s':>8} {'peer/this':>10}   (medians)")
for what in ("raw", "stream", "verify"):
    a, b = med[("self", what)], med[("peer", what)]
    print(f"{what:20} {a:13.2f} {b:8.2f} {b / a:10.2f}")
q, qs = med[("qemu", "qemu")], t[("qemu", "qemu")][0][1]
print("vmdk-stream against qemu-img, per round: speed ratio (qemu-img s / export s), size ratio")
for r, (qt, _) in enumerate(t[("qemu", "qemu")]):
    row = f"  round {r + 1}: qemu-img {qt:6.2f} s"
    for who in ("self", "peer"):
        s, sz = t[(who, "stream")][r]
        row += f"   {who} {s:5.2f} s {qt / s:5.2f}x {sz / qs:.3f}x"
    print(row)
for who in ("self", "peer"):
    s, sz = med[(who, "stream")], t[(who, "stream")][0][1]
    print(f"vmdk-stream ({who}): {q / s:.2f}x qemu-img's speed (medians: {q:.2f} s, {s:.2f} s), "
          f"{sz / qs:.3f}x its size")
PY
