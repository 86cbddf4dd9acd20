#!/usr/bin/env bash
# End to end: tunnel authentication (docs/design/tunnel-auth.md) with real
# traffic on the two-uplink lab. No agent installs session keys yet (the key
# exchange of issue 14 is not built), so this test writes them, and
# mb_config.authenticate, into both nodes' pinned maps itself, as the agent
# will: a key and epoch per direction, the bond MTU 20 bytes lower for the
# longer header. Asserts:
#  - ping and 20 MB of random bytes both ways cross the bond intact (sha256)
#    with every packet tagged and verified (each node's receive window moved),
#  - no genuine packet was refused: no bad tag, replay, too old or wrong
#    epoch on either node, although both paths reorder and two CPUs verify,
#  - a node that stops authenticating is refused by the other (auth_missing).
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_start_agents

# bpftool wants a map value as decimal bytes; these pack the shapes of
# bpf/meshbpf.h (little-endian host, as the data path reads them).
pack() {
  python3 -c "import struct, sys
print(' '.join(map(str, struct.pack(sys.argv[1], *[int(a, 0) for a in sys.argv[2:]]))))" "$@"
}
map_of() { echo "$LAB_DIR/bpffs/$1/$2"; }

# install_sessions NODE TX_KEY TX_EPOCH RX_KEY RX_EPOCH (keys as 0x + 32 hex digits)
install_sessions() {
  local node="$1" tx_key="$2" tx_epoch="$3" rx_key="$4" rx_epoch="$5"
  # mb_auth_tx: key[16], epoch, reserved, next_counter.
  bpftool map update pinned "$(map_of "$node" mb_auth_tx)" key 0 0 0 0 \
    value $(pack '<QQIIQ' "$(key_low "$tx_key")" "$(key_high "$tx_key")" "$tx_epoch" 0 0)
  # mb_auth_rx: lock, epoch, key[16], newest, bitmap[64]: a new, empty window.
  bpftool map update pinned "$(map_of "$node" mb_auth_rx)" key 0 0 0 0 \
    value $(pack '<IIQQQ512x' 0 "$rx_epoch" "$(key_low "$rx_key")" "$(key_high "$rx_key")" 0)
}
# The key's first and last 8 bytes as little-endian words (bytes as written).
key_word() {  # KEY FIRST_HEX_DIGIT
  python3 -c "import sys
start = int(sys.argv[2])
print(int.from_bytes(bytes.fromhex(sys.argv[1][start:start + 16]), 'little'))" "$1" "$2"
}
key_low() { key_word "$1" 2; }
key_high() { key_word "$1" 18; }

# set_authenticate NODE 0|1: mb_config.authenticate (byte 29), the rest kept.
set_authenticate() {
  local config value
  config="$(map_of "$1" mb_config)"
  value="$(bpftool -j map lookup pinned "$config" key 0 0 0 0 | python3 -c "
import json, sys
v = [int(x, 16) for x in json.load(sys.stdin)['value']]
v[29] = $2
print(' '.join(map(str, v)))")"
  bpftool map update pinned "$config" key 0 0 0 0 value $value
}

newest_verified() {  # the highest counter NODE's receive window accepted
  bpftool -j map lookup pinned "$(map_of "$1" mb_auth_rx)" key 0 0 0 0 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["formatted"]["value"]["newest"])'
}

drops() {  # NODE REASON: that drop reason summed over the paths and unattributed
  lab_status "$1" --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(sum(p['drops']['$2'] for p in s['paths']) + s['unattributed_drops']['$2'])"
}

client_to_peer=0x000102030405060708090a0b0c0d0e0f
peer_to_client=0xf0e1d2c3b4a5968778695a4b3c2d1e0f
install_sessions client "$client_to_peer" 11 "$peer_to_client" 22
install_sessions peer "$peer_to_client" 22 "$client_to_peer" 11
for node in client peer; do
  lab_ns "$node" ip link set mb0 mtu $((1500 - 60))
  set_authenticate "$node" 1
done
lab_route_client bond

lab_ns client ping -c 3 -W 2 10.202.0.2 >/dev/null || lab_fail "no ping over the authenticated bond"
lab_blob_intact 20M
for node in client peer; do
  newest="$(newest_verified "$node")"
  echo "$node: highest verified counter $newest"
  ((newest > 10000)) || lab_fail "$node verified only $newest packets: were they tagged?"
  for reason in auth_bad_tag auth_replay auth_too_old auth_epoch auth_no_session; do
    n="$(drops "$node" "$reason")"
    ((n == 0)) || lab_fail "$node refused $n genuine packets as $reason"
  done
done

# The client stops authenticating: the peer refuses what it sends.
set_authenticate client 0
before="$(drops peer auth_missing)"
if lab_ns client ping -c 3 -W 1 10.202.0.2 >/dev/null; then
  lab_fail "unauthenticated packets were delivered"
fi
after="$(drops peer auth_missing)"
echo "peer refused $((after - before)) unauthenticated packets"
((after - before >= 3)) || lab_fail "the peer did not count the unauthenticated pings"
echo PASS
