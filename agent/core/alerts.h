// Alert rules over the history summaries, pure code: each alert names the
// path, says why with the numbers behind it, and recommends an action the
// agent may apply (e.g. "wan2: loss 4.1% above 3% for 20m; weight reduced").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/core/data_cap.h"
#include "agent/core/history_summary.h"

namespace meshbpf {

struct AlertThresholds {
  double loss = 0.03;                           // loss above this fraction...
  absl::Duration loss_for = absl::Minutes(20);  // ...held this long
  double rtt_p95_growth = 2.0;  // last quarter's p95 RTT this many times the earlier one
  double min_availability = 0.99;
};

enum class AlertKind {
  kSustainedLoss,
  kRttGrowth,
  kLossRising,
  kLowAvailability,
  kCapWarning,
  kCapExhausted,
};

enum class AlertAction {
  kNone,
  kReduceWeight,
  kStopUsing,
  kLastResortOnly,
};

struct Alert {
  std::string path;
  AlertKind kind;
  AlertAction action = AlertAction::kNone;
  std::string reason;  // the condition, with its numbers
};

// "<path>: <reason>" and the action: recommended ("; reduce its weight"), or
// once the agent has applied it, done ("; weight reduced").
std::string AlertMessage(const Alert& alert, bool applied);

// A path's data cap as the rules see it.
struct CapState {
  double used_fraction = 0;
  std::vector<double> warn_at;  // fractions, ascending
  CapExhaustedPolicy when_exhausted = CapExhaustedPolicy::kStop;
};

struct PathAlertInputs {
  // Over the window the user asked about (e.g. the last 24h).
  PathSummary summary;
  // One row per minute, oldest first, covering at least the last loss_for
  // (HistoryStore::Series(loss_for + 1 min, 1 min)).
  std::vector<HistoryRow> recent_minutes;
  std::optional<CapState> cap;
};

// How long the rows' loss has stayed above `threshold` up to the newest row,
// which must be from the last two buckets; gaps break the run.
absl::Duration LossHeldAbove(const std::vector<HistoryRow>& rows, double threshold,
                             absl::Duration bucket, absl::Time now);

std::vector<Alert> EvaluateAlerts(const PathAlertInputs& inputs, absl::Time now,
                                  const AlertThresholds& thresholds = {});

}  // namespace meshbpf
