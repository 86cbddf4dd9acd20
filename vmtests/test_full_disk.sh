#!/usr/bin/env bash
# A full disk under the client's history (a 256 KiB tmpfs inside the lab's
# own directory): the agent keeps bonding, says once that history and cap
# usage cannot be written, the data cap on wan2 keeps counting (in the
# pinned map), and once there is room again the agent says so; a restarted
# agent continues the count. (That the usage reaches the file is asserted in
# tests/full_disk_test.cc.)
# vmtest: shares the machine (it checks logs and counters)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_client_history_disk 256k
DISK="$LAB_DISK"
python3 - "$LAB_DIR/client.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["interfaces"]["uplinks"][1]["data_cap"] = {"limit_bytes": 10**9, "period": "one_off"}
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
lab_start_agents
lab_route_client bond
log="$LAB_DIR/client-agent.log"

cap_used() { lab_cli client cap --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["caps"][0]["used_bytes"])'; }
upload() {  # upload SECONDS: a bonded TCP upload, which must succeed
  lab_ns server iperf3 -s -1 -B "$SERVER_IP" >/dev/null 2>&1 &
  lab_wait_port server 5201
  lab_ns client iperf3 -c "$SERVER_IP" -t "$1" >/dev/null 2>&1 || lab_fail "the upload failed"
}
count() { grep -c -- "$1" "$log" || true; }

dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null || true
[[ "$(df --output=avail -B1 "$DISK" | tail -1 | tr -d ' ')" -lt 8192 ]] || lab_fail "the disk is not full"
before="$(cap_used)"
upload 5
sleep 12  # past the caps' 10 s save interval, and several 1 s samples
kill -0 "${LAB_AGENT_PIDS[client]}" || lab_fail "the agent died on the full disk"
after="$(cap_used)"
((after > before + 1000000)) || lab_fail "wan2's cap stopped counting: $before -> $after bytes"
echo "ok: on the full disk the upload went through and wan2's cap counted $before -> $after bytes"
metrics_errors="$(count "metrics: taking a sample (live metrics, history) failed")"
cap_errors="$(count "data caps: saving usage to the history store (the pinned map keeps counting) failed")"
((metrics_errors == 1 && cap_errors == 1)) ||
  lab_fail "expected one error line each, got $metrics_errors (metrics) and $cap_errors (caps)"
echo "ok: one error line each for metrics and cap usage"

rm "$DISK/filler"
upload 2
for _ in $(seq 150); do
  (($(count "data caps: saving usage .* works again") == 1)) && break
  sleep 0.2
done
(($(count "data caps: saving usage .* works again") == 1)) || lab_fail "cap usage not saved once there was room"
(($(count "metrics: taking a sample .* works again") == 1)) || lab_fail "metrics not recorded again"
saved="$(cap_used)"
echo "ok: saving works again ($saved bytes)"

# The usage on disk: a restarted agent continues from at least what it had.
lab_stop_agent client || true
lab_start_agent client
restarted="$(cap_used)"
((restarted >= saved)) || lab_fail "the restarted agent lost cap usage: $saved -> $restarted"
echo "ok: after a restart wan2's cap continues from $restarted bytes"
echo PASS
