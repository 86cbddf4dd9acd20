#!/usr/bin/env bash
# The meshbpf benchmark suite: builds the project, then, in one run, compares
# the meshbpf bond with the best single uplink (the floor) and with Linux
# MPTCP over the same shaped links (the reference), in both directions:
#   1. 40 + 20 Mbit/s clean        2. 50 + 20 + 5 Mbit/s
#   3. 40 + 20, 2% loss on the 20  4. 40 + 20, 20 ms one-way delay on the 20
#   5. 40 + 20, 8 parallel flows   6. 40 + 20, 15 ms one-way on both (an internet RTT)
#   7. DSL + LTE: 50 Mbit/s at 8 ms one-way, 20 Mbit/s at 35 ms
#   8. 40 + 20, 1% loss on both    9. 40 + 20, bursty: tbf buckets of 50 ms of rate
#   10. 40 + 20, the 20 falls to 5 Mbit/s from 10 s to 20 s of a 30 s download
#       (goodput per second: results/rate_step.png)
#   (all but 5: one flow)
#   11. UDP at 90% of 40 + 20 Mbit/s   12. UDP at 90% of the DSL + LTE pair of 7
#       (fixed-rate iperf3 -u: delivered, lost, out of order, jitter; single vs bond)
# then the bond's overhead on unshaped veth (TCP Gbit/s, 64 B UDP packets/s,
# against plain routing) and the per-packet cost of every TC program against
# an empty one. Writes results/results.md, results/goodput.png and the raw
# rows results/raw.jsonl; prints the tables.
#   vmtests/bench/run.sh                 the full suite (about 25 minutes on 2 cores)
#   BENCH_REPS=1 BENCH_SECONDS=3 vmtests/bench/run.sh    a quick pass (10 keeps its 30 s)
#   BENCH_ONLY="1 cost" ...              only some parts (1-12, unshaped, cost)
#   BENCH_RESULTS=/tmp/b ...             write the results there, not in results/
#   BENCH_BUILD=0 ...                    use the build in MESHBPF_BUILD_DIR as it is
#   BENCH_CC=cubic ...                   TCP congestion control of every flow (all
#                                        methods); default: the system's
#   LAB_LINK_AGGREGATION=', "reorder_deadline_ms": 100' ...   extra link_aggregation
#                                        members of both agents (see lab.sh)
# Everything runs in network namespaces of its own (vmtests/lib/lab.sh),
# removed on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/vmtests/bench"
export BENCH_REPS="${BENCH_REPS:-3}"
export BENCH_SECONDS="${BENCH_SECONDS:-4}"
export LAB_IPERF_OMIT="${LAB_IPERF_OMIT:-1}"
export LAB_IPERF_CC="${BENCH_CC:-$(sysctl -n net.ipv4.tcp_congestion_control)}"
BENCH_ONLY="${BENCH_ONLY:-1 2 3 4 5 6 7 8 9 10 11 12 unshaped cost}"
RESULTS="${BENCH_RESULTS:-$ROOT/results}"
BUILD="${MESHBPF_BUILD_DIR:-$ROOT/build}"

[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (BPF, network namespaces)" >&2; exit 1; }
for n in BENCH_REPS BENCH_SECONDS; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: $n must be a positive whole number, got '${!n}'" >&2; exit 2; }
done
for part in $BENCH_ONLY; do
  [[ "$part" =~ ^([1-9]|1[0-2]|unshaped|cost)$ ]] ||
    { echo "run.sh: unknown part '$part' in BENCH_ONLY (1-12, unshaped, cost)" >&2; exit 2; }
done
wants() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }

start=$SECONDS
if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
  MESHBPF_BUILD_DIR="$BUILD" "$ROOT/scripts/dev.sh" build >/dev/null
else
  cmake --build "$BUILD" -j2 --target meshbpf-prog-cost meshbpf-delay-stage >/dev/null
fi
export MESHBPF_BIN="$BUILD"
mkdir -p "$RESULTS"
export BENCH_OUT="$RESULTS/raw.jsonl"
: >"$BENCH_OUT"
echo "[bench] built in $((SECONDS - start)) s; $BENCH_REPS runs of ${BENCH_SECONDS} s per cell; load: $(cut -d' ' -f1-3 /proc/loadavg); TCP congestion control $LAB_IPERF_CC" >&2

scenario() { env "$@" bash "$HERE/scenario.sh"; }
# Scenarios 1 and 5 share the 40 + 20 lab.
cases=""
wants 1 && cases+=" 1:1"
wants 5 && cases+=" 5:8"
[[ -n "$cases" ]] && scenario RATES="40 20" BENCH_CASES="$cases"
wants 2 && scenario RATES="50 20 5" BENCH_CASES="2:1"
wants 3 && scenario RATES="40 20" BENCH_CASES="3:1" BENCH_LOSS="2:2"
wants 4 && scenario RATES="40 20" DELAYS="0 20" BENCH_CASES="4:1"
wants 6 && scenario RATES="40 20" DELAYS="15 15" BENCH_CASES="6:1"
wants 7 && scenario RATES="50 20" DELAYS="8 35" BENCH_CASES="7:1"
wants 8 && scenario RATES="40 20" BENCH_CASES="8:1" BENCH_LOSS="1:1 2:1"
wants 9 && scenario RATES="40 20" BENCH_CASES="9:1" LAB_TBF_BURST_MS=50
# A download only, long enough to see the dip and the recovery; iperf3's 1 s
# reports from the start (no omitted slow start) so the seconds line up with
# the rate changes.
wants 10 && scenario RATES="40 20" BENCH_CASES="10:1" BENCH_DIRECTIONS=down BENCH_SECONDS=30 \
  LAB_IPERF_OMIT=0 BENCH_RATE_STEP="2:5:10:20"
wants 11 && scenario RATES="40 20" BENCH_KIND=udp BENCH_CASES="11" BENCH_UDP_PERCENT=90
wants 12 && scenario RATES="50 20" DELAYS="8 35" BENCH_KIND=udp BENCH_CASES="12" BENCH_UDP_PERCENT=90
wants unshaped && scenario RATES="10000 10000" LAB_SHAPED=0 BENCH_KIND=unshaped
# Five rounds of 50,000 runs per packet, each its own process: one round's
# median moves by up to a third with where it ran; the report takes the
# median of the rounds and each round's ratio to the empty program.
if wants cost; then
  for round in 1 2 3 4 5; do
    "$BUILD/meshbpf-prog-cost" 50000 | sed "s/^{/{\"round\": $round, /" >>"$BENCH_OUT"
  done
fi

python3 "$HERE/bench.py" report --results "$BENCH_OUT" --out-dir "$RESULTS" --reps "$BENCH_REPS" \
  --cc "$LAB_IPERF_CC" --seconds "$BENCH_SECONDS"
if [[ -s "$RESULTS/goodput.dat" ]] && grep -q '^"' "$RESULTS/goodput.dat"; then
  gnuplot -e "data='$RESULTS/goodput.dat'; out='$RESULTS/goodput.png'" "$HERE/goodput.gp"
  echo "[bench] chart: $RESULTS/goodput.png" >&2
fi
if [[ -s "$RESULTS/rate_step.dat" ]] && grep -q '^[0-9]' "$RESULTS/rate_step.dat"; then
  gnuplot -e "data='$RESULTS/rate_step.dat'; out='$RESULTS/rate_step.png'" "$HERE/rate_step.gp"
  echo "[bench] chart: $RESULTS/rate_step.png" >&2
fi
echo "[bench] done in $((SECONDS - start)) s; table: $RESULTS/results.md" >&2
