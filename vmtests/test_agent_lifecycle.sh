#!/usr/bin/env bash
# Agent lifecycle and CLI errors against a live lab:
#  - a SIGKILLed agent leaves the data path forwarding (programs stay
#    attached, maps stay pinned) and the CLI says the agent is gone;
#  - a restarted agent reuses the pinned maps: counters are not reset;
#  - SIGTERM detaches exactly our TC filters and exits 0;
#  - bad input to the CLI and agent gives a non-zero exit and names the problem.
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

# 3. Clean stop: exit 0, our filters gone from the uplinks.
pid="${LAB_AGENT_PIDS[client]}"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
unset 'LAB_AGENT_PIDS[client]'
((rc == 0)) || lab_fail "agent exited $rc on SIGTERM"
for dev in wan1 wan2; do
  if lab_ns client tc filter show dev "$dev" ingress | grep -q mb_decap; then
    lab_fail "mb_decap still attached to $dev after SIGTERM"
  fi
done
[[ "$(status_field client 's["configured"]')" == False ]] || lab_fail "maps still marked configured"
echo "ok: SIGTERM -> exit 0, filters detached, maps marked unconfigured"

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
expect_fail 1 'failover.threshold' lab_ns client "$bin/meshbpf" config --check \
  <(sed 's/"threshold": 3/"threshold": 0/' "$LAB_DIR/client.json")
echo PASS
