#!/usr/bin/env bash
# Path MTU discovery (agent/core/path_mtu.h): behind link 2 sits a hop
# smaller than the uplink. inet's end of link 2 has MTU 1400, so a
# 1500-byte packet the client sends on wan2 vanishes there without a word
# (a veth drops what exceeds the receiving device's MTU, like a PPPoE or
# cellular hop whose ICMP is filtered), and the peer's full-size packets to
# the client on link 2 are refused by inet with an ICMP that reaches the
# peer's host stack, never its data path. Both agents must find, by size
# probes, that the path carries 1400 and say so; then
#  - a TCP file crosses both ways intact, link 2 carrying a share (the MSS
#    is clamped to what every path carries);
#  - UDP datagrams too large for link 2 (1400 bytes of payload) all arrive,
#    over link 1 alone.
# vmtest: shares the machine (it checks sizes and integrity)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_ns inet ip link set c2 mtu 1400
lab_start_agents
lab_route_client bond

found() {  # found NODE PATH: the agent logged that PATH carries 1400
  grep -q "path $2: carries packets of at most 1400 bytes" "$LAB_DIR/$1-agent.log"
}
wait_until 20 "the client finds that wan2 carries 1400-byte packets" found client wan2
wait_until 20 "the peer finds that via-wan2 carries 1400-byte packets" found peer via-wan2
grep -h "carries packets of at most\|MSS clamped" "$LAB_DIR/client-agent.log" "$LAB_DIR/peer-agent.log"
for node_path in "client wan2" "peer via-wan2"; do
  read -r node path <<<"$node_path"
  mtu="$(lab_status "$node" --json | python3 -c '
import json, sys
print(next(p["mtu"] for p in json.load(sys.stdin)["health"]["paths"] if p["name"] == sys.argv[1]))' "$path")"
  [[ "$mtu" == 1400 ]] || lab_fail "$node status --json: $path has mtu $mtu, not 1400"
done
lab_status client | lab_matches "path wan2: carries packets of at most 1400 bytes" ||
  lab_fail "status does not say that wan2 carries 1400-byte packets"

wan2_bytes() { lab_ns client cat "/sys/class/net/wan2/statistics/$1_bytes"; }
tx0="$(wan2_bytes tx)" rx0="$(wan2_bytes rx)"
lab_blob_intact 4M
sent=$(($(wan2_bytes tx) - tx0)) received=$(($(wan2_bytes rx) - rx0))
echo "link 2 carried $sent bytes of the upload, $received of the download"
((sent > 400000 && received > 400000)) ||
  lab_fail "link 2 carried almost nothing (up $sent, down $received bytes): the small path was dropped, not sized"

lab_ns server iperf3 -s -1 -B "$SERVER_IP" >/dev/null 2>&1 &
lab_wait_port server 5201
udp="$(lab_ns client iperf3 -c "$SERVER_IP" -u -l 1400 -b 10M -t 3 -J |
  python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print(e["lost_percent"], e["packets"])')"
echo "UDP, 1400-byte datagrams at 10 Mbit/s: lost % and packets: $udp"
python3 -c "import sys; lost, n = map(float, '$udp'.split()); sys.exit(not (n > 1000 and lost < 1))" ||
  lab_fail "UDP datagrams too large for link 2 were lost: $udp"
echo "ok: path MTU found on both nodes; TCP intact over both links, large UDP over link 1"
