// Mesh discovery, the pure part: the announcement wire format and its
// validation, replay protection, the table of live nodes, the relayed paths
// they offer, and rate-limited drop logging. No sockets or files here (see
// agent/sys/discovery_socket.h, uplink_type.h) and no clock reads: time comes in
// through parameters or an injected clock, so all of it runs under test.
//
// Trust: discovery needs a mesh key. With an empty key nothing is encoded
// and everything received is dropped (config.cc already refuses to enable
// node_discovery without a key of at least 16 characters), so a node without
// the key can neither join nor be fooled by a keyless one.
#pragma once

#include <netinet/in.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/core/ip_address.h"
#include "agent/core/log_throttle.h"

namespace meshbpf {

// --- Wire format ------------------------------------------------------------
// magic "MBAN"(4) version(1) flags=0(1) body length(2, big endian)
// body (a serialized meshbpf.mesh.Announcement)
// HMAC-SHA256(mesh key, everything before the tag)(32)
inline constexpr size_t kAnnouncementHeaderSize = 8;
inline constexpr size_t kAnnouncementOverhead = kAnnouncementHeaderSize + 32;
// Fits one unfragmented datagram on any uplink (IPv4 minimum reassembly is
// 576, but every link here carries at least 1280 + headers).
inline constexpr size_t kMaxAnnouncementSize = 1200;
inline constexpr size_t kMaxAnnouncedUplinks = 16;

// --- Where announcements go ---------------------------------------------------
// IPv4: the directed broadcast of each node_discovery interface. IPv6 has no
// broadcast: announcements go to this fixed multicast group on each
// interface, joined there. Link scope (ff02::) because discovery is about the
// LAN itself: routers never forward it, so it reaches exactly the segment
// the IPv4 broadcast reaches, and it needs no address but the link-local one
// every IPv6 interface has (an IPv6-only mesh LAN needs no configuration).
// A group of our own, not all-nodes (ff02::1), so hosts that do not run
// meshbpf are spared the traffic where switches snoop MLD. 0x6d62 is "mb";
// it is outside IANA's assigned ff02:: addresses. Fixed, not configurable:
// nodes that disagree on it would never meet.
inline constexpr std::array<uint8_t, 16> kDiscoveryGroupIpv6 = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                                                0,    0,    0, 0, 0, 0, 0x6d, 0x62};
// Announcements over IPv6 leave with hop limit 255, and one arriving with
// less crossed a router: it is dropped (kOffLink), like neighbour discovery
// does (RFC 4861). Link-local scope alone would not tell a datagram sent to
// our unicast address from elsewhere.
inline constexpr int kDiscoveryHopLimit = 255;

// An address a node was heard from, with the interface it arrived on: an
// IPv6 link-local address (fe80::/10) means nothing without it (RFC 4007
// scope), and it names the LAN for the other families too.
struct ScopedAddress {
  IpAddress address;
  int ifindex = 0;
  auto operator<=>(const ScopedAddress&) const = default;
};
// "10.210.0.2", "2001:db8::2" or, link-local, "fe80::2%3" (RFC 4007's
// numeric zone; the daemon, which knows interface names, writes those).
std::string ScopedAddressText(const ScopedAddress& address);

enum class UplinkType { kEthernet, kWifi, kCellular, kOther };
absl::string_view UplinkTypeName(UplinkType type);

struct AnnouncedUplink {
  std::string name;  // the interface name on the announcing node
  UplinkType type = UplinkType::kOther;
  uint64_t capacity_kbps = 0;  // 0 = not measured yet
  uint64_t rtt_us = 0;
  uint32_t loss_ppm = 0;
  std::optional<uint64_t> cap_remaining_bytes;  // absent: no data cap
  bool shared = false;
  uint16_t relay_port = 0;  // where the node relays through it; nonzero iff shared
  // Which families it relays: one needs a path of the family on it. Only if shared.
  bool relays_ipv4 = false, relays_ipv6 = false;
  bool Relays(bool v6) const { return v6 ? relays_ipv6 : relays_ipv4; }
  bool operator==(const AnnouncedUplink&) const = default;
};
// Whether two announcements of an uplink differ at most in what it measured
// or has left (capacity, RTT, loss, cap remaining), which change with every
// announcement and are worth no log line.
bool SameButMeasurements(const AnnouncedUplink& a, const AnnouncedUplink& b);

struct RelayCapability {
  uint16_t relay_port = 0;
  uint64_t max_relay_kbps = 0;  // 0 = no limit announced
  std::optional<uint64_t> share_remaining_bytes;  // absent: no share budget
  bool operator==(const RelayCapability&) const = default;
};

// Where relays forward the announcing node's traffic and return the answers.
struct BondEndpoint {
  // Its bonding peer: 4 bytes on the wire for IPv4, 16 for IPv6. A relay
  // forwards in this family and is reached over the LAN in it.
  IpAddress peer_address;
  uint16_t peer_port = 0;
  uint16_t tunnel_port = 0;  // the node's own, on the address it announces from
  bool operator==(const BondEndpoint&) const = default;
};

struct Announcement {
  std::string node_id;
  std::string name;
  std::string version;
  uint64_t epoch = 0;  // grows with every agent start
  uint64_t seq = 0;    // strictly increasing within an epoch, from 1
  // Sender's wall clock, Unix ms; informative only, never compared with ours
  // (ReplayGuard).
  uint64_t timestamp_ms = 0;
  std::vector<AnnouncedUplink> uplinks;
  std::optional<RelayCapability> relay;
  std::optional<BondEndpoint> bond;  // absent: uses no relays
  // The family the sender sent this copy over (AF_INET or AF_INET6). Under
  // the tag: one announcement goes out over both families with one seq, and
  // this keeps a copy captured on one from being replayed on the other.
  int sent_over = AF_INET;
  bool operator==(const Announcement&) const = default;
};

// Why a received datagram was not accepted. Every one is counted.
enum class DropReason {
  kTooShort,           // shorter than header + tag
  kOversized,          // longer than kMaxAnnouncementSize (or cut by the socket)
  kBadMagic,
  kUnsupportedVersion,
  kBadHeader,          // nonzero flags
  kLengthMismatch,     // declared body length differs from what arrived
  kBadTag,             // forged, altered, or sent with another key
  kMalformedBody,      // protobuf does not parse
  kInvalidField,       // parses, but a field is out of range or badly formed
  kReplayed,           // old epoch, or seq not above the last one accepted
  kTableFull,          // a new node while kMaxNodes are already known
  kOffLink,            // IPv6 hop limit below kDiscoveryHopLimit: crossed a router
  kFamilyMismatch,     // says it was sent over one family, arrived over the other
};
inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kFamilyMismatch) + 1;
absl::string_view DropReasonName(DropReason reason);

struct Drop {
  DropReason reason;
  std::string detail;  // names the field or check that failed
};

// Why a text cannot be announced as a node id (1-64 of [A-Za-z0-9._:-]) or
// node name (1-64 of [A-Za-z0-9._-]), e.g. "is empty"; nullopt if it can.
// For config validation, so a bad name is refused at load, not at send.
std::optional<std::string> NodeIdProblem(absl::string_view node_id);
std::optional<std::string> NodeNameProblem(absl::string_view name);

// Refuses (naming the field) an announcement that DecodeAnnouncement would
// reject, an empty key, or one that does not fit kMaxAnnouncementSize.
absl::StatusOr<std::vector<uint8_t>> EncodeAnnouncement(const Announcement& announcement,
                                                        absl::string_view mesh_key);

// Checks size, magic, version, length and tag before parsing the body, then
// validates every field. An empty key drops everything as kBadTag.
std::variant<Announcement, Drop> DecodeAnnouncement(const uint8_t* data, size_t size,
                                                    absl::string_view mesh_key);

// --- Replay protection --------------------------------------------------------
// Per node: the epoch must not go back and seq must grow within an epoch,
// per address family (Announcement::sent_over): the copy sent over IPv4 and
// the one sent over IPv6 carry the same seq, and each is taken once.
// Wall clocks are not compared: a node whose clock is far off ours (a board
// without a real-time clock at 1970, NTP stepping) is heard all the same,
// and freshness is measured on our monotonic clock (NodeTable's timeout).
// State for a node is forgotten once nothing of it was accepted for
// `retention` on that clock, so a node restarted with a clock (and so an
// epoch) that went back gets in again after that long. The price of not
// trusting clocks: announcements captured from a node that has been silent
// that long can be replayed (the mesh key keeps strangers from forging any).
class ReplayGuard {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  ReplayGuard(std::chrono::milliseconds retention, Clock clock)
      : retention_(retention), clock_(std::move(clock)) {}

  // Records the announcement when it is admitted.
  std::optional<Drop> Admit(const Announcement& announcement);
  size_t tracked_nodes() const { return last_.size(); }

 private:
  struct Last {
    uint64_t epoch;  // the newest accepted over either family
    uint64_t seq_ipv4 = 0, seq_ipv6 = 0;  // the last accepted in that epoch; 0: none yet
    std::chrono::steady_clock::time_point accepted;
  };
  std::chrono::milliseconds retention_;
  Clock clock_;
  std::map<std::string, Last> last_;
};

// --- Live nodes -----------------------------------------------------------------
inline constexpr size_t kMaxNodes = 256;

// Where a node was last heard from over one address family, and when.
struct HeardFrom {
  ScopedAddress from;
  std::chrono::steady_clock::time_point at;
};

// One node, heard over IPv4, IPv6 or both: one entry by node id whatever
// the family, with the address of each family it was heard over. A family
// not heard for node_timeout loses its address; the node goes with the last.
struct MeshNode {
  Announcement last;  // the latest accepted announcement, over either family
  std::optional<HeardFrom> ipv4, ipv6;
  std::chrono::steady_clock::time_point last_heard;  // the later of the two

  // Where relayed traffic of a family goes (a relay keeps the bonding
  // peer's family): the address the node was heard from over it (IPv6:
  // link-local, with the interface); nullopt when not heard over it.
  std::optional<ScopedAddress> RelayAddress(bool v6) const;
  // The address to show first: IPv4 when heard over it (what relays use).
  const ScopedAddress& PreferredAddress() const;
};

// Why no relay can serve the node though it asks for one (a bond
// endpoint): it is not heard over its bonding peer's family, the one a
// relay keeps; nullopt when nothing stands in the way. Shown in `peers`
// and logged.
std::optional<std::string> RelayUnsupportedReason(const MeshNode& node);

enum class NodeChange {
  kJoined,          // not in the table before
  kUplinksChanged,  // uplinks, relay capability, bond endpoint or address changed: paths may differ
  kMeasured,        // only what its uplinks measured or have left: candidates re-ranked
  kAddressAdded,    // now heard over a second family too (may make it a relay candidate)
  kUpdated,         // name or version changed
  kRefreshed,       // nothing but seq/timestamp
};
absl::string_view NodeChangeName(NodeChange change);

class NodeTable {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  NodeTable(std::chrono::milliseconds node_timeout, Clock clock)
      : timeout_(node_timeout), clock_(std::move(clock)) {}

  // Call with announcements that passed DecodeAnnouncement and ReplayGuard;
  // `from`'s family is the one the announcement came over.
  // kTableFull when a new node arrives while kMaxNodes are known.
  std::variant<NodeChange, Drop> Update(const Announcement& announcement,
                                        const ScopedAddress& from);
  struct Expired {
    std::vector<MeshNode> nodes;  // removed: not heard over any family for node_timeout
    // Addresses forgotten of nodes still heard over the other family.
    std::vector<std::pair<std::string, ScopedAddress>> addresses;  // (node id, address)
  };
  // Forgets every address not heard for longer than node_timeout, and the
  // nodes left without one.
  Expired Expire();
  const std::map<std::string, MeshNode>& nodes() const { return nodes_; }

 private:
  std::chrono::milliseconds timeout_;
  Clock clock_;
  std::map<std::string, MeshNode> nodes_;  // by node id
};

// One shared uplink of a live node that relays: a path this node could use.
struct RemotePath {
  std::string node_id;
  std::string node_name;
  ScopedAddress node_address;  // of the family asked for (RemotePaths)
  uint16_t relay_port = 0;  // the uplink's own (uplink.relay_port)
  uint64_t max_relay_kbps = 0;
  AnnouncedUplink uplink;
  std::optional<uint64_t> share_remaining_bytes;  // the node's share budget; absent: none
  bool operator==(const RemotePath& other) const;
};

// Every shared uplink (with its relay port) relaying the family `v6` of every node that
// announces a relay capability and was heard over that family, ordered by (node id, uplink
// name), so two results compare element-wise.
std::vector<RemotePath> RemotePaths(const NodeTable& table, bool v6);

struct PathSetDiff {
  std::vector<RemotePath> added;
  std::vector<RemotePath> removed;
  std::vector<RemotePath> changed;  // same node and uplink, new metrics/address/port
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};
// Both inputs ordered as RemotePaths returns them.
PathSetDiff DiffPaths(const std::vector<RemotePath>& before, const std::vector<RemotePath>& after);
// Whether a changed candidate differs only in its uplink's measurements or
// the node's share budget left (SameButMeasurements).
bool SameButMeasurements(const RemotePath& a, const RemotePath& b);

// --- Drop accounting ----------------------------------------------------------
// Counts every drop, and lets at most one log line per reason through per
// interval, carrying how many were suppressed since the last line, so a
// flood of forgeries cannot flood the log.
class DropMonitor {
 public:
  explicit DropMonitor(std::chrono::milliseconds interval = std::chrono::seconds(10))
      : log_(interval) {}
  // Returns the line to log, if any; `from` is the sender as text.
  std::optional<std::string> Record(const Drop& drop, absl::string_view from,
                                    std::chrono::steady_clock::time_point now);
  uint64_t count(DropReason reason) const { return counts_[static_cast<size_t>(reason)]; }
  uint64_t total() const;

 private:
  std::array<uint64_t, kDropReasonCount> counts_{};
  LogThrottle log_;  // keyed by reason
};

// --- The receive path ---------------------------------------------------------
struct ReceivedDatagram {
  std::vector<uint8_t> bytes;  // what the socket buffer held
  size_t wire_size = 0;        // the datagram's real size (MSG_TRUNC): > bytes.size() if cut
  ScopedAddress from;          // its family is the one it arrived over
  std::optional<int> hop_limit;  // IPv6: as it arrived (nullopt: the socket did not say)
};

// Runs a datagram through every check in the order that keeps the node safe
// (IPv6 hop limit, size and tag before parsing, fields, the family it says it
// was sent over, our own broadcast echo, replay, then the table) and counts
// what it drops.
class AnnouncementIntake {
 public:
  struct Result {
    std::optional<NodeChange> change;     // set when the table took the announcement
    std::string node_id;                  // whose announcement, when it decoded
    std::optional<std::string> log_line;  // a rate-limited drop line to log
  };
  AnnouncementIntake(std::string mesh_key, std::string own_node_id, ReplayGuard& replay,
                     NodeTable& table, DropMonitor& drops,
                     std::function<std::chrono::steady_clock::time_point()> clock)
      : key_(std::move(mesh_key)), own_id_(std::move(own_node_id)), replay_(replay),
        table_(table), drops_(drops), clock_(std::move(clock)) {}

  Result Receive(const ReceivedDatagram& datagram);
  // How senders are written in drop lines; ScopedAddressText unless set
  // (the daemon names a link-local address's interface: "fe80::2%lan0").
  void set_address_text(std::function<std::string(const ScopedAddress&)> text) {
    address_text_ = std::move(text);
  }

 private:
  Result Dropped(const Drop& drop, const ScopedAddress& from, std::string node_id);
  std::string key_;
  std::string own_id_;
  ReplayGuard& replay_;
  NodeTable& table_;
  DropMonitor& drops_;
  std::function<std::chrono::steady_clock::time_point()> clock_;
  std::function<std::string(const ScopedAddress&)> address_text_ = ScopedAddressText;
};

}  // namespace meshbpf
