#!/usr/bin/env bash
# Redundant mode: every packet goes on both paths and the receiver's data
# path drops the second copy. With 10% loss on link 2, a UDP stream must
# arrive (nearly) complete and without duplicates at the application. (Not
# more loss: at 30% each way half the probe round trips are lost, three in a
# row often enough that health takes link 2 down for stretches, rightly for a
# path that bad, and then it carries no copies.)
set -euo pipefail
export LAB_MODE=redundant
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_link_loss 2 10
lab_start_agents
lab_route_client bond
# Resolve each uplink's gateway so clones have MACs from the first packet on.
for gw in 10.201.1.1 10.201.2.1; do lab_ns client ping -c 1 -W 1 -q "$gw" >/dev/null || true; done

report="$(lab_udp_stream 1000 2)"
echo "redundant, 10% loss on link 2: $report"
lab_status peer --json >"$LAB_DIR/peer-status.json"
python3 - "$report" "$LAB_DIR/peer-status.json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
peer = json.load(open(sys.argv[2]))
dups = sum(p["drops"]["duplicate"] for p in peer["paths"])
print(f"peer data path dropped {dups} duplicate copies")
assert r["duplicates"] == 0, "the application saw duplicates"
assert r["unique"] >= 0.99 * r["sent"], f"lost {r['sent'] - r['unique']} of {r['sent']} packets"
assert dups >= 0.5 * r["sent"], "copies did not travel on both paths"
print("PASS")
PY
