#include "agent/core/failure_streak.h"

#include "absl/strings/str_cat.h"

namespace meshbpf {

std::optional<FailureStreak::Line> FailureStreak::Report(const absl::Status& status) {
  if (!status.ok()) {
    if (failures_++ > 0) return std::nullopt;
    return Line{true, absl::StrCat(what_, " failed: ", status.message(),
                                   " (not logged again until it works)")};
  }
  if (failures_ == 0) return std::nullopt;
  const uint64_t failed = failures_;
  failures_ = 0;
  return Line{false, absl::StrCat(what_, " works again after ", failed, " failed attempt",
                                  failed == 1 ? "" : "s")};
}

}  // namespace meshbpf
