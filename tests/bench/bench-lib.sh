# Helpers for the benchmark scripts (sourced; the caller sets W, its scratch directory).
#   port                      a free TCP port on 127.0.0.1
#   waitport PORT             wait up to 10 s until something listens there
#   bench_ferryd_conf PORT LOGSIZE DOMAIN EXPORT:PATH [RPO]
#                             write $W/ferry.conf: log $W/replog, socket $W/ferryd.sock;
#                             with RPO, a [store] at file://$W/store with key $W/k (which
#                             the caller creates with ferryctl init)
#   bench_start_ferryd        start ${FERRYD:-build/bin/ferryd} on $W/ferry.conf, logging
#                             to $W/ferryd.log; FPID is its pid; waits for the ready line
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

bench_ferryd_conf() {
	local p=$1 logsize=$2 dom=$3 disk=$4 rpo=${5:-}
	{
		printf '[appliance]\nstate_dir = %s/state\n[nbd]\nlisten = 127.0.0.1:%s\n' "$W" "$p"
		printf '[log]\npath = %s/replog\nsize = %s\nmetadata_size = 4M\n' "$W" "$logsize"
		printf '[control]\nsocket = %s/ferryd.sock\n' "$W"
		if [ -n "$rpo" ]; then printf '[store]\nurl = file://%s/store\nkey_file = %s/k\n' "$W" "$W"; fi
		printf '[domain %s]\ndisk = %s\n' "$dom" "$disk"
		if [ -n "$rpo" ]; then printf 'rpo = %s\n' "$rpo"; fi
	} >"$W/ferry.conf"
}

bench_start_ferryd() {
	"${FERRYD:-build/bin/ferryd}" -c "$W/ferry.conf" >"$W/ferryd.log" 2>&1 &
	FPID=$!
	for _ in $(seq 600); do grep -q '^ferryd ready$' "$W/ferryd.log" && return 0; sleep 0.1; done
	cat "$W/ferryd.log" >&2
	return 1
}
