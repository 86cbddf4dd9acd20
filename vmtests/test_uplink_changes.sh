#!/usr/bin/env bash
# Uplinks that change under running agents are followed without a restart:
#  1. during a transfer the client's wan2 is deleted and created again under
#     the same name and address (a new ifindex, as a PPP or modem device comes
#     back): path 1 goes down, the agent attaches mb_decap to the new device,
#     and the path comes back and carries traffic again;
#  2. wan2 gets a new address (a DHCP renewal): the path's outer source
#     follows it. The peer can only follow the client's new address on a
#     path whose far end it learns (learn_remote), so its side of path 1 is
#     one here; a peer with a configured remote_address would need a config
#     change;
#  3. 1500 veth pairs created while the client agent is stopped overflow
#     its netlink socket (ENOBUFS): it says so, reads every uplink again and keeps
#     following wan2 (down, then up again).
# Margins are wide (a loaded 2-core machine): waits of up to 30 s, and
# "traffic again" means the path's counters grew by 200+ packets while a
# transfer ran (probes alone add 5 a second).
# vmtest: shares the machine (it checks that paths come back, with 30 s for each)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

path1() { lab_path_field "$1" 1 "$2"; }

path1_active() { [[ "$(path1 client state)" == active ]]; }
path1_disabled() { [[ "$(path1 client state)" == disabled ]]; }
# Whether path 1's field FIELD on NODE is VALUE, read anew on every call.
path1_is() { [[ "$(path1 "$1" "$2")" == "$3" ]]; }

# Starts an iperf3 transfer (extra arguments, e.g. -R) in the background for
# SECONDS; its report goes to $LAB_DIR/transfer.json.
start_transfer() {
  local seconds="$1"
  shift
  lab_ns server iperf3 -s -1 -B "$SERVER_IP" >/dev/null 2>&1 &
  lab_wait_port server 5201
  lab_ns client iperf3 -J -c "$SERVER_IP" -t "$seconds" "$@" >"$LAB_DIR/transfer.json" 2>&1 &
  transfer=$!
}

finish_transfer() {  # finish_transfer WHAT
  wait "$transfer" || lab_fail "$1: iperf3 failed: $(cat "$LAB_DIR/transfer.json")"
  echo "$1: $(lab_iperf_summary "$LAB_DIR/transfer.json" "$1" | cut -d' ' -f1) Mbit/s received"
}

# Counter COUNTER of path 1 on NODE grows by 200+ packets within 10 s.
expect_traffic() {  # expect_traffic NODE COUNTER
  local before after
  before="$(path1 "$1" "$2")"
  for _ in $(seq 20); do
    sleep 0.5
    after="$(path1 "$1" "$2")"
    ((after >= before + 200)) && break
  done
  ((after >= before + 200)) || lab_fail "path 1 carries no traffic: $1 $2 $before -> $after"
  echo "ok: path 1 carries traffic again ($1 $2 $before -> $after)"
}

lab_create
# The peer's side of path 1 learns the client's address from its probes.
python3 - "$LAB_DIR/peer.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
uplink = config["interfaces"]["uplinks"][1]
del uplink["remote_address"]
uplink["learn_remote"] = True
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
lab_start_agents
lab_route_client bond
wait_until 30 "path 1 active at start" path1_active
old_ifindex="$(path1 client ifindex)"

# 1. wan2 deleted (its veth pair goes, c2 with it) and created again.
start_transfer 20
sleep 3
lab_ns client ip link del wan2
wait_until 30 "path 1 disabled once wan2 is gone" path1_disabled
grep -q "wan2 is gone" "$LAB_DIR/client-agent.log" || lab_fail "the client did not log why path 1 went down"
echo "ok: path 1 disabled with wan2 gone"
lab_link client wan2 10.201.2.2/24 inet c2 10.201.2.1/24
lab_shape client wan2 "$RATE2"
lab_shape inet c2 "$RATE2"
wait_until 30 "path 1 active on the new wan2" path1_active
new_ifindex="$(path1 client ifindex)"
((new_ifindex != old_ifindex)) || lab_fail "path 1 still on ifindex $old_ifindex"
lab_ns client tc filter show dev wan2 ingress | lab_matches mb_decap ||
  lab_fail "mb_decap is not attached to the new wan2"
grep -q "path wan2: following its uplink: wan2 re-created (ifindex $old_ifindex -> $new_ifindex)" \
  "$LAB_DIR/client-agent.log" || lab_fail "the client did not log the re-created wan2"
echo "ok: path 1 active again on wan2 ifindex $new_ifindex (was $old_ifindex), mb_decap attached"
expect_traffic client tx_packets
finish_transfer "upload across wan2's re-creation"

# 2. wan2's address changes, as a DHCP renewal may do.
lab_ns client ip addr flush dev wan2
lab_ns client ip addr add 10.201.2.3/24 dev wan2
wait_until 30 "path 1's source follows wan2's new address" path1_is client source 10.201.2.3
wait_until 30 "the peer learns path 1's new far end" path1_is peer remote 10.201.2.3
wait_until 30 "path 1 active with its new address" path1_active
grep -q "path wan2: following its uplink: wan2 address 10.201.2.2 -> 10.201.2.3" \
  "$LAB_DIR/client-agent.log" || lab_fail "the client did not log wan2's new address"
echo "ok: path 1 sends from 10.201.2.3, and the peer sends to it"
start_transfer 10 -R
sleep 2
expect_traffic client rx_packets
finish_transfer "download after wan2's new address"

# 3. More link events than the agent's netlink socket holds. The agent is
# stopped during the flood: a fast machine's agent could otherwise read as
# fast as ip creates links, and the overflow would not happen.
for i in $(seq 1500); do echo "link add flood$i type veth peer name flood${i}p"; done >"$LAB_DIR/flood"
kill -STOP "${LAB_AGENT_PIDS[client]}"
lab_ns client ip -batch "$LAB_DIR/flood" || { kill -CONT "${LAB_AGENT_PIDS[client]}"; lab_fail "creating the flood of links failed"; }
kill -CONT "${LAB_AGENT_PIDS[client]}"
wait_until 30 "the client notices lost link events" \
  grep -q "link events were lost (netlink overflow)" "$LAB_DIR/client-agent.log"
lab_ns client ip link set wan2 down
wait_until 30 "path 1 disabled with wan2 down after the overflow" path1_disabled
lab_ns client ip link set wan2 up
wait_until 30 "path 1 active with wan2 up after the overflow" path1_active
echo "ok: after a netlink overflow ($(grep -c "netlink overflow" "$LAB_DIR/client-agent.log") logged) wan2 is still followed"
echo PASS
