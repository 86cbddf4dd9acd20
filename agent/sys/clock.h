// The agent's clocks: the monotonic one is the time base of health, probes
// and timers; the wall clock only orders what must survive a restart.
#pragma once

#include <cstdint>
#include <ctime>

namespace meshbpf {

inline uint64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
inline uint64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }
inline uint64_t WallNs() { return ClockNs(CLOCK_REALTIME); }

}  // namespace meshbpf
