#!/usr/bin/env bash
# link_aggregation.routing with IPv6 (the uplinks stay IPv4), the router case.
# A host on a LAN behind the client has two IPv6 subnets: fd00:204::/64 is
# selected by source and bonded, fd00:205::/64 is not and keeps the client's
# own IPv6 route out of wan1. The client's own IPv6 traffic marked 0x10
# enters the bond too. Both agents give their bond an IPv6 address
# (bond_address_ipv6, nodad); the peer selects by destination: its IPv6
# rule sends fd00:204::/64 back into the bond (no route added by hand).
# 1. The bond addresses are there and usable at once, and reach each other.
# 2. The IPv6 rules and table are what the config says (the marks' rule in
#    both families, as the client's bond has an IPv6 address), nothing else
#    at the agent's priority, and an IPv6 rule and route a crashed run left
#    are gone; the log lists the IPv6 routes and rules.
# 3. A file from each of the host's subnets crosses intact; the bonded
#    subnet's bytes leave through mb0 and both paths, the direct one's
#    through wan1 and not mb0.
# 4. Marked IPv6 pings go through the bond, unmarked ones do not.
# 5. A stopped agent takes its IPv6 (and IPv4) rules and table routes with it.
# vmtest: shares the machine (it checks which path packets take)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

TABLE=7201
SERVER6=fd00:202::2
lab_create

# IPv6 beside IPv4 on link 1 and the peer's link (the direct subnet's way),
# and between the peer and the server.
lab_ns client ip -6 addr add fd00:201:1::2/64 dev wan1 nodad
lab_ns inet ip -6 addr add fd00:201:1::1/64 dev c1 nodad
lab_ns inet ip -6 addr add fd00:200::1/64 dev p0 nodad
lab_ns peer ip -6 addr add fd00:200::2/64 dev wan0 nodad
lab_ns peer ip -6 addr add fd00:202::1/64 dev lan0 nodad
lab_ns server ip -6 addr add "$SERVER6/64" dev lan0 nodad
for ns in client inet peer; do lab_ns "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1; done
lab_ns client ip -6 route add default via fd00:201:1::1 dev wan1
lab_ns peer ip -6 route add default via fd00:200::1 dev wan0
lab_ns server ip -6 route add default via fd00:202::1
lab_ns inet ip -6 route add fd00:202::/64 via fd00:200::2
# The direct subnet's replies come back over wan1, as an ISP routes a customer's prefix.
lab_ns inet ip -6 route add fd00:205::/64 via fd00:201:1::2

# The LAN host: one link to the client, an address in each subnet.
ip netns add "$LAB-host"
lab_ns host ip link set lo up
ip link add lan-host netns "$LAB-client" type veth peer name eth0 netns "$LAB-host"
lab_ns client ip -6 addr add fd00:204::1/64 dev lan-host nodad
lab_ns client ip -6 addr add fd00:205::1/64 dev lan-host nodad
lab_ns host ip -6 addr add fd00:204::2/64 dev eth0 nodad
lab_ns host ip -6 addr add fd00:205::2/64 dev eth0 nodad
lab_ns client ip link set lan-host up
lab_ns host ip link set eth0 up
# host_source SUBNET: the host's traffic to the server leaves from its address in that subnet.
host_source() {
  lab_ns host ip -6 route replace default via "fd00:$1::1" dev eth0 src "fd00:$1::2"
  lab_ns host ip -6 route get "$SERVER6" | lab_matches "src fd00:$1::2 " ||
    lab_fail "the host does not send from fd00:$1::2: $(lab_ns host ip -6 route get "$SERVER6")"
}

python3 - "$LAB_DIR/client.json" "$LAB_DIR/peer.json" <<'PY'
import json, sys
for path, own, peer, routing in (
        (sys.argv[1], "fd00:203::2/64", "fd00:203::1", {"sources": ["fd00:204::/64"], "fwmarks": ["0x10/0xff"]}),
        (sys.argv[2], "fd00:203::1/64", "fd00:203::2", {"destinations": ["fd00:204::/64"]})):
    config = json.load(open(path))
    config["link_aggregation"].update(
        {"bond_address_ipv6": own, "peer_bond_address_ipv6": peer, "routing": routing})
    json.dump(config, open(path, "w"), indent=2)
PY
# What a crashed run might have left at the agent's priority and table.
lab_ns client ip -6 rule add from fd00:99::/64 lookup "$TABLE" pref "$TABLE"
lab_ns client ip -6 route add fd00:99::/64 dev lo table "$TABLE"
lab_start_agents

# --- 1. Bond addresses --------------------------------------------------------------
for side in client:fd00:203::2 peer:fd00:203::1; do
  node="${side%%:*}" address="${side#*:}"
  lab_ns "$node" ip -6 addr show dev mb0 >"$LAB_DIR/$node-mb0-addr"
  lab_matches "inet6 $address/64 scope global" "$LAB_DIR/$node-mb0-addr" ||
    lab_fail "$node mb0 has no $address/64: $(cat "$LAB_DIR/$node-mb0-addr")"
  ! lab_matches tentative "$LAB_DIR/$node-mb0-addr" || lab_fail "$node mb0's IPv6 address is tentative"
done
lab_ns client ping -6 -c 3 -i 0.2 -W 1 -q fd00:203::1 >/dev/null ||
  lab_fail "the client cannot reach the peer's IPv6 bond address"
echo "ok: both bond IPv6 addresses in place, not tentative, reaching each other"

# --- 2. Rules and table ----------------------------------------------------------------
rules() { lab_ns "$1" ip "$2" rule show pref "$TABLE"; }  # rules NODE -4|-6
# table NODE -4|-6; a table no route was ever put in does not exist (an error): empty.
table() { lab_ns "$1" ip "$2" route show table "$TABLE" 2>/dev/null || true; }
rules client -6 >"$LAB_DIR/client-rules6"
rules peer -6 >"$LAB_DIR/peer-rules6"
cat "$LAB_DIR/client-rules6" "$LAB_DIR/peer-rules6"
lab_matches -x "$TABLE:	from fd00:204::/64 lookup $TABLE" "$LAB_DIR/client-rules6" ||
  lab_fail "no IPv6 source rule on the client"
lab_matches -x "$TABLE:	from all fwmark 0x10/0xff lookup $TABLE" "$LAB_DIR/client-rules6" ||
  lab_fail "no IPv6 fwmark rule on the client"
! lab_matches fd00:99:: "$LAB_DIR/client-rules6" || lab_fail "the crashed run's IPv6 rule is still there"
[[ "$(wc -l <"$LAB_DIR/client-rules6")" == 2 ]] || lab_fail "the client has other IPv6 rules at $TABLE"
[[ "$(rules client -4)" == "$TABLE:	from all fwmark 0x10/0xff lookup $TABLE" ]] ||
  lab_fail "client IPv4 rules at $TABLE: $(rules client -4)"
lab_matches -x "$TABLE:	from all to fd00:204::/64 lookup $TABLE" "$LAB_DIR/peer-rules6" &&
  [[ "$(wc -l <"$LAB_DIR/peer-rules6")" == 1 ]] || lab_fail "peer IPv6 rules: $(cat "$LAB_DIR/peer-rules6")"
[[ -z "$(rules peer -4)$(table peer -4)" ]] ||
  lab_fail "the peer routes only IPv6 but has IPv4 rules or routes at $TABLE"
table client -6 >"$LAB_DIR/client-table6"
lab_matches -x "default dev mb0 proto static metric 1024 pref medium" "$LAB_DIR/client-table6" &&
  [[ "$(wc -l <"$LAB_DIR/client-table6")" == 1 ]] || lab_fail "client IPv6 table $TABLE: $(cat "$LAB_DIR/client-table6")"
table client -4 >"$LAB_DIR/client-table4"
lab_matches -x "default dev mb0 proto static scope link *" "$LAB_DIR/client-table4" &&
  [[ "$(wc -l <"$LAB_DIR/client-table4")" == 1 ]] || lab_fail "client IPv4 table $TABLE: $(cat "$LAB_DIR/client-table4")"
[[ "$(table peer -6)" == "fd00:204::/64 dev mb0 proto static metric 1024 pref medium" ]] ||
  lab_fail "peer IPv6 table $TABLE: $(table peer -6)"
for line in "route -6 default dev mb0 table $TABLE" "rule -6 from fd00:204::/64 lookup $TABLE pref $TABLE" \
            "rule -6 from all fwmark 0x10/0xff lookup $TABLE pref $TABLE"; do
  lab_matches -F "routing: $line" "$LAB_DIR/client-agent.log" || lab_fail "the client did not log \"$line\""
done
echo "ok: IPv6 rules and table as configured, the marks' rule in both families, the stale rule replaced"

# --- 3. A file from each subnet ------------------------------------------------------
stat_of() { lab_ns client cat "/sys/class/net/$1/statistics/$2"; }
path_tx() { lab_path_field client "$1" tx_bytes; }  # path_tx ID
head -c 4M /dev/urandom >"$LAB_DIR/blob"
want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"
for subnet in 204 205; do
  host_source "$subnet"
  bond_before="$(stat_of mb0 tx_bytes)" wan1_before="$(stat_of wan1 tx_bytes)"
  p0_before="$(path_tx 0)" p1_before="$(path_tx 1)"
  report="$(LAB_BLOB_NS=host LAB_BLOB_SERVER="$SERVER6" lab_blob up "$LAB_DIR/blob")"
  lab_matches "\"sha256\": \"$want\"" <<<"$report" ||
    lab_fail "4 MB from fd00:$subnet::2 did not arrive intact: $report"
  bond_bytes=$(($(stat_of mb0 tx_bytes) - bond_before))
  wan1_bytes=$(($(stat_of wan1 tx_bytes) - wan1_before))
  p0=$(($(path_tx 0) - p0_before)) p1=$(($(path_tx 1) - p1_before))
  echo "fd00:$subnet::2, 4 MB up: mb0 sent $bond_bytes B, wan1 $wan1_bytes B; path 0 $p0 B, path 1 $p1 B"
  if ((subnet == 204)); then
    ((bond_bytes > 4000000)) || lab_fail "the bonded subnet's file did not go through mb0"
    ((p0 > 400000 && p1 > 400000)) || lab_fail "the bonded subnet's file did not use both paths"
  else
    ((bond_bytes < 400000)) || lab_fail "the direct subnet's file went through mb0 ($bond_bytes B)"
    ((wan1_bytes > 4000000)) || lab_fail "the direct subnet's file did not leave through wan1"
    ((p0 < 400000 && p1 < 400000)) || lab_fail "the direct subnet's file went over the bond's paths"
  fi
done
echo "ok: the bonded IPv6 subnet through the bond, the direct one around it"

# --- 4. Marks ---------------------------------------------------------------------------
lab_count_bond_pings
lab_check_marked_pings "$SERVER6" -6
echo "ok: marked IPv6 traffic through the bond, other marks around it"
# Status reads the IPv6 rules and routes back from the kernel: all there,
# and (more than one 5 s check later) never taken for removed.
for node in client peer; do
  missing="$(lab_status_eval "$node" "[e['what'] for e in s['health']['routing']['entries'] if not e['in_kernel']]")"
  [[ "$missing" == "[]" ]] || lab_fail "$node's status has its routing missing from the kernel: $missing"
  ! lab_matches "another program removed" "$LAB_DIR/$node-agent.log" ||
    lab_fail "$node took its own IPv6 routing for removed"
done

# --- 5. Stop ------------------------------------------------------------------------------
for node in client peer; do
  lab_stop_agent "$node" || lab_fail "the $node agent did not stop cleanly"
  for family in -4 -6; do
    [[ -z "$(rules "$node" "$family")" ]] || lab_fail "$node $family rules left after stop: $(rules "$node" "$family")"
    [[ -z "$(table "$node" "$family")" ]] || lab_fail "$node $family table $TABLE left after stop: $(table "$node" "$family")"
  done
done
echo "ok: stopped agents leave no IPv6 or IPv4 rule and no table route"
echo PASS
