#include "agent/core/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/core/config_checks.h"
#include "agent/core/discovery.h"
#include "agent/core/net_format.h"
#include "bpf/meshbpf.h"

// The node's own sections (node_discovery, link_aggregation, failover,
// monitoring) and the order everything is resolved in. JSON parsing is in
// config_json.cc, interfaces and uplinks in config_uplinks.cc.
namespace meshbpf {
namespace {

using namespace config_internal;

// The agent hands BondMode to the data path as an mb_mode.
static_assert(static_cast<int>(BondMode::kLoadBalance) == MB_MODE_LOAD_BALANCE);
static_assert(static_cast<int>(BondMode::kFlow) == MB_MODE_FLOW);
static_assert(static_cast<int>(BondMode::kRedundant) == MB_MODE_REDUNDANT);
static_assert(static_cast<int>(BondMode::kActiveBackup) == MB_MODE_ACTIVE_BACKUP);
static_assert(static_cast<int>(BondMode::kLatency) == MB_MODE_LATENCY);

constexpr std::array<Named<BondMode>, 5> kModes = {{
    {BondMode::kLoadBalance, "load_balance"},
    {BondMode::kFlow, "flow"},
    {BondMode::kRedundant, "redundant"},
    {BondMode::kActiveBackup, "active_backup"},
    {BondMode::kLatency, "latency"},
}};

constexpr auto kRebalanceRange = Closed(0.05, 3600);

constexpr std::array<Named<OffloadSetting>, 3> kOffloadSettings = {{
    {OffloadSetting::kAuto, "auto"},
    {OffloadSetting::kOn, "on"},
    {OffloadSetting::kOff, "off"},
}};

absl::Status ResolveDiscovery(const config::NodeDiscovery& d, absl::string_view host_name,
                              DiscoverySettings& out) {
  if (d.has_enabled()) out.enabled = d.enabled();
  absl::Status s = Checked("node_discovery.port", d.has_port(), d.port(), kPortRange, out.port);
  s.Update(Checked("node_discovery.broadcast_interval", d.has_broadcast_interval(),
                   d.broadcast_interval(), AboveUpTo(0, 3600), out.broadcast_interval_s));
  s.Update(Checked("node_discovery.node_timeout", d.has_node_timeout(), d.node_timeout(),
                   AboveUpTo(0, 86400), out.node_timeout_s));
  // The whole span of relay ports must fit below 65536 (see ResolveRelayPorts).
  s.Update(Checked("node_discovery.relay_port", d.has_relay_port(), d.relay_port(),
                   Closed(1, 65535 - MB_RELAY_PORT_SPAN), out.relay_port));
  double share_max_mbit = 0;
  s.Update(Checked("node_discovery.share_max_mbit", d.has_share_max_mbit(), d.share_max_mbit(),
                   kRateMbit, share_max_mbit));
  out.share_max_bps = share_max_mbit * 1e6;
  if (!s.ok()) return s;
  if (d.has_share_cap()) {
    absl::StatusOr<CapPlan> plan = ResolveCap(d.share_cap(), kShareCapName);
    if (!plan.ok()) return plan.status();
    // The data path drops relayed packets once the share is spent: there is
    // no last resort for a neighbour's traffic.
    if (plan->when_exhausted != CapExhaustedPolicy::kStop) {
      return InvalidField(absl::StrCat(kShareCapName, ".when_exhausted"),
                        absl::StrCat("must be \"stop\" (relaying ends when the share is spent), got ",
                                     Quote(d.share_cap().when_exhausted())));
    }
    out.share_cap = *std::move(plan);
  }
  // A node must be able to miss at least one announcement before it is
  // considered gone.
  if (!(out.node_timeout_s > out.broadcast_interval_s)) {
    return InvalidField("node_discovery.node_timeout",
                      absl::StrCat("must be greater than node_discovery.broadcast_interval (",
                                   out.broadcast_interval_s, "), got ", out.node_timeout_s,
                                   d.has_node_timeout() ? "" : " (the default)"));
  }
  out.node_name = d.has_node_name() ? d.node_name() : std::string(host_name);
  if (out.node_name.empty() && (d.has_node_name() || out.enabled)) {
    return InvalidField("node_discovery.node_name", d.has_node_name()
                                                      ? "must not be empty"
                                                      : "not set and the host name is unknown");
  }
  if (d.has_node_name() || out.enabled) {
    if (std::optional<std::string> problem = NodeNameProblem(out.node_name)) {
      return InvalidField("node_discovery.node_name",
                        absl::StrCat(Quote(out.node_name), d.has_node_name() ? "" : " (the host name)",
                                     " ", *problem));
    }
  }
  constexpr size_t kMinKeyLen = 16;
  out.mesh_key = d.mesh_key();
  if (!out.mesh_key.empty() && out.mesh_key.size() < kMinKeyLen) {
    return InvalidField(
        "node_discovery.mesh_key",
        absl::StrCat("must be at least ", kMinKeyLen, " characters, got ", out.mesh_key.size()));
  }
  if (out.enabled && out.mesh_key.empty()) {
    return InvalidField(
        "node_discovery.mesh_key",
        absl::StrCat("required (at least ", kMinKeyLen, " characters) when discovery is enabled"));
  }
  if (d.has_node_id()) {
    if (std::optional<std::string> problem = NodeIdProblem(d.node_id())) {
      return InvalidField("node_discovery.node_id", absl::StrCat(Quote(d.node_id()), " ", *problem));
    }
    out.node_id = d.node_id();
  }
  if (out.enabled && d.interfaces_size() == 0) {
    return InvalidField("node_discovery.interfaces",
                      "required when discovery is enabled: the interfaces neighbours share "
                      "(announcements are never sent on interfaces not listed)");
  }
  for (int i = 0; i < d.interfaces_size(); ++i) {
    const std::string path = absl::StrCat("node_discovery.interfaces[", i, "]");
    if (absl::Status bad = CheckIfname(path, d.interfaces(i), ""); !bad.ok()) return bad;
    if (std::find(out.interfaces.begin(), out.interfaces.end(), d.interfaces(i)) !=
        out.interfaces.end()) {
      return InvalidField(path, absl::StrCat(Quote(d.interfaces(i)), " is listed twice"));
    }
    out.interfaces.push_back(d.interfaces(i));
  }
  return absl::OkStatus();
}

// "10.204.0.0/24" or "fd00:204::/64", with no bits beyond the length.
absl::StatusOr<InnerPrefix> ParseInnerPrefix(absl::string_view path, const std::string& text) {
  const size_t slash = text.find('/');
  const std::string length = slash == std::string::npos ? "" : text.substr(slash + 1);
  const std::string address = text.substr(0, slash);
  InnerPrefix out;
  out.family = address.find(':') == std::string::npos ? AF_INET : AF_INET6;
  const int max_len = out.family == AF_INET ? 32 : 128;
  if (length.empty() || length.size() > 3 || !std::all_of(length.begin(), length.end(), absl::ascii_isdigit) ||
      inet_pton(out.family, address.c_str(), out.address.data()) != 1 || std::stoi(length) > max_len) {
    return InvalidField(path, absl::StrCat(Quote(text), " is not a prefix (expected e.g. "
                                                      "\"192.168.50.0/24\" or \"fd00:50::/64\")"));
  }
  out.prefix_len = std::stoi(length);
  InnerPrefix masked = out;
  for (int bit = out.prefix_len; bit < max_len; ++bit) masked.address[bit / 8] &= ~(0x80 >> (bit % 8));
  if (masked != out) {
    char suggestion[INET6_ADDRSTRLEN] = "";
    inet_ntop(out.family, masked.address.data(), suggestion, sizeof(suggestion));
    return InvalidField(path, absl::StrCat(Quote(text), " has bits beyond its prefix length; a prefix is e.g. ",
                                         suggestion, "/", out.prefix_len));
  }
  return out;
}

// link_aggregation.bond_address_ipv6 and peer_bond_address_ipv6.
absl::Status ResolveBondIpv6(const config::LinkAggregation& l, NodeSettings& out) {
  if (l.has_bond_address_ipv6()) {
    absl::StatusOr<BondAddress> bond =
        ParseBondAddress("link_aggregation.bond_address_ipv6", l.bond_address_ipv6(), AF_INET6);
    if (!bond.ok()) return bond.status();
    out.bond_address_ipv6 = *bond;
  }
  if (!l.has_peer_bond_address_ipv6()) return absl::OkStatus();
  constexpr absl::string_view kPath = "link_aggregation.peer_bond_address_ipv6";
  absl::StatusOr<IpAddress> peer = ParseIpAddress(kPath, l.peer_bond_address_ipv6());
  if (!peer.ok()) return peer.status();
  if (!peer->is_v6()) {
    return InvalidField(kPath, absl::StrCat(Quote(l.peer_bond_address_ipv6()),
                                            " is IPv4: this field takes the peer's IPv6 bond "
                                            "address (the IPv4 one is peer_bond_address)"));
  }
  if (out.bond_address_ipv6 && out.bond_address_ipv6->address == *peer) {
    return InvalidField(kPath, absl::StrCat(Quote(l.peer_bond_address_ipv6()),
                                            " is this node's own bond_address_ipv6"));
  }
  out.peer_bond_address_ipv6 = *peer;
  return absl::OkStatus();
}

absl::Status ResolveAllowedSources(const config::LinkAggregation& l, NodeSettings& out) {
  for (int i = 0; i < l.peer_allowed_sources_size(); ++i) {
    absl::StatusOr<InnerPrefix> prefix = ParseInnerPrefix(
        absl::StrCat("link_aggregation.peer_allowed_sources[", i, "]"), l.peer_allowed_sources(i));
    if (!prefix.ok()) return prefix.status();
    out.peer_allowed_sources.push_back(*prefix);
  }
  // The data path's table also takes the peer's bond addresses (its probes
  // and its own traffic on the bond): one slot is kept for each family's.
  const size_t kept = 1 + (out.peer_bond_address_ipv6 ? 1 : 0);
  if (out.peer_allowed_sources.size() + kept > MB_ALLOWED_PREFIXES) {
    return InvalidField("link_aggregation.peer_allowed_sources",
                      absl::StrCat("at most ", MB_ALLOWED_PREFIXES - kept, " prefixes",
                                   kept > 1 ? " with peer_bond_address_ipv6" : ""));
  }
  if (!out.peer_allowed_sources.empty() && out.mode == BondMode::kFlow) {
    return InvalidField("link_aggregation.peer_allowed_sources",
                      "meaningless in flow mode (no peer sends through a tunnel)");
  }
  return absl::OkStatus();
}

// link_aggregation.authentication, its keys and encryption. The private key file is
// only named here; the agent reads it (agent/sys/key_file.h).
absl::Status ResolveAuthentication(const config::LinkAggregation& l, NodeSettings& out) {
  if (!l.authentication()) {
    if (l.encryption()) {
      return InvalidField("link_aggregation.encryption",
                        "needs link_aggregation.authentication: true (the cipher keys come from "
                        "its handshake, and only authenticated packets are decrypted)");
    }
    for (const auto& [present, field] :
         {std::pair{l.has_private_key_file(), "private_key_file"},
          std::pair{l.has_peer_public_key(), "peer_public_key"}}) {
      if (present) {
        return InvalidField(absl::StrCat("link_aggregation.", field),
                          "set without link_aggregation.authentication: true (nothing would use it)");
      }
    }
    return absl::OkStatus();
  }
  if (out.mode == BondMode::kFlow) {
    return InvalidField("link_aggregation.authentication",
                      "meaningless in flow mode (no tunnel: flows leave as they are)");
  }
  if (!l.has_private_key_file() || l.private_key_file().empty()) {
    return InvalidField("link_aggregation.private_key_file",
                      "required with authentication: a file holding this node's private key "
                      "(`meshbpf genkey > FILE`, mode 600)");
  }
  if (!l.has_peer_public_key()) {
    return InvalidField("link_aggregation.peer_public_key",
                      "required with authentication: the bonding peer's public key "
                      "(`meshbpf pubkey < ITS_KEY_FILE` on the peer)");
  }
  absl::StatusOr<X25519Key> peer = KeyFromBase64(l.peer_public_key(), "link_aggregation.peer_public_key");
  if (!peer.ok()) return peer.status();
  out.authentication = TunnelAuthSettings{l.private_key_file(), *peer, l.encryption()};
  return absl::OkStatus();
}

// Why loss repair cannot be on with the link_aggregation resolved so far
// (mode, reorder_deadline_ms), or OK.
absl::Status LossRepairProblem(bool on, const NodeSettings& out) {
  if (!on) return absl::OkStatus();
  constexpr absl::string_view kPath = "link_aggregation.loss_repair";
  switch (out.mode) {
    case BondMode::kFlow:
      return InvalidField(kPath,
                        "meaningless in flow mode (no bonding peer to ask for a lost packet)");
    case BondMode::kRedundant:
      return InvalidField(kPath, "meaningless in redundant mode (every packet already goes on "
                               "every path)");
    case BondMode::kActiveBackup:
      return InvalidField(kPath, "meaningless in active_backup mode (one path at a time: a repair "
                               "would take the path that lost the packet)");
    case BondMode::kLoadBalance:
    case BondMode::kLatency:
      break;
  }
  if (out.reorder_deadline_ms <= 0) {
    return InvalidField(kPath, "needs resequencing (link_aggregation.reorder_deadline_ms above 0): "
                             "a gap is held for its repair in the resequencing buffer");
  }
  if (!out.peer_bond_address) {
    return InvalidField(kPath, "needs link_aggregation.peer_bond_address: repair requests go to "
                             "the peer's agent there, as probes do");
  }
  return absl::OkStatus();
}

absl::Status ResolveLinkAggregation(const config::LinkAggregation& l, NodeSettings& out) {
  if (l.has_mode()) {
    absl::StatusOr<BondMode> mode = ParseBondMode(l.mode());
    if (!mode.ok()) return mode.status();
    out.mode = *mode;
  }
  if (l.has_bond_interface()) {
    constexpr absl::string_view kPath = "link_aggregation.bond_interface";
    if (absl::Status s = CheckIfname(kPath, l.bond_interface(), ""); !s.ok()) return s;
    if (l.bond_interface().size() + kTxSuffix.size() > kMaxIfnameLen) {
      return InvalidField(kPath,
                        absl::StrCat(Quote(l.bond_interface()), " is longer than ",
                                     kMaxIfnameLen - kTxSuffix.size(),
                                     " characters (the agent also creates \"<name>", kTxSuffix,
                                     "\", which must fit in ", kMaxIfnameLen, ")"));
    }
    out.bond_interface = l.bond_interface();
  }
  if (l.has_bond_address()) {
    absl::StatusOr<BondAddress> bond =
        ParseBondAddress("link_aggregation.bond_address", l.bond_address(), AF_INET);
    if (!bond.ok()) return bond.status();
    out.bond_address = *bond;
  }
  // Flow mode sends every flow straight to its destination: a peer, its
  // bond address (probe target) or a tunnel port would be ignored.
  if (out.mode == BondMode::kFlow) {
    for (const auto& [present, field] :
         {std::pair{l.has_peer_address(), "peer_address"},
          std::pair{l.has_peer_bond_address(), "peer_bond_address"},
          std::pair{l.has_peer_bond_address_ipv6(), "peer_bond_address_ipv6"},
          std::pair{l.has_port(), "port"}}) {
      if (present) {
        return InvalidField(absl::StrCat("link_aggregation.", field),
                          "meaningless in flow mode (no bonding peer: each flow goes straight "
                          "to its destination from one uplink)");
      }
    }
  }
  if (absl::Status s = ResolveBondIpv6(l, out); !s.ok()) return s;
  if (absl::Status s = ResolveAuthentication(l, out); !s.ok()) return s;
  if (absl::Status s = ResolveAllowedSources(l, out); !s.ok()) return s;
  absl::Status s = OptionalIpAddress("link_aggregation.peer_address", l.has_peer_address(),
                                     l.peer_address(), out.peer_address);
  s.Update(OptionalIpv4("link_aggregation.peer_bond_address", l.has_peer_bond_address(),
                        l.peer_bond_address(), out.peer_bond_address));
  if (s.ok() && out.peer_bond_address && !out.bond_address) {
    return InvalidField("link_aggregation.peer_bond_address",
                      "needs link_aggregation.bond_address: probes are sent from it");
  }
  out.port = MB_DEFAULT_PORT;  // the data path's constant is the authority
  s.Update(Checked("link_aggregation.port", l.has_port(), l.port(), kPortRange, out.port));
  s.Update(Checked("link_aggregation.latency_packet_bytes", l.has_latency_packet_bytes(),
                   l.latency_packet_bytes(), Closed(0, 9000), out.latency_packet_bytes));
  s.Update(Checked("link_aggregation.reorder_deadline_ms", l.has_reorder_deadline_ms(),
                   l.reorder_deadline_ms(), Closed(0, 1000), out.reorder_deadline_ms));
  if (l.has_floor_guard()) {
    if (l.floor_guard() && out.mode != BondMode::kLoadBalance && out.mode != BondMode::kLatency) {
      return InvalidField("link_aggregation.floor_guard",
                        absl::StrCat("meaningless in ", std::string(BondModeName(out.mode)),
                                     " mode (it takes paths out of bonded bulk traffic, which "
                                     "only load_balance and latency modes have)"));
    }
    out.floor_guard = l.floor_guard();
  }
  if (l.has_loss_repair()) {
    if (absl::Status why = LossRepairProblem(l.loss_repair(), out); !why.ok()) return why;
    out.loss_repair = l.loss_repair();
  } else {
    // Unset: on wherever it may apply. The mode is left out: a reload may
    // switch modes, which changes nothing that needs a restart; in modes
    // without bonded bulk it rests (RepairWaitUs is 0).
    out.loss_repair = config_defaults::kLossRepair && out.mode != BondMode::kFlow &&
                      out.reorder_deadline_ms > 0 && out.peer_bond_address.has_value();
  }
  s.Update(Checked("link_aggregation.max_queue_size", l.has_max_queue_size(), l.max_queue_size(),
                   Closed(16, MB_RESEQ_SLOTS_MAX), out.max_queue_size));
  if (!s.ok() || !l.has_segmentation_offload()) return s;
  absl::StatusOr<OffloadSetting> offload =
      ParseNamed(kOffloadSettings, "link_aggregation.segmentation_offload", "setting",
                 l.segmentation_offload());
  if (!offload.ok()) return offload.status();
  out.offload = *offload;
  if (out.authentication && out.offload == OffloadSetting::kOn) {
    // Segments of one super-packet would share one tag, and none verifies.
    return InvalidField("link_aggregation.segmentation_offload",
                      "\"on\" cannot go with authentication: every packet needs its own tag; "
                      "leave it \"auto\" (off with authentication) or \"off\"");
  }
  return absl::OkStatus();
}

// "0x10", "16" or "0x10/0xff".
absl::StatusOr<FwMark> ParseFwMark(absl::string_view path, const std::string& text) {
  auto number = [](const std::string& part) -> std::optional<uint32_t> {
    if (part.empty()) return std::nullopt;
    size_t used = 0;
    try {
      const unsigned long long v = std::stoull(part, &used, 0);
      if (used != part.size() || v > 0xffffffffULL || part[0] == '-' || part[0] == '+') return std::nullopt;
      return static_cast<uint32_t>(v);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  const size_t slash = text.find('/');
  const std::optional<uint32_t> mark = number(text.substr(0, slash));
  const std::optional<uint32_t> mask =
      slash == std::string::npos ? std::optional<uint32_t>(0xffffffff) : number(text.substr(slash + 1));
  if (!mark || !mask) {
    return InvalidField(path, absl::StrCat(Quote(text), " is not a firewall mark (expected e.g. \"0x10\" or \"0x10/0xff\")"));
  }
  if ((*mark & *mask) == 0) {
    return InvalidField(path, absl::StrCat(Quote(text), " matches unmarked traffic: the mark must have a bit in the mask"));
  }
  if ((*mark & ~*mask) != 0) {
    return InvalidField(path, absl::StrCat(Quote(text), " has bits outside its mask"));
  }
  return FwMark{*mark, *mask};
}

// A prefix of link_aggregation.routing, IPv4 or IPv6.
absl::StatusOr<InnerPrefix> ParseRoutingPrefix(absl::string_view path, const std::string& text) {
  absl::StatusOr<InnerPrefix> prefix = ParseInnerPrefix(path, text);
  if (!prefix.ok()) return prefix.status();
  in6_addr v6{};
  std::memcpy(&v6, prefix->address.data(), sizeof(v6));
  // No IPv4 packet is routed by the IPv6 table: such a prefix would match nothing.
  if (prefix->family == AF_INET6 && prefix->prefix_len >= 96 && IN6_IS_ADDR_V4MAPPED(&v6)) {
    return InvalidField(path, absl::StrCat(Quote(text), " is an IPv4-mapped IPv6 prefix: write the "
                                                      "IPv4 prefix itself"));
  }
  return prefix;
}

// After the interfaces: traffic to a path's far end must never route into
// the bond, or the tunnel would carry itself.
absl::Status ResolveRouting(const config::LinkAggregation& l, NodeSettings& out) {
  if (!l.has_routing()) return absl::OkStatus();
  const config::Routing& r = l.routing();
  RoutingSettings routing;
  absl::Status s = Checked("link_aggregation.routing.table", r.has_table(), r.table(),
                           Closed(1, 0xffffffffu), routing.table);
  if (s.ok() && routing.table >= 253 && routing.table <= 255) {
    return InvalidField("link_aggregation.routing.table",
                      absl::StrCat(routing.table, " is the system's ",
                                   routing.table == 253 ? "default" : routing.table == 254 ? "main" : "local",
                                   " table; the agent flushes its table, so give it one of its own"));
  }
  s.Update(Checked("link_aggregation.routing.priority", r.has_priority(), r.priority(),
                   Closed(1, 32765), routing.priority));
  if (!s.ok()) return s;
  auto prefixes = [](absl::string_view field, const auto& texts, std::vector<InnerPrefix>& into) {
    for (int i = 0; i < texts.size(); ++i) {
      absl::StatusOr<InnerPrefix> p =
          ParseRoutingPrefix(absl::StrCat("link_aggregation.routing.", field, "[", i, "]"), texts[i]);
      if (!p.ok()) return p.status();
      into.push_back(*p);
    }
    return absl::OkStatus();
  };
  if (absl::Status p = prefixes("destinations", r.destinations(), routing.destinations); !p.ok()) return p;
  if (absl::Status p = prefixes("sources", r.sources(), routing.sources); !p.ok()) return p;
  for (int i = 0; i < r.fwmarks_size(); ++i) {
    absl::StatusOr<FwMark> mark =
        ParseFwMark(absl::StrCat("link_aggregation.routing.fwmarks[", i, "]"), r.fwmarks(i));
    if (!mark.ok()) return mark.status();
    routing.fwmarks.push_back(*mark);
  }
  for (int i = 0; i < r.cgroups_size(); ++i) {
    const std::string path = absl::StrCat("link_aggregation.routing.cgroups[", i, "]");
    std::string cgroup = r.cgroups(i);
    while (!cgroup.empty() && cgroup.front() == '/') cgroup.erase(0, 1);
    while (!cgroup.empty() && cgroup.back() == '/') cgroup.pop_back();
    if (cgroup.empty()) {
      return InvalidField(path, "is the root cgroup: every process would enter the bond, its own "
                              "probes too; name a cgroup below it");
    }
    const std::string padded = absl::StrCat("/", cgroup, "/");
    if (padded.find("/../") != std::string::npos || padded.find("/./") != std::string::npos ||
        cgroup.find('\0') != std::string::npos) {
      return InvalidField(path, absl::StrCat(Quote(r.cgroups(i)), " is not a path below the cgroup2 mount"));
    }
    routing.cgroups.push_back(cgroup);
  }
  if (r.has_cgroup_mark()) {
    if (r.cgroup_mark() == 0) return InvalidField("link_aggregation.routing.cgroup_mark", "must not be 0 (unmarked)");
    routing.cgroup_mark = r.cgroup_mark();
  }
  auto has_family = [](const std::vector<InnerPrefix>& list, int family) {
    return std::any_of(list.begin(), list.end(), [&](const InnerPrefix& p) { return p.family == family; });
  };
  if (!routing.has_selector()) {
    if (routing.destinations.empty()) {
      return InvalidField("link_aggregation.routing",
                        "says no traffic to bond: give destinations, sources, fwmarks or cgroups");
    }
    // Everything to these prefixes, the agent's own packets too.
    for (size_t d = 0; d < routing.destinations.size(); ++d) {
      for (const PathSettings& p : out.paths) {
        if (p.endpoint != PathEndpoint::kConfigured || !PrefixCovers(routing.destinations[d], p.remote)) {
          continue;
        }
        return InvalidField(
            absl::StrCat("link_aggregation.routing.destinations[", d, "]"),
            absl::StrCat(Quote(r.destinations(static_cast<int>(d))), " covers path ", Quote(p.name),
                         "'s far end ", IpText(p.remote),
                         ": its probes would route into the bond. Select the traffic with sources, "
                         "fwmarks or cgroups, or narrow the destinations"));
      }
    }
  } else if (routing.destinations.empty()) {
    // The default route of each family the selectors pick. Marks pick IPv6
    // only when the bond has an IPv6 address: marked IPv6 traffic sent into
    // a bond that carries none would be lost.
    const bool marks = !routing.fwmarks.empty() || !routing.cgroups.empty();
    if (marks || has_family(routing.sources, AF_INET)) {
      routing.destinations.push_back(InnerPrefix{.family = AF_INET});  // 0.0.0.0/0
    }
    if ((marks && out.bond_address_ipv6) || has_family(routing.sources, AF_INET6)) {
      routing.destinations.push_back(InnerPrefix{.family = AF_INET6});  // ::/0
    }
  }
  // A source rule looks up its own family's table: without a destination
  // of that family it would select nothing.
  for (size_t i = 0; i < routing.sources.size(); ++i) {
    const int family = routing.sources[i].family;
    if (has_family(routing.destinations, family)) continue;
    const char* name = family == AF_INET6 ? "IPv6" : "IPv4";
    return InvalidField(absl::StrCat("link_aggregation.routing.sources[", i, "]"),
                        absl::StrCat(Quote(r.sources(static_cast<int>(i))), " is ", name,
                                     " but no destination is: its traffic would find no route "
                                     "into the bond; add an ", name, " destination"));
  }
  out.routing = std::move(routing);
  return absl::OkStatus();
}

absl::Status ResolveFailover(const config::Failover& f, FailoverSettings& out) {
  absl::Status s = Checked("failover.monitoring_interval", f.has_monitoring_interval(),
                           f.monitoring_interval(), Closed(0.01, 3600), out.monitoring_interval_s);
  s.Update(
      Checked("failover.threshold", f.has_threshold(), f.threshold(), kProbeCount, out.threshold));
  s.Update(Checked("failover.recovery_threshold", f.has_recovery_threshold(),
                   f.recovery_threshold(), kProbeCount, out.recovery_threshold));
  s.Update(Checked("failover.probe_port", f.has_probe_port(), f.probe_port(), kPortRange,
                   out.probe_port));
  absl::Status loss = Checked("failover.degrade_loss_percent", f.has_degrade_loss_percent(),
                              f.degrade_loss_percent(), kLossPercent, out.degrade_loss_percent);
  out.recover_loss_percent = out.degrade_loss_percent * config_defaults::kRecoverLossShare;
  loss.Update(Checked("failover.recover_loss_percent", f.has_recover_loss_percent(),
                      f.recover_loss_percent(), kLossPercent, out.recover_loss_percent));
  if (loss.ok() && out.recover_loss_percent >= out.degrade_loss_percent) {
    loss = InvalidField("failover.recover_loss_percent",
                      absl::StrCat("must be below failover.degrade_loss_percent (",
                                   out.degrade_loss_percent, "), got ",
                                   out.recover_loss_percent));
  }
  s.Update(loss);
  return s;
}

// link_aggregation.rebalance_interval, or failover.rebalance_interval where
// older files have it; both at once would leave one silently unused.
absl::Status ResolveRebalanceInterval(const config::LinkAggregation& l, const config::Failover& f,
                                      FailoverSettings& out) {
  if (l.has_rebalance_interval() && f.has_rebalance_interval()) {
    return InvalidField("failover.rebalance_interval",
                      "set in link_aggregation.rebalance_interval too; keep only that one");
  }
  if (f.has_rebalance_interval()) {
    return Checked("failover.rebalance_interval", true, f.rebalance_interval(), kRebalanceRange,
                   out.rebalance_interval_s);
  }
  return Checked("link_aggregation.rebalance_interval", l.has_rebalance_interval(),
                 l.rebalance_interval(), kRebalanceRange, out.rebalance_interval_s);
}

// Why `name` cannot be a group name (the portable set useradd accepts), if it cannot.
std::optional<std::string> GroupNameProblem(const std::string& name) {
  if (name.empty() || name.size() > 32) return "must be a group name of 1 to 32 characters";
  const bool portable = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  if (!portable || name[0] == '-') {
    return "must be a group name (letters, digits, '_', '-', '.'; not starting with '-')";
  }
  return std::nullopt;
}

absl::Status ResolveMonitoring(const config::Monitoring& m, MonitoringSettings& out) {
  absl::Status s;
  if (m.has_history_file()) {
    if (m.history_file().empty() || m.history_file()[0] != '/') {
      s.Update(InvalidField("monitoring.history_file",
                          absl::StrCat("must be an absolute path, got ", Quote(m.history_file()))));
    }
    out.history_file = m.history_file();
  }
  if (m.has_history()) out.history = m.history();
  s.Update(Checked("monitoring.sample_interval", m.has_sample_interval(), m.sample_interval(),
                   Closed(1, 60), out.sample_interval_s));
  if (m.has_metrics_allow_remote()) out.metrics_allow_remote = m.metrics_allow_remote();
  if (m.has_metrics_listen()) {
    absl::StatusOr<ListenAddress> listen = ParseListenAddress(m.metrics_listen());
    if (!listen.ok()) {
      s.Update(InvalidField("monitoring.metrics_listen", listen.status().message()));
    } else if (!IsLoopback(*listen) && !out.metrics_allow_remote) {
      s.Update(InvalidField("monitoring.metrics_listen",
                          absl::StrCat(Quote(m.metrics_listen()),
                                       " is not a loopback address; the endpoint has no "
                                       "authentication, so set monitoring.metrics_allow_remote "
                                       "to true to serve it there")));
    } else {
      out.metrics_listen = *listen;
    }
  }
  if (m.status_page() && !m.has_metrics_listen()) {
    s.Update(InvalidField("monitoring.status_page",
                        "needs monitoring.metrics_listen, the address to serve it at "
                        "(e.g. \"127.0.0.1:9464\")"));
  }
  out.status_page = m.status_page();
  if (m.has_control_group()) {
    if (std::optional<std::string> problem = GroupNameProblem(m.control_group())) {
      s.Update(InvalidField("monitoring.control_group",
                          absl::StrCat(Quote(m.control_group()), " ", *problem)));
    } else {
      out.control_group = m.control_group();
    }
  }
  return s;
}

}  // namespace

bool HasIpv6Path(const NodeSettings& settings) {
  return std::any_of(settings.paths.begin(), settings.paths.end(),
                     [](const PathSettings& p) { return p.source.is_v6(); });
}

bool MixesFamilies(const NodeSettings& settings) {
  return HasIpv6Path(settings) &&
         std::any_of(settings.paths.begin(), settings.paths.end(),
                     [](const PathSettings& p) { return !p.source.is_v6(); });
}

bool RelayedOverIpv6(const NodeSettings& settings) {
  return settings.peer_address && settings.peer_address->is_v6();
}

std::optional<IpAddress> DeviceAddress(const InterfaceInfo& device, bool v6) {
  if (v6) {
    if (device.ipv6.empty()) return std::nullopt;
    return IpAddress::V6(device.ipv6.front());
  }
  if (!device.ipv4) return std::nullopt;
  return IpAddress::V4(*device.ipv4);
}

std::optional<IpAddress> LinkLocalAddress(const InterfaceInfo& device) {
  if (!device.ipv6_link_local) return std::nullopt;
  return IpAddress::V6(*device.ipv6_link_local);
}

std::optional<IpAddress> DeviceAddressLike(const InterfaceInfo& device, const IpAddress& source) {
  return source.IsLinkLocal() ? LinkLocalAddress(device) : DeviceAddress(device, source.is_v6());
}

bool DeviceHasAddress(const InterfaceInfo& device, const IpAddress& address) {
  if (!address.is_v6()) return device.ipv4 && IpAddress::V4(*device.ipv4) == address;
  if (LinkLocalAddress(device) == address) return true;
  return std::any_of(device.ipv6.begin(), device.ipv6.end(),
                     [&](const in6_addr& a) { return IpAddress::V6(a) == address; });
}

std::string_view BondModeName(BondMode mode) {
  for (const Named<BondMode>& entry : kModes) {
    if (entry.value == mode) return {entry.name.data(), entry.name.size()};
  }
  return "unknown";
}

absl::StatusOr<BondMode> ParseBondMode(std::string_view name) {
  return ParseNamed(kModes, "link_aggregation.mode", "mode", ToAbsl(name));
}

namespace {

absl::StatusOr<NodeSettings> ResolveSections(const config::Config& config,
                                             const InterfaceLookup& interfaces,
                                             absl::string_view host_name) {
  NodeSettings out;
  absl::Status s = ResolveDiscovery(config.node_discovery(), host_name, out.discovery);
  if (s.ok()) s = ResolveLinkAggregation(config.link_aggregation(), out);
  if (s.ok()) s = ResolveFailover(config.failover(), out.failover);
  if (s.ok()) {
    s = ResolveRebalanceInterval(config.link_aggregation(), config.failover(), out.failover);
  }
  if (s.ok()) s = ResolveInterfaces(config.interfaces(), interfaces, out);
  if (s.ok()) s = ResolveRouting(config.link_aggregation(), out);
  if (s.ok()) s = ResolveSharedUplinks(config.node_discovery(), out);
  if (s.ok()) s = ResolveRelayPorts(config.node_discovery(), out);
  if (s.ok()) s = ResolveMonitoring(config.monitoring(), out.monitoring);
  if (!s.ok()) return s;
  return out;
}

}  // namespace

bool PrefixCovers(const InnerPrefix& prefix, const IpAddress& address) {
  if (prefix.family != address.family) return false;
  for (int bit = 0; bit < prefix.prefix_len; ++bit) {
    const uint8_t mask = 0x80 >> (bit % 8);
    if ((prefix.address[bit / 8] & mask) != (address.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

absl::StatusOr<NodeSettings> ResolveConfig(const config::Config& config,
                                           const InterfaceLookup& interfaces,
                                           std::string_view host_name) {
  if (!config.has_mesh_network()) return ResolveSections(config, interfaces, ToAbsl(host_name));
  // The documented shape: every section inside mesh_network, nothing beside it.
  std::vector<const google::protobuf::FieldDescriptor*> present;
  config.GetReflection()->ListFields(config, &present);
  for (const google::protobuf::FieldDescriptor* field : present) {
    if (field->number() == config::Config::kMeshNetworkFieldNumber) continue;
    return InvalidField(field->name(),
                      "beside mesh_network: a file keeps its sections either all inside "
                      "mesh_network or all at the top level");
  }
  if (config.mesh_network().has_mesh_network()) {
    return InvalidField("mesh_network.mesh_network", "mesh_network cannot be nested");
  }
  absl::StatusOr<NodeSettings> settings =
      ResolveSections(config.mesh_network(), interfaces, ToAbsl(host_name));
  if (settings.ok()) return settings;
  // Every resolution error starts with the field's path: name it as the file does.
  return absl::Status(settings.status().code(),
                      absl::StrCat("mesh_network.", settings.status().message()));
}

std::string DefaultHistoryFile(const std::string& instance) {
  return absl::StrCat("/var/lib/meshbpf/", instance, ".db");
}

}  // namespace meshbpf
