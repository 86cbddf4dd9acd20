// The pinned mb_budget map as the cap tests see it: entries in memory, and
// Charge() doing what the data path does per packet.
#pragma once

#include <array>
#include <cstdint>

#include "agent/core/map_shapes.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

class FakeBudgetMap : public BudgetMap {
 public:
  absl::StatusOr<mb_budget> Read(uint32_t path_id) const override { return entries.at(path_id); }
  absl::Status Write(uint32_t path_id, const mb_budget& budget) const override {
    entries.at(path_id) = budget;
    return absl::OkStatus();
  }
  void Charge(uint32_t path_id, int64_t bytes) {
    if (entries.at(path_id).limit_bytes) entries.at(path_id).remaining_bytes -= bytes;
  }
  mutable std::array<mb_budget, MB_BUDGET_SLOTS> entries{};
};

}  // namespace meshbpf
