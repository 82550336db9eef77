#!/usr/bin/env bash
# build.sh [OUT]: the project's test guest, from Debian packages only (default OUT:
# build/guest of this tree). Writes
#   OUT/vmlinux      the Debian kernel decompressed out of its bzImage: an ELF with a PVH
#                    entry, which qemu boots directly (no in-guest decompression, which is
#                    about half of a boot under TCG); OUT/vmlinuz is the bzImage itself
#   OUT/initrd.img   busybox, the kernel modules the guest needs, and tests/guest/{init,
#                    netcfg,power,udhcpc.script}: the whole guest runs from the initramfs
#                    and keeps its state (host name, network config, log) on its disk
#   OUT/busybox      the guest's busybox, so tests can run the guest's parser on the host
#   OUT/kernel-version
# The kernel .deb (what linux-image-amd64 depends on) and busybox-static are fetched with
# `apt-get download` once and kept in OUT/debs; the kernel is extracted (never installed)
# once per .deb into OUT/kernel/VERSION (only the files the guest needs). Later builds are
# offline, and a build whose inputs did not change does nothing (OUT/.inputs). A lock
# (OUT/.lock) lets concurrent tests call this safely. Exit 0 built or up to date, 1 failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/../../build/guest}
mkdir -p "$OUT/debs"
OUT=$(cd "$OUT" && pwd)
die() { echo "guest build: $*" >&2; exit 1; }
# what the guest loads: virtio disk and NIC, ext4, and the ACPI power button for acpid.
# Dependencies come from the kernel's own modules.dep; crc32c is ext4's soft dependency
# (metadata_csum), which modules.dep does not list.
MODULES="virtio_pci virtio_blk virtio_net crc32c_generic ext4 button evdev"
SOURCES="build.sh init netcfg power udhcpc.script"

exec 9>"$OUT/.lock"
flock 9

# deb PATTERN PACKAGE: the cached .deb for PACKAGE (newest matching PATTERN), downloaded
# when there is none.
deb() {
	local f
	f=$(ls "$OUT"/debs/$1 2>/dev/null | sort -V | tail -n 1) || true
	if [ -z "$f" ]; then
		echo "guest build: apt-get download $2" >&2
		(cd "$OUT/debs" && apt-get download -q "$2" >/dev/null 2>"$OUT/debs/.apt.err") ||
			die "apt-get download $2 failed: $(grep -v '^W:' "$OUT/debs/.apt.err" | tail -n 1)"
		f=$(ls "$OUT"/debs/$1 2>/dev/null | sort -V | tail -n 1) || true
	fi
	[ -n "$f" ] || die "no $1 in $OUT/debs after downloading $2"
	echo "$f"
}

if ! ls "$OUT"/debs/linux-image-*.deb >/dev/null 2>&1; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
	[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 with apt-cache (run apt-get update)"
else
	kpkg=linux-image
fi
kdeb=$(deb 'linux-image-[0-9]*.deb' "$kpkg")
bdeb=$(deb 'busybox-static_*.deb' busybox-static)

inputs=$( (cd "$HERE" && sha256sum $SOURCES; basename "$kdeb"; basename "$bdeb") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$OUT/.inputs" 2>/dev/null)" = "$inputs" ] &&
	[ -s "$OUT/vmlinux" ] && [ -s "$OUT/initrd.img" ] && [ -x "$OUT/busybox" ]; then
	echo "guest build: $OUT is up to date"
	exit 0
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-guest-build.XXXXXX")
trap 'rm -rf "$W"' EXIT
dpkg-deb -x "$bdeb" "$W/bb" || die "cannot extract $bdeb"
BB=$W/bb/bin/busybox
[ -x "$BB" ] || die "no bin/busybox in $bdeb"

# the kernel, once per .deb: vmlinuz, vmlinux, and the needed modules in load order
KDIR=$OUT/kernel/$(basename "$kdeb" .deb)
if [ ! -s "$KDIR/load-order" ]; then
	echo "guest build: extracting $(basename "$kdeb")" >&2
	dpkg-deb -x "$kdeb" "$W/k" || die "cannot extract $kdeb"
	kv=$(ls "$W/k/lib/modules")
	[ "$(echo "$kv" | wc -w)" = 1 ] || die "expected one kernel in $kdeb, found: $kv"
	md=$W/k/lib/modules/$kv
	"$BB" depmod -b "$W/k" "$kv" || die "depmod failed"
	rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp/modules"
	order=()
	# add MODPATH: MODPATH after everything modules.dep says it needs
	add() {
		local d
		case " ${order[*]-} " in *" $1 "*) return 0 ;; esac
		for d in $(awk -F': *' -v m="$1" '$1 == m { print $2 }' "$md/modules.dep"); do add "$d"; done
		order+=("$1")
	}
	for m in $MODULES; do
		p=$(grep -o "^[^:]*/$m\.ko" "$md/modules.dep") || die "module $m is not in $kv"
		add "$p"
	done
	for p in "${order[@]}"; do
		cp "$md/$p" "$KDIR.tmp/modules/" || die "cannot copy $p"
		basename "$p" >>"$KDIR.tmp/load-order"
	done
	cp "$W/k/boot/vmlinuz-$kv" "$KDIR.tmp/vmlinuz"
	# vmlinux: the xz stream the bzImage carries (the Debian kernel is CONFIG_KERNEL_XZ)
	grep -q '^CONFIG_PVH=y' "$W/k/boot/config-$kv" || die "$kv has no PVH entry (CONFIG_PVH)"
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$KDIR.tmp/vmlinuz" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] || die "no xz payload in vmlinuz-$kv"
	tail -c +$((off + 1)) "$KDIR.tmp/vmlinuz" >"$W/payload"
	xz -dc --single-stream <"$W/payload" >"$KDIR.tmp/vmlinux" ||
		die "cannot decompress the kernel of vmlinuz-$kv"
	[ "$(head -c 4 "$KDIR.tmp/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		die "the payload of vmlinuz-$kv is not an ELF"
	echo "$kv" >"$KDIR.tmp/kernel-version"
	rm -rf "$W/k" "$KDIR" && mv "$KDIR.tmp" "$KDIR"
fi

# the initramfs: busybox is the whole user space; applets are linked by /init
R=$W/root
mkdir -p "$R"/{bin,dev,proc,sys,mnt,run,tmp,etc/acpi/PWRF,lib/modules}
cp "$BB" "$R/bin/busybox"
install -m 755 "$HERE/init" "$R/init"
install -m 755 "$HERE/netcfg" "$R/bin/netcfg"
install -m 755 "$HERE/udhcpc.script" "$R/etc/udhcpc.script"
install -m 755 "$HERE/power" "$R/etc/acpi/PWRF/00000080"
cp "$KDIR"/modules/*.ko "$R/lib/modules/"
cp "$KDIR/load-order" "$R/etc/modules.load"
(cd "$R" && find . | LC_ALL=C sort | "$BB" cpio -o -H newc -R 0:0 2>/dev/null | gzip -6 -n) \
	>"$W/initrd.img" || die "cannot write the initramfs"

# the kernel files are hard links into OUT/kernel (one copy of vmlinux's 60 MiB)
for f in vmlinux vmlinuz kernel-version; do ln -f "$KDIR/$f" "$OUT/$f"; done
cp "$BB" "$OUT/busybox.tmp" && mv -f "$OUT/busybox.tmp" "$OUT/busybox"
cp "$W/initrd.img" "$OUT/initrd.img.tmp" && mv -f "$OUT/initrd.img.tmp" "$OUT/initrd.img"
echo "$inputs" >"$OUT/.inputs"
echo "guest build: $OUT/vmlinux ($(cat "$OUT/kernel-version")), initrd.img" \
	"$(( $(stat -c %s "$OUT/initrd.img") / 1024 )) KiB, modules: $(sed 's/\.ko$//' "$KDIR/load-order" | tr '\n' ' ')"
