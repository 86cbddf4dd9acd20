#!/usr/bin/env bash
# End to end: tunnel encryption (link_aggregation.encryption, bpf/meshbpf.h
# "Encryption") on the two-uplink lab, keys from the agents' own handshake.
# Asserts:
#  - both agents make a session and say it is encrypted (status --json),
#  - 20 MB of random bytes both ways cross the bond intact (sha256), with no
#    genuine packet refused,
#  - confidentiality: UDP datagrams full of a marker string, sent over the
#    bond, are seen with the marker on the peer's bond device (where they
#    arrive decrypted: the capture works) but never on its uplink, where the
#    same packets arrive encrypted,
#  - an encrypting end refuses plaintext: the peer restarted with
#    authentication but without encryption; the client refuses what it
#    sends (auth_plaintext), and nothing crosses.
# vmtest: shares the machine (it checks integrity and captures)
set -euo pipefail
LAB_LINK_AGGREGATION=', "encryption": true'
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_start_authenticated
for node in client peer; do
  [[ "$(lab_auth_field "$node" encrypted)" == True ]] || lab_fail "$node: status does not say encrypted"
done

lab_route_client bond
lab_ns client ping -c 3 -W 2 10.202.0.2 >/dev/null || lab_fail "no ping over the encrypted bond"
lab_blob_intact 20M
lab_none_dropped auth_bad_tag auth_replay auth_too_old auth_plaintext decap_failed

# Frames on IFACE of the peer that hold the marker, while the client sends
# 200 marker datagrams over the bond: marker_frames IFACE. Prints "seen
# frames_with_marker".
MARKER="meshbpf-plaintext-marker"
marker_frames() {
  lab_ns peer python3 - "$1" "$MARKER" <<'PY' &
import socket, sys, time
iface, marker = sys.argv[1], sys.argv[2].encode()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
seen = found = 0
end = time.time() + 4
while time.time() < end:
    try:
        frame = s.recv(65535)
    except socket.timeout:
        continue
    seen += 1
    found += marker in frame
print(seen, found)
PY
  local capture=$!
  sleep 1
  lab_ns client python3 - "$MARKER" <<'PY'
import socket, sys, time
payload = (sys.argv[1] + " ") * 40
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(200):
    s.sendto(payload.encode(), ("10.202.0.2", 9))
    time.sleep(0.005)
PY
  wait "$capture"
}
read -r seen found <<<"$(marker_frames mb0)"
echo "peer mb0 (decrypted): $seen frames, $found with the marker"
((found >= 150)) || lab_fail "the capture on the bond saw the marker in only $found frames: it does not work"
read -r seen found <<<"$(marker_frames wan0)"
echo "peer wan0 (the wire): $seen frames, $found with the marker"
((seen >= 150)) || lab_fail "the capture on the uplink saw only $seen frames"
((found == 0)) || lab_fail "the marker crossed the uplink in clear in $found frames"
lab_none_dropped auth_bad_tag auth_replay auth_too_old auth_plaintext decap_failed

# The peer without encryption: the client reads nothing it sends.
lab_stop_agent peer || true
lab_set_link_aggregation peer encryption false
lab_start_agent peer
# Its probes and answers, once it has keys, are tagged but not encrypted.
plaintext_refused() { (($(lab_drops client auth_plaintext) >= 3)); }
wait_until 20 "the client refusing the peer's plaintext (auth_plaintext)" plaintext_refused
if lab_ns client ping -c 3 -W 1 10.202.0.2 >/dev/null; then
  lab_fail "the encrypting client accepted the peer's plaintext answers"
fi
echo "client refused $(lab_drops client auth_plaintext) plaintext packets from the peer"
echo PASS
