// One line when something that runs again and again starts failing, and one
// when it works again, instead of a line per attempt: a full disk must not
// also flood the log (which may live on that disk) every second.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace meshbpf {

class FailureStreak {
 public:
  // `what` names the operation, e.g. "history: recording metrics".
  explicit FailureStreak(std::string what) : what_(std::move(what)) {}

  struct Line {
    bool error;  // false: it works again
    std::string text;
  };
  // The outcome of one attempt; the line to log, if this attempt starts or
  // ends a streak of failures.
  std::optional<Line> Report(const absl::Status& status);
  bool failing() const { return failures_ > 0; }

 private:
  std::string what_;
  uint64_t failures_ = 0;
};

}  // namespace meshbpf
