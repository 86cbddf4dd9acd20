#!/usr/bin/env bash
# meshbpf beside another program's TC filters on its uplinks (a firewall,
# Cilium): the agent attaches at its own priority and handle, hands every
# packet that is not meshbpf's on to the next filter, and on stop removes
# only its own filter, even from a clsact it created itself.
#  - wan1 carries a foreign firewall (drops pings) before the agent starts,
#    wan2 gets one after: both keep dropping pings while the bond carries a
#    sha256-checked file both ways;
#  - SIGTERM: the firewalls are still attached (and still drop), ours gone.
# vmtest: shares the machine (it counts packets, not rates)
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

firewall_obj="$LAB_DIR/firewall.bpf.o"
add_firewall() {  # add_firewall DEV: the foreign filter on the client's DEV ingress, prio 10
  lab_ns client tc qdisc replace dev "$1" clsact
  lab_ns client tc filter add dev "$1" ingress prio 10 handle 7 bpf da obj "$firewall_obj" sec tc
}
has_filter() {  # has_filter DEV PATTERN
  lab_ns client tc filter show dev "$1" ingress | lab_matches "$2"
}
pings_through() {  # pings_through ADDR: from the ISP side to a client uplink address
  lab_ns inet ping -c 2 -i 0.2 -W 1 -q "$1" >/dev/null 2>&1
}

lab_create
clang -O2 -g -target bpf -I"/usr/include/$(uname -m)-linux-gnu" \
  -c "$LAB_ROOT/vmtests/lib/foreign_firewall.bpf.c" -o "$firewall_obj"
add_firewall wan1
pings_through 10.201.2.2 || lab_fail "control: wan2 does not answer pings"
! pings_through 10.201.1.2 || lab_fail "the foreign firewall does not drop pings on wan1"

lab_start_agents
lab_route_client bond
add_firewall wan2
has_filter wan1 mb_decap || lab_fail "mb_decap is not attached to wan1 beside the firewall"
lab_blob_intact 5M
for addr in 10.201.1.2 10.201.2.2; do
  ! pings_through "$addr" || lab_fail "a ping to $addr passed: the firewall behind mb_decap never saw it"
done
echo "ok: bond intact both ways; both firewalls still drop pings behind mb_decap"

pid="${LAB_AGENT_PIDS[client]}"
kill -TERM "$pid"
wait "$pid" || lab_fail "agent exited non-zero on SIGTERM"
unset 'LAB_AGENT_PIDS[client]'
for dev in wan1 wan2; do
  ! has_filter "$dev" mb_decap || lab_fail "mb_decap still on $dev after SIGTERM"
  has_filter "$dev" "firewall" || lab_fail "the foreign filter on $dev went with the agent"
done
! pings_through 10.201.2.2 || lab_fail "pings pass wan2 after the agent stopped: firewall gone"
echo "ok: SIGTERM removed only our filters; the firewalls stay and still drop"
