// Data caps at run time. The data path counts: it charges every packet's
// wire size to its path's mb_budget entry and stops using a path whose
// budget is spent (bpf/meshbpf.h, struct mb_budget). This module grants the
// budgets (limit minus what the period has used so far), reads back what was
// charged, keeps the usage in the history store so it survives restarts and
// reboots, starts new periods, and reports warning levels and exhaustion
// once each. No logging or timers here: the agent calls Poll() and logs the
// notices.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/control_protocol.h"
#include "agent/core/data_cap.h"
#include "agent/core/failure_streak.h"
#include "agent/core/map_shapes.h"
#include "agent/sys/history_store.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

struct CappedUplink {
  uint32_t path_id = 0;
  std::string name;  // the path name: the key of its usage in the history store
  CapPlan plan;
};

struct CapNotice {
  enum class Level { kInfo, kWarning, kError };
  Level level = Level::kInfo;
  std::string text;
};

// One uplink's cap as `meshbpf cap` shows it.
struct CapStatus {
  std::string name;
  uint32_t path_id = 0;
  CapPlan plan;
  CapUsage usage;
  CapPeriod period;  // one-off: [usage.period_start, InfiniteFuture)
  bool exhausted = false;
};

class CapManager {
 public:
  // How often Poll() writes usage that only grew (events are saved at once):
  // a crash loses at most this much counting, and the pinned map usually
  // still holds it (see Start).
  static constexpr absl::Duration kSaveInterval = absl::Seconds(10);

  // Loads each uplink's usage for the period `now` is in and grants the rest
  // of its budget in the map; every other path id gets an uncapped entry.
  // When the map still holds this period's budget from before a crash (the
  // maps stay pinned), the higher of its count and the stored one wins.
  // Usage that cannot be saved (a full or read-only disk) is a notice, not
  // an error: the map keeps counting, and Poll saves it when it can.
  // `store` (null: none could be opened; the map's count is taken as is) and
  // `map` must outlive the manager.
  static absl::StatusOr<CapManager> Start(std::vector<CappedUplink> uplinks, HistoryStore* store,
                                          const BudgetMap* map, absl::Time now,
                                          std::vector<CapNotice>* notices);

  // Reads what the data path charged; starts new periods, reports warning
  // levels and exhaustion, and persists.
  std::vector<CapNotice> Poll(absl::Time now);
  // Starts the named uplink's budget over (`meshbpf cap --reset`).
  absl::Status Reset(const std::string& name, absl::Time now, std::vector<CapNotice>* notices);
  // Persists every uplink's usage (the agent stops).
  absl::Status Save();
  // Whether the last save failed.
  bool saving_fails() const { return saving_.failing(); }

  std::vector<CapStatus> Statuses() const;
  bool empty() const { return uplinks_.empty(); }

 private:
  struct Tracked {
    CappedUplink uplink;
    CapUsage usage;
    bool exhausted = false;
  };
  CapManager(std::vector<Tracked> uplinks, HistoryStore* store, const BudgetMap* map,
             absl::Time now)
      : uplinks_(std::move(uplinks)), store_(store), map_(map), last_save_(now) {}
  // Grants t.plan.limit_bytes - t.usage.used_bytes.
  absl::Status Grant(const Tracked& t) const;
  void Report(Tracked& t, std::vector<CapNotice>* notices);
  // Saves, noticing when saving starts failing and when it works again.
  void SaveAndNotice(std::vector<CapNotice>* notices);

  std::vector<Tracked> uplinks_;
  HistoryStore* store_;
  const BudgetMap* map_;
  absl::Time last_save_;
  bool unsaved_ = false;
  FailureStreak saving_{"data caps: saving usage to the history store (the pinned map keeps "
                        "counting)"};
};

// The "cap" control reply: per uplink used/limit bytes, percent, period and
// its end (the reset time), policy, warnings.
CapReply CapStatusReply(const std::vector<CapStatus>& caps);

}  // namespace meshbpf
