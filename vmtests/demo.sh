#!/usr/bin/env bash
# The meshbpf demo: two emulated uplinks bonded in the kernel.
# Measures iperf3 goodput over link 1 alone, link 2 alone and the bond, for
# upload and download, then shows the client's per-path counters.
#   vmtests/demo.sh [--runs N] [--rate1 MBIT] [--rate2 MBIT] [--seconds S]
set -euo pipefail

RUNS=1
SECONDS_PER_TEST=8
while (($#)); do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --rate1) export RATE1="$2"; shift 2 ;;
    --rate2) export RATE2="$2"; shift 2 ;;
    --seconds) SECONDS_PER_TEST="$2"; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--rate1 MBIT] [--rate2 MBIT] [--seconds S]" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

echo "Building the lab: uplinks of $RATE1 and $RATE2 Mbit/s (tbf), a bonding peer and a server..."
lab_create
lab_start_agents

printf '\n%-4s %-9s %10s %10s %10s %10s %12s\n' RUN DIRECTION "LINK1" "LINK2" "BOND" "L1+L2" "BOND/(L1+L2)"
for run in $(seq "$RUNS"); do
  for direction in up down; do
    declare -A goodput=()
    for via in wan1 wan2 bond; do
      lab_route_client "$via"
      goodput[$via]="$(lab_iperf "$direction" "$SECONDS_PER_TEST")"
    done
    python3 - "$run" "$direction" "${goodput[wan1]}" "${goodput[wan2]}" "${goodput[bond]}" \
      "$RATE1" "$RATE2" <<'PY'
import sys
run, direction, l1, l2, bond, r1, r2 = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
print("%-4s %-9s %10.1f %10.1f %10.1f %10.1f %11.0f%%   (bond = %.0f%% of the %g Mbit/s configured)"
      % (run, direction, l1, l2, bond, l1 + l2, 100 * bond / max(l1 + l2, 1e-9),
         100 * bond / (r1 + r2), r1 + r2))
PY
  done
done
echo
echo "Goodput in Mbit/s (iperf3, receiver side, first 2 s omitted). Client's view of the bond:"
lab_status client
