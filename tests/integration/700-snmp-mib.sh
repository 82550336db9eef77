#!/usr/bin/env bash
# FERRY-MIB (mgmt/FERRY-MIB.txt): smilint at level 3 has nothing to say, snmptranslate loads
# it with the IETF base MIBs, and the notifications ferry sends (`ferryctl trap list`, the
# table in common/notify.c) are exactly the MIB's NOTIFICATION-TYPEs with the same OIDs. The
# status table's columns translate to the OIDs ferry-subagent serves.
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/snmp.sh"
snmp_require
snmp_mibs
MIB=$TOP/mgmt/FERRY-MIB.txt

SMIPATH=$SNMP_MIBDIRS smilint -l 3 -s "$MIB" >"$T/smilint.out" 2>&1
[ -s "$T/smilint.out" ] && { cat "$T/smilint.out" >&2; fail "smilint -l 3 reports problems"; }
info "smilint -l 3: clean"

tr() { snmptranslate -M "$SNMP_MIBDIRS" -m FERRY-MIB "$@" 2>"$T/translate.err"; }
[ "$(tr -On FERRY-MIB::ferryMIB)" = .1.3.6.1.4.1.32473 ] ||
	fail "snmptranslate cannot load FERRY-MIB: $(cat "$T/translate.err")"
grep -v '^Created directory' "$T/translate.err" >&2 && fail "snmptranslate warns"

# every notification ferry sends is in the MIB, under the same OID
ferryctl trap list >"$T/list" || fail "ferryctl trap list"
n=0
while read -r name oid severity; do
	got=$(tr -On "FERRY-MIB::$name") || fail "$name is not in FERRY-MIB"
	[ "$got" = "$oid" ] || fail "$name: ferry sends $oid, the MIB says $got"
	tr -Td "FERRY-MIB::$name" | grep -q "DESCRIPTION[[:space:]]*\"$severity\." ||
		fail "$name: the MIB's description does not start with its severity ($severity)"
	n=$((n + 1))
done <"$T/list"
# ... and every NOTIFICATION-TYPE of the MIB is sent by ferry
grep -o '^[a-zA-Z0-9]* NOTIFICATION-TYPE' "$MIB" | cut -d' ' -f1 | sort >"$T/mib-names"
cut -d' ' -f1 "$T/list" | sort >"$T/ferry-names"
diff "$T/mib-names" "$T/ferry-names" >&2 || fail "the MIB and ferry's table list different notifications"
info "$n notifications agree"

# the status table and scalars, as ferry-subagent serves them
for pair in ferryNotifySent:.1.3.6.1.4.1.32473.1.2.1 ferryNotifyFailed:.1.3.6.1.4.1.32473.1.2.4 \
	ferryDomainName:.1.3.6.1.4.1.32473.1.2.10.1.2 ferryDomainStoreHealth:.1.3.6.1.4.1.32473.1.2.10.1.8; do
	[ "$(tr -On "FERRY-MIB::${pair%%:*}")" = "${pair#*:}" ] || fail "${pair%%:*} is not at ${pair#*:}"
done
pass
