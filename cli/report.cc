#include "cli/report.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <signal.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/core/net_format.h"
#include "cli/stats_view.h"

namespace meshbpf {
namespace {

std::string IfName(uint32_t ifindex) {
  char name[IF_NAMESIZE];
  if (ifindex != 0 && if_indextoname(ifindex, name)) return name;
  return absl::StrCat("if", ifindex);
}

std::string ModeName(uint8_t mode) {
  static constexpr std::string_view kNames[] = {"load_balance", "flow", "redundant",
                                                "active_backup", "latency"};
  return mode < std::size(kNames) ? std::string(kNames[mode]) : absl::StrCat("mode", mode);
}

std::string CapPolicyName(uint32_t policy) {
  switch (policy) {
    case MB_CAP_STOP:
      return "stop";
    case MB_CAP_LAST_RESORT:
      return "last_resort_backup";
  }
  return absl::StrCat("policy", policy);
}

uint64_t TotalDrops(const mb_path_counters& c) {
  uint64_t total = 0;
  for (uint64_t d : c.drops) total += d;
  return total;
}

nlohmann::json DropsJson(const mb_path_counters& c) {
  nlohmann::json drops = nlohmann::json::object();
  for (int r = 0; r < MB_DROP_REASONS; ++r) drops[std::string(DropReasonName(r))] = c.drops[r];
  return drops;
}

// "unknown_source=3 truncated=1", only the non-zero ones.
std::string NonZeroDrops(const mb_path_counters& c) {
  std::string out;
  for (int r = 0; r < MB_DROP_REASONS; ++r) {
    if (c.drops[r]) absl::StrAppend(&out, out.empty() ? "" : " ", std::string(DropReasonName(r)), "=", c.drops[r]);
  }
  return out;
}

bool PathUsed(const mb_path& p) { return p.ifindex != 0; }

// "" when the routing table picks the next hop.
std::string OuterGatewayText(const mb_path& p) {
  const IpAddress gateway = OuterAddress(p, p.gateway, p.gateway6);
  return gateway.IsUnspecified() ? "" : IpText(gateway);
}

// "learn", "ipv6", "learn,ipv6" or "-".
std::string PathFlagsText(const mb_path& p) {
  std::vector<std::string> flags;
  if (p.flags & MB_PATH_F_LEARN) flags.push_back("learn");
  if (p.flags & MB_PATH_F_IPV6) flags.push_back("ipv6");
  return flags.empty() ? "-" : absl::StrJoin(flags, ",");
}

nlohmann::json PathJson(uint32_t id, const mb_path& p, const mb_path_counters& c) {
  return {
      {"id", id},
      {"interface", IfName(p.ifindex)},
      {"ifindex", p.ifindex},
      {"state", PathStateName(p.state)},
      {"source", IpText(OuterAddress(p, p.src_ip, p.src_ip6))},
      {"source_port", p.src_port},
      {"remote", IpText(OuterAddress(p, p.dst_ip, p.dst_ip6))},
      {"remote_port", p.dst_port},
      {"gateway", OuterGatewayText(p)},
      {"mtu", p.mtu},
      {"rate_kbps", p.rate_kbps},
      {"owd_us", p.owd_us},
      {"tx_packets", c.tx_packets},
      {"tx_bytes", c.tx_bytes},
      {"rx_packets", c.rx_packets},
      {"rx_bytes", c.rx_bytes},
      {"drops", DropsJson(c)},
  };
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", v, units[u]);
}

bool RelayCountersZero(const mb_relay_counters& c) {
  uint64_t any = c.fwd_packets | c.ret_packets;
  for (uint64_t d : c.drops) any |= d;
  return any == 0;
}

// Relay slots worth listing: in use, or with counts left from an earlier relay.
std::vector<uint32_t> ListedRelaySlots(const InstanceSnapshot& s) {
  std::vector<uint32_t> slots;
  for (uint32_t i = 0; i < MB_MAX_RELAYS; ++i) {
    if (s.relays.count(i) || !RelayCountersZero(s.relay_counters[i])) slots.push_back(i);
  }
  return slots;
}

std::string BudgetSlotName(uint32_t id) {
  return id == MB_RELAY_BUDGET ? std::string("relay_share") : std::to_string(id);
}

}  // namespace

absl::StatusOr<InstanceSnapshot> TakeSnapshot(const MapSet& maps, const std::string& pin_dir) {
  InstanceSnapshot s;
  s.pin_dir = pin_dir;
  absl::StatusOr<mb_config> config = maps.ReadConfig();
  if (!config.ok()) return config.status();
  s.config = *config;
  absl::StatusOr<PathTable> paths = maps.ReadPaths();
  if (!paths.ok()) return paths.status();
  s.paths = *paths;
  absl::StatusOr<CounterTable> counters = maps.ReadCounters();
  if (!counters.ok()) return counters.status();
  s.counters = *counters;
  absl::StatusOr<std::set<IpAddress>> peers = maps.ReadPeers();
  if (!peers.ok()) return peers.status();
  s.peers = *peers;
  absl::StatusOr<std::unique_ptr<PinnedBudgetMap>> budgets = PinnedBudgetMap::Open(pin_dir);
  if (!budgets.ok()) return budgets.status();
  for (uint32_t i = 0; i < MB_BUDGET_SLOTS; ++i) {
    absl::StatusOr<mb_budget> b = (*budgets)->Read(i);
    if (!b.ok()) return b.status();
    s.budgets[i] = *b;
  }
  absl::StatusOr<std::unique_ptr<RelayMaps>> relay_maps = RelayMaps::OpenPinned(pin_dir);
  if (!relay_maps.ok()) return relay_maps.status();
  absl::StatusOr<std::map<uint32_t, mb_relay>> relays = (*relay_maps)->Read();
  if (!relays.ok()) return relays.status();
  s.relays = *relays;
  absl::StatusOr<RelayCounterTable> relay_counters = (*relay_maps)->ReadCounters();
  if (!relay_counters.ok()) return relay_counters.status();
  s.relay_counters = *relay_counters;
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    absl::StatusOr<mb_learned_source> learned = (*relay_maps)->ReadLearned(i);
    if (!learned.ok()) return learned.status();
    s.learned[i] = *learned;
  }
  // Not fatal: the rest of the status is still worth showing without it.
  absl::StatusOr<std::unique_ptr<ResequencerMaps>> resequencer =
      ResequencerMaps::OpenPinned(pin_dir);
  s.resequencing = resequencer.ok() ? (*resequencer)->Read() : resequencer.status();
  absl::StatusOr<std::unique_ptr<LivenessMaps>> liveness = LivenessMaps::OpenPinned(pin_dir);
  s.unattended_skips = liveness.ok() ? (*liveness)->ReadSkips() : liveness.status();
  s.agent_alive = s.config.configured && s.config.agent_pid != 0 &&
                  (kill(static_cast<pid_t>(s.config.agent_pid), 0) == 0 || errno == EPERM);
  return s;
}

nlohmann::json StatusJson(const InstanceSnapshot& s) {
  nlohmann::json paths = nlohmann::json::array();
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    if (!PathUsed(s.paths[i])) continue;
    paths.push_back(PathJson(i, s.paths[i], s.counters[i]));
    paths.back()["unattended_skips"] = s.unattended_skips.ok()
                                           ? nlohmann::json((*s.unattended_skips)[i])
                                           : nlohmann::json(nullptr);
  }
  return {
      {"pin_dir", s.pin_dir},
      {"agent_running", s.agent_alive},
      {"agent_pid", s.config.agent_pid},
      {"configured", s.config.configured != 0},
      {"mode", ModeName(s.config.mode)},
      {"bond_interface", IfName(s.config.bond_ifindex)},
      {"port", s.config.listen_port},
      {"paths", paths},
      {"unattributed_drops", DropsJson(s.counters[MB_NO_PATH])},
      {"resequencing", s.resequencing.ok() ? ToJson(*s.resequencing) : nlohmann::json(nullptr)},
      {"resequencing_error",
       s.resequencing.ok() ? nlohmann::json(nullptr)
                           : nlohmann::json(std::string(s.resequencing.status().message()))},
      {"health", s.health ? ToJson(*s.health) : nlohmann::json(nullptr)},
      {"health_error", s.health_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.health_error)},
  };
}

namespace {

// Path health as the agent sees it, and its recent transitions.
std::string HealthTable(const StatusReply& health) {
  std::string out = absl::StrFormat("\n%-10s %-9s %-5s %8s %8s %8s %7s %7s %22s %6s\n", "PATH",
                                    "HEALTH", "LINK", "RTT ms", "MIN ms", "JITTER", "LOSS",
                                    "PROBES", "WEIGHT/CAPACITY/RATE", "DOWNS");
  auto ms = [](const PathStatusEntry& p, double PathRtt::*field) {
    return p.rtt ? absl::StrFormat("%.2f", (*p.rtt).*field) : std::string("-");
  };
  for (const PathStatusEntry& p : health.paths) {
    std::string name = p.name;
    if (p.held_out) name += " (held)";
    if (p.moved_in) name += " (moved)";
    absl::StrAppendFormat(
        &out, "%-10s %-9s %-5s %8s %8s %8s %6.1f%% %6.1f%% %22s %6u\n", name, p.health,
        p.link_up ? "up" : "down", ms(p, &PathRtt::rtt_ms), ms(p, &PathRtt::min_rtt_ms),
        ms(p, &PathRtt::jitter_ms), 100 * p.loss, 100 * p.probe_loss,
        absl::StrFormat("%.1f / %.1f / %.1f", p.weight_mbit, p.capacity_mbit, p.configured_mbit),
        p.down_count);
  }
  for (const PathStatusEntry& p : health.paths) {
    if (p.relayed()) {
      const std::optional<RelayInfo>& r = p.relay;
      absl::StrAppend(&out, "  path ", p.name,
                      !r ? absl::StrCat(": relayed, no neighbour's uplink fills it now",
                                        p.relay_unavailable
                                            ? absl::StrCat(" (", *p.relay_unavailable, ")")
                                            : std::string(),
                                        "\n")
                         : absl::StrFormat(": via %s/%s (%s)\n", r->node, r->uplink,
                                           AddressPortText(r->address, r->port)));
    }
    if (p.mtu != 0 && p.mtu < p.uplink_mtu) {
      absl::StrAppend(&out, "  path ", p.name,
                      absl::StrFormat(": carries packets of at most %u bytes (its uplink %u): a "
                                      "smaller hop behind it; larger packets take other paths\n",
                                      p.mtu, p.uplink_mtu));
    }
    if (p.bulk_excluded) {
      absl::StrAppend(&out, "  path ", p.name, ": out of bonded bulk traffic (floor guard): ",
                      p.guard_reason.value_or("reason not known"), "\n");
    }
    if (p.learned()) {
      absl::StrAppend(&out, "  path ", p.name,
                      !p.remote ? ": far end not learned yet (no probe from the client)\n"
                                : absl::StrCat(": far end learned: ", *p.remote, "\n"));
    }
  }
  if (!health.probing) {
    absl::StrAppend(&out, "  not probing (no peer_bond_address): only link events change health\n");
  }
  for (const CapEntry& c : health.caps) {
    absl::StrAppendFormat(&out, "  data cap %s: %s of %s (%.0f%%)%s\n", c.path,
                          HumanBytes(c.used_bytes), HumanBytes(c.limit_bytes), c.used_percent,
                          c.exhausted ? absl::StrCat(", spent: ", c.when_exhausted)
                                      : std::string());
  }
  if (health.nodes) {
    absl::StrAppendFormat(&out, "  mesh: %u other nodes known (meshbpf peers)\n", *health.nodes);
  }
  if (health.authentication) {
    const SessionReport& a = *health.authentication;
    absl::StrAppendFormat(
        &out, "  authentication%s: %s, %u handshakes, %u handshake messages refused%s\n",
        a.encrypted ? " and encryption" : "",
        a.established ? absl::StrFormat("session %08x, %.0f s old", a.send_epoch, a.session_age_s)
        : a.handshake_pending ? std::string("no session yet: handshake under way")
                              : std::string("no session yet: waiting for the peer's first packet"),
        a.handshakes, a.handshake_errors,
        a.last_error.empty() ? std::string() : absl::StrCat(" (last: ", a.last_error, ")"));
  }
  if (health.loss_repair) {
    const LossRepairReport& r = *health.loss_repair;
    absl::StrAppendFormat(&out,
                          "  loss repair: %s%slost packets wait %u ms, %u requests for them "
                          "sent, %u copies sent again for the peer (%u gone, %u refused)%s%s\n",
                          r.peer_repairs ? ""
                                         : "the peer does not answer repair requests (its "
                                           "link_aggregation.loss_repair is off, or no probe "
                                           "reply yet), ",
                          r.resting ? "resting (losses like congestion's), " : "",
                          r.wait_us / 1000,
                          r.requests_sent, r.repairs_sent, r.copies_missing, r.repairs_refused,
                          r.rests ? absl::StrFormat("; rested %u times", r.rests) : "",
                          r.keeps_copies ? "; copies kept (the peer asks)" : "");
  }
  if (health.routing) {
    const RoutingReport& r = *health.routing;
    absl::StrAppendFormat(&out, "  routing (table %u, pref %u)%s%s:\n", r.table, r.priority,
                          r.reinstalls ? absl::StrFormat(", put back %u times", r.reinstalls) : "",
                          r.read_error ? absl::StrCat(", not checked: ", *r.read_error) : "");
    for (const RoutingEntry& e : r.entries) {
      absl::StrAppend(&out, "    ", e.what, e.in_kernel ? "" : "  (missing from the kernel)", "\n");
    }
  }
  const std::vector<TransitionEntry>& transitions = health.transitions;
  if (!transitions.empty()) absl::StrAppend(&out, "recent transitions:\n");
  const size_t shown = std::min<size_t>(transitions.size(), 10);
  for (size_t i = transitions.size() - shown; i < transitions.size(); ++i) {
    const TransitionEntry& t = transitions[i];
    absl::StrAppendFormat(&out, "  %s %s: %s -> %s (%s)\n", t.time, t.path, t.from, t.to,
                          t.reason);
  }
  const std::vector<GuardDecisionEntry>& decisions = health.guard_decisions;
  if (!decisions.empty()) absl::StrAppend(&out, "floor guard decisions:\n");
  for (size_t i = decisions.size() - std::min<size_t>(decisions.size(), 10); i < decisions.size();
       ++i) {
    const GuardDecisionEntry& d = decisions[i];
    absl::StrAppendFormat(&out, "  %s %s: %s bulk (%s: %s)\n", d.time, d.path,
                          d.excluded ? "out of" : "back in", d.reason, d.detail);
  }
  return out;
}

}  // namespace

std::string StatusTable(const InstanceSnapshot& s) {
  std::string out = absl::StrFormat(
      "meshbpf at %s\n  agent: %s   mode: %s   bond: %s   port: %u\n\n", s.pin_dir,
      s.agent_alive ? absl::StrCat("running (pid ", s.config.agent_pid, ")") : "not running",
      ModeName(s.config.mode), IfName(s.config.bond_ifindex), s.config.listen_port);
  absl::StrAppendFormat(&out, "%-4s %-10s %-8s %-22s %-22s %9s %10s %11s %10s %11s %7s\n", "PATH",
                        "UPLINK", "STATE", "SOURCE", "REMOTE", "RATE", "TX PKTS", "TX BYTES",
                        "RX PKTS", "RX BYTES", "DROPS");
  uint64_t tx_total = 0;
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) tx_total += s.counters[i].tx_packets;
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    const mb_path& p = s.paths[i];
    if (!PathUsed(p)) continue;
    const mb_path_counters& c = s.counters[i];
    absl::StrAppendFormat(
        &out, "%-4u %-10s %-8s %-22s %-22s %9s %10u %11s %10u %11s %7u\n", i, IfName(p.ifindex),
        PathStateName(p.state), IpPortText(OuterAddress(p, p.src_ip, p.src_ip6), p.src_port),
        IpPortText(OuterAddress(p, p.dst_ip, p.dst_ip6), p.dst_port),
        absl::StrFormat("%.1fM", p.rate_kbps / 1000.0), c.tx_packets, HumanBytes(c.tx_bytes),
        c.rx_packets, HumanBytes(c.rx_bytes), TotalDrops(c));
  }
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    if (PathUsed(s.paths[i]) && TotalDrops(s.counters[i])) {
      absl::StrAppendFormat(&out, "  path %u drops: %s\n", i, NonZeroDrops(s.counters[i]));
    }
  }
  if (s.unattended_skips.ok()) {
    for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
      if (PathUsed(s.paths[i]) && (*s.unattended_skips)[i]) {
        absl::StrAppendFormat(&out,
                              "  path %u: %u packets kept off while the agent was gone "
                              "(the path had gone silent)\n",
                              i, (*s.unattended_skips)[i]);
      }
    }
  }
  if (TotalDrops(s.counters[MB_NO_PATH])) {
    absl::StrAppendFormat(&out, "  drops not tied to a path: %s\n",
                          NonZeroDrops(s.counters[MB_NO_PATH]));
  }
  if (tx_total) {
    std::string shares;
    for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
      if (!PathUsed(s.paths[i])) continue;
      absl::StrAppendFormat(&shares, "%s path %u %.0f%%", shares.empty() ? "" : ",", i,
                            100.0 * s.counters[i].tx_packets / tx_total);
    }
    absl::StrAppend(&out, "  share of sent packets:", shares, "\n");
  }
  absl::StrAppend(&out, "\n", s.resequencing.ok()
                                  ? FormatResequencer(*s.resequencing)
                                  : absl::StrCat("resequencing: not shown: ",
                                                 s.resequencing.status().message(), "\n"));
  if (s.health) absl::StrAppend(&out, HealthTable(*s.health));
  if (!s.health_error.empty()) {
    absl::StrAppend(&out, "\nthe agent's view (health) is not shown: ", s.health_error,
                    " (an agent of another version? restart it with this one)\n");
  }
  return out;
}

nlohmann::json AgentStatusJson(const StatusReply& health, const std::string& maps_error) {
  return {{"agent_running", true}, {"maps_error", maps_error}, {"health", ToJson(health)}};
}

std::string AgentStatusTable(const StatusReply& health, const std::string& maps_error) {
  return absl::StrCat("meshbpf: the data path's maps are not shown (", maps_error,
                      "); the agent's view:\n", HealthTable(health));
}

nlohmann::json MapsJson(const InstanceSnapshot& s) {
  nlohmann::json config = {
      {"bond_ifindex", s.config.bond_ifindex},
      {"listen_port", s.config.listen_port},
      {"bond_mac", absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", s.config.bond_mac[0],
                                   s.config.bond_mac[1], s.config.bond_mac[2], s.config.bond_mac[3],
                                   s.config.bond_mac[4], s.config.bond_mac[5])},
      {"mode", s.config.mode},
      {"configured", s.config.configured},
      {"agent_pid", s.config.agent_pid},
      {"probe_port", s.config.probe_port},
      {"relay_port", s.config.relay_port},
      {"relay_max_kbps", s.config.relay_max_kbps},
      {"learn_paths", s.config.learn_paths},
      {"authenticate", s.config.authenticate}};
  nlohmann::json paths = nlohmann::json::array();
  nlohmann::json counters = nlohmann::json::array();
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    paths.push_back(PathJson(i, s.paths[i], s.counters[i]));
    paths.back()["flags"] = s.paths[i].flags;
  }
  for (uint32_t i = 0; i < MB_COUNTER_SLOTS; ++i) {
    const mb_path_counters& c = s.counters[i];
    counters.push_back({{"slot", i == MB_NO_PATH ? std::string("no_path") : std::to_string(i)},
                        {"tx_packets", c.tx_packets},
                        {"tx_bytes", c.tx_bytes},
                        {"rx_packets", c.rx_packets},
                        {"rx_bytes", c.rx_bytes},
                        {"drops", DropsJson(c)}});
  }
  nlohmann::json peers = nlohmann::json::array();
  for (const IpAddress& a : s.peers) peers.push_back(IpText(a));
  nlohmann::json budgets = nlohmann::json::array();
  for (uint32_t i = 0; i < MB_BUDGET_SLOTS; ++i) {
    const mb_budget& b = s.budgets[i];
    budgets.push_back({{"id", BudgetSlotName(i)},
                       {"limit_bytes", b.limit_bytes},
                       {"remaining_bytes", b.remaining_bytes},
                       {"policy", CapPolicyName(b.policy)}});
  }
  nlohmann::json relays = nlohmann::json::array();
  for (const auto& [slot, r] : s.relays) {
    relays.push_back({{"slot", slot},
                      {"family", (r.flags & MB_RELAY_F_IPV6) ? "ipv6" : "ipv4"},
                      {"origin", IpPortText(RelayAddressOf(r, r.origin_ip), r.origin_port)},
                      {"lan_address", IpText(RelayAddressOf(r, r.lan_ip))},
                      {"lan_interface", IfName(r.lan_ifindex)},
                      {"relay_port", r.relay_port},
                      {"peer", IpPortText(RelayAddressOf(r, r.peer_ip), r.peer_port)},
                      {"uplink_path", r.uplink_path},
                      {"return_port", r.return_port}});
  }
  nlohmann::json relay_counters = nlohmann::json::array();
  for (uint32_t slot : ListedRelaySlots(s)) {
    const mb_relay_counters& c = s.relay_counters[slot];
    nlohmann::json drops = nlohmann::json::object();
    for (int r = 0; r < MB_RELAY_DROP_REASONS; ++r) {
      drops[std::string(RelayDropReasonName(r))] = c.drops[r];
    }
    relay_counters.push_back({{"slot", slot},
                              {"fwd_packets", c.fwd_packets},
                              {"fwd_bytes", c.fwd_bytes},
                              {"ret_packets", c.ret_packets},
                              {"ret_bytes", c.ret_bytes},
                              {"drops", drops}});
  }
  nlohmann::json learned = nlohmann::json::array();
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    const mb_learned_source& l = s.learned[i];
    if (!l.saddr) continue;
    learned.push_back({{"path", i},
                       {"source", Ipv4PortText(l.saddr, l.sport)},
                       {"to", Ipv4Text(l.daddr)},
                       {"interface", IfName(l.ifindex)},
                       {"seen_ns", l.seen_ns}});
  }
  return {{"mb_config", config},
          {"mb_paths", paths},
          {"mb_counters", counters},
          {"mb_peers", peers},
          {"mb_budget", budgets},
          {"mb_relays", relays},
          {"mb_relay_counters", relay_counters},
          {"mb_learned", learned}};
}

std::string MapsText(const InstanceSnapshot& s) {
  const mb_config& c = s.config;
  std::string out = absl::StrFormat(
      "mb_config: bond_ifindex=%u (%s) listen_port=%u bond_mac=%02x:%02x:%02x:%02x:%02x:%02x "
      "mode=%s configured=%u agent_pid=%u probe_port=%u relay_port=%u relay_max_kbps=%u "
      "learn_paths=%u authenticate=%u\n\n",
      c.bond_ifindex, IfName(c.bond_ifindex), c.listen_port, c.bond_mac[0], c.bond_mac[1],
      c.bond_mac[2], c.bond_mac[3], c.bond_mac[4], c.bond_mac[5], ModeName(c.mode), c.configured,
      c.agent_pid, c.probe_port, c.relay_port, c.relay_max_kbps, c.learn_paths, c.authenticate);
  absl::StrAppendFormat(&out,
                        "mb_paths:\n%-4s %-8s %-9s %-16s %-16s %-16s %6s %6s %6s %9s %8s %5s\n",
                        "ID", "IFINDEX", "STATE", "SOURCE", "REMOTE", "GATEWAY", "SPORT", "DPORT",
                        "MTU", "RATE_KBPS", "OWD_US", "FLAGS");
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    const mb_path& p = s.paths[i];
    absl::StrAppendFormat(&out, "%-4u %-8u %-9s %-16s %-16s %-16s %6u %6u %6u %9u %8u %5s\n", i,
                          p.ifindex, PathStateName(p.state),
                          IpText(OuterAddress(p, p.src_ip, p.src_ip6)),
                          IpText(OuterAddress(p, p.dst_ip, p.dst_ip6)), OuterGatewayText(p),
                          p.src_port, p.dst_port, p.mtu, p.rate_kbps, p.owd_us, PathFlagsText(p));
  }
  absl::StrAppend(&out, "\nmb_counters (summed over CPUs):\n");
  std::string header = absl::StrFormat("%-8s %10s %12s %10s %12s", "SLOT", "TX_PKTS", "TX_BYTES",
                                       "RX_PKTS", "RX_BYTES");
  for (int r = 0; r < MB_DROP_REASONS; ++r) absl::StrAppend(&header, " ", std::string(DropReasonName(r)));
  absl::StrAppend(&out, header, "\n");
  for (uint32_t i = 0; i < MB_COUNTER_SLOTS; ++i) {
    const mb_path_counters& k = s.counters[i];
    absl::StrAppendFormat(&out, "%-8s %10u %12u %10u %12u",
                          i == MB_NO_PATH ? std::string("no_path") : std::to_string(i),
                          k.tx_packets, k.tx_bytes, k.rx_packets, k.rx_bytes);
    for (int r = 0; r < MB_DROP_REASONS; ++r) {
      absl::StrAppendFormat(&out, " %*u", static_cast<int>(DropReasonName(r).size()), k.drops[r]);
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "\nmb_peers (allowed sources):");
  for (const IpAddress& a : s.peers) absl::StrAppend(&out, " ", IpText(a));
  absl::StrAppend(&out, s.peers.empty() ? " (none)\n" : "\n");
  absl::StrAppendFormat(&out, "\nmb_budget (data caps; limit 0: none):\n%-4s %14s %14s %s\n", "ID",
                        "LIMIT_BYTES", "REMAINING", "POLICY");
  for (uint32_t i = 0; i < MB_BUDGET_SLOTS; ++i) {
    const mb_budget& b = s.budgets[i];
    absl::StrAppendFormat(&out, "%-4s %14u %14d %s\n", BudgetSlotName(i), b.limit_bytes,
                          b.remaining_bytes, CapPolicyName(b.policy));
  }
  absl::StrAppend(&out, "\nmb_relays (relays served):", s.relays.empty() ? " (none)\n" : "\n");
  if (!s.relays.empty()) {
    absl::StrAppendFormat(&out, "%-4s %-30s %-26s %-10s %6s %-30s %6s %7s\n", "SLOT", "ORIGIN",
                          "LAN_ADDRESS", "LAN_IF", "PORT", "PEER", "UPLINK", "RETURN");
  }
  for (const auto& [slot, r] : s.relays) {
    absl::StrAppendFormat(
        &out, "%-4u %-30s %-26s %-10s %6u %-30s %6u %7u\n", slot,
        IpPortText(RelayAddressOf(r, r.origin_ip), r.origin_port),
        IpText(RelayAddressOf(r, r.lan_ip)), IfName(r.lan_ifindex), r.relay_port,
        IpPortText(RelayAddressOf(r, r.peer_ip), r.peer_port), r.uplink_path, r.return_port);
  }
  const std::vector<uint32_t> counted = ListedRelaySlots(s);
  absl::StrAppend(&out, "\nmb_relay_counters (summed over CPUs; bytes of outer IP):",
                  counted.empty() ? " (none)\n" : "\n");
  if (!counted.empty()) {
    std::string relay_header = absl::StrFormat("%-4s %10s %12s %10s %12s", "SLOT", "FWD_PKTS",
                                               "FWD_BYTES", "RET_PKTS", "RET_BYTES");
    for (int r = 0; r < MB_RELAY_DROP_REASONS; ++r) {
      absl::StrAppend(&relay_header, " ", std::string(RelayDropReasonName(r)));
    }
    absl::StrAppend(&out, relay_header, "\n");
  }
  for (uint32_t slot : counted) {
    const mb_relay_counters& k = s.relay_counters[slot];
    absl::StrAppendFormat(&out, "%-4u %10u %12u %10u %12u", slot, k.fwd_packets, k.fwd_bytes,
                          k.ret_packets, k.ret_bytes);
    for (int r = 0; r < MB_RELAY_DROP_REASONS; ++r) {
      absl::StrAppendFormat(&out, " %*u", static_cast<int>(RelayDropReasonName(r).size()),
                            k.drops[r]);
    }
    absl::StrAppend(&out, "\n");
  }
  std::string learned;
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    const mb_learned_source& l = s.learned[i];
    if (!l.saddr) continue;
    absl::StrAppendFormat(&learned, "  path %u: %s:%u -> %s on %s (seen at %u ns)\n", i,
                          Ipv4Text(l.saddr), l.sport, Ipv4Text(l.daddr), IfName(l.ifindex), l.seen_ns);
  }
  absl::StrAppend(&out, "\nmb_learned (last probe source per learned path):",
                  learned.empty() ? " (none)\n" : absl::StrCat("\n", learned));
  return out;
}

}  // namespace meshbpf
