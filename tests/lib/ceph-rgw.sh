# A real, strict S3 server for integration tests: Ceph RGW on 127.0.0.1 (sourced after
# functions.sh). One monitor, one OSD keeping its objects in RAM (memstore) and radosgw,
# all under $T/ceph on free ports; nothing in /etc/ceph or /var/lib/ceph is read or
# written. RGW verifies SigV4 signatures and payload hashes and honours If-None-Match: *,
# which is what makes it worth the 2 s it takes to start.
#
#   . "$(dirname "$0")/../lib/ceph-rgw.sh"
#   rgw_require        # installs the Debian packages as root if missing, else exit 77
#   rgw_start          # sets RGW_ENDPOINT, RGW_AK, RGW_SK; stops itself at teardown
#   rgw_s3 -X PUT "$RGW_ENDPOINT/bucket"       # curl, signed with the test user's keys
#
# Notes: daemon-to-daemon auth is off (auth ... required = none), which makes radosgw need
# "ms mon client mode = crc"; "paxos propose interval" is lowered or RGW's pool creation
# takes ~10 s more. The daemons are stopped by the pids in their pid files, and only if
# their command line names our ceph.conf.

RGW_PKGS=(ceph-mon ceph-osd radosgw ceph-common)
RGW_AK=FERRYTESTACCESSKEY01
RGW_SK=ferrytestsecretkey0000000000000000000001

# Install the packages if they are missing (root + apt-get), else skip the test.
rgw_require() {
	local c missing=0
	for c in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool curl; do
		command -v "$c" >/dev/null 2>&1 || missing=1
	done
	[ $missing = 0 ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		skip "Ceph RGW not installed and cannot install it here (needs root and apt-get: ${RGW_PKGS[*]})"
	fi
	info "installing ${RGW_PKGS[*]} (about 40 s)"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${RGW_PKGS[@]}" curl >"$T/apt.log" 2>&1; then
		apt-get update -q >>"$T/apt.log" 2>&1
		apt-get install -y -q --no-install-recommends "${RGW_PKGS[@]}" curl >>"$T/apt.log" 2>&1 ||
			skip "cannot install Ceph RGW: $(tail -n 1 "$T/apt.log")"
	fi
	for c in ceph-mon ceph-osd radosgw radosgw-admin ceph curl; do
		command -v "$c" >/dev/null 2>&1 || skip "Ceph RGW install did not provide $c"
	done
}


_rgw_osd_up() { $RGW_CEPH osd dump 2>/dev/null | grep -q "^osd.0 up"; }

# rgw_start: bring the cluster up; exits the test with 77 if it cannot (saying why).
rgw_start() {
	RGW_DIR=$T/ceph
	local port=$(free_port) v2=$(free_port) v1=$(free_port) base=$((30000 + RANDOM % 25000))
	mkdir -p "$RGW_DIR"/{mon.a,osd.0,rgw,run,log,crash}
	local conf=$RGW_DIR/ceph.conf fsid
	fsid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$conf" <<-EOF
	[global]
	fsid = $fsid
	mon host = [v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]
	public addr = 127.0.0.1
	cluster addr = 127.0.0.1
	ms bind ipv6 = false
	ms bind port min = $base
	ms bind port max = $((base + 400))
	auth cluster required = none
	auth service required = none
	auth client required = none
	keyring = $RGW_DIR/keyring
	run dir = $RGW_DIR/run
	pid file = $RGW_DIR/run/\$name.pid
	admin socket = $RGW_DIR/run/\$name.asok
	log file = $RGW_DIR/log/\$name.log
	crash dir = $RGW_DIR/crash
	osd pool default size = 1
	osd pool default min size = 1
	osd pool default pg num = 8
	osd pool default pgp num = 8
	osd pool default pg autoscale mode = off
	osd crush chooseleaf type = 0
	mon allow pool size one = true
	mon allow pool delete = true
	mon warn on pool no redundancy = false
	mon max pg per osd = 1000
	mon data avail warn = 1
	[mon]
	mon data = $RGW_DIR/mon.\$id
	paxos propose interval = 0.01
	paxos min wait = 0.001
	[osd]
	osd data = $RGW_DIR/osd.\$id
	osd objectstore = memstore
	memstore device bytes = ${RGW_MEMSTORE_BYTES:-4294967296}
	osd memory target = 1073741824
	[client.rgw.a]
	rgw frontends = beast endpoint=127.0.0.1:$port
	rgw data = $RGW_DIR/rgw
	rgw thread pool size = 64
	rgw init timeout = 60
	ms mon client mode = crc
	EOF
	RGW_CEPH="ceph -c $conf --connect-timeout 10"
	cleanup_fn rgw_stop
	ceph-authtool "$RGW_DIR/keyring" --create-keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null &&
		ceph-authtool "$RGW_DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' \
			--cap osd 'allow *' >/dev/null || skip "ceph-authtool failed"
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]" \
		"$RGW_DIR/monmap" >/dev/null || skip "monmaptool failed"
	ceph-mon -c "$conf" -i a --mkfs --monmap "$RGW_DIR/monmap" --keyring "$RGW_DIR/keyring" \
		>"$RGW_DIR/log/mon-mkfs.log" 2>&1 || skip "ceph-mon --mkfs failed: $(tail -n 1 "$RGW_DIR/log/mon-mkfs.log")"
	ceph-mon -c "$conf" -i a || skip "ceph-mon did not start"
	wait_for 30 quietly $RGW_CEPH mon stat || skip "Ceph monitor not answering (logs in $RGW_DIR/log)"
	local uuid id
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$($RGW_CEPH osd new "$uuid") && [ "$id" = 0 ] || skip "ceph osd new failed"
	ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >"$RGW_DIR/log/osd-mkfs.log" 2>&1 ||
		skip "ceph-osd --mkfs failed"
	ceph-osd -c "$conf" -i 0 2>>"$RGW_DIR/log/osd-start.log" || skip "ceph-osd did not start"
	wait_for 30 _rgw_osd_up || skip "Ceph OSD not up (logs in $RGW_DIR/log)"
	# radosgw daemonizes only once it is initialised
	radosgw -c "$conf" -n client.rgw.a || skip "radosgw did not start (logs in $RGW_DIR/log)"
	RGW_ENDPOINT=http://127.0.0.1:$port
	wait_for 30 quietly curl -sf -o /dev/null "$RGW_ENDPOINT/" || skip "radosgw not answering on $RGW_ENDPOINT"
	radosgw-admin -c "$conf" user create --uid=ferry --display-name=ferry \
		--access-key="$RGW_AK" --secret-key="$RGW_SK" >"$RGW_DIR/user.json" 2>&1 ||
		skip "radosgw-admin user create failed"
	info "Ceph RGW up at $RGW_ENDPOINT"
}

# rgw_pid NAME: the pid of our daemon NAME (mon.a, osd.0, client.rgw.a), if it runs.
_rgw_pid() {
	local f=$RGW_DIR/run/$1.pid pid
	[ -s "$f" ] || return 1
	pid=$(cat "$f")
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$RGW_DIR/ceph.conf" || return 1
	echo "$pid"
}

# rgw_stop [NAME...]: TERM our daemons (default: all, gateway first), wait up to 10 s, KILL.
rgw_stop() {
	[ -n "${RGW_DIR:-}" ] && [ -d "$RGW_DIR/run" ] || return 0
	local groups=("$@") g n p pids i
	[ ${#groups[@]} -eq 0 ] && groups=(client.rgw.a "osd.0 mon.a")
	for g in "${groups[@]}"; do
		pids=()
		for n in $g; do p=$(_rgw_pid "$n") && { kill -TERM "$p" 2>/dev/null; pids+=("$p"); }; done
		for ((i = 0; i < 100 && ${#pids[@]}; i++)); do
			local alive=()
			for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
			pids=(${alive[@]+"${alive[@]}"})
			[ ${#pids[@]} -eq 0 ] || sleep 0.1
		done
		for p in ${pids[@]+"${pids[@]}"}; do kill -KILL "$p" 2>/dev/null; done
	done
	return 0
}

# rgw_s3 CURL-ARGS...: curl signed as the test user (the query must already be canonical).
rgw_s3() {
	curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$RGW_AK:$RGW_SK" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

# rgw_mkbucket NAME
rgw_mkbucket() {
	local code
	code=$(rgw_s3 -o "$T/mkbucket.out" -w '%{http_code}' -X PUT "$RGW_ENDPOINT/$1") || true
	[ "$code" = 200 ] || fail "cannot create bucket $1 (HTTP $code): $(cat "$T/mkbucket.out" 2>/dev/null)"
}

# rgw_keys DIR: write the test user's keys as ak/sk files in DIR (mode 0600)
rgw_keys() {
	mkdir -p "$1"
	(umask 077; printf '%s\n' "$RGW_AK" >"$1/ak"; printf '%s\n' "$RGW_SK" >"$1/sk")
}
