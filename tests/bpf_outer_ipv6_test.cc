// BPF_PROG_TEST_RUN tests of IPv6 paths (MB_PATH_F_IPV6): the outer IPv6
// header mb_encap writes, a bond mixing IPv4 and IPv6 paths (also with a
// redundant packet on both), the longer header against the path MTU, and
// mb_decap taking tunnel packets from an IPv6 peer (mb_peers6) and nothing
// else.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

constexpr const char* kSrc6 = "2001:db8:1::2";
constexpr const char* kPeer6 = "2001:db8:ff::2";
// Offsets in a frame encapsulated over IPv6.
constexpr size_t kIp6 = 14, kUdp6 = 54, kWire6 = 62, kInner6 = 14 + MB_ENCAP_OVERHEAD + 20;

Bytes Address6(const char* text) {
  Bytes a(16);
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1);
  return a;
}
Bytes At(const Bytes& b, size_t off, size_t len) {
  return Bytes(b.begin() + static_cast<long>(off), b.begin() + static_cast<long>(off + len));
}
uint8_t TrafficClass(const Bytes& o) { return static_cast<uint8_t>((o[kIp6] & 0xf) << 4 | o[kIp6 + 1] >> 4); }

class Ipv6PathTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    SetPath6(0, kSrc6, kPeer6, 40000, MB_PATH_ACTIVE);
    SetState(1, MB_PATH_DISABLED);
  }

  // What the peer's mb_decap sees of a packet we sent over path 0: the
  // outer source made the peer's (this test has one node).
  Bytes FromPeer6(const Bytes& inner_frame) {
    RunResult r = Encap(inner_frame);
    EXPECT_EQ(r.verdict, kRedirect);
    if (r.out.size() < kInner6) return r.out;
    const Bytes peer = Address6(kPeer6);
    std::copy(peer.begin(), peer.end(), r.out.begin() + kIp6 + 8);
    return r.out;
  }
};

TEST_F(Ipv6PathTest, EncapsulatesWithAnIpv6Header) {
  Ipv4Options opt;
  opt.tos = 0xba;  // EF + ECT(0)
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1000, opt);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD + 20);
  const Bytes& o = r.out;
  EXPECT_EQ(Get16(o, 12), kEthIpv6);
  EXPECT_EQ(o[kIp6] >> 4, 6) << "version";
  EXPECT_EQ(TrafficClass(o), 0xba) << "inner DSCP and ECN carried outside";
  EXPECT_EQ(Get16(o, kIp6 + 4), o.size() - kUdp6) << "payload length";
  EXPECT_EQ(o[kIp6 + 6], IPPROTO_UDP) << "no extension header";
  EXPECT_EQ(o[kIp6 + 7], 64) << "hop limit";
  EXPECT_EQ(At(o, kIp6 + 8, 16), Address6(kSrc6));
  EXPECT_EQ(At(o, kIp6 + 24, 16), Address6(kPeer6));
  EXPECT_EQ(Get16(o, kUdp6), kPort);
  EXPECT_EQ(Get16(o, kUdp6 + 2), kPort);
  EXPECT_EQ(Get16(o, kUdp6 + 4), o.size() - kUdp6) << "UDP length";
  EXPECT_EQ(Get16(o, kUdp6 + 6), 0) << "zero checksum (RFC 6935)";
  EXPECT_EQ(o[kWire6], MB_WIRE_VERSION);
  EXPECT_EQ(o[kWire6 + 1], 0) << "path id";
  EXPECT_EQ(Get32(o, kWire6 + 4), 1u) << "bond sequence";
  EXPECT_TRUE(BytesEqual(Bytes(o.begin() + kInner6, o.end()), L3(in), "inner-over-v6", true));
  EXPECT_EQ(Counters(0).tx_packets, 1u);
  EXPECT_EQ(Counters(0).tx_bytes, in.size() - 14) << "the inner packet's size, as on IPv4";
}

TEST_F(Ipv6PathTest, ABondMixesIpv4AndIpv6Paths) {
  SetPath(1, kPath1Src, "10.201.2.1", 40000, MB_PATH_ACTIVE);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1200);
  int v4 = 0, v6 = 0;
  for (int i = 0; i < 40; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    if (Get16(r.out, 12) == kEthIpv6) {
      ++v6;
      EXPECT_EQ(r.out[kWire6 + 1], 0) << "IPv6 headers only on the IPv6 path";
      EXPECT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD + 20);
    } else {
      ++v4;
      EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
      EXPECT_EQ(r.out[kWire + 1], 1) << "IPv4 headers only on the IPv4 path";
      EXPECT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD);
      EXPECT_EQ(Ipv4Checksum(&r.out[kOuterIp], 20), 0);
    }
  }
  // Equal rates: the scheduler shares them about equally (the IPv6 path's
  // longer header is charged too).
  EXPECT_GE(v4, 12);
  EXPECT_GE(v6, 12);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(Ipv6PathTest, AProbeGoesOnItsIpv6Path) {
  // A disabled path is still probed (how it comes back); its dst_ip is 0,
  // which on an IPv4 path means "far end not known yet".
  SetState(0, MB_PATH_DISABLED);
  Bytes probe = Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_UDP, 40);
  RunResult r = Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | 0);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Get16(r.out, 12), kEthIpv6);
  EXPECT_EQ(r.out[kWire6 + 2], MB_FLAG_UNSEQUENCED);
  EXPECT_EQ(Counters(0).tx_packets, 1u);
}

TEST_F(Ipv6PathTest, ThePathMtuCountsTheLongerHeader) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
  const uint32_t ipv4_fits = static_cast<uint32_t>(in.size() - 14 + MB_ENCAP_OVERHEAD);
  EditPath(0, [&](mb_path& p) { p.mtu = ipv4_fits + 10; });  // 10 short of the IPv6 header
  EXPECT_EQ(Encap(in).verdict, kShot);
  EXPECT_EQ(Counters(0).drops[MB_DROP_TOO_BIG], 1u) << "counted on the path it did not fit";
  EditPath(0, [&](mb_path& p) { p.mtu = ipv4_fits + 20; });
  EXPECT_EQ(Encap(in).verdict, kRedirect);
}

TEST_F(Ipv6PathTest, DecapsulatesFromAnIpv6Peer) {
  AddPeer6(kPeer6);
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 1200);
  RunResult r = Decap(FromPeer6(in));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap-from-v6", true));
  EXPECT_EQ(Counters(0).rx_packets, 1u);
  EXPECT_EQ(Counters(0).rx_bytes, in.size() - 14);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(Ipv6PathTest, DecapDropsIpv6FromOtherThanAPeer) {
  AddPeer(kPeer);  // an IPv4 peer does not vouch for any IPv6 source
  Bytes wire = FromPeer6(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 100));
  EXPECT_EQ(Decap(wire).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_UNKNOWN_SOURCE], 1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(Ipv6PathTest, DecapLeavesIpv6WithExtensionHeadersToTheHost) {
  AddPeer6(kPeer6);
  Bytes wire = FromPeer6(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 100));
  wire[kIp6 + 6] = 0;  // a hop-by-hop header first: meshbpf never sends one
  EXPECT_EQ(Decap(wire).verdict, kNotOurs);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(Ipv6PathTest, DecapPassesCongestionMarkedOnTheIpv6Header) {
  AddPeer6(kPeer6);
  Ipv4Options ect;
  ect.tos = 0x02;  // ECT(0)
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 400, ect);
  Bytes wire = FromPeer6(in);
  ASSERT_EQ(TrafficClass(wire) & 0x03, 0x02);
  wire[kIp6 + 1] |= 0x03 << 4;  // a router on the path marked CE
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[14 + 1] & 0x03, 0x03) << "the inner packet carries the mark";
  EXPECT_EQ(Ipv4Checksum(&r.out[14], 20), 0);
}

// The skb itself leaves on the last path, after the other family's copies
// went as clones (skipped and counted here: lo has no neighbour to clone to).
TEST_F(Ipv6PathTest, ARedundantPacketCrossesFromIpv6ToIpv4Headers) {
  Configure(1, MB_MODE_REDUNDANT);
  SetPath(1, kPath1Src, "10.201.2.1", 20000, MB_PATH_ACTIVE);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 300);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD) << "shrunk back to IPv4 headers";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_EQ(Ipv4Checksum(&r.out[kOuterIp], 20), 0);
  EXPECT_EQ(Get16(r.out, kOuterIp + 2), r.out.size() - 14);
  EXPECT_EQ(r.out[kWire + 1], 1);
  EXPECT_EQ(r.out[kWire + 2], MB_FLAG_REDUNDANT);
  EXPECT_EQ(Get32(r.out, kWire + 4), 1u);
  EXPECT_TRUE(BytesEqual(Bytes(r.out.begin() + kInner, r.out.end()), L3(in), "v6-then-v4", true));
  EXPECT_EQ(Counters(0).drops[MB_DROP_CLONE_FAILED], 1u) << "path 0's IPv6 copy was a clone";
  EXPECT_EQ(Counters(1).tx_packets, 1u);
  EXPECT_EQ(Counters(1).drops[MB_DROP_OTHER_FAMILY], 0u);
}

TEST_F(Ipv6PathTest, ARedundantPacketCrossesFromIpv4ToIpv6Headers) {
  Configure(1, MB_MODE_REDUNDANT);
  SetPath(0, kPath0Src, "10.201.1.1", 40000, MB_PATH_ACTIVE);
  SetPath6(1, kSrc6, kPeer6, 20000, MB_PATH_ACTIVE);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 300);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD + 20) << "grown to IPv6 headers";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv6);
  EXPECT_EQ(Get16(r.out, kIp6 + 4), r.out.size() - kUdp6);
  EXPECT_EQ(At(r.out, kIp6 + 8, 16), Address6(kSrc6));
  EXPECT_EQ(r.out[kWire6 + 1], 1);
  EXPECT_EQ(r.out[kWire6 + 2], MB_FLAG_REDUNDANT);
  EXPECT_TRUE(BytesEqual(Bytes(r.out.begin() + kInner6, r.out.end()), L3(in), "v4-then-v6", true));
  EXPECT_EQ(Counters(0).drops[MB_DROP_CLONE_FAILED], 1u);
  EXPECT_EQ(Counters(1).tx_packets, 1u);
}

}  // namespace
}  // namespace meshbpf::testing
