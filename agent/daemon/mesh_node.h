// Mesh discovery in the agent: announces this node on every interface in
// node_discovery.interfaces each broadcast_interval, over each family the
// interface has an address of (an IPv4 broadcast, the IPv6 link-local group
// kDiscoveryGroupIpv6; an IPv6-only LAN announces over IPv6 alone), takes in what the
// neighbours announce (agent/discovery.h does the checking), forgets nodes
// not heard for node_timeout, logs joins, changes and departures, and
// describes all of it for `meshbpf peers`.
//
// It also plans relaying (agent/relay_plan.h has the pure part) whenever the
// node table changes and once per interval:
// - sharing (node_discovery.share_uplinks): the relays this node serves go
//   into the data path's relay maps; the shared uplinks are announced with
//   their relay ports, and the share budget left with the relay capability;
// - origin (uplinks with "relay"): which neighbour uplink fills each relayed
//   path; the agent applies changes through MeshHooks::on_relayed_path. Such
//   a node announces its bond endpoint, so relays know where to forward.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/config.h"
#include "agent/core/control_protocol.h"
#include "agent/core/discovery.h"
#include "agent/sys/discovery_socket.h"
#include "agent/sys/map_io.h"
#include "agent/core/relay_plan.h"

namespace meshbpf {

// What this node announces as its software version.
inline constexpr char kAgentVersion[] = "0.1.0";

// What the agent measured on one path (its PathHealth), for the announcement.
struct PathReport {
  bool down = false;
  double capacity_bps = 0;
  std::optional<double> srtt_ns;  // absent: no RTT sample yet
  double loss = 0;                // fraction, 0..1
  std::optional<uint64_t> cap_remaining_bytes;  // absent: no data cap
};
using PathReporter = std::function<PathReport(size_t path)>;
using UplinkTypeOf = std::function<UplinkType(const std::string& interface)>;

// This node's uplinks as announced: one per interface (several paths over
// one interface are one uplink, measured by the first of them), shared when
// any of its paths is in node_discovery.share_uplinks, then with its relay
// port (SharedUplinkRelayPort). Relayed paths are a neighbour's uplinks, not
// ours: left out. A down path is announced with 100% loss: it carries nothing.
std::vector<AnnouncedUplink> LocalUplinks(const NodeSettings& settings, const PathReporter& report,
                                          const UplinkTypeOf& type_of);

// node_discovery.node_id, or "<machine-id>:<instance>" (the machine id alone
// is the same in every namespace and container of a host). The error names
// the field to set when the default is unusable.
absl::StatusOr<std::string> ChooseNodeId(const DiscoverySettings& settings,
                                         const std::string& machine_id_file,
                                         const std::string& instance);

// Whether this node relays for neighbours: discovery on and some uplink shared.
bool SharesUplinks(const NodeSettings& settings);

// What this node announces about relaying. Relay capability: when it shares
// uplinks, at node_discovery.relay_port, share_max_bps as the ceiling and
// the share budget left. Bond endpoint: when it has relayed paths, its
// bonding peer (peer_address, link_aggregation.port) and its own tunnel port.
std::optional<RelayCapability> AnnouncedRelay(const NodeSettings& settings,
                                              std::optional<uint64_t> share_remaining_bytes);
std::optional<BondEndpoint> AnnouncedBond(const NodeSettings& settings);

// A node_discovery interface: its IPv4 network and its IPv6 link-local address.
struct LanInterface {
  int ifindex = 0;
  in_addr address{};
  int prefix_len = 0;
  std::optional<in6_addr> link_local;
};
// The LAN `neighbour` is on and our address there of its family: over IPv4
// the first of `lans` whose subnet holds it; over IPv6 the interface it was
// heard on, with our link-local address (discovery's IPv6 is link-local, so
// that is where it heard us, and where it sends what we relay).
std::optional<LanSide> LanHolding(const ScopedAddress& neighbour,
                                  const std::vector<LanInterface>& lans);

// mb_paths' outer addresses of every path whose far end is known: the
// sources the data path accepts tunnel packets from (flow mode: none).
std::set<IpAddress> PeerAddresses(const NodeSettings& settings);

// The far end of a learned path (uplinks[].learn_remote) as a probe showed it.
struct LearnedEndpoint {
  IpAddress remote;  // IPv4: learned paths are relayed over a mesh LAN
  uint16_t remote_port = 0;
  IpAddress source;  // our address it arrived at
  int ifindex = 0;   // where it arrived
};
// A probe younger than this recorded its source in mb_learned.
inline constexpr uint64_t kLearnedFreshNs = 2'000'000'000;
// What path `path` should adopt, given what mb_learned holds after an
// authenticated probe request arrived on it at `now_ns`: nullopt when the
// path is not learned, the record is empty or stale, or it is the endpoint
// already in use.
std::optional<LearnedEndpoint> EndpointToLearn(const PathSettings& path,
                                               const mb_learned_source& seen, uint64_t now_ns);

// One log line per relay started, stopped or changed between two plans,
// e.g. "relaying for node1 through wan0 (slot 0, return port 7243)".
std::vector<std::string> RelayPlanChanges(const std::vector<PlannedRelay>& before,
                                          const std::vector<PlannedRelay>& after);

// What the agent lends discovery.
struct MeshHooks {
  PathReporter report;
  // The share budget left (node_discovery.share_cap); nullopt: none.
  std::function<std::optional<uint64_t>()> share_remaining;
  // What fills relayed path `path` now; nullopt: withdrawn.
  std::function<void(size_t path, const std::optional<RelayAssignment>&)> on_relayed_path;
  // The relay maps to serve relays through; null: relays are planned and
  // shown, not served (tests).
  const RelayMaps* relay_maps = nullptr;
  LanLookup lan_of;
  // A LAN device created again while this node relays: neighbours' packets
  // arrive there, so the receive program must be on it. Null: not attached
  // (tests).
  std::function<absl::Status(int ifindex)> attach_lan;
};

class MeshDiscovery {
 public:
  // Opens one discovery socket per node_discovery.interfaces entry. When
  // sharing, clears relays a previous run left in the maps.
  static absl::StatusOr<std::unique_ptr<MeshDiscovery>> Start(const NodeSettings& settings,
                                                              const std::string& instance,
                                                              MeshHooks hooks);

  // Sockets to watch; call OnReadable with the one that became readable.
  std::vector<int> fds() const;
  void OnReadable(int fd);
  // Every broadcast_interval: forget silent nodes, plan relaying, announce.
  void OnInterval();

  size_t node_count() const { return table_.nodes().size(); }
  // What fills relayed path `path`; nullopt: nothing (or not a relayed path).
  const std::optional<RelayAssignment>& relayed_path(size_t path) const {
    return assignments_[path];
  }
  // Why relayed path `path` is empty though a live neighbour offers a shared
  // uplink its filter takes: the neighbour is not heard over the bonding
  // peer's family, its uplinks have no path of it, or it is on another LAN,
  // e.g. "a relayed path takes the bonding peer's family (IPv6): node2
  // (10.210.0.2): not heard over IPv6"; nullopt when it is filled, not
  // relayed, or no such neighbour offers.
  std::optional<std::string> RelayUnavailable(size_t path) const;
  // The "peers" control reply: this node, the live nodes (and which of our
  // paths they fill), the relayed paths they offer, the relays this node
  // serves with their counters, and drop counters by reason.
  PeersReply Peers() const;

 private:
  struct Interface {
    std::string name;
    int ifindex = 0;
    std::unique_ptr<DiscoverySocket> socket;       // IPv4
    std::unique_ptr<DiscoverySocket> ipv6_socket;  // null: no IPv6 on this host
    // How it announces ("over IPv4 and IPv6", "over IPv6 only (no IPv4
    // address)", or why it cannot): logged when it changes.
    std::string announcing;
  };
  // A discovery interface deleted and created again has a new ifindex,
  // which its sockets, bound to the old one, would never see.
  void FollowRecreatedDevice(Interface& i);
  // Announces `frames` (one per family) on one interface; returns how.
  std::string AnnounceOn(Interface& i, const std::vector<uint8_t>& ipv4_frame,
                         const std::vector<uint8_t>& ipv6_frame);
  // "fe80::2%lan0" for a link-local address, else the address alone.
  std::string AddressText(const ScopedAddress& address) const;
  std::string InterfaceName(int ifindex) const;
  MeshDiscovery(const NodeSettings& settings, std::string node_id, MeshHooks hooks);
  void Announce();
  // Logs how the candidate relayed paths changed since the last call.
  void UpdateRemotePaths();
  // Plans the relays we serve and fills our relayed paths from the table.
  void UpdateRelaying();
  void ServeRelays();
  void FillRelayedPaths();
  RelayingEntry Relaying() const;

  const NodeSettings& settings_;
  const std::string node_id_;
  const uint64_t epoch_;  // Unix ms at start: grows across restarts
  MeshHooks hooks_;
  uint64_t seq_ = 0;
  uint64_t announcements_sent_ = 0;
  uint64_t send_errors_ = 0;
  std::vector<Interface> interfaces_;
  ReplayGuard replay_;
  NodeTable table_;
  DropMonitor drops_;
  AnnouncementIntake intake_;
  std::vector<RemotePath> remote_paths_;
  // Why a node's relay offer or request cannot be taken up (node id ->
  // RelayUnsupportedReason), as last logged.
  std::map<std::string, std::string> relay_unsupported_;
  // When each live node joined (wall clock, Unix ms), for `peers` and for
  // measuring how long discovery takes.
  std::map<std::string, uint64_t> joined_ms_;
  // Sharing: the relays in the maps, and each slot's counters when its
  // relay started (slots are reused; `peers` shows what each relay moved).
  std::vector<PlannedRelay> relays_;
  std::map<uint32_t, mb_relay_counters> relay_baseline_;
  // Origin: what fills each of our paths (indexed by path id).
  std::vector<std::optional<RelayAssignment>> assignments_;
};

}  // namespace meshbpf
