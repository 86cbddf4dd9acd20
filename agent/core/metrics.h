// The one shape of "what a path looks like right now", shared by the rate
// computation (rates.h), the history store (agent/sys/history_store.h), the alert rules
// (alerts.h) and the Prometheus formatter (prometheus.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/health.h"
#include "agent/core/resequencer.h"

namespace meshbpf {

// How a path is doing, as people and `meshbpf stats` see it. Finer than
// mb_path_state: an ACTIVE path can be degraded (probes lossy or slow).
enum class PathStatus : uint8_t {
  kDown = 0,      // not usable: link down, probes failing, or cap exhausted
  kUp = 1,        // bonded and healthy
  kDegraded = 2,  // bonded but lossy or slow
  kBackup = 3,    // healthy standby, carries traffic only when no bonded path is usable
};

inline constexpr PathStatus kAllPathStatuses[] = {PathStatus::kDown, PathStatus::kUp,
                                                  PathStatus::kDegraded, PathStatus::kBackup};

inline std::string_view PathStatusName(PathStatus status) {
  switch (status) {
    case PathStatus::kDown:
      return "down";
    case PathStatus::kUp:
      return "up";
    case PathStatus::kDegraded:
      return "degraded";
    case PathStatus::kBackup:
      return "backup";
  }
  return "unknown";
}

// What people see of a path: the health state machine's verdict, and for a
// healthy path that only waits to take over (mb_paths BACKUP, or a standby
// not yet needed), backup.
inline PathStatus ToPathStatus(PathState state, bool standby) {
  if (state == PathState::kDown) return PathStatus::kDown;
  if (standby) return PathStatus::kBackup;
  return state == PathState::kDegraded ? PathStatus::kDegraded : PathStatus::kUp;
}

// Whether traffic could use the path at all; availability counts these.
inline bool PathUsable(PathStatus status) { return status != PathStatus::kDown; }

// A path's byte budget for the current period, when it has one.
struct CapMetrics {
  uint64_t used_bytes = 0;
  uint64_t limit_bytes = 0;
};

// How often the floor guard decided for one reason (GuardReasonName) on a path.
struct GuardDecisionCount {
  std::string reason;
  uint64_t count = 0;
};

struct PathMetrics {
  uint32_t path_id = 0;  // index into mb_paths / mb_counters
  std::string name;
  PathStatus status = PathStatus::kDown;
  // The path's share of the bond's scheduled capacity (0..1): the data path
  // fills paths in proportion to their rates, so this is its intended share.
  double weight = 0;
  uint64_t tx_bytes_total = 0, rx_bytes_total = 0;
  uint64_t tx_packets_total = 0, rx_packets_total = 0;
  uint64_t drops_total = 0;
  double tx_bytes_per_s = 0, rx_bytes_per_s = 0;
  // The share of the bond's current traffic (tx + rx bytes/s) it carries (0..1).
  double traffic_share = 0;
  // Unset until probes have measured them.
  std::optional<double> rtt_ms, jitter_ms;
  double loss = 0;  // fraction of probes lost, 0..1
  std::optional<CapMetrics> cap;
  // The floor guard keeps it out of bonded bulk traffic now; its decisions
  // since the agent started, one entry per reason (none: no decision yet).
  bool bulk_excluded = false;
  std::vector<GuardDecisionCount> guard_decisions;
};

struct MetricsSnapshot {
  std::string bond;  // bond device name, e.g. "mb0"
  std::vector<PathMetrics> paths;
  uint64_t unattributed_drops_total = 0;  // drops in the MB_NO_PATH counter slot
  // The bond's receive-side resequencer; unset when its maps could not be
  // read (or an older agent sent the snapshot).
  std::optional<ResequencerStats> resequencing;
};

}  // namespace meshbpf
