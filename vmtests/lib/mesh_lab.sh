# shellcheck shell=bash
# The mesh lab: MESH_NODES nodes (default 4) on one LAN, each running an
# agent with mesh discovery on, for vmtests/test_mesh_discovery.sh.
#
#   node N  lan0 10.210.0.N/24 ── pN ┐
#                                    br0 (bridge, namespace $LAB-mesh-br)
#   node N  wan0 10.211.N.2/24 ── nN 10.211.N.1 (namespace $LAB-mesh-isp)
#
# Every agent needs a data path to start, so each node has one uplink (wan0)
# to the "isp" namespace, whose end is also its peer_address; no bonding peer
# runs there (discovery does not need one). The LAN carries the
# announcements; nobody routes between the nodes' uplinks.
#
# The IPv6 discovery lab (vmtests/test_mesh_discovery_ipv6.sh) is the same
# with mesh_join_lan_ipv6: lan0 has the link-local fe80::N, and only some
# nodes 10.210.0.N as well.
#
# The relay lab (mesh_relay_create, vmtests/test_mesh_relay.sh): an origin
# with a weak uplink, a neighbour that shares a strong one, the origin's
# bonding peer, and a stranger on the LAN without agent or key.
#
#   n1       lan0 10.210.0.1 ─┐                       (origin, bond mb0 10.203.0.2)
#   n2       lan0 10.210.0.2 ─┤ br0                   (relay, shares wan0)
#   stranger lan0 10.210.0.9 ─┘
#   n1       wan0 10.211.1.2 ══ 5 Mbit/s ══ n1 10.211.1.1 ┐
#   n2       wan0 10.211.2.2 ══ 20 Mbit/s ═ n2 10.211.2.1 ┤ isp (routes)
#   peer     wan0 10.200.0.2 ──────────── p0 10.200.0.1 ┘  (bond mb0 10.203.0.1)
#
# The uplinks are veth pairs shaped with tbf on both ends (lab_shape in
# lab.sh: rate and a bounded queue, no delay).
#
# Uses lab.sh's identity and bookkeeping: LAB=mbl<pid>, LAB_DIR (owner file,
# private bpffs, configs, logs, the agents in LAB_AGENT_PIDS as "mesh-N"),
# so lab_reap_stale and lab_cleanup remove its namespaces ("$LAB-mesh-*")
# too. Nothing touches the host namespace's interfaces or routes.
#
# Callers: source this, then `trap lab_cleanup EXIT; trap 'exit 130' INT TERM`.

source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

MESH_NODES="${MESH_NODES:-4}"
MESH_KEY="${MESH_KEY:-lab-mesh-key-0123456789}"
MESH_INTERVAL="${MESH_INTERVAL:-0.5}"
MESH_TIMEOUT="${MESH_TIMEOUT:-2}"
MESH_PORT=9999

mesh_ns() {
  local ns="$1"
  shift
  lab_ns "mesh-$ns" "$@"
}

# Claims the lab with the mesh namespaces NS... (IPv6 off) and the LAN
# bridge br0 in "br": mesh_begin NS...
mesh_begin() {
  lab_begin "${@/#/mesh-}"
  local ns
  for ns in "$@"; do
    mesh_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  mesh_ns br ip link add br0 type bridge
  mesh_ns br ip link set br0 up
}

# Puts node NS on the LAN as 10.210.0.HOST/24 (lan0, bridge port pHOST):
# mesh_join_lan NS HOST
mesh_join_lan() {
  ip link add lan0 netns "$LAB-mesh-$1" type veth peer name "p$2" netns "$LAB-mesh-br"
  mesh_ns br ip link set "p$2" master br0 up
  mesh_ns "$1" ip addr add "10.210.0.$2/24" dev lan0
  mesh_ns "$1" ip link set lan0 up
}

# Puts node NS on the LAN with IPv6: the link-local fe80::HOST/64 only (no
# address generated from the MAC), without duplicate address detection so it
# is usable at once; with DUAL=dual also 10.210.0.HOST/24:
# mesh_join_lan_ipv6 NS HOST [dual]
mesh_join_lan_ipv6() {
  # mesh_begin turned IPv6 off; lan0 takes the defaults when it is created.
  mesh_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
    net.ipv6.conf.default.accept_dad=0
  ip link add lan0 netns "$LAB-mesh-$1" type veth peer name "p$2" netns "$LAB-mesh-br"
  mesh_ns br ip link set "p$2" master br0 up
  mesh_ns "$1" ip link set lan0 addrgenmode none
  mesh_ns "$1" ip addr add "fe80::$2/64" dev lan0 nodad
  [[ "${3:-}" == dual ]] && mesh_ns "$1" ip addr add "10.210.0.$2/24" dev lan0
  mesh_ns "$1" ip link set lan0 up
}

# Agent config of node N: mesh_write_config N KEY
mesh_write_config() {
  local n="$1"
  cat >"$LAB_DIR/n$n.json" <<EOF
{
  "node_discovery": {"enabled": true, "port": $MESH_PORT, "broadcast_interval": $MESH_INTERVAL,
                     "node_timeout": $MESH_TIMEOUT, "node_name": "node$n", "mesh_key": "$2",
                     "interfaces": ["lan0"], "share_uplinks": ["wan0"]},
  "link_aggregation": {"mode": "load_balance", "bond_interface": "mb0",
                       "peer_address": "10.211.$n.1"},
  "interfaces": {"uplinks": [{"name": "wan0", "gateway": "10.211.$n.1", "rate_mbit": $((10 * n))}]}
}
EOF
}

mesh_create() {
  mesh_begin br isp $(seq -f 'n%g' "$MESH_NODES")
  local n
  for n in $(seq "$MESH_NODES"); do
    mesh_join_lan "n$n" "$n"
    lab_link "mesh-n$n" wan0 "10.211.$n.2/24" mesh-isp "n$n" "10.211.$n.1/24"
    mesh_write_config "$n" "$MESH_KEY"
  done
}

# A node's namespace suffix, instance and config name: node N is "nN";
# others (the relay lab's "peer") go by their name.
mesh_node() {
  if [[ "$1" =~ ^[0-9]+$ ]]; then echo "n$1"; else echo "$1"; fi
}

# Starts node N's agent and waits until it is ready: mesh_start_agent N [STARTS]
# The log is appended across restarts: STARTS is the how-manieth start this
# is (default 1), i.e. how many "ready" lines to wait for.
mesh_start_agent() {
  local n="$1" node log
  node="$(mesh_node "$1")"
  log="$LAB_DIR/$node-agent.log"
  [[ -x "$MESHBPF_BIN/meshbpf-agent" ]] ||
    lab_fail "no $MESHBPF_BIN/meshbpf-agent: build first (scripts/dev.sh build) or set MESHBPF_BIN"
  : >>"$log"  # exists before the background start below opens it
  # Directly, not through mesh_ns: $! must be the agent (ip netns exec execs it).
  ip netns exec "$LAB-mesh-$node" "$MESHBPF_BIN/meshbpf-agent" --config "$LAB_DIR/$node.json" \
    --pin-root "$LAB_DIR/bpffs" --instance "$node" --run-dir "$LAB_DIR/run" >>"$log" 2>&1 &
  LAB_AGENT_PIDS[mesh-$n]=$!
  for _ in $(seq 300); do  # 30 s: BPF verification is slow on a loaded machine
    [[ "$(grep -c "meshbpf-agent: ready" "$log")" -ge "${2:-1}" ]] && return 0
    kill -0 "${LAB_AGENT_PIDS[mesh-$n]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  lab_fail "the agent of node $n did not become ready (log above)"
}

# Kills node N's agent without a chance to say goodbye: mesh_kill_agent N
mesh_kill_agent() {
  kill -KILL "${LAB_AGENT_PIDS[mesh-$1]}"
  wait "${LAB_AGENT_PIDS[mesh-$1]}" 2>/dev/null || true
  unset "LAB_AGENT_PIDS[mesh-$1]"
}

# Runs a meshbpf command against node N's agent: mesh_cli N COMMAND [ARGS...]
mesh_cli() {
  local node command="$2"
  node="$(mesh_node "$1")"
  shift 2
  mesh_ns "$node" "$MESHBPF_BIN/meshbpf" "$command" --pin-root "$LAB_DIR/bpffs" --instance "$node" \
    --run-dir "$LAB_DIR/run" "$@"
}

# Helpers of the discovery tests (test_mesh_discovery*.sh).

peers() { mesh_cli "$1" peers --json; }

# Evaluates a Python expression on node N's peers reply (`p`): peers_eval N EXPR
peers_eval() {
  peers "$1" | python3 -c "import json,sys; p=json.load(sys.stdin); print($2)"
}

known_names() { peers_eval "$1" '" ".join(sorted(n["name"] for n in p["nodes"]))'; }

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

# Waits (up to 15 s) until every node in NODES lists exactly the names in
# EXPECTED (space-separated lists): wait_known "1 2" "node1 node3"
wait_known() {
  local n ok
  for _ in $(seq 150); do
    ok=1
    for n in $1; do
      [[ "$(known_names "$n")" == "$(tr ' ' '\n' <<<"$2" | grep -v "^node$n$" | sort | xargs)" ]] || ok=0
    done
    ((ok)) && return 0
    sleep 0.1
  done
  for n in $1; do echo "node $n knows: $(known_names "$n")" >&2; done
  lab_fail "nodes $1 did not come to know exactly: $2"
}

drops() { peers_eval "$1" "p['drops']['$2']"; }

# Whether W seconds (a node or address forgotten after going silent) fit
# node_timeout: at least node_timeout after the last announcement (sent at
# most one interval before), and a deliberately wide upper bound.
about_node_timeout() {
  python3 -c "import sys; w, t, i = map(float, sys.argv[1:]); sys.exit(0 if t - i <= w < 3 * t else 1)" \
    "$1" "$MESH_TIMEOUT" "$MESH_INTERVAL"
}

# Writes the next announcement SOURCE (an IPv4 address) broadcasts on the
# LAN, as node NS's namespace catches it, to FILE (for replaying):
# mesh_catch_announcement NS SOURCE FILE
mesh_catch_announcement() {
  mesh_ns "$1" python3 - "$MESH_PORT" "$2" "$3" <<'EOF'
import socket, sys
port, source, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
# Every socket bound with SO_REUSEADDR gets a copy of a broadcast.
sniff = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sniff.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sniff.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lan0")
sniff.bind(("", port))
sniff.settimeout(5)
while True:
    frame, (sender, _) = sniff.recvfrom(2048)
    if sender == source:
        break
with open(path, "wb") as out:
    out.write(frame)
EOF
}

# The relay lab (see the top of this file) with the agents' configs.
# RELAY_SHARE_CAP_BYTES: node 2's one-off share budget.
RELAY_SHARE_CAP_BYTES="${RELAY_SHARE_CAP_BYTES:-60000000}"
RELAY_PORT=7211
mesh_relay_create() {
  local namespaces=(br isp n1 n2 peer stranger) ns
  mesh_begin "${namespaces[@]}"
  for ns in "${namespaces[@]}"; do
    # Decapsulated packets enter through the bond: no reverse-path filtering.
    mesh_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done
  mesh_join_lan n1 1
  mesh_join_lan n2 2
  mesh_join_lan stranger 9
  lab_link mesh-n1 wan0 10.211.1.2/24 mesh-isp n1 10.211.1.1/24
  lab_link mesh-n2 wan0 10.211.2.2/24 mesh-isp n2 10.211.2.1/24
  lab_link mesh-peer wan0 10.200.0.2/24 mesh-isp p0 10.200.0.1/24
  mesh_ns isp sysctl -qw net.ipv4.ip_forward=1
  mesh_ns n1 ip route add default via 10.211.1.1
  mesh_ns n2 ip route add default via 10.211.2.1
  mesh_ns peer ip route add default via 10.200.0.1
  # Both directions of each uplink (lab_shape takes lab.sh's namespace suffix).
  lab_shape mesh-n1 wan0 5
  lab_shape mesh-isp n1 5
  lab_shape mesh-n2 wan0 20
  lab_shape mesh-isp n2 20
  mesh_relay_configs
}

mesh_relay_configs() {
  local discovery="\"port\": $MESH_PORT, \"broadcast_interval\": $MESH_INTERVAL, \"node_timeout\": $MESH_TIMEOUT, \"mesh_key\": \"$MESH_KEY\", \"interfaces\": [\"lan0\"]"
  local failover='"failover": {"monitoring_interval": 0.2, "threshold": 3, "recovery_threshold": 5}'
  cat >"$LAB_DIR/n1.json" <<EOF
{
  "node_discovery": {"enabled": true, "node_name": "node1", $discovery},
  "link_aggregation": {"bond_interface": "mb0", "bond_address": "10.203.0.2/24",
                       "peer_address": "10.200.0.2", "port": 7201, "peer_bond_address": "10.203.0.1"},
  $failover,
  "monitoring": {"history_file": "$LAB_DIR/n1.db"},
  "interfaces": {"primary": "wan0", "uplinks": [
    {"name": "wan0", "gateway": "10.211.1.1", "rate_mbit": 5},
    {"name": "mesh1", "relay": {}, "rate_mbit": 20}]}
}
EOF
  cat >"$LAB_DIR/n2.json" <<EOF
{
  "node_discovery": {"enabled": true, "node_name": "node2", $discovery,
                     "relay_port": $RELAY_PORT, "share_uplinks": ["wan0"],
                     "share_cap": {"limit_bytes": $RELAY_SHARE_CAP_BYTES, "period": "one_off"}},
  "link_aggregation": {"bond_interface": "mb0", "peer_address": "10.211.2.1"},
  "monitoring": {"history_file": "$LAB_DIR/n2.db"},
  "interfaces": {"uplinks": [{"name": "wan0", "gateway": "10.211.2.1", "rate_mbit": 20}]}
}
EOF
  cat >"$LAB_DIR/peer.json" <<EOF
{
  "node_discovery": {"enabled": false, "mesh_key": "$MESH_KEY"},
  "link_aggregation": {"bond_interface": "mb0", "bond_address": "10.203.0.1/24", "port": 7201,
                       "peer_bond_address": "10.203.0.2"},
  $failover,
  "monitoring": {"history_file": "$LAB_DIR/peer.db"},
  "interfaces": {"primary": "via-wan1", "uplinks": [
    {"name": "via-wan1", "interface": "wan0", "gateway": "10.200.0.1",
     "remote_address": "10.211.1.2", "rate_mbit": 5},
    {"name": "mesh1", "interface": "wan0", "gateway": "10.200.0.1", "learn_remote": true,
     "rate_mbit": 20}]}
}
EOF
}

# The relay lab over IPv6 (vmtests/test_mesh_relay_ipv6.sh): the same nodes
# and rates, every uplink IPv6-only and the LAN link-local only, so the
# relay runs in IPv6 end to end (the bond inside stays IPv4):
#
#   n1       lan0 fe80::1 ─┐ br0      n2 lan0 fe80::2     stranger lan0 fe80::9
#   n1       wan0 2001:db8:11::2 ══ 5 Mbit/s ══ 2001:db8:11::1 ┐
#   n2       wan0 2001:db8:12::2 ══ 20 Mbit/s ═ 2001:db8:12::1 ┤ isp (routes)
#   peer     wan0 2001:db8:200::2 ─────────── 2001:db8:200::1 ┘
mesh_relay_ipv6_create() {
  local namespaces=(br isp n1 n2 peer stranger) ns
  mesh_begin "${namespaces[@]}"
  for ns in isp n1 n2 peer; do
    # IPv6 on for the uplinks created below, usable at once (no DAD).
    mesh_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
      net.ipv6.conf.default.accept_dad=0 net.ipv4.conf.all.rp_filter=0 \
      net.ipv4.conf.default.rp_filter=0
  done
  mesh_join_lan_ipv6 n1 1
  mesh_join_lan_ipv6 n2 2
  mesh_join_lan_ipv6 stranger 9
  lab_link mesh-n1 wan0 2001:db8:11::2/64 mesh-isp n1 2001:db8:11::1/64
  lab_link mesh-n2 wan0 2001:db8:12::2/64 mesh-isp n2 2001:db8:12::1/64
  lab_link mesh-peer wan0 2001:db8:200::2/64 mesh-isp p0 2001:db8:200::1/64
  mesh_ns isp sysctl -qw net.ipv6.conf.all.forwarding=1
  mesh_ns n1 ip -6 route add default via 2001:db8:11::1
  mesh_ns n2 ip -6 route add default via 2001:db8:12::1
  mesh_ns peer ip -6 route add default via 2001:db8:200::1
  lab_shape mesh-n1 wan0 5
  lab_shape mesh-isp n1 5
  lab_shape mesh-n2 wan0 20
  lab_shape mesh-isp n2 20
  mesh_relay_configs
  # The same configs in IPv6: the peer's address, the uplinks' gateways and
  # far ends; the relayed path mesh1 follows the peer's family.
  sed -i -e 's/"10.200.0.2"/"2001:db8:200::2"/; s/"10.211.1.1"/"2001:db8:11::1"/g' \
    -e 's/"10.211.2.1"/"2001:db8:12::1"/g; s/"10.200.0.1"/"2001:db8:200::1"/g' \
    -e 's/"10.211.1.2"/"2001:db8:11::2"/' "$LAB_DIR"/{n1,n2,peer}.json
}

# Helpers of the relay lab's tests.

# Whether a Python expression over the numbers given holds: holds "a > 2 * b" A B
holds() {
  local expr="$1"
  shift
  python3 -c "import sys; a, b, *_ = map(float, sys.argv[1:] + ['0', '0']); sys.exit(0 if ($expr) else 1)" "$@"
}

# Evaluates a Python expression on a node's JSON reply: json_eval NODE COMMAND EXPR
# `j` is the reply; `path(name)` a path of `status --json` by name.
json_eval() {
  mesh_cli "$1" "$2" --json | python3 -c "
import json, sys
j = json.load(sys.stdin)
def path(name):
    return [p for p in j['health']['paths'] if p['name'] == name][0]
print($3)"
}

relay_of_mesh1() { json_eval 1 status 'path("mesh1")["relay"]'; }
mesh1_filled() { [[ "$(relay_of_mesh1)" != None ]]; }
mesh1_up() { [[ "$(json_eval 1 status 'path("mesh1")["health"]')" == up ]]; }
peer_learned() { [[ "$(json_eval peer status 'path("mesh1")["learned_endpoint"]')" == 10.211.2.2:* ]]; }
# node 2's counters of its relay for node 1: relay_counter FIELD
relay_counter() {
  json_eval 2 peers '[r for r in j["relaying"]["relays"] if r["origin_name"] == "node1"][0]["'"$1"'"]'
}

iperf_listening() { [[ -n "$(mesh_ns peer ss -Hltn 'sport = :5201')" ]]; }

# Goodput node 1 -> peer over the bond (down: peer -> node 1), as
# "MBIT BYTES" seen by the receiver; the first second (slow start) left out.
relay_iperf() {
  local reverse=() server
  [[ "$1" == down ]] && reverse=(-R)
  ip netns exec "$LAB-mesh-peer" iperf3 -s -1 -B 10.203.0.1 >/dev/null 2>&1 &
  server=$!
  wait_until 5 "iperf3 listens in the peer" iperf_listening
  mesh_ns n1 timeout --foreground $(($2 + 20)) iperf3 -J -c 10.203.0.1 -t "$2" -O 1 \
    "${reverse[@]}" >"$LAB_DIR/iperf.json" 2>&1 || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  lab_iperf_summary "$LAB_DIR/iperf.json" "relay_iperf $1"
}

# Through the relay both ways for SECONDS each: goodput clearly above node
# 1's own uplink (G1 Mbit/s, > 2x), and node 2's relay counting at least
# 0.8 of what iperf3 moved in each direction (WHAT names the setting in
# the figures printed): relay_both_ways SECONDS G1 WHAT
relay_both_ways() {
  local seconds="$1" g1="$2" fwd_before ret_before up up_bytes down down_bytes fwd ret
  fwd_before="$(relay_counter fwd_bytes)"
  read -r up up_bytes <<<"$(relay_iperf up "$seconds")"
  fwd=$(($(relay_counter fwd_bytes) - fwd_before))
  ret_before="$(relay_counter ret_bytes)"
  read -r down down_bytes <<<"$(relay_iperf down "$seconds")"
  ret=$(($(relay_counter ret_bytes) - ret_before))
  echo "measured: G2 (own uplink + mesh1 through node 2$3) = $up Mbit/s upload, $down Mbit/s" \
    "download (G1 $g1 Mbit/s)"
  holds "a > 2 * b" "$up" "$g1" || lab_fail "upload with mesh1: $up Mbit/s, not above 2 x $g1"
  holds "a > 2 * b" "$down" "$g1" || lab_fail "download with mesh1: $down Mbit/s, not above 2 x $g1"
  echo "measured: node 2 relayed $fwd bytes to the peer during the upload (iperf3 moved $up_bytes)," \
    "$ret bytes back during the download (iperf3 moved $down_bytes)"
  holds "a >= 0.8 * b" "$fwd" "$up_bytes" ||
    lab_fail "node 2 relayed $fwd bytes forward, less than 0.8 x $up_bytes"
  holds "a >= 0.8 * b" "$ret" "$down_bytes" ||
    lab_fail "node 2 relayed $ret bytes back, less than 0.8 x $down_bytes"
}

# Whether node 1 and the peer both have an authenticated session.
sessions_established() {
  [[ "$(json_eval 1 status 'j["health"]["authentication"]["established"]')" == True &&
     "$(json_eval peer status 'j["health"]["authentication"]["established"]')" == True ]]
}
