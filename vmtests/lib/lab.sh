# shellcheck shell=bash
# The meshbpf lab: a bonding client with two emulated uplinks, the ISPs, a
# bonding peer and a server, each in its own network namespace. Sourced by
# the demo, the vmtests and the benchmarks.
#
#   client  wan1 10.201.1.2 ──(link 1, RATE1)── 10.201.1.1 ┐
#           wan2 10.201.2.2 ──(link 2, RATE2)── 10.201.2.1 ┤ inet ── 10.200.0.1
#           (wanN 10.201.N.2 ── cN 10.201.N.1 for RATES="R1 R2 ... RN")
#           mb0  10.203.0.2 (bond, made by the agent)      ┘            │
#   peer    wan0 10.200.0.2 ────────────────────────────────────────────┘
#           mb0  10.203.0.1 (bond), lan0 10.202.0.1 ── server lan0 10.202.0.2
#
# How a lab link is emulated: a veth pair with a tbf shaper on the egress of
# both ends (upload on the client's side, download on inet's side). tbf gives
# rate and a bounded queue, not delay (netem is missing on this kernel; loss
# comes from nftables, see lab_link_loss). Its bucket is kept to a few
# packets: a large bucket lets an idle link send a burst at veth speed, which
# a real uplink does not do and which, with the lab's near-zero RTT (RACK's
# reorder window is min_rtt/4), makes every path-timing error look like loss.
#
# More uplinks: RATES="50 20 5" (Mbit/s per link; default "$RATE1 $RATE2").
# One-way delay: DELAYS="0 20" (ms per link, default 0). A delayed link runs
# through a delay stage in namespace $LAB-delay (meshbpf-delay-stage, see
# bench/delay_stage.cc): wanN ── dNa [holds every frame D ms] dNb ── cN, both
# directions, after the tbf shaper. The delay also goes into the uplink's
# delay_ms in both agents' configs. LAB_SHAPED=0 leaves out every tbf (for
# unshaped throughput; rate_mbit in the configs stays RATES).
#
# Everything lives in namespaces named "$LAB-*" with LAB=mbl<pid>; maps are
# pinned in a private bpffs under /run/meshbpf-lab/$LAB, which also records
# the owner (pid and start time) so a later run can tell a dead lab from a
# live one. Nothing touches the host namespace's interfaces or routes.
#
# Callers: source this, then `trap lab_cleanup EXIT; trap 'exit 130' INT TERM`.
# lab_fail exits the shell it runs in: inside $(...) only that subshell.

LAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MESHBPF_BIN="${MESHBPF_BIN:-$LAB_ROOT/build}"
LAB="mbl$$"
LAB_DIR="/run/meshbpf-lab/$LAB"
RATE1="${RATE1:-40}"
RATE2="${RATE2:-20}"
read -ra LAB_RATES <<<"${RATES:-$RATE1 $RATE2}"
read -ra LAB_DELAYS <<<"${DELAYS:-}"
RATE1="${LAB_RATES[0]}"
RATE2="${LAB_RATES[1]:-}"
LAB_SHAPED="${LAB_SHAPED:-1}"
# Extra members of both nodes' "link_aggregation" config, e.g.
# LAB_LINK_AGGREGATION=', "reorder_deadline_ms": 100'.
LAB_LINK_AGGREGATION="${LAB_LINK_AGGREGATION:-}"
# The rates (Mbit/s per link) the agents are told, if not RATES: a model
# rate below the real one keeps the scheduler spreading a light stream over
# every path, which a test of reordering needs.
read -ra LAB_CONFIG_RATES <<<"${CONFIG_RATES:-${LAB_RATES[*]}}"
# Extra members of the client's "monitoring" config, e.g.
# LAB_CLIENT_MONITORING=', "metrics_listen": "127.0.0.1:9464"'.
LAB_CLIENT_MONITORING="${LAB_CLIENT_MONITORING:-}"
# The same for the peer.
LAB_PEER_MONITORING="${LAB_PEER_MONITORING:-}"
# Wraps both iperf3 ends, e.g. LAB_IPERF_WRAP="mptcpize run" for MPTCP.
LAB_IPERF_WRAP="${LAB_IPERF_WRAP:-}"
# TCP congestion control of lab_iperf's flows (iperf3 -C), e.g. "cubic";
# empty: the system default (net.ipv4.tcp_congestion_control).
LAB_IPERF_CC="${LAB_IPERF_CC:-}"
# Seconds of slow start lab_iperf leaves out.
LAB_IPERF_OMIT="${LAB_IPERF_OMIT:-2}"
LAB_MODE="${LAB_MODE:-load_balance}"
LAB_TBF_LATENCY="${LAB_TBF_LATENCY:-50ms}"
# tbf buckets of this many ms of each link's rate instead of ~1 ms (see
# lab_shape), e.g. 50: the bursts of Wi-Fi or cellular aggregation.
LAB_TBF_BURST_MS="${LAB_TBF_BURST_MS:-1}"
SERVER_IP=10.202.0.2
declare -A LAB_AGENT_PIDS=()

lab_log() { echo "[lab] $*" >&2; }

lab_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Whether standard input has a line grep's arguments match: `cmd |
# lab_matches PATTERN`. Not grep -q, which exits at the first match: the
# writer then dies of SIGPIPE and, under pipefail, the pipeline fails
# although the line was there (seen: tc filter show in test_coexistence).
lab_matches() { grep "$@" >/dev/null; }

lab_ns() {
  local ns="$1"
  shift
  ip netns exec "$LAB-$ns" "$@"
}

# Start time of a process (clock ticks after boot); empty if it is gone.
lab_proc_start() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  cut -d' ' -f20 <<<"${stat##*) }"
}

# Whether the run that made lab NAME (mbl<pid>) still runs: the pid is alive
# and, if the lab recorded its owner, started at the recorded time (a reused
# pid does not keep a dead lab alive).
lab_owner_alive() {
  local pid="${1#mbl}" started owner="/run/meshbpf-lab/$1/owner"
  started="$(lab_proc_start "$pid")"
  [[ -n "$started" ]] || return 1
  [[ ! -f "$owner" || "$(cat "$owner")" == "$pid $started" ]]
}

# Removes labs of this library left by runs that died without cleaning up
# (SIGKILL, a crash): namespaces mbl<pid>-* (this lab's and mesh_lab.sh's)
# and /run/meshbpf-lab/mbl<pid> whose owner is gone. Live labs are never touched.
lab_reap_stale() {
  local ns dir
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^mbl[0-9]+-' || true); do
    lab_owner_alive "${ns%%-*}" && continue
    lab_log "removing $ns, left by a run that is gone"
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for dir in /run/meshbpf-lab/mbl*; do
    [[ -d "$dir" && "${dir##*/}" =~ ^mbl[0-9]+$ ]] || continue
    lab_owner_alive "${dir##*/}" && continue
    umount "$dir/bpffs" 2>/dev/null || true
    umount "$dir/disk" 2>/dev/null || true
    rm -rf "$dir"
  done
}

# Stops the agents (LAB_AGENT_PIDS, also mesh_lab.sh's), deletes every
# namespace $LAB-* (and whatever still runs in them), unmounts the bpffs and
# the disk (lab_client_history_disk). Safe to call twice or before lab_create.
lab_cleanup() {
  local name pid ns
  for name in "${!LAB_AGENT_PIDS[@]}"; do
    kill -TERM "${LAB_AGENT_PIDS[$name]}" 2>/dev/null || true
  done
  for name in "${!LAB_AGENT_PIDS[@]}"; do
    pid="${LAB_AGENT_PIDS[$name]}"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  LAB_AGENT_PIDS=()
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$LAB-" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  if [[ -d "$LAB_DIR" ]]; then
    umount "$LAB_DIR/bpffs" 2>/dev/null || true
    umount "$LAB_DIR/disk" 2>/dev/null || true
    rm -rf "$LAB_DIR"
  fi
}

# veth pair between two namespaces: lab_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B
lab_link() {
  ip link add "$2" netns "$LAB-$1" type veth peer name "$5" netns "$LAB-$4"
  lab_ns "$1" ip addr add "$3" dev "$2"
  lab_ns "$4" ip addr add "$6" dev "$5"
  lab_ns "$1" ip link set "$2" up
  lab_ns "$4" ip link set "$5" up
}

# Shapes one direction of a lab link: lab_shape NS IFACE MBIT [replace|change]
# tbf counts Ethernet frames (1514 B carry 1448 B of TCP payload), so TCP
# goodput tops out at 95.6% of the rate. Measured with one iperf3 flow over
# plain routing: 38.3 of 40 and 19.1 of 20 Mbit/s in both directions, i.e. at
# that ceiling, and the same with buckets of 3.1 KB, ~1 ms or 32 KB and
# latency 10, 50 or 200 ms. So the bucket is sized for the bond (see the top
# of this file): ~1 ms of traffic (LAB_TBF_BURST_MS), at least two full
# frames. latency 50 ms bounds the queue (250 KB at 40 Mbit/s) like a modest
# ISP buffer.
lab_shape() {
  [[ "$LAB_TBF_BURST_MS" =~ ^[1-9][0-9]*$ ]] ||
    lab_fail "LAB_TBF_BURST_MS must be a positive whole number of ms, got '$LAB_TBF_BURST_MS'"
  local burst=$(($3 * 125 * LAB_TBF_BURST_MS))  # 1 Mbit/s is 125 bytes per ms
  ((burst < 3100)) && burst=3100
  lab_ns "$1" tc qdisc "${4:-replace}" dev "$2" root tbf rate "${3}mbit" burst "$burst" \
    latency "$LAB_TBF_LATENCY"
}

# Changes the rate of lab link N on both tbf ends, in place (what is queued
# stays): lab_link_rate N MBIT
lab_link_rate() {
  lab_shape client "wan$1" "$2" change
  lab_shape inet "c$1" "$2" change
}

# One-way delay of link N in ms (0 if DELAYS does not set it).
lab_link_delay() {
  echo "${LAB_DELAYS[$(($1 - 1))]:-0}"
}

# Link N between the client and inet through the delay stage (see the top of
# this file): lab_delayed_link N DELAY_MS
lab_delayed_link() {
  local n="$1" log="$LAB_DIR/delay-stage-$1.log"
  [[ -x "$MESHBPF_BIN/meshbpf-delay-stage" ]] ||
    lab_fail "no $MESHBPF_BIN/meshbpf-delay-stage: build first or set MESHBPF_BIN"
  if ! ip netns list | lab_matches -w "$LAB-delay"; then
    ip netns add "$LAB-delay"
    lab_ns delay sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
  ip link add "wan$n" netns "$LAB-client" type veth peer name "d${n}a" netns "$LAB-delay"
  ip link add "d${n}b" netns "$LAB-delay" type veth peer name "c$n" netns "$LAB-inet"
  lab_ns client ip addr add "10.201.$n.2/24" dev "wan$n"
  lab_ns inet ip addr add "10.201.$n.1/24" dev "c$n"
  lab_ns delay ip link set "d${n}a" up
  lab_ns delay ip link set "d${n}b" up
  lab_ns client ip link set "wan$n" up
  lab_ns inet ip link set "c$n" up
  ip netns exec "$LAB-delay" "$MESHBPF_BIN/meshbpf-delay-stage" "d${n}a" "d${n}b" "$2" >"$log" 2>&1 &
  for _ in $(seq 50); do
    grep -q "ready" "$log" && return 0
    sleep 0.1
  done
  cat "$log" >&2
  lab_fail "the delay stage of link $n did not start (log above)"
}

# Claims the lab (reaps dead ones, records the owner, mounts the private
# bpffs) and adds the namespaces NS..., loopback up: lab_begin NS...
lab_begin() {
  lab_reap_stale
  mkdir -p "$LAB_DIR/bpffs"
  echo "$$ $(lab_proc_start $$)" >"$LAB_DIR/owner"
  mount -t bpf bpf "$LAB_DIR/bpffs"
  local ns
  for ns in "$@"; do
    ip netns add "$LAB-$ns"
    lab_ns "$ns" ip link set lo up
  done
}

lab_create() {
  lab_begin client inet peer server
  local ns n delay
  for n in $(seq ${#LAB_RATES[@]}); do
    delay="$(lab_link_delay "$n")"
    if ((delay > 0)); then
      lab_delayed_link "$n" "$delay"
    else
      lab_link client "wan$n" "10.201.$n.2/24" inet "c$n" "10.201.$n.1/24"
    fi
  done
  lab_link peer wan0 10.200.0.2/24 inet p0 10.200.0.1/24
  lab_link peer lan0 10.202.0.1/24 server lan0 10.202.0.2/24
  for ns in inet peer; do lab_ns "$ns" sysctl -qw net.ipv4.ip_forward=1; done
  # Decapsulated packets enter through the bond; plain-routed baselines come
  # back on the uplinks. Neither must trip reverse-path filtering. (The
  # kernel uses the max of "all" and the interface's own value.)
  for ns in client peer; do
    lab_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done
  lab_ns inet ip route add 10.202.0.0/24 via 10.200.0.2
  lab_ns peer ip route add default via 10.200.0.1
  lab_ns server ip route add default via 10.202.0.1
  if ((LAB_SHAPED)); then
    for n in $(seq ${#LAB_RATES[@]}); do
      lab_shape client "wan$n" "${LAB_RATES[$((n - 1))]}"
      lab_shape inet "c$n" "${LAB_RATES[$((n - 1))]}"
    done
  fi
  lab_route_client wan1
  lab_write_configs
}

# The entries of one node's uplinks array, one per RATES link: lab_config_uplinks client|peer
lab_config_uplinks() {
  local n sep="" delay extra
  for n in $(seq ${#LAB_RATES[@]}); do
    delay="$(lab_link_delay "$n")" extra=""
    ((delay > 0)) && extra=", \"delay_ms\": $delay"
    if [[ "$1" == client ]]; then
      printf '%s\n    {"name": "wan%d", "gateway": "10.201.%d.1", "rate_mbit": %s%s}' \
        "$sep" "$n" "$n" "${LAB_CONFIG_RATES[$((n - 1))]}" "$extra"
    else
      printf '%s\n    {"name": "via-wan%d", "interface": "wan0", "gateway": "10.200.0.1",\n     "remote_address": "10.201.%d.2", "rate_mbit": %s%s}' \
        "$sep" "$n" "$n" "${LAB_CONFIG_RATES[$((n - 1))]}" "$extra"
    fi
    sep=","
  done
}

lab_write_configs() {
  local client_peer=', "peer_address": "10.200.0.2", "port": 7201, "peer_bond_address": "10.203.0.1"'
  [[ "$LAB_MODE" == flow ]] && client_peer=""  # no peer: flows leave NATed from their uplink
  cat >"$LAB_DIR/client.json" <<EOF
{
  "link_aggregation": {"mode": "$LAB_MODE", "bond_interface": "mb0",
                       "bond_address": "10.203.0.2/24"$client_peer$LAB_LINK_AGGREGATION},
  "failover": {"monitoring_interval": 0.2, "threshold": 3, "recovery_threshold": 5},
  "monitoring": {"history_file": "$LAB_DIR/client.db"$LAB_CLIENT_MONITORING},
  "interfaces": {"primary": "wan1", "uplinks": [$(lab_config_uplinks client)]}
}
EOF
  cat >"$LAB_DIR/peer.json" <<EOF
{
  "link_aggregation": {"mode": "$LAB_MODE", "bond_interface": "mb0",
                       "bond_address": "10.203.0.1/24", "port": 7201,
                       "peer_bond_address": "10.203.0.2"$LAB_LINK_AGGREGATION},
  "failover": {"monitoring_interval": 0.2, "threshold": 3, "recovery_threshold": 5},
  "monitoring": {"history_file": "$LAB_DIR/peer.db"$LAB_PEER_MONITORING},
  "interfaces": {"primary": "via-wan1", "uplinks": [$(lab_config_uplinks peer)]}
}
EOF
}

# Tunnel authentication in NODE's config with its private key file and the
# other node's public key: lab_set_authentication NODE KEY_FILE PEER_PUBLIC_KEY
lab_set_authentication() {
  python3 - "$LAB_DIR/$1.json" "$2" "$3" <<'PY'
import json, sys
path, key_file, peer_key = sys.argv[1:]
config = json.load(open(path))
config["link_aggregation"].update(
    {"authentication": True, "private_key_file": key_file, "peer_public_key": peer_key})
json.dump(config, open(path, "w"), indent=1)
PY
}
lab_public_key() { "$MESHBPF_BIN/meshbpf" pubkey <"$LAB_DIR/$1.key"; }
# Two nodes (default client and peer; the mesh lab's relay test names its
# own) authenticate to each other, each with a new key pair in
# $LAB_DIR/NODE.key (before their agents start): lab_authenticate_nodes [A B]
lab_authenticate_nodes() {
  local a="${1:-client}" b="${2:-peer}"
  (umask 077
   for node in "$a" "$b"; do "$MESHBPF_BIN/meshbpf" genkey >"$LAB_DIR/$node.key"; done)
  lab_set_authentication "$a" "$LAB_DIR/$a.key" "$(lab_public_key "$b")"
  lab_set_authentication "$b" "$LAB_DIR/$b.key" "$(lab_public_key "$a")"
}
# One field of link_aggregation in NODE's config, VALUE in JSON:
# lab_set_link_aggregation NODE FIELD VALUE (e.g. encryption true)
lab_set_link_aggregation() {
  python3 - "$LAB_DIR/$1.json" "$2" "$3" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["link_aggregation"][sys.argv[2]] = json.loads(sys.argv[3])
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
}
# A Python expression over NODE's `meshbpf status --json` (as `s`), printed:
# lab_status_eval NODE EXPR (e.g. client "s['health']['loss_repair']['wait_us']")
lab_status_eval() {
  lab_status "$1" --json | python3 -c "import json, sys; s = json.load(sys.stdin); print($2)"
}
# authentication.FIELD of NODE's `meshbpf status --json`: lab_auth_field NODE FIELD
lab_auth_field() {
  lab_status_eval "$1" "s['health']['authentication']['$2']"
}
lab_sessions_established() {
  [[ "$(lab_auth_field client established)" == True && "$(lab_auth_field peer established)" == True ]]
}
# Both nodes authenticate (lab_authenticate_nodes), start, and make their
# session: lab_start_authenticated [WHAT the session is waited for as]
lab_start_authenticated() {
  lab_authenticate_nodes
  lab_start_agents
  # lab_start_agents waited for every path up, which with authentication
  # (paths start down) comes only after the session: a test that counts
  # transitions can start from here.
  wait_until 20 "${1:-both agents established a session}" lab_sessions_established
}
# Every path of both nodes is up in their agents' health (with authentication,
# probes pass only once the session is there).
lab_paths_up() {
  local node
  for node in client peer; do
    lab_status "$node" --json | python3 -c "
import json, sys
sys.exit(any(p['health'] != 'up' for p in json.load(sys.stdin)['health']['paths']))" || return 1
  done
}
# A drop reason of NODE summed over its paths and the unattributed slot: lab_drops NODE REASON
lab_drops() {
  lab_status "$1" --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(sum(p['drops']['$2'] for p in s['paths']) + s['unattributed_drops']['$2'])"
}
# Neither node dropped a packet for any of these reasons: lab_none_dropped REASON...
lab_none_dropped() {
  local node reason n
  for node in client peer; do
    for reason in "$@"; do
      n="$(lab_drops "$node" "$reason")"
      ((n == 0)) || lab_fail "$node refused $n genuine packets as $reason"
    done
  done
}

# Starts the agent of one node (client or peer) without waiting for it.
lab_launch_agent() {
  local node="$1" log="$LAB_DIR/$1-agent.log"
  [[ -x "$MESHBPF_BIN/meshbpf-agent" ]] ||
    lab_fail "no $MESHBPF_BIN/meshbpf-agent: build first (scripts/dev.sh build) or set MESHBPF_BIN"
  # Not through lab_ns: a backgrounded function is a subshell, and $! must be
  # the agent itself (ip netns exec execs it) so signals reach it.
  # ip netns exec mounts a sysfs of the namespace over /sys, which hides the
  # cgroup2 mount; with LAB_AGENT_CGROUP2=1 the agent gets one again, in the
  # mount namespace ip made for it (sh execs the agent: $! stays its pid).
  local mount_cgroup2=()
  ((${LAB_AGENT_CGROUP2:-0})) &&
    mount_cgroup2=(sh -c 'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$@"' sh)
  ip netns exec "$LAB-$node" "${mount_cgroup2[@]}" "$MESHBPF_BIN/meshbpf-agent" --config "$LAB_DIR/$node.json" \
    --pin-root "$LAB_DIR/bpffs" --instance "$node" --run-dir "$LAB_DIR/run" >"$log" 2>&1 &
  LAB_AGENT_PIDS[$node]=$!
}
# Waits until the agent lab_launch_agent started on NODE is ready.
lab_wait_agent_ready() {
  local node="$1" log="$LAB_DIR/$1-agent.log"
  for _ in $(seq 300); do  # 30 s: BPF verification is slow on a loaded machine
    grep -q "meshbpf-agent: ready" "$log" && return 0
    kill -0 "${LAB_AGENT_PIDS[$node]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  lab_fail "the $node agent did not become ready (log above)"
}
# Starts the agent of one node (client or peer) and waits until it is ready.
lab_start_agent() {
  lab_launch_agent "$1"
  lab_wait_agent_ready "$1"
}
# Stops the agent of one node with SIGTERM and waits for it; returns its
# exit status (non-zero: it did not stop cleanly): lab_stop_agent NODE
lab_stop_agent() {
  local pid="${LAB_AGENT_PIDS[$1]}" status=0
  kill -TERM "$pid"
  wait "$pid" || status=$?
  unset "LAB_AGENT_PIDS[$1]"
  return "$status"
}

# A disk that can fill up: the client's history file on a tmpfs of SIZE
# (e.g. 256k) at $LAB_DISK, inside the lab. Before lab_start_agents:
# lab_client_history_disk SIZE
lab_client_history_disk() {
  LAB_DISK="$LAB_DIR/disk"
  mkdir -p "$LAB_DISK"
  mount -t tmpfs -o "size=$1" meshbpf-lab-disk "$LAB_DISK"
  python3 - "$LAB_DIR/client.json" "$LAB_DISK/client.db" <<'PY'
import json, sys
path, history = sys.argv[1], sys.argv[2]
config = json.load(open(path))
config["monitoring"]["history_file"] = history
json.dump(config, open(path, "w"), indent=1)
PY
}

# Starts both agents and waits until every path is up on both. Together:
# loading the data path takes seconds on a just-booted machine, and an agent
# started alone meanwhile sees its probes go unanswered and takes its paths
# down, so a test's first traffic would find a bond that is only recovering.
lab_start_agents() {
  lab_launch_agent client
  lab_launch_agent peer
  lab_wait_agent_ready client
  lab_wait_agent_ready peer
  # The agent's bond_address normally brings the connected route already.
  [[ -n "$(lab_ns peer ip route show 10.203.0.0/24 dev mb0)" ]] ||
    lab_ns peer ip route add 10.203.0.0/24 dev mb0
  wait_until 20 "every path up on both nodes after the agents started" lab_paths_up
}

# Where the client sends traffic for the server: wan1, wan2, ... (plain
# routing over one uplink) or bond.
lab_route_client() {
  local n="${1#wan}"
  if [[ "$1" == bond ]]; then
    lab_ns client ip route replace 10.202.0.0/24 dev mb0
  elif [[ "$1" == wan* && "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= ${#LAB_RATES[@]})); then
    lab_ns client ip route replace 10.202.0.0/24 via "10.201.$n.1" dev "$1"
  else
    lab_fail "lab_route_client: unknown route $1"
  fi
}

# Readies MPTCP over the plain uplinks (the reference the benchmarks compare
# with): one source-address routing table per uplink on the client so each
# subflow leaves through its own link, a subflow endpoint per uplink, and
# limits on both ends. Connections start on wan1 (lab_route_client wan1); run
# iperf3 with LAB_IPERF_WRAP="mptcpize run".
lab_mptcp_setup() {
  local n count=${#LAB_RATES[@]}
  for n in $(seq "$count"); do
    lab_ns client ip rule add from "10.201.$n.2" table $((100 + n))
    lab_ns client ip route add 10.202.0.0/24 via "10.201.$n.1" dev "wan$n" table $((100 + n))
    lab_ns client ip mptcp endpoint add "10.201.$n.2" dev "wan$n" subflow
  done
  lab_ns client ip mptcp limits set subflow "$count" add_addr_accepted "$count"
  lab_ns server ip mptcp limits set subflow "$count" add_addr_accepted "$count"
}

# Waits until something listens on TCP (or, with udp, is bound to UDP) PORT
# in namespace NS: lab_wait_port NS PORT [udp]
lab_wait_port() {
  local proto="${3:-tcp}"
  for _ in $(seq 100); do
    [[ -n "$(lab_ns "$1" ss -Hl"${proto:0:1}"n "sport = :$2")" ]] && return 0
    sleep 0.05
  done
  echo "lab: nothing listens on ${proto^^} port $2 in $LAB-$1" >&2
  return 1
}

# Goodput in Mbit/s seen by the receiver: lab_iperf up|down SECONDS [STREAMS]
# (up: client -> server; the first LAB_IPERF_OMIT s, slow start, are left out). The whole
# iperf3 JSON stays in $LAB_DIR/iperf.json. On failure: says why, returns 1.
lab_iperf() {
  local direction="$1" seconds="$2" streams="${3:-1}" reverse=() cc=() server wrap
  [[ "$direction" == down ]] && reverse=(-R)
  [[ -n "$LAB_IPERF_CC" ]] && cc=(-C "$LAB_IPERF_CC")
  read -ra wrap <<<"$LAB_IPERF_WRAP"
  # Directly, not through lab_ns, so that $! is iperf3 itself (mptcpize execs it).
  ip netns exec "$LAB-server" "${wrap[@]}" iperf3 -s -1 -B "$SERVER_IP" >/dev/null 2>&1 &
  server=$!
  lab_wait_port server 5201 || return 1
  # --foreground keeps iperf3 in our process group, so Ctrl-C reaches it.
  lab_ns client timeout --foreground $((seconds + 20)) "${wrap[@]}" iperf3 -J -c "$SERVER_IP" -t "$seconds" -O "$LAB_IPERF_OMIT" \
    -P "$streams" "${reverse[@]}" "${cc[@]}" >"$LAB_DIR/iperf.json" 2>&1 || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  local summary
  summary="$(lab_iperf_summary "$LAB_DIR/iperf.json" "lab_iperf $direction")" || return 1
  printf '%.1f\n' "${summary%% *}"
}

# What an iperf3 -J report says the receiver got, as "MBIT BYTES"; fails,
# naming WHAT and iperf3's error, when the run failed:
# lab_iperf_summary REPORT WHAT
lab_iperf_summary() {
  python3 -c '
import json, sys
text, report = open(sys.argv[1]).read(), {}
try:
    report = json.loads(text)
    r = report["end"]["sum_received"]
    print("%.2f %d" % (r["bits_per_second"] / 1e6, r["bytes"]))
except (ValueError, KeyError, TypeError):
    why = report.get("error") or text[-300:] or "no output"
    sys.exit("%s: iperf3 failed: %s" % (sys.argv[2], why))' "$1" "$2"
}

# Sends FILE over one TCP connection (up: client -> server, down: server ->
# client); prints the receiver's JSON: bytes, sha256, seconds, mbit_s.
# LAB_BLOB_NS: the namespace at the client end (default client; e.g. a host
# behind it); LAB_BLOB_SERVER: the server's address (default SERVER_IP).
# A random file of SIZE (head -c syntax, e.g. 20M) over one TCP connection
# through the bond, up then down; fails unless it arrives intact (sha256).
lab_blob_intact() {
  local size="$1" want report direction
  head -c "$size" /dev/urandom >"$LAB_DIR/blob"
  want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"
  for direction in up down; do
    report="$(lab_blob "$direction" "$LAB_DIR/blob")"
    echo "$size $direction over the bond: $report"
    grep -q "\"sha256\": \"$want\"" <<<"$report" ||
      lab_fail "$size $direction over the bond did not arrive intact (want sha256 $want)"
  done
}

# The client's per-path counter FIELD as a list: lab_client_path_counters tx_bytes|rx_bytes
lab_client_path_counters() {
  lab_status client --json |
    python3 -c 'import json,sys; print([p[sys.argv[1]] for p in json.load(sys.stdin)["paths"]])' "$1"
}

# FLOWS uploads (ports BASE..) and FLOWS downloads (ports BASE+FLOWS..) of
# FILE at once between the client and SERVER, one TCP connection each; fails
# the test unless every one arrived intact (sha256). Prints what the client
# sent and received on each path meanwhile, as two lists without spaces
# ("[tx,...] [rx,...]"). lab_parallel_flows SERVER FLOWS BASE FILE
lab_parallel_flows() {
  local server="$1" flows="$2" base="$3" file="$4" tool="$LAB_ROOT/vmtests/lib/tcpblob.py"
  local i tx_before rx_before pids=() send=()
  tx_before="$(lab_client_path_counters tx_bytes)" rx_before="$(lab_client_path_counters rx_bytes)"
  for i in $(seq 0 $((2 * flows - 1))); do
    send=()
    ((i >= flows)) && send=("$file") # download: the server sends
    ip netns exec "$LAB-server" python3 "$tool" listen "$server" $((base + i)) "${send[@]}" \
      >"$LAB_DIR/flow-$i.json" &
    pids+=($!)
  done
  for i in $(seq 0 $((2 * flows - 1))); do lab_wait_port server $((base + i)); done
  for i in $(seq 0 $((2 * flows - 1))); do
    send=()
    ((i < flows)) && send=("$file") # upload: the client sends
    ip netns exec "$LAB-client" python3 "$tool" connect "$server" $((base + i)) "${send[@]}" \
      >>"$LAB_DIR/flow-$i.json" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  python3 - "$LAB_DIR" "$flows" "$(sha256sum "$file" | cut -d' ' -f1)" "$(stat -c %s "$file")" \
    "$tx_before" "$(lab_client_path_counters tx_bytes)" \
    "$rx_before" "$(lab_client_path_counters rx_bytes)" <<'PY' || lab_fail "flows to $server not intact"
import ast, json, sys
lab, flows, want, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
tx = [a - b for a, b in zip(ast.literal_eval(sys.argv[6]), ast.literal_eval(sys.argv[5]))]
rx = [a - b for a, b in zip(ast.literal_eval(sys.argv[8]), ast.literal_eval(sys.argv[7]))]
bad = []
for i in range(2 * flows):
    lines = [l for l in open(f"{lab}/flow-{i}.json") if l.strip()]
    report = json.loads(lines[0]) if lines else {}
    if report.get("sha256") != want:
        bad.append(f"{'up' if i < flows else 'down'} flow {i}: {report or 'no report'}")
print(f"{flows} uploads + {flows} downloads of {size} B: {2 * flows - len(bad)} intact", file=sys.stderr)
print("\n".join(bad), file=sys.stderr)
print(json.dumps(tx, separators=(",", ":")), json.dumps(rx, separators=(",", ":")))
sys.exit(1 if bad else 0)
PY
}

lab_blob() {
  local tool="$LAB_ROOT/vmtests/lib/tcpblob.py" report="$LAB_DIR/blob-report.json" listener
  local up=() down=()
  if [[ "$1" == up ]]; then up=("$2"); else down=("$2"); fi
  ip netns exec "$LAB-server" python3 "$tool" listen "${LAB_BLOB_SERVER:-$SERVER_IP}" 9100 "${down[@]}" >"$report" &
  listener=$!
  lab_wait_port server 9100 || return 1
  lab_ns "${LAB_BLOB_NS:-client}" python3 "$tool" connect "${LAB_BLOB_SERVER:-$SERVER_IP}" 9100 "${up[@]}" >>"$report" || true
  wait "$listener" || true
  cat "$report"
}

# Drops PERCENT (100: everything, a blackhole) of the packets crossing lab
# link N (both directions), at the ISP side with nftables (there is no netem
# here): lab_link_loss N PERCENT
lab_link_loss() {
  local dev="c$1" random="numgen random mod 100 < $2"
  (($2 >= 100)) && random=""
  lab_ns inet nft -f - <<EOF
table inet meshbpf_lab_loss_$1 {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "$dev" $random drop
    oifname "$dev" $random drop
  }
}
EOF
}

# Undoes lab_link_loss (also a blackhole: lab_link_loss N 100).
lab_link_clear() {
  lab_ns inet nft delete table inet "meshbpf_lab_loss_$1" 2>/dev/null || true
}

# Sequence-numbered UDP stream from the client to the server; prints the
# receiver's JSON report: lab_udp_stream COUNT INTERVAL_MS
lab_udp_stream() {
  local tool="$LAB_ROOT/vmtests/lib/udpstream.py" report="$LAB_DIR/udp-report.json"
  lab_ns server python3 "$tool" recv "$SERVER_IP" 9000 "$1" \
    "$(python3 -c "print($1 * $2 / 1000 + 5)")" >"$report" &
  local receiver=$!
  lab_wait_port server 9000 udp || lab_fail "the UDP stream's receiver did not start"
  lab_ns client python3 "$tool" send "$SERVER_IP" 9000 "$1" "$2"
  wait "$receiver"
  cat "$report"
}

# Polls (every 0.1 s, up to SECONDS) until CMD succeeds: wait_until SECONDS WHAT CMD...
wait_until() {
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq $((seconds * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  lab_fail "not within ${seconds} s: $what"
}

# Runs a meshbpf command against one node's agent: lab_cli NODE COMMAND [ARGS...]
lab_cli() {
  local node="$1" command="$2"
  shift 2
  lab_ns "$node" "$MESHBPF_BIN/meshbpf" "$command" --pin-root "$LAB_DIR/bpffs" --instance "$node" \
    --run-dir "$LAB_DIR/run" "$@"
}

# meshbpf status of one node, passing extra arguments (e.g. --json).
lab_status() {
  local node="$1"
  shift
  lab_cli "$node" status "$@"
}

# Counts the pings (IPv4 and IPv6 echo requests) the client sends out of
# mb0, from now on: probes cross the bond all the time, so its byte counters
# cannot tell whether a ping took it. Then lab_bond_pings prints the count.
lab_count_bond_pings() {
  lab_ns client nft -f - <<'NFT'
table inet meshbpf_lab_pings {
  counter bond_pings {}
  chain postrouting {
    type filter hook postrouting priority 0; policy accept;
    oifname "mb0" icmp type echo-request counter name bond_pings
    oifname "mb0" icmpv6 type echo-request counter name bond_pings
  }
}
NFT
}
lab_bond_pings() {
  lab_ns client nft list counter inet meshbpf_lab_pings bond_pings | grep -o 'packets [0-9]*' | cut -d' ' -f2
}
# The routing tests' fwmark selector (0x10/0xff): 5 pings from the client to
# ADDRESS marked 0x10 must all leave through mb0, 5 marked 0x20 none of
# them (after lab_count_bond_pings): lab_check_marked_pings ADDRESS [PING_OPTION...]
lab_check_marked_pings() {
  local address="$1" mark before sent
  shift
  for mark in 16 32; do  # 0x10 and 0x20 (ping takes decimal)
    before="$(lab_bond_pings)"
    lab_ns client ping "$@" -c 5 -i 0.1 -W 1 -q -m "$mark" "$address" >/dev/null ||
      lab_fail "pings to $address marked $mark did not get answers"
    sent=$(($(lab_bond_pings) - before))
    echo "5 pings to $address marked $mark: $sent through mb0"
    if ((mark == 16)); then
      ((sent == 5)) || lab_fail "pings to $address marked 0x10 did not all enter the bond"
    else
      ((sent == 0)) || lab_fail "pings to $address marked 0x20 entered the bond"
    fi
  done
}

# One field of one path in a node's `meshbpf status --json`, read anew on
# every call: lab_path_field NODE PATH_ID FIELD (e.g. client 1 tx_bytes).
lab_path_field() {
  lab_status_eval "$1" "s['paths'][$2]['$3']"
}

# SIGHUP to one node's agent, then waits until it logs how the reload went
# (done, refused, or nothing changed): lab_reload NODE
lab_reload() {
  local log="$LAB_DIR/$1-agent.log" outcome='reload: done|still running on the current config|reload: nothing changed'
  local before
  before="$(grep -cE "$outcome" "$log" || true)"
  kill -HUP "${LAB_AGENT_PIDS[$1]}"
  for _ in $(seq 100); do
    (($(grep -cE "$outcome" "$log" || true) > before)) && return 0
    sleep 0.1
  done
  lab_fail "the $1 agent did not finish reloading: $(tail -5 "$log")"
}
