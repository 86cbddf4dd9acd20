// Data caps in the running agent (interfaces.uplinks[].data_cap and
// node_discovery.share_cap): the CapManager with its budget map and history
// store, its notices logged, and the "cap" control command.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/config.h"
#include "agent/daemon/cap_manager.h"
#include "agent/daemon/monitor.h"
#include "agent/sys/history_store.h"
#include "agent/sys/map_io.h"

namespace meshbpf {

class Caps {
 public:
  // Grants every cap's budget in the pinned map under `pin_dir` (without
  // caps, clears budgets a previous configuration left). Usage goes into
  // `history` (the monitor's; may be null), or, when there are caps and it
  // is null, into a store of our own.
  static absl::StatusOr<std::unique_ptr<Caps>> Start(const NodeSettings& settings,
                                                     const std::string& pin_dir,
                                                     const std::string& instance,
                                                     HistoryStore* history);

  // Every failover.monitoring_interval: reads what the data path charged.
  void Poll(absl::Time now);
  // {"command": "cap"} shows every cap; {"command": "cap", "reset": PATH}
  // starts one over.
  nlohmann::json Command(const nlohmann::json& request);
  // The "caps" array of the status reply.
  nlohmann::json StatusArray() const;
  // What the cap with this path id (or MB_RELAY_BUDGET) has left; nullopt:
  // no such cap.
  std::optional<uint64_t> Remaining(uint32_t path_id) const;
  // Adds each capped path's usage to monitoring's view of it.
  void AddTo(std::vector<PathView>& views) const;
  // Persists the usage (the agent stops).
  void Save();

 private:
  Caps(std::unique_ptr<PinnedBudgetMap> map, std::unique_ptr<HistoryStore> own_store)
      : map_(std::move(map)), own_store_(std::move(own_store)) {}

  std::unique_ptr<PinnedBudgetMap> map_;
  std::unique_ptr<HistoryStore> own_store_;  // null: the monitor's store is used
  std::optional<CapManager> manager_;
};

}  // namespace meshbpf
