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
# Uses lab.sh's identity and bookkeeping: LAB=mbl<pid>, LAB_DIR (owner file,
# private bpffs, configs, logs). The namespaces are "$LAB-mesh-*", which
# lab.sh's own reaper does not know, so mesh_reap_stale removes those of dead
# runs. Nothing touches the host namespace's interfaces or routes.
#
# Callers: source this, then `trap mesh_cleanup EXIT; trap 'exit 130' INT TERM`.

source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

MESH_NODES="${MESH_NODES:-4}"
MESH_KEY="${MESH_KEY:-lab-mesh-key-0123456789}"
MESH_INTERVAL="${MESH_INTERVAL:-0.5}"
MESH_TIMEOUT="${MESH_TIMEOUT:-2}"
MESH_PORT=9999
declare -A MESH_AGENT_PIDS=()

mesh_ns() {
  local ns="$1"
  shift
  ip netns exec "$LAB-mesh-$ns" "$@"
}

# Namespaces of mesh labs whose run is gone (SIGKILL, a crash), then lab.sh's
# reaper for their directories (it unmounts the bpffs). Live labs are kept.
mesh_reap_stale() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^mbl[0-9]+-mesh-(br|isp|n[0-9]+)$' || true); do
    lab_owner_alive "${ns%%-*}" && continue
    lab_log "removing $ns, left by a run that is gone"
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  lab_reap_stale
}

# Stops the agents, deletes the namespaces, unmounts the bpffs. Safe to call
# twice or before mesh_create.
mesh_cleanup() {
  local n pid ns
  for n in "${!MESH_AGENT_PIDS[@]}"; do kill -TERM "${MESH_AGENT_PIDS[$n]}" 2>/dev/null || true; done
  for n in "${!MESH_AGENT_PIDS[@]}"; do
    pid="${MESH_AGENT_PIDS[$n]}"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  MESH_AGENT_PIDS=()
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$LAB-mesh-" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  lab_cleanup
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
  mesh_reap_stale
  mkdir -p "$LAB_DIR/bpffs"
  echo "$$ $(lab_proc_start $$)" >"$LAB_DIR/owner"
  mount -t bpf bpf "$LAB_DIR/bpffs"
  local ns n
  for ns in br isp $(seq -f 'n%g' "$MESH_NODES"); do
    ip netns add "$LAB-mesh-$ns"
    mesh_ns "$ns" ip link set lo up
    mesh_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  mesh_ns br ip link add br0 type bridge
  mesh_ns br ip link set br0 up
  for n in $(seq "$MESH_NODES"); do
    ip link add lan0 netns "$LAB-mesh-n$n" type veth peer name "p$n" netns "$LAB-mesh-br"
    mesh_ns br ip link set "p$n" master br0 up
    mesh_ns "n$n" ip addr add "10.210.0.$n/24" dev lan0
    mesh_ns "n$n" ip link set lan0 up
    ip link add wan0 netns "$LAB-mesh-n$n" type veth peer name "n$n" netns "$LAB-mesh-isp"
    mesh_ns "n$n" ip addr add "10.211.$n.2/24" dev wan0
    mesh_ns isp ip addr add "10.211.$n.1/24" dev "n$n"
    mesh_ns "n$n" ip link set wan0 up
    mesh_ns isp ip link set "n$n" up
    mesh_write_config "$n" "$MESH_KEY"
  done
}

# Starts node N's agent and waits until it is ready: mesh_start_agent N [STARTS]
# The log is appended across restarts: STARTS is the how-manieth start this
# is (default 1), i.e. how many "ready" lines to wait for.
mesh_start_agent() {
  local n="$1" log="$LAB_DIR/n$1-agent.log"
  [[ -x "$MESHBPF_BIN/meshbpf-agent" ]] ||
    lab_fail "no $MESHBPF_BIN/meshbpf-agent: build first (scripts/dev.sh build) or set MESHBPF_BIN"
  : >>"$log"  # exists before the background start below opens it
  # Directly, not through mesh_ns: $! must be the agent (ip netns exec execs it).
  ip netns exec "$LAB-mesh-n$n" "$MESHBPF_BIN/meshbpf-agent" --config "$LAB_DIR/n$n.json" \
    --pin-root "$LAB_DIR/bpffs" --instance "n$n" --run-dir "$LAB_DIR/run" >>"$log" 2>&1 &
  MESH_AGENT_PIDS[$n]=$!
  for _ in $(seq 100); do
    [[ "$(grep -c "meshbpf-agent: ready" "$log")" -ge "${2:-1}" ]] && return 0
    kill -0 "${MESH_AGENT_PIDS[$n]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  lab_fail "the agent of node $n did not become ready (log above)"
}

# Kills node N's agent without a chance to say goodbye: mesh_kill_agent N
mesh_kill_agent() {
  kill -KILL "${MESH_AGENT_PIDS[$1]}"
  wait "${MESH_AGENT_PIDS[$1]}" 2>/dev/null || true
  unset "MESH_AGENT_PIDS[$1]"
}

# Runs a meshbpf command against node N's agent: mesh_cli N COMMAND [ARGS...]
mesh_cli() {
  local n="$1" command="$2"
  shift 2
  mesh_ns "n$n" "$MESHBPF_BIN/meshbpf" "$command" --pin-root "$LAB_DIR/bpffs" --instance "n$n" \
    --run-dir "$LAB_DIR/run" "$@"
}
