// An IPv4 or IPv6 address: the outer addresses of a path, which may be of
// either family (an IPv6-only cellular uplink beside an IPv4 DSL line).
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace meshbpf {

struct IpAddress {
  int family = AF_INET;
  std::array<uint8_t, 16> bytes{};  // IPv4: the first 4, network order

  static IpAddress V4(in_addr a) {
    IpAddress out;
    std::memcpy(out.bytes.data(), &a, sizeof(a));
    return out;
  }
  static IpAddress V6(const in6_addr& a) {
    IpAddress out{.family = AF_INET6};
    std::memcpy(out.bytes.data(), &a, sizeof(a));
    return out;
  }
  bool is_v6() const { return family == AF_INET6; }
  // The IPv4 address; 0.0.0.0 for an IPv6 one.
  in_addr v4() const {
    in_addr a{};
    if (!is_v6()) std::memcpy(&a, bytes.data(), sizeof(a));
    return a;
  }
  in6_addr v6() const {
    in6_addr a{};
    std::memcpy(&a, bytes.data(), sizeof(a));
    return a;
  }
  // 0.0.0.0 or ::.
  bool IsUnspecified() const { return bytes == std::array<uint8_t, 16>{}; }
  // fe80::/10: meaningful only with an interface.
  bool IsLinkLocal() const { return is_v6() && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
  auto operator<=>(const IpAddress&) const = default;
};

}  // namespace meshbpf
