#!/usr/bin/env bash
# Installs every Debian package ferry builds, runs and tests with. Idempotent; as root it
# installs, otherwise it only reports what is missing. The Makefile's pkg-config names map
# to these -dev packages: libvirt libvirt-dev, ext2fs libext2fs-dev, com_err comerr-dev,
# libmicrohttpd libmicrohttpd-dev, jansson libjansson-dev, libxml-2.0 libxml2-dev,
# yaml-0.1 libyaml-dev, libisofs-1 libisofs-dev. Not here: Ceph (tests/lib/ceph-rgw.sh
# installs it when a test needs it) and the IETF base MIBs (tests/lib/snmp.sh unpacks them
# from Debian's erlang-snmp with apt-get download).
set -eu
PKGS=(build-essential pkg-config clang libclang-rt-14-dev
      liburing-dev libaio-dev libisal-dev libzstd-dev libssl-dev libcurl4-openssl-dev
      libcmocka-dev libnbd-dev curl
      qemu-utils libnbd-bin nbdkit fio e2fsprogs python3 procps bc qemu-system-x86 restic
      man-db openssl strace borgbackup libdeflate-dev zlib1g-dev
      libvirt-dev libext2fs-dev comerr-dev libmicrohttpd-dev libjansson-dev libxml2-dev
      libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients dnsmasq-base iptables
      iproute2 xz-utils ovmf
      libyaml-dev fdisk libisofs-dev genisoimage netplan.io ifupdown
      libsnmp-dev snmp snmpd snmptrapd smitools)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages (run as root to install): ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
