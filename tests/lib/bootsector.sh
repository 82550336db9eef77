# A tiny bootable disk for the boot tests (sourced).
#
#   . "$(dirname "$0")/../lib/bootsector.sh"
#   build_bootsector OUT LBA       # assembles a 512-byte MBR boot sector into OUT
#   make_boot_disk OUT SIZE LBA MARKER   # OUT: boot sector + filler + MARKER at sector LBA
#   marker_sector OUT MARKER       # one 512-byte sector: MARKER, NUL, zero padding
#
# What the boot sector does (BIOS, real mode, loaded at 0x7c00, DL = boot drive):
#   1. zeroes the segment registers and sets a stack below itself;
#   2. reads ONE sector at LBA into 0x7e00 with the EDD "extended read" (int 13h, AH=42h,
#      a disk address packet), so the LBA need not be translated to a CHS geometry (which
#      depends on how the emulator guesses one for a tiny disk);
#   3. writes "[", the NUL-terminated text at 0x7e00 (at most 511 bytes), "]\r\n" to the
#      first serial port directly (I/O port 0x3F8, waiting on the line status register's
#      "transmit holding register empty" bit): SeaBIOS copies int 10h output to the screen
#      only, and the tests run without one. On a read error it prints "[DISK-ERROR]".
#   4. halts forever (cli; hlt in a loop), so the test kills the emulator once it has seen
#      the closing bracket.
# The UART is not programmed: QEMU's 16550 emits whatever reaches THR whatever the baud
# divisor, and a real 16550 left by the BIOS at its defaults would too.
# Assembled by GNU as (--32, .code16) and linked flat at 0x7c00 with ld --oformat binary:
# binutils comes with build-essential.

# build_bootsector OUT LBA
build_bootsector() {
	local out=$1 lba=$2 dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/bootsector.XXXXXX") || return 1
	cat >"$dir/boot.S" <<EOF
	.code16
	.text
	.globl _start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	\$0x7c00, %sp
	sti
	ljmp	\$0, \$norm		/* CS:IP = 0000:7cxx whatever the BIOS used */
norm:
	cld
	movw	\$dap, %si		/* DL still holds the boot drive */
	movb	\$0x42, %ah
	int	\$0x13
	jc	ioerr
	movb	\$'[', %al
	call	putc
	movw	\$0x7e00, %si
	movw	\$511, %cx		/* never run past the sector */
text:
	lodsb
	testb	%al, %al
	jz	close
	call	putc
	loop	text
close:
	movw	\$tail, %si
	call	puts
halt:
	cli
	hlt
	jmp	halt
ioerr:
	movw	\$errmsg, %si
	call	puts
	jmp	halt

/* puts: the NUL-terminated string at DS:SI to the serial port */
puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

/* putc: AL to COM1 once its transmit holding register is empty */
putc:
	pushw	%dx
	pushw	%ax
	movw	\$0x3fd, %dx		/* line status register */
2:	inb	%dx, %al
	testb	\$0x20, %al
	jz	2b
	popw	%ax
	movw	\$0x3f8, %dx		/* transmit holding register */
	outb	%al, %dx
	popw	%dx
	ret

tail:	.asciz	"]\r\n"
errmsg:	.asciz	"[DISK-ERROR]\r\n"
	.balign	4
dap:	.byte	16, 0			/* packet size, reserved */
	.word	1			/* sectors */
	.word	0x7e00, 0		/* buffer offset, segment */
	.long	$lba, 0			/* 64-bit LBA */

	.org	510
	.byte	0x55, 0xaa
EOF
	local rc=0
	as --32 -o "$dir/boot.o" "$dir/boot.S" &&
		ld -m elf_i386 -Ttext 0x7c00 --oformat binary -e _start -o "$dir/boot.bin" "$dir/boot.o" ||
		rc=1
	if [ $rc = 0 ] && [ "$(stat -c %s "$dir/boot.bin")" != 512 ]; then
		echo "bootsector: assembled to $(stat -c %s "$dir/boot.bin") bytes, not 512" >&2
		rc=1
	fi
	[ $rc = 0 ] && cp "$dir/boot.bin" "$out"
	rm -rf "$dir"
	return $rc
}

# marker_sector OUT MARKER
marker_sector() {
	local out=$1 m=$2
	[ ${#m} -lt 512 ] || return 1
	{ printf '%s' "$m"; head -c $((512 - ${#m})) /dev/zero; } >"$out"
}

# make_boot_disk OUT SIZE LBA MARKER: a disk of SIZE bytes whose sector 0 boots and prints
# MARKER from sector LBA; the first quarter after the boot sector holds pseudo-random bytes
# (fixed seed), the rest is zero (so restores see both data and holes).
make_boot_disk() {
	local out=$1 size=$2 lba=$3 m=$4
	build_bootsector "$out.mbr" "$lba" || return 1
	marker_sector "$out.marker" "$m" || return 1
	python3 - "$out" "$size" "$out.mbr" "$lba" "$out.marker" <<'PY' || return 1
import random, sys
out, size, mbr, lba, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
data = bytearray(size)
data[512:size // 4] = random.Random(320).randbytes(size // 4 - 512)
data[0:512] = open(mbr, "rb").read()
data[lba * 512:(lba + 1) * 512] = open(marker, "rb").read()
open(out, "wb").write(data)
PY
	rm -f "$out.mbr" "$out.marker"
}
