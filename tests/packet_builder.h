// Test helpers for the BPF data-path tests: build Ethernet frames carrying
// IPv4 (with a correct header checksum, optional options, TCP/UDP/ICMP,
// optionally a correct transport checksum) or
// IPv6, build meshbpf frames as a peer sends them, read big-endian fields,
// and dump a frame as a one-packet pcap that Wireshark opens.
#ifndef MESHBPF_TESTS_PACKET_BUILDER_H
#define MESHBPF_TESTS_PACKET_BUILDER_H

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace meshbpf::testing {

using Bytes = std::vector<uint8_t>;

inline constexpr uint16_t kEthIpv4 = 0x0800;
inline constexpr uint16_t kEthIpv6 = 0x86dd;
inline constexpr uint16_t kEthArp = 0x0806;
inline constexpr size_t kEthLen = 14;

// An IPv4 address in network byte order, as the maps hold it.
inline uint32_t Ip(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a.s_addr;
}

// An IPv6 address's 16 bytes from text.
inline std::array<uint8_t, 16> Ip6(const char* text) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET6, text, a.data());
  return a;
}

inline void Put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v & 0xff);
}
inline void Put32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
inline uint16_t Get16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}
inline uint32_t Get32(const Bytes& b, size_t off) {
  return static_cast<uint32_t>(b[off]) << 24 | static_cast<uint32_t>(b[off + 1]) << 16 |
         static_cast<uint32_t>(b[off + 2]) << 8 | b[off + 3];
}
// 4 bytes at off as stored (network order), comparable with Ip().
inline uint32_t Addr(const Bytes& b, size_t off) {
  uint32_t a;
  std::memcpy(&a, &b[off], 4);
  return a;
}

// RFC 1071 checksum over a header; 0 when computed over a header whose
// checksum field is already right.
inline uint16_t Ipv4Checksum(const uint8_t* hdr, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(hdr[i] << 8 | hdr[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

inline Bytes Ethernet(uint16_t proto) {
  Bytes b(kEthLen, 0);
  for (int i = 0; i < 6; ++i) b[i] = 0xaa, b[6 + i] = 0xbb;
  Put16(b, 12, proto);
  return b;
}

struct Ipv4Options {
  uint8_t tos = 0;
  size_t option_words = 0;    // IPv4 options (NOPs), 4 bytes each
  uint16_t frag = 0x4000;     // flags + fragment offset field; DF by default
  uint16_t src_port = 40000;  // TCP/UDP
  uint16_t dst_port = 5201;
  uint8_t icmp_type = 8;      // echo request
  uint16_t icmp_id = 0;       // echo identifier
  uint8_t ttl = 64;
};

// Ethernet + IPv4 (+ NOP options) + a TCP (20 B), UDP or ICMP (8 B) header +
// payload of payload_len patterned bytes. The IPv4 checksum is correct.
inline Bytes Ipv4Packet(const char* src, const char* dst, uint8_t proto, size_t payload_len,
                        const Ipv4Options& o = {}) {
  Bytes b = Ethernet(kEthIpv4);
  const size_t ihl = 5 + o.option_words;
  const size_t l4 = proto == IPPROTO_TCP ? 20 : 8;
  const size_t total = ihl * 4 + l4 + payload_len;
  Bytes ip(ihl * 4, 0);
  ip[0] = static_cast<uint8_t>(0x40 | ihl);
  ip[1] = o.tos;
  Put16(ip, 2, static_cast<uint16_t>(total));
  Put16(ip, 4, 0x1234);  // id
  Put16(ip, 6, o.frag);
  ip[8] = o.ttl;
  ip[9] = proto;
  const uint32_t saddr = Ip(src), daddr = Ip(dst);
  std::memcpy(&ip[12], &saddr, 4);
  std::memcpy(&ip[16], &daddr, 4);
  for (size_t i = 20; i < ip.size(); ++i) ip[i] = 1;  // NOP options
  Put16(ip, 10, Ipv4Checksum(ip.data(), ip.size()));
  b.insert(b.end(), ip.begin(), ip.end());
  Bytes rest(l4 + payload_len, 0);
  if (proto == IPPROTO_ICMP) {
    rest[0] = o.icmp_type;
    Put16(rest, 4, o.icmp_id);
  } else {
    Put16(rest, 0, o.src_port);
    Put16(rest, 2, o.dst_port);
  }
  if (proto == IPPROTO_UDP) Put16(rest, 4, static_cast<uint16_t>(l4 + payload_len));
  if (proto == IPPROTO_TCP) rest[12] = 0x50, rest[13] = 0x18;  // 20-byte header, PSH|ACK
  for (size_t i = l4; i < rest.size(); ++i) rest[i] = static_cast<uint8_t>(i * 7);
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

// Where the TCP/UDP/ICMP checksum of an IPv4 frame is.
inline size_t L4ChecksumOffset(const Bytes& frame) {
  const size_t l4 = kEthLen + (frame[kEthLen] & 0xf) * 4u;
  switch (frame[kEthLen + 9]) {
    case IPPROTO_TCP:
      return l4 + 16;
    case IPPROTO_UDP:
      return l4 + 6;
    default:
      return l4 + 2;  // ICMP
  }
}

// The TCP/UDP (with pseudo-header) or ICMP checksum over an unfragmented
// IPv4 frame's transport segment as it stands: 0 when the stored one is right.
inline uint16_t L4Checksum(const Bytes& frame) {
  const size_t ihl = (frame[kEthLen] & 0xf) * 4u;
  const size_t len = Get16(frame, kEthLen + 2) - ihl;
  const uint8_t proto = frame[kEthLen + 9];
  Bytes sum_over;
  if (proto != IPPROTO_ICMP) {
    sum_over.assign(frame.begin() + kEthLen + 12, frame.begin() + kEthLen + 20);  // addresses
    sum_over.insert(sum_over.end(), {0, proto, static_cast<uint8_t>(len >> 8),
                                     static_cast<uint8_t>(len & 0xff)});
  }
  const auto l4 = frame.begin() + static_cast<long>(kEthLen + ihl);
  sum_over.insert(sum_over.end(), l4, l4 + static_cast<long>(len));
  if (sum_over.size() % 2) sum_over.push_back(0);
  return Ipv4Checksum(sum_over.data(), sum_over.size());
}

// The frame with a correct TCP/UDP/ICMP checksum.
inline Bytes WithL4Checksum(Bytes frame) {
  const size_t off = L4ChecksumOffset(frame);
  Put16(frame, off, 0);
  uint16_t sum = L4Checksum(frame);
  if (sum == 0 && frame[kEthLen + 9] == IPPROTO_UDP) sum = 0xffff;  // 0 means "none" in UDP
  Put16(frame, off, sum);
  return frame;
}

// Ethernet + IPv6 (fd00::1 -> fd00::2, next header "none") + payload.
inline Bytes Ipv6Packet(size_t payload_len, uint8_t traffic_class) {
  Bytes b = Ethernet(kEthIpv6);
  Bytes ip(40 + payload_len, 0);
  ip[0] = static_cast<uint8_t>(0x60 | traffic_class >> 4);
  ip[1] = static_cast<uint8_t>(traffic_class << 4 | 0x1);  // flow label 0x1abcd
  ip[2] = 0xab, ip[3] = 0xcd;
  Put16(ip, 4, static_cast<uint16_t>(payload_len));
  ip[6] = 59;  // no next header
  ip[7] = 64;
  ip[8] = 0xfd, ip[23] = 1, ip[24] = 0xfd, ip[39] = 2;
  for (size_t i = 40; i < ip.size(); ++i) ip[i] = static_cast<uint8_t>(i);
  b.insert(b.end(), ip.begin(), ip.end());
  return b;
}

// The L3 part of a frame (everything after the Ethernet header).
inline Bytes L3(const Bytes& frame) {
  return Bytes(frame.begin() + static_cast<long>(std::min(frame.size(), kEthLen)), frame.end());
}

struct MeshOptions {
  uint8_t version = 1;
  uint8_t path_id = 0;
  uint8_t flags = 0;
  uint32_t bond_seq = 1;
  uint32_t path_seq = 1;
  size_t option_words = 0;  // outer IPv4 options
  uint16_t dst_port = 7201;
  uint16_t src_port = 7201;
  const char* dst = "10.201.1.2";  // outer destination
  uint8_t ttl = 64;
  uint8_t tos = 0;  // outer TOS: DSCP and ECN
};

// A meshbpf frame as a peer sends it: outer IPv4 (src -> m.dst) / UDP /
// 12-byte wire header / inner L3 packet. WithOuterIpv6 below makes it IPv6.
inline Bytes MeshPacket(const char* src, const Bytes& inner_l3, const MeshOptions& m = {}) {
  Ipv4Options o;
  o.option_words = m.option_words;
  o.src_port = m.src_port;
  o.dst_port = m.dst_port;
  o.ttl = m.ttl;
  o.tos = m.tos;
  Bytes b = Ipv4Packet(src, m.dst, IPPROTO_UDP, 12 + inner_l3.size(), o);
  const size_t wire = kEthLen + (5 + m.option_words) * 4 + 8;
  b[wire] = m.version;
  b[wire + 1] = m.path_id;
  b[wire + 2] = m.flags;
  Put32(b, wire + 4, m.bond_seq);
  Put32(b, wire + 8, m.path_seq);
  std::copy(inner_l3.begin(), inner_l3.end(), b.begin() + static_cast<long>(wire + 12));
  return b;
}

// The frame with its IPv4 header (ihl 5) replaced by an IPv6 one from src to
// dst, the TTL as hop limit; a UDP checksum becomes 0, as meshbpf sends
// over IPv6 (MB_PATH_F_IPV6).
inline Bytes WithOuterIpv6(const Bytes& v4_frame, const char* src, const char* dst) {
  const Bytes l4(v4_frame.begin() + kEthLen + 20, v4_frame.end());
  Bytes b = Ethernet(kEthIpv6);
  Bytes ip(40, 0);
  ip[0] = 0x60;
  Put16(ip, 4, static_cast<uint16_t>(l4.size()));
  ip[6] = v4_frame[kEthLen + 9];
  ip[7] = v4_frame[kEthLen + 8];
  const auto s6 = Ip6(src), d6 = Ip6(dst);
  std::copy(s6.begin(), s6.end(), ip.begin() + 8);
  std::copy(d6.begin(), d6.end(), ip.begin() + 24);
  b.insert(b.end(), ip.begin(), ip.end());
  b.insert(b.end(), l4.begin(), l4.end());
  if (ip[6] == IPPROTO_UDP) Put16(b, kEthLen + 40 + 6, 0);
  return b;
}

// Writes a one-packet pcap (linktype 1, Ethernet) and returns its path.
inline std::string DumpPcap(const Bytes& packet, const std::string& name) {
  std::string safe = name;
  for (char& c : safe)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  std::string path = "/tmp/meshbpf-test-" + safe + ".pcap";
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    // magic, version 2.4, thiszone, sigfigs, snaplen, linktype (host order).
    const uint32_t global[] = {0xa1b2c3d4, 0x00040002, 0, 0, 262144, 1};
    std::fwrite(global, sizeof(global), 1, f);
    const uint32_t rec[] = {0, 0, static_cast<uint32_t>(packet.size()),
                            static_cast<uint32_t>(packet.size())};
    std::fwrite(rec, sizeof(rec), 1, f);
    std::fwrite(packet.data(), 1, packet.size(), f);
    std::fclose(f);
  } else {
    path += " (could not be written)";
  }
  return path;
}

// Where two byte strings first differ (their common length if one is a prefix).
inline size_t FirstDifference(const Bytes& a, const Bytes& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

}  // namespace meshbpf::testing

#endif  // MESHBPF_TESTS_PACKET_BUILDER_H
