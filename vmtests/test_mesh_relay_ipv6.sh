#!/usr/bin/env bash
# Relaying through a mesh neighbour over IPv6 (vmtests/lib/mesh_lab.sh,
# mesh_relay_ipv6_create): every uplink IPv6-only, the LAN link-local only,
# the bonding peer at an IPv6 address. Node 1 bonds its own 5 Mbit/s uplink
# with the relayed path "mesh1" through node 2's shared 20 Mbit/s uplink.
#  a. node 2 not running: goodput G1 over node 1's own uplink;
#  b. node 2 starts: node 1 fills mesh1 with node2/wan0 at node 2's
#     link-local address, node 2 relays over IPv6 (its map and peers say
#     so), the peer learns mesh1's far end (node 2's IPv6 uplink address),
#     mesh1 comes up;
#  c. goodput up and down is clearly above G1 (> 2x), and node 2 counts
#     the relayed bytes each way, matching what iperf3 moved;
#  d. datagrams a stranger on the LAN sends to node 2's relay ports over
#     IPv6 are not relayed;
#  e. node 1 and the peer restart with authentication and encryption (node
#     2 relays what it cannot read): the handshake crosses the IPv6 relay,
#     the peer learns mesh1's far end from authenticated packets, goodput is
#     still clearly above G1 and no genuine packet is refused;
#  f. node 2's LAN device is deleted and created again (a USB adapter
#     replugged): it relays again on the new device (mesh1 comes back up
#     and carries traffic).
# The IPv4 relay test covers budgets, caps and a dying relay: the same
# code whatever the family.
set -euo pipefail
MESH_INTERVAL=0.5
MESH_TIMEOUT=2
# Four transfers through node 2: its share budget must outlast them.
RELAY_SHARE_CAP_BYTES=400000000
source "$(dirname "$0")/lib/mesh_lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

IPERF_SECONDS=6

mesh1_withdrawn() { [[ "$(relay_of_mesh1)" == None ]]; }
peer_learned6() { [[ "$(json_eval peer status 'path("mesh1")["learned_endpoint"]')" == "[2001:db8:12::2]:"* ]]; }

mesh_relay_ipv6_create
mesh_start_agent peer
mesh_start_agent 1

# a. Only node 1's own uplink.
mesh1_withdrawn || lab_fail "mesh1 is filled with no neighbour around: $(relay_of_mesh1)"
read -r g1 _ <<<"$(relay_iperf up "$IPERF_SECONDS")"
echo "measured: G1 (own 5 Mbit/s IPv6 uplink only, upload) = $g1 Mbit/s"
holds "a > 2" "$g1" || lab_fail "node 1's own uplink carries only $g1 Mbit/s"

# b. Node 2 joins and shares wan0.
started="$(now)"
mesh_start_agent 2
wait_until 10 "node 1 fills mesh1 with node 2's uplink" mesh1_filled
mesh_cli 1 status | lab_matches -F "path mesh1: via node2/wan0 ([fe80::2]:$RELAY_PORT)" ||
  lab_fail "status does not show mesh1 via node 2's link-local address: $(mesh_cli 1 status)"
wait_until 10 "the peer learns mesh1's IPv6 far end" peer_learned6
wait_until 10 "mesh1 comes up on node 1" mesh1_up
echo "measured: mesh1 up $(elapsed "$started" "$(now)") s after node 2's agent started"
grep -q "mesh: relaying for node1 through wan0 (slot 0, return port [0-9]*): \[fe80::1\]:7201 -> \[2001:db8:200::2\]:7201" \
  "$LAB_DIR/n2-agent.log" || lab_fail "node 2 did not log an IPv6 relay: $(grep relaying "$LAB_DIR/n2-agent.log")"
[[ "$(json_eval 2 maps '[r["family"] for r in j["mb_relays"]]')" == "['ipv6']" ]] ||
  lab_fail "node 2's mb_relays: $(mesh_cli 2 maps --json | head -c 2000)"

# c. Through the relay, both directions.
relay_both_ways "$IPERF_SECONDS" "$g1" ", all IPv6"
drops="$(relay_counter drops)"
python3 -c "import ast, sys; d = ast.literal_eval(sys.argv[1]); sys.exit(0 if sum(d.values()) == 0 else 1)" \
  "$drops" || lab_fail "node 2's relay dropped genuine packets: $drops"

# d. A stranger on the LAN sends to every relay port of node 2 over IPv6;
# the isp counts what reaches the peer with its datagram size (777 B).
mesh_ns isp nft -f - <<'EOF'
table inet meshbpf_relay_lab {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ip6 daddr 2001:db8:200::2 udp length 785 counter
  }
}
EOF
mesh_ns stranger python3 - "$RELAY_PORT" <<'EOF'
import socket, sys
base = int(sys.argv[1])
out = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
lan = socket.if_nametoindex("lan0")
for i in range(1280):  # 20 rounds over the whole span (forward and return ports)
    out.sendto(b"x" * 777, ("fe80::2", base + i % 64, 0, lan))
EOF
sleep 0.5
reached="$(mesh_ns isp nft list table inet meshbpf_relay_lab | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')"
echo "measured: of 1280 stranger datagrams over IPv6, $reached reached the peer"
[[ "$reached" == 0 ]] || lab_fail "$reached of the stranger's datagrams were relayed to the peer"

# e. Authenticated and encrypted.
for node in 1 peer; do lab_stop_agent "mesh-$node" || lab_fail "node $node's agent did not stop cleanly"; done
lab_authenticate_nodes n1 peer
for node in n1 peer; do lab_set_link_aggregation "$node" encryption true; done
mesh_start_agent peer 2
mesh_start_agent 1 2
wait_until 20 "node 1 and the peer establish a session over IPv6" sessions_established
wait_until 15 "the peer learns mesh1's far end from authenticated packets" peer_learned6
wait_until 15 "mesh1 comes up on node 1 again" mesh1_up
read -r g_auth _ <<<"$(relay_iperf up "$IPERF_SECONDS")"
echo "measured: $g_auth Mbit/s upload, authenticated and encrypted, over own uplink + mesh1 (G1 $g1)"
holds "a > 2 * b" "$g_auth" "$g1" || lab_fail "authenticated upload $g_auth Mbit/s, not above 2 x $g1"
refused=0
for node in 1 peer; do
  n="$(json_eval "$node" status "sum(sum(p['drops'][r] for p in j['paths']) + j['unattributed_drops'][r] for r in ('auth_bad_tag', 'auth_replay', 'auth_too_old', 'auth_plaintext', 'wrong_endpoint'))")"
  refused=$((refused + n))
done
((refused == 0)) || lab_fail "$refused genuine packets refused"

# f. Node 2's LAN device is replugged.
ip netns exec "$LAB-mesh-n2" ip link del lan0
wait_until 15 "node 1 withdrawing mesh1 (node 2 unheard)" mesh1_withdrawn
mesh_join_lan_ipv6 n2 2
replugged="$(now)"
wait_until 15 "mesh1 up again through node 2's new lan0" mesh1_up
echo "measured: mesh1 up again $(elapsed "$replugged" "$(now)") s after node 2's lan0 came back"
grep -q "mesh: lan0 was created again (ifindex [0-9]* -> [0-9]*): discovery and relaying follow it$" \
  "$LAB_DIR/n2-agent.log" || lab_fail "node 2 did not log following its new lan0"
read -r g_back _ <<<"$(relay_iperf up "$IPERF_SECONDS")"
echo "measured: $g_back Mbit/s upload after the replug (G1 $g1)"
holds "a > 2 * b" "$g_back" "$g1" || lab_fail "after the replug only $g_back Mbit/s up: node 2 does not relay"
echo "PASS"
