#!/usr/bin/env bash
# link_aggregation.routing: the agents choose what enters the bond, the
# router case. Two LANs behind the client: 10.204.0.0/24 (host "bonded") is
# selected by source, 10.205.0.0/24 (host "direct") is not and keeps the
# client's own route out of wan1; the client's own traffic marked 0x10
# enters the bond too. The peer selects by destination: its rule sends
# 10.204.0.0/24 back into the bond (no route added by hand).
# 1. The rules and the table are what the config says, and a rule a crashed
#    run left at the agent's priority is gone; the IPv4-only config makes no
#    IPv6 rule or route (IPv6 policy routing: test_policy_routing_ipv6.sh).
# 2. A file from each host crosses intact; the bonded host's bytes leave
#    through mb0 and both paths, the direct host's through wan1 and not mb0.
# 3. Marked pings go through the bond, unmarked ones do not; so do pings
#    from a process in a cgroup the client selects (routing.cgroups: the
#    agent marks that cgroup's sockets), and not from one outside it.
# 4. A stopped agent takes its rules, its table and its cgroup mark with it.
# vmtest: shares the machine (it checks which path packets take)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
# A cgroup of its own, below the cgroup2 mount (the only thing outside the
# lab's namespaces the test makes; removed at the end).
CGROUP_ROOT="$(findmnt -n -t cgroup2 -o TARGET | head -1)"
[[ -n "$CGROUP_ROOT" ]] || { echo "SKIP: no cgroup2 mount"; exit 77; }
CGROUP="meshbpf-lab-$$"
cleanup() {
  lab_cleanup
  rmdir "$CGROUP_ROOT/$CGROUP" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$CGROUP_ROOT/$CGROUP"
export LAB_AGENT_CGROUP2=1

TABLE=7201
lab_create
for side in bonded:10.204 direct:10.205; do
  name="${side%%:*}" net="${side#*:}"
  ip netns add "$LAB-$name"
  lab_ns "$name" ip link set lo up
  lab_link client "lan-$name" "$net.0.1/24" "$name" eth0 "$net.0.2/24"
  lab_ns "$name" ip route add default via "$net.0.1"
done
lab_ns client sysctl -qw net.ipv4.ip_forward=1
# The direct LAN's replies come back over wan1, as an ISP routes a customer's prefix.
lab_ns inet ip route add 10.205.0.0/24 via 10.201.1.2
python3 - "$LAB_DIR/client.json" "$LAB_DIR/peer.json" "$CGROUP" <<'PY'
import json, sys
for path, routing in ((sys.argv[1], {"sources": ["10.204.0.0/24"], "fwmarks": ["0x10/0xff"],
                                     "cgroups": [sys.argv[3]]}),
                      (sys.argv[2], {"destinations": ["10.204.0.0/24"]})):
    config = json.load(open(path))
    config["link_aggregation"]["routing"] = routing
    json.dump(config, open(path, "w"), indent=2)
PY
# What a crashed run might have left at the agent's priority and table.
lab_ns client ip rule add from 10.99.0.0/16 lookup "$TABLE" pref "$TABLE"
lab_ns client ip route add 10.99.0.0/16 dev lo table "$TABLE"
lab_start_agents
lab_route_client wan1

# --- 1. Rules and table ---------------------------------------------------------
rules() { lab_ns "$1" ip rule show pref "$TABLE"; }
rules client >"$LAB_DIR/client-rules"
rules peer >"$LAB_DIR/peer-rules"
cat "$LAB_DIR/client-rules" "$LAB_DIR/peer-rules"
lab_matches -x "$TABLE:	from 10.204.0.0/24 lookup $TABLE" "$LAB_DIR/client-rules" ||
  lab_fail "no source rule on the client"
lab_matches -x "$TABLE:	from all fwmark 0x10/0xff lookup $TABLE" "$LAB_DIR/client-rules" ||
  lab_fail "no fwmark rule on the client"
lab_matches -x "$TABLE:	from all to 10.204.0.0/24 lookup $TABLE" "$LAB_DIR/peer-rules" ||
  lab_fail "no destination rule on the peer"
! lab_matches 10.99.0.0 "$LAB_DIR/client-rules" || lab_fail "the crashed run's rule is still there"
lab_matches -x "$TABLE:	from all fwmark 0x4d42 lookup $TABLE" "$LAB_DIR/client-rules" ||
  lab_fail "no rule for the cgroup's mark on the client"
[[ "$(wc -l <"$LAB_DIR/client-rules")" == 3 ]] || lab_fail "the client has other rules at $TABLE"
lab_matches "routing: cgroup $CGROUP marked 0x4d42" "$LAB_DIR/client-agent.log" ||
  lab_fail "the client did not log the cgroup it marks"
lab_ns client ip route show table "$TABLE" >"$LAB_DIR/client-table"
lab_matches -x "default dev mb0 proto static scope link *" "$LAB_DIR/client-table" &&
  [[ "$(wc -l <"$LAB_DIR/client-table")" == 1 ]] || lab_fail "client table $TABLE: $(cat "$LAB_DIR/client-table")"
lab_matches "routing: rule from 10.204.0.0/24 lookup $TABLE pref $TABLE" "$LAB_DIR/client-agent.log" ||
  lab_fail "the client did not log its rules"
# IPv4-only routing: nothing IPv6 appears (no rule, no default route into
# the bond; a table nothing was put in does not exist, an error: empty).
for node in client peer; do
  [[ -z "$(lab_ns "$node" ip -6 rule show pref "$TABLE")$(lab_ns "$node" ip -6 route show table "$TABLE" 2>/dev/null)" ]] ||
    lab_fail "$node has IPv6 rules or routes at $TABLE from an IPv4-only config"
done
echo "ok: rules and table as configured, the stale rule replaced, nothing IPv6"
lab_status_eval client "'\\n'.join(e['what'] + ' ' + str(e['in_kernel']) for e in s['health']['routing']['entries'])" |
  lab_matches -x "rule from 10.204.0.0/24 lookup $TABLE pref $TABLE True" ||
  lab_fail "status --json does not show the source rule as in the kernel"

# Another program (a network manager applying its own rules) removes one
# rule and the table's route: the agent sees it and puts the plan back.
lab_ns client ip rule del from 10.204.0.0/24 lookup "$TABLE" pref "$TABLE"
lab_ns client ip route flush table "$TABLE"
removed_at="$(date +%s.%N)"
routing_back() {
  [[ "$(rules client | wc -l)" == 3 && -n "$(lab_ns client ip route show table "$TABLE")" ]]
}
wait_until 15 "the client's agent putting its routing back" routing_back
echo "measured: the removed rule and route were back $(python3 -c "import sys, time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$removed_at") s later (checked every 5 s)"
lab_matches "routing: another program removed route default dev mb0 table $TABLE, rule from 10.204.0.0/24 lookup $TABLE pref $TABLE; installing the plan again" \
  "$LAB_DIR/client-agent.log" || lab_fail "the client did not log what was removed"
[[ "$(lab_status_eval client "s['health']['routing']['reinstalls']")" == 1 ]] ||
  lab_fail "status does not count the reinstall: $(lab_status_eval client "s['health']['routing']")"

# --- 2. A file from each LAN ------------------------------------------------------
stat_of() { lab_ns client cat "/sys/class/net/$1/statistics/$2"; }
path_tx() { lab_path_field client "$1" tx_bytes; }  # path_tx ID
for host in bonded direct; do
  bond_before="$(stat_of mb0 tx_bytes)" wan1_before="$(stat_of wan1 tx_bytes)"
  p0_before="$(path_tx 0)" p1_before="$(path_tx 1)"
  head -c 4M /dev/urandom >"$LAB_DIR/blob"
  want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"
  report="$(LAB_BLOB_NS="$host" lab_blob up "$LAB_DIR/blob")"
  lab_matches "\"sha256\": \"$want\"" <<<"$report" || lab_fail "4 MB from $host did not arrive intact: $report"
  bond_bytes=$(($(stat_of mb0 tx_bytes) - bond_before))
  wan1_bytes=$(($(stat_of wan1 tx_bytes) - wan1_before))
  p0=$(($(path_tx 0) - p0_before)) p1=$(($(path_tx 1) - p1_before))
  echo "$host host, 4 MB up: mb0 sent $bond_bytes B, wan1 $wan1_bytes B; path 0 $p0 B, path 1 $p1 B"
  if [[ "$host" == bonded ]]; then
    ((bond_bytes > 4000000)) || lab_fail "the bonded host's file did not go through mb0"
    ((p0 > 400000 && p1 > 400000)) || lab_fail "the bonded host's file did not use both paths"
  else
    ((bond_bytes < 400000)) || lab_fail "the direct host's file went through mb0 ($bond_bytes B)"
    ((wan1_bytes > 4000000)) || lab_fail "the direct host's file did not leave through wan1"
  fi
done
echo "ok: the bonded LAN through the bond, the direct LAN around it"

# --- 3. Marks ---------------------------------------------------------------------
lab_count_bond_pings
lab_check_marked_pings "$SERVER_IP"
echo "ok: marked traffic through the bond, other marks around it"
# ping_from CGROUP_DIR: 5 pings from a process in that cgroup; prints how many
# went through mb0.
ping_from() {
  local before
  before="$(lab_bond_pings)"
  bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" ping -c 5 -i 0.1 -W 1 -q "$3"' \
    _ "$1" "$LAB-client" "$SERVER_IP" >/dev/null || lab_fail "pings from cgroup $1 got no answers"
  echo $(($(lab_bond_pings) - before))
}
in_cgroup="$(ping_from "$CGROUP_ROOT/$CGROUP")"
outside="$(ping_from "$CGROUP_ROOT")"
echo "5 pings from a process in $CGROUP: $in_cgroup through mb0; from one outside it: $outside"
((in_cgroup == 5)) || lab_fail "pings from the selected cgroup did not all enter the bond"
((outside == 0)) || lab_fail "pings from outside the selected cgroup entered the bond"
echo "ok: the selected cgroup's traffic through the bond, other processes' around it"

# --- 4. Stop --------------------------------------------------------------------------
for node in client peer; do
  lab_stop_agent "$node" || lab_fail "the $node agent did not stop cleanly"
  [[ -z "$(rules "$node")" ]] || lab_fail "$node rules left after stop: $(rules "$node")"
  [[ -z "$(lab_ns "$node" ip route show table "$TABLE")" ]] || lab_fail "$node table $TABLE left after stop"
done
[[ "$(ping_from "$CGROUP_ROOT/$CGROUP")" == 0 ]] || lab_fail "the cgroup's sockets still marked after stop"
echo "ok: stopped agents leave no rules, no table and no cgroup mark"
echo PASS
