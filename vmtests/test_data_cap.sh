#!/usr/bin/env bash
# Data cap on the client's wan2 (3 MB, one-off, policy stop) during a bonded
# upload: the data path stops using wan2 once the budget is spent, with no
# overshoot beyond one packet per CPU (plus the peer's probes that arrive
# while we look), the upload goes on over wan1, `meshbpf cap` shows the cap
# exhausted, the usage survives an agent restart, and `meshbpf cap --reset`
# brings wan2 back. Wire bytes are recomputed from the per-path counters:
# inner bytes + the 40-byte encapsulation per packet, sent and received.
# The upload is UDP (50 Mbit/s of 1400-byte datagrams), so the peer sends
# nothing on wan2 but probes: TCP's ACKs would come back over wan2 until the
# peer sees it fail, which the client's data path cannot refuse.
# vmtest: shares the machine (it counts bytes, not rates)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

LIMIT=3000000

lab_create
python3 - "$LAB_DIR/client.json" "$LIMIT" <<'PY'
import json, sys
path, limit = sys.argv[1], int(sys.argv[2])
config = json.load(open(path))
config["interfaces"]["uplinks"][1]["data_cap"] = {"limit_bytes": limit, "period": "one_off",
                                                 "when_exhausted": "stop"}
json.dump(config, open(path, "w"), indent=1)
PY
lab_start_agents
lab_route_client bond

udp_upload() {  # udp_upload SECONDS
  ip netns exec "$LAB-server" iperf3 -s -1 -B "$SERVER_IP" >/dev/null 2>&1 &
  local server=$!
  lab_wait_port server 5201 || return 1
  lab_ns client timeout --foreground $(($1 + 20)) iperf3 -u -b 50M -l 1400 -t "$1" \
    -c "$SERVER_IP" >/dev/null 2>&1 || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

snapshot() {  # snapshot FILE: status (counters) and cap of the client, in one JSON
  local status cap
  # The cap first: the agent's view of it is up to a poll (0.2 s) old, the
  # status counters are read from the maps now, so they are never older.
  cap="$(lab_cli client cap --json)"
  status="$(lab_status client --json)"
  printf '{"status": %s, "cap": %s}\n' "$status" "$cap" >"$1"
}

# A 8 s upload; note the counters as soon as the agent reports the cap spent.
udp_upload 8 &
iperf=$!
exhausted=""
while kill -0 "$iperf" 2>/dev/null; do
  snapshot "$LAB_DIR/at-exhaustion.json"
  if python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["cap"]["caps"][0]["exhausted"] else 1)' \
    "$LAB_DIR/at-exhaustion.json"; then
    exhausted=1
    break
  fi
  sleep 0.1
done
wait "$iperf" || lab_fail "the upload failed"
[[ -n "$exhausted" ]] || lab_fail "the cap was never reported exhausted during the upload"
sleep 1
snapshot "$LAB_DIR/after.json"

python3 - "$LAB_DIR/at-exhaustion.json" "$LAB_DIR/after.json" "$LIMIT" "$(nproc)" <<'PY'
import json, sys
at, after = (json.load(open(f)) for f in sys.argv[1:3])
limit, cpus = int(sys.argv[3]), int(sys.argv[4])

def path(snap, i):
    return next(p for p in snap["status"]["paths"] if p["id"] == i)

def wire(snap, i):
    p = path(snap, i)
    return p["tx_bytes"] + 40 * p["tx_packets"] + p["rx_bytes"] + 40 * p["rx_packets"]

def packets(snap, i):
    p = path(snap, i)
    return p["tx_packets"] + p["rx_packets"]

cap = after["cap"]["caps"][0]
print(f"wan2: {wire(at, 1)} wire bytes when reported exhausted, {wire(after, 1)} after the upload; "
      f"limit {limit}; the agent counts {cap['used_bytes']}")
# Up to ~0.5 s pass between exhaustion and our reading: allow the peer's
# probes of that time (one per 0.2 s, < 200 bytes each).
overshoot = wire(at, 1) - limit
allowed = cpus * 1500 + 1000
print(f"overshoot when reported: {overshoot} bytes (allowed: {cpus} CPUs x 1500 + 1000 for probes)")
assert 0 <= overshoot <= allowed, f"overshoot {overshoot} beyond {allowed}"
# Afterwards nothing leaves on wan2 (not even probes), and only the peer's
# probes arrive.
sent = path(after, 1)["tx_packets"] - path(at, 1)["tx_packets"]
grew, n = wire(after, 1) - wire(at, 1), packets(after, 1) - packets(at, 1)
print(f"wan2 after exhaustion: {sent} packets sent, {grew} bytes in {n} packets in all")
assert sent == 0, "packets still left on the spent uplink"
assert n == 0 or grew / n < 200, "data packets still arrived over the spent uplink"
# The agent's count is the data path's: at most the probes since it last read.
assert 0 <= wire(after, 1) - cap["used_bytes"] <= 3000, (wire(after, 1), cap["used_bytes"])
carried = path(after, 0)["tx_bytes"] - path(at, 0)["tx_bytes"]
print(f"wan1 carried {carried} bytes after wan2's cap ran out")
assert carried > 5_000_000, "the upload did not go on over wan1"
total = path(after, 0)["tx_bytes"] + path(after, 1)["tx_bytes"]
assert total > 20_000_000, f"only {total} bytes uploaded"
PY
echo "ok: cap enforced within one packet per CPU, upload continued on wan1"
lab_cli client cap

# Restart the client agent: the usage (and the cap's effect) persist.
used_before="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cap"]["caps"][0]["used_bytes"])' "$LAB_DIR/after.json")"
lab_stop_agent client || true
lab_start_agent client
lab_route_client bond
snapshot "$LAB_DIR/restarted.json"
udp_upload 3
sleep 0.5
snapshot "$LAB_DIR/restarted-after.json"
python3 - "$LAB_DIR/restarted.json" "$LAB_DIR/restarted-after.json" "$used_before" <<'PY'
import json, sys
before, after = (json.load(open(f)) for f in sys.argv[1:3])
used_before = int(sys.argv[3])
cap = before["cap"]["caps"][0]
print(f"after the restart: exhausted={cap['exhausted']}, used {cap['used_bytes']} (before: {used_before})")
assert cap["exhausted"], "the restart forgot the spent cap"
assert cap["used_bytes"] >= used_before, "usage went backwards across the restart"
p = lambda s: next(x for x in s["status"]["paths"] if x["id"] == 1)
n = p(after)["tx_packets"] - p(before)["tx_packets"]
print(f"wan2 during a 3 s upload after the restart: {n} packets sent")
assert n == 0, "wan2 carried traffic after the restart"
PY
echo "ok: usage survived the agent restart"

# A reset puts wan2 back in service (once its probes are answered again).
lab_cli client cap --reset wan2
sleep 3
snapshot "$LAB_DIR/reset.json"
udp_upload 3
snapshot "$LAB_DIR/reset-after.json"
python3 - "$LAB_DIR/reset.json" "$LAB_DIR/reset-after.json" <<'PY'
import json, sys
before, after = (json.load(open(f)) for f in sys.argv[1:3])
p = lambda s: next(x for x in s["status"]["paths"] if x["id"] == 1)
grew = p(after)["tx_bytes"] - p(before)["tx_bytes"]
print(f"wan2 after the reset: {grew} bytes")
assert grew > 1_000_000, "wan2 did not come back after meshbpf cap --reset"
PY
echo "PASS"
