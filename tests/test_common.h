// Values and helpers many unit tests use, defined once: the test binaries are
// unity builds (CMakeLists.txt), where several test files share one
// translation unit and two private copies of a name clash.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "agent/core/ip_address.h"

namespace meshbpf {

// The agent's logic takes monotonic time in nanoseconds.
inline constexpr uint64_t kMs = 1'000'000;
inline constexpr uint64_t kSecond = 1000 * kMs;

// A wall-clock instant for tests of history and caps (2024-03-15 12:00 UTC).
inline const absl::Time kStart = absl::FromUnixSeconds(1710504000);

inline in_addr Addr(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a;
}

// An IPv4 or IPv6 address, as PathSettings holds them.
inline IpAddress IpOf(const char* text) {
  in_addr v4{};
  if (inet_pton(AF_INET, text, &v4) == 1) return IpAddress::V4(v4);
  in6_addr v6{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &v6), 1) << text;
  return IpAddress::V6(v6);
}

inline std::string Message(const absl::Status& s) { return std::string(s.message()); }

}  // namespace meshbpf
