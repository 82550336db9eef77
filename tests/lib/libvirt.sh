# A private, real libvirt for tests (sourced). Touches nothing global, always cleans up.
#
#   . "$(dirname "$0")/../lib/libvirt.sh"   # first: re-runs this script in namespaces
#   . "$(dirname "$0")/../lib/functions.sh"
#   lv_start                               # libvirtd (qemu driver, TCG), ready; sets LV_URI
#   lv_net_create prod-net 10.1.0.1/24     # a libvirt network: bridge + dnsmasq, the host
#   lv_net_create dr-net 10.2.0.1/24 --dhcp   #   (this script) at .1; --dhcp serves .128-.254
#   lv_virsh list --all                    # virsh on the current daemon
#   lv_wait_line FILE REGEX SECONDS        # poll a serial log for a line; prints it
#   lv_host_net CMD...                     # CMD in the host's network (apt-get download)
#   lv_net_remove prod-net; lv_stop        # (teardown does both anyway)
# Two sites, two hypervisors: `lv_start prot; lv_start dr` starts two daemons (named;
# the first unnamed one is "main"), `lv_use prot` makes one current (LV_URI, LV_DIR).
# Each has its own VMs and networks; all share the test's network namespace, so the host
# reaches both sites' guests.
#
# How it is isolated. Sourcing this file re-executes the test script (same arguments) in
# new network, mount and PID namespaces (`unshare --net --mount --pid --fork --kill-child`):
#  - network: the test has its own loopback, bridges, iptables rules and dnsmasq. The test
#    itself (ferryd, ferry-agent, readiness checks) runs in the same namespace as libvirtd
#    and its guests, so it reaches each guest directly at the address the guest's disk
#    gave it, over the bridge of its libvirt network: a `tcp PORT` check of the wrong
#    address really fails ("No route to host"), unlike with user-mode networking, where
#    qemu accepts every connection itself. Concurrent test runs each have their own
#    10.1.0.0/24, and the host's network is never touched (lv_host_net reaches it on
#    purpose, through a descriptor of the host's namespace kept open on fd 19).
#  - mount: /sys is remounted so that /sys/class/net shows the namespace's own devices.
#    Each libvirtd runs in a mount namespace of its own, where /etc/libvirt,
#    /var/lib/libvirt and /var/log/libvirt are its folders under $T/libvirt[-NAME]
#    (LV_DIR; kept for inspection with KEEP=1), /run is a tmpfs (its runtime files and
#    dnsmasq's, iptables' lock), and /var/cache/libvirt is build/libvirt-cache of this
#    tree (libvirt's probe of QEMU's capabilities, 1.4 s when cold, is kept between runs;
#    libvirt checks it against the QEMU and libvirtd binaries itself).
#  - PID: PID 1 of the namespace is a shell that waits for the test script, so when the
#    test ends, however it ends (even kill -9 of the unshare process, through
#    --kill-child), the kernel kills every process left in it: libvirtd, dnsmasq, qemu.
#    lv_stop still stops them in order. (The test is not PID 1 itself: ferryd
#    --exit-with-parent takes a parent with PID 1 for a dead one.)
# The daemon is the monolithic libvirtd in system mode (qemu:///system through a socket in
# LV_DIR/sock, auth none), with qemu.conf: user/group root (the stock libvirt-qemu user
# makes libvirt re-probe QEMU on every domain start as root: ~75 s each), no cgroups, no
# security driver, no private /dev namespaces, and stdio_handler = "file" (so no virtlogd
# is needed: QEMU's own log goes to LV_DIR/log/qemu/NAME.log). Guests must use
# <domain type='qemu'> (TCG; KVM does not work here).
# Measured here (2 cores, Debian 12, libvirt 9.0, QEMU 7.2, load average 3-5; make
# bench-guest): lv_start 0.18 s with a warm capability cache (1.4 s cold), lv_net_create
# 0.3 s, a domain's define + start 0.27 s, its boot to the serial line 3.6 s (plain QEMU:
# 2.9 s), an ACPI stop 0.4 s, a hard stop 0.22 s.
# Needs root (namespaces, bridges) and libvirt-daemon-system, qemu-system-x86,
# dnsmasq-base, iptables, iproute2: tools/install-deps.sh. Without them a test exits 77.

if [ -z "${FERRY_TEST_NS:-}" ] && [ -z "${FERRY_TEST_NS_CHILD:-}" ]; then
	# not yet inside: check, then re-execute. functions.sh may have made $T already: the
	# re-executed script makes its own, so this one goes now (the EXIT trap will not run).
	_lv_skip() { echo "SKIP: $*"; [ -n "${T:-}" ] && rm -rf "$T"; exit 77; }
	[ "$(id -u)" = 0 ] || _lv_skip "needs root (network namespaces, bridges)"
	command -v unshare >/dev/null 2>&1 || _lv_skip "unshare not installed (util-linux)"
	PATH=$PATH:/usr/sbin:/sbin
	for _c in libvirtd virsh qemu-system-x86_64 dnsmasq ip iptables; do
		command -v $_c >/dev/null 2>&1 || _lv_skip "$_c not installed (run tools/install-deps.sh)"
	done
	unshare --net --mount true 2>/dev/null || _lv_skip "cannot create namespaces here (unshare --net --mount)"
	[ -n "${T:-}" ] && rm -rf "$T"
	exec 19</proc/self/ns/net	# the host's network, for lv_host_net
	export FERRY_TEST_NS_CHILD=1 PATH
	# PID 1 is a shell that only waits for the test (and reaps orphans: qemu, dnsmasq):
	# the test is not PID 1 itself, so its children see a living parent
	exec unshare --net --mount --pid --fork --kill-child --mount-proc --propagation private \
		bash -c 'bash "$0" "$@"; exit $?' "$0" "$@"
fi
if [ -n "${FERRY_TEST_NS_CHILD:-}" ] && [ -z "${FERRY_TEST_NS:-}" ]; then
	# first time here, inside the new namespaces
	export FERRY_TEST_NS=$$
	unset FERRY_TEST_NS_CHILD
	mount -t sysfs sysfs /sys
	ip link set lo up
fi

LV_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LV_URI=		# the daemon lv_virsh, lv_net_* and guests.sh use (lv_use)
LV_DIR=		# its folder: etc/ lib/ log/ (its /etc/libvirt, ...), sock/, libvirtd.log
declare -A LV_PIDS=()
LV_CLEANUP=

# lv_virsh ARGS...: virsh on the current daemon
lv_virsh() { virsh -q -c "$LV_URI" "$@"; }

# lv_host_net CMD...: run CMD in the host's network namespace (the rest stays private):
# for what needs the outside network, like apt-get download. Through file descriptor 19,
# which holds the host's namespace open from before the re-execution.
lv_host_net() {
	if [ -e /proc/self/fd/19 ]; then nsenter --net=/proc/self/fd/19 "$@"; else "$@"; fi
}

# lv_use [NAME=main]: make daemon NAME the current one (LV_URI, LV_DIR)
lv_use() {
	local n=${1:-main}
	LV_DIR=$T/libvirt${n/#main/}
	[ "$n" = main ] || LV_DIR=$T/libvirt-$n
	LV_URI="qemu:///system?socket=$LV_DIR/sock/libvirt-sock"
	export LV_URI
}

# lv_start [NAME=main]: start daemon NAME (several may run, e.g. one per site: each has
# its own folders, socket, VMs and networks, all in the test's network namespace) and wait
# (at most 60 s) until it answers; it becomes the current one. libvirtd runs in a mount
# namespace of its own in which its folders under $T/libvirt[-NAME] are /etc/libvirt,
# /var/lib/libvirt, /var/log/libvirt, /run is a tmpfs, and /var/cache/libvirt is
# build/libvirt-cache (LV_CACHE). Registers the teardown.
lv_start() {
	local n=${1:-main} i
	[ -z "${LV_PIDS[$n]:-}" ] || fail "libvirtd $n runs already"
	for i in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
		[ -d $i ] || fail "no $i: is libvirt-daemon-system installed? (tools/install-deps.sh)"
	done
	lv_use "$n"
	local d=$LV_DIR
	mkdir -p "$d"/{etc,lib,log,sock} "${LV_CACHE:=$LV_TOP/build/libvirt-cache}"
	cat >"$d/etc/qemu.conf" <<-EOF
		user = "root"
		group = "root"
		dynamic_ownership = 0
		remember_owner = 0
		security_driver = "none"
		cgroup_controllers = [ ]
		namespaces = [ ]
		stdio_handler = "file"
	EOF
	cat >"$d/libvirtd.conf" <<-EOF
		unix_sock_dir = "$d/sock"
		unix_sock_rw_perms = "0700"
		auth_unix_rw = "none"
		auth_unix_ro = "none"
		log_outputs = "3:file:$d/libvirtd.log"
	EOF
	# shellcheck disable=SC2016
	unshare --mount --propagation private bash -c '
		d=$0 cache=$1
		mount -t tmpfs -o mode=755 tmpfs /run && mkdir /run/libvirt &&
			mount --bind "$d/etc" /etc/libvirt && mount --bind "$d/lib" /var/lib/libvirt &&
			mount --bind "$d/log" /var/log/libvirt && mount --bind "$cache" /var/cache/libvirt ||
			{ echo "cannot bind-mount libvirt folders" >&2; exit 1; }
		exec libvirtd --config "$d/libvirtd.conf" --pid-file "$d/libvirtd.pid"' \
		"$d" "$LV_CACHE" >"$d/libvirtd.out" 2>&1 &
	LV_PIDS[$n]=$!
	[ -n "$LV_CLEANUP" ] || cleanup_fn lv_stop_all
	LV_CLEANUP=1
	for ((i = 0; i < 600; i++)); do
		[ -S "$d/sock/libvirt-sock" ] && lv_virsh version >/dev/null 2>&1 && return 0
		kill -0 "${LV_PIDS[$n]}" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 5 "$d/libvirtd.out" "$d/libvirtd.log" >&2
	fail "libvirtd $n did not answer within 60 s"
}

# lv_stop [NAME=main]: power off its domains (hard), stop its networks, stop it (SIGTERM,
# then SIGKILL after 10 s). Idempotent. The current daemon stays the current one.
lv_stop() {
	local n=${1:-main} pid=${LV_PIDS[${1:-main}]:-} uri=$LV_URI dir=$LV_DIR v i
	[ -n "$pid" ] || return 0
	lv_use "$n"
	if kill -0 "$pid" 2>/dev/null; then
		for v in $(lv_virsh list --name 2>/dev/null); do lv_virsh destroy "$v" >/dev/null 2>&1; done
		for v in $(lv_virsh net-list --name 2>/dev/null); do lv_virsh net-destroy "$v" >/dev/null 2>&1; done
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	unset "LV_PIDS[$n]"
	LV_URI=$uri LV_DIR=$dir
	return 0
}

lv_stop_all() {
	local n
	for n in "${!LV_PIDS[@]}"; do lv_stop "$n"; done
}

# lv_net_create NAME A.B.C.D/NN [--dhcp]: a persistent libvirt network, started: a bridge
# with the host at A.B.C.D, dnsmasq, no forwarding (guests on it reach each other and the
# host, nothing else). --dhcp: leases from .128 to .254 of the /24 (or less) it spans.
lv_net_create() {
	local name=$1 cidr=$2 dhcp=${3:-} addr prefix base
	addr=${cidr%/*} prefix=${cidr#*/}
	base=${addr%.*}
	{
		# a bridge name of our own: two daemons choosing at once could both take virbr0
		echo "<network><name>$name</name><bridge name='lv-${name:0:12}' stp='off'/>"
		echo "<ip address='$addr' prefix='$prefix'>"
		[ "$dhcp" != --dhcp ] || echo "<dhcp><range start='$base.128' end='$base.254'/></dhcp>"
		echo "</ip></network>"
	} >"$LV_DIR/net-$name.xml"
	lv_virsh net-define "$LV_DIR/net-$name.xml" >/dev/null &&
		lv_virsh net-start "$name" >/dev/null || fail "cannot create network $name ($cidr)"
}

# lv_net_remove NAME: stop and undefine (nothing if it does not exist)
lv_net_remove() {
	lv_virsh net-destroy "$1" >/dev/null 2>&1
	lv_virsh net-undefine "$1" >/dev/null 2>&1
	return 0
}

# lv_wait_line FILE REGEX SECONDS: wait until FILE (a serial log) has a whole line matching
# the extended REGEX (carriage returns stripped); print the first such line. 1 on timeout.
# Only lines that end in a newline count: the guest writes its serial console a character
# at a time, and a line read while it is still being written would be cut short.
lv_wait_line() {
	local f=$1 re=$2 t=$3 i l s
	for ((i = 0; i < t * 10; i++)); do
		s=$(tr -d '\r\0' <"$f" 2>/dev/null; echo .)
		s=${s%.}
		case $s in
		*$'\n') ;;
		*$'\n'*) s=${s%$'\n'*}$'\n' ;;	# the last line is not finished yet
		*) s= ;;
		esac
		l=$(printf %s "$s" | grep -E -m 1 -- "$re") && { echo "$l"; return 0; }
		sleep 0.1
	done
	return 1
}
