#!/usr/bin/env bash
# A LAN behind the bond, the router case: a host in a namespace of its own
# reaches the server through the client, which forwards into mb0, and the
# server's replies come back through the peer's mb0 and the client. The
# host's and the server's links have MTU 1500, the bond 1460, and every
# ICMP "fragmentation needed" is dropped where it would be sent (a PMTU
# black hole, as on many networks). A connection then lives only if
# mb_encap lowered the MSS of its SYN (host -> server) and SYN-ACK
# (server -> host) to what the bond carries: a file must cross both ways
# intact, and the server's socket must show the lowered MSS.
# vmtest: shares the machine (it checks integrity and the MSS)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM
HOST_IP=10.204.0.2

lab_create
ip netns add "$LAB-host"
lab_ns host ip link set lo up
lab_link client lan0 10.204.0.1/24 host eth0 "$HOST_IP/24"
lab_ns host ip route add default via 10.204.0.1
lab_ns client sysctl -qw net.ipv4.ip_forward=1
lab_start_agents
lab_route_client bond
lab_ns peer ip route add 10.204.0.0/24 dev mb0
for ns in client peer; do
  lab_ns "$ns" nft -f - <<'NFT'
table inet meshbpf_lab_pmtu_black_hole {
  chain output {
    type filter hook output priority 0; policy accept;
    icmp type destination-unreachable icmp code frag-needed counter drop
  }
}
NFT
done
lab_ns host ping -c 2 -i 0.2 -W 1 -q "$SERVER_IP" >/dev/null ||
  lab_fail "the host behind the client does not reach the server"

# While the files flow: the MSS the server's socket was told.
(
  for _ in $(seq 500); do
    lab_ns server ss -tniH state established "sport = :9100" >"$LAB_DIR/ss"
    [[ -s "$LAB_DIR/ss" ]] && break
    sleep 0.02
  done
) &
sampler=$!
LAB_BLOB_NS=host lab_blob_intact 4M
wait "$sampler"
# The host's SYN offered 1460 (its 1500-byte link); the bond carries 1460-byte
# packets, so the server may send at most 1420.
advertised="$(grep -o 'rcvmss:[0-9]*\|advmss:[0-9]*\| mss:[0-9]*' "$LAB_DIR/ss" | tr '\n' ' ')"
echo "server socket: $advertised"
mss="$(grep -o ' mss:[0-9]*' "$LAB_DIR/ss" | head -1 | cut -d: -f2)"
[[ -n "$mss" ]] && ((mss <= 1420)) || lab_fail "the server sends segments of MSS ${mss:-?}: more than the bond carries"
drops="$(lab_ns peer nft list table inet meshbpf_lab_pmtu_black_hole | grep -o 'packets [0-9]*' | cut -d' ' -f2)"
echo "ok: clamped MSS $mss; ICMP frag-needed dropped at the peer: $drops"
