#!/usr/bin/env bash
# What tunnel authentication costs in throughput (issue 14's benchmark):
# one TCP flow on unshaped veth (two 10 Gbit/s "uplinks", no tbf), in one
# lab and one run: plain routing over one uplink, the bond, and the bond
# with authentication (the agents restarted with keys from meshbpf genkey).
# Prints each median of BENCH_REPS iperf3 runs and the ratios against
# plain and the unauthenticated bond.
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

for node in client peer; do
  kill -TERM "${LAB_AGENT_PIDS[$node]}"
  wait "${LAB_AGENT_PIDS[$node]}" || true
done
lab_authenticate_nodes
lab_start_agents
wait_until 20 "both agents established a session" lab_sessions_established
lab_route_client bond
authenticated="$(runs "bond, authenticated")"

python3 - "$plain" "$bond" "$authenticated" <<'PY'
import sys
plain, bond, auth = map(float, sys.argv[1:])
print(f"unshaped TCP, one flow, median Gbit/s: plain {plain}, bond {bond}, bond authenticated {auth}")
print(f"bond / plain {bond / plain:.2f}; authenticated bond / plain {auth / plain:.2f}; "
      f"authenticated / unauthenticated bond {auth / bond:.2f}")
PY
