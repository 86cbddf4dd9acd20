// BPF_PROG_TEST_RUN tests of learned paths (MB_PATH_F_LEARN,
// bpf/lib/learned.h): the node under test is a bonding peer whose path 2
// learns its far end, IPv4 or IPv6, from an authenticated probe.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <array>

#include "bpf/meshbpf.h"
#include "tests/bpf_relay_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

constexpr uint32_t kLearnedPath = 2;
constexpr const char* kOurAddr = "10.200.0.2";  // where the relayed packets arrive

class LearnedPathTest : public RelayTest {
 public:
  // A tunnel packet on the learned path from R's uplink address:return port;
  // a probe (inner UDP to the probe port) or data.
  static Bytes OnLearnedPath(bool probe, const char* src = kRelayUplink,
                             uint16_t src_port = kReturnPort) {
    MeshOptions m;
    m.path_id = kLearnedPath;
    m.src_port = src_port;
    m.dst = kOurAddr;
    Ipv4Options o;
    o.dst_port = probe ? kProbePort : 5201;
    return MeshPacket(src, L3(Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_UDP, 60, o)), m);
  }

 protected:
  void SetUp() override {
    RelayTest::SetUp();
    if (SetUpStopped()) return;
    config_.relay_port = 0;
    config_.learn_paths = 1;
    WriteConfig();
    // As the agent writes a learned path whose far end is not known yet.
    mb_path p{};
    p.ifindex = lo_;
    p.src_ip = Ip(kOurAddr);
    p.src_port = kTunnelPort;
    p.mtu = 1500;
    p.rate_kbps = 20000;
    p.state = MB_PATH_DISABLED;
    p.flags = MB_PATH_F_LEARN;
    SetPath(kLearnedPath, p);
  }

  mb_learned_source Learned() {
    mb_learned_source s{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_learned), &kLearnedPath, &s), 0);
    return s;
  }

  void Adopt(const char* addr, uint16_t port) {
    mb_path p{};
    ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_paths), &kLearnedPath, &p), 0);
    p.dst_ip = Ip(addr);
    p.dst_port = port;
    p.state = MB_PATH_ACTIVE;
    SetPath(kLearnedPath, p);
    uint32_t peer = Ip(addr);
    mb_peer v{};
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_peers), &peer, &v, BPF_ANY), 0);
  }
};

TEST_F(LearnedPathTest, ProbeFromANewSourcePassesAndIsRecorded) {
  const uint64_t before = MonotonicNs();
  RunResult r = Decap(OnLearnedPath(/*probe=*/true));
  ASSERT_EQ(r.verdict, kRedirect) << "delivered into the bond although its source is no peer";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_EQ(Get16(r.out, 14 + 20 + 2), kProbePort) << "the inner probe, decapsulated";
  const mb_learned_source s = Learned();
  EXPECT_EQ(s.saddr, Ip(kRelayUplink));
  EXPECT_EQ(s.daddr, Ip(kOurAddr));
  EXPECT_EQ(s.sport, kReturnPort);
  EXPECT_EQ(s.ifindex, lo_);
  EXPECT_GE(s.seen_ns, before);
  EXPECT_LE(s.seen_ns, MonotonicNs());
  EXPECT_EQ(Counters(kLearnedPath).rx_packets, 1u);
}

TEST_F(LearnedPathTest, DataFromANewSourceIsDropped) {
  EXPECT_EQ(Decap(OnLearnedPath(/*probe=*/false)).verdict, kShot);
  EXPECT_EQ(Counters(kLearnedPath).drops[MB_DROP_WRONG_ENDPOINT], 1u);
  EXPECT_EQ(Learned().saddr, 0u) << "data teaches nothing";
}

TEST_F(LearnedPathTest, DataFromTheLearnedEndpointPasses) {
  Adopt(kRelayUplink, kReturnPort);
  EXPECT_EQ(Decap(OnLearnedPath(/*probe=*/false)).verdict, kRedirect);
  EXPECT_EQ(Counters(kLearnedPath).rx_packets, 1u);
  EXPECT_EQ(Learned().saddr, 0u) << "the known endpoint is not recorded again";
  // The same address from another port is another endpoint.
  EXPECT_EQ(Decap(OnLearnedPath(false, kRelayUplink, kReturnPort + 1)).verdict, kShot);
  EXPECT_EQ(Counters(kLearnedPath).drops[MB_DROP_WRONG_ENDPOINT], 1u);
  // A probe from a new endpoint is still recorded: the relay moved.
  EXPECT_EQ(Decap(OnLearnedPath(true, "10.211.3.2")).verdict, kRedirect);
  EXPECT_EQ(Learned().saddr, Ip("10.211.3.2"));
}

TEST_F(LearnedPathTest, OtherPathsStillNeedAKnownPeer) {
  mb_path other{};
  other.ifindex = lo_;
  other.src_ip = Ip(kOurAddr);
  other.dst_ip = Ip("10.201.9.9");
  other.src_port = other.dst_port = kTunnelPort;
  other.state = MB_PATH_ACTIVE;
  other.rate_kbps = 1000;
  SetPath(1, other);
  MeshOptions m;
  m.path_id = 1;
  Ipv4Options o;
  o.dst_port = kProbePort;
  EXPECT_EQ(Decap(MeshPacket("10.201.9.9", L3(Ipv4Packet("10.203.0.2", "10.203.0.1",
                                                         IPPROTO_UDP, 60, o)), m))
                .verdict,
            kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_UNKNOWN_SOURCE], 1u);
  EXPECT_EQ(Learned().saddr, 0u);
}

TEST_F(LearnedPathTest, WithoutLearnPathsTheFlagIsNotConsulted) {
  config_.learn_paths = 0;
  WriteConfig();
  EXPECT_EQ(Decap(OnLearnedPath(/*probe=*/true)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_UNKNOWN_SOURCE], 1u);
  EXPECT_EQ(Learned().saddr, 0u);
}

TEST_F(LearnedPathTest, ProbeIsNotForcedOntoAPathWithoutEndpoint) {
  const Bytes probe = Ipv4Packet("10.203.0.1", "10.203.0.2", IPPROTO_UDP, 40);
  EXPECT_EQ(Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | kLearnedPath).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  Adopt(kRelayUplink, kReturnPort);
  RunResult r = Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | kLearnedPath);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr(r.out, kOuterIp + 16), Ip(kRelayUplink));
  EXPECT_EQ(Get16(r.out, kOuterUdp + 2), kReturnPort);
}

// A client's IPv6 uplink: the far end is learned from its probes as well.
constexpr const char* kClient6 = "2001:db8:2::2";
constexpr const char* kOurAddr6 = "2001:db8:f0::2";

// The tunnel packet of OnLearnedPath with an IPv6 outer header instead.
Bytes OnLearnedPath6(bool probe, const char* src = kClient6, uint16_t src_port = 7243) {
  return WithOuterIpv6(LearnedPathTest::OnLearnedPath(probe, kRelayUplink, src_port), src,
                       kOurAddr6);
}

TEST_F(LearnedPathTest, ProbeOverIpv6IsRecordedWithItsAddresses) {
  RunResult r = Decap(OnLearnedPath6(/*probe=*/true));
  ASSERT_EQ(r.verdict, kRedirect) << "delivered although its source is no peer";
  const mb_learned_source s = Learned();
  EXPECT_EQ(s.flags, MB_LEARNED_F_IPV6);
  EXPECT_EQ(std::to_array(s.saddr6.addr), Ip6(kClient6));
  EXPECT_EQ(std::to_array(s.daddr6.addr), Ip6(kOurAddr6)) << "our address it arrived at";
  EXPECT_EQ(s.saddr, 0u);
  EXPECT_EQ(s.sport, 7243);
  EXPECT_EQ(Decap(OnLearnedPath6(/*probe=*/false)).verdict, kShot) << "data teaches nothing";
}

TEST_F(LearnedPathTest, AfterAnIpv6EndpointIsAdoptedOnlyItsDataPasses) {
  // As the agent writes the path once it adopted the IPv6 far end.
  mb_path p{};
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_paths), &kLearnedPath, &p), 0);
  p.flags = MB_PATH_F_LEARN | MB_PATH_F_IPV6;
  p.src_ip = 0;
  const auto ours = Ip6(kOurAddr6), client = Ip6(kClient6);
  std::copy(ours.begin(), ours.end(), p.src_ip6);
  std::copy(client.begin(), client.end(), p.dst_ip6);
  p.dst_port = 7243;
  p.state = MB_PATH_ACTIVE;
  SetPath(kLearnedPath, p);
  mb_ip6 peer{};
  std::copy(client.begin(), client.end(), peer.addr);
  mb_peer v{};
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_peers6), &peer, &v, BPF_ANY), 0);

  EXPECT_EQ(Decap(OnLearnedPath6(false)).verdict, kRedirect);
  EXPECT_EQ(Counters(kLearnedPath).rx_packets, 1u);
  EXPECT_EQ(Learned().flags, 0u) << "the known endpoint is not recorded again";
  // Another port, or the same port over IPv4, is another endpoint.
  EXPECT_EQ(Decap(OnLearnedPath6(false, kClient6, 7244)).verdict, kShot);
  EXPECT_EQ(Decap(OnLearnedPath(false)).verdict, kShot);
  EXPECT_EQ(Counters(kLearnedPath).drops[MB_DROP_WRONG_ENDPOINT], 2u);
  // The client's prefix changed: its probe from the new address is recorded.
  EXPECT_EQ(Decap(OnLearnedPath6(true, "2001:db8:3::2")).verdict, kRedirect);
  EXPECT_EQ(std::to_array(Learned().saddr6.addr), Ip6("2001:db8:3::2"));
}

}  // namespace
}  // namespace meshbpf::testing
