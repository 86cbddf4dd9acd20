// Relaying through mesh neighbours, the pure part: no I/O, no clock.
//
// Three roles (bpf/meshbpf.h, "Relaying", has the packet's view):
// - a sharing node (node_discovery.share_uplinks) serves one relay per
//   (live node announcing a bond endpoint, shared uplink): PlanRelays;
// - an origin fills its relayed paths (interfaces.uplinks[].relay) with the
//   neighbours' shared uplinks: AssignRelayPaths;
// - the bonding peer learns each relayed path's far end from the client's
//   authenticated probes (uplinks[].learn_remote): the agent does that with
//   mb_learned, nothing to plan.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/config.h"
#include "agent/core/discovery.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

// The relay port of the k-th shared uplink (node_discovery.share_uplinks
// order, counting each interface once).
uint16_t SharedUplinkRelayPort(const DiscoverySettings& discovery, size_t k);

// The interfaces of node_discovery.share_uplinks in that order, each once:
// the k-th is the k-th shared uplink (announced under its interface name).
std::vector<std::string> SharedUplinkInterfaces(const NodeSettings& settings);

// Our path that carries relays of a family (`v6`) out of `interface`: the
// first one of that family on it that the data path knows (ifindex set) and
// that is an uplink of our own.
std::optional<uint32_t> UplinkPathOf(const NodeSettings& settings, const std::string& interface,
                                     bool v6);

// The LAN a neighbour is reached through, and our address there of its
// family: for IPv4 the node_discovery interface whose subnet holds its
// address; for IPv6 the interface it was heard on, and our link-local
// address there (where it heard our announcements).
struct LanSide {
  int ifindex = 0;
  IpAddress address;
};
using LanLookup = std::function<std::optional<LanSide>(const ScopedAddress& neighbour)>;

// One relay this node serves.
struct PlannedRelay {
  std::string origin_id;    // node id
  std::string origin_name;
  std::string uplink_path;  // our path (its name) whose uplink carries it
  uint32_t slot = 0;        // index in mb_relays, mb_relay_counters
  mb_relay relay{};         // in_use = 1
};

// Every live node that announces a bond endpoint gets one relay per shared
// uplink that has a path of its bonding peer's family, as long as
// MB_MAX_RELAYS slots last (nodes in id order). A relay keeps that family:
// the node reaches us over it on the LAN. A relay in `previous` that is
// still wanted keeps its slot (its counters and return port stay its own);
// a node whose address is on none of our LANs gets none, nor one not heard
// over its peer's family (RelayUnsupportedReason).
// Uplinks are shared only through paths the data path knows (ifindex set).
std::vector<PlannedRelay> PlanRelays(const NodeSettings& settings,
                                     const std::map<std::string, MeshNode>& nodes,
                                     const std::vector<PlannedRelay>& previous,
                                     const LanLookup& lan_of);

// What fills one relayed path of ours.
struct RelayAssignment {
  std::string node_id;
  std::string node_name;
  std::string uplink;       // its uplink name
  IpAddress address;        // the neighbour's LAN address: our packets go there
  uint16_t relay_port = 0;  // at this port
  bool operator==(const RelayAssignment& other) const {
    return node_id == other.node_id && uplink == other.uplink && address == other.address &&
           relay_port == other.relay_port;
  }
};

// Whether a relayed path's filter (uplinks[].relay) takes a neighbour's
// uplink: its node by id or name, its uplink by name; empty matches any.
bool RelayFilterAllows(const RelayFilter& filter, const std::string& node_id,
                       const std::string& node_name, const std::string& uplink);

// Indexed by path id like settings.paths; nullopt for every path that is not
// a relayed one or has no neighbour uplink. `candidates` are of the bonding
// peer's family (RemotePaths); one heard on another interface than a path's
// cannot fill it (its address may be link-local). A relayed path keeps its current
// assignment while the candidate is still offered (same node and uplink,
// shared, not down, share budget left); otherwise it takes the best free
// candidate its filter allows: highest capacity, then lowest loss, then
// (node id, uplink). No (node, uplink) fills two paths.
std::vector<std::optional<RelayAssignment>> AssignRelayPaths(
    const NodeSettings& settings, const std::vector<RemotePath>& candidates,
    const std::vector<std::optional<RelayAssignment>>& current);

}  // namespace meshbpf
