#include "cli/agent_views.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/core/data_cap.h"
#include "agent/core/net_format.h"

namespace meshbpf {
namespace {

// Human units for the peers table: "40.0M", "512k", "-" for not measured.
std::string Kbps(uint64_t kbps) {
  if (kbps == 0) return "-";
  if (kbps >= 1000) return absl::StrFormat("%.1fM", static_cast<double>(kbps) / 1000);
  return absl::StrCat(kbps, "k");
}

std::string Bytes(const std::optional<uint64_t>& bytes) {
  if (!bytes) return "-";
  const auto b = static_cast<double>(*bytes);
  if (b >= 1e9) return absl::StrFormat("%.1fG", b / 1e9);
  if (b >= 1e6) return absl::StrFormat("%.1fM", b / 1e6);
  return absl::StrFormat("%.0fk", b / 1e3);
}

// {"reason": count, ...} as "reason 3, other 1" without the zeros; "none".
std::string NonZeroCounts(const std::map<std::string, uint64_t>& counts) {
  std::vector<std::string> nonzero;
  for (const auto& [reason, count] : counts) {
    if (count > 0) nonzero.push_back(absl::StrCat(reason, " ", count));
  }
  return nonzero.empty() ? "none" : absl::StrJoin(nonzero, ", ");
}

// The "relaying for neighbours" section of `meshbpf peers`.
std::string RelayingTable(const RelayingEntry& relaying) {
  if (!relaying.sharing) {
    return "\nrelaying for neighbours: off (no node_discovery.share_uplinks)\n";
  }
  std::string out = absl::StrFormat(
      "\nrelaying for neighbours at port %d: share budget left %s, rate ceiling %s\n",
      relaying.relay_port.value_or(0),
      relaying.share_remaining_bytes ? Bytes(relaying.share_remaining_bytes) : "unlimited",
      relaying.max_relay_kbps == 0 ? std::string("none") : Kbps(relaying.max_relay_kbps));
  if (relaying.relays.empty()) absl::StrAppend(&out, "    nobody relays through us\n");
  for (const ServedRelay& r : relaying.relays) {
    absl::StrAppend(
        &out, absl::StrFormat("    %s (%s) through %s, slot %d, to %s (return port %d)\n",
                              r.origin_name, r.origin, r.uplink, r.slot, r.peer, r.return_port));
    if (!r.counts) continue;
    absl::StrAppend(
        &out, absl::StrFormat("        out %s in %u packets, back %s in %u packets, dropped: %s\n",
                              Bytes(r.counts->fwd_bytes), r.counts->fwd_packets,
                              Bytes(r.counts->ret_bytes), r.counts->ret_packets,
                              NonZeroCounts(r.counts->drops)));
  }
  return out;
}

std::string Field(const std::optional<double>& value, const char* format, double scale = 1) {
  return value ? absl::StrFormat(format, *value * scale) : std::string("-");
}

}  // namespace

std::string CapStatusTable(const CapReply& reply) {
  if (reply.caps.empty()) return "no uplink has a data cap\n";
  std::string out =
      absl::StrFormat("%-12s %12s %12s %8s  %-8s %-20s %-18s %s\n", "PATH", "USED", "LIMIT",
                      "USED%", "PERIOD", "RESETS (UTC)", "WHEN EXHAUSTED", "STATE");
  for (const CapEntry& c : reply.caps) {
    absl::StrAppendFormat(&out, "%-12s %12s %12s %7.1f%%  %-8s %-20s %-18s %s\n", c.path,
                          CapBytes(c.used_bytes), CapBytes(c.limit_bytes), c.used_percent, c.period,
                          c.resets_at.value_or("by hand"), c.when_exhausted,
                          c.exhausted ? "EXHAUSTED" : "ok");
  }
  return out;
}

std::string PeersTable(const PeersReply& peers) {
  const LocalNodeEntry& self = peers.node;
  std::string out = absl::StrFormat(
      "this node: %s (%s), version %s, announcing on %s port %d every %gs\n", self.id, self.name,
      self.version, absl::StrJoin(self.interfaces, ", "), self.port, self.broadcast_interval_s);
  const std::vector<PeerNodeEntry>& nodes = peers.nodes;
  absl::StrAppend(&out, "\n", nodes.size(), nodes.size() == 1 ? " node" : " nodes", " known\n");
  if (!nodes.empty()) {
    absl::StrAppend(&out, absl::StrFormat("%-40s %-16s %-15s %-8s %7s %s\n", "NODE", "NAME",
                                          "ADDRESS", "VERSION", "AGE", "USED AS PATHS"));
  }
  for (const PeerNodeEntry& n : nodes) {
    absl::StrAppend(
        &out,
        absl::StrFormat("%-40s %-16s %-15s %-8s %6.1fs %s\n", n.id, n.name, n.address, n.version,
                        n.age_s, n.our_paths.empty() ? "no" : absl::StrJoin(n.our_paths, ", ")));
    if (n.addresses.size() > 1) {
      std::vector<std::string> heard;
      for (const PeerAddressEntry& a : n.addresses) {
        heard.push_back(absl::StrFormat("%s (%.1fs ago)", a.address, a.age_s));
      }
      absl::StrAppend(&out, "    heard from ", absl::StrJoin(heard, ", "), "\n");
    }
    if (n.relay_unsupported) absl::StrAppend(&out, "    no relaying: ", *n.relay_unsupported, "\n");
    for (const PeerUplinkEntry& u : n.uplinks) {
      absl::StrAppend(
          &out, absl::StrFormat(
                    "    uplink %-15s %-9s capacity %-7s rtt %-9s loss %5.1f%%  "
                    "cap left %-7s %s\n",
                    u.name, u.type, Kbps(u.capacity_kbps),
                    u.rtt_us == 0 ? std::string("-")
                                  : absl::StrFormat("%.1fms", static_cast<double>(u.rtt_us) / 1e3),
                    static_cast<double>(u.loss_ppm) / 1e4, Bytes(u.cap_remaining_bytes),
                    u.shared ? "shared" : "not shared"));
    }
  }
  const std::vector<CandidateRelayedPath>& candidates = peers.candidate_relayed_paths;
  absl::StrAppend(&out, "\nrelayed paths the nodes offer:", candidates.empty() ? " none" : "",
                  "\n");
  for (const CandidateRelayedPath& c : candidates) {
    absl::StrAppend(
        &out, absl::StrFormat(
                  "    %s/%s via %s%s\n", c.node_name, c.uplink.name,
                  AddressPortText(c.address, c.relay_port),
                  c.fills_path ? absl::StrCat(", our path ", *c.fills_path) : std::string()));
  }
  absl::StrAppend(&out, RelayingTable(peers.relaying));
  absl::StrAppend(&out, "\ndropped announcements: ", NonZeroCounts(peers.drops), "\n");
  return out;
}

std::string FormatTestSummary(const std::vector<PathTestResult>& results) {
  std::string out;
  for (const PathTestResult& r : results) {
    absl::StrAppendFormat(
        &out,
        "%s: capacity %s Mbit/s delivered of %s sent, loss under load %s, RTT %s ms, "
        "jitter %s ms, probe loss %s\n",
        r.path, Field(r.delivered_mbit, "%.1f"), Field(r.sent_mbit, "%.1f"),
        Field(r.delivery_loss, "%.1f%%", 100), Field(r.rtt_ms, "%.2f"), Field(r.jitter_ms, "%.2f"),
        Field(r.probe_loss, "%.1f%%", 100));
  }
  return out;
}

}  // namespace meshbpf
