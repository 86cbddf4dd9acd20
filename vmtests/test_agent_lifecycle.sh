#!/usr/bin/env bash
# Agent lifecycle and CLI errors against a live lab:
#  - a SIGKILLed agent leaves the data path forwarding (programs stay
#    attached, maps stay pinned) and the CLI says the agent is gone;
#  - a restarted agent reuses the pinned maps: counters are not reset;
#  - SIGTERM detaches exactly our TC filters and exits 0;
#  - the bond device and the routes an administrator put on it survive a
#    crash, a clean stop and both restarts; `ip link del mb0` removes it;
#    a device of that name another program marked is refused;
#  - bad input to the CLI and agent gives a non-zero exit and names the problem;
#  - the running agent holds only the capabilities running needs.
# vmtest: shares the machine (no traffic is measured)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

expect_fail() {  # expect_fail CODE PATTERN COMMAND... : exit code and stderr text
  local code="$1" pattern="$2" out rc=0
  shift 2
  out="$("$@" 2>&1)" || rc=$?
  [[ $rc -eq $code ]] || lab_fail "'$*' exited $rc, expected $code: $out"
  grep -q -- "$pattern" <<<"$out" || lab_fail "'$*' said '$out', expected '$pattern'"
  echo "ok: $* -> exit $rc: $(head -1 <<<"$out")"
}

status_field() {  # status_field NODE PYTHON_EXPR (on the parsed JSON `s`)
  lab_status "$1" --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

ping_bond() { lab_ns client ping -c 3 -i 0.2 -W 1 -q "$SERVER_IP" >/dev/null; }

lab_create
lab_start_agents
lab_route_client bond
ping_bond || lab_fail "no connectivity over the bond"
[[ "$(status_field client 's["agent_running"]')" == True ]] || lab_fail "status: agent not running"
# Least privilege: once ready the agent holds only CAP_NET_ADMIN, CAP_NET_RAW,
# CAP_NET_BIND_SERVICE and CAP_BPF (agent/sys/privileges.h), also in its
# bounding set, and still carries the bond (above), stops cleanly and
# detaches (below); the other vmtests run it so too.
caps="$(awk '/^Cap(Eff|Prm|Bnd):/ {print $2}' "/proc/${LAB_AGENT_PIDS[client]}/status" | sort -u)"
[[ "$caps" == 0000008000003400 ]] || lab_fail "agent capabilities (CapEff, CapPrm, CapBnd): $caps"
echo "ok: the agent runs with cap_net_admin, cap_net_raw, cap_net_bind_service, cap_bpf only"
# An administrator's route on the bond (lab_route_client put another there too).
lab_ns client ip route add 10.77.0.0/24 dev mb0
admin_routes_kept() {  # admin_routes_kept WHEN
  # Read whole first: with pipefail, grep -q quitting early fails `ip` with SIGPIPE.
  local routes
  routes="$(lab_ns client ip route show dev mb0)"
  grep -q '^10.77.0.0/24' <<<"$routes" || lab_fail "the administrator's route on mb0 is gone $1"
  grep -q '^10.202.0.0/24' <<<"$routes" || lab_fail "the route to the server over mb0 is gone $1"
}

# 1. Agent killed without a chance to clean up: traffic keeps flowing.
kill -KILL "${LAB_AGENT_PIDS[client]}"
wait "${LAB_AGENT_PIDS[client]}" 2>/dev/null || true
unset 'LAB_AGENT_PIDS[client]'
before="$(status_field client 'sum(p["tx_packets"] for p in s["paths"])')"
ping_bond || lab_fail "data path stopped forwarding when the agent died"
[[ "$(status_field client 's["agent_running"]')" == False ]] || lab_fail "status: dead agent reported running"
echo "ok: agent SIGKILLed, bond still forwards, status reports the agent gone"

# 2. Restart: the pinned maps are reused, counters continue.
lab_start_agent client
ping_bond || lab_fail "no connectivity after the agent restarted"
after="$(status_field client 'sum(p["tx_packets"] for p in s["paths"])')"
((after >= before + 3)) || lab_fail "counters reset across restart: $before -> $after"
echo "ok: restarted agent kept the counters ($before -> $after packets)"
admin_routes_kept "after a crash and a restart"
grep -q "bond mb0 kept from an earlier run" "$LAB_DIR/client-agent.log" ||
  lab_fail "the restarted agent did not say it adopted mb0"

# 3. Clean stop: exit 0, our filters gone from the uplinks.
pid="${LAB_AGENT_PIDS[client]}"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
unset 'LAB_AGENT_PIDS[client]'
((rc == 0)) || lab_fail "agent exited $rc on SIGTERM"
for dev in wan1 wan2; do
  if lab_ns client tc filter show dev "$dev" ingress | lab_matches mb_decap; then
    lab_fail "mb_decap still attached to $dev after SIGTERM"
  fi
done
[[ "$(status_field client 's["configured"]')" == False ]] || lab_fail "maps still marked configured"
echo "ok: SIGTERM -> exit 0, filters detached, maps marked unconfigured"
grep -q 'alias meshbpf bond' <<<"$(lab_ns client ip link show mb0)" ||
  lab_fail "mb0 gone (or unmarked) after SIGTERM"
admin_routes_kept "after SIGTERM"
lab_start_agent client
ping_bond || lab_fail "no connectivity after a clean restart (routes not re-added)"
admin_routes_kept "after a clean restart"
echo "ok: mb0 and its routes survive a crash, a clean stop and the restarts"
pid="${LAB_AGENT_PIDS[client]}"
kill -TERM "$pid"
wait "$pid" || lab_fail "agent exited $? on the second SIGTERM"
unset 'LAB_AGENT_PIDS[client]'
lab_ns client ip link del mb0
! lab_ns client ip link show mb0-tx >/dev/null 2>&1 || lab_fail "ip link del mb0 left mb0-tx"
echo "ok: ip link del mb0 removes the bond pair"

# 4. Bad input.
bin="$MESHBPF_BIN"
expect_fail 2 'unknown command' "$bin/meshbpf" frobnicate
expect_fail 2 'unknown option "--bogus"' "$bin/meshbpf" status --bogus
expect_fail 1 'no meshbpf data path' lab_ns client "$bin/meshbpf" status \
  --pin-root "$LAB_DIR/bpffs" --instance nosuch
mkdir -p "$LAB_DIR/empty"
expect_fail 1 'no meshbpf instance' "$bin/meshbpf" status --pin-root "$LAB_DIR/empty"
expect_fail 2 'No such file' "$bin/meshbpf-agent" --config "$LAB_DIR/missing.json" \
  --pin-root "$LAB_DIR/bpffs" --instance x
sed 's/"name": "wan2"/"name": "wan9"/' "$LAB_DIR/client.json" >"$LAB_DIR/bad-iface.json"
expect_fail 2 'interfaces.uplinks\[1\].interface: no such network interface "wan9"' \
  lab_ns client "$bin/meshbpf-agent" --config "$LAB_DIR/bad-iface.json" \
  --pin-root "$LAB_DIR/bpffs" --instance x
lab_ns client ip link add mbx type veth peer name mbx-tx
lab_ns client ip link set mbx alias "not meshbpf"
sed 's/"bond_interface": "mb0"/"bond_interface": "mbx"/' "$LAB_DIR/client.json" >"$LAB_DIR/foreign-bond.json"
expect_fail 1 'mbx exists with alias "not meshbpf", not "meshbpf bond": it was not made by meshbpf' \
  lab_ns client "$bin/meshbpf-agent" --config "$LAB_DIR/foreign-bond.json" \
  --pin-root "$LAB_DIR/bpffs" --instance foreign --run-dir "$LAB_DIR/run"
lab_ns client ip link show mbx >/dev/null || lab_fail "the refused agent touched the foreign mbx"
expect_fail 1 'failover.threshold' lab_ns client "$bin/meshbpf" config --check \
  <(sed 's/"threshold": 3/"threshold": 0/' "$LAB_DIR/client.json")
echo PASS
