// Config loading: JSON text -> protobuf message -> validated NodeSettings.
//
// Every rejection names the field it is about ("interfaces.uplinks[1].gateway:
// ..."), and no value the user wrote is ever replaced by a default.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/config_defaults.h"
#include "agent/core/data_cap.h"
#include "agent/core/handshake.h"
#include "agent/core/ip_address.h"
#include "agent/core/listen_address.h"
#include "proto/config.pb.h"

namespace meshbpf {

enum class BondMode { kLoadBalance, kFlow, kRedundant, kActiveBackup, kLatency };
enum class OffloadSetting { kAuto, kOn, kOff };

std::string_view BondModeName(BondMode mode);
// Parses a mode name; the error lists the valid names.
absl::StatusOr<BondMode> ParseBondMode(std::string_view name);

// What the agent needs to know about a local network device.
struct InterfaceInfo {
  int ifindex = 0;
  uint32_t mtu = 0;
  std::optional<in_addr> ipv4;   // first IPv4 address, if any
  std::vector<in6_addr> ipv6;    // global IPv6 addresses, the first preferred
  std::optional<in6_addr> ipv6_link_local;  // a relayed IPv6 path's source
  std::array<uint8_t, 6> mac{};
  bool up = false;       // administratively up
  bool running = false;  // and has carrier (operationally up)
};

// The device's address of a family (its first global one for IPv6), if any.
std::optional<IpAddress> DeviceAddress(const InterfaceInfo& device, bool v6);
// The device's link-local IPv6 address, if any: a relayed IPv6 path's source.
std::optional<IpAddress> LinkLocalAddress(const InterfaceInfo& device);
// The device's address a path sending from `source` uses: its link-local
// one for a link-local source (a relayed IPv6 path), else DeviceAddress.
std::optional<IpAddress> DeviceAddressLike(const InterfaceInfo& device, const IpAddress& source);
// Whether the device has `address` (a global or its link-local one).
bool DeviceHasAddress(const InterfaceInfo& device, const IpAddress& address);

// Looks up devices by name; the real one asks the kernel, tests use a fake.
class InterfaceLookup {
 public:
  virtual ~InterfaceLookup() = default;
  virtual std::optional<InterfaceInfo> Find(std::string_view name) const = 0;
};

enum class PathRole { kBonded, kBackup };

// Where a path's far end comes from.
enum class PathEndpoint {
  kConfigured,  // remote_address (or peer_address) and remote_port
  kRelay,       // a mesh neighbour's shared uplink, chosen at run time (uplinks[].relay)
  kLearned,     // the bonding peer's side of a relayed path (uplinks[].learn_remote)
};

// uplinks[].relay: which neighbours' uplinks may fill a relayed path.
struct RelayFilter {
  std::string node;    // node_name or node_id; empty: any
  std::string uplink;  // uplink name on that node; empty: any shared one
};

// One validated path. Its path id is its index in NodeSettings::paths, which
// is its position in interfaces.uplinks.
struct PathSettings {
  std::string name;
  std::string interface;
  int ifindex = 0;
  uint32_t mtu = 0;
  // The outer addresses: both IPv4 or both IPv6 (the remote's family
  // decides). Relayed and learned paths are IPv4.
  IpAddress source;
  // No source_address configured: the source is the interface's address and
  // follows it when it changes (DHCP, a PPP or modem reconnect, SLAAC).
  bool source_from_interface = false;
  IpAddress remote;
  std::optional<IpAddress> gateway;  // nullopt: let the routing table decide
  uint16_t remote_port = 0;
  double rate_bps = 0;  // config: rate_mbit
  double delay_ms = 0;
  PathRole role = PathRole::kBonded;
  int backup_order = -1;  // position in interfaces.backups for kBackup paths
  std::optional<CapPlan> data_cap;  // nullopt: unmetered
  PathEndpoint endpoint = PathEndpoint::kConfigured;
  RelayFilter relay;  // kRelay only
  // kRelay and kLearned paths: false until the agent has filled in the far
  // end (remote, remote_port; for kRelay also source, the LAN address), and
  // again when it is withdrawn. The data path gets no entry for such a path
  // meanwhile. Always true for kConfigured.
  bool endpoint_known = true;
};

// An address of the bond device with its prefix length
// (link_aggregation.bond_address or bond_address_ipv6, by its family).
struct BondAddress {
  IpAddress address;
  int prefix_len = 0;
  bool operator==(const BondAddress&) const = default;
};

// The bits of an IPv4 address a prefix of `prefix_len` covers, host order.
inline uint32_t PrefixMask(int prefix_len) {
  return prefix_len <= 0 ? 0 : 0xffffffffu << (32 - std::min(prefix_len, 32));
}

// Members start at their defaults (config_defaults.h).
struct FailoverSettings {
  double monitoring_interval_s = config_defaults::kMonitoringIntervalS;
  uint32_t threshold = config_defaults::kThreshold;
  uint32_t recovery_threshold = config_defaults::kRecoveryThreshold;
  double rebalance_interval_s = config_defaults::kRebalanceIntervalS;
  uint16_t probe_port = config_defaults::kProbePort;
  // Percent, as configured: HealthParams::degrade_loss / recover_loss are
  // these over 100.
  double degrade_loss_percent = config_defaults::kDegradeLossPercent;
  double recover_loss_percent = config_defaults::kRecoverLossPercent;
};

struct DiscoverySettings {
  bool enabled = false;
  uint16_t port = config_defaults::kDiscoveryPort;
  double broadcast_interval_s = config_defaults::kBroadcastIntervalS;
  double node_timeout_s = config_defaults::kNodeTimeoutS;
  std::string node_name;
  std::string mesh_key;
  std::vector<std::string> interfaces;     // where announcements go and come from
  std::vector<std::string> share_uplinks;  // path names announced as shared
  std::string node_id;  // empty: "<machine-id>:<instance>", chosen by the agent
  uint16_t relay_port = config_defaults::kRelayPort;  // see bpf/meshbpf.h, "Relaying"
  std::optional<CapPlan> share_cap;      // budget of relayed bytes; nullopt: none
  double share_max_bps = 0;  // config: share_max_mbit; 0: no rate ceiling
};

// Names the share budget among the data caps (history store, `meshbpf
// cap`); no uplink may take this name.
inline constexpr char kShareCapName[] = "node_discovery.share_cap";

struct MonitoringSettings {
  std::string history_file;  // empty: /var/lib/meshbpf/<instance>.db (DefaultHistoryFile)
  bool history = true;
  double sample_interval_s = config_defaults::kSampleIntervalS;
  std::optional<ListenAddress> metrics_listen;  // Prometheus endpoint; none: not served
  bool metrics_allow_remote = false;
  bool status_page = false;  // also serve the status page at metrics_listen
  // Who besides root may change the agent's state (control_access.h); the
  // agent resolves the name on its host. Empty: root only.
  std::string control_group;
};

// Where the history of `instance` goes when monitoring.history_file is not set.
std::string DefaultHistoryFile(const std::string& instance);

// A firewall mark and the bits of it that count (fwmark MARK/MASK).
struct FwMark {
  uint32_t mark = 0;
  uint32_t mask = 0xffffffff;
  bool operator==(const FwMark&) const = default;
};

// An IPv4 or IPv6 prefix of inner traffic, no bits beyond its length
// (link_aggregation.peer_allowed_sources, link_aggregation.routing).
struct InnerPrefix {
  int family = 0;                   // AF_INET or AF_INET6
  std::array<uint8_t, 16> address{};  // IPv4 in the first 4 bytes, network order
  int prefix_len = 0;
  bool operator==(const InnerPrefix&) const = default;
};

// Whether `address` lies in `prefix` (always false across families).
bool PrefixCovers(const InnerPrefix& prefix, const IpAddress& address);

// link_aggregation.routing: which traffic the agent's policy-routing rules
// send into the bond (agent/core/routing_plan.h turns it into rules).
struct RoutingSettings {
  uint32_t table = config_defaults::kRoutingTable;
  uint32_t priority = config_defaults::kRoutingPriority;
  // IPv4 and IPv6 prefixes; at least one after resolution.
  std::vector<InnerPrefix> destinations;
  std::vector<InnerPrefix> sources;
  std::vector<FwMark> fwmarks;
  // Below the cgroup2 mount, without a leading '/'; marked with cgroup_mark.
  std::vector<std::string> cgroups;
  uint32_t cgroup_mark = config_defaults::kCgroupMark;

  bool has_selector() const { return !sources.empty() || !fwmarks.empty() || !cgroups.empty(); }
};

// link_aggregation.authentication (docs/design/tunnel-auth.md).
struct TunnelAuthSettings {
  std::string private_key_file;  // read by the agent at start (agent/sys/key_file.h)
  X25519Key peer_public_key{};
  bool encryption = false;  // link_aggregation.encryption
  bool operator==(const TunnelAuthSettings&) const = default;
};

struct NodeSettings {
  BondMode mode = BondMode::kLoadBalance;
  std::string bond_interface = config_defaults::kBondInterface;
  std::optional<BondAddress> bond_address;  // IPv4
  // Either family; an IPv6 one makes relayed paths IPv6 (over the LAN's link-local addresses).
  std::optional<IpAddress> peer_address;
  std::optional<in_addr> peer_bond_address;  // where path probes go
  std::optional<BondAddress> bond_address_ipv6;  // IPv6
  std::optional<IpAddress> peer_bond_address_ipv6;  // IPv6; an allowed inner source
  uint16_t port = config_defaults::kTunnelPort;  // local listen port and default remote port
  OffloadSetting offload = OffloadSetting::kAuto;
  uint32_t latency_packet_bytes = config_defaults::kLatencyPacketBytes;
  double reorder_deadline_ms = config_defaults::kReorderDeadlineMs;  // 0: resequencing off
  bool floor_guard = config_defaults::kFloorGuard;  // acts in load_balance and latency modes
  // Resolved from the file: set, or on where it applies (config_defaults::kLossRepair).
  bool loss_repair = false;
  uint32_t max_queue_size = config_defaults::kMaxQueueSize;  // packets resequencing holds at most; 0: all slots
  std::optional<RoutingSettings> routing;  // none: the host's own routes choose
  std::optional<TunnelAuthSettings> authentication;  // none: tunnel packets carry no tag
  // Inner sources the peer may send from; empty: any (no check).
  std::vector<InnerPrefix> peer_allowed_sources;
  std::string primary;  // name of the primary path
  std::vector<PathSettings> paths;
  FailoverSettings failover;
  DiscoverySettings discovery;
  MonitoringSettings monitoring;
};

// Whether some path is IPv6; whether some paths are IPv4 and others IPv6.
bool HasIpv6Path(const NodeSettings& settings);
bool MixesFamilies(const NodeSettings& settings);
// Whether our relayed paths are IPv6: a relay keeps the bonding peer's family.
bool RelayedOverIpv6(const NodeSettings& settings);

// `text` with every `//` comment (to the end of its line, outside strings)
// blanked out, so configs can explain themselves (meshbpf config --output).
std::string StripLineComments(std::string_view text);

// JSON (with `//` line comments) -> message. Rejects syntax errors, unknown
// fields and wrong types.
absl::StatusOr<config::Config> ParseConfigJson(std::string_view json);

// Message -> settings: applies defaults for absent fields, checks ranges,
// cross-references (primary/backups name uplinks, names unique) and looks up
// every interface. `host_name` is node_discovery.node_name's default.
// Reading a config file: agent/sys/config_file.h.
absl::StatusOr<NodeSettings> ResolveConfig(const config::Config& config,
                                           const InterfaceLookup& interfaces,
                                           std::string_view host_name);

}  // namespace meshbpf
