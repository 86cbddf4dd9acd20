#include "agent/core/discovery.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/sys/discovery_socket.h"
#include "agent/core/mesh_auth.h"
#include "proto/mesh.pb.h"

namespace meshbpf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

const std::string kKey = "a mesh key of 16+ characters";
constexpr uint64_t kNowMs = 1'700'000'000'000;  // the fake wall clock

in_addr Ip(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a;
}

Announcement Sample(std::string node_id = "node-a") {
  Announcement a;
  a.node_id = std::move(node_id);
  a.name = "gateway.lan";
  a.version = "0.3.1+dev";
  a.epoch = 1'699'999'000'000;
  a.seq = 7;
  a.timestamp_ms = kNowMs;
  a.uplinks = {
      {"eth0", UplinkType::kEthernet, 40'000, 12'000, 100, std::nullopt, true, 7211},
      {"wwan0", UplinkType::kCellular, 10'000, 60'000, 20'000, 5'000'000'000ULL, true, 7212},
      {"wlan0", UplinkType::kWifi, 0, 0, 0, std::nullopt, false},
  };
  a.relay = RelayCapability{7211, 50'000, 2'000'000'000};
  a.bond = BondEndpoint{Ip("10.200.0.2"), 7201, 7301};
  return a;
}

std::vector<uint8_t> Encode(const Announcement& a, const std::string& key = kKey) {
  absl::StatusOr<std::vector<uint8_t>> frame = EncodeAnnouncement(a, key);
  EXPECT_TRUE(frame.ok()) << frame.status();
  return frame.ok() ? *frame : std::vector<uint8_t>{};
}

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
  a.bond = BondEndpoint{Ip("255.255.255.255"), 65535, 65535};
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
      {[](Announcement& a) { a.bond->peer_address = Ip("0.0.0.0"); }, "bond.peer_address is 0.0.0.0"},
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
  const std::vector<uint8_t> good = Encode(Sample());
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> f = good;
      f[i] ^= static_cast<uint8_t>(1 << bit);
      ASSERT_TRUE(DropOf(f).has_value()) << "accepted with byte " << i << " bit " << bit << " flipped";
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
  EXPECT_EQ(a.bond, (BondEndpoint{Ip("10.200.0.2"), 7201, 7301}));
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
      {[](mesh::Announcement& m) { SetBond(m, std::string(16, '\x20'), 7201, 7301); },
       "bond.peer_address is 16 bytes"},
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

struct FakeWallClock {
  std::chrono::system_clock::time_point now{milliseconds(kNowMs)};
  ReplayGuard::WallClock fn() {
    return [this] { return now; };
  }
};

TEST(ReplayGuard, SequenceMustGrowWithinAnEpoch) {
  FakeWallClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement a = Sample();
  EXPECT_FALSE(guard.Admit(a).has_value());
  std::optional<Drop> again = guard.Admit(a);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->reason, DropReason::kReplayed);
  a.seq = 6;
  EXPECT_EQ(guard.Admit(a)->reason, DropReason::kReplayed);
  a.seq = 9;  // gaps are fine: announcements get lost
  EXPECT_FALSE(guard.Admit(a).has_value());
  // Another node has its own sequence.
  Announcement b = Sample("node-b");
  b.seq = 1;
  EXPECT_FALSE(guard.Admit(b).has_value());
}

TEST(ReplayGuard, RestartWithNewEpochIsAcceptedOldEpochIsNot) {
  FakeWallClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement before = Sample();
  before.seq = 1000;
  ASSERT_FALSE(guard.Admit(before).has_value());
  Announcement restarted = before;
  restarted.epoch += 5000;
  restarted.seq = 1;
  EXPECT_FALSE(guard.Admit(restarted).has_value());
  before.seq = 1001;  // a capture from before the restart, still fresh
  std::optional<Drop> d = guard.Admit(before);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason, DropReason::kReplayed);
  EXPECT_THAT(d->detail, HasSubstr("epoch"));
}

TEST(ReplayGuard, TimestampsOutsideTheWindowAreStale) {
  FakeWallClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement a = Sample();
  a.timestamp_ms = kNowMs - 60'001;
  EXPECT_EQ(guard.Admit(a)->reason, DropReason::kStale);
  a.timestamp_ms = kNowMs + 60'001;
  EXPECT_EQ(guard.Admit(a)->reason, DropReason::kStale);
  a.timestamp_ms = kNowMs - 60'000;  // skew up to the window either way is tolerated
  EXPECT_FALSE(guard.Admit(a).has_value());
  a.seq++;
  a.timestamp_ms = kNowMs + 60'000;
  EXPECT_FALSE(guard.Admit(a).has_value());
}

TEST(ReplayGuard, ForgetsNodesOnceTheirLastTimestampLeftTheWindow) {
  FakeWallClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement a = Sample();
  ASSERT_FALSE(guard.Admit(a).has_value());
  // The node's clock jumps back and it restarts with a smaller epoch: refused
  // while its last message is fresh...
  Announcement reset = a;
  reset.epoch = 10;
  reset.seq = 1;
  clock.now += seconds(30);
  reset.timestamp_ms = kNowMs + 30'000;
  EXPECT_EQ(guard.Admit(reset)->reason, DropReason::kReplayed);
  // ...and accepted once the old state can no longer vouch for anything.
  clock.now += seconds(31);
  reset.timestamp_ms = kNowMs + 61'000;
  EXPECT_FALSE(guard.Admit(reset).has_value());
  EXPECT_EQ(guard.tracked_nodes(), 1u);
  // And the captured original is stale by now, so forgetting it opened nothing.
  EXPECT_EQ(guard.Admit(a)->reason, DropReason::kStale);
}

struct FakeSteadyClock {
  std::chrono::steady_clock::time_point now{};
  NodeTable::Clock fn() {
    return [this] { return now; };
  }
};

TEST(NodeTable, ReportsWhatChanged) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kJoined);
  a.seq++;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kRefreshed);
  a.version = "0.4";
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUpdated);
  a.uplinks[0].rtt_us += 1;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.relay->share_remaining_bytes = 1;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.relay.reset();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.bond->tunnel_port = 7302;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged)
      << "relays of this node must forward elsewhere";
  a.bond.reset();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.3"))), NodeChange::kUplinksChanged)
      << "a new source address changes where relayed traffic goes";
  ASSERT_EQ(table.nodes().size(), 1u);
  EXPECT_EQ(table.nodes().at("node-a").last.version, "0.4");
}

TEST(NodeTable, ExpiresNodesNotHeardForNodeTimeout) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(Sample("node-a"), Ip("10.0.0.2"));
  clock.now += seconds(20);
  table.Update(Sample("node-b"), Ip("10.0.0.3"));
  clock.now += seconds(10);  // a: exactly 30 s
  EXPECT_TRUE(table.Expire().empty());
  clock.now += milliseconds(1);
  std::vector<MeshNode> gone = table.Expire();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].last.node_id, "node-a");
  EXPECT_EQ(table.nodes().size(), 1u);
  clock.now += seconds(21);
  ASSERT_EQ(table.Expire().size(), 1u);
  EXPECT_TRUE(table.nodes().empty());
  EXPECT_EQ(std::get<NodeChange>(table.Update(Sample("node-a"), Ip("10.0.0.2"))),
            NodeChange::kJoined);
}

TEST(NodeTable, RefusesNewNodesWhenFull) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  for (size_t i = 0; i < kMaxNodes; ++i) {
    ASSERT_TRUE(std::holds_alternative<NodeChange>(
        table.Update(Sample(absl::StrCat("n", i)), Ip("10.0.0.2"))));
  }
  std::variant<NodeChange, Drop> r = table.Update(Sample("one-too-many"), Ip("10.0.0.2"));
  ASSERT_TRUE(std::holds_alternative<Drop>(r));
  EXPECT_EQ(std::get<Drop>(r).reason, DropReason::kTableFull);
  // Known nodes still refresh.
  EXPECT_EQ(std::get<NodeChange>(table.Update(Sample("n0"), Ip("10.0.0.2"))), NodeChange::kRefreshed);
}

TEST(RemotePaths, AreTheSharedUplinksOfRelayingNodes) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(Sample("node-b"), Ip("10.0.0.3"));
  Announcement no_relay = Sample("node-c");
  no_relay.relay.reset();
  table.Update(no_relay, Ip("10.0.0.4"));
  table.Update(Sample("node-a"), Ip("10.0.0.2"));
  std::vector<RemotePath> paths = RemotePaths(table);
  std::vector<std::string> names;
  for (const RemotePath& p : paths) names.push_back(p.node_id + "/" + p.uplink.name);
  EXPECT_THAT(names, ::testing::ElementsAre("node-a/eth0", "node-a/wwan0", "node-b/eth0",
                                            "node-b/wwan0"));
  EXPECT_EQ(paths[0].node_address.s_addr, Ip("10.0.0.2").s_addr);
  EXPECT_EQ(paths[0].relay_port, 7211) << "each uplink's own port";
  EXPECT_EQ(paths[1].relay_port, 7212);
  EXPECT_EQ(paths[1].uplink.cap_remaining_bytes, 5'000'000'000ULL);
  EXPECT_EQ(paths[1].share_remaining_bytes, 2'000'000'000ULL);
}

TEST(RemotePaths, ASharedUplinkWithoutARelayPortIsNoCandidate) {
  // Decoding refuses it; the table itself does not check.
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample("node-a");
  a.uplinks[1].relay_port = 0;
  table.Update(a, Ip("10.0.0.2"));
  std::vector<RemotePath> paths = RemotePaths(table);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0].uplink.name, "eth0");
}

TEST(RemotePaths, TopologyChangesShowUpInTheDiff) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  std::vector<RemotePath> before = RemotePaths(table);
  table.Update(Sample("node-a"), Ip("10.0.0.2"));  // joins: two shared uplinks
  std::vector<RemotePath> after = RemotePaths(table);
  PathSetDiff d = DiffPaths(before, after);
  EXPECT_EQ(d.added.size(), 2u);
  EXPECT_TRUE(d.removed.empty() && d.changed.empty());
  EXPECT_TRUE(DiffPaths(after, after).empty());

  // node-a stops sharing wwan0 and its eth0 gets slower; node-b joins.
  Announcement a = Sample("node-a");
  a.seq++;
  a.uplinks[1].shared = false;
  a.uplinks[1].relay_port = 0;
  a.uplinks[0].capacity_kbps = 20'000;
  table.Update(a, Ip("10.0.0.2"));
  clock.now += seconds(20);
  table.Update(Sample("node-b"), Ip("10.0.0.3"));
  before = after;
  after = RemotePaths(table);
  d = DiffPaths(before, after);
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0].uplink.name, "wwan0");
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_EQ(d.changed[0].uplink.capacity_kbps, 20'000u);
  ASSERT_EQ(d.added.size(), 2u);
  EXPECT_EQ(d.added[0].node_id, "node-b");

  // node-a goes silent: its paths are withdrawn, node-b's stay.
  clock.now += seconds(11);
  ASSERT_EQ(table.Expire().size(), 1u);
  before = after;
  after = RemotePaths(table);
  d = DiffPaths(before, after);
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0].node_id, "node-a");
  EXPECT_TRUE(d.added.empty() && d.changed.empty());
}

TEST(DropMonitor, CountsEveryDropLogsAtMostOneLinePerReasonPerInterval) {
  DropMonitor monitor(seconds(10));
  std::chrono::steady_clock::time_point t{};
  const Drop forged{DropReason::kBadTag, "HMAC does not match"};
  std::optional<std::string> line = monitor.Record(forged, Ip("10.0.0.9"), t);
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("10.0.0.9"));
  EXPECT_THAT(*line, HasSubstr("authentication failed"));
  for (int i = 0; i < 99; ++i) {
    EXPECT_FALSE(monitor.Record(forged, Ip("10.0.0.9"), t + seconds(9)).has_value());
  }
  // Another reason has its own budget.
  EXPECT_TRUE(monitor.Record({DropReason::kReplayed, "seq"}, Ip("10.0.0.9"), t).has_value());
  line = monitor.Record(forged, Ip("10.0.0.9"), t + seconds(10));
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("99 more"));
  EXPECT_EQ(monitor.count(DropReason::kBadTag), 101u);
  EXPECT_EQ(monitor.count(DropReason::kReplayed), 1u);
  EXPECT_EQ(monitor.total(), 102u);
}

class IntakeTest : public ::testing::Test {
 protected:
  FakeWallClock wall;
  FakeSteadyClock steady;
  ReplayGuard replay{seconds(60), wall.fn()};
  NodeTable table{seconds(30), steady.fn()};
  DropMonitor drops;
  AnnouncementIntake intake{kKey, "me", replay, table, drops, steady.fn()};

  AnnouncementIntake::Result Receive(const std::vector<uint8_t>& f, size_t wire_size = 0) {
    return intake.Receive(ReceivedDatagram{f, wire_size ? wire_size : f.size(), Ip("10.0.0.2")});
  }
};

TEST_F(IntakeTest, AcceptsJoinsAndRefreshes) {
  Announcement a = Sample();
  AnnouncementIntake::Result r = Receive(Encode(a));
  EXPECT_EQ(r.change, NodeChange::kJoined);
  EXPECT_EQ(r.node_id, "node-a");
  a.seq++;
  EXPECT_EQ(Receive(Encode(a)).change, NodeChange::kRefreshed);
  EXPECT_EQ(drops.total(), 0u);
}

TEST_F(IntakeTest, AttacksAreDroppedCountedAndLeaveTheTableAlone) {
  const std::vector<uint8_t> good = Encode(Sample());
  ASSERT_EQ(Receive(good).change, NodeChange::kJoined);
  const auto before = table.nodes().at("node-a").last;

  AnnouncementIntake::Result replayed = Receive(good);
  EXPECT_FALSE(replayed.change.has_value());
  ASSERT_TRUE(replayed.log_line.has_value());
  EXPECT_THAT(*replayed.log_line, HasSubstr("replayed"));

  Announcement evil = Sample();
  evil.seq = 100;
  evil.uplinks.clear();
  EXPECT_FALSE(Receive(Encode(evil, "attacker key 0123456")).change.has_value());
  std::vector<uint8_t> truncated(good.begin(), good.end() - 1);
  EXPECT_FALSE(Receive(truncated).change.has_value());
  EXPECT_FALSE(Receive(std::vector<uint8_t>(kMaxAnnouncementSize + 1, 'M'), 9000).change);

  EXPECT_EQ(drops.count(DropReason::kReplayed), 1u);
  EXPECT_EQ(drops.count(DropReason::kBadTag), 1u);
  EXPECT_EQ(drops.count(DropReason::kLengthMismatch), 1u);
  EXPECT_EQ(drops.count(DropReason::kOversized), 1u);
  EXPECT_EQ(table.nodes().at("node-a").last, before);
  EXPECT_EQ(table.nodes().size(), 1u);
}

TEST_F(IntakeTest, OurOwnBroadcastEchoIsIgnoredNotCounted) {
  AnnouncementIntake::Result r = Receive(Encode(Sample("me")));
  EXPECT_FALSE(r.change.has_value());
  EXPECT_FALSE(r.log_line.has_value());
  EXPECT_TRUE(table.nodes().empty());
  EXPECT_EQ(drops.total(), 0u);
}

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::path(::testing::TempDir()) /
            absl::StrCat("meshbpf-sysfs-", getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path Interface(const std::string& name, const std::string& type,
                                  const std::string& uevent = "") {
    const std::filesystem::path dir = root_ / name;
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "type") << type << "\n";
    std::ofstream(dir / "uevent") << "INTERFACE=" << name << "\n" << uevent;
    return dir;
  }
  void Driver(const std::filesystem::path& dir, const std::string& driver) {
    std::filesystem::create_directories(root_ / "drivers" / driver);
    std::filesystem::create_directories(dir / "device");
    std::filesystem::create_directory_symlink(root_ / "drivers" / driver, dir / "device" / "driver");
  }
  UplinkType Detect(const std::string& name) {
    absl::StatusOr<UplinkType> t = DetectUplinkType(root_.string(), name);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.value_or(UplinkType::kOther);
  }
  std::filesystem::path root_;
};

TEST_F(FakeSysfs, DetectsUplinkTypes) {
  std::filesystem::create_directories(Interface("wlan0", "1") / "wireless");
  std::filesystem::create_directories(Interface("wlp2s0", "1") / "phy80211");
  Interface("wlan1", "1", "DEVTYPE=wlan\n");
  Interface("wwan0", "65534", "DEVTYPE=wwan\n");
  Driver(Interface("usb0", "1"), "qmi_wwan");
  Driver(Interface("usb1", "1"), "ipheth");
  Driver(Interface("eth0", "1"), "e1000e");
  Interface("eth1", "1");
  Interface("tun0", "65534");
  Interface("lo", "772");
  EXPECT_EQ(Detect("wlan0"), UplinkType::kWifi);
  EXPECT_EQ(Detect("wlp2s0"), UplinkType::kWifi);
  EXPECT_EQ(Detect("wlan1"), UplinkType::kWifi);
  EXPECT_EQ(Detect("wwan0"), UplinkType::kCellular);
  EXPECT_EQ(Detect("usb0"), UplinkType::kCellular);
  EXPECT_EQ(Detect("usb1"), UplinkType::kCellular);
  EXPECT_EQ(Detect("eth0"), UplinkType::kEthernet);
  EXPECT_EQ(Detect("eth1"), UplinkType::kEthernet);
  EXPECT_EQ(Detect("tun0"), UplinkType::kOther);
  EXPECT_EQ(Detect("lo"), UplinkType::kOther);
}

TEST_F(FakeSysfs, RejectsMissingAndPathLikeNames) {
  EXPECT_EQ(DetectUplinkType(root_.string(), "eth9").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(DetectUplinkType(root_.string(), "eth9").status().message()),
              HasSubstr("eth9"));
  EXPECT_EQ(DetectUplinkType(root_.string(), "../etc").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DetectUplinkType(root_.string(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DiscoverySocket, SubnetBroadcast) {
  auto text = [](in_addr a) {
    char s[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, s, sizeof(s));
    return std::string(s);
  };
  EXPECT_EQ(text(SubnetBroadcast(Ip("192.168.1.10"), 24)), "192.168.1.255");
  EXPECT_EQ(text(SubnetBroadcast(Ip("10.1.2.3"), 8)), "10.255.255.255");
  EXPECT_EQ(text(SubnetBroadcast(Ip("10.1.2.3"), 31)), "10.1.2.3");
  EXPECT_EQ(text(SubnetBroadcast(Ip("10.1.2.3"), 32)), "10.1.2.3");
  EXPECT_EQ(text(SubnetBroadcast(Ip("10.1.2.3"), 0)), "255.255.255.255");
}

// Runs in a child process inside a fresh network namespace (root only), so
// the test owns its loopback and port and touches nothing of the host's.
TEST(DiscoverySocket, BroadcastsAndReceivesInAPrivateNetns) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a private network namespace";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Exit codes say which step failed.
    if (unshare(CLONE_NEWNET) != 0) _exit(10);
    const int ctl = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) _exit(11);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) _exit(12);
    absl::StatusOr<std::unique_ptr<DiscoverySocket>> s = DiscoverySocket::Open("lo", 9999);
    if (!s.ok()) _exit(13);
    absl::StatusOr<in_addr> broadcast = InterfaceBroadcast("lo");
    if (!broadcast.ok() || broadcast->s_addr != Ip("127.255.255.255").s_addr) _exit(14);
    const std::vector<uint8_t> frame = Encode(Sample());
    if (!(*s)->Send(*broadcast, frame).ok()) _exit(15);
    if (!(*s)->Send(*broadcast, std::vector<uint8_t>(1500, 'M')).ok()) _exit(16);
    std::vector<ReceivedDatagram> got;
    for (int tries = 0; tries < 1000 && got.size() < 2; ++tries) {
      std::vector<ReceivedDatagram> more = (*s)->Receive();
      got.insert(got.end(), more.begin(), more.end());
      if (got.size() < 2) usleep(1000);
    }
    if (got.size() != 2) _exit(17);
    if (got[0].bytes != frame || got[0].wire_size != frame.size()) _exit(18);
    if (got[1].wire_size != 1500 || got[1].bytes.size() != kMaxAnnouncementSize + 1) _exit(19);
    if (got[0].from.s_addr != Ip("127.0.0.1").s_addr) _exit(20);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "step that failed: see the exit codes in the test";
}

}  // namespace
}  // namespace meshbpf
