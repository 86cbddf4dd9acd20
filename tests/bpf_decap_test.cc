// BPF_PROG_TEST_RUN tests of mb_decap with a peer: delivering what a peer
// encapsulated into the bond, and dropping or passing everything else.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

TEST_F(DatapathTest, DecapRoundTripDeliversTheOriginalIntoTheBond) {
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 1200);
  Bytes wire = FromPeer(in);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size());
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap", true));
  mb_path_counters c = Counters(0);
  EXPECT_EQ(c.rx_packets, 1u);
  EXPECT_EQ(c.rx_bytes, in.size() - 14);
  EXPECT_EQ(Counters(1).rx_packets, 0u);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(DatapathTest, DecapCountsOnTheSendersPath) {
  SetState(0, MB_PATH_DISABLED);  // the sender uses path 1
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 500);
  Bytes wire = FromPeer(in);
  ASSERT_EQ(wire[kWire + 1], 1);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap-path1", true));
  EXPECT_EQ(Counters(1).rx_packets, 1u);
  EXPECT_EQ(Counters(1).rx_bytes, in.size() - 14);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapRestoresIpv6Protocol) {
  Bytes in = Ipv6Packet(100, 0x28);
  Bytes wire = FromPeer(in);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size());
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin()));
  EXPECT_EQ(Get16(r.out, 12), kEthIpv6);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap-v6", true));
  EXPECT_EQ(Counters(0).rx_bytes, in.size() - 14);
}

TEST_F(DatapathTest, DecapDropsUnknownSources) {
  Bytes in = MeshPacket("192.0.2.66", InnerL3());
  EXPECT_EQ(Decap(in).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_UNKNOWN_SOURCE], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapPassesOtherTrafficUntouched) {
  Ipv4Options other_port;
  other_port.dst_port = 53;
  Ipv4Options our_port;
  our_port.dst_port = kPort;
  Bytes bad_ihl = MeshPacket(kPeer, InnerL3());
  bad_ihl[kOuterIp] = 0x44;  // a header length no IPv4 packet can have
  std::vector<std::pair<std::string, Bytes>> others = {
      {"udp-other-port", Ipv4Packet(kPeer, kPath0Src, IPPROTO_UDP, 50, other_port)},
      {"tcp", Ipv4Packet(kPeer, kPath0Src, IPPROTO_TCP, 50)},
      {"tcp-to-our-port", Ipv4Packet(kPeer, kPath0Src, IPPROTO_TCP, 50, our_port)},
      {"icmp", Ipv4Packet(kPeer, kPath0Src, IPPROTO_ICMP, 50)},
      {"udp-to-our-port-ihl-4", bad_ihl},
      {"ipv6", Ipv6Packet(60, 0)},
  };
  Bytes arp = Ethernet(kEthArp);
  arp.resize(42, 0);
  others.emplace_back("arp", arp);
  for (const auto& [name, pkt] : others) {
    RunResult r = Decap(pkt);
    EXPECT_EQ(r.verdict, kNotOurs) << name;
    EXPECT_TRUE(BytesEqual(r.out, pkt, "pass-" + name));
  }
  EXPECT_EQ(TotalDrops(), 0u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapIgnoresOurPortWhileUnconfigured) {
  Configure(0);
  Bytes in = MeshPacket(kPeer, InnerL3());
  RunResult r = Decap(in);
  EXPECT_EQ(r.verdict, kNotOurs);
  EXPECT_TRUE(BytesEqual(r.out, in, "unconfigured"));
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(DatapathTest, DecapDropsTruncatedMeshPackets) {
  Bytes truncated = MeshPacket(kPeer, InnerL3());
  truncated.resize(14 + 20 + 8 + 6);  // wire header cut short
  EXPECT_EQ(Decap(truncated).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_TRUNCATED], 1u);

  Bytes no_inner = MeshPacket(kPeer, InnerL3());
  no_inner.resize(14 + 20 + 8 + 12);  // complete wire header, nothing inside
  EXPECT_EQ(Decap(no_inner).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_TRUNCATED], 2u);
  EXPECT_EQ(TotalDrops(), 2u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

// The inner packet must hold at least the header its version nibble names;
// the encap side refuses shorter ones (MB_DROP_TRUNCATED), and so must decap
// rather than deliver a malformed packet into the bond and count it received.
TEST_F(DatapathTest, DecapDropsInnerIpv4ShorterThanItsHeader) {
  Bytes inner = InnerL3();
  inner.resize(8);  // 0x45 ... but only 8 bytes
  RunResult r = Decap(MeshPacket(kPeer, inner));
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_EQ(TotalDrops(), 1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapDropsInnerIpv6ShorterThanItsHeader) {
  Bytes inner = L3(Ipv6Packet(0, 0));
  inner.resize(30);  // version 6, but 10 bytes short of an IPv6 header
  RunResult r = Decap(MeshPacket(kPeer, inner));
  EXPECT_EQ(r.verdict, kShot) << "a 30-byte \"IPv6 packet\" was delivered into the bond; output "
                              << DumpPcap(r.out, CurrentTestName() + "-out");
  EXPECT_EQ(Counters(0).drops[MB_DROP_TRUNCATED] + Counters(MB_NO_PATH).drops[MB_DROP_TRUNCATED],
            1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapDropsBadHeaders) {
  MeshOptions v2;
  v2.version = 2;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3(), v2)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_BAD_HEADER], 1u);

  MeshOptions far_path;
  far_path.path_id = 200;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3(), far_path)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_BAD_HEADER], 2u);

  MeshOptions first_bad;
  first_bad.path_id = MB_MAX_PATHS;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3(), first_bad)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_BAD_HEADER], 3u);

  Bytes bad_inner = InnerL3();
  bad_inner[0] = 0x55;  // version nibble 5
  MeshOptions path3;
  path3.path_id = 3;
  EXPECT_EQ(Decap(MeshPacket(kPeer, bad_inner, path3)).verdict, kShot);
  EXPECT_EQ(Counters(3).drops[MB_DROP_UNSUPPORTED_L3], 1u);

  EXPECT_EQ(TotalDrops(), 4u);
  for (uint32_t p = 0; p < MB_MAX_PATHS; ++p) EXPECT_EQ(Counters(p).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapHandlesOuterIpOptions) {
  Bytes inner = InnerL3();
  MeshOptions m;
  m.path_id = 1;
  m.option_words = 1;  // ihl 6
  Bytes in = MeshPacket(kPeer, inner, m);
  ASSERT_EQ(in[kOuterIp], 0x46);
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), 14 + inner.size());
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_TRUE(BytesEqual(L3(r.out), inner, "decap-options", true));
  EXPECT_EQ(Counters(1).rx_packets, 1u);
  EXPECT_EQ(Counters(1).rx_bytes, inner.size());

  m.option_words = 10;  // ihl 15, the largest
  RunResult r15 = Decap(MeshPacket(kPeer, inner, m));
  ASSERT_EQ(r15.verdict, kRedirect);
  EXPECT_TRUE(BytesEqual(L3(r15.out), inner, "decap-options-15", true));
}

TEST_F(DatapathTest, DecapLeavesFragmentsAlone) {
  for (uint16_t frag : {uint16_t{0x2000} /* MF */, uint16_t{0x0010} /* offset 128 */,
                        uint16_t{0x2010} /* MF + offset */}) {
    Ipv4Options o;
    o.frag = frag;
    o.src_port = kPort;
    o.dst_port = kPort;
    Bytes in = Ipv4Packet(kPeer, kPath0Src, IPPROTO_UDP, 100, o);
    RunResult r = Decap(in);
    EXPECT_EQ(r.verdict, kNotOurs) << "frag_off " << std::hex << frag;
    EXPECT_TRUE(BytesEqual(r.out, in, "fragment"));
  }
  EXPECT_EQ(TotalDrops(), 0u);
}

// ECN across the tunnel (RFC 6040 normal mode): mb_encap copies the inner
// ECN field outside, a router on the path may set CE there, and mb_decap
// passes that mark into the inner packet.
Bytes InnerWithTos(uint8_t tos) {
  Ipv4Options o;
  o.tos = tos;
  return L3(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 300, o));
}

TEST_F(DatapathTest, DecapPassesCongestionMarkedOutsideIntoTheInnerIpv4) {
  MeshOptions m;
  m.tos = 0x03;  // CE
  Bytes inner = InnerWithTos(0xb8 | 0x02);  // EF, ECT(0)
  RunResult r = Decap(MeshPacket(kPeer, inner, m));
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), 14 + inner.size());
  EXPECT_EQ(r.out[14 + 1], 0xb8 | 0x03) << "CE, DSCP kept";
  EXPECT_EQ(Ipv4Checksum(&r.out[14], 20), 0) << "header checksum follows the mark";
  Bytes expected = inner;
  expected[1] = 0xbb;
  expected[10] = r.out[14 + 10];
  expected[11] = r.out[14 + 11];
  EXPECT_TRUE(BytesEqual(L3(r.out), expected, "ce-v4", true)) << "nothing else changed";
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(DatapathTest, DecapPassesCongestionMarkedOutsideIntoTheInnerIpv6) {
  MeshOptions m;
  m.tos = 0x03;
  Bytes inner = L3(Ipv6Packet(100, 0x29));  // traffic class: DSCP 10, ECT(1)
  RunResult r = Decap(MeshPacket(kPeer, inner, m));
  ASSERT_EQ(r.verdict, kRedirect);
  const uint8_t traffic_class = static_cast<uint8_t>(r.out[14] << 4 | r.out[14 + 1] >> 4);
  EXPECT_EQ(traffic_class, 0x2b) << "CE, DSCP kept";
  EXPECT_EQ(r.out[14 + 1] & 0x0f, inner[1] & 0x0f) << "flow label untouched";
}

TEST_F(DatapathTest, DecapLeavesTheInnerEcnAloneWithoutAMark) {
  for (uint8_t outer : {0x00, 0x01, 0x02}) {
    MeshOptions m;
    m.tos = outer;
    Bytes inner = InnerWithTos(0x02);
    RunResult r = Decap(MeshPacket(kPeer, inner, m));
    ASSERT_EQ(r.verdict, kRedirect) << int(outer);
    EXPECT_TRUE(BytesEqual(L3(r.out), inner, "no-ce", true)) << int(outer);
  }
}

TEST_F(DatapathTest, DecapDropsACongestionMarkItCannotPassOn) {
  MeshOptions m;
  m.tos = 0x03;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerWithTos(0xb8), m)).verdict, kShot) << "inner not ECT";
  EXPECT_EQ(Counters(0).drops[MB_DROP_CE_NOT_ECT], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u) << "dropped before it counts as received";
}

}  // namespace
}  // namespace meshbpf::testing

namespace meshbpf::testing {
namespace {

// Cryptokey routing: with mb_config.check_inner_source, an inner packet
// from outside the peer's allowed prefixes is dropped, IPv4 and IPv6.
TEST_F(DatapathTest, DecapDropsInnerSourcesThePeerMayNotSendFrom) {
  EditConfig([](mb_config& c) { c.check_inner_source = 1; });
  const mb_prefix_v4 lan{24, Ip("10.202.0.0")};
  mb_prefix_v6 lan6{64, {}};
  lan6.addr[0] = 0xfd;
  lan6.addr[1] = 0x00;
  const uint8_t yes = 1;
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_allowed_v4), &lan, &yes, BPF_ANY), 0);
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_allowed_v6), &lan6, &yes, BPF_ANY), 0);
  EXPECT_EQ(Decap(MeshPacket(kPeer, L3(Ipv4Packet("10.202.0.9", "10.203.0.2", IPPROTO_UDP, 40)))).verdict,
            kRedirect);
  EXPECT_EQ(Decap(MeshPacket(kPeer, L3(Ipv4Packet("10.66.0.1", "10.203.0.2", IPPROTO_UDP, 40)))).verdict,
            kShot);
  EXPECT_EQ(Counters(0).drops[MB_DROP_INNER_SOURCE], 1u);
  Bytes v6 = L3(Ipv6Packet(40, 0));  // from fd00::1
  EXPECT_EQ(Decap(MeshPacket(kPeer, v6)).verdict, kRedirect);
  v6[9] = 0x01;  // from fd01::1
  EXPECT_EQ(Decap(MeshPacket(kPeer, v6)).verdict, kShot);
  EXPECT_EQ(Counters(0).drops[MB_DROP_INNER_SOURCE], 2u);
  // Off: any source.
  EditConfig([](mb_config& c) { c.check_inner_source = 0; });
  EXPECT_EQ(Decap(MeshPacket(kPeer, L3(Ipv4Packet("10.66.0.1", "10.203.0.2", IPPROTO_UDP, 40)))).verdict,
            kRedirect);
}

}  // namespace
}  // namespace meshbpf::testing
