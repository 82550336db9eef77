#!/usr/bin/env bash
# NBD over TLS (STARTTLS), with the clients qemu and libnbd ship (GnuTLS against ferryd's
# OpenSSL):
# - tls = require, X.509 and PSK: qemu-io writes and reads over TLS 1.3 and TLS 1.2 with a
#   certificate (the server's name checked against a test CA) and with a pre-shared key;
#   nbdcopy copies a disk in over X.509 and back out over PSK, exactly; nbdinfo --map works
#   inside TLS; clients without TLS (nbdinfo, qemu-io) and a wrong key are refused;
# - SIGHUP to tls = on with client certificates required (tls_ca_file): a plain client
#   works again, an X.509 client without a certificate is refused, one with a certificate
#   the CA signed gets in, named in ferryd's log;
# - every write made over TLS is in the replication log (replayed onto a zero file).
. "$(dirname "$0")/../lib/functions.sh"
require qemu-io qemu-img nbdcopy nbdinfo openssl python3

# ---- a test CA, server and client certificates, a PSK file ----
P=$T/pki; mkdir -p "$P/srv" "$P/cli" "$P/nocli" "$T/psk" "$T/badpsk"
mkcert() {	# NAME CN EXT
	openssl req -newkey rsa:2048 -nodes -keyout "$P/$1-key.pem" -out "$P/$1.csr" -subj "/CN=$2" 2>/dev/null &&
	printf '%s\n' "$3" >"$P/$1.ext" &&
	openssl x509 -req -in "$P/$1.csr" -CA "$P/ca-cert.pem" -CAkey "$P/ca-key.pem" -CAcreateserial \
		-out "$P/$1-cert.pem" -days 2 -extfile "$P/$1.ext" 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca-key.pem" -out "$P/ca-cert.pem" -days 2 \
	-subj /CN=ferry-test-ca -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "CA"
mkcert server localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment" || fail "server certificate"
mkcert client ferry-test-client "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment" || fail "client certificate"
cp "$P/ca-cert.pem" "$P/cli/"; cp "$P/ca-cert.pem" "$P/nocli/"
cp "$P/client-cert.pem" "$P/client-key.pem" "$P/cli/"
printf 'ferry:%s\n' "$(openssl rand -hex 32)" >"$T/psk/keys.psk"
printf 'ferry:%s\n' "$(openssl rand -hex 32)" >"$T/badpsk/keys.psk"
chmod 600 "$T/psk/keys.psk" "$P/server-key.pem"

write_config "$T/ferry.conf" 128M 1M vm0:"$T/vm0.raw":64M
sed -i "s|^\[nbd\]$|[nbd]\ntls = require\ntls_cert_file = $P/server-cert.pem\ntls_key_file = $P/server-key.pem\ntls_psk_file = $T/psk/keys.psk|" "$T/ferry.conf"
start_ferryd "$T/ferry.conf"
grep -q 'NBD TLS required: X.509 and PSK (1 identity)' "$T/ferryd.log" || fail "no TLS line at start"
PORT=${NBD_URI_BASE##*:}
qio() {	# CREDS-OBJECT QEMU-IO-ARGS...: qemu-io through TLS
	local obj=$1; shift
	qemu-io --object "$obj" --image-opts \
		"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$PORT,export=vm0,tls-creds=tls0" "$@"
}
X509="tls-creds-x509,id=tls0,endpoint=client,dir=$P/nocli"
PSK="tls-creds-psk,id=tls0,endpoint=client,dir=$T/psk,username=ferry"

# ---- required: TLS 1.3 and 1.2, X.509 and PSK ----
qio "$X509" -c "write -P 0x11 0 1M" -c "read -P 0x11 0 1M" >/dev/null || fail "qemu-io X.509 (TLS 1.3)"
qio "$X509,priority=NORMAL:-VERS-TLS1.3" -c "write -P 0x12 1M 1M" -c "read -P 0x11 0 1M" >/dev/null ||
	fail "qemu-io X.509 (TLS 1.2)"
qio "$PSK" -c "write -P 0x13 2M 1M" -c "read -P 0x12 1M 1M" >/dev/null || fail "qemu-io PSK (TLS 1.3)"
qio "$PSK,priority=NORMAL:-VERS-TLS1.3" -c "write -P 0x14 3M 1M" -c "read -P 0x13 2M 1M" >/dev/null ||
	fail "qemu-io PSK (TLS 1.2)"
grep -q 'TLS TLSv1.3 .*PSK identity .ferry.' "$T/ferryd.log" || fail "no TLS 1.3 PSK connection logged"
grep -q 'TLS TLSv1.2 .*PSK.*PSK identity .ferry.' "$T/ferryd.log" || fail "no TLS 1.2 PSK connection logged"
grep 'TLS TLSv' "$T/ferryd.log" >&2

# nbdcopy in over X.509, out over PSK; a map inside TLS
python3 -c 'import random, sys
r = random.Random(7); f = open(sys.argv[1], "wb")
for i in range(64):
    f.write(r.randbytes(1 << 20) if i % 3 == 0 else bytes(1 << 20))' "$T/src.raw"
nbdcopy "$T/src.raw" "nbds://127.0.0.1:$PORT/vm0?tls-certificates=$P/nocli" || fail "nbdcopy in over X.509"
truncate -s 64M "$T/out.raw"
nbdcopy "nbds://ferry@127.0.0.1:$PORT/vm0?tls-psk-file=$T/psk/keys.psk" "$T/out.raw" || fail "nbdcopy out over PSK"
cmp "$T/src.raw" "$T/out.raw" || fail "the copy out differs from the copy in"
nbdinfo --map "nbds://127.0.0.1:$PORT/vm0?tls-certificates=$P/nocli" >"$T/map" || fail "nbdinfo --map over TLS"
grep -q "hole" "$T/map" && grep -q "data" "$T/map" || fail "no holes and data in the map over TLS"

# refused: no TLS, a wrong key
nbdinfo "nbd://127.0.0.1:$PORT/vm0" >"$T/plain.out" 2>&1 && fail "a client without TLS was served"
qemu-io -f raw -c "read 0 4k" "nbd://127.0.0.1:$PORT/vm0" >"$T/plainq.out" 2>&1 && fail "qemu-io without TLS was served"
grep -q "requires TLS" "$T/plainq.out" || fail "qemu-io was not told TLS is required: $(cat "$T/plainq.out")"
qio "tls-creds-psk,id=tls0,endpoint=client,dir=$T/badpsk,username=ferry" -c "read 0 4k" >/dev/null 2>&1 &&
	fail "a wrong PSK was accepted"

# ---- SIGHUP: TLS on, client certificates required ----
sed -i "s|^tls = require$|tls = on\ntls_ca_file = $P/ca-cert.pem|" "$T/ferry.conf"
kill -HUP "$FERRYD_PID"
wait_for 10 grep -q 'SIGHUP: reloaded .*TLS credentials reloaded' "$T/ferryd.log" || fail "no TLS reload"
grep -q 'NBD TLS offered: X.509 and PSK' "$T/ferryd.log" || fail "TLS not offered after the reload"
qemu-io -f raw -c "write -P 0x15 4M 64k" -c "read -P 0x15 4M 64k" "nbd://127.0.0.1:$PORT/vm0" >/dev/null || fail "plain client with tls = on"
qio "$X509" -c "read 0 4k" >/dev/null 2>&1 && fail "an X.509 client without a certificate got in"
qio "tls-creds-x509,id=tls0,endpoint=client,dir=$P/cli" -c "read 0 4k" >/dev/null ||
	fail "an X.509 client with a certificate was refused"
grep -q 'client certificate .*CN.*ferry-test-client' "$T/ferryd.log" || fail "the client certificate is not logged"

# ---- every write over TLS is in the log ----
stop_ferryd
rm -f "$T/replay.raw"; truncate -s 64M "$T/replay.raw"
ferryctl log replay -c "$T/ferry.conf" --disk vm0 -o "$T/replay.raw" >/dev/null || fail "log replay"
cmp "$T/replay.raw" "$T/vm0.raw" || fail "the log does not replay to the primary"
pass
