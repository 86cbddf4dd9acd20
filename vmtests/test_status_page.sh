#!/usr/bin/env bash
# The agent's status page (monitoring.status_page) against a live lab, in
# headless Chromium (Debian's package):
# 1. during an upload over the bond the page loads, refreshes itself, and
#    shows what `meshbpf status --json` and `stats --json` say: each path's
#    uplink, health, configured rate and MTU exactly, its RTT and the bond's
#    send rate within wide margins (they are read a moment apart), and one
#    chart line per path; a screenshot is kept in $MESHBPF_BIN/vmtest-artifacts;
# 2. the endpoint is read-only and loads nothing from elsewhere: POST is
#    refused (405), the page carries a Content-Security-Policy without other
#    origins, and no URL in it points elsewhere;
# 3. 40 clients that open connections and send half a request hold nothing:
#    the agent keeps answering and probing, and the page is served again
#    once they are gone.
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

ENDPOINT=127.0.0.1:9464
export LAB_CLIENT_MONITORING=", \"metrics_listen\": \"$ENDPOINT\", \"status_page\": true"
ARTIFACTS="${MESHBPF_BIN:-.}/vmtest-artifacts"
mkdir -p "$ARTIFACTS"
command -v chromium >/dev/null || lab_fail "no chromium: install Debian's chromium (scripts/dev.sh deps)"

# Chromium in the client's namespace, where the endpoint listens on loopback.
# Root needs --no-sandbox; its profile lives in the lab directory.
chromium_run() {
  lab_ns client timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --disable-extensions --user-data-dir="$LAB_DIR/chromium" "$@" 2>>"$LAB_DIR/chromium.log"
}

lab_create
lab_start_agents
lab_route_client bond
for _ in $(seq 50); do
  lab_status client --json | python3 -c "
import json, sys
sys.exit(0 if all(p['health'] == 'up' for p in json.load(sys.stdin)['health']['paths']) else 1)" && break
  sleep 0.2
done

# --- 1. The page during an upload ----------------------------------------------
lab_ns server iperf3 -s -1 -B "$SERVER_IP" >/dev/null 2>&1 &
lab_wait_port server 5201
# Longer than two cold chromium starts can take (60 s each at most): it is
# stopped once the page and the stats are read.
lab_ns client iperf3 -c "$SERVER_IP" -t 150 >/dev/null 2>&1 &
upload=$!
sleep 5
# Virtual time runs the page's one-second refresh several times; fetches
# still take real time.
chromium_run --virtual-time-budget=6000 --dump-dom "http://$ENDPOINT/" >"$LAB_DIR/page.html"
lab_status client --json >"$LAB_DIR/status.json"
lab_cli client stats --json >"$LAB_DIR/stats.json"
chromium_run --virtual-time-budget=4000 --window-size=1280,1000 \
  --screenshot="$ARTIFACTS/status_page.png" "http://$ENDPOINT/" >/dev/null
kill -0 "$upload" 2>/dev/null || lab_fail "the upload ended early (failed)"
kill "$upload" 2>/dev/null
wait "$upload" 2>/dev/null || true
[[ -s "$ARTIFACTS/status_page.png" ]] || lab_fail "no screenshot: $(tail -5 "$LAB_DIR/chromium.log")"
python3 - "$LAB_DIR/page.html" "$LAB_DIR/status.json" "$LAB_DIR/stats.json" <<'PY'
import json, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    """Cells by (path, field) and by field, the body's refresh count, chart lines."""
    def __init__(self):
        super().__init__()
        self.row_path, self.cells, self.fields, self.lines, self.refreshes = None, {}, {}, [], 0
        self.open_field, self.text = None, ""
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.refreshes = int(a.get("data-refreshes", 0))
        if tag == "tr":
            self.row_path = a.get("data-path")
        if tag == "polyline":
            self.lines.append((a.get("data-path"), int(a.get("data-points", 0))))
        if "data-field" in a:
            self.open_field, self.text = a["data-field"], ""
            value = a.get("data-value")
            if self.row_path is not None and tag == "td":
                self.cells[(self.row_path, a["data-field"])] = value
            else:
                self.fields[a["data-field"]] = value
    def handle_data(self, data):
        if self.open_field:
            self.text += data
    def handle_endtag(self, tag):
        if self.open_field and tag in ("span", "b", "td"):
            self.fields.setdefault(self.open_field + ".text", self.text.strip())
            self.open_field = None
        if tag == "tr":
            self.row_path = None

page = Page()
page.feed(open(sys.argv[1]).read())
status = json.load(open(sys.argv[2]))["health"]
stats = json.load(open(sys.argv[3]))
problems = []
def check(ok, what):
    if not ok:
        problems.append(what)

check(page.refreshes >= 2, f"the page refreshed {page.refreshes} times (want 2+)")
check(page.fields.get("error.text", "") == "", f"the page shows an error: {page.fields.get('error.text')}")
check(page.fields.get("mode.text") == status["mode"],
      f"mode {page.fields.get('mode.text')!r}, status says {status['mode']!r}")
for p in status["paths"]:
    name = p["name"]
    cell = lambda field: page.cells.get((name, field))
    for field in ("interface", "health"):
        check(cell(field) == str(p[field]), f"{name} {field}: page {cell(field)!r}, status {p[field]!r}")
    for field in ("configured_mbit", "mtu"):
        check(cell(field) is not None and float(cell(field)) == float(p[field]),
              f"{name} {field}: page {cell(field)!r}, status {p[field]!r}")
    # RTT moves under load; the two reads are a moment apart.
    rtt = cell("rtt_ms")
    check(rtt and p.get("rtt_ms") is not None and
          0.33 * p["rtt_ms"] - 2 <= float(rtt) <= 3 * p["rtt_ms"] + 2,
          f"{name} RTT: page {rtt!r} ms, status {p.get('rtt_ms')!r} ms")
    points = [n for line, n in page.lines if line == name]
    check(points and points[0] >= 2, f"{name}: chart line with {points} points (want one with 2+)")
page_tx = float(page.fields.get("bond_tx_mbit") or 0)
stats_tx = sum(p["tx_bytes_per_s"] for p in stats["paths"]) * 8 / 1e6
check(page_tx > 10 and 0.5 * stats_tx <= page_tx <= 2 * stats_tx,
      f"bond send rate during the upload: page {page_tx:.1f} Mbit/s, stats {stats_tx:.1f} Mbit/s")
shares = sum(float(page.cells.get((p["name"], "traffic_share")) or 0) for p in status["paths"])
check(0.9 <= shares <= 1.1, f"the paths' traffic shares add up to {shares:.2f}")
print(f"page: {page.refreshes} refreshes, send {page_tx:.1f} Mbit/s (stats {stats_tx:.1f}), "
      + ", ".join(f"{p['name']} RTT {page.cells.get((p['name'], 'rtt_ms'))} ms (status {p.get('rtt_ms')})"
                  for p in status["paths"]))
if problems:
    sys.exit("FAIL: " + "; ".join(problems))
PY
echo "ok: the page agrees with meshbpf status/stats; screenshot $ARTIFACTS/status_page.png"

# --- 2. Read-only, self-contained ----------------------------------------------
lab_ns client python3 - "$ENDPOINT" <<'PY'
import re, sys, urllib.error, urllib.request
base = "http://" + sys.argv[1]
with urllib.request.urlopen(base + "/") as r:
    html = r.read().decode()
    assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
    policy = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy, policy
    assert "http" not in policy, policy
# Nothing in the page loads from another origin.
external = re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', html)
assert not external, external
try:
    urllib.request.urlopen(urllib.request.Request(base + "/api/status", data=b"{}", method="POST"))
    sys.exit("FAIL: POST /api/status was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 405, e.code
print("ok: read-only (POST 405), a Content-Security-Policy of its own origin, no external URLs")
PY

# --- 3. Clients that hold connections ------------------------------------------
lab_ns client python3 - "$ENDPOINT" >"$LAB_DIR/held.log" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].split(":")
held = []
for _ in range(40):
    try:
        s = socket.create_connection((host, int(port)), timeout=2)
        s.sendall(b"GET /api/sta")
        held.append(s)
    except OSError as e:
        print("refused:", e)
print(f"holding {len(held)} connections", flush=True)
time.sleep(8)
PY
holder=$!
sleep 1
for _ in $(seq 5); do
  started="$(date +%s%N)"
  lab_status client >/dev/null || lab_fail "status failed while clients hold the endpoint"
  took_ms=$((($(date +%s%N) - started) / 1000000))
  ((took_ms < 3000)) || lab_fail "the agent took $took_ms ms to answer status while clients hold the endpoint"
  sleep 1
done
lab_status client --json | python3 -c "
import json, sys
paths = json.load(sys.stdin)['health']['paths']
bad = [p['name'] for p in paths if p['health'] != 'up']
sys.exit(f'FAIL: paths not up while clients held the endpoint: {bad}' if bad else 0)"
wait "$holder" || true
grep -q "holding" "$LAB_DIR/held.log" || lab_fail "the holding clients did not run: $(cat "$LAB_DIR/held.log")"
lab_ns client python3 -c "
import urllib.request, sys
with urllib.request.urlopen('http://$ENDPOINT/api/status', timeout=5) as r:
    assert r.status == 200
" || lab_fail "the endpoint does not serve after the holding clients left"
echo "ok: $(head -1 "$LAB_DIR/held.log"); the agent answered and probed throughout, and serves again after"
echo PASS
