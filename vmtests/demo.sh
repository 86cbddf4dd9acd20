#!/usr/bin/env bash
# The meshbpf demo: two emulated uplinks bonded in the kernel.
# Measures iperf3 goodput over link 1 alone, link 2 alone and the bond, for
# upload (client -> server) and download, then shows both agents' per-path
# counters, the client's `meshbpf stats` during one more bond upload, and a
# chart of the whole demo (DEMO_PLOT, default /tmp/meshbpf-demo-stats.png).
# Builds nothing: build first (scripts/dev.sh demo does both).
#   vmtests/demo.sh [--runs N] [--rate1 MBIT] [--rate2 MBIT] [--seconds S]
# Everything runs in fresh network namespaces and is removed on exit, on
# Ctrl-C and on failure.
set -euo pipefail

usage() {
  echo "usage: $0 [--runs N] [--rate1 MBIT] [--rate2 MBIT] [--seconds S]" >&2
  exit 2
}

RUNS=1
SECONDS_PER_TEST=8
while (($#)); do
  (($# >= 2)) || usage
  case "$1" in
    --runs) RUNS="$2" ;;
    --rate1) export RATE1="$2" ;;
    --rate2) export RATE2="$2" ;;
    --seconds) SECONDS_PER_TEST="$2" ;;
    *) usage ;;
  esac
  shift 2
done

source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'echo "demo: interrupted, cleaning up" >&2; exit 130' INT TERM

# Prints the table row of one measurement, or with "mean" the mean per
# direction over all runs: demo_table row|mean RESULTS_FILE
demo_table() {
  python3 - "$1" "$2" "$RATE1" "$RATE2" <<'PY'
import collections, sys
what, path, r1, r2 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
rows = [line.split() for line in open(path)]

def show(label, direction, l1, l2, bond, retr):
    print("%-5s %-5s %8.1f %8.1f %8.1f %8.1f %9.0f%% %9.0f%% %8s"
          % (label, direction, l1, l2, bond, l1 + l2, 100 * bond / max(l1 + l2, 1e-9),
             100 * bond / (r1 + r2), retr))

if what == "row":
    run, direction, *values, retr = rows[-1]
    show(run, direction, *map(float, values), retr)
else:
    by_direction = collections.defaultdict(list)
    for _, direction, *values, _ in rows:
        by_direction[direction].append(list(map(float, values)))
    for direction, runs in by_direction.items():
        show("mean", direction, *(sum(v) / len(runs) for v in zip(*runs)), "")
PY
}

# Measures one direction over wan1, wan2 and the bond; appends
# "RUN DIR L1 L2 BOND BOND_RETRANSMITS" to RESULTS_FILE and prints its row.
demo_measure() {
  local run="$1" direction="$2" results="$3" via line="$1 $2"
  for via in wan1 wan2 bond; do
    lab_route_client "$via"
    line+=" $(lab_iperf "$direction" "$SECONDS_PER_TEST" || echo 0.0)"
  done
  line+=" $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_sent"].get("retransmits", "-"))' \
    "$LAB_DIR/iperf.json" 2>/dev/null || echo -)"
  echo "$line" >>"$results"
  demo_table row "$results"
}

echo "Building the lab: uplinks of $RATE1 and $RATE2 Mbit/s (tbf), a bonding peer and a server..."
lab_create
lab_start_agents
results="$LAB_DIR/demo-results"

bond_mtu="$(lab_ns client cat /sys/class/net/mb0/mtu)"
echo
echo "iperf3 goodput in Mbit/s (receiver side, one TCP flow, ${SECONDS_PER_TEST} s after 2 s of slow start)."
echo "up = client -> server, down = server -> client. BOND/SUM: the bond against link 1 + link 2"
echo "measured alone; BOND/CONF: against the configured $RATE1 + $RATE2 Mbit/s. tbf counts Ethernet"
echo "frames, so one TCP flow (1448 B of payload per 1514 B frame) tops out at 95.6% of a link's"
echo "rate, and at $((bond_mtu - 52))/1514 = $(awk "BEGIN { printf \"%.1f\", ($bond_mtu - 52) * 100 / 1514 }")%" \
  "over the bond (MTU $bond_mtu: its 40-byte encapsulation must fit in the uplink's frames)."
echo
printf '%-5s %-5s %8s %8s %8s %8s %10s %10s %8s\n' RUN DIR LINK1 LINK2 BOND SUM BOND/SUM BOND/CONF RETR
for run in $(seq "$RUNS"); do
  for direction in up down; do
    demo_measure "$run" "$direction" "$results"
  done
done
if ((RUNS > 1)); then demo_table mean "$results"; fi
echo "(RETR: TCP retransmissions during the bond transfer; reordering across paths shows up here.)"

for node in client peer; do
  echo
  echo "== meshbpf status of the $node (its TX counters show how it spread its sending over the paths) =="
  lab_status "$node"
done

echo
echo "== meshbpf stats of the client, in the middle of one more ${SECONDS_PER_TEST} s bond upload =="
lab_route_client bond
lab_iperf up "$SECONDS_PER_TEST" >/dev/null &
uploader=$!
sleep $((SECONDS_PER_TEST / 2 + 2))
lab_cli client stats
wait "$uploader" || true
plot="${DEMO_PLOT:-/tmp/meshbpf-demo-stats.png}"
echo
lab_cli client stats --since 5m
lab_cli client stats --since 5m --plot "$plot" >/dev/null &&
  echo "throughput and RTT per uplink over the whole demo: $plot"
