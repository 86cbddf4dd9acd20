// BPF_PROG_TEST_RUN tests of relaying in mb_decap (bpf/lib/relay.h): the
// relay R readdresses an origin's packets toward its bonding peer and back,
// within its budgets and rate limit, and leaves everything else alone.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <functional>

#include "bpf/meshbpf.h"
#include "tests/bpf_relay_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

TEST_F(RelayTest, ForwardRewritesTheOuterHeaderTowardThePeer) {
  SetCap(MB_RELAY_BUDGET, 1'000'000, 1'000'000);
  SetCap(kUplinkPath, 2'000'000, 2'000'000);
  const Bytes in = FromOrigin();
  ASSERT_EQ(in.size(), 14u + 1000u);
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  const Bytes& o = r.out;
  ASSERT_EQ(o.size(), in.size());
  EXPECT_EQ(Addr(o, kOuterIp + 12), Ip(kRelayUplink)) << "source: R's uplink address";
  EXPECT_EQ(Addr(o, kOuterIp + 16), Ip(kBondPeer)) << "destination: the origin's bonding peer";
  EXPECT_EQ(o[kOuterIp + 8], 63) << "TTL - 1";
  EXPECT_EQ(Ipv4Checksum(&o[kOuterIp], 20), 0) << "IPv4 checksum valid";
  EXPECT_EQ(Get16(o, kOuterUdp), kReturnPort) << "source port: where P answers";
  EXPECT_EQ(Get16(o, kOuterUdp + 2), kTunnelPort) << "the peer's tunnel port";
  EXPECT_EQ(Get16(o, kOuterUdp + 6), 0) << "UDP checksum cleared";
  EXPECT_TRUE(BytesEqual(Bytes(o.begin() + kOuterUdp + 8, o.end()),
                         Bytes(in.begin() + kOuterUdp + 8, in.end()), "payload"))
      << "wire header and inner packet untouched";
  EXPECT_TRUE(BytesEqual(o, Readdressed(in, kRelayUplink, kBondPeer, kReturnPort, kTunnelPort),
                         "forwarded"));

  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.fwd_packets, 1u);
  EXPECT_EQ(c.fwd_bytes, 1000u) << "outer IPv4 size";
  EXPECT_EQ(c.ret_packets, 0u);
  EXPECT_EQ(RelayDrops(), 0u);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), 1'000'000 - 1000) << "share budget charged";
  EXPECT_EQ(Remaining(kUplinkPath), 2'000'000 - 1000) << "the uplink's own cap charged";
  EXPECT_EQ(Counters(kUplinkPath).rx_packets, 0u) << "not counted as our own traffic";
}

TEST_F(RelayTest, ReturnRewritesTheOuterHeaderTowardTheOrigin) {
  SetCap(MB_RELAY_BUDGET, 1'000'000, 1'000'000);
  SetCap(kUplinkPath, 2'000'000, 2'000'000);
  const Bytes in = FromPeer();
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr(r.out, kOuterIp + 12), Ip(kRelayLan));
  EXPECT_EQ(Addr(r.out, kOuterIp + 16), Ip(kOrigin));
  EXPECT_EQ(Get16(r.out, kOuterUdp), kRelayPort) << "from the port O sends to";
  EXPECT_EQ(Get16(r.out, kOuterUdp + 2), kTunnelPort) << "O's tunnel port";
  EXPECT_EQ(Ipv4Checksum(&r.out[kOuterIp], 20), 0);
  EXPECT_TRUE(
      BytesEqual(r.out, Readdressed(in, kRelayLan, kOrigin, kRelayPort, kTunnelPort), "returned"));

  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.ret_packets, 1u);
  EXPECT_EQ(c.ret_bytes, 1000u);
  EXPECT_EQ(c.fwd_packets, 0u);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), 1'000'000 - 1000);
  EXPECT_EQ(Remaining(kUplinkPath), 2'000'000 - 1000);
}

TEST_F(RelayTest, UncappedBudgetsAreNotCounted) {
  ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), 0);
  EXPECT_EQ(Remaining(kUplinkPath), 0);
}

TEST_F(RelayTest, PacketsOfNoServedRelayPassUntouched) {
  struct Case {
    const char* what;
    Bytes in;
  };
  const Case cases[] = {
      {"unknown origin", FromOrigin(1000, 64, kRelayPort, "10.210.0.9")},
      {"known origin, another forward port", FromOrigin(1000, 64, kRelayPort + 1)},
      {"port below the span", FromOrigin(1000, 64, kRelayPort - 1)},
      {"port past the span", FromOrigin(1000, 64, kRelayPort + MB_RELAY_PORT_SPAN)},
      {"return port from other than the peer's address",
       FromOrigin(1000, 64, kReturnPort)},
  };
  for (const Case& c : cases) {
    RunResult r = Decap(c.in);
    EXPECT_EQ(r.verdict, kNotOurs) << c.what;
    EXPECT_TRUE(BytesEqual(r.out, c.in, "untouched")) << c.what;
  }
  const mb_relay_counters k = RelayCounters(kSlot);
  EXPECT_EQ(k.fwd_packets + k.ret_packets, 0u);
  EXPECT_EQ(RelayDrops(), 0u);
}

TEST_F(RelayTest, NothingIsRelayedWithoutARelayPort) {
  config_.relay_port = 0;
  WriteConfig();
  const Bytes in = FromOrigin();
  RunResult r = Decap(in);
  EXPECT_EQ(r.verdict, kNotOurs);
  EXPECT_TRUE(BytesEqual(r.out, in, "untouched"));
  EXPECT_EQ(RelayCounters(kSlot).fwd_packets, 0u);
}

TEST_F(RelayTest, FreedSlotIsNotRelayed) {
  mb_relay freed{};
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relays), &kSlot, &freed, BPF_ANY), 0);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kNotOurs);
  EXPECT_EQ(Decap(FromPeer()).verdict, kNotOurs);
}

TEST_F(RelayTest, RelaysInFlowModeToo) {
  config_.mode = MB_MODE_FLOW;
  WriteConfig();
  EXPECT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(RelayCounters(kSlot).fwd_packets, 1u);
}

TEST_F(RelayTest, ReturnFromAnotherSourcePortIsDroppedAndCounted) {
  const Bytes in = FromPeer(/*src_port=*/7999);
  EXPECT_EQ(Decap(in).verdict, kShot);
  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.drops[MB_RELAY_DROP_WRONG_SOURCE], 1u);
  EXPECT_EQ(RelayDrops(), 1u);
  EXPECT_EQ(c.ret_packets, 0u);
}

// The relay is no open UDP proxy: a packet for a relay slot passes only as
// announced (the origin's port, on the LAN, to our LAN address; the peer's
// answer on the uplink, to its address), and only a meshbpf packet.
TEST_F(RelayTest, RelaysOnlyWhatArrivesAsAnnounced) {
  const uint32_t other_device = lo_ + 1000;
  auto with = [](Bytes b, const std::function<void(Bytes&)>& edit) {
    edit(b);
    return b;
  };
  const Bytes to_other_address =
      with(FromOrigin(), [](Bytes& b) { Put32(b, kOuterIp + 16, Ip("10.210.0.99")); });
  const Bytes from_other_port = with(FromOrigin(), [](Bytes& b) { Put16(b, kOuterUdp, 7999); });
  const Bytes not_meshbpf = with(FromOrigin(), [](Bytes& b) { b[kOuterUdp + 8] = 9; });
  const Bytes return_to_other_address =
      with(FromPeer(), [](Bytes& b) { Put32(b, kOuterIp + 16, Ip("10.211.2.99")); });
  ExpectRefused(
      kSlot,
      {
          {"forward from another device", FromOrigin(), other_device,
           MB_RELAY_DROP_WRONG_INTERFACE},
          {"forward to another address", to_other_address, lo_, MB_RELAY_DROP_WRONG_DESTINATION},
          {"forward from another port", from_other_port, lo_, MB_RELAY_DROP_WRONG_SOURCE},
          {"forward of no meshbpf packet", not_meshbpf, lo_, MB_RELAY_DROP_NOT_MESHBPF},
          {"return from another device", FromPeer(), other_device, MB_RELAY_DROP_WRONG_INTERFACE},
          {"return to another address", return_to_other_address, lo_,
           MB_RELAY_DROP_WRONG_DESTINATION},
      });
  // The same packets as announced still pass.
  EXPECT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(Decap(FromPeer()).verdict, kRedirect);
}

// A payload too short for a meshbpf header and an inner IPv4 header.
TEST_F(RelayTest, TruncatedPayloadIsNotRelayed) {
  Bytes b = FromOrigin();
  b.resize(kOuterUdp + 8 + sizeof(mb_wire_hdr) + 10);
  Put16(b, kOuterIp + 2, static_cast<uint16_t>(b.size() - kOuterIp));
  Put16(b, kOuterUdp + 4, static_cast<uint16_t>(b.size() - kOuterUdp));
  EXPECT_EQ(Decap(b).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_NOT_MESHBPF], 1u);
}

TEST_F(RelayTest, SpentShareBudgetStopsRelayingBothWays) {
  // 1500 left: 1500 -> 500 -> -500, then spent.
  SetCap(MB_RELAY_BUDGET, 100'000, 1500);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(Decap(FromPeer()).verdict, kRedirect) << "the packet that crosses zero still goes";
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), -500);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(Decap(FromPeer()).verdict, kShot);
  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.drops[MB_RELAY_DROP_SHARE_SPENT], 2u);
  EXPECT_EQ(RelayDrops(), 2u);
  EXPECT_EQ(c.fwd_packets, 1u);
  EXPECT_EQ(c.ret_packets, 1u);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), -500) << "dropped packets are not charged";
}

TEST_F(RelayTest, SpentUplinkCapStopsRelayingWhateverItsPolicy) {
  SetCap(kUplinkPath, 100'000, 0, MB_CAP_LAST_RESORT);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(Decap(FromPeer()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_CAP_SPENT], 2u);
  EXPECT_EQ(RelayDrops(), 2u);
}

TEST_F(RelayTest, UnconfiguredUplinkPathDrops) {
  SetPath(kUplinkPath, mb_path{});
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_UPLINK_GONE], 1u);
}

TEST_F(RelayTest, ExpiringTtlIsDropped) {
  for (uint8_t ttl : {1, 0}) EXPECT_EQ(Decap(FromOrigin(1000, ttl)).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_TTL], 2u);
  RunResult r = Decap(FromOrigin(1000, 2));
  EXPECT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kOuterIp + 8], 1);
}

TEST_F(RelayTest, RateLimitDropsWhatExceedsTheBucket) {
  config_.relay_max_kbps = 8;  // 1000 bytes/s
  WriteConfig();
  // 2500 bytes in the bucket and no refill: its last refill lies an hour ahead.
  mb_relay_bucket bucket{};
  bucket.tokens_bytes = 2500;
  bucket.last_ns = MonotonicNs() + 3600ull * 1'000'000'000;
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket, BPF_ANY), 0);

  EXPECT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(Decap(FromPeer()).verdict, kRedirect) << "both directions share the bucket";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(Decap(FromOrigin(400)).verdict, kRedirect) << "what is left still fits 400 bytes";
  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.drops[MB_RELAY_DROP_RATE], 3u);
  EXPECT_EQ(RelayDrops(), 3u);
  EXPECT_EQ(c.fwd_packets, 2u);
}

TEST_F(RelayTest, RateLimitRefillsAnIdleBucketTo64KiB) {
  config_.relay_max_kbps = 1;  // 125 bytes/s: 100 ms of it is far below the 64 KiB floor
  WriteConfig();
  // Idle since boot, one byte short of the floor. Never "now - an hour": the
  // monotonic clock starts near zero, and CI machines may have just booted.
  // Any refill (one byte takes 8 ms at 1 kbit/s) must stop at 64 KiB.
  mb_relay_bucket bucket{};
  bucket.tokens_bytes = 65535;
  bucket.last_ns = 0;
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket, BPF_ANY), 0);

  ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket), 0);
  EXPECT_EQ(bucket.tokens_bytes, 65536u - 1000u) << "refilled to the floor, then charged";
  // 65 x 1000 bytes fit in 65536; the 66th needs 464 more, which takes ~4 s to accrue.
  for (int i = 1; i < 65; ++i) ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect) << i;
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_RATE], 1u);
}

TEST_F(RelayTest, WithoutRateLimitTheBucketIsNotUsed) {
  for (int i = 0; i < 100; ++i) ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  mb_relay_bucket bucket{};
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket), 0);
  EXPECT_EQ(bucket.last_ns, 0u);
}

TEST_F(RelayTest, PacketsTooBigForTheOutgoingDeviceAreDropped) {
  ASSERT_EQ(lo_, 1u) << "the private netns's lo must have the relay's ifindex";
  InNetnsWithLoMtu(1500, [&] {
    EXPECT_EQ(Decap(FromOrigin(1500)).verdict, kRedirect);
    EXPECT_EQ(Decap(FromOrigin(1501)).verdict, kShot) << "forward: the uplink's MTU";
    EXPECT_EQ(Decap(FromPeer(kTunnelPort, 1500)).verdict, kRedirect);
    EXPECT_EQ(Decap(FromPeer(kTunnelPort, 1501)).verdict, kShot) << "return: the LAN's MTU";
    EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_TOO_BIG], 2u);
    EXPECT_EQ(RelayDrops(), 2u);
  });
}

// An IPv6 relay beside the IPv4 one: R serves O (fe80::1) from its LAN
// address fe80::2 in slot 5, through its IPv6 uplink path 1 (2001:db8:2::2)
// toward P (2001:db8:200::2).
constexpr uint32_t kSlot6 = 5;
constexpr uint16_t kReturnPort6 = kRelayPort + MB_RELAY_RETURN_OFFSET + kSlot6;
constexpr uint32_t kUplinkPath6 = 1;
constexpr size_t kRelayUdp6 = kOuterIp + 40;

class RelayIpv6Test : public RelayTest {
 protected:
  void SetUp() override {
    RelayTest::SetUp();
    if (SetUpStopped()) return;
    mb_path uplink = RelayUplinkOverLo();
    uplink.flags = MB_PATH_F_IPV6;
    const mb_addr src = RelayAddr(kRelayUplink6), dst = RelayAddr("2001:db8:9::9"),
                  gateway = RelayAddr("2001:db8:2::1");
    std::memcpy(uplink.src_ip6, src.w, 16);
    std::memcpy(uplink.dst_ip6, dst.w, 16);
    std::memcpy(uplink.gateway6, gateway.w, 16);
    SetPath(kUplinkPath6, uplink);
    AddRelay(kSlot6, kOrigin6, kRelayLan6, kBondPeer6, kUplinkPath6, kReturnPort6);
  }

  // FromOrigin over IPv6: O's tunnel packet to R's IPv6 relay port, 1000 bytes of outer IPv6.
  static Bytes FromOrigin6(uint8_t hop_limit = 64, uint16_t src_port = kTunnelPort,
                           const char* src = kOrigin6) {
    Bytes b = WithOuterIpv6(FromOrigin(1000 - 20, hop_limit), src, kRelayLan6);
    Put16(b, kRelayUdp6, src_port);
    Put16(b, kRelayUdp6 + 6, 0xbeef);  // a UDP checksum: the relay must clear it
    return b;
  }
  // FromPeer over IPv6: P's answer to R's IPv6 return port.
  static Bytes FromPeer6(uint16_t src_port = kTunnelPort) {
    Bytes b = WithOuterIpv6(FromPeer(src_port, 1000 - 20), kBondPeer6, kRelayUplink6);
    Put16(b, kRelayUdp6 + 2, kReturnPort6);
    return b;
  }
  // The outer IPv6 address at `off` in `frame`, comparable with RelayAddr().
  static std::array<uint32_t, 4> Addr6In(const Bytes& frame, size_t off) {
    std::array<uint32_t, 4> a{};
    std::memcpy(a.data(), &frame[off], 16);
    return a;
  }
  static std::array<uint32_t, 4> Words(const char* addr) {
    const mb_addr a = RelayAddr(addr);
    return {a.w[0], a.w[1], a.w[2], a.w[3]};
  }
};

TEST_F(RelayIpv6Test, ForwardRewritesTheOuterIpv6HeaderTowardThePeer) {
  SetCap(MB_RELAY_BUDGET, 1'000'000, 1'000'000);
  SetCap(kUplinkPath6, 2'000'000, 2'000'000);
  const Bytes in = FromOrigin6();
  ASSERT_EQ(in.size(), 14u + 1000u);
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  const Bytes& o = r.out;
  ASSERT_EQ(o.size(), in.size());
  EXPECT_EQ(Addr6In(o, kOuterIp + 8), Words(kRelayUplink6)) << "source: R's IPv6 uplink address";
  EXPECT_EQ(Addr6In(o, kOuterIp + 24), Words(kBondPeer6)) << "destination: the bonding peer";
  EXPECT_EQ(o[kOuterIp + 7], 63) << "hop limit - 1";
  EXPECT_EQ(Get16(o, kRelayUdp6), kReturnPort6) << "source port: where P answers";
  EXPECT_EQ(Get16(o, kRelayUdp6 + 2), kTunnelPort);
  EXPECT_EQ(Get16(o, kRelayUdp6 + 6), 0) << "UDP checksum 0, as on meshbpf's IPv6 paths";
  EXPECT_TRUE(BytesEqual(o, Readdressed(in, kRelayUplink6, kBondPeer6, kReturnPort6, kTunnelPort),
                         "forwarded6"));

  const mb_relay_counters c = RelayCounters(kSlot6);
  EXPECT_EQ(c.fwd_packets, 1u);
  EXPECT_EQ(c.fwd_bytes, 1000u) << "outer IPv6 size";
  EXPECT_EQ(RelayDrops(), 0u);
  EXPECT_EQ(RelayCounters(kSlot).fwd_packets, 0u) << "not the IPv4 relay's";
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), 1'000'000 - 1000);
  EXPECT_EQ(Remaining(kUplinkPath6), 2'000'000 - 1000);
}

TEST_F(RelayIpv6Test, ReturnRewritesTheOuterIpv6HeaderTowardTheOrigin) {
  const Bytes in = FromPeer6();
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr6In(r.out, kOuterIp + 8), Words(kRelayLan6));
  EXPECT_EQ(Addr6In(r.out, kOuterIp + 24), Words(kOrigin6)) << "the origin's link-local address";
  EXPECT_EQ(Get16(r.out, kRelayUdp6), kRelayPort) << "from the port O sends to";
  EXPECT_TRUE(BytesEqual(r.out, Readdressed(in, kRelayLan6, kOrigin6, kRelayPort, kTunnelPort),
                         "returned6"));
  const mb_relay_counters c = RelayCounters(kSlot6);
  EXPECT_EQ(c.ret_packets, 1u);
  EXPECT_EQ(c.ret_bytes, 1000u);
  EXPECT_EQ(RelayDrops(), 0u);
}

// The index key's family must be the packet's, and the slot's the key's.
TEST_F(RelayIpv6Test, ASlotOfTheOtherFamilyIsNotRelayed) {
  // Stale index entries pointing at a slot of the other family.
  AddIndex(skel_->maps.mb_relay_fwd, "10.210.0.7", kRelayPort, kSlot6);
  AddIndex(skel_->maps.mb_relay_fwd, "fe80::7", kRelayPort, kSlot);
  const Bytes v4_to_v6_slot = FromOrigin(1000, 64, kRelayPort, "10.210.0.7");
  const Bytes v6_to_v4_slot = FromOrigin6(64, kTunnelPort, "fe80::7");
  for (const Bytes& in : {v4_to_v6_slot, v6_to_v4_slot}) {
    RunResult r = Decap(in);
    EXPECT_NE(r.verdict, kRedirect);
    EXPECT_TRUE(BytesEqual(r.out, in, "untouched"));
  }
  EXPECT_EQ(RelayCounters(kSlot6).fwd_packets + RelayCounters(kSlot).fwd_packets, 0u);
  EXPECT_EQ(RelayDrops(), 0u) << "no relay of theirs: not counted as one";
}

TEST_F(RelayIpv6Test, AnUplinkPathOfTheOtherFamilyDrops) {
  mb_path v4{};
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_paths), &kUplinkPath, &v4), 0);
  SetPath(kUplinkPath6, v4);
  EXPECT_EQ(Decap(FromOrigin6()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot6).drops[MB_RELAY_DROP_UPLINK_FAMILY], 1u);
  // And the IPv4 relay over an IPv6 path.
  mb_path v6{};
  v6.ifindex = lo_;
  v6.flags = MB_PATH_F_IPV6;
  v6.state = MB_PATH_ACTIVE;
  SetPath(kUplinkPath, v6);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_UPLINK_FAMILY], 1u);
  EXPECT_EQ(RelayDrops(), 2u);
}

TEST_F(RelayIpv6Test, ExpiringHopLimitIsDropped) {
  for (uint8_t hops : {1, 0}) EXPECT_EQ(Decap(FromOrigin6(hops)).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot6).drops[MB_RELAY_DROP_TTL], 2u);
  RunResult r = Decap(FromOrigin6(2));
  EXPECT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kOuterIp + 7], 1);
}

TEST_F(RelayIpv6Test, RelaysOnlyWhatArrivesAsAnnounced) {
  const uint32_t other_device = lo_ + 1000;
  Bytes to_other_address = FromOrigin6();
  const mb_addr other = RelayAddr("fe80::99");
  std::memcpy(&to_other_address[kOuterIp + 24], other.w, 16);
  Bytes return_to_other_address = FromPeer6();
  const mb_addr other_uplink = RelayAddr("2001:db8:2::99");
  std::memcpy(&return_to_other_address[kOuterIp + 24], other_uplink.w, 16);
  Bytes not_meshbpf = FromOrigin6();
  not_meshbpf[kRelayUdp6 + 8] = 9;
  ExpectRefused(
      kSlot6,
      {
          {"forward from another device", FromOrigin6(), other_device,
           MB_RELAY_DROP_WRONG_INTERFACE},
          {"forward to another address", to_other_address, lo_, MB_RELAY_DROP_WRONG_DESTINATION},
          {"forward from another port", FromOrigin6(64, 7999), lo_, MB_RELAY_DROP_WRONG_SOURCE},
          {"forward of no meshbpf packet", not_meshbpf, lo_, MB_RELAY_DROP_NOT_MESHBPF},
          {"return from another device", FromPeer6(), other_device, MB_RELAY_DROP_WRONG_INTERFACE},
          {"return to another address", return_to_other_address, lo_,
           MB_RELAY_DROP_WRONG_DESTINATION},
          {"return from another port", FromPeer6(7999), lo_, MB_RELAY_DROP_WRONG_SOURCE},
      });
  // The same packets as announced still pass.
  EXPECT_EQ(Decap(FromOrigin6()).verdict, kRedirect);
  EXPECT_EQ(Decap(FromPeer6()).verdict, kRedirect);
}

// meshbpf sends no extension headers: a packet with one is no relay's.
TEST_F(RelayIpv6Test, ExtensionHeadersAreNotRelayed) {
  Bytes in = FromOrigin6();
  const uint8_t dest_opts[8] = {IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0};  // PadN
  in.insert(in.begin() + kOuterIp + 40, dest_opts, dest_opts + 8);
  in[kOuterIp + 6] = 60;  // destination options
  Put16(in, kOuterIp + 4, static_cast<uint16_t>(Get16(in, kOuterIp + 4) + 8));
  RunResult r = Decap(in);
  EXPECT_EQ(r.verdict, kNotOurs);
  EXPECT_TRUE(BytesEqual(r.out, in, "untouched"));
  EXPECT_EQ(RelayCounters(kSlot6).fwd_packets, 0u);
  EXPECT_EQ(RelayDrops(), 0u);
}

TEST_F(RelayIpv6Test, AnUnknownIpv6OriginIsNotRelayed) {
  const Bytes in = FromOrigin6(64, kTunnelPort, "fe80::9");
  RunResult r = Decap(in);
  EXPECT_EQ(r.verdict, kNotOurs);
  EXPECT_TRUE(BytesEqual(r.out, in, "untouched"));
  EXPECT_EQ(RelayDrops(), 0u);
}

}  // namespace
}  // namespace meshbpf::testing
