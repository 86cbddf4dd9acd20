#!/usr/bin/env bash
# An attacker on the path (issue 14): the lab's `inet` namespace, the ISP
# router between the client's uplinks and the peer, sees the authenticated
# tunnel and spoofs the client's address. During a transfer it injects
# 10,000 crafted packets at the peer (vmtests/lib/attacker.py): data- and
# probe-shaped ones with wrong tags, unauthenticated (version 1) ones,
# handshake-shaped junk, truncated headers, and replays of genuine packets
# it captured. Asserts:
#  - none reached the bond: no forged inner source (10.66.0.1) behind it,
#  - the transfer's sha256 is intact both ways,
#  - no path changed state, the session stayed the same,
#  - the peer refused them, each kind for its reason (another epoch, bad
#    tag, missing authentication, truncated, replay or too old; handshakes
#    refused by the agent).
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_start_authenticated
lab_route_client bond
# Anything from the attacker's inner source behind the peer's bond is counted.
lab_ns peer nft -f - <<'EOF'
table inet attacker_watch {
  counter forged { }
  chain in { type filter hook prerouting priority -300; ip saddr 10.66.0.1 counter name forged; }
}
EOF

transitions() { lab_status "$1" --json | python3 -c "import json, sys; print(len(json.load(sys.stdin)['health']['transitions']))"; }
epoch="$(lab_auth_field peer send_epoch)"
declare -A transitions_before=([client]="$(transitions client)" [peer]="$(transitions peer)")
declare -A before
reasons=(auth_bad_tag auth_missing auth_replay auth_too_old auth_epoch truncated bad_header)
for reason in "${reasons[@]}"; do before[$reason]="$(lab_drops peer "$reason")"; done
errors_before="$(lab_auth_field peer handshake_errors)"

attacker=(ip netns exec "$LAB-inet" python3 "$LAB_ROOT/vmtests/lib/attacker.py")
# The genuine packets to replay: captured from the client's first uplink during a transfer.
"${attacker[@]}" capture c1 10.201.1.2 10.200.0.2 7201 2000 "$LAB_DIR/captured" >"$LAB_DIR/captured.count" &
capture=$!
lab_blob_intact 4M
wait "$capture"
echo "captured $(cat "$LAB_DIR/captured.count") genuine packets"
(($(cat "$LAB_DIR/captured.count") >= 500)) || lab_fail "too few genuine packets captured to replay"

# The attack, during a transfer both ways.
(sleep 0.5; "${attacker[@]}" inject 10.201.1.2 10.200.0.2 7201 7202 "$LAB_DIR/captured" >"$LAB_DIR/injected") &
injector=$!
lab_blob_intact 20M
wait "$injector" || lab_fail "the attacker did not run: $(cat "$LAB_DIR/injected")"
echo "injected: $(cat "$LAB_DIR/injected")"
total="$(python3 -c "import json, sys; print(sum(json.load(open(sys.argv[1])).values()))" "$LAB_DIR/injected")"
((total == 10000)) || lab_fail "the attacker sent $total packets, not 10000"

forged="$(lab_ns peer nft -j list counter inet attacker_watch forged |
  python3 -c "import json, sys; print([o['counter']['packets'] for o in json.load(sys.stdin)['nftables'] if 'counter' in o][0])")"
echo "forged inner packets behind the peer's bond: $forged"
((forged == 0)) || lab_fail "$forged forged packets reached the bond"

declare -A refused
for reason in "${reasons[@]}"; do
  refused[$reason]=$(($(lab_drops peer "$reason") - before[$reason]))
  echo "peer refused ${refused[$reason]} as $reason"
done
handshake_errors=$(($(lab_auth_field peer handshake_errors) - errors_before))
echo "peer's agent refused $handshake_errors handshake messages" \
  "(UDP receive buffer overflows in the peer: $(lab_ns peer awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp))"
# Every kind for its reason: the counts sent, less what a busy socket or link may lose.
((refused[auth_epoch] >= 1900)) || lab_fail "data-shaped forgeries (random epochs): only ${refused[auth_epoch]} refused"
((refused[auth_bad_tag] >= 1900)) || lab_fail "probe-shaped forgeries (the session's epoch): only ${refused[auth_bad_tag]} bad tags"
((refused[auth_missing] >= 1900)) || lab_fail "unauthenticated packets: only ${refused[auth_missing]} refused"
((refused[truncated] >= 950)) || lab_fail "truncated packets: only ${refused[truncated]} refused"
((refused[auth_replay] + refused[auth_too_old] >= 1900)) ||
  lab_fail "replays: only $((refused[auth_replay] + refused[auth_too_old])) refused"
((handshake_errors >= 500)) || lab_fail "handshake junk: only $handshake_errors refused by the agent"

[[ "$(lab_auth_field peer send_epoch)" == "$epoch" ]] || lab_fail "the attack changed the session"
for node in client peer; do
  lab_status "$node" --json | python3 -c '
import json, sys
transitions = json.load(sys.stdin)["health"]["transitions"][int(sys.argv[1]):]
for t in transitions:
    print("%s: %s %s %s -> %s (%s)" % (sys.argv[2], t["time"], t["path"], t["from"], t["to"], t["reason"]))
sys.exit(1 if transitions else 0)' "${transitions_before[$node]}" "$node" || lab_fail "a path changed state during the attack"
done
echo PASS
