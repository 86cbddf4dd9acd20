#include "agent/core/config_checks.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/core/discovery.h"
#include "agent/core/net_format.h"
#include "bpf/meshbpf.h"

// interfaces.*: each uplink's endpoint, device, peer and cap; primary and
// backups; and, once the uplinks are known, what refers to them
// (node_discovery.share_uplinks, the relay ports).
namespace meshbpf::config_internal {
namespace {

// uplinks[].relay and uplinks[].learn_remote: where the path's far end comes
// from, and the fields that then do not apply. Runs before the device lookup.
absl::Status ResolveUplinkEndpoint(const config::Uplink& u, const std::string& path,
                                   const NodeSettings& node, PathSettings& out) {
  const bool learn = u.has_learn_remote() && u.learn_remote();
  if (!u.has_relay() && !learn) return absl::OkStatus();
  if (u.has_relay() && learn) {
    return InvalidField(path + ".learn_remote",
                      "cannot be combined with relay (relay is the client's side of a relayed "
                      "path, learn_remote the bonding peer's)");
  }
  const std::string field = u.has_relay() ? "relay" : "learn_remote";
  if (node.mode == BondMode::kFlow) {
    return InvalidField(absl::StrCat(path, ".", field),
                      "meaningless in flow mode (no bonding peer to relay to)");
  }
  const absl::string_view why = u.has_relay()
                                    ? "the neighbour's uplink is chosen at run time"
                                    : "the far end is learned from the client's probes";
  for (const auto& [present, name] : {std::pair{u.has_remote_address(), ".remote_address"},
                                      std::pair{u.has_remote_port(), ".remote_port"}}) {
    if (present) return InvalidField(path + name, absl::StrCat("not allowed with ", field, ": ", why));
  }
  if (learn) {
    if (!node.bond_address) {
      return InvalidField(path + ".learn_remote",
                        "needs link_aggregation.bond_address (the far end is learned from the "
                        "client's path probes, which are sent to it)");
    }
    out.endpoint = PathEndpoint::kLearned;
    out.endpoint_known = false;
    return absl::OkStatus();
  }
  for (const auto& [present, name] : {std::pair{u.has_gateway(), ".gateway"},
                                      std::pair{u.has_source_address(), ".source_address"}}) {
    if (present) {
      return InvalidField(path + name, "not allowed with relay (the path goes over the LAN "
                                     "interface straight to the neighbour)");
    }
  }
  if (!node.discovery.enabled) {
    return InvalidField(path + ".relay",
                      "needs node_discovery.enabled (neighbours are found through discovery)");
  }
  if (!node.peer_address) {
    return InvalidField(path + ".relay",
                      "needs link_aggregation.peer_address (where the neighbour forwards to)");
  }
  const config::RelayVia& via = u.relay();
  if (via.has_node()) {
    // Node ids allow every byte node names do, and ':'.
    if (std::optional<std::string> problem = NodeIdProblem(via.node())) {
      return InvalidField(path + ".relay.node", absl::StrCat(Quote(via.node()), " ", *problem));
    }
    out.relay.node = via.node();
  }
  if (via.has_uplink()) {
    if (absl::Status s = CheckIfname(path + ".relay.uplink", via.uplink(), ""); !s.ok()) return s;
    out.relay.uplink = via.uplink();
  }
  out.endpoint = PathEndpoint::kRelay;
  out.endpoint_known = false;
  return absl::OkStatus();
}

// Name, device and lookup of one uplink; `path` is "interfaces.uplinks[i]".
absl::Status ResolveUplinkDevice(const config::Uplink& u, const std::string& path,
                                 const NodeSettings& node, const InterfaceLookup& interfaces,
                                 PathSettings& out) {
  const bool relay = out.endpoint == PathEndpoint::kRelay;
  if (!u.has_name() && !u.has_interface() && !relay) {
    return InvalidField(path, "needs a name or an interface (or both)");
  }
  if (u.has_name() && u.name().empty()) return InvalidField(path + ".name", "must not be empty");
  // A relayed path goes over the LAN: ResolveUplinkEndpoint made sure
  // discovery is enabled, so node_discovery.interfaces is not empty.
  absl::string_view from_name = "";
  if (u.has_interface()) {
    out.interface = u.interface();
  } else if (relay) {
    out.interface = node.discovery.interfaces.front();
    from_name = " (node_discovery.interfaces[0])";
  } else {
    out.interface = u.name();
    from_name = " (taken from name)";
  }
  out.name = u.has_name() ? u.name() : out.interface;
  const std::string iface_path = path + ".interface";
  if (absl::Status s = CheckIfname(iface_path, out.interface, from_name); !s.ok()) return s;
  if (relay && std::find(node.discovery.interfaces.begin(), node.discovery.interfaces.end(),
                         out.interface) == node.discovery.interfaces.end()) {
    return InvalidField(iface_path, absl::StrCat(Quote(out.interface),
                                               " is not one of node_discovery.interfaces (a "
                                               "relayed path goes over the LAN to the neighbour)"));
  }
  // Tunnelling the bond over itself would loop every packet.
  if (out.interface == node.bond_interface ||
      out.interface == absl::StrCat(node.bond_interface, kTxSuffix)) {
    return InvalidField(iface_path, absl::StrCat(Quote(out.interface), from_name,
                                               " is the bond device itself "
                                               "(link_aggregation.bond_interface)"));
  }
  const std::optional<InterfaceInfo> info = interfaces.Find(out.interface);
  if (!info) {
    return InvalidField(iface_path,
                      absl::StrCat("no such network interface ", Quote(out.interface), from_name));
  }
  out.ifindex = info->ifindex;
  out.mtu = info->mtu;
  return absl::OkStatus();
}

// The path's source address: source_address, else the interface's address
// of the path's family: the remote's, in flow mode the gateway's (no
// remote). A relayed path has the bonding peer's family; over IPv6 its
// source is the LAN interface's link-local address, where neighbours hear
// our announcements and so answer. A learned one starts on its gateway's
// family, without a gateway on the device's IPv4 address or else its IPv6
// one (an IPv6-only uplink), and takes the family of the far end it learns.
absl::Status ResolveUplinkSource(const config::Uplink& u, const std::string& path,
                                 const NodeSettings& node, const InterfaceLookup& interfaces,
                                 PathSettings& out) {
  const bool relayed_v6 = out.endpoint == PathEndpoint::kRelay && RelayedOverIpv6(node);
  const bool learned = out.endpoint == PathEndpoint::kLearned;
  const bool v6 = node.mode == BondMode::kFlow || learned
                      ? out.gateway && out.gateway->is_v6()
                      : (out.endpoint == PathEndpoint::kConfigured && out.remote.is_v6()) ||
                            relayed_v6;
  if (u.has_source_address()) {
    absl::Status s =
        OptionalIpAddress(path + ".source_address", true, u.source_address(), out.source);
    if (s.ok() && out.source.is_v6() != v6) {
      const std::string other = node.mode == BondMode::kFlow
                                    ? absl::StrCat("the gateway ", IpText(*out.gateway))
                                : out.endpoint == PathEndpoint::kConfigured
                                    ? absl::StrCat("the far end ", IpText(out.remote))
                                    : std::string("the far end (relayed or learned)");
      return InvalidField(path + ".source_address",
                          absl::StrCat(IpText(out.source), " is ", v6 ? "IPv4" : "IPv6", " but ",
                                       other, " is ", v6 ? "IPv6" : "IPv4",
                                       ": a path's outer addresses are of one family"));
    }
    return s;
  }
  const std::optional<InterfaceInfo> info = interfaces.Find(out.interface);
  std::optional<IpAddress> address;
  if (info) address = relayed_v6 ? LinkLocalAddress(*info) : DeviceAddress(*info, v6);
  if (!address && learned && !out.gateway && info) address = DeviceAddress(*info, true);
  if (address) {
    out.source = *address;
  } else if (relayed_v6) {
    return InvalidField(path + ".interface",
                        absl::StrCat(Quote(out.interface), " has no link-local IPv6 address, which "
                                     "a path relayed to an IPv6 link_aggregation.peer_address "
                                     "is sent from"));
  } else {
    return InvalidField(path + ".source_address",
                        absl::StrCat("not set and interface ", Quote(out.interface), " has no ",
                                     v6 ? "global IPv6" : "IPv4", " address",
                                     !v6                           ? ""
                                     : node.mode == BondMode::kFlow ? " (the gateway is IPv6)"
                                                                    : " (the far end is IPv6)"));
  }
  out.source_from_interface = true;
  return absl::OkStatus();
}

// Addresses, port and shaping of one uplink.
absl::Status ResolveUplinkPeer(const config::Uplink& u, const std::string& path,
                               const NodeSettings& node, PathSettings& out) {
  absl::Status s = OptionalIpAddress(path + ".gateway", u.has_gateway(), u.gateway(), out.gateway);
  if (node.mode == BondMode::kFlow) {
    // The routing table sends the flows into the bond, so it cannot name
    // their next hop on the uplink.
    if (!u.has_gateway()) {
      s.Update(InvalidField(path + ".gateway",
                          "required in flow mode (the next hop of this uplink: the routing "
                          "table sends the bonded traffic into the bond device)"));
    }
    for (const auto& [present, field] : {std::pair{u.has_remote_address(), ".remote_address"},
                                         std::pair{u.has_remote_port(), ".remote_port"}}) {
      if (present) {
        s.Update(InvalidField(path + field,
                            "meaningless in flow mode (no bonding peer: each flow goes "
                            "straight to its destination)"));
      }
    }
  } else if (out.endpoint != PathEndpoint::kConfigured) {
    // The agent fills in remote and remote_port at run time.
  } else if (u.has_remote_address()) {
    s.Update(OptionalIpAddress(path + ".remote_address", true, u.remote_address(), out.remote));
    if (s.ok() && out.remote.IsUnspecified()) {
      s.Update(InvalidField(path + ".remote_address",
                            absl::StrCat(IpText(out.remote), " is no peer's address")));
    }
  } else if (node.peer_address) {
    out.remote = *node.peer_address;
  } else {
    s.Update(InvalidField(path + ".remote_address",
                        "not set and link_aggregation.peer_address is not set either: add "
                        "link_aggregation.peer_address, the bonding peer's address"));
  }
  if (out.endpoint == PathEndpoint::kConfigured) out.remote_port = node.port;
  s.Update(Checked(path + ".remote_port", u.has_remote_port(), u.remote_port(), kPortRange,
                   out.remote_port));
  if (!u.has_rate_mbit()) {
    s.Update(InvalidField(path + ".rate_mbit", absl::StrCat("required (expected capacity in Mbit/s, ",
                                                          kRateMbit.Describe(), ")")));
  }
  double rate_mbit = 0;
  s.Update(Checked(path + ".rate_mbit", u.has_rate_mbit(), u.rate_mbit(), kRateMbit, rate_mbit));
  out.rate_bps = rate_mbit * 1e6;
  s.Update(
      Checked(path + ".delay_ms", u.has_delay_ms(), u.delay_ms(), Closed(0, 10000), out.delay_ms));
  return s;
}

// Marks the uplinks named in interfaces.backups as backups, in that order.
absl::Status ResolveBackups(const config::Interfaces& in,
                            const std::map<std::string, size_t>& by_name, NodeSettings& out) {
  for (int i = 0; i < in.backups_size(); ++i) {
    const std::string path = absl::StrCat("interfaces.backups[", i, "]");
    const auto it = by_name.find(in.backups(i));
    if (it == by_name.end()) {
      return InvalidField(path, absl::StrCat(Quote(in.backups(i)), " is not the name of an uplink"));
    }
    PathSettings& p = out.paths[it->second];
    if (p.role == PathRole::kBackup) {
      return InvalidField(path, absl::StrCat(Quote(in.backups(i)), " is already listed as ",
                                           "interfaces.backups[", p.backup_order, "]"));
    }
    p.role = PathRole::kBackup;
    p.backup_order = i;
  }
  if (std::none_of(out.paths.begin(), out.paths.end(),
                   [](const PathSettings& p) { return p.role == PathRole::kBonded; })) {
    return InvalidField("interfaces", "every uplink is a backup; at least one must be bonded");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ResolveInterfaces(const config::Interfaces& in, const InterfaceLookup& interfaces,
                               NodeSettings& out) {
  if (in.uplinks_size() == 0 && (in.has_primary() || in.backups_size() > 0)) {
    const std::string named = in.has_primary() ? in.primary() : in.backups(0);
    return InvalidField("interfaces.uplinks",
                      absl::StrCat("required: primary and backups name uplinks, and each needs an "
                                   "entry here with its expected rate, e.g. {\"interface\": ",
                                   Quote(named), ", \"rate_mbit\": 50}"));
  }
  if (in.uplinks_size() == 0)
    return InvalidField("interfaces.uplinks", "at least one uplink is required");
  if (in.uplinks_size() > MB_MAX_PATHS) {
    return InvalidField("interfaces.uplinks",
                      absl::StrCat("at most ", MB_MAX_PATHS, " uplinks, got ", in.uplinks_size()));
  }
  // The path id is the index in interfaces.uplinks, so the order is kept.
  std::map<std::string, size_t> by_name;
  for (int i = 0; i < in.uplinks_size(); ++i) {
    const std::string path = absl::StrCat("interfaces.uplinks[", i, "]");
    PathSettings p;
    const config::Uplink& u = in.uplinks(i);
    absl::Status s = ResolveUplinkEndpoint(u, path, out, p);
    if (s.ok()) s = ResolveUplinkDevice(u, path, out, interfaces, p);
    if (s.ok()) s = ResolveUplinkPeer(u, path, out, p);
    if (s.ok()) s = ResolveUplinkSource(u, path, out, interfaces, p);
    if (s.ok() && p.gateway && p.gateway->is_v6() != p.source.is_v6()) {
      s = InvalidField(path + ".gateway",
                       absl::StrCat(IpText(*p.gateway), " is not of the family of the path's "
                                                        "source ", IpText(p.source)));
    }
    if (s.ok() && u.has_data_cap()) {
      absl::StatusOr<CapPlan> plan = ResolveCap(u.data_cap(), path + ".data_cap");
      if (plan.ok()) {
        p.data_cap = *std::move(plan);
      } else {
        s = plan.status();
      }
    }
    if (!s.ok()) return s;
    // `meshbpf cap` and the history store know the share budget by this name.
    if (p.name == kShareCapName) {
      return InvalidField(path + (u.has_name() ? ".name" : ".interface"),
                        absl::StrCat(Quote(p.name), " is reserved for the share budget"));
    }
    if (auto [it, inserted] = by_name.emplace(p.name, out.paths.size()); !inserted) {
      return InvalidField(path + (in.uplinks(i).has_name() ? ".name" : ".interface"),
                        absl::StrCat("uplink name ", Quote(p.name), " is already used by ",
                                     "interfaces.uplinks[", it->second, "]"));
    }
    // Replies are told apart by the address their flow was NATed to.
    for (size_t j = 0; out.mode == BondMode::kFlow && j < out.paths.size(); ++j) {
      if (out.paths[j].source == p.source) {
        return InvalidField(path + ".source_address",
                          absl::StrCat(IpText(p.source), " is also the source of "
                                       "interfaces.uplinks[", j, "]; in flow mode every uplink "
                                       "needs its own address"));
      }
    }
    out.paths.push_back(std::move(p));
  }
  // A super-packet gets copies of its first path's family only (see
  // send_on_chosen_paths): redundancy over both families needs packets.
  if (out.mode == BondMode::kRedundant && out.offload == OffloadSetting::kOn &&
      MixesFamilies(out)) {
    return InvalidField("link_aggregation.segmentation_offload",
                        "\"on\" cannot go with redundant mode over IPv4 and IPv6 uplinks: a "
                        "super-packet would reach only the paths of one family; leave it \"auto\" "
                        "(off then) or \"off\"");
  }
  if (absl::Status s = ResolveBackups(in, by_name, out); !s.ok()) return s;
  if (!in.has_primary()) {
    out.primary = std::find_if(out.paths.begin(), out.paths.end(), [](const PathSettings& p) {
                    return p.role == PathRole::kBonded;
                  })->name;
    return absl::OkStatus();
  }
  const auto it = by_name.find(in.primary());
  if (it == by_name.end()) {
    return InvalidField("interfaces.primary",
                      absl::StrCat(Quote(in.primary()), " is not the name of an uplink"));
  }
  if (out.paths[it->second].role == PathRole::kBackup) {
    return InvalidField("interfaces.primary",
                      absl::StrCat(Quote(in.primary()), " is also listed in interfaces.backups"));
  }
  out.primary = in.primary();
  return absl::OkStatus();
}

// After the uplinks: node_discovery.share_uplinks names them.
absl::Status ResolveSharedUplinks(const config::NodeDiscovery& d, NodeSettings& out) {
  // Each shared interface takes one forward relay port; there are never more
  // interfaces than uplinks, so they cannot run out.
  static_assert(MB_MAX_PATHS <= MB_RELAY_MAX_UPLINKS);
  for (int i = 0; i < d.share_uplinks_size(); ++i) {
    const std::string path = absl::StrCat("node_discovery.share_uplinks[", i, "]");
    const std::string& name = d.share_uplinks(i);
    const auto uplink = std::find_if(out.paths.begin(), out.paths.end(),
                                     [&](const PathSettings& p) { return p.name == name; });
    if (uplink == out.paths.end()) {
      return InvalidField(path, absl::StrCat(Quote(name), " is not the name of an uplink"));
    }
    if (uplink->endpoint == PathEndpoint::kRelay) {
      return InvalidField(path, absl::StrCat(Quote(name),
                                           " is itself relayed through a neighbour (its "
                                           "interface is the LAN); share an uplink of our own"));
    }
    std::vector<std::string>& shared = out.discovery.share_uplinks;
    if (std::find(shared.begin(), shared.end(), name) != shared.end()) {
      return InvalidField(path, absl::StrCat(Quote(name), " is listed twice"));
    }
    shared.push_back(name);
  }
  return absl::OkStatus();
}

// After everything: the relay ports (node_discovery.relay_port and the span
// above it, see bpf/meshbpf.h "Relaying") must not take a port this node
// already listens on. Checked when the node relays or the port was set.
absl::Status ResolveRelayPorts(const config::NodeDiscovery& d, const NodeSettings& node) {
  if (node.discovery.share_uplinks.empty() && !d.has_relay_port()) return absl::OkStatus();
  const uint32_t first = node.discovery.relay_port;
  const uint32_t last = first + MB_RELAY_PORT_SPAN - 1;
  for (const auto& [port, field] :
       {std::pair{node.port, "link_aggregation.port"},
        std::pair{node.failover.probe_port, "failover.probe_port"},
        std::pair{node.discovery.port, "node_discovery.port"}}) {
    if (port >= first && port <= last) {
      return InvalidField("node_discovery.relay_port",
                        absl::StrCat("relaying takes ports ", first, "..", last, ", which include ",
                                     field, " (", port, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace meshbpf::config_internal
