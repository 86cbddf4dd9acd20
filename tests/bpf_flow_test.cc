// BPF_PROG_TEST_RUN tests of flow mode (bpf/lib/flow.h): no peer, each flow
// pinned to a path and source-NATed to its address; replies NATed back.
// IPv6 flows: tests/bpf_flow_ipv6_test.cc.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

// No peer: each flow is pinned to a path and source-NATed to its address;
// replies are NATed back on the uplink and delivered into the bond.

constexpr const char* kBondAddr = "10.203.0.2";
constexpr const char* kServer = "10.202.0.2";
constexpr size_t kIpSrc = 14 + 12, kIpDst = 14 + 16;

class FlowModeTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    Configure(1, MB_MODE_FLOW);
  }

  static Bytes Tcp(uint16_t sport, size_t payload = 200, const char* src = kBondAddr,
                   const char* dst = kServer) {
    Ipv4Options o;
    o.src_port = sport;
    o.dst_port = 5201;
    return WithL4Checksum(Ipv4Packet(src, dst, IPPROTO_TCP, payload, o));
  }

  // Which path a NATed packet left on, by its new source address.
  static int PathOf(const Bytes& out) {
    if (Addr(out, kIpSrc) == Ip(kPath0Src)) return 0;
    if (Addr(out, kIpSrc) == Ip(kPath1Src)) return 1;
    return -1;
  }

  // Sends `in`, expects it NATed (not encapsulated) and returns its path.
  int SendFlow(const Bytes& in) {
    RunResult r = Encap(in);
    EXPECT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out.size(), in.size()) << "flow mode does not encapsulate";
    return r.out.size() == in.size() ? PathOf(r.out) : -1;
  }

  // The same frame with the source (or destination) address replaced and
  // every checksum recomputed from scratch: what a correct NAT produces.
  static Bytes Readdressed(const Bytes& in, size_t addr_off, const char* addr) {
    Bytes want = in;
    const uint32_t a = Ip(addr);
    std::memcpy(&want[addr_off], &a, 4);
    Put16(want, 14 + 10, 0);
    Put16(want, 14 + 10, Ipv4Checksum(&want[14], (want[14] & 0xf) * 4u));
    return want;
  }

  uint64_t FlowEntries(bpf_map* map) {
    mb_flow_key key{}, next{};
    uint64_t n = 0;
    const int fd = bpf_map__fd(map);
    for (const void* k = nullptr; bpf_map_get_next_key(fd, k, &next) == 0; k = &key) {
      key = next;
      ++n;
    }
    return n;
  }
};

TEST_F(FlowModeTest, SourceNatsTcpWithCorrectChecksums) {
  uint64_t l3_bytes = 0;
  for (size_t options : {0u, 2u}) {
    Ipv4Options o;
    o.option_words = options;
    o.src_port = static_cast<uint16_t>(41000 + options);
    Bytes in = WithL4Checksum(Ipv4Packet(kBondAddr, kServer, IPPROTO_TCP, 700, o));
    ASSERT_EQ(L4Checksum(in), 0);
    l3_bytes += in.size() - 14;
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    ASSERT_EQ(r.out.size(), in.size()) << "not encapsulated";
    const int path = PathOf(r.out);
    ASSERT_GE(path, 0) << "source is one of the paths' addresses";
    EXPECT_EQ(Ipv4Checksum(&r.out[14], (r.out[14] & 0xf) * 4u), 0) << "IPv4 header checksum";
    EXPECT_EQ(L4Checksum(r.out), 0) << "TCP checksum over the new pseudo-header";
    // Byte for byte: only the source address and the two checksums changed.
    Bytes want = WithL4Checksum(Readdressed(in, kIpSrc, path == 0 ? kPath0Src : kPath1Src));
    EXPECT_TRUE(BytesEqual(L3(r.out), L3(want), "snat-tcp", true)) << options << " option words";
  }
  const mb_path_counters c0 = Counters(0), c1 = Counters(1);
  EXPECT_EQ(c0.tx_packets + c1.tx_packets, 2u);
  EXPECT_EQ(c0.tx_bytes + c1.tx_bytes, l3_bytes);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeTest, SourceNatsUdpAndKeepsAnAbsentChecksumAbsent) {
  Ipv4Options o;
  o.src_port = 53000;
  o.dst_port = 53;
  Bytes with_sum = WithL4Checksum(Ipv4Packet(kBondAddr, kServer, IPPROTO_UDP, 333, o));
  RunResult r = Encap(with_sum);
  ASSERT_EQ(r.verdict, kRedirect);
  const int path = PathOf(r.out);
  ASSERT_GE(path, 0);
  EXPECT_NE(Get16(r.out, L4ChecksumOffset(r.out)), 0);
  EXPECT_EQ(L4Checksum(r.out), 0) << "UDP checksum over the new pseudo-header";
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(WithL4Checksum(Readdressed(
                                        with_sum, kIpSrc, path == 0 ? kPath0Src : kPath1Src))),
                         "snat-udp", true));

  // Checksum 0 means "none" in UDP over IPv4: it must stay 0, not become
  // the adjustment alone (which the receiver would take as a bad checksum).
  o.src_port = 53001;
  Bytes no_sum = Ipv4Packet(kBondAddr, kServer, IPPROTO_UDP, 333, o);
  ASSERT_EQ(Get16(no_sum, L4ChecksumOffset(no_sum)), 0);
  RunResult z = Encap(no_sum);
  ASSERT_EQ(z.verdict, kRedirect);
  ASSERT_GE(PathOf(z.out), 0);
  EXPECT_EQ(Get16(z.out, L4ChecksumOffset(z.out)), 0);
  EXPECT_EQ(Ipv4Checksum(&z.out[14], 20), 0);
}

TEST_F(FlowModeTest, IcmpEchoIsNatedByIdentifierAndComesBack) {
  Ipv4Options req;
  req.icmp_id = 0x1234;
  Bytes ping = WithL4Checksum(Ipv4Packet(kBondAddr, kServer, IPPROTO_ICMP, 56, req));
  RunResult r = Encap(ping);
  ASSERT_EQ(r.verdict, kRedirect);
  const int path = PathOf(r.out);
  ASSERT_GE(path, 0);
  const char* nat = path == 0 ? kPath0Src : kPath1Src;
  EXPECT_EQ(Ipv4Checksum(&r.out[14], 20), 0);
  EXPECT_EQ(L4Checksum(r.out), 0) << "ICMP's checksum covers no addresses: still right";
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(Readdressed(ping, kIpSrc, nat)), "snat-icmp", true));

  Ipv4Options rep;
  rep.icmp_type = 0;  // echo reply
  rep.icmp_id = 0x1234;
  Bytes reply = WithL4Checksum(Ipv4Packet(kServer, nat, IPPROTO_ICMP, 56, rep));
  RunResult back = Decap(reply);
  ASSERT_EQ(back.verdict, kRedirect);
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, back.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(L4Checksum(back.out), 0);
  EXPECT_TRUE(BytesEqual(L3(back.out), L3(Readdressed(reply, kIpDst, kBondAddr)), "unnat-icmp",
                         true));
  EXPECT_EQ(Counters(static_cast<uint32_t>(path)).rx_packets, 1u);

  // Another identifier belongs to somebody else (e.g. the host's own ping).
  rep.icmp_id = 0x1235;
  Bytes other = WithL4Checksum(Ipv4Packet(kServer, nat, IPPROTO_ICMP, 56, rep));
  RunResult passed = Decap(other);
  EXPECT_EQ(passed.verdict, kNotOurs);
  EXPECT_TRUE(BytesEqual(passed.out, other, "icmp-other-id"));
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeTest, ReplyIsNatedBackIntoTheBondWithCorrectChecksums) {
  Bytes out = Tcp(42000);
  const int path = SendFlow(out);
  ASSERT_GE(path, 0);
  const char* nat = path == 0 ? kPath0Src : kPath1Src;
  Ipv4Options o;
  o.src_port = 5201;
  o.dst_port = 42000;
  Bytes reply = WithL4Checksum(Ipv4Packet(kServer, nat, IPPROTO_TCP, 1400, o));
  RunResult r = Decap(reply);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), reply.size());
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_EQ(Addr(r.out, kIpDst), Ip(kBondAddr));
  EXPECT_EQ(Ipv4Checksum(&r.out[14], 20), 0);
  EXPECT_EQ(L4Checksum(r.out), 0);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(WithL4Checksum(Readdressed(reply, kIpDst, kBondAddr))),
                         "unnat-tcp", true));
  const mb_path_counters c = Counters(static_cast<uint32_t>(path));
  EXPECT_EQ(c.rx_packets, 1u);
  EXPECT_EQ(c.rx_bytes, reply.size() - 14);
  EXPECT_EQ(Counters(static_cast<uint32_t>(1 - path)).rx_packets, 0u);
}

TEST_F(FlowModeTest, ReplyWithZeroUdpChecksumKeepsIt) {
  Ipv4Options o;
  o.src_port = 40001;
  o.dst_port = 9000;
  const int path = SendFlow(Ipv4Packet(kBondAddr, kServer, IPPROTO_UDP, 100, o));
  ASSERT_GE(path, 0);
  std::swap(o.src_port, o.dst_port);
  Bytes reply = Ipv4Packet(kServer, path == 0 ? kPath0Src : kPath1Src, IPPROTO_UDP, 100, o);
  RunResult r = Decap(reply);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Get16(r.out, L4ChecksumOffset(r.out)), 0);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(Readdressed(reply, kIpDst, kBondAddr)), "unnat-udp0",
                         true));
}

TEST_F(FlowModeTest, PacketsOfNoNatedFlowPassUntouched) {
  const int path = SendFlow(Tcp(42000));
  ASSERT_GE(path, 0);
  const char* nat = path == 0 ? kPath0Src : kPath1Src;
  const char* other_nat = path == 0 ? kPath1Src : kPath0Src;
  auto tcp = [](const char* src, const char* dst, uint16_t sport, uint16_t dport) {
    Ipv4Options o;
    o.src_port = sport;
    o.dst_port = dport;
    return WithL4Checksum(Ipv4Packet(src, dst, IPPROTO_TCP, 100, o));
  };
  Ipv4Options ours;
  ours.src_port = kPort;
  ours.dst_port = kPort;
  Bytes arp = Ethernet(kEthArp);
  arp.resize(42, 0);
  const std::vector<std::pair<std::string, Bytes>> others = {
      {"other-local-port", tcp(kServer, nat, 5201, 42001)},
      {"other-remote-port", tcp(kServer, nat, 5202, 42000)},
      {"other-remote", tcp("10.202.0.3", nat, 5201, 42000)},
      {"other-path-address", tcp(kServer, other_nat, 5201, 42000)},
      {"udp-same-ports", Ipv4Packet(kServer, nat, IPPROTO_UDP, 100, [] {
         Ipv4Options u;
         u.src_port = 5201;
         u.dst_port = 42000;
         return u;
       }())},
      {"meshbpf-port-from-peer", Ipv4Packet(kPeer, nat, IPPROTO_UDP, 100, ours)},
      {"ipv6", Ipv6Packet(60, 0)},
      {"arp", arp},
  };
  for (const auto& [name, pkt] : others) {
    RunResult r = Decap(pkt);
    EXPECT_EQ(r.verdict, kNotOurs) << name;
    EXPECT_TRUE(BytesEqual(r.out, pkt, "pass-" + name));
  }
  EXPECT_EQ(TotalDrops(), 0u) << "the uplink serves the host normally";
  EXPECT_EQ(Counters(0).rx_packets + Counters(1).rx_packets, 0u);
}

// A router's "fragmentation needed" about a NATed flow is addressed to the
// path's address and quotes the packet as it left: both get the bond-side
// address back, every checksum still right, so the sender behind the bond
// learns the smaller MTU.
TEST_F(FlowModeTest, FragmentationNeededAboutANatedFlowReachesItsSender) {
  RunResult sent = Encap(Tcp(42500, 1400));
  ASSERT_EQ(sent.verdict, kRedirect);
  const int path = PathOf(sent.out);
  ASSERT_GE(path, 0);
  const char* nat = path == 0 ? kPath0Src : kPath1Src;
  constexpr size_t kQuote = 28, kIcmp = 14 + 20;  // the IPv4 header and 8 bytes of TCP
  Bytes error = Ipv4Packet("10.201.9.1", nat, IPPROTO_ICMP, 8 + kQuote - 8);
  ASSERT_EQ(error.size(), kIcmp + 8 + kQuote);
  error[kIcmp] = 3, error[kIcmp + 1] = 4;  // destination unreachable, fragmentation needed
  Put16(error, kIcmp + 2, 0);
  Put32(error, kIcmp + 4, 1400);  // next-hop MTU
  std::copy(sent.out.begin() + 14, sent.out.begin() + 14 + kQuote, error.begin() + kIcmp + 8);
  Put16(error, kIcmp + 2, Ipv4Checksum(&error[kIcmp], 8 + kQuote));

  RunResult r = Decap(error);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(Addr(r.out, kIpDst), Ip(kBondAddr));
  EXPECT_EQ(Addr(r.out, kIcmp + 8 + 12), Ip(kBondAddr)) << "the quote's source";
  EXPECT_EQ(Ipv4Checksum(&r.out[14], 20), 0) << "outer header checksum";
  EXPECT_EQ(Ipv4Checksum(&r.out[kIcmp + 8], 20), 0) << "the quote's header checksum";
  EXPECT_EQ(Ipv4Checksum(&r.out[kIcmp], 8 + kQuote), 0) << "ICMP checksum";
  EXPECT_EQ(Get32(r.out, kIcmp + 4), 1400u) << "the MTU is left alone";
  EXPECT_EQ(Counters(static_cast<uint32_t>(path)).rx_packets, 1u);

  // One quoting a flow that was never NATed is the host's, untouched.
  Bytes stranger = error;
  Put16(stranger, kIcmp + 8 + 20, 42501);  // another local port in the quote
  Put16(stranger, kIcmp + 2, 0);
  Put16(stranger, kIcmp + 2, Ipv4Checksum(&stranger[kIcmp], 8 + kQuote));
  RunResult pass = Decap(stranger);
  EXPECT_EQ(pass.verdict, kNotOurs);
  EXPECT_TRUE(BytesEqual(pass.out, stranger, "icmp-stranger"));
}

TEST_F(FlowModeTest, AFlowStaysOnOnePath) {
  for (uint16_t sport = 43000; sport < 43020; ++sport) {
    const int first = SendFlow(Tcp(sport));
    ASSERT_GE(first, 0);
    for (int i = 0; i < 20; ++i) {
      ASSERT_EQ(SendFlow(Tcp(sport, 100 + 50 * i)), first) << "flow " << sport << " packet " << i;
    }
  }
}

TEST_F(FlowModeTest, FlowsSpreadInProportionToRates) {
  constexpr int kFlows = 1000;
  int on[2] = {0, 0};
  for (int i = 0; i < kFlows; ++i) {
    const int path = SendFlow(Tcp(static_cast<uint16_t>(20000 + i)));
    ASSERT_GE(path, 0);
    ++on[path];
  }
  const double ratio = static_cast<double>(on[0]) / std::max(on[1], 1);
  std::cout << "[ flows    ] 40:20 Mbit/s: " << on[0] << " vs " << on[1] << " flows (ratio "
            << ratio << ")\n";
  EXPECT_GT(ratio, 1.5);
  EXPECT_LT(ratio, 2.7);
  EXPECT_EQ(Counters(0).tx_packets, static_cast<uint64_t>(on[0]));
  EXPECT_EQ(Counters(1).tx_packets, static_cast<uint64_t>(on[1]));
  EXPECT_EQ(FlowEntries(skel_->maps.mb_flows), static_cast<uint64_t>(kFlows));
  EXPECT_EQ(FlowEntries(skel_->maps.mb_nat_reverse), static_cast<uint64_t>(kFlows));
}

TEST_F(FlowModeTest, PinnedFlowMovesOnlyWhenItsPathBecomesUnusable) {
  // A flow on path 0.
  uint16_t sport = 44000;
  while (SendFlow(Tcp(sport)) != 0) ASSERT_LT(++sport, 44100) << "no flow hashed to path 0";
  // Rates that would now send nearly every new flow to path 1: the pin holds.
  SetPath(0, kPath0Src, "10.201.1.1", 1, MB_PATH_ACTIVE);
  SetPath(1, kPath1Src, "10.201.2.1", 1000000, MB_PATH_ACTIVE);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(SendFlow(Tcp(sport)), 0) << "pinned, not re-hashed";
  // A backup path also keeps its flows.
  SetState(0, MB_PATH_BACKUP);
  EXPECT_EQ(SendFlow(Tcp(sport)), 0);
  // Path 0 taken out: the flow moves to path 1, NATed to its address, and
  // its replies find their way back through the new mapping.
  SetState(0, MB_PATH_DISABLED);
  EXPECT_EQ(SendFlow(Tcp(sport)), 1);
  Ipv4Options o;
  o.src_port = 5201;
  o.dst_port = sport;
  Bytes reply = WithL4Checksum(Ipv4Packet(kServer, kPath1Src, IPPROTO_TCP, 100, o));
  RunResult back = Decap(reply);
  ASSERT_EQ(back.verdict, kRedirect);
  EXPECT_EQ(Addr(back.out, kIpDst), Ip(kBondAddr));
  EXPECT_EQ(Counters(1).rx_packets, 1u);
  // Path 0 returns: the flow stays where it is now (moving changes its address).
  SetState(0, MB_PATH_ACTIVE);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(SendFlow(Tcp(sport)), 1);
}

TEST_F(FlowModeTest, PinnedFlowIsRepickedWhenItsPathChangesAddress) {
  SetState(1, MB_PATH_DISABLED);
  ASSERT_EQ(SendFlow(Tcp(45000)), 0);
  SetPath(0, "10.201.1.99", "10.201.1.1", 40000, MB_PATH_ACTIVE);
  RunResult r = Encap(Tcp(45000));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr(r.out, kIpSrc), Ip("10.201.1.99")) << "NATed to the path's current address";
  EXPECT_EQ(L4Checksum(r.out), 0);
}

TEST_F(FlowModeTest, BackupCarriesNewFlowsOnlyWhenNoPathIsActive) {
  SetState(1, MB_PATH_BACKUP);
  for (uint16_t sport = 46000; sport < 46050; ++sport) EXPECT_EQ(SendFlow(Tcp(sport)), 0);
  SetState(0, MB_PATH_DISABLED);
  for (uint16_t sport = 46100; sport < 46110; ++sport) EXPECT_EQ(SendFlow(Tcp(sport)), 1);
  SetState(1, MB_PATH_DISABLED);
  RunResult r = Encap(Tcp(46200));
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
}

TEST_F(FlowModeTest, FragmentsOfADatagramShareAPath) {
  // The first fragment carries the UDP header, later ones do not: both are
  // keyed by addresses only, so they leave from the same address.
  for (int d = 0; d < 20; ++d) {
    const std::string server = "10.202.0." + std::to_string(10 + d);
    Ipv4Options first;
    first.frag = 0x2000;  // MF, offset 0
    first.src_port = static_cast<uint16_t>(47000 + d);
    Ipv4Options rest;
    rest.frag = 0x00b9;  // offset 1480
    const int a = SendFlow(Ipv4Packet(kBondAddr, server.c_str(), IPPROTO_UDP, 1472, first));
    const int b = SendFlow(Ipv4Packet(kBondAddr, server.c_str(), IPPROTO_UDP, 500, rest));
    ASSERT_GE(a, 0);
    EXPECT_EQ(a, b) << "datagram to " << server;
  }
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeTest, Ipv6WithoutAnIpv6PathIsDroppedAndCounted) {
  Bytes v6 = Ipv6Packet(100, 0);
  RunResult r = Encap(v6);
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_TRUE(BytesEqual(r.out, v6, "v6-unchanged"));
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u) << "both paths are IPv4";
  EXPECT_EQ(TotalDrops(), 1u);
}

TEST_F(FlowModeTest, ProbeMarkIsAnOrdinaryFlow) {
  SetState(1, MB_PATH_DISABLED);
  RunResult r = Run(skel_->progs.mb_encap, Tcp(48000), MB_PROBE_MARK | 1);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(PathOf(r.out), 0) << "no peer to reflect probes: the mark forces nothing";
}

TEST_F(FlowModeTest, NoEncapOverheadAgainstTheUplinkMtu) {
  ASSERT_EQ(lo_, 1u) << "the private netns's lo must have the paths' ifindex";
  InNetnsWithLoMtu(1500, [&] {
    Bytes fits = Tcp(49000, 1500 - 40);
    ASSERT_EQ(fits.size(), 14u + 1500u);
    EXPECT_EQ(Encap(fits).verdict, kRedirect) << "a full 1500-byte packet fits the uplink";
    Bytes big = Tcp(49000, 1501 - 40);
    RunResult r = Encap(big);
    EXPECT_EQ(r.verdict, kShot);
    EXPECT_TRUE(BytesEqual(r.out, big, "too-big-unchanged"));
    EXPECT_EQ(Counters(0).drops[MB_DROP_TOO_BIG] + Counters(1).drops[MB_DROP_TOO_BIG], 1u);
  });
}

TEST_F(FlowModeTest, SpentPathTakesNoFlowsAndLosesItsOwn) {
  // A flow on path 0, then path 0's cap runs out.
  uint16_t sport = 47000;
  while (SendFlow(Tcp(sport)) != 0) ASSERT_LT(++sport, 47100) << "no flow hashed to path 0";
  const Bytes pkt = Tcp(sport);
  SetCap(0, 10'000, 10'000);
  EXPECT_EQ(SendFlow(pkt), 0);
  EXPECT_EQ(Remaining(0), 10'000 - static_cast<int64_t>(pkt.size() - 14))
      << "flow mode charges the IPv4 packet";
  SetCap(0, 10'000, 0);
  EXPECT_EQ(SendFlow(pkt), 1) << "the pinned flow moves off the spent path";
  for (uint16_t p = 47200; p < 47230; ++p) EXPECT_EQ(SendFlow(Tcp(p)), 1);
  // With the last-resort policy it takes flows only when nothing else can.
  SetCap(0, 10'000, 0, MB_CAP_LAST_RESORT);
  for (uint16_t p = 47300; p < 47310; ++p) EXPECT_EQ(SendFlow(Tcp(p)), 1);
  SetState(1, MB_PATH_DISABLED);
  EXPECT_EQ(SendFlow(Tcp(47400)), 0);
}

}  // namespace
}  // namespace meshbpf::testing
