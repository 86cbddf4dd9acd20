#!/usr/bin/env bash
# One lab of the benchmark suite (run by vmtests/bench/run.sh, which says what
# the figures mean). Builds the lab from RATES / DELAYS (see lab.sh), starts
# both agents, readies MPTCP, then measures and appends one JSON line per
# measurement to BENCH_OUT:
#   shaped:   BENCH_CASES="ID:STREAMS ..." x BENCH_DIRECTIONS (default "up down")
#             x {single, bond, mptcp} x BENCH_REPS; "single" is plain routing
#             over the fastest uplink.
#             BENCH_LOSS="LINK:PERCENT ..." adds random loss on those links.
#             BENCH_RATE_STEP="LINK:MBIT:FROM_S:TO_S" sets that link's rate
#             to MBIT from FROM_S to TO_S seconds into every measurement.
#   unshaped: (BENCH_KIND=unshaped, LAB_SHAPED=0) TCP Gbit/s and 64-byte UDP
#             packets/s, plain routing over wan1 vs the bond.
#   udp:      (BENCH_KIND=udp) BENCH_CASES="ID": UDP at a fixed rate,
#             BENCH_UDP_PERCENT (default 90) of the sum of the link rates,
#             x BENCH_DIRECTIONS x {single, bond} x BENCH_REPS: delivered,
#             lost and out-of-order datagrams, jitter (MPTCP carries no UDP).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/../lib/lab.sh"
trap 'bench_rate_step_stop; lab_cleanup' EXIT
trap 'exit 130' INT TERM

: "${BENCH_OUT:?}" "${BENCH_REPS:?}" "${BENCH_SECONDS:?}"
BENCH_KIND="${BENCH_KIND:-shaped}"
BENCH_CASES="${BENCH_CASES:-}"
BENCH_LOSS="${BENCH_LOSS:-}"
BENCH_RATE_STEP="${BENCH_RATE_STEP:-}"
BENCH_RATE_STEP_PID=""
BENCH_TOOL="$HERE/bench.py"
for item in $BENCH_LOSS; do
  [[ "$item" =~ ^[0-9]+:[0-9]+$ ]] || lab_fail "BENCH_LOSS: '$item' is not LINK:PERCENT"
done
if [[ -n "$BENCH_RATE_STEP" ]]; then
  [[ "$BENCH_RATE_STEP" =~ ^([0-9]+):[0-9]+:([0-9]+):([0-9]+)$ ]] &&
    ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= ${#LAB_RATES[@]} &&
      BASH_REMATCH[2] < BASH_REMATCH[3])) ||
    lab_fail "BENCH_RATE_STEP: '$BENCH_RATE_STEP' is not LINK:MBIT:FROM_S:TO_S"
fi

# Counters the row is computed from: TCP/MPTCP counters of the client and the
# server, and the client's bytes per uplink. bench_snapshot DIR
bench_snapshot() {
  mkdir -p "$1"
  lab_ns client nstat -asz >"$1/client.nstat"
  lab_ns server nstat -asz >"$1/server.nstat"
  local n
  for n in $(seq ${#LAB_RATES[@]}); do
    echo "wan$n $(lab_ns client cat /sys/class/net/wan$n/statistics/tx_bytes) $(lab_ns client cat /sys/class/net/wan$n/statistics/rx_bytes)"
  done >"$1/links"
}

# The uplink with the highest rate, for the "best single uplink" baseline.
bench_best_link() {
  local n best=1
  for n in $(seq ${#LAB_RATES[@]}); do
    ((LAB_RATES[n - 1] > LAB_RATES[best - 1])) && best=$n
  done
  echo "wan$best"
}

# Starts BENCH_RATE_STEP's rate changes in the background, timed from now.
bench_rate_step_start() {
  local link mbit from to
  IFS=: read -r link mbit from to <<<"$BENCH_RATE_STEP"
  # A sleep in the background and wait: TERM (bench_rate_step_stop) ends the
  # changer at once, its sleep included.
  (
    trap 'kill $! 2>/dev/null; exit 0' TERM
    sleep "$from" & wait $!
    lab_link_rate "$link" "$mbit"
    sleep $((to - from)) & wait $!
    lab_link_rate "$link" "${LAB_RATES[link - 1]}"
  ) &
  BENCH_RATE_STEP_PID=$!
}

# Stops the rate changer if it still runs (a measurement that ended early)
# and gives the link its rate back. Safe to call when nothing runs.
bench_rate_step_stop() {
  [[ -n "$BENCH_RATE_STEP_PID" ]] || return 0
  kill "$BENCH_RATE_STEP_PID" 2>/dev/null || true
  wait "$BENCH_RATE_STEP_PID" 2>/dev/null || true
  BENCH_RATE_STEP_PID=""
  local link="${BENCH_RATE_STEP%%:*}"
  lab_link_rate "$link" "${LAB_RATES[link - 1]}" 2>/dev/null || true
}

# One iperf3 measurement, recorded: bench_tcp SCENARIO METHOD DIRECTION STREAMS REP
bench_tcp() {
  local scenario="$1" method="$2" direction="$3" streams="$4" rep="$5" mbit error=""
  case "$method" in
    single) lab_route_client "$(bench_best_link)" ;;
    bond) lab_route_client bond ;;
    mptcp) lab_route_client wan1 ;;
  esac
  [[ "$method" == mptcp ]] && export LAB_IPERF_WRAP="mptcpize run" || export LAB_IPERF_WRAP=""
  rm -f "$LAB_DIR/iperf.json"
  bench_snapshot "$LAB_DIR/before"
  [[ -n "$BENCH_RATE_STEP" ]] && bench_rate_step_start
  mbit="$(lab_iperf "$direction" "$BENCH_SECONDS" "$streams" 2>"$LAB_DIR/iperf.err")" ||
    error="$(cat "$LAB_DIR/iperf.err")"
  bench_rate_step_stop
  bench_snapshot "$LAB_DIR/after"
  python3 "$BENCH_TOOL" record --scenario "$scenario" --method "$method" \
    --direction "$direction" --streams "$streams" --rep "$rep" --rates "${LAB_RATES[*]}" \
    --iperf "$LAB_DIR/iperf.json" --before "$LAB_DIR/before" --after "$LAB_DIR/after" \
    --error "$error" --rate-step "$BENCH_RATE_STEP" >>"$BENCH_OUT"
  tail -n 1 "$BENCH_OUT" | python3 "$BENCH_TOOL" show >&2
}

# UDP at a fixed rate, recorded: bench_udp SCENARIO METHOD DIRECTION REP MBIT
# 1400-byte datagrams (they fit the bond's MTU whole); iperf3's receiver
# counts lost and out-of-order datagrams and the RFC 3550 jitter.
bench_udp() {
  local scenario="$1" method="$2" direction="$3" rep="$4" mbit="$5" reverse=() server error=""
  [[ "$method" == single ]] && lab_route_client "$(bench_best_link)" || lab_route_client bond
  [[ "$direction" == down ]] && reverse=(-R)
  rm -f "$LAB_DIR/udp.json"
  # The server's JSON comes back with the client's (--get-server-output): on
  # an upload only the server knows what arrived out of order.
  ip netns exec "$LAB-server" iperf3 -s -1 -J -B "$SERVER_IP" >/dev/null 2>&1 &
  server=$!
  lab_wait_port server 5201
  lab_ns client timeout --foreground $((BENCH_SECONDS + 20)) iperf3 -J -u -b "${mbit}M" -l 1400 \
    --get-server-output -c "$SERVER_IP" -t "$BENCH_SECONDS" "${reverse[@]}" \
    >"$LAB_DIR/udp.json" 2>"$LAB_DIR/udp.err" ||
    error="iperf3 failed: $(tail -c 300 "$LAB_DIR/udp.err")"
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  python3 "$BENCH_TOOL" record-udp --scenario "$scenario" --method "$method" \
    --direction "$direction" --rep "$rep" --rates "${LAB_RATES[*]}" --offered-mbit "$mbit" \
    --udp "$LAB_DIR/udp.json" --error "$error" >>"$BENCH_OUT"
  tail -n 1 "$BENCH_OUT" | python3 "$BENCH_TOOL" show >&2
}

# Receiver-side 64-byte UDP packets/s and TCP goodput without shaping:
# bench_unshaped METHOD REP
bench_unshaped() {
  local method="$1" rep="$2" server
  [[ "$method" == plain ]] && lab_route_client wan1 || lab_route_client bond
  export LAB_IPERF_WRAP=""
  lab_iperf up "$BENCH_SECONDS" >/dev/null
  cp "$LAB_DIR/iperf.json" "$LAB_DIR/tcp.json"
  ip netns exec "$LAB-server" iperf3 -s -1 -B "$SERVER_IP" >/dev/null 2>&1 &
  server=$!
  lab_wait_port server 5201
  lab_ns client timeout --foreground $((BENCH_SECONDS + 20)) iperf3 -J -u -b 0 -l 22 \
    -c "$SERVER_IP" -t "$BENCH_SECONDS" >"$LAB_DIR/udp.json" 2>&1 || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  python3 "$BENCH_TOOL" record-unshaped --method "$method" --rep "$rep" \
    --tcp "$LAB_DIR/tcp.json" --udp "$LAB_DIR/udp.json" >>"$BENCH_OUT"
  tail -n 1 "$BENCH_OUT" | python3 "$BENCH_TOOL" show >&2
}

lab_create
lab_start_agents
lab_log "lab: rates ${LAB_RATES[*]} Mbit/s, delays ${LAB_DELAYS[*]:-none} ms, loss ${BENCH_LOSS:-none}, shaped $LAB_SHAPED, tbf bucket ${LAB_TBF_BURST_MS} ms${BENCH_RATE_STEP:+, rate step $BENCH_RATE_STEP}"

if [[ "$BENCH_KIND" == unshaped ]]; then
  for rep in $(seq "$BENCH_REPS"); do
    for method in plain bond; do bench_unshaped "$method" "$rep"; done
  done
  exit 0
fi

# The emulated delay, verified: ping over each uplink, minimum RTT (= 2 x
# one-way; the first ping also waits for ARP through the delay).
for n in $(seq ${#LAB_RATES[@]}); do
  rtt="$(lab_ns client ping -q -c 5 -i 0.2 "10.201.$n.1" | awk -F'[/=]' '/^rtt/ {print $5 + 0}')"
  [[ -n "$rtt" ]] || lab_fail "ping over wan$n got no answer"
  echo "{\"kind\": \"ping\", \"scenario\": \"${BENCH_CASES%%:*}\", \"link\": \"wan$n\", \"one_way_delay_ms\": $(lab_link_delay "$n"), \"rtt_ms\": $rtt}" >>"$BENCH_OUT"
  lab_log "ping over wan$n: RTT $rtt ms (configured one-way delay $(lab_link_delay "$n") ms)"
done

if [[ "$BENCH_KIND" == udp ]]; then
  percent="${BENCH_UDP_PERCENT:-90}"
  [[ "$percent" =~ ^[1-9][0-9]*$ ]] || lab_fail "BENCH_UDP_PERCENT: '$percent' is not a whole percentage"
  sum=0
  for rate in "${LAB_RATES[@]}"; do sum=$((sum + rate)); done
  mbit="$(awk -v s="$sum" -v p="$percent" 'BEGIN { printf "%g", s * p / 100 }')"
  for rep in $(seq "$BENCH_REPS"); do
    for case in $BENCH_CASES; do
      for direction in ${BENCH_DIRECTIONS:-up down}; do
        for method in single bond; do bench_udp "$case" "$method" "$direction" "$rep" "$mbit"; done
      done
    done
  done
  exit 0
fi

lab_mptcp_setup
for item in $BENCH_LOSS; do lab_link_loss "${item%%:*}" "${item##*:}"; done

for rep in $(seq "$BENCH_REPS"); do
  for case in $BENCH_CASES; do
    for direction in ${BENCH_DIRECTIONS:-up down}; do
      for method in single bond mptcp; do
        bench_tcp "${case%%:*}" "$method" "$direction" "${case##*:}" "$rep"
      done
    done
  done
done
