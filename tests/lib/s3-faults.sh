# Helpers for the S3 tests that need trouble (sourced after functions.sh and ceph-rgw.sh):
# the fault-injecting proxy (tests/tools/s3-faultproxy.py), stopping and restarting the
# gateway alone, a [store] section, and a count of the multipart uploads left in a bucket.
#
#   faultproxy_start SEED RATE [PROXY-ARGS...]   # sets PROXY_ENDPOINT, PROXY_LOG, PROXY_CTL
#   faultproxy_mode down|pass|faults             # waits until the proxy took the new mode
#   rgw_gw_stop; rgw_gw_start                    # radosgw only; mon and OSD (the data) stay
#   s3_store_conf FILE BUCKET/PREFIX ENDPOINT    # appends [store] (keys in $T/keys)
#   s3_uploads_left BUCKET                       # prints the number of multipart uploads

FAULTPROXY=$TOP/tests/tools/s3-faultproxy.py

faultproxy_start() {
	local seed=$1 rate=$2; shift 2
	PROXY_LOG=$T/faultproxy.log
	PROXY_CTL=$T/faultproxy.ctl
	echo faults >"$PROXY_CTL"
	rm -f "$T/faultproxy.port"
	python3 "$FAULTPROXY" --upstream "$RGW_ENDPOINT" --seed "$seed" --rate "$rate" \
		--log "$PROXY_LOG" --control "$PROXY_CTL" --port-file "$T/faultproxy.port" "$@" \
		2>>"$PROXY_LOG" &
	PROXY_PID=$!
	cleanup_fn "faultproxy_stop"
	wait_for 10 test -s "$T/faultproxy.port" || fail "the fault proxy did not start: $(tail -n 3 "$PROXY_LOG")"
	PROXY_ENDPOINT=http://127.0.0.1:$(cat "$T/faultproxy.port")
	info "fault proxy at $PROXY_ENDPOINT (seed $seed, rate $rate)"
}

# faultproxy_stop: TERM (it writes its summary line) and wait.
faultproxy_stop() {
	[ -n "${PROXY_PID:-}" ] || return 0
	kill -TERM "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=
	return 0
}

faultproxy_mode() {
	local n
	n=$(grep -c " mode " "$PROXY_LOG")
	echo "$1" >"$PROXY_CTL"
	wait_for 5 eval '[ "$(grep -c " mode " "$PROXY_LOG")" -gt "$n" ]' ||
		fail "the fault proxy did not switch to $1"
}

# the counts of the summary line: faultproxy_count KIND|requests|faults
faultproxy_count() {
	sed -n "s/^summary .*\\b$1=\\([0-9]*\\).*/\\1/p" "$PROXY_LOG" | tail -n 1
}

_rgw_answers() { curl -s -o /dev/null "$RGW_ENDPOINT/"; }

rgw_gw_stop() {
	rgw_stop client.rgw.a
	_rgw_answers && fail "radosgw still answers after being stopped"
	return 0
}

rgw_gw_start() {
	radosgw -c "$RGW_DIR/ceph.conf" -n client.rgw.a || fail "radosgw did not restart"
	wait_for 60 _rgw_answers || fail "radosgw not answering on $RGW_ENDPOINT after a restart"
}

s3_store_conf() {
	cat >>"$1" <<-EOF
	[store]
	url = s3://$2
	key_file = $T/store.key
	endpoint = $3
	addressing = path
	access_key_file = $T/keys/ak
	secret_key_file = $T/keys/sk
	EOF
}

s3_uploads_left() {
	rgw_s3 -o "$T/uploads.xml" "$RGW_ENDPOINT/$1?uploads=" || fail "ListMultipartUploads failed"
	grep -q '<ListMultipartUploadsResult' "$T/uploads.xml" ||
		fail "ListMultipartUploads: unexpected answer $(head -c 300 "$T/uploads.xml")"
	grep -o '<UploadId>' "$T/uploads.xml" | wc -l
}
