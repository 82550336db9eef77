#!/usr/bin/env bash
# VM descriptions travel with the data (issue 13 section 1): ferryd stores the [vm]
# sections of its domain in the repository when it starts, only when they changed;
# `ferryctl domains` shows the domain's VMs, disks with sizes and the newest consistent
# point from the store and the key alone (text and --json); verify checks the sets; a
# [vm] naming a disk its domain lacks stops ferryd with FILE:LINE.
. "$(dirname "$0")/../lib/functions.sh"
require python3

STORE=file://$T/store
ferryctl init --store "$STORE" --key-file "$T/store.key" >/dev/null || fail "init"
write_config "$T/base.conf" 16M 1M db-os:"$T/db-os.raw":24M db-data:"$T/db-data.raw":8M \
	web-os:"$T/web-os.raw":16M
printf '[store]\nurl = %s\nkey_file = %s\n' "$STORE" "$T/store.key" >>"$T/base.conf"
vms() {	# CPUS of db
	cat <<EOT
[vm db]
domain = dom
disks = db-os, db-data
cpus = $1
memory = 2G
firmware = uefi
nic = prod-net 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2,8.8.8.8
nic = backup-net 52:54:00:12:34:57 dhcp

[vm web]
domain = dom
disks = web-os
memory = 512M
nic = prod-net 52:54:00:00:00:03 static 10.1.0.13/24 gw 10.1.0.1
EOT
}
{ cat "$T/base.conf"; vms 2; } >"$T/ferry.conf"
nsets() { find "$T/store/domains/dom/vms" -type f 2>/dev/null | wc -l; }

start_ferryd "$T/ferry.conf"
grep -q "domain dom: stored its VM descriptions (2 VMs)" "$T/ferryd.log" ||
	fail "ferryd did not say it stored the VM descriptions: $(cat "$T/ferryd.log")"
[ "$(nsets)" = 1 ] || fail "expected 1 VM set in the store, found $(nsets)"
p1=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point"
p1=${p1#ok }

# the recovery site's view: the store and the key, nothing else
ferryctl domains --store "$STORE" --key-file "$T/store.key" --json >"$T/domains.json" ||
	fail "domains --json"
python3 - "$T/domains.json" "$p1" <<'PY' || fail "domains --json: $(cat "$T/domains.json")"
import json, sys
d = json.load(open(sys.argv[1]))["domains"]
assert [x["name"] for x in d] == ["dom"], d
dom = d[0]
assert dom["latest"]["id"] == sys.argv[2], dom["latest"]
assert dom["latest"]["consistent"] and 0 <= dom["latest"]["age_s"] < 600
db, web = dom["vms"]
assert (db["name"], db["cpus"], db["memory_mib"], db["firmware"]) == ("db", 2, 2048, "uefi"), db
assert db["disks"] == [{"name": "db-os", "size": 24 << 20}, {"name": "db-data", "size": 8 << 20}], db
assert db["nics"][0] == {"network": "prod-net", "mac": "52:54:00:12:34:56", "mode": "static",
    "addr": "10.1.0.11", "prefix": 24, "gw": "10.1.0.1", "dns": ["10.1.0.2", "8.8.8.8"]}, db["nics"]
assert db["nics"][1] == {"network": "backup-net", "mac": "52:54:00:12:34:57", "mode": "dhcp"}
assert (web["name"], web["cpus"], web["memory_mib"], web["firmware"]) == ("web", 1, 512, "bios")
assert web["disks"] == [{"name": "web-os", "size": 16 << 20}]
assert dom["other_disks"] == []
PY
ferryctl domains --store "$STORE" --key-file "$T/store.key" >"$T/domains.txt" || fail "domains"
grep -qE "^domain dom: [0-9]+ points, newest consistent $p1 at .* \([0-9]+s ago\)$" "$T/domains.txt" ||
	fail "domains does not show point $p1 and its age: $(cat "$T/domains.txt")"
for want in "  vm db: 2 cpus, 2048 MiB, uefi" "    disk db-data              8388608 bytes" \
	"    nic  prod-net 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2,8.8.8.8" \
	"  vm web: 1 cpus, 512 MiB, bios"; do
	grep -qF -- "$want" "$T/domains.txt" || fail "domains does not show '$want': $(cat "$T/domains.txt")"
done
ferryctl domains --store "$STORE" --key-file "$T/store.key" --domain nope >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "no domain 'nope' in .*; its domains: " "$T/err" || fail "domains --domain nope"
ferryctl domains --store "$STORE" >/dev/null 2>"$T/err"
[ $? = 1 ] || fail "domains without the key file must fail: $(cat "$T/err")"

# a restart with the same descriptions writes nothing; a change writes a new set
stop_ferryd
start_ferryd "$T/ferry.conf"
grep -q "stored its VM descriptions" "$T/ferryd.log" && fail "an unchanged set was stored again"
[ "$(nsets)" = 1 ] || fail "expected still 1 VM set, found $(nsets)"
stop_ferryd
{ cat "$T/base.conf"; vms 4; } >"$T/ferry.conf"
start_ferryd "$T/ferry.conf"
grep -q "domain dom: stored its VM descriptions (2 VMs)" "$T/ferryd.log" || fail "changed set not stored"
[ "$(nsets)" = 2 ] || fail "expected 2 VM sets, found $(nsets)"
p2=$(ferryctl point -c "$T/ferry.conf" --domain dom --wait) || fail "point 2"
p2=${p2#ok }
ferryctl domains -c "$T/ferry.conf" --json | python3 -c '
import json, sys
dom = json.load(sys.stdin)["domains"][0]
assert dom["latest"]["id"] == sys.argv[1] and dom["vms"][0]["cpus"] == 4, dom' "$p2" ||
	fail "domains does not show the new description at point $p2"
stop_ferryd
ferryctl verify --store "$STORE" --key-file "$T/store.key" >"$T/verify.txt" ||
	fail "verify: $(cat "$T/verify.txt")"

# a [vm] with a disk its domain does not have: ferryd refuses to start, FILE:LINE
{ cat "$T/base.conf"; vms 2 | sed 's/^disks = web-os$/disks = web-os, web-data/'; } >"$T/bad.conf"
line=$(grep -n '^disks = web-os, web-data$' "$T/bad.conf" | cut -d: -f1)
rc=0; ferryd -c "$T/bad.conf" >/dev/null 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "ferryd with a bad [vm] exited $rc"
grep -qF "$T/bad.conf:$line: vm 'web': disk 'web-data' is not an export of domain 'dom'" "$T/err" ||
	fail "unexpected error: $(cat "$T/err")"
pass
