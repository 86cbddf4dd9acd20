// The data path's maps (bpf/meshbpf.h) as C++ sees them: the tables the pure
// code fills or reads, and the budget map's interface. agent/sys implements
// the access, tests fake it; nothing here touches a map.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/core/ip_address.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

using PathTable = std::array<mb_path, MB_MAX_PATHS>;
// Per path, summed over all CPUs.
using CounterTable = std::array<mb_path_counters, MB_COUNTER_SLOTS>;
using RelayCounterTable = std::array<mb_relay_counters, MB_MAX_RELAYS>;
// Per path: bonded packets kept off it while the agent was stale (mb_unattended_skips).
using UnattendedSkips = std::array<uint64_t, MB_MAX_PATHS>;

// Whether the scheduler gives path `p` bonded bulk packets: ACTIVE and not
// taken out by the floor guard.
inline bool CarriesBulk(const mb_path& p) {
  return p.state == MB_PATH_ACTIVE && (p.flags & MB_PATH_F_NO_BULK) == 0;
}

// An address as the maps hold it: the IPv4 `v4`, or when `is_v6` the 16
// bytes of `v6`.
inline IpAddress MapAddress(bool is_v6, uint32_t v4, const uint8_t (&v6)[16]) {
  if (!is_v6) return IpAddress::V4(in_addr{v4});
  IpAddress address{.family = AF_INET6};
  std::copy(v6, v6 + 16, address.bytes.begin());
  return address;
}

// An mb_addr (flows, relays) as the address it holds: IPv4 in its first
// word, or all 16 bytes when `is_v6`; and an address as an mb_addr.
inline IpAddress FromMbAddr(const mb_addr& a, bool is_v6) {
  IpAddress out{.family = is_v6 ? AF_INET6 : AF_INET};
  std::memcpy(out.bytes.data(), a.w, is_v6 ? 16 : 4);
  return out;
}
inline mb_addr ToMbAddr(const IpAddress& a) {
  mb_addr out{};
  std::memcpy(out.w, a.bytes.data(), a.is_v6() ? 16 : 4);
  return out;
}

// One of relay `r`'s addresses (e.g. RelayAddressOf(r, r.origin_ip)), of its family.
inline IpAddress RelayAddressOf(const mb_relay& r, const mb_addr& a) {
  return FromMbAddr(a, r.flags & MB_RELAY_F_IPV6);
}

// One of path `p`'s outer addresses as mb_paths holds it: `v4`, or with
// MB_PATH_F_IPV6 `v6` (e.g. OuterAddress(p, p.src_ip, p.src_ip6)).
inline IpAddress OuterAddress(const mb_path& p, uint32_t v4, const uint8_t (&v6)[16]) {
  return MapAddress(p.flags & MB_PATH_F_IPV6, v4, v6);
}

// Where path `p`'s packets go first: its gateway, else its far end (on-link).
inline IpAddress NextHop(const mb_path& p) {
  const IpAddress gateway = OuterAddress(p, p.gateway, p.gateway6);
  return gateway.IsUnspecified() ? OuterAddress(p, p.dst_ip, p.dst_ip6) : gateway;
}

// The mb_budget map (data caps); tests fake it.
class BudgetMap {
 public:
  virtual ~BudgetMap() = default;
  virtual absl::StatusOr<mb_budget> Read(uint32_t path_id) const = 0;
  virtual absl::Status Write(uint32_t path_id, const mb_budget& budget) const = 0;
};

}  // namespace meshbpf
