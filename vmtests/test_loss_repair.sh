#!/usr/bin/env bash
# Loss repair inside the tunnel (docs/design/loss-repair.md): link 2 drops
# 5% of its packets both ways (nftables at the ISP router), and the agents
# are told rates far below the real ones, so a light UDP stream is spread
# over both paths. With link_aggregation.loss_repair the peer's data path
# reports each packet lost on link 2, its agent asks the client's agent,
# which sends the kept copy again on link 1: the server must see the stream
# complete and in order, and the peer's counters must show the repairs
# (and `status --json` the same), the client's agent the copies it sent
# (`status` and /metrics). A file over TCP, both ways, must then arrive
# intact (sha256) through the lossy bond. The tunnel is authenticated: a
# repair is a new packet with its own counter and tag.
# LOSS_REPAIR=false runs the same lab without repair, to see the loss it
# hides (the assertions then fail).
set -euo pipefail
export CONFIG_RATES="1 1"
repair="${LOSS_REPAIR:-true}"
export LAB_LINK_AGGREGATION=", \"reorder_deadline_ms\": 100, \"loss_repair\": $repair"
export LAB_CLIENT_MONITORING=', "metrics_listen": "127.0.0.1:9464"'
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_start_authenticated
lab_route_client bond
keeps_copies() { lab_status_eval "$1" "s['health']['loss_repair']['keeps_copies']"; }
# Nothing lost, nothing asked for: no copies (they cost CPU per packet).
[[ "$(keeps_copies client)" == False ]] || lab_fail "the client keeps copies before any loss"
lab_link_loss 2 5

# 3000 datagrams of 200 B, one per ms: ~2 Mbit/s, twice what the agents
# think one path carries, so both paths take a share; ~75 lost without repair.
report="$(lab_udp_stream 3000 1)"
echo "5% loss on link 2, loss_repair $repair: $report"
status="$(lab_status peer --json)"
sender="$(lab_status client --json)"
metrics="$(lab_ns client python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5).read().decode())')"
lab_status peer | grep -A3 '^resequencing:'
lab_status client | grep 'loss repair:' || true
python3 - "$report" "$status" "$sender" "$metrics" <<'PY'
import json, re, sys
r, reseq = json.loads(sys.argv[1]), json.loads(sys.argv[2])["resequencing"]
agent = json.loads(sys.argv[3])["health"]["loss_repair"]
assert agent is not None, "the client's status has no loss_repair block"
sent, lost = r["sent"], r["sent"] - r["unique"]
print(f"lost {lost} of {sent}; peer asked for {reseq['repairs_requested']} repairs, "
      f"{reseq['repaired']} filled their gap, {reseq['gaps_skipped']} gaps given up; "
      f"client sent {agent['repairs_sent']} copies again ({agent['copies_missing']} gone)")
assert agent["repairs_sent"] >= reseq["repaired"], "the peer got repairs the client never sent"
assert agent["peer_repairs"], "the client does not know the peer repairs"
assert agent["keeps_copies"], "the peer asked for repairs, yet the client keeps no copies"
served = dict(re.findall(r'^meshbpf_loss_repair_total\{bond="mb0",event="(\w+)"\} (\d+)$', sys.argv[4], re.M))
assert int(served.get("repairs_sent", -1)) >= agent["repairs_sent"], f"/metrics: {served}"

# 5% of link 2's ~1500 packets is ~75 lost; a repair is lost only if link 1
# loses it, and the first 4 losses find no copy (kept once the peer asks
# for 4 within a second: PathSupervisor::kCopiesAfterLosses).
assert reseq["repairs_requested"] >= 30, f"only {reseq['repairs_requested']} repairs asked for"
assert reseq["repaired"] >= 0.8 * reseq["repairs_requested"], "most repairs never arrived"
assert lost <= 0.005 * sent, f"lost {lost} of {sent} datagrams despite repair"
assert r["reordered"] <= 0.005 * sent, f"{r['reordered']} of {sent} arrived out of order"
PY

# Repairs are the frames that were lost, whole: TCP both ways, checksums intact.
lab_blob_intact 4M
echo "peer resequencer after TCP: $(lab_status peer --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["resequencing"]
print({k: r[k] for k in ("repairs_requested", "repaired", "gaps_skipped")})')"

# The client restarts without loss repair. Its probe replies say so, and
# the peer stops waiting for repairs that would never come: it asks for
# none and gives lost packets up at once (the stream then loses them).
lab_stop_agent client || true
lab_set_link_aggregation client loss_repair false
lab_start_agent client
peer_gave_up_waiting() {
  [[ "$(lab_status_eval peer "s['health']['loss_repair']['peer_repairs'], s['health']['loss_repair']['wait_us']")" == "False 0" ]]
}
wait_until 20 "every path up again after the client's restart" lab_paths_up
wait_until 20 "the peer seeing that the client does not repair" peer_gave_up_waiting
lab_status peer | grep 'loss repair:'
requested() { lab_status_eval peer "s['resequencing']['repairs_requested']"; }
before="$(requested)"
report="$(lab_udp_stream 3000 1)"
after="$(requested)"
echo "client without loss repair: $report; peer asked for $((after - before)) repairs"
((after == before)) || lab_fail "the peer asked $((after - before)) times for repairs the client does not make"
python3 - "$report" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
lost = r["sent"] - r["unique"]
assert lost >= 10, f"only {lost} lost: is link 2 still lossy?"
PY
echo PASS
