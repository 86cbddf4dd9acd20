#!/usr/bin/env bash
# End to end: tunnel authentication (docs/design/tunnel-auth.md) with real
# traffic on the two-uplink lab, keys from the agents' own handshake: each
# node has a key pair from `meshbpf genkey`, the other's public key in its
# config, and `link_aggregation.authentication: true`. Asserts:
#  - both agents make a session by themselves (status: established; the
#    client's /metrics says so too), the bond's MTU is 20 bytes lower for
#    the longer header,
#  - ping and 20 MB of random bytes both ways cross the bond intact (sha256)
#    with every packet tagged and verified, and no genuine packet refused
#    (no bad tag, replay or too-old drop),
#  - the peer agent restarted: a new handshake, a new epoch, and a transfer
#    crosses intact again; with peer_allowed_sources, an authenticated packet
#    from another inner source is refused (inner_source),
#  - a config naming the wrong peer key makes no session (the handshake is
#    refused, saying so) and nothing crosses,
#  - the client agent restarted without authentication: the peer refuses
#    what it sends (auth_missing).
# vmtest: shares the machine (it checks sessions and drop counts)
set -euo pipefail
LAB_CLIENT_MONITORING=', "metrics_listen": "127.0.0.1:9464"'
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create

lab_authenticate_nodes
lab_ns client "$MESHBPF_BIN/meshbpf" config --check "$LAB_DIR/client.json" >/dev/null
chmod 644 "$LAB_DIR/client.key"
if out="$(lab_ns client "$MESHBPF_BIN/meshbpf" config --check "$LAB_DIR/client.json" 2>&1)"; then
  lab_fail "config --check accepted a private key file others can read"
fi
lab_matches "chmod 600" <<<"$out" || lab_fail "the key file's refusal does not say what to do: $out"
chmod 600 "$LAB_DIR/client.key"

lab_start_agents

wait_until 20 "both agents established a session" lab_sessions_established
metrics="$(lab_ns client python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5).read().decode())')"
lab_matches -F 'meshbpf_tunnel_session_established{bond="mb0"} 1' <<<"$metrics" ||
  lab_fail "/metrics does not show the session: $(grep meshbpf_tunnel <<<"$metrics")"
for node in client peer; do
  mtu="$(lab_ns "$node" cat /sys/class/net/mb0/mtu)"
  ((mtu == 1500 - 60)) || lab_fail "$node: bond MTU $mtu, not 1440 (the 60-byte authenticated header)"
done

# The packets NODE verified, over both receive sessions.
verified() {
  local slot total=0 n
  for slot in 0 1; do
    n="$(bpftool -j map lookup pinned "$LAB_DIR/bpffs/$1/mb_auth_rx" key "$slot" 0 0 0 |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["formatted"]["value"]["verified"])')"
    total=$((total + n))
  done
  echo "$total"
}

lab_route_client bond
lab_ns client ping -c 3 -W 2 10.202.0.2 >/dev/null || lab_fail "no ping over the authenticated bond"
before_client="$(verified client)" before_peer="$(verified peer)"
lab_blob_intact 20M
for node in client peer; do
  before="before_$node"
  n=$(($(verified "$node") - ${!before}))
  echo "$node: verified $n packets during the transfer"
  ((n > 10000)) || lab_fail "$node verified only $n packets: were they tagged?"
done
lab_none_dropped auth_bad_tag auth_replay auth_too_old

# A restarted peer makes a new session; the client takes it.
epoch_before="$(lab_auth_field client send_epoch)"
handshakes_before="$(lab_auth_field client handshakes)"
lab_stop_agent peer || true
# It comes back allowing only the client's bond address as inner source.
python3 - "$LAB_DIR/peer.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["link_aggregation"]["peer_allowed_sources"] = ["10.203.0.2/32"]
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
lab_start_agent peer
new_session() {
  lab_sessions_established && [[ "$(lab_auth_field client send_epoch)" != "$epoch_before" ]]
}
wait_until 20 "a new session after the peer's restart" new_session
echo "client: handshakes $handshakes_before -> $(lab_auth_field client handshakes), epoch $epoch_before -> $(lab_auth_field client send_epoch)"
lab_blob_intact 8M
lab_none_dropped auth_bad_tag auth_replay auth_too_old
# Another inner source, authenticated though it is, is refused.
lab_ns client ip addr add 10.203.0.77/24 dev mb0
before="$(lab_drops peer inner_source)"
if lab_ns client ping -c 3 -W 1 -I 10.203.0.77 10.202.0.2 >/dev/null; then
  lab_fail "an inner source outside peer_allowed_sources crossed"
fi
refused=$(($(lab_drops peer inner_source) - before))
echo "peer refused $refused packets from an inner source it does not allow"
((refused >= 3)) || lab_fail "the peer did not count the disallowed inner source"

# The wrong peer key: no session, and the handshake's refusal is logged.
lab_stop_agent client || true
stranger="$("$MESHBPF_BIN/meshbpf" genkey | "$MESHBPF_BIN/meshbpf" pubkey)"
lab_set_authentication client "$LAB_DIR/client.key" "$stranger"
lab_start_agent client
refused() { grep -q "MAC wrong" "$LAB_DIR/peer-agent.log" "$LAB_DIR/client-agent.log"; }
wait_until 20 "the handshake with a wrong key refused, in a log" refused
[[ "$(lab_auth_field client established)" == False ]] || lab_fail "a session with the wrong peer key"
if lab_ns client ping -c 2 -W 1 10.202.0.2 >/dev/null; then
  lab_fail "traffic crossed without a session"
fi

# The client without authentication: the peer refuses what it sends.
lab_stop_agent client || true
python3 - "$LAB_DIR/client.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
for field in ("authentication", "private_key_file", "peer_public_key"):
    config["link_aggregation"].pop(field)
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
lab_start_agent client
before="$(lab_drops peer auth_missing)"
if lab_ns client ping -c 3 -W 1 10.202.0.2 >/dev/null; then
  lab_fail "unauthenticated packets were delivered"
fi
after="$(lab_drops peer auth_missing)"
echo "peer refused $((after - before)) unauthenticated packets"
((after - before >= 3)) || lab_fail "the peer did not count the unauthenticated pings"
echo PASS
