# Real test guests under the private libvirt (sourced after libvirt.sh and functions.sh).
# The guest is the project's own (tests/guest/: a Debian kernel and busybox; its disk
# holds its host name and network config; it prints one line on its serial console,
# logs it on its disk and answers with it on TCP 7000 at its configured address).
# The line (serial lines end in \r\n; it starts a line of its own):
#   FERRY-GUEST name=HOST ip=A.B.C.D/NN|dhcp|none gw=G|none dns=A,B|none mac=MAC
#               cfg=FORMAT:FILE lease=A.B.C.D/NN|none id=DISK-ID boot=N
# FORMAT netplan|networkmanager|networkd|ifupdown|none (tests/guest/netcfg); boot counts
# the disk's boots. /var/log/ferry-guest.log on the disk gets the line plus " up=SECONDS",
# and "FERRY-GUEST-STOP name=HOST up=SECONDS" at an ACPI power-off; an error prints
# "FERRY-GUEST-ERROR why" and powers off. Readiness: the serial log matches ^FERRY-GUEST .
#
#   guest_build                       # build/guest (cached); sets GUEST_DIR; 77 if it cannot
#   guest_disk IMG NAME [make-disk.sh options]    # prints name= ip= gw= dns= id=
#   guest_start NAME SERIAL DISK... [--net NETWORK MAC]...   # define and start (virsh)
#        DISK: a file (.vmdk: vmdk, else raw), nbd:HOST:PORT:EXPORT or nbd+unix:SOCKET:EXPORT
#   guest_wait SERIAL [SECONDS]       # the FERRY-GUEST line (prints it); fails on an error line
#   guest_field LINE KEY              # one key=value field of the line
#   guest_tcp ADDR [SECONDS]          # the line read from ADDR:7000 (1 if nothing came)
#   guest_shutdown NAME [SECONDS]     # ACPI power button, wait until off (else fail)
#   guest_log IMG                     # the guest's log file on a raw disk image (debugfs)
#   guest_driver_settings             # [hypervisor] lines for ferry-agent's libvirt driver
#   expect_err ENAME TEXT CMD...      # CMD (drvctl) fails with errno ENAME, reason has TEXT
#
# The protected site of the failover tests (three VMs of one domain on ferryd):
#   site_start [STORE_URL KEY_FILE]   # needs lv_start; see site_start below

GUEST_DIR=
GUEST_CMDLINE="console=ttyS0 quiet panic=1"
GUEST_PORT=7000

# guest_build: build the guest (tests/guest/build.sh; the first build downloads the
# kernel and busybox packages with apt-get). Exits 77 when the packages cannot be had.
guest_build() {
	local out=$TOP/build/guest
	# the build may download packages: from the host's network, not the test's
	if ! lv_host_net bash "$TOP/tests/guest/build.sh" "$out" >"$T/guest-build.log" 2>&1; then
		cat "$T/guest-build.log" >&2
		grep -q 'apt-get download' "$T/guest-build.log" &&
			skip "cannot download the test guest's Debian packages: $(tail -n 1 "$T/guest-build.log")"
		fail "building the test guest"
	fi
	GUEST_DIR=$out
}

# guest_disk IMG NAME [options]: tests/guest/make-disk.sh
guest_disk() {
	bash "$TOP/tests/guest/make-disk.sh" "$@" || fail "make-disk.sh $*"
}

# _guest_disk_xml DISK TARGET: one <disk> element
_guest_disk_xml() {
	local d=$1 tgt=$2 host port sock exp fmt=raw
	case $d in
	nbd:*)
		IFS=: read -r _ host port exp <<<"$d"
		echo "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
		echo "<source protocol='nbd' name='$exp'><host name='$host' port='$port'/></source>"
		;;
	nbd+unix:*)
		IFS=: read -r _ sock exp <<<"$d"
		echo "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
		echo "<source protocol='nbd' name='$exp'><host transport='unix' socket='$sock'/></source>"
		;;
	*)
		[[ $d == *.vmdk ]] && fmt=vmdk
		echo "<disk type='file' device='disk'><driver name='qemu' type='$fmt'/>"
		echo "<source file='$(realpath "$d")'/>"
		;;
	esac
	echo "<target dev='$tgt' bus='virtio'/></disk>"
}

# guest_start NAME SERIAL DISK... [--net NETWORK MAC]...: a persistent domain, started.
guest_start() {
	local name=$1 serial=$2 disks=() nets=() x=$LV_DIR/dom-$1.xml i letters=abcdefghijklmnop
	shift 2
	while [ $# -gt 0 ]; do
		if [ "$1" = --net ]; then nets+=("$2 $3"); shift 3; else disks+=("$1"); shift; fi
	done
	[ -n "$GUEST_DIR" ] || fail "guest_start before guest_build"
	: >"$serial"
	serial=$(realpath "$serial")
	{
		echo "<domain type='qemu'><name>$name</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
		echo "<os><type arch='x86_64' machine='q35'>hvm</type><kernel>$GUEST_DIR/vmlinux</kernel>"
		echo "<initrd>$GUEST_DIR/initrd.img</initrd><cmdline>$GUEST_CMDLINE</cmdline></os>"
		echo "<features><acpi/></features><on_poweroff>destroy</on_poweroff><on_crash>destroy</on_crash>"
		echo "<devices>"
		for ((i = 0; i < ${#disks[@]}; i++)); do _guest_disk_xml "${disks[i]}" "vd${letters:i:1}"; done
		for i in "${nets[@]}"; do
			echo "<interface type='network'><source network='${i% *}'/><mac address='${i#* }'/><model type='virtio'/></interface>"
		done
		echo "<serial type='file'><source path='$serial' append='off'/><target port='0'/></serial>"
		echo "<console type='file'><source path='$serial' append='off'/><target type='serial' port='0'/></console>"
		echo "<memballoon model='none'/></devices></domain>"
	} >"$x"
	lv_virsh define "$x" >/dev/null || fail "cannot define $name"
	lv_virsh start "$name" >/dev/null || fail "cannot start $name"
}

# guest_wait SERIAL [SECONDS=120]: print the guest's FERRY-GUEST line once it is there
guest_wait() {
	local l
	l=$(lv_wait_line "$1" '^FERRY-GUEST(-ERROR)? ' "${2:-120}") ||
		{ tail -n 20 "$1" >&2; fail "no FERRY-GUEST line in $1 within ${2:-120} s"; }
	[[ $l == FERRY-GUEST-ERROR* ]] && { tail -n 20 "$1" >&2; fail "guest error in $1: $l"; }
	echo "$l"
}

# guest_field LINE KEY
guest_field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# guest_tcp ADDR [SECONDS=10]: the line the guest at ADDR serves on port 7000
guest_tcp() {
	timeout "${2:-10}" bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -n 1 <&3' "$1" "$GUEST_PORT" 2>/dev/null |
		tr -d '\r' | grep -E '^FERRY-GUEST '
}

# guest_shutdown NAME [SECONDS=30]: graceful power-off (the guest logs a STOP line)
guest_shutdown() {
	lv_virsh shutdown "$1" >/dev/null || fail "virsh shutdown $1"
	wait_for "${2:-30}" _guest_is_off "$1" || fail "$1 did not power off within ${2:-30} s"
}
_guest_is_off() { [ "$(lv_virsh domstate "$1" 2>/dev/null)" != running ]; }

# guest_log IMG: the guest's log on a raw image (the whole disk is its ext4)
guest_log() { debugfs -R 'cat /var/log/ferry-guest.log' "$1" 2>/dev/null; }

# guest_driver_settings: the [hypervisor] keys that make ferry-agent's libvirt driver boot
# this guest on the private daemon (direct kernel boot, TCG, no graphics)
guest_driver_settings() {
	printf 'driver = libvirt\nuri = %s\ndomain_type = qemu\nkernel = %s\ninitrd = %s\ncmdline = %s\ngraphics = none\n' \
		"$LV_URI" "$GUEST_DIR/vmlinux" "$GUEST_DIR/initrd.img" "$GUEST_CMDLINE"
}

# expect_err ENAME TEXT CMD...: a drvctl call that must fail with errno ENAME and a reason
# containing TEXT
expect_err() {
	local e=$1 text=$2 out
	shift 2
	out=$("$@" 2>&1) && fail "$* succeeded"
	grep -q ": $e: " <<<"$out" || fail "$*: want $e, got: $out"
	grep -qF -- "$text" <<<"$out" || fail "$*: the reason does not say '$text': $out"
	info "$e as expected: ${out#drvctl: }"
}

# ---- the protected site ---------------------------------------------------------------

SITE_NAMES="db app web"
declare -A SITE_ADDR=([db]=10.1.0.11 [app]=10.1.0.12 [web]=10.1.0.13)
declare -A SITE_MAC=([db]=52:54:00:01:00:11 [app]=52:54:00:01:00:12 [web]=52:54:00:01:00:13)
declare -A SITE_FORMAT SITE_DISK SITE_SERIAL SITE_LINE

# site_start [STORE_URL KEY_FILE]: the protected site, on the current libvirtd (lv_start;
# with two daemons, lv_use the protected site's first).
#  - the libvirt network prod-net (10.1.0.1/24, the host at .1); the recovery side's
#    networks are the caller's (lv_net_create dr-net 10.2.0.1/24, on its daemon);
#  - one disk per VM, made by make-disk.sh as ferryd's primary ($T/site-NAME.raw,
#    SITE_DISK_SIZE, default 64M): host name NAME, static SITE_ADDR[NAME]/24, gateway
#    10.1.0.1, DNS 10.1.0.53, in SITE_FORMAT[NAME] (default db netplan, app and web
#    ifupdown; set before the call to choose another), the stanza naming the MAC; the last
#    8 MiB of each disk (from byte SITE_TAIL_OFF) are outside its file system, for
#    qemu-io writes that must not touch the guest's files;
#  - ferryd with the three disks (export names db, app, web) in one domain, SITE_DOMAIN
#    (default site), listening on SITE_PORT, shipping to STORE_URL when given (an
#    initialised repository: ferryctl init) every SITE_RPO (default 1h: points come when
#    a test cuts them); with SITE_VMS=1 the config also describes the VMs ([vm NAME]
#    sections: ferryd stores them in the repository, where ferry-agent reads them; the
#    failover tests set it);
#  - the VMs db, app, web (256 MiB, one vCPU, persistent libvirt domains the operator
#    defined, not ferry) on prod-net with SITE_MAC[NAME], their disks over NBD from
#    ferryd, serial consoles in SITE_SERIAL[NAME]; started at once, and awaited: their
#    boot lines are in SITE_LINE[NAME].
# Sets SITE_CONF (ferryd's config), SITE_STORE, SITE_KEY, and FERRYD_PID, NBD_URI_BASE.
site_start() {
	local n t0
	SITE_DOMAIN=${SITE_DOMAIN:-site} SITE_STORE=${1:-} SITE_KEY=${2:-}
	SITE_CONF=$T/site.conf
	lv_net_create prod-net 10.1.0.1/24
	guest_build
	local disks=()
	for n in $SITE_NAMES; do
		SITE_FORMAT[$n]=${SITE_FORMAT[$n]:-$([ $n = db ] && echo netplan || echo ifupdown)}
		SITE_DISK[$n]=$T/site-$n.raw
		guest_disk "${SITE_DISK[$n]}" "$n" "--${SITE_FORMAT[$n]}" "${SITE_ADDR[$n]}/24" \
			--gw 10.1.0.1 --dns 10.1.0.53 --mac "${SITE_MAC[$n]}" \
			--size "${SITE_DISK_SIZE:-64M}" --tail 8 >/dev/null
		disks+=("$n:${SITE_DISK[$n]}")
	done
	SITE_TAIL_OFF=$(( $(stat -c %s "${SITE_DISK[db]}") - (8 << 20) ))
	PORT=$(free_port)
	SITE_PORT=$PORT
	write_config "$SITE_CONF" 256M 1M "${disks[@]}"
	sed -i "s/^\[domain dom\]\$/[domain $SITE_DOMAIN]\nrpo = ${SITE_RPO:-1h}/" "$SITE_CONF"
	if [ -n "$SITE_STORE" ]; then
		printf '[store]\nurl = %s\nkey_file = %s\n' "$SITE_STORE" "$SITE_KEY" >>"$SITE_CONF"
	fi
	[ "${SITE_VMS:-0}" != 1 ] || site_vm_sections >>"$SITE_CONF"
	start_ferryd "$SITE_CONF" "$T/site-ferryd.log"
	t0=$(date +%s%N)
	for n in $SITE_NAMES; do
		SITE_SERIAL[$n]=$T/site-$n.serial
		guest_start "$n" "${SITE_SERIAL[$n]}" "nbd:127.0.0.1:$SITE_PORT:$n" \
			--net prod-net "${SITE_MAC[$n]}"
	done
	for n in $SITE_NAMES; do
		SITE_LINE[$n]=$(guest_wait "${SITE_SERIAL[$n]}") || exit 1
		[ "$(guest_field "${SITE_LINE[$n]}" ip)" = "${SITE_ADDR[$n]}/24" ] ||
			fail "$n booted with: ${SITE_LINE[$n]}"
	done
	info "protected site up (db, app, web) $(( ($(date +%s%N) - t0) / 1000000 )) ms after the first start"
}

# site_vm_sections: the [vm NAME] sections describing the site's VMs (issue 13 section 1)
site_vm_sections() {
	local n
	for n in $SITE_NAMES; do
		printf '[vm %s]\ndomain = %s\ndisks = %s\ncpus = 1\nmemory = 256M\nfirmware = bios\n' \
			"$n" "$SITE_DOMAIN" "$n"
		printf 'nic = prod-net %s static %s/24 gw 10.1.0.1 dns 10.1.0.53\n' \
			"${SITE_MAC[$n]}" "${SITE_ADDR[$n]}"
	done
}
