#!/usr/bin/env bash
# The client's agent is SIGKILLed during an upload, then one of its links is
# blackholed (nftables drop at the ISP: carrier and routes stay up, so only
# the missing packets from the peer tell). The data path sees the agent's
# heartbeat go stale and keeps bonded packets off the path that stopped
# receiving (bpf/meshbpf.h, "Agent liveness"):
#  - the upload running through all of it arrives intact (sha256);
#  - a fresh upload afterwards gets at least half of the remaining link;
#  - `status` counts the packets kept off the silent path;
#  - the peer's probes keep arriving on the live path with our agent gone.
# Margins are wide: stale after 3 s, silent after 1.5 s; the goodput is
# measured from 5 s after the first upload ends, long past both.
# vmtest: shares the machine (its limits, half a link's rate and seconds of slack, are far off)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

path_field() {  # path_field PATH_ID FIELD: from the client's `status --json`
  lab_status client --json |
    python3 -c "import json,sys; s=json.load(sys.stdin); print([p for p in s['paths'] if p['id']==$1][0]['$2'])"
}

lab_create
lab_start_agents
lab_route_client bond
lab_ns client ping -c 3 -i 0.2 -W 1 -q "$SERVER_IP" >/dev/null || lab_fail "no connectivity over the bond"

# 1. An upload long enough to outlast the kill, the blackhole and the 3 s
# the heartbeat takes to go stale (~57 Mbit/s bonded, ~38 on link 1 alone).
head -c 80M /dev/urandom >"$LAB_DIR/blob"
want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"
lab_blob up "$LAB_DIR/blob" >"$LAB_DIR/upload.json" 2>&1 &
upload=$!
sleep 2
kill -KILL "${LAB_AGENT_PIDS[client]}"
wait "${LAB_AGENT_PIDS[client]}" 2>/dev/null || true
unset 'LAB_AGENT_PIDS[client]'
sleep 0.5
lab_link_loss 2 100
lab_log "client agent killed, link 2 blackholed"
wait "$upload" || true
report="$(tail -1 "$LAB_DIR/upload.json")"
echo "upload through the kill and the blackhole: $report"
grep -q "\"sha256\": \"$want\"" <<<"$report" ||
  lab_fail "the upload did not arrive intact after the agent died (want sha256 $want): $report"

# 2. Goodput on what is left, the agent still dead.
sleep 5
mbit="$(lab_iperf up 6)" || lab_fail "iperf3 upload failed with the agent dead"
echo "upload with the agent dead and link 2 blackholed: $mbit Mbit/s (link 1: $RATE1)"
python3 -c "import sys; sys.exit(0 if $mbit >= 0.5 * $RATE1 else 1)" ||
  lab_fail "$mbit Mbit/s is below half of link 1's $RATE1: the silent path still takes traffic"

# 3. The counter, and the signal it rests on.
skips="$(path_field 1 unattended_skips)"
((skips > 0)) || lab_fail "status shows no packets kept off the silent path 1 ($skips)"
[[ "$(path_field 0 unattended_skips)" == 0 ]] || lab_fail "the live path 0 was skipped too"
text="$(lab_status client)"
grep -q "path 1: [0-9]* packets kept off while the agent was gone" <<<"$text" ||
  lab_fail "status text does not show the skips: $text"
echo "ok: status counts $skips packets kept off path 1"
rx0="$(path_field 0 rx_packets)" rx1="$(path_field 1 rx_packets)"
sleep 2
rx0_after="$(path_field 0 rx_packets)" rx1_after="$(path_field 1 rx_packets)"
((rx0_after >= rx0 + 3)) ||
  lab_fail "path 0 received $((rx0_after - rx0)) packets in 2 idle s: the peer's probes stopped"
((rx1_after == rx1)) || lab_fail "the blackholed path 1 still received"
echo "ok: the peer's probes keep arriving on path 0 ($((rx0_after - rx0)) in 2 s), none on path 1"
echo PASS
