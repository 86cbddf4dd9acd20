// Throughput from successive reads of the per-CPU counters (already summed
// over CPUs by MapSet::ReadCounters), and each path's share of the traffic
// and of the scheduled capacity. Pure code, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/map_shapes.h"
#include "agent/core/metrics.h"
#include "agent/core/policy.h"

namespace meshbpf {

// Counters read at one moment of a monotonic clock.
struct CounterReading {
  uint64_t time_ns = 0;
  CounterTable counters{};
};

struct PathRates {
  double tx_bytes_per_s = 0, rx_bytes_per_s = 0;
  double tx_packets_per_s = 0, rx_packets_per_s = 0;
  double drops_per_s = 0;
};

struct CounterRates {
  std::array<PathRates, MB_COUNTER_SLOTS> slots{};
  // Some counter went backwards between the readings: the counter map was
  // recreated (its pins removed, the agent restarted) and counts from zero.
  bool counters_reset = false;
};

// Drops of every reason in one counter slot.
uint64_t SlotDrops(const mb_path_counters& counters);

// Rates between two readings. After a reset every slot's increase is its new
// value (what was counted since the map was recreated, a lower bound), never
// a negative or wrapped-around rate. A reading that is not later than the
// one before is an error: no rate can be derived from it.
absl::StatusOr<CounterRates> ComputeRates(const CounterReading& before,
                                          const CounterReading& after);

// Each path's share (0..1) of the traffic (tx + rx bytes/s) the paths carry;
// all zero when nothing moves. Unattributed drops are not traffic.
std::array<double, MB_MAX_PATHS> TrafficShares(const CounterRates& rates);

// Each bulk-carrying path's share (0..1) of the bond's configured capacity
// (CarriesBulk): the scheduler fills paths in proportion to rate_kbps.
// Other paths, and those the floor guard took out, get 0.
std::array<double, MB_MAX_PATHS> ScheduleWeights(const PathTable& paths);

// Fills the traffic fields of `metrics` (totals, rates, traffic share,
// weight) for the path each entry's path_id names; names, status, RTT, loss
// and caps come from elsewhere. A path_id past the path table is an error.
absl::Status FillTrafficMetrics(const PathTable& paths, const CounterTable& counters,
                                const CounterRates& rates, std::vector<PathMetrics>* metrics);

}  // namespace meshbpf
