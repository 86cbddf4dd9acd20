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

lab_parallel_flows "$SERVER_IP" "$FLOWS" "$BASE_PORT" "$LAB_DIR/blob" >"$LAB_DIR/flows.txt"
read -r tx rx <"$LAB_DIR/flows.txt"
echo "bytes sent per path $tx, received per path $rx"
python3 - "$tx" "$rx" "$BLOB_MB" <<'PY'
import ast, sys
tx, rx, blob = ast.literal_eval(sys.argv[1]), ast.literal_eval(sys.argv[2]), int(sys.argv[3]) << 20
# Uploads dominate what is sent, downloads what is received; a path that
# carried none of either direction's flows stays far below one blob.
assert all(n >= blob for n in tx), f"a path carried no upload: sent per path {tx}"
assert all(n >= blob for n in rx), f"a path carried no download: received per path {rx}"
PY

# One flow alone: it must stay on one path, so the sender sees no reordering.
head -c 8M /dev/urandom >"$LAB_DIR/blob8"
want8="$(sha256sum "$LAB_DIR/blob8" | cut -d' ' -f1)"
tx_before="$(lab_client_path_counters tx_bytes)"
reorders_before="$(client_reorders)"
report="$(lab_blob up "$LAB_DIR/blob8")"
reorders_after="$(client_reorders)"
tx_after="$(lab_client_path_counters tx_bytes)"
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
