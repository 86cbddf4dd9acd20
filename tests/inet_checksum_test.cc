// Recomputing a frame's transport and IPv4 header checksums
// (agent/core/inet_checksum.h), as loss repair does before re-sending a kept copy.
#include "agent/core/inet_checksum.h"

#include <gtest/gtest.h>

#include "tests/packet_builder.h"

namespace meshbpf {
namespace {

using testing::Bytes;
using testing::Get16;
using testing::kEthLen;
using testing::Put16;

constexpr size_t kIpv4Checksum = kEthLen + 10;

// Wikipedia's IPv4 header example (checksum 0xb861) carrying UDP 12345 -> 53
// with 87 patterned bytes; its UDP checksum (0x7d06) computed independently.
Bytes KnownIpv4Udp() {
  Bytes frame = testing::Ethernet(testing::kEthIpv4);
  const Bytes ip = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                    0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  frame.insert(frame.end(), ip.begin(), ip.end());
  const Bytes udp = {0x30, 0x39, 0x00, 0x35, 0x00, 95, 0x12, 0x34};  // checksum: garbage
  frame.insert(frame.end(), udp.begin(), udp.end());
  for (int i = 0; i < 87; ++i) frame.push_back(static_cast<uint8_t>(i * 7));
  return frame;
}

// fd00::1 -> fd00::2, UDP 40000 -> 5201, "hello, world!" (odd length); its
// checksum (0xf3e1) computed independently.
Bytes KnownIpv6Udp(uint8_t next_header = IPPROTO_UDP) {
  const std::string text = "hello, world!";
  Bytes frame = testing::Ipv6Packet(8 + text.size(), 0);
  const size_t udp = kEthLen + 40;
  frame[kEthLen + 6] = next_header;
  Put16(frame, udp, 40000);
  Put16(frame, udp + 2, 5201);
  Put16(frame, udp + 4, static_cast<uint16_t>(8 + text.size()));
  Put16(frame, udp + 6, 0);
  std::copy(text.begin(), text.end(), frame.begin() + static_cast<long>(udp + 8));
  return frame;
}

// What checksum offload leaves in the field of an IPv4 frame
// (CHECKSUM_PARTIAL): the pseudo-header's sum, folded, not complemented.
Bytes WithPartialChecksum(Bytes frame) {
  const size_t ihl = (frame[kEthLen] & 0xf) * 4u;
  const auto len = static_cast<uint16_t>(Get16(frame, kEthLen + 2) - ihl);
  Bytes pseudo(frame.begin() + kEthLen + 12, frame.begin() + kEthLen + 20);
  pseudo.insert(pseudo.end(), {0, frame[kEthLen + 9], static_cast<uint8_t>(len >> 8),
                               static_cast<uint8_t>(len & 0xff)});
  Put16(frame, testing::L4ChecksumOffset(frame),
        static_cast<uint16_t>(~testing::Ipv4Checksum(pseudo.data(), pseudo.size())));
  return frame;
}

TEST(FixTransportChecksum, KnownIpv4UdpAnswer) {
  Bytes frame = KnownIpv4Udp();
  ASSERT_TRUE(FixTransportChecksum(frame));
  EXPECT_EQ(Get16(frame, kIpv4Checksum), 0xb861);
  EXPECT_EQ(Get16(frame, kEthLen + 20 + 6), 0x7d06);
}

TEST(FixTransportChecksum, KnownIpv6UdpAnswer) {
  Bytes frame = KnownIpv6Udp();
  const Bytes before = frame;
  ASSERT_TRUE(FixTransportChecksum(frame));
  EXPECT_EQ(Get16(frame, kEthLen + 40 + 6), 0xf3e1);
  Put16(frame, kEthLen + 40 + 6, 0);
  EXPECT_EQ(frame, before) << "nothing else changed (IPv6 has no header checksum)";
}

TEST(FixTransportChecksum, APartialChecksumBecomesTheFullOne) {
  testing::Ipv4Options with_options;
  with_options.option_words = 2;
  for (uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP}) {
    for (const testing::Ipv4Options& o : {testing::Ipv4Options{}, with_options}) {
      const Bytes correct =
          testing::WithL4Checksum(testing::Ipv4Packet("10.0.0.1", "10.0.0.2", proto, 1001, o));
      Bytes frame = WithPartialChecksum(correct);
      ASSERT_NE(frame, correct);
      ASSERT_TRUE(FixTransportChecksum(frame)) << int{proto};
      EXPECT_EQ(frame, correct) << int{proto} << " with " << o.option_words << " option words";
    }
  }
}

TEST(FixTransportChecksum, TheIpv4HeaderChecksumIsRecomputed) {
  Bytes frame =
      testing::WithL4Checksum(testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40));
  const Bytes correct = frame;
  Put16(frame, kIpv4Checksum, 0xdead);
  ASSERT_TRUE(FixTransportChecksum(frame));
  EXPECT_EQ(frame, correct);
}

TEST(FixTransportChecksum, EthernetPaddingIsNotPartOfTheSegment) {
  const Bytes correct =
      testing::WithL4Checksum(testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 3));
  Bytes frame = correct;
  Put16(frame, testing::L4ChecksumOffset(frame), 0x1111);
  frame.resize(60, 0xee);  // padded to Ethernet's minimum
  ASSERT_TRUE(FixTransportChecksum(frame));
  EXPECT_EQ(Bytes(frame.begin(), frame.begin() + static_cast<long>(correct.size())), correct);
}

TEST(FixTransportChecksum, Ipv4UdpWithoutAChecksumKeepsNone) {
  Bytes frame = testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 20);
  const Bytes correct = frame;
  ASSERT_EQ(Get16(frame, testing::L4ChecksumOffset(frame)), 0);
  Put16(frame, kIpv4Checksum, 0);
  ASSERT_TRUE(FixTransportChecksum(frame));
  EXPECT_EQ(frame, correct) << "UDP checksum still 0, IPv4 header checksum right";
}

TEST(FixTransportChecksum, AUdpChecksumOfZeroIsSentAsAllOnes) {
  Bytes frame = testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 20);
  const size_t checksum = testing::L4ChecksumOffset(frame);
  const size_t last_word = frame.size() - 2;
  Put16(frame, last_word, 0);
  Put16(frame, checksum, 1);
  ASSERT_TRUE(FixTransportChecksum(frame));
  // The payload's last word set to the checksum it produced makes the sum all ones.
  Put16(frame, last_word, Get16(frame, checksum));
  ASSERT_TRUE(FixTransportChecksum(frame));
  EXPECT_EQ(Get16(frame, checksum), 0xffff);
  EXPECT_EQ(testing::L4Checksum(frame), 0) << "and it verifies";
}

TEST(FixTransportChecksum, FragmentsAreLeftUntouched) {
  for (uint16_t frag : {0x2000 /* MF */, 0x0001 /* offset 8 */}) {
    testing::Ipv4Options o;
    o.frag = frag;
    Bytes frame = testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 100, o);
    Put16(frame, testing::L4ChecksumOffset(frame), 0x1234);
    const Bytes before = frame;
    EXPECT_FALSE(FixTransportChecksum(frame)) << frag;
    EXPECT_EQ(frame, before);
  }
}

TEST(FixTransportChecksum, OtherProtocolsAreLeftUntouched) {
  std::vector<Bytes> frames = {
      testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 56),
      testing::Ethernet(testing::kEthArp),
      testing::Ipv6Packet(30, 0),         // no next header
      KnownIpv6Udp(/*next_header=*/0),  // a hop-by-hop extension header first
  };
  for (Bytes& frame : frames) {
    frame.resize(std::max<size_t>(frame.size(), 60), 0);
    const Bytes before = frame;
    EXPECT_FALSE(FixTransportChecksum(frame)) << testing::DumpPcap(before, "inet-checksum-other");
    EXPECT_EQ(frame, before);
  }
}

TEST(FixTransportChecksum, TruncatedOrInconsistentFramesAreLeftUntouched) {
  const Bytes udp4 = testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 100);
  const Bytes tcp4 = testing::Ipv4Packet("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 0);
  const Bytes udp6 = KnownIpv6Udp();
  std::vector<Bytes> frames;
  frames.push_back(Bytes(udp4.begin(), udp4.begin() + 10));            // not even Ethernet
  frames.push_back(Bytes(udp4.begin(), udp4.begin() + kEthLen + 12));  // half an IPv4 header
  frames.push_back(Bytes(udp4.begin(), udp4.end() - 1));  // shorter than its total length
  frames.push_back(Bytes(udp6.begin(), udp6.end() - 1));  // shorter than its payload length
  Bytes short_tcp = tcp4;
  Put16(short_tcp, kEthLen + 2, 20 + 19);  // a TCP segment shorter than its header
  frames.push_back(short_tcp);
  Bytes long_udp = udp4;
  Put16(long_udp, kEthLen + 20 + 4, 8 + 101);  // UDP length beyond the IPv4 payload
  frames.push_back(long_udp);
  Bytes short_ihl = udp4;
  short_ihl[kEthLen] = 0x44;  // a 16-byte IPv4 header
  frames.push_back(short_ihl);
  Bytes wrong_version = udp4;
  wrong_version[kEthLen] = 0x65;
  frames.push_back(wrong_version);
  for (Bytes& frame : frames) {
    const Bytes before = frame;
    EXPECT_FALSE(FixTransportChecksum(frame)) << testing::DumpPcap(before, "inet-checksum-bad");
    EXPECT_EQ(frame, before);
  }
}

}  // namespace
}  // namespace meshbpf
