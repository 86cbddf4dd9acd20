#!/usr/bin/env bash
# Flow mode over dual-stack uplinks: the client (no peer agent) lists each
# uplink once per family, as OpenWrt's wan and wan6: wan1 and wan2 with
# their IPv4 gateways, wan1-v6 and wan2-v6 with the ISP router's link-local
# address as gateway and their global IPv6 addresses (2001:db8:1::2,
# 2001:db8:2::2) as the addresses flows are NATed to. The bond itself has
# only fd00:203::2 (bond_address_ipv6), to which the router has no route:
# an IPv6 flow arrives, and its replies come back, only if it was NATed
# (NAT66). link_aggregation.routing sends the server's subnets of both
# families into the bond. Asserts:
#  - the data path has paths 2 and 3 as IPv6, from those addresses, via
#    the router's link-local addresses;
#  - 20 IPv6 uploads and 20 IPv6 downloads arrive intact (sha256), both
#    IPv6 paths carry some of them in each direction (all 20 hashing to
#    one path at 2:1 weights: (2/3)^20 = 0.03%), and the IPv4 paths carry
#    none of that traffic;
#  - a single IPv6 upload stays on one path (>= 99% of its bytes);
#  - an IPv4 upload goes on the IPv4 paths and none of the IPv6 ones;
#  - with a 1400-byte hop beyond the uplinks, an IPv6 and an IPv4 upload
#    each arrive intact: the router's ICMP errors, sent to the NATed
#    addresses, are translated back to the sender;
#  - nothing genuine is dropped (only the bond device's own ND and MLD may
#    be counted, as link_scope).
# vmtest: shares the machine (it checks integrity and which path a flow takes)
set -euo pipefail
export LAB_MODE=flow
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

FLOWS=20
BASE_PORT=9300
SERVER6=2001:db8:202::2

lab_create
# IPv6 beside IPv4 on both client links, the router and the server's side.
lab_ns client ip -6 addr add 2001:db8:1::2/64 dev wan1 nodad
lab_ns client ip -6 addr add 2001:db8:2::2/64 dev wan2 nodad
lab_ns inet ip -6 addr add 2001:db8:1::1/64 dev c1 nodad
lab_ns inet ip -6 addr add 2001:db8:2::1/64 dev c2 nodad
lab_ns inet ip -6 addr add 2001:db8:f0::1/64 dev p0 nodad
lab_ns peer ip -6 addr add 2001:db8:f0::2/64 dev wan0 nodad
lab_ns peer ip -6 addr add 2001:db8:202::1/64 dev lan0 nodad
lab_ns server ip -6 addr add "$SERVER6/64" dev lan0 nodad
lab_ns inet sysctl -qw net.ipv6.conf.all.forwarding=1
lab_ns peer sysctl -qw net.ipv6.conf.all.forwarding=1
lab_ns inet ip -6 route add 2001:db8:202::/64 via 2001:db8:f0::2
lab_ns peer ip -6 route add default via 2001:db8:f0::1
lab_ns server ip -6 route add default via 2001:db8:202::1

link_local() {
  lab_ns inet ip -6 -o addr show dev "$1" scope link | awk '$0 !~ /tentative/ {split($4, a, "/"); print a[1]}'
}
link_locals_ready() { [[ -n "$(link_local c1)" && -n "$(link_local c2)" ]]; }
wait_until 5 "the router's link-local addresses" link_locals_ready
GW1="$(link_local c1)" GW2="$(link_local c2)"
python3 - "$LAB_DIR/client.json" "$GW1" "$GW2" <<'PY'
import json, sys
path, gw1, gw2 = sys.argv[1:]
config = json.load(open(path))
uplinks = config["interfaces"]["uplinks"]
rates = {u["name"]: u["rate_mbit"] for u in uplinks}
uplinks += [{"name": "wan1-v6", "interface": "wan1", "gateway": gw1, "rate_mbit": rates["wan1"]},
            {"name": "wan2-v6", "interface": "wan2", "gateway": gw2, "rate_mbit": rates["wan2"]}]
# The bond's address and what enters it, both families, from the config.
config["link_aggregation"]["bond_address_ipv6"] = "fd00:203::2/64"
config["link_aggregation"]["routing"] = {"destinations": ["10.202.0.0/24", "2001:db8:202::/64"]}
json.dump(config, open(path, "w"), indent=1)
PY
lab_start_agent client # and no peer agent: the peer namespace only routes

lab_status_eval client "[(p['id'], p['source'], p['gateway']) for p in s['paths']]"
lab_status_eval client "s['paths'][2]['source'] == '2001:db8:1::2' and s['paths'][2]['gateway'] == '$GW1' and s['paths'][3]['source'] == '2001:db8:2::2' and s['paths'][3]['gateway'] == '$GW2'" |
  lab_matches True || lab_fail "paths 2 and 3 are not the IPv6 uplinks"

head -c 1M /dev/urandom >"$LAB_DIR/blob"
lab_parallel_flows "$SERVER6" "$FLOWS" "$BASE_PORT" "$LAB_DIR/blob" >"$LAB_DIR/flows.txt"
read -r tx rx <"$LAB_DIR/flows.txt"
echo "IPv6 flows: bytes sent per path $tx, received per path $rx"
python3 - "$tx" "$rx" <<'PY'
import ast, sys
tx, rx, blob = ast.literal_eval(sys.argv[1]), ast.literal_eval(sys.argv[2]), 1 << 20
assert all(n >= blob for n in tx[2:]), f"an IPv6 path carried no upload: {tx}"
assert all(n >= blob for n in rx[2:]), f"an IPv6 path carried no download: {rx}"
assert max(tx[:2] + rx[:2]) < 64 << 10, f"IPv6 flows went on an IPv4 path: sent {tx}, received {rx}"
PY

# One IPv6 flow alone stays on one path; then an IPv4 one keeps to IPv4 paths.
single() { # single FAMILY_SERVER SIZE -> "sha256-ok tx-deltas"
  local before report
  head -c "$2" /dev/urandom >"$LAB_DIR/one"
  before="$(lab_client_path_counters tx_bytes)"
  report="$(LAB_BLOB_SERVER="$1" lab_blob up "$LAB_DIR/one")"
  grep -q "\"sha256\": \"$(sha256sum "$LAB_DIR/one" | cut -d' ' -f1)\"" <<<"$report" ||
    lab_fail "the upload to $1 did not arrive intact: $report"
  python3 -c 'import ast, sys; print([a - b for a, b in zip(ast.literal_eval(sys.argv[2]), ast.literal_eval(sys.argv[1]))])' \
    "$before" "$(lab_client_path_counters tx_bytes)"
}
sent6="$(single "$SERVER6" 8M)"
echo "one 8 MB IPv6 upload, sent per path: $sent6"
python3 -c "
s = $sent6
assert sum(s[2:]) >= 8 << 20, f'the upload did not go through the IPv6 paths: {s}'
assert max(s[2:]) >= 0.99 * sum(s[2:]), f'one flow was spread over several paths: {s}'
assert max(s[:2]) < 64 << 10, f'an IPv4 path carried IPv6: {s}'"
sent4="$(single "$SERVER_IP" 4M)"
echo "one 4 MB IPv4 upload, sent per path: $sent4"
python3 -c "
s = $sent4
assert sum(s[:2]) >= 4 << 20, f'the upload did not go through the IPv4 paths: {s}'
assert max(s[2:]) < 64 << 10, f'an IPv6 path carried IPv4: {s}'"

# A 1400-byte hop beyond the uplinks: the router's "Packet Too Big" and
# "fragmentation needed" reach the NATed addresses, and only translated
# back (outside and in their quote) do they reach the sender's socket. An
# untranslated one is lost and the upload stalls on its full-size packets.
lab_ns inet ip link set p0 mtu 1400
lab_ns peer ip link set wan0 mtu 1400
for server in "$SERVER6" "$SERVER_IP"; do
  head -c 2M /dev/urandom >"$LAB_DIR/pmtu"
  report="$(LAB_BLOB_SERVER="$server" lab_blob up "$LAB_DIR/pmtu")"
  echo "2 MB to $server across a 1400-byte hop: $report"
  grep -q "\"sha256\": \"$(sha256sum "$LAB_DIR/pmtu" | cut -d' ' -f1)\"" <<<"$report" ||
    lab_fail "the upload to $server did not cross the 1400-byte hop (ICMP error not translated?)"
done

for reason in no_path truncated encap_failed decap_failed too_big unsupported_l3; do
  n="$(lab_drops client "$reason")"
  ((n == 0)) || lab_fail "the client dropped $n packets as $reason"
done
echo "link_scope drops (the bond device's own ND and MLD): $(lab_drops client link_scope)"
echo PASS
