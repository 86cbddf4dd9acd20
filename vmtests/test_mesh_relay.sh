#!/usr/bin/env bash
# Relaying through a mesh neighbour (vmtests/lib/mesh_lab.sh, the relay lab):
# node 1 bonds its own 5 Mbit/s uplink with a relayed path "mesh1" through
# node 2's shared 20 Mbit/s uplink; the bonding peer learns mesh1's far end
# from node 1's probes.
#  a. node 2 not running: goodput G1 over node 1's own uplink;
#  b. node 2 starts: node 1 fills mesh1 with node2/wan0, the peer learns the
#     endpoint, mesh1 comes up (times printed);
#  c. goodput up and down is clearly above G1 (> 2x);
#  d. node 2 counts the relayed bytes each way, matching what iperf3 moved;
#  e. datagrams a stranger sends to node 2's relay ports are not relayed,
#     nor those it sends as node 1 (its address and port) that are no
#     meshbpf packets;
#  f. node 2's share budget runs out: relayed packets are dropped as
#     share spent, node 1 withdraws mesh1, goodput falls back near G1;
#  g. with a fresh budget mesh1 comes back; node 2's agent is SIGKILLed
#     (its BPF stays attached and would relay on): node 1 withdraws mesh1
#     after node_timeout.
set -euo pipefail
MESH_INTERVAL=0.5
MESH_TIMEOUT=2
source "$(dirname "$0")/lib/mesh_lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

IPERF_SECONDS=6
SHARE_CAP=node_discovery.share_cap

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

mesh1_withdrawn() { [[ "$(relay_of_mesh1)" == None ]]; }
share_exhausted() {
  [[ "$(json_eval 2 cap "[c for c in j['caps'] if c['path'] == '$SHARE_CAP'][0]['exhausted']")" == True ]]
}

mesh_relay_create
mesh_start_agent peer
mesh_start_agent 1
# The bond address brings the connected route to the other bond end.
for node in n1 peer; do
  [[ -n "$(mesh_ns "$node" ip route show 10.203.0.0/24 dev mb0)" ]] ||
    lab_fail "no route to the bond subnet in $node"
done

# a. Only node 1's own uplink.
mesh1_withdrawn || lab_fail "mesh1 is filled with no neighbour around: $(relay_of_mesh1)"
read -r g1 _ <<<"$(relay_iperf up "$IPERF_SECONDS")"
echo "measured: G1 (own 5 Mbit/s uplink only, upload) = $g1 Mbit/s"
holds "a > 2" "$g1" || lab_fail "node 1's own uplink carries only $g1 Mbit/s"

# b. Node 2 joins and shares wan0.
started="$(now)"
mesh_start_agent 2
wait_until 10 "node 1 fills mesh1 with node 2's uplink" mesh1_filled
filled="$(now)"
[[ "$(json_eval 1 status 'path("mesh1")["relay"]["node"] + "/" + path("mesh1")["relay"]["uplink"]')" == node2/wan0 ]] ||
  lab_fail "mesh1 is filled with $(relay_of_mesh1), not node2/wan0"
mesh_cli 1 status | lab_matches "path mesh1: via node2/wan0 (10.210.0.2:$RELAY_PORT)" ||
  lab_fail "status does not show mesh1 via node2/wan0: $(mesh_cli 1 status)"
[[ "$(json_eval 1 peers '[n["our_paths"] for n in j["nodes"] if n["name"] == "node2"][0]')" == "['mesh1']" ]] ||
  lab_fail "peers does not mark node 2 as used for mesh1"
wait_until 10 "the peer learns mesh1's far end" peer_learned
learned="$(now)"
grep -q "path mesh1: far end learned: 10.211.2.2:" "$LAB_DIR/peer-agent.log" ||
  lab_fail "the peer did not log what it learned"
wait_until 10 "mesh1 comes up on node 1" mesh1_up
up="$(now)"
grep -q "mesh: relaying for node1 through wan0 (slot 0" "$LAB_DIR/n2-agent.log" ||
  lab_fail "node 2 did not log the relay"
echo "measured: after node 2's agent started: mesh1 filled $(elapsed "$started" "$filled") s," \
  "far end learned by the peer $(elapsed "$started" "$learned") s, mesh1 up $(elapsed "$started" "$up") s"
mesh_cli 1 peers

# c, d. Through the relay, both directions.
relay_both_ways "$IPERF_SECONDS" "$g1" ""
mesh_cli 2 peers | lab_matches "node1 (10.210.0.1:7201) through wan0, slot 0" ||
  lab_fail "node 2's peers does not list the relay: $(mesh_cli 2 peers)"

# The isp counts what reaches the peer with the stranger's datagram size
# (777 B of payload) from isp_count_strangers until isp_strangers_counted.
isp_count_strangers() {
  mesh_ns isp nft -f - <<'EOF'
table inet meshbpf_relay_lab {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ip daddr 10.200.0.2 udp length 785 counter
  }
}
EOF
}
isp_strangers_counted() {
  mesh_ns isp nft list table inet meshbpf_relay_lab | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
  mesh_ns isp nft delete table inet meshbpf_relay_lab
}

# e. A stranger on the LAN sends to every relay port: nothing is relayed.
isp_count_strangers
fwd_packets_before="$(relay_counter fwd_packets)"
mesh_ns stranger python3 - "$RELAY_PORT" <<'EOF'
import socket, sys
base = int(sys.argv[1])
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(1280):  # 20 rounds over the whole span (forward and return ports)
    out.sendto(b"x" * 777, ("10.210.0.2", base + i % 64))
EOF
sleep 0.5
fwd_packets=$(($(relay_counter fwd_packets) - fwd_packets_before))
reached="$(isp_strangers_counted)"
echo "measured: of 1280 stranger datagrams, $reached reached the peer; node 2's relay counted" \
  "$fwd_packets packets forward meanwhile (node 1's probes)"
[[ "$reached" == 0 ]] || lab_fail "$reached of the stranger's datagrams were relayed to the peer"
((fwd_packets < 200)) || lab_fail "node 2's relay counted $fwd_packets packets while the stranger sent"

# e2. The stranger spoofs node 1: its address and tunnel port, to every
# relay port (raw IPv4), with a payload that is no meshbpf packet. The
# forward slot matches; the relay drops them as not_meshbpf.
not_meshbpf_drops() { relay_counter drops | python3 -c 'import ast, sys; print(ast.literal_eval(sys.stdin.read())["not_meshbpf"])'; }
isp_count_strangers
not_meshbpf_before="$(not_meshbpf_drops)"
mesh_ns stranger python3 - "$RELAY_PORT" <<'EOF'
import socket, struct, sys
base = int(sys.argv[1])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
payload = b"x" * 777
for i in range(1280):
    udp = struct.pack("!HHHH", 7201, base + i % 64, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0x4000, 64, 17, 0,
                     socket.inet_aton("10.210.0.1"), socket.inet_aton("10.210.0.2"))
    raw.sendto(ip + udp, ("10.210.0.2", 0))
EOF
sleep 0.5
not_meshbpf=$(($(not_meshbpf_drops) - not_meshbpf_before))
reached="$(isp_strangers_counted)"
echo "measured: of 1280 datagrams spoofing node 1, $reached reached the peer; $not_meshbpf dropped as not_meshbpf"
[[ "$reached" == 0 ]] || lab_fail "$reached datagrams spoofing node 1 were relayed to the peer"
((not_meshbpf >= 20)) || lab_fail "the relay counted $not_meshbpf not_meshbpf drops for 20 spoofed forward datagrams"

# f. The share budget runs out while node 1 uploads.
left="$(json_eval 2 cap "[c for c in j['caps'] if c['path'] == '$SHARE_CAP'][0]['remaining_bytes']")"
seconds="$(python3 -c "import sys; print(max(2, min(40, int(int(sys.argv[1]) / 2.2e6) + 3)))" "$left")"
echo "node 2's share budget has $left bytes left: uploading for $seconds s"
spent_at="$(now)"
read -r g_spent _ <<<"$(relay_iperf up "$seconds")"
wait_until 5 "node 2's share budget is spent" share_exhausted
wait_until 5 "node 1 withdraws mesh1 (share budget spent)" mesh1_withdrawn
share_drops="$(json_eval 2 peers '[r for r in j["relaying"]["relays"] if r["origin_name"] == "node1"][0]["drops"]')"
echo "measured: upload while the budget ran out $g_spent Mbit/s; node 2's relay drops: $share_drops"
python3 -c "import ast, sys; d = ast.literal_eval(sys.argv[1]); sys.exit(0 if any('share' in k and v > 0 for k, v in d.items()) else 1)" \
  "$share_drops" || lab_fail "node 2 counted no share-spent drops: $share_drops"
grep -q "path mesh1: withdrawn (was through node2/wan0)" "$LAB_DIR/n1-agent.log" ||
  lab_fail "node 1 did not log the withdrawal"
read -r g3 _ <<<"$(relay_iperf up "$IPERF_SECONDS")"
echo "measured: G3 (share budget spent) = $g3 Mbit/s upload (G1 $g1)"
holds "a < 1.5 * b" "$g3" "$g1" || lab_fail "with the budget spent node 1 still uploads $g3 Mbit/s"
holds "a > 0.5 * b" "$g3" "$g1" || lab_fail "node 1's own uplink carries only $g3 Mbit/s"

# g. A fresh budget brings mesh1 back; then node 2's agent dies.
mesh_cli 2 cap --reset "$SHARE_CAP" >/dev/null
reset_at="$(now)"
wait_until 10 "node 1 refills mesh1 after the budget reset" mesh1_filled
wait_until 10 "mesh1 comes back up" mesh1_up
echo "measured: mesh1 up again $(elapsed "$reset_at" "$(now)") s after the share budget was reset"
mesh_kill_agent 2
killed="$(now)"
wait_until 10 "node 1 withdraws mesh1 after node 2's agent died" mesh1_withdrawn
withdrawn="$(elapsed "$killed" "$(now)")"
echo "measured: mesh1 withdrawn ${withdrawn} s after node 2's agent was SIGKILLed (node_timeout ${MESH_TIMEOUT} s)"
holds "b - 0.5 <= a < 3 * b" "$withdrawn" "$MESH_TIMEOUT" ||
  lab_fail "withdrawn after ${withdrawn} s, expected about node_timeout ${MESH_TIMEOUT} s"
! mesh_cli 1 status | lab_matches "via node2" || lab_fail "status still shows mesh1 via node2"
echo "PASS"
