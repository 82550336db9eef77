#!/usr/bin/env bash
# ferryctl plan validate: a dry run that rejects each bad plan with its own message (a
# cycle in the boot order, a VM or a network the domain does not have, an unmapped
# network, a Re-IP rule matching no NIC, two VMs on one address, a target network missing
# at the recovery site, a datastore without room, a driver that cannot be reached), and a
# plan with several problems with all of them, one per line; without an agent (-c FILE)
# and through one (-a), which answers 422 with the same lines. Nothing boots here: the
# VMs exist only as descriptions in the store.
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/functions.sh"
. "$(dirname "$0")/../lib/guests.sh"
. "$(dirname "$0")/../lib/failover.sh"
require python3 mount

lv_start
lv_net_create dr-net 10.2.0.1/24
guest_build
ferryctl init --store "file://$T/store" --key-file "$T/key" >/dev/null || fail "init"
SITE_DOMAIN=site
disks=()
for n in $SITE_NAMES; do
	guest_disk "$T/site-$n.raw" "$n" --ifupdown "${SITE_ADDR[$n]}/24" --size 64M >/dev/null
	disks+=("$n:$T/site-$n.raw")
done
write_config "$T/site.conf" 64M 1M "${disks[@]}"
sed -i "s/^\[domain dom\]\$/[domain site]/" "$T/site.conf"
printf '[store]\nurl = file://%s/store\nkey_file = %s/key\n' "$T" "$T" >>"$T/site.conf"
site_vm_sections >>"$T/site.conf"
start_ferryd "$T/site.conf"
ferryctl point -c "$T/site.conf" --domain site >/dev/null || fail "point"
agent_start

# check_bad NAME TEXT: $T/NAME.plan is refused (exit 1) with TEXT among its problems,
# without an agent and through one
check_bad() {
	local name=$1 text=$2 f=$T/$1.plan rc
	rc=0; ferryctl plan validate -p "$f" -c "$T/agent.conf" >"$T/out" 2>&1 || rc=$?
	[ $rc = 1 ] || { cat "$T/out" >&2; fail "$name: exit $rc, want 1"; }
	grep -qF -- "$text" "$T/out" || { cat "$T/out" >&2; fail "$name: no '$text'"; }
	rc=0; ferryctl plan validate -p "$f" -a "$AGENT_SOCK" >"$T/out2" 2>&1 || rc=$?
	[ $rc = 1 ] && grep -qF -- "$text" "$T/out2" || { cat "$T/out2" >&2; fail "$name via the agent"; }
	info "$name: $(grep -F -- "$text" "$T/out")"
}

write_plan "$T/good.plan"
ferryctl plan validate -p "$T/good.plan" -c "$T/agent.conf" | tee "$T/out" >&2 ||
	fail "the good plan is refused"
grep -q "valid; boot order: db app web" "$T/out" || fail "no boot order"
ferryctl plan validate -p "$T/good.plan" -c "$T/agent.conf" --json |
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and d["boot_order"]==["db","app","web"], d' ||
	fail "--json"
ferryctl plan validate -p "$T/good.plan" -a "$AGENT_SOCK" >/dev/null || fail "the agent refuses the good plan"
# before a plan is registered the domain is Protected (the store has it), then RecoveryReady
ferryctl failover status -a "$AGENT_SOCK" --domain site | grep -q '^domain site: Protected$' ||
	fail "not Protected before its plan"
ferryctl plan set -a "$AGENT_SOCK" -p "$T/good.plan" || fail "plan set"
ferryctl failover status -a "$AGENT_SOCK" --domain site | grep -q '^domain site: RecoveryReady' ||
	fail "not RecoveryReady after plan set"

sed 's/^\[vm db\]$/[vm db]\nafter = web/' "$T/good.plan" >"$T/cycle.plan"
check_bad cycle "boot order has a cycle: db -> web -> app -> db" 
{ cat "$T/good.plan"; printf '[vm cache]\ncheck = tcp 11211\n'; } >"$T/novm.plan"
check_bad novm "domain site has no VM 'cache'"
sed 's/^after = db$/after = db, cache/' "$T/good.plan" >"$T/noafter.plan"
check_bad noafter "[vm app] after: domain site has no VM 'cache'"
sed 's/^map = prod-net -> dr-net$/map = prod-net -> dr-net\nmap = lab-net -> dr-net/' "$T/good.plan" >"$T/nonet.plan"
check_bad nonet "domain site has no network 'lab-net'"
sed '/^map = /d' "$T/good.plan" >"$T/unmapped.plan"
check_bad unmapped "network 'prod-net' (VM db) is not mapped"
sed 's/^rule = .*/rule = 10.1.0.11 -> 10.2.0.5\nrule = 10.1.0.12 -> 10.2.0.5\nrule = 10.1.0.13 -> 10.2.0.13/' \
	"$T/good.plan" >"$T/sameaddr.plan"
check_bad sameaddr "VMs db and app would both have address 10.2.0.5"
sed 's/^rule = .*/&\nrule = 192.168.*.* -> 10.9.*.*/' "$T/good.plan" >"$T/norule.plan"
check_bad norule "[reip] rule '192.168.*.* -> 10.9.*.*' (line 13) matches no NIC of domain site"
sed 's/^map = prod-net -> dr-net$/map = prod-net -> nowhere-net/' "$T/good.plan" >"$T/notarget.plan"
check_bad notarget "target network 'nowhere-net' does not exist at the recovery site"
mkdir -p "$T/small"
mount -t tmpfs -o size=256k tmpfs "$T/small" || skip "cannot mount a tmpfs here"
cleanup_fn "umount '$T/small'"
sed "s|^datastore = .*|datastore = $T/small/dr|" "$T/good.plan" >"$T/noroom.plan"
check_bad noroom "datastore $T/small/dr has no room for the disks"
{ cat "$T/good.plan"; printf '[hypervisor]\ndriver = libvirt\nuri = qemu:///system?socket=%s/none.sock\n' "$T"; } \
	>"$T/nodriver.plan"
check_bad nodriver "hypervisor driver libvirt cannot be reached"

# every problem at once, one per line
sed -e 's/^\[vm db\]$/[vm db]\nafter = web/' -e '/^map = /d' \
	-e 's/^rule = .*/&\nrule = 192.168.*.* -> 10.9.*.*/' \
	-e "s|^datastore = .*|datastore = $T/small/dr|" "$T/good.plan" >"$T/all.plan"
rc=0; ferryctl plan validate -p "$T/all.plan" -c "$T/agent.conf" >"$T/out" 2>&1 || rc=$?
cat "$T/out" >&2
[ $rc = 1 ] || fail "all: exit $rc"
for t in "boot order has a cycle" "is not mapped" "matches no NIC" "has no room"; do
	grep -q "$t" "$T/out" || fail "all: '$t' missing"
done
[ "$(wc -l <"$T/out")" -ge 4 ] || fail "all: not one line per problem"
# mode rules
check_mode() {	# MODE TEXT PLAN
	local rc=0
	ferryctl plan validate -p "$3" -c "$T/agent.conf" --mode "$1" >"$T/out" 2>&1 || rc=$?
	[ $rc = 1 ] && grep -qF "$2" "$T/out" || { cat "$T/out" >&2; fail "--mode $1"; }
}
check_mode continuous "continuous failover needs format = vmdk-flat (the plan has raw)" "$T/good.plan"
check_mode planned "planned failover needs [protected] control" "$T/good.plan"
sed '/^test_network/d; /^test_address/d' "$T/good.plan" >"$T/notest.plan"
check_mode test "test failover needs [plan] test_network" "$T/notest.plan"
pass
