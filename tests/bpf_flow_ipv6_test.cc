// BPF_PROG_TEST_RUN tests of flow mode with IPv6 (bpf/lib/flow.h): an IPv6
// flow leaves source-NATed to an IPv6 path's address (NAT66), an IPv4 flow
// to an IPv4 path's, never the other way; replies are NATed back.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

constexpr const char* kBond6 = "fd00:203::2";
constexpr const char* kServer6 = "2001:db8:f0::5";
constexpr const char* kPath1Src6 = "2001:db8:1::2";
constexpr const char* kPath2Src6 = "2001:db8:2::2";
constexpr size_t kIp6Src = 14 + 8, kIp6Dst = 14 + 24;
constexpr uint8_t kHopByHop = 0, kFragment = 44, kDestOpts = 60, kIcmp6 = 58;

using Addr6 = std::array<uint8_t, 16>;

Addr6 Addr6At(const Bytes& frame, size_t off) {
  Addr6 a{};
  std::memcpy(a.data(), &frame[off], 16);
  return a;
}

// The RFC 1071 sum of an IPv6 transport segment (at `l4_off`, `len` bytes)
// with its pseudo-header: 0 when the segment's checksum is right. Written
// here, apart from the data path's and the agent's checksum code.
uint16_t Ipv6L4Sum(const Bytes& frame, size_t l4_off, size_t len, uint8_t proto) {
  uint32_t sum = 0;
  auto add = [&sum](const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  };
  add(&frame[kIp6Src], 32);
  sum += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff) + proto;
  add(&frame[l4_off], len);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

struct Flow6 {
  const char* src = kBond6;
  const char* dst = kServer6;
  uint8_t proto = IPPROTO_TCP;
  uint16_t sport = 40000, dport = 443;
  size_t payload = 200;
  std::vector<uint8_t> ext_headers;  // each an 8-byte hop-by-hop or destination options header
  bool fragment_first = false;       // a fragment header (offset 0, more fragments) in front
};

// An Ethernet + IPv6 frame of `f`, its transport checksum right (ICMPv6:
// echo request with identifier sport).
Bytes Ipv6Flow(const Flow6& f) {
  const size_t l4_len = (f.proto == IPPROTO_TCP ? 20 : 8) + f.payload;
  const size_t ext_len = 8 * f.ext_headers.size() + (f.fragment_first ? 8 : 0);
  Bytes b = Ethernet(kEthIpv6);
  Bytes ip(40 + ext_len + l4_len, 0);
  ip[0] = 0x60;
  Put16(ip, 4, static_cast<uint16_t>(ext_len + l4_len));
  ip[7] = 64;
  const Addr6 src = Ip6(f.src), dst = Ip6(f.dst);
  std::memcpy(&ip[8], src.data(), 16);
  std::memcpy(&ip[24], dst.data(), 16);
  size_t off = 40;
  uint8_t* next = &ip[6];
  for (uint8_t kind : f.ext_headers) {
    *next = kind;
    next = &ip[off];
    ip[off + 1] = 0;  // 8 bytes; PadN fills the rest
    ip[off + 2] = 1, ip[off + 3] = 4;
    off += 8;
  }
  if (f.fragment_first) {
    *next = kFragment;
    next = &ip[off];
    Put16(ip, off + 2, 0x0001);  // offset 0, more fragments
    Put32(ip, off + 4, 0x1234);
    off += 8;
  }
  *next = f.proto;
  if (f.proto == kIcmp6) {
    ip[off] = 128;  // echo request
    Put16(ip, off + 4, f.sport);
  } else {
    Put16(ip, off, f.sport);
    Put16(ip, off + 2, f.dport);
    if (f.proto == IPPROTO_UDP) Put16(ip, off + 4, static_cast<uint16_t>(l4_len));
    if (f.proto == IPPROTO_TCP) ip[off + 12] = 5 << 4;
  }
  for (size_t i = off + (f.proto == IPPROTO_TCP ? 20 : 8); i < ip.size(); ++i) {
    ip[i] = static_cast<uint8_t>(i * 7);
  }
  b.insert(b.end(), ip.begin(), ip.end());
  const size_t l4_off = 14 + 40 + ext_len;
  const size_t csum_off = l4_off + (f.proto == IPPROTO_TCP ? 16 : f.proto == IPPROTO_UDP ? 6 : 2);
  Put16(b, csum_off, Ipv6L4Sum(b, l4_off, l4_len, f.proto));
  return b;
}

size_t L4Offset(const Flow6& f) {
  return 14 + 40 + 8 * f.ext_headers.size() + (f.fragment_first ? 8 : 0);
}

// Path 0 IPv4 (40 Mbit/s), paths 1 and 2 IPv6 (30 and 10 Mbit/s).
class FlowModeIpv6Test : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    Configure(1, MB_MODE_FLOW);
    SetPath6(1, kPath1Src6, "::", 30000, MB_PATH_ACTIVE);
    SetPath6(2, kPath2Src6, "::", 10000, MB_PATH_ACTIVE);
  }

  // The path an IPv6 packet left on, by its new source address (-1: none).
  static int PathOf6(const Bytes& out) {
    const Addr6 src = Addr6At(out, kIp6Src);
    if (src == Ip6(kPath1Src6)) return 1;
    if (src == Ip6(kPath2Src6)) return 2;
    return -1;
  }

  int SendFlow6(const Bytes& in) {
    RunResult r = Encap(in);
    EXPECT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out.size(), in.size()) << "flow mode does not encapsulate";
    return r.out.size() == in.size() ? PathOf6(r.out) : -1;
  }

  // The frame with the source or destination replaced and its transport
  // checksum computed anew: what a correct NAT66 produces.
  static Bytes Readdressed6(const Bytes& in, size_t addr_off, const char* addr, const Flow6& f) {
    Bytes want = in;
    const Addr6 a = Ip6(addr);
    std::memcpy(&want[addr_off], a.data(), 16);
    const size_t l4 = L4Offset(f);
    const size_t csum_off = l4 + (f.proto == IPPROTO_TCP ? 16 : f.proto == IPPROTO_UDP ? 6 : 2);
    Put16(want, csum_off, 0);
    Put16(want, csum_off, Ipv6L4Sum(want, l4, want.size() - l4, f.proto));
    return want;
  }

  static const char* NatOf(int path) { return path == 1 ? kPath1Src6 : kPath2Src6; }
};

TEST_F(FlowModeIpv6Test, TcpLeavesFromAnIpv6PathWithItsChecksumRight) {
  Flow6 f;
  const Bytes in = Ipv6Flow(f);
  ASSERT_EQ(Ipv6L4Sum(in, L4Offset(f), in.size() - L4Offset(f), IPPROTO_TCP), 0);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  const int path = PathOf6(r.out);
  ASSERT_GE(path, 1) << "NATed to an IPv6 path's address";
  EXPECT_EQ(Ipv6L4Sum(r.out, L4Offset(f), in.size() - L4Offset(f), IPPROTO_TCP), 0);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(Readdressed6(in, kIp6Src, NatOf(path), f)), "nat66-tcp",
                         true))
      << "only the source and the checksum change";
  EXPECT_EQ(Counters(static_cast<uint32_t>(path)).tx_bytes, in.size() - 14);
  EXPECT_EQ(Counters(0).tx_packets, 0u) << "an IPv4 path never carries an IPv6 flow";
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeIpv6Test, EachFamilyStaysOnItsPathsInProportionToTheirRates) {
  constexpr int kFlows = 400;
  int on[3] = {0, 0, 0};
  for (int i = 0; i < kFlows; ++i) {
    Flow6 f;
    f.sport = static_cast<uint16_t>(20000 + i);
    const int path = SendFlow6(Ipv6Flow(f));
    ASSERT_GE(path, 1);
    ++on[path];
    Ipv4Options o;
    o.src_port = static_cast<uint16_t>(20000 + i);
    o.dst_port = 443;
    RunResult r4 = Encap(WithL4Checksum(Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 100, o)));
    ASSERT_EQ(r4.verdict, kRedirect);
    EXPECT_EQ(Addr(r4.out, 14 + 12), Ip(kPath0Src)) << "IPv4 on the only IPv4 path";
  }
  const double ratio = static_cast<double>(on[1]) / std::max(on[2], 1);
  std::cout << "[ flows    ] IPv6 30:10 Mbit/s: " << on[1] << " vs " << on[2] << " flows\n";
  EXPECT_GT(ratio, 2.0);
  EXPECT_LT(ratio, 4.5);
  EXPECT_EQ(Counters(0).tx_packets, static_cast<uint64_t>(kFlows));
}

TEST_F(FlowModeIpv6Test, ReplyIsNatedBackIntoTheBond) {
  Flow6 f;
  f.sport = 41000;
  const int path = SendFlow6(Ipv6Flow(f));
  ASSERT_GE(path, 1);
  Flow6 back;
  back.src = kServer6;
  back.dst = NatOf(path);
  back.sport = 443;
  back.dport = 41000;
  back.payload = 1200;
  const Bytes reply = Ipv6Flow(back);
  RunResult r = Decap(reply);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(Addr6At(r.out, kIp6Dst), Ip6(kBond6));
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(Readdressed6(reply, kIp6Dst, kBond6, back)), "unnat66", true));
  EXPECT_EQ(Counters(static_cast<uint32_t>(path)).rx_bytes, reply.size() - 14);

  // Not this flow's: another remote port, another remote, the other path's address.
  Flow6 other_port = back, other_remote = back, other_path = back;
  other_port.sport = 444;
  other_remote.src = "2001:db8:f0::6";
  other_path.dst = NatOf(3 - path);
  for (const Flow6& other : {other_port, other_remote, other_path}) {
    const Bytes pkt = Ipv6Flow(other);
    RunResult pass = Decap(pkt);
    EXPECT_EQ(pass.verdict, kNotOurs) << other.src << " -> " << other.dst << ":" << other.dport;
    EXPECT_TRUE(BytesEqual(pass.out, pkt, "pass6"));
  }
}

TEST_F(FlowModeIpv6Test, EchoIsNatedByIdentifierWithThePseudoHeaderInItsChecksum) {
  Flow6 ping;
  ping.proto = kIcmp6;
  ping.sport = 0x4242;  // the identifier
  ping.payload = 56;
  const Bytes in = Ipv6Flow(ping);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  const int path = PathOf6(r.out);
  ASSERT_GE(path, 1);
  EXPECT_EQ(Ipv6L4Sum(r.out, L4Offset(ping), in.size() - L4Offset(ping), kIcmp6), 0)
      << "ICMPv6's checksum covers the addresses";
  // The echo reply comes back by its identifier.
  Bytes reply = Ipv6Flow([&] {
    Flow6 f = ping;
    f.src = kServer6;
    f.dst = NatOf(path);
    return f;
  }());
  reply[L4Offset(ping)] = 129;  // echo reply
  Put16(reply, L4Offset(ping) + 2, 0);
  Put16(reply, L4Offset(ping) + 2, Ipv6L4Sum(reply, L4Offset(ping), reply.size() - L4Offset(ping), kIcmp6));
  RunResult back = Decap(reply);
  ASSERT_EQ(back.verdict, kRedirect);
  EXPECT_EQ(Addr6At(back.out, kIp6Dst), Ip6(kBond6));
  EXPECT_EQ(Ipv6L4Sum(back.out, L4Offset(ping), reply.size() - L4Offset(ping), kIcmp6), 0);
}

TEST_F(FlowModeIpv6Test, PacketTooBigAboutANatedFlowReachesItsSender) {
  Flow6 f;
  f.sport = 42600;
  f.payload = 1300;
  RunResult sent = Encap(Ipv6Flow(f));
  ASSERT_EQ(sent.verdict, kRedirect);
  const int path = PathOf6(sent.out);
  ASSERT_GE(path, 1);
  // The router's Packet Too Big: type 2, the MTU, as much of the packet as fits.
  constexpr size_t kQuote = 48, kIcmp = 14 + 40;
  Flow6 e;
  e.src = "2001:db8:1::1";
  e.dst = NatOf(path);
  e.proto = kIcmp6;
  e.payload = kQuote;
  Bytes error = Ipv6Flow(e);
  ASSERT_EQ(error.size(), kIcmp + 8 + kQuote);
  error[kIcmp] = 2, error[kIcmp + 1] = 0;
  Put32(error, kIcmp + 4, 1280);
  std::copy(sent.out.begin() + 14, sent.out.begin() + 14 + kQuote, error.begin() + kIcmp + 8);
  Put16(error, kIcmp + 2, 0);
  Put16(error, kIcmp + 2, Ipv6L4Sum(error, kIcmp, 8 + kQuote, kIcmp6));

  RunResult r = Decap(error);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr6At(r.out, kIp6Dst), Ip6(kBond6));
  EXPECT_EQ(Addr6At(r.out, kIcmp + 8 + 8), Ip6(kBond6)) << "the quote's source";
  EXPECT_EQ(Ipv6L4Sum(r.out, kIcmp, 8 + kQuote, kIcmp6), 0)
      << "ICMPv6's checksum covers the new destination and the new quote";
  EXPECT_EQ(Get32(r.out, kIcmp + 4), 1280u);
  EXPECT_EQ(Counters(static_cast<uint32_t>(path)).rx_packets, 1u);
}

TEST_F(FlowModeIpv6Test, TransportBehindExtensionHeadersIsFoundAndFixed) {
  Flow6 f;
  f.proto = IPPROTO_UDP;
  f.ext_headers = {kHopByHop, kDestOpts};
  f.sport = 5353;
  const Bytes in = Ipv6Flow(f);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  const int path = PathOf6(r.out);
  ASSERT_GE(path, 1);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(Readdressed6(in, kIp6Src, NatOf(path), f)), "nat66-ext",
                         true));
  // Keyed by its ports: replies to them come back, to others do not.
  Flow6 back = f;
  back.src = kServer6;
  back.dst = NatOf(path);
  back.sport = 443;
  back.dport = 5353;
  EXPECT_EQ(Decap(Ipv6Flow(back)).verdict, kRedirect);
  back.dport = 5354;
  EXPECT_EQ(Decap(Ipv6Flow(back)).verdict, kNotOurs);
}

TEST_F(FlowModeIpv6Test, FragmentsShareAPathAndTheFirstGetsItsChecksumAdjusted) {
  for (int d = 0; d < 20; ++d) {
    const std::string server = "2001:db8:f0::" + std::to_string(10 + d);
    Flow6 whole;
    whole.proto = IPPROTO_UDP;
    whole.dst = server.c_str();
    whole.sport = static_cast<uint16_t>(47000 + d);
    whole.payload = 64;
    Flow6 first = whole;
    first.fragment_first = true;
    // The first fragment carries the whole datagram's checksum: build it
    // whole, then put the fragment header in front of the same UDP bytes.
    const Bytes datagram = Ipv6Flow(whole);
    Bytes frag = Ipv6Flow(first);
    std::copy(datagram.begin() + static_cast<long>(L4Offset(whole)), datagram.end(),
              frag.begin() + static_cast<long>(L4Offset(first)));
    RunResult r = Encap(frag);
    ASSERT_EQ(r.verdict, kRedirect);
    const int path = PathOf6(r.out);
    ASSERT_GE(path, 1);
    const Bytes want = Readdressed6(datagram, kIp6Src, NatOf(path), whole);
    EXPECT_EQ(Get16(r.out, L4Offset(first) + 6), Get16(want, L4Offset(whole) + 6))
        << "the datagram's checksum, adjusted for the new source";
    // A later fragment: a fragment header with offset 8, no transport header.
    Bytes later = frag;
    Put16(later, 14 + 40 + 2, 0x0008);  // offset 1 (8 bytes), last fragment
    EXPECT_EQ(SendFlow6(later), path) << "datagram to " << server;
  }
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeIpv6Test, LinkScopeIsTheBondDevicesOwnAndIsDropped) {
  const std::vector<std::pair<const char*, const char*>> link_scope = {
      {"fe80::1", "ff02::16"},            // MLD report
      {"::", "ff02::1:ff00:2"},           // duplicate address detection
      {"fe80::1", "fe80::2"},             // link-local unicast
      {kBond6, "ff05::1:3"},              // site multicast
  };
  for (const auto& [src, dst] : link_scope) {
    Flow6 f;
    f.src = src;
    f.dst = dst;
    f.proto = IPPROTO_UDP;
    const Bytes in = Ipv6Flow(f);
    RunResult r = Encap(in);
    EXPECT_EQ(r.verdict, kShot) << src << " -> " << dst;
    EXPECT_TRUE(BytesEqual(r.out, in, "link-scope-unchanged"));
  }
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_LINK_SCOPE], link_scope.size());
  EXPECT_EQ(TotalDrops(), link_scope.size());
  EXPECT_EQ(Counters(1).tx_packets + Counters(2).tx_packets, 0u);
}

TEST_F(FlowModeIpv6Test, WithoutAnIpv6PathIpv6HasNoPathAndIpv4IsUnaffected) {
  SetState(1, MB_PATH_DISABLED);
  SetState(2, MB_PATH_DISABLED);
  RunResult r = Encap(Ipv6Flow(Flow6{}));
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  Ipv4Options o;
  o.src_port = 1234;
  o.dst_port = 80;
  EXPECT_EQ(Encap(WithL4Checksum(Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 100, o))).verdict,
            kRedirect);
  // An IPv6 backup takes IPv6 flows; the IPv4 path is no backup for them.
  SetState(2, MB_PATH_BACKUP);
  EXPECT_EQ(SendFlow6(Ipv6Flow(Flow6{})), 2);
}

TEST_F(FlowModeIpv6Test, PinnedFlowFollowsANewPrefix) {
  SetState(2, MB_PATH_DISABLED);
  Flow6 f;
  f.sport = 45000;
  ASSERT_EQ(SendFlow6(Ipv6Flow(f)), 1);
  // The uplink's prefix changed: the agent writes the path's new address.
  SetPath6(1, "2001:db8:99::2", "::", 30000, MB_PATH_ACTIVE);
  RunResult r = Encap(Ipv6Flow(f));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr6At(r.out, kIp6Src), Ip6("2001:db8:99::2")) << "NATed to the path's current address";
  EXPECT_EQ(Ipv6L4Sum(r.out, L4Offset(f), r.out.size() - L4Offset(f), IPPROTO_TCP), 0);
}

}  // namespace
}  // namespace meshbpf::testing
