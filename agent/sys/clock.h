// The agent's monotonic clock: the time base of health, probes and timers.
#pragma once

#include <cstdint>
#include <ctime>

namespace meshbpf {

inline uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace meshbpf
