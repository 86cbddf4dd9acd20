#!/usr/bin/env bash
# IPv6 inside the bond (the uplinks stay IPv4): the client and the server
# behind the peer talk over fd00:202::/64 through mb0, in every bonding mode
# (load_balance, redundant, active_backup, latency; switched by SIGHUP).
# The config says it all: the bonds' IPv6 addresses (bond_address_ipv6) and
# the client's route to the server's LAN (routing.destinations).
# In each: a 4 MB file crosses intact both ways, and the client's upload
# goes where the mode says: on both paths (load_balance, latency: the file's
# full-size packets are bonded), whole on each (redundant), on path 0 only
# (active_backup). Flow mode sends flows out of the uplinks with IPv4 NAT
# and has no IPv6 yet, so it is not among them.
# vmtest: shares the machine (it checks integrity and which paths carry)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

SERVER6=fd00:202::2
lab_create
lab_set_link_aggregation client bond_address_ipv6 '"fd00:203::1/64"'
lab_set_link_aggregation client peer_bond_address_ipv6 '"fd00:203::2"'
lab_set_link_aggregation client routing '{"destinations": ["fd00:202::/64"]}'
lab_set_link_aggregation peer bond_address_ipv6 '"fd00:203::2/64"'
lab_set_link_aggregation peer peer_bond_address_ipv6 '"fd00:203::1"'
lab_start_agents
lab_ns peer ip -6 addr add fd00:202::1/64 dev lan0 nodad
lab_ns server ip -6 addr add "$SERVER6/64" dev lan0 nodad
lab_ns peer sysctl -qw net.ipv6.conf.all.forwarding=1
lab_ns server ip -6 route add default via fd00:202::1
for _ in $(seq 25); do
  lab_ns client ping -6 -c 1 -W 1 -q "$SERVER6" >/dev/null && break
  sleep 0.2
done

path_tx() { lab_path_field client "$1" tx_bytes; }  # path_tx ID

head -c 4M /dev/urandom >"$LAB_DIR/blob"
want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"
for mode in load_balance redundant active_backup latency; do
  if [[ "$mode" != load_balance ]]; then
    for node in client peer; do
      python3 - "$LAB_DIR/$node.json" "$mode" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["link_aggregation"]["mode"] = sys.argv[2]
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
      applied="$(grep -c "reload: done" "$LAB_DIR/$node-agent.log" || true)"
      lab_reload "$node"
      (($(grep -c "reload: done" "$LAB_DIR/$node-agent.log") > applied)) ||
        lab_fail "the $node agent did not apply mode $mode: $(tail -3 "$LAB_DIR/$node-agent.log")"
    done
  fi
  p0="$(path_tx 0)" p1="$(path_tx 1)"
  for direction in up down; do
    report="$(LAB_BLOB_SERVER="$SERVER6" lab_blob "$direction" "$LAB_DIR/blob")"
    lab_matches "\"sha256\": \"$want\"" <<<"$report" ||
      lab_fail "$mode: 4 MB $direction over IPv6 did not arrive intact: $report"
    echo "$mode: 4 MB $direction over IPv6 intact: $report"
  done
  p0=$(($(path_tx 0) - p0)) p1=$(($(path_tx 1) - p1))
  echo "$mode: client sent $p0 B on path 0, $p1 B on path 1"
  case "$mode" in
    load_balance | latency)
      ((p0 > 400000 && p1 > 400000)) || lab_fail "$mode did not carry the IPv6 upload on both paths" ;;
    redundant)
      ((p0 > 4194304 && p1 > 4194304)) || lab_fail "redundant did not send the IPv6 upload on each path" ;;
    active_backup)
      ((p0 > 4194304 && p1 < 200000)) || lab_fail "active_backup did not keep the IPv6 upload on path 0" ;;
  esac
done
echo PASS
