# Helpers for the SNMP tests (sourced after functions.sh): FERRY-MIB with the IETF base MIBs
# it imports, real receivers (snmptrapd in the foreground on a loopback port with a private
# configuration), and waiting for a notification by its MIB name.
#
#   snmp_require                     # net-snmp tools and smitools, else exit 77
#   snmp_mibs                        # sets SNMP_MIBDIRS (mgmt/ + the IETF base MIBs)
#   snmptrapd_start NAME [PORT]      # sets TRAPD_PORT, TRAPD_LOG; v2c community "public",
#                                    # v3 users trapuser/informuser (SHA-256, AES); one line
#                                    # per notification: "NOTIFICATION PDU, version, who\tvarbinds"
#   snmptrapd_stop NAME
#   snmp_receiver FILE NAME ADDR v2c|v3 trap|inform [USER]   # appends [snmp-receiver NAME]
#   wait_notification LOG NAME [SECONDS]   # prints the first line with that notification
#   notification_field LINE OBJECT         # ferryNotifyDomain, ...Severity, ...Text, ...Sequence
#
# The IETF base MIBs (SNMPv2-SMI, -TC, -CONF, -MIB, ...) are in no Debian package at a
# standard path (snmp-mibs-downloader is non-free and downloads them at install time).
# Debian's erlang-snmp ships them: snmp_mibs fetches that package with apt-get download (a
# Debian package, as for any dependency) and unpacks it with dpkg-deb into a cache under
# build/, once. Nothing is installed and nothing else is downloaded.

SNMP_ENGINE_ID=0x80007ed9046665727279407465737473	# "ferry@tests": v3 traps' sender
SNMP_AUTH=authpass123
SNMP_PRIV=privpass123

snmp_require() {
	require snmptrapd snmpd snmpwalk snmpget snmptranslate smilint
}

snmp_mibs() {
	local cache=$TOP/build/snmp-mibs
	mkdir -p "$cache"
	if [ ! -s "$cache/mibs/SNMPv2-SMI.mib" ]; then
		(
			flock 9
			[ -s "$cache/mibs/SNMPv2-SMI.mib" ] && exit 0
			cd "$cache" || exit 1
			rm -rf deb x mibs && mkdir deb x mibs
			(cd deb && apt-get download erlang-snmp) >"$cache/apt.log" 2>&1 || exit 1
			dpkg-deb -x deb/erlang-snmp_*.deb x || exit 1
			cp x/usr/lib/erlang/lib/snmp-*/mibs/*.mib mibs/ && rm -rf deb x
		) 9>"$cache/.lock" ||
			skip "cannot get the IETF base MIBs (apt-get download erlang-snmp): $(tail -n 1 "$cache/apt.log" 2>/dev/null)"
	fi
	SNMP_MIBDIRS=$TOP/mgmt:$cache/mibs
	export SNMP_PERSISTENT_DIR=$T/snmp-persist	# tools write indexes there, not /var/lib
	mkdir -p "$SNMP_PERSISTENT_DIR"
}

# snmptrapd_start NAME [PORT]: a receiver on udp:127.0.0.1:PORT (a free one by default).
snmptrapd_start() {
	local name=$1 dir=$T/trapd-$1
	TRAPD_PORT=${2:-$(free_udp_port)}
	mkdir -p "$dir/persist"
	cat >"$dir/conf" <<-EOF
	snmpTrapdAddr udp:127.0.0.1:$TRAPD_PORT
	authCommunity log public
	createUser -e $SNMP_ENGINE_ID trapuser SHA-256 $SNMP_AUTH AES $SNMP_PRIV
	createUser informuser SHA-256 $SNMP_AUTH AES $SNMP_PRIV
	authUser log trapuser priv
	authUser log informuser priv
	EOF
	TRAPD_LOG=$dir/log	# its own messages, and one line per notification
	SNMP_PERSISTENT_DIR=$dir/persist snmptrapd -f -C -c "$dir/conf" -Lf "$TRAPD_LOG" \
		-M "$SNMP_MIBDIRS" -m FERRY-MIB:SNMPv2-MIB -F 'NOTIFICATION %P\t%v\n' \
		>"$dir/stdout" 2>&1 &
	local pid=$!
	_pids+=("$pid")
	echo "$pid" >"$dir/pid"
	wait_for 10 grep -qs 'NET-SNMP version' "$TRAPD_LOG" ||
		fail "snmptrapd $name did not start: $(tail -n 3 "$TRAPD_LOG" "$dir/stdout")"
}

snmptrapd_stop() {
	local dir=$T/trapd-$1 pid
	pid=$(cat "$dir/pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

# A free UDP port on 127.0.0.1.
free_udp_port() {
	python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1]); s.close()
PY
}

# snmp_receiver FILE NAME ADDRESS VERSION TYPE [USER]: the secrets go into $T/snmp-secrets.
snmp_receiver() {
	local f=$1 name=$2 addr=$3 ver=$4 type=$5 user=${6:-}
	local s=$T/snmp-secrets
	mkdir -p "$s"
	(umask 077; echo public >"$s/community"; echo "$SNMP_AUTH" >"$s/auth"; echo "$SNMP_PRIV" >"$s/priv")
	{
		echo "[snmp-receiver $name]"
		echo "address = $addr"
		echo "version = $ver"
		echo "type = $type"
		if [ "$ver" = v2c ]; then
			echo "community_file = $s/community"
		else
			echo "user = ${user:-$([ "$type" = trap ] && echo trapuser || echo informuser)}"
			echo "auth_password_file = $s/auth"
			echo "priv_password_file = $s/priv"
		fi
	} >>"$f"
}

# wait_notification LOG NAME [SECONDS]: the first notification NAME in LOG, printed.
wait_notification() {
	local log=$1 name=$2 t=${3:-30}
	if ! wait_for "$t" grep -qs "snmpTrapOID.0 = OID: FERRY-MIB::$name[[:space:]]" "$log"; then
		echo "--- notifications received:" >&2
		sed 's/.*snmpTrapOID.0 = OID: \([^[:space:]]*\).*ferryNotifyText.0 = STRING: \([^	]*\).*/\1 \2/' "$log" >&2
		fail "no $name within $t s"
	fi
	grep -m 1 "snmpTrapOID.0 = OID: FERRY-MIB::$name[[:space:]]" "$log"
}

# notification_field LINE OBJECT: the value of FERRY-MIB::OBJECT.0 in a received line
# (strings without their quotes, enums as their label, numbers as digits).
notification_field() {
	printf '%s\n' "$1" | tr '\t' '\n' | grep "^FERRY-MIB::$2.0 = " | head -n 1 |
		sed -e 's/^[^=]*= [A-Za-z0-9]*: //' -e 's/^"\(.*\)"$/\1/' -e 's/^\([a-z]*\)([0-9]*)$/\1/'
}

# notification_order LOG NAME...: the names appear in this order (first occurrences).
notification_order() {
	local log=$1 prev=0 n line; shift
	for n in "$@"; do
		line=$(grep -n "snmpTrapOID.0 = OID: FERRY-MIB::$n[[:space:]]" "$log" | head -n 1 | cut -d: -f1)
		[ -n "$line" ] || fail "$n was not received"
		[ "$line" -gt "$prev" ] || fail "$n came before the notification listed ahead of it"
		prev=$line
	done
}
