#include "agent/daemon/mesh_node.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "agent/sys/log.h"
#include "agent/sys/sysfs.h"
#include "agent/sys/uplink_type.h"
#include "agent/core/datapath_names.h"
#include "agent/core/map_shapes.h"
#include "agent/core/net_format.h"

namespace meshbpf {
namespace {

uint64_t UnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
}

// How long the replay guard remembers a silent node: never shorter than
// node_timeout (a node the table still shows is not forgotten), and at least
// a minute.
std::chrono::milliseconds ReplayRetention(const DiscoverySettings& d) {
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(60), Ms(d.node_timeout_s));
}

PeerUplinkEntry UplinkEntry(const AnnouncedUplink& u) {
  return {u.name,     std::string(UplinkTypeName(u.type)),
          u.capacity_kbps, u.rtt_us,
          u.loss_ppm, u.shared,
          u.relay_port, u.cap_remaining_bytes};
}

std::string RemotePathName(const RemotePath& p) {
  return absl::StrCat(p.node_name, "/", p.uplink.name, " (node ", p.node_id, " at ",
                      IpPortText(p.node_address.address, p.relay_port), ")");
}

}  // namespace

std::vector<AnnouncedUplink> LocalUplinks(const NodeSettings& settings, const PathReporter& report,
                                          const UplinkTypeOf& type_of) {
  const std::vector<std::string> shared = SharedUplinkInterfaces(settings);
  std::vector<AnnouncedUplink> out;
  for (size_t i = 0; i < settings.paths.size() && out.size() < kMaxAnnouncedUplinks; ++i) {
    const PathSettings& p = settings.paths[i];
    if (p.endpoint == PathEndpoint::kRelay) continue;
    if (std::any_of(out.begin(), out.end(),
                    [&](const AnnouncedUplink& u) { return u.name == p.interface; })) {
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
    auto k = std::find(shared.begin(), shared.end(), p.interface);
    u.shared = k != shared.end();
    if (u.shared) {
      u.relay_port =
          SharedUplinkRelayPort(settings.discovery, static_cast<size_t>(k - shared.begin()));
      u.relays_ipv4 = UplinkPathOf(settings, p.interface, false).has_value();
      u.relays_ipv6 = UplinkPathOf(settings, p.interface, true).has_value();
    }
    out.push_back(std::move(u));
  }
  return out;
}

bool SharesUplinks(const NodeSettings& settings) {
  return settings.discovery.enabled && !settings.discovery.share_uplinks.empty();
}

std::optional<RelayCapability> AnnouncedRelay(const NodeSettings& settings,
                                              std::optional<uint64_t> share_remaining_bytes) {
  if (!SharesUplinks(settings)) return std::nullopt;
  return RelayCapability{
      settings.discovery.relay_port,
      static_cast<uint64_t>(std::llround(settings.discovery.share_max_bps / 1000)),
      share_remaining_bytes};
}

std::optional<BondEndpoint> AnnouncedBond(const NodeSettings& settings) {
  const bool relayed =
      std::any_of(settings.paths.begin(), settings.paths.end(),
                  [](const PathSettings& p) { return p.endpoint == PathEndpoint::kRelay; });
  if (!relayed || !settings.peer_address) return std::nullopt;
  return BondEndpoint{*settings.peer_address, settings.port, settings.port};
}

std::optional<LanSide> LanHolding(const ScopedAddress& neighbour,
                                  const std::vector<LanInterface>& lans) {
  for (const LanInterface& lan : lans) {
    if (neighbour.address.is_v6()) {
      if (lan.ifindex == neighbour.ifindex && lan.link_local) {
        return LanSide{lan.ifindex, IpAddress::V6(*lan.link_local)};
      }
      continue;
    }
    const uint32_t mask = htonl(PrefixMask(lan.prefix_len));
    const in_addr_t address = neighbour.address.v4().s_addr;
    if (lan.address.s_addr != 0 && ((address ^ lan.address.s_addr) & mask) == 0) {
      return LanSide{lan.ifindex, IpAddress::V4(lan.address)};
    }
  }
  return std::nullopt;
}

std::set<IpAddress> PeerAddresses(const NodeSettings& settings) {
  std::set<IpAddress> peers;
  if (settings.mode == BondMode::kFlow) return peers;  // no peer: flows leave NATed
  for (const PathSettings& p : settings.paths) {
    if (p.endpoint_known && !p.remote.IsUnspecified()) peers.insert(p.remote);
  }
  return peers;
}

std::optional<LearnedEndpoint> EndpointToLearn(const PathSettings& path,
                                               const mb_learned_source& seen, uint64_t now_ns) {
  const bool v6 = seen.flags & MB_LEARNED_F_IPV6;
  LearnedEndpoint e;
  e.remote = MapAddress(v6, seen.saddr, seen.saddr6.addr);
  e.source = MapAddress(v6, seen.daddr, seen.daddr6.addr);
  if (path.endpoint != PathEndpoint::kLearned || e.remote.IsUnspecified() || seen.sport == 0) {
    return std::nullopt;
  }
  // Several probes may be read in one go: one recorded after `now_ns` is fresh.
  if (now_ns > seen.seen_ns && now_ns - seen.seen_ns > kLearnedFreshNs) return std::nullopt;
  e.remote_port = seen.sport;
  e.ifindex = static_cast<int>(seen.ifindex);
  if (path.endpoint_known && path.remote == e.remote && path.remote_port == e.remote_port &&
      path.source == e.source &&
      path.ifindex == e.ifindex) {
    return std::nullopt;
  }
  return e;
}

std::vector<std::string> RelayPlanChanges(const std::vector<PlannedRelay>& before,
                                          const std::vector<PlannedRelay>& after) {
  auto key = [](const PlannedRelay& r) { return std::tie(r.origin_id, r.uplink_path); };
  auto find = [&](const std::vector<PlannedRelay>& in, const PlannedRelay& r) {
    return std::find_if(in.begin(), in.end(),
                        [&](const PlannedRelay& x) { return key(x) == key(r); });
  };
  auto describe = [](const PlannedRelay& r) {
    return absl::StrFormat("relaying for %s through %s (slot %u, return port %u): %s -> %s",
                           r.origin_name, r.uplink_path, r.slot, r.relay.return_port,
                           IpPortText(RelayAddressOf(r.relay, r.relay.origin_ip), r.relay.origin_port),
                           IpPortText(RelayAddressOf(r.relay, r.relay.peer_ip), r.relay.peer_port));
  };
  std::vector<std::string> lines;
  for (const PlannedRelay& r : before) {
    if (find(after, r) == after.end()) {
      lines.push_back(
          absl::StrFormat("relaying for %s through %s stopped", r.origin_name, r.uplink_path));
    }
  }
  for (const PlannedRelay& r : after) {
    auto was = find(before, r);
    if (was == before.end()) {
      lines.push_back(describe(r));
    } else if (was->slot != r.slot || std::memcmp(&was->relay, &r.relay, sizeof(r.relay)) != 0) {
      lines.push_back(absl::StrCat(describe(r), " (changed)"));
    }
  }
  return lines;
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

MeshDiscovery::MeshDiscovery(const NodeSettings& settings, std::string node_id, MeshHooks hooks)
    : settings_(settings),
      node_id_(std::move(node_id)),
      epoch_(UnixMs()),
      hooks_(std::move(hooks)),
      replay_(ReplayRetention(settings.discovery), [] { return std::chrono::steady_clock::now(); }),
      table_(Ms(settings.discovery.node_timeout_s),
             [] { return std::chrono::steady_clock::now(); }),
      intake_(settings.discovery.mesh_key, node_id_, replay_, table_, drops_,
              [] { return std::chrono::steady_clock::now(); }),
      assignments_(settings.paths.size()) {
  intake_.set_address_text([this](const ScopedAddress& a) { return AddressText(a); });
}

absl::StatusOr<std::unique_ptr<MeshDiscovery>> MeshDiscovery::Start(const NodeSettings& settings,
                                                                    const std::string& instance,
                                                                    MeshHooks hooks) {
  absl::StatusOr<std::string> node_id = ChooseNodeId(settings.discovery, "/etc/machine-id", instance);
  if (!node_id.ok()) return node_id.status();
  std::unique_ptr<MeshDiscovery> node(new MeshDiscovery(settings, *node_id, std::move(hooks)));
  // Relays a previous run served are nobody's now: the maps stay pinned.
  if (node->hooks_.relay_maps) {
    if (absl::Status s = node->hooks_.relay_maps->Sync({}); !s.ok()) return s;
  }
  for (const std::string& ifname : settings.discovery.interfaces) {
    absl::StatusOr<std::unique_ptr<DiscoverySocket>> socket =
        DiscoverySocket::Open(ifname, settings.discovery.port);
    if (!socket.ok()) {
      return absl::Status(socket.status().code(), absl::StrCat("node_discovery.interfaces: ",
                                                               socket.status().message()));
    }
    Interface i{ifname, static_cast<int>(if_nametoindex(ifname.c_str())), std::move(*socket)};
    // A host without IPv6 (ipv6.disable=1) still discovers over IPv4.
    absl::StatusOr<std::unique_ptr<DiscoverySocket>> ipv6 =
        DiscoverySocket::OpenIpv6(ifname, settings.discovery.port);
    if (ipv6.ok()) {
      i.ipv6_socket = std::move(*ipv6);
    } else {
      Log(LogLevel::kWarning, absl::StrCat("mesh: no IPv6 discovery on ", ifname, ": ",
                                           ipv6.status().message()));
    }
    node->interfaces_.push_back(std::move(i));
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
  for (const Interface& i : interfaces_) {
    out.push_back(i.socket->fd());
    if (i.ipv6_socket) out.push_back(i.ipv6_socket->fd());
  }
  return out;
}

void MeshDiscovery::OnReadable(int fd) {
  DiscoverySocket* socket = nullptr;
  for (Interface& i : interfaces_) {
    if (i.socket->fd() == fd) socket = i.socket.get();
    if (i.ipv6_socket && i.ipv6_socket->fd() == fd) socket = i.ipv6_socket.get();
  }
  if (socket == nullptr) return;
  bool changed = false;
  for (const ReceivedDatagram& d : socket->Receive()) {
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
                            r.node_id, n.last.name, n.last.version, n.last.epoch,
                            AddressText(d.from), InterfaceName(d.from.ifindex),
                            n.last.uplinks.size()));
        break;
      case NodeChange::kAddressAdded:
        Log(LogLevel::kInfo, absl::StrFormat("mesh: node %s (%s) also heard from %s via %s",
                                             r.node_id, n.last.name, AddressText(d.from),
                                             InterfaceName(d.from.ifindex)));
        break;
      case NodeChange::kUplinksChanged:
        Log(LogLevel::kInfo, absl::StrFormat("mesh: node %s (%s) changed its uplinks, relay or "
                                             "address (now %s)",
                                             r.node_id, n.last.name, AddressText(d.from)));
        break;
      case NodeChange::kMeasured:
        break;  // every announcement: `peers` shows the figures
      default:
        Log(LogLevel::kInfo, absl::StrFormat("mesh: node %s is now %s, version %s", r.node_id,
                                             n.last.name, n.last.version));
        break;
    }
  }
  if (!changed) return;
  UpdateRemotePaths();
  UpdateRelaying();
}

void MeshDiscovery::OnInterval() {
  const NodeTable::Expired gone = table_.Expire();
  for (const MeshNode& n : gone.nodes) {
    joined_ms_.erase(n.last.node_id);
    relay_unsupported_.erase(n.last.node_id);
    Log(LogLevel::kWarning,
        absl::StrFormat("mesh: node %s (%s) at %s not heard for %.3g s: removed",
                        n.last.node_id, n.last.name, AddressText(n.PreferredAddress()),
                        settings_.discovery.node_timeout_s));
  }
  for (const auto& [id, address] : gone.addresses) {
    Log(LogLevel::kWarning,
        absl::StrFormat("mesh: node %s not heard from %s for %.3g s: address forgotten (still "
                        "heard over the other family)",
                        id, AddressText(address), settings_.discovery.node_timeout_s));
  }
  if (!gone.nodes.empty() || !gone.addresses.empty()) UpdateRemotePaths();
  UpdateRelaying();
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
  a.uplinks = LocalUplinks(settings_, hooks_.report, [](const std::string& ifname) {
    absl::StatusOr<UplinkType> type = DetectUplinkType(kSysfsNet, ifname);
    return type.ok() ? *type : UplinkType::kOther;  // gone: its loss says the rest
  });
  a.relay =
      AnnouncedRelay(settings_, hooks_.share_remaining ? hooks_.share_remaining() : std::nullopt);
  a.bond = AnnouncedBond(settings_);
  // One frame per family: the family it goes over is under the tag.
  a.sent_over = AF_INET;
  absl::StatusOr<std::vector<uint8_t>> ipv4_frame =
      EncodeAnnouncement(a, settings_.discovery.mesh_key);
  a.sent_over = AF_INET6;
  absl::StatusOr<std::vector<uint8_t>> ipv6_frame =
      EncodeAnnouncement(a, settings_.discovery.mesh_key);
  if (!ipv4_frame.ok() || !ipv6_frame.ok()) {
    // Only an uplink name outside the announced alphabet gets here (the
    // rest is checked at config load): a bug to report, once per interval.
    ++send_errors_;
    Log(LogLevel::kError,
        absl::StrCat("mesh: cannot announce: ",
                     (ipv4_frame.ok() ? ipv6_frame.status() : ipv4_frame.status()).message()));
    return;
  }
  for (Interface& i : interfaces_) {
    const std::string announcing = AnnounceOn(i, *ipv4_frame, *ipv6_frame);
    if (announcing == i.announcing) continue;
    const bool failing = absl::StartsWith(announcing, "cannot");
    Log(failing ? LogLevel::kWarning : LogLevel::kInfo,
        absl::StrCat("mesh: ", failing ? "" : "announcing ", announcing, " on ", i.name));
    i.announcing = announcing;
  }
}

std::string MeshDiscovery::AnnounceOn(Interface& i, const std::vector<uint8_t>& ipv4_frame,
                                      const std::vector<uint8_t>& ipv6_frame) {
  FollowRecreatedDevice(i);
  absl::StatusOr<InterfaceFamilies> families = AnnounceableFamilies(i.name);
  if (!families.ok()) {
    ++send_errors_;
    return absl::StrCat("cannot announce: ", families.status().message());
  }
  // A family the interface has no address of is no failure: an IPv6-only
  // LAN announces over IPv6 alone, an IPv4 one with IPv6 disabled over IPv4.
  std::vector<std::string> sent, failed;
  auto count = [&](const absl::Status& s, absl::string_view family) {
    if (s.ok()) {
      ++announcements_sent_;
      sent.emplace_back(family);
    } else {
      ++send_errors_;
      failed.push_back(absl::StrCat(family, ": ", s.message()));
    }
  };
  if (families->ipv4_broadcast) {
    count(i.socket->Send(*families->ipv4_broadcast, ipv4_frame), "IPv4");
  }
  if (families->ipv6 && i.ipv6_socket) {
    absl::Status s = i.ipv6_socket->JoinGroup();
    if (s.ok()) s = i.ipv6_socket->SendToGroup(ipv6_frame);
    count(s, "IPv6");
  }
  if (!failed.empty()) return absl::StrCat("cannot announce over ", absl::StrJoin(failed, "; "));
  if (sent.empty()) return "cannot announce: no IPv4 or IPv6 address";
  if (sent.size() == 2) return "over IPv4 and IPv6";
  return absl::StrCat("over ", sent[0], " only (no ",
                      sent[0] == "IPv4" ? (i.ipv6_socket ? "IPv6 address" : "IPv6 on this host")
                                        : "IPv4 address",
                      ")");
}

void MeshDiscovery::FollowRecreatedDevice(Interface& i) {
  const int now = static_cast<int>(if_nametoindex(i.name.c_str()));
  if (now == 0 || now == i.ifindex) return;
  std::vector<std::string> failed;
  for (DiscoverySocket* socket : {i.socket.get(), i.ipv6_socket.get()}) {
    if (socket == nullptr) continue;
    if (absl::Status s = socket->FollowDevice(i.name, now); !s.ok()) {
      failed.emplace_back(s.message());
    }
  }
  if (SharesUplinks(settings_) && hooks_.attach_lan) {
    if (absl::Status s = hooks_.attach_lan(now); !s.ok()) failed.emplace_back(s.message());
  }
  Log(failed.empty() ? LogLevel::kInfo : LogLevel::kWarning,
      absl::StrFormat("mesh: %s was created again (ifindex %d -> %d): %s it%s",
                      i.name, i.ifindex, now,
                      SharesUplinks(settings_) ? "discovery and relaying follow" : "discovery follows",
                      failed.empty() ? "" : absl::StrCat(", but: ", absl::StrJoin(failed, "; "))));
  i.ifindex = now;
}

std::string MeshDiscovery::InterfaceName(int ifindex) const {
  for (const Interface& i : interfaces_) {
    if (i.ifindex == ifindex) return i.name;
  }
  return absl::StrCat("interface ", ifindex);
}

std::string MeshDiscovery::AddressText(const ScopedAddress& address) const {
  const std::string numeric = ScopedAddressText(address);
  // Link-local: the zone as a name, "fe80::2%lan0", as ping and ssh take it.
  const size_t zone = numeric.find('%');
  if (zone == std::string::npos) return numeric;
  for (const Interface& i : interfaces_) {
    if (i.ifindex == address.ifindex) return absl::StrCat(numeric.substr(0, zone + 1), i.name);
  }
  return numeric;
}

void MeshDiscovery::UpdateRemotePaths() {
  std::vector<RemotePath> now = RemotePaths(table_, RelayedOverIpv6(settings_));
  const PathSetDiff diff = DiffPaths(remote_paths_, now);
  for (const RemotePath& p : diff.added) {
    Log(LogLevel::kInfo, absl::StrCat("mesh: candidate relayed path ", RemotePathName(p), " added"));
  }
  for (const RemotePath& p : diff.changed) {
    const auto was = std::find_if(remote_paths_.begin(), remote_paths_.end(), [&](const RemotePath& r) {
      return r.node_id == p.node_id && r.uplink.name == p.uplink.name;
    });
    if (was != remote_paths_.end() && SameButMeasurements(*was, p)) continue;
    Log(LogLevel::kInfo,
        absl::StrCat("mesh: candidate relayed path ", RemotePathName(p), " changed"));
  }
  for (const RemotePath& p : diff.removed) {
    Log(LogLevel::kWarning,
        absl::StrCat("mesh: candidate relayed path ", RemotePathName(p), " withdrawn"));
  }
  remote_paths_ = std::move(now);
  for (const auto& [id, node] : table_.nodes()) {
    std::optional<std::string> reason = RelayUnsupportedReason(node);
    auto logged = relay_unsupported_.find(id);
    if (!reason) {
      if (logged != relay_unsupported_.end()) {
        Log(LogLevel::kInfo, absl::StrFormat("mesh: node %s (%s): relaying possible again", id,
                                             node.last.name));
        relay_unsupported_.erase(logged);
      }
      continue;
    }
    if (logged != relay_unsupported_.end() && logged->second == *reason) continue;
    Log(LogLevel::kInfo,
        absl::StrFormat("mesh: node %s (%s) at %s: no relaying with it: %s", id, node.last.name,
                        AddressText(node.PreferredAddress()), *reason));
    relay_unsupported_[id] = *reason;
  }
}

void MeshDiscovery::UpdateRelaying() {
  if (SharesUplinks(settings_)) ServeRelays();
  if (AnnouncedBond(settings_)) FillRelayedPaths();
}

void MeshDiscovery::ServeRelays() {
  std::vector<PlannedRelay> next = PlanRelays(settings_, table_.nodes(), relays_, hooks_.lan_of);
  const std::vector<std::string> changes = RelayPlanChanges(relays_, next);
  if (changes.empty()) return;
  if (hooks_.relay_maps) {
    // Before the new relays go in: what a reused slot counted is not theirs.
    absl::StatusOr<RelayCounterTable> counters = hooks_.relay_maps->ReadCounters();
    std::map<uint32_t, mb_relay> slots;
    for (const PlannedRelay& r : next) slots[r.slot] = r.relay;
    absl::Status s = counters.ok() ? hooks_.relay_maps->Sync(slots) : counters.status();
    if (!s.ok()) {
      // relays_ stays as it was: the next interval tries again.
      Log(LogLevel::kError, absl::StrCat("mesh: cannot update the relays: ", s.message()));
      return;
    }
    std::map<uint32_t, mb_relay_counters> baseline;
    for (const PlannedRelay& r : next) {
      auto kept = std::find_if(relays_.begin(), relays_.end(), [&](const PlannedRelay& x) {
        return x.slot == r.slot && x.origin_id == r.origin_id && x.uplink_path == r.uplink_path;
      });
      baseline[r.slot] = kept != relays_.end() ? relay_baseline_[r.slot] : (*counters)[r.slot];
    }
    relay_baseline_ = std::move(baseline);
  }
  for (const std::string& line : changes) Log(LogLevel::kInfo, absl::StrCat("mesh: ", line));
  relays_ = std::move(next);
}

void MeshDiscovery::FillRelayedPaths() {
  std::vector<std::optional<RelayAssignment>> next =
      AssignRelayPaths(settings_, RemotePaths(table_, RelayedOverIpv6(settings_)), assignments_);
  next.resize(settings_.paths.size());
  for (size_t i = 0; i < next.size(); ++i) {
    if (next[i] == assignments_[i]) continue;
    const std::string& name = settings_.paths[i].name;
    if (next[i]) {
      Log(LogLevel::kInfo,
          absl::StrFormat("path %s: now through %s/%s (%s)", name, next[i]->node_name,
                          next[i]->uplink, IpPortText(next[i]->address, next[i]->relay_port)));
    } else {
      Log(LogLevel::kWarning, absl::StrFormat("path %s: withdrawn (was through %s/%s)", name,
                                              assignments_[i]->node_name, assignments_[i]->uplink));
    }
    assignments_[i] = next[i];
    if (hooks_.on_relayed_path) hooks_.on_relayed_path(i, next[i]);
  }
}

std::optional<std::string> MeshDiscovery::RelayUnavailable(size_t path) const {
  if (path >= settings_.paths.size() || assignments_[path]) return std::nullopt;
  const PathSettings& p = settings_.paths[path];
  if (p.endpoint != PathEndpoint::kRelay) return std::nullopt;
  // A neighbour that offers the path an uplink may still not fill it: only
  // in our bonding peer's family, which a relay keeps, and only on the
  // path's LAN.
  const bool v6 = RelayedOverIpv6(settings_);
  const char* family = v6 ? "IPv6" : "IPv4";
  std::vector<std::string> why;
  for (const auto& [id, node] : table_.nodes()) {
    if (!node.last.relay) continue;
    std::vector<std::string> offered;
    bool relays_family = false;
    for (const AnnouncedUplink& u : node.last.uplinks) {
      if (!u.shared || !RelayFilterAllows(p.relay, id, node.last.name, u.name)) continue;
      offered.push_back(u.name);
      relays_family |= u.Relays(v6);
    }
    if (offered.empty()) continue;
    const std::string who =
        absl::StrCat(node.last.name, " (", AddressText(node.PreferredAddress()), ")");
    const std::optional<ScopedAddress> at = node.RelayAddress(v6);
    if (!at) {
      why.push_back(absl::StrCat(who, ": not heard over ", family));
    } else if (!relays_family) {
      why.push_back(absl::StrCat(who, ": its shared uplinks (", absl::StrJoin(offered, ", "),
                                 ") have no ", family, " path"));
    } else if (at->ifindex != 0 && at->ifindex != p.ifindex) {
      why.push_back(absl::StrCat(who, ": heard on ", InterfaceName(at->ifindex), ", not on ",
                                 p.interface));
    }
  }
  if (why.empty()) return std::nullopt;
  return absl::StrCat("a relayed path takes the bonding peer's family (", family, "): ",
                      absl::StrJoin(why, "; "));
}

RelayingEntry MeshDiscovery::Relaying() const {
  const std::optional<uint64_t> share_left =
      hooks_.share_remaining ? hooks_.share_remaining() : std::nullopt;
  std::optional<RelayCounterTable> counters;
  if (hooks_.relay_maps) {
    absl::StatusOr<RelayCounterTable> read = hooks_.relay_maps->ReadCounters();
    if (read.ok()) counters = *read;
  }
  RelayingEntry relaying;
  for (const PlannedRelay& r : relays_) {
    ServedRelay& relay = relaying.relays.emplace_back();
    relay.origin_id = r.origin_id;
    relay.origin_name = r.origin_name;
    relay.origin = IpPortText(RelayAddressOf(r.relay, r.relay.origin_ip), r.relay.origin_port);
    relay.uplink = r.uplink_path;
    relay.slot = r.slot;
    relay.relay_port = r.relay.relay_port;
    relay.return_port = r.relay.return_port;
    relay.peer = IpPortText(RelayAddressOf(r.relay, r.relay.peer_ip), r.relay.peer_port);
    if (counters) {
      // Since this relay took its slot.
      const mb_relay_counters& now = (*counters)[r.slot];
      auto base = relay_baseline_.find(r.slot);
      const mb_relay_counters zero{};
      const mb_relay_counters& from = base == relay_baseline_.end() ? zero : base->second;
      RelayCounts& counts = relay.counts.emplace();
      counts.fwd_packets = now.fwd_packets - from.fwd_packets;
      counts.fwd_bytes = now.fwd_bytes - from.fwd_bytes;
      counts.ret_packets = now.ret_packets - from.ret_packets;
      counts.ret_bytes = now.ret_bytes - from.ret_bytes;
      for (int d = 0; d < MB_RELAY_DROP_REASONS; ++d) {
        counts.drops[std::string(RelayDropReasonName(d))] = now.drops[d] - from.drops[d];
      }
    }
  }
  const std::optional<RelayCapability> capability = AnnouncedRelay(settings_, share_left);
  relaying.sharing = capability.has_value();
  if (capability) {
    relaying.relay_port = capability->relay_port;
    relaying.max_relay_kbps = capability->max_relay_kbps;
  }
  relaying.share_remaining_bytes = share_left;
  return relaying;
}

PeersReply MeshDiscovery::Peers() const {
  const auto now = std::chrono::steady_clock::now();
  PeersReply peers;
  for (const auto& [id, n] : table_.nodes()) {
    PeerNodeEntry& node = peers.nodes.emplace_back();
    node.id = id;
    node.name = n.last.name;
    node.address = AddressText(n.PreferredAddress());
    for (const std::optional<HeardFrom>* heard : {&n.ipv4, &n.ipv6}) {
      if (!*heard) continue;
      PeerAddressEntry& address = node.addresses.emplace_back();
      address.family = (*heard)->from.address.is_v6() ? "ipv6" : "ipv4";
      address.address = AddressText((*heard)->from);
      address.interface = InterfaceName((*heard)->from.ifindex);
      address.age_s = std::chrono::duration<double>(now - (*heard)->at).count();
    }
    node.relay_unsupported = RelayUnsupportedReason(n);
    node.version = n.last.version;
    node.epoch = n.last.epoch;
    node.seq = n.last.seq;
    node.age_s = std::chrono::duration<double>(now - n.last_heard).count();
    if (auto joined = joined_ms_.find(id); joined != joined_ms_.end()) {
      node.joined_unix_ms = joined->second;
    }
    for (const AnnouncedUplink& u : n.last.uplinks) node.uplinks.push_back(UplinkEntry(u));
    if (n.last.relay) {
      node.relay = PeerRelayEntry{n.last.relay->relay_port, n.last.relay->max_relay_kbps,
                                  n.last.relay->share_remaining_bytes};
    }
    if (n.last.bond) {
      node.bond = PeerBondEntry{
          IpPortText(n.last.bond->peer_address, n.last.bond->peer_port),
          n.last.bond->tunnel_port};
    }
    for (size_t i = 0; i < assignments_.size(); ++i) {
      if (assignments_[i] && assignments_[i]->node_id == id) {
        node.our_paths.push_back(settings_.paths[i].name);
      }
    }
  }
  for (const RemotePath& p : remote_paths_) {
    CandidateRelayedPath& candidate = peers.candidate_relayed_paths.emplace_back();
    candidate.node_id = p.node_id;
    candidate.node_name = p.node_name;
    candidate.address = AddressText(p.node_address);
    candidate.relay_port = p.relay_port;
    candidate.max_relay_kbps = p.max_relay_kbps;
    candidate.uplink = UplinkEntry(p.uplink);
    for (size_t i = 0; i < assignments_.size(); ++i) {
      if (assignments_[i] && assignments_[i]->node_id == p.node_id &&
          assignments_[i]->uplink == p.uplink.name) {
        candidate.fills_path = settings_.paths[i].name;
      }
    }
  }
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const auto reason = static_cast<DropReason>(i);
    // Keys for scripts: "authentication failed" -> "authentication_failed".
    peers.drops[absl::StrReplaceAll(DropReasonName(reason), {{" ", "_"}})] = drops_.count(reason);
  }
  peers.drops_total = drops_.total();
  const DiscoverySettings& d = settings_.discovery;
  peers.node = {node_id_,
                d.node_name,
                kAgentVersion,
                epoch_,
                d.interfaces,
                d.port,
                d.broadcast_interval_s,
                d.node_timeout_s,
                announcements_sent_,
                send_errors_};
  peers.relaying = Relaying();
  return peers;
}

}  // namespace meshbpf
