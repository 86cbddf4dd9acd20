#!/usr/bin/env bash
# A bond of an IPv4 uplink and an IPv6-only one (a DSL line beside a
# cellular modem that has no IPv4): link 2 and the peer's side of it carry
# only IPv6 (2001:db8:2::/64 and 2001:db8:f0::/64; their IPv4 addresses are
# removed), the client's config names the peer's IPv6 address for wan2 and
# takes wan2's source from the interface and its next hop is the ISP
# router's link-local address. Asserts:
#  - the data path of both nodes runs path 1 over IPv6 between those
#    addresses (mb_paths as `meshbpf status --json` shows it), and both
#    agents probe it up;
#  - 8 MB cross the bond intact both ways, each direction on both paths;
#  - bonded goodput both ways clearly above link 1's 40 Mbit/s, which only
#    the IPv6 path can add (wide margin: > 44 Mbit/s, the sum being ~57);
#  - no genuine packet dropped (unknown_source would be an IPv6 peer not in
#    mb_peers6, too_big a header not allowed for);
#  - in redundant mode (SIGHUP) 4 MB intact both ways, the client's upload
#    whole on each path: each packet leaves once with IPv6 headers and once
#    with IPv4 ones, none counted as other_family;
#  - then with authentication: the agents restart with keys, make their
#    session (handshakes leave on every path, so also over IPv6), probe
#    both paths up, and 2 MB cross intact both ways on both paths with no
#    genuine packet refused; and with link 1 cut, a restarted client makes
#    a new session over the IPv6 path alone and 1 MB crosses on it.
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

CLIENT6=2001:db8:2::2 ISP_C6=2001:db8:2::1 PEER6=2001:db8:f0::2 ISP_P6=2001:db8:f0::1

# A file of SIZE intact both ways (lab_blob_intact), and each NODE having
# sent more than MIN_BYTES of it on each of its two paths:
# blob_intact_on_both_paths SIZE MIN_BYTES NODE...
blob_intact_on_both_paths() {
  local size="$1" min="$2" node id sent
  shift 2
  declare -A before
  for node in "$@"; do
    for id in 0 1; do before[$node$id]="$(lab_path_field "$node" "$id" tx_bytes)"; done
  done
  lab_blob_intact "$size"
  for node in "$@"; do
    for id in 0 1; do
      sent=$(($(lab_path_field "$node" "$id" tx_bytes) - before[$node$id]))
      echo "$node sent $sent B on path $id"
      ((sent > min)) || lab_fail "$node sent only $sent B of the $size on path $id"
    done
  done
}

lab_create
# Link 2 and the peer's uplink become IPv6 only (the peer keeps IPv4 for link 1).
lab_ns client ip -4 addr flush dev wan2
lab_ns inet ip -4 addr flush dev c2
lab_ns client ip -6 addr add "$CLIENT6/64" dev wan2 nodad
lab_ns inet ip -6 addr add "$ISP_C6/64" dev c2 nodad
lab_ns inet ip -6 addr add "$ISP_P6/64" dev p0 nodad
lab_ns peer ip -6 addr add "$PEER6/64" dev wan0 nodad
lab_ns inet sysctl -qw net.ipv6.conf.all.forwarding=1
# The client's next hop on link 2 is the ISP router's link-local address,
# as router advertisements give it on real IPv6 uplinks.
isp_c6_link_local() {
  lab_ns inet ip -6 -o addr show dev c2 scope link | awk '$0 !~ /tentative/ {split($4, a, "/"); print a[1]}'
}
isp_c6_link_local_ready() { [[ -n "$(isp_c6_link_local)" ]]; }
wait_until 5 "inet's link-local address on c2" isp_c6_link_local_ready
ISP_C6_LL="$(isp_c6_link_local)"
python3 - "$LAB_DIR" "$PEER6" "$ISP_C6_LL" "$CLIENT6" "$ISP_P6" <<'PY'
import json, sys
lab, peer6, isp_c6, client6, isp_p6 = sys.argv[1:]
def edit(node, name, **fields):
    path = f"{lab}/{node}.json"
    config = json.load(open(path))
    uplink = next(u for u in config["interfaces"]["uplinks"] if u["name"] == name)
    uplink.update(fields)
    json.dump(config, open(path, "w"), indent=1)
# The client's wan2 source comes from the interface (its only global IPv6).
edit("client", "wan2", remote_address=peer6, gateway=isp_c6)
edit("peer", "via-wan2", remote_address=client6, gateway=isp_p6)
PY
lab_start_agents

for node in client peer; do
  paths="$(lab_status "$node" --json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["paths"]:
    print(p["id"], p["source"], p["remote"], p["gateway"])')"
  echo "$node data path: $paths"
done
lab_status_eval client "s['paths'][1]['source'] == '$CLIENT6' and s['paths'][1]['remote'] == '$PEER6' and s['paths'][1]['gateway'] == '$ISP_C6_LL'" |
  lab_matches True || lab_fail "the client's path 1 is not $CLIENT6 -> $PEER6 via $ISP_C6_LL"
lab_status_eval peer "s['paths'][1]['source'] == '$PEER6' and s['paths'][1]['remote'] == '$CLIENT6'" |
  lab_matches True || lab_fail "the peer's path 1 is not $PEER6 -> $CLIENT6"
lab_status_eval client "s['paths'][0]['remote']" | lab_matches -x 10.200.0.2 ||
  lab_fail "the client's path 0 is no longer IPv4"

lab_route_client bond
blob_intact_on_both_paths 8M 1000000 client peer
up="$(lab_iperf up 6)"
down="$(lab_iperf down 6)"
echo "bonded goodput over IPv4 + IPv6 paths: up $up, down $down Mbit/s (links 40 + 20)"
python3 -c "import sys; sys.exit($up <= 44 or $down <= 44)" ||
  lab_fail "the bond is not clearly above link 1 alone (44 Mbit/s): up $up, down $down"
lab_none_dropped unknown_source too_big bad_header truncated decap_failed encap_failed other_family

# Redundant mode (SIGHUP): every packet on both paths, the IPv6 copy and the
# IPv4 one of the same packet.
for node in client peer; do
  lab_set_link_aggregation "$node" mode '"redundant"'
  lab_reload "$node"
done
blob_intact_on_both_paths 4M 4194304 client
lab_none_dropped other_family clone_failed encap_failed

lab_stop_agent client
lab_stop_agent peer
lab_start_authenticated "a session over IPv4 and IPv6 paths"
blob_intact_on_both_paths 2M 250000 client
# A new session over the IPv6 path alone: link 1 cut, the client restarts (a
# new epoch), its handshake can only cross on path 1, and a file follows.
lab_link_loss 1 100
lab_stop_agent client
lab_start_agent client
client_established() { [[ "$(lab_auth_field client established)" == True ]]; }
wait_until 20 "a session made over the IPv6 path alone (link 1 cut)" client_established
lab_blob_intact 1M
lab_link_clear 1
# (Not auth_no_session: before both ends installed the session, refusing is right.)
lab_none_dropped unknown_source too_big auth_bad_tag auth_replay auth_too_old decap_failed \
  other_family
echo PASS
