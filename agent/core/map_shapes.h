// The data path's maps (bpf/meshbpf.h) as C++ sees them: the tables the pure
// code fills or reads, and the budget map's interface. agent/sys implements
// the access, tests fake it; nothing here touches a map.
#pragma once

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// The mb_budget map (data caps); tests fake it.
class BudgetMap {
 public:
  virtual ~BudgetMap() = default;
  virtual absl::StatusOr<mb_budget> Read(uint32_t path_id) const = 0;
  virtual absl::Status Write(uint32_t path_id, const mb_budget& budget) const = 0;
};

}  // namespace meshbpf
