#!/usr/bin/env bash
# End to end: two shaped uplinks (40 + 20 Mbit/s) bonded by the real agents.
# Asserts, with wide margins (no tight timing on a noisy machine):
#  - a 20 MB download over the bond arrives intact (sha256),
#  - both paths carry a real share of the packets,
#  - bonded goodput clearly exceeds the best single link measured in this run.
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_start_agents

# Baselines: plain routing over each uplink alone.
lab_route_client wan1
best_single="$(lab_iperf up 5)"
lab_route_client wan2
second="$(lab_iperf up 5)"
best_single="$(python3 -c "print(max($best_single, $second))")"
echo "single links (upload): wan1 and wan2, best $best_single Mbit/s"

lab_route_client bond

# Integrity: a random file over HTTP through the bond.
head -c 20M /dev/urandom >"$LAB_DIR/blob"
want="$(sha256sum "$LAB_DIR/blob" | cut -d' ' -f1)"
lab_ns server python3 -m http.server 8080 --bind "$SERVER_IP" --directory "$LAB_DIR" \
  >/dev/null 2>&1 &
for _ in $(seq 50); do
  lab_ns client python3 -c "import socket; socket.create_connection(('$SERVER_IP', 8080), 1)" \
    2>/dev/null && break
  sleep 0.1
done
got="$(lab_ns client timeout 60 python3 -c "
import hashlib, urllib.request
h = hashlib.sha256()
with urllib.request.urlopen('http://$SERVER_IP:8080/blob', timeout=30) as r:
    for chunk in iter(lambda: r.read(1 << 16), b''):
        h.update(chunk)
print(h.hexdigest())")" || lab_fail "download over the bond did not complete"
[[ "$got" == "$want" ]] || lab_fail "sha256 mismatch over the bond: got $got want $want"
echo "20 MB download over the bond: sha256 intact"

bond="$(lab_iperf up 8)"
echo "bond (upload): $bond Mbit/s; best single link: $best_single Mbit/s"

lab_status client --json >"$LAB_DIR/status.json"
python3 - "$LAB_DIR/status.json" "$bond" "$best_single" <<'PY'
import json, sys
status = json.load(open(sys.argv[1]))
bond, best = float(sys.argv[2]), float(sys.argv[3])
paths = status["paths"]
assert len(paths) == 2, f"expected 2 paths, got {len(paths)}"
total = sum(p["tx_packets"] for p in paths)
for p in paths:
    share = p["tx_packets"] / max(total, 1)
    print(f"path {p['id']} ({p['interface']}): {p['tx_packets']} packets sent, {share:.0%}")
    assert share >= 0.15, f"path {p['id']} carried only {share:.0%} of the packets"
drops = sum(sum(p["drops"].values()) for p in paths) + sum(status["unattributed_drops"].values())
print(f"data-path drops: {drops}")
assert drops <= 0.01 * total, f"{drops} packets dropped by the data path"
assert bond > 1.15 * best, f"bond {bond} Mbit/s is not clearly above the best single link {best}"
print("PASS")
PY
