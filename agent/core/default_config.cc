#include "agent/core/default_config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/core/config.h"
#include "agent/core/data_cap.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

namespace {

// `text` (comment lines, then one JSON object) with its object moved inside
// {"mesh_network": ...}, indented one level.
std::string InMeshNetwork(const std::string& text) {
  const size_t open = text.find("\n{\n") + 1;
  std::string out = absl::StrCat(text.substr(0, open), "{\n  \"mesh_network\": ");
  for (absl::string_view line : absl::StrSplit(
           absl::StripSuffix(absl::string_view(text).substr(open), "\n"), '\n')) {
    absl::StrAppend(&out, out.back() == ' ' ? "" : "  ", line, "\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

// The config with its sections at the top level.
std::string SectionsText(const std::vector<DefaultUplink>& found) {
  const std::vector<DefaultUplink> uplinks =
      found.empty() ? std::vector<DefaultUplink>{{"eth0", ""}} : found;
  std::string uplink_text;
  for (size_t i = 0; i < uplinks.size(); ++i) {
    const DefaultUplink& u = uplinks[i];
    absl::StrAppend(
        &uplink_text, "      {\n",
        "        // Path name, unique; shown by status/stats. Default: the interface.\n",
        "        \"name\": \"", u.interface, "\",\n",
        "        // Network device of the uplink. Default: the name.\n",
        "        \"interface\": \"", u.interface, "\",\n",
        "        // Next hop on this uplink. Absent: the routing table decides.\n",
        u.gateway.empty() ? "        // \"gateway\": \"192.168.1.1\",\n"
                          : absl::StrCat("        \"gateway\": \"", u.gateway, "\",\n"),
        "        // Source address of the tunnel. Default: the interface's first IPv4 address\n",
        "        // (for an IPv6 remote_address: its first stable global IPv6 address).\n",
        "        // \"source_address\": \"192.168.1.10\",\n",
        "        // Tunnel endpoint of this path, IPv4 or IPv6 (e.g. \"2001:db8::7\" for an\n",
        "        // IPv6-only uplink). Default: link_aggregation.peer_address.\n",
        "        // \"remote_address\": \"198.51.100.7\",\n",
        "        // UDP port of that endpoint. Default: link_aggregation.port.\n",
        "        // \"remote_port\": ${tunnel_port},\n",
        "        // Expected capacity in Mbit/s (required): set it to the uplink's real rate;\n",
        "        // the agent refines its estimate from what the path delivers.\n",
        "        \"rate_mbit\": 100,\n",
        "        // Expected one-way delay in ms, default 0.\n",
        "        \"delay_ms\": 0\n",
        "        // Byte budget of a metered uplink; absent: unmetered. limit_bytes (required)\n",
        "        // counts what the ISP meters, both directions; period daily, monthly or one_off\n",
        "        // (default ${cap_period}); reset_day 1..31 (monthly, default ${cap_reset_day}); timezone of the\n",
        "        // period's days (default ${cap_timezone}); warn_at_percent (default [${cap_warn_at}]);\n",
        "        // when_exhausted stop or last_resort_backup (default ${cap_when_exhausted}).\n",
        "        // ,\"data_cap\": {\"limit_bytes\": 20000000000, \"period\": \"monthly\", \"reset_day\": 1,\n",
        "        //   \"timezone\": \"localtime\", \"warn_at_percent\": [80, 95], \"when_exhausted\": \"stop\"}\n",
        "        // Through a mesh neighbour's shared uplink instead of one of ours: the path goes\n",
        "        // over the LAN (interface default: node_discovery.interfaces[0]) to the neighbour\n",
        "        // that fits best; node (its node_name or node_id) and uplink narrow the choice.\n",
        "        // gateway, source_address, remote_address and remote_port do not apply.\n",
        "        // ,\"relay\": {\"node\": \"office-router\", \"uplink\": \"wan0\"}\n",
        "        // On the bonding peer, the far end of a client's relayed path (same position\n",
        "        // as there): learned from the client's probes, so no remote_address or\n",
        "        // remote_port; needs link_aggregation.bond_address. Default false.\n",
        "        // ,\"learn_remote\": true\n",
        "      }", i + 1 < uplinks.size() ? "," : "", "\n");
  }
  const std::string text = absl::StrCat(
      R"(// meshbpf configuration (JSON; `//` starts a comment that runs to the end of the line).
// Validate with: meshbpf config --check FILE
// The sections may also sit inside one object, {"mesh_network": {...}}, the documented
// shape (meshbpf config --output FILE --shape mesh_network writes it that way).
{
  "node_discovery": {
    // Find other meshbpf nodes on the LAN and share uplinks with them. Default false.
    "enabled": false,
    // UDP port of the announcements, default ${discovery_port}.
    "port": ${discovery_port},
    // Seconds between announcements, default ${broadcast_interval}.
    "broadcast_interval": ${broadcast_interval},
    // Seconds after which a silent node is forgotten, default ${node_timeout}.
    "node_timeout": ${node_timeout},
    // Name shown to other nodes. Default: the host name.
    // "node_name": "office-router",
    // Shared secret (at least 16 characters) authenticating announcements and path
    // probes; required when enabled. Empty: probes are not authenticated.
    "mesh_key": "",
    // Interfaces to announce on and listen to (the LAN the nodes share); required when enabled.
    "interfaces": [],
    // Uplinks (interfaces.uplinks[].name) other nodes may relay through.
    "share_uplinks": []
    // This node's identity, 1-64 of [A-Za-z0-9._:-]. Default "<machine-id>:<instance>".
    // ,"node_id": "router-1"
    // First relay port: the k-th shared interface takes neighbours' traffic at
    // relay_port + k, the answers come back to relay_port + 32..63. Default ${relay_port};
    // that span must not hold link_aggregation.port, failover.probe_port or port.
    // ,"relay_port": ${relay_port}
    // Byte budget of everything relayed for neighbours (both directions), written like
    // an uplink's data_cap; when_exhausted must be stop. Absent: only the uplinks' caps.
    // ,"share_cap": {"limit_bytes": 10000000000, "period": "monthly"}
    // Rate ceiling of everything relayed, Mbit/s. Absent: none.
    // ,"share_max_mbit": 20
  },
  "link_aggregation": {
    // load_balance (bond every uplink), redundant (every packet on every path),
    // active_backup, latency (small packets on the fastest path), flow (per-flow
    // multi-WAN without a peer). Default load_balance.
    "mode": "load_balance",
    // Bond device applications route into (made as a veth pair <name>/<name>-tx), default "${bond_interface}".
    "bond_interface": "${bond_interface}",
    // Address of the bond device, A.B.C.D/N. Needed for path probes.
    "bond_address": "10.203.0.2/24",
    // IPv6 address of the bond device, with its prefix length (added without DAD,
    // usable at once). Absent: none but the link-local one.
    // "bond_address_ipv6": "fd00:203::2/64",
    // The bonding peer's public IPv4 address: default tunnel endpoint of every uplink.
    "peer_address": "198.51.100.7",
    // UDP port of the tunnel (local and remote), default ${tunnel_port}.
    "port": ${tunnel_port},
    // Segmentation offload on the bond: auto (off when an uplink is slower than
    // 1 Gbit/s), on or off. Default auto.
    "segmentation_offload": "auto",
    // latency mode: packets up to this many bytes take the lowest-delay path, default ${latency_packet_bytes}.
    "latency_packet_bytes": ${latency_packet_bytes},
    // The peer's bond_address: where path probes go. Absent: this node only answers probes.
    "peer_bond_address": "10.203.0.1",
    // The peer's bond_address_ipv6 (like peer_bond_address, always an allowed inner source).
    // "peer_bond_address_ipv6": "fd00:203::1",
    // Resequencing: the longest (ms) a packet may wait for those before it,
    // so paths of unequal delay deliver in order (the agent picks less from
    // the measured skew); 0 = off. Both ends alike. Default ${reorder_deadline_ms}.
    "reorder_deadline_ms": ${reorder_deadline_ms},
    // Floor guard (load_balance, latency): a path whose delay or loss costs the
    // bond more than it adds leaves bonded bulk traffic, logged with the reason.
    // Default ${floor_guard}.
    "floor_guard": ${floor_guard},
    // Loss repair (load_balance, latency; needs resequencing and
    // peer_bond_address): the receiver asks the peer for bonded packets a
    // path lost and holds the gap for the copy, re-sent on the best path.
    // Both ends alike. Default: ${loss_repair} where it applies.
    "loss_repair": ${loss_repair},
    // Resequencing buffer, in packets (16..${max_queue_slots}): at most this many wait for a
    // gap, and one this far ahead releases them all. Default: every slot, sized at start
    // from the bonded paths' rate_mbit for reorder_deadline_ms + 50 ms (1,024 .. ${max_queue_slots}).
    // "max_queue_size": 2048,
    // Seconds between capacity estimates and weight updates, default ${rebalance_interval}.
    // (Older files set it as failover.rebalance_interval: either place, not both.)
    "rebalance_interval": ${rebalance_interval},
    // Authenticate every tunnel packet in the data path with keys from a
    // handshake between the two ends (both must set it). Needs this node's
    // private key in a file only root reads (`meshbpf genkey > FILE`) and the
    // peer's public key (`meshbpf pubkey < ITS_FILE` on the peer).
    "authentication": false,
    // Also encrypt every tunnel packet (ChaCha20, keys from the same handshake).
    // Needs authentication; an end that sets it accepts only encrypted packets.
    "encryption": false
    // "private_key_file": "/etc/meshbpf/private.key",
    // "peer_public_key": "<44 characters of base64>",
    // Prefixes the peer's inner packets may come from (WireGuard's AllowedIPs);
    // others are dropped. Default: any.
    // "peer_allowed_sources": ["192.168.50.0/24", "fd00:50::/64"]
    // Which traffic enters the bond: policy-routing rules and a table the agent
    // installs (IPv4 and IPv6 prefixes), removed on stop. Default: none, the
    // host's own routes decide.
    // "routing": {"sources": ["192.168.50.0/24"], "fwmarks": ["0x10/0xff"],
    //             "cgroups": ["system.slice/backup.service"], "cgroup_mark": 19778,
    //             "destinations": ["0.0.0.0/0"], "table": 7201, "priority": 7201}
  },
  "failover": {
    // Seconds between path probes, default ${monitoring_interval}.
    "monitoring_interval": ${monitoring_interval},
    // Probes lost in a row before a path goes down, default ${threshold}.
    "threshold": ${threshold},
    // Probes answered in a row before it comes back, default ${recovery_threshold}.
    "recovery_threshold": ${recovery_threshold},
    // UDP port of path probes on the bond, default ${probe_port}.
    "probe_port": ${probe_port},
    // One-way loss (percent) at which a path is degraded: no bonded traffic while a
    // healthy path is left. (0, 100], default ${degrade_loss_percent}. Lower (e.g. 1) keeps downloads from
    // being dragged below the best single link by a lossy path; higher keeps a lossy
    // path's capacity for uploads.
    "degrade_loss_percent": ${degrade_loss_percent},
    // Loss (percent) below which it is healthy again, > 0 and below
    // degrade_loss_percent. Default: half of degrade_loss_percent.
    "recover_loss_percent": ${recover_loss_percent}
  },
  "interfaces": {
    // The preferred uplink (active_backup: the one in use). Default: none.
    "primary": ")",
      uplinks.front().interface, R"(",
    // Uplinks used only when the bonded ones fail, in this order. Default: none.
    "backups": [],
    // One entry per path; its position is its path id (the peer lists its paths in
    // the same order).
    "uplinks": [
)",
      uplink_text, R"(    ]
  },
  "monitoring": {
    // SQLite file of the metric history (meshbpf stats --since/--plot) and data cap
    // usage. Default "${history_file_pattern}".
    // "history_file": "${history_file_example}",
    // Record the history, default true.
    "history": true,
    // Seconds between samples, 1..60, default ${sample_interval}.
    "sample_interval": ${sample_interval},
    // Serve Prometheus metrics at http://ADDRESS:PORT/metrics. Default: not served.
    // "metrics_listen": "127.0.0.1:9464",
    // Allow metrics_listen beyond loopback (the endpoint has no authentication), default false.
    "metrics_allow_remote": false,
    // Also serve a live status page at http://ADDRESS:PORT/ (needs metrics_listen), default false.
    "status_page": false
    // Members of this group (and root) may change the agent's state through the
    // control socket (failover, cap --reset, test); anyone who can reach the socket
    // may read (status, stats, cap, peers). Default: root only.
    // "control_group": "meshbpf"
  }
}
)");
  namespace d = config_defaults;
  static_assert(d::kRecoverLossShare == 0.5, "the text says recover_loss_percent is half");
  // The defaults are written once (config_defaults.h); the text takes them from there.
  return absl::StrReplaceAll(
      text, {{"${discovery_port}", absl::StrCat(d::kDiscoveryPort)},
             {"${broadcast_interval}", absl::StrCat(d::kBroadcastIntervalS)},
             {"${node_timeout}", absl::StrCat(d::kNodeTimeoutS)},
             {"${relay_port}", absl::StrCat(d::kRelayPort)},
             {"${bond_interface}", d::kBondInterface},
             {"${tunnel_port}", absl::StrCat(d::kTunnelPort)},
             {"${latency_packet_bytes}", absl::StrCat(d::kLatencyPacketBytes)},
             {"${reorder_deadline_ms}", absl::StrCat(d::kReorderDeadlineMs)},
             {"${floor_guard}", d::kFloorGuard ? "true" : "false"},
             {"${loss_repair}", d::kLossRepair ? "true" : "false"},
             {"${max_queue_slots}", absl::StrCat(MB_RESEQ_SLOTS_MAX)},
             {"${monitoring_interval}", absl::StrCat(d::kMonitoringIntervalS)},
             {"${threshold}", absl::StrCat(d::kThreshold)},
             {"${recovery_threshold}", absl::StrCat(d::kRecoveryThreshold)},
             {"${rebalance_interval}", absl::StrCat(d::kRebalanceIntervalS)},
             {"${probe_port}", absl::StrCat(d::kProbePort)},
             {"${degrade_loss_percent}", absl::StrCat(d::kDegradeLossPercent)},
             {"${recover_loss_percent}", absl::StrCat(d::kRecoverLossPercent)},
             {"${history_file_pattern}", DefaultHistoryFile("<instance>")},
             {"${history_file_example}", DefaultHistoryFile("default")},
             {"${sample_interval}", absl::StrCat(d::kSampleIntervalS)},
             {"${cap_period}", cap_defaults::kCapPeriod},
             {"${cap_reset_day}", absl::StrCat(cap_defaults::kCapResetDay)},
             {"${cap_timezone}", cap_defaults::kCapTimezone},
             {"${cap_warn_at}", absl::StrJoin(cap_defaults::kCapWarnAtPercent, ", ")},
             {"${cap_when_exhausted}", cap_defaults::kCapWhenExhausted}});
}

}  // namespace

std::string DefaultConfigText(const std::vector<DefaultUplink>& uplinks, ConfigShape shape) {
  const std::string text = SectionsText(uplinks);
  return shape == ConfigShape::kMeshNetwork ? InMeshNetwork(text) : text;
}

}  // namespace meshbpf
