// BPF_PROG_TEST_RUN tests of MSS clamping in mb_encap (bpf/lib/mss.h): a
// SYN or SYN-ACK entering the tunnel leaves with its MSS option at most the
// bond MTU less the IP and TCP headers, with a TCP checksum that still
// verifies; everything else passes unchanged.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <initializer_list>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

constexpr uint8_t kSyn = 0x02, kAck = 0x10;
constexpr uint16_t kBondMtu = 1460;
// Where the TCP header of an IPv4 frame without IP options starts.
constexpr size_t kTcp = kEthLen + 20;

// An IPv4 TCP segment with these flags and options (a multiple of 4 bytes)
// and a correct checksum.
Bytes Ipv4Tcp(uint8_t flags, std::initializer_list<uint8_t> options) {
  Bytes b = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, options.size());
  b[kTcp + 12] = static_cast<uint8_t>((20 + options.size()) / 4 << 4);
  b[kTcp + 13] = flags;
  std::copy(options.begin(), options.end(), b.begin() + kTcp + 20);
  return WithL4Checksum(b);
}

uint16_t Mss(const Bytes& frame, size_t at) { return Get16(frame, at); }

class MssClampTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    mb_config c{};
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_config), &key, &c), 0);
    c.bond_mtu = kBondMtu;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_config), &key, &c, BPF_ANY), 0);
  }
  // The inner frame mb_encap sent: the Ethernet header of `in`, then the
  // inner L3 packet of the encapsulated output.
  Bytes InnerOut(const Bytes& in) {
    RunResult r = Encap(in);
    EXPECT_EQ(r.verdict, kRedirect);
    Bytes frame(in.begin(), in.begin() + kEthLen);
    if (r.out.size() > kInner) frame.insert(frame.end(), r.out.begin() + kInner, r.out.end());
    return frame;
  }
};

TEST_F(MssClampTest, SynAboveTheBondIsClamped) {
  for (uint8_t flags : {kSyn, static_cast<uint8_t>(kSyn | kAck)}) {
    // MSS 1460, NOP, window scale 7.
    Bytes in = Ipv4Tcp(flags, {2, 4, 0x05, 0xb4, 1, 3, 3, 7});
    Bytes out = InnerOut(in);
    ASSERT_EQ(out.size(), in.size());
    EXPECT_EQ(Mss(out, kTcp + 22), kBondMtu - 40) << int(flags);
    EXPECT_EQ(L4Checksum(out), 0) << "the TCP checksum follows";
    EXPECT_EQ(Ipv4Checksum(&out[kEthLen], 20), 0);
    out[kTcp + 22] = 0x05, out[kTcp + 23] = 0xb4;
    out[kTcp + 16] = in[kTcp + 16], out[kTcp + 17] = in[kTcp + 17];
    EXPECT_EQ(out, in) << "nothing but the MSS and the checksum changed";
  }
}

TEST_F(MssClampTest, FindsTheMssAfterOtherOptions) {
  // SACK permitted, NOP, NOP, MSS 8960 (a jumbo LAN).
  Bytes out = InnerOut(Ipv4Tcp(kSyn, {4, 2, 1, 1, 2, 4, 0x23, 0x00}));
  EXPECT_EQ(Mss(out, kTcp + 26), kBondMtu - 40);
  EXPECT_EQ(L4Checksum(out), 0);
}

TEST_F(MssClampTest, LeavesEverythingElseAlone) {
  const Bytes small = Ipv4Tcp(kSyn, {2, 4, 0x04, 0xb0, 1, 1, 1, 0});  // MSS 1200: fits
  const Bytes not_syn = Ipv4Tcp(kAck, {2, 4, 0x05, 0xb4, 1, 1, 1, 0});
  const Bytes malformed = Ipv4Tcp(kSyn, {1, 0x1e, 0, 2, 4, 0x05, 0xb4, 0});  // option length 0
  const Bytes no_options = WithL4Checksum([] {
    Bytes b = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 0);
    b[kTcp + 13] = kSyn;
    return b;
  }());
  for (const Bytes* in : {&small, &not_syn, &malformed, &no_options}) {
    EXPECT_EQ(InnerOut(*in), *in);
  }
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(MssClampTest, UnconfiguredBondMtuClampsNothing) {
  Configure(1);  // bond_mtu 0: an agent that did not set it
  const Bytes in = Ipv4Tcp(kSyn, {2, 4, 0x23, 0x00, 1, 1, 1, 0});
  EXPECT_EQ(InnerOut(in), in);
}

// IPv6: TCP right after the fixed header; the MSS leaves room for 60 bytes.
TEST_F(MssClampTest, Ipv6SynIsClampedWithItsChecksum) {
  Bytes in = Ipv6Packet(24, 0);
  const size_t tcp = kEthLen + 40;
  in[kEthLen + 6] = IPPROTO_TCP;
  std::fill(in.begin() + tcp, in.end(), 0);
  Put16(in, tcp, 40000);
  Put16(in, tcp + 2, 443);
  in[tcp + 12] = 6 << 4;  // 24-byte header
  in[tcp + 13] = kSyn;
  const uint8_t options[] = {2, 4, 0x05, 0xa0, 1, 1, 1, 0};  // MSS 1440
  std::copy(std::begin(options), std::end(options), in.begin() + tcp + 20);
  // The checksum over the pseudo-header (addresses, length, next header).
  auto checksum = [&](const Bytes& f) {
    Bytes sum_over(f.begin() + kEthLen + 8, f.begin() + kEthLen + 40);
    sum_over.insert(sum_over.end(), {0, 0, 0, 24, 0, 0, 0, IPPROTO_TCP});
    sum_over.insert(sum_over.end(), f.begin() + tcp, f.end());
    return Ipv4Checksum(sum_over.data(), sum_over.size());
  };
  Put16(in, tcp + 16, checksum(in));
  ASSERT_EQ(checksum(in), 0);
  Bytes out = InnerOut(in);
  ASSERT_EQ(out.size(), in.size());
  EXPECT_EQ(Mss(out, tcp + 22), kBondMtu - 60);
  EXPECT_EQ(checksum(out), 0);
}

TEST_F(MssClampTest, DecapClampsTheSynsComingIn) {
  // What we may send is ours to bound: the far end's SYN-ACK offers 1460.
  const Bytes in = Ipv4Tcp(kSyn | kAck, {2, 4, 0x05, 0xb4, 1, 1, 1, 0});
  RunResult r = Decap(MeshPacket(kPeer, L3(in)));
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size());
  EXPECT_EQ(Mss(r.out, kTcp + 22), kBondMtu - 40);
  EXPECT_EQ(L4Checksum(r.out), 0);
}

// A path found to carry less than its uplink (size probes): packets larger
// than its mtu go on the others, smaller ones still use it.
TEST_F(MssClampTest, APacketLargerThanAPathsMtuSkipsThatPath) {
  mb_path p{};
  uint32_t id = 1;
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_paths), &id, &p), 0);
  p.mtu = 1400;
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  const Bytes big = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1380);  // 1408 + 40 outer
  const Bytes small = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1300);
  int big_on_1 = 0, small_on_1 = 0;
  for (int i = 0; i < 60; ++i) {
    RunResult r = Encap(big);
    ASSERT_EQ(r.verdict, kRedirect);
    big_on_1 += Parse(r.out).path_id == 1;
    r = Encap(small);
    ASSERT_EQ(r.verdict, kRedirect);
    small_on_1 += Parse(r.out).path_id == 1;
  }
  EXPECT_EQ(big_on_1, 0);
  EXPECT_GT(small_on_1, 0) << "the path still carries what fits";
}

}  // namespace
}  // namespace meshbpf::testing
