#!/usr/bin/env bash
# restore never replaces an existing file silently (issue 12 item 7): an existing output
# (for vmdk-flat: the descriptor or its extent) is refused with exit 1, the file is left as
# it was, and --force replaces it.
. "$(dirname "$0")/../lib/functions.sh"
make_points 8M
S=(--store "$STORE" --key-file "$KEY" --domain dom --disk vm0)

for f in raw vmdk vmdk-flat vmdk-stream; do
	out=$T/out-$f.img
	echo "precious data" >"$out"
	rc=0; ferryctl restore "${S[@]}" --format $f -o "$out" >/dev/null 2>"$T/err" || rc=$?
	[ $rc = 1 ] || fail "$f restore over an existing file: exit $rc, expected 1"
	grep -q "$out exists: not replacing it (--force replaces it)" "$T/err" ||
		fail "message: $(cat "$T/err")"
	[ "$(cat "$out")" = "precious data" ] || fail "the existing $out was changed"
	[ $f = raw ] && info "$(cat "$T/err")"
	ferryctl restore "${S[@]}" --format $f --force -o "$out" >/dev/null 2>"$T/err" ||
		fail "$f restore --force: $(cat "$T/err")"
	if [ $f = raw ]; then cmp "$out" "$T/ref2.raw" || fail "--force: the raw restore differs"
	else qemu-img compare -q -f vmdk -F raw "$out" "$T/ref2.raw" || fail "--force: $f differs"; fi
done

# vmdk-flat: the extent alone is enough to refuse
rm -f "$T/flat.vmdk"
echo "precious extent" >"$T/flat-flat.vmdk"
rc=0; ferryctl restore "${S[@]}" --format vmdk-flat -o "$T/flat.vmdk" >/dev/null 2>"$T/err" || rc=$?
[ $rc = 1 ] || fail "vmdk-flat over an existing extent: exit $rc, expected 1"
grep -q "flat-flat.vmdk exists" "$T/err" || fail "message: $(cat "$T/err")"
[ "$(cat "$T/flat-flat.vmdk")" = "precious extent" ] || fail "the existing extent was changed"
[ -e "$T/flat.vmdk" ] && fail "a descriptor appeared"
info "$(cat "$T/err")"
pass
