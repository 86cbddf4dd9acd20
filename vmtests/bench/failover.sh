#!/usr/bin/env bash
# Failover benchmark (issue 4), three runs of each, every figure next to a
# baseline measured in the same run:
#   link down   carrier of link 1 pulled under a 1 ms UDP stream over the bond:
#               packets lost and the span of sequence numbers they cover (the
#               outage); baseline: the same stream with nothing failing.
#   blackhole   link 1 silently drops everything (nftables; carrier stays up):
#               the outage until the probes take the path out, as a ratio of
#               failover.threshold x monitoring_interval (3 x 0.2 s).
#   lossy path  5% random loss on link 2: 12 s TCP upload over the bond (health
#               detection included) against plain routing over the clean link 1
#               alone (the best single clean path).
# Not a test: nothing is asserted; it prints the figures.
#   vmtests/bench/failover.sh            (MESHBPF_BIN: build dir, default build/)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export MESHBPF_BIN="${MESHBPF_BIN:-$ROOT/build}"
RUNS="${BENCH_RUNS:-3}"
STREAM_MS=1
THRESHOLD=3
INTERVAL=0.2

# One lab per measurement, so no run inherits another's health state.
# measure KIND: prints one JSON line.
measure() {
  bash -c '
    set -euo pipefail
    source "$0/vmtests/lib/lab.sh"
    trap lab_cleanup EXIT
    lab_create >&2
    lab_start_agents >&2
    lab_route_client bond
    sleep 2  # both paths confirmed up by the probes
    case "$1" in
      calm) lab_udp_stream 3000 1 ;;
      linkdown)
        (sleep 1.5; lab_ns inet ip link set c1 down) &
        lab_udp_stream 3000 1 ;;
      blackhole)
        (sleep 1.5; lab_link_loss 1 100) &
        lab_udp_stream 3000 1 ;;
      lossy)
        lab_link_loss 2 5
        bond="$(LAB_IPERF_OMIT=0 lab_iperf up 12)"
        lab_link_clear 2
        lab_route_client wan1
        single="$(LAB_IPERF_OMIT=0 lab_iperf up 12)"
        echo "{\"bond\": $bond, \"single\": $single}" ;;
    esac' "$ROOT" "$1"
}

python_table() {
  python3 - "$THRESHOLD" "$INTERVAL" "$STREAM_MS" "$@" <<'PY'
import json, statistics, sys
threshold, interval, stream_ms = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rows = [json.loads(line) for line in sys.argv[4:]]
def span_ms(r):
    if r["first_lost"] is None:
        return 0.0
    return (r["last_lost"] - r["first_lost"] + 1) * stream_ms
target = threshold * interval * 1000
print("| run | calm: lost / longest gap | link down: lost, outage ms | blackhole: lost, outage ms | blackhole / (threshold x interval) | lossy bond Mbit/s | best clean single | bond / single |")
print("|---|---|---|---|---|---|---|---|")
ratios = {"bh": [], "lossy": [], "down": []}
for i, run in enumerate(zip(*[iter(rows)] * 4), 1):
    calm, down, bh, lossy = run
    ratios["down"].append(span_ms(down))
    ratios["bh"].append(span_ms(bh) / target)
    ratios["lossy"].append(lossy["bond"] / lossy["single"])
    print(f"| {i} | {calm['sent'] - calm['unique']} / {calm['longest_gap_ms']} ms "
          f"| {down['sent'] - down['unique']}, {span_ms(down):.0f} "
          f"| {bh['sent'] - bh['unique']}, {span_ms(bh):.0f} | {span_ms(bh) / target:.2f} "
          f"| {lossy['bond']:.1f} | {lossy['single']:.1f} | {lossy['bond'] / lossy['single']:.2f} |")
print()
print(f"median link-down outage: {statistics.median(ratios['down']):.0f} ms (target < 100 ms)")
print(f"median blackhole outage: {statistics.median(ratios['bh']):.2f} x threshold x interval "
      f"({target:.0f} ms)")
print(f"median lossy-path bond / best clean single: {statistics.median(ratios['lossy']):.2f}")
PY
}

rows=()
for run in $(seq "$RUNS"); do
  for kind in calm linkdown blackhole lossy; do
    echo "[failover bench] run $run: $kind" >&2
    rows+=("$(measure "$kind" | tail -1)")
  done
done
python_table "${rows[@]}"
