#!/usr/bin/env bash
# Receive-side resequencing (docs/design/resequencing.md): link 2 carries
# 20 ms more one-way delay (the delay stage) and the agents are told rates
# far below the real ones, so the scheduler spreads even a light UDP stream
# over both paths and packets on link 2 arrive 20 ms behind their
# neighbours on link 1. With link_aggregation.reorder_deadline_ms = 100 (the
# most the agents may choose) the peer's data path holds the early packets
# (and those of link 1 for its 20 ms less delay) and the server must see the
# stream in order, and (nearly) complete (the agents' receive steering
# keeps released packets in order after the resequencer too); the peer's `meshbpf status
# --json`, `stats --json` and /metrics must show the deadline the agent
# chose from the measured skew, and the counters the maps hold. A file over
# TCP, both ways, must then arrive intact (sha256).
# REORDER_DEADLINE_MS=0 runs the same lab with resequencing off, to see the
# reordering it repairs (the assertions then fail).
set -euo pipefail
export DELAYS="0 20" CONFIG_RATES="1 1"
deadline_ms="${REORDER_DEADLINE_MS:-100}"
export LAB_LINK_AGGREGATION=", \"reorder_deadline_ms\": $deadline_ms"
METRICS=127.0.0.1:9464
export LAB_PEER_MONITORING=", \"metrics_listen\": \"$METRICS\""
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_start_agents
lab_route_client bond

# Released packets leave the resequencer from whichever CPU holds its state:
# the agents steer each flow to one CPU on the bond (RPS) so that two sent
# from two CPUs cannot swap after it.
for node in client peer; do
  rps="$(lab_ns "$node" cat /sys/class/net/mb0/queues/rx-0/rps_cpus)"
  [[ "$rps" =~ [1-9a-f] ]] || lab_fail "the $node agent left receive steering off on mb0 (rps_cpus $rps)"
done

# Sums one node's resequencer counters (per CPU) into one JSON object.
reseq_counters() {
  local map
  map="$(find "$LAB_DIR/bpffs" -path "*$1*" -name mb_reseq_counters | head -1)"
  [[ -n "$map" ]] || lab_fail "the $1's mb_reseq_counters is not pinned"
  bpftool -j map lookup pinned "$map" key 0 0 0 0 | python3 -c '
import json, sys
c = {}
for cpu in json.load(sys.stdin)["formatted"]["values"]:
    for name, value in cpu["value"].items():
        c[name] = c.get(name, 0) + value
print(json.dumps(c))'
}

# 3000 datagrams of 200 B, one per ms: ~2 Mbit/s, twice what the agents think
# one path carries, so both paths take a share.
report="$(lab_udp_stream 3000 1)"
echo "20 ms skew, reorder deadline $deadline_ms ms: $report"
peer="$(reseq_counters peer)"
echo "peer resequencer: $peer"
python3 - "$report" "$peer" <<'PY'
import json, sys
r, c = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sent = r["sent"]
assert r["unique"] >= 0.99 * sent, f"lost {sent - r['unique']} of {sent} packets"
assert c["held"] >= 0.05 * sent, f"only {c['held']} packets waited: the paths did not reorder"
assert r["reordered"] <= 0.005 * sent, f"{r['reordered']} of {sent} packets arrived out of order"
PY

# What people see of it: status (read from the maps by the CLI), stats and
# /metrics (from the agent) agree with the counters read by bpftool above.
# Held and released-in-order no longer change once the stream is over
# (probes carry no sequence number).
status="$(lab_status peer --json)"
stats="$(lab_cli peer stats --json)"
metrics="$(lab_ns peer python3 -c "
import sys, urllib.request
print(urllib.request.urlopen('http://$METRICS/metrics', timeout=5).read().decode())")"
lab_status peer | grep -A2 '^resequencing:'
python3 - "$peer" "$deadline_ms" "$status" "$stats" "$metrics" <<'PY'
import json, re, sys
maps, deadline_ms = json.loads(sys.argv[1]), int(sys.argv[2])
for what, text in (("status", sys.argv[3]), ("stats", sys.argv[4])):
    r = json.loads(text)["resequencing"]
    assert r is not None, f"{what} --json has no resequencing block"
    # The measured 20 ms skew plus a margin of at least 25 ms, at most the configured.
    assert 40_000 <= r["deadline_us"] <= deadline_ms * 1000, f"{what}: deadline {r['deadline_us']} us"
    assert r["window"] == 1024, f"{what}: window {r['window']}"
    assert 0 <= r["occupancy"] <= r["window"], f"{what}: occupancy {r['occupancy']}"
    assert r["held"] > 0 and r["released_in_order"] > 0, f"{what}: nothing held or released: {r}"
    for counter in ("held", "released_in_order"):
        assert r[counter] == maps[counter], f"{what}: {counter} {r[counter]}, maps {maps[counter]}"
metrics = dict(re.findall(r'^(meshbpf_reseq_\S+) (\S+)$', sys.argv[5], re.M))
def metric(name):
    assert name in metrics, f"/metrics has no {name}"
    return float(metrics[name])
deadline_s = json.loads(sys.argv[3])["resequencing"]["deadline_us"] / 1e6
assert metric('meshbpf_reseq_deadline_seconds{bond="mb0"}') == deadline_s
for event in ("held", "released_in_order"):
    value = metric(f'meshbpf_reseq_packets_total{{bond="mb0",event="{event}"}}')
    assert value == maps[event], f"/metrics {event} {value}, maps {maps[event]}"
print("status, stats and /metrics show the resequencer")
PY

# Integrity: frames re-emitted from the slots are the frames that arrived.
lab_blob_intact 4M
echo "resequencers after TCP: client $(reseq_counters client), peer $(reseq_counters peer)"
echo PASS
