# Real test guests under the private libvirt (sourced after libvirt.sh and functions.sh).
# The guest is the project's own (tests/guest/: a Debian kernel and busybox; its disk
# holds its host name and network config; it prints one line on its serial console,
# logs it on its disk and answers with it on TCP 7000 at its configured address).
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
#   site_start [STORE_URL KEY_FILE]   # ferryd (domain "site") + db, app, web on prod-net
# sets SITE_CONF (ferryd's config), SITE_NAMES ("db app web"), SITE_ADDR[name],
# SITE_MAC[name], SITE_SERIAL[name], SITE_LINE[name] (each guest's boot line).

GUEST_DIR=
GUEST_CMDLINE="console=ttyS0 quiet panic=1"
GUEST_PORT=7000

# guest_build: build the guest (tests/guest/build.sh; the first build downloads the
# kernel and busybox packages with apt-get). Exits 77 when the packages cannot be had.
guest_build() {
	local out=$TOP/build/guest
	if ! bash "$TOP/tests/guest/build.sh" "$out" >"$T/guest-build.log" 2>&1; then
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
	local name=$1 serial=$2 disks=() nets=() x=$T/libvirt/dom-$1.xml i letters=abcdefghijklmnop
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
