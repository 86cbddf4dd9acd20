#!/usr/bin/env bash
# Flow mode: the client bonds its two uplinks (40 + 20 Mbit/s) with NO peer
# agent. Each TCP flow leaves source-NATed from one uplink, straight to the
# server (inet routes the uplink subnets back, they are directly connected);
# replies are NATed back into the bond. Asserts:
#  - the bond gets the full uplink MTU (nothing is encapsulated),
#  - 20 parallel uploads and 20 parallel downloads arrive intact (sha256),
#    and both paths carry some of them in each direction (20 flows all
#    hashing to one path at 2:1 weights: (2/3)^20 = 0.03%),
#  - a single upload stays on one path: >= 99% of its bytes on one of them,
#    and the sender's TCP sees no reordering (TcpExt*Reorder unchanged).
# vmtest: shares the machine (it checks integrity and which path a flow takes)
set -euo pipefail
export LAB_MODE=flow
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

FLOWS=20
BLOB_MB=1
BASE_PORT=9200

# Per-path counters of the client as a JSON list: path_counters tx_bytes|rx_bytes
path_counters() {
  lab_status client --json |
    python3 -c 'import json,sys; print([p[sys.argv[1]] for p in json.load(sys.stdin)["paths"]])' "$1"
}

# Sum of the client's TCP reordering events (the sender detects reordering).
client_reorders() {
  lab_ns client nstat -asz TcpExtTCPSACKReorder TcpExtTCPTSReorder TcpExtTCPRenoReorder \
    TcpExtTCPFACKReorder | awk '{n += $2} END {print n + 0}'
}

lab_create
lab_start_agent client # and no peer agent: the peer namespace only routes
lab_route_client bond
mtu="$(lab_ns client cat /sys/class/net/mb0/mtu)"
[[ "$mtu" == 1500 ]] || lab_fail "bond MTU $mtu, want the uplinks' 1500 (no encapsulation)"

head -c "${BLOB_MB}M" /dev/urandom >"$LAB_DIR/blob"
want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"

# FLOWS uploads (ports BASE..) and FLOWS downloads (ports BASE+FLOWS..) at
# once, one TCP connection each; each receiver writes its JSON report.
tool="$LAB_ROOT/vmtests/lib/tcpblob.py"
tx_before="$(path_counters tx_bytes)"
rx_before="$(path_counters rx_bytes)"
listeners=()
for i in $(seq 0 $((2 * FLOWS - 1))); do
  port=$((BASE_PORT + i)) file=()
  ((i >= FLOWS)) && file=("$LAB_DIR/blob") # download: the server sends
  ip netns exec "$LAB-server" python3 "$tool" listen "$SERVER_IP" "$port" "${file[@]}" \
    >"$LAB_DIR/flow-$i.json" &
  listeners+=($!)
done
for i in $(seq 0 $((2 * FLOWS - 1))); do lab_wait_port server $((BASE_PORT + i)); done
senders=()
for i in $(seq 0 $((2 * FLOWS - 1))); do
  port=$((BASE_PORT + i)) file=()
  ((i < FLOWS)) && file=("$LAB_DIR/blob") # upload: the client sends
  ip netns exec "$LAB-client" python3 "$tool" connect "$SERVER_IP" "$port" "${file[@]}" \
    >>"$LAB_DIR/flow-$i.json" &
  senders+=($!)
done
for pid in "${senders[@]}" "${listeners[@]}"; do wait "$pid" || true; done
tx_after="$(path_counters tx_bytes)"
rx_after="$(path_counters rx_bytes)"

python3 - "$LAB_DIR" "$FLOWS" "$want" "$tx_before" "$tx_after" "$rx_before" "$rx_after" \
  "$BLOB_MB" <<'PY'
import ast, json, sys
lab, flows, want = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tx = [a - b for a, b in zip(ast.literal_eval(sys.argv[5]), ast.literal_eval(sys.argv[4]))]
rx = [a - b for a, b in zip(ast.literal_eval(sys.argv[7]), ast.literal_eval(sys.argv[6]))]
blob = int(sys.argv[8]) << 20
bad = []
for i in range(2 * flows):
    lines = [l for l in open(f"{lab}/flow-{i}.json") if l.strip()]
    report = json.loads(lines[0]) if lines else {}
    if report.get("sha256") != want:
        bad.append(f"{'up' if i < flows else 'down'} flow {i}: {report or 'no report'}")
print(f"{flows} uploads + {flows} downloads of {blob >> 20} MB: {2 * flows - len(bad)} intact")
print(f"bytes sent per path {tx}, received per path {rx}")
assert not bad, "flows not intact:\n" + "\n".join(bad)
# Uploads dominate what is sent, downloads what is received; a path that
# carried none of either direction's flows stays far below one blob.
assert all(n >= blob for n in tx), f"a path carried no upload: sent per path {tx}"
assert all(n >= blob for n in rx), f"a path carried no download: received per path {rx}"
PY

# One flow alone: it must stay on one path, so the sender sees no reordering.
head -c 8M /dev/urandom >"$LAB_DIR/blob8"
want8="$(sha256sum "$LAB_DIR/blob8" | cut -d' ' -f1)"
tx_before="$(path_counters tx_bytes)"
reorders_before="$(client_reorders)"
report="$(lab_blob up "$LAB_DIR/blob8")"
reorders_after="$(client_reorders)"
tx_after="$(path_counters tx_bytes)"
echo "one 8 MB upload: $report; sent per path $tx_before -> $tx_after;" \
  "sender's reorder events $reorders_before -> $reorders_after"
grep -q "\"sha256\": \"$want8\"" <<<"$report" || lab_fail "the single upload did not arrive intact"
python3 - "$tx_before" "$tx_after" <<'PY'
import ast, sys
sent = [a - b for a, b in zip(ast.literal_eval(sys.argv[2]), ast.literal_eval(sys.argv[1]))]
assert sum(sent) >= 8 << 20, f"the upload did not go through the data path: {sent}"
assert max(sent) >= 0.99 * sum(sent), f"one flow was spread over several paths: {sent}"
PY
[[ "$reorders_after" == "$reorders_before" ]] ||
  lab_fail "the sender saw $((reorders_after - reorders_before)) reordering events on one flow"
echo PASS
