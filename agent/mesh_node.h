// Mesh discovery in the agent: announces this node on every interface in
// node_discovery.interfaces each broadcast_interval, takes in what the
// neighbours announce (agent/discovery.h does the checking), forgets nodes
// not heard for node_timeout, logs joins, changes and departures, and
// describes all of it for `meshbpf peers`.
//
// Relaying traffic through neighbours is a later step: the relayed paths the
// live nodes offer are computed and shown as candidates, never added to the
// bond. A node announces a relay capability (at its tunnel port) when it
// shares at least one uplink (node_discovery.share_uplinks).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "agent/config.h"
#include "agent/discovery.h"
#include "agent/discovery_socket.h"

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
// any of its paths is in node_discovery.share_uplinks. A down path is
// announced with 100% loss: it carries nothing.
std::vector<AnnouncedUplink> LocalUplinks(const NodeSettings& settings, const PathReporter& report,
                                          const UplinkTypeOf& type_of);

// node_discovery.node_id, or "<machine-id>:<instance>" (the machine id alone
// is the same in every namespace and container of a host). The error names
// the field to set when the default is unusable.
absl::StatusOr<std::string> ChooseNodeId(const DiscoverySettings& settings,
                                         const std::string& machine_id_file,
                                         const std::string& instance);

// The table `meshbpf peers` prints from the agent's "peers" reply.
std::string PeersTable(const nlohmann::json& peers);

class MeshDiscovery {
 public:
  // Opens one discovery socket per node_discovery.interfaces entry.
  static absl::StatusOr<std::unique_ptr<MeshDiscovery>> Start(const NodeSettings& settings,
                                                         const std::string& instance,
                                                         PathReporter report);

  // Sockets to watch; call OnReadable with the one that became readable.
  std::vector<int> fds() const;
  void OnReadable(int fd);
  // Every broadcast_interval: forget silent nodes, then announce.
  void OnInterval();

  size_t node_count() const { return table_.nodes().size(); }
  // The "peers" control reply: this node, the live nodes, candidate relayed
  // paths and drop counters by reason.
  nlohmann::json PeersJson() const;

 private:
  struct Interface {
    std::string name;
    std::unique_ptr<DiscoverySocket> socket;
    bool send_failing = false;  // logs only when sending starts or stops failing
  };
  MeshDiscovery(const NodeSettings& settings, std::string node_id, PathReporter report);
  void Announce();
  // Logs how the candidate relayed paths changed since the last call.
  void UpdateRemotePaths();

  const NodeSettings& settings_;
  const std::string node_id_;
  const uint64_t epoch_;  // Unix ms at start: grows across restarts
  PathReporter report_;
  uint64_t seq_ = 0;
  uint64_t announcements_sent_ = 0;
  uint64_t send_errors_ = 0;
  std::vector<Interface> interfaces_;
  ReplayGuard replay_;
  NodeTable table_;
  DropMonitor drops_;
  AnnouncementIntake intake_;
  std::vector<RemotePath> remote_paths_;
  // When each live node joined (wall clock, Unix ms), for `peers` and for
  // measuring how long discovery takes.
  std::map<std::string, uint64_t> joined_ms_;
};

}  // namespace meshbpf
