#include "agent/core/relay_plan.h"

#include <algorithm>
#include <array>
#include <set>
#include <tuple>
#include <utility>

#include "agent/core/map_shapes.h"

namespace meshbpf {
namespace {

// Whether a neighbour's uplink can carry a relayed path now: the relay drops
// everything once the uplink is down, its cap or the node's share is spent.
bool Offered(const RemotePath& c) {
  return c.uplink.shared && c.relay_port != 0 && c.uplink.loss_ppm < 1'000'000 &&
         (!c.share_remaining_bytes || *c.share_remaining_bytes > 0) &&
         (!c.uplink.cap_remaining_bytes || *c.uplink.cap_remaining_bytes > 0);
}


// Highest capacity, then lowest loss, then (node id, uplink): a total order,
// so the choice does not depend on the order candidates come in.
bool Better(const RemotePath& a, const RemotePath& b) {
  return std::tie(b.uplink.capacity_kbps, a.uplink.loss_ppm, a.node_id, a.uplink.name) <
         std::tie(a.uplink.capacity_kbps, b.uplink.loss_ppm, b.node_id, b.uplink.name);
}

RelayAssignment AssignmentOf(const RemotePath& c) {
  return RelayAssignment{c.node_id, c.node_name, c.uplink.name, c.node_address.address,
                         c.relay_port};
}

}  // namespace

std::optional<uint32_t> UplinkPathOf(const NodeSettings& settings, const std::string& interface,
                                     bool v6) {
  for (size_t i = 0; i < settings.paths.size() && i < MB_MAX_PATHS; ++i) {
    const PathSettings& p = settings.paths[i];
    if (p.interface == interface && p.ifindex != 0 && p.endpoint != PathEndpoint::kRelay &&
        p.source.is_v6() == v6) {
      return static_cast<uint32_t>(i);
    }
  }
  return std::nullopt;
}

bool RelayFilterAllows(const RelayFilter& filter, const std::string& node_id,
                       const std::string& node_name, const std::string& uplink) {
  return (filter.node.empty() || filter.node == node_id || filter.node == node_name) &&
         (filter.uplink.empty() || filter.uplink == uplink);
}

uint16_t SharedUplinkRelayPort(const DiscoverySettings& discovery, size_t k) {
  return static_cast<uint16_t>(discovery.relay_port + k);
}

std::vector<std::string> SharedUplinkInterfaces(const NodeSettings& settings) {
  std::vector<std::string> interfaces;
  for (const std::string& name : settings.discovery.share_uplinks) {
    const auto path = std::find_if(settings.paths.begin(), settings.paths.end(),
                                   [&](const PathSettings& p) { return p.name == name; });
    if (path != settings.paths.end() &&
        std::find(interfaces.begin(), interfaces.end(), path->interface) == interfaces.end()) {
      interfaces.push_back(path->interface);
    }
  }
  return interfaces;
}

std::vector<PlannedRelay> PlanRelays(const NodeSettings& settings,
                                     const std::map<std::string, MeshNode>& nodes,
                                     const std::vector<PlannedRelay>& previous,
                                     const LanLookup& lan_of) {
  const std::vector<std::string> interfaces = SharedUplinkInterfaces(settings);
  // The node's address in the family of its bonding peer, which its relays keep.
  auto relay_address = [](const MeshNode& node) -> std::optional<ScopedAddress> {
    if (!node.last.bond) return std::nullopt;
    return node.RelayAddress(node.last.bond->peer_address.is_v6());
  };
  // Two ids at one address (a node restarted under a new id before the old
  // one expired) would share the forward key {address, port}: only the one
  // heard last is served.
  std::map<IpAddress, const MeshNode*> at_address;
  for (const auto& [id, node] : nodes) {
    const std::optional<ScopedAddress> address = relay_address(node);
    if (!address) continue;
    const auto [it, inserted] = at_address.emplace(address->address, &node);
    if (!inserted && node.last_heard > it->second->last_heard) it->second = &node;
  }
  std::vector<PlannedRelay> wanted;  // in (node id, shared uplink) order
  for (const auto& [id, node] : nodes) {
    const std::optional<ScopedAddress> address = relay_address(node);
    if (!address || at_address.at(address->address) != &node) continue;
    const std::optional<LanSide> lan = lan_of(*address);
    if (!lan || lan->address.family != address->address.family) continue;
    const IpAddress& peer = node.last.bond->peer_address;
    for (size_t k = 0; k < interfaces.size(); ++k) {
      const std::optional<uint32_t> path_id = UplinkPathOf(settings, interfaces[k], peer.is_v6());
      if (!path_id) continue;
      PlannedRelay r;
      r.origin_id = id;
      r.origin_name = node.last.name;
      r.uplink_path = settings.paths[*path_id].name;
      r.relay.origin_ip = ToMbAddr(address->address);
      r.relay.lan_ip = ToMbAddr(lan->address);
      r.relay.peer_ip = ToMbAddr(peer);
      r.relay.flags = peer.is_v6() ? MB_RELAY_F_IPV6 : 0;
      r.relay.lan_ifindex = static_cast<uint32_t>(lan->ifindex);
      r.relay.uplink_path = *path_id;
      r.relay.origin_port = node.last.bond->tunnel_port;
      r.relay.peer_port = node.last.bond->peer_port;
      r.relay.relay_port = SharedUplinkRelayPort(settings.discovery, k);
      r.relay.in_use = 1;
      wanted.push_back(std::move(r));
    }
  }
  // Relays planned before keep their slots (their counters and return ports
  // stay theirs); new ones take the lowest free slots while any are left.
  std::array<bool, MB_MAX_RELAYS> taken{};
  std::vector<bool> slotted(wanted.size(), false);
  for (size_t i = 0; i < wanted.size(); ++i) {
    for (const PlannedRelay& before : previous) {
      if (before.origin_id == wanted[i].origin_id && before.uplink_path == wanted[i].uplink_path &&
          before.slot < MB_MAX_RELAYS && !taken[before.slot]) {
        wanted[i].slot = before.slot;
        taken[before.slot] = slotted[i] = true;
        break;
      }
    }
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (slotted[i]) continue;
    const auto free = std::find(taken.begin(), taken.end(), false);
    if (free == taken.end()) break;
    wanted[i].slot = static_cast<uint32_t>(free - taken.begin());
    *free = slotted[i] = true;
  }
  std::vector<PlannedRelay> planned;
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (!slotted[i]) continue;
    wanted[i].relay.return_port = static_cast<uint16_t>(
        settings.discovery.relay_port + MB_RELAY_RETURN_OFFSET + wanted[i].slot);
    planned.push_back(std::move(wanted[i]));
  }
  std::sort(planned.begin(), planned.end(),
            [](const PlannedRelay& a, const PlannedRelay& b) { return a.slot < b.slot; });
  return planned;
}

std::vector<std::optional<RelayAssignment>> AssignRelayPaths(
    const NodeSettings& settings, const std::vector<RemotePath>& candidates,
    const std::vector<std::optional<RelayAssignment>>& current) {
  std::vector<std::optional<RelayAssignment>> assigned(settings.paths.size());
  std::set<std::pair<std::string, std::string>> used;  // (node id, uplink)
  auto can_fill = [&](size_t path, const RemotePath& c) {
    const PathSettings& p = settings.paths[path];
    return p.endpoint == PathEndpoint::kRelay && Offered(c) &&
           (c.node_address.ifindex == 0 || c.node_address.ifindex == p.ifindex) &&
           RelayFilterAllows(p.relay, c.node_id, c.node_name, c.uplink.name) &&
           used.count({c.node_id, c.uplink.name}) == 0;
  };
  auto assign = [&](size_t path, const RemotePath& c) {
    assigned[path] = AssignmentOf(c);
    used.insert({c.node_id, c.uplink.name});
  };
  // First every path that keeps what it has, so no newcomer takes it away.
  for (size_t i = 0; i < assigned.size() && i < current.size(); ++i) {
    if (!current[i]) continue;
    const auto same = std::find_if(candidates.begin(), candidates.end(), [&](const RemotePath& c) {
      return c.node_id == current[i]->node_id && c.uplink.name == current[i]->uplink;
    });
    if (same != candidates.end() && can_fill(i, *same)) assign(i, *same);
  }
  for (size_t i = 0; i < assigned.size(); ++i) {
    if (assigned[i]) continue;
    const RemotePath* best = nullptr;
    for (const RemotePath& c : candidates) {
      if (can_fill(i, c) && (best == nullptr || Better(c, *best))) best = &c;
    }
    if (best != nullptr) assign(i, *best);
  }
  return assigned;
}

}  // namespace meshbpf
