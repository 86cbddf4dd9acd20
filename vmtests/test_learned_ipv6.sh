#!/usr/bin/env bash
# A client's IPv6-only uplink whose address the peer does not know and which
# changes (a cellular prefix renumbered): link 2 carries only IPv6, the
# client names the peer's IPv6 address for wan2 and takes its source from
# the interface, and the peer learns that path's far end
# (interfaces.uplinks[].learn_remote) from the authenticated packets, over
# IPv6 as over IPv4. Asserts:
#  - with authentication, path 1 comes up on both nodes and the peer's far
#    end for it is the client's IPv6 address (2001:db8:2::2), its source
#    the peer's own IPv6 address;
#  - a file crosses intact both ways on both paths;
#  - the client's link-2 prefix changes (2001:db8:3::2 replaces it): the
#    client follows its interface, the peer learns the new far end, and a
#    file crosses intact both ways on both paths again;
#  - no genuine packet refused (wrong_endpoint, unknown_source, auth).
# vmtest: shares the machine (it checks endpoints and integrity)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

PEER6=2001:db8:f0::2

# A file of SIZE intact both ways, each node having sent more than MIN
# bytes of it on each path: intact_on_both_paths SIZE MIN
intact_on_both_paths() {
  local node id sent
  declare -A before
  for node in client peer; do
    for id in 0 1; do before[$node$id]="$(lab_path_field "$node" "$id" tx_bytes)"; done
  done
  lab_blob_intact "$1"
  for node in client peer; do
    for id in 0 1; do
      sent=$(($(lab_path_field "$node" "$id" tx_bytes) - before[$node$id]))
      echo "$node sent $sent B on path $id"
      ((sent > $2)) || lab_fail "$node sent only $sent B of the $1 on path $id"
    done
  done
}
# The peer's far end and source for path 1: "REMOTE SOURCE"
peer_path1() {
  lab_status_eval peer "s['paths'][1]['remote'] + ' ' + s['paths'][1]['source']"
}

lab_create
lab_ns client ip -4 addr flush dev wan2
lab_ns inet ip -4 addr flush dev c2
lab_ns client ip -6 addr add 2001:db8:2::2/64 dev wan2 nodad
lab_ns inet ip -6 addr add 2001:db8:2::1/64 dev c2 nodad
lab_ns inet ip -6 addr add 2001:db8:3::1/64 dev c2 nodad
lab_ns inet ip -6 addr add 2001:db8:f0::1/64 dev p0 nodad
lab_ns peer ip -6 addr add "$PEER6/64" dev wan0 nodad
lab_ns inet sysctl -qw net.ipv6.conf.all.forwarding=1
lab_ns client ip -6 route add "$PEER6" via 2001:db8:2::1 dev wan2
# The peer reaches a learned IPv6 far end through its routing table.
lab_ns peer ip -6 route add default via 2001:db8:f0::1
python3 - "$LAB_DIR" "$PEER6" <<'PY'
import json, sys
lab, peer6 = sys.argv[1:]
def edit(node, name, change):
    path = f"{lab}/{node}.json"
    config = json.load(open(path))
    change(next(u for u in config["interfaces"]["uplinks"] if u["name"] == name))
    json.dump(config, open(path, "w"), indent=1)
edit("client", "wan2", lambda u: u.update(remote_address=peer6, gateway="2001:db8:2::1"))
def learn(u):
    u.pop("remote_address")
    u["learn_remote"] = True
edit("peer", "via-wan2", learn)
PY
lab_start_authenticated "a session, then both paths up"
echo "the peer's path 1: $(peer_path1)"
[[ "$(peer_path1)" == "2001:db8:2::2 $PEER6" || "$(peer_path1)" =~ ^\[2001:db8:2::2\]:[0-9]+\ $PEER6$ ]] ||
  lab_fail "the peer did not learn the client's IPv6 far end: $(peer_path1)"
lab_route_client bond
intact_on_both_paths 4M 250000

# The prefix on link 2 changes: the old address goes, a new one comes.
lab_ns client ip -6 addr add 2001:db8:3::2/64 dev wan2 nodad
lab_ns client ip -6 route replace "$PEER6" via 2001:db8:3::1 dev wan2
lab_ns client ip -6 addr del 2001:db8:2::2/64 dev wan2
learned_new() { [[ "$(peer_path1)" == 2001:db8:3::2* || "$(peer_path1)" == "[2001:db8:3::2]"* ]]; }
wait_until 20 "the peer learning the client's new address" learned_new
echo "after the prefix change, the peer's path 1: $(peer_path1)"
wait_until 20 "both paths up again" lab_paths_up
intact_on_both_paths 4M 250000
lab_none_dropped unknown_source auth_bad_tag auth_replay decap_failed too_big
echo "wrong_endpoint drops at the peer (packets from the old address after the change): $(lab_drops peer wrong_endpoint)"
echo PASS
