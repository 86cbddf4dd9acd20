#!/usr/bin/env bash
# Carrier loss on an uplink while traffic flows: the agent takes the path out
# as soon as netlink reports it, a TCP transfer continues without a reset,
# a UDP stream loses only what was in flight, and the path comes back when
# the link does. The outage is printed, asserted only with a wide margin.
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

path_state() { lab_path_field client "$1" state; }  # path_state ID

lab_create
lab_start_agents
lab_route_client bond

# "Cable pull" at the ISP end: the client's wan2 loses carrier.
(sleep 3; lab_ns inet ip link set c2 down) &
puller=$!
lab_ns server iperf3 -s -1 -D >/dev/null 2>&1
lab_wait_port server 5201
tcp="$(lab_ns client iperf3 -J -c "$SERVER_IP" -t 8 2>&1)" || lab_fail "iperf3 failed across the link loss: $tcp"
wait "$puller"
python3 - "$tcp" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert "error" not in r, r.get("error")
intervals = [i["sum"]["bits_per_second"] / 1e6 for i in r["intervals"]]
print("TCP goodput per second (link 2 pulled at 3 s):", " ".join(f"{x:.0f}" for x in intervals))
assert all(x > 1 for x in intervals[-3:]), "the transfer stalled after the link loss"
PY
[[ "$(path_state 1)" == disabled ]] || lab_fail "path 1 still $(path_state 1) after carrier loss"
echo "ok: path 1 disabled, TCP transfer continued"

# Outage seen by a 1 ms UDP stream when the other link goes.
lab_ns inet ip link set c2 up
for _ in $(seq 200); do [[ "$(path_state 1)" == active ]] && break; sleep 0.1; done
[[ "$(path_state 1)" == active ]] || lab_fail "path 1 did not come back with its link"
echo "ok: path 1 active again after carrier returned"
(sleep 1.5; lab_ns inet ip link set c1 down) &
puller=$!
report="$(lab_udp_stream 3000 1)"
wait "$puller"
echo "UDP stream across carrier loss of link 1: $report"
python3 - "$report" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"outage (longest gap between arrivals): {r['longest_gap_ms']} ms, lost {r['sent'] - r['unique']} packets")
assert r["unique"] >= 0.95 * r["sent"], "lost more than 5% of the stream"
assert r["longest_gap_ms"] < 1000, "outage of a second or more"
print("PASS")
PY
