#!/usr/bin/env bash
# The S3 store backend against a real, strict S3 server (Ceph RGW, tests/lib/ceph-rgw.sh):
# the store contract (store-conform: put/get/range/head, >1000 keys listed across pages,
# -EEXIST on a second put and under an 8-way race, delete, errors), `ferryctl store check`
# with the config file and with flags + environment credentials, `ferryctl init -c`; then
# the failures an operator must be told about plainly: a wrong secret or access key (403,
# said once, not retried), no credentials, a missing bucket, an endpoint nobody listens on.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/ceph-rgw.sh"
require python3
rgw_require
rgw_start
RGWLOG=$RGW_DIR/log/client.rgw.a.log
B=ferry-store-test
rgw_mkbucket $B
rgw_keys "$T/keys"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL

info "store contract"
"$TBIN/store-conform" --store "s3://$B/conform-run" --endpoint "$RGW_ENDPOINT" \
	--access-key-file "$T/keys/ak" --secret-key-file "$T/keys/sk" --keys 1100 >"$T/conform.out" 2>&1 ||
	{ cat "$T/conform.out" >&2; fail "store-conform"; }
grep -c '^ok ' "$T/conform.out" >&2

# conf FILE SECRETFILE [BUCKET] [ENDPOINT]
conf() {
	PORT=$(free_port) write_config "$1" 16M 1M vm0:"$T/vm0.raw":16M
	cat >>"$1" <<-EOF
	[store]
	url = s3://${3:-$B}/site-a
	key_file = $T/store.key
	endpoint = ${4:-$RGW_ENDPOINT}
	region = us-east-1
	addressing = path
	access_key_file = $T/keys/ak
	secret_key_file = $2
	parallel = 4
	EOF
}
conf "$T/good.conf" "$T/keys/sk"

info "store check, good config"
ferryctl store check -c "$T/good.conf" >"$T/check.out" 2>&1 || { cat "$T/check.out" >&2; fail "store check"; }
cat "$T/check.out" >&2
for s in open reachability tls authentication bucket put get "range get" head "no overwrite" delete gone; do
	grep -Eq "^  $s +ok " "$T/check.out" || fail "store check did not report step '$s' as ok"
done
grep -q "all steps passed" "$T/check.out" || fail "no summary line"

info "store check with flags and environment credentials"
AWS_ACCESS_KEY_ID=$RGW_AK AWS_SECRET_ACCESS_KEY=$RGW_SK ferryctl store check \
	--store "s3://$B/env" --endpoint "$RGW_ENDPOINT" >"$T/check-env.out" 2>&1 ||
	{ cat "$T/check-env.out" >&2; fail "store check with environment credentials"; }

info "init -c and points -c"
ferryctl init -c "$T/good.conf" >&2 || fail "init -c"
ferryctl init -c "$T/good.conf" 2>"$T/init2.err" && fail "second init succeeded"
grep -q "already exists" "$T/init2.err" || { cat "$T/init2.err" >&2; fail "second init: wrong reason"; }
# the repository opens through -c (an empty one has no domain yet: an error that says so)
rc=0; ferryctl points -c "$T/good.conf" --domain dom 2>"$T/points.err" || rc=$?
[ $rc = 1 ] && grep -q "the store has no domain yet" "$T/points.err" ||
	fail "points -c: exit $rc: $(cat "$T/points.err")"

n403() { grep -c '" 403 ' "$RGWLOG" 2>/dev/null || true; }

info "wrong secret key"
printf 'wrongsecretwrongsecretwrongsecret0000001\n' >"$T/keys/badsk"
conf "$T/bad.conf" "$T/keys/badsk"
before=$(n403); t0=$(date +%s%N)
ferryctl store check -c "$T/bad.conf" >"$T/bad.out" 2>&1 && fail "store check passed with a wrong secret"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
cat "$T/bad.out" >&2
grep -Eq '^  authentication +FAIL .*HTTP 403 SignatureDoesNotMatch' "$T/bad.out" ||
	fail "store check does not say 403 SignatureDoesNotMatch"
grep -q "$RGW_ENDPOINT" "$T/bad.out" || fail "store check does not name the endpoint"
grep -q "$RGW_SK\|wrongsecret" "$T/bad.out" && fail "a secret appears in the output"
[ "$ms" -lt 5000 ] || fail "store check took $ms ms with a wrong secret (retrying?)"
after=$(n403)
info "store check: $ms ms, $((after - before)) requests answered 403"
[ $((after - before)) -le 1 ] || fail "wrong secret: $((after - before)) requests got 403 (retry storm)"

before=$(n403); t0=$(date +%s%N)
ferryctl points -c "$T/bad.conf" --domain dom >"$T/points.out" 2>"$T/points.err"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
cat "$T/points.err" >&2
[ $rc = 1 ] || fail "points with a wrong secret: exit $rc (want 1)"
grep -q "HTTP 403 SignatureDoesNotMatch" "$T/points.err" || fail "points does not say 403 SignatureDoesNotMatch"
grep -q "$RGW_ENDPOINT" "$T/points.err" || fail "points does not name the endpoint"
[ "$ms" -lt 5000 ] || fail "points took $ms ms with a wrong secret"
after=$(n403)
[ $((after - before)) -le 1 ] || fail "points: $((after - before)) requests got 403 (retry storm)"

info "wrong access key"
printf 'NOSUCHACCESSKEY00001\n' >"$T/keys/badak"
sed "s|access_key_file = .*|access_key_file = $T/keys/badak|" "$T/good.conf" >"$T/badak.conf"
ferryctl store check -c "$T/badak.conf" >"$T/badak.out" 2>&1 && fail "store check passed with a wrong access key"
grep -q "HTTP 403 InvalidAccessKeyId" "$T/badak.out" || { cat "$T/badak.out" >&2; fail "no InvalidAccessKeyId"; }

info "no credentials"
ferryctl store check --store "s3://$B/x" --endpoint "$RGW_ENDPOINT" >"$T/nocred.out" 2>&1 &&
	fail "store check passed without credentials"
grep -q "no S3 credentials" "$T/nocred.out" || { cat "$T/nocred.out" >&2; fail "no credentials: unclear"; }

info "missing bucket"
conf "$T/nobucket.conf" "$T/keys/sk" no-such-bucket-here
ferryctl store check -c "$T/nobucket.conf" >"$T/nobucket.out" 2>&1 && fail "store check passed without a bucket"
grep -Eq '^  bucket +FAIL .*NoSuchBucket' "$T/nobucket.out" || { cat "$T/nobucket.out" >&2; fail "missing bucket: unclear"; }

info "nobody listening"
dead=$(free_port)
conf "$T/dead.conf" "$T/keys/sk" $B "http://127.0.0.1:$dead"
t0=$(date +%s%N)
FERRY_S3_RETRY_MS=2000 ferryctl store check -c "$T/dead.conf" >"$T/dead.out" 2>&1 && fail "store check passed with no server"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -Eq '^  reachability +FAIL' "$T/dead.out" || { cat "$T/dead.out" >&2; fail "dead endpoint: unclear"; }
FERRY_S3_RETRY_MS=2000 ferryctl points -c "$T/dead.conf" --domain dom 2>"$T/dead.err" && fail "points passed with no server"
grep -q "gave up after" "$T/dead.err" || { cat "$T/dead.err" >&2; fail "points with no server: no retry summary"; }
cat "$T/dead.err" >&2
pass
