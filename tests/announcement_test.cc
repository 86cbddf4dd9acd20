// Announcements on the wire: encoding, framing, authentication and every
// way a datagram is dropped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "agent/core/discovery.h"
#include "agent/core/mesh_auth.h"
#include "proto/mesh.pb.h"
#include "tests/discovery_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_discovery;
using ::testing::HasSubstr;

// A correctly framed and tagged datagram around an arbitrary body, to reach
// the checks that come after the tag.
std::vector<uint8_t> FrameBody(const std::string& body, const std::string& key = kKey) {
  std::vector<uint8_t> f(kAnnouncementOverhead + body.size());
  const uint8_t header[] = {'M', 'B', 'A', 'N', 1, 0, static_cast<uint8_t>(body.size() >> 8),
                            static_cast<uint8_t>(body.size())};
  std::copy(std::begin(header), std::end(header), f.begin());
  std::copy(body.begin(), body.end(), f.begin() + kAnnouncementHeaderSize);
  const size_t tag_offset = kAnnouncementHeaderSize + body.size();
  const HmacSha256Tag tag = HmacSha256(key, f.data(), tag_offset);
  std::copy(tag.begin(), tag.end(), f.begin() + tag_offset);
  return f;
}

std::optional<Drop> DropOf(const std::vector<uint8_t>& f, size_t size, const std::string& key = kKey) {
  std::variant<Announcement, Drop> r = DecodeAnnouncement(f.data(), size, key);
  if (const Drop* d = std::get_if<Drop>(&r)) return *d;
  return std::nullopt;
}
std::optional<Drop> DropOf(const std::vector<uint8_t>& f) { return DropOf(f, f.size()); }

TEST(Announcement, RoundTrips) {
  // A share budget of 0 (spent) is not the same as none.
  Announcement spent = Sample();
  spent.relay->share_remaining_bytes = 0;
  Announcement no_budget = Sample();
  no_budget.relay->share_remaining_bytes.reset();
  no_budget.bond.reset();
  for (Announcement a : {Sample(), spent, no_budget,
                         Announcement{"n", "x", "1", 1, 1, 1, {}, std::nullopt}}) {
    std::vector<uint8_t> f = Encode(a);
    ASSERT_FALSE(f.empty());
    std::variant<Announcement, Drop> r = DecodeAnnouncement(f.data(), f.size(), kKey);
    ASSERT_TRUE(std::holds_alternative<Announcement>(r)) << std::get<Drop>(r).detail;
    EXPECT_EQ(std::get<Announcement>(r), a);
  }
}

TEST(Announcement, AnIpv6BondingPeerAndTheFamilySentOverRoundTrip) {
  Announcement a = Sample();
  a.bond->peer_address = IpOf("2001:db8::7");
  a.sent_over = AF_INET6;
  std::vector<uint8_t> f = Encode(a);
  std::variant<Announcement, Drop> r = DecodeAnnouncement(f.data(), f.size(), kKey);
  ASSERT_TRUE(std::holds_alternative<Announcement>(r)) << std::get<Drop>(r).detail;
  EXPECT_EQ(std::get<Announcement>(r), a);
  EXPECT_TRUE(std::get<Announcement>(r).bond->peer_address.is_v6());
  // Its peer takes 16 bytes on the wire, an IPv4 one 4 (what every version reads).
  Announcement v4 = Sample();
  v4.sent_over = AF_INET6;
  EXPECT_EQ(f.size(), Encode(v4).size() + 12);
}

TEST(Announcement, LargestPossibleAnnouncementFitsTheSizeLimit) {
  Announcement a = Sample();
  a.node_id = std::string(64, 'i');
  a.name = std::string(64, 'n');
  a.version = std::string(32, 'v');
  a.epoch = a.seq = a.timestamp_ms = ~0ULL;
  a.uplinks.clear();
  for (size_t i = 0; i < kMaxAnnouncedUplinks; ++i) {
    a.uplinks.push_back({absl::StrCat("uplink-name-", 100 + i), UplinkType::kCellular,
                         1'000'000'000, 60'000'000, 1'000'000, ~0ULL, true, 65535});
  }
  a.relay = RelayCapability{65535, 1'000'000'000, ~0ULL};
  // The larger peer (16 bytes) and family field.
  a.bond = BondEndpoint{IpOf("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), 65535, 65535};
  a.sent_over = AF_INET6;
  absl::StatusOr<std::vector<uint8_t>> f = EncodeAnnouncement(a, kKey);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_LE(f->size(), kMaxAnnouncementSize);
  EXPECT_FALSE(DropOf(*f).has_value());
}

TEST(Announcement, EncodeRefusesWhatPeersWouldDropNamingTheField) {
  EXPECT_EQ(EncodeAnnouncement(Sample(), "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  struct Case {
    std::function<void(Announcement&)> spoil;
    std::string field;
  };
  const Case cases[] = {
      {[](Announcement& a) { a.node_id = ""; }, "node_id is empty"},
      {[](Announcement& a) { a.name = "has space"; }, "name contains byte 0x20"},
      {[](Announcement& a) { a.name = std::string(65, 'x'); }, "name is 65 bytes"},
      {[](Announcement& a) { a.version = "1/2"; }, "version contains"},
      {[](Announcement& a) { a.epoch = 0; }, "epoch is 0"},
      {[](Announcement& a) { a.seq = 0; }, "seq is 0"},
      {[](Announcement& a) { a.timestamp_ms = 0; }, "timestamp_ms is 0"},
      {[](Announcement& a) { a.uplinks[1].name = "a-very-long-ifname"; }, "uplinks[1].name is 18"},
      {[](Announcement& a) { a.uplinks[2].name = "eth0"; }, "uplinks[2].name \"eth0\" appears twice"},
      {[](Announcement& a) { a.uplinks[0].loss_ppm = 1'000'001; }, "uplinks[0].loss_ppm"},
      {[](Announcement& a) { a.uplinks[0].rtt_us = 60'000'001; }, "uplinks[0].rtt_us"},
      {[](Announcement& a) { a.uplinks[0].capacity_kbps = 1'000'000'001; }, "capacity_kbps"},
      {[](Announcement& a) { a.uplinks[0].type = static_cast<UplinkType>(9); }, "uplinks[0].type"},
      {[](Announcement& a) { a.uplinks.resize(kMaxAnnouncedUplinks + 1, a.uplinks[0]); },
       "17 uplinks"},
      {[](Announcement& a) { a.relay->relay_port = 0; }, "relay.relay_port is 0"},
      {[](Announcement& a) { a.uplinks[0].relay_port = 0; }, "uplinks[0].relay_port is 0 but shared"},
      {[](Announcement& a) { a.uplinks[2].relay_port = 7213; },
       "uplinks[2].relay_port 7213 on an uplink not shared"},
      {[](Announcement& a) { a.bond->peer_address = IpOf("0.0.0.0"); }, "bond.peer_address is 0.0.0.0"},
      {[](Announcement& a) { a.bond->peer_address = IpOf("::"); }, "bond.peer_address is ::"},
      {[](Announcement& a) { a.bond->peer_address = IpOf("fe80::1"); },
       "bond.peer_address is fe80::1, a link-local address"},
      {[](Announcement& a) { a.bond->peer_address = IpOf("::ffff:10.200.0.2"); },
       "an IPv4-mapped address"},
      {[](Announcement& a) { a.sent_over = AF_UNIX; }, "sent_over is address family 1"},
      {[](Announcement& a) { a.bond->peer_port = 0; }, "bond.peer_port is 0"},
      {[](Announcement& a) { a.bond->tunnel_port = 0; }, "bond.tunnel_port is 0"},
  };
  for (const Case& c : cases) {
    Announcement a = Sample();
    c.spoil(a);
    absl::StatusOr<std::vector<uint8_t>> f = EncodeAnnouncement(a, kKey);
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(f.status().message()), HasSubstr(c.field));
  }
}

TEST(Announcement, FramingDropsNameTheirReason) {
  const std::vector<uint8_t> good = Encode(Sample());
  auto reason = [](const std::vector<uint8_t>& f) { return DropOf(f)->reason; };
  std::vector<uint8_t> f = good;
  f[1] = 'X';
  EXPECT_EQ(reason(f), DropReason::kBadMagic);
  f = good;
  f[4] = 2;
  EXPECT_EQ(reason(f), DropReason::kUnsupportedVersion);
  EXPECT_THAT(DropOf(f)->detail, HasSubstr("version 2"));
  f = good;
  f[5] = 0x80;
  EXPECT_EQ(reason(f), DropReason::kBadHeader);
  f = good;
  f.push_back(0);  // trailing garbage
  EXPECT_EQ(reason(f), DropReason::kLengthMismatch);
  EXPECT_EQ(reason(std::vector<uint8_t>(kMaxAnnouncementSize + 1, 0)), DropReason::kOversized);
  EXPECT_EQ(reason(std::vector<uint8_t>(kAnnouncementOverhead - 1, 0)), DropReason::kTooShort);
}

TEST(Announcement, TruncatedAtEveryLengthIsDropped) {
  const std::vector<uint8_t> f = Encode(Sample());
  for (size_t n = 0; n < f.size(); ++n) {
    std::optional<Drop> d = DropOf(f, n);
    ASSERT_TRUE(d.has_value()) << "accepted a frame cut to " << n << " bytes";
    EXPECT_TRUE(d->reason == DropReason::kTooShort || d->reason == DropReason::kLengthMismatch)
        << n << ": " << DropReasonName(d->reason);
  }
}

TEST(Announcement, EveryAlteredBitIsDropped) {
  Announcement ipv6 = Sample();
  ipv6.bond->peer_address = IpOf("2001:db8::7");
  ipv6.sent_over = AF_INET6;
  for (const std::vector<uint8_t>& good : {Encode(Sample()), Encode(ipv6)}) {
    for (size_t i = 0; i < good.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<uint8_t> f = good;
        f[i] ^= static_cast<uint8_t>(1 << bit);
        ASSERT_TRUE(DropOf(f).has_value())
            << "accepted with byte " << i << " bit " << bit << " flipped";
      }
    }
  }
}

TEST(Announcement, ForgedOrForeignKeyedMessagesFailAuthentication) {
  const std::vector<uint8_t> f = Encode(Sample());
  EXPECT_EQ(DropOf(f, f.size(), "another key of 16+ chars")->reason, DropReason::kBadTag);
  EXPECT_EQ(DropOf(f, f.size(), "")->reason, DropReason::kBadTag) << "a keyless node trusted it";
  // A node without the key cannot produce anything a keyed node accepts.
  EXPECT_FALSE(EncodeAnnouncement(Sample(), "").ok());
  EXPECT_EQ(DropOf(FrameBody("anything", "guessed key"))->reason, DropReason::kBadTag);
  // Same body, tag from an empty key.
  EXPECT_EQ(DropOf(FrameBody("x", ""))->reason, DropReason::kBadTag);
}

// 10.200.0.2 as it goes on the wire.
std::string PeerBytes() { return std::string("\x0a\xc8\x00\x02", 4); }
// 2001:db8::7, likewise.
std::string PeerBytesV6() {
  return std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') + "\x07";
}

// The smallest body a node accepts: every required field, one uplink.
mesh::Announcement ValidWireAnnouncement() {
  mesh::Announcement m;
  m.set_node_id("n1");
  m.set_name("name");
  m.set_version("1");
  m.set_epoch(1);
  m.set_seq(1);
  m.set_timestamp_ms(1);
  mesh::Uplink* u = m.add_uplinks();
  u->set_name("eth0");
  u->set_type(mesh::UPLINK_TYPE_ETHERNET);
  return m;
}

void SetBond(mesh::Announcement& m, const std::string& peer_address, uint32_t peer_port,
             uint32_t tunnel_port) {
  m.mutable_bond()->set_peer_address(peer_address);
  m.mutable_bond()->set_peer_port(peer_port);
  m.mutable_bond()->set_tunnel_port(tunnel_port);
}

TEST(Announcement, AuthenticatedButMalformedBodiesAreDropped) {
  EXPECT_EQ(DropOf(FrameBody("\xff\xff\xff"))->reason, DropReason::kMalformedBody);
  EXPECT_EQ(DropOf(FrameBody(""))->reason, DropReason::kInvalidField);  // all fields missing

  auto serialized = [](const std::function<void(mesh::Announcement&)>& spoil) {
    mesh::Announcement m = ValidWireAnnouncement();
    spoil(m);
    return m.SerializeAsString();
  };
  EXPECT_FALSE(DropOf(FrameBody(serialized([](mesh::Announcement&) {}))).has_value());
  // The new fields in their valid form pass, and decode as sent.
  const std::vector<uint8_t> with_bond = FrameBody(serialized([](mesh::Announcement& m) {
    SetBond(m, PeerBytes(), 7201, 7301);
    m.mutable_uplinks(0)->set_shared(true);
    m.mutable_uplinks(0)->set_relay_port(7211);
    m.mutable_relay()->set_relay_port(7211);
    m.mutable_relay()->set_share_remaining_bytes(5);
  }));
  std::variant<Announcement, Drop> decoded = DecodeAnnouncement(with_bond.data(), with_bond.size(), kKey);
  ASSERT_TRUE(std::holds_alternative<Announcement>(decoded)) << std::get<Drop>(decoded).detail;
  const Announcement& a = std::get<Announcement>(decoded);
  EXPECT_EQ(a.bond, (BondEndpoint{IpOf("10.200.0.2"), 7201, 7301}));
  EXPECT_EQ(a.sent_over, AF_INET) << "a sender from before IPv6 discovery announced over IPv4";
  EXPECT_EQ(a.uplinks[0].relay_port, 7211);
  EXPECT_EQ(a.relay->share_remaining_bytes, 5u);
  struct Case {
    std::function<void(mesh::Announcement&)> spoil;
    std::string detail;
  };
  const Case cases[] = {
      {[](mesh::Announcement& m) { m.set_name(std::string("a\0b", 3)); }, "name contains byte 0x0"},
      {[](mesh::Announcement& m) { m.set_node_id("\xc3\xa9"); }, "node_id contains byte 0xc3"},
      {[](mesh::Announcement& m) { m.mutable_uplinks(0)->set_type(mesh::UPLINK_TYPE_UNSPECIFIED); },
       "uplinks[0].type 0"},
      {[](mesh::Announcement& m) { m.mutable_uplinks(0)->set_type(static_cast<mesh::UplinkType>(42)); },
       "uplinks[0].type 42"},
      {[](mesh::Announcement& m) { m.mutable_uplinks(0)->set_loss_ppm(2'000'000); }, "loss_ppm"},
      {[](mesh::Announcement& m) { m.mutable_relay()->set_relay_port(70000); },
       "relay.relay_port 70000"},
      {[](mesh::Announcement& m) {
         for (int i = 0; i < 20; ++i) *m.add_uplinks() = m.uplinks(0);
       },
       "21 uplinks"},
      {[](mesh::Announcement& m) { m.set_seq(0); }, "seq is 0"},
      {[](mesh::Announcement& m) { m.mutable_uplinks(0)->set_relay_port(70000); },
       "uplinks[0].relay_port 70000 above 65535"},
      {[](mesh::Announcement& m) { m.mutable_uplinks(0)->set_shared(true); },
       "uplinks[0].relay_port is 0 but shared"},
      {[](mesh::Announcement& m) { m.mutable_uplinks(0)->set_relay_port(7211); },
       "uplinks[0].relay_port 7211 on an uplink not shared"},
      {[](mesh::Announcement& m) { SetBond(m, std::string("\x0a\xc8\x00", 3), 7201, 7301); },
       "bond.peer_address is 3 bytes"},
      {[](mesh::Announcement& m) { SetBond(m, std::string(5, '\x20'), 7201, 7301); },
       "bond.peer_address is 5 bytes (an IPv4 address has 4, an IPv6 address 16)"},
      // An IPv6 address cut short, or one with a byte too many.
      {[](mesh::Announcement& m) { SetBond(m, PeerBytesV6().substr(0, 15), 7201, 7301); },
       "bond.peer_address is 15 bytes"},
      {[](mesh::Announcement& m) { SetBond(m, PeerBytesV6() + "x", 7201, 7301); },
       "bond.peer_address is 17 bytes"},
      {[](mesh::Announcement& m) { SetBond(m, std::string(16, '\0'), 7201, 7301); },
       "bond.peer_address is ::"},
      {[](mesh::Announcement& m) {
         SetBond(m, std::string("\xfe\x80", 2) + std::string(13, '\0') + "\x01", 7201, 7301);
       },
       "bond.peer_address is fe80::1, a link-local address"},
      {[](mesh::Announcement& m) {
         SetBond(m, std::string("\xff\x02", 2) + std::string(13, '\0') + "\x01", 7201, 7301);
       },
       "bond.peer_address is ff02::1, a multicast address"},
      {[](mesh::Announcement& m) {
         SetBond(m, std::string(10, '\0') + "\xff\xff" + PeerBytes(), 7201, 7301);
       },
       "bond.peer_address is ::ffff:10.200.0.2, an IPv4-mapped address"},
      {[](mesh::Announcement& m) { m.set_sent_over(static_cast<mesh::AddressFamily>(7)); },
       "sent_over 7 is not a known address family"},
      {[](mesh::Announcement& m) { SetBond(m, "", 7201, 7301); }, "bond.peer_address is 0 bytes"},
      {[](mesh::Announcement& m) { SetBond(m, std::string(4, '\0'), 7201, 7301); },
       "bond.peer_address is 0.0.0.0"},
      {[](mesh::Announcement& m) { SetBond(m, PeerBytes(), 65536, 7301); },
       "bond.peer_port 65536 above 65535"},
      {[](mesh::Announcement& m) { SetBond(m, PeerBytes(), 7201, 0); },
       "bond.tunnel_port is 0"},
      {[](mesh::Announcement& m) { SetBond(m, PeerBytes(), 0, 7301); },
       "bond.peer_port is 0"},
      {[](mesh::Announcement& m) { SetBond(m, PeerBytes(), 7201, 1 << 20); },
       "bond.tunnel_port 1048576 above 65535"},
  };
  for (const Case& c : cases) {
    std::optional<Drop> d = DropOf(FrameBody(serialized(c.spoil)));
    ASSERT_TRUE(d.has_value()) << c.detail;
    EXPECT_EQ(d->reason, DropReason::kInvalidField) << c.detail;
    EXPECT_THAT(d->detail, HasSubstr(c.detail));
  }
}

TEST(Announcement, AnIpv6PeerCutInsideTheBodyIsDropped) {
  // Tagged by a key holder, but the body ends inside the 16-byte address:
  // the length-prefixed fields run past the end, and protobuf refuses them.
  mesh::Announcement m = ValidWireAnnouncement();
  SetBond(m, PeerBytesV6(), 7201, 7301);
  const std::string body = m.SerializeAsString();
  ASSERT_FALSE(DropOf(FrameBody(body)).has_value()) << DropOf(FrameBody(body))->detail;
  const size_t address = body.find(PeerBytesV6());
  ASSERT_NE(address, std::string::npos);
  for (size_t kept = 0; kept < 16; ++kept) {
    std::optional<Drop> d = DropOf(FrameBody(body.substr(0, address + kept)));
    ASSERT_TRUE(d.has_value()) << "accepted with " << kept << " address bytes left";
    EXPECT_EQ(d->reason, DropReason::kMalformedBody) << kept;
  }
}

}  // namespace
}  // namespace meshbpf
