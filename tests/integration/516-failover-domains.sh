#!/usr/bin/env bash
# Several domains in one command: `failover start --mode forced -p alpha.plan -p beta.plan`
# checks both plans before either starts (a bad one stops both), then runs the two
# operations side by side; each domain ends FailedOver with its VM running re-IP'd.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require python3

lv_start
lv_net_create dr-net 10.2.0.1/24
guest_build
ferryctl init --store "file://$T/store" --key-file "$T/key" >/dev/null || fail "init"
# two domains of one VM each: alpha's db, beta's app (described, never run here)
guest_disk "$T/db.raw" db --ifupdown 10.1.0.11/24 --gw 10.1.0.1 --mac "${SITE_MAC[db]}" >/dev/null
guest_disk "$T/app.raw" app --netplan 10.1.0.12/24 --gw 10.1.0.1 --mac "${SITE_MAC[app]}" >/dev/null
write_config "$T/site.conf" 64M 1M "db:$T/db.raw"
sed -i 's/^\[domain dom\]$/[domain alpha]/' "$T/site.conf"
cat >>"$T/site.conf" <<C
[domain beta]
disk = app:$T/app.raw
[store]
url = file://$T/store
key_file = $T/key
[vm db]
domain = alpha
disks = db
memory = 256M
nic = prod-net ${SITE_MAC[db]} static 10.1.0.11/24 gw 10.1.0.1
[vm app]
domain = beta
disks = app
memory = 256M
nic = prod-net ${SITE_MAC[app]} static 10.1.0.12/24 gw 10.1.0.1
C
start_ferryd "$T/site.conf"
for d in alpha beta; do ferryctl point -c "$T/site.conf" --domain $d >/dev/null || fail "point $d"; done

agent_start
for d in alpha beta; do
	cat >"$T/$d.plan" <<P
[plan]
domain = $d
datastore = $T/dr-$d
format = raw
vm_prefix = $d-
[networks]
map = prod-net -> dr-net
[reip]
rule = 10.1.0.* -> 10.2.0.* gw 10.2.0.1
[vm $([ $d = alpha ] && echo db || echo app)]
check = tcp 7000
timeout = 180s
P
done
# all or none: beta's plan maps a network the recovery site does not have
sed 's/-> dr-net/-> no-net/' "$T/beta.plan" >"$T/beta-bad.plan"
rc=0; ferryctl failover start -a "$AGENT_SOCK" -p "$T/alpha.plan" -p "$T/beta-bad.plan" \
	--mode forced 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "no-net" "$T/err" || fail "a bad plan among two: $rc $(cat "$T/err")"
ferryctl failover status -a "$AGENT_SOCK" --domain alpha | grep -q '^domain alpha: Protected$' ||
	fail "alpha started although beta's plan was bad"
# a seed point (not crash-consistent: its disks may be torn) is refused before anything runs
seed=$(ferryctl points --store "file://$T/store" --key-file "$T/key" --domain alpha --json |
	python3 -c 'import json,sys; print(next(p["id"] for p in json.load(sys.stdin) if not p["consistent"]))') ||
	fail "alpha has no seed point"
rc=0; ferryctl failover start -a "$AGENT_SOCK" -p "$T/alpha.plan" --mode forced --point "$seed" \
	2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "point $seed of domain alpha is not crash-consistent" "$T/err" ||
	fail "the seed point $seed: $rc $(cat "$T/err")"
info "the seed point is refused: $(cat "$T/err")"

ferryctl failover start -a "$AGENT_SOCK" -p "$T/alpha.plan" -p "$T/beta.plan" --mode forced --wait ||
	{ cat "$T/agent.log" >&2; fail "two domains"; }
ferryctl failover status -a "$AGENT_SOCK" -p "$T/alpha.plan" -p "$T/beta.plan" | tee "$T/status" >&2
[ "$(grep -c ': FailedOver since' "$T/status")" = 2 ] || fail "not both FailedOver"
for v in alpha-db:11 beta-app:12; do
	[ "$(lv_virsh domstate "${v%:*}")" = running ] || fail "${v%:*} is not running"
	guest_tcp "10.2.0.${v#*:}" 20 >/dev/null || fail "${v%:*} does not answer at 10.2.0.${v#*:}"
done
# the two operations ran side by side
a=$(SITE_DOMAIN=alpha journal_step_time 1 "restore db/db" start)
b=$(SITE_DOMAIN=beta journal_step_time 1 "ready app" end)
[ "$a" -lt "$b" ] || fail "beta was done before alpha began"
pass
