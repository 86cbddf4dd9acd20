#include "agent/core/discovery.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/core/big_endian.h"
#include "agent/core/mesh_auth.h"
#include "agent/core/net_format.h"
#include "proto/mesh.pb.h"

namespace meshbpf {
namespace {

constexpr uint8_t kMagic[4] = {'M', 'B', 'A', 'N'};
constexpr uint8_t kVersion = 1;
constexpr size_t kMaxBodySize = kMaxAnnouncementSize - kAnnouncementOverhead;

// Upper bounds that no real uplink reaches: anything above is corrupt or hostile.
constexpr uint64_t kMaxKbps = 1'000'000'000;  // 1 Tbit/s
constexpr uint64_t kMaxRttUs = 60'000'000;    // 60 s
constexpr uint32_t kMaxLossPpm = 1'000'000;

struct TextRule {
  size_t max_len;
  absl::string_view extra_chars;  // allowed besides ASCII letters and digits
};
constexpr TextRule kNodeIdRule{64, "._:-"};
constexpr TextRule kNodeNameRule{64, "._-"};
constexpr TextRule kVersionRule{32, "._+-"};
constexpr TextRule kUplinkNameRule{15, "._-"};  // IFNAMSIZ - 1

std::optional<std::string> TextProblem(absl::string_view text, const TextRule& rule) {
  if (text.empty()) return "is empty";
  if (text.size() > rule.max_len) {
    return absl::StrCat("is ", text.size(), " bytes long (at most ", rule.max_len, ")");
  }
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        !absl::StrContains(rule.extra_chars, c)) {
      return absl::StrCat("contains byte 0x", absl::Hex(static_cast<unsigned char>(c)),
                          " (allowed: letters, digits and \"", rule.extra_chars, "\")");
    }
  }
  return std::nullopt;
}

std::optional<mesh::UplinkType> ToWire(UplinkType type) {
  switch (type) {
    case UplinkType::kEthernet: return mesh::UPLINK_TYPE_ETHERNET;
    case UplinkType::kWifi: return mesh::UPLINK_TYPE_WIFI;
    case UplinkType::kCellular: return mesh::UPLINK_TYPE_CELLULAR;
    case UplinkType::kOther: return mesh::UPLINK_TYPE_OTHER;
  }
  return std::nullopt;
}

std::optional<UplinkType> FromWire(int type) {
  switch (type) {
    case mesh::UPLINK_TYPE_ETHERNET: return UplinkType::kEthernet;
    case mesh::UPLINK_TYPE_WIFI: return UplinkType::kWifi;
    case mesh::UPLINK_TYPE_CELLULAR: return UplinkType::kCellular;
    case mesh::UPLINK_TYPE_OTHER: return UplinkType::kOther;
    default: return std::nullopt;
  }
}

// What makes an address no bonding peer to forward to, e.g. "is ::".
std::optional<std::string> PeerAddressProblem(const IpAddress& a) {
  if (a.IsUnspecified()) return absl::StrCat("is ", IpText(a));
  if (!a.is_v6()) return std::nullopt;
  static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kV4MappedPrefix), std::end(kV4MappedPrefix), a.bytes.begin())) {
    return absl::StrCat("is ", IpText(a), ", an IPv4-mapped address (an IPv4 peer takes 4 bytes)");
  }
  if (a.bytes[0] == 0xff) return absl::StrCat("is ", IpText(a), ", a multicast address");
  // A peer is reached through a router; a link-local address would need an
  // interface the announcement cannot name.
  if (a.IsLinkLocal()) return absl::StrCat("is ", IpText(a), ", a link-local address");
  return std::nullopt;
}

// One validation for both directions, so a node never sends what its peers
// would drop. Returns the first problem, naming the field.
std::optional<std::string> AnnouncementProblem(const Announcement& a) {
  if (auto p = TextProblem(a.node_id, kNodeIdRule)) return "node_id " + *p;
  if (auto p = TextProblem(a.name, kNodeNameRule)) return "name " + *p;
  if (auto p = TextProblem(a.version, kVersionRule)) return "version " + *p;
  if (a.epoch == 0) return "epoch is 0";
  if (a.seq == 0) return "seq is 0 (sequence numbers start at 1)";
  if (a.timestamp_ms == 0) return "timestamp_ms is 0";
  if (a.uplinks.size() > kMaxAnnouncedUplinks) {
    return absl::StrCat(a.uplinks.size(), " uplinks (at most ", kMaxAnnouncedUplinks, ")");
  }
  std::set<absl::string_view> names;
  for (size_t i = 0; i < a.uplinks.size(); ++i) {
    const AnnouncedUplink& u = a.uplinks[i];
    const std::string field = absl::StrCat("uplinks[", i, "]");
    if (auto p = TextProblem(u.name, kUplinkNameRule)) return absl::StrCat(field, ".name ", *p);
    if (!names.insert(u.name).second) {
      return absl::StrCat(field, ".name \"", u.name, "\" appears twice");
    }
    if (!ToWire(u.type)) return absl::StrCat(field, ".type is not a known uplink type");
    if (u.capacity_kbps > kMaxKbps) {
      return absl::StrCat(field, ".capacity_kbps ", u.capacity_kbps, " above ", kMaxKbps);
    }
    if (u.rtt_us > kMaxRttUs) {
      return absl::StrCat(field, ".rtt_us ", u.rtt_us, " above ", kMaxRttUs);
    }
    if (u.loss_ppm > kMaxLossPpm) {
      return absl::StrCat(field, ".loss_ppm ", u.loss_ppm, " above ", kMaxLossPpm);
    }
    // A shared uplink without a port could not be relayed through, and a
    // port on an unshared one would invite traffic the node drops.
    if (u.shared && u.relay_port == 0) return absl::StrCat(field, ".relay_port is 0 but shared");
    if (!u.shared && u.relay_port != 0) {
      return absl::StrCat(field, ".relay_port ", u.relay_port, " on an uplink not shared");
    }
    if (!u.shared && (u.relays_ipv4 || u.relays_ipv6)) {
      return absl::StrCat(field, " relays a family but is not shared");
    }
  }
  if (a.relay) {
    if (a.relay->relay_port == 0) return "relay.relay_port is 0";
    if (a.relay->max_relay_kbps > kMaxKbps) {
      return absl::StrCat("relay.max_relay_kbps ", a.relay->max_relay_kbps, " above ", kMaxKbps);
    }
  }
  if (a.bond) {
    // Relays would forward the node's traffic there.
    if (auto p = PeerAddressProblem(a.bond->peer_address)) return "bond.peer_address " + *p;
    if (a.bond->peer_port == 0) return "bond.peer_port is 0";
    if (a.bond->tunnel_port == 0) return "bond.tunnel_port is 0";
  }
  if (a.sent_over != AF_INET && a.sent_over != AF_INET6) {
    return absl::StrCat("sent_over is address family ", a.sent_over, " (IPv4 or IPv6)");
  }
  return std::nullopt;
}

// A uint32 wire field that carries a port; `field` names it in the drop.
std::optional<Drop> PortAbove16Bits(uint32_t port, absl::string_view field) {
  if (port <= 0xffff) return std::nullopt;
  return Drop{DropReason::kInvalidField, absl::StrCat(field, " ", port, " above 65535")};
}

Drop MakeDrop(DropReason reason, std::string detail) { return Drop{reason, std::move(detail)}; }

}  // namespace

std::optional<std::string> NodeIdProblem(absl::string_view node_id) {
  return TextProblem(node_id, kNodeIdRule);
}

std::optional<std::string> NodeNameProblem(absl::string_view name) {
  return TextProblem(name, kNodeNameRule);
}

absl::string_view UplinkTypeName(UplinkType type) {
  switch (type) {
    case UplinkType::kEthernet: return "ethernet";
    case UplinkType::kWifi: return "wifi";
    case UplinkType::kCellular: return "cellular";
    case UplinkType::kOther: return "other";
  }
  return "?";
}

absl::string_view DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kTooShort: return "too short";
    case DropReason::kOversized: return "oversized";
    case DropReason::kBadMagic: return "bad magic";
    case DropReason::kUnsupportedVersion: return "unsupported version";
    case DropReason::kBadHeader: return "bad header";
    case DropReason::kLengthMismatch: return "length mismatch";
    case DropReason::kBadTag: return "authentication failed";
    case DropReason::kMalformedBody: return "malformed body";
    case DropReason::kInvalidField: return "invalid field";
    case DropReason::kReplayed: return "replayed";
    case DropReason::kTableFull: return "node table full";
    case DropReason::kOffLink: return "off link";
    case DropReason::kFamilyMismatch: return "family mismatch";
  }
  return "?";
}

absl::string_view NodeChangeName(NodeChange change) {
  switch (change) {
    case NodeChange::kJoined: return "joined";
    case NodeChange::kUplinksChanged: return "uplinks changed";
    case NodeChange::kMeasured: return "measured";
    case NodeChange::kAddressAdded: return "address added";
    case NodeChange::kUpdated: return "updated";
    case NodeChange::kRefreshed: return "refreshed";
  }
  return "?";
}

absl::StatusOr<std::vector<uint8_t>> EncodeAnnouncement(const Announcement& a,
                                                        absl::string_view mesh_key) {
  if (mesh_key.empty()) {
    return absl::FailedPreconditionError("announcement: no mesh key (discovery needs one)");
  }
  if (auto problem = AnnouncementProblem(a)) {
    return absl::InvalidArgumentError(absl::StrCat("announcement: ", *problem));
  }
  mesh::Announcement m;
  m.set_node_id(a.node_id);
  m.set_name(a.name);
  m.set_version(a.version);
  m.set_epoch(a.epoch);
  m.set_seq(a.seq);
  m.set_timestamp_ms(a.timestamp_ms);
  for (const AnnouncedUplink& u : a.uplinks) {
    mesh::Uplink* w = m.add_uplinks();
    w->set_name(u.name);
    w->set_type(*ToWire(u.type));
    w->set_capacity_kbps(u.capacity_kbps);
    w->set_rtt_us(u.rtt_us);
    w->set_loss_ppm(u.loss_ppm);
    if (u.cap_remaining_bytes) w->set_cap_remaining_bytes(*u.cap_remaining_bytes);
    w->set_shared(u.shared);
    w->set_relay_port(u.relay_port);
    w->set_relays_ipv4(u.relays_ipv4);
    w->set_relays_ipv6(u.relays_ipv6);
  }
  if (a.relay) {
    m.mutable_relay()->set_relay_port(a.relay->relay_port);
    m.mutable_relay()->set_max_relay_kbps(a.relay->max_relay_kbps);
    if (a.relay->share_remaining_bytes) {
      m.mutable_relay()->set_share_remaining_bytes(*a.relay->share_remaining_bytes);
    }
  }
  m.set_sent_over(a.sent_over == AF_INET6 ? mesh::ADDRESS_FAMILY_IPV6 : mesh::ADDRESS_FAMILY_IPV4);
  if (a.bond) {
    mesh::BondEndpoint* b = m.mutable_bond();
    const IpAddress& peer = a.bond->peer_address;
    b->set_peer_address(peer.bytes.data(), peer.is_v6() ? 16 : 4);
    b->set_peer_port(a.bond->peer_port);
    b->set_tunnel_port(a.bond->tunnel_port);
  }
  const size_t body_size = m.ByteSizeLong();
  if (body_size > kMaxBodySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("announcement: ", body_size + kAnnouncementOverhead, " bytes (at most ",
                     kMaxAnnouncementSize, "); announce fewer uplinks or shorter names"));
  }
  std::vector<uint8_t> frame(kAnnouncementOverhead + body_size);
  std::copy(std::begin(kMagic), std::end(kMagic), frame.begin());
  frame[4] = kVersion;
  frame[5] = 0;  // flags
  PutBig(&frame[6], body_size, 2);
  m.SerializeWithCachedSizesToArray(frame.data() + kAnnouncementHeaderSize);
  const size_t tag_offset = kAnnouncementHeaderSize + body_size;
  const HmacSha256Tag tag = HmacSha256(mesh_key, frame.data(), tag_offset);
  std::copy(tag.begin(), tag.end(), frame.begin() + tag_offset);
  return frame;
}

std::variant<Announcement, Drop> DecodeAnnouncement(const uint8_t* data, size_t size,
                                                    absl::string_view mesh_key) {
  if (size > kMaxAnnouncementSize) {
    return MakeDrop(DropReason::kOversized,
                    absl::StrCat(size, " bytes (at most ", kMaxAnnouncementSize, ")"));
  }
  if (size < kAnnouncementOverhead) {
    return MakeDrop(DropReason::kTooShort,
                    absl::StrCat(size, " bytes (at least ", kAnnouncementOverhead, ")"));
  }
  if (!std::equal(std::begin(kMagic), std::end(kMagic), data)) {
    return MakeDrop(DropReason::kBadMagic, "not a meshbpf announcement");
  }
  if (data[4] != kVersion) {
    return MakeDrop(DropReason::kUnsupportedVersion,
                    absl::StrCat("version ", data[4], " (this node speaks ", kVersion, ")"));
  }
  if (data[5] != 0) {
    return MakeDrop(DropReason::kBadHeader, absl::StrCat("unknown flags 0x", absl::Hex(data[5])));
  }
  const size_t body_size = GetBig(data + 6, 2);
  if (kAnnouncementOverhead + body_size != size) {
    return MakeDrop(DropReason::kLengthMismatch,
                    absl::StrCat("header says ", body_size, " body bytes, datagram carries ",
                                 size - kAnnouncementOverhead));
  }
  if (mesh_key.empty()) {
    return MakeDrop(DropReason::kBadTag, "no mesh key configured: nothing is trusted");
  }
  const size_t tag_offset = kAnnouncementHeaderSize + body_size;
  const HmacSha256Tag tag = HmacSha256(mesh_key, data, tag_offset);
  if (!ConstantTimeEqual(tag.data(), data + tag_offset, tag.size())) {
    return MakeDrop(DropReason::kBadTag, "HMAC does not match (forged, altered or another key)");
  }

  mesh::Announcement m;
  if (!m.ParseFromArray(data + kAnnouncementHeaderSize, static_cast<int>(body_size))) {
    return MakeDrop(DropReason::kMalformedBody, "body is not a valid Announcement message");
  }
  // Unknown fields are ignored rather than refused: they can only come from
  // a key holder running a newer version that added fields.
  Announcement a;
  a.node_id = m.node_id();
  a.name = m.name();
  a.version = m.version();
  a.epoch = m.epoch();
  a.seq = m.seq();
  a.timestamp_ms = m.timestamp_ms();
  if (static_cast<size_t>(m.uplinks_size()) > kMaxAnnouncedUplinks) {
    return MakeDrop(DropReason::kInvalidField, absl::StrCat(m.uplinks_size(), " uplinks (at most ",
                                                            kMaxAnnouncedUplinks, ")"));
  }
  for (int i = 0; i < m.uplinks_size(); ++i) {
    const mesh::Uplink& w = m.uplinks(i);
    std::optional<UplinkType> type = FromWire(w.type());
    if (!type) {
      return MakeDrop(DropReason::kInvalidField,
                      absl::StrCat("uplinks[", i, "].type ", w.type(), " is not a known type"));
    }
    if (auto drop = PortAbove16Bits(w.relay_port(), absl::StrCat("uplinks[", i, "].relay_port"))) {
      return *drop;
    }
    AnnouncedUplink u;
    u.name = w.name();
    u.type = *type;
    u.capacity_kbps = w.capacity_kbps();
    u.rtt_us = w.rtt_us();
    u.loss_ppm = w.loss_ppm();
    if (w.has_cap_remaining_bytes()) u.cap_remaining_bytes = w.cap_remaining_bytes();
    u.shared = w.shared();
    u.relay_port = static_cast<uint16_t>(w.relay_port());
    u.relays_ipv4 = w.relays_ipv4();
    u.relays_ipv6 = w.relays_ipv6();
    a.uplinks.push_back(std::move(u));
  }
  if (m.has_relay()) {
    if (auto drop = PortAbove16Bits(m.relay().relay_port(), "relay.relay_port")) return *drop;
    a.relay = RelayCapability{static_cast<uint16_t>(m.relay().relay_port()),
                              m.relay().max_relay_kbps()};
    if (m.relay().has_share_remaining_bytes()) {
      a.relay->share_remaining_bytes = m.relay().share_remaining_bytes();
    }
  }
  if (m.has_bond()) {
    const mesh::BondEndpoint& b = m.bond();
    // The length is the family: 4 bytes IPv4 (what every version sent), 16 IPv6.
    const size_t length = b.peer_address().size();
    if (length != 4 && length != 16) {
      return MakeDrop(DropReason::kInvalidField,
                      absl::StrCat("bond.peer_address is ", length,
                                   " bytes (an IPv4 address has 4, an IPv6 address 16)"));
    }
    if (auto drop = PortAbove16Bits(b.peer_port(), "bond.peer_port")) return *drop;
    if (auto drop = PortAbove16Bits(b.tunnel_port(), "bond.tunnel_port")) return *drop;
    BondEndpoint bond;
    bond.peer_address.family = length == 16 ? AF_INET6 : AF_INET;
    std::copy(b.peer_address().begin(), b.peer_address().end(), bond.peer_address.bytes.begin());
    bond.peer_port = static_cast<uint16_t>(b.peer_port());
    bond.tunnel_port = static_cast<uint16_t>(b.tunnel_port());
    a.bond = bond;
  }
  switch (m.sent_over()) {
    // Senders before IPv6 discovery leave it out: they announced over IPv4 only.
    case mesh::ADDRESS_FAMILY_UNSPECIFIED:
    case mesh::ADDRESS_FAMILY_IPV4: a.sent_over = AF_INET; break;
    case mesh::ADDRESS_FAMILY_IPV6: a.sent_over = AF_INET6; break;
    default:
      return MakeDrop(DropReason::kInvalidField,
                      absl::StrCat("sent_over ", m.sent_over(), " is not a known address family"));
  }
  if (auto problem = AnnouncementProblem(a)) {
    return MakeDrop(DropReason::kInvalidField, *problem);
  }
  return a;
}

std::optional<Drop> ReplayGuard::Admit(const Announcement& a) {
  const auto now = clock_();
  // Forget nodes silent for the retention (see header).
  std::erase_if(last_, [&](const auto& entry) { return now - entry.second.accepted > retention_; });
  auto it = last_.find(a.node_id);
  if (it == last_.end() && last_.size() >= kMaxNodes) {
    return MakeDrop(DropReason::kTableFull,
                    absl::StrCat("already tracking ", kMaxNodes, " nodes, ignoring ", a.node_id));
  }
  Last next = it != last_.end() ? it->second : Last{a.epoch};
  if (a.epoch < next.epoch) {
    return MakeDrop(DropReason::kReplayed, absl::StrCat("node ", a.node_id, " epoch ", a.epoch,
                                                        " is older than ", next.epoch));
  }
  if (a.epoch > next.epoch) next = Last{a.epoch};  // restarted: seq starts over on both
  uint64_t& seq = a.sent_over == AF_INET6 ? next.seq_ipv6 : next.seq_ipv4;
  if (a.seq <= seq) {
    return MakeDrop(DropReason::kReplayed,
                    absl::StrCat("node ", a.node_id, " seq ", a.seq, " is not above ", seq,
                                 a.sent_over == AF_INET6 ? " (over IPv6)" : " (over IPv4)"));
  }
  seq = a.seq;
  next.accepted = now;
  last_[a.node_id] = next;
  return std::nullopt;
}

std::optional<ScopedAddress> MeshNode::RelayAddress(bool v6) const {
  const std::optional<HeardFrom>& heard = v6 ? ipv6 : ipv4;
  if (!heard) return std::nullopt;
  return heard->from;
}

const ScopedAddress& MeshNode::PreferredAddress() const {
  // NodeTable keeps no node without an address.
  return ipv4 ? ipv4->from : ipv6->from;
}

std::optional<std::string> RelayUnsupportedReason(const MeshNode& node) {
  if (!node.last.bond) return std::nullopt;
  const bool v6 = node.last.bond->peer_address.is_v6();
  if (node.RelayAddress(v6)) return std::nullopt;
  return absl::StrCat("its bonding peer ", IpText(node.last.bond->peer_address), " is ",
                      v6 ? "IPv6" : "IPv4", " but it is heard only over ", v6 ? "IPv4" : "IPv6",
                      ": a relay keeps the peer's family on the LAN too");
}

std::variant<NodeChange, Drop> NodeTable::Update(const Announcement& a,
                                                 const ScopedAddress& from) {
  const auto now = clock_();
  const HeardFrom heard{from, now};
  auto it = nodes_.find(a.node_id);
  if (it == nodes_.end()) {
    if (nodes_.size() >= kMaxNodes) {
      return MakeDrop(DropReason::kTableFull,
                      absl::StrCat(kMaxNodes, " nodes known, ignoring ", a.node_id));
    }
    MeshNode node{a};
    (from.address.is_v6() ? node.ipv6 : node.ipv4) = heard;
    node.last_heard = now;
    nodes_.emplace(a.node_id, std::move(node));
    return NodeChange::kJoined;
  }
  MeshNode& node = it->second;
  std::optional<HeardFrom>& family = from.address.is_v6() ? node.ipv6 : node.ipv4;
  // Each family's copies pass the replay guard on their own: a copy late on
  // one family may be older than what the other brought. It refreshes its
  // family's address, but the node's announcement does not go back.
  const bool newer = std::tie(a.epoch, a.seq) >= std::tie(node.last.epoch, node.last.seq);
  const Announcement& latest = newer ? a : node.last;
  auto same_shape = [](const std::vector<AnnouncedUplink>& x, const std::vector<AnnouncedUplink>& y) {
    return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                      [](const AnnouncedUplink& u, const AnnouncedUplink& v) {
                        return SameButMeasurements(u, v);
                      });
  };
  auto relay_port_and_ceiling = [](const std::optional<RelayCapability>& r) {
    return r ? std::optional(std::pair(r->relay_port, r->max_relay_kbps)) : std::nullopt;
  };
  NodeChange change = NodeChange::kRefreshed;
  if (!same_shape(node.last.uplinks, latest.uplinks) ||
      relay_port_and_ceiling(node.last.relay) != relay_port_and_ceiling(latest.relay) ||
      node.last.bond != latest.bond || (family && family->from != from)) {
    change = NodeChange::kUplinksChanged;
  } else if (node.last.uplinks != latest.uplinks || node.last.relay != latest.relay) {
    change = NodeChange::kMeasured;
  } else if (!family) {
    change = NodeChange::kAddressAdded;
  } else if (node.last.name != latest.name || node.last.version != latest.version) {
    change = NodeChange::kUpdated;
  }
  if (newer) node.last = a;
  family = heard;
  node.last_heard = now;
  return change;
}

NodeTable::Expired NodeTable::Expire() {
  const auto now = clock_();
  Expired expired;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    MeshNode& node = it->second;
    if (now - node.last_heard > timeout_) {
      expired.nodes.push_back(std::move(node));
      it = nodes_.erase(it);
      continue;
    }
    // Heard lately over one family: the other's address alone may be stale.
    for (std::optional<HeardFrom>* family : {&node.ipv4, &node.ipv6}) {
      if (*family && now - (*family)->at > timeout_) {
        expired.addresses.emplace_back(it->first, (*family)->from);
        family->reset();
      }
    }
    ++it;
  }
  return expired;
}

bool SameButMeasurements(const AnnouncedUplink& a, const AnnouncedUplink& b) {
  return std::tie(a.name, a.type, a.shared, a.relay_port, a.relays_ipv4, a.relays_ipv6) ==
         std::tie(b.name, b.type, b.shared, b.relay_port, b.relays_ipv4, b.relays_ipv6);
}

bool SameButMeasurements(const RemotePath& a, const RemotePath& b) {
  return std::tie(a.node_id, a.node_name, a.node_address, a.relay_port, a.max_relay_kbps) ==
             std::tie(b.node_id, b.node_name, b.node_address, b.relay_port, b.max_relay_kbps) &&
         SameButMeasurements(a.uplink, b.uplink);
}

bool RemotePath::operator==(const RemotePath& o) const {
  return node_id == o.node_id && node_name == o.node_name &&
         node_address == o.node_address && relay_port == o.relay_port &&
         max_relay_kbps == o.max_relay_kbps && uplink == o.uplink &&
         share_remaining_bytes == o.share_remaining_bytes;
}

std::vector<RemotePath> RemotePaths(const NodeTable& table, bool v6) {
  std::vector<RemotePath> paths;
  for (const auto& [id, node] : table.nodes()) {  // std::map: ordered by node id
    const std::optional<ScopedAddress> address = node.RelayAddress(v6);
    if (!node.last.relay || !address) continue;
    std::vector<RemotePath> of_node;
    for (const AnnouncedUplink& u : node.last.uplinks) {
      if (!u.shared || u.relay_port == 0 || !u.Relays(v6)) continue;
      of_node.push_back(RemotePath{id, node.last.name, *address, u.relay_port,
                                   node.last.relay->max_relay_kbps, u,
                                   node.last.relay->share_remaining_bytes});
    }
    std::sort(of_node.begin(), of_node.end(),
              [](const RemotePath& x, const RemotePath& y) { return x.uplink.name < y.uplink.name; });
    paths.insert(paths.end(), of_node.begin(), of_node.end());
  }
  return paths;
}

PathSetDiff DiffPaths(const std::vector<RemotePath>& before, const std::vector<RemotePath>& after) {
  auto key = [](const RemotePath& p) { return std::tie(p.node_id, p.uplink.name); };
  PathSetDiff diff;
  size_t i = 0, j = 0;
  while (i < before.size() || j < after.size()) {
    if (j == after.size() || (i < before.size() && key(before[i]) < key(after[j]))) {
      diff.removed.push_back(before[i++]);
    } else if (i == before.size() || key(after[j]) < key(before[i])) {
      diff.added.push_back(after[j++]);
    } else {
      if (!(before[i] == after[j])) diff.changed.push_back(after[j]);
      ++i;
      ++j;
    }
  }
  return diff;
}

uint64_t DropMonitor::total() const {
  uint64_t sum = 0;
  for (uint64_t c : counts_) sum += c;
  return sum;
}

std::string ScopedAddressText(const ScopedAddress& a) {
  if (!a.address.IsLinkLocal()) return IpText(a.address);
  return absl::StrCat(IpText(a.address), "%", a.ifindex);
}

std::optional<std::string> DropMonitor::Record(const Drop& drop, absl::string_view from,
                                               std::chrono::steady_clock::time_point now) {
  ++counts_[static_cast<size_t>(drop.reason)];
  const std::string reason(DropReasonName(drop.reason));
  std::optional<uint64_t> held_back = log_.Admit(reason, now);
  if (!held_back) return std::nullopt;
  return absl::StrCat("discovery: dropped announcement from ", from, ": ", reason, ": ",
                      drop.detail,
                      LogThrottle::HeldBackNote(*held_back, absl::StrCat("\"", reason, "\" drops")));
}

AnnouncementIntake::Result AnnouncementIntake::Dropped(const Drop& drop,
                                                       const ScopedAddress& from,
                                                       std::string node_id) {
  return Result{std::nullopt, std::move(node_id),
                drops_.Record(drop, address_text_(from), clock_())};
}

AnnouncementIntake::Result AnnouncementIntake::Receive(const ReceivedDatagram& d) {
  const int family = d.from.address.family;
  if (family == AF_INET6 && d.hop_limit != kDiscoveryHopLimit) {
    return Dropped(MakeDrop(DropReason::kOffLink,
                            d.hop_limit ? absl::StrCat("hop limit ", *d.hop_limit, ", not ",
                                                       kDiscoveryHopLimit, ": crossed a router")
                                        : std::string("hop limit unknown")),
                   d.from, "");
  }
  if (d.wire_size > d.bytes.size()) {
    return Dropped(MakeDrop(DropReason::kOversized,
                            absl::StrCat(d.wire_size, " bytes, cut to ", d.bytes.size(),
                                         " by the socket (at most ", kMaxAnnouncementSize, ")")),
                   d.from, "");
  }
  std::variant<Announcement, Drop> decoded = DecodeAnnouncement(d.bytes.data(), d.bytes.size(), key_);
  if (const Drop* drop = std::get_if<Drop>(&decoded)) return Dropped(*drop, d.from, "");
  const Announcement& a = std::get<Announcement>(decoded);
  if (a.sent_over != family) {
    return Dropped(MakeDrop(DropReason::kFamilyMismatch,
                            absl::StrCat("node ", a.node_id, " sent it over ",
                                         a.sent_over == AF_INET6 ? "IPv6" : "IPv4",
                                         ", it arrived over ", family == AF_INET6 ? "IPv6" : "IPv4",
                                         " (a copy replayed on the other family)")),
                   d.from, a.node_id);
  }
  // Broadcasts come back to the sender; our own are no news and no attack.
  if (a.node_id == own_id_) return Result{std::nullopt, a.node_id, std::nullopt};
  if (std::optional<Drop> drop = replay_.Admit(a)) return Dropped(*drop, d.from, a.node_id);
  std::variant<NodeChange, Drop> update = table_.Update(a, d.from);
  if (const Drop* drop = std::get_if<Drop>(&update)) return Dropped(*drop, d.from, a.node_id);
  return Result{std::get<NodeChange>(update), a.node_id, std::nullopt};
}

}  // namespace meshbpf
