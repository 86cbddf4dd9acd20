#!/usr/bin/env bash
# Receive-side resequencing (docs/design/resequencing.md): link 2 carries
# 20 ms more one-way delay (the delay stage) and the agents are told rates
# far below the real ones, so the scheduler spreads even a light UDP stream
# over both paths and packets on link 2 arrive 20 ms behind their
# neighbours on link 1. With link_aggregation.reorder_deadline_ms = 100 (a
# wide margin over the skew) the peer's data path holds the early packets
# and the server must see the stream in order, and (nearly) complete. A
# file over TCP, both ways, must then arrive intact (sha256).
# REORDER_DEADLINE_MS=0 runs the same lab with resequencing off, to see the
# reordering it repairs (the assertions then fail).
set -euo pipefail
export DELAYS="0 20" CONFIG_RATES="1 1"
deadline_ms="${REORDER_DEADLINE_MS:-100}"
export LAB_LINK_AGGREGATION=", \"reorder_deadline_ms\": $deadline_ms"
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_start_agents
lab_route_client bond

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

# Integrity: frames re-emitted from the slots are the frames that arrived.
lab_blob_intact 4M
echo "resequencers after TCP: client $(reseq_counters client), peer $(reseq_counters peer)"
echo PASS
