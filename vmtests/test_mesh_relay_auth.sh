#!/usr/bin/env bash
# Relaying with tunnel authentication and encryption (issue 14, item 4 for
# relayed paths), on the relay lab (vmtests/lib/mesh_lab.sh): node 1 bonds
# its own 5 Mbit/s uplink with mesh1 through node 2's shared 20 Mbit/s one;
# node 1 and the bonding peer authenticate and encrypt, node 2 relays what
# it cannot read. Asserts:
#  - node 1 and the peer make a session (the handshake crosses the relay
#    too), the peer learns mesh1's far end from node 1's authenticated
#    packets (node 2's address), mesh1 comes up;
#  - goodput both ways is clearly above node 1's own uplink (> 2x 5 Mbit/s),
#    so the relayed path carries authenticated, encrypted traffic, and
#    node 2 counts it;
#  - no genuine packet is refused at either end;
#  - hijack: node 2, which relays (it sees every packet of mesh1), sends
#    tunnel-shaped datagrams for mesh1 to the peer from another port of its
#    own address: all refused (auth_bad_tag), mesh1's endpoint stays where
#    it was, and traffic still crosses.
set -euo pipefail
source "$(dirname "$0")/lib/mesh_lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

IPERF_SECONDS=5

mesh_relay_create
lab_authenticate_nodes n1 peer
for node in n1 peer; do lab_set_link_aggregation "$node" encryption true; done

mesh_start_agent peer
mesh_start_agent 2
mesh_start_agent 1
wait_until 20 "node 1 and the peer establish a session" sessions_established
wait_until 10 "node 1 fills mesh1 with node 2's uplink" mesh1_filled
wait_until 15 "the peer learns mesh1's far end" peer_learned
wait_until 15 "mesh1 comes up on node 1" mesh1_up
endpoint="$(json_eval peer status 'path("mesh1")["learned_endpoint"]')"
echo "peer: mesh1's far end learned as $endpoint"

# The sum of DROP reasons on both ends: drops REASON...
drops() {
  local node reason total=0 n
  for node in 1 peer; do
    for reason in "$@"; do
      n="$(json_eval "$node" status "sum(p['drops']['$reason'] for p in j['paths']) + j['unattributed_drops']['$reason']")"
      total=$((total + n))
    done
  done
  echo "$total"
}
genuine_refused() { drops auth_bad_tag auth_replay auth_too_old auth_plaintext wrong_endpoint; }

fwd_before="$(relay_counter fwd_bytes)"
read -r up_mbit _ <<<"$(relay_iperf up "$IPERF_SECONDS")"
read -r down_mbit _ <<<"$(relay_iperf down "$IPERF_SECONDS")"
relayed=$(($(relay_counter fwd_bytes) - fwd_before))
echo "measured: $up_mbit Mbit/s up, $down_mbit Mbit/s down over own uplink + mesh1, authenticated" \
  "and encrypted; node 2 relayed $relayed bytes to the peer"
holds "a > 10" "$up_mbit" || lab_fail "upload $up_mbit Mbit/s: mesh1 carried little"
holds "a > 10" "$down_mbit" || lab_fail "download $down_mbit Mbit/s: mesh1 carried little"
((relayed > 1000000)) || lab_fail "node 2 relayed only $relayed bytes"
refused="$(genuine_refused)"
((refused == 0)) || lab_fail "$refused genuine packets refused"

# Node 2 sees mesh1's packets; from another port of its address it sends
# ones shaped like them (version 2, path 1) with forged tags.
# They carry the session's epoch, which node 2 reads off the packets it
# relays (here from node 1's status), so they reach the tag check.
epoch="$(json_eval 1 status 'j["health"]["authentication"]["send_epoch"]')"
bad_before="$(drops auth_bad_tag)"
mesh_ns n2 python3 - "$epoch" <<'PY'
import os, socket, struct, sys
epoch = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.211.2.2", 0))
for i in range(500):
    header = struct.pack("!BBBBII", 2, 1, 0, 0, 10**6 + i, 10**6 + i)
    auth = struct.pack("!III", epoch, 0, 10**6 + i) + os.urandom(8)
    s.sendto(header + auth + os.urandom(100), ("10.200.0.2", 7201))
PY
forged=$(($(drops auth_bad_tag) - bad_before))
echo "the peer refused $forged of 500 forged packets from node 2's address as auth_bad_tag"
((forged >= 450)) || lab_fail "only $forged of the forged packets were refused as forged"
after="$(json_eval peer status 'path("mesh1")["learned_endpoint"]')"
[[ "$after" == "$endpoint" ]] || lab_fail "mesh1's endpoint moved to $after on forged packets"
read -r up_mbit _ <<<"$(relay_iperf up 3)"
holds "a > 10" "$up_mbit" || lab_fail "after the forgeries only $up_mbit Mbit/s up"
echo PASS
