#include "agent/mesh_node.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/escaping.h"
#include "agent/log.h"

namespace meshbpf {
namespace {

std::string Ip(in_addr addr) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr, text, sizeof(text));
  return text;
}

uint64_t UnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
}

// A replayed announcement must be stale before the replay guard forgets the
// node: the window is at least a minute, and never shorter than node_timeout.
std::chrono::milliseconds ReplayWindow(const DiscoverySettings& d) {
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(60), Ms(d.node_timeout_s));
}

nlohmann::json UplinkJson(const AnnouncedUplink& u) {
  nlohmann::json out = {{"name", u.name},
                        {"type", std::string(UplinkTypeName(u.type))},
                        {"capacity_kbps", u.capacity_kbps},
                        {"rtt_us", u.rtt_us},
                        {"loss_ppm", u.loss_ppm},
                        {"shared", u.shared}};
  out["cap_remaining_bytes"] =
      u.cap_remaining_bytes ? nlohmann::json(*u.cap_remaining_bytes) : nlohmann::json(nullptr);
  return out;
}

std::string RemotePathName(const RemotePath& p) {
  return absl::StrCat(p.node_name, "/", p.uplink.name, " (node ", p.node_id, " at ",
                      Ip(p.node_address), ":", p.relay_port, ")");
}

// Human units for the table: "40.0M", "512k", "-" for not measured.
std::string Kbps(uint64_t kbps) {
  if (kbps == 0) return "-";
  if (kbps >= 1000) return absl::StrFormat("%.1fM", static_cast<double>(kbps) / 1000);
  return absl::StrCat(kbps, "k");
}

std::string Bytes(const nlohmann::json& bytes) {
  if (bytes.is_null()) return "-";
  const double b = bytes.get<double>();
  if (b >= 1e9) return absl::StrFormat("%.1fG", b / 1e9);
  if (b >= 1e6) return absl::StrFormat("%.1fM", b / 1e6);
  return absl::StrFormat("%.0fk", b / 1e3);
}

}  // namespace

std::vector<AnnouncedUplink> LocalUplinks(const NodeSettings& settings, const PathReporter& report,
                                          const UplinkTypeOf& type_of) {
  const std::set<std::string> shared(settings.discovery.share_uplinks.begin(),
                                     settings.discovery.share_uplinks.end());
  std::vector<AnnouncedUplink> out;
  for (size_t i = 0; i < settings.paths.size() && out.size() < kMaxAnnouncedUplinks; ++i) {
    const PathSettings& p = settings.paths[i];
    auto same = std::find_if(out.begin(), out.end(),
                             [&](const AnnouncedUplink& u) { return u.name == p.interface; });
    if (same != out.end()) {
      same->shared = same->shared || shared.count(p.name) > 0;
      continue;
    }
    const PathReport r = report(i);
    AnnouncedUplink u;
    u.name = p.interface;
    u.type = type_of(p.interface);
    u.capacity_kbps = static_cast<uint64_t>(std::max(0.0, r.capacity_bps) / 1000);
    u.rtt_us = r.srtt_ns ? static_cast<uint64_t>(std::max(0.0, *r.srtt_ns) / 1000) : 0;
    u.loss_ppm = r.down ? 1'000'000
                        : static_cast<uint32_t>(std::clamp(r.loss, 0.0, 1.0) * 1'000'000);
    u.cap_remaining_bytes = r.cap_remaining_bytes;
    u.shared = shared.count(p.name) > 0;
    out.push_back(std::move(u));
  }
  return out;
}

absl::StatusOr<std::string> ChooseNodeId(const DiscoverySettings& settings,
                                         const std::string& machine_id_file,
                                         const std::string& instance) {
  if (!settings.node_id.empty()) return settings.node_id;
  std::ifstream file(machine_id_file);
  std::string machine_id;
  std::getline(file, machine_id);
  machine_id = std::string(absl::StripAsciiWhitespace(machine_id));
  if (machine_id.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node_discovery.node_id: not set, and ", machine_id_file,
                     " (the default's first half) is missing or empty; set node_discovery.node_id"));
  }
  const std::string id = absl::StrCat(machine_id, ":", instance);
  if (std::optional<std::string> problem = NodeIdProblem(id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("node_discovery.node_id: not set, and the default \"<machine-id>:<instance>\" "
                     "= \"", absl::CHexEscape(id), "\" ", *problem, "; set node_discovery.node_id"));
  }
  return id;
}

MeshDiscovery::MeshDiscovery(const NodeSettings& settings, std::string node_id, PathReporter report)
    : settings_(settings),
      node_id_(std::move(node_id)),
      epoch_(UnixMs()),
      report_(std::move(report)),
      replay_(ReplayWindow(settings.discovery), [] { return std::chrono::system_clock::now(); }),
      table_(Ms(settings.discovery.node_timeout_s), [] { return std::chrono::steady_clock::now(); }),
      intake_(settings.discovery.mesh_key, node_id_, replay_, table_, drops_,
              [] { return std::chrono::steady_clock::now(); }) {}

absl::StatusOr<std::unique_ptr<MeshDiscovery>> MeshDiscovery::Start(const NodeSettings& settings,
                                                          const std::string& instance,
                                                          PathReporter report) {
  absl::StatusOr<std::string> node_id = ChooseNodeId(settings.discovery, "/etc/machine-id", instance);
  if (!node_id.ok()) return node_id.status();
  std::unique_ptr<MeshDiscovery> node(new MeshDiscovery(settings, *node_id, std::move(report)));
  for (const std::string& ifname : settings.discovery.interfaces) {
    absl::StatusOr<std::unique_ptr<DiscoverySocket>> socket =
        DiscoverySocket::Open(ifname, settings.discovery.port);
    if (!socket.ok()) {
      return absl::Status(socket.status().code(), absl::StrCat("node_discovery.interfaces: ",
                                                               socket.status().message()));
    }
    node->interfaces_.push_back({ifname, std::move(*socket)});
  }
  Log(LogLevel::kInfo,
      absl::StrFormat("mesh: node %s (%s, epoch %u) announcing on %s port %u every %.3g s, "
                      "forgetting nodes after %.3g s",
                      node->node_id_, settings.discovery.node_name, node->epoch_,
                      absl::StrJoin(settings.discovery.interfaces, ", "), settings.discovery.port,
                      settings.discovery.broadcast_interval_s, settings.discovery.node_timeout_s));
  // At once: a starting node should not wait a whole interval to be seen.
  node->Announce();
  return node;
}

std::vector<int> MeshDiscovery::fds() const {
  std::vector<int> out;
  for (const Interface& i : interfaces_) out.push_back(i.socket->fd());
  return out;
}

void MeshDiscovery::OnReadable(int fd) {
  auto it = std::find_if(interfaces_.begin(), interfaces_.end(),
                         [fd](const Interface& i) { return i.socket->fd() == fd; });
  if (it == interfaces_.end()) return;
  bool changed = false;
  for (const ReceivedDatagram& d : it->socket->Receive()) {
    const AnnouncementIntake::Result r = intake_.Receive(d);
    if (r.log_line) Log(LogLevel::kWarning, absl::StrCat("mesh: ", *r.log_line));
    if (!r.change || *r.change == NodeChange::kRefreshed) continue;
    changed = true;
    const MeshNode& n = table_.nodes().at(r.node_id);
    switch (*r.change) {
      case NodeChange::kJoined:
        joined_ms_[r.node_id] = UnixMs();
        Log(LogLevel::kInfo,
            absl::StrFormat("mesh: node %s (%s, version %s, epoch %u) joined from %s via %s "
                            "with %u uplinks",
                            r.node_id, n.last.name, n.last.version, n.last.epoch, Ip(n.address),
                            it->name, n.last.uplinks.size()));
        break;
      case NodeChange::kUplinksChanged:
        Log(LogLevel::kInfo, absl::StrFormat("mesh: node %s (%s) changed its uplinks, relay or "
                                             "address (now %s)",
                                             r.node_id, n.last.name, Ip(n.address)));
        break;
      default:
        Log(LogLevel::kInfo, absl::StrFormat("mesh: node %s is now %s, version %s", r.node_id,
                                             n.last.name, n.last.version));
        break;
    }
  }
  if (changed) UpdateRemotePaths();
}

void MeshDiscovery::OnInterval() {
  const std::vector<MeshNode> gone = table_.Expire();
  for (const MeshNode& n : gone) {
    joined_ms_.erase(n.last.node_id);
    Log(LogLevel::kWarning,
        absl::StrFormat("mesh: node %s (%s) at %s not heard for %.3g s: removed",
                        n.last.node_id, n.last.name, Ip(n.address),
                        settings_.discovery.node_timeout_s));
  }
  if (!gone.empty()) UpdateRemotePaths();
  Announce();
}

void MeshDiscovery::Announce() {
  Announcement a;
  a.node_id = node_id_;
  a.name = settings_.discovery.node_name;
  a.version = kAgentVersion;
  a.epoch = epoch_;
  a.seq = ++seq_;
  a.timestamp_ms = UnixMs();
  a.uplinks = LocalUplinks(settings_, report_, [](const std::string& ifname) {
    absl::StatusOr<UplinkType> type = DetectUplinkType("/sys/class/net", ifname);
    return type.ok() ? *type : UplinkType::kOther;  // gone: its loss says the rest
  });
  if (!settings_.discovery.share_uplinks.empty()) {
    a.relay = RelayCapability{settings_.port, 0};
  }
  absl::StatusOr<std::vector<uint8_t>> frame = EncodeAnnouncement(a, settings_.discovery.mesh_key);
  if (!frame.ok()) {
    // Only an uplink name outside the announced alphabet gets here (the
    // rest is checked at config load): a bug to report, once per interval.
    ++send_errors_;
    Log(LogLevel::kError, absl::StrCat("mesh: cannot announce: ", frame.status().message()));
    return;
  }
  for (Interface& i : interfaces_) {
    absl::Status s;
    absl::StatusOr<in_addr> to = InterfaceBroadcast(i.name);
    s = to.ok() ? i.socket->Send(*to, *frame) : to.status();
    if (s.ok()) ++announcements_sent_;
    else ++send_errors_;
    if (s.ok() == i.send_failing) {
      i.send_failing = !s.ok();
      Log(s.ok() ? LogLevel::kInfo : LogLevel::kWarning,
          s.ok() ? absl::StrCat("mesh: announcing on ", i.name, " again")
                 : absl::StrCat("mesh: cannot announce on ", i.name, ": ", s.message()));
    }
  }
}

void MeshDiscovery::UpdateRemotePaths() {
  std::vector<RemotePath> now = RemotePaths(table_);
  const PathSetDiff diff = DiffPaths(remote_paths_, now);
  for (const RemotePath& p : diff.added) {
    Log(LogLevel::kInfo, absl::StrCat("mesh: candidate relayed path ", RemotePathName(p), " added"));
  }
  for (const RemotePath& p : diff.changed) {
    Log(LogLevel::kInfo,
        absl::StrCat("mesh: candidate relayed path ", RemotePathName(p), " changed"));
  }
  for (const RemotePath& p : diff.removed) {
    Log(LogLevel::kWarning,
        absl::StrCat("mesh: candidate relayed path ", RemotePathName(p), " withdrawn"));
  }
  remote_paths_ = std::move(now);
}

nlohmann::json MeshDiscovery::PeersJson() const {
  const auto now = std::chrono::steady_clock::now();
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& [id, n] : table_.nodes()) {
    nlohmann::json uplinks = nlohmann::json::array();
    for (const AnnouncedUplink& u : n.last.uplinks) uplinks.push_back(UplinkJson(u));
    nlohmann::json relay = nullptr;
    if (n.last.relay) {
      relay = {{"port", n.last.relay->relay_port},
               {"max_kbps", n.last.relay->max_relay_kbps}};
    }
    auto joined = joined_ms_.find(id);
    nodes.push_back(
        {{"id", id},
         {"name", n.last.name},
         {"address", Ip(n.address)},
         {"version", n.last.version},
         {"epoch", n.last.epoch},
         {"seq", n.last.seq},
         {"age_s", std::chrono::duration<double>(now - n.last_heard).count()},
         {"joined_unix_ms", joined == joined_ms_.end() ? nlohmann::json(nullptr)
                                                       : nlohmann::json(joined->second)},
         {"uplinks", std::move(uplinks)},
         {"relay", std::move(relay)},
         // Relaying through neighbours is not built yet (see the top of mesh_node.h).
         {"used_as_paths", false}});
  }
  nlohmann::json candidates = nlohmann::json::array();
  for (const RemotePath& p : remote_paths_) {
    candidates.push_back({{"node_id", p.node_id},
                          {"node_name", p.node_name},
                          {"address", Ip(p.node_address)},
                          {"relay_port", p.relay_port},
                          {"max_relay_kbps", p.max_relay_kbps},
                          {"uplink", UplinkJson(p.uplink)}});
  }
  nlohmann::json drops = nlohmann::json::object();
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const auto reason = static_cast<DropReason>(i);
    // Keys for scripts: "authentication failed" -> "authentication_failed".
    drops[absl::StrReplaceAll(DropReasonName(reason), {{" ", "_"}})] = drops_.count(reason);
  }
  const DiscoverySettings& d = settings_.discovery;
  return {{"node",
           {{"id", node_id_},
            {"name", d.node_name},
            {"version", kAgentVersion},
            {"epoch", epoch_},
            {"interfaces", d.interfaces},
            {"port", d.port},
            {"broadcast_interval_s", d.broadcast_interval_s},
            {"node_timeout_s", d.node_timeout_s},
            {"announcements_sent", announcements_sent_},
            {"send_errors", send_errors_}}},
          {"nodes", std::move(nodes)},
          {"candidate_relayed_paths", std::move(candidates)},
          {"drops", std::move(drops)},
          {"drops_total", drops_.total()}};
}

std::string PeersTable(const nlohmann::json& peers) {
  const nlohmann::json& self = peers.at("node");
  std::string out = absl::StrFormat(
      "this node: %s (%s), version %s, announcing on %s port %d every %gs\n",
      self.at("id").get<std::string>(), self.at("name").get<std::string>(),
      self.at("version").get<std::string>(),
      absl::StrJoin(self.at("interfaces").get<std::vector<std::string>>(), ", "),
      self.at("port").get<int>(), self.at("broadcast_interval_s").get<double>());
  const nlohmann::json& nodes = peers.at("nodes");
  absl::StrAppend(&out, "\n", nodes.size(), nodes.size() == 1 ? " node" : " nodes", " known\n");
  if (!nodes.empty()) {
    absl::StrAppend(&out, absl::StrFormat("%-40s %-16s %-15s %-8s %7s %s\n", "NODE", "NAME",
                                          "ADDRESS", "VERSION", "AGE", "USED AS PATHS"));
  }
  for (const nlohmann::json& n : nodes) {
    absl::StrAppend(&out, absl::StrFormat("%-40s %-16s %-15s %-8s %6.1fs %s\n",
                                          n.at("id").get<std::string>(),
                                          n.at("name").get<std::string>(),
                                          n.at("address").get<std::string>(),
                                          n.at("version").get<std::string>(),
                                          n.at("age_s").get<double>(),
                                          n.at("used_as_paths").get<bool>() ? "yes" : "no"));
    for (const nlohmann::json& u : n.at("uplinks")) {
      absl::StrAppend(
          &out, absl::StrFormat("    uplink %-15s %-9s capacity %-7s rtt %-9s loss %5.1f%%  "
                                "cap left %-7s %s\n",
                                u.at("name").get<std::string>(), u.at("type").get<std::string>(),
                                Kbps(u.at("capacity_kbps").get<uint64_t>()),
                                u.at("rtt_us").get<uint64_t>() == 0
                                    ? std::string("-")
                                    : absl::StrFormat("%.1fms", u.at("rtt_us").get<double>() / 1e3),
                                u.at("loss_ppm").get<double>() / 1e4,
                                Bytes(u.at("cap_remaining_bytes")),
                                u.at("shared").get<bool>() ? "shared" : "not shared"));
    }
  }
  const nlohmann::json& candidates = peers.at("candidate_relayed_paths");
  absl::StrAppend(&out, "\ncandidate relayed paths (relaying is not enabled yet):",
                  candidates.empty() ? " none" : "", "\n");
  for (const nlohmann::json& c : candidates) {
    absl::StrAppend(&out, absl::StrFormat("    %s/%s via %s:%d\n",
                                          c.at("node_name").get<std::string>(),
                                          c.at("uplink").at("name").get<std::string>(),
                                          c.at("address").get<std::string>(),
                                          c.at("relay_port").get<int>()));
  }
  std::vector<std::string> dropped;
  for (const auto& [reason, count] : peers.at("drops").items()) {
    if (count.get<uint64_t>() > 0) dropped.push_back(absl::StrCat(reason, " ", count.get<uint64_t>()));
  }
  absl::StrAppend(&out, "\ndropped announcements: ",
                  dropped.empty() ? "none" : absl::StrJoin(dropped, ", "), "\n");
  return out;
}

}  // namespace meshbpf
