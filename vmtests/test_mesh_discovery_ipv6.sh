#!/usr/bin/env bash
# Mesh discovery over IPv6 (vmtests/lib/mesh_lab.sh, mesh_join_lan_ipv6),
# announcing every 0.5 s and forgetting nodes after 2 s. On one LAN:
#   node 1, node 2: IPv6 only (fe80::1, fe80::2; no IPv4 address on lan0),
#   node 3, node 4: dual-stack (fe80::N and 10.210.0.N/24).
# Every node shares its uplink wan0; node 3 also has a relayed path, mesh1,
# through node 1 only. Checked:
#  - all four discover each other; the IPv6-only nodes announce over IPv6
#    alone, without send errors;
#  - node 3, heard by node 4 over both families, is one node with both
#    addresses; both copies of each announcement are taken, none counted as
#    a replay;
#  - a relay keeps the bonding peer's family, here IPv4 (every node's peer
#    and uplink are IPv4): node 4 offers node 3's uplink as a candidate
#    relayed path (at its IPv4 address), not those of nodes 1 and 2, heard
#    over IPv6 only; node 1 has no candidate, and says in `peers --json` and
#    the log why it cannot relay for node 3 (heard only over IPv6); node
#    3's relayed path stays empty with the reason in `status`
#    (test_mesh_relay_ipv6.sh relays over IPv6);
#  - an IPv6 datagram from beyond the link (hop limit 254) and an IPv4 copy
#    replayed over IPv6 are dropped by reason;
#  - node 4 loses its IPv4 address: node 3 forgets that address after
#    node_timeout but keeps the node, heard over IPv6, and withdraws its
#    candidate relayed path;
#  - a SIGKILLed IPv6-only node is removed after node_timeout;
#  - a node whose LAN device is deleted and created again is heard again.
# vmtest: shares the machine (its time limits are multiples of node_timeout)
set -euo pipefail
source "$(dirname "$0")/lib/mesh_lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

MESH_NODES=4
mesh_begin br isp n1 n2 n3 n4
mesh_join_lan_ipv6 n1 1
mesh_join_lan_ipv6 n2 2
mesh_join_lan_ipv6 n3 3 dual
mesh_join_lan_ipv6 n4 4 dual
for n in 1 2 3 4; do
  lab_link "mesh-n$n" wan0 "10.211.$n.2/24" mesh-isp "n$n" "10.211.$n.1/24"
  mesh_write_config "$n" "$MESH_KEY"
done
python3 - "$LAB_DIR/n3.json" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
config["interfaces"]["uplinks"].append({"name": "mesh1", "relay": {"node": "node1"}, "rate_mbit": 20})
json.dump(config, open(sys.argv[1], "w"))
EOF
[[ -z "$(mesh_ns n1 ip -4 addr show dev lan0)" ]] || lab_fail "node 1's lan0 has an IPv4 address"

for n in 1 2 3 4; do mesh_start_agent "$n"; done
started="$(now)"

# 1. Discovery: everyone knows everyone, over whatever family they share.
wait_known "1 2 3 4" "node1 node2 node3 node4"
echo "ok: nodes 1-4 know each other $(elapsed "$started" "$(now)") s after node 4 (the last) started"
mesh_cli 4 peers

# The families node N heard node M over, and the addresses: heard N M
heard() {
  peers_eval "$1" "' '.join(a['family'] + '=' + a['address'] for a in
                   [x for x in p['nodes'] if x['name'] == 'node$2'][0]['addresses'])"
}
node_field() { peers_eval "$1" "[x for x in p['nodes'] if x['name'] == 'node$2'][0]['$3']"; }

[[ "$(heard 2 1)" == "ipv6=fe80::1%lan0" ]] || lab_fail "node 2 heard node 1 as: $(heard 2 1)"
[[ "$(heard 1 2)" == "ipv6=fe80::2%lan0" ]] || lab_fail "node 1 heard node 2 as: $(heard 1 2)"
[[ "$(heard 1 3)" == "ipv6=fe80::3%lan0" ]] ||
  lab_fail "node 1 (no IPv4 on the LAN) heard node 3 as: $(heard 1 3)"
[[ "$(heard 4 3)" == "ipv4=10.210.0.3 ipv6=fe80::3%lan0" ]] ||
  lab_fail "node 4 heard node 3 as: $(heard 4 3)"
[[ "$(node_field 4 3 address)" == 10.210.0.3 ]] || lab_fail "node 4 shows node 3 at $(node_field 4 3 address)"
[[ "$(peers_eval 4 'len(p["nodes"])')" == 3 ]] || lab_fail "node 4 lists $(peers_eval 4 'len(p["nodes"])') nodes"
[[ "$(mesh_cli 1 status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["health"]["nodes"])')" == 3 ]] ||
  lab_fail "node 1's status does not count 3 nodes"
echo "ok: node 3 is one node to node 4, heard from 10.210.0.3 and fe80::3%lan0; IPv6-only nodes at their link-local addresses"

sleep 2  # a few announcements more, over both families
for n in 3 4; do
  [[ "$(drops "$n" replayed)" == 0 ]] ||
    lab_fail "node $n counted replays: the copies over two families clash: $(peers_eval "$n" 'p["drops"]')"
done
for n in 1 2 3 4; do
  [[ "$(peers_eval "$n" 'p["drops_total"]')" == 0 ]] || lab_fail "node $n dropped: $(peers_eval "$n" 'p["drops"]')"
  [[ "$(peers_eval "$n" 'p["node"]["send_errors"]')" == 0 ]] || lab_fail "node $n has send errors"
done
grep -q "announcing over IPv6 only (no IPv4 address) on lan0" "$LAB_DIR/n1-agent.log" ||
  lab_fail "node 1 did not log announcing over IPv6 only"
grep -q "announcing over IPv4 and IPv6 on lan0" "$LAB_DIR/n4-agent.log" ||
  lab_fail "node 4 did not log announcing over both families"
echo "ok: no drops, no send errors; node 1 announces over IPv6 only, node 4 over both"

# 2. Relaying in the peers' family, IPv4.
candidates() {
  peers_eval "$1" '" ".join(sorted(c["node_name"] + "/" + c["uplink"]["name"] + "@" + c["address"] for c in p["candidate_relayed_paths"]))'
}
[[ "$(candidates 4)" == "node3/wan0@10.210.0.3" ]] || lab_fail "node 4's candidate relayed paths: $(candidates 4)"
[[ -z "$(candidates 1)" ]] || lab_fail "node 1 (IPv6 only) has candidate relayed paths: $(candidates 1)"
unsupported="its bonding peer 10.211.3.1 is IPv4 but it is heard only over IPv6: a relay keeps the peer's family on the LAN too"
[[ "$(node_field 1 3 relay_unsupported)" == "$unsupported" ]] ||
  lab_fail "node 1 gives no reason for not relaying for node 3: $(node_field 1 3 relay_unsupported)"
[[ "$(node_field 4 3 relay_unsupported)" == None ]] || lab_fail "node 4 finds a problem with node 3"
grep -qF "(node3) at fe80::3%lan0: no relaying with it: $unsupported" "$LAB_DIR/n1-agent.log" ||
  lab_fail "node 1 did not log why it relays nothing for node 3"
mesh1_unavailable="$(mesh_cli 3 status --json | python3 -c '
import json, sys
print([p for p in json.load(sys.stdin)["health"]["paths"] if p["name"] == "mesh1"][0]["relay_unavailable"])')"
[[ "$mesh1_unavailable" == "a relayed path takes the bonding peer's family (IPv4): node1 (fe80::1%lan0): not heard over IPv4" ]] ||
  lab_fail "node 3's status says of its relayed path mesh1: $mesh1_unavailable"
mesh_cli 3 status | grep -qF "path mesh1: relayed, no neighbour's uplink fills it now (a relayed path takes the bonding peer's family (IPv4)" ||
  lab_fail "node 3's status text does not say why mesh1 is empty"
echo "ok: node 4 offers node3/wan0 at 10.210.0.3 only; node 1 cannot relay for node 3: \"$unsupported\""
echo "ok: node 3's mesh1 (through node 1 only) is empty: $mesh1_unavailable"

# 3. Hostile datagrams: from node 2's namespace one with hop limit 254 (as
# if routed); from node 4's, node 3's IPv4 broadcast caught and replayed
# over IPv6 (node 2 has no IPv4 on the LAN to catch it with).
off_link_before="$(drops 1 off_link)"
mesh_ns n2 python3 - "$MESH_PORT" <<'EOF'
import socket, sys
port = int(sys.argv[1])
ifindex = socket.if_nametoindex("lan0")
group = ("ff02::6d62", port, 0, ifindex)
routed = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
routed.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 254)
routed.sendto(b"MBAN" + bytes(100), group)
EOF
mesh_catch_announcement n4 10.210.0.3 "$LAB_DIR/node3-announcement"
mesh_ns n4 python3 - "$MESH_PORT" "$LAB_DIR/node3-announcement" <<'EOF'
import socket, sys
port = int(sys.argv[1])
out = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
out.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
with open(sys.argv[2], "rb") as caught:
    out.sendto(caught.read(), ("ff02::6d62", port, 0, socket.if_nametoindex("lan0")))
EOF
sleep 0.5
[[ "$(drops 1 off_link)" -gt "$off_link_before" ]] ||
  lab_fail "node 1 did not count the datagram from beyond the link: $(peers_eval 1 'p["drops"]')"
for n in 1 2; do
  [[ "$(drops "$n" family_mismatch)" -ge 1 ]] ||
    lab_fail "node $n did not count the IPv4 copy replayed over IPv6: $(peers_eval "$n" 'p["drops"]')"
done
[[ "$(heard 1 3)" == "ipv6=fe80::3%lan0" ]] || lab_fail "the replay moved node 3 on node 1: $(heard 1 3)"
grep -q "dropped announcement from fe80::4%lan0: family mismatch" "$LAB_DIR/n1-agent.log" || {
  grep "dropped" "$LAB_DIR/n1-agent.log" >&2
  lab_fail "node 1 did not log the replay across families (its drop lines above)"
}
echo "ok: off-link and cross-family replayed datagrams counted (node 1: off_link $(drops 1 off_link)," \
  "family_mismatch $(drops 1 family_mismatch)); node 3 still at fe80::3%lan0"

# 4. Node 4 loses its IPv4 address: node 3 keeps it, over IPv6 only.
mesh_ns n4 ip -4 addr flush dev lan0
lost="$(now)"
for _ in $(seq 150); do
  [[ "$(heard 3 4)" == "ipv6=fe80::4%lan0" ]] && break
  sleep 0.1
done
[[ "$(heard 3 4)" == "ipv6=fe80::4%lan0" ]] || lab_fail "node 3 still heard node 4 as: $(heard 3 4)"
forgotten="$(elapsed "$lost" "$(now)")"
about_node_timeout "$forgotten" ||
  lab_fail "node 3 forgot node 4's IPv4 address after ${forgotten} s, expected node_timeout ${MESH_TIMEOUT} s"
[[ "$(candidates 3)" != *node4* ]] || lab_fail "node 4's uplink is still a candidate on node 3: $(candidates 3)"
grep -q "node .* not heard from 10.210.0.4 for .* address forgotten" "$LAB_DIR/n3-agent.log" ||
  lab_fail "node 3 did not log the forgotten address"
wait_until 5 "node 4 logs announcing over IPv6 only" \
  grep -q "announcing over IPv6 only (no IPv4 address) on lan0" "$LAB_DIR/n4-agent.log"
wait_known "1 2 3 4" "node1 node2 node3 node4"
echo "measured: node 3 forgot node 4's IPv4 address ${forgotten} s after it was removed" \
  "(node_timeout ${MESH_TIMEOUT} s); node 4 still listed, over IPv6"

# 5. An IPv6-only node dies: removed after node_timeout.
mesh_kill_agent 2
killed="$(now)"
wait_known "1 3 4" "node1 node3 node4"
withdrawn="$(elapsed "$killed" "$(now)")"
about_node_timeout "$withdrawn" ||
  lab_fail "node 2 was removed after ${withdrawn} s, expected node_timeout ${MESH_TIMEOUT} s"
grep -q "node .*(node2) at fe80::2%lan0 not heard for .* removed" "$LAB_DIR/n1-agent.log" ||
  lab_fail "node 1 did not log node 2's removal"
echo "measured: node 2 (IPv6 only) removed ${withdrawn} s after SIGKILL (node_timeout ${MESH_TIMEOUT} s)"

# 6. Node 1's LAN device is deleted and created again (a USB adapter
# replugged): its discovery sockets follow the new device, and node 1 is
# known again before anyone forgets it for good.
ip netns exec "$LAB-mesh-n1" ip link del lan0
sleep "$MESH_TIMEOUT"
wait_known "3 4" "node3 node4"
mesh_join_lan_ipv6 n1 1
replugged="$(now)"
wait_known "1 3 4" "node1 node3 node4"
echo "measured: node 1 known again $(elapsed "$replugged" "$(now)") s after its lan0 came back"
grep -q "mesh: lan0 was created again (ifindex [0-9]* -> [0-9]*): discovery and relaying follow it$" \
  "$LAB_DIR/n1-agent.log" || lab_fail "node 1 did not log following its new lan0"
echo "PASS"
