#!/usr/bin/env bash
# meshbpf stats / test / logs / config against a live lab:
# 1. an iperf3 upload over the bond: the client agent's per-path tx byte
#    counts (inner IP packets) match iperf3's own byte count once the
#    headers are accounted for (within a few percent);
# 2. stats --json parses, the table prints, --since 5m summarises the
#    recorded history, --plot writes a PNG;
# 3. the Prometheus endpoint is scraped and parsed;
# 4. logs shows the path transitions; test wan2 --duration 3 gives numbers;
# 5. config --output then --check succeeds;
# 6. errors: unknown interface, bad duration, agent not running.
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

METRICS=127.0.0.1:9464
export LAB_CLIENT_MONITORING=", \"metrics_listen\": \"$METRICS\""
LAB_IPERF_OMIT=0
cli() { lab_cli client "$@"; }

lab_create
lab_start_agents
lab_route_client bond
# Both paths answering probes before traffic.
for _ in $(seq 50); do
  cli stats --json | python3 -c "
import json, sys
sys.exit(0 if all(p['status'] == 'up' for p in json.load(sys.stdin)['paths']) else 1)" && break
  sleep 0.2
done

# --- 1. Counters against iperf3 ----------------------------------------------
tx_total() { cli stats --json | python3 -c "import json,sys; print(sum(p['tx_bytes_total'] for p in json.load(sys.stdin)['paths']))"; }
before="$(tx_total)"
goodput="$(lab_iperf up 5)"
sleep 1.5  # stats are sampled every second: wait for a sample after the upload
after="$(tx_total)"
python3 - "$LAB_DIR/iperf.json" "$before" "$after" "$goodput" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
before, after = int(sys.argv[2]), int(sys.argv[3])
# Payload that arrived: what iperf3's sender wrote but was still queued
# when the test ended never left.
received = report["end"]["sum_received"]["bytes"]
retrans = report["end"]["sum_sent"].get("retransmits", 0)
mss = report["start"]["tcp_mss_default"]
# The counters see inner IP packets: each data segment carries 20 (IP) +
# 32 (TCP with timestamps) bytes of headers; retransmitted segments count
# again; the handshake, FIN and probes add a few hundred bytes.
expected = received * (mss + 52) / mss + retrans * (mss + 52)
counted = after - before
ratio = counted / expected
print(f"upload {sys.argv[4]} Mbit/s: iperf3 received {received} B payload (MSS {mss}, {retrans} "
      f"retransmits), expected {expected:.0f} B of inner packets, counters {counted} B "
      f"(ratio {ratio:.4f})")
assert 0.97 <= ratio <= 1.03, f"counters off by {100 * (ratio - 1):.1f}%"
PY

# --- 2. stats: json, table, history, plot -------------------------------------
cli stats --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
assert s['bond'] == 'mb0', s
names = [p['name'] for p in s['paths']]
assert names == ['wan1', 'wan2'], names
for p in s['paths']:
    assert p['status'] == 'up' and p['rtt_ms'] is not None and 0 < p['weight'] <= 1, p
print('stats --json: ok,', ', '.join(f\"{p['name']} {p['weight']:.2f} weight\" for p in s['paths']))"
table="$(cli stats)"
echo "$table"
grep -qE '^wan1 +up ' <<<"$table" || lab_fail "no wan1 row in the table"
grep -qE '^total ' <<<"$table" || lab_fail "no total row in the table"
since="$(cli stats --since 5m)"
echo "$since"
python3 - "$since" <<'PY'
import sys
lines = sys.argv[1].splitlines()
assert lines[0] == "last 5m", lines[0]
rows = {l.split()[0]: l.split() for l in lines[2:] if l.split() and l.split()[0].startswith("wan")}
assert set(rows) == {"wan1", "wan2"}, rows
# Samples recorded, and the upload shows in wan1's average out.
assert int(rows["wan1"][1]) >= 5, rows["wan1"]
assert float(rows["wan1"][2]) > 1, rows["wan1"]
PY
cli stats --since 5m --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
assert {p['path'] for p in s['paths']} == {'wan1', 'wan2'} and all(p['availability'] > 0.5 for p in s['paths']), s"
png="$LAB_DIR/stats.png"
cli stats --since 5m --plot "$png"
python3 -c "
import sys
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000, len(data)
print(f'--plot: valid PNG, {len(data)} bytes')" "$png"

# --- 3. Prometheus ---------------------------------------------------------------
lab_ns client python3 - "$METRICS" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5).read().decode()
helps, types, samples = set(), {}, {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        helps.add(line.split()[2])
    elif line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        types[name] = kind
    elif line:
        name_labels, value = line.rsplit(" ", 1)
        samples[name_labels] = float(value)
assert helps == set(types), "every family has HELP and TYPE"
tx = samples['meshbpf_path_transmit_bytes_total{bond="mb0",path="wan1"}']
assert tx > 1e6, tx
assert types["meshbpf_path_transmit_bytes_total"] == "counter"
rtt = samples['meshbpf_path_rtt_seconds{bond="mb0",path="wan2"}']
assert 0 < rtt < 1, rtt
assert samples['meshbpf_path_state{bond="mb0",path="wan2",state="up"}'] == 1
print(f"prometheus: {len(types)} families, {len(samples)} samples, wan1 sent {tx:.0f} B")
PY
code="$(lab_ns client python3 -c "
import urllib.request, urllib.error
try:
    urllib.request.urlopen('http://$METRICS/nothing', timeout=5)
except urllib.error.HTTPError as e:
    print(e.code)")"
[[ "$code" == 404 ]] || lab_fail "GET /nothing gave $code"

# --- 4. logs and test -------------------------------------------------------------
lab_link_loss 2 100
for _ in $(seq 50); do
  cli logs | lab_matches "path wan2: up -> down" && break
  sleep 0.2
done
lab_link_clear 2
cli logs | grep -E "path wan2: up -> down \(3 probes lost in a row\)" ||
  lab_fail "logs do not show wan2 going down"
cli logs --json | tail -n 3 | python3 -c "
import json, sys
for line in sys.stdin: assert set(json.loads(line)) == {'time', 'level', 'message'}"
# Back up takes 5 answered probes, doubled for each relapse within a minute
# (a start-up probe round lost on a loaded machine counts as one): up to
# 8 s of probes. Testing a path still down would measure nothing.
wan2_up() {
  [[ "$(cli stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['paths'][1]['status'])")" == up ]]
}
wait_until 30 "wan2 up again after its blackhole" wan2_up
result="$(cli test wan2 --duration 3)"
echo "$result"
python3 - "$result" "$RATE2" <<'PY'
import re, sys
m = re.search(r"wan2: capacity ([\d.]+) Mbit/s delivered of ([\d.]+) sent.* RTT ([\d.]+) ms", sys.argv[1])
assert m, sys.argv[1]
delivered, sent, rate = float(m[1]), float(m[2]), float(sys.argv[2])
# The load offers 1.25 x the configured rate; the link delivers about its rate.
assert 0.5 * rate < delivered <= 1.1 * rate and sent > delivered * 0.9, (delivered, sent)
PY

# --- 5. config --output / --check ---------------------------------------------------
lab_ns client "$MESHBPF_BIN/meshbpf" config --output "$LAB_DIR/default.json"
grep -q '^    // ' "$LAB_DIR/default.json" || lab_fail "no comments in the default config"
lab_ns client "$MESHBPF_BIN/meshbpf" config --check "$LAB_DIR/default.json"

# --- 6. errors ----------------------------------------------------------------------
expect_error() {  # expect_error CODE TEXT COMMAND...
  local code="$1" text="$2" out rc=0
  shift 2
  out="$("$@" 2>&1)" || rc=$?
  [[ $rc == "$code" ]] || lab_fail "$*: exit $rc (want $code): $out"
  grep -q -- "$text" <<<"$out" || lab_fail "$*: \"$out\" does not say \"$text\""
  [[ "$(wc -l <<<"$out")" == 1 ]] || lab_fail "$*: more than one line: $out"
}
expect_error 1 'unknown path or interface "wan9"' cli test wan9 --duration 3
expect_error 2 '"abc" is not a number' cli test wan2 --duration abc
expect_error 2 'not a number of seconds within 1..60' cli test wan2 --duration 0
expect_error 2 '--since' cli stats --since 5parsecs
kill "${LAB_AGENT_PIDS[client]}"
wait "${LAB_AGENT_PIDS[client]}" || true
expect_error 1 '' timeout 10 "$MESHBPF_BIN/meshbpf" stats --pin-root "$LAB_DIR/bpffs" --instance client --run-dir "$LAB_DIR/run"
expect_error 1 '' timeout 10 "$MESHBPF_BIN/meshbpf" test wan2 --pin-root "$LAB_DIR/bpffs" --instance client --run-dir "$LAB_DIR/run"
# The history stays readable without the agent (which told where it is while it ran).
cli stats --since 5m --history "$LAB_DIR/client.db" | lab_matches -E '^wan1 ' ||
  lab_fail "stats --since needs the agent"
echo "ok: stats, history, plot, Prometheus, logs, test, config and errors"
