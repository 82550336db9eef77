#!/usr/bin/env bash
# The repository stands alone and its docs match the tree (issue 11 section 5): nothing
# outside .ci cites a document outside the repository (the build machine's notes beside
# the clone, or any absolute /work path; `git grep` for them finds nothing), README's
# first code block is the two set-up commands a root user on a fresh Debian 12 types (no
# sudo), docs/design.md exists and is the design cited (never the upper-case name), and every file
# path the docs name exists.
. "$(dirname "$0")/../lib/functions.sh"
cd "$TOP"
if git rev-parse --git-dir >/dev/null 2>&1; then
	files=$(git ls-files | grep -v '^\.ci/' | grep -v '^tests/golden/' | grep -v '^tests/fuzz/corpus/')
else
	files=$(find . -type f ! -path './build*' ! -path './.ci/*' ! -path './tests/golden/*' \
		! -path './tests/fuzz/corpus/*' ! -path './.git/*' | sed 's|^\./||')
fi
s=shared w=work	# spelled apart, so that this file does not match itself
hits=$(grep -nE "(\.\./$s|/$w/|(^|[^A-Za-z_])$s/)" $files 2>/dev/null || true)
[ -z "$hits" ] || fail "citations of documents outside the repository:
$hits"

block=$(awk '/^```/ { n++; next } n == 1 { print } n >= 2 { exit }' README.md)
[ "$block" = "$(printf 'tools/demo.sh\ntools/check.sh')" ] ||
	fail "README's first code block is not the two set-up commands: '$block'"
for c in tools/demo.sh tools/check.sh; do [ -x "$c" ] || fail "$c is not executable"; done

[ -s docs/design.md ] || fail "docs/design.md is missing"
d=DESIGN	# the build machine's design notes: the tree's own is docs/design.md
hits=$(grep -n "$d\.md" $files 2>/dev/null || true)
[ -z "$hits" ] || fail "$d.md cited where docs/design.md is meant:
$hits"
missing=
for f in README.md docs/*.md image/README.md appliance/README.md; do
	for p in $(grep -oE '\b(common|datapath|repo|image|restore|agent|mgmt|tests|tools|docs|appliance)/[A-Za-z0-9_./-]+\.(c|h|md|sh|py|bin|[1-8])\b' "$f" | sort -u); do
		case "$p" in *NAME*|*NNN*) continue ;; esac
		[ -e "$p" ] || missing="$missing $f:$p"
	done
done
[ -z "$missing" ] || fail "files named in the docs that do not exist:$missing"
pass
