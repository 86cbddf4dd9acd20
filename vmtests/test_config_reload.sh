#!/usr/bin/env bash
# SIGHUP reloads the config (three lab links; the agents start on two):
#  - a config that does not load, or changes what only a restart applies:
#    the agent logs why, naming the field, and runs on;
#  - during an upload both ends swap path 1 from link 2 to link 3: the
#    upload arrives intact (sha256), `status` shows the new path set, link 3
#    carries a share of the next upload and link 2 nothing;
#  - a mode change (to active_backup) shows in `status` and takes effect.
# vmtest: shares the machine (it checks integrity and shares, not rates or timings)
set -euo pipefail
RATES="${RATES:-40 20 20}"
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

# write_config NODE LINKS...: NODE's lab config with only the uplinks of
# lab links LINKS (in that order: a path's id is its position).
write_config() {
  local node="$1"
  shift
  python3 - "$LAB_DIR/$node.json" "$LAB_DIR/$node-all.json" "$@" <<'PY'
import json, sys
out, full, links = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3:]
uplinks = full["interfaces"]["uplinks"]
full["interfaces"]["uplinks"] = [uplinks[int(n) - 1] for n in links]
json.dump(full, open(out, "w"), indent=1)
PY
}
paths_of() {  # paths_of NODE: the interfaces of its paths, in id order
  lab_status "$1" --json | python3 -c "import json,sys; print(' '.join(p['interface'] for p in json.load(sys.stdin)['paths']))"
}
alive() { kill -0 "${LAB_AGENT_PIDS[$1]}" 2>/dev/null || lab_fail "the $1 agent died: $(tail -5 "$LAB_DIR/$1-agent.log")"; }

lab_create
for node in client peer; do
  cp "$LAB_DIR/$node.json" "$LAB_DIR/$node-all.json"
  write_config "$node" 1 2
done
lab_start_agents
lab_route_client bond
lab_ns client ping -c 3 -i 0.2 -W 1 -q "$SERVER_IP" >/dev/null || lab_fail "no connectivity over the bond"
[[ "$(paths_of client)" == "wan1 wan2" ]] || lab_fail "client paths at start: $(paths_of client)"

# 1. Configs the agent must not take.
cp "$LAB_DIR/client.json" "$LAB_DIR/client-good.json"
sed -i 's/"threshold": 3/"threshold": 0/' "$LAB_DIR/client.json"
lab_reload client
alive client
grep -q 'reload: .*failover.threshold: must be between 1 and 100, got 0; still running on the current config' \
  "$LAB_DIR/client-agent.log" || lab_fail "the bad config's error was not logged: $(tail -3 "$LAB_DIR/client-agent.log")"
echo "ok: a bad config is refused, naming the field; the agent runs on"
sed 's/"bond_interface": "mb0"/"bond_interface": "mb9"/' "$LAB_DIR/client-good.json" >"$LAB_DIR/client.json"
lab_reload client
alive client
grep -q 'reload: changing link_aggregation.bond_interface needs a restart; still running' \
  "$LAB_DIR/client-agent.log" || lab_fail "the restart-only change was not refused by name"
cp "$LAB_DIR/client-good.json" "$LAB_DIR/client.json"
lab_reload client
grep -q 'reload: nothing changed' "$LAB_DIR/client-agent.log" || lab_fail "an unchanged config was not recognised"
[[ "$(paths_of client)" == "wan1 wan2" ]] || lab_fail "refused reloads changed the paths: $(paths_of client)"
echo "ok: a restart-only change is refused by name; the same config changes nothing"

# 2. Path 1 moves from link 2 to link 3 on both ends, during an upload.
head -c 60M /dev/urandom >"$LAB_DIR/blob"
want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"
lab_blob up "$LAB_DIR/blob" >"$LAB_DIR/upload.json" 2>&1 &
upload=$!
sleep 2
for node in client peer; do write_config "$node" 1 3; done
lab_reload client
lab_reload peer
wait "$upload" || true
report="$(tail -1 "$LAB_DIR/upload.json")"
echo "upload across the reload: $report"
grep -q "\"sha256\": \"$want\"" <<<"$report" || lab_fail "the upload did not arrive intact across the reload"
for node in client peer; do alive "$node"; done
grep -q 'reload: path wan2 (id 1) removed' "$LAB_DIR/client-agent.log" || lab_fail "removal not logged"
grep -q 'reload: path wan3 (id 1) added' "$LAB_DIR/client-agent.log" || lab_fail "addition not logged"
[[ "$(paths_of client)" == "wan1 wan3" ]] || lab_fail "client paths after the reload: $(paths_of client)"
echo "ok: both ends reloaded to $(paths_of client) during the upload, which arrived intact"

# 3. Link 3 carries traffic now; link 2 none.
tx() { lab_path_field client "$1" tx_bytes; }
before0="$(tx 0)" before1="$(tx 1)"
wan2_before="$(lab_ns client cat /sys/class/net/wan2/statistics/tx_bytes)"
mbit="$(lab_iperf up 4)" || lab_fail "iperf3 after the reload failed"
sent0=$(($(tx 0) - before0)) sent1=$(($(tx 1) - before1))
wan2_sent=$(($(lab_ns client cat /sys/class/net/wan2/statistics/tx_bytes) - wan2_before))
echo "after the reload: $mbit Mbit/s, path 0 $sent0 B, path 1 (wan3) $sent1 B, wan2 $wan2_sent B"
((sent1 * 10 > sent0 + sent1)) || lab_fail "path 1 (wan3) carried under 10% after the reload"
((wan2_sent < 100000)) || lab_fail "the removed wan2 still sent $wan2_sent bytes"
echo "ok: link 3 carries its share, link 2 nothing"

# 4. A mode change applies at once: active_backup sends on the primary only.
sed -i 's/"mode": "load_balance"/"mode": "active_backup"/' "$LAB_DIR/client.json"
lab_reload client
grep -q 'reload: link_aggregation.mode: load_balance -> active_backup' "$LAB_DIR/client-agent.log" ||
  lab_fail "the mode change was not logged"
mode="$(lab_status client --json | python3 -c "import json,sys; print(json.load(sys.stdin)['mode'])")"
[[ "$mode" == active_backup ]] || lab_fail "status shows mode $mode after the reload"
before0="$(tx 0)" before1="$(tx 1)"
lab_iperf up 3 >/dev/null || lab_fail "iperf3 after the mode change failed"
sent0=$(($(tx 0) - before0)) sent1=$(($(tx 1) - before1))
echo "active_backup after the reload: path 0 $sent0 B, path 1 $sent1 B"
((sent1 * 50 < sent0)) || lab_fail "path 1 carried $sent1 B of an active_backup upload"
echo PASS
