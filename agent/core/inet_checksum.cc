#include "agent/core/inet_checksum.h"

#include "agent/core/big_endian.h"

namespace meshbpf {
namespace {

constexpr size_t kEthHeaderLen = 14;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr size_t kIpv4MinHeaderLen = 20;
constexpr size_t kIpv4ChecksumOffset = 10;
constexpr uint16_t kIpv4FragmentBits = 0x3fff;  // MF and the fragment offset
constexpr size_t kIpv6HeaderLen = 40;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr size_t kTcpHeaderLen = 20;
constexpr size_t kTcpChecksumOffset = 16;
constexpr size_t kUdpHeaderLen = 8;
constexpr size_t kUdpChecksumOffset = 6;

// The one's-complement sum of `bytes` as 16-bit big-endian words (an odd
// last byte padded with zero), added to `sum`, not yet folded.
uint64_t AddWords(std::span<const uint8_t> bytes, uint64_t sum) {
  size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += GetBig(&bytes[i], 2);
  if (i < bytes.size()) sum += static_cast<uint64_t>(bytes[i]) << 8;
  return sum;
}

uint16_t Fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

// Recomputes the checksum of the TCP or UDP `segment` whose pseudo-header
// (addresses, protocol, length) sums to `pseudo_sum`; false when the
// segment is too short for its header or a UDP length does not fit.
bool FixSegment(std::span<uint8_t> segment, uint8_t protocol, uint64_t pseudo_sum, bool ipv4) {
  size_t checksum_offset = kTcpChecksumOffset;
  if (protocol == kProtoTcp) {
    if (segment.size() < kTcpHeaderLen) return false;
  } else {
    if (segment.size() < kUdpHeaderLen) return false;
    // The UDP length may end before the IP payload does: what follows is not the datagram's.
    const size_t udp_len = GetBig(&segment[4], 2);
    if (udp_len < kUdpHeaderLen || udp_len > segment.size()) return false;
    segment = segment.first(udp_len);
    checksum_offset = kUdpChecksumOffset;
    // IPv4 UDP may go without a checksum (0); IPv6 UDP may not.
    if (ipv4 && GetBig(&segment[checksum_offset], 2) == 0) return true;
  }
  PutBig(&segment[checksum_offset], 0, 2);
  uint16_t checksum = Fold(AddWords(segment, pseudo_sum + protocol + segment.size()));
  // A computed UDP checksum of 0 is sent as all ones: 0 means none.
  if (protocol == kProtoUdp && checksum == 0) checksum = 0xffff;
  PutBig(&segment[checksum_offset], checksum, 2);
  return true;
}

bool FixIpv4(std::span<uint8_t> packet) {
  if (packet.size() < kIpv4MinHeaderLen || packet[0] >> 4 != 4) return false;
  const size_t header_len = (packet[0] & 0x0f) * 4u;
  const size_t total_len = GetBig(&packet[2], 2);
  if (header_len < kIpv4MinHeaderLen || total_len < header_len || total_len > packet.size()) {
    return false;
  }
  if ((GetBig(&packet[6], 2) & kIpv4FragmentBits) != 0) return false;
  const uint8_t protocol = packet[9];
  if (protocol != kProtoTcp && protocol != kProtoUdp) return false;
  const uint64_t addresses = AddWords(packet.subspan(12, 8), 0);
  if (!FixSegment(packet.subspan(header_len, total_len - header_len), protocol, addresses,
                  /*ipv4=*/true)) {
    return false;
  }
  const std::span<uint8_t> header = packet.first(header_len);
  PutBig(&header[kIpv4ChecksumOffset], 0, 2);
  PutBig(&header[kIpv4ChecksumOffset], Fold(AddWords(header, 0)), 2);
  return true;
}

bool FixIpv6(std::span<uint8_t> packet) {
  if (packet.size() < kIpv6HeaderLen || packet[0] >> 4 != 6) return false;
  const size_t payload_len = GetBig(&packet[4], 2);
  if (payload_len > packet.size() - kIpv6HeaderLen) return false;
  // Only a transport header right after the fixed header: no extension headers.
  const uint8_t next_header = packet[6];
  if (next_header != kProtoTcp && next_header != kProtoUdp) return false;
  const uint64_t addresses = AddWords(packet.subspan(8, 32), 0);
  return FixSegment(packet.subspan(kIpv6HeaderLen, payload_len), next_header, addresses,
                    /*ipv4=*/false);
}

}  // namespace

bool FixTransportChecksum(std::span<uint8_t> frame) {
  if (frame.size() < kEthHeaderLen) return false;
  const std::span<uint8_t> packet = frame.subspan(kEthHeaderLen);
  switch (GetBig(&frame[12], 2)) {
    case kEtherTypeIpv4:
      return FixIpv4(packet);
    case kEtherTypeIpv6:
      return FixIpv6(packet);
    default:
      return false;
  }
}

}  // namespace meshbpf
