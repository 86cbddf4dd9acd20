#!/usr/bin/env bash
# What tunnel authentication and encryption cost in throughput (issue 14's
# benchmark): one TCP flow on unshaped veth (two 10 Gbit/s "uplinks", no
# tbf), in one lab and one run: plain routing over one uplink, the bond, the
# bond with authentication (the agents restarted with keys from meshbpf
# genkey), the bond with encryption too, and wireguard-go between the same
# two namespaces over the first uplink (the agents stopped), the userspace
# WireGuard the issue compares with. Prints each median of BENCH_REPS
# iperf3 runs and the ratios against plain, the unauthenticated bond and
# wireguard-go (which encrypts: the encrypted bond is the fair comparison).
#   sudo vmtests/bench/auth_throughput.sh [BENCH_REPS=3] [BENCH_SECONDS=8]
set -euo pipefail
RATES="10000 10000"
LAB_SHAPED=0
source "$(dirname "$0")/../lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM
BENCH_REPS="${BENCH_REPS:-3}"
BENCH_SECONDS="${BENCH_SECONDS:-8}"
LAB_IPERF_OMIT=1

gbit() {  # one upload; its receiver goodput in Gbit/s
  lab_iperf up "$BENCH_SECONDS" >/dev/null
  python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second'] / 1e9)" \
    "$LAB_DIR/iperf.json"
}
median() { python3 -c "import statistics, sys; print(round(statistics.median(map(float, sys.argv[1:])), 3))" "$@"; }
runs() {  # METHOD: BENCH_REPS runs, the median
  local results=() r
  for _ in $(seq "$BENCH_REPS"); do
    r="$(gbit)"
    results+=("$r")
    lab_log "$1: $r Gbit/s"
  done
  median "${results[@]}"
}

lab_create
lab_start_agents
lab_route_client wan1
plain="$(runs plain)"
lab_route_client bond
bond="$(runs bond)"

for node in client peer; do lab_stop_agent "$node" || true; done
lab_authenticate_nodes
lab_start_agents
wait_until 20 "both agents established a session" lab_sessions_established
lab_route_client bond
authenticated="$(runs "bond, authenticated")"

for node in client peer; do
  lab_stop_agent "$node" || true
  lab_set_link_aggregation "$node" encryption true
done
lab_start_agents
wait_until 20 "both agents established an encrypted session" lab_sessions_established
lab_route_client bond
encrypted="$(runs "bond, encrypted")"

for node in client peer; do lab_stop_agent "$node" || true; done
# wireguard-go: client 10.204.0.2 <-> peer 10.204.0.1, outer over
# wan1; the server's replies reach 10.204.0.2 through the peer as the bond's do.
# Devices named after the lab: wireguard-go's control sockets
# (/var/run/wireguard/DEVICE.sock) are not per namespace.
wg_pids=()
quietly() { "$@" >/dev/null 2>&1; }
wg_start() {  # NODE DEVICE ADDRESS KEY
  ip netns exec "$LAB-$1" env WG_PROCESS_FOREGROUND=1 wireguard-go "$2" >"$LAB_DIR/$2.log" 2>&1 &
  wg_pids+=($!)
  wait_until 10 "wireguard-go created $2 in $LAB-$1" quietly lab_ns "$1" ip link show "$2"
  lab_ns "$1" ip addr add "$3/24" dev "$2"
  lab_ns "$1" wg set "$2" private-key "$4"
  lab_ns "$1" ip link set "$2" up
}
(umask 077; wg genkey >"$LAB_DIR/wgc.key"; wg genkey >"$LAB_DIR/wgp.key")
wgc="${LAB}c" wgp="${LAB}p"
wg_start client "$wgc" 10.204.0.2 "$LAB_DIR/wgc.key"
wg_start peer "$wgp" 10.204.0.1 "$LAB_DIR/wgp.key"
lab_ns peer wg set "$wgp" listen-port 51820 peer "$(wg pubkey <"$LAB_DIR/wgc.key")" allowed-ips 10.204.0.2/32
lab_ns client wg set "$wgc" peer "$(wg pubkey <"$LAB_DIR/wgp.key")" endpoint 10.200.0.2:51820 \
  allowed-ips 10.204.0.1/32,10.202.0.0/24
lab_ns client ip route replace 10.200.0.0/24 via 10.201.1.1 dev wan1
lab_ns client ip route replace 10.202.0.0/24 dev "$wgc"
wait_until 10 "the WireGuard tunnel carries a ping" quietly lab_ns client ping -c1 -W1 10.204.0.1
wireguard="$(runs wireguard-go)"
kill -TERM "${wg_pids[@]}"  # they remove their sockets
wait "${wg_pids[@]}" || true

python3 - "$plain" "$bond" "$authenticated" "$encrypted" "$wireguard" <<'PY'
import sys
plain, bond, auth, enc, wireguard = map(float, sys.argv[1:])
print(f"unshaped TCP, one flow, median Gbit/s: plain {plain}, bond {bond}, bond authenticated {auth}, "
      f"bond encrypted {enc}, wireguard-go {wireguard}")
print(f"bond / plain {bond / plain:.2f}; authenticated bond / plain {auth / plain:.2f}; "
      f"authenticated / unauthenticated bond {auth / bond:.2f}; "
      f"authenticated bond / wireguard-go {auth / wireguard:.2f}; "
      f"encrypted / authenticated bond {enc / auth:.2f}; "
      f"encrypted bond / wireguard-go {enc / wireguard:.2f}")
PY
